from __future__ import annotations

import pytest

from mailspec.errors import SettingError
from mailspec.records.hostname import (
    hostname_problem,
    is_ldh_label,
    looks_like_ip,
    normalise_domain,
    split_labels,
    underscore_labels,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        (" mail.example.org ", "mail.example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: not fass.de
        ("_dmarc.example.com", "_dmarc.example.com"),
    ],
)
def test_normalise_domain_accepts(text: str, expected: str) -> None:
    assert normalise_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("192.0.2.1", "IP address"),
        ("[192.0.2.1]", "IP address"),
        ("2001:db8::1", "IP address"),
        ("user@example.com", "mail address"),
        ("example..com", "invalid label ''"),
        ("exa mple.com", "invalid label"),
        ("-bad.example", "invalid label '-bad'"),
        ("bad\n.example", "invalid label 'bad\\n'"),
        ("localhost", "single label"),
        ("a" * 64 + ".com", "invalid label"),
        (".".join(["abcdefghi"] * 26) + ".com", "octets long"),
    ],
)
def test_normalise_domain_rejects_with_the_value_named(text: str, fragment: str) -> None:
    with pytest.raises(SettingError) as info:
        normalise_domain(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value) or text == ""


@pytest.mark.parametrize("name", ["192.0.2.1", "192.0.2.1.", "[192.0.2.1]", "::1", "2001:db8::25"])
def test_looks_like_ip(name: str) -> None:
    assert looks_like_ip(name)


@pytest.mark.parametrize("name", ["mx1.example.com", "1.example.com", "example.123"])
def test_not_ip(name: str) -> None:
    assert not looks_like_ip(name)


def test_ldh_labels() -> None:
    assert is_ldh_label("mx-1")
    assert not is_ldh_label("-mx")
    assert not is_ldh_label("mx_1")
    assert not is_ldh_label("a" * 64)
    assert not is_ldh_label("mx\n")  # '$' would match before a final newline


def test_a_newline_in_a_label_is_not_accepted() -> None:
    assert hostname_problem("mx\\010.example.com") is not None  # dnspython writes a newline as \010
    with pytest.raises(SettingError, match="invalid label"):
        normalise_domain("mx\n.example.com")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("mx1.example.com", None),
        ("mx1", "single label"),
        ("mail_gw.example.com", "'_'"),
        ("-mx.example.com", "LDH"),
        ("", "root"),
        (".", "root"),
        ("mx\\.dot.example.com", "its label 'mx.dot' is not letters, digits and inner hyphens (LDH)"),
        ("mx.example.com\\.", "its label 'com.' is not letters, digits and inner hyphens (LDH)"),
        ("mail\\095gw.example.com", "its label 'mail_gw' contains '_'"),
        ("mx\\032one.example.com", "its label 'mx one' is not"),
        ("\\109x1.example.com", None),  # \109 is 'm': the name is mx1.example.com
        ("mx1.example.com.", None),
        ("mx..example.com", "empty label"),
    ],
)
def test_hostname_problem(name: str, fragment: str | None) -> None:
    problem = hostname_problem(name)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None
        assert fragment in problem


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("", []),
        (".", []),
        ("example.com", ["example", "com"]),
        ("example.com.", ["example", "com"]),
        ("mx\\.dot.example.com", ["mx.dot", "example", "com"]),
        ("mx\\.dot.example.com.", ["mx.dot", "example", "com"]),
        ("a\\\\b.example", ["a\\b", "example"]),  # \\ is one backslash
        ("a\\\\.example", ["a\\", "example"]),  # an escaped backslash, then a separator
        ("\\065bc.\\046.x", ["Abc", ".", "x"]),
        ("caf\\233.example", ["caf\xe9", "example"]),  # \DDD is an octet
        ("a\\;b.example", ["a;b", "example"]),  # \X is X
        ("mx\\.", ["mx."]),  # the dot is escaped: no root label
        ("a..b", ["a", "", "b"]),
        ("a.b..", ["a", "b", ""]),
        ("..", ["", ""]),
        (".a", ["", "a"]),
        # not well-formed, kept as written rather than refused
        ("a\\", ["a\\"]),
        ("a\\999.b", ["a\\999", "b"]),
        ("a\\12.b", ["a\\12", "b"]),
    ],
)
def test_split_labels(name: str, labels: list[str]) -> None:
    assert split_labels(name) == labels


def test_underscore_labels_see_escapes() -> None:
    assert underscore_labels("_dmarc.example.com.") == ["_dmarc"]
    assert underscore_labels("mail\\.gw_1.example.com") == ["mail.gw_1"]
    assert underscore_labels("mail\\095gw.example.com") == ["mail_gw"]
    assert underscore_labels("mx1.example.com") == []
