"""The lab's DNS server, probed with plain dnspython (never with mailspec's own code)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.xfr
import pytest

from mailspec.testing import REGISTRY_IP, Lab, load_scenarios, parse_scenario
from mailspec.testing.binding import roomy_receive_buffer

Ask = Callable[..., dns.message.Message]

BIG_TXT = " ".join(f'"{c * 200}"' for c in "abc")
QUIRKS = f'''
domain = "quirks.test"
[expect]
clean = true
[zone]
axfr = "open"
soa = {{ minimum = 300 }}
records = """
@           MX    10 mx1
mx1         A     127.0.9.10
_25._tcp.mx1 TLSA 3 1 1 {"ab" * 32}
loop1       CNAME loop2
loop2       CNAME loop1
{chr(10).join(f"c{i} CNAME c{i + 1}" for i in range(1, 10))}
c10         A     127.0.9.50
*.wild      A     127.0.9.51
a.b.deep    A     127.0.9.52
sub         NS    ns.elsewhere.test.
out         CNAME mx1.good.test.
big         TXT   {BIG_TXT}
{chr(10).join(f'bulk{i} TXT "{"x" * 200}"' for i in range(200))}
"""
[[zone.nameserver]]
host = "ns1"
ip = "127.0.9.1"
[[zone.nameserver]]
host = "ns2"
ip = "127.0.9.2"
'''
NS1 = "127.0.9.1"


@pytest.fixture(scope="module")
def quirks() -> Iterator[Lab]:
    """good.test, mail.apex-cname.test and a zone full of edge cases."""
    packaged = [sc for sc in load_scenarios() if sc.name in ("good", "apex-cname")]
    with Lab([*packaged, parse_scenario(QUIRKS, "quirks")]) as lab:
        yield lab


@pytest.fixture
def qask(quirks: Lab, asker: Callable[[Lab], Ask]) -> Ask:
    return asker(quirks)


def _texts(section: list[dns.rrset.RRset]) -> list[str]:
    return [rr.to_text() for rr in section]


def _flags(response: dns.message.Message) -> set[str]:
    return set(dns.flags.to_text(response.flags).split())


# --------------------------------------------------------------------------- the resolver


def test_resolver_answers_recursively_from_the_zones(ask: Ask) -> None:
    r = ask("good.test", "MX")
    assert r.rcode() == dns.rcode.NOERROR
    assert {"RA", "RD"} <= _flags(r) and "AA" not in _flags(r)
    assert sorted(rd.to_text() for rd in r.answer[0]) == ["10 mx1.good.test.", "20 mx2.good.test."]
    upper = ask("GOOD.test", "A", tcp=True)  # names are case-insensitive; TCP works the same
    assert upper.rcode() == dns.rcode.NOERROR and upper.authority[0].name == dns.name.from_text("good.test")


def test_resolver_negative_answers_carry_the_zone_soa(ask: Ask) -> None:
    nodata = ask("good.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert (
        nodata.authority[0].rdtype == dns.rdatatype.SOA and nodata.authority[0].name.to_text() == "good.test."
    )
    nxdomain = ask("nope.good.test", "A")
    assert nxdomain.rcode() == dns.rcode.NXDOMAIN and nxdomain.authority[0].name.to_text() == "good.test."
    missing = ask("nxdomain.test", "SOA")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].name.to_text() == "test."
    outside = ask("example.com", "A")
    assert outside.rcode() == dns.rcode.NXDOMAIN and outside.authority == [] and "RA" in _flags(outside)


def test_resolver_negative_soa_ttl_is_the_smaller_of_ttl_and_minimum(qask: Ask) -> None:
    assert qask("nope.quirks.test", "A").authority[0].ttl == 300


def test_resolver_follows_cnames_across_zones(ask: Ask, qask: Ask) -> None:
    r = ask("mail.apex-cname.test", "MX")
    assert _texts(r.answer)[0] == "mail.apex-cname.test. 3600 IN CNAME mail.apex-cname-target.test."
    assert r.answer[1].rdtype == dns.rdatatype.MX
    assert r.answer[1].name.to_text() == "mail.apex-cname-target.test."
    chained = qask("out.quirks.test", "A")
    assert [rr.rdtype for rr in chained.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert chained.answer[1].name.to_text() == "mx1.good.test."
    assert ask("mail.mx-cname.test", "A").answer[1].to_text() == "mx1.mx-cname.test. 3600 IN A 127.0.4.170"


def test_resolver_cname_loops_and_long_chains_are_servfail(qask: Ask) -> None:
    loop = qask("loop1.quirks.test", "A")
    assert loop.rcode() == dns.rcode.SERVFAIL and loop.answer == []
    eight = qask("c2.quirks.test", "A")  # c2 -> ... -> c10: eight CNAMEs, the most it follows
    assert eight.rcode() == dns.rcode.NOERROR and len(eight.answer) == 9
    assert qask("c1.quirks.test", "A").rcode() == dns.rcode.SERVFAIL  # nine
    assert (
        qask("c9.quirks.test", "CNAME").answer[0].to_text()
        == "c9.quirks.test. 3600 IN CNAME c10.quirks.test."
    )


def test_resolver_wildcards_empty_non_terminals_and_dead_delegations(qask: Ask) -> None:
    wild = qask("anything.wild.quirks.test", "A")
    assert wild.answer[0].to_text() == "anything.wild.quirks.test. 3600 IN A 127.0.9.51"
    ent = qask("b.deep.quirks.test", "A")
    assert ent.rcode() == dns.rcode.NOERROR and ent.answer == [] and ent.authority
    assert qask("x.sub.quirks.test", "A").rcode() == dns.rcode.SERVFAIL  # nobody serves sub.quirks.test


def test_resolver_serves_ptr_tlsa_and_any(ask: Ask, qask: Ask) -> None:
    assert ask("10.2.0.127.in-addr.arpa", "PTR").answer[0][0].to_text() == "mx1.good.test."
    tlsa = qask("_25._tcp.mx1.quirks.test", "TLSA")
    assert tlsa.answer[0][0].to_text() == "3 1 1 " + "ab" * 32
    types = {rr.rdtype for rr in ask("good.test", "ANY", tcp=True).answer}
    assert {dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.MX, dns.rdatatype.TXT} <= types
    assert ask("127.0.4.10.", "A").answer[0][0].to_text() == "127.0.4.10"


def test_resolver_answers_the_blocklists(ask: Ask) -> None:
    def a(name: str) -> tuple[str, set[str]]:
        reply = ask(name, "A")
        return dns.rcode.to_text(reply.rcode()), {rd.to_text() for rr in reply.answer for rd in rr}

    assert a("2.0.0.127.dnsbl.test") == ("NOERROR", {"127.0.0.2"})
    assert a("1.0.0.127.dnsbl.test")[0] == "NXDOMAIN"
    [listed] = [sc for sc in load_scenarios() if sc.name == "dnsbl-listed"]
    reversed_ip = ".".join(reversed(listed.dnsbl_listed[0].split(".")))
    assert a(f"{reversed_ip}.dnsbl.test") == ("NOERROR", {"127.0.0.2"})
    txt = ask(f"{reversed_ip}.dnsbl.test", "TXT")
    assert "listed by the mailspec lab" in txt.answer[0].to_text()
    assert a("2.0.0.127.refusing.dnsbl.test") == ("NOERROR", {"127.255.255.254"})
    assert a("1.0.0.127.wild.dnsbl.test") == ("NOERROR", {"127.0.0.2"})  # a dead, wildcarded list
    assert a("2.0.0.127.badanswer.dnsbl.test") == ("NOERROR", {"10.0.0.1"})


def test_large_answers_truncate_over_udp_unless_edns_allows_them(qask: Ask) -> None:
    plain = qask("big.quirks.test", "TXT")
    assert "TC" in _flags(plain) and plain.answer == []
    edns = qask("big.quirks.test", "TXT", use_edns=0, payload=4096)
    assert "TC" not in _flags(edns) and len(edns.answer[0][0].strings) == 3


def test_truncate_knob_forces_tcp(mailspec_lab: Lab, ask: Ask) -> None:
    udp = ask("truncated.test", "MX")
    assert "TC" in _flags(udp) and udp.answer == [] and udp.rcode() == dns.rcode.NOERROR
    assert ask("mx1.truncated.test", "A").answer == []
    assert len(ask("truncated.test", "MX", tcp=True).answer[0]) == 2
    query = dns.message.make_query("truncated.test", "MX")
    response, used_tcp = dns.query.udp_with_fallback(
        query, "127.0.0.153", port=mailspec_lab.dns_port, timeout=5
    )
    assert used_tcp and len(response.answer[0]) == 2


def test_servfail_and_silent_knobs(ask: Ask) -> None:
    assert ask("servfail.test", "MX").rcode() == dns.rcode.SERVFAIL
    assert ask("mx1.servfail.test", "A", tcp=True).rcode() == dns.rcode.SERVFAIL
    for tcp in (False, True):
        with pytest.raises(dns.exception.Timeout):
            ask("blackhole.test", "MX", tcp=tcp, timeout=0.3)
    assert ask("good.test", "MX").answer  # other names are unaffected


# --------------------------------------------------------------------------- name servers


def test_authoritative_server_sets_aa_and_refuses_other_names(ask: Ask) -> None:
    r = ask("good.test", "SOA", "127.0.2.1")
    assert "AA" in _flags(r) and "RA" not in _flags(r)
    assert r.answer[0][0].serial == 2026112801
    assert ask("mx1.good.test", "AAAA", "127.0.2.2").authority[0].rdtype == dns.rdatatype.SOA
    assert ask("nope.good.test", "A", "127.0.2.2").rcode() == dns.rcode.NXDOMAIN
    refused = ask("mx-cname.test", "MX", "127.0.2.1")
    assert refused.rcode() == dns.rcode.REFUSED and "AA" not in _flags(refused)


def test_authoritative_cname_is_chased_inside_the_zone_only(ask: Ask, qask: Ask) -> None:
    inside = ask("dns.ns-cname.test", "A", "127.0.2.193")
    assert [rr.rdtype for rr in inside.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A] and "AA" in _flags(
        inside
    )
    outside = qask("out.quirks.test", "A", NS1)
    assert [rr.rdtype for rr in outside.answer] == [dns.rdatatype.CNAME] and "AA" in _flags(outside)
    loop = qask("loop1.quirks.test", "A", NS1)
    assert loop.rcode() == dns.rcode.NOERROR and len(loop.answer) == 2


def test_registry_and_zones_refer_to_delegated_children(ask: Ask, qask: Ask) -> None:
    referral = ask("www.good.test", "A", REGISTRY_IP)
    assert referral.rcode() == dns.rcode.NOERROR and "AA" not in _flags(referral) and referral.answer == []
    assert sorted(rd.to_text() for rd in referral.authority[0]) == ["ns1.good.test.", "ns2.good.test."]
    assert sorted(rr.to_text() for rr in referral.additional) == [
        "ns1.good.test. 3600 IN A 127.0.2.1",
        "ns2.good.test. 3600 IN A 127.0.2.2",
    ]
    assert "AA" in _flags(ask("test", "SOA", REGISTRY_IP))
    assert ask("nxdomain.test", "A", REGISTRY_IP).rcode() == dns.rcode.NXDOMAIN
    sub = qask("x.sub.quirks.test", "A", NS1)
    assert "AA" not in _flags(sub) and sub.authority[0].name.to_text() == "sub.quirks.test."


def test_refused_server_refuses_everything(ask: Ask) -> None:
    for tcp in (False, True):
        assert ask("lame-refused.test", "SOA", "127.0.2.130", tcp=tcp).rcode() == dns.rcode.REFUSED


def test_silent_server_never_answers(ask: Ask) -> None:
    for tcp in (False, True):
        started = time.monotonic()
        with pytest.raises(dns.exception.Timeout):
            ask("lame-silent.test", "SOA", "127.0.2.162", tcp=tcp, timeout=0.3)
        assert time.monotonic() - started < 1.0


def test_recursive_server_is_an_open_resolver(ask: Ask) -> None:
    own = ask("open-resolver.test", "SOA", "127.0.3.98")
    assert "AA" in _flags(own)
    other = ask("good.test", "MX", "127.0.3.98")
    assert "RA" in _flags(other) and "AA" not in _flags(other) and len(other.answer[0]) == 2
    assert "RA" not in _flags(ask("open-resolver.test", "SOA", "127.0.3.97"))  # ns1 is a plain one
    assert ask("good.test", "MX", "127.0.3.97").rcode() == dns.rcode.REFUSED


def test_stale_server_serves_the_older_serial(ask: Ask) -> None:
    current = ask("stale-serial.test", "SOA", "127.0.3.1").answer[0][0].serial
    stale = ask("stale-serial.test", "SOA", "127.0.3.2").answer[0][0].serial
    assert (current, stale) == (2026112801, 2026112800)
    assert ask("stale-serial.test", "SOA").answer[0][0].serial == 2026112801  # the resolver: current


def test_parent_and_zone_name_different_servers(ask: Ask) -> None:
    parent = ask("ns-mismatch.test", "NS", REGISTRY_IP).authority[0]
    child = ask("ns-mismatch.test", "NS", "127.0.2.225").answer[0]
    assert len(parent) == 2 and len(child) == 3
    assert "AA" in _flags(ask("ns-mismatch.test", "SOA", "127.0.2.227"))


# --------------------------------------------------------------------------- zone transfers


def _xfr(lab: Lab, ip: str, zone: str) -> list[dns.message.Message]:
    return list(dns.query.xfr(ip, zone, port=lab.dns_port, timeout=5, lifetime=10, relativize=False))


def test_axfr_open_gives_the_zone_soa_first_and_last(mailspec_lab: Lab) -> None:
    messages = _xfr(mailspec_lab, "127.0.3.129", "open-axfr.test")
    records = [rr for m in messages for rr in m.answer]
    assert records[0].rdtype == dns.rdatatype.SOA and records[-1].rdtype == dns.rdatatype.SOA
    names = {rr.name.to_text() for rr in records}
    assert {"open-axfr.test.", "mx1.open-axfr.test.", "_dmarc.open-axfr.test."} <= names


def test_axfr_of_a_large_zone_takes_several_messages(quirks: Lab) -> None:
    messages = _xfr(quirks, NS1, "quirks.test")
    assert len(messages) > 1
    assert sum(len(rr) for m in messages for rr in m.answer if rr.rdtype == dns.rdatatype.TXT) >= 201


def test_axfr_is_refused_by_default_over_udp_and_elsewhere(mailspec_lab: Lab, ask: Ask) -> None:
    with pytest.raises(dns.xfr.TransferError, match="REFUSED"):
        _xfr(mailspec_lab, "127.0.2.1", "good.test")
    with pytest.raises(dns.xfr.TransferError, match="REFUSED"):
        _xfr(mailspec_lab, "127.0.3.129", "good.test")
    assert ask("open-axfr.test", "AXFR", "127.0.3.129").rcode() == dns.rcode.REFUSED  # UDP
    assert ask("good.test", "AXFR", tcp=True).rcode() == dns.rcode.REFUSED  # the resolver


# --------------------------------------------------------------------------- robustness and knobs


def _udp_raw(lab: Lab, payload: bytes, ip: str = "127.0.0.153", timeout: float = 0.3) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (ip, lab.dns_port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def test_garbage_gets_formerr_or_silence_and_the_server_survives(mailspec_lab: Lab, ask: Ask) -> None:
    garbage = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff"
    reply = dns.message.from_wire(_udp_raw(mailspec_lab, garbage) or b"")
    assert reply.id == 0x1234 and reply.rcode() == dns.rcode.FORMERR
    assert _udp_raw(mailspec_lab, b"\x00", timeout=0.1) is None  # no header: dropped
    response = dns.message.make_response(dns.message.make_query("good.test", "A"))
    assert _udp_raw(mailspec_lab, response.to_wire(), timeout=0.1) is None  # answers are never answered
    with socket.create_connection(("127.0.2.1", mailspec_lab.dns_port), timeout=5) as sock:
        sock.sendall(len(garbage).to_bytes(2, "big") + garbage)
        length = int.from_bytes(sock.recv(2), "big")
        assert dns.message.from_wire(sock.recv(length)).rcode() == dns.rcode.FORMERR
        sock.sendall(b"\x00\x30abc")  # a frame cut short, then the client leaves
    notify = dns.message.make_query("good.test", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert (
        dns.query.udp(notify, "127.0.2.1", port=mailspec_lab.dns_port, timeout=5).rcode() == dns.rcode.NOTIMP
    )
    assert ask("good.test", "MX").answer and mailspec_lab.server.internal_errors == []


def test_tcp_connection_carries_several_queries(mailspec_lab: Lab) -> None:
    with socket.create_connection(("127.0.0.153", mailspec_lab.dns_port), timeout=5) as sock:
        for name in ("good.test", "mx-cname.test"):
            wire = dns.message.make_query(name, "MX").to_wire()
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
        for name in ("good.test.", "mx-cname.test."):
            length = int.from_bytes(sock.recv(2), "big")
            data = b""
            while len(data) < length:
                data += sock.recv(length - len(data))
            assert dns.message.from_wire(data).question[0].name.to_text() == name


def test_queries_are_counted(mailspec_lab: Lab, ask: Ask) -> None:
    before = mailspec_lab.server.queries_answered
    ask("good.test", "MX")
    ask("good.test", "SOA", "127.0.2.1", tcp=True)
    assert mailspec_lab.server.queries_answered == before + 2
    assert mailspec_lab.server.answered_by_address["127.0.2.1"] >= 1


def test_a_burst_of_questions_waits_while_the_server_is_busy(make_mailspec_lab: Callable[..., Lab]) -> None:
    """A survey asks a resolver up to 1,024 questions at once per process, twice that under -n 2; a
    lab that the machine leaves unscheduled for a moment must queue them, not drop them (the kernel's
    default receive buffer holds about 256 small datagrams: that flaked the xdist comparison)."""
    lab = make_mailspec_lab(["good"])
    count = 2048
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        client.bind(("127.0.0.1", 0))
        room = roomy_receive_buffer(client)  # (what the lab's sockets get too)
        if room < count * 1200:  # (a small datagram takes about 830 bytes of it)
            pytest.skip(f"a receive buffer of {room} bytes: raise net.core.rmem_max, or run as root")
        held, release = threading.Event(), threading.Event()

        def hold() -> None:  # the lab's loop, busy: nothing is read from its sockets meanwhile
            held.set()
            release.wait(30)

        assert lab._loop is not None
        lab._loop.call_soon_threadsafe(hold)
        try:
            assert held.wait(30)
            for n in range(count):
                query = dns.message.make_query("good.test", "MX")
                query.id = n
                client.sendto(query.to_wire(), (lab.resolver_ip, lab.dns_port))
        finally:
            release.set()
        client.settimeout(15)
        answered: set[int] = set()
        with contextlib.suppress(TimeoutError):
            while len(answered) < count:
                answered.add(dns.message.from_wire(client.recv(65535)).id)
        assert len(answered) == count, f"{count - len(answered)} of {count} questions were never answered"
    finally:
        client.close()


def test_latency_delays_each_answer_without_serialising_them(
    make_mailspec_lab: Callable[..., Lab], asker: Callable[[Lab], Ask]
) -> None:
    # (a second of latency: each bound below has seconds to spare on a loaded machine)
    lab = make_mailspec_lab(["good"], latency=1.0)
    ask = asker(lab)
    started = time.monotonic()
    ask("good.test", "MX")
    assert time.monotonic() - started >= 1.0

    results: list[dns.message.Message] = []
    threads = [threading.Thread(target=lambda: results.append(ask("good.test", "MX"))) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and time.monotonic() - started < 5.0  # concurrent: serialised takes 6 s

    lab.latency = 0.0
    started = time.monotonic()
    ask("good.test", "MX")
    assert time.monotonic() - started < 1.0
