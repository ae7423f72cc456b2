"""Frozen settings, parsed once from the command line and the ini file, validated up front.

Every option has an ini twin; the command line wins. A bad value raises :class:`SettingError` naming
the value and what was expected (the plugin turns it into ``pytest.UsageError``).
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailspec.catalog import CATALOG, Severity, custom_id_problem, nearest_ids
from mailspec.errors import SettingError
from mailspec.outcome import FAIL_ON_WARN, FailOn
from mailspec.records.dnsbl import DEFAULT_ZONES
from mailspec.records.hostname import looks_like_ip, normalise_domain
from mailspec.survey.dns import DnsEndpoint

if TYPE_CHECKING:
    import pytest

__all__ = [
    "OPTIONS",
    "Option",
    "ProbeLevel",
    "Settings",
    "Waiver",
    "add_options",
    "parse_hostport",
    "parse_waiver",
]


class ProbeLevel(enum.IntEnum):
    """How far probes go (each level includes those below)."""

    DNS = 0
    CONNECT = 1
    ENVELOPE = 2
    INTRUSIVE = 3

    def __str__(self) -> str:
        return self.name.lower()


PROFILES = ("default", "bulk")
#: the MTAs the host checks read (--mail-mta)
MTAS = ("auto", "postfix", "exim")


@dataclass(frozen=True)
class Option:
    """One command-line option and its ini twin."""

    flag: str
    dest: str
    ini: str
    help: str
    multiple: bool = False
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option(
        "--mail-domain",
        "mail_domain",
        "mail_domains",
        "a mail domain to survey; IDNs accepted",
        multiple=True,
        metavar="DOMAIN",
    ),
    Option(
        "--mail-domains-file",
        "mail_domains_file",
        "mail_domains_file",
        "a file of mail domains, one a line, '#' comments",
        metavar="PATH",
    ),
    Option(
        "--mail-server",
        "mail_server",
        "mail_servers",
        "probe these SMTP servers instead of the MX hosts (on --mail-smtp-port unless PORT is given)",
        multiple=True,
        metavar="HOST[:PORT]",
    ),
    Option(
        "--mail-outbound",
        "mail_outbound",
        "mail_outbound",
        "the addresses the domain sends mail from (default: the MX addresses, labelled assumed)",
        multiple=True,
        metavar="IP-OR-HOST",
    ),
    Option(
        "--mail-helo-name",
        "mail_helo_name",
        "mail_helo_names",
        "the names the outbound servers give in HELO/EHLO (default: the MX banner names, assumed)",
        multiple=True,
        metavar="NAME",
    ),
    Option(
        "--mail-resolver",
        "mail_resolver",
        "mail_resolvers",
        "DNS servers to ask instead of the system's (IPv6 in brackets)",
        multiple=True,
        metavar="ADDR[:PORT]",
    ),
    Option(
        "--mail-smtp-port",
        "mail_smtp_port",
        "mail_smtp_port",
        "TCP port of the SMTP servers (25)",
        metavar="PORT",
    ),
    Option(
        "--mail-smtp-control",
        "mail_smtp_control",
        "mail_smtp_controls",
        "an SMTP server known to take connections from here, tried when no server under test takes one: "
        "it tells a blocked outbound port (SMTP checks: error) from servers that are down (they fail); "
        "on --mail-smtp-port unless PORT is given (default: none; --mail-lab: the lab's own)",
        multiple=True,
        metavar="HOST[:PORT]",
    ),
    Option(
        "--mail-probe",
        "mail_probe",
        "mail_probe",
        "how far probes go: dns, connect, envelope (default) or intrusive",
        metavar="LEVEL",
    ),
    Option(
        "--mail-probe-helo",
        "mail_probe_helo",
        "mail_probe_helo",
        "the name mailspec gives in EHLO (default: this machine's FQDN)",
        metavar="NAME",
    ),
    Option(
        "--mail-timeout",
        "mail_timeout",
        "mail_timeout",
        "bound on each network operation, seconds (10)",
        metavar="SECONDS",
    ),
    Option(
        "--mail-fail-on",
        "mail_fail_on",
        "mail_fail_on",
        "lowest severity whose violation fails the run: must, should (default) or may; "
        "warn: every finding, heuristic warnings too",
        metavar="LEVEL",
    ),
    Option(
        "--mail-profile",
        "mail_profile",
        "mail_profile",
        "severity profile: default, or bulk (mailbox providers' sender requirements become must)",
        metavar="NAME",
    ),
    Option(
        "--mail-waive",
        "mail_waive",
        "mail_waivers",
        "accept a known violation: ID[@SUBJECT]=REASON",
        multiple=True,
        metavar="ID[@SUBJECT]=REASON",
    ),
    Option(
        "--mail-dkim-selector",
        "mail_dkim_selector",
        "mail_dkim_selectors",
        "a DKIM selector to check: SELECTOR for every domain, SELECTOR@DOMAIN for one",
        multiple=True,
        metavar="SELECTOR[@DOMAIN]",
    ),
    Option(
        "--mail-dnsbl",
        "mail_dnsbl",
        "mail_dnsbls",
        "a DNS blocklist zone to consult",
        multiple=True,
        metavar="ZONE",
    ),
    Option(
        "--mail-ca",
        "mail_ca",
        "mail_ca",
        "CA bundle for certificate checks (default: system store)",
        metavar="PATH",
    ),
    Option("--mail-report", "mail_report", "mail_report", "write the JSON report to PATH", metavar="PATH"),
    Option(
        "--mail-smtp-retry",
        "mail_smtp_retry",
        "mail_smtp_retry",
        "pause before the one retry of a 4yz SMTP reply (greylisting), seconds (60)",
        metavar="SECONDS",
    ),
    Option(
        "--mail-relay-rcpt",
        "mail_relay_rcpt",
        "mail_relay_rcpt",
        "recipient of the open-relay test: a mailbox in a live domain the servers do not serve "
        "(default: mailspec-relay-test@ the --mail-probe-helo name)",
        metavar="ADDRESS",
    ),
    Option(
        "--mail-ident-port",
        "mail_ident_port",
        "mail_ident_port",
        "port of the IDENT checks (113; the lab uses its own)",
        metavar="PORT",
    ),
    Option(
        "--mail-https-port",
        "mail_https_port",
        "mail_https_port",
        "port of the MTA-STS policy servers (443; the lab uses its own)",
        metavar="PORT",
    ),
    Option(
        "--mail-mta",
        "mail_mta",
        "mail_mta",
        "the MTA the host checks read: auto (default: Postfix if postconf runs, else Exim), postfix, exim",
        metavar="NAME",
    ),
    Option(
        "--mail-mta-config",
        "mail_mta_config",
        "mail_mta_config",
        "the MTA's configuration on the host: Postfix's directory (postconf -c), Exim's file (exim -C); "
        "default: the MTA's own",
        metavar="PATH",
    ),
    Option(
        "--mail-dns-port",
        "mail_dns_port",
        "mail_dns_port",
        "port of authoritative name servers for direct questions (53; the lab uses its own)",
        metavar="PORT",
    ),
)

#: The blocklists consulted when none are configured (one list: mailspec.records.dnsbl's)
DEFAULT_DNSBLS = DEFAULT_ZONES


@dataclass(frozen=True)
class Waiver:
    check: str
    subject: str | None
    reason: str
    #: one of the embedded lab's own (its scenarios' loopback addresses), not the user's
    lab: bool = False

    @property
    def custom(self) -> bool:
        """Of a check of the user's own (known only once the checks are collected)."""
        return self.check not in CATALOG

    def matches(self, check: str, domain: str, subject: str) -> bool:
        if check != self.check:
            return False
        if self.subject is None:
            return True
        want = self.subject.lower().rstrip(".")
        parts = {domain.lower(), subject.lower(), *subject.lower().split("@")}
        return want in parts

    def __str__(self) -> str:
        at = f"@{self.subject}" if self.subject else ""
        return f"{self.check}{at}={self.reason}"


