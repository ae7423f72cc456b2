"""MX records: presence, null MX, and the exchanges they name (`pytest --mail-checks` lists every check)."""

from __future__ import annotations

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing
from mailspec.facts import DomainDns, MxTarget, need
from mailspec.outcome import evidence, note, warn
from mailspec.records.addresses import is_public_address
from mailspec.records.hostname import hostname_problem, looks_like_ip
from mailspec.records.spf import authorises_hosts

__all__ = [
    "test_mx_ipv4_reachable",
    "test_mx_no_cname",
    "test_mx_null_exclusive",
    "test_mx_null_not_sender",
    "test_mx_null_spf_all",
    "test_mx_present",
    "test_mx_target_hostname_syntax",
    "test_mx_target_not_ip",
    "test_mx_target_public_address",
    "test_mx_target_resolves",
]


def _null_mx(d: DomainDns, *, sole: bool = False) -> None:
    existing(d)
    need(d.mx)
    if not d.has_null_mx_record:
        pytest.skip(f"{d.domain} publishes no null MX")
    if sole and not d.null_mx:
        pytest.skip(f"{d.domain} has other MX records beside its null MX (see mx.null.exclusive)")


@check(
    "mx.present",
    refs=["RFC 5321 §5.1", "RFC 1912 §2.5", "RFC 8314 §4.5.1"],
    fix="Publish an MX record naming the host that receives mail for the domain.",
)
def test_mx_present(dns_facts: DomainDns) -> None:
    """The domain publishes MX records (or says with a null MX that it takes no mail).

    No MX but an address is an implicit MX (a warning); no MX and no address fails. A SERVFAIL or
    timeout on the MX question is "could not test", never an implicit MX.
    """
    d = dns_facts
    existing(d)
    need(d.mx)
    evidence(d.mx)
    if d.mx.records:
        return
    evidence(d.a, d.aaaa)
    if not d.has_address:
        need(d.a, d.aaaa)
    if d.has_address:
        warn(
            f"{d.domain} has no MX record; senders fall back to its address records and deliver to "
            f"{', '.join(r.data for r in d.a.records + d.aaaa.records)} (an implicit MX, RFC 5321 §5.1). "
            "It works, but an explicit MX is recommended (RFC 1912 §2.5): publish `MX 10 <host>`."
        )
    pytest.fail(
        f"{d.domain} has neither an MX record nor an address: it cannot receive mail, not even for "
        "postmaster@ (RFC 5321 §5.1). Publish an MX record, or a null MX (`MX 0 .`) if it takes no mail."
    )


@check("mx.null.exclusive", refs=["RFC 7505 §3"], fix="Remove the other MX records, or the null MX.")
def test_mx_null_exclusive(dns_facts: DomainDns) -> None:
    """A null MX is the domain's only MX record."""
    _null_mx(dns_facts)
    evidence(dns_facts.mx)
    others = [r.data for r in dns_facts.non_null_mx]
    assert not others, (
        f"{dns_facts.domain} publishes a null MX (`0 .`) beside {', '.join(others)}: a domain that "
        "advertises a null MX MUST NOT advertise any other MX (RFC 7505 §3). Remove the null MX if the "
        "domain takes mail, or the other MX records if it does not."
    )


@check(
    "mx.null.not-sender",
    refs=["RFC 7505 §4.2"],
    fix="Give the domain a working MX if it sends mail, or stop authorising senders in its SPF.",
)
def test_mx_null_not_sender(dns_facts: DomainDns) -> None:
    """A domain with a null MX does not send mail (its SPF authorises no host).

    mailspec cannot see which domains are used in MAIL FROM, so it takes the domain's own word: an SPF
    record that authorises any host (anything beyond -all/~all/?all) declares a sending domain. A null
    MX beside other MX records is mx.null.exclusive's concern, so this check applies to a sole one.
    """
    _null_mx(dns_facts, sole=True)
    need(dns_facts.txt)
    evidence(dns_facts.mx, dns_facts.txt)
    senders = [s for s in dns_facts.spf_records if authorises_hosts(s)]
    assert not senders, (
        f"{dns_facts.domain} publishes a null MX yet its SPF record ({senders[0] if senders else ''}) "
        "authorises hosts to send mail from it: bounces and replies to that mail cannot be delivered. "
        "Domains used in MAIL FROM or From SHOULD NOT publish a null MX (RFC 7505 §4.2). Give it a "
        "working MX, or publish `v=spf1 -all` if it sends nothing."
    )


@check(
    "mx.null.spf-all",
    refs=["RFC 7505 §4.2", "RFC 7208 §10.1.2"],
    fix='Publish the TXT record "v=spf1 -all" at the domain.',
)
def test_mx_null_spf_all(dns_facts: DomainDns) -> None:
    """A domain with a null MX publishes ``v=spf1 -all``."""
    _null_mx(dns_facts, sole=True)
    need(dns_facts.txt)
    evidence(dns_facts.txt)
    spf = dns_facts.spf_records
    if [s.lower().split() for s in spf] != [["v=spf1", "-all"]]:
        seen = "; ".join(spf) if spf else "no SPF record"
        warn(
            f"{dns_facts.domain} takes no mail (null MX) but publishes {seen}; a non-mail domain should "
            'publish exactly "v=spf1 -all" so that receivers reject mail forged in its name '
            "(RFC 7505 §4.2, RFC 7208 §10.1.2)."
        )


