"""The SPF checks (mailspec/checks/test_spf.py) on hand-built facts: the record as the TXT answer
gives it, the tree as the real static walk makes it over an in-memory DNS, and check_host() results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from mailspec.checks import test_spf as checks
from mailspec.errors import Indeterminate
from mailspec.facts import DomainDns
from mailspec.facts.dns import DnsAnswer, Record
from mailspec.facts.smtp import OutboundIp
from mailspec.facts.spf import SpfResult, SpfTree
from mailspec.outcome import Finding, current, reset
from mailspec.survey.spf import spf_tree

D = "example.com"
IP = "192.0.2.10"
GIVEN = OutboundIp(D, IP)
ASSUMED = OutboundIp(D, IP, "mx1.example.com", assumed=True)
VIOLATION = (AssertionError, pytest.fail.Exception)

Zone = dict[str, Any]  #: name -> {rdtype: [rdata]}, or "TIMEOUT"; a name not in it is NXDOMAIN


def txt(*strings: str) -> str:
    """TXT rdata in presentation form (each string quoted)."""
    return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in strings)


def ans(qname: str, rdtype: str, *data: str, rcode: str = "NOERROR", error: str | None = None) -> DnsAnswer:
    records = tuple(Record(qname, 300, rdtype, x) for x in data)
    return DnsAnswer(qname, rdtype, "test", rcode=None if error else rcode, error=error, answer=records)


TIMEOUT = "no answer within 1 s, asked twice (timeout)"


class FakeDns:
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    async def __call__(self, qname: str, rdtype: str) -> DnsAnswer:
        entry = self.zone.get(qname)
        if entry is None:
            return ans(qname, rdtype, rcode="NXDOMAIN")
        if entry == "TIMEOUT":
            return ans(qname, rdtype, error=TIMEOUT)
        assert isinstance(entry, dict)
        return ans(qname, rdtype, *entry.get(rdtype, []))


def zone_of(*strings: str, **other: list[str]) -> Zone:
    """The domain with one TXT record of these strings (and other rdtypes), plus a few names."""
    return {
        D: {"TXT": [txt(*strings)], **other},
        "mail.example.com": {"A": [IP], "TXT": [txt("v=spf1 a -all")]},
        "_spf.example.net": {"TXT": [txt("v=spf1 ip4:198.51.100.0/24 -all")]},
        "nospf.example.net": {"TXT": [txt("hello")]},
    }


def tree_of(zone: Zone, domain: str = D) -> SpfTree:
    return asyncio.run(spf_tree(domain, FakeDns(zone), rr99=True))


def domain(
    *txt_data: str, rcode: str = "NOERROR", error: str | None = None, mx: tuple[str, ...] = ()
) -> DomainDns:
    """The domain's DNS facts with these TXT rdatas (the other answers unremarkable)."""
    return DomainDns(
        D,
        soa=ans(D, "SOA", "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300"),
        ns=ans(D, "NS", "ns1.example.com."),
        mx=ans(D, "MX", *mx),
        a=ans(D, "A", IP),
        aaaa=ans(D, "AAAA"),
        txt=ans(D, "TXT", *txt_data, rcode=rcode, error=error),
    )


def facts(*strings: str, **other: list[str]) -> tuple[DomainDns, SpfTree]:
    """The DNS facts and the walked tree of a domain whose TXT record has these strings."""
    return domain(txt(*strings)), tree_of(zone_of(*strings, **other))


NXDOMAIN = DomainDns(
    D,
    soa=ans(D, "SOA", rcode="NXDOMAIN"),
    ns=ans(D, "NS", rcode="NXDOMAIN"),
    mx=ans(D, "MX", rcode="NXDOMAIN"),
    a=ans(D, "A", rcode="NXDOMAIN"),
    aaaa=ans(D, "AAAA", rcode="NXDOMAIN"),
    txt=ans(D, "TXT", rcode="NXDOMAIN"),
)


def result(value: str, reason: str = "") -> SpfResult:
    return SpfResult(IP, D, f"postmaster@{D}", value, reason)


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


def passes(run: Callable[..., None], *args: object) -> None:
    """Run a check that must pass (a warning, skip or could-not-test is a failure here)."""
    try:
        run(*args)
    except (Finding, Indeterminate, pytest.skip.Exception) as exc:
        pytest.fail(f"expected {run.__name__} to pass; it raised {type(exc).__name__}: {exc}")


GOOD = facts("v=spf1 mx include:_spf.example.net -all", MX=["10 mail.example.com."])

