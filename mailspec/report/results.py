"""What a test item's run says, read off pytest's report: what it raised, its message, its node id."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from mailspec import outcome
from mailspec.catalog import CheckInfo, Severity, check_info
from mailspec.errors import Indeterminate
from mailspec.outcome import Finding, Outcome, Raised
from mailspec.subjects import Subject, on_host

__all__ = ["check_of", "expected", "message_of", "package_nodeid", "raised_by", "result_record", "subject_of"]


def check_of(item: pytest.Item) -> CheckInfo | None:
    marker = item.get_closest_marker("mailspec")
    return check_info(marker.kwargs) if marker is not None else None


def subject_of(item: pytest.Item) -> Subject | None:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    value = params.get("_mailspec_subject")
    # (a host check's subject is named after testinfra's host, its other parameter)
    return on_host(value if isinstance(value, Subject) else None, getattr(item, "fixturenames", ()), params)


def package_nodeid(item: pytest.Item, checks_dir: Path) -> str:
    """A shipped check's node id as the JSON report names it: ``mailspec/checks/test_mx.py::...``,
    whatever folder pytest ran from (its own node ids are relative to the rootdir)."""
    path = Path(item.path)
    prefix = _package_path(path, checks_dir) or _package_path(path, checks_dir.parent / "hostchecks")
    if not prefix:
        return ""
    _, _, rest = item.nodeid.partition("::")
    return f"{prefix}::{rest}"


@functools.cache
def _package_path(path: Path, checks_dir: Path) -> str:
    """(once per file: resolving a path costs system calls, and a run has thousands of items)"""
    resolved, checks = path.resolve(), checks_dir.resolve()
    return resolved.relative_to(checks.parents[1]).as_posix() if resolved.is_relative_to(checks) else ""


def message_of(exc: BaseException) -> str:
    text = str(exc.msg) if isinstance(exc, pytest.fail.Exception) else str(exc)
    # pytest's assertion rewriting appends its own explanation after the message: keep ours
    return text.split("\nassert ", 1)[0].strip() or type(exc).__name__


def expected(exc: BaseException | None, info: CheckInfo | None) -> bool:
    """Whether the outcome policy words this exception's result itself (could not test; a check's
    violation or finding), so that pytest need not format a traceback for it."""
    if isinstance(exc, Indeterminate):
        return True
    return info is not None and isinstance(exc, (Finding, AssertionError, pytest.fail.Exception))


def raised_by(
    report: pytest.TestReport, exc: BaseException | None, info: CheckInfo | None
) -> tuple[Raised, str]:
    if isinstance(exc, Indeterminate):
        return Raised.INDETERMINATE, message_of(exc)
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        text = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        return Raised.SKIP, text.removeprefix("Skipped: ")
    if exc is None and report.passed:
        return Raised.NOTHING, "; ".join(outcome.current().notes)
    if isinstance(exc, Finding):
        return Raised.FINDING, message_of(exc)
    if isinstance(exc, (AssertionError, pytest.fail.Exception)) and info is not None:
        return Raised.VIOLATION, message_of(exc)
    return Raised.OTHER, message_of(exc) if exc is not None else ""


def result_record(
    info: CheckInfo | None,
    subject: Subject | None,
    result: Outcome,
    message: str,
    profile: str,
    waiver: str | None,
    nodeid: str,
    *,
    raised: Raised = Raised.NOTHING,
    domain: str = "",
    title: str = "",
    matched: tuple[str, ...] = (),
    required: Severity | None = None,
) -> dict[str, Any]:
    """One result as the JSON report and the terminal summary read it (it travels with the report).

    ``domain`` and ``title`` stand in for a user's own test that takes no subject (or declares no
    check); ``matched``: the waivers (as written) whose check and subject this result is;
    ``required``: the severity the subject's publications gave the check (``outcome.require``)."""
    finding = {Raised.FINDING: "warn", Raised.VIOLATION: "violation"}.get(raised)
    return {
        "host": subject.name if subject is not None and subject.kind == "host" else "",
        "check": info.id if info else "",
        "domain": subject.domain if subject else domain,
        "subject": subject.label if subject else "",
        "outcome": result.value,
        "severity": str(outcome.effective(info, profile, required)) if info else "",
        "finding": finding if result in (Outcome.WARNED, Outcome.FAILED, Outcome.WAIVED) else None,
        "title": info.title if info else title,
        "message": message,
        "evidence": list(outcome.current().evidence),
        "refs": list(info.refs) if info else [],
        "remediation": info.remediation if info else "",
        "waiver": waiver,
        "contract_nodeid": nodeid,
        "matched": list(matched),
    }


def first_line(record: dict[str, Any]) -> str:
    """The line a case's output starts with (JUnit ``<system-out>``): what a dashboard greps for."""
    subject = record["subject"] or record["domain"] or "-"
    return f"mailspec: {record['check'] or '-'} {subject} {record['outcome']} {record['severity'] or '-'}"


def add_output(
    item: pytest.Item, report: pytest.TestReport, record: dict[str, Any], *, shown: bool = True
) -> None:
    """The case's output: the first line, then the evidence; in the item's sections (the teardown
    report, which JUnit writes out) and, when ``shown``, in this report (the terminal shows it with
    a failure or an error)."""
    text = "\n".join([first_line(record), *record["evidence"]]) + "\n"
    title = "stdout (mailspec)"
    # first, before what the test itself printed: the case's output starts with the mailspec line.
    # pytest offers appending only (add_report_section); its list of sections is the item's own
    sections = getattr(item, "_report_sections", None)
    if isinstance(sections, list):
        sections.insert(0, (report.when, title, text))
    else:
        item.add_report_section(report.when, title, text)
    if shown:
        report.sections.insert(0, (f"Captured {title} {report.when}", text))


def forget_output(item: pytest.Item) -> None:
    """Once a test's reports are out, its item need not keep their sections (the evidence text of
    every check, otherwise held to the end of the run by each of its hundred thousand items)."""
    sections = getattr(item, "_report_sections", None)
    if isinstance(sections, list):
        sections.clear()
