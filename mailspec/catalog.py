"""The check catalog: stable ids, default severities, and the ``mailspec`` marker that carries them.

``CATALOG`` mirrors CATALOG.md (every id, implemented or not, so that a waiver written for a check of
a later release is accepted today). It is read from ``catalog.json`` beside this module, which
``scripts/sync_catalog.py`` writes from CATALOG.md (the titles in it are written by hand). A shipped
check names its id with :func:`check`; the severity comes from here, so that one place decides it.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

__all__ = [
    "CATALOG",
    "CatalogEntry",
    "CheckInfo",
    "Severity",
    "check",
    "check_info",
    "function_name",
    "nearest_ids",
]

F = TypeVar("F", bound=Callable[..., Any])


class Severity(enum.IntEnum):
    """How strongly the cited text asks for a practice (RFC 2119 words)."""

    MAY = 1
    SHOULD = 2
    MUST = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.strip().upper()]


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    severity: Severity
    #: a mailbox provider's published requirement: promoted to must under --mail-profile=bulk
    policy: bool = False
    #: "must†": the RFC says MUST, but the rule is widely and knowingly violated: reported as a warning
    demoted: bool = False
    #: the practice as it holds, one sentence (a shipped check's docstring title)
    title: str = ""
    #: the citations, each starting with its source ("RFC 2181 §10.3", "Zonemaster ZONE08")
    refs: tuple[str, ...] = ()
    #: the lowest --mail-probe level the check needs: dns, connect, envelope, intrusive, or host (testinfra)
    probe: str = "dns"
    #: the CATALOG.md section the id is listed in ("DNS health")
    section: str = ""
    #: the founding page's practice, (a)-(k), or "beyond"
    seed: str = ""

    def effective(self, profile: str) -> Severity:
        if profile == "bulk" and self.policy:
            return Severity.MUST
        return self.severity


#: the probe levels a catalog entry may need (the --mail-probe levels, and testinfra's host checks)
_PROBES = ("dns", "connect", "envelope", "intrusive", "host")


def _load(text: str) -> dict[str, CatalogEntry]:
    """The entries of catalog.json (written by scripts/sync_catalog.py from CATALOG.md), by id."""
    entries: dict[str, CatalogEntry] = {}
    for item in json.loads(text):
        entry = CatalogEntry(
            id=str(item["id"]),
            severity=Severity.parse(str(item["severity"])),
            policy=bool(item["policy"]),
            demoted=bool(item["demoted"]),
            title=str(item["title"]),
            refs=tuple(str(r) for r in item["refs"]),
            probe=str(item["probe"]),
            section=str(item["section"]),
            seed=str(item["seed"]),
        )
        if entry.id in entries:
            raise ValueError(f"catalog.json lists {entry.id} twice")
        if entry.probe not in _PROBES:
            raise ValueError(f"catalog.json: {entry.id} has probe {entry.probe!r}, not one of {_PROBES}")
        entries[entry.id] = entry
    return entries


CATALOG: dict[str, CatalogEntry] = _load(
    resources.files("mailspec").joinpath("catalog.json").read_text(encoding="utf-8")
)


#: how similar (difflib's ratio) an id must be to count as a suggestion
_CUTOFF = 0.6


def nearest_ids(text: str, n: int = 3) -> list[str]:
    """The catalog ids closest to a mistyped one (``mx.no-cnam`` -> ``mx.no-cname`` first), best first.

    Ids of the same area (the part before the first dot: ``mx``, ``spf``) come before the others when
    the text names an area of the catalog. Empty when nothing is close.
    """
    wanted = text.strip().lower()
    area = wanted.split(".", 1)[0]
    same = [i for i in CATALOG if i.split(".", 1)[0] == area]
    others = [i for i in CATALOG if i.split(".", 1)[0] != area]
    out = difflib.get_close_matches(wanted, same, n, _CUTOFF) if same else []
    out += [i for i in difflib.get_close_matches(wanted, others, n, _CUTOFF) if i not in out]
    return out[:n]


@dataclass(frozen=True)
class CheckInfo:
    """What a shipped check declares: its id, severity, references, title (docstring) and fix."""

    id: str
    severity: Severity
    refs: tuple[str, ...]
    title: str
    remediation: str
    policy: bool = False
    demoted: bool = False

    def effective(self, profile: str) -> Severity:
        return CatalogEntry(self.id, self.severity, self.policy, self.demoted).effective(profile)


def function_name(check_id: str) -> str:
    """The test function named after an id: ``mx.no-cname`` -> ``test_mx_no_cname``."""
    return "test_" + check_id.replace(".", "_").replace("-", "_")


#: the areas of the catalog (``mx``, ``spf``, ...): a check of one's own needs an area of its own
AREAS = frozenset(i.split(".", 1)[0] for i in CATALOG)
_CUSTOM_ID = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+")


def custom_id_problem(check_id: str) -> str | None:
    """Why ``check_id`` cannot name a check of the user's own, if it cannot (None: it can)."""
    if not _CUSTOM_ID.fullmatch(check_id):
        return "expected lower-case dotted words, such as acme.mx.ours"
    if check_id.split(".", 1)[0] in AREAS:
        near = ", ".join(nearest_ids(check_id)) or "none close"
        return (
            f"its area {check_id.split('.', 1)[0]!r} is mailspec's, and no check of that area has this id "
            f"(nearest: {near}); a check of your own takes an area of its own, such as acme.{check_id}"
        )
    return None


