"""The host checks need testinfra's ``host`` fixture: without pytest-testinfra (not installed, or
``-p no:pytest11.testinfra``), collecting them is a usage error that says so."""

from __future__ import annotations

import pytest

NEEDS_TESTINFRA = "mailspec's host checks need pytest-testinfra (pip install 'mailspec[host]')"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is not None and "mta_config" in info.names_closure and not info.name2fixturedefs.get("host"):
            raise pytest.UsageError(NEEDS_TESTINFRA)
