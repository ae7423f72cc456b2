"""The outcome policy, in one place: a check's result -> passed / failed / warned / skipped / error / waived.

Checks report through plain ``assert`` (a violation at the check's severity), :func:`warn` (a heuristic
finding, never a failure), :func:`note` (an INFO fact on a pass), :func:`evidence` (what the verdict
rests on), :func:`require` (what the subject publishes raises the check's severity for it),
``pytest.skip`` (not applicable) and :class:`~mailspec.errors.Indeterminate` (could not test).
:func:`decide` maps what a check raised to an outcome and the message to show; it is pure (no pytest),
and the plugin only applies its answer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from mailspec.catalog import CheckInfo, Severity
from mailspec.facts.base import Fact

__all__ = [
    "FAIL_ON_WARN",
    "Decision",
    "FailOn",
    "Finding",
    "Outcome",
    "Raised",
    "Recorder",
    "decide",
    "evidence",
    "note",
    "require",
    "warn",
]


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    SKIPPED = "skipped"
    ERROR = "error"
    WAIVED = "waived"


class Raised(enum.Enum):
    """What a check's run ended with, as the policy sees it."""

    NOTHING = "nothing"  #: it returned: the practice holds
    VIOLATION = "violation"  #: an assertion (or pytest.fail) of the check
    FINDING = "finding"  #: warn(): a heuristic finding
    INDETERMINATE = "indeterminate"  #: Indeterminate: could not test
    SKIP = "skip"  #: pytest.skip: not applicable
    OTHER = "other"  #: anything else: a bug in a check or fixture, or a user's own failure


class Finding(Exception):  # a finding is not an error: the name says what it is
    """A heuristic or SHOULD-level finding: reported as a warning, never a failure."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    #: the text pytest shows: the failure message, the skip reason, the xfail reason of a warning
    reason: str


#: ``--mail-fail-on=warn``: every finding fails the run, heuristic warnings included
FAIL_ON_WARN: Literal["warn"] = "warn"
FailOn = Severity | Literal["warn"]


def decide(
    info: CheckInfo | None,
    raised: Raised,
    message: str,
    *,
    fail_on: FailOn,
    profile: str,
    waiver: str | None = None,
    required: Severity | None = None,
) -> Decision:
    """The outcome of one check's run, and what to show for it.

    ``info`` is None for a test that is not a declared check (a user's own test on mailspec's
    fixtures): its violations are plain failures, never waivers; a :func:`warn` in it is a warning
    of the lowest severity (``may``). ``waiver`` is the reason of the waiver that matches the check
    and subject, if any. A warning's reason starts with ``warning (<severity>):``, so that a
    dashboard tells it from a skip. ``required`` is the severity that what the subject publishes gives
    the check (:func:`require`): a violation counts at the higher of it and the catalog's.
    """
    if raised is Raised.NOTHING:
        return Decision(Outcome.PASSED, message)
    if raised is Raised.SKIP:
        return Decision(Outcome.SKIPPED, message)
    if raised is Raised.INDETERMINATE:
        return Decision(Outcome.ERROR, message)
    if raised is Raised.OTHER or (info is None and raised is not Raised.FINDING):
        return Decision(Outcome.FAILED, message)
    if waiver is not None and info is not None:
        return Decision(Outcome.WAIVED, f"waived: {waiver} ({message})")
    severity = effective(info, profile, required)
    if isinstance(fail_on, str):  # FAIL_ON_WARN
        return Decision(Outcome.FAILED, message)
    demoted = info is not None and info.demoted and (required is None or required <= info.severity)
    if raised is Raised.FINDING or demoted or severity < fail_on:
        return Decision(Outcome.WARNED, f"warning ({severity}): {message}")
    return Decision(Outcome.FAILED, message)


def effective(info: CheckInfo | None, profile: str, required: Severity | None = None) -> Severity:
    """The severity a result counts at: the catalog's under the profile, raised to ``required``."""
    severity = info.effective(profile) if info is not None else Severity.MAY
    return max(severity, required) if required is not None else severity


@dataclass
class Recorder:
    """What the running check said besides its verdict (reset for every check)."""

    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the severity the subject's publications give the check (:func:`require`), if raised
    required: Severity | None = None


_current = Recorder()


def reset() -> Recorder:
    global _current  # noqa: PLW0603  (one check runs at a time in a pytest process)
    _current = Recorder()
    return _current


def current() -> Recorder:
    return _current


def evidence(*items: Fact | str | Iterable[str]) -> None:
    """Record what the verdict rests on: facts (DNS answers, SMTP sessions), or plain text lines."""
    for item in items:
        if isinstance(item, str):
            lines = [item]
        elif isinstance(item, Fact):
            lines = item.evidence()
        else:
            lines = list(item)
        for line in lines:
            if line not in _current.evidence:
                _current.evidence.append(line)


def note(message: str) -> None:
    """Record an INFO fact; the check still passes, with this message."""
    _current.notes.append(message)


def require(severity: Severity, because: str) -> None:
    """Say that what the subject publishes makes this check ``severity`` for it, whatever the catalog's
    default (CATALOG.md §18.5: an MTA-STS policy in enforce mode makes the certificate checks ``must``
    at the MX hosts it covers). A violation then counts at that severity; ``because`` goes into the
    evidence."""
    if _current.required is None or severity > _current.required:
        _current.required = severity
    evidence(f";; {severity} here: {because}")


def warn(message: str) -> None:
    """Report a heuristic finding (WARN in the catalog): the check is warned, never failed."""
    raise Finding(message)
