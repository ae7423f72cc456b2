"""The terminal summary: a one-line verdict per domain, then what needs attention, grouped by area."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["write_summary"]

_ORDER = ("failed", "error", "warned", "waived", "skipped", "passed")


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
            yellow=verdict != "FAIL" and verdict != "PASS",
            green=verdict == "PASS",
        )
        by_area: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if r["outcome"] in ("failed", "error", "warned"):
                by_area[r["check"].split(".", 1)[0]].append(r)
        for area in sorted(by_area):
            tr.write_line(f"  {area}:")
            for r in sorted(by_area[area], key=lambda r: _ORDER.index(r["outcome"])):
                subject = f" [{r['subject']}]" if r["subject"] and r["subject"] != domain else ""
                first = (r["message"] or r["title"]).splitlines()[0] if (r["message"] or r["title"]) else ""
                tr.write_line(f"    {r['outcome'].upper():7} {r['check']}{subject}: {first}")
