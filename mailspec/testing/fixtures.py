"""Pytest fixtures of the embedded lab (a plugin module; mailspec's plugin loads it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import pytest

from .lab import Lab, select_scenarios
from .scenario import Scenario

__all__ = ["LabFactory", "mailspec_lab", "make_mailspec_lab"]


class LabFactory(Protocol):
    def __call__(self, scenarios: Iterable[str | Scenario] | None = None, *, latency: float = 0.0) -> Lab: ...


@pytest.fixture(scope="session")
def mailspec_lab() -> Iterator[Lab]:
    """A started lab of every packaged scenario, shared by the whole session.

    Point a resolver at ``mailspec_lab.resolver`` (``127.0.0.153:PORT``); the scenarios' domains are
    ``mailspec_lab.domains`` and their waivers ``mailspec_lab.waivers``. Stopped at session end.
    """
    with Lab() as lab:
        yield lab


@pytest.fixture
def make_mailspec_lab() -> Iterator[LabFactory]:
    """A factory of started labs, each stopped when the test ends.

    ``make_mailspec_lab(["good", "mx-cname"], latency=0.05)`` takes packaged scenario names (file
    stem or domain; ``"all"``) or :class:`~mailspec.testing.Scenario` objects; no argument means
    every packaged scenario. ``latency`` (seconds) delays every DNS answer.
    """
    labs: list[Lab] = []

    def make(scenarios: Iterable[str | Scenario] | None = None, *, latency: float = 0.0) -> Lab:
        chosen: list[Scenario] | None = None
        if scenarios is not None:
            items = list(scenarios)
            names = [s for s in items if isinstance(s, str)]
            chosen = [s for s in items if isinstance(s, Scenario)]
            if names:
                chosen += select_scenarios(names)
        lab = Lab(chosen, latency=latency)
        labs.append(lab)
        return lab.start()

    try:
        yield make
    finally:
        for lab in reversed(labs):
            lab.stop()
