from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import Severity
from mailspec.errors import SettingError
from mailspec.settings import Option, ProbeLevel, Settings, parse_hostport, parse_waiver


def parse(**values: Any) -> Settings:
    return Settings.parse(values)


def test_defaults() -> None:
    s = parse()
    assert not s.active
    assert s.probe is ProbeLevel.ENVELOPE
    assert s.fail_on is Severity.SHOULD
    assert s.timeout == 10.0
    assert s.smtp_port == 25
    assert s.profile == "default"


def test_domains_are_normalised_and_deduplicated(tmp_path: Path) -> None:
    f = tmp_path / "domains.txt"
    f.write_text("# customers\nExample.org\n\nexample.com  # again\n", encoding="utf-8")
    s = parse(mail_domain=["example.com", "EXAMPLE.com."], mail_domains_file=str(f))
    assert s.domains == ("example.com", "example.org")


def test_domains_file_errors_name_the_line(tmp_path: Path) -> None:
    f = tmp_path / "d.txt"
    f.write_text("good.example\n10.0.0.1\n", encoding="utf-8")
    with pytest.raises(SettingError, match=r"line 2 .*IP address"):
        parse(mail_domains_file=str(f))
    with pytest.raises(SettingError, match="cannot read"):
        parse(mail_domains_file=str(tmp_path / "missing.txt"))


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"good.example\ncaf\xe9.example\n", "line 2 (byte offset 16"),  # Latin-1
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 1 (byte offset 0"),  # binary
        (b"a.example\r\nb.example\r\n# \xff\n", "line 3 (byte offset 24"),
    ],
)
def test_domains_file_that_is_not_utf8_is_a_setting_error(tmp_path: Path, data: bytes, where: str) -> None:
    f = tmp_path / "domains.txt"
    f.write_bytes(data)
    with pytest.raises(SettingError) as info:
        parse(mail_domains_file=str(f))
    message = str(info.value)
    assert repr(str(f)) in message
    assert where in message
    assert "expected a UTF-8 text file, one domain a line" in message


@pytest.mark.parametrize("text", ["", "\n\n", "# customers\n\n   # none yet\n", "  \t\n#\n"])
def test_domains_file_without_a_domain_is_an_error(tmp_path: Path, text: str) -> None:
    f = tmp_path / "domains.txt"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(SettingError) as info:
        parse(mail_domain=["example.com"], mail_domains_file=str(f))
    assert str(info.value) == (
        f"--mail-domains-file {str(f)!r} has no domain (only comments or blank lines): "
        "expected one domain a line"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("[::1]:53", ("::1", 53)),
        ("[::1:53]", ("::1:53", 53)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
        ("2001:db8::a", ("2001:db8::a", 53)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("::ffff:192.0.2.1", ("::ffff:c000:201", 53)),
    ],
)
def test_resolver_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text, default_port=53, what="--mail-resolver", ip_only=True) == expected


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"mail_resolver": ["dns.example"]}, "expected an IP address"),
        ({"mail_resolver": ["127.0.0.1:99999"]}, "port '99999'"),
        ({"mail_smtp_port": "smtp"}, "port 'smtp'"),
        ({"mail_probe": "everything"}, "expected one of dns, connect, envelope, intrusive"),
        ({"mail_fail_on": "never"}, "expected one of must, should, may"),
        ({"mail_profile": "strict"}, "expected one of default, bulk"),
        ({"mail_timeout": "0"}, "above 0"),
        ({"mail_timeout": "soon"}, "'soon'"),
        ({"mail_domain": ["not a domain"]}, "invalid label"),
        ({"mail_server": ["mx.example.com:0"]}, "port '0'"),
        ({"mail_probe_helo": "192.0.2.1"}, "not an address"),
        ({"mail_dkim_selector": ["bad selector"]}, "expected a selector"),
        ({"mail_ca": "/nonexistent/ca.pem"}, "no such file"),
        ({"mail_waive": ["mx.no-cname"]}, "expected ID[@SUBJECT]=REASON"),
        ({"mail_waive": ["mx.nocname=typo"]}, "unknown check id 'mx.nocname'"),
    ],
)
def test_bad_values_name_the_value_and_what_was_expected(values: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SettingError) as info:
        Settings.parse(values)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("what", "text", "with_port", "address"),
    [
        ("--mail-resolver", "::1:53", "[::1]:53", "[::1:53]"),
        ("--mail-resolver", " 2001:db8::1:5353 ", "[2001:db8::1]:5353", "[2001:db8::1:5353]"),
        ("--mail-server", "::1:25", "[::1]:25", "[::1:25]"),
        ("--mail-server", "2001:db8::25:587", "[2001:db8::25]:587", "[2001:db8::25:587]"),
    ],
)
def test_bare_ipv6_ending_in_a_port_like_group_is_ambiguous(
    what: str, text: str, with_port: str, address: str
) -> None:
    with pytest.raises(SettingError) as info:
        parse_hostport(text, default_port=53, what=what, ip_only=what == "--mail-resolver")
    message = str(info.value)
    assert message.startswith(f"{what} {text!r}")
    assert "needs brackets" in message
    assert with_port in message
    assert address in message


