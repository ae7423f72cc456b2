"""The Lab: start, stop, no leaks, properties, and the pytest fixtures."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import re
import socket
import ssl
import threading
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from mailspec.testing import (
    RESOLVER_IP,
    Lab,
    LabDnsServer,
    LabError,
    Scenario,
    build_lab,
    load_scenarios,
    parse_scenario,
)
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
        f"<Lab {len(load_scenarios())} scenarios (mail.apex-cname.test, babbler.test, bad-banner.test, ...)"
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


def test_resolver_also_needs_the_plans_resolver() -> None:
    plan = build_lab([sc for sc in load_scenarios() if sc.name == "good"])
    with pytest.raises(ValueError, match="is one of the lab's own DNS addresses"):
        LabDnsServer(plan, resolver_also=[plan.registry_ip])
    without = dataclasses.replace(plan, servers=tuple(s for s in plan.servers if s.ip != plan.resolver_ip))
    with pytest.raises(ValueError, match=rf"serves no resolver at {re.escape(plan.resolver_ip)}"):
        LabDnsServer(without, resolver_also=["127.0.14.40"])


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


# --------------------------------------------------------------------------- MTAs, ident and the CA


def _good() -> list[Scenario]:
    return [sc for sc in load_scenarios() if sc.name == "good"]


def _greeting(ip: str, port: int) -> bytes:
    with socket.create_connection((ip, port), timeout=30) as sock:
        sock.settimeout(30)
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(512)
            assert chunk
            data += chunk
        return data


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_mtas_start_and_stop_with_the_lab_and_leave_nothing_behind() -> None:
    fds, threads = _open_fds(), _lab_threads()
    lab = Lab(_good())
    assert (lab.smtp_port, lab.ident_port, lab.ca_path, lab.ca) == (0, 0, "", None)
    lab.start()
    port, ca = lab.smtp_port, Path(lab.ca_path)
    assert port > 0 and port != lab.dns_port and ca.is_file() and lab.ca is not None
    assert _greeting("127.0.2.10", port) == b"220 mx1.good.test ESMTP\r\n"
    assert _greeting("127.0.2.11", port) == b"220 mx2.good.test ESMTP\r\n"
    # Connections still open at stop(), one of them inside TLS, must not keep the lab from stopping.
    held = socket.create_connection(("127.0.2.10", port), timeout=30)
    tls_held = socket.create_connection(("127.0.2.11", port), timeout=30)
    tls_held.settimeout(30)
    assert tls_held.recv(512).startswith(b"220 ")
    tls_held.sendall(b"EHLO probe.lab.test\r\n")
    while b"250 " not in tls_held.recv(4096):
        pass
    tls_held.sendall(b"STARTTLS\r\n")
    assert tls_held.recv(512).startswith(b"220 ")
    context = ssl.create_default_context(cafile=str(ca))
    tls = context.wrap_socket(tls_held, server_hostname="mx2.good.test")
    stats = lab.smtp_stats()
    assert stats["127.0.2.10"]["connections"] == 2 and stats["127.0.2.11"]["connections"] == 2
    lab.stop()
    held.close()
    tls.close()
    assert not ca.exists() and not ca.parent.exists()  # the CA's folder went with the lab
    assert (lab.smtp_port, lab.ca_path) == (0, "")
    assert lab.smtp_stats()["127.0.2.10"]["connections"] == 2  # what it saw, kept after stop
    assert _lab_threads() == threads and _open_fds() == fds
    for ip in ("127.0.2.10", "127.0.2.11"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))
            sock.listen()
    lab.start()  # a new CA, new certificates, the MTAs again
    try:
        assert Path(lab.ca_path).is_file() and Path(lab.ca_path) != ca
        assert _greeting("127.0.2.10", lab.smtp_port).startswith(b"220 ")
    finally:
        lab.stop()


def test_a_lab_without_mtas_still_has_its_ca() -> None:
    with Lab(_good(), mtas=False) as lab:
        assert lab.smtp_port == 0 and lab.ident_port == 0 and lab.mtas is None
        assert Path(lab.ca_path).is_file() and lab.ca is not None
        chain, _ = lab.ca.issue(["mx1.good.test"])  # a Postfix tier issues its certificates here
        assert chain.parent == Path(lab.ca_path).parent
        assert _resolves(lab)
        assert lab.smtp_stats() == {}


PLAIN_MTAS = """
domain = "plain.test"
[expect]
clean = true
[zone]
records = "@ MX 10 mx1"
[[zone.nameserver]]
host = "ns1"
ip = "127.0.9.1"
[[mta]]
ip = "127.0.9.10"
hostname = "mx1.plain.test"
tls = "none"
[[mta]]
ip = "127.0.9.11"
hostname = "mx2.plain.test"
tls = "none"
"""


def test_a_fixed_smtp_port_in_use_is_an_error_and_releases_what_was_bound() -> None:
    from mailspec.testing import LabMtas

    [plain] = [parse_scenario(PLAIN_MTAS, "plain")]

    async def run() -> None:
        mtas = LabMtas([(spec, plain.served_domains) for spec in plain.mtas])  # no TLS: no CA needed
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
            blocker.bind(("127.0.9.11", 0))  # the second address: the first binds, then it fails
            blocker.listen()
            port = blocker.getsockname()[1]
            with pytest.raises(OSError, match="in use") as failure:
                await mtas.start(port)
            assert failure.value.errno == errno.EADDRINUSE and not mtas.running and mtas.port == 0
        await mtas.start(port)  # both addresses free again
        assert mtas.port == port and mtas.addresses == ["127.0.9.10", "127.0.9.11"]
        await mtas.stop()

    asyncio.run(run())
    with pytest.raises(ValueError, match="needs a CA"):
        LabMtas([(spec, ("good.test",)) for spec in _good()[0].mtas])


def test_a_lab_that_cannot_bind_leaves_no_ca_behind() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.2.2", 0))  # ns2.good.test's address: DNS binds others first, then fails
        blocker.listen()
        lab = Lab(_good(), port=blocker.getsockname()[1])
        with pytest.raises(LabError, match="could not start"):
            lab.start()
    assert not lab.running and (lab.ca_path, lab.smtp_port) == ("", 0)
