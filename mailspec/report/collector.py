"""Collects the verdict of every mailspec check from pytest's reports (also those of xdist workers)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import pytest

from mailspec.report.json import write_report
from mailspec.report.terminal import (
    BLOCKED,
    OUTCOMES,
    by_domain,
    counts_of,
    run_verdict,
    verdict,
    write_summary,
)

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["OUTCOMES", "ReportCollector", "json_entry"]


def json_entry(r: dict[str, Any], nodeid: str, duration: float) -> dict[str, Any]:
    """One result as the JSON report writes it."""
    return {
        "check": r["check"],
        "domain": r["domain"],
        "subject": r["subject"],
        "outcome": r["outcome"],
        "severity": r["severity"],
        "finding": r.get("finding"),
        "title": r["title"],
        "message": r["message"],
        "evidence": r["evidence"],
        "refs": r["refs"],
        "remediation": r["remediation"],
        "waiver": r.get("waiver"),
        "nodeid": r.get("contract_nodeid") or nodeid,
        "duration_s": round(duration, 4),
    }


class ReportCollector:
    """A plugin object: one result per mailspec check item, in the order they finished."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        #: node id -> the result as the summary reads it (the first line of its message); the whole
        #: result (evidence, refs, fix) goes to the spool file as it comes, and the JSON report is
        #: streamed from there: a run of 170,000 checks holds no 170,000 evidence lists
        self.results: dict[str, dict[str, Any]] = {}
        self._spool: IO[bytes] | None = None
        self._stats: dict[str, list[Any]] | None = None  #: the terminal's, when there is one
        self._lines = 0
        self.write_error = ""
        self.testsfailed = 0
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        # -rP / -rA show the output of passing tests at the end: then their reports stay whole
        self.keep_reports = any(c in (config.option.reportchars or "") for c in "PA")

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "mailspec", None)
        if isinstance(data, dict) and not self.is_worker:  # (a worker's results are the controller's)
            entry = self.results.get(report.nodeid)
            if entry is None or (
                report.when == "teardown" and data["outcome"] == "error" and entry["outcome"] == "passed"
            ):  # (an error at teardown after a pass replaces it)
                # (a replaced result keeps the time its check took: the call's, and the teardown's)
                before = entry["duration_s"] if entry is not None else 0.0
                self.results[report.nodeid] = self._keep(report, data, before + report.duration)
        self._slim(report)

    def _keep(self, report: pytest.TestReport, data: dict[str, Any], duration: float) -> dict[str, Any]:
        """Spool the whole result; return what the summary reads."""
        if self._spool is None:
            # (closed at unconfigure, when the report is written: no context manager spans the run)
            self._spool = tempfile.TemporaryFile(prefix="mailspec-results-")  # noqa: SIM115
        line = json_entry(data, report.nodeid, duration)
        self._spool.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        self._lines += 1
        message = data["message"]
        return {
            "check": data["check"],
            "domain": data["domain"],
            "subject": data["subject"],
            "outcome": data["outcome"],
            "title": data["title"],
            "message": message.split("\n", 1)[0] if message else "",
            "matched": data.get("matched") or (),
            "host": data.get("host", ""),
            # (a host check's MX hosts that are its host: the summary sets the two sides together)
            "mx": tuple(v for k, v in report.user_properties if k == "mailspec_mx"),
            "line": self._lines - 1,
            "duration_s": duration,
        }

    def spooled(self) -> Iterator[dict[str, Any]]:
        """The whole results, in the order they finished (a result replaced later is left out)."""
        if self._spool is None:
            return
        current = {r["line"] for r in self.results.values()}
        self._spool.flush()
        self._spool.seek(0)
        for i, raw in enumerate(self._spool):
            if i in current:
                yield json.loads(raw)

    def _slim(self, report: pytest.TestReport) -> None:
        """Once every plugin has read a report of a mailspec check that passed, skipped or warned,
        drop what only a failure's report shows: pytest keeps every report to the end of the run,
        and a run of many domains has hundreds of thousands (the record is in ``results``)."""
        if self.keep_reports or report.failed:
            return
        if hasattr(report, "mailspec"):
            report.mailspec = None  # type: ignore[attr-defined]
        elif report.when == "call" or not self.settings.active:
            return
        # (and a passed setup or teardown of any test in a mail run: two reports of three, each with
        # a copy of its test's keywords, which nothing reads once every plugin has seen the report)
        report.sections = []
        report.keywords = {}
        if report.when != "call" and report.passed:
            # the terminal files such a report under "", a category no summary reads, and keeps it
            # to the end: 340,000 of them in a run of 5,000 domains
            if self._stats is None:
                stats = getattr(self.config.pluginmanager.get_plugin("terminalreporter"), "stats", None)
                self._stats = stats if isinstance(stats, dict) else {}
            kept = self._stats.get("")
            if kept and kept[-1] is report:
                kept.pop()

    def summary(self) -> dict[str, int]:
        return run_verdict(self.results.values(), 0)[1]

    def unmatched_waivers(self) -> list[str]:
        """A line for each of the user's waivers that matched no result (the lab's own are not the
        user's to fix): of a check that did not run, or of a subject that none of its results has."""
        import difflib

        matched = {w for r in self.results.values() for w in r.get("matched", ())}
        ran = {r["check"] for r in self.results.values() if r["check"]}
        lines = []
        for w in self.settings.waivers:
            if w.lab or str(w) in matched:
                continue
            if w.check in ran:
                why = f"no result of {w.check} has the subject {w.subject!r}"
            else:
                near = difflib.get_close_matches(w.check, sorted(ran), 3, 0.6) if w.custom else []
                why = f"no check {w.check} ran in this run" + (
                    f" (did you mean {' or '.join(near)}?)" if near else ""
                )
            lines.append(f"mailspec: waiver {str(w)!r} matched no result: {why}")
        return lines

    def as_json(self) -> dict[str, Any]:
        from mailspec import __version__

        return {
            "schema": "mailspec-report/1",
            "mailspec_version": __version__,
            "started_at": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_s": round(time.monotonic() - self._t0, 3),
            "settings": self.settings.to_json(),
            "verdict": run_verdict(self.results.values(), self.testsfailed)[0],
            "summary": self.summary(),
            "domains": {
                d: {"verdict": verdict(counts), "summary": counts}
                for d, counts in (
                    (d, counts_of(rows)) for d, rows in by_domain(self.results.values()).items()
                )
                if d
            },
            "results": (
                self.spooled()
            ),  # a generator: the report is written as it goes, never held whole in memory
        }

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.testsfailed = session.testsfailed
        if self.is_worker or self.settings.report is None:
            return
        try:
            write_report(self.settings.report, self.as_json())
        except OSError as exc:
            self.write_error = f"mailspec: could not write the JSON report to {self.settings.report}: {exc}"
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def pytest_unconfigure(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.results:
            return
        if not self.settings.active and not any(r["host"] for r in self.results.values()):
            return
        from mailspec.session import SURVEY  # (here: the session imports the report)

        survey = self.config.stash.get(SURVEY, None)
        cause = survey.unreachable() if survey is not None else None
        blocked = survey.smtp_blocked() if survey is not None else None
        if blocked is None:  # (under xdist the workers probed: their results say it)
            said = (r["message"] for r in self.results.values() if BLOCKED in (r["message"] or ""))
            blocked = next((m.removeprefix("could not test: ") for m in said), None)
        write_summary(terminalreporter, list(self.results.values()), self.settings, cause, blocked)
        result, _ = run_verdict(self.results.values(), self.testsfailed)
        terminalreporter.write_line(f"mailspec: verdict {result}", bold=True)
        for line in self.unmatched_waivers():
            terminalreporter.write_line(line, yellow=True)
        if self.write_error:
            terminalreporter.write_line(self.write_error, red=True, bold=True)
        elif self.settings.report is not None:
            terminalreporter.write_line(f"mailspec: JSON report written to {self.settings.report}")
