"""The Lab: start, stop, no leaks, properties, and the pytest fixtures."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading

import dns.message
import dns.query
import dns.rcode
import pytest

from mailspec.testing import RESOLVER_IP, Lab, LabDnsServer, LabError, build_lab, load_scenarios
from mailspec.testing.fixtures import LabFactory


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _lab_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mailspec-lab-dns"]


def _resolves(lab: Lab) -> bool:
    query = dns.message.make_query("good.test", "MX")
    return dns.query.udp(query, RESOLVER_IP, port=lab.dns_port, timeout=1).rcode() == dns.rcode.NOERROR


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_start_and_stop_leave_no_thread_or_socket_behind() -> None:
    scenarios = [sc for sc in load_scenarios() if sc.name in ("good", "lame-silent")]
    fds, threads = _open_fds(), _lab_threads()
    lab = Lab(scenarios)
    assert (lab.running, lab.dns_port) == (False, 0) and "stopped" in repr(lab)
    port = lab.start().dns_port
    assert lab.running and port > 0 and _resolves(lab)
    [mine] = [t for t in _lab_threads() if t not in threads]
    assert mine.daemon
    # A silent server holding an open TCP connection must not keep the lab from stopping.
    held = socket.create_connection(("127.0.2.162", port), timeout=1)
    lab.stop()
    held.close()
    assert (lab.running, mine.is_alive()) == (False, False)
    assert _lab_threads() == threads and _open_fds() == fds
    # Every address and port is free again, for UDP and TCP (SO_REUSEADDR, as any server sets it,
    # because the connection the lab closed itself lingers in TIME_WAIT).
    for ip in ("127.0.0.153", "127.0.1.1", "127.0.2.1", "127.0.2.162"):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((ip, port))
                if kind == socket.SOCK_STREAM:
                    sock.listen()
    lab.stop()  # stopping twice is harmless


def test_a_lab_works_as_a_context_manager_and_restarts() -> None:
    threads = _lab_threads()
    lab = Lab([sc for sc in load_scenarios() if sc.name == "good"])
    with lab:
        assert _resolves(lab)
        with pytest.raises(LabError, match="already running"):
            lab.start()
    assert not lab.running
    with lab:
        assert _resolves(lab)
    assert _lab_threads() == threads


def test_properties_describe_the_lab(mailspec_lab: Lab) -> None:
    assert mailspec_lab.resolver == f"127.0.0.153:{mailspec_lab.dns_port}"
    assert mailspec_lab.resolver_ip == RESOLVER_IP
    assert "good.test" in mailspec_lab.domains and len(mailspec_lab.scenarios) == len(mailspec_lab.domains)
    assert (
        "mx.target.public-address@good.test=the embedded lab serves every MX on loopback"
        in mailspec_lab.waivers
    )
    assert not any(w.startswith("mx.target.public-address@mx-public.test") for w in mailspec_lab.waivers)
    assert isinstance(mailspec_lab.server, LabDnsServer)
    assert mailspec_lab.scenario("good.test") is mailspec_lab.scenario("good")
    assert repr(mailspec_lab).startswith(
        "<Lab 32 scenarios (mail.apex-cname.test, bad_name.test, blackhole.test, ...)"
    )
    with pytest.raises(LabError, match="no scenario 'nope'"):
        mailspec_lab.scenario("nope")


def test_a_lab_that_cannot_start_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(self: LabDnsServer, port: int = 0) -> None:
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    monkeypatch.setattr(LabDnsServer, "start", refuse)
    threads = _lab_threads()
    lab = Lab([sc for sc in load_scenarios() if sc.name == "good"])
    with pytest.raises(LabError, match=r"could not start: .*Cannot assign requested address"):
        lab.start()
    assert not lab.running and _lab_threads() == threads
    with pytest.raises(LabError, match="negative"):
        Lab([], latency=-1)


def test_a_fixed_port_in_use_is_an_error_and_releases_what_was_bound() -> None:
    plan = build_lab([sc for sc in load_scenarios() if sc.name == "good"])

    async def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
            blocker.bind(("127.0.2.2", 0))  # the last address: the others are bound before it fails
            port = blocker.getsockname()[1]
            server = LabDnsServer(plan)
            with pytest.raises(OSError, match="in use") as failure:
                await server.start(port)
            assert failure.value.errno == errno.EADDRINUSE and not server.running
        again = LabDnsServer(plan)
        await again.start(port)
        assert again.port == port
        await again.stop()

    asyncio.run(run())


def test_server_runs_inside_any_event_loop() -> None:
    plan = build_lab([sc for sc in load_scenarios() if sc.name == "good"])

    async def run() -> int:
        server = LabDnsServer(plan)
        await server.start()
        query = dns.message.make_query("good.test", "MX")
        response = await asyncio.to_thread(dns.query.udp, query, RESOLVER_IP, port=server.port, timeout=1)
        await server.stop()
        return len(response.answer[0])

    assert asyncio.run(run()) == 2


def test_make_mailspec_lab_builds_labs_of_names_or_scenarios(
    make_mailspec_lab: LabFactory, mailspec_lab: Lab
) -> None:
    [servfail] = [sc for sc in load_scenarios() if sc.name == "servfail"]
    lab = make_mailspec_lab(["good"])
    mixed = make_mailspec_lab([servfail, "mx-cname.test"], latency=0.01)
    assert lab.running and mixed.running and lab.dns_port != mixed.dns_port != mailspec_lab.dns_port
    assert lab.domains == ["good.test"]
    assert sorted(mixed.domains) == ["mx-cname.test", "servfail.test"] and mixed.latency == 0.01
    with pytest.raises(LabError, match="unknown lab scenario"):
        make_mailspec_lab(["nope"])


def test_factory_labs_are_stopped_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("pytest_plugins = ['mailspec.testing.fixtures']")
    pytester.makepyfile(
        """
        import threading

        BEFORE = []

        def labs():
            return [t.name for t in threading.enumerate()].count("mailspec-lab-dns")

        def test_uses(make_mailspec_lab):
            BEFORE.append(labs())
            assert make_mailspec_lab(["good"]).running and make_mailspec_lab(["mx-cname"]).running
            assert labs() == BEFORE[0] + 2

        def test_after():
            assert labs() == BEFORE[0]  # the factory's labs are gone
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:mailspec").assert_outcomes(passed=2)


def test_fixtures_show_their_docs(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("pytest_plugins = ['mailspec.testing.fixtures']")
    result = pytester.runpytest_inprocess("--fixtures", "-p", "no:cacheprovider", "-p", "no:mailspec")
    result.stdout.fnmatch_lines(["*mailspec_lab*", "*A started lab of every packaged scenario*"])
    result.stdout.fnmatch_lines(["*make_mailspec_lab*", "*A factory of started labs*"])
