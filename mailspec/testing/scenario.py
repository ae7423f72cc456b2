"""Lab scenarios as data: one TOML file per mail domain, read strictly.

A scenario is one domain under ``test.`` with a deliberate set of best-practice violations (or
none), the DNS data and name servers that play it, and the verdicts a correct survey must give.
The format is a subset of the acceptance lab's (``../shared/lab/README.md``, "Scenario files"),
plus knobs of the embedded lab::

    domain = "good.test"                 # required; at or below test.
    description = "prose"
    dkim_selectors = ["s1"]              # selectors with keys under _domainkey.<domain>, passed
                                         # to mailspec by --mail-lab as s1@<domain>
    waive = ["ID=REASON", ...]           # applied by --mail-lab as ID@<domain>=REASON
    mailspec_args = ["--mail-..."]       # kept for the runner
    [expect]                             # flag / pass / not_passed / skip / error / warn: lists of
                                         # check ids; clean: bool; max_seconds: float
    [zone]                               # absent: the domain does not exist (NXDOMAIN)
    name = "good.test"                   # default: the domain
    serial = 2026112801                  # default 2026010101
    ttl = 3600
    soa = { refresh = 14400, retry = 3600, expire = 1209600, minimum = 3600, rname = "hostmaster" }
    axfr = "refused"                     # refused | open
    records = "zone-file lines, names relative to the zone"
    [[zone.nameserver]]
    host = "ns1"                         # relative to the zone, or absolute with a trailing dot
    ip = "127.0.2.1"                     # 127.0.2.0 - 127.0.15.255 (127.0.9.0/25 is left to
                                         # users' own scenarios: the packaged ones keep out of it)
    mode = "current"                     # current | stale | refused | silent | recursive
    serial = 0                           # stale only; default: the zone's serial - 1
    listed = "both"                      # both | parent (delegation only) | zone (apex NS only)
    [[extra_zone]]                       # same keys as [zone] plus a required name: directly below
                                         # test., or top level (then without name servers)
    [registry]
    records = "lines of the test. zone"  # owners at or below the domain, e.g. the domain as a CNAME
    [resolver]                           # the lab resolver's behaviour for names at/below the domain
    truncate = false                     # UDP answers: TC=1 and no records (forces TCP)
    silent = false                       # never answers
    servfail = false                     # answers SERVFAIL
    [ptr]                                # reverse DNS: "127.0.2.10" = "mx1.good.test" (or a list
                                         # of names: several PTR records)
    [dnsbl]
    listed = ["127.0.2.10"]              # listed in dnsbl.test (A 127.0.0.2 plus a TXT)
    [[mta]]                              # one server on <ip>:<the lab's SMTP port>, see MtaSpec
    ip = "127.0.2.10"                    # the scenario range, or "::1"
    hostname = "mx1.good.test"           # required; the EHLO name ('_' allowed)
    kind = "postfix"                     # postfix | fake | silent | garbage | tarpit | babbler
                                         # | binary | badcode
    banner = "mx1.good.test ESMTP"       # and the acceptance lab's other knobs: role, accept, relay,
                                         # pipelining, tls, cert_names, ident, postfix
    vrfy = "honest"                      # and the fake's own (FAKE_CHOICES, greeting_delay,
                                         # ehlo_name, extensions, ehlo_extra_keywords,
                                         # case_sensitive, tls_gated, max_connections)
    [[https]]                            # an MTA-STS policy host on <ip>:<the lab's HTTPS port>
    host = "mta-sts"                     # required; relative to the domain, or absolute with a
                                         # trailing dot; publish its A record yourself
    ip = "127.0.2.12"                    # required; the scenario range, or "::1"
    policy = "version: STSv1\\n..."       # served at /.well-known/mta-sts.txt, as written
    certificate = "valid"                # valid | wrong-name | expired | self-signed
    cert_names = ["mta-sts.good.test"]   # SAN names of the certificate; default [host]
    status = 0                           # HTTP status of the policy's answer; 0: 200 (301 with
                                         # a redirect)
    redirect = ""                        # a Location sent (with a 3xx) instead of the policy
    content_type = "text/plain"          # "" sends no Content-Type
    body = "normal"                      # normal | huge (a 1 GiB body) | endless (a trickle)
    silence = ""                         # "" | http (TLS, then no answer) | tcp (not a byte)

Beyond the acceptance lab's format: ``[expect] warn`` (results exist, some warned, none failed),
``fail`` (some result failed: ``flag`` takes a warning too), ``error``, a list of names in
``[ptr]``, the fake-only MTA knobs, ``ident = "blackhole"``,
``dkim_selectors`` (the acceptance lab generates its keys from ``[[zone.dkim]]``; here the keys are
records of the zone) and ``[[https]]`` (the acceptance lab's one ``[mta_sts]`` server; here any
number of policy hosts, with the knobs of :class:`~mailspec.testing.https.HttpsSite`).

The expectations are those of the acceptance lab's canonical run (``--mail-probe=intrusive
--mail-timeout=3``, plus the scenario's ``mailspec_args``): at a lower probe level the intrusive
checks skip instead.

Standard library only, so scenarios can be validated anywhere.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

__all__ = [
    "DEFAULT_ACCEPT",
    "DEFAULT_EXTENSIONS",
    "DEFAULT_SERIAL",
    "HTTPS_BODIES",
    "HTTPS_CERTIFICATES",
    "HTTPS_SILENCES",
    "MTA_KINDS",
    "Expectations",
    "HttpsSpec",
    "MtaSpec",
    "NameServerSpec",
    "ResolverKnobs",
    "Scenario",
    "ScenarioError",
    "Soa",
    "Zone",
    "check_together",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
    "scenario_names",
]

NameserverMode = Literal["current", "stale", "refused", "silent", "recursive"]
Listed = Literal["both", "parent", "zone"]
AxfrMode = Literal["refused", "open"]

NAMESERVER_MODES: tuple[NameserverMode, ...] = ("current", "stale", "refused", "silent", "recursive")
DEFAULT_SERIAL = 2026010101

MtaKind = Literal["postfix", "fake", "silent", "garbage", "tarpit", "babbler", "binary", "badcode"]
MtaRole = Literal["final", "backup", "unlisted"]
IdentMode = Literal["closed", "open", "drop", "blackhole"]
GreetingMode = Literal["normal", "multiline", "421", "554"]
HeloReply = Literal["normal", "ehlo-style"]
VrfyMode = Literal["honest", "disabled", "lies", "always252"]
ExpnMode = Literal["unrecognised", "unadvertised", "advertised"]
NullSenderMode = Literal["accept", "reject", "reject-rcpt"]
GreylistMode = Literal["none", "once", "always"]
UnknownCommandMode = Literal["tolerate", "disconnect"]
StarttlsMode = Literal["normal", "readvertise", "injectable", "refuse", "broken"]
TlsVersions = Literal["modern", "legacy", "old-only"]

MTA_KINDS: tuple[MtaKind, ...] = (
    "postfix", "fake", "silent", "garbage", "tarpit", "babbler", "binary", "badcode"
)  # fmt: skip
#: Kinds that hold an SMTP dialogue (the others misbehave from the first byte on).
DIALOGUE_KINDS = ("postfix", "fake")
#: Keys the misbehaving kinds take; every other knob belongs to a dialogue.
HOSTILE_KEYS = ("ip", "hostname", "kind", "ident")
#: RFC 2142 role mailboxes plus the report mailboxes the scenarios' DMARC and TLS-RPT records use.
DEFAULT_ACCEPT = ("postmaster", "abuse", "hostmaster", "dmarc", "tlsrpt")
#: What Postfix 3.x advertises in EHLO (STARTTLS, when offered, goes after ETRN, as Postfix puts it).
DEFAULT_EXTENSIONS = (
    "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8",
    "CHUNKING",
)  # fmt: skip
TLS_FLAWS = ("expired", "self-signed", "wrong-name")
TLS_MODES = ("lab", "none", *TLS_FLAWS)
#: The knobs only the fake MTA plays, with their allowed values; the first is the default, which is
#: what Postfix does (a knob left at it can be played by real Postfix too).
FAKE_CHOICES: dict[str, tuple[str, ...]] = {
    "greeting": ("normal", "multiline", "421", "554"),
    "helo_reply": ("normal", "ehlo-style"),
    "vrfy": ("honest", "disabled", "lies", "always252"),
    "expn": ("unrecognised", "unadvertised", "advertised"),
    "null_sender": ("accept", "reject", "reject-rcpt"),
    "unqualified_postmaster": ("accept", "reject"),
    "greylist": ("none", "once", "always"),
    "unknown_command": ("tolerate", "disconnect"),
    "starttls": ("normal", "readvertise", "injectable", "refuse", "broken"),
    "tls_versions": ("modern", "legacy", "old-only"),
}
#: The knobs of an ``[[https]]`` site (as :class:`~mailspec.testing.https.HttpsSite` takes them; the
#: first is the default).
HTTPS_CERTIFICATES = ("valid", "wrong-name", "expired", "self-signed")
HTTPS_BODIES = ("normal", "huge", "endless")
HTTPS_SILENCES = ("", "http", "tcp")
HTTPS_KEYS = (
    "host", "ip", "policy", "certificate", "cert_names", "status", "redirect", "content_type", "body",
    "silence",
)  # fmt: skip
MAX_GREETING_DELAY = 300.0
MAX_EXTRA_KEYWORDS = 100_000
MAX_CONNECTIONS = 1000

#: Addresses a scenario may give its servers. 127.0.0.0/24 and 127.0.1.0/24 belong to the lab
#: itself (resolver, registry), so a scenario can never shadow them. (The acceptance lab's range ends
#: at 127.0.9.255.)
SCENARIO_FIRST = ipaddress.IPv4Address("127.0.2.0")
SCENARIO_LAST = ipaddress.IPv4Address("127.0.15.255")
#: Left to users' own scenarios (and the lab's tests): no packaged scenario uses it.
USER_BLOCK = ipaddress.IPv4Network("127.0.9.0/25")
IPV6_LOOPBACK = ipaddress.IPv6Address("::1")

#: Zones below test. that the lab serves itself (the registry's host, the blocklists).
LAB_ZONES = ("nic.test", "dnsbl.test")

#: A DKIM selector: dot-separated labels of letters, digits, '-' and '_' (RFC 6376 section 3.1).
_SELECTOR = re.compile(r"^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*$")
_CHECK_ID = re.compile(r"^[a-z0-9]+(?:\.[a-z0-9-]+)+(?:@\S+)?$")
#: DNS allows nearly any label; scenarios model broken names ('_', leading '-') on purpose, so
#: only what a zone file cannot express plainly is refused.
_LABEL = re.compile(r"^[a-z0-9_*-][a-z0-9_-]{0,62}$")
_PACKAGE = __name__.rpartition(".")[0]

T = TypeVar("T")


class ScenarioError(ValueError):
    """A scenario that cannot be used, with the file and the reason."""


@dataclass(frozen=True)
class Soa:
    """The SOA values of a zone; ``rname`` is relative to the zone unless it contains a dot."""

    serial: int = DEFAULT_SERIAL
    refresh: int = 14400
    retry: int = 3600
    expire: int = 1209600
    minimum: int = 3600
    rname: str = "hostmaster"


@dataclass(frozen=True)
class NameServerSpec:
    host: str  #: absolute, lower case, no trailing dot
    ip: str
    mode: NameserverMode = "current"
    serial: int | None = None  #: the serial a ``stale`` server still serves
    listed: Listed = "both"

    @property
    def delegated(self) -> bool:
        """Named by the parent's delegation (NS + glue in ``test.``)."""
        return self.listed in ("both", "parent")

    @property
    def in_apex(self) -> bool:
        """Named by the zone's own apex NS RRset."""
        return self.listed in ("both", "zone")


