"""Import directions that must never exist, kept by a test (DESIGN.md's layout).

A check never imports the survey; records never import the survey, facts or pytest; the survey never
imports pytest, the plugin or the checks; the lab (``mailspec.testing``) never imports the survey or
the records; nothing imports ``_pytest``. "Imports" is transitive over module-level imports (what
loading the module loads); an import inside a function body is lazy and counts only for the module
itself (the plugin imports the lab that way, so that the lab's server libraries load only when used).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "mailspec"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if MODULES[module].name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def imports(module: str, *, lazy: bool) -> frozenset[str]:
    """The modules ``module`` imports: at module level, or (``lazy``) anywhere in it."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if lazy else _module_level(tree)
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return frozenset(out)


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """Statements that run when the module loads (not in functions; not under TYPE_CHECKING)."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _with_packages(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@cache
def loads(module: str) -> frozenset[str]:
    """Everything loading ``module`` loads (its packages' __init__ included), transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        m = todo.pop()
        for name in imports(m, lazy=False) | {p for p in _with_packages(m) if p != m}:
            for n in _with_packages(name):
                if n not in seen:
                    seen.add(n)
                    if n in MODULES:
                        todo.append(n)
    return frozenset(seen)


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


RULES = [
    ("mailspec.checks", ("mailspec.survey",)),
    # the host checks read the host through their fixtures: no survey, and testinfra only through them
    ("mailspec.hostchecks", ("mailspec.survey", "testinfra")),
    ("mailspec.hostside", ("pytest", "mailspec.survey", "testinfra")),
    ("mailspec.records", ("mailspec.survey", "mailspec.facts", "pytest")),
    ("mailspec.survey", ("pytest", "mailspec.plugin", "mailspec.checks")),
    ("mailspec.testing", ("mailspec.survey", "mailspec.records")),
    ("mailspec", ("_pytest",)),
]


#: (package, module) pairs exempt from that package's rule, each with its reason
EXEMPT = {
    # the SPF suite runner drives mailspec's own evaluator (survey, records) through the official
    # RFC 7208 suite's zone data: a client of the survey shipped beside the lab, not part of it (it
    # imports the survey lazily, and no lab module imports it)
    ("mailspec.testing", "mailspec.testing.spf_suite"),
}


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_forbidden_import_directions(package: str, forbidden: tuple[str, ...]) -> None:
    bad = {
        f"{m} loads {n}"
        for m in MODULES
        if _in(m, package) and (package, m) not in EXEMPT
        for n in loads(m) | imports(m, lazy=True)
        if any(_in(n, f) for f in forbidden)
    }
    assert not bad, sorted(bad)


def test_the_plugin_loads_the_lab_only_when_it_is_used() -> None:
    assert not any(_in(n, "mailspec.testing") for n in loads("mailspec.plugin"))
    loaded = [m for m in loads("mailspec.plugin") | {"mailspec.plugin"} if m in MODULES]
    assert any(_in(n, "mailspec.testing") for m in loaded for n in imports(m, lazy=True))


def test_the_plugin_runs_without_testinfra() -> None:
    # testinfra is an optional dependency (the host extra): nothing the plugin loads imports it
    assert not any(_in(n, "testinfra") for n in loads("mailspec.plugin"))
    assert not any(
        _in(n, "testinfra") for m in loads("mailspec.plugin") if m in MODULES for n in imports(m, lazy=True)
    )


def test_the_rules_see_real_imports() -> None:
    # the test itself must not be vacuous: known imports are seen
    assert "mailspec.facts.dns" in loads("mailspec.checks.test_dns")
    assert "pytest" in loads("mailspec.plugin")
    assert "dns.asyncresolver" in loads("mailspec.survey")
