"""Judge a mailspec JSON report against a scenario's expectations (no mailspec code involved).

Used by mailspec's own tests and usable by anyone who keeps scenarios of their own: each unmet
expectation is returned as a sentence naming the check id, what was expected and what was reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .scenario import Scenario

__all__ = ["judge"]

_FLAGGED = {"failed", "warned"}
_ALARM = {"failed", "warned", "error"}


def _describe(rows: list[Mapping[str, Any]]) -> str:
    """Each result as ``outcome@subject``, with the first line of its message."""
    out = []
    for r in rows:
        message = str(r.get("message") or "").strip().splitlines()
        at = f"@{r['subject']}" if r.get("subject") else ""
        out.append(f"{r['outcome']}{at}" + (f" ({message[0][:160]})" if message else ""))
    return "; ".join(out) or "no result"


def judge(scenario: Scenario, results: Iterable[Mapping[str, Any]], *, exact: bool = False) -> list[str]:
    """The expectations of ``scenario`` that ``results`` (the report's ``results`` list) do not meet.

    With ``exact``, a failed, warned or error result of an id the scenario does not name in ``flag``,
    ``fail``, ``warn``, ``not_passed`` or ``error`` is a problem too: a broken scenario flags exactly
    what it is about.
    """
    mine = [r for r in results if r.get("domain") == scenario.domain]
    by_id: dict[str, list[Mapping[str, Any]]] = {}
    for r in mine:
        by_id.setdefault(str(r["check"]), []).append(r)
    exp = scenario.expect
    problems: list[str] = []

    def rows(check_id: str) -> list[Mapping[str, Any]]:
        check, _, narrow = check_id.partition("@")
        return [r for r in by_id.get(check, []) if narrow in str(r.get("subject", ""))]

    for cid in exp.flag:
        if not any(r["outcome"] in _FLAGGED for r in rows(cid)):
            problems.append(f"flag {cid}: expected a failed or warned result, got {_describe(rows(cid))}")
    for cid in exp.passed:
        got = rows(cid)
        if not got or any(r["outcome"] != "passed" for r in got):
            problems.append(f"pass {cid}: expected every result passed, got {_describe(got)}")
    for cid in exp.not_passed:
        got = rows(cid)
        if not got or any(r["outcome"] == "passed" for r in got):
            problems.append(f"not_passed {cid}: expected results, none passed, got {_describe(got)}")
    for cid in exp.skipped:
        got = rows(cid)
        if not got or any(r["outcome"] != "skipped" for r in got):
            problems.append(f"skip {cid}: expected every result skipped, got {_describe(got)}")
    for cid in exp.error:
        got = rows(cid)
        if not any(r["outcome"] == "error" for r in got) or any(r["outcome"] == "failed" for r in got):
            problems.append(
                f"error {cid}: expected an error (could not test) and no failure, got {_describe(got)}"
            )
    for cid in exp.warned:
        got = rows(cid)
        if not any(r["outcome"] == "warned" for r in got) or any(r["outcome"] == "failed" for r in got):
            problems.append(f"warn {cid}: expected a warning and no failure, got {_describe(got)}")
    for cid in exp.failed:
        if not any(r["outcome"] == "failed" for r in rows(cid)):
            problems.append(
                f"fail {cid}: expected a failed result (not only a warning), got {_describe(rows(cid))}"
            )
    if exp.clean:
        alarms = [r for r in mine if r["outcome"] in _ALARM]
        problems += [
            f"clean: false alarm {r['check']} {r['outcome']}: {r.get('message', '')}" for r in alarms
        ]
    if exact and not exp.clean:
        named = {c.partition("@")[0] for c in exp.flag + exp.not_passed + exp.error + exp.warned + exp.failed}
        for r in mine:
            if r["outcome"] in _ALARM and r["check"] not in named:
                problems.append(
                    f"unexpected {r['outcome']} {r['check']}@{r.get('subject', '')}: {r.get('message', '')}"
                )
    return problems
