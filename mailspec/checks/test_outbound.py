"""Outbound identity, per address the domain sends from: reverse DNS, the HELO name, dynamic-address
heuristics, DNS blocklists and IDENT (`pytest --mail-checks` lists every check).

The outbound addresses are the ``--mail-outbound`` ones; without them mailspec assumes the MX
addresses, and every message then says "assumed" (the MX may not be what sends the domain's mail).
The HELO names are the ``--mail-helo-name`` ones, or, assumed likewise, the MX's banner and EHLO names.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import pytest

from mailspec.catalog import check
from mailspec.errors import Indeterminate
from mailspec.facts.dns import DnsAnswer, need
from mailspec.facts.smtp import DnsblListing, DnsblZone, HostAddresses, IdentProbe, OutboundIp, ReverseDns
from mailspec.outcome import evidence, note, warn
from mailspec.records.dnsbl import Listing, classify, is_spamhaus
from mailspec.records.hostname import is_ldh_label, looks_like_ip, split_labels, underscore_labels
from mailspec.records.ident import IdentError, parse_ident_reply
from mailspec.records.rdns import generic_rdns
from mailspec.records.txt import txt_value

if TYPE_CHECKING:  # (the settings module loads the survey, which a check never does)
    from mailspec.settings import Settings

__all__ = [
    "test_dnsbl_listed",
    "test_dnsbl_resolver_usable",
    "test_dnsbl_zone_sane",
    "test_dynip_pbl",
    "test_dynip_rdns_generic",
    "test_helo_fqdn",
    "test_helo_matches_ptr",
    "test_helo_no_underscore",
    "test_helo_resolves",
    "test_ident_port113",
    "test_rdns_fcrdns",
    "test_rdns_ptr_exists",
    "test_rdns_ptr_target_not_cname",
    "test_rdns_single_ptr",
]

_MAX_NAME = 253
#: what the IDENT probe records when the port took the connection but sent nothing back
_IDENT_SILENT = "no reply to a query"


# ------------------------------------------------------------------------------------------ helpers
def _norm(name: str) -> str:
    return name.lower().removesuffix(".")


def _same_address(ip: str, other: str) -> bool:
    try:
        return ipaddress.ip_address(ip) == ipaddress.ip_address(other)
    except ValueError:
        return ip == other


def _family(host: HostAddresses, ip: str) -> DnsAnswer:
    """The answer of the outbound address's own family: A for IPv4, AAAA for IPv6."""
    return host.aaaa if ":" in ip else host.a


def _addresses(answer: DnsAnswer) -> list[str]:
    return [r.data for r in answer.records]


def _ptr_names(rdns: ReverseDns) -> list[str]:
    """The PTR names (distinct, case-insensitive); could not test when the PTR question failed."""
    need(rdns.ptr)
    return list({_norm(n): n for n in rdns.names if n}.values())


def _with_ptr(outbound: OutboundIp, rdns: ReverseDns) -> list[str]:
    """The PTR names; skip when there is none (rdns.ptr-exists reports that)."""
    names = _ptr_names(rdns)
    if not names:
        pytest.skip(f"{outbound} has no PTR record (see rdns.ptr-exists)")
    return names


def _helo_whose(outbound: OutboundIp, settings: Settings) -> str:
    """How the HELO names were found, for messages: given, or assumed from the MX."""
    if settings.helo_names:
        return "the HELO name"
    mx = outbound.host or outbound.ip
    return f"the HELO name (assumed: a name MX {mx} gives in its banner or EHLO reply; pass --mail-helo-name)"


