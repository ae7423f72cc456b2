"""The MTA's own configuration, from the inside (CATALOG.md §19): one check per practice, per
testinfra host, and per host and domain for those that concern a domain (``--mail-domain``).

Each check asserts over the facts the host's own tools gave once per run (:class:`mailspec.facts.host.
MtaConfig`, the ``mta_config`` fixture); a setting that could not be read is "could not test" (an
error), never a failure. Postfix is read in full, Exim through ``exim -bP`` (its options, transports
and whole configuration, ACLs included), ``exim -bt`` and ``exim -bh`` (its own ACL evaluation of a
relaying attempt); an Exim rule that this release does not read is an error that says so, never a
pass.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

from mailspec.catalog import check
from mailspec.errors import Indeterminate
from mailspec.facts.dns import DomainDns, MxTarget
from mailspec.facts.host import MtaConfig, this_host_mx
from mailspec.facts.smtp import ReverseDns
from mailspec.outcome import evidence, note, warn
from mailspec.records.certs import name_matches, validity_problem
from mailspec.records.exim import (
    ACL_FILTERS,
    REFUSING,
    WILDCARDS,
    AclStatement,
    EximConfig,
    acl_filters,
    computed,
    exim_bool,
    exim_list,
    helo_name,
    host_list_default,
    listening_on,
    never_applies,
    open_accept,
    relay_hosts,
    relay_stop,
    resolve_acl,
    role_filters,
    smtp_ports,
)
from mailspec.records.firewall import port_disposition
from mailspec.records.hostname import hostname_problem, looks_like_ip
from mailspec.records.postfix import (
    FILTERS,
    RCPT_LISTS,
    MasterService,
    accepting,
    access_action,
    any_domain_keys,
    front_service,
    network_entry_kind,
    parent_domain_matches,
    restrictions,
    service_value,
    smtpd_param,
    smtpd_service,
    split_list,
    wide_networks,
    yes,
)

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = [
    "test_host_banner_names_host",
    "test_host_helo_matches_ptr",
    "test_host_helo_required",
    "test_host_hostname_fqdn",
    "test_host_ident_not_dropped",
    "test_host_mta_address_families",
    "test_host_mta_listening",
    "test_host_pipelining_enforced",
    "test_host_pregreet_enforced",
    "test_host_relay_restricted",
    "test_host_role_abuse",
    "test_host_role_postmaster",
    "test_host_role_unfiltered",
    "test_host_tls_cert_current",
    "test_host_tls_configured",
    "test_host_vrfy_restricted",
]

NEEDS_DOMAIN = "needs --mail-domain=DOMAIN (the host is judged for a domain's MX records)"


# ------------------------------------------------------------------------------------------- helpers
def tool(c: MtaConfig) -> str:
    return "postconf" if c.mta == "postfix" else "exim -bP"


def shown(c: MtaConfig, *names: str, port: int | None = None) -> None:
    """The settings a verdict rests on, as evidence; with ``port``, Postfix's as the smtpd on that
    port has them (a master.cf ``-o`` override says where it comes from)."""
    lines = []
    for n in names:
        value = c.values.get(n, "(not set)")
        s = smtpd_service(c.services, port) if port is not None and c.mta == "postfix" else None
        if s is not None and s.option(n) is not None:
            value = f"{service_value(c.values, s, n)} (master.cf {s.name} {s.type}: -o {n}={s.option(n)})"
        lines.append(f"{c.host}: {tool(c)}: {n} = {value}")
    evidence(*lines)


def need(c: MtaConfig, *parts: str) -> None:
    """Could not test when a part of the host the check needs could not be read."""
    for part in parts:
        if part in c.unread:
            raise Indeterminate(f"could not test on {c.host}: {c.unread[part]}")


def not_for_exim(c: MtaConfig, what: str) -> None:
    if c.mta == "exim":
        raise Indeterminate(
            f"could not test on {c.host}: reading Exim's {what} is not implemented in this release "
            "(only Postfix's is); check it by hand, or waive this check for the host"
        )


def front(c: MtaConfig, port: int) -> MasterService | None:
    """The master.cf service that takes connections on the SMTP port (smtpd or postscreen)."""
    return front_service(c.services, port)


def postscreen(c: MtaConfig, port: int) -> bool:
    s = front(c, port)
    return s is not None and s.command.split()[0] == "postscreen"


def smtpd_value(c: MtaConfig, name: str, port: int) -> str:
    """A parameter's value for the smtpd that serves the SMTP port (its master.cf ``-o`` override,
    else main.cf's); behind postscreen, the ``pass`` smtpd's."""
    return smtpd_param(c.values, c.services, name, port)


def without_expansions(text: str) -> str:
    """Exim text with its ``$name`` and ``${...}`` expansions taken out (what they expand to is not
    known here)."""
    out, depth, i = "", 0, 0
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
            continue
        m = re.match(r"\$\w+", text[i:])
        if m:
            i += len(m.group(0))
            continue
        out += text[i]
        i += 1
    return out


def exim_addresses(local_interfaces: str, port: int, daemon_smtp_ports: str | None = None) -> list[str]:
    """The addresses Exim's ``local_interfaces`` names for ``port`` (an Exim list: ``<; ::1 ;
    127.0.0.1``, ``192.0.2.1 : 192.0.2.2``; an item with a port of its own, ``192.0.2.1.2525``, only
    for that port, one without for each port of ``daemon_smtp_ports``, None: any); the wildcards
    ``0.0.0.0`` and ``::0`` stand for every address, as Postfix's ``all`` does, and are left out."""
    return [
        a for a in listening_on(local_interfaces, daemon_smtp_ports, port)
        if a not in WILDCARDS and looks_like_ip(a)
    ]  # fmt: skip


def _loopback(addr: str) -> bool:
    try:
        return addr.lower() == "localhost" or ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def tls_on(c: MtaConfig, port: int) -> bool:
    """Whether the MTA offers STARTTLS on the SMTP port (Postfix smtpd_tls_security_level, or the
    legacy smtpd_use_tls; Exim tls_advertise_hosts)."""
    if c.mta != "postfix":
        return bool(c.values.get("tls_advertise_hosts", "").strip())
    level = smtpd_value(c, "smtpd_tls_security_level", port).lower()
    legacy = yes(c.values.get("smtpd_use_tls")) or yes(c.values.get("smtpd_enforce_tls"))
    return level in ("may", "encrypt") or (not level and legacy)


def postscreen_value(c: MtaConfig, name: str, port: int) -> str:
    """A postscreen parameter's value for the service on the SMTP port (its ``-o`` override, else
    main.cf's)."""
    s = front(c, port)
    return service_value(c.values, s, name) if s is not None else c.values.get(name, "")


def mine_or_skip(mine: list[MxTarget] | None, c: MtaConfig, domain: str) -> list[MxTarget]:
    if mine is None:
        pytest.skip(NEEDS_DOMAIN)
    if not mine:
        pytest.skip(
            f"no MX host of {domain} is this host ({c.host}: addresses {', '.join(c.addresses) or 'none'}, "
            f"host name {c.hostname or '(not set)'}): nothing here to judge for {domain}"
        )
    return mine


def dns_evidence(d: DomainDns | None, mine: Iterable[MxTarget]) -> None:
    if d is not None:
        evidence(d.mx)
    for t in mine:
        evidence(*(x for x in t.lookups))


# --------------------------------------------------------------------------------------- listening
@check(
    "host.mta.listening",
    refs=["RFC 5321 §4.5.4.2"],
    fix="Make the MTA listen on port 25 on each MX address of the host (Postfix: inet_interfaces and "
    "the smtp service of master.cf; Exim: local_interfaces and daemon_smtp_ports).",
)
def test_host_mta_listening(
    mta_config: MtaConfig, mta_domain: str, mta_domain_dns: DomainDns | None,
    mta_mx_hosts: list[MxTarget] | None, mailspec_settings: Settings,
) -> None:  # fmt: skip
    """The MTA listens on port 25 on every address the MX records give for the host.

    With a domain: each address of the MX hosts that are this host (an MX address among the host's
    own, or the name that is its MTA host name) has a listening TCP socket on --mail-smtp-port (the
    wildcard of the address's family counts). Without one: a socket listens on the port on each
    address ``inet_interfaces`` names (any address when it says ``all``).
    """
    c, port = mta_config, mailspec_settings.smtp_port
    need(c, "sockets")
    if c.mta == "postfix":
        need(c, "master.cf")
    interfaces = "inet_interfaces" if c.mta == "postfix" else "local_interfaces"
    shown(c, interfaces)
    sockets = ", ".join(f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in c.listening if p == port)
    evidence(f"{c.host}: ss -ltn: listening on port {port}: {sockets or 'nothing'}")
    if mta_mx_hosts is None:
        if c.mta == "exim":
            wanted = exim_addresses(c.values.get(interfaces, ""), port, c.values.get("daemon_smtp_ports"))
        else:
            wanted = [
                w.strip("[]")
                for w in split_list(c.values.get(interfaces, ""))
                if looks_like_ip(w.strip("[]"))
            ]
        missing = [ip for ip in wanted if not c.listens_on(ip, port)]
        reachable = [a for a, p in c.listening if p == port and not _loopback(a)]
        if not sockets or missing or not reachable:
            where = ", ".join(missing) if missing else "any address"
            if sockets and not missing:
                where = "any address but loopback (it listens only on the host itself)"
            pytest.fail(
                f"{c.host}: nothing listens on TCP port {port} at {where} ({interfaces} = "
                f"{c.values.get(interfaces, '')!r}); an MX host must accept connections on port 25 "
                "(RFC 5321 §4.5.4.2). Start the MTA's SMTP service on that port (Postfix: the smtp inet "
                "service in master.cf and inet_interfaces; Exim: daemon_smtp_ports, local_interfaces)."
            )
        return
    mine = mine_or_skip(mta_mx_hosts, c, mta_domain)
    dns_evidence(mta_domain_dns, mine)
    missing = [f"{t.name} {ip}" for t in mine for ip in t.ips if not c.listens_on(ip, port)]
    if missing:
        pytest.fail(
            f"{c.host}: the MX records of {mta_domain} give {', '.join(missing)} for this host, but nothing "
            f"listens on TCP port {port} there (listening: {sockets or 'nothing'}; {interfaces} = "
            f"{c.values.get(interfaces, '')!r}); senders connect to every MX address (RFC 5321 §4.5.4.2). "
            f"Make the MTA listen on those addresses ({interfaces}), or correct the MX host's addresses."
        )


