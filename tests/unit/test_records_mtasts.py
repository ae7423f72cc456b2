"""MTA-STS (RFC 8461): the TXT record, the policy file and MX pattern matching."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.mtasts import (
    MAX_MAX_AGE,
    MtaStsError,
    is_mtasts_record,
    mtasts_records,
    mx_matches,
    parse_mtasts_policy,
    parse_mtasts_record,
    parse_mx_pattern,
)

POLICY = (
    b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"
)

# --- the TXT record (§3.1) ---


@pytest.mark.parametrize(
    ("text", "record_id", "extensions"),
    [
        ("v=STSv1; id=20160831085700Z;", "20160831085700Z", ()),
        ("v=STSv1;id=abc", "abc", ()),
        ("v=STSv1 ; id=abc ; ext-1.x=some:value", "abc", (("ext-1.x", "some:value"),)),
        ("v=STSv1; id=" + "a" * 32, "a" * 32, ()),
    ],
)
def test_record(text: str, record_id: str, extensions: tuple[tuple[str, str], ...]) -> None:
    r = parse_mtasts_record(text)
    assert (r.id, r.extensions, r.text) == (record_id, extensions, text)


def test_record_strings_are_joined() -> None:
    assert parse_mtasts_record(["v=STSv1; i", "d=x1"]).id == "x1"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("v=STSv1", "does not begin"),
        ("v=stsv1; id=1", "does not begin"),
        ("id=1; v=STSv1;", "does not begin"),
        ("v=STSv1;", "no id"),
        ("v=STSv1; ext=1", "no id"),
        ("v=STSv1; id=", "1 to 32"),
        ("v=STSv1; id=" + "a" * 33, "1 to 32"),
        ("v=STSv1; id=2016-08-31", "1 to 32"),
        ("v=STSv1; id=1;; x=y", "empty"),
        ("v=STSv1; id = 1", "not name=value"),
        ("v=STSv1; id=1; id=2", "twice"),
        ("v=STSv1; id=1; x=a b", "sts-ext-value"),
        ("v=STSv1; id=1; _x=1", "not name=value"),
    ],
)
def test_bad_records(text: str, why: str) -> None:
    with pytest.raises(MtaStsError, match=why):
        parse_mtasts_record(text)


def test_record_selection() -> None:
    assert is_mtasts_record("v=STSv1; id=1")
    assert not is_mtasts_record("v=STSv1")  # (§3.1: not beginning "v=STSv1;", discarded)
    assert not is_mtasts_record("v=spf1 -all")
    assert mtasts_records(["v=spf1 -all", ("v=STSv1;", " id=1"), "v=STSv1 ;id=2"]) == (
        "v=STSv1; id=1",
        "v=STSv1 ;id=2",
    )


# --- the policy (§3.2) ---


def test_policy() -> None:
    p = parse_mtasts_policy(POLICY)
    assert (p.version, p.mode, p.max_age, p.mx) == (
        "STSv1",
        "enforce",
        604800,
        ("mail.example.com", "*.example.net"),
    )
    assert p.notes == ()
    assert p.covers("MAIL.example.com.")
    assert p.covers("mx1.example.net")
    assert not p.covers("example.net")
    assert p.matching_patterns("a.example.net") == ("*.example.net",)


def test_policy_text_and_no_final_newline() -> None:
    p = parse_mtasts_policy("version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400")
    assert p.mode == "testing"
    assert p.notes == ()


def test_lf_only_is_tolerated_with_a_note() -> None:
    p = parse_mtasts_policy(POLICY.replace(b"\r\n", b"\n"))
    assert p.mx == ("mail.example.com", "*.example.net")
    assert [n.kind for n in p.notes] == ["lf-only"]
    assert "5 line(s)" in p.notes[0].message


def test_mode_none_needs_no_mx() -> None:
    p = parse_mtasts_policy("version: STSv1\nmode: none\nmax_age: 86400\n")
    assert (p.mode, p.mx) == ("none", ())


def test_trailing_dot_and_upper_case_in_mx_are_noted_and_normalised() -> None:
    p = parse_mtasts_policy(b"version: STSv1\r\nmode: enforce\r\nmx: Mail.Example.COM.\r\nmax_age: 86400\r\n")
    assert p.mx == ("mail.example.com",)
    assert [(n.line, n.kind) for n in p.notes] == [(3, "trailing-dot"), (3, "upper-case")]


def test_duplicates_first_wins_with_a_note() -> None:
    body = b"version: STSv1\r\nmode: testing\r\nmode: enforce\r\nmx: a.example.com\r\n"
    body += b"max_age: 100\r\nmax_age: 5\r\n"
    p = parse_mtasts_policy(body)
    assert (p.mode, p.max_age) == ("testing", 100)
    assert [(n.line, n.kind) for n in p.notes] == [(3, "duplicate"), (6, "duplicate")]
    assert "first on line 2" in p.notes[0].message


def test_extensions_blank_lines_and_trailing_space() -> None:
    body = b"version: STSv1  \r\n\r\nmode:enforce\r\nmx:   a.example.com\t\r\n"
    body += b"max_age: 0\r\nx-ext: caf\xc3\xa9 ok\r\n"
    p = parse_mtasts_policy(body)
    assert (p.version, p.mode, p.max_age, p.mx) == ("STSv1", "enforce", 0, ("a.example.com",))
    assert p.extensions == (("x-ext", "café ok"),)
    assert [n.kind for n in p.notes] == ["blank-line"]


def test_field_names_are_case_sensitive() -> None:
    with pytest.raises(MtaStsError, match=r"no 'mode' field.*'Mode'"):
        parse_mtasts_policy("version: STSv1\nMode: enforce\nmx: a.example.com\nmax_age: 1\n")


def test_max_age_bounds() -> None:
    ok = parse_mtasts_policy(f"version: STSv1\nmode: none\nmax_age: {MAX_MAX_AGE}\n")
    assert ok.max_age == MAX_MAX_AGE
    with pytest.raises(MtaStsError, match="at most 31557600"):
        parse_mtasts_policy(f"version: STSv1\nmode: none\nmax_age: {MAX_MAX_AGE + 1}\n")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "no 'version'"),
        (b"mode: none\nmax_age: 1\n", "no 'version'"),
        (b"version: STSv1\nmax_age: 1\n", "no 'mode'"),
        (b"version: STSv1\nmode: none\n", "no 'max_age'"),
        (b"version: STSv2\nmode: none\nmax_age: 1\n", "only version is STSv1"),
        (b"version: STSv1\nmode: Enforce\nmx: a.example.com\nmax_age: 1\n", "expected enforce"),
        (b"version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx line"),
        (b"version: STSv1\nmode: testing\nmax_age: 1\n", "no mx line"),
        (b"version: STSv1\nmode: none\nmax_age: 12345678901\n", "1 to 10 digits"),
        (b"version: STSv1\nmode: none\nmax_age: -1\n", "1 to 10 digits"),
        (b"version: STSv1\nmode: none\nmax_age: one\n", "1 to 10 digits"),
        (b"version STSv1\n", "line 1 .* is not 'key: value'"),
        (b" version: STSv1\n", "not 'key: value'"),
        (b"version: STSv1\nmode:\n", "line 2: 'mode' has no value"),
        (b"version: STSv1\nmode: no\x01ne\n", "control character"),
        (b"version: STSv1\r\r\n", "control character"),
        (b"\xff\xfe", "not UTF-8 text: octet 0"),
        (b"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", "followed by a domain"),
        (b"version: STSv1\nmode: enforce\nmx: a.*.example.com\nmax_age: 1\n", "no domain label"),
        (b"version: STSv1\nmode: enforce\nmx: m\xc3\xa4il.example\nmax_age: 1\n", "A-labels"),
        (b"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", "no domain label"),
        (b"version: STSv1\nmode: enforce\nmx: under_score.example\nmax_age: 1\n", "no domain label"),
    ],
)
def test_bad_policies(body: bytes, why: str) -> None:
    with pytest.raises(MtaStsError, match=why):
        parse_mtasts_policy(body)


def test_a_big_policy_is_linear_and_its_notes_bounded() -> None:
    body = b"version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n" + b"mode: none\r\n" * 100_000
    body += b"mx: *.example.com\r\n" * 1000
    p = parse_mtasts_policy(body)
    assert p.mode == "enforce"
    assert len(p.notes) == 50
    assert p.notes_left_out == 100_000 - 50
    assert len(p.mx) == 1000


def test_a_huge_single_line_error_message_is_short() -> None:
    with pytest.raises(MtaStsError) as info:
        parse_mtasts_policy(b"x" * 1_000_000)
    assert len(str(info.value)) < 300


# --- mx matching (§4.1) ---


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.com.", True),
        ("mail.example.com.", "mail.example.com", True),
        ("mail.example.com", "mail2.example.com", False),
        ("*.example.com", "mx.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
        ("*.example.com", "*.example.com", False),
        ("*.Example.COM", "mx.example.com.", True),
        ("", "", False),
    ],
)
def test_mx_matches(pattern: str, host: str, matches: bool) -> None:
    assert mx_matches(pattern, host) is matches


def test_parse_mx_pattern() -> None:
    assert parse_mx_pattern("*.example.com") == ("*.example.com", [])
    with pytest.raises(MtaStsError, match="followed by a domain"):
        parse_mx_pattern("*.")


# --- properties: nothing but MtaStsError ---

_POLICY_PIECES = st.sampled_from(
    [
        "version",
        "mode",
        "max_age",
        "mx",
        ":",
        " ",
        "\r\n",
        "\n",
        "\r",
        "STSv1",
        "enforce",
        "none",
        "testing",
        "86400",
        "*.",
        "example.com",
        ".",
        "\x00",
        "é",
        "9" * 12,
    ]
)


@given(st.binary(max_size=300))
def test_any_octets_give_a_policy_or_an_mtasts_error(body: bytes) -> None:
    with contextlib.suppress(MtaStsError):
        parse_mtasts_policy(body)


@given(st.lists(_POLICY_PIECES, max_size=60).map("".join))
def test_policy_like_text_gives_a_policy_or_an_mtasts_error(text: str) -> None:
    try:
        p = parse_mtasts_policy(text)
    except MtaStsError:
        return
    assert p.mode in ("enforce", "testing", "none")
    assert 0 <= p.max_age <= MAX_MAX_AGE
    assert p.mx or p.mode == "none"


@given(st.text())
def test_any_text_gives_a_record_or_an_mtasts_error(text: str) -> None:
    with contextlib.suppress(MtaStsError):
        parse_mtasts_record(text)


@given(
    st.lists(st.sampled_from(["v=STSv1", ";", " ", "id=", "abc", "x=", "=", "\t", "é"]), max_size=20).map(
        "".join
    )
)
def test_record_like_text_gives_a_record_or_an_mtasts_error(text: str) -> None:
    with contextlib.suppress(MtaStsError):
        parse_mtasts_record(text)


@given(st.text(max_size=40), st.text(max_size=40))
def test_mx_matches_never_raises(pattern: str, host: str) -> None:
    assert mx_matches(pattern, host) in (True, False)
