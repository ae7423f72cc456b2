#!/usr/bin/env python3
"""Benchmark: what the xdist controller hands its workers, for N domains and W workers.

Surveys N healthy copies of the lab's good domain (the lab in a process of its own), then writes the
hand-over as the controller does (once, to a folder: the subject map and one line of DNS facts a
domain) and reads it as W workers do (each: the subject map, and the facts of its own share of the
domains). Prints bytes written and read and the seconds each side took. Nothing is a timed test.

    python bench/handover.py [--domains 200] [--workers 2] [--runs 3]

Before this hand-over, the controller re-encoded the whole survey into every worker's input and every
worker decoded all of it; ``--legacy`` measures that (JSON of every fact, once per worker).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dns_survey import bench_lab

from mailspec.facts import DomainDns, decode, encode
from mailspec.session import Handover
from mailspec.settings import Settings
from mailspec.subjects import KINDS
from mailspec.survey import DnsEndpoint, Survey


def once(survey: Survey, settings: Settings, workers: int) -> tuple[float, int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        given = Handover.write_to(Path(tmp), settings, survey)
        workerinput = json.dumps(given)
        write_s = time.perf_counter() - t0
        written = sum(p.stat().st_size for p in Path(tmp).iterdir()) + len(workerinput) * workers
        t0 = time.perf_counter()
        read = 0
        for w in range(workers):
            h = Handover.read(json.loads(workerinput))
            read += len(workerinput) + (Path(tmp) / "subjects.json").stat().st_size
            for k in KINDS:
                for d in settings.domains:
                    h.subjects(k, d)
            for d in settings.domains[w::workers]:  # its own groups only
                h.fact(DomainDns, d)
                read += h.index[d][1]
        read_s = (time.perf_counter() - t0) / workers
        return write_s, written, read_s, read // workers


def legacy(survey: Survey, settings: Settings, workers: int) -> tuple[float, int, float, int]:
    t0 = time.perf_counter()
    inputs = [
        json.dumps({"survey": {d: encode(survey.dns(d)) for d in settings.domains}}) for _ in range(workers)
    ]
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for data in inputs:
        for value in json.loads(data)["survey"].values():
            decode(DomainDns, value)
    read_s = (time.perf_counter() - t0) / workers
    return write_s, sum(map(len, inputs)), read_s, len(inputs[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--domains", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_lab(opts.domains, 0.0, Path(tmp)) as lab:
        host, _, port = lab.resolver.rpartition(":")
        settings = Settings(
            domains=tuple(lab.domains), resolvers=(DnsEndpoint(host, int(port)),), dns_port=lab.dns_port
        )
        with Survey(list(settings.resolvers), timeout=3, dns_port=lab.dns_port) as survey:
            survey.survey(settings.domains)
            print(f"hand-over of {len(settings.domains)} domains to {opts.workers} workers, {opts.runs} runs")
            for name, fn in (
                ("legacy: whole survey per worker", legacy),
                ("file: subjects + own facts", once),
            ):
                runs = [fn(survey, settings, opts.workers) for _ in range(opts.runs)]
                w = [r[0] * 1000 for r in runs]
                r_ = [r[2] * 1000 for r in runs]
                print(
                    f"  {name:34} controller {statistics.median(w):7.1f} ms"
                    f" (min {min(w):.1f}, max {max(w):.1f}),"
                    f" {runs[0][1] / 1e6:6.2f} MB written; each worker {statistics.median(r_):7.1f} ms"
                    f" (min {min(r_):.1f}, max {max(r_):.1f}), {runs[0][3] / 1e6:6.2f} MB read"
                )


if __name__ == "__main__":
    main()
