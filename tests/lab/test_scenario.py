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
    assert sc.mtas[0].hostname == "mx1.mini.test" and sc.mtas[0].tls == ("expired",)
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


# --------------------------------------------------------------------------- [[mta]] tables

WITH_MTA = (
    MINIMAL
    + """
[[mta]]
ip = "127.0.9.10"
hostname = "mx1.mini.test"
"""
)


def _mta(extra: str = "", kind: str = "") -> str:
    return WITH_MTA + (f'kind = "{kind}"\n' if kind else "") + extra


def test_an_mta_has_postfix_defaults() -> None:
    [mta] = parse_scenario(WITH_MTA, "m").mtas
    assert (mta.ip, mta.hostname, mta.kind, mta.role, mta.relay, mta.pipelining) == (
        "127.0.9.10", "mx1.mini.test", "postfix", "final", "denied", "strict"
    )  # fmt: skip
    assert mta.accept == ("postmaster", "abuse", "hostmaster", "dmarc", "tlsrpt")
    assert (mta.tls, mta.offers_tls, mta.tls_flaws, mta.certificate_names) == (
        ("lab",), True, frozenset(), ("mx1.mini.test",)
    )  # fmt: skip
    assert (mta.greeting_text, mta.ehlo_hostname, mta.ident, mta.max_connections) == (
        "mx1.mini.test ESMTP", "mx1.mini.test", "closed", 10
    )  # fmt: skip
    assert mta.fake_knobs == () and mta.dialogue
    assert mta.ehlo_keywords() == [
        "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
        "SMTPUTF8", "CHUNKING",
    ]  # fmt: skip
    assert "STARTTLS" not in mta.ehlo_keywords(after_tls=True)


def test_mta_knobs_are_read() -> None:
    text = _mta(
        'banner = "hello there"\nrole = "backup"\naccept = ["*"]\nrelay = "open"\npipelining = "lax"\n'
        'tls = ["expired", "lab", "wrong-name"]\ncert_names = ["A.mini.test"]\nident = "blackhole"\n'
        'postfix = { smtpd_helo_required = "yes" }\ngreeting = "multiline"\ngreeting_delay = 2\n'
        'ehlo_name = "ehlo.mini.test"\nextensions = ["PIPELINING"]\nehlo_extra_keywords = 2\n'
        'helo_reply = "ehlo-style"\nvrfy = "lies"\nexpn = "advertised"\nnull_sender = "reject-rcpt"\n'
        'case_sensitive = true\nunqualified_postmaster = "reject"\ntls_gated = true\ngreylist = "once"\n'
        'unknown_command = "disconnect"\nstarttls = "readvertise"\ntls_versions = "legacy"\n'
        "max_connections = 3\n",
        kind="fake",
    )
    [mta] = parse_scenario(text, "m").mtas
    assert mta.tls == ("expired", "wrong-name") and mta.tls_flaws == {"expired", "wrong-name"}
    assert mta.cert_names == ("a.mini.test",) and mta.catch_all and mta.greeting_delay == 2.0
    assert mta.postfix == (("smtpd_helo_required", "yes"),) and mta.greeting_text == "hello there"
    assert mta.ehlo_keywords() == ["PIPELINING", "EXPN", "X-MAILSPEC-JUNK-000000", "X-MAILSPEC-JUNK-000001"]
    assert mta.ehlo_keywords(after_tls=True)[:3] == ["PIPELINING", "EXPN", "STARTTLS"]  # readvertised
    assert set(mta.fake_knobs) >= {"greeting", "vrfy", "starttls", "max_connections", "extensions"}


def test_a_disabled_vrfy_is_not_advertised() -> None:
    [mta] = parse_scenario(_mta('vrfy = "disabled"\ntls = "none"', kind="fake"), "m").mtas
    assert "VRFY" not in mta.ehlo_keywords() and "STARTTLS" not in mta.ehlo_keywords()