def _literal(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of an address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``), or None when the
    text is not a valid one (RFC 5321 §4.1.3)."""
    inner = name[1:-1] if name.startswith("[") and name.endswith("]") else ""
    try:
        if inner[:5].lower() == "ipv6:":
            return ipaddress.IPv6Address(inner[5:])
        return ipaddress.IPv4Address(inner)
    except ValueError:
        return None


def _fqdn_problem(name: str) -> str | None:
    """Why a HELO name is not a fully qualified host name, or None. An underscore alone is not a
    problem here: helo.no-underscore reports it."""
    text = name.removesuffix(".")
    labels = split_labels(text)
    if not labels:
        return "it is empty"
    if any(label.lower() in ("localhost", "localdomain") for label in labels):
        return "it is a localhost name, which names every machine to itself"
    if looks_like_ip(text):
        return (
            "it is an address without brackets; an address literal is written [192.0.2.1] (RFC 5321 §4.1.3)"
        )
    if len(labels) < 2:
        return "it is a single label, not a fully qualified domain name"
    if len(text) > _MAX_NAME:
        return f"it is {len(text)} octets long; a host name has at most {_MAX_NAME}"
    for label in labels:
        if not is_ldh_label(label.replace("_", "a")):
            return f"its label {label!r} is not letters, digits and inner hyphens (LDH)"
    if labels[-1].isdigit():
        return f"its top-level label {labels[-1]!r} is all-numeric; a TLD is alphabetic (RFC 1123 §2.1)"
    return None


# ------------------------------------------------------------------------------------ reverse DNS
@check(
    "rdns.ptr-exists",
    refs=[
        'RFC 1912 §2.1 ("For every IP address, there should be a matching PTR")',
        'Google sender guidelines ("sending IP address must have a PTR record")',
    ],
    fix="Ask whoever holds the address block (the hosting or access provider) to publish a PTR record "
    "naming the server's host name.",
)
def test_rdns_ptr_exists(outbound_ip: OutboundIp, reverse_dns: ReverseDns) -> None:
    """Each outbound IP address has a reverse DNS (PTR) record.

    A CNAME inside the reverse tree (RFC 2317 classless delegation) is followed.
    """
    evidence(reverse_dns.ptr)
    names = _ptr_names(reverse_dns)
    state = "does not exist (NXDOMAIN)" if reverse_dns.ptr.nxdomain else "has no PTR record"
    assert names, (
        f"{outbound_ip} has no reverse DNS: {reverse_dns.ptr.qname} {state}. Every address should have "
        "a matching PTR (RFC 1912 §2.1), and the large mailbox providers require one of a sending "
        "address (Google sender guidelines). Ask whoever holds the address block (the hosting or "
        "access provider) to publish a PTR record naming the server's host name."
    )


@check(
    "rdns.fcrdns",
    refs=[
        'RFC 1912 §2.1 ("Make sure your PTR and A records match")',
        "Google sender guidelines (PTR host name's forward DNS refers to the sending IP)",
        "Yahoo best practices",
    ],
    fix="Publish an A (or AAAA) record for the PTR name with this address, or change the PTR to a "
    "name that has it.",
)
def test_rdns_fcrdns(outbound_ip: OutboundIp, reverse_dns: ReverseDns) -> None:
    """A PTR name of each outbound IP address resolves back to that address.

    Forward-confirmed reverse DNS: one PTR name whose A records (for an IPv4 address) or AAAA records
    (IPv6) contain the address is enough, with several PTR names (CATALOG.md §18.3). The first ten PTR
    names are looked up, as RFC 7208 §4.6.4 bounds a receiver's ``ptr`` lookups.
    """
    names = _with_ptr(outbound_ip, reverse_dns)
    evidence(reverse_dns)
    if reverse_dns.confirmed():
        return
    for f in reverse_dns.forward:
        need(_family(f, outbound_ip.ip))
    rr = "AAAA" if ":" in outbound_ip.ip else "A"
    seen = "; ".join(
        f"{f.name} has {rr} {', '.join(_addresses(_family(f, outbound_ip.ip))) or 'none'}"
        for f in reverse_dns.forward
    )
    pytest.fail(
        f"{outbound_ip} has the PTR name(s) {', '.join(names)}, but none resolves back to it ({seen}); "
        "PTR and A records must match (RFC 1912 §2.1), and receivers such as Google require the PTR "
        f"name's forward DNS to give the sending address. Publish {rr} {outbound_ip.ip} for "
        f"{names[0]}, or point the PTR at a name that has that address."
    )


@check(
    "rdns.ptr-target-not-cname",
    refs=[
        'RFC 1912 §2.1 ("PTR records must point back to a valid A record, not a alias defined by a CNAME")'
    ],
    fix="Point the PTR at the canonical host name (the CNAME's target), which has the A/AAAA record.",
)
def test_rdns_ptr_target_not_cname(outbound_ip: OutboundIp, reverse_dns: ReverseDns) -> None:
    """The PTR target name has its own address records and is not an alias (CNAME).

    A CNAME inside the reverse tree (RFC 2317) is allowed; the name the PTR record points at is not
    (RFC 1912 §2.1). A PTR name with no address record at all also fails: it points at nothing.
    """
    _with_ptr(outbound_ip, reverse_dns)
    evidence(reverse_dns)
    aliases = [(f.name, f.cname) for f in reverse_dns.forward if f.cname]
    if aliases:
        name, target = aliases[0]
        pytest.fail(
            f"the PTR record of {outbound_ip} names {name}, which is a CNAME for {target}; PTR records "
            "must point at a name with its own A record, not an alias (RFC 1912 §2.1). Point the PTR at "
            f"{target} instead."
        )
    for f in reverse_dns.forward:
        if not f.ips:
            need(f.a, f.aaaa)
    dangling = [f.name for f in reverse_dns.forward if not f.ips]
    assert not dangling, (
        f"the PTR record of {outbound_ip} names {', '.join(dangling)}, which has no A or AAAA record; a "
        "PTR must point back to a valid A record (RFC 1912 §2.1). Publish the name's address record, "
        "or point the PTR at the server's real host name."
    )


@check(
    "rdns.single-ptr",
    refs=["RFC 1912 §2.1 (consistency)"],
    fix="Keep one PTR record per address, naming the server's HELO name.",
)
def test_rdns_single_ptr(outbound_ip: OutboundIp, reverse_dns: ReverseDns) -> None:
    """Each outbound IP address has a single PTR record.

    Several PTR records are a warning: receivers commonly use the first answer, and the order is not
    fixed, so the name they see changes from one connection to the next.
    """
    names = _with_ptr(outbound_ip, reverse_dns)
    evidence(reverse_dns.ptr)
    if len(names) > 1:
        warn(
            f"{outbound_ip} has {len(names)} PTR records ({', '.join(names)}); receivers commonly take the "
            "first answer, whose order varies, so HELO and PTR comparisons give different results from "
            "one connection to the next (RFC 1912 §2.1). Keep one PTR record, naming the server's HELO "
            "name."
        )


# ---------------------------------------------------------------------------------------- HELO name
@check(
    "helo.fqdn",
    refs=[
        'RFC 5321 §2.3.5 ("MUST be either a primary host name … or … an address literal")',
        "RFC 5321 §4.1.1.1, §4.1.3, §4.1.4",
    ],
    fix="Set the MTA's HELO name to the host's fully qualified name (Postfix: smtp_helo_name, myhostname).",
)
def test_helo_fqdn(
    outbound_ip: OutboundIp,
    helo_names: list[tuple[str, HostAddresses]],
    reverse_dns: ReverseDns,
    mailspec_settings: Settings,
) -> None:
    """The HELO/EHLO name is a fully qualified domain name (or an address literal).

    Every HELO name must have at least two labels of letters, digits and hyphens and not be a localhost
    name. An address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``) is allowed only for a host with
    no name: a literal of the outbound address fails when that address has a forward-confirmed PTR
    name (the host's name). An underscore is helo.no-underscore's to report. A name only assumed
    (read off the MX's banner or EHLO reply, without --mail-helo-name) warns instead of failing:
    behind a load balancer those are often internal names (the catalog's edge case 19).
    """
    if not helo_names:
        pytest.skip(f"no HELO name is known for {outbound_ip} (pass --mail-helo-name)")
    whose = _helo_whose(outbound_ip, mailspec_settings)
    bad: list[str] = []
    for name, _ in helo_names:
        if name.startswith("["):
            address = _literal(name)
            if address is None:
                bad.append(f"{name} is not a valid address literal ([192.0.2.1] or [IPv6:2001:db8::1])")
                continue
            if not _same_address(outbound_ip.ip, str(address)):
                continue  # another host's literal: helo.resolves says it does not match this address
            evidence(reverse_dns)
            need(reverse_dns.ptr)
            if named := reverse_dns.confirmed():
                bad.append(
                    f"{name} is an address literal, but the host has a name ({named[0]}, its "
                    "forward-confirmed PTR name): a literal is only for a host without one"
                )
        elif (problem := _fqdn_problem(name)) is not None:
            bad.append(f"{name!r}: {problem}")
    evidence(f"HELO names of {outbound_ip}: {', '.join(n for n, _ in helo_names)}")
    if bad and not mailspec_settings.helo_names:
        # a name read off the MX's banner or EHLO reply is often an internal name behind a load
        # balancer, not the name the host sends mail with: FQDN-ness is a warning there
        warn(
            f"{whose} of {outbound_ip} is not a fully qualified domain name: {'; '.join(bad)}. If this "
            "host sends mail with it, receivers reject it (RFC 5321 §2.3.5, §4.1.1.1); pass the real "
            "HELO name with --mail-helo-name to have it judged."
        )
    assert not bad, (
        f"{whose} of {outbound_ip} is not a fully qualified domain name: {'; '.join(bad)}. The HELO name "
        "MUST be the host's primary name, or an address literal only when it has none (RFC 5321 "
        "§2.3.5, §4.1.1.1), and receivers reject other names. Set the MTA's HELO name to the host's "
        "fully qualified name (Postfix: smtp_helo_name, myhostname)."
    )


@check(
    "helo.no-underscore",
    refs=["RFC 5321 §4.1.2"],
    fix="Rename the host (and its HELO name) to letters, digits and hyphens only.",
)
def test_helo_no_underscore(
    outbound_ip: OutboundIp, helo_names: list[tuple[str, HostAddresses]], mailspec_settings: Settings
) -> None:
    """The HELO/EHLO name contains no underscore."""
    evidence(f"HELO names of {outbound_ip}: {', '.join(n for n, _ in helo_names)}")
    bad = [name for name, _ in helo_names if "_" in name or underscore_labels(name)]
    assert not bad, (
        f"{_helo_whose(outbound_ip, mailspec_settings)} of {outbound_ip}, {', '.join(bad)}, contains '_': "
        "a domain name in SMTP is letters, digits and hyphens (RFC 5321 §4.1.2), and receivers reject "
        "the HELO. Rename the host and set its HELO name without the underscore."
    )


@check(
    "helo.resolves",
    refs=[
        "RFC 5321 §2.3.5 (primary host name = resolves to an address RR); note §4.1.4: receivers MUST "
        "NOT refuse mail on mismatch, so mismatch is WARN"
    ],
    fix="Publish an A (or AAAA) record for the HELO name with the outbound address.",
)
def test_helo_resolves(
    outbound_ip: OutboundIp, helo_names: list[tuple[str, HostAddresses]], mailspec_settings: Settings
) -> None:
    """The HELO name resolves to the outbound IP address.

    With several HELO names (several ``--mail-helo-name``, or an MX whose banner and EHLO names differ)
    one that resolves to this address is enough, since each outbound server gives one of them; a name
    that does not resolve at all fails, and names that all resolve elsewhere warn (receivers MUST NOT
    refuse mail on a mismatch, RFC 5321 §4.1.4). An address literal matches when it is this address.
    """
    ip = outbound_ip.ip
    whose = _helo_whose(outbound_ip, mailspec_settings)
    matched: list[str] = []
    elsewhere: list[str] = []
    missing: list[str] = []
    unknown: list[str] = []
    for name, host in helo_names:
        if name.startswith("["):
            address = _literal(name)
            if address is None:
                continue  # not a literal at all: helo.fqdn reports it
            (matched if _same_address(ip, str(address)) else elsewhere).append(f"{name} (an address literal)")
            continue
        evidence(host)
        if any(_same_address(ip, x) for x in host.ips):
            matched.append(name)
        elif not host.definite:
            unknown.append(host.problem)
        elif host.ips:
            elsewhere.append(f"{name} ({', '.join(host.ips)})")
        else:
            missing.append(f"{name} ({'NXDOMAIN' if host.a.nxdomain else 'no A or AAAA record'})")
    assert not missing, (
        f"{whose} of {outbound_ip} does not resolve: {', '.join(missing)}. The HELO name must be a "
        "primary host name, one with an address record (RFC 5321 §2.3.5), and receivers commonly refuse "
        f"HELO names that do not resolve. Publish an A (or AAAA) record {ip} for it."
    )
    if matched:
        return
    if unknown:
        raise Indeterminate(f"could not test: {unknown[0]}")
    warn(
        f"{whose} of {outbound_ip} resolves elsewhere: {', '.join(elsewhere)}, not {ip}. The HELO name "
        "should be the sending host's own name (RFC 5321 §2.3.5); receivers MUST NOT refuse mail for "
        f"this (RFC 5321 §4.1.4), but many score it. Give the HELO name the address {ip}, or set the "
        "HELO name to the host's own name."
    )


@check(
    "helo.matches-ptr",
    refs=["RFC 5321 §4.1.4"],
    fix="Make the HELO name and the address's PTR name the same host name, with a matching A/AAAA record.",
)
def test_helo_matches_ptr(
    outbound_ip: OutboundIp,
    helo_names: list[tuple[str, HostAddresses]],
    reverse_dns: ReverseDns,
    mailspec_settings: Settings,
) -> None:
    """The HELO name is a forward-confirmed PTR name of the outbound IP address.

    Compared case-insensitively, trailing dot stripped, with any PTR name that resolves back to the
    address in its own family (CATALOG.md §18.3). A mismatch is a warning: receivers MUST NOT refuse
    mail for it (RFC 5321 §4.1.4). Without a forward-confirmed PTR name there is nothing to match:
    skipped, since rdns.ptr-exists and rdns.fcrdns already report that.
    """
    names = _with_ptr(outbound_ip, reverse_dns)
    evidence(reverse_dns)
    confirmed = {_norm(n) for n in reverse_dns.confirmed()}
    if not confirmed:
        for f in reverse_dns.forward:
            need(_family(f, outbound_ip.ip))
        pytest.skip(f"no PTR name of {outbound_ip} resolves back to it (see rdns.fcrdns)")
    helo = [_norm(n) for n, _ in helo_names]
    evidence(f"HELO names of {outbound_ip}: {', '.join(helo)}")
    if confirmed & set(helo):
        return
    warn(
        f"{_helo_whose(outbound_ip, mailspec_settings)} of {outbound_ip}, {', '.join(helo)}, is not its "
        f"forward-confirmed PTR name ({', '.join(sorted(confirmed))}; PTR names: {', '.join(names)}). "
        "Receivers MUST NOT refuse mail for this (RFC 5321 §4.1.4), but many score a mismatch. Make the "
        "HELO name and the PTR name the same host name, with a matching A/AAAA record."
    )


# ------------------------------------------------------------------------------------ dynamic ranges
@check(
    "dynip.rdns-generic",
    refs=["SpamAssassin `rules/20_dynrdns.cf` (RDNS_DYNAMIC)"],
    fix="Give the address a PTR name in the operator's own domain that names the mail server "
    "(mail.example.com), not a generic one.",
)
def test_dynip_rdns_generic(outbound_ip: OutboundIp, reverse_dns: ReverseDns) -> None:
    """The PTR name of each outbound IP address does not look generic or dynamic.

    The patterns are SpamAssassin's generic rDNS rules (CATALOG.md Appendix A), with a static token
    (``static``, ``fix``) suppressing a hit. A heuristic: a hit is a warning, never a failure.
    """
    names = _with_ptr(outbound_ip, reverse_dns)
    evidence(reverse_dns.ptr)
    hits = [(name, m) for name in names if (m := generic_rdns(name)) is not None]
    if hits:
        name, m = hits[0]
        warn(
            f"the PTR name {name} of {outbound_ip} {m}; receivers read such names as dynamic end-user "
            "addresses that should not send mail directly (SpamAssassin 20_dynrdns.cf) and score or "
            "refuse their mail. Give the address a PTR name in the operator's own domain that names the "
            "mail server (mail.example.com), with a matching A record."
        )


# ------------------------------------------------------------------------------------------ DNSBLs
def _zone_state(zone: DnsblZone) -> tuple[str, str] | None:
    """What is wrong with a list's test entries (RFC 5782 §5), or None when they are right:
    (``indeterminate`` | ``refused`` | ``insane``, a sentence)."""
    for answer in (zone.listed_test, zone.unlisted_test):
        if not answer.definite:
            return "indeterminate", answer.problem
    for answer in (zone.listed_test, zone.unlisted_test):
        result = classify(zone.zone, _addresses(answer))
        if result.refused:
            return (
                "refused",
                f"{zone.zone} answered {answer.qname} with {', '.join(result.codes)}: {result.reason}",
            )
    if not zone.listed_test.records:
        state = "NXDOMAIN" if zone.listed_test.nxdomain else "no A record"
        return "insane", (
            f"{zone.zone} does not list its test entry 127.0.0.2 ({zone.listed_test.qname}: {state}), "
            "which every list MUST (RFC 5782 §5): the list is dead, or its name is wrong"
        )
    if zone.unlisted_test.records:
        codes = ", ".join(_addresses(zone.unlisted_test))
        return "insane", (
            f"{zone.zone} lists 127.0.0.1 ({zone.unlisted_test.qname}: {codes}), which no list may (RFC "
            "5782 §5): it answers every question, so its 'listed' means nothing"
        )
    return None


def _consult(zone: str, listing: DnsblListing, zones: dict[str, DnsblZone]) -> Listing | str:
    """What one list says of the address, or why it cannot say (its test entries are wrong, the
    question failed, or the answer is a refusal code, never a listing)."""
    if (z := zones.get(zone)) is not None and (state := _zone_state(z)) is not None:
        see = {"refused": "dnsbl.resolver-usable", "insane": "dnsbl.zone-sane"}.get(state[0])
        return state[1] + (f" (see {see})" if see else "")
    if not listing.definite:
        return listing.problem
    result = classify(zone, listing.addresses)
    if result.refused:
        return f"{zone} gave no verdict on {listing.ip}: {result.reason} (see dnsbl.resolver-usable)"
    return result


def _txt(listing: DnsblListing) -> str:
    if listing.txt is None or not listing.txt.records:
        return ""
    return " (TXT: " + " | ".join(txt_value(r.data) for r in listing.txt.records) + ")"


def _carries_pbl(zone: str) -> bool:
    """A Spamhaus zone whose answers include the PBL (zen, pbl, and their DQS forms)."""
    return is_spamhaus(zone) and any(label in ("zen", "pbl") for label in zone.lower().split("."))


@check(
    "dnsbl.zone-sane",
    refs=["RFC 5782 §5"],
    fix="Remove the list from --mail-dnsbl, or correct its name.",
)
def test_dnsbl_zone_sane(dnsbl_zones: dict[str, DnsblZone]) -> None:
    """Each configured DNSBL zone answers its test entries correctly (alive, not wildcarded).

    ``2.0.0.127.<zone>`` must have an A record and ``1.0.0.127.<zone>`` none (RFC 5782 §5; NXDOMAIN, or
    the rarer NOERROR without an A record, which a list query reads as "not listed" too). A list that
    fails is dead or answers everything, so its verdicts mean nothing: this check and that list's
    results are "could not test" (an error, never a failure of the domain). The IPv4 test entries are
    asked; an IPv6 list's are not (yet). An answer that is a refusal code is dnsbl.resolver-usable's.
    """
    if not dnsbl_zones:
        pytest.skip("no DNSBL is configured (--mail-dnsbl)")
    evidence(*dnsbl_zones.values())
    states = [(name, s) for name, z in dnsbl_zones.items() if (s := _zone_state(z)) is not None]
    if not states:
        return
    sane = [name for name in dnsbl_zones if name not in dict(states)]
    reasons = "; ".join(
        s[1] + (" (see dnsbl.resolver-usable)" if s[0] == "refused" else "") for _, s in states
    )
    fine = f" The other lists ({', '.join(sane)}) answer correctly." if sane else ""
    fix = (
        " Remove the list from --mail-dnsbl or correct its name."
        if any(s[0] == "insane" for _, s in states)
        else ""
    )
    raise Indeterminate(f"could not test against {', '.join(n for n, _ in states)}: {reasons}.{fine}{fix}")


@check(
    "dnsbl.resolver-usable",
    refs=["RFC 5782 §2.1 (A record MUST NOT be used as an IP), §2.3", "Spamhaus error return codes"],
    fix="Query the lists through a resolver of your own (--mail-resolver), not a public or "
    "forwarding one, and within the list's usage terms.",
)
def test_dnsbl_resolver_usable(dnsbl_zones: dict[str, DnsblZone]) -> None:
    """Each DNSBL answers the resolver with list entries, not error codes.

    The test entries' answers are judged: an address outside 127.0.0.0/8 (a resolver that rewrites
    NXDOMAIN, a parked domain) or a Spamhaus error code (127.255.255.252 typing error, .254 public
    resolver, .255 over quota) means the list refuses this resolver. That is "could not test" for that
    list (an error, never "listed"); each address's own answers are judged the same way by dnsbl.listed.
    """
    if not dnsbl_zones:
        pytest.skip("no DNSBL is configured (--mail-dnsbl)")
    evidence(*dnsbl_zones.values())
    states = {name: _zone_state(z) for name, z in dnsbl_zones.items()}
    refused = [s[1] for s in states.values() if s is not None and s[0] == "refused"]
    if refused:
        text = "; ".join(refused)
        fix = (
            ""
            if "--mail-resolver" in text
            else " Use a resolver of your own (--mail-resolver), not a public one."
        )
        raise Indeterminate(
            f"could not test: {text}. Such answers are no list entries (RFC 5782 §2.1): these lists "
            f"cannot be consulted through this resolver.{fix}"
        )
    unknown = [s[1] for s in states.values() if s is not None and s[0] == "indeterminate"]
    if unknown:
        raise Indeterminate(f"could not test: {unknown[0]}")


@check(
    "dnsbl.listed",
    refs=["RFC 5782 §2.1, §2.3, §2.4", "Spamhaus zones doc"],
    fix="Find and stop the cause of the listing (a compromised account, an open relay, a spam "
    "source), then ask the list to delist the address (its TXT record names the way).",
)
def test_dnsbl_listed(
    outbound_ip: OutboundIp, dnsbl_listings: dict[str, DnsblListing], dnsbl_zones: dict[str, DnsblZone]
) -> None:
    """No outbound or MX IP address is listed on a configured DNSBL.

    A spam-source listing (any list's 127/8 answer; for Spamhaus the SBL, CSS, XBL, DROP and botnet
    codes) fails; a policy listing only (Spamhaus PBL, 127.0.0.10/.11) warns, and dynip.pbl judges it.
    A list whose test entries are wrong (dnsbl.zone-sane), whose answer is a refusal code
    (dnsbl.resolver-usable) or whose question failed cannot say: "could not test", never "listed" and
    never a pass, unless another list's definite listing fails the check anyway.
    """
    if not dnsbl_listings:
        pytest.skip("no DNSBL is configured (--mail-dnsbl)")
    for listing in dnsbl_listings.values():
        evidence(listing)
    results = {zone: _consult(zone, listing, dnsbl_zones) for zone, listing in dnsbl_listings.items()}
    unknown = [why for why in results.values() if isinstance(why, str)]
    listed = [(z, r) for z, r in results.items() if isinstance(r, Listing) and r.listed]
    spam = [f"{z}: {r.reason}{_txt(dnsbl_listings[z])}" for z, r in listed if r.spam_codes]
    untested = f" (and could not test: {'; '.join(unknown)})" if unknown else ""
    assert not spam, (
        f"{outbound_ip} is listed as a spam source: {'; '.join(spam)}{untested}. Receivers that use these "
        "lists refuse or junk its mail (RFC 5782 §2.1). Find and stop the cause (a compromised account, "
        "an open relay, a spam source), then ask the list to delist the address (its TXT record names "
        "the way)."
    )
    policy = [f"{z}: {r.reason}" for z, r in listed]
    if unknown:
        also = f" ({outbound_ip} is also listed: {'; '.join(policy)}; see dynip.pbl)" if policy else ""
        raise Indeterminate(f"could not test: {'; '.join(unknown)}{also}")
    if policy:
        warn(
            f"{outbound_ip} is on a policy list: {'; '.join(policy)}. That is not a spam listing, but "
            "receivers that use these lists refuse direct mail from it (see dynip.pbl). Send through a "
            "server on a static, non-end-user address, or ask the address's ISP to remove it from the "
            "policy list."
        )


@check(
    "dynip.pbl",
    refs=["Spamhaus zone return codes", "Spamhaus PBL definition"],
    fix="Send mail from an address outside end-user ranges (a relay at the provider), or, if the "
    "address is a static server's, remove it from the PBL at spamhaus.org.",
)
def test_dynip_pbl(
    outbound_ip: OutboundIp, dnsbl_listings: dict[str, DnsblListing], dnsbl_zones: dict[str, DnsblZone]
) -> None:
    """No outbound IP address is listed in the Spamhaus PBL (end-user ranges).

    Asked of a configured Spamhaus zone that carries the PBL (zen or pbl, also as DQS zones): the
    codes 127.0.0.10 (ISP-maintained) and 127.0.0.11 (Spamhaus-maintained) fail. Without such a zone in
    --mail-dnsbl the check skips; a zone that cannot say (dnsbl.zone-sane, dnsbl.resolver-usable) is
    "could not test".
    """
    zones = [z for z in dnsbl_listings if _carries_pbl(z)]
    if not zones:
        pytest.skip(
            "no Spamhaus zone that carries the PBL (zen.spamhaus.org, pbl.spamhaus.org) is configured"
        )
    for z in zones:
        evidence(dnsbl_listings[z])
    results = {z: _consult(z, dnsbl_listings[z], dnsbl_zones) for z in zones}
    pbl = [(z, r) for z, r in results.items() if isinstance(r, Listing) and r.policy_codes]
    assert not pbl, (
        f"{outbound_ip} is in the Spamhaus PBL ({'; '.join(f'{z}: {r.reason}' for z, r in pbl)}): its range "
        "is declared end-user space that should not deliver unauthenticated mail directly to mail "
        "servers, and receivers using Spamhaus refuse its mail. Send from an address outside end-user "
        "ranges (a relay at the provider), or, if it is a static server's address, remove it from the "
        "PBL at spamhaus.org."
    )
    unknown = [why for why in results.values() if isinstance(why, str)]
    if unknown:
        raise Indeterminate(f"could not test: {'; '.join(unknown)}")


# ------------------------------------------------------------------------------------------- IDENT
@check(
    "ident.port113",
    refs=[
        "RFC 1413 §2 (server on TCP 113; clients wait ≥30 s), §3 (queries only for connections between "
        "the two hosts), §4–§5 (query format, USERID/ERROR replies)"
    ],
    fix="Make the packet filter reject TCP port 113 (iptables -j REJECT --reject-with tcp-reset) "
    "instead of dropping it, or run an IDENT server.",
)
def test_ident_port113(outbound_ip: OutboundIp, ident_probe: IdentProbe) -> None:
    """Port 113 (IDENT) answers or rejects connections, never silently drops them.

    An open port that answers a query (or closes) passes, a refused connection passes ("REJECT"), a
    connection attempt that gets no answer warns ("DROP": receivers that ask IDENT wait 30 s or more,
    RFC 1413 §2, on every connection), and so does an open port that never answers the query (an IDENT
    "black hole": the same wait as behind a DROP). An address this machine cannot reach at all is
    "could not test" (an ICMP "prohibited" reject looks the same from here).
    """
    p = ident_probe
    evidence(p)
    if p.state == "open" and _IDENT_SILENT in p.detail:
        warn(
            f"port 113 (IDENT) of {outbound_ip} accepts connections but never answers a query "
            f"({p.detail.strip('()')}): receivers that ask IDENT wait 30 s or more for the reply "
            "(RFC 1413 §2), as behind a DROP rule, delaying every delivery from it. Answer queries (run "
            "a working IDENT server), or make the packet filter reject port 113 (iptables -j REJECT "
            "--reject-with tcp-reset)."
        )
    if p.state == "open":
        reply = p.detail
        if reply and not reply.startswith("("):
            try:
                parsed = parse_ident_reply(reply.encode("utf-8", "replace"))
            except IdentError as exc:
                note(f"port 113 of {outbound_ip} is open; its reply is not an RFC 1413 reply ({exc})")
            else:
                note(f"port 113 of {outbound_ip} is open and answers IDENT ({parsed.kind})")
        else:
            note(f"port 113 of {outbound_ip} is open {reply}".rstrip())
        return
    if p.state == "refused":
        note(f"port 113 of {outbound_ip} refuses connections (REJECT)")
        return
    if p.state == "timeout":
        warn(
            f"port 113 (IDENT) of {outbound_ip} silently drops connections ({p.detail or 'no answer'}): "
            "receivers that ask IDENT wait 30 s or more before giving up (RFC 1413 §2), delaying every "
            "delivery from it. Make the packet filter reject port 113 (iptables -j REJECT --reject-with "
            "tcp-reset) instead of dropping it, or run an IDENT server."
        )
    raise Indeterminate(f"could not test: {p.problem or p.detail or p.state}")
