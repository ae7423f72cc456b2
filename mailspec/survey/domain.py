"""The DNS survey of one mail domain, in two facts, each as concurrent as its dependencies allow.

:func:`survey_domain` asks the resolvers (a chain of at most three dependent rounds for a
well-configured domain: the domain's own records -> the zone's NS and the MX hosts' addresses -> the
parent zone), and :func:`probe_zone` asks the zone's name servers and its parent's directly. Each is
bounded by a budget of a few timeouts, whatever its servers do, and probes no more addresses than
:meth:`~mailspec.facts.DomainDns.probed_addresses` allows; an address that
is not public is never asked unless the user consented (a waiver of ``dns.ns.public-address``), and
one that is no server at all (0.0.0.0, multicast: :func:`~mailspec.records.addresses.never_asked`) never.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import replace

from mailspec.facts.dns import DnsAnswer, DomainDns, MxTarget, NameServer, NsAddress, Record, ZoneProbe
from mailspec.records.addresses import is_public_address, never_asked
from mailspec.survey.dns import Budget, DnsClient

__all__ = ["Consent", "probe_zone", "survey_domain"]

#: An out-of-zone question for the recursion probe: the root SOA, which only a recursive server answers
#: with RA=1 (an authoritative server refuses it, or answers it without RA).
RECURSION_PROBE = (".", "SOA")

#: how many of the parent zone's servers must answer for the delegation, and how many more may be tried
PARENT_SERVERS = 2
MAX_EXTRA_PARENT_SERVERS = 4

#: each fact's budget, in timeouts: the dependent rounds of a healthy domain, and one to spare
BUDGET_TIMEOUTS = 3

#: (domain, name server name, address) -> whether the user consented to asking a non-public address
Consent = Callable[[str, str, str], bool]


def _parent_name(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else "."


def _zone_of(answer: DnsAnswer) -> str | None:
    """The apex of the zone that answered: the owner of the SOA in the answer or authority section."""
    for rec in answer.records:
        if rec.rdtype == "SOA":
            return rec.name
    pool = [answer, *answer.followed]
    for a in reversed(pool):
        for rec in a.authority:
            if rec.rdtype == "SOA":
                return rec.name
    return None


async def _addresses(c: DnsClient, name: str, b: Budget) -> tuple[DnsAnswer, DnsAnswer]:
    a, aaaa = await asyncio.gather(c.query(name, "A", b), c.query(name, "AAAA", b))
    return a, aaaa


async def _enclosing_zone(c: DnsClient, name: str, b: Budget) -> tuple[str | None, DnsAnswer]:
    """The zone that holds ``name`` and its NS: asked by name, then by the SOA the answer carries."""
    ns = await c.query(name, "NS", b)
    if ns.records or name == "." or not ns.definite:
        return (name if ns.records else None), ns
    zone = _zone_of(ns)  # NODATA: the SOA in the authority section names the enclosing zone
    if zone is None:
        return None, ns
    return zone, await c.query(zone, "NS", b)


async def _parent_zone(c: DnsClient, name: str, b: Budget, warm: bool) -> tuple[str | None, DnsAnswer]:
    zone, ns = await _enclosing_zone(c, name, b)
    if warm:
        for host in sorted({r.target for r in ns.records if r.rdtype == "NS"}):
            c.warm(host, "A")
            c.warm(host, "AAAA")
    return zone, ns


async def _mx_target(c: DnsClient, domain: str, rec: Record, b: Budget) -> MxTarget:
    pref_text = rec.data.split()[0] if rec.data.split() else "0"
    pref = int(pref_text) if pref_text.isdigit() else 0
    target = rec.target
    if target == "":
        # the root: a null MX at preference 0 (RFC 7505), else an MX that names no host at all
        return MxTarget(domain, "" if pref == 0 else ".", pref)
    a, aaaa = await _addresses(c, target, b)
    return MxTarget(domain, target, pref, a, aaaa)


async def _nameserver(c: DnsClient, name: str, b: Budget) -> NameServer:
    a, aaaa = await _addresses(c, name, b)
    return NameServer(name, a, aaaa)


async def survey_domain(c: DnsClient, domain: str, *, warm_parent: bool = False) -> DomainDns:
    """What the resolvers say of ``domain`` (a normalised name).

    ``warm_parent``: the zone probe of this domain is wanted too; start resolving the parent zone's
    name servers as soon as they are known, so that the probe asks them a round sooner."""
    b = Budget(c.timeout * BUDGET_TIMEOUTS, domain)
    parent = _parent_name(domain)
    soa_t = asyncio.ensure_future(c.query(domain, "SOA", b))
    mx_t = asyncio.ensure_future(c.query(domain, "MX", b))
    a_t = asyncio.ensure_future(c.query(domain, "A", b))
    aaaa_t = asyncio.ensure_future(c.query(domain, "AAAA", b))
    txt_t = asyncio.ensure_future(c.query(domain, "TXT", b))
    # speculative: the zone is usually the domain itself, and its parent usually the parent name
    ns_guess_t = asyncio.ensure_future(c.query(domain, "NS", b))
    parent_ns_guess_t = asyncio.ensure_future(c.query(parent, "NS", b))

    async def zone_part() -> tuple[
        str | None, DnsAnswer, DnsAnswer | None, tuple[NameServer, ...], str | None, DnsAnswer | None
    ]:
        soa = await soa_t
        if not soa.definite or soa.nxdomain:
            return None, await ns_guess_t, None, (), None, None
        if any(r.rdtype == "CNAME" and r.name == domain for r in soa.answer):
            # an alias: its own zone is the one that holds the CNAME, not the target's
            zone, _ = await _enclosing_zone(c, parent, b)
        else:
            zone = _zone_of(soa)
        if zone is None:
            return None, await ns_guess_t, None, (), None, None
        zone_soa, ns = await asyncio.gather(c.query(zone, "SOA", b), c.query(zone, "NS", b))
        hosts = sorted({r.target for r in ns.records if r.rdtype == "NS"})
        servers, (parent_zone, parent_ns) = await asyncio.gather(
            asyncio.gather(*(_nameserver(c, h, b) for h in hosts)),
            _parent_zone(c, _parent_name(zone), b, warm_parent),
        )
        return zone, ns, zone_soa, tuple(servers), parent_zone, parent_ns

    async def mx_part() -> tuple[MxTarget, ...]:
        mx = await mx_t
        if not mx.definite or mx.nxdomain:
            return ()
        if mx.records:
            return tuple(await asyncio.gather(*(_mx_target(c, domain, r, b) for r in mx.records)))
        a, aaaa = await asyncio.gather(a_t, aaaa_t)  # implicit MX (RFC 5321 §5.1)
        if a.records or aaaa.records:
            return (MxTarget(domain, domain, 0, a, aaaa, implicit=True),)
        return ()

    async def alias_part() -> DnsAnswer | None:
        soa = await soa_t
        if not any(r.rdtype == "CNAME" and r.name == domain for r in soa.answer):
            return None
        _, holder_ns = await _enclosing_zone(c, parent, b)
        return holder_ns

    (zone, ns, zone_soa, servers, parent_zone, parent_ns), targets, holder = await asyncio.gather(
        zone_part(), mx_part(), alias_part()
    )
    await parent_ns_guess_t  # already answered, or shared with zone_part
    return DomainDns(
        domain=domain,
        soa=await soa_t,
        ns=ns,
        mx=await mx_t,
        a=await a_t,
        aaaa=await aaaa_t,
        txt=await txt_t,
        zone=zone,
        zone_soa_answer=zone_soa,
        nameservers=servers,
        parent_zone=parent_zone,
        parent_zone_ns=parent_ns,
        mx_targets=targets,
        alias_holder_ns=holder,
    )


def _spread(ips: list[str], key: str) -> list[str]:
    """The addresses in the order to ask them: IPv4 first (the family every probe has), each family
    rotated by the zone's name, so that a survey of many domains spreads over a parent's servers."""
    out: list[str] = []
    for family in ([ip for ip in ips if ":" not in ip], [ip for ip in ips if ":" in ip]):
        start = zlib.crc32(key.encode()) % len(family) if family else 0
        out += family[start:] + family[:start]
    return out


def not_public(ip: str) -> str:
    return f"not asked: {ip} is not a public address (see dns.ns.public-address)"


async def _parent_referrals(
    c: DnsClient, domain: str, name: str, parent_ns: DnsAnswer, consent: Consent, b: Budget
) -> tuple[DnsAnswer, ...]:
    """Ask servers of the parent zone, directly and non-recursively, for the NS of ``name``.

    Two definite answers are enough to learn the delegation (a TLD has a dozen servers, and a survey of
    many domains must not ask every one of them each time); a server that does not answer, or cannot
    be reached from here (an IPv6 address from an IPv4-only probe), is replaced by the next one.
    """
    hosts = sorted({r.target for r in parent_ns.records if r.rdtype == "NS"})
    addrs = await asyncio.gather(*(_addresses(c, h, b) for h in hosts))
    by_ip = {r.data: h for h, (a, aaaa) in zip(hosts, addrs, strict=True) for r in a.records + aaaa.records}
    ips = _spread(sorted(by_ip), name)
    allowed = [
        ip for ip in ips if not never_asked(ip) and (is_public_address(ip) or consent(domain, by_ip[ip], ip))
    ]
    if ips and not allowed:
        return (DnsAnswer(name, "NS", ips[0], error=never_asked(ips[0]) or not_public(ips[0])),)
    answers = [
        _about(name, a)
        for a in await asyncio.gather(
            *(c.query_at(ip, name, "NS", budget=b) for ip in allowed[:PARENT_SERVERS])
        )
    ]
    for ip in allowed[PARENT_SERVERS : PARENT_SERVERS + MAX_EXTRA_PARENT_SERVERS]:
        if sum(a.definite for a in answers) >= PARENT_SERVERS:
            break
        answers.append(_about(name, await c.query_at(ip, name, "NS", budget=b)))
    return tuple(answers)


def _about(name: str, ans: DnsAnswer) -> DnsAnswer:
    """A parent server's reply says something of ``name`` only as a referral or answer naming its NS,
    or as an authoritative "no such delegation" (AA: NXDOMAIN, or NODATA); anything else (an upward
    referral, a non-authoritative empty reply) is not an answer, so that the next server is asked."""
    if not ans.definite or ans.aa:
        return ans
    if any(r.rdtype == "NS" and r.name == name for r in ans.answer + ans.authority):
        return ans
    return replace(
        ans,
        error=f"{ans.rcode} without authority and without NS for {name}: a referral elsewhere, not an answer",
    )


async def probe_zone(c: DnsClient, d: DomainDns, consent: Consent) -> ZoneProbe:
    """Ask the zone's name servers (and its parent's) directly about the zone of ``d``."""
    b = Budget(c.timeout * BUDGET_TIMEOUTS, f"the name servers of {d.domain}")
    zone = d.zone
    if zone is None:
        return ZoneProbe(d.domain, None)
    chosen, _ = d.probed_addresses()

    async def one(name: str, ip: str) -> NsAddress:
        if why := never_asked(ip):  # no server at all (0.0.0.0 is this machine): never, waiver or not
            return NsAddress.unasked(name, ip, why)
        if not (is_public_address(ip) or consent(d.domain, name, ip)):
            return NsAddress.unasked(name, ip, not_public(ip))
        soa, rec, axfr = await asyncio.gather(
            c.query_at(ip, zone, "SOA", budget=b),
            c.query_at(ip, RECURSION_PROBE[0], RECURSION_PROBE[1], rd=True, budget=b),
            c.axfr_at(ip, zone, budget=b),
        )
        return NsAddress(name, ip, soa, rec, axfr)

    async def none() -> tuple[DnsAnswer, ...]:
        return ()

    addresses, parent_ns, alias_referrals = await asyncio.gather(
        asyncio.gather(*(one(name, ip) for name, ip in chosen)),
        _parent_referrals(c, d.domain, zone, d.parent_zone_ns, consent, b)
        if d.parent_zone_ns is not None and d.parent_zone_ns.records
        else none(),
        _alias_referrals(c, d, consent, b),
    )
    return ZoneProbe(
        d.domain,
        zone,
        addresses=tuple(addresses),
        parent_ns=parent_ns,
        alias_referrals=alias_referrals,
    )


async def _alias_referrals(c: DnsClient, d: DomainDns, consent: Consent, b: Budget) -> tuple[DnsAnswer, ...]:
    # a mail domain that is an alias: is it also delegated (a CNAME at a zone apex)? Ask the servers
    # of the zone that would delegate it
    holder = d.alias_holder_ns
    if holder is None:
        return ()
    if not holder.records:
        return (holder,)
    return await _parent_referrals(c, d.domain, d.domain, holder, consent, b)