@dataclass(frozen=True)
class Zone:
    name: str  #: apex, no trailing dot
    records: str = ""  #: zone-file lines relative to the apex
    soa: Soa = field(default_factory=Soa)
    ttl: int = 3600
    axfr: AxfrMode = "refused"
    nameservers: tuple[NameServerSpec, ...] = ()

    @property
    def delegation(self) -> tuple[NameServerSpec, ...]:
        return tuple(ns for ns in self.nameservers if ns.delegated)

    @property
    def apex_nameservers(self) -> tuple[NameServerSpec, ...]:
        """The servers of the zone's NS RRset; the first one is the SOA MNAME."""
        return tuple(ns for ns in self.nameservers if ns.in_apex)


@dataclass(frozen=True)
class ResolverKnobs:
    """How the lab's resolver misbehaves for names at or below a scenario's domain."""

    truncate: bool = False  #: UDP answers carry TC=1 and no records; TCP answers are whole
    silent: bool = False  #: queries are read and never answered
    servfail: bool = False  #: every answer is SERVFAIL

    @property
    def active(self) -> bool:
        return self.truncate or self.silent or self.servfail


@dataclass(frozen=True)
class Expectations:
    """Verdicts a correct survey gives for the scenario's domain (the TOML keys in brackets)."""

    flag: tuple[str, ...] = ()  #: some result failed or warned
    passed: tuple[str, ...] = ()  #: [pass] results exist, all passed
    not_passed: tuple[str, ...] = ()  #: results exist, none passed
    skipped: tuple[str, ...] = ()  #: [skip] results exist, all skipped
    error: tuple[str, ...] = ()  #: results exist, indeterminate (error), never failed
    #: [warn] results exist, some warned, none failed (a heuristic or transient finding, never a failure)
    warned: tuple[str, ...] = ()
    #: [fail] some result failed (not merely warned: ``flag`` takes either)
    failed: tuple[str, ...] = ()
    clean: bool = False  #: no failed, warned or error result
    max_seconds: float | None = None

    @property
    def count(self) -> int:
        ids = (
            self.flag + self.passed + self.not_passed + self.skipped + self.error + self.warned + self.failed
        )
        return len(ids) + int(self.clean)


