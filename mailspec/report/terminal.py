"""The terminal summary: a one-line verdict per domain, then what needs attention, grouped by area."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["header_lines", "write_summary"]

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


def header_lines(s: Settings) -> list[str]:
    """The lines mailspec adds to pytest's report header: what this run will survey, and how."""
    if not s.active:
        return ["mailspec: no mail domain (pass --mail-domain=DOMAIN or --mail-lab)"]
    resolvers = ",".join(str(r) for r in s.resolvers) + (" (system)" if s.resolvers_from_system else "")
    shown = ", ".join(s.domains[:5]) + (f" and {len(s.domains) - 5} more" if len(s.domains) > 5 else "")
    lines = [
        f"mailspec: domains={shown}",
        f"mailspec: resolvers={resolvers} probe={s.probe} timeout={s.timeout:g}s fail-on={s.fail_on} "
        f"profile={s.profile}" + (f" dns-port={s.dns_port}" if s.dns_port != 53 else ""),
    ]
    if s.lab:
        lines.append(f"mailspec: embedded lab: {s.lab}")
    if s.waivers:
        lines.append(f"mailspec: {len(s.waivers)} waiver(s): " + "; ".join(str(w) for w in s.waivers[:3]))
    return lines
