"""The DNS survey of one mail domain: every question, as concurrently as their dependencies allow.

The longest chain of dependent questions is three round trips: (SOA, NS, MX, A, AAAA, TXT of the
domain, and NS of its parent name) -> (addresses of name servers, MX targets and parent servers) ->
(direct questions to each name server and parent server).
"""

from __future__ import annotations

import asyncio
import zlib

from mailspec.facts import DnsAnswer, DomainDns, MxTarget, NameServer, NsAddress, Record
from mailspec.survey.dns import DnsClient

__all__ = ["survey_domain"]

#: An out-of-zone question for the recursion probe: the root SOA, which only a recursive server answers
#: with RA=1 (an authoritative server refuses it, or answers it without RA).
RECURSION_PROBE = (".", "SOA")


#: how many of the parent zone's servers must answer for the delegation, and how many more may be tried
PARENT_SERVERS = 2
MAX_EXTRA_PARENT_SERVERS = 4


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


async def _addresses(c: DnsClient, name: str) -> tuple[DnsAnswer, DnsAnswer]:
    a, aaaa = await asyncio.gather(c.query(name, "A"), c.query(name, "AAAA"))
    return a, aaaa


async def _nameserver(c: DnsClient, name: str, zone: str) -> NameServer:
    a, aaaa = await _addresses(c, name)
    ips = [r.data for r in a.records + aaaa.records]

    async def one(ip: str) -> NsAddress:
        soa, rec, axfr = await asyncio.gather(
            c.query_at(ip, zone, "SOA"),
            c.query_at(ip, RECURSION_PROBE[0], RECURSION_PROBE[1], rd=True),
            c.axfr_at(ip, zone),
        )
        return NsAddress(ip, soa, rec, axfr)

    return NameServer(name, a, aaaa, tuple(await asyncio.gather(*(one(ip) for ip in ips))))


def _spread(ips: list[str], key: str) -> list[str]:
    """The addresses in the order to ask them: IPv4 first (the family every probe has), each family
    rotated by the zone's name, so that a survey of many domains spreads over a parent's servers."""
    out: list[str] = []
    for family in ([ip for ip in ips if ":" not in ip], [ip for ip in ips if ":" in ip]):
        start = zlib.crc32(key.encode()) % len(family) if family else 0
        out += family[start:] + family[:start]
    return out


async def _parent_referrals(c: DnsClient, zone: str, parent_ns: DnsAnswer) -> tuple[DnsAnswer, ...]:
    """Ask servers of the parent zone, directly and non-recursively, for the zone's NS.

    Two definite answers are enough to learn the delegation (a TLD has a dozen servers, and a survey of
    many domains must not ask every one of them each time); a server that does not answer, or cannot
    be reached from here (an IPv6 address from an IPv4-only probe), is replaced by the next one.
    """
    hosts = sorted({r.target for r in parent_ns.records if r.rdtype == "NS"})
    addrs = await asyncio.gather(*(_addresses(c, h) for h in hosts))
    ips = _spread(sorted({r.data for a, aaaa in addrs for r in a.records + aaaa.records}), zone)
    answers = list(await asyncio.gather(*(c.query_at(ip, zone, "NS") for ip in ips[:PARENT_SERVERS])))
    for ip in ips[PARENT_SERVERS : PARENT_SERVERS + MAX_EXTRA_PARENT_SERVERS]:
        if sum(a.definite for a in answers) >= PARENT_SERVERS:
            break
        answers.append(await c.query_at(ip, zone, "NS"))
    return tuple(answers)


async def _enclosing_zone(c: DnsClient, name: str) -> tuple[str | None, DnsAnswer]:
    """The zone that holds ``name`` and its NS: asked by name, then by the SOA the answer carries."""
    ns = await c.query(name, "NS")
    if ns.records or name == "." or not ns.definite:
        return (name if ns.records else None), ns
    zone = _zone_of(ns)  # NODATA: the SOA in the authority section names the enclosing zone
    if zone is None:
        return None, ns
    return zone, await c.query(zone, "NS")