#: every check of the domain's record, with its arguments from (DomainDns, SpfTree)
RECORD_CHECKS: list[tuple[Callable[..., None], Callable[[DomainDns, SpfTree], tuple[object, ...]]]] = [
    (checks.test_spf_single, lambda d, t: (d,)),
    (checks.test_spf_syntax, lambda d, t: (d,)),
    (checks.test_spf_modifiers_once, lambda d, t: (d,)),
    (checks.test_spf_lookup_limit, lambda d, t: (d, t)),
    (checks.test_spf_void_limit, lambda d, t: (d, t)),
    (checks.test_spf_mx_limit, lambda d, t: (d, t)),
    (checks.test_spf_include_targets, lambda d, t: (d, t)),
    (checks.test_spf_all, lambda d, t: (d,)),
    (checks.test_spf_after_all, lambda d, t: (d,)),
    (checks.test_spf_no_ptr, lambda d, t: (d, t)),
    (checks.test_spf_size, lambda d, t: (d,)),
    (checks.test_spf_concatenation, lambda d, t: (d,)),
    (checks.test_spf_rrtype99, lambda d, t: (d, t)),
]
NAMES = [c.__name__ for c, _ in RECORD_CHECKS]


# ----------------------------------------------------------------------------- every record check
@pytest.mark.parametrize(("run", "args"), RECORD_CHECKS, ids=NAMES)
def test_a_good_record_passes_every_check(run: Callable[..., None], args: Any) -> None:
    passes(run, *args(*GOOD))


def test_a_good_record_passes_present() -> None:
    passes(checks.test_spf_present, GOOD[0])
    assert any("v=spf1 mx" in e for e in current().evidence)


@pytest.mark.parametrize(("run", "args"), RECORD_CHECKS, ids=NAMES)
def test_no_record_skips_every_record_check(run: Callable[..., None], args: Any) -> None:
    d, t = domain(txt("google-site-verification=abc")), tree_of({D: {"TXT": [txt("hello")]}})
    with pytest.raises(pytest.skip.Exception, match="no SPF record"):
        run(*args(d, t))


@pytest.mark.parametrize(("run", "args"), RECORD_CHECKS, ids=NAMES)
def test_a_domain_that_does_not_exist_skips(run: Callable[..., None], args: Any) -> None:
    with pytest.raises(pytest.skip.Exception, match="does not exist"):
        run(*args(NXDOMAIN, tree_of({})))


@pytest.mark.parametrize(("run", "args"), [*RECORD_CHECKS, (checks.test_spf_present, lambda d, t: (d,))])
def test_a_timeout_is_never_no_record(run: Callable[..., None], args: Any) -> None:
    d = domain(error=TIMEOUT)
    t = tree_of({D: "TIMEOUT"})
    with pytest.raises(Indeterminate, match="timeout"):
        run(*args(d, t))


# -------------------------------------------------------------------------------------- present
def test_no_record_fails_present() -> None:
    d = domain(txt("v=spf10 -all"), txt("hello v=spf1 -all"))
    with pytest.raises(VIOLATION, match=r"publishes no SPF record.*RFC 7208 §2.1.*v=spf1 mx -all"):
        checks.test_spf_present(d)


def test_a_null_mx_domain_without_a_record_is_mx_null_spf_all_s_to_report() -> None:
    d = domain(txt("hello"), mx=("0 .",))
    with pytest.raises(pytest.skip.Exception, match=r"sends no mail.*mx.null.spf-all"):
        checks.test_spf_present(d)
    passes(checks.test_spf_present, domain(txt("v=spf1 -all"), mx=("0 .",)))
    with pytest.raises(Indeterminate):
        checks.test_spf_present(DomainDns(D, d.soa, d.ns, ans(D, "MX", rcode="SERVFAIL"), d.a, d.aaaa, d.txt))


def test_present_skips_a_domain_that_does_not_exist() -> None:
    with pytest.raises(pytest.skip.Exception):
        checks.test_spf_present(NXDOMAIN)


# ------------------------------------------------------------------------------- single, syntax
def test_two_records_fail_single() -> None:
    d = domain(txt("v=spf1 -all"), txt("v=spf1 mx -all"))
    with pytest.raises(VIOLATION, match=r"2 SPF records.*RFC 7208 §3.2.*permerror.*Merge"):
        checks.test_spf_single(d)
    passes(checks.test_spf_present, d)
    assert any("spf.single" in n for n in current().notes)


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:192.0.2 -all",
        "v=spf1 ip4:192.0.2.0/33 -all",
        "v=spf1 foo:bar -all",
        "v=spf1 a:%{z}.x -all",
    ],
)
def test_invalid_records_fail_syntax(record: str) -> None:
    with pytest.raises(VIOLATION, match=r"not valid SPF.*RFC 7208 §4.6, §12"):
        checks.test_spf_syntax(domain(txt(record)))


