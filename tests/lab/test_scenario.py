"""Scenario files: strict loading, validation, and the packaged set."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailspec.testing import (
    Lab,
    LabError,
    Scenario,
    ScenarioError,
    build_lab,
    check_together,
    load_scenario,
    load_scenarios,
    parse_scenario,
    scenario_names,
)

MINIMAL = """
domain = "mini.test"
[expect]
clean = true
[zone]
records = '''
@ MX 10 mx1
mx1 A 127.0.9.10
'''
[[zone.nameserver]]
host = "ns1"
ip = "127.0.9.1"
"""

PUBLIC_ADDRESS_WAIVER = "mx.target.public-address=the embedded lab serves every MX on loopback"


def test_minimal_scenario_has_the_documented_defaults() -> None:
    sc = parse_scenario(MINIMAL, "mini")
    assert sc.name == "mini" and sc.domain == "mini.test"
    assert sc.zone is not None
    assert sc.zone.name == "mini.test"
    assert (sc.zone.soa.serial, sc.zone.soa.refresh, sc.zone.soa.retry) == (2026010101, 14400, 3600)
    assert (sc.zone.soa.expire, sc.zone.soa.minimum, sc.zone.soa.rname) == (1209600, 3600, "hostmaster")
    assert sc.zone.axfr == "refused" and sc.zone.ttl == 3600
    ns = sc.zone.nameservers[0]
    assert (ns.host, ns.ip, ns.mode, ns.listed, ns.serial) == (
        "ns1.mini.test",
        "127.0.9.1",
        "current",
        "both",
        None,
    )
    assert not sc.resolver.active
    assert sc.expect.clean and sc.expect.count == 1


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('colour = "blue"\n' + MINIMAL, r"unknown key\(s\) colour$"),
        (MINIMAL + "[resolver]\nslow = true\n", r"unknown key\(s\) resolver\.slow$"),
        (MINIMAL + '[registry]\nrecord = "x"\n', r"unknown key\(s\) registry\.record$"),
        (
            MINIMAL + '[[extra_zone]]\nname = "x.test"\nrecord = ""\n',
            r"unknown key\(s\) extra_zone\[0\]\.record$",
        ),
    ],
)
def test_unknown_keys_name_the_file_and_the_key(text: str, where: str) -> None:
    with pytest.raises(ScenarioError, match=rf"^odd\.toml: {where}"):
        parse_scenario(text, "odd")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('host = "ns1"', 'host = "ns1"\nweight = 3', r"unknown key\(s\) zone\.nameserver\[0\]\.weight"),
        ("[zone]", "[zone]\nsoa = { refresh = 1, colour = 2 }", r"unknown key\(s\) zone\.soa\.colour"),
        ("clean = true", "clean = true\nflags = []", r"unknown key\(s\) expect\.flags"),
        ("[zone]", "[zone]\nserial = true", r"zone\.serial: expected int"),
        ("[zone]", '[zone]\nserial = "2026"', r"zone\.serial: expected int"),
        ('ip = "127.0.9.1"', 'ip = "127.0.1.1"', "outside the scenario range"),
        ('ip = "127.0.9.1"', 'ip = "10.0.0.1"', "outside the scenario range"),
        ('ip = "127.0.9.1"', 'ip = "::1"', "not an IPv4 address"),
        ('host = "ns1"', 'host = "ns1"\nserial = 5', "only a 'stale' name server"),
        ('host = "ns1"', 'host = "ns1"\nmode = "lazy"', "expected one of current, stale"),
        ('host = "ns1"', 'host = "ns1"\nlisted = "zone"', "the parent must name at least one"),
        ('domain = "mini.test"', 'domain = "mini.example"', "must be below test"),
        ("clean = true", 'clean = true\nflag = ["mx.no-cname"]', "clean scenario cannot also flag"),
        ("clean = true", 'skip = ["mx.no-cname"]\npass = ["mx.no-cname"]', "both skipped and judged"),
        ("clean = true", 'pass = ["MX no cname"]', "not a check id"),
        ("clean = true", "", "give at least one of"),
        ("[zone]", '[zone]\nname = "other.test"', "not in zone other.test"),
        ("[zone]", '[zone]\nname = "a.b.test"', "directly below test"),
        ('domain = "mini.test"', 'domain = "mini.test"\nwaive = ["mx.no-cname"]', "not 'CHECK-ID=REASON'"),
        ("[zone]", "[resolver]\nsilent = true\nservfail = true\n[zone]", "choose one of"),
    ],
)
def test_invalid_scenarios_are_rejected_with_the_reason(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(MINIMAL.replace(old, new, 1), "bad")


def test_bad_toml_names_the_file() -> None:
    with pytest.raises(ScenarioError, match=r"^broken\.toml: not valid TOML"):
        parse_scenario("domain = ", "broken")


def test_a_zone_typo_is_reported_at_build_time_with_the_scenario_name() -> None:
    sc = parse_scenario(MINIMAL.replace("@ MX 10 mx1", "@ MX ten mx1"), "typo")
    with pytest.raises(ScenarioError, match=r"^typo: zone mini\.test does not parse"):
        build_lab([sc])


def test_registry_records_must_stay_at_or_below_the_domain() -> None:
    text = MINIMAL + "[registry]\nrecords = 'elsewhere CNAME mini.test.'\n"
    with pytest.raises(ScenarioError, match=r"not at or below mini\.test"):
        build_lab([parse_scenario(text, "reg")])


def test_waivers_are_scoped_to_the_domain_unless_a_subject_is_given() -> None:
    text = MINIMAL.replace(
        'domain = "mini.test"',
        'domain = "mini.test"\nwaive = ["mx.no-cname=because", "mx.target.resolves@mx9=reason = x"]',
    )
    sc = parse_scenario(text, "w")
    assert sc.waivers == ("mx.no-cname@mini.test=because", "mx.target.resolves@mx9=reason = x")


def test_mta_ptr_and_args_are_kept_for_the_smtp_side() -> None:
    text = (
        MINIMAL
        + """
