"""Fixtures of the real-server tier: the lab's scenarios played by NSD, Unbound and Postfix on loopback.

Without the Debian packages (``nsd``, ``unbound``, ``postfix``) these tests skip, except in CI
(``CI=true``), where a missing server is a failure: a broken install must not look like a green build.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

import pytest

from mailspec.testing.lab import LabError, select_scenarios
from mailspec.testing.scenario import Scenario, check_together
from mailspec.testing.zones import RESOLVER_IP

from .servers import APT_PACKAGES, RealLab, ServerError, lab_scenarios, missing_programs, playable

if TYPE_CHECKING:
    from .postfix import PostfixLab

LAB = pytest.StashKey[RealLab]()
#: every Postfix lab started in this session, for the terminal summary
POSTFIX_LABS = pytest.StashKey[list["PostfixLab"]]()


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


def _postfix_module() -> None:
    """Skip (fail in CI) unless Postfix and the lab interfaces the Postfix tier is built on are there."""
    try:
        from . import postfix
    except ImportError as exc:  # the SMTP side of mailspec.testing (MtaSpec, LabCA) is missing
        unavailable(f"the Postfix tier cannot import what it needs from mailspec.testing: {exc}")
    missing = postfix.missing_postfix()
    if missing:
        packages = " ".join(postfix.APT_PACKAGES)
        unavailable(
            f"the Postfix tier needs {', '.join(missing)}: DEBIAN_FRONTEND=noninteractive "
            f"apt-get install --no-install-recommends {packages} (debconf: postfix/main_mailer_type "
            "'No configuration', so that no system MTA is set up)"
        )
    why = _loopback_usable()
    if why:
        unavailable(why)


@pytest.fixture(scope="session")
def postfix_installed() -> None:
    """Postfix and what the Postfix tier needs are there (else skip; fail in CI)."""
    _postfix_module()


@pytest.fixture(scope="module")
def postfix_scenarios() -> Sequence[Scenario | str]:
    """The scenarios ``postfix_lab`` plays: override it in a test module (packaged scenarios by name or
    domain, or :class:`Scenario` values, e.g. from ``parse_scenario``). Default: every packaged
    scenario with an MTA of ``kind = "postfix"``."""
    return [sc for sc in lab_scenarios() if any(mta.kind == "postfix" for mta in sc.mtas)]


@pytest.fixture(scope="module")
def postfix_lab(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    postfix_scenarios: Sequence[Scenario | str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PostfixLab]:
    """The scenarios of ``postfix_scenarios`` (or of an indirect parameter: a list of them) with their DNS
    from the embedded lab and every ``kind = "postfix"`` MTA played by a real Postfix.

    ``postfix_lab.resolver`` / ``.dns_port`` / ``.smtp_port`` / ``.ca_path`` / ``.domains`` say where the
    lab is (``.mailspec_args()`` as mailspec's options), ``.instances`` are the Postfix instances (each
    on ``MTA-IP:smtp_port``; ``.instance("mx1.good.test")`` finds one), ``.unplayed`` / ``.skipped``
    the MTAs and scenarios Postfix cannot play, and ``.messages()`` how many messages Postfix ever
    received (a probe that never sends DATA keeps it at 0). Every instance is stopped at teardown.
    """
    _postfix_module()
    from .postfix import PostfixLab

    wanted = getattr(request, "param", postfix_scenarios)
    try:
        names = [w for w in wanted if isinstance(w, str)]
        scenarios = [w for w in wanted if isinstance(w, Scenario)]
        scenarios = (select_scenarios(names) if names else []) + scenarios
        check_together(scenarios)
    except (LabError, ValueError) as exc:
        pytest.fail(f"postfix_lab: {exc}", pytrace=False)
    lab = PostfixLab(scenarios, tmp_path_factory.mktemp("postfix"))
    try:
        lab.start()
    except (ServerError, LabError, OSError) as exc:
        pytest.fail(f"the Postfix lab did not start:\n{exc}", pytrace=False)
    pytestconfig.stash.setdefault(POSTFIX_LABS, []).append(lab)
    try:
        yield lab
    finally:
        lab.stop()
    # The tier's safety net, whatever the module's tests were: no probe may ever have sent a message.
    received = {name: n for name, n in lab.messages_by_instance().items() if n}
    if received:
        pytest.fail(f"messages reached Postfix (DATA or BDAT was sent): {received}", pytrace=False)


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
        funcargs = getattr(item, "funcargs", {})
        if lab is not None and "real_lab" in funcargs:
            logs = lab.logs(scenario=scenario if isinstance(scenario, Scenario) else None)
            report.sections.append(("real servers' logs", logs))
        postfix_lab = funcargs.get("postfix_lab")
        if postfix_lab is not None:
            # A test about one MTA names its address in the "mta" parameter ("scenario/IP"); one about
            # a scenario gets the logs of that scenario's MTAs only.
            mta = callspec.params.get("mta") if callspec is not None else None
            ips = [str(mta).rpartition("/")[2]] if isinstance(mta, str) else None
            if ips is None and isinstance(scenario, Scenario):
                ips = [spec.ip for spec in scenario.mtas]
            report.sections.append(("Postfix logs", postfix_lab.logs(ips=ips)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    postfix_labs = config.stash.get(POSTFIX_LABS, [])
    if postfix_labs:
        from .postfix import postfix_version

        version = ".".join(map(str, postfix_version()))
        terminalreporter.write_sep("-", f"mailspec real servers: Postfix {version}")
        for pf in postfix_labs:
            times = ", ".join(f"{what} in {seconds:.2f} s" for what, seconds in pf.timings)
            terminalreporter.write_line(
                f"postfix: {len(pf.instances)} instance(s) for {len(pf.scenarios)} scenario(s) on port "
                f"{pf.smtp_port}, {len(pf.unplayed)} MTA(s) not played; {times}; in {pf.workdir}"
            )
    lab = config.stash.get(LAB, None)
    if lab is None:
        return
    played = f"{len(lab.scenarios)} scenario(s) played, {len(lab.skipped)} skipped"
    servers = ", ".join(f"{n} {kind}" for kind, n in sorted(lab.inventory.items()))
    times = ", ".join(f"{what} in {seconds:.2f} s" for what, seconds in lab.timings)
    terminalreporter.write_sep("-", "mailspec real servers")
    terminalreporter.write_line(f"realservers: {played} on port {lab.dns_port} ({servers}); {times}")
    terminalreporter.write_line(f"realservers: configurations and logs in {lab.workdir}")