def test_unknown_modifiers_are_legal_and_repeats_are_not_syntax_s_to_report() -> None:
    passes(checks.test_spf_syntax, domain(txt("v=spf1 mx foo=bar -all")))
    d = domain(txt("v=spf1 mx redirect=a.example.net redirect=b.example.net"))
    passes(checks.test_spf_syntax, d)
    with pytest.raises(VIOLATION, match=r"more than one 'redirect=' modifier.*RFC 7208 §6"):
        checks.test_spf_modifiers_once(d)
    with pytest.raises(VIOLATION, match="not valid SPF"):
        checks.test_spf_syntax(domain(txt("v=spf1 exp=a.example.net exp=b.example.net ip4:1.2.3")))


# ------------------------------------------------------------------------------------ the tree
def test_eleven_lookups_fail_and_ten_pass() -> None:
    ten = {f"h{i}.example.com": {"A": [IP]} for i in range(10)}
    record = "v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(10)) + " -all"
    passes(checks.test_spf_lookup_limit, domain(txt(record)), tree_of({**ten, D: {"TXT": [txt(record)]}}))
    record11 = record.replace(" -all", " include:_spf.example.net -all")
    zone = {**zone_of(record11), **ten}
    with pytest.raises(VIOLATION, match=r"takes 11 DNS-querying terms.*RFC 7208 §4.6.4"):
        checks.test_spf_lookup_limit(domain(txt(record11)), tree_of(zone))


def test_lookups_count_terms_inside_includes_and_mx_costs_one() -> None:
    zone = zone_of("v=spf1 mx include:a.example.net -all", MX=[f"{i} mx{i}.example.com." for i in range(8)])
    zone["a.example.net"] = {"TXT": [txt("v=spf1 " + " ".join(["include:_spf.example.net"] * 9))]}
    t = tree_of(zone)
    assert t.total == 11  # mx 1 + include 1 + 9 inside it
    with pytest.raises(VIOLATION, match="takes 11"):
        checks.test_spf_lookup_limit(domain(txt("v=spf1 mx include:a.example.net -all")), t)


def test_an_include_loop_fails_the_lookup_limit() -> None:
    zone = zone_of("v=spf1 include:a.example.net -all")
    zone["a.example.net"] = {"TXT": [txt("v=spf1 include:example.com")]}
    with pytest.raises(VIOLATION, match=r"never ends.*loop"):
        checks.test_spf_lookup_limit(domain(txt("v=spf1 include:a.example.net -all")), tree_of(zone))


def test_macros_count_one_and_warn_not_fully_evaluable() -> None:
    d, t = facts("v=spf1 exists:%{i}._spf.example.net -all")
    assert t.total == 1
    with pytest.raises(Finding, match="not fully evaluable"):
        checks.test_spf_lookup_limit(d, t)


def test_a_timeout_below_is_indeterminate_but_a_count_over_the_limit_still_fails() -> None:
    zone = zone_of("v=spf1 include:slow.example.net -all")
    zone["slow.example.net"] = "TIMEOUT"
    d = domain(txt("v=spf1 include:slow.example.net -all"))
    t = tree_of(zone)
    for run in (
        checks.test_spf_lookup_limit,
        checks.test_spf_void_limit,
        checks.test_spf_mx_limit,
        checks.test_spf_include_targets,
    ):
        with pytest.raises(Indeterminate, match="timeout"):
            run(d, t)
    record = "v=spf1 include:slow.example.net " + " ".join(["a"] * 10) + " -all"
    zone[D] = {"TXT": [txt(record)], "A": [IP]}
    with pytest.raises(VIOLATION, match="at least 11"):
        checks.test_spf_lookup_limit(domain(txt(record)), tree_of(zone))


def test_three_void_lookups_fail_and_two_pass() -> None:
    two = "v=spf1 a:gone1.example.com a:gone2.example.com -all"
    passes(checks.test_spf_void_limit, *facts(two))
    assert any("void lookups" in n for n in current().notes)
    three = "v=spf1 a:gone1.example.com a:gone2.example.com mx:gone3.example.com -all"
    with pytest.raises(VIOLATION, match=r"3 void lookups.*gone3.*RFC 7208 §4.6.4"):
        checks.test_spf_void_limit(*facts(three))


