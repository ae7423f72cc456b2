"""The lab plan: zone texts and per-address servers, as data another runner (NSD) can use."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from mailspec.testing import (
    REGISTRY_IP,
    RESOLVER_IP,
    ScenarioError,
    build_lab,
    load_scenarios,
    parse_scenario,
)
from mailspec.testing.zones import LabPlan, parse_zone


def _plan() -> LabPlan:
    return build_lab(load_scenarios())


def _rrset(zone: dns.zone.Zone, name: str, rdtype: str) -> set[str]:
    rds = zone.get_rdataset(dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
    return {rd.to_text() for rd in rds} if rds is not None else set()


def test_every_zone_text_is_a_complete_zone_file() -> None:
    plan = _plan()
    for origin, text in plan.zones.items():
        assert text.startswith(f"; {origin}: generated") and f"$ORIGIN {origin}." in text
        zone = parse_zone(origin, text)
        assert zone.get_rdataset(zone.origin, dns.rdatatype.SOA) is not None  # type: ignore[arg-type]


def test_scenario_zone_has_soa_apex_ns_glue_then_records() -> None:
    plan = _plan()
    zone = parse_zone("good.test", plan.zones["good.test"])
    assert _rrset(zone, "good.test.", "SOA") == {
        "ns1.good.test. hostmaster.good.test. 2026112801 14400 3600 1209600 3600"
    }
    assert _rrset(zone, "good.test.", "NS") == {"ns1.good.test.", "ns2.good.test."}
    assert _rrset(zone, "ns1.good.test.", "A") == {"127.0.2.1"}
    assert _rrset(zone, "good.test.", "MX") == {"10 mx1.good.test.", "20 mx2.good.test."}


def test_registry_delegates_each_zone_with_glue_according_to_listed() -> None:
    plan = _plan()
    test = parse_zone("test", plan.zones["test"])
    assert _rrset(test, "good.test.", "NS") == {"ns1.good.test.", "ns2.good.test."}
    assert _rrset(test, "ns1.good.test.", "A") == {"127.0.2.1"}
    # ns3 is listed = "zone": in the zone's NS RRset, not in the delegation.
    assert _rrset(test, "ns-mismatch.test.", "NS") == {"ns1.ns-mismatch.test.", "ns2.ns-mismatch.test."}
    child = parse_zone("ns-mismatch.test", plan.zones["ns-mismatch.test"])
    assert "ns3.ns-mismatch.test." in _rrset(child, "ns-mismatch.test.", "NS")
    assert _rrset(child, "ns3.ns-mismatch.test.", "A") == {"127.0.2.227"}
    # No zone, no delegation: NXDOMAIN.
    assert test.get_node(dns.name.from_text("nxdomain.test.")) is None
    # [registry] records of a scenario land in test.
    reg = parse_scenario(
        'domain = "reg.test"\n[expect]\nclean = true\n[registry]\nrecords = "reg CNAME good.test."\n',
        name="reg",
    )
    registry = parse_zone("test", build_lab([reg]).zones["test"])
    assert _rrset(registry, "reg.test.", "CNAME") == {"good.test."}


def test_a_name_server_name_the_records_make_a_cname_gets_no_address() -> None:
    plan = _plan()
    zone = parse_zone("ns-cname.test", plan.zones["ns-cname.test"])
    assert _rrset(zone, "dns.ns-cname.test.", "CNAME") == {"ns1.ns-cname.test."}
    assert _rrset(zone, "dns.ns-cname.test.", "A") == set()
    # The registry still has glue for it, as a real registry would.
    test = parse_zone("test", plan.zones["test"])
    assert _rrset(test, "dns.ns-cname.test.", "A") == {"127.0.2.193"}


def test_servers_one_per_address_with_their_mode_and_zones() -> None:
    plan = _plan()
    assert plan.servers[0].ip == RESOLVER_IP and plan.servers[0].mode == "resolver"
    assert plan.servers[0].zones == plan.zones
    registry = plan.server(REGISTRY_IP)
    assert registry.mode == "authoritative"
    assert {"test", "127.in-addr.arpa", "10", "bad-name-mail.test"} <= set(registry.zones)
    assert len({s.ip for s in plan.servers}) == len(plan.servers)
    assert plan.server("127.0.2.130").mode == "refused" and plan.server("127.0.2.130").zones == {}
    assert plan.server("127.0.2.162").mode == "silent"
    assert plan.server("127.0.3.98").mode == "recursive"
    assert plan.server("127.0.3.98").zones == {"open-resolver.test": plan.zones["open-resolver.test"]}
    assert plan.server("127.0.3.129").axfr == ("open-axfr.test",)
    assert (
        plan.server("127.0.2.1").names == ("ns1.good.test",) and plan.server("127.0.2.1").scenario == "good"
    )
    assert plan.server("127.0.2.193").names == ("ns1.ns-cname.test", "dns.ns-cname.test")


def test_a_stale_server_gets_the_zone_with_its_older_serial() -> None:
    plan = _plan()
    current = parse_zone("stale-serial.test", plan.server("127.0.3.1").zones["stale-serial.test"])
    stale = parse_zone("stale-serial.test", plan.server("127.0.3.2").zones["stale-serial.test"])
    serials = [next(iter(_rrset(z, "stale-serial.test.", "SOA"))).split()[2] for z in (current, stale)]
    assert serials == ["2026112801", "2026112800"]
    assert plan.zones["stale-serial.test"] == plan.server("127.0.3.1").zones["stale-serial.test"]


def test_stub_zones_knobs_and_reverse_zones() -> None:
    plan = _plan()
    assert plan.stub_zones["test"] == (REGISTRY_IP,) and plan.stub_zones["10"] == (REGISTRY_IP,)
    assert "bad-name-mail.test" not in plan.stub_zones  # reached through test.
    assert plan.knobs_for("mx1.truncated.test.") == plan.resolver_knobs["truncated.test"]
    assert plan.knobs_for("good.test") is None
    reverse = parse_zone("127.in-addr.arpa", plan.zones["127.in-addr.arpa"])
    assert _rrset(reverse, "10.2.0.127.in-addr.arpa.", "PTR") == {"mx1.good.test."}
    assert plan.zone_scenarios["good.test"] == "good" and plan.zone_scenarios["test"] == ""


def test_the_blocklists_are_zones_of_the_registry() -> None:
    plan = _plan()
    registry = plan.server(REGISTRY_IP)
    for origin in ("dnsbl.test", "refusing.dnsbl.test", "wild.dnsbl.test", "badanswer.dnsbl.test"):
        assert origin in registry.zones and origin in plan.zones
    test = parse_zone("test", plan.zones["test"])
    assert _rrset(test, "dnsbl.test.", "NS") == {"nic.test."}
    dnsbl = parse_zone("dnsbl.test", plan.zones["dnsbl.test"])
    assert _rrset(dnsbl, "2.0.0.127.dnsbl.test.", "A") == {"127.0.0.2"}
    assert _rrset(dnsbl, "2.0.0.127.dnsbl.test.", "TXT") == {'"RFC 5782 test entry"'}
    nibbles = "2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20 + ".dnsbl.test."
    assert _rrset(dnsbl, nibbles, "A") == {"127.0.0.2"}
    assert dnsbl.get_node(dns.name.from_text("1.0.0.127.dnsbl.test.")) is None
    # dnsbl-listed's MX address, with its reason
    [listed] = [sc for sc in load_scenarios() if sc.name == "dnsbl-listed"]
    [ip] = listed.dnsbl_listed
    name = ".".join(reversed(ip.split("."))) + ".dnsbl.test."
    assert _rrset(dnsbl, name, "A") == {"127.0.0.2"}
    assert _rrset(dnsbl, name, "TXT") == {'"listed by the mailspec lab (dnsbl-listed)"'}
    for origin, answer in [
        ("refusing.dnsbl.test", "127.255.255.254"),
        ("wild.dnsbl.test", "127.0.0.2"),
        ("badanswer.dnsbl.test", "10.0.0.1"),
    ]:
        zone = parse_zone(origin, plan.zones[origin])
        assert _rrset(zone, f"*.{origin}.", "A") == {answer}


def test_a_scenario_cannot_take_a_blocklist_zone() -> None:
    text = 'domain = "x.test"\n[expect]\nclean = true\n[[extra_zone]]\nname = "dnsbl.test"\n'
    with pytest.raises(ScenarioError, match="belongs to the lab"):
        parse_scenario(text, "x")


def test_several_ptr_records_for_one_address() -> None:
    plan = _plan()
    reverse = parse_zone("127.in-addr.arpa", plan.zones["127.in-addr.arpa"])
    [two] = [sc for sc in load_scenarios() if sc.name == "two-ptrs"]
    ip = two.ptr[0][0]
    name = ".".join(reversed(ip.split("."))) + ".in-addr.arpa."
    assert _rrset(reverse, name, "PTR") == {"mx1.two-ptrs.test.", "mail.two-ptrs.test."}
