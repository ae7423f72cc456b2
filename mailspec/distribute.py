"""Under pytest-xdist (``-n``): the survey handed to the workers, every check of one mail domain on
one worker, and mailspec's result travelling with each report (a plugin module of its own: its hooks
are xdist's).

A worker fetches the facts its tests read when the first of them runs (the direct questions to the
name servers, and the SMTP sessions next); a domain whose checks were spread over two workers would
have its servers asked twice. xdist's own ``loadgroup`` keeps marked tests together, but it renames
every test (``...[example.com]@example.com``), which the contract's test ids, JUnit names and JSON
node ids must not show; so mailspec schedules by domain itself, through xdist's scheduler hook, with
the test ids untouched. Tests that take no mailspec subject are scheduled one by one, as ``load`` does.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Generator
from typing import Any

import pytest

from mailspec.session import WORKER_KEY, Handover, settings_of

__all__ = ["domain_of_nodeid", "make_scheduler"]

HANDED = pytest.StashKey[str]()


def domain_of_nodeid(nodeid: str, domains: Collection[str]) -> str | None:
    """The mail domain whose subject the test ``nodeid`` takes (its parameter id starts with it:
    ``example.com``, ``example.com-mx1.example.com``), or None. The longest such domain wins."""
    _, _, name = nodeid.partition("::")  # (a parameter may hold "::" itself: an IPv6 subject)
    if not name.endswith("]") or "[" not in name:
        return None
    param = name[name.index("[") + 1 : -1]
    if param in domains:
        return param
    cuts = [i for i, ch in enumerate(param) if ch == "-"]
    return next((param[:i] for i in reversed(cuts) if param[:i] in domains), None)


def make_scheduler(config: pytest.Config, log: Any, domains: Collection[str]) -> Any:
    """A load scheduler whose unit of work is a mail domain (xdist's LoadScopeScheduling, with the
    scope read from the test id instead of the module)."""
    from xdist.scheduler import LoadScopeScheduling

    domains = frozenset(domains)

    class DomainScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        def _split_scope(self, nodeid: str) -> str:
            domain = domain_of_nodeid(nodeid, domains)
            return nodeid if domain is None else f"mailspec-domain:{domain}"

    return DomainScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: the controller writes what parametrisation needs once, and each worker reads it."""
    config: pytest.Config = node.config
    if settings_of(config).active:
        if HANDED not in config.stash:
            config.stash[HANDED] = json.dumps(Handover.write(config))
        node.workerinput[WORKER_KEY] = config.stash[HANDED]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """(xdist ``load``, what ``-n`` means) each domain's checks on one worker, test ids untouched."""
    if not settings_of(config).active or config.option.dist != "load":
        return None
    return make_scheduler(config, log, settings_of(config).domains)


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config: pytest.Config, report: Any) -> Generator[None, Any, Any]:
    data = yield
    if isinstance(data, dict) and hasattr(report, "mailspec"):
        data["mailspec"] = report.mailspec
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(config: pytest.Config, data: Any) -> Generator[None, Any, Any]:
    report = yield
    if isinstance(data, dict) and "mailspec" in data and report is not None:
        report.mailspec = data["mailspec"]
    return report
