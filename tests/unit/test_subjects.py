"""Subject kinds: how each is enumerated, how its test ids read, which kind a test is per."""

from __future__ import annotations

import pytest

from mailspec.distribute import domain_of_nodeid
from mailspec.facts import DnsAnswer, DomainDns, MxTarget, Record, decode, encode
from mailspec.settings import Settings
from mailspec.subjects import BY_NAME, KINDS, Subject, SubjectKindError, kind_for, subjects_of

D = "example.com"


def ans(
    qname: str, rdtype: str, *records: Record, rcode: str = "NOERROR", error: str | None = None
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=None if error else rcode, error=error, answer=records)


def domain(*targets: MxTarget) -> DomainDns:
    mx = ans(D, "MX", *(Record(D, 60, "MX", f"{t.preference} {t.name}.") for t in targets))
    return DomainDns(
        D, soa=ans(D, "SOA"), ns=ans(D, "NS"), mx=mx, a=ans(D, "A"), aaaa=ans(D, "AAAA"), txt=ans(D, "TXT"),
        zone=D, mx_targets=targets,
    )  # fmt: skip


def servfailing(name: str, pref: int) -> MxTarget:
    return MxTarget(D, name, pref, ans(name, "A", rcode="SERVFAIL"), ans(name, "AAAA", rcode="SERVFAIL"))


def test_two_error_subjects_of_one_domain_never_share_an_id() -> None:
    d = domain(servfailing("mx1.example.com", 10), servfailing("mx2.example.com", 20))
    subjects = subjects_of("mx_ip", Settings(domains=(D,)), D, d)
    assert [s.error is not None for s in subjects] == [True, True]
    ids = [s.id for s in subjects]
    assert len(set(ids)) == 2, ids
    assert ids == ["example.com-mx1.example.com", "example.com-mx2.example.com"]


def test_identical_subjects_get_distinct_ids() -> None:
    good = MxTarget(
        D, "mx1.example.com", 10, ans("mx1.example.com", "A", Record("mx1.example.com", 60, "A", "192.0.2.1"))
    )
    subjects = subjects_of("mx", Settings(domains=(D,)), D, domain(good, good))
    assert len({s.id for s in subjects}) == len(subjects)


def test_mail_servers_from_the_settings_take_the_smtp_port_as_their_default() -> None:
    settings = Settings.parse(
        {
            "mail_domain": [D],
            "mail_server": ["mx.example.net", "[2001:db8::25]:2525"],
            "mail_smtp_port": "587",
        }
    )
    subjects = subjects_of("smtp", settings, D, None)
    assert [(s.name or s.ip, s.port) for s in subjects] == [("mx.example.net", 587), ("2001:db8::25", 2525)]
    assert [s.label for s in subjects] == ["mx.example.net:587", "[2001:db8::25]:2525"]


def test_without_mail_servers_the_smtp_endpoints_are_the_mx_addresses() -> None:
    good = MxTarget(
        D, "mx1.example.com", 10, ans("mx1.example.com", "A", Record("mx1.example.com", 60, "A", "192.0.2.1"))
    )
    settings = Settings(domains=(D,), smtp_port=2525)
    [s] = subjects_of("smtp", settings, D, domain(good))
    assert (s.name, s.ip, s.port, s.label) == (
        "mx1.example.com",
        "192.0.2.1",
        2525,
        "mx1.example.com@192.0.2.1",  # the run-wide port is no part of an MX host's name: ids stay put
    )


def test_the_finest_kind_of_a_family_wins_and_families_do_not_mix() -> None:
    assert kind_for(["mail_domain", "_mailspec_kind_domain"]).name == "domain"
    assert kind_for(["_mailspec_kind_mx", "_mailspec_kind_mx_ip"]).name == "mx_ip"
    assert kind_for(["_mailspec_kind_ns"]).name == "ns"
    with pytest.raises(SubjectKindError, match="mx and of ns"):
        kind_for(["_mailspec_kind_mx", "_mailspec_kind_ns_ip"])


def test_every_kind_has_its_marker_fixture() -> None:
    import mailspec.fixtures

    for kind in KINDS:
        assert hasattr(mailspec.fixtures, kind.marker), kind.name
    assert BY_NAME["mx_ip"].rank > BY_NAME["mx"].rank


def test_subjects_survive_the_codec() -> None:
    s = Subject("ns", D, "ns1.example.com", also=("192.0.2.53",), tag="-2")
    assert decode(Subject, encode(s)) == s
    assert s.names() == {D, "ns1.example.com", "192.0.2.53"}


@pytest.mark.parametrize(
    ("nodeid", "domain"),
    [
        ("mailspec/checks/test_dns.py::test_dns_ns_count[example.com]", "example.com"),
        ("m/test_mx.py::test_mx_no_cname[example.com-mx1.example.com]", "example.com"),
        ("m/test_mx.py::test_mx_target_public_address[a-b.example-mx.a-b.example@192.0.2.1]", "a-b.example"),
        ("m/test_mx.py::test_x[example.com-no-mx]", "example.com"),
        ("m/test_mx.py::test_x[a.example-b.example-mx.a.example-b.example]", "a.example-b.example"),
        ("m/test_dns.py::test_dns_ns_authoritative[example.com-ns1.example.com@::1]", "example.com"),
        ("m/test_dns.py::test_x[example.com-ns1.example.com@2001:db8::53]", "example.com"),
        ("tests/test_own.py::test_mine", None),
        ("tests/test_own.py::TestX::test_mine", None),
        ("tests/test_own.py::test_mine[other.example]", None),
    ],
)
def test_xdist_scope_is_the_domain_of_the_test_id(nodeid: str, domain: str | None) -> None:
    domains = {"example.com", "a-b.example", "a.example", "a.example-b.example"}
    assert domain_of_nodeid(nodeid, domains) == domain
