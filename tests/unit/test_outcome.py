"""The outcome policy is one pure function: severity, fail-on, profile, waiver, WARN, indeterminate."""

from __future__ import annotations

import pytest

from mailspec.catalog import CheckInfo, Severity
from mailspec.outcome import FAIL_ON_WARN, Outcome, Raised, decide, effective


def info(severity: Severity, *, policy: bool = False, demoted: bool = False) -> CheckInfo:
    return CheckInfo("x.y", severity, ("RFC 1",), "Title.", "Fix it.", policy=policy, demoted=demoted)


@pytest.mark.parametrize(
    ("severity", "fail_on", "expected"),
    [
        (Severity.MUST, Severity.SHOULD, Outcome.FAILED),
        (Severity.SHOULD, Severity.SHOULD, Outcome.FAILED),
        (Severity.MAY, Severity.SHOULD, Outcome.WARNED),
        (Severity.SHOULD, Severity.MUST, Outcome.WARNED),
        (Severity.MAY, Severity.MAY, Outcome.FAILED),
    ],
)
def test_a_violation_fails_at_or_above_fail_on(
    severity: Severity, fail_on: Severity, expected: Outcome
) -> None:
    d = decide(info(severity), Raised.VIOLATION, "seen X", fail_on=fail_on, profile="default")
    assert d.outcome is expected
    assert d.reason == ("seen X" if expected is Outcome.FAILED else f"warning ({severity}): seen X")


def test_a_heuristic_finding_never_fails() -> None:
    d = decide(info(Severity.MUST), Raised.FINDING, "odd", fail_on=Severity.MAY, profile="default")
    assert (d.outcome, d.reason) == (Outcome.WARNED, "warning (must): odd")


def test_a_demoted_must_warns() -> None:
    d = decide(
        info(Severity.MUST, demoted=True), Raised.VIOLATION, "m", fail_on=Severity.SHOULD, profile="default"
    )
    assert d.outcome is Outcome.WARNED


def test_the_bulk_profile_promotes_policy_checks() -> None:
    i = info(Severity.SHOULD, policy=True)
    assert (
        decide(i, Raised.VIOLATION, "m", fail_on=Severity.MUST, profile="default").outcome is Outcome.WARNED
    )
    assert decide(i, Raised.VIOLATION, "m", fail_on=Severity.MUST, profile="bulk").outcome is Outcome.FAILED


def test_a_waiver_wins_over_severity_and_keeps_the_message() -> None:
    d = decide(
        info(Severity.MUST), Raised.VIOLATION, "m", fail_on=Severity.SHOULD, profile="default", waiver="known"
    )
    assert (d.outcome, d.reason) == (Outcome.WAIVED, "waived: known (m)")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (Raised.NOTHING, Outcome.PASSED),
        (Raised.SKIP, Outcome.SKIPPED),
        (Raised.INDETERMINATE, Outcome.ERROR),
        (Raised.OTHER, Outcome.FAILED),
    ],
)
def test_what_is_not_a_finding(raised: Raised, expected: Outcome) -> None:
    # a waiver never turns "could not test" or a bug into anything else
    d = decide(info(Severity.MUST), raised, "m", fail_on=Severity.SHOULD, profile="default", waiver="w")
    assert d.outcome is expected


def test_a_users_own_test_fails_plainly() -> None:
    d = decide(None, Raised.VIOLATION, "m", fail_on=Severity.MUST, profile="default", waiver="w")
    assert d.outcome is Outcome.FAILED


def test_fail_on_warn_fails_every_finding_heuristic_ones_too() -> None:
    for raised in (Raised.VIOLATION, Raised.FINDING):
        for sev in Severity:
            d = decide(info(sev), raised, "m", fail_on=FAIL_ON_WARN, profile="default")
            assert (d.outcome, d.reason) == (Outcome.FAILED, "m")
    demoted = info(Severity.MUST, demoted=True)
    assert decide(demoted, Raised.VIOLATION, "m", fail_on=FAIL_ON_WARN, profile="default").outcome is (
        Outcome.FAILED
    )
    # a waiver still waives, and a pass still passes
    d = decide(info(Severity.MAY), Raised.FINDING, "m", fail_on=FAIL_ON_WARN, profile="default", waiver="ok")
    assert d.outcome is Outcome.WAIVED
    assert decide(
        info(Severity.MAY), Raised.NOTHING, "", fail_on=FAIL_ON_WARN, profile="default"
    ).outcome is (Outcome.PASSED)


def test_a_users_warn_without_a_declared_check_is_a_warning_not_a_failure() -> None:
    d = decide(None, Raised.FINDING, "odd", fail_on=Severity.SHOULD, profile="default")
    assert (d.outcome, d.reason) == (Outcome.WARNED, "warning (may): odd")
    assert (
        decide(None, Raised.FINDING, "odd", fail_on=FAIL_ON_WARN, profile="default").outcome is Outcome.FAILED
    )
    assert decide(None, Raised.VIOLATION, "x", fail_on=Severity.SHOULD, profile="default").outcome is (
        Outcome.FAILED
    )


def test_what_the_subject_publishes_raises_the_severity() -> None:
    # (CATALOG.md §18.5: MTA-STS enforce makes a certificate check a must at the hosts it covers)
    should = info(Severity.SHOULD)
    plain = decide(should, Raised.VIOLATION, "m", fail_on=Severity.MUST, profile="default")
    raised = decide(
        should, Raised.VIOLATION, "m", fail_on=Severity.MUST, profile="default", required=Severity.MUST
    )
    assert (plain.outcome, raised.outcome) == (Outcome.WARNED, Outcome.FAILED)
    # never lowered, and a finding stays a warning whatever the publication says
    lower = decide(info(Severity.MUST), Raised.VIOLATION, "m", fail_on=Severity.MUST, profile="default",
                   required=Severity.MAY)  # fmt: skip
    assert lower.outcome is Outcome.FAILED
    finding = decide(
        should, Raised.FINDING, "m", fail_on=Severity.MAY, profile="default", required=Severity.MUST
    )
    assert finding.outcome is Outcome.WARNED
    assert effective(should, "default", Severity.MUST) is Severity.MUST
    assert effective(should, "default") is Severity.SHOULD
