"""SPF evaluation over an in-memory DNS: check_host() (RFC 7208 §4) and the static worst-case walk.

The walk's counting follows the disputes of the field (../shared/reference/field-lessons.md): an mx
term costs 1, not 1 + its MX hosts (Internet.nl#1544, checkdmarc#197); a void lookup is counted once
per term (checkdmarc#94, #211) and the terms that made them are named (checkdmarc#173); a timeout is
never "no record" (CERT-Polska/Artemis#232).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from mailspec.facts import DnsAnswer, Record, decode, encode
from mailspec.facts.spf import SpfResult, SpfTree
from mailspec.survey.dns import DnsClient, DnsEndpoint
from mailspec.survey.engine import Engine
from mailspec.survey.spf import MAX_WALK_TERMS, check_host, check_mailfrom, spf_tree

T = TypeVar("T")

Zone = dict[str, Any]  #: name -> {rdtype: [rdata]}, or "TIMEOUT" / "SERVFAIL"


def txt(*strings: str) -> str:
    """TXT rdata in presentation form, as DnsClient's answers carry it."""
    return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in strings)


def spf(text: str, **other: list[str]) -> dict[str, list[str]]:
    return {"TXT": [txt(text)], **other}


class FakeDns:
    """Answers from a dict: ``{name: {rdtype: [rdata]}}``, or ``"TIMEOUT"`` / ``"SERVFAIL"`` for the
    whole name; a name not in it is NXDOMAIN. Counts what it is asked."""

    def __init__(self, zone: Zone, *, hang: bool = False) -> None:
        self.zone = zone
        self.hang = hang
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, qname: str, rdtype: str) -> DnsAnswer:
        self.asked.append((qname, rdtype))
        entry = self.zone.get(qname)
        if entry is None:
            return DnsAnswer(qname, rdtype, "fake", rcode="NXDOMAIN")
        if entry == "TIMEOUT":
            if self.hang:
                await asyncio.sleep(3600)
            return DnsAnswer(qname, rdtype, "fake", error="no answer within 1 s, asked twice (timeout)")
        if entry == "SERVFAIL":
            return DnsAnswer(qname, rdtype, "fake", rcode="SERVFAIL")
        assert isinstance(entry, dict)
        records = tuple(Record(qname, 300, rdtype, data) for data in entry.get(rdtype, []))
        return DnsAnswer(qname, rdtype, "fake", rcode="NOERROR", answer=records)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def check(zone: Zone, ip: str = "192.0.2.10", domain: str = "example.com", **kw: Any) -> SpfResult:
    return run(check_host(ip, domain, f"user@{domain}", FakeDns(zone), **kw))


def tree(zone: Zone, domain: str = "example.com", **kw: Any) -> SpfTree:
    return run(spf_tree(domain, FakeDns(zone), **kw))


# -- check_host: results ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "result"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "pass"),
        ("v=spf1 ip4:198.51.100.1 -all", "fail"),
        ("v=spf1 ip4:198.51.100.1 ~all", "softfail"),
        ("v=spf1 ip4:198.51.100.1 ?all", "neutral"),
        ("v=spf1 ip4:198.51.100.1", "neutral"),  # no match, no redirect: the default (§4.7)
        ("v=spf1 -ip4:192.0.2.10 +all", "fail"),  # the first match decides
        ("v=spf1 ip6:2001:db8::/32 -all", "fail"),  # (an IPv4 client never matches ip6)
        ("v=spf1 a -all", "pass"),
        ("v=spf1 a/24 -all", "pass"),
        ("v=spf1 a:mail.example.com/32 -all", "fail"),
        ("v=spf1 mx -all", "pass"),
        ("v=spf1 mx:example.com/30 -all", "pass"),
        ("v=spf1 exists:%{i}.allow.example.com -all", "pass"),
        ("v=spf1 bogus -all", "permerror"),
        ("v=spf1 ip4:192.0.2.10 -all foo:bar", "permerror"),  # a syntax error anywhere (§4.6)
    ],
)
def test_check_host_results(record: str, result: str) -> None:
    zone: Zone = {
        "example.com": spf(record, A=["192.0.2.10"], MX=["10 mx.example.com."]),
        "mx.example.com": {"A": ["192.0.2.10"]},
        "mail.example.com": {"A": ["192.0.2.11"]},
        "192.0.2.10.allow.example.com": {"A": ["127.0.0.2"]},  # (%{i} is the address as written)
    }
    got = check(zone)
    assert got.result == result, got.evidence()
    assert got.definite