@dataclass(frozen=True)
class MtaSpec:
    """One ``[[mta]]`` table: an SMTP server of the scenario and how it behaves.

    ``kind`` says who plays it: ``postfix`` (a normal MTA; the fake MTA plays it in the embedded lab,
    real Postfix in the acceptance lab) and ``fake`` hold an SMTP dialogue shaped by the knobs below;
    ``silent`` accepts TCP and never sends a byte, ``garbage`` sends junk and then endless ``220-``
    lines, ``tarpit`` sends a valid greeting one byte a second, ``babbler`` a 1 MiB greeting line
    without CRLF and more, ``binary`` random non-ASCII bytes, ``badcode`` a ``666`` greeting.
    """

    ip: str
    hostname: str  #: the EHLO name (lower case, '_' allowed)
    kind: MtaKind = "postfix"
    banner: str = ""  #: text after "220 "; empty: "<hostname> ESMTP"
    # ---- what real Postfix plays too (the shared lab's README, "Scenario files")
    role: MtaRole = "final"  #: final (mailbox domain) | backup (relays it) | unlisted (relay denied)
    accept: tuple[str, ...] = DEFAULT_ACCEPT  #: local parts accepted; "*" accepts any
    relay: Literal["denied", "open"] = "denied"
    #: strict: pipelining without PIPELINING negotiated, and talking before the greeting, get
    #: "554 5.5.0 Error: SMTP protocol synchronization" (smtpd_forbid_unauth_pipelining = yes)
    pipelining: Literal["strict", "lax"] = "strict"
    tls: tuple[str, ...] = ("lab",)  #: "none", or "lab" and/or flaws (sorted)
    cert_names: tuple[str, ...] = ()  #: SAN names of the certificate; empty: the hostname
    ident: IdentMode = "closed"  #: port 113 on the same address
    postfix: tuple[tuple[str, str], ...] = ()  #: raw main.cf overrides (the Postfix tier's)
    # ---- what only the fake plays (FAKE_CHOICES; the defaults are Postfix's behaviour)
    greeting: GreetingMode = "normal"
    greeting_delay: float = 0.0  #: seconds before the (last line of the) greeting
    ehlo_name: str = ""  #: empty: the hostname
    extensions: tuple[str, ...] | None = None  #: EHLO keywords; None: DEFAULT_EXTENSIONS (+STARTTLS)
    ehlo_extra_keywords: int = 0  #: that many junk keywords more in EHLO
    helo_reply: HeloReply = "normal"
    vrfy: VrfyMode = "honest"
    expn: ExpnMode = "unrecognised"
    null_sender: NullSenderMode = "accept"
    case_sensitive: bool = False
    unqualified_postmaster: Literal["accept", "reject"] = "accept"
    tls_gated: bool = False
    greylist: GreylistMode = "none"
    unknown_command: UnknownCommandMode = "tolerate"
    starttls: StarttlsMode = "normal"
    tls_versions: TlsVersions = "modern"
    max_connections: int = 10

    @property
    def dialogue(self) -> bool:
        """It holds an SMTP dialogue (kind postfix or fake)."""
        return self.kind in DIALOGUE_KINDS

    @property
    def greeting_text(self) -> str:
        """What follows the reply code of the greeting."""
        return self.banner or f"{self.hostname} ESMTP"

    @property
    def ehlo_hostname(self) -> str:
        return self.ehlo_name or self.hostname

    @property
    def offers_tls(self) -> bool:
        return self.dialogue and "none" not in self.tls

    @property
    def tls_flaws(self) -> frozenset[str]:
        return frozenset(self.tls) & frozenset(TLS_FLAWS)

    @property
    def certificate_names(self) -> tuple[str, ...]:
        return self.cert_names or (self.hostname,)

    @property
    def catch_all(self) -> bool:
        return "*" in self.accept

    @property
    def fake_knobs(self) -> tuple[str, ...]:
        """The fake-only knobs set away from their defaults: what real Postfix cannot play."""
        defaults = MtaSpec(ip=self.ip, hostname=self.hostname)
        names = [*FAKE_CHOICES, "greeting_delay", "ehlo_name", "extensions", "ehlo_extra_keywords"]
        names += ["case_sensitive", "tls_gated", "max_connections"]
        return tuple(n for n in names if getattr(self, n) != getattr(defaults, n))

    def ehlo_keywords(self, *, after_tls: bool = False) -> list[str]:
        """The keyword lines of the EHLO reply, before (or after) a STARTTLS handshake."""
        if self.extensions is not None:
            words = list(self.extensions)  # a given list replaces everything, STARTTLS included
        else:
            words = [w for w in DEFAULT_EXTENSIONS if not (w == "VRFY" and self.vrfy == "disabled")]
            if self.offers_tls:
                words.insert(words.index("ETRN") + 1 if "ETRN" in words else len(words), "STARTTLS")
        if self.expn == "advertised" and "EXPN" not in words:
            words.append("EXPN")
        if after_tls:
            # RFC 3207 section 4.2: not again after the handshake, unless the scenario breaks that.
            words = [w for w in words if w.upper() != "STARTTLS"]
            if self.starttls == "readvertise":
                words.append("STARTTLS")
        words += [f"X-MAILSPEC-JUNK-{i:06d}" for i in range(self.ehlo_extra_keywords)]
        return words


