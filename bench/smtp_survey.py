#!/usr/bin/env python3
"""Benchmark: the SMTP half against the embedded lab, with 20 ms added to every packet.

Prints, for 1 domain (the lab's well-configured one, two MX hosts) and for 200 domains that share 4
MX hosts: the wall time of the whole shipped suite at ``--mail-probe=intrusive`` (pytest, from an
empty folder, as a CI user runs it), pytest's start-up, the critical path, and the connections each
SMTP server received.

Latency: the lab's DNS answers wait 2 x the packet delay (a question and its answer); SMTP goes
through a proxy (a process of its own) that holds every chunk 20 ms in each direction and waits
2 x 20 ms before it connects on (the TCP handshake), so a round trip costs 40 ms.

The critical path is the longest chain of waits that must follow one another, given what mailspec
must respect: at most two connections to a server at once; per server, the read-only session first
(its two connections side by side: a server that takes no connection then costs one timeout, not
two), then the envelope probes of every domain and the report-address probes, then the intrusive
probes after every other probe of that server. Each connection costs its round trips (a connection
and its greeting are two, a command one, a TLS handshake one; ``round_trips`` in the facts) and the
server's own wait before it greets, which no client can save (a strict MTA listens for early talkers
first, as Postfix's smtpd and postscreen do: the lab's PREGREET_WINDOW); the connections of each
stage are scheduled on two slots as tightly as possible; the chain adds the two DNS rounds that must
come first (the MX, then the MX hosts' addresses). Nothing here is a timed test.

    python bench/smtp_survey.py [--delay-ms 20] [--runs 3] [--domains 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailspec.facts import DomainDns
from mailspec.facts.smtp import (
    ReportRcpt,
    ReportRcpts,
    SmtpEnvelope,
    SmtpIntrusive,
    SmtpSession,
    endpoint_key,
)
from mailspec.survey import DnsEndpoint, SmtpConfig, Survey
from mailspec.testing import LabProcess
from mailspec.testing.mta import PREGREET_WINDOW

SHARED = "shared-mx.test"
SHARED_IPS = ["127.0.3.10", "127.0.3.11", "127.0.3.12", "127.0.3.13"]


# ------------------------------------------------------------------------------------------ the proxy
async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy one direction, each chunk ``delay`` seconds after it arrived, in order."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(deliver())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
    except OSError:
        pass
    queue.put_nowait((loop.time() + delay, b""))
    await sender


async def _proxy(ips: list[str], port: int, target: int, delay: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = writer.get_extra_info("sockname")[0]
        await asyncio.sleep(2 * delay)  # the TCP handshake's round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(ip, target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, up_writer, delay), _pump(up_reader, writer, delay),
                             return_exceptions=True)  # fmt: skip

    servers = [await asyncio.start_server(handle, ip, port) for ip in ips]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def start_proxy(ips: list[str], target: int, delay: float) -> tuple[subprocess.Popen[str], int]:
    import socket

    with socket.socket() as s:  # a port free on the first address (the others are alike on loopback)
        s.bind((ips[0], 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--proxy", ",".join(ips), str(port), str(target), str(delay)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the delay proxy did not start")
    return proc, port


# ------------------------------------------------------------------------------------------- scenarios
def shared_scenario(domains: int) -> str:
    """A provider: four MX hosts that take mail for every one of ``domains`` customer domains (each
    a zone of the scenario, so that its MTAs serve them all, as a provider's MX does)."""
    mtas = "".join(
        f'\n[[mta]]\nip = "{ip}"\nhostname = "mx{i + 1}.{SHARED}"\n' for i, ip in enumerate(SHARED_IPS)
    )
    ptr = "".join(f'"{ip}" = "mx{i + 1}.{SHARED}"\n' for i, ip in enumerate(SHARED_IPS))
    records = "".join(f"mx{i + 1} A {ip}\n" for i, ip in enumerate(SHARED_IPS))
    mx = "".join(f"@ MX {10 if i < 2 else 20} mx{i + 1}.{SHARED}.\n" for i in range(4))
    zones = "".join(
        f'''
[[extra_zone]]
name = "{name}"
records = """
{mx}@ TXT "v=spf1 mx -all"
"""
'''
        for name in customer_domains(domains)
    )
    return f'''domain = "{SHARED}"
[expect]
pass = ["mx.present"]
[zone]
records = """
@ MX 10 mx1
{records}"""
[[zone.nameserver]]
host = "ns1"
ip = "127.0.3.1"
{zones}
[ptr]
{ptr}{mtas}'''


def customer_domains(n: int) -> list[str]:
    return [f"bench-smtp-{i:03d}.test" for i in range(n)]


# ------------------------------------------------------------------------------------ the critical path
def makespan(jobs: Sequence[float], slots: int = 2) -> float:
    """The shortest time ``jobs`` (seconds each) take on ``slots`` parallel connections."""
    jobs = sorted(jobs, reverse=True)
    if len(jobs) > 14:  # (many domains' envelopes: the longest-first rule, within 1.17x of the best)
        loads = [0.0] * slots
        for j in jobs:
            loads[loads.index(min(loads))] += j
        return max(loads)
    best = sum(jobs)
    for assign in itertools.product(range(slots), repeat=len(jobs)):
        loads = [0.0] * slots
        for j, a in zip(jobs, assign, strict=True):
            loads[a] += j
        best = min(best, max(loads))
    return best


def greeting_waits(lab: LabProcess) -> dict[str, float]:
    """Each lab MTA's own wait before it greets (its think time, which no client can save): a
    strict MTA listens for early talkers first (PREGREET_WINDOW, as Postfix's smtpd and postscreen
    do), and a scenario may add a delay of its own."""
    out: dict[str, float] = {}
    for sc in lab.scenarios:
        for m in sc.mtas:
            out[m.ip] = max(m.greeting_delay, PREGREET_WINDOW if m.pipelining == "strict" else 0.0)
    return out


def _report_trips(r: ReportRcpt) -> int:
    """A report-address probe's round trips, from its transcript: the connect and the greeting, each
    command, and a TLS handshake."""
    lines = r.transcript
    return (
        2 + sum(1 for x in lines if x.startswith("C: ")) + sum(1 for x in lines if x.startswith("   (TLS "))
    )


def critical_path(
    lab: LabProcess, domains: list[str], smtp_port: int, timeout: float, rtt: float, *, waits: bool = True
) -> tuple[float, dict[str, float]]:
    """Seconds of the longest chain, and each server's share: surveyed once here without latency
    (the round trips do not depend on it), each connection costing its round trips x ``rtt`` and,
    unless it talked first (the early talker), the server's wait before it greets.

    Per server, what mailspec must respect: two connections at once; the read-only session first
    (its two connections side by side), as a server that took no connection then costs one timeout,
    not two; then every domain's envelope probes and the report-address probes; the intrusive
    probes last. Before all of it, the two DNS rounds that must come first (the MX, then the MX
    hosts' addresses)."""
    host, _, port = lab.resolver.rpartition(":")
    config = SmtpConfig(timeout=timeout, probe_helo="probe.lab.test", retry_delay=0.5,
                        relay_rcpt="relay@probe.lab.test", ident_port=lab.ident_port or 113,
                        refusal=lambda d, h, i: None)  # fmt: skip
    wait_of = greeting_waits(lab) if waits else {}
    with Survey([DnsEndpoint(host, int(port))], timeout=timeout, dns_port=lab.dns_port, smtp=config) as s:
        s.prefetch((DomainDns, d) for d in domains)
        endpoints: dict[str, list[str]] = {}
        for d in domains:
            for t in s.get(DomainDns, d).mx_targets:
                for ip in t.ips:
                    endpoints.setdefault(endpoint_key(t.name, ip, smtp_port), []).append(d)
        wanted: list[tuple[type, str]] = [(ReportRcpts, f"{d}|{smtp_port}") for d in domains]
        for key, ds in endpoints.items():
            wanted.append((SmtpSession, key))
            wanted += [(SmtpEnvelope, f"{d}|{key}") for d in ds]
            wanted.append((SmtpIntrusive, f"{ds[0]}|{key}"))
        s.prefetch(wanted)
        reports: dict[str, list[float]] = {}
        for d in domains:
            for r in s.get(ReportRcpts, f"{d}|{smtp_port}").probes:
                if r.ip and not r.untried:
                    reports.setdefault(r.ip, []).append(_report_trips(r) * rtt + wait_of.get(r.ip, 0.0))
        per_server: dict[str, float] = {}
        for key, ds in endpoints.items():
            ip = key.split("|")[1]
            wait = wait_of.get(ip, 0.0)
            session = [t * rtt + wait for t in s.get(SmtpSession, key).round_trips]
            middle = [t * rtt + wait for d in ds for t in s.get(SmtpEnvelope, f"{d}|{key}").round_trips]
            middle += reports.pop(ip, [])
            trips = list(s.get(SmtpIntrusive, f"{ds[0]}|{key}").round_trips)
            last = [t * rtt + (wait if n else 0.0) for n, t in enumerate(trips)]  # (the first talks first)
            per_server[key] = makespan(session) + makespan(middle) + makespan(last)
    return 2 * rtt + max(per_server.values()), per_server


# -------------------------------------------------------------------------------------------- the runs
def pytest_once(
    lab: LabProcess, domains: list[str], port: int, timeout: float
) -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "r.json"
        args = [
            sys.executable, "-m", "pytest", "--pyargs", "mailspec.checks",
            *[f"--mail-domain={d}" for d in domains],
            f"--mail-resolver={lab.resolver}", f"--mail-dns-port={lab.dns_port}", f"--mail-smtp-port={port}",
            *([f"--mail-ident-port={lab.ident_port}"] if lab.ident_port else []),
            f"--mail-ca={lab.ca_path}", "--mail-dnsbl=dnsbl.test",
            *([f"--mail-https-port={lab.https_port}"] if lab.https_port else []),  # (MTA-STS: unproxied)
            "--mail-probe=intrusive", "--mail-probe-helo=probe.lab.test", f"--mail-timeout={timeout}",
            "--mail-smtp-retry=0.5", f"--mail-report={report}", "-q", "-p", "no:cacheprovider",
            # the lab's standing waivers: every server is on loopback (and only so does mailspec connect)
            "--mail-waive=mx.target.public-address=lab loopback",
            "--mail-waive=dns.ns.public-address=lab loopback",
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
        if not report.exists():
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"pytest exited {proc.returncode} without a report")
        return elapsed, json.loads(report.read_text(encoding="utf-8"))


def startup_once() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co"], cwd=tmp,
                       capture_output=True, check=False)  # fmt: skip
        return time.perf_counter() - t0


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def run_case(name: str, lab: LabProcess, domains: list[str], opts: argparse.Namespace) -> None:
    delay = opts.delay_ms / 1000
    rtt = 2 * delay
    ips = sorted(lab.smtp_stats())
    proxy, port = start_proxy(ips, lab.smtp_port, delay)
    try:
        chain, per_server = critical_path(lab, domains, lab.smtp_port, opts.timeout, rtt)
        trips_only, _ = critical_path(lab, domains, lab.smtp_port, opts.timeout, rtt, waits=False)
        walls, opened = [], []
        for _ in range(opts.runs):
            before = {ip: s["connections"] for ip, s in lab.smtp_stats().items()}
            wall, data = pytest_once(lab, domains, port, opts.timeout)
            walls.append(wall)
            after = lab.smtp_stats()
            opened.append({ip: after[ip]["connections"] - before.get(ip, 0) for ip in after})
            most = max(s["max_open"] for s in after.values())
        start = [startup_once() for _ in range(opts.runs)]
        conns = sorted(n for n in opened[-1].values() if n)
        print(
            f"{name}: {len(domains)} domain(s), {len(per_server)} SMTP endpoint(s), results {data['summary']}"
        )
        print(f"  wall (pytest, --mail-probe=intrusive): {spread(walls)} over {opts.runs} runs")
        print(f"  pytest start-up: {spread(start)}")
        shares = ", ".join(f"{v:.2f}" for v in sorted(per_server.values()))
        print(f"  critical path ({rtt * 1000:.0f} ms a round trip, with the servers' waits before they "
              f"greet): {chain:.2f} s  (per server: {shares} s); "
              f"round trips alone: {trips_only:.2f} s")  # fmt: skip
        target = 1.5 * chain + statistics.median(start)
        print(f"  target 1.5 x critical path + start-up = {target:.2f} s: "
              f"{'met' if statistics.median(walls) <= target else 'NOT met'} (median)")  # fmt: skip
        print(f"  connections per SMTP server in one run: {conns}; most open at once at any server: {most}")
        errors = sorted(
            {r["message"].splitlines()[0][:140] for r in data["results"] if r["outcome"] == "error"}
        )
        for line in errors[:5]:
            print(f"  error: {line}")
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(10)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--proxy":
        ips, port, target, delay = (
            sys.argv[2].split(","),
            int(sys.argv[3]),
            int(sys.argv[4]),
            float(sys.argv[5]),
        )
        asyncio.run(_proxy(ips, port, target, delay))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=20.0, help="added to every packet, each way")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--case", choices=["1", "many", "both"], default="both")
    opts = parser.parse_args()
    dns_latency = 2 * opts.delay_ms / 1000
    if opts.case in ("1", "both"):
        with LabProcess(["good"], latency=dns_latency) as lab:
            run_case("1 domain", lab, list(lab.domains), opts)
    if opts.case in ("many", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "shared.toml").write_text(shared_scenario(opts.domains), encoding="utf-8")
            with LabProcess(files=[folder / "shared.toml"], latency=dns_latency) as lab:
                domains = customer_domains(opts.domains)
                run_case(f"{len(domains)} domains sharing 4 MX hosts", lab, domains, opts)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