@pytest.mark.parametrize(
    ("extra", "kind", "message"),
    [
        ('colour = "blue"', "", r"^m\.toml: unknown key\(s\) mta\[0\]\.colour$"),
        ('role = "primary"', "", r"mta\[0\]\.role: expected one of final, backup, unlisted"),
        ('vrfy = "maybe"', "", r"mta\[0\]\.vrfy: expected one of honest"),
        ('tls = ["none", "lab"]', "", "'none' cannot be combined"),
        ('tls = "revoked"', "", r"mta\[0\]\.tls: expected lab, none"),
        ('tls = "none"\ncert_names = ["x.mini.test"]', "", "cert_names need TLS"),
        ('tls = "none"\nstarttls = "broken"', "fake", "starttls need TLS"),
        ("accept = []", "", "name at least one local part"),
        ('accept = ["a@b"]', "", "is not a local part"),
        ("greeting_delay = -1", "fake", "expected 0 to 300"),
        ("max_connections = 0", "fake", "expected 1 to 1000"),
        ('banner = "two\\nlines"', "", "must be one line"),
        ('extensions = ["OK", ""]', "fake", "must be one line"),
        ("postfix = { x = 1 }", "", "main.cf values are strings"),
        ('role = "backup"', "silent", r"mta\[0\]: role only apply to kind = postfix or fake, not 'silent'"),
        ('banner = "x"', "garbage", r"banner only apply to kind = postfix or fake"),
    ],
)
def test_mta_mistakes_are_named(extra: str, kind: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(_mta(extra, kind=kind), "m")


def test_mta_addresses_and_where_they_may_be() -> None:
    with pytest.raises(ScenarioError, match="outside the scenario range"):
        parse_scenario(WITH_MTA.replace('ip = "127.0.9.10"\nhostname', 'ip = "127.0.0.1"\nhostname'), "m")
    with pytest.raises(ScenarioError, match=r"127\.0\.9\.10 has more than one MTA"):
        parse_scenario(WITH_MTA + '[[mta]]\nip = "127.0.9.10"\nhostname = "mx2.mini.test"\n', "m")
    no_zone = 'domain = "gone.test"\n[expect]\nclean = true\n'
    no_zone += '[[mta]]\nip = "127.0.9.10"\nhostname = "mx.gone.test"\n'
    with pytest.raises(ScenarioError, match="MTAs need a"):
        parse_scenario(no_zone, "m")
    six = parse_scenario(WITH_MTA.replace('ip = "127.0.9.10"\nhostname', 'ip = "::1"\nhostname'), "m")
    assert six.mtas[0].ip == "::1" and "::1" in six.addresses
    underscored = WITH_MTA.replace('hostname = "mx1.mini.test"', 'hostname = "mail_gw.mini.test"')
    under = parse_scenario(underscored, "m")
    assert under.mtas[0].hostname == "mail_gw.mini.test"  # '_' is what some scenarios are about
    for kind in ("silent", "garbage", "tarpit", "babbler", "binary", "badcode"):
        [hostile] = parse_scenario(_mta(kind=kind), "m").mtas
        assert not hostile.dialogue and not hostile.offers_tls
    assert parse_scenario(_mta('banner = "slow"', kind="tarpit"), "m").mtas[0].greeting_text == "slow"


def test_the_served_domains_are_the_domain_and_its_zones() -> None:
    text = WITH_MTA + '[[extra_zone]]\nname = "mini-mail.test"\n'
    assert parse_scenario(text, "m").served_domains == ("mini.test", "mini-mail.test")


def test_warn_expectations_dnsbl_tables_and_ptr_lists() -> None:
    text = MINIMAL.replace("clean = true", 'warn = ["role.postmaster"]') + (
        '[ptr]\n"127.0.9.10" = ["mx1.mini.test", "mail.mini.test"]\n[dnsbl]\nlisted = ["127.0.9.10", "::1"]\n'
    )
    sc = parse_scenario(text, "w")
    assert sc.expect.warned == ("role.postmaster",) and sc.expect.count == 1
    assert sc.ptr == (("127.0.9.10", "mx1.mini.test"), ("127.0.9.10", "mail.mini.test"))
    assert sc.dnsbl_listed == ("127.0.9.10", "::1")
    with pytest.raises(ScenarioError, match="clean scenario cannot also"):
        parse_scenario(MINIMAL.replace("clean = true", 'clean = true\nwarn = ["role.abuse"]'), "w")
    with pytest.raises(ScenarioError, match=r"unknown key\(s\) dnsbl\.zone"):
        parse_scenario(MINIMAL + '[dnsbl]\nzone = "x"\n', "w")
    with pytest.raises(ScenarioError, match="not an IP address"):
        parse_scenario(MINIMAL + '[dnsbl]\nlisted = ["mx1"]\n', "w")
    with pytest.raises(ScenarioError, match="belongs to the lab"):
        parse_scenario(MINIMAL.replace('domain = "mini.test"', 'domain = "x.dnsbl.test"'), "w")


def test_judge_reads_warn_expectations() -> None:
    from mailspec.testing.verdicts import judge

    sc = parse_scenario(MINIMAL.replace("clean = true", 'warn = ["role.postmaster"]'), "w")

    def result(outcome: str, subject: str = "mx1") -> dict[str, str]:
        return {"check": "role.postmaster", "domain": "mini.test", "subject": subject, "outcome": outcome}

    assert judge(sc, [result("warned"), result("passed", "mx2")]) == []
    assert judge(sc, [result("warned"), result("failed", "mx2")])[0].startswith("warn role.postmaster")
    assert judge(sc, [result("passed")])[0].startswith("warn role.postmaster")
    assert judge(sc, [result("warned")], exact=True) == []


def test_judge_reads_fail_expectations() -> None:
    # (flag takes a warning as well as a failure; fail takes only a failure)
    from mailspec.testing.verdicts import judge

    sc = parse_scenario(MINIMAL.replace("clean = true", 'fail = ["role.postmaster"]'), "f")
    assert sc.expect.failed == ("role.postmaster",) and sc.expect.count == 1

    def result(outcome: str) -> dict[str, str]:
        return {"check": "role.postmaster", "domain": "mini.test", "subject": "mx1", "outcome": outcome}

    assert judge(sc, [result("failed"), result("passed")], exact=True) == []
    assert judge(sc, [result("warned")])[0].startswith("fail role.postmaster: expected a failed result")
    with pytest.raises(ScenarioError, match="clean scenario"):
        parse_scenario(MINIMAL.replace("clean = true", 'clean = true\nfail = ["role.abuse"]'), "f")


# --------------------------------------------------------------------------- the packaged MTAs


def test_every_packaged_mta_has_its_address_in_dns() -> None:
    """Each MTA listens where some zone of its scenario (or ::1's) points, and its PTR is served."""
    for sc in load_scenarios():
        texts = "\n".join(z.records for z in sc.zones)
        for mta in sc.mtas:
            assert mta.ip in texts, f"{sc.name}: no record points at MTA {mta.ip}"


def test_packaged_scenarios_keep_to_their_own_blocks() -> None:
    """Each scenario's addresses lie in one /27 (the older ones) or /28 of its own; 127.0.9.0/25 is
    left to scenarios of users (and of the lab's own tests)."""
    import ipaddress

    owner: dict[ipaddress.IPv4Network, str] = {}
    for sc in load_scenarios():
        v4 = [ipaddress.IPv4Address(ip) for ip in sc.addresses if ":" not in ip]
        if not v4:
            continue
        for prefix in (28, 27):
            nets = {ipaddress.IPv4Network(f"{ip}/{prefix}", strict=False) for ip in v4}
            if len(nets) == 1:
                break
        assert len(nets) == 1, f"{sc.name} spans {sorted(map(str, nets))}"
        [net] = nets
        assert not net.overlaps(ipaddress.IPv4Network("127.0.9.0/25")), sc.name
        for other, name in owner.items():
            assert not net.overlaps(other), f"{sc.name} ({net}) and {name} ({other}) overlap"
        owner[net] = sc.name


def test_every_expected_check_id_is_in_the_catalog() -> None:
    import json

    path = Path(__file__).parents[2] / "mailspec" / "catalog.json"
    catalog = {c["id"] for c in json.loads(path.read_text(encoding="utf-8"))}
    for sc in load_scenarios():
        e = sc.expect
        for check_id in e.flag + e.passed + e.not_passed + e.skipped + e.error + e.warned:
            assert check_id.partition("@")[0] in catalog, f"{sc.name}: {check_id}"


def test_one_scenario_flags_each_smtp_check() -> None:
    judged = {
        c.partition("@")[0]
        for sc in load_scenarios()
        for c in sc.expect.flag + sc.expect.warned + sc.expect.not_passed + sc.expect.error
    }
    wanted = {
        "smtp.connect", "smtp.banner.code", "smtp.banner.syntax", "smtp.banner.no-underscore",
        "smtp.ehlo.ok", "smtp.ehlo.no-underscore", "smtp.helo.ok", "smtp.unknown-command.tolerated",
        "smtp.null-sender.accepted",
        "smtp.rcpt.unknown-rejected", "smtp.relay.denied", "smtp.vrfy.honest", "smtp.vrfy.implemented",
        "smtp.expn.advertised", "smtp.early-talker", "smtp.pipelining.unauth", "role.postmaster",
        "role.postmaster-unqualified", "role.postmaster-null-sender", "role.abuse", "role.case-insensitive",
        "role.hostmaster", "role.not-tls-gated", "tls.starttls.offered", "tls.starttls.handshake",
        "tls.starttls.no-readvertise", "tls.starttls.no-injection", "tls.version.legacy-refused",
        "tls.cert.name", "tls.cert.validity", "tls.cert.chain", "mx2.all-reachable", "mx2.accepts-domain",
        "mx2.policy-parity", "rdns.ptr-exists", "rdns.fcrdns", "rdns.ptr-target-not-cname", "rdns.single-ptr",
        "dynip.rdns-generic", "helo.matches-ptr", "helo.resolves", "helo.no-underscore", "helo.fqdn",
        "dnsbl.listed", "ident.port113", "dns.soa.rname",
    }  # fmt: skip
    assert wanted <= judged, sorted(wanted - judged)


def test_packaged_postfix_mtas_use_only_what_postfix_plays() -> None:
    """kind = "postfix" means real Postfix can play it (the Postfix tier does): the fake-only knobs
    stay at their defaults there, and kind = "fake" is used where one is needed."""
    for sc in load_scenarios():
        for mta in sc.mtas:
            if mta.kind == "postfix":
                assert mta.fake_knobs == (), f"{sc.name}: {mta.hostname} sets {mta.fake_knobs}"
            elif mta.kind == "fake":
                assert mta.fake_knobs, f"{sc.name}: {mta.hostname} is a fake with nothing fake about it"
