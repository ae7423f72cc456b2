"""Checks are pure functions over facts: branches no lab zone can produce, tested on constructed facts.

(dnspython and NSD both refuse a CNAME beside other data, so a delegated alias cannot be served; a
zone with eight name servers or one without IPv4 servers would need as many lab addresses.)
"""

from __future__ import annotations

import dataclasses

import pytest

from mailspec.checks.test_dns import test_dns_apex_no_cname as apex_no_cname
from mailspec.checks.test_dns import test_dns_ns_authoritative as ns_authoritative
from mailspec.checks.test_dns import test_dns_ns_count as ns_count
from mailspec.facts import DnsAnswer, DomainDns, NameServer, NsAddress, Record, ZoneProbe
from mailspec.outcome import Finding, current, reset
from mailspec.survey.dns import UNREACHABLE

D = "example.com"


def ans(
    qname: str,
    rdtype: str,
    *answer: Record,
    authority: tuple[Record, ...] = (),
    rcode: str = "NOERROR",
    aa: bool = False,
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=rcode, aa=aa, answer=answer, authority=authority)


SOA = Record(D, 3600, "SOA", "ns1.example.com. hostmaster.example.com. 1 14400 3600 1209600 3600")


def ns_server(name: str, v4: str | None, v6: str | None = None) -> NameServer:
    a = ans(name, "A", *([Record(name, 60, "A", v4)] if v4 else []))
    aaaa = ans(name, "AAAA", *([Record(name, 60, "AAAA", v6)] if v6 else []))
    return NameServer(name, a, aaaa)


def healthy(server: NameServer, ip: str) -> NsAddress:
    return NsAddress(
        server.name,
        ip,
        ans(D, "SOA", SOA, aa=True),
        ans(".", "SOA", rcode="REFUSED"),
        ans(D, "AXFR", rcode="REFUSED"),
    )


def probe(
    servers: list[NameServer], *special: NsAddress, alias_referrals: tuple[DnsAnswer, ...] = ()
) -> ZoneProbe:
    """What the servers said when asked directly: healthy answers, unless ``special`` says otherwise."""
    names = [s.name for s in servers]
    referral = ans(D, "NS", authority=tuple(Record(D, 3600, "NS", n + ".") for n in names))
    given = {(x.name, x.ip): x for x in special}
    addresses = tuple(given.get((s.name, ip), healthy(s, ip)) for s in servers for ip in s.ips)
    return ZoneProbe(D, D, addresses, parent_ns=(referral,), alias_referrals=alias_referrals)