def test_no_record_and_no_domain_are_none() -> None:
    assert check({"example.com": {"TXT": [txt("google-site-verification=x")]}}).result == "none"
    assert check({}).result == "none"
    # §4.3: a malformed or single-label domain is none before any lookup
    lookup = FakeDns({})
    assert run(check_host("192.0.2.1", "a..example.com", "x@a..example.com", lookup)).result == "none"
    assert run(check_host("192.0.2.1", "localhost", "x@localhost", lookup)).result == "none"
    assert run(check_host("192.0.2.1", "[192.0.2.1]", "x@[192.0.2.1]", lookup)).result == "none"
    assert lookup.asked == []


def test_record_selection() -> None:
    two = {"example.com": {"TXT": [txt("v=spf1 -all"), txt("v=spf1 +all")]}}
    assert check(two).result == "permerror"
    spf10 = {"example.com": {"TXT": [txt("v=spf10 +all"), txt("v=spf1 -all")]}}
    assert check(spf10).result == "fail"
    split = {"example.com": {"TXT": [txt("v=spf1 ip4:192.0.2", ".10 -all")]}}  # joined without spaces
    assert check(split).result == "pass"


def test_include_results_table() -> None:
    # RFC 7208 §5.2: pass matches; fail, softfail, neutral do not; temperror and permerror propagate;
    # none is a permerror
    def outer(target_record: str | None, target_entry: Any = None) -> str:
        zone: Zone = {"example.com": spf("v=spf1 include:inc.example.net -all")}
        if target_record is not None:
            zone["inc.example.net"] = spf(target_record)
        elif target_entry is not None:
            zone["inc.example.net"] = target_entry
        return check(zone).result

    assert outer("v=spf1 ip4:192.0.2.10 -all") == "pass"
    assert outer("v=spf1 -all") == "fail"  # (no match: the outer -all decides)
    assert outer("v=spf1 ?all") == "fail"
    assert outer("v=spf1 bogus") == "permerror"
    assert outer(None, "TIMEOUT") == "temperror"
    assert outer(None, {"TXT": [txt("not spf")]}) == "permerror"
    assert outer(None) == "permerror"  # NXDOMAIN: no record, not a non-match


def test_redirect() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 ip4:198.51.100.1 redirect=_spf.example.net"),
        "_spf.example.net": spf("v=spf1 ip4:192.0.2.0/24 -all"),
    }
    assert check(zone).result == "pass"
    assert check(zone, ip="203.0.113.5").result == "fail"
    # ignored when the record has all (§6.1)
    zone["example.com"] = spf("v=spf1 ?all redirect=_spf.example.net")
    assert check(zone).result == "neutral"
    # a target without a record is a permerror, not "none" (§6.1)
    assert check({"example.com": spf("v=spf1 redirect=nowhere.example.net")}).result == "permerror"


def test_explanation_of_a_fail() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 include:inc.example.net -all exp=why.example.com"),
        "why.example.com": {"TXT": [txt("%{i} is not one of %{d}'s designated mail servers.")]},
        "inc.example.net": spf("v=spf1 -all exp=other.example.net"),
        "other.example.net": {"TXT": [txt("wrong explanation")]},
    }
    got = check(zone)
    assert got.result == "fail"
    # the including record's exp, never the included one's (§6.2)
    assert got.explanation == "192.0.2.10 is not one of example.com's designated mail servers."
    assert "explanation: 192.0.2.10" in "\n".join(got.evidence())
    zone["why.example.com"] = {"TXT": [txt("one"), txt("two")]}
    assert check(zone).explanation == ""  # several TXT records: no explanation
    zone["why.example.com"] = "SERVFAIL"
    assert check(zone).explanation == ""


