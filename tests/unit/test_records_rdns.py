"""Reverse names and the generic/dynamic PTR-name heuristics of CATALOG.md Appendix A."""

from __future__ import annotations

import ipaddress

import dns.reversename
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.rdns import GenericMatch, generic_rdns, reverse_name


@pytest.mark.parametrize(
    ("name", "label", "text"),
    [
        # the names of the brief and of 20_dynrdns.cf's comments, one per rule
        ("dsl-127-0-3-10.dyn.pool.example.test", "__RDNS_DYNAMIC_IPADDR", "127-0-3-10.dyn.pool.example.t"),
        ("cpe-1-2-3-4.cable.example", "__RDNS_DYNAMIC_IPADDR", "1-2-3-4.cable.e"),
        ("c-67-168-174-61.client.comcast.net", "__RDNS_DYNAMIC_IPADDR", "67-168-174-61.client.comcast.n"),
        ("dhcp024-210-034-053.columbus.rr.com", "__RDNS_DYNAMIC_IPADDR", "024-210-034-053.columbus.rr.c"),
        ("74.67-201-80.adsl.skynet.be", "__RDNS_DYNAMIC_IPADDR", "74.67-201-80.adsl.skynet.b"),
        ("cm89.omega139.maxonline.com.sg", "__RDNS_DYNAMIC_DHCP", "cm89.omega1"),
        ("node-c-8b22.a2000.nl", "__RDNS_DYNAMIC_DHCP", "node-c-8b22.a2"),
        ("fia83-8.dsl.hccnet.nl", "__RDNS_DYNAMIC_HCC", "83-8.dsl."),
        ("pD9E4F89F.dip.t-dialin.net", "__RDNS_DYNAMIC_DIALIN", "pD9E4F89F.dip."),
        ("0x7f000001.example.net", "__RDNS_DYNAMIC_HEXIP", "0x7f000001."),
        ("0x50a46949.virnxx11.adsl-dhcp.tele.dk", "__RDNS_DYNAMIC_HEXIP", "0x50a46949."),
        ("0xD5AAF40B.dhcp.kabelnettet.dk", "__RDNS_DYNAMIC_HCC", "0xD5AAF40B.dhcp."),  # (HCC comes first)
        ("118.Red-80-35-201.pooles.rima-tde.net", "__RDNS_DYNAMIC_SPLIT_IP", "118.Red-80-35-201."),
        ("host.dyn.example.net", "__RDNS_INDICATOR_DYN", ".dyn."),
        ("abc-dynamic-xyz.example.net", "__RDNS_INDICATOR_DYN", "-dynamic-"),
        ("pc.res.example.edu", "__RDNS_INDICATOR_RES", ".res."),
        ("ab.client.example.net", "__RDNS_INDICATOR_RES", ".client."),
        ("box.dhcp.example.org", "__RDNS_INDICATOR_TYPE2", ".dhcp."),
        ("dsl.dynamic8510023760.ttnet.net.tr", "__RDNS_DYNAMIC_TTNET", ".dynamic8"),
    ],
)
def test_the_spamassassin_rules_hit_with_confidence(name: str, label: str, text: str) -> None:
    match = generic_rdns(name)
    assert match is not None
    assert (match.label, match.text, match.low_confidence) == (label, text, False)
    assert match.labels[0] == label


@pytest.mark.parametrize(
    ("name", "label"),
    [
        # SpamAssassin defines INDICATOR_TYPE but leaves it out of RDNS_DYNAMIC ("large ham hitrate")
        ("mx.wireless.example.com", "__RDNS_INDICATOR_TYPE"),
        ("host.modem.example.com", "__RDNS_INDICATOR_TYPE"),
        ("a.xdsl.example.com", "__RDNS_INDICATOR_TYPE"),
        # mailspec's additions
        ("c221106.ppp.asahi-net.or.jp", "mailspec:ppp"),
        ("pool.example.com", "mailspec:pool"),
        ("spr1-bolt5-cust9.example.net", "mailspec:cust"),
        ("MG001182.user.veloxzone.com.br", "mailspec:user"),
        ("catv-x.broadband.example.hu", "mailspec:broadband"),
        ("x.adsl.example.net", "__RDNS_INDICATOR_TYPE"),  # (\S?dsl covers adsl too)
        ("adsl3.example.net", "mailspec:adsl"),
        # T-Online's names of today: DIALIN's ".dip." no longer matches them
        ("p5DC4A1B2.dip0.t-ipconnect.de", "mailspec:dip"),
    ],
)
def test_uncounted_rules_and_mailspec_additions_hit_with_low_confidence(name: str, label: str) -> None:
    match = generic_rdns(name)
    assert match is not None
    assert match.label == label
    assert match.low_confidence