@check(
    "mx.target.not-ip",
    refs=["RFC 5321 §5.1", "RFC 1123 §2.1", "RFC 7672 §2.2"],
    fix="Point the MX at a host name that has the address as its A/AAAA record.",
)
def test_mx_target_not_ip(mx_target: MxTarget) -> None:
    """The MX exchange is a host name, not an IP address."""
    assert not looks_like_ip(mx_target.name), (
        f"the MX of {mx_target.domain} names {mx_target.name}, which is an IP address written as a name: the "
        "MX data MUST be a domain name (RFC 5321 §5.1) and a host name never has the form #.#.#.# "
        "(RFC 1123 §2.1). Give the host a name (e.g. mx1." + mx_target.domain + ") with that address."
    )


@check(
    "mx.target.hostname-syntax",
    refs=["RFC 5321 §2.3.5", "RFC 5321 §4.1.2", "Zonemaster SYNTAX08"],
    fix="Name the MX host with letters, digits and hyphens, at least two labels.",
)
def test_mx_target_hostname_syntax(mx_target: MxTarget) -> None:
    """The MX exchange is a syntactically valid host name."""
    if mx_target.implicit:
        pytest.skip("implicit MX: the domain itself (see dns.domain.no-underscore)")
    problem = hostname_problem(mx_target.name)
    assert problem is None, (
        f"the MX host {mx_target.name} of {mx_target.domain} is not a valid host name: {problem} "
        "(RFC 5321 §2.3.5, §4.1.2). Rename it."
    )


@check(
    "mx.no-cname",
    refs=["RFC 2181 §10.3", "RFC 5321 §5.1", "RFC 1912 §2.4", "Zonemaster ZONE08"],
    fix="Point the MX at the canonical host name (the CNAME's target).",
)
def test_mx_no_cname(mx_target: MxTarget) -> None:
    """The MX exchange is not an alias (CNAME)."""
    for lookup in mx_target.lookups:
        evidence(lookup)
    chain = next((x.chain for x in mx_target.lookups if x.chain), ())
    if not chain:
        need(*mx_target.lookups)  # an alias seen in one answer is enough; its absence needs both
    if mx_target.implicit:
        if chain:
            note(f"{mx_target.name} is an alias; as an implicit MX it is followed (RFC 5321 §5.1)")
        return
    target = chain[-1].target if chain else ""
    assert not chain, (
        f"{mx_target.name} is a CNAME for {target}; an MX must point at a name with A/AAAA records, never "
        f"an alias (RFC 2181 §10.3, RFC 5321 §5.1). Point the MX of {mx_target.domain} at {target} instead."
    )


@check(
    "mx.target.resolves",
    refs=["RFC 5321 §5.1"],
    fix="Publish an A and/or AAAA record for the MX host, or correct the MX record.",
)
def test_mx_target_resolves(dns_facts: DomainDns, mx_target: MxTarget) -> None:
    """Each MX exchange has at least one address (A or AAAA)."""
    for lookup in mx_target.lookups:
        evidence(lookup)
    if mx_target.ips:
        return  # one address is enough, whatever happened to the other question
    need(*mx_target.lookups)
    usable = [t.name for t in dns_facts.mx_targets if t.ips]
    state = "does not exist (NXDOMAIN)" if any(x.nxdomain for x in mx_target.lookups) else "has no A or AAAA"
    tail = (
        f" No MX of {dns_facts.domain} is usable: mail to it cannot be delivered."
        if not usable
        else f" Senders fall back to {', '.join(usable)}."
    )
    pytest.fail(
        f"the MX host {mx_target.name} of {mx_target.domain} {state}; an MX MUST resolve to at least one "
        f"address (RFC 5321 §5.1).{tail} Publish its address or remove the MX record."
    )


@check(
    "mx.target.public-address",
    refs=["RFC 5321 §5.1", "RFC 1918", "RFC 6890"],
    fix="Publish the MX host's public address; keep internal addresses out of public DNS.",
)
def test_mx_target_public_address(mx_target: MxTarget, mx_ip: str) -> None:
    """Each MX address is globally routable."""
    for lookup in mx_target.lookups:
        evidence(lookup)
    assert is_public_address(mx_ip), (
        f"{mx_target.name} has the address {mx_ip}, which is not globally routable (private, loopback, "
        "link-local, shared or documentation space, RFC 6890): senders on the Internet cannot reach it "
        "(RFC 5321 §5.1). Publish the host's public address."
    )


@check(
    "mx.ipv4-reachable",
    refs=["RFC 3974 §3", "RFC 3974 §4.1", "RFC 5321 §5.2"],
    fix="Give at least one MX host (preferably the primary) an IPv4 address.",
)
def test_mx_ipv4_reachable(dns_facts: DomainDns) -> None:
    """At least one MX host has an IPv4 address."""
    existing(dns_facts)
    need(dns_facts.mx)
    targets = [t for t in dns_facts.mx_targets if t.name]
    if not targets:
        pytest.skip(f"{dns_facts.domain} has no MX host")
    for t in targets:
        evidence(*t.lookups)
    if any(t.ipv4 for t in targets):
        return
    for t in targets:
        need(*t.lookups)
    if not any(t.ipv4 for t in targets):
        warn(
            f"no MX host of {dns_facts.domain} has an IPv4 address ({', '.join(t.name for t in targets)}): "
            "senders without IPv6 cannot deliver (RFC 3974 §3). Give the primary MX an A record too."
        )
