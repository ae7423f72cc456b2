"""Pytest fixtures of the embedded lab (mailspec's plugin offers them, importing this module lazily).

The generators :func:`session_lab` and :func:`lab_factory` do the work, so that a suite without
mailspec's plugin can load this module as a plugin of its own (``-p mailspec.testing.fixtures``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import pytest

from .lab import Lab, select_scenarios
from .scenario import Scenario

__all__ = ["LabFactory", "lab_factory", "mailspec_lab", "make_mailspec_lab", "session_lab"]


class LabFactory(Protocol):
    def __call__(
        self, scenarios: Iterable[str | Scenario] | None = None, *, latency: float = 0.0, mtas: bool = True
    ) -> Lab: ...


def session_lab() -> Iterator[Lab]:
    """A started lab of every packaged scenario, stopped when the generator ends."""
    with Lab() as lab:
        yield lab


def lab_factory() -> Iterator[LabFactory]:
    """A factory of started labs, each stopped when the generator ends."""
    labs: list[Lab] = []

    def make(
        scenarios: Iterable[str | Scenario] | None = None, *, latency: float = 0.0, mtas: bool = True
    ) -> Lab:
        chosen: list[Scenario] | None = None
        if scenarios is not None:
            items = list(scenarios)
            names = [s for s in items if isinstance(s, str)]
            chosen = [s for s in items if isinstance(s, Scenario)]
            if names:
                chosen += select_scenarios(names)
        lab = Lab(chosen, latency=latency, mtas=mtas)
        labs.append(lab)
        return lab.start()

    try:
        yield make
    finally:
        for lab in reversed(labs):
            lab.stop()


@pytest.fixture(scope="session")
def mailspec_lab() -> Iterator[Lab]:
    """A started lab of every packaged scenario, shared by the whole session."""
    yield from session_lab()


@pytest.fixture
def make_mailspec_lab() -> Iterator[LabFactory]:
    """A factory of started labs, each stopped when the test ends."""
    yield from lab_factory()