def test_ambiguous_ipv6_is_refused_for_every_caller() -> None:
    with pytest.raises(SettingError, match=r"needs brackets.*\[::1\]:53"):
        parse(mail_resolver=["::1:53"])
    with pytest.raises(SettingError, match=r"needs brackets.*\[::1\]:25"):
        parse(mail_server=["::1:25"])
    assert parse(mail_server=["[::1]:25", "2001:db8::a"]).servers == (("::1", 25), ("2001:db8::a", 25))


def test_bare_ipv6_with_an_impossible_last_group_is_told_to_bracket_the_port() -> None:
    # '::1:99999' is no address at all (a group has at most 4 digits), but '::1' is: a port was meant
    with pytest.raises(SettingError, match=r"needs brackets.*\[::1\]:99999"):
        parse_hostport("::1:99999", default_port=53, what="--mail-resolver", ip_only=True)


@pytest.mark.parametrize("text", ["\u00b2", "5\u00b3", "\u2460"])
def test_port_with_non_ascii_digits_is_a_setting_error(text: str) -> None:
    # '²'.isdigit() is True but int('²') raises a bare ValueError
    with pytest.raises(SettingError, match="is not a number from 1 to 65535"):
        parse(mail_smtp_port=text)


def test_option_has_no_dead_default_text_field() -> None:
    assert "default_text" not in {f.name for f in dataclasses.fields(Option)}


def test_waivers() -> None:
    w = parse_waiver("mx.target.public-address@mx1.example.com=internal relay, by design")
    assert w.check == "mx.target.public-address"
    assert w.subject == "mx1.example.com"
    assert w.reason == "internal relay, by design"
    assert w.matches("mx.target.public-address", "example.com", "mx1.example.com@10.0.0.1")
    assert not w.matches("mx.target.public-address", "example.com", "mx2.example.com@10.0.0.2")
    assert not w.matches("mx.no-cname", "example.com", "mx1.example.com")
    every = parse_waiver("dns.soa.timers=registry defaults")
    assert every.matches("dns.soa.timers", "a.example", "a.example")
    by_domain = parse_waiver("dns.soa.timers@b.example=legacy")
    assert by_domain.matches("dns.soa.timers", "b.example", "b.example")
    assert not by_domain.matches("dns.soa.timers", "a.example", "a.example")


def test_waiver_of_a_check_from_a_later_release_is_accepted() -> None:
    assert parse_waiver("smtp.relay.denied=test relay").check == "smtp.relay.denied"


def test_settings_json() -> None:
    s = parse(mail_domain=["example.com"], mail_resolver=["127.0.0.1:5353"], mail_profile="bulk")
    assert s.to_json()["domains"] == ["example.com"]
    assert s.to_json()["resolvers"] == ["127.0.0.1:5353"]
    assert s.to_json()["profile"] == "bulk"
