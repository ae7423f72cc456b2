from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import Severity
from mailspec.errors import SettingError
from mailspec.settings import ProbeLevel, Settings, parse_hostport, parse_waiver


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
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
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