def test_macros_in_mechanisms_and_the_253_character_cut() -> None:
    long_local = ".".join(["x" * 60] * 5)  # 304 characters
    zone: Zone = {"example.com": spf("v=spf1 exists:%{l}.%{o}.bl.example.net -all")}
    name = f"{long_local}.example.com.bl.example.net"
    while len(name) > 253:
        name = name.split(".", 1)[1]
    zone[name] = {"A": ["127.0.0.2"]}
    got = run(check_host("192.0.2.10", "example.com", f"{long_local}@example.com", FakeDns(zone)))
    assert got.result == "pass", got.evidence()
    assert any("cut to" in step.detail for step in got.trail)


def test_ptr_and_the_p_macro() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 ptr -all"),
        "10.2.0.192.in-addr.arpa": {"PTR": ["mail.example.com.", "other.example.org."]},
        "mail.example.com": {"A": ["192.0.2.10"]},
        "other.example.org": {"A": ["192.0.2.10"]},
    }
    assert check(zone).result == "pass"
    zone["mail.example.com"] = {"A": ["192.0.2.99"]}  # not forward-confirmed
    assert check(zone).result == "fail"
    zone["example.com"] = spf("v=spf1 exists:%{p}.ok.example.net -all")
    zone["other.example.org.ok.example.net"] = {"A": ["127.0.0.2"]}
    assert check(zone).result == "pass"


def test_an_ipv4_mapped_client_is_an_ipv4_client() -> None:
    zone: Zone = {"example.com": spf("v=spf1 ip4:192.0.2.10 -all")}
    got = check(zone, ip="::ffff:192.0.2.10")
    assert (got.result, got.ip) == ("pass", "192.0.2.10")


def test_check_mailfrom_uses_the_helo_for_a_null_sender() -> None:
    zone: Zone = {"helo.example.com": spf("v=spf1 a -all", A=["192.0.2.10"])}
    got = run(check_mailfrom("192.0.2.10", "", "helo.example.com", FakeDns(zone)))
    assert (got.result, got.domain, got.sender) == ("pass", "helo.example.com", "postmaster@helo.example.com")
    got = run(check_mailfrom("192.0.2.10", "<@helo.example.com>", "x", FakeDns(zone)))
    assert (got.result, got.sender) == ("pass", "postmaster@helo.example.com")


# -- check_host: limits -----------------------------------------------------------------------------


def _many(n: int, mechanism: str = "a") -> Zone:
    zone: Zone = {"example.com": spf("v=spf1 " + " ".join(f"{mechanism}:h{i}.example.com" for i in range(n)))}
    for i in range(n):
        zone[f"h{i}.example.com"] = {"A": ["198.51.100.1"], "MX": ["10 h.example.com."]}
    zone["h.example.com"] = {"A": ["198.51.100.2"]}
    return zone


def test_ten_dns_terms_are_allowed_the_eleventh_is_a_permerror() -> None:
    assert check(_many(10)).result == "neutral"
    got = check(_many(11))
    assert got.result == "permerror" and "more than 10" in got.reason
    assert check(_many(10, "mx")).result == "neutral"
    assert check(_many(11, "include")).result == "permerror"


def test_an_mx_term_counts_one_not_one_per_host() -> None:
    hosts = [f"{10 + i} mx{i}.example.com." for i in range(9)]
    zone: Zone = {
        "example.com": spf(
            "v=spf1 mx " + " ".join(f"a:h{i}.example.com" for i in range(9)) + " -all", MX=hosts
        )
    }
    for i in range(9):
        zone[f"mx{i}.example.com"] = {"A": ["198.51.100.1"]}
        zone[f"h{i}.example.com"] = {"A": ["198.51.100.1"]}
    got = check(zone)
    assert (got.result, got.dns_terms) == ("fail", 10)


def test_more_than_ten_mx_names_is_a_permerror() -> None:
    zone: Zone = {"example.com": spf("v=spf1 mx -all", MX=[f"{i} mx{i}.example.com." for i in range(11)])}
    assert check(zone).result == "permerror"


def test_ptr_names_beyond_ten_are_ignored() -> None:
    names = [f"h{i}.example.org." for i in range(10)] + ["mail.example.com."]
    zone: Zone = {
        "example.com": spf("v=spf1 ptr -all"),
        "10.2.0.192.in-addr.arpa": {"PTR": names},
        "mail.example.com": {"A": ["192.0.2.10"]},
    }
    assert check(zone).result == "fail"  # (the 11th name, which would match, is not looked at)