def domain(servers: list[NameServer], *, soa: DnsAnswer | None = None, **kw: object) -> DomainDns:
    names = [s.name for s in servers]
    ns = ans(D, "NS", *(Record(D, 3600, "NS", n + ".") for n in names))
    return DomainDns(
        D,
        soa=soa or ans(D, "SOA", SOA),
        ns=ns,
        mx=ans(D, "MX"),
        a=ans(D, "A"),
        aaaa=ans(D, "AAAA"),
        txt=ans(D, "TXT"),
        zone=D,
        nameservers=tuple(servers),
        parent_zone="com",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


def test_a_delegated_alias_fails() -> None:
    alias = ans(
        D,
        "SOA",
        Record(D, 300, "CNAME", "hosting.example.net."),
        Record("hosting.example.net", 300, "SOA", "ns.example.net. h.example.net. 1 2 3 4 5"),
    )
    referral = ans(D, "NS", authority=(Record(D, 3600, "NS", "ns1.example.com."),))
    servers = [ns_server("ns1.example.com", "192.0.2.1")]
    with pytest.raises(pytest.fail.Exception, match=r"is delegated .* and is also a CNAME"):
        apex_no_cname(domain(servers, soa=alias), probe(servers, alias_referrals=(referral,)))


def test_an_undelegated_alias_warns() -> None:
    alias = ans(D, "SOA", Record(D, 300, "CNAME", "hosting.example.net."))
    servers = [ns_server("ns1.example.com", "192.0.2.1")]
    referrals = (ans(D, "NS", authority=(Record("com", 900, "SOA", "a. b. 1 2 3 4 5"),)),)
    with pytest.raises(Finding, match=r"is a CNAME for hosting\.example\.net"):
        apex_no_cname(domain(servers, soa=alias), probe(servers, alias_referrals=referrals))


def test_more_than_seven_name_servers_warn() -> None:
    servers = [ns_server(f"ns{i}.example.com", f"192.0.2.{i}") for i in range(1, 9)]
    with pytest.raises(Finding, match="8 name servers"):
        ns_count(domain(servers), probe(servers))


def test_fewer_than_two_ipv4_name_servers_warn() -> None:
    servers = [ns_server("ns1.example.com", "192.0.2.1"), ns_server("ns2.example.com", None, "2001:db8::2")]
    with pytest.raises(Finding, match="only 1 name server"):
        ns_count(domain(servers), probe(servers))


def test_two_good_name_servers_pass_with_their_evidence() -> None:
    servers = [ns_server("ns1.example.com", "192.0.2.1"), ns_server("ns2.example.com", "198.51.100.2")]
    ns_count(domain(servers), probe(servers))
    assert "example.com. 3600 IN NS ns2.example.com." in current().evidence
    assert current().notes == []


def test_an_unroutable_name_server_address_is_skipped_not_lame() -> None:
    v6 = ns_server("ns2.example.com", None, "2001:db8::2")
    base = healthy(v6, "2001:db8::2")
    unreachable = NsAddress(
        v6.name, "2001:db8::2", DnsAnswer(D, "SOA", "[2001:db8::2]:53", error=f"{UNREACHABLE}: no route"),
        base.recursion, base.axfr,
    )  # fmt: skip
    servers = [ns_server("ns1.example.com", "192.0.2.1"), v6]
    with pytest.raises(pytest.skip.Exception, match="cannot be reached from this machine"):
        ns_authoritative(domain(servers), probe(servers, unreachable), v6, unreachable)


def test_one_address_is_enough_for_an_mx_to_resolve() -> None:
    from mailspec.checks.test_mx import test_mx_target_resolves as resolves
    from mailspec.facts import MxTarget

    host = "mx1.example.com"
    target = MxTarget(
        D,
        host,
        10,
        ans(host, "A", Record(host, 60, "A", "192.0.2.25")),
        DnsAnswer(host, "AAAA", "test", error="no answer within 1 s (timeout)"),
    )
    resolves(domain([ns_server("ns1.example.com", "192.0.2.1")]), target)  # no error: A decides
    assert "mx1.example.com. 60 IN A 192.0.2.25" in current().evidence


def _silent(address: NsAddress) -> NsAddress:
    silence = DnsAnswer(D, "SOA", address.ip, error="no answer within 1 s, asked twice (timeout)")
    return NsAddress(address.name, address.ip, silence, address.recursion, address.axfr)


def test_a_silent_ipv6_server_is_not_lame_when_no_ipv6_server_answered() -> None:
    from mailspec.errors import Indeterminate

    v6 = ns_server("ns2.example.com", None, "2001:db8::2")
    silent = _silent(healthy(v6, "2001:db8::2"))
    servers = [ns_server("ns1.example.com", "192.0.2.1"), v6]
    with pytest.raises(Indeterminate, match="no other IPv6 server"):
        ns_authoritative(domain(servers), probe(servers, silent), v6, silent)


def test_a_silent_server_is_lame_when_a_peer_of_its_family_answered() -> None:
    v4 = ns_server("ns2.example.com", "198.51.100.2")
    silent = _silent(healthy(v4, "198.51.100.2"))
    servers = [ns_server("ns1.example.com", "192.0.2.1"), v4]
    with pytest.raises(pytest.fail.Exception, match="lame delegation"):
        ns_authoritative(domain(servers), probe(servers, silent), v4, silent)


def test_an_alias_whose_parent_could_not_be_asked_is_indeterminate() -> None:
    from mailspec.errors import Indeterminate

    alias = ans(D, "SOA", Record(D, 300, "CNAME", "hosting.example.net."))
    silent = DnsAnswer(D, "NS", "192.0.2.53:53", error="no answer within 1 s, asked twice (timeout)")
    servers = [ns_server("ns1.example.com", "192.0.2.1")]
    with pytest.raises(Indeterminate, match="whether it is also delegated"):
        apex_no_cname(domain(servers, soa=alias), probe(servers, alias_referrals=(silent,)))


def test_spf_is_recognised_whatever_its_case() -> None:
    facts = domain([ns_server("ns1.example.com", "192.0.2.1")])
    facts = dataclasses.replace(facts, txt=ans(D, "TXT", Record(D, 60, "TXT", '"V=SPF1 -all"')))
    assert facts.spf_records == ["V=SPF1 -all"]


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("192.0.2.10", False),
        ("10.1.2.3", False),
        ("100.64.0.1", False),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("198.18.0.1", False),
        ("203.0.113.5", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::25", False),
        ("2001:db8::25", False),
        ("::ffff:8.8.8.8", False),
        ("fec0::1", False),
        ("64:ff9b:1::1", False),
        ("3fff::25", False),
        ("8.8.8.8", True),
        ("192.0.0.9", True),
        ("2a00:1450:4001::1b", True),
        ("2001:4:112::1", True),
    ],
)
def test_public_addresses(ip: str, public: bool) -> None:
    from mailspec.records.addresses import is_public_address

    assert is_public_address(ip) is public