def test_an_mx_with_eleven_hosts_fails_the_mx_limit() -> None:
    many = [f"{i} mx{i}.example.com." for i in range(11)]
    with pytest.raises(VIOLATION, match=r"more than 10 MX.*11 MX records.*RFC 7208 §4.6.4"):
        checks.test_spf_mx_limit(*facts("v=spf1 mx -all", MX=many))
    passes(checks.test_spf_mx_limit, *facts("v=spf1 mx -all", MX=many[:10]))


@pytest.mark.parametrize(
    "record", ["v=spf1 include:nospf.example.net -all", "v=spf1 mx redirect=gone.example.net"]
)
def test_a_target_without_spf_fails_include_targets(record: str) -> None:
    with pytest.raises(VIOLATION, match=r"without a single SPF record.*permerror.*RFC 7208 §5.2"):
        checks.test_spf_include_targets(*facts(record))


def test_an_included_record_that_does_not_parse_warns() -> None:
    zone = zone_of("v=spf1 include:bad.example.net -all")
    zone["bad.example.net"] = {"TXT": [txt("v=spf1 ip4:300.1.1.1 -all")]}
    with pytest.raises(Finding, match="do not parse"):
        checks.test_spf_include_targets(domain(txt("v=spf1 include:bad.example.net -all")), tree_of(zone))


# ------------------------------------------------------------------------------ record content
@pytest.mark.parametrize("record", ["v=spf1 mx ~all", "v=spf1 -all", "v=spf1 redirect=_spf.example.net"])
def test_all_passes_for_fail_softfail_and_redirect(record: str) -> None:
    passes(checks.test_spf_all, domain(txt(record)))


@pytest.mark.parametrize("record", ["v=spf1 mx ?all", "v=spf1 mx"])
def test_neutral_or_missing_all_warns(record: str) -> None:
    with pytest.raises(Finding, match=r"neutral.*RFC 7208 §2.1"):
        checks.test_spf_all(domain(txt(record)))


@pytest.mark.parametrize(
    "record", ["v=spf1 +all", "v=spf1 mx all", "v=spf1 ip4:0.0.0.0/0 -all", "v=spf1 ip6:::/0"]
)
def test_everyone_authorised_fails_all(record: str) -> None:
    with pytest.raises(VIOLATION, match=r"every host.*App. A.1"):
        checks.test_spf_all(domain(txt(record)))


def test_terms_after_all_warn() -> None:
    with pytest.raises(Finding, match=r"ignore: mx.*§5.1"):
        checks.test_spf_after_all(domain(txt("v=spf1 -all mx")))
    with pytest.raises(Finding, match=r"redirect=_spf.example.net.*§6.1"):
        checks.test_spf_after_all(domain(txt("v=spf1 mx -all redirect=_spf.example.net")))


def test_ptr_warns() -> None:
    with pytest.raises(Finding, match=r"ptr.*RFC 7208 §5.5"):
        checks.test_spf_no_ptr(*facts("v=spf1 ptr -all"))
    zone = zone_of("v=spf1 include:p.example.net -all")
    zone["p.example.net"] = {"TXT": [txt("v=spf1 ptr:example.net ~all")]}
    with pytest.raises(Finding, match="include/redirect tree"):
        checks.test_spf_no_ptr(domain(txt("v=spf1 include:p.example.net -all")), tree_of(zone))


def test_a_large_answer_warns() -> None:
    ranges = " ".join(f"ip4:198.51.{i}.0/24" for i in range(30))
    strings = [f"v=spf1 {ranges[:240]}", ranges[240:], " -all"]
    d = domain(txt(*strings), txt("google-site-verification=" + "x" * 60))
    with pytest.raises(Finding, match=r"more than 450.*RFC 7208 §3.4"):
        checks.test_spf_size(d)


def test_a_glued_split_fails_when_it_breaks_syntax_and_warns_when_it_changes_a_name() -> None:
    with pytest.raises(VIOLATION, match=r"glues terms.*'-allip4.*RFC 7208 §3.3"):
        checks.test_spf_concatenation(domain(txt("v=spf1 mx -all", "ip4:192.0.2.1")))
    with pytest.raises(Finding, match=r"glues terms.*example.cominclude"):
        checks.test_spf_concatenation(
            domain(txt("v=spf1 a:mail.example.com", "include:_spf.example.net -all"))
        )
    passes(checks.test_spf_concatenation, domain(txt("v=spf1 include:_spf.exa", "mple.net -all")))


def test_v_spf1_glued_to_its_next_string_is_still_judged() -> None:
    d = domain(txt("v=spf1", "mx -all"))
    with pytest.raises(VIOLATION, match="glues terms"):
        checks.test_spf_concatenation(d)