def test_void_lookups_two_allowed_three_a_permerror() -> None:
    two: Zone = {"example.com": spf("v=spf1 a:nx1.example.com mx:nx2.example.com ?all")}
    got = check(two)
    assert (got.result, got.void_lookups) == ("neutral", 2)
    three: Zone = {
        "example.com": spf("v=spf1 a:nx1.example.com mx:nx2.example.com exists:nx3.example.com ?all")
    }
    got = check(three)
    assert got.result == "permerror" and "void" in got.reason
    # an exp lookup is never counted (§4.6.4): the explanation is simply absent
    exp: Zone = {"example.com": spf("v=spf1 a:nx1.example.com a:nx2.example.com -all exp=nx3.example.com")}
    assert check(exp).result == "fail"


def test_timeouts_and_servfail_are_temperror_never_none() -> None:
    assert check({"example.com": "TIMEOUT"}).result == "temperror"
    got = check({"example.com": "SERVFAIL"})
    assert got.result == "temperror" and not got.definite and got.problem
    zone: Zone = {"example.com": spf("v=spf1 a:slow.example.com -all"), "slow.example.com": "TIMEOUT"}
    assert check(zone).result == "temperror"


def test_the_whole_evaluation_is_bounded_in_time() -> None:
    zone: Zone = {"example.com": spf("v=spf1 include:slow.example.net -all"), "slow.example.net": "TIMEOUT"}
    start = time.monotonic()
    got = run(check_host("192.0.2.1", "example.com", "x@example.com", FakeDns(zone, hang=True), timeout=0.2))
    assert got.result == "temperror"
    assert time.monotonic() - start < 5


def test_loops_and_deep_chains_end_in_permerror() -> None:
    loop: Zone = {
        "a.example": spf("v=spf1 include:b.example -all"),
        "b.example": spf("v=spf1 include:a.example"),
    }
    assert check(loop, domain="a.example").result == "permerror"
    assert check({"example.com": spf("v=spf1 redirect=example.com")}).result == "permerror"
    assert check(_chain(50), domain="d0.example").result == "permerror"


def _chain(depth: int) -> Zone:
    zone: Zone = {f"d{i}.example": spf(f"v=spf1 include:d{i + 1}.example -all") for i in range(depth)}
    zone[f"d{depth}.example"] = spf("v=spf1 ip4:192.0.2.10 -all")
    return zone


def test_a_ten_kilobyte_record_is_evaluated() -> None:
    text = (
        "v=spf1 " + " ".join(f"ip4:198.51.{i // 256}.{i % 256}" for i in range(700)) + " ip4:192.0.2.10 -all"
    )
    got = check({"example.com": spf(text)})
    assert got.result == "pass"
    assert len(got.trail) <= 400


# -- the static walk ---------------------------------------------------------------------------------


def test_every_term_has_its_cost_and_every_branch_counts() -> None:
    zone: Zone = {
        "example.com": spf(
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:a.example.net a mx ptr "
            "exists:x.example.com redirect=r.example.net exp=e.example.com"
        ),
        "a.example.net": spf("v=spf1 include:b.example.net ip4:198.51.100.0/24 ~all"),
        "b.example.net": spf("v=spf1 a:h.example.net -all"),
        "h.example.net": {"A": ["198.51.100.1"]},
        "r.example.net": spf("v=spf1 mx:m.example.net -all"),
        "m.example.net": {"MX": ["10 h.example.net."]},
        "x.example.com": {"A": ["127.0.0.2"]},
    }
    zone["example.com"] = {**zone["example.com"], "A": ["192.0.2.1"], "MX": ["10 h.example.net."]}
    t = tree(zone)
    costs = {term.text: term.cost for term in t.root.terms}
    assert costs == {
        "ip4:192.0.2.0/24": 0,
        "ip6:2001:db8::/32": 0,
        "include:a.example.net": 1,
        "a": 1,
        "mx": 1,
        "ptr": 1,
        "exists:x.example.com": 1,
        "redirect=r.example.net": 1,
        "exp=e.example.com": 0,
    }
    # 6 here, 1 in a.example.net, 1 in b.example.net, 1 in r.example.net; ip4 matching first is no
    # excuse: the worst case walks every branch
    assert t.total == 9
    assert t.definite and t.complete and t.has_record
    assert t.ptr_terms == ("example.com: ptr",)
    assert any("total: 9 DNS-querying terms" in line for line in t.evidence())