async def _mx_target(c: DnsClient, domain: str, rec: Record) -> MxTarget:
    pref_text, _, _ = rec.data.partition(" ")
    target = rec.target
    if target == "":  # null MX: nothing to look up
        return MxTarget(domain, "", int(pref_text))
    a, aaaa = await _addresses(c, target)
    return MxTarget(domain, target, int(pref_text), a, aaaa)


async def survey_domain(c: DnsClient, domain: str) -> DomainDns:
    """Survey the DNS of ``domain`` (a normalised name) and return what was seen."""
    parent = _parent_name(domain)
    soa_t = asyncio.ensure_future(c.query(domain, "SOA"))
    mx_t = asyncio.ensure_future(c.query(domain, "MX"))
    a_t = asyncio.ensure_future(c.query(domain, "A"))
    aaaa_t = asyncio.ensure_future(c.query(domain, "AAAA"))
    txt_t = asyncio.ensure_future(c.query(domain, "TXT"))
    # speculative: the zone is usually the domain itself, and its parent usually the parent name
    ns_guess_t = asyncio.ensure_future(c.query(domain, "NS"))
    parent_ns_guess_t = asyncio.ensure_future(c.query(parent, "NS"))

    async def zone_part() -> tuple[
        str | None, DnsAnswer, DnsAnswer | None, tuple[NameServer, ...], str | None, tuple[DnsAnswer, ...]
    ]:
        soa = await soa_t
        if not soa.definite or soa.nxdomain:
            return None, await ns_guess_t, None, (), None, ()
        if any(r.rdtype == "CNAME" and r.name == domain for r in soa.answer):
            # an alias: its own zone is the one that holds the CNAME, not the target's
            zone, _ = await _enclosing_zone(c, parent)
        else:
            zone = _zone_of(soa)
        if zone is None:
            return None, await ns_guess_t, None, (), None, ()
        zone_soa, ns = await asyncio.gather(c.query(zone, "SOA"), c.query(zone, "NS"))
        parent_zone, parent_ns = await _enclosing_zone(c, _parent_name(zone))
        hosts = sorted({r.target for r in ns.records if r.rdtype == "NS"})
        servers, referrals = await asyncio.gather(
            asyncio.gather(*(_nameserver(c, h, zone) for h in hosts)),
            _parent_referrals(c, zone, parent_ns) if parent_ns.records else _none(),
        )
        return zone, ns, zone_soa, tuple(servers), parent_zone, referrals

    async def mx_part() -> tuple[MxTarget, ...]:
        mx = await mx_t
        if not mx.definite or mx.nxdomain:
            return ()
        if mx.records:
            return tuple(await asyncio.gather(*(_mx_target(c, domain, r) for r in mx.records)))
        a, aaaa = await asyncio.gather(a_t, aaaa_t)  # implicit MX (RFC 5321 §5.1)
        if a.records or aaaa.records:
            return (MxTarget(domain, domain, 0, a, aaaa, implicit=True),)
        return ()

    async def alias_part() -> tuple[DnsAnswer, ...]:
        # a mail domain that is an alias: is it also delegated (a CNAME at a zone apex)? Ask the servers
        # of the zone that would delegate it
        soa = await soa_t
        if not any(r.rdtype == "CNAME" and r.name == domain for r in soa.answer):
            return ()
        _, holder_ns = await _enclosing_zone(c, parent)
        return await _parent_referrals(c, domain, holder_ns) if holder_ns.records else (holder_ns,)

    (zone, ns, zone_soa, servers, parent_zone, referrals), targets, alias_referrals = await asyncio.gather(
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
        parent_ns=referrals,
        mx_targets=targets,
        alias_referrals=alias_referrals,
    )


async def _none() -> tuple[DnsAnswer, ...]:
    return ()