@dataclass(frozen=True)
class HttpsSpec:
    """One ``[[https]]`` table: a host name the lab's HTTPS server serves on one address (an MTA-STS
    policy host, RFC 8461 section 3.3). The lab plays it with :class:`~mailspec.testing.https.HttpsSite`,
    whose knobs these are."""

    host: str  #: absolute, lower case, no trailing dot
    ip: str
    policy: str = ""  #: the text served at /.well-known/mta-sts.txt
    certificate: str = "valid"  #: one of HTTPS_CERTIFICATES
    cert_names: tuple[str, ...] = ()  #: SAN names of the certificate; empty: the host
    status: int = 0  #: 0: 200, or 301 with a redirect
    redirect: str = ""  #: a Location sent (with a 3xx status) instead of the policy
    content_type: str = "text/plain"  #: "" sends none
    body: str = "normal"  #: one of HTTPS_BODIES
    silence: str = ""  #: one of HTTPS_SILENCES

    @property
    def answer_status(self) -> int:
        """The status the policy's request gets."""
        return self.status or (301 if self.redirect else 200)

    @property
    def certificate_names(self) -> tuple[str, ...]:
        return self.cert_names or (self.host,)


@dataclass(frozen=True)
class Scenario:
    name: str  #: file stem
    source: str  #: where it was read from, for messages
    domain: str
    description: str = ""
    waive: tuple[str, ...] = ()  #: "ID=REASON" or "ID@SUBJECT=REASON", as written
    expect: Expectations = field(default_factory=Expectations)
    zone: Zone | None = None
    extra_zones: tuple[Zone, ...] = ()
    registry_records: str = ""  #: lines added to the test. zone (relative to test.)
    resolver: ResolverKnobs = field(default_factory=ResolverKnobs)
    ptr: tuple[tuple[str, str], ...] = ()  #: (address, host name)
    mtas: tuple[MtaSpec, ...] = ()
    dnsbl_listed: tuple[str, ...] = ()  #: addresses listed in the lab's dnsbl.test
    mailspec_args: tuple[str, ...] = ()
    https: tuple[HttpsSpec, ...] = ()  #: the scenario's MTA-STS policy hosts
    dkim_selectors: tuple[str, ...] = ()  #: selectors whose keys a survey should check

    @property
    def zones(self) -> tuple[Zone, ...]:
        return ((self.zone,) if self.zone else ()) + self.extra_zones

    @property
    def waivers(self) -> tuple[str, ...]:
        """The waivers scoped to this domain: ``ID@domain=REASON`` (an explicit subject is kept)."""
        out = []
        for entry in self.waive:
            check, _, reason = entry.partition("=")
            out.append(f"{check}={reason}" if "@" in check else f"{check}@{self.domain}={reason}")
        return tuple(out)

    @property
    def addresses(self) -> frozenset[str]:
        """Every address the scenario owns: its name servers, PTR entries, MTAs and HTTPS sites."""
        ips = {ns.ip for zone in self.zones for ns in zone.nameservers}
        ips |= {ip for ip, _ in self.ptr}
        ips |= {mta.ip for mta in self.mtas}
        ips |= {site.ip for site in self.https}
        return frozenset(ips)

    @property
    def dkim_subjects(self) -> tuple[str, ...]:
        """``SELECTOR@DOMAIN`` for each of :attr:`dkim_selectors`, as ``--mail-dkim-selector`` takes it."""
        return tuple(f"{selector}@{self.domain}" for selector in self.dkim_selectors)

    @property
    def served_domains(self) -> tuple[str, ...]:
        """The mail domains the scenario's MTAs take mail for: its domain, each of its zones, and the
        names below them (so that the SOA RNAME and report mailboxes of every zone are local)."""
        return tuple(dict.fromkeys((self.domain, *(z.name for z in self.zones))))


# --------------------------------------------------------------------------- loading


def parse_scenario(text: str, name: str = "scenario", source: str | None = None) -> Scenario:
    """Read one scenario from TOML text; *name* plays the file stem."""
    where = source or f"{name}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML: {exc}") from exc
    try:
        return _scenario(data, name, where)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read one scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p}: {exc.strerror or exc}") from exc
    return parse_scenario(text, p.stem, str(p))