def test_an_mx_term_costs_one_whatever_its_hosts() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 mx -all", MX=[f"10 mx{i}.example.com." for i in range(8)]),
    }
    t = tree(zone)
    (mx, _) = t.root.terms
    assert (mx.cost, mx.mx_names, t.total) == (1, 8, 1)
    assert t.mx_over_limit == ()
    many: Zone = {"example.com": spf("v=spf1 mx -all", MX=[f"{i} mx{i}.example.com." for i in range(11)])}
    assert tree(many).mx_over_limit == ("example.com: mx: 11 MX records",)


def test_void_lookups_are_counted_once_per_term_and_named() -> None:
    zone: Zone = {
        "example.com": spf(
            "v=spf1 a:gone.example.com mx:nomx.example.com a:v6.example.com exists:nx.example.com -all"
        ),
        "nomx.example.com": {"A": ["192.0.2.1"]},  # NOERROR, no MX: void
        "v6.example.com": {"AAAA": ["2001:db8::1"]},  # an address of one family: not void
    }
    t = tree(zone)
    # a:gone asks A and AAAA, both NXDOMAIN: one void lookup, not two
    assert t.void_lookups == 3
    assert t.void_terms == (
        "example.com: a:gone.example.com",
        "example.com: mx:nomx.example.com",
        "example.com: exists:nx.example.com",
    )
    assert t.over_void_limit


def test_include_targets_without_one_record() -> None:
    zone: Zone = {
        "example.com": spf(
            "v=spf1 include:none.example.net include:nx.example.net include:two.example.net "
            "include:bad.example.net -all"
        ),
        "none.example.net": {"TXT": [txt("hello")]},
        "two.example.net": {"TXT": [txt("v=spf1 -all"), txt("v=spf1 +all")]},
        "bad.example.net": spf("v=spf1 foo:bar"),
    }
    t = tree(zone)
    assert [b.split(":")[1].strip() for b in t.bad_targets] == [
        "include",
        "include",
        "include",
    ]
    assert [x.split(": ")[1] for x in t.bad_targets] == [
        "include:none.example.net",
        "include:nx.example.net",
        "include:two.example.net",
    ]
    assert t.syntax_errors and "bad.example.net" in t.syntax_errors[0]
    assert t.void_terms == ("example.com: include:nx.example.net",)
    redirect: Zone = {"example.com": spf("v=spf1 redirect=nowhere.example.net")}
    assert tree(redirect).bad_targets == (
        "example.com: redirect=nowhere.example.net: no such domain (NXDOMAIN)",
    )


def test_a_timeout_is_never_no_record() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 include:slow.example.net include:gone.example.net a:t.example.com -all"),
        "slow.example.net": "TIMEOUT",
        "t.example.com": "SERVFAIL",
    }
    t = tree(zone)
    assert t.bad_targets == ("example.com: include:gone.example.net: no such domain (NXDOMAIN)",)
    assert not t.definite and not t.complete
    assert sorted(x.split(":")[0] for x in t.indeterminate) == ["example.com", "slow.example.net"]
    slow = t.root.terms[0]
    assert slow.child is not None and slow.child.state == "indeterminate" and not slow.void
    assert "timeout" in t.problem or "SERVFAIL" in t.problem
    root = tree({"example.com": "TIMEOUT"})
    assert (root.root.state, root.definite, root.has_record) == ("indeterminate", False, False)
    assert tree({}).root.state == "nxdomain"


def test_an_include_loop_is_a_finding_not_a_recursion_error() -> None:
    zone: Zone = {
        "a.example": spf("v=spf1 include:b.example -all"),
        "b.example": spf("v=spf1 include:c.example"),
        "c.example": spf("v=spf1 redirect=A.example"),
    }
    t = tree(zone, "a.example")
    assert t.loops == ("a.example: include/redirect loop: a.example -> b.example -> c.example -> a.example",)
    assert t.total == 3


