"""DMARC records (RFC 7489 / RFC 9989), report URIs, and the two Organizational Domain readings."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.dmarc import (
    MAX_TREE_WALK_QUERIES,
    DmarcError,
    DmarcRecord,
    dmarc_records,
    is_dmarc,
    needs_report_authorization,
    parse_dmarc,
    parse_report_uri,
    psl_discovery_names,
    psl_organizational_domain,
    report_authorization_name,
    same_organizational_domain,
    tree_walk_domains,
    tree_walk_names,
    tree_walk_outcome,
)

GOOD = "v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s; aspf=r; rua=mailto:agg@example.com; fo=1:d"


def test_a_full_record() -> None:
    r = parse_dmarc(GOOD)
    assert (r.p, r.sp, r.np, r.adkim, r.aspf) == ("reject", "quarantine", "reject", "s", "r")
    assert r.fo == {"1", "d"}
    assert [u.address for u in r.rua] == ["agg@example.com"]
    assert r.problems == ()
    assert r.enforcing
    assert r.p_is_second
    assert r.policy("rfc7489") == r.policy("rfc9989") == "reject"
    assert r.policy("rfc7489", "subdomain") == "quarantine"
    assert r.policy("rfc9989", "nonexistent") == "reject"


def test_defaults() -> None:
    r = parse_dmarc("v=DMARC1; p=none")
    assert (r.adkim, r.aspf, r.fo, r.pct, r.rf, r.ri, r.psd, r.test_mode) == (
        "r",
        "r",
        frozenset({"0"}),
        100,
        ("afrf",),
        86400,
        "u",
        False,
    )
    assert r.rua == r.ruf == ()
    assert r.policy("rfc7489", "subdomain") == r.policy("rfc7489", "nonexistent") == "none"


def test_strings_are_joined_with_nothing_between() -> None:
    r = parse_dmarc(["v=DMARC1; p=rej", "ect; rua=mailto:a@example.com"])
    assert r.p == "reject"
    assert r.text == "v=DMARC1; p=reject; rua=mailto:a@example.com"


@pytest.mark.parametrize(
    "text",
    ["v=DMARC1", "v=DMARC1;", "v = DMARC1 ; p=none", "V=DMARC1; p=none", "v=DMARC1\t;p=none"],
)
def test_is_dmarc(text: str) -> None:
    assert is_dmarc(text)
    parse_dmarc(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v=dmarc1; p=none",
        "v=DMARC2; p=none",
        "p=none; v=DMARC1",
        " v=DMARC1; p=none",
        "v=DMARC1x",
        "v=spf1 -all",
    ],
)
def test_not_dmarc(text: str) -> None:
    assert not is_dmarc(text)
    with pytest.raises(DmarcError, match="no DMARC record"):
        parse_dmarc(text)


def test_record_selection() -> None:
    texts = ["v=spf1 -all", ("v=DMARC1; ", "p=none"), "some v=DMARC1; p=none", "v=DMARC1; p=reject"]
    assert dmarc_records(texts) == ("v=DMARC1; p=none", "v=DMARC1; p=reject")


def test_a_duplicate_tag_is_an_error_saying_where() -> None:
    with pytest.raises(DmarcError, match=r"'p' appears twice \(tags 2 and 4"):
        parse_dmarc("v=DMARC1; p=none; rua=mailto:a@example.com; P=reject")


def test_every_tag_twice_is_an_error() -> None:
    tags = "p=none; sp=none; np=none; adkim=r; aspf=r; fo=0; pct=100; rf=afrf; ri=86400; "
    tags += "rua=mailto:a@x.example; ruf=mailto:b@x.example; t=n; psd=u; "
    with pytest.raises(DmarcError, match="appears twice"):
        parse_dmarc("v=DMARC1; " + tags * 2)


def test_missing_p_differs_between_the_readings() -> None:
    r = parse_dmarc("v=DMARC1; rua=mailto:a@example.com")
    assert r.p is None
    assert [p.tag for p in r.problems_for("rfc7489")] == ["p"]
    assert r.problems_for("rfc9989") == ()
    # RFC 7489 §6.6.3 step 6: no valid p, but a valid rua: as if p=none
    assert r.policy("rfc7489") == "none"
    assert r.acts_as_none("rfc7489")
    assert r.policy("rfc9989") == "none"
    assert not r.acts_as_none("rfc9989")


def test_missing_p_without_rua_is_no_dmarc_under_7489_only() -> None:
    r = parse_dmarc("v=DMARC1; adkim=s")
    assert r.policy("rfc7489") is None
    assert not r.applies("rfc7489")
    assert r.policy("rfc9989") == "none"
    assert r.applies("rfc9989")


def test_an_invalid_p_with_rua_is_none_and_without_is_no_dmarc() -> None:
    with_rua = parse_dmarc("v=DMARC1; p=block; rua=mailto:a@example.com")
    assert with_rua.p is None
    assert [p.tag for p in with_rua.problems_for("rfc9989")] == ["p"]
    assert with_rua.policy("rfc7489") == with_rua.policy("rfc9989") == "none"
    without = parse_dmarc("v=DMARC1; p=block")
    assert without.policy("rfc7489") is without.policy("rfc9989") is None


def test_an_invalid_sp_falls_back_to_none() -> None:
    r = parse_dmarc("v=DMARC1; p=reject; sp=maybe; rua=mailto:a@example.com")
    assert r.sp is None
    assert r.policy("rfc7489") == "none"
    assert r.policy("rfc9989", "subdomain") == "none"


def test_an_invalid_np_falls_back_under_9989() -> None:
    r = parse_dmarc("v=DMARC1; p=reject; np=maybe")
    assert r.policy("rfc7489", "nonexistent") == "reject"
    assert r.policy("rfc9989") is None


def test_p_must_be_second_under_7489_only() -> None:
    r = parse_dmarc("v=DMARC1; rua=mailto:a@example.com; p=quarantine")
    assert not r.p_is_second
    assert [p.tag for p in r.problems_for("rfc7489")] == ["p"]
    assert "not the second" in r.problems_for("rfc7489")[0].message
    assert r.problems_for("rfc9989") == ()
    assert r.policy("rfc7489") == r.policy("rfc9989") == "quarantine"


def test_values_are_case_insensitive_but_dmarc1_is_not() -> None:
    r = parse_dmarc("v=DMARC1; P=Reject; ADKIM=S; fo=D")
    assert (r.p, r.adkim, r.fo) == ("reject", "s", frozenset({"d"}))


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("v=DMARC1; p=none; adkim=x", "adkim"),
        ("v=DMARC1; p=none; aspf=strict", "aspf"),
        ("v=DMARC1; p=none; fo=2", "fo"),
        ("v=DMARC1; p=none; sp=", "sp"),
        ("v=DMARC1; p=none; rua=", "rua"),
        ("v=DMARC1; p=none; rua=http//nope", "rua"),
        ("v=DMARC1; p=none; ruf=mailto:nobody", "ruf"),
    ],
)
def test_invalid_values_are_problems_of_both_readings(text: str, tag: str) -> None:
    r = parse_dmarc(text)
    assert [p.tag for p in r.problems_for("rfc7489")] == [tag]
    assert [p.tag for p in r.problems_for("rfc9989")] == [tag]


def test_an_invalid_alignment_reads_as_relaxed() -> None:
    assert parse_dmarc("v=DMARC1; p=none; adkim=x").adkim == "r"


def test_historic_tags_of_9989_are_validated_under_7489() -> None:
    r = parse_dmarc("v=DMARC1; p=reject; pct=150; rf=iodef; ri=soon")
    assert r.historic_tags == ("pct", "rf", "ri")
    assert [p.tag for p in r.problems_for("rfc7489")] == ["pct", "ri", "rf"]
    assert r.problems_for("rfc9989") == ()
    assert (r.pct, r.ri, r.rf) == (100, 86400, ("afrf",))
    ok = parse_dmarc("v=DMARC1; p=reject; pct=25; ri=3600")
    assert (ok.pct, ok.ri, ok.problems) == (25, 3600, ())


def test_a_huge_number_is_a_problem_not_a_crash() -> None:
    r = parse_dmarc("v=DMARC1; p=none; pct=" + "9" * 5000 + "; ri=" + "1" * 5000)
    assert {p.tag for p in r.problems} == {"pct", "ri"}


def test_test_mode_lowers_the_applied_policy_under_9989() -> None:
    r = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; t=y")
    assert r.test_mode
    assert r.policy("rfc9989") == "reject"
    assert r.applied_policy("rfc9989") == "quarantine"
    assert r.applied_policy("rfc9989", "subdomain") == "none"
    assert r.applied_policy("rfc7489") == "reject"  # (t is unknown to RFC 7489)
    assert not parse_dmarc("v=DMARC1; p=reject; t=n").test_mode


def test_9989_tags_are_checked_under_9989_only() -> None:
    r = parse_dmarc("v=DMARC1; p=none; t=maybe; psd=x; fo=0:1")
    assert sorted(p.tag for p in r.problems_for("rfc9989")) == ["fo", "psd", "t"]
    assert r.problems_for("rfc7489") == ()
    assert parse_dmarc("v=DMARC1; p=none; psd=y").psd == "y"


def test_unknown_tags_are_ignored_and_listed() -> None:
    r = parse_dmarc("v=DMARC1; p=none; foo=bar; x_y=1")
    assert r.unknown_tags == ("foo", "x_y")
    assert r.problems == ()
    assert r.value("foo") == "bar"
    assert r.has("x_y")
    assert r.value("sp") is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("v=DMARC1; p=none;; adkim=s", "empty"),
        ("v=DMARC1; p=none; junk", "not tag=value"),
        ("v=DMARC1; p=none; 9x=1", "not a tag name"),
    ],
)
def test_broken_tag_list_pieces_are_problems(text: str, where: str) -> None:
    r = parse_dmarc(text)
    assert r.p == "none"
    assert len(r.problems) == 1
    assert where in r.problems[0].message
    assert "character" in r.problems[0].message


def test_one_final_semicolon_is_fine() -> None:
    assert parse_dmarc("v=DMARC1; p=none; ").problems == ()


def test_problems_are_bounded() -> None:
    r = parse_dmarc("v=DMARC1; p=none; " + "junk; " * 2000)
    assert len(r.problems) == 50
    assert r.problems_left_out == 1950


def test_a_10kb_record_parses() -> None:
    text = "v=DMARC1; p=none; rua=" + ",".join(f"mailto:r{i}@example.com" for i in range(500))
    assert len(text) > 10_000
    assert len(parse_dmarc(text).rua) == 500


# --- report URIs ---


def test_mailto_with_size() -> None:
    u = parse_report_uri("mailto:dmarc%2Dreports@Example.COM!10m")
    assert (u.scheme, u.address, u.host, u.size_limit, u.size_text) == (
        "mailto",
        "dmarc-reports@Example.COM",
        "example.com",
        10 * 2**20,
        "10m",
    )
    assert u.uri == "mailto:dmarc%2Dreports@Example.COM"
    assert u.is_mailto
    assert parse_report_uri("mailto:a@example.com!512").size_limit == 512


def test_other_schemes_are_kept_with_their_host() -> None:
    u = parse_report_uri("https://user@Reports.Example.net:8443/dmarc?x=1")
    assert (u.scheme, u.host, u.address) == ("https", "reports.example.net", None)
    assert parse_report_uri("urn:example:thing").host is None


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("example.com", "not a URI"),
        ("mailto:", "not a URI"),
        ("mailto:nobody", "one address"),
        ("mailto:@example.com", "one address"),
        ("mailto:a@under_score.example", "no host name"),
        ("mailto:a@example.com!big", "size suffix"),
        ("mailto:a@example.com!99999999999999999999t", "64 bits"),
        ("mailto:a b@example.com", "not a URI"),
        ("https:///path", "without a host"),
    ],
)
def test_bad_uris(uri: str, why: str) -> None:
    with pytest.raises(DmarcError, match=why):
        parse_report_uri(uri)


def test_rua_lists_with_space_around_commas() -> None:
    r = parse_dmarc("v=DMARC1; p=none; rua=mailto:a@example.com , mailto:b@thirdparty.example.net")
    assert [u.host for u in r.rua] == ["example.com", "thirdparty.example.net"]


def test_one_bad_uri_of_several_is_a_problem_and_the_rest_stay() -> None:
    r = parse_dmarc("v=DMARC1; rua=mailto:a@example.com,nonsense")
    assert len(r.rua) == 1
    assert r.policy("rfc7489") == "none"  # (the one valid rua is enough)
    assert [p.tag for p in r.problems if p.tag == "rua"] == ["rua"]


# --- Organizational Domain: PSL (RFC 7489 §3.2) ---


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("example.com", "example.com"),
        ("mail.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("Mail.Example.COM.", "example.com"),
        ("x.y.blogspot.com", "y.blogspot.com"),  # a private suffix
        ("com", "com"),  # a public suffix is its own
        ("host.unknowntld", "host.unknowntld"),
    ],
)
def test_psl_organizational_domain(domain: str, org: str) -> None:
    assert psl_organizational_domain(domain) == org


def test_psl_discovery_names() -> None:
    assert psl_discovery_names("example.com") == ("_dmarc.example.com",)
    assert psl_discovery_names("a.b.example.com") == ("_dmarc.a.b.example.com", "_dmarc.example.com")


def test_same_organizational_domain_and_report_authorization() -> None:
    assert same_organizational_domain("mail.example.com", "example.com")
    assert not same_organizational_domain("example.com", "example.net")
    assert not needs_report_authorization("example.com", "reports.example.com")
    assert needs_report_authorization("example.com", "thirdparty.example.net")
    assert (
        report_authorization_name("Example.com.", "thirdparty.example.net")
        == "example.com._report._dmarc.thirdparty.example.net"
    )


@pytest.mark.parametrize("bad", ["", ".", "a..b", "   "])
def test_no_domain_is_a_dmarc_error(bad: str) -> None:
    with pytest.raises(DmarcError, match="no domain name"):
        psl_organizational_domain(bad)
    with pytest.raises(DmarcError):
        tree_walk_names(bad)


# --- RFC 9989 tree walk (draft-ietf-dmarc-dmarcbis-41 §4.10) ---


def test_tree_walk_of_the_drafts_example() -> None:
    assert tree_walk_names("a.b.c.d.e.f.g.h.i.j.mail.example.com") == (
        "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com",
        "_dmarc.g.h.i.j.mail.example.com",
        "_dmarc.h.i.j.mail.example.com",
        "_dmarc.i.j.mail.example.com",
        "_dmarc.j.mail.example.com",
        "_dmarc.mail.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    )


def test_tree_walk_short_names_go_label_by_label() -> None:
    assert tree_walk_domains("a.mail.example.com") == (
        "a.mail.example.com",
        "mail.example.com",
        "example.com",
        "com",
    )
    assert tree_walk_domains("com") == ("com",)
    seven = "a.b.c.d.e.f.g"
    assert len(tree_walk_domains(seven)) == 7
    eight = "a.b.c.d.e.f.g.h"
    assert tree_walk_domains(eight)[1] == "b.c.d.e.f.g.h"


@given(st.lists(st.sampled_from(["a", "b", "mail", "x1"]), min_size=1, max_size=40))
def test_tree_walk_never_asks_more_than_eight(labels: list[str]) -> None:
    walk = tree_walk_domains(".".join(labels))
    assert len(walk) <= MAX_TREE_WALK_QUERIES
    assert walk[0] == ".".join(labels)
    assert walk[-1] == labels[-1]
    assert all(len(walk[i].split(".")) > len(walk[i + 1].split(".")) for i in range(len(walk) - 1))


def _rec(text: str = "v=DMARC1; p=reject") -> DmarcRecord:
    return parse_dmarc(text)


def test_tree_walk_outcome_own_record() -> None:
    own = _rec()
    out = tree_walk_outcome("example.com", {"example.com": own})
    assert (out.policy_domain, out.record, out.organizational_domain) == ("example.com", own, "example.com")
    assert out.queried == ("example.com", "com")


def test_tree_walk_outcome_fewest_labels_is_the_organizational_domain() -> None:
    # the draft's §4.10.2 example: records at mail.example.com and example.com
    records = {"mail.example.com": _rec(), "example.com": _rec("v=DMARC1; p=none")}
    out = tree_walk_outcome("a.mail.example.com", records)
    assert out.organizational_domain == "example.com"
    assert out.policy_domain == "example.com"


def test_tree_walk_outcome_psd_n_stops_the_walk() -> None:
    records = {"mail.example.com": _rec("v=DMARC1; p=reject; psd=n"), "example.com": _rec()}
    out = tree_walk_outcome("a.mail.example.com", records)
    assert out.organizational_domain == "mail.example.com"
    assert out.queried == ("a.mail.example.com", "mail.example.com")
    assert out.policy_domain == "mail.example.com"


def test_tree_walk_outcome_psd_y_makes_the_name_below_it_organizational() -> None:
    psd = _rec("v=DMARC1; p=reject; psd=y")
    out = tree_walk_outcome("a.mail.example.com", {"com": psd})
    assert out.organizational_domain == "example.com"
    assert out.policy_domain == "com"
    assert out.record is psd


def test_tree_walk_outcome_nothing_found() -> None:
    out = tree_walk_outcome("a.example.com", {})
    assert (out.policy_domain, out.record, out.organizational_domain) == (None, None, "a.example.com")
    assert out.queried == tree_walk_domains("a.example.com")


# --- properties: nothing but DmarcError ---

_PIECES = st.sampled_from(
    [
        "v=DMARC1",
        ";",
        " ",
        "p=",
        "none",
        "reject",
        "rua=",
        "mailto:",
        "a@",
        "example.com",
        "!",
        "10m",
        ",",
        "=",
        "%",
        "\x00",
        "é",
        "9" * 30,
        "psd=y",
        "t=y",
        "fo=0:1",
    ]
)


@given(st.text())
def test_any_text_gives_a_record_or_a_dmarc_error(text: str) -> None:
    with contextlib.suppress(DmarcError):
        parse_dmarc(text)


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_dmarc_like_text_gives_a_record_or_a_dmarc_error(tail: str) -> None:
    try:
        r = parse_dmarc("v=DMARC1;" + tail)
    except DmarcError:
        return
    assert r.policy("rfc7489") in (None, "none", "quarantine", "reject")
    assert r.policy("rfc9989") in (None, "none", "quarantine", "reject")


@given(st.text(max_size=80))
def test_any_uri_text_gives_a_uri_or_a_dmarc_error(text: str) -> None:
    with contextlib.suppress(DmarcError):
        parse_report_uri(text)


@given(st.text(max_size=80))
def test_any_domain_text_gives_names_or_a_dmarc_error(text: str) -> None:
    try:
        tree_walk_names(text)
        psl_organizational_domain(text)
    except DmarcError:
        pass
