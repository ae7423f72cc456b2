"""The catalog and the code stay in step: every shipped check is well described, and ids are unique."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import pkgutil
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import mailspec.checks
import mailspec.hostchecks
from mailspec.catalog import (
    CATALOG,
    CatalogEntry,
    CheckInfo,
    Severity,
    check_info,
    function_name,
    nearest_ids,
)

CATALOG_MD = Path(__file__).resolve().parents[3] / "shared" / "CATALOG.md"
SYNC_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sync_catalog.py"
CATALOG_JSON = Path(mailspec.__file__).resolve().parent / "catalog.json"


def shipped_checks() -> list[tuple[str, Any, CheckInfo]]:
    out = []
    # the checks from outside, and the host checks (testinfra) from inside the mail host
    packages = [
        (p.__name__, mod)
        for p in (mailspec.checks, mailspec.hostchecks)
        for mod in pkgutil.iter_modules(p.__path__)
    ]
    for package, mod in packages:
        module = importlib.import_module(f"{package}.{mod.name}")
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or func.__module__ != module.__name__:
                continue
            marks = [m for m in getattr(func, "pytestmark", []) if m.name == "mailspec"]
            assert len(marks) == 1, f"{module.__name__}.{name} has no (or several) mailspec markers"
            info = check_info(marks[0].kwargs)
            assert info is not None
            out.append((module.__name__, func, info))
    return out


CHECKS = shipped_checks()


def test_checks_exist() -> None:
    assert len(CHECKS) >= 23


def test_every_host_id_of_the_catalog_is_a_host_check() -> None:
    host = {info.id for module, _, info in CHECKS if module.startswith("mailspec.hostchecks.")}
    assert host == {i for i, e in CATALOG.items() if e.probe == "host"}


def test_no_id_twice() -> None:
    counts = Counter(info.id for _, _, info in CHECKS)
    assert [i for i, n in counts.items() if n > 1] == []


@pytest.mark.parametrize(("module", "func", "info"), CHECKS, ids=[c[2].id for c in CHECKS])
def test_check_is_described(module: str, func: Any, info: CheckInfo) -> None:
    assert info.id in CATALOG
    assert func.__name__ == function_name(info.id)
    assert info.severity == CATALOG[info.id].severity
    assert info.title == CATALOG[info.id].title, "catalog.json holds the docstring's title"
    assert info.refs, "a check cites its sources"
    assert all(
        re.match(
            r"(RFC \d+|Zonemaster|IANA|Google|Yahoo|Spamhaus|SpamAssassin|checkdmarc|Postfix|seed \([a-k]\))",
            r,
        )
        for r in info.refs
    )
    assert info.title.endswith("."), "the docstring's first sentence is the title"
    assert len(info.title.split(". ")) == 1, "the title is one sentence"
    assert info.remediation, "a check says how to fix a violation"
    assert func.__name__ in importlib.import_module(module).__all__, "exported for `import *` embedding"


@pytest.mark.skipif(not CATALOG_MD.is_file(), reason="the shared CATALOG.md is not beside this checkout")
def test_catalog_matches_the_shared_catalog() -> None:
    text = CATALOG_MD.read_text(encoding="utf-8")
    documented = {}
    for line in text.splitlines():
        m = re.match(r"\| ([a-z0-9]+\.[a-z0-9.\-]+) \| [^|]* \| ([^|]+) \|", line)
        if m:
            documented[m.group(1)] = m.group(2).strip()
    assert set(documented) == set(CATALOG)
    for check_id, sev in documented.items():
        assert sev.split()[0].rstrip("†") == str(CATALOG[check_id].severity), check_id
        assert CATALOG[check_id].demoted == sev.endswith("†"), check_id


@pytest.mark.skipif(not CATALOG_MD.is_file(), reason="the shared CATALOG.md is not beside this checkout")
@pytest.mark.skipif(not SYNC_SCRIPT.is_file(), reason="scripts/sync_catalog.py is not in this tree")
def test_catalog_json_is_generated_from_the_shared_catalog() -> None:
    """catalog.json is what `python scripts/sync_catalog.py CATALOG.md` writes (titles aside)."""
    spec = importlib.util.spec_from_file_location("sync_catalog", SYNC_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    expected = sync.parse_catalog(CATALOG_MD.read_text(encoding="utf-8"))
    shipped = json.loads(CATALOG_JSON.read_text(encoding="utf-8"))
    assert [{k: v for k, v in e.items() if k != "title"} for e in shipped] == expected
    # the file's own layout too: re-running the script would not change a byte
    titles = {e["id"]: e["title"] for e in shipped}
    assert sync.render(sync.with_titles(expected, titles)) == CATALOG_JSON.read_text(encoding="utf-8")


@pytest.mark.parametrize("entry", CATALOG.values(), ids=list(CATALOG))
def test_catalog_entry_is_complete(entry: CatalogEntry) -> None:
    assert entry.title, "every id has a title (written by hand in catalog.json)"
    assert entry.title.endswith("."), "the title is a sentence"
    assert len(entry.title.split(". ")) == 1, "the title is one sentence"
    assert entry.refs, "every id cites its sources"
    assert all(entry.refs)
    assert entry.probe in {"dns", "connect", "envelope", "intrusive", "host"}
    assert entry.severity in {Severity.MUST, Severity.SHOULD, Severity.MAY}
    assert entry.section
    assert entry.seed


def test_nearest_ids() -> None:
    assert nearest_ids("mx.no-cnam")[0] == "mx.no-cname"
    assert nearest_ids("spf.lookup-limt")[0] == "spf.lookup-limit"
    assert nearest_ids("mx.no-cname")[0] == "mx.no-cname"
    assert len(nearest_ids("mx.no-cnam", n=2)) <= 2
    assert isinstance(nearest_ids("qwertyuiop zxcv"), list)
    assert all(i in CATALOG for i in nearest_ids("qwertyuiop zxcv"))
