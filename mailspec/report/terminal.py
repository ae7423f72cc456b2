"""The terminal summary: a one-line verdict per domain, then what needs attention, grouped by area."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["OUTCOMES", "by_domain", "counts_of", "header_lines", "run_verdict", "verdict", "write_summary"]

_ORDER = ("failed", "error", "warned", "waived", "skipped", "passed")
#: the JSON report's outcomes, in its summary's order
OUTCOMES = ("passed", "failed", "warned", "skipped", "error", "waived")
_SHOWN = ("failed", "error", "warned")


def verdict(counts: dict[str, int]) -> str:
    """PASS, FAIL, WARN or INCOMPLETE (the contract's verdicts), from outcome counts."""
    if counts.get("failed"):
        return "FAIL"
    if counts.get("error"):
        return "INCOMPLETE"
    if counts.get("warned"):
        return "WARN"
    return "PASS"


def counts_of(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Outcome -> how many of ``results`` have it (every outcome, zeros too)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for r in results:
        counts[r["outcome"]] += 1
    return counts


def run_verdict(results: Iterable[dict[str, Any]], testsfailed: int) -> tuple[str, dict[str, int]]:
    """The run's verdict and counts; a failure pytest counted outside mailspec's results (a user's
    test that takes no mail fixture) fails the run's verdict too, as it fails the exit status."""
    counts = counts_of(results)
    result = verdict(counts)
    if testsfailed > counts["failed"] + counts["error"]:
        result = "FAIL"
    return result, counts


def by_domain(results: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Domain -> its results ("" for a user's test that belongs to no single domain), in order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        out[r["domain"]].append(r)
    return out


#: the words of every SMTP check's error when no SMTP server took a connection (said once, above)
BLOCKED = "looks blocked from here"


def write_summary(
    tr: Any, results: list[dict[str, Any]], settings: Settings, unreachable: str | None = None,
    smtp_blocked: str | None = None,
) -> None:  # fmt: skip
    """One verdict line per domain and what needs attention; when nothing could be reached at all
    (``unreachable``: every resolver, say), or no SMTP server (``smtp_blocked``: outbound port 25 is
    blocked here), that is said once instead of per check."""
    tr.write_sep("=", "mailspec summary")
    if unreachable is not None:
        tr.write_line(f"mailspec: nothing could be tested: {unreachable}", red=True, bold=True)
    if smtp_blocked is not None:
        tr.write_line(f"mailspec: no SMTP check could be tested: {smtp_blocked}", red=True, bold=True)
    for domain_of_rows, rows in _by_domain_or_host(results).items():
        domain = domain_of_rows or "(your tests of no single domain)"
        counts = counts_of(rows)
        parts = ", ".join(f"{counts[o]} {o}" for o in _ORDER if counts[o])
        result = verdict(counts)
        tr.write_line(
            f"{domain}: {result} ({parts})",
            bold=True,
            red=result == "FAIL",
            yellow=result not in {"FAIL", "PASS"},
            green=result == "PASS",
        )
        # grouped by area; within an area one line per distinct finding, so that a timeout that
        # stops ten checks is said once
        by_area: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
        hide = {"error"} if unreachable is not None else set()  # (said once, above)
        shown = sorted(
            (
                r
                for r in rows
                if r["outcome"] in _SHOWN
                and r["outcome"] not in hide
                and not (smtp_blocked and r["outcome"] == "error" and BLOCKED in (r["message"] or ""))
            ),
            key=lambda r: _ORDER.index(r["outcome"]),
        )
        for r in shown:
            subject = f" [{r['subject']}]" if r["subject"] and r["subject"] != domain else ""
            text = r["message"] or r["title"]
            first = text.splitlines()[0] if text else ""
            area = r["check"].split(".", 1)[0] if r["check"] else "your tests"
            name = r["check"] or r["title"]  # (a test of the user's own: its name)
            by_area[area][(r["outcome"], first)].append(f"{name}{subject}")
        for area in sorted(by_area):
            tr.write_line(f"  {area}:")
            for (result, first), checks in by_area[area].items():
                who = (
                    checks[0] if len(checks) == 1 else f"{len(checks)} checks ({', '.join(checks[:3])}, ...)"
                )
                tr.write_line(f"    {result.upper():7} {who}: {first}")
    for line in both_sides(results):
        tr.write_line(line, bold=True)


def _by_domain_or_host(results: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """As :func:`by_domain`, with the host checks of no domain under their host (``host local``)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        host = r.get("host") or ""
        out[r["domain"] or (f"host {host}" if host else "")].append(r)
    return out


def _said(rows: list[dict[str, Any]]) -> str:
    counts = counts_of(rows)
    parts = ", ".join(f"{counts[o]} {o}" for o in _ORDER if counts[o])
    return f"{verdict(counts)} ({parts})"


def both_sides(results: list[dict[str, Any]]) -> list[str]:
    """One verdict from both sides: per MX host that a testinfra host is (an MX address among the
    host's own, or its MTA host name), what the outside checks said of it beside what the host
    checks said inside it: ``mailspec: mx1.example.com  outside: PASS (...)  inside local: FAIL (...)``."""
    hosts: dict[tuple[str, str], set[str]] = defaultdict(set)  # (domain, MX host) -> testinfra hosts
    for r in results:
        for mx in r.get("mx") or ():
            hosts[(r["domain"], mx)].add(r["host"])
    lines = []
    for (domain, mx), inside in sorted(hosts.items()):
        outside = [
            r for r in results
            if r["domain"] == domain and not r.get("host") and (r["subject"] or "").split("@")[0] == mx
        ]  # fmt: skip
        text = f"mailspec: {mx}  outside: {_said(outside) if outside else 'not checked'}"
        for host in sorted(inside):
            text += f"  inside {host}: {_said([r for r in results if r.get('host') == host])}"
        lines.append(text)
    return lines


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
    if idle := no_effect(s):
        lines.append(
            "mailspec: no effect in this release (their checks arrive in a later one): " + ", ".join(idle)
        )
    if s.waivers:
        lines.append(f"mailspec: {len(s.waivers)} waiver(s): " + "; ".join(str(w) for w in s.waivers[:3]))
    return lines


def no_effect(s: Settings) -> list[str]:
    """The given options that no check of this release reads (accepted and validated, so that
    scripts written against the contract work, but not in force)."""
    given: list[tuple[str, bool]] = []  # (every option has its checks in this release)
    return [flag for flag, on in given if on]


def checks_listing() -> list[str]:
    """``pytest --mail-checks``: every check of the catalog, by area, with its severity, the probe
    level it needs, its title and its citations; those this release does not run yet are marked."""
    import importlib
    import pkgutil

    import mailspec.checks
    import mailspec.hostchecks
    from mailspec.catalog import CATALOG, function_name

    names = {function_name(i): i for i in CATALOG}
    found: dict[str, set[str]] = {}
    for package in (mailspec.checks, mailspec.hostchecks):
        shipped_here = found.setdefault(package.__name__, set())
        for mod in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{mod.name}")
            # (a host-check module imports testinfra's nothing at import time: no testinfra needed)
            shipped_here.update(names[n] for n in getattr(module, "__all__", dir(module)) if n in names)
    outside, inside = found["mailspec.checks"], found["mailspec.hostchecks"]
    shipped = outside | inside
    lines = [
        f"mailspec checks: {len(CATALOG)} in the catalog, {len(outside)} run by this release from outside, "
        f"{len(inside)} inside the mail host (testinfra: pytest --pyargs mailspec.hostchecks --hosts=...)",
        "",
    ]
    section = None
    width = max(len(i) for i in CATALOG)
    for entry in CATALOG.values():
        if entry.section != section:
            section = entry.section
            lines += ([""] if len(lines) > 2 else []) + [section]
        sev = f"{entry.severity}{'†' if entry.demoted else ''}{' (policy)' if entry.policy else ''}"
        later = "" if entry.id in shipped else "  [a later release]"
        lines.append(f"  {entry.id:{width}}  {sev:15} {entry.probe:9} {entry.title}{later}")
        lines.append(f"  {'':{width}}  cites: {'; '.join(entry.refs)}")
    lines += [
        "",
        "severity: must/should/may († reported as a warning; policy: must under --mail-profile=bulk)",
    ]
    lines.append(
        "probe: the --mail-probe level a check needs (dns, connect, envelope, intrusive; host: testinfra)"
    )
    return lines
