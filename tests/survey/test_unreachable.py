"""Resolvers that cannot be reached are told apart, with the operating system's reason: a closed port is
"connection refused" (never a timeout), silence is a timeout, no route is no route; and the survey says
once whether any resolver answered at all (:meth:`Survey.unreachable`). Also: the progress hook.

Everything is on loopback: a resolver is :mod:`hostile`'s (healthy, SERVFAIL or silent), or a port
nobody listens on; "no route" is a socket patched to fail as it would (no packet leaves the machine).
No duration is asserted: every wait is bounded by the survey's own bounds.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
from collections.abc import Iterator

import pytest
from hostile import HostileDns, Rule, World

import mailspec.survey.dns as survey_dns
from mailspec.facts import DnsAnswer, DomainDns
from mailspec.survey import DnsEndpoint, Progress, Survey
from mailspec.survey.engine import Engine, EngineError

RESOLVER = "127.0.0.202"
DOMAIN = "example.test"
SLOW = "slow.test"  #: a domain the resolver never answers for (rule "silent")

ZONE = """@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@ NS ns
ns A 127.0.3.1
@ MX 10 mail
mail A 127.0.3.250
@ TXT "v=spf1 mx -all"
"""


def world() -> World:
    w = World().add(DOMAIN, ZONE)
    for i in range(5):
        w.add(f"d{i}.test", ZONE.replace("example.test", f"d{i}.test"))
    return w.add(SLOW, ZONE.replace("example.test", SLOW))


@pytest.fixture(scope="module")
def resolver() -> Iterator[HostileDns]:
    """A resolver for the zones of :func:`world`; anything else is SERVFAIL (no zone holds it)."""
    with HostileDns(world(), resolver=RESOLVER, sentinels=()) as server:
        yield server
        assert not server.errors, server.errors


@pytest.fixture
def rules(resolver: HostileDns) -> Iterator[HostileDns]:
    """The resolver, with its rules reset after the test."""
    yield resolver
    resolver.set_rules([])


def closed_port() -> int:
    """A UDP port on 127.0.0.1 that nobody listens on (an ICMP port unreachable answers it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(d: DomainDns) -> list[DnsAnswer]:
    return [d.soa, d.ns, d.mx, d.a, d.aaaa, d.txt]


def test_a_closed_port_is_connection_refused_not_a_timeout() -> None:
    port = closed_port()
    with Survey([DnsEndpoint("127.0.0.1", port)], timeout=5) as survey:
        d = survey.dns(DOMAIN)
        cause = survey.unreachable()
    for a in answers(d):
        assert a.error is not None and not a.definite
        assert "connection refused" in a.error, a.error
        assert f"127.0.0.1:{port}" in a.problem
        assert "timeout" not in a.error and not a.silent  # refused is not silence
    assert cause == f"no resolver answered: 127.0.0.1:{port} connection refused"


def test_a_refusing_resolver_is_passed_over_for_one_that_answers(resolver: HostileDns) -> None:
    port = closed_port()
    endpoints = [DnsEndpoint("127.0.0.1", port), DnsEndpoint(RESOLVER, resolver.port)]
    with Survey(endpoints, timeout=5) as survey:
        d = survey.dns(DOMAIN)
        assert all(a.definite for a in answers(d)), [a.problem for a in answers(d)]
        assert [r.data for r in d.mx.records] == ["10 mail.example.test."]
        assert survey.unreachable() is None


def test_a_healthy_resolver_is_reachable(resolver: HostileDns) -> None:
    with Survey([DnsEndpoint(RESOLVER, resolver.port)], timeout=5) as survey:
        assert survey.unreachable() is None  # nothing asked yet: nothing to say
        d = survey.dns(DOMAIN)
        assert d.mx.definite
        assert survey.unreachable() is None


def test_a_resolver_that_answers_servfail_is_reachable(resolver: HostileDns) -> None:
    with Survey([DnsEndpoint(RESOLVER, resolver.port)], timeout=5) as survey:
        d = survey.dns("nowhere.invalid")  # no zone holds it: SERVFAIL to every question
        assert d.mx.rcode == "SERVFAIL", d.mx
        assert survey.unreachable() is None  # it answered: it is not the network


def test_a_silent_resolver_is_a_timeout(rules: HostileDns) -> None:
    rules.set_rules([Rule("silent")])
    with Survey([DnsEndpoint(RESOLVER, rules.port)], timeout=0.5) as survey:
        d = survey.dns(DOMAIN)
        cause = survey.unreachable()
    assert d.mx.silent and "(timeout)" in (d.mx.error or "")
    assert cause is not None
    assert cause.startswith(f"no resolver answered: {RESOLVER}:{rules.port} timeout"), cause


def test_each_resolver_is_named_with_its_own_reason(rules: HostileDns) -> None:
    rules.set_rules([Rule("silent")])
    port = closed_port()
    endpoints = [DnsEndpoint("127.0.0.1", port), DnsEndpoint(RESOLVER, rules.port)]
    with Survey(endpoints, timeout=0.5) as survey:
        d = survey.dns(DOMAIN)
        cause = survey.unreachable()
    assert "(timeout)" in (d.mx.error or "") and f"127.0.0.1:{port} connection refused" in (d.mx.error or "")
    assert cause is not None
    assert cause.startswith(f"no resolver answered: 127.0.0.1:{port} connection refused; {RESOLVER}:"), cause
    assert f"{RESOLVER}:{rules.port} timeout" in cause


def test_no_route_to_the_resolver_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # (a loopback address with a closed port: should the patch not apply, the test fails on "refused",
    # and still nothing leaves the machine)
    port = closed_port()
    asked: list[str] = []

    def no_route(endpoint: DnsEndpoint) -> socket.socket:
        asked.append(str(endpoint))
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(survey_dns, "_udp_to", no_route)
    with Survey([DnsEndpoint("127.0.0.1", port)], timeout=5) as survey:
        d = survey.dns(DOMAIN)
        cause = survey.unreachable()
    assert asked
    assert d.mx.unreachable, d.mx.error  # (the answer reads as "no route from this machine")
    assert d.mx.problem.endswith(f"127.0.0.1:{port}: unreachable from this machine: network unreachable")
    assert not d.mx.silent
    assert cause == f"no resolver answered: 127.0.0.1:{port} network unreachable"


def test_the_os_reason_is_said_in_a_few_words() -> None:
    assert survey_dns.os_reason(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")) == (
        "connection refused"
    )
    assert survey_dns.os_reason(ConnectionRefusedError()) == "connection refused"
    assert survey_dns.os_reason(OSError(errno.EHOSTUNREACH, "No route to host")) == "host unreachable"
    assert survey_dns.os_reason(OSError(errno.ENOBUFS, "No buffer space available")) == (
        "no buffer space available"
    )


# ---------------------------------------------------------------------------------------- progress
def test_prefetch_tells_the_progress_hook_from_the_waiting_thread(rules: HostileDns) -> None:
    rules.set_rules([Rule("silent", qname=SLOW)])  # one domain waits out its timeout: ticks happen
    seen: list[tuple[Progress, threading.Thread]] = []
    domains = [DOMAIN, SLOW, *(f"d{i}.test" for i in range(5))]
    with Survey([DnsEndpoint(RESOLVER, rules.port)], timeout=1.0) as survey:
        survey.progress = lambda p: seen.append((p, threading.current_thread()))
        survey.prefetch((DomainDns, d) for d in domains)
        assert survey.dns(SLOW).mx.silent
        assert survey.dns(DOMAIN).mx.definite
        assert survey.unreachable() is None
    progress = [p for p, _ in seen]
    assert all(t is threading.current_thread() for _, t in seen)  # never the loop's thread
    assert len(progress) >= 2  # at least one tick while the silent domain waited, and the end
    assert [p.done for p in progress] == [False] * (len(progress) - 1) + [True]
    done = [p.facts_done for p in progress]
    assert done == sorted(done)
    assert [p.elapsed for p in progress] == sorted(p.elapsed for p in progress)
    last = progress[-1]
    assert (last.facts_done, last.facts_total) == (len(domains), len(domains))
    assert (last.domains_done, last.domains_total) == (len(domains), len(domains))
    assert last.servers == 1  # one resolver; no name server asked directly
    assert last.connections_in_flight == 0
    assert any(p.questions_in_flight >= 1 for p in progress[:-1])  # the silent questions


def test_prefetch_without_a_hook_and_with_nothing_to_do_tells_nothing(resolver: HostileDns) -> None:
    seen: list[Progress] = []
    with Survey([DnsEndpoint(RESOLVER, resolver.port)], timeout=5) as survey:
        survey.dns(DOMAIN)
        survey.progress = seen.append
        survey.prefetch([(DomainDns, DOMAIN)])  # known already: nothing to fetch, nothing to tell
    assert seen == []


def test_a_sliced_wait_keeps_its_bound_and_ticks_in_the_caller_thread() -> None:
    ticks: list[threading.Thread] = []
    with Engine() as engine:
        with pytest.raises(EngineError, match=r"did not finish within 0\.6 s"):
            engine.run(
                asyncio.sleep(3600), timeout=0.6, tick=lambda: ticks.append(threading.current_thread())
            )
        assert ticks and all(t is threading.current_thread() for t in ticks)
        assert engine.run(asyncio.sleep(0, result=7), timeout=10, tick=lambda: None) == 7

        def boom() -> None:
            raise KeyError("tick")

        with pytest.raises(KeyError):  # a tick that fails is the caller's error, not the engine's
            engine.run(asyncio.sleep(3600), timeout=60, tick=boom, every=0.01)