def parse_waiver(text: str) -> Waiver:
    head, sep, reason = text.partition("=")
    reason = reason.strip()
    if not sep or not reason:
        raise SettingError(f"waiver {text!r}: expected ID[@SUBJECT]=REASON, with a reason after '='")
    check, _, subject = head.strip().partition("@")
    check = check.strip()
    if check not in CATALOG and custom_id_problem(check) is not None:
        near = nearest_ids(check)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        raise SettingError(
            f"waiver {text!r}: unknown check id {check!r}{hint}: expected a check id of mailspec's catalog "
            "(pytest --mail-checks lists them) or of a check of your own"
        )
    # an id of the user's own (acme.mx.ours) is known only once their checks are collected
    return Waiver(check, subject.strip() or None, reason)


def parse_hostport(text: str, *, default_port: int, what: str, ip_only: bool = False) -> tuple[str, int]:
    """``host``, ``host:port``, ``ip``, ``ip:port``, ``[ipv6]`` or ``[ipv6]:port``."""
    raw = text.strip()
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", raw)
    if m:
        host, port_text = m.group(1), m.group(2)
    elif raw.count(":") > 1:
        _refuse_ipv6_with_bare_port(raw, text, what)
        host, port_text = raw, None  # bare IPv6
    else:
        host, _, port_text = raw.partition(":")
        port_text = port_text or None
    port = default_port if port_text is None else _port(port_text, f"{what} {text!r}")
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        if ip_only:
            raise SettingError(
                f"{what} {text!r}: expected an IP address, optionally with :PORT (IPv6 as [addr]:port)"
            ) from None
        host = normalise_domain(host, what=what)
    return host, port


