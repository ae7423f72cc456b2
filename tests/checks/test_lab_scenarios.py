"""Every shipped check against the embedded lab: the good domain passes everything, and each broken
domain is flagged for exactly the practice it breaks (with and without xdist)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import CATALOG
from mailspec.testing.scenario import Scenario, load_scenarios
from mailspec.testing.verdicts import judge

SCENARIOS = load_scenarios()
#: the areas whose checks arrive with the sender-authentication release (issue: SPF, DKIM, DMARC,
#: MTA-STS, TLS-RPT), DANE and DNSSEC, and the one check of §4 that goes with SPF
LATER = {
    i for i in CATALOG if i.split(".")[0] in ("spf", "dkim", "dmarc", "mtasts", "tlsrpt", "dane", "bulk")
}
LATER |= {"dns.dnssec", "helo.spf"}


def run_lab(folder: Path, *extra: str) -> dict[str, Any]:
    """One run of the whole suite over every lab scenario, from an empty folder, as a user would."""
    report = folder / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "mailspec.checks", "--mail-lab=all", "--mail-timeout=3",
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
    shipped = {i for i, e in CATALOG.items() if e.probe != "host"}
    assert checks >= shipped - LATER, sorted(shipped - LATER - checks)
    # what skips, and why: no null MX; the intrusive probes above the default --mail-probe=envelope;
    # no Spamhaus list in the lab; MTA-STS/DANE not read yet; the primary MX is the parity reference
    assert {r["check"] for r in good if r["outcome"] == "skipped"} == {
        "mx.null.exclusive",
        "mx.null.not-sender",
        "mx.null.spf-all",
        "smtp.early-talker",
        "smtp.pipelining.unauth",
        "tls.starttls.no-injection",
        "tls.version.legacy-refused",
        "dynip.pbl",
        "mx2.policy-covered",
        "mx2.policy-parity",
    }
    assert {r["outcome"] for r in good if r["check"] == "mx2.policy-parity"} == {"skipped", "passed"}
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
