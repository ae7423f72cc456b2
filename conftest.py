"""Root of mailspec's self-tests (not shipped).

pytester is enabled with ``-p pytester`` in pyproject's addopts rather than ``pytest_plugins`` here:
the editable install puts the shipped checks below this folder, and pytester runs that collect them
from another rootdir load this file as a non-root conftest, where ``pytest_plugins`` is refused.
"""

from __future__ import annotations

import pytest

try:  # a dev dependency: a checkout installed without the dev extras runs the shipped checks below here
    from hypothesis import HealthCheck, settings
except ImportError:
    pass
else:
    # no verdict may depend on how fast this (shared, noisy) machine is: hypothesis' per-example
    # deadline and its too-slow health check would make property tests fail under load
    settings.register_profile("mailspec", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("mailspec")


@pytest.fixture(autouse=True)
def _settled_inner_runs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytester's runs have no ini file of ours: give pytest-asyncio (a dev dependency) the loop scope
    # it otherwise reminds every run about
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts: set it after
        monkeypatch.setenv("PYTEST_ADDOPTS", "-o asyncio_default_fixture_loop_scope=function")