@check(
    "host.mta.address-families",
    refs=["RFC 3974 §3"],
    fix="Enable the missing family (Postfix: inet_protocols = all; Exim: disable_ipv6 = false), or "
    "remove the MX host's records of that family.",
)
def test_host_mta_address_families(
    mta_config: MtaConfig, mta_domain: str, mta_domain_dns: DomainDns | None,
    mta_mx_hosts: list[MxTarget] | None, mailspec_settings: Settings,
) -> None:  # fmt: skip
    """The MTA listens on every address family the MX records publish for the host.

    A family (IPv4, IPv6) that the MX hosts of this host publish (A, AAAA) must be enabled in the MTA
    (Postfix ``inet_protocols``; Exim not ``disable_ipv6``) and, where the sockets could be read, have
    a listening socket on the port. Without a domain the check skips (which families are published
    is the domain's MX records' to say).
    """
    c, port = mta_config, mailspec_settings.smtp_port
    mine = mine_or_skip(mta_mx_hosts, c, mta_domain)
    dns_evidence(mta_domain_dns, mine)
    published = {4: any(t.ipv4 for t in mine), 6: any(t.ipv6 for t in mine)}
    if c.mta == "postfix":
        shown(c, "inet_protocols")
        words = {w.lower() for w in split_list(c.values.get("inet_protocols", ""))}
        enabled = {4: bool(words & {"all", "ipv4"}), 6: bool(words & {"all", "ipv6"})}
        setting = f"inet_protocols = {c.values.get('inet_protocols', '')!r}"
    else:
        shown(c, "disable_ipv6")
        enabled = {4: True, 6: not exim_bool(c.values.get("disable_ipv6"))}
        setting = f"disable_ipv6 = {c.values.get('disable_ipv6', 'false')!r}"
    problems = []
    for family, name, rr in ((4, "IPv4", "A"), (6, "IPv6", "AAAA")):
        if not published[family]:
            continue
        if not enabled[family]:
            problems.append(f"{name} is published ({rr} records) but disabled in the MTA ({setting})")
        elif "sockets" not in c.unread and not any(
            p == port and (":" in a) == (family == 6) for a, p in c.listening
        ):
            problems.append(f"{name} is published ({rr} records) but no {name} socket listens on port {port}")
    if problems:
        pytest.fail(
            f"{c.host} ({mta_domain}): " + "; ".join(problems) + ". A sender that reaches the MX host over "
            "that family finds no server (RFC 3974 §3). Enable the family in the MTA (Postfix: "
            "inet_protocols = all; Exim: disable_ipv6 = false) or remove the MX host's records of it."
        )


# ------------------------------------------------------------------------------------------ names
@check(
    "host.hostname.fqdn",
    refs=["RFC 5321 §2.3.5", "RFC 5321 §4.1.2"],
    fix="Set myhostname (Exim: primary_hostname) to the host's fully qualified name, with an A/AAAA "
    "record that gives the host's address.",
)
def test_host_hostname_fqdn(mta_config: MtaConfig) -> None:
    """The MTA's host name is an FQDN without underscores that resolves to the host.

    ``myhostname`` (Exim ``primary_hostname``) has at least two LDH labels, no ``_``, is not
    ``localhost``, and the host's own resolver (``getent ahosts``) gives it an address of the host (a
    loopback address passes with a note: senders resolve it through the public DNS).
    """
    c = mta_config
    setting = "myhostname" if c.mta == "postfix" else "primary_hostname"
    shown(c, setting)
    name = c.hostname.rstrip(".")
    problem = hostname_problem(name) if name else "it is not set"
    if problem is None and name.lower().split(".")[0] == "localhost":
        problem = "it is a localhost name"
    if problem is not None:
        pytest.fail(
            f"{c.host}: {setting} = {name!r}: {problem}; the MTA gives this name in its greeting and HELO, "
            "and it must be the host's fully qualified domain name (RFC 5321 §2.3.5, §4.1.2). Set "
            f"{setting} to the host's FQDN, e.g. mx1.example.com."
        )
    need(c, "hostname", "addresses")
    evidence(f"{c.host}: getent ahosts {name}: {', '.join(c.hostname_ips) or 'no address'}")
    evidence(f"{c.host}: ip -o addr: {', '.join(c.addresses)}")
    own = [ip for ip in c.hostname_ips if ip in c.addresses]
    loop = [ip for ip in c.hostname_ips if ipaddress.ip_address(ip).is_loopback]
    if not c.hostname_ips or not (own or loop):
        gives = ", ".join(c.hostname_ips) if c.hostname_ips else "no address at all"
        pytest.fail(
            f"{c.host}: {setting} {name} resolves on the host to {gives}, none of them the host's own "
            f"({', '.join(c.addresses) or 'none read'}); the MTA's name must name this host (RFC 5321 "
            f"§2.3.5). Publish an A/AAAA record for {name} with the host's address, or set {setting} to "
            "the name that has it."
        )
    if not own:
        note(f"{name} resolves on the host to loopback only ({', '.join(loop)}, /etc/hosts?); senders "
             "resolve it through the public DNS")  # fmt: skip


