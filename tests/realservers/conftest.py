"""Fixtures of the real-server tier: the lab's scenarios played by NSD and Unbound on loopback.

Without the Debian packages (``nsd``, ``unbound``) these tests skip, except in CI (``CI=true``),
where a missing server is a failure: a broken install must not look like a green build.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Generator, Iterator
from typing import NoReturn

import pytest

from mailspec.testing.scenario import Scenario
from mailspec.testing.zones import RESOLVER_IP

from .servers import APT_PACKAGES, RealLab, ServerError, lab_scenarios, missing_programs, playable

LAB = pytest.StashKey[RealLab]()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI, where the tier is required."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the real-server tier must run in CI)", pytrace=False)
    pytest.skip(reason)


def _loopback_usable() -> str | None:
    """Why the lab's addresses cannot be bound here (e.g. only 127.0.0.1 exists), or ``None``."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((RESOLVER_IP, 0))
    except OSError as exc:
        why = exc.strerror or exc
        return f"cannot bind the lab address {RESOLVER_IP} ({why}); the lab needs all of 127.0.0.0/8 on lo"
    return None


@pytest.fixture(scope="session")
def real_lab(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealLab]:
    """Every lab scenario real servers can play, served by NSD and Unbound on one free port.

    ``real_lab.resolver`` is ``127.0.0.153:PORT`` (for ``--mail-resolver``), ``real_lab.dns_port`` the
    port of every name server (``--mail-dns-port``), ``real_lab.scenarios`` the scenarios played and
    ``real_lab.skipped`` the others with the reason. Configurations, zone files and server logs stay in
    ``real_lab.workdir``.
    """
    missing = missing_programs()
    if missing:
        unavailable(
            f"the real-server tier needs {', '.join(missing)}: apt-get install {' '.join(APT_PACKAGES)}"
        )
    why = _loopback_usable()
    if why:
        unavailable(why)
    workdir = tmp_path_factory.mktemp("realservers")
    try:
        scenarios, skipped = playable(lab_scenarios(), workdir)
        lab = RealLab(scenarios, workdir, skipped=skipped)
        lab.start()
    except ServerError as exc:
        pytest.fail(f"the real servers did not start:\n{exc}", pytrace=False)
    pytestconfig.stash[LAB] = lab
    try:
        yield lab
    finally:
        lab.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under xdist, --dist loadgroup keeps this tier on one worker: one set of servers, one survey.
    if config.pluginmanager.hasplugin("xdist"):
        here = os.path.dirname(__file__)
        for item in items:
            if str(item.path).startswith(here + os.sep):
                item.add_marker(pytest.mark.xdist_group("realservers"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, object]:
    report = yield
    # The servers' logs beside a failure, so that a server problem is not mistaken for a survey bug.
    if isinstance(report, pytest.TestReport) and report.failed and report.when == "call":
        lab = item.config.stash.get(LAB, None)
        callspec = getattr(item, "callspec", None)
        scenario = callspec.params.get("scenario") if callspec is not None else None
        if lab is not None:
            logs = lab.logs(scenario=scenario if isinstance(scenario, Scenario) else None)
            report.sections.append(("real servers' logs", logs))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lab = config.stash.get(LAB, None)
    if lab is None:
        return
    played = f"{len(lab.scenarios)} scenario(s) played, {len(lab.skipped)} skipped"
    servers = ", ".join(f"{n} {kind}" for kind, n in sorted(lab.inventory.items()))
    times = ", ".join(f"{what} in {seconds:.2f} s" for what, seconds in lab.timings)
    terminalreporter.write_sep("-", "mailspec real servers")
    terminalreporter.write_line(f"realservers: {played} on port {lab.dns_port} ({servers}); {times}")
    terminalreporter.write_line(f"realservers: configurations and logs in {lab.workdir}")
