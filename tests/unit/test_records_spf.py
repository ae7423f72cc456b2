"""The SPF parser (RFC 7208 §12), macro expansion (§7) and the record helpers the checks use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.spf import (
    Directive,
    MacroContext,
    Modifier,
    SpfSyntaxError,
    concatenation_problems,
    domain_problem,
    duplicate_modifiers,
    expand,
    expand_domain,
    is_spf,
    parse_domain_spec,
    parse_explain_string,
    parse_macro_string,
    parse_record,
)

# -- parsing ---------------------------------------------------------------------------------------


def test_a_record_with_every_mechanism_parses_into_its_terms() -> None:
    text = (
        "v=spf1 +all -include:_spf.example.net ~a ?a:mail.example.com/24//64 mx/28 mx:mx.example.org "
        "ptr ptr:example.org ip4:192.0.2.1/24 ip6:2001:db8::/32 exists:%{ir}.bl.example.com "
        "redirect=_spf.example.com exp=explain.example.com moo.cow-far_out=man:dog/cat"
    )
    record = parse_record(text)
    kinds = [(t.qualifier, t.mechanism) for t in record.directives]
    assert kinds == [
        ("+", "all"),
        ("-", "include"),
        ("~", "a"),
        ("?", "a"),
        ("+", "mx"),
        ("+", "mx"),
        ("+", "ptr"),
        ("+", "ptr"),
        ("+", "ip4"),
        ("+", "ip6"),
        ("+", "exists"),
    ]
    a = record.directives[3]
    assert (str(a.domain_spec), a.cidr4, a.cidr6) == ("mail.example.com", 24, 64)
    assert (record.directives[4].cidr4, record.directives[4].domain_spec) == (28, None)
    assert record.directives[8].network == "192.0.2.0/24"
    assert record.directives[9].network == "2001:db8::/32"
    assert record.directives[10].has_macros
    assert [m.name for m in record.modifiers] == ["redirect", "exp", "moo.cow-far_out"]
    assert record.redirect is not None and str(record.redirect.value) == "_spf.example.com"
    assert record.directives[0].explicit_qualifier and not record.directives[2 + 2].explicit_qualifier
    assert [t.position for t in record.terms][:2] == [7, 12]


def test_names_and_macro_letters_are_case_insensitive() -> None:
    record = parse_record("V=SPF1 MX:Example.COM IP4:192.0.2.1 -ALL Redirect=x.example")
    assert [d.mechanism for d in record.directives] == ["mx", "ip4", "all"]
    assert record.redirect is not None
    assert parse_macro_string("%{D2R}").macros[0].url_escape


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("v=spf1 foo:bar -all", "unknown mechanism 'foo'"),
        ("v=spf1 -all foo:bar", "unknown mechanism"),  # after all: still a syntax error (§4.6)
        ("v=spf1 ip4:192.0.2/24", "no omitted octets"),
        ("v=spf1 ip4:192.0.2.256", "dotted-quad"),
        ("v=spf1 ip4:192.0.2.1/33", "0 to 32"),
        ("v=spf1 ip4:192.0.2.1/024", "leading zeros"),
        ("v=spf1 ip6:2001:db8::/129", "0 to 128"),
        ("v=spf1 ip6:192.0.2.1", "not an IPv6 address"),
        ("v=spf1 ip6:fe80::1%eth0", "not an IPv6 address"),
        ("v=spf1 a/33", "0 to 32"),
        ("v=spf1 a//129", "0 to 128"),
        ("v=spf1 a:example.com/", "domain-end"),
        ("v=spf1 a:abc.123", "top label"),
        ("v=spf1 a:museum", "top label"),
        ("v=spf1 include:", "empty domain-spec"),
        ("v=spf1 include", "needs ':'"),
        ("v=spf1 exists:", "empty domain-spec"),
        ("v=spf1 all:example.com", "no argument"),
        ("v=spf1 ptr/24", "'ptr' takes only"),
        ("v=spf1 exists:%(ir).example.com", "only '%{'"),
        ("v=spf1 exists:foo%.example.com", "only '%{'"),
        ("v=spf1 a:%{a}.example.com", "not a macro letter"),
        ("v=spf1 a:%{d0}.example.com", "must not be zero"),
        ("v=spf1 a:%{c}.example.com", "only in exp text"),
        ("v=spf1 a:%{d2r!}.example.com", "not a delimiter"),
        ("v=spf1 a:%{d.example.com", "not closed"),
        ("v=spf1 exp=", "empty domain-spec"),
        ("v=spf1 redirect=a.example redirect=b.example", "at most once"),
        ("v=spf1 exp=a.example exp=b.example", "at most once"),
        ("v=spf1 ip4:192.0.2.1\t-all", "not allowed"),
        ("v=spf1 a:ex\u00e4mple.com", "not allowed"),
        ("v=spf10 -all", "does not begin with 'v=spf1'"),
        ("v=spf1 =foo", "not a mechanism nor a modifier"),
    ],
)
def test_syntax_errors_say_where_and_why(text: str, words: str) -> None:
    with pytest.raises(SpfSyntaxError) as info:
        parse_record(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert words in str(error)
    assert f"at position {error.position}" in str(error)
    assert error.term == "" or error.term in text


def test_an_error_names_the_term_and_its_position() -> None:
    with pytest.raises(SpfSyntaxError) as info:
        parse_record("v=spf1 mx ip4:10.0.0/8 -all")
    assert info.value.term == "ip4:10.0.0/8"
    assert info.value.position == 10
    assert info.value.rule == "spf.syntax"


def test_a_second_redirect_is_the_modifiers_once_rule() -> None:
    with pytest.raises(SpfSyntaxError) as info:
        parse_record("v=spf1 redirect=a.example.com exp=e.example.com redirect=b.example.com")
    assert info.value.rule == "spf.modifiers-once"
    assert info.value.term == "redirect=b.example.com"
    assert duplicate_modifiers("v=spf1 exp=a.example exp=b.example redirect=c.example foo=1 foo=2") == ["exp"]
    assert duplicate_modifiers("v=spf1 bogus:x exp=a.example EXP=b.example") == ["exp"]  # (no parse)


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1",
        "v=spf1 ",
        "v=spf1  -all  ",
        "v=spf1 foo=bar foo=baz",  # unknown modifiers: legal, and may repeat
        "v=spf1 a=b",  # (a name followed by '=' is an unknown modifier)
        "v=spf1 a:foo:bar/baz.example.com",  # ':' and '/' are macro-literals
        "v=spf1 a:example.com. mx:example.xn--p1ai exists:%{d}",
        "v=spf1 a:macro%%percent%_%_space%-url-space.example.com",
        "v=spf1 ip6:::/0 ip6:::ffff:192.0.2.1 ip4:0.0.0.0/0",
        "v=spf1 unknown=%{c}%{r}%{t}",  # never expanded: every letter is syntax
    ],
)
def test_valid_records(text: str) -> None:
    assert parse_record(text).text == text


def test_domain_specs_end_in_a_top_label_or_a_macro() -> None:
    assert str(parse_domain_spec("%{d}")) == "%{d}"
    assert str(parse_domain_spec("foo.bar-1")) == "foo.bar-1"
    assert parse_domain_spec("a.b.%{o}.example.com.").has_macros
    assert not parse_domain_spec("a%%b.example.com").has_macros  # an escape is no macro
    for bad in ("example.com-", "example.123", "foo", ""):
        with pytest.raises(SpfSyntaxError):
            parse_domain_spec(bad)


# -- helpers for the checks -------------------------------------------------------------------------


def test_dns_terms_after_all_and_an_ignored_redirect() -> None:
    record = parse_record(
        "v=spf1 include:a.example a mx ip4:192.0.2.1 ptr exists:x.example -all mx:late.example "
        "redirect=r.example exp=e.example"
    )
    assert [str(t) for t in record.dns_terms] == ["include:a.example", "a", "mx", "ptr", "exists:x.example"]
    assert [str(t) for t in record.after_all] == ["mx:late.example"]
    assert record.redirect_ignored
    assert [str(t) for t in record.ptr_terms] == ["ptr"]
    assert record.all is not None and record.all.result == "fail"
    without_all = parse_record("v=spf1 mx redirect=r.example")
    assert [str(t) for t in without_all.dns_terms] == ["mx", "redirect=r.example"]
    assert not without_all.redirect_ignored and without_all.after_all == ()


@pytest.mark.parametrize(
    ("text", "everyone"),
    [
        ("v=spf1 +all", ["+all"]),
        ("v=spf1 all", ["all"]),
        ("v=spf1 ip4:0.0.0.0/0 -all", ["ip4:0.0.0.0/0"]),
        ("v=spf1 ip6:::/0 -all", ["ip6:::/0"]),
        ("v=spf1 ip4:10.0.0.0/0", ["ip4:10.0.0.0/0"]),  # host bits do not narrow a /0
        ("v=spf1 a/0 -all", ["a/0"]),
        ("v=spf1 -all", []),
        ("v=spf1 ~all", []),
        ("v=spf1 ?all", []),
        ("v=spf1 -ip4:0.0.0.0/0", []),
        ("v=spf1 -all +all", []),  # (after all: never reached)
    ],
)
def test_records_that_authorise_every_host(text: str, everyone: list[str]) -> None:
    assert [str(d) for d in parse_record(text).authorises_everyone] == everyone


def test_macro_terms_are_the_ones_a_static_count_cannot_follow() -> None:
    record = parse_record("v=spf1 include:%{d}._spf.example.net a exists:%{i}.bl.example foo=%{d} -all")
    assert [str(t) for t in record.macro_terms] == ["include:%{d}._spf.example.net", "exists:%{i}.bl.example"]


@pytest.mark.parametrize(
    ("strings", "found"),
    [
        # the publisher expected a space at the join
        (["v=spf1 mx", "a -all"], [("mx", "a", "mxa", True)]),
        (
            ["v=spf1 ip4:192.0.2.1 -all", "ip4:192.0.2.2"],
            [("-all", "ip4:192.0.2.2", "-allip4:192.0.2.2", True)],
        ),
        (
            ["v=spf1 include:spf.example.com", "include:other.example.net -all"],
            [
                (
                    "include:spf.example.com",
                    "include:other.example.net",
                    "include:spf.example.cominclude:other.example.net",
                    False,
                )
            ],
        ),
        (["v=spf1", "mx -all"], [("v=spf1", "mx", "v=spf1mx", True)]),
        # splits inside one term: how long records are meant to be published
        (["v=spf1 include:_sp", "f.example.com -all"], []),
        (["v=spf1 ip4:192.0.2.1", "0 -all"], []),
        (["v=spf1 ip4:192.0.2.0", "/24 -all"], []),
        (["v=spf1 mx ", "-all"], []),
        (["v=spf1 mx", " -all"], []),
        (["v=spf1 mx -all"], []),
        ([], []),
    ],
)
def test_concatenation_glued_tokens(strings: list[str], found: list[tuple[str, str, str, bool]]) -> None:
    problems = concatenation_problems(strings)
    assert [(p.left, p.right, p.glued, p.breaks_syntax) for p in problems] == found
    for p in problems:
        assert "end the first with a space" in str(p)


def test_is_spf_needs_a_space_or_the_end_after_the_version() -> None:
    assert is_spf("v=spf1") and is_spf("v=spf1 -all") and is_spf("V=SPF1 -all")
    assert not is_spf("v=spf10") and not is_spf("v=spf1-all") and not is_spf(" v=spf1")


# -- macro expansion (RFC 7208 §7.4's examples) --------------------------------------------------------

CTX = MacroContext("strong-bad@email.example.com", "email.example.com", "192.0.2.3", helo="mx.example.org")
CTX6 = MacroContext("strong-bad@email.example.com", "email.example.com", "2001:db8::cb01")


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ("%{h}", "mx.example.org"),
        ("%{c}", "192.0.2.3"),
        ("%{p}", "unknown"),
        ("%{r}", "unknown"),
        ("%%%_%-", "% %20"),
        ("%{S}", "strong-bad%40email.example.com"),
        ("%{d99}", "email.example.com"),
    ],
)
def test_expansion_examples_of_the_rfc(macro: str, expected: str) -> None:
    assert expand(parse_macro_string(macro, exp=True), CTX) == expected


def test_ipv6_expands_to_nibbles_and_the_client_text() -> None:
    spec = parse_macro_string("%{ir}.%{v}._spf.%{d2}")
    assert expand(spec, CTX6) == (
        "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com"
    )
    assert expand(parse_macro_string("%{c}", exp=True), CTX6) == "2001:db8::cb01"


def test_upper_case_letters_are_url_escaped() -> None:
    ctx = MacroContext("~jack&jill=up-a_b3.c@e8.example.com", "e8.example.com", "192.0.2.4")
    text = parse_explain_string("http://example.com/why.html?l=%{L}")
    assert expand(text, ctx) == "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c"


def test_a_sender_without_local_part_is_postmaster() -> None:
    ctx = MacroContext("@example.net", "example.net", "192.0.2.4")
    assert (
        expand(parse_macro_string("%{l}/%{s}/%{o}"), ctx) == "postmaster/postmaster@example.net/example.net"
    )


def test_a_domain_longer_than_253_is_cut_label_by_label_from_the_left() -> None:
    ctx = MacroContext("x@" + ".".join(["a" * 60] * 3) + ".example.com", "example.com", "192.0.2.4")
    name, cut = expand_domain(parse_domain_spec("foobar.%{o}.%{o}.example.com"), ctx)
    assert cut and len(name) <= 253
    assert name.endswith(".example.com.example.com") and not name.startswith(".")
    short, cut = expand_domain(parse_domain_spec("%{d}"), MacroContext("x@y.example", "example.com.", "::1"))
    assert (short, cut) == ("example.com", False)
    with pytest.raises(SpfSyntaxError):
        parse_domain_spec("%{d}.")  # (§12: a dot after a macro is no domain-end)


def test_domain_problems() -> None:
    assert domain_problem("example.com") == ""
    assert domain_problem("example.com.") == ""
    assert "empty label" in domain_problem("a..example.com")
    assert "63" in domain_problem("a" * 64 + ".example.com")
    assert "single label" in domain_problem("localhost", multi_label=True)
    assert "253" in domain_problem("a." * 127 + "com")


def test_explain_strings_may_hold_spaces_but_macro_strings_not() -> None:
    assert str(parse_explain_string("%{i} is not one of %{d}'s designated mail servers.")).startswith("%{i}")
    with pytest.raises(SpfSyntaxError):
        parse_macro_string("two words")
    with pytest.raises(SpfSyntaxError):
        parse_explain_string("caf\u00e9")  # 7-bit ASCII only


# -- properties ---------------------------------------------------------------------------------------

#: text dense in what SPF is made of, so that the parser's deeper branches are reached
SPF_ALPHABET = st.sampled_from(
    [
        " ", "+", "-", "~", "?", ":", "/", "//", ".", "=", "%", "{", "}", "%{", "%%", "%_", "%-",
        "a", "mx", "ptr", "all", "include", "exists", "ip4", "ip6", "redirect", "exp", "v=spf1",
        "0", "1", "24", "33", "128", "255", "::", "example", "com", "ir", "d2", "L", "\t", "\u00e9",
    ]
)  # fmt: skip
SPFISH = st.lists(SPF_ALPHABET, max_size=40).map("".join)


@given(SPFISH | st.text(max_size=200))
def test_no_input_makes_the_parser_raise_anything_else(body: str) -> None:
    for text in ("v=spf1 " + body, body):
        try:
            record = parse_record(text)
        except SpfSyntaxError as exc:
            error: SpfSyntaxError | None = exc
        else:
            error = None
        if error is not None:
            assert 0 <= error.position <= len(text)
            continue
        # what parses keeps its terms' text, and the helpers answer
        assert all(isinstance(t, Directive | Modifier) for t in record.terms)
        assert all(text[t.position :].startswith(t.text) for t in record.terms)
        _ = (record.dns_terms, record.after_all, record.authorises_everyone, record.macro_terms)


@given(SPFISH | st.text(max_size=100), st.booleans())
def test_macro_strings_parse_or_say_why_and_expand_bounded(text: str, exp: bool) -> None:
    try:
        spec = parse_macro_string(text, exp=exp, spaces=exp)
    except SpfSyntaxError:
        return
    ctx = MacroContext("a.b-c@" + "x" * 60 + ".example.com", "d.example.com", "2001:db8::1", helo="h.example")
    assert isinstance(expand(spec, ctx), str)
    name, _ = expand_domain(spec, ctx)
    assert len(name) <= 253


@given(st.lists(SPFISH | st.text(max_size=30), max_size=6))
def test_concatenation_never_raises(strings: list[str]) -> None:
    for p in concatenation_problems(strings):
        assert "".join(strings)[p.position - len(p.left) : p.position + len(p.right)] == p.left + p.right
    assert isinstance(duplicate_modifiers(" ".join(strings)), list)


def test_a_ten_kilobyte_record_parses_quickly() -> None:
    text = "v=spf1 " + " ".join(f"ip4:192.0.{i // 256}.{i % 256}" for i in range(700)) + " -all"
    assert len(text) > 10_000
    record = parse_record(text)
    assert len(record.directives) == 701 and record.dns_terms == ()