def _refuse_ipv6_with_bare_port(raw: str, text: str, what: str) -> None:
    """Refuse ``::1:53``: read whole it is an address, but it may be ``::1`` with port 53.

    A bare IPv6 text is refused when its last group is all digits and the text before that last
    ``:group`` is itself an IPv6 address: only brackets tell the two readings apart.
    """
    head, _, last = raw.rpartition(":")
    if not re.fullmatch(r"[0-9]+", last) or not _is_ipv6(head):
        return
    with_port = f"[{head}]:{last}"
    if _is_ipv6(raw):
        raise SettingError(
            f"{what} {text!r} is ambiguous: an IPv6 address with a port needs brackets, e.g. "
            f"{with_port}; the address itself is written [{raw}] if that is what was meant"
        )
    raise SettingError(f"{what} {text!r}: an IPv6 address with a port needs brackets, e.g. {with_port}")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port(text: str, where: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or not 1 <= int(text) <= 65535:
        raise SettingError(f"{where}: port {text!r} is not a number from 1 to 65535")
    return int(text)


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    v = value.strip().lower()
    if v not in allowed:
        raise SettingError(f"{what} {value!r}: expected one of {', '.join(allowed)}")
    return v


def add_options(parser: pytest.Parser) -> None:
    """Every option and its ini twin, on pytest's parser (the plugin's ``pytest_addoption``)."""
    group = parser.getgroup("mailspec", "mailspec: check a live mail deployment against best practices")
    for opt in OPTIONS:
        help_text = f"{opt.help} [ini: {opt.ini}]"
        if opt.multiple:
            group.addoption(
                opt.flag, action="append", dest=opt.dest, default=[], metavar=opt.metavar,
                help=help_text + " (repeatable)",
            )  # fmt: skip
            parser.addini(opt.ini, f"{opt.help} (one a line)", type="linelist", default=[])
        else:
            group.addoption(opt.flag, dest=opt.dest, default=None, metavar=opt.metavar, help=help_text)
            parser.addini(opt.ini, opt.help, type="string", default="")
    group.addoption(
        "--mail-lab", nargs="?", const="good", default=None, dest="mail_lab", metavar="SCENARIO",
        help="start the embedded lab (DNS on loopback) and survey its domain(s): a scenario name, "
        "'all', or nothing for the well-configured one [ini: mail_lab]",
    )  # fmt: skip
    group.addoption(
        "--mail-checks", action="store_true", default=False, dest="mail_checks",
        help="print the checks (id, severity, probe level, title, citations) and exit, like --fixtures",
    )  # fmt: skip
    parser.addini("mail_lab", "start the embedded lab with this scenario ('all' for every one)", default="")
    parser.addini("mailspec_autocollect", "collect the shipped checks when no path is given", "bool", True)


def raw_values(
    options: Sequence[Option], getoption: Callable[[str], Any], getini: Callable[[str], Any]
) -> dict[str, Any]:
    """What :meth:`Settings.parse` takes, from the command line (``getoption``) and the ini file
    (``getini``): the command line wins, and domains named there replace the ini's."""
    values: dict[str, Any] = {}
    cli_named = getoption("mail_domain") or getoption("mail_domains_file") is not None
    for opt in options:
        cli = getoption(opt.dest)
        if cli or (cli == "" and opt.dest == "mail_domains_file"):  # (an empty file name: refused in parse)
            values[opt.dest] = cli
        elif opt.dest in ("mail_domain", "mail_domains_file") and (cli_named or getoption("mail_lab")):
            values[opt.dest] = None  # the command line named the domains: the ini's do not add to them
        else:
            values[opt.dest] = getini(opt.ini) or None
    values["mail_lab"] = getoption("mail_lab") or (None if cli_named else getini("mail_lab")) or None
    values["mailspec_autocollect"] = str(getini("mailspec_autocollect"))
    return values


def read_domains_file(path: str) -> list[str]:
    """The domains of a ``--mail-domains-file``: UTF-8, one a line, ``#`` comments; at least one."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingError(f"--mail-domains-file {path!r}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # the bytes before the first bad one are UTF-8; number the lines as splitlines() does below
        line = len((data[: exc.start].decode("utf-8") + "x").splitlines())
        raise SettingError(
            f"--mail-domains-file {path!r}: line {line} (byte offset {exc.start}: 0x{data[exc.start]:02x}) "
            "is not UTF-8: expected a UTF-8 text file, one domain a line"
        ) from None
    out = []
    for n, line_text in enumerate(text.splitlines(), 1):
        entry = line_text.split("#", 1)[0].strip()
        if entry:
            out.append(normalise_domain(entry, what=f"mail domain on line {n} of {path}"))
    if not out:  # an empty list must not pass a build by surveying nothing
        raise SettingError(
            f"--mail-domains-file {path!r} has no domain (only comments or blank lines): "
            "expected one domain a line"
        )
    return out


def system_resolvers() -> list[DnsEndpoint]:
    """The system's resolvers, read from its configuration (no network)."""
    import dns.resolver

    try:
        conf = dns.resolver.Resolver(configure=True)
    except Exception as exc:  # NoResolverConfiguration, OSError, parse errors
        raise SettingError(
            f"no DNS resolver is configured on this system ({exc}); pass --mail-resolver=ADDR[:PORT]"
        ) from None
    return [DnsEndpoint(str(ns), 53) for ns in conf.nameservers]


@dataclass(frozen=True)
class Settings:
    """What the user asked for, validated."""

    domains: tuple[str, ...] = ()
    servers: tuple[tuple[str, int], ...] = ()
    #: control servers (--mail-smtp-control): known to take SMTP connections from here
    smtp_controls: tuple[tuple[str, int], ...] = ()
    outbound: tuple[str, ...] = ()
    helo_names: tuple[str, ...] = ()
    resolvers: tuple[DnsEndpoint, ...] = ()
    resolvers_from_system: bool = False
    smtp_port: int = 25
    probe: ProbeLevel = ProbeLevel.ENVELOPE
    probe_helo: str | None = None
    timeout: float = 10.0
    fail_on: FailOn = Severity.SHOULD
    profile: str = "default"
    waivers: tuple[Waiver, ...] = ()
    dkim_selectors: tuple[str, ...] = ()
    dnsbls: tuple[str, ...] = DEFAULT_DNSBLS
    ca: Path | None = None
    report: Path | None = None
    dns_port: int = 53
    lab: str | None = None
    autocollect: bool = True
    smtp_retry: float = 60.0
    relay_rcpt: str | None = None
    ident_port: int = 113
    https_port: int = 443
    #: the MTA the host checks read (auto, postfix, exim) and its configuration on the host
    mta: str = "auto"
    mta_config: str | None = None

    @property
    def probe_name(self) -> str:
        """The name mailspec gives in EHLO/HELO: --mail-probe-helo, else this machine's FQDN."""
        if self.probe_helo:
            return self.probe_helo
        import socket

        name = socket.getfqdn().rstrip(".").lower()
        return name if "." in name else "localhost.localdomain"

    def selectors_for(self, domain: str) -> list[str]:
        """The DKIM selectors configured for ``domain`` (``--mail-dkim-selector s1`` or ``s1@domain``)."""
        out: list[str] = []
        for entry in self.dkim_selectors:
            sel, _, where = entry.partition("@")
            if not where or where == domain.lower():
                out.append(sel)
        return list(dict.fromkeys(out))

    @property
    def relay_recipient(self) -> str:
        """The recipient of the open-relay test."""
        return self.relay_rcpt or f"mailspec-relay-test@{self.probe_name}"

    @property
    def active(self) -> bool:
        """True when there is something to survey."""
        return bool(self.domains)

    def to_json(self) -> dict[str, Any]:
        return {
            "domains": list(self.domains),
            "resolvers": [str(r) for r in self.resolvers],
            "probe": str(self.probe),
            "fail_on": str(self.fail_on),
            "profile": self.profile,
            "timeout": self.timeout,
            "lab": self.lab,
            "waivers": [
                {"check": w.check, "subject": w.subject, "reason": w.reason, "lab": w.lab}
                for w in self.waivers
            ],
        }

    @classmethod
    def parse(cls, values: dict[str, Any]) -> Settings:
        """Build settings from raw values: ``values[dest]`` is a list (multiple) or a string or None."""

        def many(dest: str) -> list[str]:
            v = values.get(dest) or []
            return [x for x in (v if isinstance(v, list) else [v]) if str(x).strip()]

        def one(dest: str) -> str | None:
            v = values.get(dest)
            if isinstance(v, list):
                v = v[-1] if v else None
            return str(v).strip() if v is not None and str(v).strip() else None

        # an empty value is a mistake (an unset CI variable: --mail-domain=$MAIL_DOMAIN), never "no domain"
        given = values.get("mail_domain") or []
        if any(not str(d).strip() for d in (given if isinstance(given, list) else [given])):
            raise SettingError(
                "--mail-domain was given an empty value (an unset CI variable?): expected a mail domain "
                "such as example.com"
            )
        if values.get("mail_domains_file") is not None and one("mail_domains_file") is None:
            raise SettingError(
                "--mail-domains-file was given an empty value (an unset CI variable?): expected the path "
                "of a file of mail domains, one a line"
            )
        domains = [normalise_domain(d) for d in many("mail_domain")]
        if (path := one("mail_domains_file")) is not None:
            domains += read_domains_file(path)

        smtp_port = _port(one("mail_smtp_port") or "25", "--mail-smtp-port")
        # a --mail-server without a port is on --mail-smtp-port
        servers = tuple(
            parse_hostport(s, default_port=smtp_port, what="--mail-server") for s in many("mail_server")
        )
        controls = tuple(
            parse_hostport(s, default_port=smtp_port, what="--mail-smtp-control")
            for s in many("mail_smtp_control")
        )
        outbound = []
        for o in many("mail_outbound"):
            try:
                outbound.append(str(ipaddress.ip_address(o.strip())))
            except ValueError:
                outbound.append(normalise_domain(o, what="--mail-outbound host"))
        helo = tuple(normalise_domain(h, what="--mail-helo-name") for h in many("mail_helo_name"))
        resolvers = tuple(
            DnsEndpoint(*parse_hostport(r, default_port=53, what="--mail-resolver", ip_only=True))
            for r in many("mail_resolver")
        )
        dns_port = _port(one("mail_dns_port") or "53", "--mail-dns-port")
        probe = ProbeLevel[
            _choice(one("mail_probe") or "envelope", [str(p) for p in ProbeLevel], "--mail-probe").upper()
        ]
        probe_helo = one("mail_probe_helo")
        if probe_helo is not None:
            if looks_like_ip(probe_helo):
                raise SettingError(f"--mail-probe-helo {probe_helo!r}: expected a host name, not an address")
            probe_helo = normalise_domain(probe_helo, what="--mail-probe-helo")
        timeout_text = one("mail_timeout") or "10"
        try:
            timeout = float(timeout_text)
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 3600:
            raise SettingError(f"--mail-timeout {timeout_text!r}: expected a number of seconds, above 0")
        fail_on_text = _choice(
            one("mail_fail_on") or "should", ["must", "should", "may", "warn"], "--mail-fail-on"
        )
        fail_on: FailOn = FAIL_ON_WARN if fail_on_text == "warn" else Severity.parse(fail_on_text)
        profile = _choice(one("mail_profile") or "default", PROFILES, "--mail-profile")
        waivers = tuple(parse_waiver(w) for w in many("mail_waive"))
        selectors = []
        for s in many("mail_dkim_selector"):
            # SELECTOR, for every domain, or SELECTOR@DOMAIN, for that one (selectors are the domain
            # owner's choice: one domain's need not exist at another)
            sel, at, where = s.strip().partition("@")
            sel = sel.rstrip(".")
            if not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?", sel) or ".." in sel:
                raise SettingError(
                    f"--mail-dkim-selector {s!r}: expected a selector such as s1 or 2024a (or s1@example.com)"
                )
            if at:
                sel = f"{sel}@{normalise_domain(where, what='--mail-dkim-selector domain')}"
            selectors.append(sel.lower())
        dnsbls = tuple(normalise_domain(z, what="--mail-dnsbl zone") for z in many("mail_dnsbl"))
        ca = None
        if (ca_text := one("mail_ca")) is not None:
            ca = Path(ca_text)
            if not ca.is_file():
                raise SettingError(f"--mail-ca {ca_text!r}: no such file; expected a PEM CA bundle")
        report = None
        if (report_text := one("mail_report")) is not None:
            report = Path(report_text)
            if report.is_dir():
                raise SettingError(f"--mail-report {report_text!r} is a directory; expected a file path")
            folder = report.absolute().parent
            while not folder.exists():  # the report's folders are made when it is written
                folder = folder.parent
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise SettingError(
                    f"--mail-report {report_text!r}: cannot write below {folder}; expected a writable path"
                )
        lab = one("mail_lab")
        if lab is not None and domains:
            raise SettingError(
                f"--mail-lab={lab} surveys the lab's own domains; it cannot be combined with --mail-domain "
                "or --mail-domains-file (run them separately)"
            )
        autocollect = (one("mailspec_autocollect") or "true").lower() not in ("false", "0", "no", "off")
        retry_text = one("mail_smtp_retry") or "60"
        try:
            smtp_retry = float(retry_text)
        except ValueError:
            smtp_retry = -1.0
        if not 0 <= smtp_retry <= 3600:
            raise SettingError(f"--mail-smtp-retry {retry_text!r}: expected a number of seconds, 0 or more")
        relay_rcpt = one("mail_relay_rcpt")
        if relay_rcpt is not None:
            local, at, where = relay_rcpt.rpartition("@")
            if not at or not local or any(c in local for c in "<> \t"):
                raise SettingError(f"--mail-relay-rcpt {relay_rcpt!r}: expected a mail address such as "
                                   "someone@example.net")  # fmt: skip
            relay_rcpt = f"{local}@{normalise_domain(where, what='--mail-relay-rcpt domain')}"
        ident_port = _port(one("mail_ident_port") or "113", "--mail-ident-port")
        https_port = _port(one("mail_https_port") or "443", "--mail-https-port")
        mta = _choice(one("mail_mta") or "auto", MTAS, "--mail-mta")
        mta_config = one("mail_mta_config")
        if values.get("mail_mta_config") is not None and mta_config is None:
            raise SettingError("--mail-mta-config was given an empty value (an unset CI variable?): expected "
                               "the path of the MTA's configuration on the host")  # fmt: skip
        if mta_config is not None and (
            not mta_config.startswith("/") or any(ord(ch) < 32 for ch in mta_config)
        ):
            raise SettingError(
                f"--mail-mta-config {mta_config!r}: expected an absolute path on the host (Postfix: a "
                "configuration directory; Exim: a configuration file)"
            )
        return cls(
            domains=tuple(dict.fromkeys(domains)),
            servers=servers,
            smtp_controls=tuple(dict.fromkeys(controls)),
            outbound=tuple(outbound),
            helo_names=helo,
            resolvers=resolvers,
            smtp_port=smtp_port,
            probe=probe,
            probe_helo=probe_helo,
            timeout=timeout,
            fail_on=fail_on,
            profile=profile,
            waivers=waivers,
            dkim_selectors=tuple(dict.fromkeys(selectors)),
            dnsbls=dnsbls or DEFAULT_DNSBLS,
            ca=ca,
            report=report,
            dns_port=dns_port,
            lab=lab,
            autocollect=autocollect,
            smtp_retry=smtp_retry,
            relay_rcpt=relay_rcpt,
            ident_port=ident_port,
            https_port=https_port,
            mta=mta,
            mta_config=mta_config,
        )