def _severity(check_id: str, value: str | Severity) -> Severity:
    if isinstance(value, Severity):
        return value
    try:
        return Severity.parse(value)
    except KeyError:
        raise ValueError(
            f"mailspec check {check_id!r}: severity {value!r}: expected must, should or may"
        ) from None


def check(
    check_id: str, *, refs: Sequence[str], fix: str = "", severity: str | Severity | None = None
) -> Callable[[F], F]:
    """Mark a test function as the mailspec check ``check_id``.

    A catalog id takes its severity from the catalog. Any other id is a check of the user's own
    (``acme.mx.ours``: an area that is not mailspec's) and names its ``severity`` (must, should or
    may); it is reported like a shipped check: its outcome follows ``--mail-fail-on``, it can be
    waived by its id, and the JSON report and JUnit show its id, severity, title (the docstring's
    first sentence), references and fix.
    """
    import pytest

    entry = CATALOG.get(check_id)
    if entry is None:
        if (why := custom_id_problem(check_id)) is not None:
            raise ValueError(f"mailspec check id {check_id!r}: {why}")
        if severity is None:
            raise ValueError(
                f"mailspec check id {check_id!r} is not in mailspec's catalog: a check of your own names "
                "its severity (severity='must', 'should' or 'may')"
            )
        entry = CatalogEntry(check_id, _severity(check_id, severity))
    elif severity is not None and _severity(check_id, severity) != entry.severity:
        raise ValueError(
            f"mailspec check {check_id!r} is a catalog check of severity {entry.severity}: its severity is "
            "the catalog's (waive it, or set --mail-fail-on, instead)"
        )
    resolved = entry

    def wrap(func: F) -> F:
        doc = (func.__doc__ or "").strip()
        info = CheckInfo(
            id=check_id,
            severity=resolved.severity,
            refs=tuple(refs),
            title=doc.split("\n\n", 1)[0].replace("\n", " ").strip(),
            remediation=fix,
            policy=resolved.policy,
            demoted=resolved.demoted,
        )
        marked: F = pytest.mark.mailspec(
            check_id, severity=str(resolved.severity), refs=tuple(refs), info=info
        )(func)
        return marked

    return wrap


def check_info(marker_kwargs: Mapping[str, Any]) -> CheckInfo | None:
    info = marker_kwargs.get("info")
    return info if isinstance(info, CheckInfo) else None
