"""The survey's DNS client: memoisation, dangling CNAME chains, failover and serialisation."""

from __future__ import annotations

import asyncio
import json

import pytest

from mailspec.errors import Indeterminate
from mailspec.facts import DnsAnswer, DomainDns, Record, decode, encode, need
from mailspec.survey.dns import DnsClient, DnsEndpoint
from mailspec.survey.engine import Engine


class ScriptedClient(DnsClient):
    """A client whose resolver answers from a script, counting what it is asked."""

    def __init__(self, script: dict[tuple[str, str], DnsAnswer]) -> None:
        super().__init__(Engine(), [DnsEndpoint("127.0.0.1", 9)], timeout=1)
        self.script = script
        self.asked: list[tuple[str, str]] = []

    async def _resolve(self, qname: str, rdtype: str) -> DnsAnswer:
        self.asked.append((qname, rdtype))
        await asyncio.sleep(0.01)
        return self.script[(qname, rdtype)]


def ans(qname: str, rdtype: str, *records: Record, rcode: str = "NOERROR") -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "scripted", rcode=rcode, answer=records)


def test_concurrent_identical_questions_are_asked_once() -> None:
    script = {
        ("example.com", "MX"): ans(
            "example.com", "MX", Record("example.com", 300, "MX", "10 mx.example.com.")
        )
    }

    async def go() -> tuple[list[DnsAnswer], ScriptedClient]:
        c = ScriptedClient(script)
        results = await asyncio.gather(*(c.query("example.com", "MX") for _ in range(5)))
        return list(results), c

    results, client = asyncio.run(go())
    assert client.asked == [("example.com", "MX")]
    assert client.sent == 1
    assert all(r is results[0] for r in results)


def test_a_chain_the_resolver_left_dangling_is_followed() -> None:
    # some resolvers return only the CNAME (e.g. an authoritative-only answer); the target is asked too
    script = {
        ("mail.example.com", "A"): ans(
            "mail.example.com", "A", Record("mail.example.com", 300, "CNAME", "host.example.net.")
        ),
        ("host.example.net", "A"): ans(
            "host.example.net", "A", Record("host.example.net", 300, "A", "192.0.2.25")
        ),
    }
    client = ScriptedClient(script)
    result = asyncio.run(client.query("mail.example.com", "A"))
    assert [r.target for r in result.chain] == ["host.example.net"]
    assert [r.data for r in result.records] == ["192.0.2.25"]
    assert result.final_name == "host.example.net"
    assert any("IN CNAME host.example.net." in line for line in result.evidence())


def test_a_cname_loop_is_reported_not_followed_forever() -> None:
    script = {
        ("a.example", "A"): ans("a.example", "A", Record("a.example", 60, "CNAME", "b.example.")),
        ("b.example", "A"): ans("b.example", "A", Record("b.example", 60, "CNAME", "a.example.")),
    }
    result = asyncio.run(ScriptedClient(script).query("a.example", "A"))
    assert not result.definite
    assert "CNAME loop" in result.problem


def test_servfail_and_timeout_are_indeterminate_not_missing() -> None:
    servfail = DnsAnswer("example.com", "MX", "127.0.0.1:53", rcode="SERVFAIL")
    timeout = DnsAnswer("example.com", "MX", "127.0.0.1:53", error="no answer within 1 s (timeout)")
    nx = DnsAnswer("example.com", "MX", "127.0.0.1:53", rcode="NXDOMAIN")
    for a in (servfail, timeout):
        assert not a.definite
        assert not a.nodata
        with pytest.raises(Indeterminate, match=r"could not test: example\.com MX at 127\.0\.0\.1:53"):
            need(a)
    assert nx.definite and nx.nxdomain and not nx.nodata
    need(nx)


def test_an_unreachable_resolver_is_an_answer_naming_it() -> None:
    async def go() -> DnsAnswer:
        c = DnsClient(Engine(), [DnsEndpoint("127.0.0.1", 9)], timeout=0.5)
        return await c.query("example.com", "SOA")

    result = asyncio.run(go())
    assert not result.definite
    assert "127.0.0.1:9" in result.problem


def test_facts_survive_a_round_trip_through_json() -> None:
    mx = ans("example.com", "MX", Record("example.com", 300, "MX", "0 ."))
    d = DomainDns(
        "example.com",
        soa=ans("example.com", "SOA"),
        ns=ans("example.com", "NS"),
        mx=mx,
        a=ans("example.com", "A"),
        aaaa=ans("example.com", "AAAA"),
        txt=ans("example.com", "TXT"),
    )
    again = decode(DomainDns, json.loads(json.dumps(encode(d))))
    assert again == d
    assert again.null_mx


def test_a_server_answering_garbage_gives_a_clear_error_never_a_hang() -> None:
    import socket
    import threading

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            sock.sendto(data[:2] + b"\xff garbage, not DNS", peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:

        async def go() -> tuple[DnsAnswer, DnsAnswer]:
            c = DnsClient(Engine(), [DnsEndpoint("127.0.0.1", port)], timeout=0.5, dns_port=port)
            return await c.query("example.com", "MX"), await c.query_at("127.0.0.1", "example.com", "SOA")

        resolved, direct = asyncio.run(asyncio.wait_for(go(), 5))
    finally:
        stop.set()
        thread.join()
        sock.close()
    for result in (resolved, direct):
        assert not result.definite
        assert f"127.0.0.1:{port}" in result.problem


def test_no_route_is_told_apart_from_a_broken_server() -> None:
    import errno

    from mailspec.survey.dns import _network_error

    no_route = DnsAnswer(
        "example.com",
        "SOA",
        "[2001:db8::53]:53",
        error=_network_error(OSError(errno.ENETUNREACH, "Network is unreachable")),
    )
    refused = DnsAnswer(
        "example.com",
        "SOA",
        "192.0.2.53:53",
        error=_network_error(OSError(errno.ECONNREFUSED, "Connection refused")),
    )
    assert no_route.unreachable
    assert not refused.unreachable
    assert "Connection refused" in refused.problem
