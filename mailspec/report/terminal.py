"""The terminal summary: a one-line verdict per domain, then what needs attention, grouped by area."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["write_summary"]

_ORDER = ("failed", "error", "warned", "waived", "skipped", "passed")
_SHOWN = ("failed", "error", "warned")


def _verdict(counts: dict[str, int]) -> str:
    if counts.get("failed"):
        return "FAIL"
    if counts.get("error"):
        return "INCOMPLETE"
    if counts.get("warned"):
        return "PASS with warnings"
    return "PASS"


def write_summary(tr: Any, results: list[dict[str, Any]], settings: Settings) -> None:
    tr.write_sep("=", "mailspec summary")
    by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_domain[r["domain"] or "(no domain)"].append(r)
    for domain, rows in by_domain.items():
        counts: dict[str, int] = defaultdict(int)
        for r in rows:
            counts[r["outcome"]] += 1
        parts = ", ".join(f"{counts[o]} {o}" for o in _ORDER if counts[o])
        verdict = _verdict(counts)
        tr.write_line(
            f"{domain}: {verdict} ({parts})",
            bold=True,
            red=verdict == "FAIL",
            yellow=verdict not in {"FAIL", "PASS"},
            green=verdict == "PASS",
        )
        # grouped by area; within an area one line per distinct finding, so that a timeout that
        # stops ten checks is said once
        by_area: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
        shown = sorted((r for r in rows if r["outcome"] in _SHOWN), key=lambda r: _ORDER.index(r["outcome"]))
        for r in shown:
            subject = f" [{r['subject']}]" if r["subject"] and r["subject"] != domain else ""
            text = r["message"] or r["title"]
            first = text.splitlines()[0] if text else ""
            by_area[r["check"].split(".", 1)[0]][(r["outcome"], first)].append(f"{r['check']}{subject}")
        for area in sorted(by_area):
            tr.write_line(f"  {area}:")
            for (result, first), checks in by_area[area].items():
                who = (
                    checks[0] if len(checks) == 1 else f"{len(checks)} checks ({', '.join(checks[:3])}, ...)"
                )
                tr.write_line(f"    {result.upper():7} {who}: {first}")
