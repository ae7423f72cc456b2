"""SMTP replies: parsing (RFC 5321 §4.2), the greeting and the EHLO response syntax."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.smtp import (
    MAX_LINE_OCTETS,
    Reply,
    ReplyError,
    address_literal_ok,
    ehlo_keywords,
    ehlo_name,
    ehlo_problems,
    greeting_name,
    greeting_problems,
    has_underscore_name,
    name_kind,
    parse_reply,
    text_problems,
)

POSTFIX_EHLO = [
    b"250-mx.example.com",
    b"250-PIPELINING",
    b"250-SIZE 10240000",
    b"250-VRFY",
    b"250-ETRN",
    b"250-STARTTLS",
    b"250-AUTH PLAIN LOGIN",
    b"250-AUTH=PLAIN LOGIN",
    b"250-ENHANCEDSTATUSCODES",
    b"250-8BITMIME",
    b"250-DSN",
    b"250 CHUNKING",
]


def reply(*lines: str, code: int = 220) -> Reply:
    return Reply(code, lines)


# --- parse_reply ---------------------------------------------------------------------------------


def test_a_single_line_reply() -> None:
    r = parse_reply([b"220 mx.example.com ESMTP Postfix"])
    assert r == Reply(220, ("mx.example.com ESMTP Postfix",))
    assert r.kind == 2
    assert r.text == "mx.example.com ESMTP Postfix"


def test_a_multi_line_reply_keeps_each_lines_text() -> None:
    r = parse_reply(POSTFIX_EHLO)
    assert r.code == 250
    assert r.lines[0] == "mx.example.com"
    assert r.lines[-1] == "CHUNKING"
    assert len(r.lines) == len(POSTFIX_EHLO)
    assert r.text.split("\n") == list(r.lines)


@pytest.mark.parametrize("line", [b"250 ok\r\n", b"250 ok\n", b"250 ok\r"])
def test_a_line_ending_left_by_the_reader_is_dropped(line: bytes) -> None:
    assert parse_reply([line]) == Reply(250, ("ok",))


@pytest.mark.parametrize(
    ("raw", "lines"),
    [
        ([b"250"], ("",)),  # §4.2: the SP may be omitted when there is no text
        ([b"250 "], ("",)),
        ([b"250-", b"250 last"], ("", "last")),
        ([b"250  two spaces"], (" two spaces",)),  # the text is kept as sent
    ],
)
def test_empty_and_odd_text_is_kept(raw: list[bytes], lines: tuple[str, ...]) -> None:
    assert parse_reply(raw).lines == lines


@pytest.mark.parametrize("code", [b"199", b"600", b"000", b"999", b"260"])
def test_codes_outside_the_smtp_range_parse_with_kind_0_or_their_class(code: bytes) -> None:
    r = parse_reply([code + b" odd"])
    assert r.code == int(code)
    assert r.kind == (int(code) // 100 if 200 <= int(code) <= 599 else 0)


def test_8bit_text_is_decoded_with_replacement_not_refused() -> None:
    r = parse_reply([b"220 mx.example.com gr\xc3\xbc\xc3\x9fe \xff"])
    assert r.lines == ("mx.example.com grüße \ufffd",)


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        ([], ["no lines"]),
        ([b""], ["line 1", "three-digit"]),
        ([b"25"], ["line 1", "'25'", "three-digit"]),
        ([b"2x0 hi"], ["line 1", "three-digit"]),
        ([b"\xd9\xa2\xd9\xa5\xd9\xa0 arabic digits"], ["line 1", "three-digit", "8-bit"]),
        ([b"2\xff0 x"], ["line 1", "8-bit"]),
        ([b"250_hello"], ["line 1", "'_'", "'-'", "' '"]),
        ([b"250\thello"], ["line 1", "'\\t'"]),
        ([b"250-a", b"251 b"], ["line 2", "251", "250", "same code"]),
        ([b"250 a", b"250 b"], ["line 2", "follows line 1", "last line"]),
        ([b"250 a", b"250-b", b"250 c"], ["line 2", "follows line 1"]),
        ([b"250-a"], ["line 1", "'250-'", "incomplete"]),
        ([b"250-a", b"250-b"], ["line 2", "incomplete"]),
        ([b"250-a", b"xyz"], ["line 2", "three-digit"]),
    ],
)
def test_what_is_no_reply_raises_naming_the_line_and_why(raw: list[bytes], fragments: list[str]) -> None:
    with pytest.raises(ReplyError) as info:
        parse_reply(raw)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_reply_error_is_a_value_error() -> None:
    assert issubclass(ReplyError, ValueError)


def test_a_very_long_line_in_an_error_message_is_shortened() -> None:
    with pytest.raises(ReplyError) as info:
        parse_reply([b"x" * 5000])
    assert len(str(info.value)) < 300


# --- Reply ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "text"),
    [
        (Reply(550, ("5.1.1 user unknown",)), "550 5.1.1 user unknown"),
        (Reply(250, ("mx.example.com", "PIPELINING")), "250 mx.example.com …"),
        (Reply(250, ("",)), "250"),
        (Reply(354, ()), "354"),
    ],
)
def test_str_is_the_first_line_with_a_marker_for_more(r: Reply, text: str) -> None:
    assert str(r) == text


@pytest.mark.parametrize(
    ("first", "enhanced"),
    [
        ("5.1.1 user unknown", "5.1.1"),
        ("2.0.0 Ok", "2.0.0"),
        ("4.7.1 <x@example.com>: try later", "4.7.1"),
        ("5.7.123 policy", "5.7.123"),
        ("5.1.1", "5.1.1"),
        ("3.1.1 no such class", ""),  # RFC 3463: the class is 2, 4 or 5
        ("5.1.1234 too long", ""),
        ("5.1 short", ""),
        ("5.1.1: glued", ""),
        ("user unknown 5.1.1", ""),
        ("", ""),
    ],
)
def test_enhanced_status_code(first: str, enhanced: str) -> None:
    assert Reply(550, (first, "5.1.1 second line")).enhanced == enhanced


def test_enhanced_of_a_reply_without_lines() -> None:
    assert Reply(250, ()).enhanced == ""


@pytest.mark.parametrize(
    ("code", "kind"), [(220, 2), (354, 3), (421, 4), (550, 5), (599, 5), (600, 0), (199, 0)]
)
def test_kind(code: int, kind: int) -> None:
    assert Reply(code, ("x",)).kind == kind


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("[192.0.2.1]", True),
        ("[0.0.0.0]", True),
        ("[255.255.255.255]", True),
        ("[010.001.002.003]", True),  # Snum is 1*3DIGIT: leading zeros are syntax
        ("[256.1.1.1]", False),
        ("[1.2.3]", False),
        ("[1.2.3.4.5]", False),
        ("192.0.2.1", False),
        ("[IPv6:2001:db8::1]", True),
        ("[ipv6:2001:DB8::1]", True),  # ABNF strings are case-insensitive
        ("[IPv6:::ffff:192.0.2.1]", True),
        ("[IPv6:2001:db8::1%eth0]", False),
        ("[IPv6:2001:db8::g]", False),
        ("[2001:db8::1]", False),  # IPv6 needs its tag
        ("[x-tag:anything]", False),  # general literals: no other tag is standardised
        ("[192.0.2.1] ", False),
        ("[]", False),
        ("", False),
    ],
)
def test_address_literal_ok(text: str, ok: bool) -> None:
    assert address_literal_ok(text) is ok


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("mx.example.com", "fqdn"),
        ("MX1.Example.COM", "fqdn"),
        ("xn--bcher-kva.example", "fqdn"),
        ("localhost", "bare-label"),
        ("mx1", "bare-label"),
        ("[192.0.2.1]", "address-literal"),
        ("[IPv6:2001:db8::25]", "address-literal"),
        ("192.0.2.1", "ip-not-bracketed"),
        ("192.0.2.1.", "ip-not-bracketed"),
        ("2001:db8::25", "ip-not-bracketed"),
        ("mx_1.example.com", "invalid"),
        ("_mx", "invalid"),
        ("mx.example.com.", "invalid"),  # §4.1.2 Domain has no trailing dot
        ("mx..example.com", "invalid"),
        ("-mx.example.com", "invalid"),
        ("mx.exämple.com", "invalid"),
        ("mx\\.x.example.com", "invalid"),  # a backslash on the wire is a character, no escape
        ("mx\\065.example.com", "invalid"),
        ("[192.0.2.256]", "invalid"),
        ("[mx.example.com]", "invalid"),
        ("mx.123", "invalid"),  # RFC 1123 §2.1: the TLD is alphabetic
        ("a" * 64 + ".example.com", "invalid"),
        ("", "invalid"),
    ],
)
def test_name_kind(word: str, kind: str) -> None:
    assert name_kind(word) == kind


@pytest.mark.parametrize(
    ("word", "has"),
    [
        ("mx_1.example.com", True),
        ("_smtp.example.com", True),
        ("mx.example.com", False),
        ("[192.0.2.1]", False),
    ],
)
def test_has_underscore_name(word: str, has: bool) -> None:
    assert has_underscore_name(word) is has


# --- greeting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        [b"220 mx.example.com ESMTP Postfix (Debian/GNU)"],
        [b"220 mx.example.com"],
        [b"220 [192.0.2.25] ESMTP"],  # an address literal is allowed in the greeting
        [b"220 [IPv6:2001:db8::25]"],
        [b"220-mx.example.com ESMTP", b"220-Welcome", b"220"],
        [b"220-mx.example.com ESMTP", b"220-", b"220 last line"],
        [b"220 mx.example.com tab\tin text"],  # HT is part of textstring
    ],
)
def test_good_greetings_have_no_problem(lines: list[bytes]) -> None:
    assert greeting_problems(parse_reply(lines)) == []


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        ([b"220 localhost ESMTP"], "single label"),
        ([b"220 mx1"], "single label"),
        ([b"220 192.0.2.1 ESMTP"], "[192.0.2.1]"),
        ([b"220 2001:db8::25 ESMTP"], "[IPv6:2001:db8::25]"),
        ([b"220 mx_1.example.com ESMTP"], "'_'"),
        ([b"220 mx.example.com. ESMTP"], "ends with a dot"),
        ([b"220 [192.0.2.999] ESMTP"], "bracketed but no"),
        ([b"220 "], "no name"),
        ([b"220"], "no name"),
        ([b"220  mx.example.com"], "starts with white space"),
        ([b"220 mx.example.com\tESMTP"], "'\\t'"),
        ([b"220 ESMTP"], "single label"),  # the text without a name: its first word is taken
        ([b"220 mx.example.com gr\xc3\xbc\xc3\x9fe"], "8-bit"),
        ([b"220 mx.example.com \x1b[31mred"], "U+001B"),
        ([b"220 mx.example.com " + b"x" * 520], "octets long"),
        ([b"220-mx.example.com", b"220-" + b"x" * 510, b"220 end"], "line 2"),
    ],
)
def test_greeting_problems_are_sentences_naming_the_fault(lines: list[bytes], fragment: str) -> None:
    problems = greeting_problems(parse_reply(lines))
    assert problems
    assert any(fragment in p for p in problems), problems


def test_a_greeting_line_of_exactly_512_octets_is_fine() -> None:
    line = b"220 mx.example.com " + b"x" * (MAX_LINE_OCTETS - 2 - len(b"220 mx.example.com "))
    assert len(line) + 2 == MAX_LINE_OCTETS
    assert greeting_problems(parse_reply([line])) == []
    assert greeting_problems(parse_reply([line + b"x"]))


@pytest.mark.parametrize("code", [421, 554, 250, 520])
def test_another_code_is_the_greetings_only_problem(code: int) -> None:
    problems = greeting_problems(Reply(code, ("mx_1 go away",)))
    assert len(problems) == 1
    assert str(code) in problems[0]


def test_greeting_problems_without_the_name() -> None:
    r = parse_reply([b"220 localhost gr\xc3\xbc\xc3\x9fe"])
    assert len(greeting_problems(r)) == 2
    assert greeting_problems(r, name=False) == [p for p in greeting_problems(r) if "8-bit" in p]
    assert len(greeting_problems(Reply(220, ("  localhost",)), name=False)) == 1


@pytest.mark.parametrize(
    ("lines", "name"),
    [
        (("mx.example.com ESMTP",), "mx.example.com"),
        (("mx_1.example.com",), "mx_1.example.com"),
        (("  mx.example.com  ESMTP",), "mx.example.com"),
        (("",), ""),
        ((), ""),
        (("[192.0.2.1] hi", "second"), "[192.0.2.1]"),
    ],
)
def test_greeting_name(lines: tuple[str, ...], name: str) -> None:
    assert greeting_name(Reply(220, lines)) == name


def test_greeting_name_of_a_refusal_is_still_its_first_word() -> None:
    assert greeting_name(Reply(554, ("mx.example.com no SMTP service here",))) == "mx.example.com"


# --- EHLO ----------------------------------------------------------------------------------------


def test_a_postfix_ehlo_response_is_fine_and_lists_its_keywords() -> None:
    r = parse_reply(POSTFIX_EHLO)
    assert ehlo_problems(r) == []
    assert ehlo_name(r) == "mx.example.com"
    keywords = ehlo_keywords(r)
    assert list(keywords) == [
        "PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS", "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
        "CHUNKING",
    ]  # fmt: skip
    assert keywords["SIZE"] == ("10240000",)
    assert keywords["AUTH"] == ("PLAIN", "LOGIN")
    assert keywords["PIPELINING"] == ()


def test_the_legacy_auth_equals_line_is_reported_only_on_request() -> None:
    r = parse_reply(POSTFIX_EHLO)
    problems = ehlo_problems(r, allow_auth_equals=False)
    assert len(problems) == 1
    assert "line 8" in problems[0]
    assert "AUTH=PLAIN LOGIN" in problems[0]


def test_a_single_line_ehlo_response() -> None:
    r = parse_reply([b"250 mx.example.com Hello client.example.org [192.0.2.1]"])
    assert ehlo_problems(r) == []
    assert ehlo_name(r) == "mx.example.com"
    assert ehlo_keywords(r) == {}


def test_keywords_are_upper_cased_and_the_first_listing_wins() -> None:
    r = Reply(250, ("mx.example.com", "size 100", "Size 200", "x-custom-ext a b c"))
    assert ehlo_keywords(r) == {"SIZE": ("100",), "X-CUSTOM-EXT": ("a", "b", "c")}


def test_junk_lines_are_skipped_by_ehlo_keywords_and_reported_by_ehlo_problems() -> None:
    lines = ("mx.example.com", "PIPELINING", "", "-BAD", "SIZE  1000", "STARTTLS ", "ÜBER", "X_Y", "8BITMIME")
    r = Reply(250, lines)
    assert ehlo_keywords(r) == {"PIPELINING": (), "SIZE": ("1000",), "STARTTLS": (), "8BITMIME": ()}
    problems = ehlo_problems(r)
    for n in (3, 4, 5, 6, 7, 8):
        assert any(p.startswith(f"line {n} ") for p in problems), (n, problems)
    assert not any(p.startswith(("line 2 ", "line 9 ")) for p in problems)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("", "empty"),
        ("-DASH", "extension keyword"),
        ("AU TH", None),  # keyword AU, parameter TH: valid
        ("SIZE\t1000", "extension keyword"),
        ("SIZE 1000 ", "empty parameter"),
        ("SIZE  1000", "empty parameter"),
        ("XFOO a\x01b", "control character"),
        ("XFOO a\x7fb", "control character"),
        ("XFÖÖ", "8-bit"),
    ],
)
def test_ehlo_line_syntax(line: str, fragment: str | None) -> None:
    problems = ehlo_problems(Reply(250, ("mx.example.com", line)))
    if fragment is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert fragment in problems[0]
        assert problems[0].startswith("line 2 ")


@pytest.mark.parametrize(
    ("first", "fragment"),
    [
        ("localhost", "single label"),
        ("mx_1.example.com", "'_'"),
        ("[192.0.2.1]", "address literal"),  # ehlo-ok-rsp names a Domain, not a literal
        ("192.0.2.1 hello", "[192.0.2.1]"),
        ("", "no name"),
        ("mx.example.com Hellö", "8-bit"),
        ("mx.example.com hello\rthere", "bare CR"),
    ],
)
def test_ehlo_first_line_problems(first: str, fragment: str) -> None:
    problems = ehlo_problems(Reply(250, (first, "PIPELINING")))
    assert any(fragment in p for p in problems), problems


def test_ehlo_greet_may_carry_controls() -> None:
    # §4.1.1.1 ehlo-greet is any ASCII but CR and LF
    assert ehlo_problems(Reply(250, ("mx.example.com hi\tthere\x01",))) == []


def test_ehlo_problems_without_the_name() -> None:
    r = Reply(250, ("localhost", "-BAD"))
    assert len(ehlo_problems(r)) == 2
    assert len(ehlo_problems(r, name=False)) == 1
    # the spacing and a missing name are syntax, reported either way
    assert len(ehlo_problems(Reply(250, (" localhost\tx",)), name=False)) == 2
    assert len(ehlo_problems(Reply(250, ("",)), name=False)) == 1


@pytest.mark.parametrize("code", [500, 502, 421, 220])
def test_a_refused_ehlo_has_only_that_problem_and_no_name_or_keywords(code: int) -> None:
    r = Reply(code, ("5.5.2 Error: command not recognized", "PIPELINING"))
    assert len(ehlo_problems(r)) == 1
    assert str(code) in ehlo_problems(r)[0]
    assert ehlo_name(r) == ""
    assert ehlo_keywords(r) == {}


def test_an_overlong_ehlo_line() -> None:
    problems = ehlo_problems(Reply(250, ("mx.example.com", "XLONG " + "a" * 600)))
    assert any("octets long" in p and "line 2" in p for p in problems)


def test_text_problems_only_about_characters() -> None:
    assert text_problems(Reply(250, ("fine\ttext", "ok"))) == []
    assert len(text_problems(Reply(250, ("ok", "bad\x00", "bäd")))) == 2
    assert text_problems(Reply(250, ("bad\x00",)), allow_controls=True) == []


# --- properties ----------------------------------------------------------------------------------

CODES = st.sampled_from([b"220", b"250", b"421", b"554", b"2x0", b"25", b"", b"999"])
SEPARATORS = st.sampled_from([b"-", b" ", b"", b"\t", b"_", b"\xff"])
TEXTS = st.binary(max_size=30) | st.sampled_from([b"mx.example.com", b"PIPELINING", b"SIZE 10", b"mx_1"])
LINES = st.builds(lambda c, s, t: c + s + t, CODES, SEPARATORS, TEXTS)


@given(st.lists(LINES | st.binary(max_size=40), max_size=6))
def test_parse_reply_raises_nothing_but_reply_error(raw: list[bytes]) -> None:
    try:
        r = parse_reply(raw)
    except ReplyError:
        return  # (the documented error; its messages are tested above)
    assert len(r.lines) == len(raw)
    assert 0 <= r.code <= 999


@given(st.lists(st.builds(lambda t: b"250-" + t, TEXTS), max_size=5), TEXTS)
def test_well_formed_replies_always_parse(continuations: list[bytes], last: bytes) -> None:
    r = parse_reply([*continuations, b"250 " + last])
    assert r.code == 250
    assert len(r.lines) == len(continuations) + 1


REPLIES = st.builds(
    Reply,
    st.integers(min_value=0, max_value=999) | st.sampled_from([220, 250]),
    st.lists(
        st.text(max_size=40) | st.sampled_from(["mx.example.com ESMTP", "SIZE 10", "AUTH=X"]), max_size=5
    ).map(tuple),
)


@given(REPLIES)
def test_reply_helpers_never_raise(r: Reply) -> None:
    assert isinstance(str(r), str)
    assert r.kind in (0, 2, 3, 4, 5)
    assert isinstance(r.enhanced, str)
    assert all(isinstance(p, str) and p for p in greeting_problems(r))
    assert all(isinstance(p, str) and p for p in ehlo_problems(r, allow_auth_equals=False))
    assert all(isinstance(p, str) for p in text_problems(r))
    keywords = ehlo_keywords(r)
    assert all(k == k.upper() for k in keywords)
    assert isinstance(greeting_name(r), str)
    assert isinstance(ehlo_name(r), str)


@given(st.text(max_size=40))
def test_name_helpers_never_raise(word: str) -> None:
    assert name_kind(word) in ("fqdn", "bare-label", "address-literal", "ip-not-bracketed", "invalid")
    assert isinstance(address_literal_ok(word), bool)
    assert has_underscore_name(word) is ("_" in word)


@given(
    st.from_regex(
        r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?)*\.[a-z]{2,6}",
        fullmatch=True,
    )
)
def test_every_host_name_is_an_fqdn_and_a_good_greeting(name: str) -> None:
    assert name_kind(name) == "fqdn"
    assert greeting_problems(parse_reply([b"220 " + name.encode() + b" ESMTP"])) == []
    assert ehlo_problems(parse_reply([b"250-" + name.encode(), b"250 PIPELINING"])) == []
