#!/usr/bin/env python3
"""Benchmark: the DNS survey and the DNS suite against the embedded lab, with latency on every answer.

Prints, for 1 domain and for 200 domains (and 200 under ``-n 2``): wall time, DNS queries the lab
answered, and the critical-path bound, i.e. the longest chain of dependent questions times the
latency. The survey of a well-configured domain has a chain of three: (SOA, NS, MX, A, AAAA, TXT of the
domain, NS of its parent) -> (addresses of the name servers, MX hosts and parent servers) -> (direct
questions to each name server and parent server). Nothing is timed by a test: this script prints.

    python bench/dns_survey.py [--latency-ms 20] [--domains 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mailspec.facts import DomainDns, ZoneProbe
from mailspec.survey import DnsEndpoint, Survey
from mailspec.testing import LabProcess

CHAIN = 3  # dependent rounds of a well-configured domain (see the docstring)


def bench_scenario(n: int) -> str:
    """A copy of the well-configured domain, with its own name server addresses (TOML text)."""
    base = 2 * 256 + 2 * n  # 127.0.2.2, 127.0.2.4, ... two addresses per domain
    ns1 = f"127.0.{base // 256}.{base % 256}"
    ns2 = f"127.0.{(base + 1) // 256}.{(base + 1) % 256}"
    domain = f"bench-{n:03d}.test"
    return f'''
domain = "{domain}"
waive = [
    "mx.target.public-address=the embedded lab serves every MX on loopback",
    "dns.ns.public-address=the embedded lab serves every name server on loopback",
]
[expect]
clean = true
[zone]
records = """
@    MX  10 mx1
@    MX  20 mx2
@    TXT "v=spf1 mx -all"
mx1  A   127.0.2.10
mx2  A   127.0.2.11
"""
[[zone.nameserver]]
host = "ns1"
ip = "{ns1}"
[[zone.nameserver]]
host = "ns2"
ip = "{ns2}"
'''


def bench_lab(domains: int, latency: float, folder: Path) -> LabProcess:
    """The lab in a process of its own, as a real network would be: the survey shares no CPU with it."""
    files = []
    for n in range(domains):
        path = folder / f"bench-{n:03d}.toml"
        path.write_text(bench_scenario(n), encoding="utf-8")
        files.append(path)
    return LabProcess(files=files, latency=latency)


def survey_once(lab: LabProcess, domains: list[str]) -> tuple[float, int, int]:
    host, _, port = lab.resolver.rpartition(":")
    before = lab.queries_answered
    lab_consents = lambda domain, name, ip: True  # noqa: E731  (every name server of the lab is on loopback)
    with Survey(
        [DnsEndpoint(host, int(port))], timeout=3, dns_port=lab.dns_port, consent=lab_consents
    ) as survey:
        t0 = time.perf_counter()
        # both fact kinds, as the DNS suite reads them: the resolvers' view and the direct questions
        survey.prefetch([(kind, d) for d in domains for kind in (DomainDns, ZoneProbe)])
        elapsed = time.perf_counter() - t0
        sent = survey.queries_sent
    return elapsed, sent, lab.queries_answered - before


def pytest_once(lab: LabProcess, domains: list[str], *extra: str) -> tuple[float, int, int]:
    args = [f"--mail-domain={d}" for d in domains]
    waivers = [f"--mail-waive=mx.target.public-address@{d}=lab loopback" for d in domains]
    waivers += [f"--mail-waive=dns.ns.public-address@{d}=lab loopback" for d in domains]
    with tempfile.TemporaryDirectory() as tmp:
        before = lab.queries_answered
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--pyargs",
                "mailspec.checks",
                *args,
                *waivers,
                f"--mail-resolver={lab.resolver}",
                f"--mail-dns-port={lab.dns_port}",
                "--mail-probe=dns",
                "--mail-timeout=3",
                "-q",
                "-p",
                "no:cacheprovider",
                *extra,
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 5):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"pytest exited {proc.returncode}")
    return elapsed, -1, lab.queries_answered - before


def startup_once() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            # the plugin loaded, nothing surveyed (the shipped suite without a domain is a usage error)
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co"],
            cwd=tmp,
            capture_output=True,
            check=False,
        )
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--domains", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    latency = opts.latency_ms / 1000
    with tempfile.TemporaryDirectory() as folder, bench_lab(opts.domains, latency, Path(folder)) as lab:
        report(lab, opts)


def report(lab: LabProcess, opts: argparse.Namespace) -> None:
    latency = lab.latency
    bound = CHAIN * latency
    print(
        f"mailspec DNS benchmark: {opts.latency_ms:g} ms per DNS answer, {opts.runs} runs each, "
        "median and range shown"
    )
    print(f"critical-path bound: {CHAIN} dependent rounds x {opts.latency_ms:g} ms = {bound * 1000:.0f} ms")
    startup = statistics.median(startup_once() for _ in range(opts.runs))
    print(f"pytest start-up with the plugin, no domain: {startup * 1000:.0f} ms")
    one, many = lab.domains[:1], lab.domains
    rows = [
        ("survey, 1 domain", lambda: survey_once(lab, one), bound),
        (f"survey, {len(many)} domains", lambda: survey_once(lab, many), bound),
        ("pytest DNS suite, 1 domain", lambda: pytest_once(lab, one), bound + startup),
        (f"pytest DNS suite, {len(many)} domains", lambda: pytest_once(lab, many), bound + startup),
        (f"pytest DNS suite, {len(many)} domains, -n 2", lambda: pytest_once(lab, many, "-n", "2"), None),
    ]
    print(f"{'case':42} {'wall':>9} {'min-max':>15} {'queries':>8} {'answered':>9} {'vs bound':>9}")
    for name, fn, ref in rows:
        results = [fn() for _ in range(opts.runs)]
        wall = statistics.median(r[0] for r in results)
        spread = f"{min(r[0] for r in results) * 1000:.0f}-{max(r[0] for r in results) * 1000:.0f}ms"
        sent = results[-1][1]
        answered = results[-1][2]
        ratio = f"{wall / ref:.2f}x" if ref else "-"
        print(
            f"{name:42} {wall * 1000:7.0f}ms {spread:>15} {sent if sent >= 0 else '-':>8} "
            f"{answered:>9} {ratio:>9}"
        )
    print(
        "'vs bound': wall time over the bound (plus pytest's start-up for the pytest rows); "
        "target for one domain's survey: at most 1.5x"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