def test_type_99_warns_beside_txt_and_fails_alone() -> None:
    d, t = facts("v=spf1 mx -all", SPF=[txt("v=spf1 mx -all")], MX=["10 mail.example.com."])
    with pytest.raises(Finding, match=r"obsolete SPF \(type 99\).*§14.1"):
        checks.test_spf_rrtype99(d, t)
    alone = tree_of({D: {"SPF": [txt("v=spf1 mx -all")]}})
    with pytest.raises(VIOLATION, match=r"only as the obsolete.*MUST be published as TXT"):
        checks.test_spf_rrtype99(domain(), alone)
    with pytest.raises(pytest.skip.Exception, match="no SPF record"):
        checks.test_spf_rrtype99(domain(), tree_of({D: {}}))


def test_the_tree_keeps_the_type_99_answer_through_the_codec() -> None:
    from mailspec.facts import decode, encode

    t = tree_of(zone_of("v=spf1 -all", SPF=[txt("v=spf1 -all")]))
    assert t.rr99 is not None and t.rr99_records == ["v=spf1 -all"]
    assert decode(SpfTree, encode(t)) == t


# ---------------------------------------------------------------------------------- the senders
def test_an_authorised_outbound_address_passes() -> None:
    passes(checks.test_spf_authorizes_outbound, GOOD[0], GIVEN, result("pass", "mx matched"), [])


@pytest.mark.parametrize("value", ["fail", "softfail", "neutral", "none", "permerror"])
def test_an_unauthorised_outbound_address_fails(value: str) -> None:
    with pytest.raises(VIOLATION, match=rf"does not authorise.*= {value}.*RFC 7208 §2.4"):
        checks.test_spf_authorizes_outbound(GOOD[0], GIVEN, result(value), [])


def test_a_temperror_is_indeterminate_and_assumed_addresses_skip() -> None:
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_spf_authorizes_outbound(GOOD[0], GIVEN, result("temperror", f"TXT: {TIMEOUT}"), [])
    with pytest.raises(pytest.skip.Exception, match="--mail-outbound"):
        checks.test_spf_authorizes_outbound(GOOD[0], ASSUMED, result("fail"), [])


def test_the_helo_identity_must_pass_too_where_the_helo_name_has_a_record() -> None:
    zone = zone_of("v=spf1 -all")
    helo = "mail.example.com"
    passing = (helo, tree_of(zone, helo), result("pass"))
    passes(checks.test_spf_authorizes_outbound, GOOD[0], GIVEN, result("pass"), [passing])
    assert any("HELO identity passes too" in n for n in current().notes)
    failing = (helo, tree_of(zone, helo), result("fail"))
    with pytest.raises(VIOLATION, match=r"HELO name mail.example.com does not authorise.*= fail.*§2.3"):
        checks.test_spf_authorizes_outbound(GOOD[0], GIVEN, result("pass"), [failing])
    # a HELO name without a record is helo.spf's finding, not this check's
    bare = ("nospf.example.net", tree_of(zone, "nospf.example.net"), result("none"))
    passes(checks.test_spf_authorizes_outbound, GOOD[0], GIVEN, result("pass"), [bare])
    # both identities failing: one failure naming both
    with pytest.raises(VIOLATION, match=r"to send as example.com.*HELO name mail.example.com"):
        checks.test_spf_authorizes_outbound(GOOD[0], GIVEN, result("softfail"), [failing])
    slow = (helo, tree_of(zone, helo), result("temperror", f"TXT: {TIMEOUT}"))
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_spf_authorizes_outbound(GOOD[0], GIVEN, result("pass"), [slow])


def test_helo_spf() -> None:
    zone = zone_of("v=spf1 -all")
    good = ("mail.example.com", tree_of(zone, "mail.example.com"), result("pass"))
    passes(checks.test_helo_spf, GIVEN, [good])
    assert any("= pass" in n for n in current().notes)
    missing = ("nospf.example.net", tree_of(zone, "nospf.example.net"), result("none"))
    with pytest.raises(Finding, match=r"nospf.example.net.*no SPF record.*§2.3.*v=spf1 a -all"):
        checks.test_helo_spf(GIVEN, [good, missing])
    slow = (
        "slow.example.net",
        tree_of({"slow.example.net": "TIMEOUT"}, "slow.example.net"),
        result("temperror"),
    )
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_helo_spf(GIVEN, [good, slow])
    with pytest.raises(pytest.skip.Exception, match="--mail-helo-name"):
        checks.test_helo_spf(GIVEN, [])
