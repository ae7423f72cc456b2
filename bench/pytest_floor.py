#!/usr/bin/env python3
"""The floor under bench/scale.py: what pytest itself costs for as many test cases as a mailspec run of
N domains collects, when each test does nothing.

A mailspec run reports one test case per check and per subject, skipped ones too (CONTRACT: a check
below ``--mail-probe`` is skipped, with the reason): ``--per-domain`` of them per domain (182 in the
scale benchmark's healthy domain at ``--mail-probe=dns``: 73 run or xfail, 109 skipped). This script
writes one test module of ``--checks`` test functions, each parametrised over two subjects per domain
with ids shaped like mailspec's (``scale-00042.test-mx1.scale-00042.test``); the share ``--skipped``
of the functions carry a ``skip`` mark with a reason as long as mailspec's (as mailspec skips a check
below the probe level: at setup, the call never runs). A conftest does what mailspec does after
collection (``gc.collect(); gc.freeze()``). pytest runs as the scale benchmark runs mailspec
(``python -m pytest -q -p no:cacheprovider --tb=no``, in a temporary folder, one process, no xdist),
with ``-p no:mailspec``, and without any plugin of the environment's when ``--no-autoload``.

Printed per run: the wall time, pytest's CPU time and peak RSS (``wait4``); over ``--runs``, the
median, min and max. The cost per test case is the slope between that run and one of a tenth of the
domains (so the interpreter's start-up and its baseline memory are not counted in it).

Nothing in it is mailspec: it tells how far any pytest plugin that keeps one test case per check and
subject can go below the targets of bench/scale.py (1,000 domains in 60 s, 5,000 in 1 GiB).

    python bench/pytest_floor.py --domains 1000 --no-autoload
    python bench/pytest_floor.py --domains 5000 --no-autoload
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

MODULE = """
import pytest

IDS = [
    f"scale-{{n:05d}}.test-{{kind}}.scale-{{n:05d}}.test" for n in range({domains}) for kind in ("mx1", "mx2")
]
REASON = "needs --mail-probe=envelope or above (this run: --mail-probe=dns)"
"""

CHECK = """
{mark}@pytest.mark.parametrize("subject", IDS, ids=IDS)
def test_check_{i:03d}(subject):
    assert subject
"""

CONFTEST = """
import gc


def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()
"""


def write_module(folder: Path, domains: int, per_domain: int, skipped: float) -> int:
    """The module and its conftest; returns how many test cases the module holds."""
    functions = max(1, round(per_domain / 2))
    skipping = round(functions * skipped)
    text = MODULE.format(domains=domains)
    for i in range(functions):
        mark = "@pytest.mark.skip(reason=REASON)\n" if i < skipping else ""
        text += CHECK.format(i=i, mark=mark)
    (folder / "test_floor.py").write_text(text)
    (folder / "conftest.py").write_text(CONFTEST)
    return domains * 2 * functions


def run(folder: Path, python: str, autoload: bool) -> tuple[float, float, float, str]:
    """One pytest run in ``folder``: wall time (s), CPU time (s), peak RSS (MiB), pytest's last line."""
    env = dict(os.environ)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:mailspec", "--tb=no"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*argv, "test_floor.py"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # (reaped by wait4)
    last = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
    if proc.returncode != 0:  # (every test passes or skips: anything else is no floor)
        raise SystemExit(f"pytest exited {proc.returncode} in {folder}: {last[0]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, last[0]


def measure(domains: int, opts: argparse.Namespace) -> tuple[int, list[tuple[float, float, float, str]]]:
    with tempfile.TemporaryDirectory(prefix="pytest-floor-") as tmp:
        folder = Path(tmp)
        count = write_module(folder, domains, opts.per_domain, opts.skipped)
        return count, [run(folder, opts.python, not opts.no_autoload) for _ in range(opts.runs)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--per-domain", type=int, default=182, help="test cases per domain (mailspec: 182)")
    ap.add_argument("--skipped", type=float, default=0.6, help="share of the test functions that skip")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--no-autoload", action="store_true", help="no plugins from entry points (a clean venv)")
    ap.add_argument("--runs", type=int, default=1)
    opts = ap.parse_args()
    autoload = "off" if opts.no_autoload else "on (mailspec itself off: -p no:mailspec)"
    print(f"pytest floor: {opts.domains} domains, {opts.per_domain} test cases each, {opts.skipped:.0%} of "
          f"the functions skipped by a mark; plugin autoload {autoload}")  # fmt: skip
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  machine: {os.cpu_count()} CPUs; load average {load}")
    small = max(1, opts.domains // 10)
    small_count, small_runs = measure(small, opts)
    count, runs = measure(opts.domains, opts)
    for i, (wall, cpu, peak, last) in enumerate(runs):
        print(
            f"run {i + 1}: {count:,} test cases: wall {wall:.1f} s, CPU {cpu:.1f} s, "
            f"peak RSS {peak:,.0f} MiB; {last}"
        )
    walls, rss = [r[0] for r in runs], [r[2] for r in runs]
    wall_m, rss_m = statistics.median(walls), statistics.median(rss)
    if opts.runs > 1:
        print(
            f"wall: median {wall_m:.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); "
            f"peak RSS: median {rss_m:,.0f} MiB (min {min(rss):,.0f}, max {max(rss):,.0f})"
        )
    small_wall = statistics.median(r[0] for r in small_runs)
    small_rss = statistics.median(r[2] for r in small_runs)
    if count > small_count:
        per = count - small_count
        print(
            f"per test case (the slope from {small} domains' {small_count:,}: {small_wall:.1f} s, "
            f"{small_rss:,.0f} MiB): {(wall_m - small_wall) * 1000 / per:.3f} ms, "
            f"{(rss_m - small_rss) * 2**20 / per:,.0f} B"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