def load_scenarios(paths: Iterable[str | os.PathLike[str]] | None = None) -> list[Scenario]:
    """Scenarios from files or folders of ``*.toml`` (default: the packaged ones), checked together."""
    scenarios: list[Scenario] = []
    if paths is None:
        folder = resources.files(_PACKAGE).joinpath("scenarios")
        # by stem, as scenario_names() sorts them ("a-b" before "a-b-c", which "a-b-c.toml" < "a-b.toml"
        # would reverse)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name.removesuffix(".toml")):
            if entry.name.endswith(".toml"):
                stem = entry.name.removesuffix(".toml")
                scenarios.append(parse_scenario(entry.read_text(encoding="utf-8"), stem, entry.name))
    else:
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                files = sorted(path.glob("*.toml"), key=lambda f: f.stem)
                if not files:
                    raise ScenarioError(f"{path}: holds no *.toml scenario")
                scenarios += [load_scenario(f) for f in files]
            else:
                scenarios.append(load_scenario(path))
    check_together(scenarios)
    return scenarios


def scenario_names() -> list[str]:
    """The file stems of the packaged scenarios, sorted."""
    folder = resources.files(_PACKAGE).joinpath("scenarios")
    return sorted(e.name.removesuffix(".toml") for e in folder.iterdir() if e.name.endswith(".toml"))


