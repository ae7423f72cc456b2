#!/usr/bin/env python3
"""The floor under bench/scale.py: what pytest itself costs for as many test cases as a mailspec run of
N domains collects, when each test does nothing.

A mailspec run reports one test case per check and per subject, skipped ones too (CONTRACT: a check
below ``--mail-probe`` is skipped, with the reason): ``--per-domain`` of them per domain (182 in the
scale benchmark's healthy domain at ``--mail-probe=dns``: 73 run or xfail, 109 skipped). This script writes
one test module of ``--checks`` test functions, each parametrised over ``N * per-domain / checks``
subjects with ids shaped like mailspec's (``scale-00042.test-mx1.scale-00042.test``), where the share
``--skipped`` of them calls ``pytest.skip`` with a reason as long as mailspec's, and runs it as the
scale benchmark runs mailspec (``python -m pytest -q -p no:cacheprovider --tb=no``, in a temporary
folder, without the dev plugins' autoload when ``--no-autoload``). It prints the wall time, pytest's
CPU time and peak RSS (``wait4``), per run and the median, min and max of ``--runs``.

Nothing in it is mailspec: it tells how far any pytest plugin that keeps one test case per check and
subject can go below the targets of bench/scale.py (1,000 domains in 60 s, 5,000 in 1 GiB).

    python bench/pytest_floor.py --domains 1000
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

IDS = [f"scale-{{n:05d}}.test-{{kind}}" for n in range({domains}) for kind in {kinds!r}]
REASON = "needs --mail-probe=envelope or above (this run: --mail-probe=dns)"
SKIPPED = {skipped_checks}


def _body(index, subject):
    if index < SKIPPED:
        pytest.skip(REASON)
    assert subject

"""

CHECK = """
@pytest.mark.parametrize("subject", IDS, ids=IDS)
def test_check_{i:03d}(subject):
    _body({i}, subject)
"""


def write_module(folder: Path, domains: int, per_domain: int, checks: int, skipped: float) -> int:
    """The module; returns how many test cases it holds."""
    subjects = max(1, round(per_domain / checks))
    kinds = [f"s{k}" for k in range(subjects)]
    text = MODULE.format(domains=domains, kinds=kinds, skipped_checks=round(checks * skipped))
    text += "".join(CHECK.format(i=i) for i in range(checks))
    (folder / "test_floor.py").write_text(text)
    return domains * subjects * checks


def run(folder: Path, python: str, autoload: bool) -> tuple[float, float, float, str]:
    env = dict(os.environ)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no", "test_floor.py"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # (reaped by wait4)
    last = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, last[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--per-domain", type=int, default=182, help="test cases per domain (mailspec: 182)")
    ap.add_argument("--checks", type=int, default=91, help="test functions (each over its subjects)")
    ap.add_argument("--skipped", type=float, default=0.6, help="share of the checks that skip")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--no-autoload", action="store_true", help="no plugins from entry points (a clean venv)")
    ap.add_argument("--runs", type=int, default=1)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pytest-floor-") as tmp:
        folder = Path(tmp)
        count = write_module(folder, opts.domains, opts.per_domain, opts.checks, opts.skipped)
        autoload = "off" if opts.no_autoload else "on"
        print(
            f"pytest floor: {opts.domains} domains, {count:,} test cases in {opts.checks} functions, "
            f"{opts.skipped:.0%} of the functions skip; plugin autoload {autoload}"
        )
        print(
            f"  machine: {os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        walls, rss = [], []
        for i in range(opts.runs):
            wall, cpu, peak, last = run(folder, opts.python, not opts.no_autoload)
            walls.append(wall)
            rss.append(peak)
            print(f"run {i + 1}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak:,.0f} MiB "
                  f"({peak * 2**20 / count:,.0f} B per test case); {last}")  # fmt: skip
        if opts.runs > 1:
            wall_m, rss_m = statistics.median(walls), statistics.median(rss)
            print(
                f"wall: median {wall_m:.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); peak RSS: "
                f"median {rss_m:,.0f} MiB (min {min(rss):,.0f}, max {max(rss):,.0f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