mailspec_args = ["--mail-probe=dns"]
[ptr]
"127.0.9.10" = "mx1.mini.test"
"::1" = "mx6.mini.test"
[[mta]]
ip = "127.0.9.10"
hostname = "mx1.mini.test"
tls = ["expired"]
"""
    )
    # mailspec_args after a table would belong to it: put it at the top instead.
    text = 'mailspec_args = ["--mail-probe=dns"]\n' + text.replace(
        'mailspec_args = ["--mail-probe=dns"]\n', ""
    )
    sc = parse_scenario(text, "m")
    assert sc.mailspec_args == ("--mail-probe=dns",)
    assert sc.ptr == (("127.0.9.10", "mx1.mini.test"), ("::1", "mx6.mini.test"))
    assert sc.mtas[0]["hostname"] == "mx1.mini.test" and sc.mtas[0]["tls"] == ["expired"]
    assert "127.0.9.10" in sc.addresses and "::1" in sc.addresses
    plan = build_lab([sc])
    assert "10.9.0.127.in-addr.arpa. IN PTR mx1.mini.test." in plan.zones["127.in-addr.arpa"]
    assert any(origin.endswith("ip6.arpa") for origin in plan.stub_zones)


def test_stale_serial_defaults_to_one_below_the_zone() -> None:
    text = MINIMAL.replace("[zone]", "[zone]\nserial = 7").replace(
        'host = "ns1"', 'host = "ns1"\nmode = "stale"'
    )
    sc = parse_scenario(text, "s")
    assert sc.zone is not None and sc.zone.nameservers[0].serial == 6


def _other(domain: str, ip: str, zone_name: str | None = None) -> Scenario:
    text = MINIMAL.replace("mini.test", domain).replace("127.0.9.1", ip)
    if zone_name:
        text = text.replace("[zone]", f'[zone]\nname = "{zone_name}"')
    return parse_scenario(text, domain.split(".", maxsplit=1)[0])


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (lambda: _other("mini.test", "127.0.9.2"), "both named|collides"),
        (lambda: _other("other.test", "127.0.9.1"), "127.0.9.1 is used by both"),
        (lambda: parse_scenario('domain = "sub.mini.test"\n[expect]\nclean = true', "sub"), "collides"),
        (
            lambda: parse_scenario(
                MINIMAL.replace("mini.test", "mini2.test").replace("127.0.9.1", "127.0.9.2")
                + '[[extra_zone]]\nname = "mini.test"\n',
                "mini2",
            ),
            "collides",
        ),
    ],
)
def test_scenarios_that_collide_are_rejected(second: object, message: str) -> None:
    first = parse_scenario(MINIMAL, "mini")
    other = second()  # type: ignore[operator]
    with pytest.raises(ScenarioError, match=message):
        check_together([first, other])


def test_load_scenarios_reads_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "mini.toml").write_text(MINIMAL)
    (tmp_path / "two.toml").write_text(
        MINIMAL.replace("mini.test", "two.test").replace("127.0.9.1", "127.0.9.33")
    )
    scenarios = load_scenarios([tmp_path / "one", tmp_path / "two.toml"])
    assert [sc.name for sc in scenarios] == ["mini", "two"]
    assert load_scenario(tmp_path / "two.toml").source.endswith("two.toml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match="holds no"):
        load_scenarios([tmp_path / "empty"])
    with pytest.raises(ScenarioError, match=r"nowhere\.toml"):
        load_scenario(tmp_path / "nowhere.toml")


# --------------------------------------------------------------------------- the packaged set


def test_the_packaged_scenarios_load_together_and_render() -> None:
    scenarios = load_scenarios()
    assert [sc.name for sc in scenarios] == scenario_names()
    assert len(scenarios) >= 30
    plan = build_lab(scenarios)
    assert set(plan.domains) == {sc.domain for sc in scenarios}
    for sc in scenarios:
        for zone in sc.zones:
            assert zone.name in plan.zones


@pytest.mark.parametrize("name", scenario_names())
def test_each_packaged_scenario_renders_on_its_own(name: str) -> None:
    [sc] = [s for s in load_scenarios() if s.name == name]
    assert sc.description, "every scenario explains itself"
    assert sc.expect.count > 0
    plan = build_lab([sc])
    assert plan.domains == (sc.domain,)
    if sc.name == "mx-public":
        assert not [w for w in sc.waive if w.startswith("mx.target.public-address")]
    else:
        assert PUBLIC_ADDRESS_WAIVER in sc.waive


def test_one_scenario_flags_each_dns_and_mx_check() -> None:
    flagged = {check for sc in load_scenarios() for check in sc.expect.flag}
    wanted = {
        "dns.domain.exists", "dns.domain.no-underscore", "dns.apex.no-cname", "dns.ns.count",
        "dns.ns.authoritative", "dns.ns.no-cname", "dns.ns.parent-child-match", "dns.soa.serial-consistent",
        "dns.soa.timers", "dns.soa.rname", "dns.ns.no-recursion", "dns.ns.no-axfr", "mx.present",
        "mx.null.exclusive", "mx.null.not-sender", "mx.null.spf-all", "mx.target.not-ip",
        "mx.target.hostname-syntax", "mx.no-cname", "mx.target.resolves", "mx.target.public-address",
        "mx.ipv4-reachable", "sender.domain-resolvable",
    }  # fmt: skip
    assert wanted <= flagged
    good = next(sc for sc in load_scenarios() if sc.name == "good")
    assert good.expect.clean and wanted - set(good.expect.passed) <= {
        "mx.null.exclusive", "mx.null.not-sender", "mx.null.spf-all", "mx.target.public-address"
    }  # fmt: skip


def test_from_names_picks_by_stem_or_domain_and_lists_the_known_ones() -> None:
    lab = Lab.from_names(["good", "bad_name.test"])
    assert lab.domains == ["bad_name.test", "good.test"]
    assert len(Lab.from_names(["all"]).scenarios) == len(scenario_names())
    with pytest.raises(LabError, match=r"unknown lab scenario\(s\) 'nope'; known: all, apex-cname"):
        Lab.from_names(["nope"])
    assert Lab.from_names("good").domains == ["good.test"]  # one name, not its letters
    with pytest.raises(LabError, match="at least one"):
        Lab.from_names([])