def test_a_chain_fifty_deep_is_cut_with_a_finding() -> None:
    t = tree(_chain(50), "d0.example")
    assert t.too_deep and "d12.example" in t.too_deep[0]
    assert t.over_lookup_limit and not t.complete


def test_macro_terms_count_one_and_are_not_followed() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 include:%{ir}.%{v}._spf.example.net exists:%{l}.x.example.net -all")
    }
    lookup = FakeDns(zone)
    t = run(spf_tree("example.com", lookup))
    assert t.total == 2
    assert t.macro_terms == (
        "example.com: include:%{ir}.%{v}._spf.example.net: not fully evaluable",
        "example.com: exists:%{l}.x.example.net: not fully evaluable",
    )
    assert lookup.asked == [("example.com", "TXT")]


def test_terms_never_evaluated_cost_nothing() -> None:
    zone: Zone = {"example.com": spf("v=spf1 -all include:late.example.net redirect=r.example.net")}
    t = tree(zone)
    assert t.total == 0
    assert [(x.text, x.ignored) for x in t.root.terms] == [
        ("-all", False),
        ("include:late.example.net", True),
        ("redirect=r.example.net", True),
    ]


def test_the_walk_is_bounded_on_a_diamond_and_a_huge_record() -> None:
    # every level includes the next twice: 2**30 paths, a bounded number of lookups
    zone: Zone = {
        f"l{i}.example": spf(f"v=spf1 include:l{i + 1}.example include:l{i + 1}.example") for i in range(30)
    }
    lookup = FakeDns(zone)
    t = run(spf_tree("l0.example", lookup))
    assert t.stopped and t.over_lookup_limit
    assert len(lookup.asked) <= MAX_WALK_TERMS + 1
    text = "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(1200)) + " -all"
    assert len(text) > 10_000
    lookup = FakeDns({"example.com": spf(text)})
    start = time.monotonic()
    t = run(spf_tree("example.com", lookup))
    assert t.total == 1200 and t.stopped
    assert len(lookup.asked) <= 2 * MAX_WALK_TERMS + 1
    assert len(t.evidence()) <= 203
    assert time.monotonic() - start < 10


def test_the_walk_is_bounded_in_time() -> None:
    zone: Zone = {"example.com": spf("v=spf1 include:slow.example.net -all"), "slow.example.net": "TIMEOUT"}
    start = time.monotonic()
    t = run(spf_tree("example.com", FakeDns(zone, hang=True), timeout=0.2))
    assert t.root.terms[0].child is not None and t.root.terms[0].child.state == "indeterminate"
    assert time.monotonic() - start < 5


def test_the_tree_and_the_result_round_trip_through_the_fact_codec() -> None:
    zone: Zone = {
        "example.com": spf("v=spf1 include:a.example.net mx -all", MX=["10 mx.example.com."]),
        "a.example.net": spf("v=spf1 ip4:192.0.2.0/24 include:a.example.net"),
    }
    t = tree(zone)
    assert decode(SpfTree, encode(t)) == t
    r = check(zone)
    assert decode(SpfResult, encode(r)) == r


class _ScriptedClient(DnsClient):
    """A real DnsClient (its memo) whose resolver answers from a FakeDns."""

    def __init__(self, fake: FakeDns) -> None:
        super().__init__(Engine(), [DnsEndpoint("127.0.0.1", 9)], timeout=1)
        self.fake = fake

    async def _resolve(self, qname: str, rdtype: str) -> DnsAnswer:
        return await self.fake(qname, rdtype)


def test_a_name_asked_by_two_evaluations_is_asked_once() -> None:
    fake = FakeDns(
        {
            "example.com": spf("v=spf1 include:_spf.example.net a -all", A=["192.0.2.1"]),
            "_spf.example.net": spf("v=spf1 ip4:198.51.100.0/24 -all"),
        }
    )

    async def go() -> None:
        client = _ScriptedClient(fake)
        await asyncio.gather(
            check_host("192.0.2.1", "example.com", "a@example.com", client.query),
            check_host("203.0.113.9", "example.com", "b@example.com", client.query),
            spf_tree("example.com", client.query),
        )

    run(go())
    assert len(fake.asked) == len(set(fake.asked))
    assert ("example.com", "TXT") in fake.asked and ("_spf.example.net", "TXT") in fake.asked