@pytest.mark.parametrize(
    "name",
    [
        "mx1.example.com",
        "mail.example.com",
        "smtp.example.com.",
        "mail-1.example.com",
        "mx01.mail.example.org",
        "a1-2.example",
        "outbound.mailgun.example",
        "pooled.example.com",  # the additions are whole parts of the name
        "users.example.com",
        "customer.example.com",
        "mx.dipx.example",
        "",
        ".",
    ],
)
def test_ordinary_names_do_not_hit(name: str) -> None:
    assert generic_rdns(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "host-1-2-3-4.static.example.net",
        "dsl-1-2-3-4.STATIC.example.net",
        "1-2-3-4.fixip.example.net",
        "fix-1-2-3-4.dyn.example.net",
        "pool-1-2-3-4.staticip.example.net",
        "cable-10-0-0-1.prefix.example",  # (the exception is a substring, as in SpamAssassin)
    ],
)
def test_the_static_exception_suppresses_every_hit(name: str) -> None:
    assert generic_rdns(name) is None


def test_matching_is_case_insensitive_and_ignores_the_root_dot() -> None:
    assert generic_rdns("PD9E4F89F.DIP.T-DIALIN.NET") is not None
    assert generic_rdns("0X7F000001.EXAMPLE.NET") is not None
    match = generic_rdns("c-67-168-174-61.client.comcast.net.")
    assert match is not None
    assert match.label == "__RDNS_DYNAMIC_IPADDR"


def test_a_confident_rule_speaks_first_and_every_rule_is_listed() -> None:
    match = generic_rdns("dsl-127-0-3-10.dyn.pool.example.test")
    assert match is not None
    assert match.labels[0] == "__RDNS_DYNAMIC_IPADDR"
    assert "__RDNS_INDICATOR_DYN" in match.labels
    assert "mailspec:pool" not in match.labels  # additions only when SpamAssassin found nothing
    wireless = generic_rdns("x-1-2-3-4.wireless.example.net")
    assert wireless is not None
    assert wireless.labels == ("__RDNS_DYNAMIC_IPADDR", "__RDNS_INDICATOR_TYPE")
    assert not wireless.low_confidence


def test_the_ip_rule_needs_two_more_labels_after_the_address() -> None:
    assert generic_rdns("1-2-3-4.example") is None
    assert generic_rdns("1-2-3-4.example.com") is not None


def test_str_says_how_sure_it_is() -> None:
    assert str(GenericMatch("__RDNS_DYNAMIC_HEXIP", "0x7f000001.", False)).startswith("looks generic")
    assert str(GenericMatch("mailspec:pool", "pool.", True)).startswith("may look generic")


@given(st.text(max_size=80) | st.from_regex(r"[a-z0-9.-]{0,40}", fullmatch=True))
def test_generic_rdns_never_raises(name: str) -> None:
    match = generic_rdns(name)
    if match is not None:
        assert match.text
        assert match.label in match.labels
        assert match.text.lower() in name.lower()


@pytest.mark.parametrize(
    ("ip", "name"),
    [
        ("192.0.2.25", "25.2.0.192.in-addr.arpa."),
        ("10.0.0.1", "1.0.0.10.in-addr.arpa."),
        ("2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."),
        ("2001:DB8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."),
        ("::ffff:192.0.2.1", "1.2.0.192.in-addr.arpa."),  # a mapped address is an IPv4 peer's
        ("fe80::1%eth0", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa."),
    ],
)
def test_reverse_name(ip: str, name: str) -> None:
    assert reverse_name(ip) == name


@pytest.mark.parametrize(
    "text", ["", "mx.example.com", "192.0.2", "192.0.2.256", "01.2.3.4", "2001:db8::g", " 192.0.2.1"]
)
def test_reverse_name_of_no_address_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        reverse_name(text)


@given(st.ip_addresses())  # (dnspython too maps ::ffff:a.b.c.d to in-addr.arpa)
def test_reverse_name_agrees_with_dnspython(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert reverse_name(str(ip)) == dns.reversename.from_address(str(ip)).to_text()


@given(st.text(max_size=45))
def test_reverse_name_raises_only_value_error(text: str) -> None:
    try:
        name = reverse_name(text)
    except ValueError:
        return
    assert name.endswith((".in-addr.arpa.", ".ip6.arpa."))
