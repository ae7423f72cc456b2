"""DNS blocklists (RFC 5782): query names, sanity entries and what an answer means."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.dnsbl import (
    DEFAULT_ZONES,
    TEST_ENTRIES,
    Listing,
    classify,
    is_spamhaus,
    query_name,
    sanity_names,
)
from mailspec.settings import DEFAULT_DNSBLS

V6_NIBBLES_2 = "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"


@pytest.mark.parametrize(
    ("ip", "zone", "name"),
    [
        ("192.0.2.99", "zen.spamhaus.org", "99.2.0.192.zen.spamhaus.org"),
        ("192.0.2.99", "zen.spamhaus.org.", "99.2.0.192.zen.spamhaus.org"),
        ("127.0.0.2", "bl.spamcop.net", "2.0.0.127.bl.spamcop.net"),
        (
            "2001:db8:1:2:3:4:567:89ab",
            "bad.example.com",
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bad.example.com",
        ),  # RFC 5782 §2.4's example
        ("::ffff:7f00:2", "v6.example", f"{V6_NIBBLES_2}.v6.example"),
    ],
)
def test_query_name(ip: str, zone: str, name: str) -> None:
    assert query_name(ip, zone) == name


def test_query_name_of_no_address_raises_value_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        query_name("mx.example.com", "zen.spamhaus.org")


def test_sanity_entries_are_rfc_5782_section_5s() -> None:
    assert ("127.0.0.2", True) in [(e.address, e.must_exist) for e in TEST_ENTRIES]
    assert ("127.0.0.1", False) in [(e.address, e.must_exist) for e in TEST_ENTRIES]
    assert {e.version for e in TEST_ENTRIES} == {4, 6}
    assert sanity_names("zen.spamhaus.org") == (
        ("2.0.0.127.zen.spamhaus.org", True),
        ("1.0.0.127.zen.spamhaus.org", False),
    )
    v6 = sanity_names("v6.example", 6)
    assert v6 == ((f"{V6_NIBBLES_2}.v6.example", True), (f"1{V6_NIBBLES_2[1:]}.v6.example", False))
    assert all(len(name.split(".")) == 32 + 2 for name, _ in v6)


def test_the_default_zones_are_the_settings_default() -> None:
    # one list in two places until settings imports it from here: they must not drift apart
    assert DEFAULT_ZONES == DEFAULT_DNSBLS


@pytest.mark.parametrize(
    ("zone", "spamhaus"),
    [
        ("zen.spamhaus.org", True),
        ("ZEN.Spamhaus.ORG.", True),
        ("pbl.spamhaus.org", True),
        ("abcdefghijklmnop.zen.dq.spamhaus.net", True),
        ("spamhaus.org", True),
        ("bl.spamcop.net", False),
        ("notspamhaus.org", False),
        ("zen.spamhaus.org.example", False),
    ],
)
def test_is_spamhaus(zone: str, spamhaus: bool) -> None:
    assert is_spamhaus(zone) is spamhaus


def test_no_address_is_not_listed() -> None:
    listing = classify("zen.spamhaus.org", [])
    assert listing == Listing("zen.spamhaus.org", "not-listed")
    assert not listing.listed
    assert not listing.refused
    assert "not listed" in str(listing)


@pytest.mark.parametrize(
    ("code", "kind", "meaning"),
    [
        ("127.0.0.2", "spam-source", "SBL"),
        ("127.0.0.3", "spam-source", "CSS"),
        ("127.0.0.4", "spam-source", "XBL"),
        ("127.0.0.9", "spam-source", "DROP"),
        ("127.0.0.10", "policy", "PBL"),
        ("127.0.0.11", "policy", "PBL"),
        ("127.0.0.30", "spam-source", "BCL"),
        ("127.0.0.99", "spam-source", "does not know"),
    ],
)
def test_spamhaus_codes(code: str, kind: str, meaning: str) -> None:
    listing = classify("zen.spamhaus.org", [code])
    assert listing.status == "listed"
    assert listing.listed
    assert listing.kind == kind
    assert listing.codes == (code,)
    assert meaning in listing.reason
    assert code in listing.reason
    assert (listing.policy_codes if kind == "policy" else listing.spam_codes) == (code,)


def test_a_spam_source_outweighs_a_policy_listing_and_both_are_kept() -> None:
    listing = classify("zen.spamhaus.org", ["127.0.0.10", "127.0.0.4"])
    assert listing.kind == "spam-source"
    assert listing.policy_codes == ("127.0.0.10",)
    assert listing.spam_codes == ("127.0.0.4",)
    assert "PBL" in listing.reason
    assert "XBL" in listing.reason


def test_other_lists_answers_are_spam_source_listings() -> None:
    listing = classify("bl.spamcop.net", ["127.0.0.2"])
    assert (listing.status, listing.kind, listing.spam_codes) == ("listed", "spam-source", ("127.0.0.2",))
    # a PBL-like code means nothing special outside Spamhaus
    assert classify("b.barracudacentral.org", ["127.0.0.10"]).kind == "spam-source"


@pytest.mark.parametrize(
    ("zone", "answers", "fragment"),
    [
        ("zen.spamhaus.org", ["127.255.255.252"], "typing error"),
        ("zen.spamhaus.org", ["127.255.255.254"], "public or open resolver"),
        ("zen.spamhaus.org", ["127.255.255.255"], "excessive number of queries"),
        ("zen.spamhaus.org", ["127.255.255.1"], "error code"),
        ("bl.spamcop.net", ["127.255.255.254"], "public or open resolver"),
        ("zen.spamhaus.org", ["127.0.1.255"], "domain list"),
        ("bl.spamcop.net", ["192.0.2.1"], "outside 127.0.0.0/8"),
        ("zen.spamhaus.org", ["127.0.0.2", "198.51.100.7"], "outside 127.0.0.0/8"),
        ("zen.spamhaus.org", ["::1"], "not an IPv4 address"),
        ("zen.spamhaus.org", ["garbage"], "not an IPv4 address"),
    ],
)
def test_answers_that_are_no_verdict_are_refused_with_the_reason(
    zone: str, answers: list[str], fragment: str
) -> None:
    listing = classify(zone, answers)
    assert listing.status == "refused"
    assert listing.refused
    assert not listing.listed
    assert listing.kind == ""
    assert fragment in listing.reason
    assert fragment in str(listing)


def test_a_dbl_code_outside_spamhaus_is_an_ordinary_listing() -> None:
    assert classify("bl.example.net", ["127.0.1.255"]).listed


def test_a_refusal_is_said_once() -> None:
    listing = classify("zen.spamhaus.org", ["127.255.255.254", "127.255.255.254"])
    assert listing.reason.count("public or open resolver") == 1


@given(st.text(max_size=30), st.lists(st.text(max_size=20) | st.ip_addresses(v=4).map(str), max_size=4))
def test_classify_never_raises(zone: str, answers: list[str]) -> None:
    listing = classify(zone, answers)
    assert listing.status in ("listed", "refused", "not-listed")
    assert (listing.status == "not-listed") is (not answers)
    assert isinstance(str(listing), str)
    if listing.listed:
        assert sorted(listing.spam_codes + listing.policy_codes) == sorted(listing.codes)


@given(st.lists(st.ip_addresses(v=4, network="127.0.0.0/8"), min_size=1, max_size=4))
def test_loopback_answers_outside_the_error_range_are_listings(answers: list[ipaddress.IPv4Address]) -> None:
    listing = classify("bl.example.net", [str(a) for a in answers])
    errors = ipaddress.ip_network("127.255.255.0/24")
    assert listing.status == ("refused" if any(a in errors for a in answers) else "listed")


@given(st.ip_addresses(), st.sampled_from(["zen.spamhaus.org", "bl.example."]))
def test_query_names_end_in_the_zone_and_have_the_address_labels(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, zone: str
) -> None:
    name = query_name(str(ip), zone)
    assert name.endswith("." + zone.rstrip("."))
    assert len(name.split(".")) == (4 if ip.version == 4 else 32) + len(zone.rstrip(".").split("."))
