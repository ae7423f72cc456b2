"""Exim's own configuration text, parsed: ``exim -bP`` output and ``exim -bt`` routing. Pure: no I/O."""

from __future__ import annotations

__all__ = ["exim_bool", "parse_bp", "parse_bt"]


def parse_bp(text: str) -> dict[str, str]:
    """``exim -bP`` lines as a dict: ``name = value``, and the booleans Exim prints bare
    (``smtp_enforce_sync`` is true, ``no_smtp_enforce_sync`` false)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            out[name.strip()] = value.strip()
        elif " " not in line:
            if line.startswith("no_"):
                out[line[3:]] = "false"
            else:
                out[line] = "true"
    return out


def exim_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1")


def parse_bt(text: str, status: int) -> tuple[bool, str]:
    """Whether ``exim -bt ADDRESS`` routed the address (status 0, no "is undeliverable"), and the
    first line that says where it goes or why not."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    bad = next((line for line in lines if "undeliverable" in line or "Unrouteable" in line), "")
    routed = status == 0 and not bad
    shown = bad or next((line for line in lines if "router =" in line or "<--" in line), "")
    return routed, shown or (lines[0] if lines else "")