@check(
    "host.banner.names-host",
    refs=["RFC 5321 §4.2", "RFC 5321 §4.3.1"],
    fix="Start the greeting with the host's name: Postfix smtpd_banner = $myhostname ESMTP; Exim "
    "smtp_banner = $smtp_active_hostname ESMTP.",
)
def test_host_banner_names_host(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA's greeting starts with the host's FQDN and contains no underscore.

    Postfix ``smtpd_banner`` (as the smtp service uses it, ``-o`` overrides included, expanded) or Exim
    ``smtp_banner`` (``$primary_hostname`` / ``$smtp_active_hostname`` stand for the host name): its
    first word is the MTA's host name, an FQDN, and no ``_`` appears in it.
    """
    c = mta_config
    if c.mta == "postfix":
        need(c, "master.cf")
        setting, banner = "smtpd_banner", smtpd_value(c, "smtpd_banner", mailspec_settings.smtp_port)
        first = banner.split()[0] if banner.split() else ""
    else:
        setting = "smtp_banner"
        banner = c.values.get("smtp_banner", "")
        first = banner.split()[0] if banner.split() else ""
        if first.strip("{}$") in ("primary_hostname", "smtp_active_hostname"):
            first = c.hostname
            banner = banner.replace(banner.split()[0], first, 1)
    shown(
        c,
        setting,
        "myhostname" if c.mta == "postfix" else "primary_hostname",
        port=mailspec_settings.smtp_port,
    )
    evidence(f"{c.host}: the greeting: 220 {banner}")
    problems = []
    if first.lower().rstrip(".") != c.hostname.lower().rstrip("."):
        problems.append(f"it starts with {first!r}, not the host name {c.hostname!r}")
    elif (why := hostname_problem(first.rstrip("."))) is not None:
        problems.append(f"its name {first!r} is no FQDN: {why}")
    if "_" in (without_expansions(banner) if c.mta == "exim" else banner):
        problems.append("it contains '_'")
    if problems:
        pytest.fail(
            f"{c.host}: {setting} gives the greeting '220 {banner}': " + "; ".join(problems) + ". The "
            "greeting starts with the server's FQDN (RFC 5321 §4.2, §4.3.1), and receivers check it. Set "
            f"{setting} to start with the host name (Postfix: $myhostname ESMTP; Exim: "
            "$smtp_active_hostname ESMTP)."
        )


@check(
    "host.helo.matches-ptr",
    refs=["seed (c)", "RFC 5321 §4.1.4"],
    fix="Set the outbound HELO name (Postfix smtp_helo_name) to the PTR name of the outbound address, "
    "and give that name an A/AAAA record with the address.",
)
def test_host_helo_matches_ptr(
    mta_config: MtaConfig, mta_domain: str, mta_mx_hosts: list[MxTarget] | None,
    mta_outbound_ptr: list[ReverseDns] | None,
) -> None:  # fmt: skip
    """The MTA's outbound HELO name is the forward-confirmed PTR name of its address.

    The HELO name (Postfix ``smtp_helo_name`` of the smtp transport, ``-o`` overrides included; Exim
    the ``helo_data`` of each smtp-driver transport, ``exim -bP transports``: unset or
    ``$primary_hostname`` is ``primary_hostname``, a literal is itself, any other expansion is
    could-not-test) equals a PTR name of each outbound address (``--mail-outbound`` addresses of this
    host, else ``smtp_bind_address`` / the smtp transports' ``interface``, else the MX addresses of
    this host, assumed), and that name resolves back to the address; else a warning naming both the
    host's setting and what the DNS says.
    """
    c = mta_config
    if c.mta == "exim":
        _exim_helo_matches_ptr(c, mta_domain, mta_mx_hosts, mta_outbound_ptr)
        return
    mine = mine_or_skip(mta_mx_hosts, c, mta_domain)
    smtp = next((s for s in c.services if s.type == "unix" and s.name == "smtp"), None)
    helo = service_value(c.values, smtp, "smtp_helo_name") if smtp else c.values.get("smtp_helo_name", "")
    helo = helo.lower().rstrip(".")
    shown(c, "smtp_helo_name", "smtp_bind_address")
    ptrs = mta_outbound_ptr or []
    if not ptrs:
        pytest.skip(f"no outbound address of {c.host} is known for {mta_domain} (MX hosts: "
                    f"{', '.join(t.name for t in mine)})")  # fmt: skip
    problems = []
    for p in ptrs:
        evidence(p)
        if not p.definite:
            raise Indeterminate(f"could not test: the PTR of {p.ip}: {p.problem}")
        confirmed = [n.lower().rstrip(".") for n in p.confirmed()]
        names = [n.lower().rstrip(".") for n in p.names]
        if helo in confirmed:
            continue
        if helo in names:
            problems.append(f"{p.ip}'s PTR is {helo} but {helo} does not resolve back to {p.ip}")
        else:
            problems.append(f"{p.ip}'s PTR is {', '.join(names) or 'missing (no PTR record)'}")
    if problems:
        warn(
            f"{c.host} says HELO {helo} (smtp_helo_name), but the DNS says: " + "; ".join(problems) + ". "
            "Receivers compare the HELO name with the forward-confirmed reverse DNS of the connecting "
            "address (seed (c); RFC 5321 §4.1.4). Set smtp_helo_name to the address's PTR name, and make "
            "that name resolve to the address (or change the PTR)."
        )


def _exim_helo_matches_ptr(
    c: MtaConfig, domain: str, mx_hosts: list[MxTarget] | None, outbound: list[ReverseDns] | None
) -> None:
    """host.helo.matches-ptr for Exim: the HELO name of each smtp transport (its ``helo_data``)
    judged against the outbound addresses' PTR as Postfix's ``smtp_helo_name`` is."""
    mine = mine_or_skip(mx_hosts, c, domain)
    need(c, "transports")
    smtp = {name: options for name, options in c.transports.items() if options.get("driver") == "smtp"}
    if not smtp:
        pytest.skip(f"{c.host}: Exim has no smtp transport (exim -bP transports: "
                    f"{', '.join(c.transports) or 'none'}): it gives no HELO to other hosts")  # fmt: skip
    shown(c, "primary_hostname")
    names: dict[str, list[str]] = {}  # (HELO name -> the transports that give it)
    for name, options in smtp.items():
        value = options.get("helo_data", "")
        evidence(f"{c.host}: exim -bP transports: {name}: driver = smtp, helo_data = {value or '(unset)'}, "
                 f"interface = {options.get('interface') or '(unset)'}")  # fmt: skip
        helo = helo_name(value, c.hostname)
        if helo is None:
            raise Indeterminate(
                f"could not test on {c.host}: the {name} transport's helo_data = {value!r} is expanded at "
                "each delivery: which name Exim gives in HELO is not known here"
            )
        names.setdefault(helo.lower().rstrip("."), []).append(name)
    ptrs = outbound or []
    if not ptrs:
        pytest.skip(f"no outbound address of {c.host} is known for {domain} (MX hosts: "
                    f"{', '.join(t.name for t in mine)})")  # fmt: skip
    problems = []
    for helo, transports in names.items():
        wrong = []
        for p in ptrs:
            evidence(p)
            if not p.definite:
                raise Indeterminate(f"could not test: the PTR of {p.ip}: {p.problem}")
            confirmed = [n.lower().rstrip(".") for n in p.confirmed()]
            ptr_names = [n.lower().rstrip(".") for n in p.names]
            if helo in confirmed:
                continue
            if helo in ptr_names:
                wrong.append(f"{p.ip}'s PTR is {helo} but {helo} does not resolve back to {p.ip}")
            else:
                wrong.append(f"{p.ip}'s PTR is {', '.join(ptr_names) or 'missing (no PTR record)'}")
        if wrong:
            problems.append(f"HELO {helo} (helo_data of the {', '.join(transports)} transport), but the DNS "
                            "says: " + ", ".join(wrong))  # fmt: skip
    if problems:
        warn(
            f"{c.host} says " + "; ".join(problems) + ". Receivers compare the HELO name with the "
            "forward-confirmed reverse DNS of the connecting address (seed (c); RFC 5321 §4.1.4). Set "
            "helo_data on the smtp transport to the address's PTR name (unset, it is primary_hostname), and "
            "make that name resolve to the address (or change the PTR)."
        )


# ------------------------------------------------------------------------------------------ policy
@check(
    "host.relay.restricted",
    refs=["RFC 2505 §2.1", "RFC 5321 §7.9"],
    fix="Put reject_unauth_destination in smtpd_relay_restrictions (after permit_mynetworks and "
    "permit_sasl_authenticated), and keep mynetworks to your own hosts.",
)
def test_host_relay_restricted(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA relays only for its own networks and domains.

    Postfix: ``reject_unauth_destination`` (or ``defer_unauth_destination``) in
    ``smtpd_relay_restrictions`` or ``smtpd_recipient_restrictions`` of the smtpd on the SMTP port,
    before any unconditional ``permit``; and ``mynetworks`` holds no public network wider than /24
    (IPv4) or /48 (IPv6).

    Exim: judged by Exim's own ACL evaluation, ``exim -bh 192.0.2.1 -oMi ADDRESS.PORT`` (an RFC 5737
    address as the client, the address and port the daemon takes SMTP on as the interface: -bh opens
    no connection and skips callouts) with EHLO, ``MAIL FROM:<>`` and RCPT to a domain the host does
    not serve (example.net, else .org, .com; never DATA), and the RCPT ACL's trace: a 2xx RCPT reply
    that the ACL accepted is an open relay; a refusal (5xx, or a ``discard``, whose reply is 250) is
    restricted when the statement that refused is the relay guard (``require domains = ...``, ``deny
    !domains = ...``, ``!verify = recipient``), or when no statement took the recipient (the end of the
    ACL, an implicit deny); a refusal by any other statement (a client list, a DNS blocklist, sender
    verification) hides what the guard would say, and is could-not-test, naming it; a 4xx (a
    condition that deferred) is could-not-test; so is no RCPT reply (the connect, HELO or MAIL ACL
    refused the session first). -bh runs the ACLs for real: their DNS lookups (the client's PTR, DNS
    blocklists) go to the host's resolver, and ``${run}``, ``${readsocket}``, SQL lookups and
    ``ratelimit`` (its hints database) run as for a real session. And, read from ``exim -bP config``:
    the RCPT ACL reaches no ``accept`` that any client meets (no condition, or only ``local_parts``,
    ``senders``, ``verify = sender``) before its relay guard; the hosts it accepts by address alone
    before the guard (``accept hosts = +relay_from_hosts``, named host lists followed; a list that
    ends in a negation, or ``!hosts =``, is every host) hold no public network wider than /24 (/48);
    items that are names, lookups or expansions are not judged (a note).
    """
    c, port = mta_config, mailspec_settings.smtp_port
    if c.mta == "exim":
        _exim_relay_restricted(c)
        return
    need(c, "master.cf")
    lists = ("smtpd_relay_restrictions", "smtpd_recipient_restrictions")
    shown(c, *lists, "mynetworks", port=port)
    guarded: list[str] = []
    unjudged: list[str] = []
    opened: list[str] = []
    for name in lists:
        status, why = _relay_list(c, name, smtpd_value(c, name, port))
        {"guarded": guarded, "unjudged": unjudged, "open": opened}[status].append(why)
    problems = []
    if not guarded:
        if unjudged:
            raise Indeterminate(
                f"could not test on {c.host}: a table ahead of reject_unauth_destination was not judged: "
                + "; ".join(unjudged)
            )
        problems.append(
            "neither smtpd_relay_restrictions nor smtpd_recipient_restrictions stops relaying (with "
            "reject_unauth_destination before anything that permits): relay = "
            f"{smtpd_value(c, lists[0], port)!r}, recipient = {smtpd_value(c, lists[1], port)!r}"
            + (f" ({'; '.join(w for w in opened if w)})" if any(opened) else "")
        )
    need(c, "mynetworks")
    wide = wide_networks(_network_entries(c, port))
    if wide:
        problems.append(
            f"mynetworks trusts public networks wider than /24 (IPv4) or /48 (IPv6): {', '.join(wide)}"
        )
    if problems:
        pytest.fail(
            f"{c.host}: " + "; ".join(problems) + ". An open relay forwards anyone's mail and is "
            "blocklisted within hours (RFC 2505 §2.1; RFC 5321 §7.9). Set smtpd_relay_restrictions = "
            "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, and list only your "
            "own hosts in mynetworks."
        )


def _exim_relay_restricted(c: MtaConfig) -> None:
    """host.relay.restricted for Exim: the RCPT reply of ``exim -bh`` to a relaying attempt and the
    statement of the RCPT ACL that decided it, the ``accept`` the ACL reaches before its relay guard,
    and the networks it trusts by address."""
    shown(c, "acl_smtp_rcpt")
    problems: list[str] = []
    config, value = c.exim_config, c.values.get("acl_smtp_rcpt", "")
    if config is None:
        note(f"the networks Exim lets relay were not judged: {c.unread.get('exim config', 'not read')}")
    else:
        name, statements, why = resolve_acl(config, value)
        if statements is None:
            note(f"the networks acl_smtp_rcpt lets relay were not judged: {why}")
        else:
            opened = open_accept(statements)
            if opened is not None:
                evidence(f"{c.host}: exim -bP config: {name}: {opened.describe()}")
                problems.append(
                    f"{name} reaches `{opened.describe()}`, which any client meets, before any relay guard "
                    "(`require domains = +local_domains : +relay_to_domains`, `deny !domains = ...`): it "
                    "takes recipients at any domain"
                )
            networks, unjudged, read = relay_hosts(config, statements)
            evidence(*(f"{c.host}: exim -bP config: {name}: {x}" for x in read))
            wide = wide_networks(networks)
            if wide:
                problems.append(
                    f"{name} accepts relaying from public networks wider than /24 (IPv4) or /48 (IPv6): "
                    f"{', '.join(wide)}"
                )
            if unjudged:
                note(f"{name} lets relay hosts given by name, lookup or expansion, not judged here: "
                     f"{', '.join(unjudged)}")  # fmt: skip
    unknown = _exim_relay_probe_verdict(c, problems)
    if unknown:
        if not problems:
            raise Indeterminate(f"could not test on {c.host}: {unknown}")
        note(unknown)
    if problems:
        pytest.fail(
            f"{c.host}: " + "; ".join(problems) + ". An open relay forwards anyone's mail and is "
            "blocklisted within hours (RFC 2505 §2.1; RFC 5321 §7.9). In acl_smtp_rcpt, accept only your own "
            "hosts (hosts = +relay_from_hosts) and authenticated clients before `require domains = "
            "+local_domains : +relay_to_domains`, and list only your own networks in relay_from_hosts."
        )


def _exim_relay_probe_verdict(c: MtaConfig, problems: list[str]) -> str:
    """What ``exim -bh`` says of relaying: an open relay goes to ``problems``; returns why the verdict is
    not known ("" when it is: restricted, or open)."""
    probe = c.relay_probe
    if probe is None:
        return "Exim's ACL verdict on relaying (exim -bh) is not known: exim -bh was not run"
    client = f"exim -bh {probe.client}" + (f" -oMi {probe.interface}" if probe.interface else "")
    evidence(*(f"{c.host}: {client}: {cmd or '(connect)'} -> {reply}" for cmd, reply in probe.replies))
    evidence(*(f"{c.host}: {client}: {line}" for line in probe.trace))
    if not probe.definite:
        return f"Exim's ACL verdict on relaying (exim -bh) is not known: {probe.problem}"
    attempt = f"{client} (a client outside its networks, MAIL FROM:<>): RCPT TO:<{probe.recipient}>"
    statement = probe.decided_by
    by = f"`{statement.describe()}`" + (f" ({probe.where})" if probe.where else "") if statement else ""
    if by:
        evidence(f"{c.host}: {client}: the RCPT ACL ended {probe.decision} at {by}")
    guarded = statement is not None and relay_stop(statement)
    if 200 <= probe.rcpt_code < 300 and probe.decision == "DISCARD":
        if guarded:
            note(f"{attempt} is discarded by {by}: answered {probe.rcpt}, but nothing is relayed")
            return ""
        return (
            f"{attempt} is answered {probe.rcpt} and discarded by "
            f"{by or 'a statement the trace does not name'}, "
            "which is not the relay guard: whether Exim relays for a client that statement does not discard "
            "is not known here"
        )
    if 200 <= probe.rcpt_code < 300:
        problems.insert(0, (
            f"Exim's own ACL evaluation accepts relaying: {attempt} (a domain it does not serve) is answered "
            f"{probe.rcpt}" + (f", accepted by {by}" if by else "")
        ))  # fmt: skip
        return ""
    if 400 <= probe.rcpt_code < 500:
        return (
            f"Exim defers the relaying attempt ({attempt} -> {probe.rcpt}"
            + (f", by {by}" if by else "")
            + "): a condition that deferred (a DNS lookup of the host's resolver that did not complete, "
            "say) hides whether the relay guard refuses it"
        )
    if probe.rcpt_code < 500 or probe.rcpt_code >= 600:
        return f"exim -bh answered RCPT with {probe.rcpt}"
    if guarded:
        return ""
    if "acl_smtp_rcpt" in c.values and not c.values["acl_smtp_rcpt"].strip() and not probe.decision:
        note(f"{attempt} -> {probe.rcpt}: there is no acl_smtp_rcpt (Exim refuses every recipient over SMTP)")
        return ""
    if probe.decision.startswith("implicit"):
        note(f"{attempt} -> {probe.rcpt}: no statement of the RCPT ACL took it (implicit deny at its end)")
        return ""
    if statement is None:
        return (
            f"{attempt} was refused ({probe.rcpt}), but the ACL trace does not say which statement refused "
            "it: whether that is the relay guard is not known"
        )
    if any(
        c.name == "verify" and c.value.split("/")[0].strip().lower() == "recipient"
        for c in statement.conditions
    ):
        return (
            f"{attempt} was refused ({probe.rcpt}) by {by}: the probe's recipient does not route from this "
            "host, so recipient verification refuses it at any domain; whether Exim relays a recipient "
            "that routes is not known"
        )
    return (
        f"{attempt} was refused ({probe.rcpt}) by {by}, which is not the relay guard (require domains = "
        "..., deny !domains = ...): it hides whether Exim relays for a client that statement does not "
        "refuse"
    )


#: the permits that cannot open the relay: trusted clients, or only the host's own destinations
SAFE_PERMITS = (
    "permit_mynetworks",
    "permit_sasl_authenticated",
    "permit_tls_clientcerts",
    "permit_auth_destination",
    "permit_inet_interfaces",
)
GUARDS = ("reject_unauth_destination", "defer_unauth_destination", "reject", "defer")


def _relay_list(c: MtaConfig, name: str, value: str) -> tuple[str, str]:
    """Whether one restriction list stops relaying: ``guarded`` (reject_unauth_destination is
    reached before anything that can permit), ``open`` (a permit comes first, or none is there), or
    ``unjudged`` (a table or a permit ahead of it may permit), with the reason."""
    words = restrictions(value)
    for i, w in enumerate(words):
        if w in GUARDS:
            return "guarded", f"{name}: {w}"
        if w == "permit":  # (everything after an unconditional permit is never reached)
            return "open", f"{name} permits before reject_unauth_destination"
        if (w.startswith("check_") and (w.endswith("_access") or w == "check_policy_service")) or (
            w.startswith("permit_") and w not in SAFE_PERMITS
        ):
            table = words[i + 1] if w.startswith("check_") and i + 1 < len(words) else ""
            if w == "check_recipient_access" and table:
                for key, result in c.access.items():
                    t, _, k = key.partition("|")
                    if t == table and k.endswith("@") and accepting(result):
                        evidence(f"{c.host}: postmap -q {k} {table}: {result}")
                        return "open", (
                            f"{name}: check_recipient_access {table} returns {result} for {k}<any domain> "
                            "ahead of reject_unauth_destination"
                        )
                if table in c.access_entries:
                    # (postmap -s lists every key: one that matches any domain and accepts opens the
                    # relay; the others match named recipients only, as relay_domains does)
                    entries = c.access_entries[table]
                    shown_keys = ", ".join(f"{k} {v}" for k, v in entries[:8]) + (" ..." * (len(entries) > 8))
                    evidence(f"{c.host}: postmap -s {table}: {shown_keys or 'no entries'}")
                    wide = any_domain_keys(entries, parent_domain_matches(c.values))
                    opened = [f"{k} {v}" for k, v in wide if access_action(v) == "accept"]
                    if opened:
                        return "open", (
                            f"{name}: check_recipient_access {table} accepts recipients at any domain "
                            f"({', '.join(opened)}) ahead of reject_unauth_destination"
                        )
                    unsure = [f"{k} {v}" for k, v in wide if access_action(v) == "other"]
                    if unsure:
                        return "unjudged", (
                            f"{name}: check_recipient_access {table} gives {', '.join(unsure)} (a "
                            "restriction list or class, not expanded here) for recipients at any domain"
                        )
                    continue
            return "unjudged", f"{name}: {w} {table}".rstrip()
    return "open", ""


def _network_entries(c: MtaConfig, port: int) -> list[str]:
    """The networks ``mynetworks`` trusts (the smtpd on the SMTP port's: a master.cf override
    included), its files and cidr: tables read; could not test when one of its elements could not
    be listed."""
    out: list[str] = []
    for entry in split_list(smtpd_value(c, "mynetworks", port)):
        if network_entry_kind(entry) == "network":
            out.append(entry)
            continue
        if f"mynetworks {entry}" in c.unread:
            raise Indeterminate(f"could not test on {c.host}: {c.unread[f'mynetworks {entry}']}")
        if entry not in c.networks:
            raise Indeterminate(f"could not test on {c.host}: mynetworks has {entry}, which was not read")
        evidence(f"{c.host}: {entry}: {', '.join(c.networks[entry]) or 'no entries'}")
        out += [e for e in c.networks[entry] if network_entry_kind(e) == "network"]
    return out


@check(
    "host.helo.required",
    refs=["RFC 5321 §4.1.4"],
    fix="Set smtpd_helo_required = yes (Exim: hosts_require_helo = *, or require HELO in acl_smtp_mail).",
)
def test_host_helo_required(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA requires HELO or EHLO before mail.

    Postfix: ``smtpd_helo_required = yes`` for the smtpd on the SMTP port. Exim: ``hosts_require_helo``
    (Exim 4.95 and later; default ``*``) or ``helo_verify_hosts`` matches every host (``*``,
    ``0.0.0.0/0`` and ``::/0``, or a list that ends in a negation: ``helo_verify_hosts = 192.0.2.0/24``
    requires HELO of that network only; ``helo_try_verify_hosts`` only checks a HELO that is given: it
    does not require one); else, with
    an ``acl_smtp_mail``, whether that ACL requires HELO is not read in this release (could not test);
    without one, a warning.
    """
    c = mta_config
    if c.mta == "exim":
        _exim_helo_required(c)
        return
    need(c, "master.cf")
    shown(c, "smtpd_helo_required", port=mailspec_settings.smtp_port)
    value = smtpd_value(c, "smtpd_helo_required", mailspec_settings.smtp_port)
    if not yes(value):
        warn(
            f"{c.host}: smtpd_helo_required = {value or 'no'}: clients may send MAIL without HELO/EHLO, "
            "which RFC 5321 §4.1.4 requires first; spam software skips it. Set smtpd_helo_required = yes."
        )


def _exim_helo_required(c: MtaConfig) -> None:
    known = "hosts_require_helo" in c.values  # (Exim 4.95 and later)
    shown(c, *(["hosts_require_helo"] if known else []), "helo_verify_hosts", "acl_smtp_mail")
    required, verified = c.values.get("hosts_require_helo", ""), c.values.get("helo_verify_hosts", "")
    every = [every_host(c, required), every_host(c, verified)]
    if True in every:
        return
    if None in every:
        raise Indeterminate(
            f"could not test on {c.host}: whether hosts_require_helo ({required!r}) or helo_verify_hosts "
            f"({verified!r}) takes in every client could not be told: {_unread_lists(c)}; check it by hand, "
            "or waive this check for the host"
        )
    if c.values.get("acl_smtp_mail"):
        not_for_exim(c, f"MAIL ACL (whether {c.values['acl_smtp_mail']} requires HELO)")
    setting = (
        f"hosts_require_helo = {required!r}" if known else "this Exim has no hosts_require_helo (before 4.95)"
    )
    verify = (
        f"helo_verify_hosts = {verified!r} (not every host)"
        if verified.strip()
        else "helo_verify_hosts is empty"
    )
    warn(
        f"{c.host}: {setting}, {verify} and there is no acl_smtp_mail: Exim accepts MAIL without HELO/EHLO "
        "from the other clients, which RFC 5321 §4.1.4 requires first; spam software skips it. Set "
        "hosts_require_helo = * (Exim 4.95 and later: its default), or deny MAIL in acl_smtp_mail when "
        "$sender_helo_name is empty."
    )


def every_host(c: MtaConfig, value: str) -> bool | None:
    """Whether an Exim host list matches every client that it does not name, with a reverse-DNS
    name or without, of the address families the host takes connections in (:func:`families`;
    :func:`host_list_default`, with the host's named lists); None when that cannot be told."""
    reach = host_list_default(value, _named_lists(c))
    return None if reach is None else reach.every(families(c))


def _named_lists(c: MtaConfig) -> dict[str, tuple[str, str]] | None:
    return c.exim_config.lists if c.exim_config is not None else None


def _unread_lists(c: MtaConfig) -> str:
    """Why a host list could not be judged, as a message says it."""
    if c.exim_config is None:
        return "its named lists could not be read (exim -bP config failed)"
    return "an expansion, a file of items, a lookup with a default or a list that is not defined"


def families(c: MtaConfig) -> tuple[int, ...]:
    """The address families (4, 6) of the host's sockets that listen on Exim's SMTP ports
    (:func:`smtp_ports`, else 25; ``::`` takes both, as Linux's dual-stack sockets do); both when
    none is known."""
    ports = set(smtp_ports(c.values.get("daemon_smtp_ports", ""))) or {25}
    found: set[int] = set()
    for addr, port in c.listening:
        if port not in ports:
            continue
        if addr in WILDCARDS and addr != "0.0.0.0":
            found |= {4, 6}
        else:
            found.add(6 if ":" in addr else 4)
    return tuple(sorted(found)) or (4, 6)


def _names_some(items: Iterable[str]) -> bool:
    """Whether a host list's items name some hosts to match before a ``!*`` refuses the rest (a
    list of negations only, or one that starts ``!*``, matches nobody)."""
    for item in items:
        if not item.startswith("!"):
            return True
        if item[1:].strip() == "*":
            return False
    return False


def _exim_sync(c: MtaConfig, what: str) -> None:
    """Exim's SMTP synchronisation: ``smtp_enforce_sync`` (default true) rejects input sent before
    its turn, except from the hosts ``pipelining_connect_advertise_hosts`` offers PIPECONNECT to
    (Exim 4.94 and later, where the option is known; default ``*``)."""
    pipe_connect = c.values.get("pipelining_connect_advertise_hosts", "")
    shown(c, "smtp_enforce_sync", *(["pipelining_connect_advertise_hosts"] if pipe_connect else []))
    if c.values.get("smtp_enforce_sync", "true") == "false":
        warn(f"{c.host}: smtp_enforce_sync is false: Exim accepts {what}. Set smtp_enforce_sync = true "
             "(the default).")  # fmt: skip
    hosts = exim_list(pipe_connect)
    reach = host_list_default(pipe_connect, _named_lists(c)) if pipe_connect else None
    if pipe_connect and reach is None:
        note(f"whether pipelining_connect_advertise_hosts = {pipe_connect!r} offers PIPECONNECT to every "
             f"client could not be told here: {_unread_lists(c)}")  # fmt: skip
    elif reach is not None and (offered := reach.some(families(c))):
        whom = "client" if len(offered) == len(families(c)) else f"IPv{offered[0]} client"
        if not all(reach.named[f] for f in offered):
            whom += " without reverse DNS"
        elif not all(reach.nameless[f] for f in offered):
            whom += " with a reverse-DNS name"
        warn(
            f"{c.host}: pipelining_connect_advertise_hosts = {pipe_connect!r}: Exim offers PIPECONNECT to "
            f"every {whom} and takes its EHLO before the greeting, and the commands behind it, as pipelined, "
            f"so it accepts {what} in spite of smtp_enforce_sync. Set pipelining_connect_advertise_hosts "
            "empty (or to the hosts you relay for)."
        )
    elif _names_some(hosts):
        note(f"PIPECONNECT is offered to {pipe_connect}: those hosts may send EHLO before the greeting")


@check(
    "host.pipelining.enforced",
    refs=["RFC 2920 §3"],
    fix="Set smtpd_forbid_unauth_pipelining = yes, or add reject_unauth_pipelining to "
    "smtpd_data_restrictions (Exim: keep smtp_enforce_sync true).",
)
def test_host_pipelining_enforced(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA rejects unauthorised pipelining.

    Postfix: ``smtpd_forbid_unauth_pipelining = yes``, ``reject_unauth_pipelining`` in a restriction
    list, or postscreen in front of the SMTP port with ``postscreen_pipelining_enable = yes``. Exim:
    ``smtp_enforce_sync`` not false, and PIPECONNECT not offered to every host
    (``pipelining_connect_advertise_hosts``, default ``*`` since Exim 4.94: Exim then accepts, from
    any client, EHLO and the commands behind it sent without waiting for its replies). Else a warning.
    """
    c, port = mta_config, mailspec_settings.smtp_port
    if c.mta == "exim":
        _exim_sync(c, "commands sent before their turn (RFC 2920 §3)")
        return
    need(c, "master.cf")
    lists = [n for n in c.values if n.startswith("smtpd_") and n.endswith("_restrictions")]
    shown(c, "smtpd_forbid_unauth_pipelining", "postscreen_pipelining_enable", port=port)
    if yes(smtpd_value(c, "smtpd_forbid_unauth_pipelining", port)):
        return
    found = [n for n in sorted(lists) if "reject_unauth_pipelining" in restrictions(smtpd_value(c, n, port))]
    if found:
        evidence(*(f"{c.host}: {tool(c)}: {n} has reject_unauth_pipelining" for n in found))
        return
    if postscreen(c, port) and yes(postscreen_value(c, "postscreen_pipelining_enable", port)):
        evidence(f"{c.host}: master.cf: postscreen takes port {port}, with its pipelining test")
        return
    warn(
        f"{c.host}: Postfix accepts unauthorised pipelining: smtpd_forbid_unauth_pipelining is "
        f"{c.values.get('smtpd_forbid_unauth_pipelining', '(not known to this Postfix)')!r}, no restriction "
        "list has reject_unauth_pipelining, and postscreen's pipelining test is off. Clients that send "
        "commands before PIPELINING is offered are spam engines (RFC 2920 §3). Set "
        "smtpd_forbid_unauth_pipelining = yes, or add reject_unauth_pipelining to smtpd_data_restrictions."
    )


@check(
    "host.pregreet.enforced",
    refs=["Postfix postscreen(8)", "RFC 5321 §4.3.1"],
    fix="Put postscreen in front of port 25 (master.cf: smtp inet ... postscreen) with "
    "postscreen_greet_action = enforce (Exim: smtp_enforce_sync = true).",
)
def test_host_pregreet_enforced(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA rejects clients that talk before the greeting.

    Postfix: postscreen takes the SMTP port (master.cf) with ``postscreen_greet_action`` other than
    ``ignore``. Exim: ``smtp_enforce_sync`` true (Exim then drops a client whose input is there when
    it sends its greeting: a delay in ``acl_smtp_connect`` gives early talkers the time to show
    themselves), and PIPECONNECT not offered to every host (``pipelining_connect_advertise_hosts``,
    default ``*`` since Exim 4.94: Exim takes early input from those hosts as pipelined EHLO). Else a
    warning.
    """
    c, port = mta_config, mailspec_settings.smtp_port
    if c.mta == "exim":
        _exim_sync(c, "clients that talk before its greeting (RFC 5321 §4.3.1)")
        if not c.values.get("acl_smtp_connect"):
            note("no acl_smtp_connect: Exim sends its greeting at once, so it catches only the early input "
                 "that is there by then (a delay in acl_smtp_connect catches more)")  # fmt: skip
        return
    need(c, "master.cf")
    s = front(c, port)
    evidence(f"{c.host}: master.cf: {s.line if s else f'no inet service on port {port}'}")
    shown(c, "postscreen_greet_action")
    if not postscreen(c, port):
        warn(
            f"{c.host}: smtpd takes port {port} directly (no postscreen), so clients that talk before the "
            "greeting are served like any other (RFC 5321 §4.3.1 has the client wait for it; postscreen(8) "
            "rejects such pregreet spam engines). Run postscreen on port 25 with "
            "postscreen_greet_action = enforce."
        )
    action = (postscreen_value(c, "postscreen_greet_action", port) or "ignore").lower()
    if action == "ignore":
        warn(
            f"{c.host}: postscreen runs but postscreen_greet_action = ignore: early talkers pass "
            "(postscreen(8)). Set postscreen_greet_action = enforce."
        )


@check(
    "host.vrfy.restricted",
    refs=["RFC 5321 §7.3"],
    fix="Set disable_vrfy_command = yes (Exim: leave acl_smtp_vrfy unset).",
)
def test_host_vrfy_restricted(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA disables VRFY or answers it honestly.

    Postfix: ``disable_vrfy_command = yes`` for the smtpd on the SMTP port; else a warning (VRFY
    then confirms addresses to harvesters; whether it answers honestly is smtp.vrfy.honest's
    question, from outside). Exim: ``acl_smtp_vrfy`` unset (Exim then refuses VRFY); else a warning.
    """
    c = mta_config
    if c.mta == "exim":
        shown(c, "acl_smtp_vrfy")
        if c.values.get("acl_smtp_vrfy"):
            warn(f"{c.host}: acl_smtp_vrfy = {c.values['acl_smtp_vrfy']!r}: VRFY may confirm addresses to "
                 "harvesters (RFC 5321 §7.3; see smtp.vrfy.honest). Unset acl_smtp_vrfy.")  # fmt: skip
        return
    port = mailspec_settings.smtp_port
    need(c, "master.cf")
    shown(c, "disable_vrfy_command", port=port)
    value = smtpd_value(c, "disable_vrfy_command", port)
    if not yes(value):
        warn(
            f"{c.host}: disable_vrfy_command = {value or 'no'}: VRFY confirms "
            "which addresses exist, which address harvesters use (RFC 5321 §7.3; see smtp.vrfy.honest for "
            "what it answers). Set disable_vrfy_command = yes."
        )


# ------------------------------------------------------------------------------------------- roles
def _role(c: MtaConfig, role: str, domain: str, dns: DomainDns | None, severity_words: str) -> None:
    addresses = [role] + ([f"{role}@{domain}"] if domain else [])
    for addr in addresses:
        route = c.roles.get(addr)
        if route is None:
            raise Indeterminate(f"could not test on {c.host}: the route of {addr} was not read")
        evidence(*(f"{c.host}: {step}" for step in route.steps))
        if route.problem:
            raise Indeterminate(f"could not test on {c.host}: where {addr} goes: {route.problem}")
        if route.foreign:
            mine = this_host_mx(c, dns) if dns is not None else []
            if not mine:
                raise Indeterminate(
                    f"could not test on {c.host}: {c.host} does not accept mail for {domain} "
                    f"({'; '.join(route.steps)}) and is none of its MX hosts: where {addr} goes is "
                    "another host's to say"
                )
        if not route.deliverable:
            lookups = "; ".join(route.steps) or "no lookup found it"
            pytest.fail(
                f"{c.host}: mail to {addr} goes nowhere deliverable ({route.destination or 'unknown'}; "
                f"{lookups}). {severity_words} Add an alias ({role}: a person's mailbox) in the "
                "aliases file (newaliases) or the virtual alias map (postmap) for every domain."
            )
        note(f"{addr} -> {route.destination}")


@check(
    "host.role.postmaster",
    refs=["RFC 5321 §4.5.1", "RFC 2142 §5"],
    fix="Alias postmaster (and postmaster@ each domain) to a mailbox a person reads.",
)
def test_host_role_postmaster(
    mta_config: MtaConfig, mta_domain: str, mta_domain_dns: DomainDns | None
) -> None:
    """The MTA delivers postmaster@ mail to a real destination.

    ``postmaster`` (and, with a domain, ``postmaster@<domain>``) resolves through the virtual alias
    maps, the aliases and the local users (Postfix ``postmap -q`` / ``postalias -q`` / ``getent
    passwd``; Exim ``exim -bt``) to a mailbox, file, command or remote address; ``/dev/null``, a
    missing alias or an alias loop fails.
    """
    _role(mta_config, "postmaster", mta_domain, mta_domain_dns,
          "Every mail domain must accept mail for postmaster (RFC 5321 §4.5.1; RFC 2142 §5).")  # fmt: skip


@check(
    "host.role.abuse",
    refs=["RFC 2142 §4"],
    fix="Alias abuse (and abuse@ each domain) to a mailbox a person reads.",
)
def test_host_role_abuse(mta_config: MtaConfig, mta_domain: str, mta_domain_dns: DomainDns | None) -> None:
    """The MTA delivers abuse@ mail to a real destination.

    ``abuse`` (and, with a domain, ``abuse@<domain>``) resolves like postmaster does (see
    host.role.postmaster).
    """
    _role(mta_config, "abuse", mta_domain, mta_domain_dns,
          "A mail domain should accept complaints at abuse@ (RFC 2142 §4).")  # fmt: skip


@check(
    "host.role.unfiltered",
    refs=["seed (i)"],
    fix="Accept postmaster@ and abuse@ first: a check_recipient_access map that returns OK for them, "
    "ahead of the blocklist and policy restrictions in smtpd_recipient_restrictions.",
)
def test_host_role_unfiltered(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA accepts postmaster@ and abuse@ mail ahead of its spam filters.

    Postfix: no blocklist, DNS-sanity or policy restriction in ``smtpd_client_restrictions``,
    ``smtpd_helo_restrictions`` or ``smtpd_sender_restrictions`` (evaluated before the recipient is
    known), and in the relay and recipient restrictions every such restriction comes after a
    ``check_recipient_access`` map that returns OK for both role addresses; else a warning (a sender
    whose address is blocklisted by mistake cannot reach the postmaster to say so).

    Exim (``exim -bP config``: its ACLs as Exim read them): no ``deny``, ``defer``, ``drop``,
    ``discard`` or ``require`` statement with a filtering condition
    (:data:`mailspec.records.exim.ACL_FILTERS`: ``dnslists``, ``hosts``, ``senders``, ``ratelimit``,
    ``spf``, ``spam``, ``malware``, ``verify`` of the sender, the client's reverse DNS, HELO or
    headers; an ACL it calls with ``acl =``) in ``acl_smtp_connect``, ``acl_smtp_helo`` or
    ``acl_smtp_mail``, and in ``acl_smtp_rcpt`` none before an ``accept`` whose ``local_parts``
    takes postmaster and abuse (``accept local_parts = postmaster : abuse``, ``domains`` or ``verify =
    recipient`` beside it; a statement whose own ``local_parts`` or ``domains = ! +local_domains``
    leaves the role addresses out does not count; one whose list is Debian's optional file,
    ``${if exists{FILE}{FILE}{}}``, counts only while ``stat`` finds the file); else a warning. An ACL
    that is expanded, a file, inline, or does not parse, a list that is a lookup, or a filter whose
    list is computed at run time otherwise, is could-not-test; no ``acl_smtp_rcpt`` warns (Exim then
    refuses every recipient).
    """
    c, port = mta_config, mailspec_settings.smtp_port
    if c.mta == "exim":
        _exim_role_unfiltered(c)
        return
    need(c, "master.cf")
    shown(c, *RCPT_LISTS, port=port)
    early = [(n, w) for n in RCPT_LISTS[:3] for w in restrictions(smtpd_value(c, n, port)) if w in FILTERS]
    if early:
        warn(
            f"{c.host}: {early[0][0]} has {early[0][1]}, which judges the client before any recipient "
            "exemption, so postmaster@ and abuse@ mail is filtered too (seed (i): a sender listed by "
            "mistake must still reach the postmaster). Move it to smtpd_recipient_restrictions, after a "
            "check_recipient_access map that returns OK for postmaster@ and abuse@."
        )
    for name in RCPT_LISTS[3:]:
        exempt: set[str] = set()  # (an OK ends only its own list: the next one is still evaluated)
        words = restrictions(smtpd_value(c, name, port))
        for i, w in enumerate(words):
            if w == "check_recipient_access" and i + 1 < len(words):
                table = words[i + 1]
                need(c, f"access {table}")
                for key, result in c.access.items():
                    if key.startswith(f"{table}|") and accepting(result):
                        evidence(f"{c.host}: postmap -q {key.split('|', 1)[1]} {table}: {result}")
                        exempt.add(key.split("|", 1)[1].split("@", 1)[0])
            elif w in FILTERS and not {"postmaster", "abuse"} <= exempt:
                missing = sorted({"postmaster", "abuse"} - exempt)
                warn(
                    f"{c.host}: {name} applies {w} before any check_recipient_access map accepts "
                    f"{' and '.join(m + '@' for m in missing)}, so their mail is filtered like any other "
                    "(seed (i)). Add check_recipient_access with a map that returns OK for postmaster@ and "
                    f"abuse@ ahead of {w}."
                )
    filters = [n for n in ("content_filter", "smtpd_milters") if c.values.get(n)]
    if filters:
        note(f"content filters are configured ({', '.join(filters)}); their role-address bypass is not read")


#: the role local parts whose mail must pass the filters
ROLE_PARTS = ("postmaster", "abuse")
#: the ACLs Exim runs before any recipient is known
EARLY_ACLS = ("acl_smtp_connect", "acl_smtp_helo", "acl_smtp_mail")
#: the ACLs Exim runs once the recipients are known, on the message (content filters)
LATE_ACLS = ("acl_smtp_predata", "acl_smtp_data", "acl_smtp_mime")


def _filter_kind(condition: str) -> str:
    """What a filtering condition, as written (``!verify = sender/callout``, ``acl = x: dnslists =
    y``), is: its :data:`ACL_FILTERS` description."""
    last = condition.rsplit(": ", 1)[-1].lstrip("!").strip()
    name, _, value = last.partition("=")
    key = name.strip()
    if key == "verify":
        key = f"verify = {value.split('/', 1)[0].strip().lower()}"
    return ACL_FILTERS.get(key, "a filter")


def _acl(c: MtaConfig, config: EximConfig, option: str) -> tuple[str, tuple[AclStatement, ...]]:
    name, statements, why = resolve_acl(config, c.values.get(option, ""))
    if statements is None:
        raise Indeterminate(f"could not test on {c.host}: {option}: {why}")
    return name, statements


def _exim_role_unfiltered(c: MtaConfig) -> None:
    """host.role.unfiltered for Exim: the filters of the ACLs before the recipient is known, and those
    of the RCPT ACL ahead of the role addresses' exemption."""
    shown(c, "acl_smtp_rcpt", *(n for n in (*EARLY_ACLS, *LATE_ACLS) if c.values.get(n)))
    need(c, "exim config")
    config = c.exim_config
    if config is None:
        raise Indeterminate(f"could not test on {c.host}: exim -bP config was not read")
    found: list[str] = []
    unknown: list[str] = []
    for option in EARLY_ACLS:
        name, statements = _acl(c, config, option)
        for statement in statements:
            if statement.verb == "accept" and not statement.conditions:
                break
            if statement.verb not in REFUSING or never_applies(statement, c.acl_files):
                continue
            filters, unread = acl_filters(config, statement)
            later = computed(statement, c.acl_files)
            if unread and not filters:
                unknown.append(f"{option} ({name}) has `{statement.describe()}`, which calls an ACL that is "
                               f"not read: {unread[0]}")  # fmt: skip
            elif filters and later:
                unknown.append(f"{option} ({name}) has `{statement.describe()}`, whose {', '.join(later)} is "
                               "computed at run time")  # fmt: skip
            elif filters:
                evidence(f"{c.host}: exim -bP config: {name}: {statement.describe()}")
                kind = _filter_kind(filters[0])
                found.append(
                    f"{option} ({name}) has `{statement.describe()}`: {filters[0]}, {kind}, judges the "
                    "client before any recipient is known, so postmaster@ and abuse@ mail is refused by it "
                    "too; move it to acl_smtp_rcpt, after an `accept local_parts = postmaster : abuse` "
                    "statement"
                )
    rcpt, statements = _acl(c, config, "acl_smtp_rcpt")
    if not rcpt:
        warn(f"{c.host}: there is no acl_smtp_rcpt: Exim refuses every recipient over SMTP, postmaster@ "
             "and abuse@ included (seed (i)). Set acl_smtp_rcpt to an ACL that accepts local_parts = "
             "postmaster : abuse first.")  # fmt: skip
    findings, exempt = role_filters(config, rcpt, statements, ROLE_PARTS, c.acl_files)
    absent = [p for p, there in c.acl_files.items() if not there]
    if absent:
        evidence(f"{c.host}: stat: absent, so the ACL lists that read them are empty: {', '.join(absent)}")
    last = findings[0].statement if findings else None
    for statement in statements:  # (up to the first filter that reaches a role address)
        evidence(f"{c.host}: exim -bP config: {rcpt}: {statement.describe()}")
        if statement is last:
            break
    for f in findings:
        if f.unsure:
            continue
        who = " and ".join(r + "@" for r in f.roles)
        found.append(
            f"{rcpt} has `{f.statement.describe()}`, {_filter_kind(f.filters[0])}, before any accept "
            f"statement takes {who} (local_parts), so their mail is filtered like any other; put `accept "
            "local_parts = postmaster : abuse` (with domains = +local_domains) ahead of it"
        )
    if found:
        warn(
            f"{c.host}: " + "; ".join(found) + " (seed (i): a sender listed by mistake must still reach the "
            "postmaster)."
        )
    if unknown:
        raise Indeterminate(f"could not test on {c.host}: {unknown[0]}: whether it filters is not known here")
    unsure = [f for f in findings if f.unsure]
    if unsure:
        f = unsure[0]
        who = " and ".join(r + "@" for r in f.roles)
        later = computed(f.statement, c.acl_files)
        why = (
            f"its {', '.join(later)} is computed at run time: whether it filters {who} mail"
            if later
            else f"{', '.join(f.filters)}: whether an exemption of {who} comes first (a list that is a "
            "lookup, an ACL that is not read)"
        )
        raise Indeterminate(
            f"could not test on {c.host}: {rcpt} has `{f.statement.describe()}`; {why} is not known here"
        )
    for role in ROLE_PARTS:
        if role in exempt:
            note(f"{role}@ is accepted by `{exempt[role].describe()}` in {rcpt}")
        else:
            note(f"{role}@ has no accept of its own in {rcpt}, and no filtering statement reaches it")
    content = []
    for option in LATE_ACLS:
        name, late, _ = resolve_acl(config, c.values.get(option, ""))
        if late is not None and any(acl_filters(config, s)[0] for s in late if s.verb in REFUSING):
            content.append(f"{option} ({name})")
    if content:
        note(f"content filters run in {', '.join(content)}; their role-address bypass is not read")


# --------------------------------------------------------------------------------------------- TLS
@check(
    "host.tls.configured",
    refs=["RFC 3207", "RFC 8314 §4"],
    fix="Set smtpd_tls_security_level = may with smtpd_tls_cert_file and smtpd_tls_key_file (or "
    "smtpd_tls_chain_files) naming a certificate and its key (Exim: tls_advertise_hosts = *, "
    "tls_certificate, tls_privatekey).",
)
def test_host_tls_configured(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The MTA offers TLS with a certificate and key that exist and match.

    Postfix: ``smtpd_tls_security_level`` is ``may`` or ``encrypt`` (or the legacy
    ``smtpd_use_tls = yes``) for the smtpd on the SMTP port; Exim: ``tls_advertise_hosts`` not empty.
    The certificate and key files exist, parse, and the key is the certificate's. Exim's
    ``tls_certificate`` and ``tls_privatekey`` are lists, paired by position (an unset
    ``tls_certificate`` fails: Exim then makes up a self-signed certificate; an expanded one is
    could-not-test), and each file must be readable by the Exim user, as whom Exim reads them (else it
    answers STARTTLS with 454). A file that exists but cannot be read here is could-not-test.
    """
    c = mta_config
    if c.mta == "postfix":
        need(c, "master.cf")
        level = smtpd_value(c, "smtpd_tls_security_level", mailspec_settings.smtp_port).lower()
        legacy = yes(c.values.get("smtpd_use_tls")) or yes(c.values.get("smtpd_enforce_tls"))
        shown(
            c,
            "smtpd_tls_security_level",
            "smtpd_tls_cert_file",
            "smtpd_tls_key_file",
            "smtpd_tls_chain_files",
            port=mailspec_settings.smtp_port,
        )
        on = level in ("may", "encrypt") or (not level and legacy)
        setting = f"smtpd_tls_security_level = {level or '(empty)'}"
    else:
        shown(c, "tls_advertise_hosts", "tls_certificate", "tls_privatekey")
        on = bool(c.values.get("tls_advertise_hosts", "").strip())
        setting = f"tls_advertise_hosts = {c.values.get('tls_advertise_hosts', '')!r}"
    if not on:
        pytest.fail(
            f"{c.host}: {setting}: the MTA offers no STARTTLS, so mail to it crosses the network in clear "
            "(RFC 3207; RFC 8314 §4). Set smtpd_tls_security_level = may with a certificate and key "
            "(Exim: tls_advertise_hosts = *)."
        )
    tls = c.tls
    if tls is None:
        raise Indeterminate(f"could not test on {c.host}: the TLS files were not read")
    evidence(f"{c.host}: certificate {tls.cert_path or '(none)'}, key {tls.key_path or '(none)'}")
    problems = []
    pairs = (tls, *c.more_tls)
    files = [(p.cert_path, p.cert_problem) for p in pairs] + [(p.key_path, p.key_problem) for p in pairs]
    # (a file the MTA cannot read as its own user: Exim reads its TLS files as exim_user)
    unreadable = {path for p in pairs for path in p.unreadable}
    for path, problem in files:
        if not problem or problem in problems:
            continue
        if (
            path in tls.absent
            or path in unreadable
            or not path
            or "no PEM" in problem
            or "no private key" in problem
            or "configured" in problem
        ):
            problems.append(problem)
        else:
            raise Indeterminate(f"could not test on {c.host}: {problem}")
    for pair in pairs:
        if not problems and pair.match is False:
            problems.append(
                f"the key in {pair.key_path} is not the key of the certificate in {pair.cert_path}"
            )
    if problems:
        pytest.fail(
            f"{c.host}: TLS is on ({setting}) but " + "; ".join(problems) + ": the MTA cannot offer "
            "STARTTLS, or fails the handshake (RFC 3207). Install the certificate and its own key where "
            "smtpd_tls_cert_file and smtpd_tls_key_file (Exim: tls_certificate, tls_privatekey) say."
        )


@check(
    "host.tls.cert-current",
    refs=["RFC 9525 §6.3", "RFC 8461 §4.2"],
    fix="Renew the certificate before it expires (automate it: ACME), with every MX name of the host "
    "in its subjectAltName.",
)
def test_host_tls_cert_current(
    mta_config: MtaConfig, mta_domain: str, mta_domain_dns: DomainDns | None,
    mta_mx_hosts: list[MxTarget] | None, mailspec_settings: Settings,
) -> None:  # fmt: skip
    """The MTA's certificate covers its MX names and is valid for at least 14 more days.

    With a domain: every MX name of this host matches a subjectAltName of the configured certificate
    (RFC 9525 §6.3); without one, the MTA's host name does. An expired (or not yet valid) certificate or
    a name it does not cover fails; fewer than 14 days left is a warning.
    """
    c = mta_config
    tls = c.tls
    if tls is None or tls.cert is None:
        why = tls.cert_problem if tls is not None else "no certificate was read"
        if tls is not None and tls.cert_path and tls_on(c, mailspec_settings.smtp_port):
            if tls.cert_path in tls.absent or "no PEM" in why:
                pytest.fail(f"{c.host}: TLS is on but {why}: there is no certificate to be current "
                            "(see host.tls.configured)")  # fmt: skip
            raise Indeterminate(f"could not test on {c.host}: {why}")
        pytest.skip(f"no certificate to judge on {c.host}: {why} (see host.tls.configured)")
    info = tls.cert
    names_shown = ", ".join(info.dns_names) or "none"
    evidence(
        f"{c.host}: {tls.cert_path}: subject {info.subject}; names {names_shown}; "
        f"valid {info.not_before:%Y-%m-%d} to {info.not_after:%Y-%m-%d}"
    )
    if mta_mx_hosts is None:
        names = [c.hostname] if c.hostname else []
        what = "the host name"
    else:
        names = [t.name for t in mine_or_skip(mta_mx_hosts, c, mta_domain)]
        dns_evidence(mta_domain_dns, [])
        what = f"the MX names of this host for {mta_domain}"
    uncovered = [n for n in names if not name_matches(n, info.dns_names)]
    if uncovered:
        pytest.fail(
            f"{c.host}: the certificate {tls.cert_path} ({', '.join(info.dns_names) or 'no DNS names'}) does "
            f"not cover {', '.join(uncovered)} ({what}); a sender that checks names (MTA-STS, RFC 8461 §4.2) "
            "refuses it (RFC 9525 §6.3). Get a certificate with every MX name of the host in its "
            "subjectAltName."
        )
    problem = validity_problem(info, dt.datetime.now(dt.UTC))
    if problem is not None:
        kind, sentence = problem
        message = (
            f"{c.host}: {tls.cert_path}: {sentence}. Senders that validate refuse an expired certificate "
            "(RFC 8461 §4.2). Renew it, and automate the renewal (ACME)."
        )
        if kind == "expiring":
            warn(message)
        pytest.fail(message)


# ------------------------------------------------------------------------------------------- IDENT
@check(
    "host.ident.not-dropped",
    refs=["seed (k)", "RFC 1413 §2"],
    fix="Reject TCP 113 (iptables -A INPUT -p tcp --dport 113 -j REJECT --reject-with tcp-reset; nft: "
    "tcp dport 113 reject with tcp reset) instead of dropping it.",
)
def test_host_ident_not_dropped(mta_config: MtaConfig, mailspec_settings: Settings) -> None:
    """The host answers or rejects connections to port 113, never silently drops them.

    A listener on TCP 113 (--mail-ident-port) passes. Else the packet filter's rules as they stand
    (``nft list ruleset``, else ``iptables -S``): a rule that names the port and accepts or rejects it,
    or no rule and an accepting input policy (the kernel answers with a RST), passes; a DROP of the
    port, or a dropping input policy with no rule for it, warns (senders that ask IDENT wait for the
    timeout on every connection).
    """
    c, port = mta_config, mailspec_settings.ident_port
    need(c, "sockets")
    if any(p == port for _, p in c.listening):
        evidence(f"{c.host}: ss -ltn: a listener on port {port}")
        return
    need(c, "firewall")
    verdict, line = port_disposition(c.firewall, port)
    if verdict == "unknown":
        raise Indeterminate(f"could not test on {c.host}: {c.firewall_tool}: {line}")
    evidence(f"{c.host}: {c.firewall_tool}: {line or f'no rule names port {port}; the input policy accepts'}")
    if verdict == "drop":
        warn(
            f"{c.host}: nothing listens on TCP {port} and the packet filter drops it silently ({line}); mail "
            "servers that ask IDENT then wait for a timeout on every connection (seed (k); RFC 1413 §2). "
            f"Reject the port instead (a TCP reset) so that they get an answer at once."
        )