def check_together(scenarios: Sequence[Scenario]) -> None:
    """Reject scenarios that would collide in one lab: same name, address, domain or zone."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    claimed: list[tuple[str, str]] = []  # (name, scenario): domains and zone apexes
    for sc in scenarios:
        if sc.name in names:
            raise ScenarioError(f"{sc.source} and {names[sc.name]} are both named {sc.name!r}")
        names[sc.name] = sc.source
        for ip in sorted(sc.addresses):
            if owners.setdefault(ip, sc.name) != sc.name:
                raise ScenarioError(f"{ip} is used by both {owners[ip]} and {sc.name}")
        mine = {sc.domain} | {z.name for z in sc.zones}
        for name in sorted(mine):
            for other, owner in claimed:
                # A name of one scenario inside another's zone or domain would be served by the
                # wrong servers (or occluded), so overlap in either direction is a collision.
                if owner != sc.name and (_below(name, other) or _below(other, name)):
                    raise ScenarioError(f"{name} ({sc.name}) collides with {other} ({owner})")
        claimed += [(name, sc.name) for name in mine]


def _below(name: str, ancestor: str) -> bool:
    return name == ancestor or name.endswith("." + ancestor)


# --------------------------------------------------------------------------- strict tables


class _Table:
    """A TOML table read strictly: every key is typed, unknown keys are errors."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where}: expected a table")
        self.data: dict[str, Any] = data
        self.where = where
        self._seen: set[str] = set()

    def get(self, key: str, kind: type[T], default: T) -> T:
        self._seen.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        # bool is an int subclass: "serial = true" must not pass as a number.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ScenarioError(f"{self.at(key)}: expected {kind.__name__}, got {value!r}")
        return value

    def at(self, key: str) -> str:
        """The dotted path of *key*, for messages."""
        return f"{self.where}.{key}" if self.where else key

    def optional(self, key: str, kind: type[T]) -> T | None:
        if key not in self.data:
            self._seen.add(key)
            return None
        return self.get(key, kind, cast("T", None))

    def require(self, key: str, kind: type[T]) -> T:
        if key not in self.data:
            raise ScenarioError(f"{self.where or 'top level'}: missing required key {key!r}")
        return self.get(key, kind, cast("T", None))

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, list, [])
        if not all(isinstance(v, str) for v in value):
            raise ScenarioError(f"{self.at(key)}: expected a list of strings")
        return tuple(value)

    def string_or_strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A string (one item) or a list of strings."""
        self._seen.add(key)
        if key not in self.data:
            return default
        if isinstance(self.data[key], str):
            return (self.data[key],)
        return self.strings(key)

    def given(self) -> set[str]:
        return set(self.data)

    def tables(self, key: str) -> list[_Table]:
        value = self.get(key, list, [])
        return [_Table(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            keys = ", ".join(self.at(k) for k in unknown)
            raise ScenarioError(f"unknown key(s) {keys}")


def _choice(value: str, allowed: Sequence[str], where: str) -> str:
    if value not in allowed:
        raise ScenarioError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _hostname(value: str, where: str) -> str:
    name = value.strip().rstrip(".").lower()
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise ScenarioError(f"{where}: {value!r} is not a domain name")
    return name


def _relative(value: str, origin: str, where: str) -> str:
    """A host written relative to *origin* (or absolute with a trailing dot)."""
    if value.endswith("."):
        return _hostname(value, where)
    return _hostname(origin if value == "@" else f"{value}.{origin}", where)


def _server_ip(value: str, where: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {value!r} is not an IPv4 address") from exc
    if not SCENARIO_FIRST <= address <= SCENARIO_LAST:
        raise ScenarioError(
            f"{where}: {value} is outside the scenario range {SCENARIO_FIRST}-{SCENARIO_LAST}"
        )
    return str(address)


def _ptr_ip(value: str, where: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {value!r} is not an IP address") from exc
    if address == IPV6_LOOPBACK:
        return str(address)
    return _server_ip(value, where)


# --------------------------------------------------------------------------- the format


def _scenario(data: dict[str, Any], name: str, source: str) -> Scenario:
    top = _Table(data, "")
    domain = _hostname(top.require("domain", str), "domain")
    if not _below(domain, "test") or domain == "test":
        raise ScenarioError(f"domain: {domain} must be below test.")
    for lab_zone in LAB_ZONES:
        if _below(domain, lab_zone):
            raise ScenarioError(f"domain: {domain} is in {lab_zone}, which belongs to the lab")
    description = top.get("description", str, "").strip()
    waive = tuple(_waiver(w) for w in top.strings("waive"))
    mailspec_args = top.strings("mailspec_args")
    dkim_selectors = _selectors(top.strings("dkim_selectors"))
    expect = _expectations(_Table(top.get("expect", dict, {}), "expect"))

    zone_data = top.optional("zone", dict)
    zone = _zone(_Table(zone_data, "zone"), domain, extra=False) if zone_data is not None else None
    extra = tuple(_zone(t, "", extra=True) for t in top.tables("extra_zone"))

    registry = _Table(top.get("registry", dict, {}), "registry")
    registry_records = registry.get("records", str, "")
    registry.done()

    knobs_t = _Table(top.get("resolver", dict, {}), "resolver")
    knobs = ResolverKnobs(
        truncate=knobs_t.get("truncate", bool, False),
        silent=knobs_t.get("silent", bool, False),
        servfail=knobs_t.get("servfail", bool, False),
    )
    knobs_t.done()
    if knobs.truncate + knobs.silent + knobs.servfail > 1:
        raise ScenarioError("resolver: choose one of truncate, silent, servfail")

    ptr_t = top.get("ptr", dict, {})
    ptr = []
    for ip, hosts in ptr_t.items():
        # A list gives the address several PTR records (beyond the acceptance lab's format).
        names = [hosts] if isinstance(hosts, str) else hosts
        if not isinstance(names, list) or not names or not all(isinstance(h, str) for h in names):
            raise ScenarioError(f"ptr.{ip}: expected a host name or a list of them, got {hosts!r}")
        ptr += [(_ptr_ip(ip, f"ptr.{ip}"), _hostname(host, f"ptr.{ip}")) for host in names]

    mtas = tuple(_mta(t) for t in top.tables("mta"))
    https = _sites([_https(t, domain) for t in top.tables("https")])
    dnsbl_t = _Table(top.get("dnsbl", dict, {}), "dnsbl")
    listed = tuple(_ptr_ip(ip, "dnsbl.listed") for ip in dnsbl_t.strings("listed"))
    dnsbl_t.done()
    top.done()

    if mtas and zone is None:
        raise ScenarioError("mta: MTAs need a [zone]; leave them out to model a domain that does not exist")
    if https and zone is None:
        raise ScenarioError(
            "https: policy hosts need a [zone]; leave them out to model a domain that does not exist"
        )
    ips = [m.ip for m in mtas]
    twice = sorted({ip for ip in ips if ips.count(ip) > 1})
    if twice:
        raise ScenarioError(f"mta: {', '.join(twice)} has more than one MTA")

    if zone is not None and not _below(domain, zone.name) and not registry_records.strip():
        raise ScenarioError(
            f"zone.name: {domain} is not in zone {zone.name}; give it records in [registry] (e.g. a CNAME)"
        )
    zone_names = [z.name for z in (zone, *extra) if z is not None]
    if len(set(zone_names)) != len(zone_names):
        raise ScenarioError(f"a zone is defined twice: {', '.join(zone_names)}")
    return Scenario(
        name=name,
        source=source,
        domain=domain,
        description=description,
        waive=waive,
        expect=expect,
        zone=zone,
        extra_zones=extra,
        registry_records=registry_records,
        resolver=knobs,
        ptr=tuple(ptr),
        mtas=mtas,
        dnsbl_listed=tuple(dict.fromkeys(listed)),
        mailspec_args=mailspec_args,
        https=https,
        dkim_selectors=dkim_selectors,
    )


def _selectors(selectors: Sequence[str]) -> tuple[str, ...]:
    for selector in selectors:
        if not _SELECTOR.match(selector) or len(selector) > 200:
            raise ScenarioError(
                f"dkim_selectors: {selector!r} is not a selector (labels of letters, digits, '-' and '_')"
            )
    lowered = [s.lower() for s in selectors]
    twice = sorted({s for s in lowered if lowered.count(s) > 1})
    if twice:
        raise ScenarioError(f"dkim_selectors: {', '.join(twice)} given twice")
    return tuple(selectors)


def _waiver(entry: str) -> str:
    check, sep, reason = entry.partition("=")
    if not sep or not reason.strip() or not _CHECK_ID.match(check.strip()):
        raise ScenarioError(f"waive: {entry!r} is not 'CHECK-ID=REASON'")
    return f"{check.strip()}={reason.strip()}"


def _expectations(t: _Table) -> Expectations:
    lists = {key: t.strings(key) for key in ("flag", "pass", "not_passed", "skip", "error", "warn", "fail")}
    for key, ids in lists.items():
        for check_id in ids:
            if not _CHECK_ID.match(check_id):
                raise ScenarioError(f"expect.{key}: {check_id!r} is not a check id (like 'mx.no-cname')")
    judged = set(
        lists["flag"] + lists["pass"] + lists["not_passed"] + lists["error"] + lists["warn"] + lists["fail"]
    )
    both = sorted(set(lists["skip"]) & judged)
    if both:
        raise ScenarioError(f"expect: {', '.join(both)} cannot be both skipped and judged")
    clean = t.get("clean", bool, False)
    if clean and (lists["flag"] or lists["not_passed"] or lists["error"] or lists["warn"] or lists["fail"]):
        raise ScenarioError("expect: a clean scenario cannot also flag checks or expect errors")
    max_seconds = t.optional("max_seconds", float)
    if max_seconds is not None and max_seconds <= 0:
        raise ScenarioError("expect.max_seconds must be positive")
    t.done()
    expect = Expectations(
        flag=lists["flag"],
        passed=lists["pass"],
        not_passed=lists["not_passed"],
        skipped=lists["skip"],
        error=lists["error"],
        warned=lists["warn"],
        failed=lists["fail"],
        clean=clean,
        max_seconds=max_seconds,
    )
    if expect.count == 0:
        raise ScenarioError(
            "expect: give at least one of flag, pass, not_passed, skip, error, warn or clean = true"
        )
    return expect


def _zone(t: _Table, domain: str, *, extra: bool) -> Zone:
    if extra:
        name = _hostname(t.require("name", str), f"{t.where}.name")
    else:
        name = _hostname(t.get("name", str, domain), f"{t.where}.name")
    labels = name.split(".")
    top_level = len(labels) == 1
    if not top_level and not (len(labels) == 2 and labels[1] == "test"):
        raise ScenarioError(f"{t.where}.name: {name}: a zone sits directly below test. (or is top level)")
    if name in ("test", "arpa", *LAB_ZONES):
        raise ScenarioError(f"{t.where}.name: {name} belongs to the lab")
    if top_level and not extra:
        raise ScenarioError(f"{t.where}.name: the scenario's own zone must be below test.")

    soa_t = _Table(t.get("soa", dict, {}), f"{t.where}.soa")
    serial = t.get("serial", int, DEFAULT_SERIAL)
    soa = Soa(
        serial=serial,
        refresh=soa_t.get("refresh", int, Soa.refresh),
        retry=soa_t.get("retry", int, Soa.retry),
        expire=soa_t.get("expire", int, Soa.expire),
        minimum=soa_t.get("minimum", int, Soa.minimum),
        rname=soa_t.get("rname", str, Soa.rname),
    )
    soa_t.done()
    if not 0 <= serial < 2**32:
        raise ScenarioError(f"{t.where}.serial: {serial} is not a 32-bit serial")

    nameservers = []
    for ns_t in t.tables("nameserver"):
        host = _relative(ns_t.require("host", str), name, f"{ns_t.where}.host")
        if not _below(host, "test"):
            raise ScenarioError(
                f"{ns_t.where}.host: {host} must be below test. (the lab serves nothing else)"
            )
        mode = cast(
            "NameserverMode",
            _choice(ns_t.get("mode", str, "current"), NAMESERVER_MODES, f"{ns_t.where}.mode"),
        )
        ns_serial = ns_t.optional("serial", int)
        if ns_serial is not None and mode != "stale":
            raise ScenarioError(f"{ns_t.where}.serial: only a 'stale' name server has its own serial")
        if mode == "stale" and ns_serial is None:
            ns_serial = (serial - 1) % 2**32
        listed = cast(
            "Listed",
            _choice(ns_t.get("listed", str, "both"), ("both", "parent", "zone"), f"{ns_t.where}.listed"),
        )
        nameservers.append(
            NameServerSpec(
                host=host,
                ip=_server_ip(ns_t.require("ip", str), f"{ns_t.where}.ip"),
                mode=mode,
                serial=ns_serial,
                listed=listed,
            )
        )
        ns_t.done()
    if nameservers and not any(ns.delegated for ns in nameservers):
        raise ScenarioError(
            f"{t.where}.nameserver: the parent must name at least one (listed = both or parent)"
        )
    if nameservers and not any(ns.in_apex for ns in nameservers):
        raise ScenarioError(f"{t.where}.nameserver: the zone must name at least one (listed = both or zone)")
    if top_level and nameservers:
        raise ScenarioError(f"{t.where}: a top-level zone is served by the registry; it has no name servers")
    modes: dict[str, str] = {}
    for ns in nameservers:
        kind = "authoritative" if ns.mode in ("current", "stale") else ns.mode
        if modes.setdefault(ns.ip, kind) != kind:
            raise ScenarioError(f"{t.where}.nameserver: {ns.ip} cannot be both {modes[ns.ip]} and {kind}")

    axfr = cast("AxfrMode", _choice(t.get("axfr", str, "refused"), ("refused", "open"), f"{t.where}.axfr"))
    zone = Zone(
        name=name,
        records=t.get("records", str, ""),
        soa=soa,
        ttl=t.get("ttl", int, 3600),
        axfr=axfr,
        nameservers=tuple(nameservers),
    )
    t.done()
    return zone


# --------------------------------------------------------------------------- [[mta]]


def _text(value: str, where: str, *, empty: bool = True) -> str:
    """One line of protocol text: no CR or LF, which would end the line where the scenario did not."""
    if "\r" in value or "\n" in value or (not empty and not value.strip()):
        raise ScenarioError(f"{where}: {value!r} must be one line of text")
    return value


def _number(t: _Table, key: str, default: float, low: float, high: float) -> float:
    value = t.get(key, float, default)
    if not (math.isfinite(value) and low <= value <= high):
        raise ScenarioError(f"{t.at(key)}: expected {low:g} to {high:g}, got {value!r}")
    return value


def _count(t: _Table, key: str, default: int, low: int, high: int) -> int:
    value = t.get(key, int, default)
    if not low <= value <= high:
        raise ScenarioError(f"{t.at(key)}: expected {low} to {high}, got {value!r}")
    return value


def _mta(t: _Table) -> MtaSpec:
    kind = cast("MtaKind", _choice(t.get("kind", str, "postfix"), MTA_KINDS, t.at("kind")))
    ip = _ptr_ip(t.require("ip", str), t.at("ip"))
    hostname = _hostname(t.require("hostname", str), t.at("hostname"))
    banner = _text(t.get("banner", str, ""), t.at("banner"))

    def choice(key: str, allowed: Sequence[str]) -> Any:
        return _choice(t.get(key, str, allowed[0]), allowed, t.at(key))

    tls = tuple(sorted(set(t.string_or_strings("tls", ("lab",)))))
    unknown_tls = sorted(set(tls) - set(TLS_MODES))
    if unknown_tls or not tls:
        raise ScenarioError(f"{t.at('tls')}: expected {', '.join(TLS_MODES)} or a list of them, got {tls!r}")
    if "none" in tls and len(tls) > 1:
        raise ScenarioError(f"{t.at('tls')}: 'none' cannot be combined with other modes")
    if set(tls) & set(TLS_FLAWS):
        tls = tuple(m for m in tls if m != "lab")  # a flawed certificate is still the lab CA's (or not)

    accept = t.string_or_strings("accept", DEFAULT_ACCEPT)
    if not accept:
        raise ScenarioError(f"{t.at('accept')}: name at least one local part, or '*' for any")
    for local in accept:
        if not local or "@" in local or any(c.isspace() for c in local):
            raise ScenarioError(f"{t.at('accept')}: {local!r} is not a local part")

    overrides = t.get("postfix", dict, {})
    for key, value in overrides.items():
        if not isinstance(value, str):
            raise ScenarioError(f"{t.at('postfix')}.{key}: main.cf values are strings, got {value!r}")

    extensions: tuple[str, ...] | None = None
    if "extensions" in t.data:
        extensions = tuple(_text(w, t.at("extensions"), empty=False) for w in t.strings("extensions"))
    else:
        t.strings("extensions")  # marks the key as known
    ehlo_name = t.get("ehlo_name", str, "")

    spec = MtaSpec(
        ip=ip,
        hostname=hostname,
        kind=kind,
        banner=banner,
        role=choice("role", ("final", "backup", "unlisted")),
        accept=accept,
        relay=choice("relay", ("denied", "open")),
        pipelining=choice("pipelining", ("strict", "lax")),
        tls=tls,
        cert_names=tuple(_hostname(n, t.at("cert_names")) for n in t.strings("cert_names")),
        ident=choice("ident", ("closed", "open", "drop", "blackhole")),
        postfix=tuple(sorted(overrides.items())),
        greeting=choice("greeting", FAKE_CHOICES["greeting"]),
        greeting_delay=_number(t, "greeting_delay", 0.0, 0.0, MAX_GREETING_DELAY),
        ehlo_name=_hostname(ehlo_name, t.at("ehlo_name")) if ehlo_name else "",
        extensions=extensions,
        ehlo_extra_keywords=_count(t, "ehlo_extra_keywords", 0, 0, MAX_EXTRA_KEYWORDS),
        helo_reply=choice("helo_reply", FAKE_CHOICES["helo_reply"]),
        vrfy=choice("vrfy", FAKE_CHOICES["vrfy"]),
        expn=choice("expn", FAKE_CHOICES["expn"]),
        null_sender=choice("null_sender", FAKE_CHOICES["null_sender"]),
        case_sensitive=t.get("case_sensitive", bool, False),
        unqualified_postmaster=choice("unqualified_postmaster", FAKE_CHOICES["unqualified_postmaster"]),
        tls_gated=t.get("tls_gated", bool, False),
        greylist=choice("greylist", FAKE_CHOICES["greylist"]),
        unknown_command=choice("unknown_command", FAKE_CHOICES["unknown_command"]),
        starttls=choice("starttls", FAKE_CHOICES["starttls"]),
        tls_versions=choice("tls_versions", FAKE_CHOICES["tls_versions"]),
        max_connections=_count(t, "max_connections", 10, 1, MAX_CONNECTIONS),
    )
    t.done()

    if not spec.dialogue:
        # The misbehaving kinds never reach a dialogue, so its knobs would be silently ignored.
        allowed = {*HOSTILE_KEYS, *(("banner",) if kind in ("tarpit", "badcode") else ())}
        extra = sorted(t.given() - allowed)
        if extra:
            raise ScenarioError(
                f"{t.where}: {', '.join(extra)} only apply to kind = postfix or fake, not {kind!r}"
            )
    if ipaddress.ip_address(ip).version == 6 and spec.ident == "drop":
        raise ScenarioError(f"{t.at('ident')}: 'drop' is only supported on IPv4 addresses")
    if not spec.offers_tls and spec.dialogue:
        needs_tls = [k for k in ("cert_names", "starttls", "tls_versions", "tls_gated") if k in t.data]
        if needs_tls:
            raise ScenarioError(f"{t.where}: {', '.join(needs_tls)} need TLS, but tls = 'none'")
    return spec


# --------------------------------------------------------------------------- [[https]]


def _https(t: _Table, domain: str) -> HttpsSpec:
    host = _relative(t.require("host", str), domain, t.at("host"))
    if not _below(host, "test"):
        raise ScenarioError(f"{t.at('host')}: {host} must be below test. (the lab serves nothing else)")
    ip = _ptr_ip(t.require("ip", str), t.at("ip"))
    status = t.get("status", int, 0)
    if status and not 100 <= status <= 599:
        raise ScenarioError(f"{t.at('status')}: {status} is not an HTTP status (100 to 599, or 0)")
    redirect = _text(t.get("redirect", str, ""), t.at("redirect"))
    if redirect and not 300 <= (status or 301) <= 399:
        raise ScenarioError(f"{t.at('redirect')}: a redirect needs a 3xx status, not {status}")
    spec = HttpsSpec(
        host=host,
        ip=ip,
        policy=t.get("policy", str, ""),
        certificate=_choice(t.get("certificate", str, "valid"), HTTPS_CERTIFICATES, t.at("certificate")),
        cert_names=tuple(_hostname(n, t.at("cert_names")) for n in t.strings("cert_names")),
        status=status,
        redirect=redirect,
        content_type=_text(t.get("content_type", str, "text/plain"), t.at("content_type")),
        body=_choice(t.get("body", str, "normal"), HTTPS_BODIES, t.at("body")),
        silence=_choice(t.get("silence", str, ""), HTTPS_SILENCES, t.at("silence")),
    )
    t.done()
    return spec


def _sites(sites: list[HttpsSpec]) -> tuple[HttpsSpec, ...]:
    """The sites of one scenario, checked together: one host name once per address, and ``silence =
    "tcp"`` (which silences the address before any TLS) for all of an address's names or none."""
    seen: dict[tuple[str, str], int] = {}
    tcp: dict[str, set[bool]] = {}
    for i, site in enumerate(sites):
        if (site.host, site.ip) in seen:
            raise ScenarioError(
                f"https[{i}]: {site.host} on {site.ip} is already https[{seen[site.host, site.ip]}]"
            )
        seen[site.host, site.ip] = i
        tcp.setdefault(site.ip, set()).add(site.silence == "tcp")
    mixed = sorted(ip for ip, modes in tcp.items() if len(modes) > 1)
    if mixed:
        raise ScenarioError(
            f"https: silence = 'tcp' silences every host name of an address: all of {mixed[0]}'s, or none"
        )
    return tuple(sites)
