"""Every shipped check against the embedded lab: the good domain passes everything, and each broken
domain is flagged for exactly the practice it breaks (with and without xdist)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailspec.testing.scenario import Scenario, load_scenarios
from mailspec.testing.verdicts import judge

SCENARIOS = load_scenarios()


def run_lab(folder: Path, *extra: str) -> dict[str, Any]:
    """One run of the whole suite over every lab scenario, from an empty folder, as a user would."""
    report = folder / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "mailspec.checks", "--mail-lab=all", "--mail-timeout=1",
         f"--mail-report={report}", "-p", "no:cacheprovider", "-q", *extra],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout[-3000:] + proc.stderr[-3000:]
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def lab_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_lab(tmp_path_factory.mktemp("lab-run"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_verdicts(scenario: Scenario, lab_report: dict[str, Any]) -> None:
    problems = judge(scenario, lab_report["results"], exact=True)
    assert not problems, f"{scenario.name} ({scenario.domain}):\n  " + "\n  ".join(problems)


def test_good_domain_passes_every_check(lab_report: dict[str, Any]) -> None:
    good = [r for r in lab_report["results"] if r["domain"] == "good.test"]
    outcomes = {r["outcome"] for r in good}
    assert outcomes <= {"passed", "skipped", "waived"}, [r for r in good if r["outcome"] not in outcomes]
    checks = {r["check"] for r in good}
    assert len(checks) == 24
    # only the null-MX checks skip (good.test has no null MX); the waiver is the lab's loopback
    assert {r["check"] for r in good if r["outcome"] == "skipped"} == {
        "mx.null.exclusive",
        "mx.null.not-sender",
        "mx.null.spf-all",
    }
    assert {r["check"] for r in good if r["outcome"] == "waived"} == {
        "mx.target.public-address",
        "dns.ns.public-address",
    }


def test_every_check_is_flagged_by_some_scenario(lab_report: dict[str, Any]) -> None:
    ids = {r["check"] for r in lab_report["results"]}
    flagged = {r["check"] for r in lab_report["results"] if r["outcome"] in ("failed", "warned")}
    assert ids - flagged == set(), "a check no broken scenario trips cannot be shown to fail"


def test_xdist_gives_the_same_verdicts(tmp_path: Path, lab_report: dict[str, Any]) -> None:
    data = run_lab(tmp_path, "-n", "2")
    key = lambda r: (r["check"], r["domain"], r["subject"])  # noqa: E731
    assert sorted((key(r), r["outcome"]) for r in data["results"]) == sorted(
        (key(r), r["outcome"]) for r in lab_report["results"]
    )
    assert data["summary"] == lab_report["summary"]
