"""DNS health of the mail domain and its zone (`pytest --mail-checks` lists every check)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing_zone
from mailspec.checks.test_smtp import FactSource, null_sender_refused, probe
from mailspec.errors import Indeterminate, MailspecError
from mailspec.facts import PER_NAME, PER_ZONE, DnsAnswer, DomainDns, NameServer, NsAddress, ZoneProbe, need
from mailspec.facts.smtp import Rcpt, SmtpEndpoint, SmtpEnvelope
from mailspec.outcome import evidence, note, warn
from mailspec.records.addresses import is_public_address
from mailspec.records.hostname import is_ldh_label, underscore_labels

if TYPE_CHECKING:  # (the settings module loads the survey, which a check never does)
    from mailspec.settings import Settings

__all__ = [
    "test_dns_apex_no_cname",
    "test_dns_domain_exists",
    "test_dns_domain_no_underscore",
    "test_dns_ns_authoritative",
    "test_dns_ns_count",
    "test_dns_ns_no_axfr",
    "test_dns_ns_no_cname",
    "test_dns_ns_no_recursion",
    "test_dns_ns_parent_child_match",
    "test_dns_ns_public_address",
    "test_dns_soa_rname",
    "test_dns_soa_serial_consistent",
    "test_dns_soa_timers",
]

MAX_NS = 7


@check(
    "dns.domain.exists",
    refs=["RFC 5321 §2.3.5", "RFC 5321 §5.1"],
    fix="Register the domain or publish its zone, or correct the configured name.",
)
def test_dns_domain_exists(dns_facts: DomainDns) -> None:
    """The mail domain exists in the DNS."""
    evidence(dns_facts.soa)
    assert dns_facts.exists, (
        f"{dns_facts.domain} does not exist: the resolver answers NXDOMAIN; mail can only be sent to or "
        "from a domain that resolves (RFC 5321 §2.3.5, §5.1). Register the domain or publish its zone."
    )


@check(
    "dns.domain.no-underscore",
    refs=["RFC 5321 §4.1.2", "RFC 1123 §2.1", "RFC 952", "RFC 2181 §11"],
    fix="Rename the host or domain to letters, digits and hyphens only.",
)
def test_dns_domain_no_underscore(dns_facts: DomainDns) -> None:
    """The names used in SMTP (the mail domain and its MX hosts) contain no underscore."""
    names = [("mail domain", dns_facts.domain)]
    if not underscore_labels(dns_facts.domain):
        need(dns_facts.mx)  # the MX host names must be known before they can be said to be clean
    names += [("MX host", t.name) for t in dns_facts.mx_targets if t.name and not t.implicit]
    if dns_facts.mx_targets:
        evidence(dns_facts.mx)
    bad = [f"{what} {name}" for what, name in names if underscore_labels(name)]
    assert not bad, (
        f"{', '.join(bad)} contain(s) '_': DNS allows it (RFC 2181 §11) but a name used in SMTP must be "
        "letters, digits and hyphens (RFC 5321 §4.1.2, RFC 1123 §2.1), and receivers reject it. "
        "Rename it without the underscore."
    )


@check(
    "dns.apex.no-cname",
    refs=["RFC 2181 §10.1", "RFC 1034 §3.6.2", "RFC 1912 §2.4"],
    fix="Publish the domain's own records (MX, A, TXT) instead of a CNAME.",
)
def test_dns_apex_no_cname(dns_facts: DomainDns, zone_probe: ZoneProbe) -> None:
    """The mail domain is not an alias (CNAME).

    A CNAME at a delegated name (its parent lists NS for it: a zone apex) fails; a CNAME elsewhere is
    legal and followed by senders (RFC 5321 §5.1), so it warns.
    """
    need(dns_facts.soa)
    evidence(dns_facts.soa)
    if dns_facts.soa.nxdomain and not dns_facts.soa.chain:
        pytest.skip(f"{dns_facts.domain} does not exist (see dns.domain.exists)")
    chain = [r for r in dns_facts.soa.chain if r.name == dns_facts.domain]
    if not chain:
        return
    target = chain[0].target
    evidence(*zone_probe.alias_referrals[:1])
    if not any(a.definite for a in zone_probe.alias_referrals):
        problem = zone_probe.alias_referrals[0].problem if zone_probe.alias_referrals else "no server found"
        raise Indeterminate(
            f"could not test: {dns_facts.domain} is a CNAME for {target}, but whether it is also delegated "
            f"could not be asked of its parent's servers ({problem})"
        )
    if delegated := zone_probe.delegated_alias:
        pytest.fail(
            f"{dns_facts.domain} is delegated (to {', '.join(delegated)}) and is also a CNAME for {target}: "
            "a CNAME "
            "cannot coexist with other data, and a zone apex always has SOA and NS (RFC 2181 §10.1, "
            "RFC 1034 §3.6.2). Remove the CNAME and publish the records at the apex."
        )
    warn(
        f"{dns_facts.domain} is a CNAME for {target}. Mail still works (senders follow the alias, "
        "RFC 5321 §5.1), but SPF, DMARC and MTA-STS are then looked up at the alias's target and "
        "no other record can live beside it (RFC 1912 §2.4). Publish the records at the name itself."
    )


@check(
    "dns.ns.count",
    refs=["RFC 1034 §4.1", "RFC 1912 §2.8", "Zonemaster DELEGATION01"],
    fix="Delegate the zone to at least two name servers, on different networks.",
)
def test_dns_ns_count(dns_facts: DomainDns, zone_probe: ZoneProbe) -> None:
    """The zone has at least two name servers, at the parent and in the zone."""
    zone = existing_zone(dns_facts)
    need(dns_facts.ns)
    evidence(dns_facts.ns, *zone_probe.parent_ns[:1])
    child = dns_facts.child_ns
    parent = zone_probe.parent_ns_names
    for where, names in (("in the zone", child), ("at the parent", parent)):
        if where == "at the parent" and not any(a.definite for a in zone_probe.parent_ns):
            note(f"the parent of {zone} could not be asked; only the zone's own NS set was counted")
            continue
        assert len(names) >= 2, (
            f"{zone} has {len(names)} name server(s) {where} ({', '.join(names) or 'none'}); a zone needs at "
            "least two, so that it survives the loss of one (RFC 1034 §4.1, RFC 1912 §2.8). Add a second "
            "name server on another network and delegate to it."
        )
    if len(child) > MAX_NS:
        warn(f"{zone} has {len(child)} name servers; RFC 1912 §2.8 recommends at most {MAX_NS}.")
    if not all(n.a.definite for n in dns_facts.nameservers):
        note("the IPv4 addresses of some name servers could not be looked up; they were not counted")
        return
    with_v4 = [n.name for n in dns_facts.nameservers if n.a.records]
    if len(with_v4) < 2:
        warn(
            f"only {len(with_v4)} name server(s) of {zone} have an IPv4 address "
            f"({', '.join(with_v4) or 'none'});"
            " IPv4-only resolvers need at least two (Zonemaster DELEGATION01)."
        )


def _reachable(nameserver: NameServer, address: NsAddress, answer: DnsAnswer) -> None:
    """Skip when there is no address to ask, or this machine cannot reach it at all (an IPv6 server
    from an IPv4-only probe)."""
    if not address.ip:
        pytest.skip(f"{nameserver.name} has no address (see dns.ns.authoritative)")
    if address.not_probed:
        pytest.skip(f"{nameserver.name}: {address.not_probed}")
    if answer.unreachable:
        pytest.skip(f"{nameserver.name} ({address.ip}) cannot be reached from this machine: {answer.error}")


@check(
    "dns.ns.authoritative",
    refs=["RFC 1912 §2.8", "Zonemaster DELEGATION04"],
    fix="Configure this server to serve the zone, or remove it from the delegation and the NS set.",
)
def test_dns_ns_authoritative(
    dns_facts: DomainDns, zone_probe: ZoneProbe, nameserver: NameServer, nameserver_address: NsAddress
) -> None:
    """Each name server address answers authoritatively for the zone (no lame delegation).

    Asked directly, without recursion, twice before a silence counts. A server that never answers is
    lame only when another server of the zone did answer (else the probe's own network is suspect:
    could not test); an address this machine has no route to (IPv6) is skipped.
    """
    zone = existing_zone(dns_facts)
    soa = nameserver_address.soa
    if not nameserver_address.ip:
        evidence(nameserver.a, nameserver.aaaa)
        need(nameserver.a, nameserver.aaaa)
        pytest.fail(
            f"the name server {nameserver.name} of {zone} has no address (no A or AAAA record): resolvers "
            "cannot ask it, a lame delegation (RFC 1912 §2.8). Give it an address, or remove it from the "
            "NS set and the delegation."
        )
    evidence(soa)
    _reachable(nameserver, nameserver_address, soa)
    where = f"{nameserver.name} ({nameserver_address.ip})"
    if not soa.definite and soa.silent:
        # silence is lameness only if this machine did reach another server of the same address family
        family = ":" in nameserver_address.ip
        others = [
            x
            for x in zone_probe.answered
            if x.ip != nameserver_address.ip and x.soa.aa and (":" in x.ip) == family
        ]
        if not others:
            raise Indeterminate(
                f"could not test: {where} did not answer ({soa.error}), and no other IPv"
                f"{'6' if family else '4'} server of {zone} answered to compare with"
            )
        pytest.fail(
            f"{where} did not answer for {zone} ({soa.error}) while {others[0].ip} did: a lame delegation "
            "(RFC 1912 §2.8). Make the server answer for the zone, or remove it from the NS set."
        )
    if soa.error is not None:
        raise Indeterminate(f"could not test: {soa.problem}")
    has_soa = any(r.rdtype == "SOA" and r.name == zone for r in soa.answer)
    assert soa.rcode == "NOERROR" and soa.aa and has_soa, (
        f"{where} answers {soa.rcode}"
        f"{' without the AA flag' if soa.rcode == 'NOERROR' and not soa.aa else ''}"
        f" when asked for the SOA of {zone}: it is not authoritative for the zone it is delegated (a lame "
        "delegation, RFC 1912 §2.8). Serve the zone there, or remove the server from the NS set."
    )


@check(
    "dns.ns.no-cname",
    refs=["RFC 2181 §10.3", "Zonemaster DELEGATION05"],
    fix="Point the NS record at the canonical name (the CNAME's target).",
)
def test_dns_ns_no_cname(nameserver: NameServer) -> None:
    """No name server name is an alias (CNAME)."""
    evidence(nameserver.a)
    chain = nameserver.a.chain or nameserver.aaaa.chain
    if not chain:
        need(nameserver.a, nameserver.aaaa)
    assert not chain, (
        f"the NS name {nameserver.name} is a CNAME for {chain[-1].target if chain else ''}; "
        "an NS record must "
        "name the server's canonical name, never an alias (RFC 2181 §10.3). Point the NS record at "
        f"{chain[-1].target if chain else 'the canonical name'}."
    )


@check(
    "dns.ns.parent-child-match",
    refs=["RFC 1912 §2.8", "Zonemaster CONSISTENCY04"],
    fix="Make the delegation at the registry/parent list exactly the zone's own NS records.",
)
def test_dns_ns_parent_child_match(dns_facts: DomainDns, zone_probe: ZoneProbe) -> None:
    """The parent's delegation names the same name servers as the zone's own NS set."""
    zone = existing_zone(dns_facts)
    need(dns_facts.ns)
    answered = [a for a in zone_probe.parent_ns if a.definite]
    if not answered:
        if zone_probe.parent_ns:
            raise Indeterminate(f"could not test: {zone_probe.parent_ns[0].problem}")
        raise Indeterminate(f"could not test: the servers of the parent of {zone} could not be found")
    evidence(dns_facts.ns, answered[0])
    child, parent = set(dns_facts.child_ns), set(zone_probe.parent_ns_names)
    if child != parent:
        warn(
            f"the parent ({dns_facts.parent_zone}) delegates {zone} to "
            f"{', '.join(sorted(parent)) or 'nothing'}"
            f" but the zone names {', '.join(sorted(child)) or 'nothing'}"
            f"{'; only at the parent: ' + ', '.join(sorted(parent - child)) if parent - child else ''}"
            f"{'; only in the zone: ' + ', '.join(sorted(child - parent)) if child - parent else ''}. "
            "They should match (RFC 1912 §2.8): update the delegation or the zone's NS records."
        )


@check(
    "dns.soa.serial-consistent",
    refs=["RFC 1912 §2.8", "Zonemaster CONSISTENCY01"],
    fix="Make the secondaries transfer the zone (NOTIFY/AXFR/IXFR) so every server has the current serial.",
)
def test_dns_soa_serial_consistent(dns_facts: DomainDns, zone_probe: ZoneProbe) -> None:
    """Every authoritative server gives the same SOA serial."""
    zone = existing_zone(dns_facts)
    serials: dict[int, list[str]] = {}
    for x in zone_probe.addresses:
        for rec in x.soa.answer:
            if rec.rdtype == "SOA" and rec.name == zone and x.soa.aa and rec.data.split()[2:3]:
                serials.setdefault(int(rec.data.split()[2]), []).append(f"{x.name}@{x.ip}")
                evidence(x.soa)
    if not serials:
        pytest.skip(f"no server of {zone} answered authoritatively (see dns.ns.authoritative)")
    if len(serials) > 1:
        newest = max(serials)
        stale = ", ".join(f"{s} at {', '.join(where)}" for s, where in sorted(serials.items()) if s != newest)
        warn(
            f"the servers of {zone} disagree on the SOA serial: {newest} at {', '.join(serials[newest])}, "
            f"but {stale}. A stale secondary serves old data (RFC 1912 §2.8); check its zone transfers."
        )


@check(
    "dns.soa.timers",
    refs=["RFC 1912 §2.2", "RFC 2308 §4", "RFC 2308 §5", "Zonemaster ZONE02-ZONE06"],
    fix="Use refresh >= 14400, 3600 <= retry < refresh, expire >= 604800, minimum 300-86400.",
)
def test_dns_soa_timers(dns_facts: DomainDns) -> None:
    """The SOA timers are in the ranges RFC 1912 recommends."""
    zone = existing_zone(dns_facts)
    soa = dns_facts.zone_soa
    evidence(dns_facts.zone_soa_answer or dns_facts.soa)
    if soa is None:
        raise Indeterminate(f"could not test: no SOA record for {zone} in the answer")
    problems = []
    if soa.refresh < 14400:
        problems.append(f"refresh {soa.refresh} < 14400")
    if not 3600 <= soa.retry < soa.refresh:
        problems.append(f"retry {soa.retry} not in [3600, refresh {soa.refresh})")
    if soa.expire < 604800 or soa.expire < soa.refresh:
        problems.append(f"expire {soa.expire} < 604800 (or below refresh)")
    if not 300 <= soa.minimum <= 86400:
        problems.append(f"minimum (negative-caching TTL) {soa.minimum} not in 300-86400")
    if problems:
        warn(
            f"the SOA of {zone} has {'; '.join(problems)} (RFC 1912 §2.2, RFC 2308 §5). "
            "Set refresh >= 14400, 3600 <= retry < refresh, expire >= 604800, minimum 300-86400."
        )


@check(
    "dns.soa.rname",
    refs=["RFC 1912 §2.2", "Zonemaster SYNTAX05", "Zonemaster SYNTAX06"],
    fix="Write the SOA RNAME as a mailbox with its '@' replaced by a dot, e.g. hostmaster.example.com.",
)
def test_dns_soa_rname(
    dns_facts: DomainDns,
    mx_endpoints: list[SmtpEndpoint],
    mail_survey: FactSource,
    mailspec_settings: Settings,
) -> None:
    """The SOA RNAME is a well-formed mailbox name.

    Every label LDH and no '@' (the catalog's rule). With --mail-probe=envelope or above, a mailbox in
    the domain itself is also asked at RCPT (``MAIL FROM:<>``, never DATA) at every MX address: a 5yz
    there warns (the severity is may); a 2yz or a 4yz passes. A mailbox in another domain is not asked
    here (that domain's own MX would be the one to ask): a note says so. When no MX could be asked the
    RCPT part is noted as untested, not an error: the DNS part was determined. The mailbox is read
    off the envelope probes that the run's SMTP checks (role.*, smtp.*) make anyway: this check opens
    no connection of its own, so a DNS-only selection (``-k dns.``) stays one.
    """
    zone = existing_zone(dns_facts)
    soa = dns_facts.zone_soa
    evidence(dns_facts.zone_soa_answer or dns_facts.soa)
    if soa is None:
        raise Indeterminate(f"could not test: no SOA record for {zone} in the answer")
    rname = soa.rname
    # the first label is the mailbox's local part, where a dot is written "\." (RFC 1035 §8)
    labels = re.split(r"(?<!\\)\.", rname)
    local = labels[0].replace("\\.", ".")
    if "@" in rname:
        warn(
            f"the SOA RNAME of {zone} is {rname!r}: it contains '@', which must be written as a dot "
            "(RFC 1912 §2.2). Use e.g. hostmaster." + zone + "."
        )
    bad = [label for label in [*local.split("."), *labels[1:]] if not is_ldh_label(label)]
    if bad or len(labels) < 2:
        warn(
            f"the SOA RNAME of {zone} is {rname!r}: {', '.join(repr(b) for b in bad) or 'it'} is not a "
            "letters-digits-hyphens label, so it is not a usable mailbox (RFC 1912 §2.2, Zonemaster "
            "SYNTAX05/06). Use e.g. hostmaster." + zone + "."
        )
    mailbox = soa.mailbox or local + "@" + ".".join(labels[1:])
    _rname_at_rcpt(dns_facts, mailbox, mx_endpoints, mail_survey, mailspec_settings)


#: the --mail-probe levels, lowest first (compared by name: the settings module loads the survey)
_PROBE_ORDER = ("dns", "connect", "envelope", "intrusive")


def _rname_probe(env: SmtpEnvelope, mailbox: str) -> Rcpt | None:
    """The envelope probe that asked the mailbox with the null sender (the survey asks it once: as
    ``rname``, or as the role probe it equals, hostmaster@ most often)."""
    names = ["rname", *(n for n in env.rcpts if n != "rname")]
    for name in names:
        r = env.rcpts.get(name)
        if r is None or name.endswith("@tls") or r.sender:
            continue
        if r.mailbox.lower() == mailbox.lower():
            return probe(env, name)
    return None


def _rname_at_rcpt(
    d: DomainDns, mailbox: str, endpoints: list[SmtpEndpoint], survey: FactSource, settings: Settings
) -> None:
    """dns.soa.rname's L2 part: the mailbox asked at RCPT at every MX address of the domain."""
    if mailbox.rpartition("@")[2].lower() != d.domain.lower():
        note(
            f"SOA RNAME mailbox: {mailbox}; it is not in {d.domain}, so it is not checked at RCPT here "
            "(run mailspec on its own domain to ask that domain's MX)"
        )
        return
    if _PROBE_ORDER.index(str(settings.probe)) < _PROBE_ORDER.index("envelope"):
        note(
            f"SOA RNAME mailbox: {mailbox}; whether it accepts mail at RCPT needs --mail-probe=envelope "
            f"(this run: --mail-probe={settings.probe})"
        )
        return
    if not endpoints:
        note(f"SOA RNAME mailbox: {mailbox}; {d.domain} has no MX address to ask it at")
        return
    # only the envelopes the run fetches anyway (for the role and smtp checks): this DNS check opens no
    # SMTP connection of its own, so that `-k dns.` stays a DNS-only run
    endpoints = [e for e in endpoints if survey.wanted(SmtpEnvelope, e.envelope_key)]
    if not endpoints:
        note(
            f"SOA RNAME mailbox: {mailbox}; not asked at RCPT in this run: the envelope probes run with the "
            "SMTP checks (role.*, smtp.*), which were not selected"
        )
        return
    try:
        envelopes = [(e, survey.get(SmtpEnvelope, e.envelope_key)) for e in endpoints]
    except MailspecError as exc:  # (the survey's EngineError: a wait ran out)
        note(f"SOA RNAME mailbox: {mailbox}; it could not be asked at RCPT ({exc})")
        return
    refused: list[str] = []
    accepted: list[str] = []
    untested: list[str] = []
    for e, env in envelopes:
        r = _rname_probe(env, mailbox) if env.definite and not env.refused else None
        if r is None or r.rcpt is None or not r.rcpt.code:
            why = env.refused or env.error or (r.describe() if r is not None else "not asked")
            untested.append(f"{e}: {why}")
            continue
        evidence(f"{e}: {r.describe()}")
        if r.kind == 5 and (why := null_sender_refused(env)):
            untested.append(f"{e}: {why}")
            continue
        (refused if r.kind == 5 else accepted).append(f"{e} ({r.rcpt.reply})")
    refused.sort()
    accepted.sort()
    untested.sort()
    if refused:
        warn(
            f"the SOA RNAME mailbox of {d.zone or d.domain}, {mailbox}, is refused at RCPT by "
            f"{', '.join(refused)}: the zone's published contact cannot be reached (RFC 1912 §2.2, "
            f"Zonemaster SYNTAX05/06). Create the mailbox (an alias to the DNS administrator), or point "
            "the SOA RNAME at one that exists (e.g. hostmaster)."
        )
    if accepted:
        note(f"SOA RNAME mailbox: {mailbox}; accepted at RCPT by {', '.join(accepted)}")
    if untested:
        note(f"SOA RNAME mailbox: {mailbox}; not tested at RCPT at {'; '.join(untested)}")


@check(
    "dns.ns.no-recursion",
    refs=["Zonemaster NAMESERVER01"],
    fix="Disable recursion on the authoritative server (e.g. BIND 'recursion no;').",
)
def test_dns_ns_no_recursion(nameserver: NameServer, nameserver_address: NsAddress) -> None:
    """Each authoritative name server refuses to recurse for out-of-zone names.

    The probe is the root SOA asked with RD=1: an authoritative-only server refuses it or answers
    without RA; an open resolver answers it with RA=1.
    """
    rec = nameserver_address.recursion
    evidence(rec)
    _reachable(nameserver, nameserver_address, rec)
    if rec.error is not None:
        raise Indeterminate(f"could not test: {rec.problem}")
    if rec.ra and rec.rcode != "REFUSED":
        warn(
            f"{nameserver.name} ({nameserver_address.ip}) offers recursion (RA=1, {rec.rcode}) for a name "
            "outside its zones: an open resolver can be abused for amplification and cache poisoning "
            "(Zonemaster NAMESERVER01). Disable recursion on authoritative servers."
        )


@check(
    "dns.ns.no-axfr",
    refs=["Zonemaster NAMESERVER03"],
    fix="Allow zone transfers only to the secondaries (allow-transfer / provide-xfr with a TSIG key).",
)
def test_dns_ns_no_axfr(dns_facts: DomainDns, nameserver: NameServer, nameserver_address: NsAddress) -> None:
    """Each name server refuses a zone transfer (AXFR) to the public."""
    zone = existing_zone(dns_facts)
    axfr = nameserver_address.axfr
    evidence(axfr)
    _reachable(nameserver, nameserver_address, axfr)
    # a refusal is an rcode, or the server closing (or refusing) the connection; anything else that
    # went wrong (a timeout, a local error, a garbage reply) says nothing either way
    if axfr.error is not None and not axfr.error.startswith("closed"):
        raise Indeterminate(f"could not test: {axfr.problem}")
    if axfr.rcode == "NOERROR" and any(r.rdtype == "SOA" for r in axfr.answer):
        warn(
            f"{nameserver.name} ({nameserver_address.ip}) hands the whole zone {zone} to anyone who asks "
            "(AXFR): the zone's contents are public (Zonemaster NAMESERVER03). Restrict transfers to the "
            "secondaries."
        )


@check(
    "dns.ns.public-address",
    refs=["RFC 6890", "IANA IPv4/IPv6 Special-Purpose Address Registries", "Zonemaster ADDRESS01"],
    fix="Publish only the name server's public addresses (glue and A/AAAA); keep internal ones out.",
)
def test_dns_ns_public_address(dns_facts: DomainDns, nameserver: NameServer) -> None:
    """Every address of every name server is a public (globally reachable) address.

    A non-public address is never asked directly (mailspec must not be aimed at the machine it runs on
    or its network) unless this check is waived for it. At most 8 addresses of one name and 32 of one
    zone are asked; the rest are reported, unasked.
    """
    evidence(nameserver)
    if not nameserver.ips:
        need(nameserver.a, nameserver.aaaa)
        pytest.skip(f"{nameserver.name} has no address (see dns.ns.authoritative)")
    private = [ip for ip in nameserver.ips if not is_public_address(ip)]
    assert not private, (
        f"the name server {nameserver.name} of {dns_facts.zone or dns_facts.domain} has the address(es) "
        f"{', '.join(private)}, which are not globally reachable (loopback, private, link-local, "
        "documentation or reserved space, RFC 6890): resolvers on the Internet cannot reach them, and "
        "mailspec did not ask them. Publish only the server's public addresses."
    )
    _, beyond = dns_facts.probed_addresses()
    mine = [b for b in beyond if b.startswith(f"{nameserver.name}@")]
    if mine:
        warn(
            f"{nameserver.name} has {len(nameserver.ips)} addresses; mailspec asks at most {PER_NAME} per "
            f"name server and {PER_ZONE} per zone, so {len(mine)} of them were not asked "
            f"({', '.join(m.partition('@')[2] for m in mine[:5])}{', ...' if len(mine) > 5 else ''})."
            " So many addresses for one name server is unusual (Zonemaster ADDRESS01)."
        )
