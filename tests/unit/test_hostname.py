from __future__ import annotations

import pytest

from mailspec.errors import SettingError
from mailspec.records.hostname import hostname_problem, is_ldh_label, looks_like_ip, normalise_domain


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


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("mx1.example.com", None),
        ("mx1", "single label"),
        ("mail_gw.example.com", "'_'"),
        ("-mx.example.com", "LDH"),
        ("", "root"),
    ],
)
def test_hostname_problem(name: str, fragment: str | None) -> None:
    problem = hostname_problem(name)
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None
        assert fragment in problem
