"""The outcome policy, in one place: a check's result -> passed / failed / warned / skipped / error / waived.

Checks report through plain ``assert`` (a violation at the check's severity), :func:`warn` (a heuristic
finding, never a failure), :func:`note` (an INFO fact on a pass), :func:`evidence` (what the verdict
rests on), ``pytest.skip`` (not applicable) and :class:`~mailspec.errors.Indeterminate` (could not test).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from mailspec.catalog import CheckInfo, Severity
from mailspec.facts import DnsAnswer

__all__ = ["Finding", "Outcome", "Recorder", "decide", "evidence", "note", "warn"]


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"
    SKIPPED = "skipped"
    ERROR = "error"
    WAIVED = "waived"


class Finding(Exception):  # a finding is not an error: the name says what it is
    """A heuristic or SHOULD-level finding: reported as a warning, never a failure."""


@dataclass
class Recorder:
    """What the running check said besides its verdict (reset for every check)."""

    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_current = Recorder()


def reset() -> Recorder:
    global _current  # noqa: PLW0603  (one check runs at a time in a pytest process)
    _current = Recorder()
    return _current


def current() -> Recorder:
    return _current


def evidence(*items: DnsAnswer | str | Iterable[str]) -> None:
    """Record what the verdict rests on: DNS answers, SMTP lines, or plain text lines."""
    for item in items:
        if isinstance(item, DnsAnswer):
            lines = item.evidence()
        elif isinstance(item, str):
            lines = [item]
        else:
            lines = list(item)
        for line in lines:
            if line not in _current.evidence:
                _current.evidence.append(line)


def note(message: str) -> None:
    """Record an INFO fact; the check still passes, with this message."""
    _current.notes.append(message)


def warn(message: str) -> None:
    """Report a heuristic finding (WARN in the catalog): the check is warned, never failed."""
    raise Finding(message)


def decide(
    info: CheckInfo,
    *,
    violated: bool,
    heuristic: bool,
    fail_on: Severity,
    profile: str,
    waived: bool,
) -> Outcome:
    """The outcome of a check that did run and found something (``violated`` or ``heuristic``)."""
    if not (violated or heuristic):
        return Outcome.PASSED
    if waived:
        return Outcome.WAIVED
    if heuristic or info.demoted:
        return Outcome.WARNED
    return Outcome.FAILED if info.effective(profile) >= fail_on else Outcome.WARNED
