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
#: scenarios that need options of their own (a blocklist that refuses, say): run on their own
OWN_ARGS = [s for s in SCENARIOS if s.mailspec_args]
#: checks no lab scenario can trip, each for a reason, and each proven by unit tests instead:
#: INFO only (they record a fact); Spamhaus's PBL codes (the lab's lists are not Spamhaus's); a
#: single-stack backup needs a second IPv6 address (the lab has ::1 alone); MTA-STS and DANE arrive
#: with a later release
UNTRIPPABLE = {
    "mx2.sandwich",
    "smtp.pipelining.advertised",
    "dynip.pbl",
    "mx2.dual-stack-path",
}
#: checks whose violation is "could not test" (a list that is dead or refuses our resolver)
ERROR_ONLY = {"dnsbl.zone-sane", "dnsbl.resolver-usable"}
#: the areas whose checks arrive with the sender-authentication release (issue: SPF, DKIM, DMARC,
#: MTA-STS, TLS-RPT), DANE and DNSSEC, and the one check of §4 that goes with SPF
LATER = {i for i in CATALOG if i.split(".")[0] in ("dane", "bulk")}
LATER |= {"dns.dnssec"}


def run_lab(folder: Path, *extra: str, expect: int | None = pytest.ExitCode.TESTS_FAILED) -> dict[str, Any]:
    """One run of the whole suite over the lab's scenarios (all of them unless ``extra`` names some),
    at --mail-probe=intrusive as the acceptance lab runs it, from an empty folder, as a user would."""
    report = folder / "report.json"
    lab = [] if any(e.startswith("--mail-lab=") for e in extra) else ["--mail-lab=all"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "mailspec.checks", *lab, "--mail-timeout=5",
         "--mail-probe=intrusive", f"--mail-report={report}", "-p", "no:cacheprovider", "-q", *extra],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    (folder / "output.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")  # (kept for a failure)
    assert expect is None or proc.returncode == expect, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def lab_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_lab(tmp_path_factory.mktemp("lab-run"))


@pytest.fixture(scope="module")
def own_args_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each scenario that needs options of its own, run alone with them."""
    out = {}
    for sc in OWN_ARGS:
        folder = tmp_path_factory.mktemp(f"lab-{sc.name}")
        out[sc.name] = run_lab(folder, f"--mail-lab={sc.name}", *sc.mailspec_args, expect=None)
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_verdicts(
    scenario: Scenario, lab_report: dict[str, Any], own_args_reports: dict[str, dict[str, Any]]
) -> None:
    report = own_args_reports.get(scenario.name, lab_report)
    problems = judge(scenario, report["results"], exact=True)
    assert not problems, f"{scenario.name} ({scenario.domain}):\n  " + "\n  ".join(problems)


def test_good_domain_passes_every_check(lab_report: dict[str, Any]) -> None:
    good = [r for r in lab_report["results"] if r["domain"] == "good.test"]
    outcomes = {r["outcome"] for r in good}
    assert outcomes <= {"passed", "skipped", "waived"}, [r for r in good if r["outcome"] not in outcomes]
    checks = {r["check"] for r in good}
    shipped = {i for i, e in CATALOG.items() if e.probe != "host"}
    assert checks >= shipped - LATER, sorted(shipped - LATER - checks)
    # what skips, and why: no null MX; no Spamhaus list in the lab; the primary MX is the parity
    # reference; no --mail-outbound (the outbound addresses are only assumed). (dkim.key.ed25519 with
    # an RSA key alone, and mtasts.testing-needs-tlsrpt in enforce mode, pass with a note saying why
    # the rule holds.)
    assert {r["check"] for r in good if r["outcome"] == "skipped"} == {
        "mx.null.exclusive",
        "mx.null.not-sender",
        "mx.null.spf-all",
        "spf.authorizes-outbound",
        "dynip.pbl",
        "mx2.policy-parity",
    }
    assert {r["outcome"] for r in good if r["check"] == "mx2.policy-parity"} == {"skipped", "passed"}
    assert {r["check"] for r in good if r["outcome"] == "waived"} == {
        "mx.target.public-address",
        "dns.ns.public-address",
    }


def test_every_check_is_flagged_by_some_scenario(
    lab_report: dict[str, Any], own_args_reports: dict[str, dict[str, Any]]
) -> None:
    rows = lab_report["results"] + [r for rep in own_args_reports.values() for r in rep["results"]]
    ids = {r["check"] for r in rows}
    flagged = {r["check"] for r in rows if r["outcome"] in ("failed", "warned")}
    flagged |= {r["check"] for r in rows if r["check"] in ERROR_ONLY and r["outcome"] == "error"}
    assert ids - flagged - UNTRIPPABLE == set(), "a check no broken scenario trips cannot be shown to fail"


def test_xdist_gives_the_same_verdicts(tmp_path: Path, lab_report: dict[str, Any]) -> None:
    data = run_lab(tmp_path, "-n", "2")
    key = lambda r: (r["check"], r["domain"], r["subject"])  # noqa: E731
    serial = {key(r): r for r in lab_report["results"]}
    split = {key(r): r for r in data["results"]}
    # the outcomes are compared (a message may name a moment); the messages are shown
    outcome = lambda r: r and r["outcome"]  # noqa: E731
    differ = sorted(
        k for k in serial.keys() | split.keys() if outcome(serial.get(k)) != outcome(split.get(k))
    )
    shown = "\n".join(
        f"  {k}: serial {_verdict(serial.get(k))}, -n 2 {_verdict(split.get(k))}" for k in differ[:40]
    )
    assert not differ, (
        f"{len(differ)} results differ (of {len(serial)} serial, {len(split)} with -n 2):\n{shown}\n"
        f"the -n 2 run's output ({tmp_path / 'output.txt'}) ends:\n"
        + (tmp_path / "output.txt").read_text(encoding="utf-8")[-2000:]
    )
    assert len(split) == len(data["results"]) and len(serial) == len(lab_report["results"])  # (no key twice)
    assert data["summary"] == lab_report["summary"]


def _verdict(row: dict[str, Any] | None) -> str:
    return "(no result)" if row is None else f"{row['outcome']}: {row['message'][:300]}"
