"""The pytest glue: hooks only. Settings, survey, facts, subjects, fixtures and the outcome policy live
in their own modules; this one connects them to pytest.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mailspec import outcome
from mailspec.errors import SettingError
from mailspec.outcome import Finding, Outcome, Raised
from mailspec.report import ReportCollector
from mailspec.report.junit import as_error, configure_junit
from mailspec.report.results import (
    add_output,
    check_of,
    expected,
    forget_output,
    package_nodeid,
    raised_by,
    result_record,
    subject_of,
)
from mailspec.report.terminal import checks_listing, header_lines
from mailspec.session import (
    HANDOVER,
    LAB,
    NO_DOMAIN,
    SETTINGS,
    SURVEY,
    WORKER_KEY,
    Handover,
    apply_settings_handover,
    asks_for_shipped_suite,
    facts_wanted,
    once_per_check,
    own_domain,
    parametrize_hosts,
    parametrize_subjects,
    prefetch,
    probe_ceiling,
    said_once,
    settings_of,
    start_lab,
    survey_of,
    uses_mailspec,
    waivers_of,
)
from mailspec.settings import OPTIONS, Settings, add_options, raw_values, system_resolvers

pytest_plugins = ["mailspec.fixtures", "mailspec.distribute"]

CHECKS_DIR = Path(__file__).parent / "checks"
#: (worker) domain -> the fact kinds its collected tests read; prefetched when its first test runs
WANTED = pytest.StashKey[dict[str, set[tuple[type, str]]]]()


# --------------------------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.option.mail_checks:
        print("\n".join(checks_listing()))
        return 0
    return None


# ------------------------------------------------------------------------------------------- configure
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mailspec(id, severity, refs): a mailspec best-practice check with its catalog id"
    )
    try:
        settings = Settings.parse(raw_values(OPTIONS, config.getoption, config.getini))
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and WORKER_KEY in workerinput:
        handed = json.loads(workerinput[WORKER_KEY])
        settings = apply_settings_handover(settings, handed["settings"])
        config.stash[HANDOVER] = Handover.read(handed)
        config.stash[WANTED] = {}
    elif settings.lab:
        settings = start_lab(config, settings)
    if settings.active and not settings.resolvers:
        try:
            settings = replace(settings, resolvers=tuple(system_resolvers()), resolvers_from_system=True)
        except SettingError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS] = settings
    config.pluginmanager.register(ReportCollector(config, settings), "mailspec-report")
    if not settings.active:
        if asks_for_shipped_suite(config, CHECKS_DIR):  # a missing domain never passes a build
            raise pytest.UsageError(f"mailspec: the shipped checks were asked for, but {NO_DOMAIN}")
        if getattr(config.option, "hosts", None):  # testinfra's --hosts: the host checks need no domain
            configure_junit(config, settings)
        return
    # no test path on the command line: the shipped checks join whatever else is collected
    if settings.autocollect and config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args.append(str(CHECKS_DIR))
    configure_junit(config, settings)


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Generator[None, None, object]:
    # the subject map, all domains at once, before parametrisation; here rather than at session
    # start, so that pytest's and JUnit's durations (which start there) count the survey
    config = session.config
    if settings_of(config).active and HANDOVER not in config.stash and not hasattr(config, "workerinput"):
        survey_of(config).survey(settings_of(config).domains)
        gc.collect()
        gc.freeze()  # (the facts stay to the end: see pytest_collection_finish; undone at unconfigure)
    return (yield)


def command_line_run(config: pytest.Config) -> bool:
    """Whether this is the process's own pytest command (``pytest ...``, ``python -m pytest ...``),
    which exits right after, rather than ``pytest.main()`` called by a program that goes on."""
    program = Path(sys.argv[0])
    cli = program.name in ("pytest", "py.test") or program.parts[-2:] == ("pytest", "__main__.py")
    return cli and tuple(config.invocation_params.args) == tuple(sys.argv[1:])


def pytest_unconfigure(config: pytest.Config) -> None:
    # what was frozen is the garbage collector's again when the process goes on (an in-process run:
    # pytester, an IDE). A command-line run exits now: the run's results are frozen too, so that the
    # collections on the way out (pytest's own, at cleanup) do not scan a heap of many thousand
    # results once more (5 s for 600 domains)
    settings = config.stash.get(SETTINGS, None)  # (none when configure stopped on a usage error)
    if settings is not None and settings.active:  # (mailspec froze the heap only then)
        if command_line_run(config):
            gc.freeze()
        else:
            gc.unfreeze()
    survey = config.stash.get(SURVEY, None)
    if survey is not None:
        survey.close()
    lab = config.stash.get(LAB, None)
    if lab is not None:
        lab.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return header_lines(settings_of(config))


# ----------------------------------------------------------------------------------- parametrisation
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_mailspec_subject" in metafunc.fixturenames:
        parametrize_subjects(metafunc)


@pytest.hookimpl(trylast=True, specname="pytest_generate_tests")  # (after testinfra's: `[local-x.com]`)
def pytest_generate_tests_of_hosts(metafunc: pytest.Metafunc) -> None:
    if "_mailspec_subject" in metafunc.fixturenames:
        parametrize_hosts(metafunc)


# ---------------------------------------------------------------------------------------- collection
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    found = False
    for item in items:
        info = check_of(item)
        if info is not None:
            item.extra_keyword_matches.add(info.id)
        found = (
            found
            or info is not None
            or subject_of(item) is not None
            or "mail_survey" in getattr(item, "fixturenames", ())
        )
    settings = settings_of(config)
    # (collection errors are pytest's to report: no "nothing collected" on top of them)
    if settings.active and not found and not session.testsfailed and not hasattr(config, "workerinput"):
        raise pytest.UsageError(
            "mailspec: a mail domain was given but no mailspec check was collected. Run the shipped "
            "checks with `pytest --pyargs mailspec.checks ...`, or check that your python_files / "
            "python_functions settings (or -k / the paths given) do not exclude them."
        )


@pytest.hookimpl(tryfirst=True)  # (before the terminal counts what was collected and deselected)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Each check once per subject (after -m/-k chose); then fetch, all at once, the facts the
    collected tests will read (and no others)."""
    config = session.config
    kept = once_per_check(session.items, CHECKS_DIR)
    if len(kept) < len(session.items):  # shown as deselected: "collected 39 items / 10 deselected"
        keep = set(kept)
        config.hook.pytest_deselected(items=[i for i in session.items if i not in keep])
        session.items[:] = kept
    settings = settings_of(config)
    if not settings.active:
        return
    probe_ceiling(session.items, settings)
    wanted = facts_wanted(session.items, settings)
    if WANTED in config.stash:  # an xdist worker: each domain's facts when its first test runs here
        config.stash[WANTED] = wanted
        return
    prefetch(config, [fact for facts in wanted.values() for fact in facts])
    # the facts and the items live until the end: out of the collector's way, so that a run of many
    # thousand checks does not scan them again and again
    gc.collect()
    gc.freeze()


# -------------------------------------------------------------------------------------------- outcome
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    outcome.reset()
    wanted = item.config.stash.get(WANTED, None)
    subject = subject_of(item)
    if wanted and subject is not None and subject.domain in wanted:
        prefetch(item.config, list(wanted.pop(subject.domain)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:
        forget_output(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    info, subject = check_of(item), subject_of(item)
    exc = call.excinfo.value if call.excinfo is not None else None
    ours = info is not None or subject is not None or uses_mailspec(item) or isinstance(exc, Finding)
    # a result the policy will reword costs what a pass costs: pytest formats no traceback for it
    hidden = (
        call.excinfo if ours and item.get_closest_marker("xfail") is None and expected(exc, info) else None
    )
    if hidden is not None:
        call.excinfo = None
    try:
        report = yield
    finally:
        if hidden is not None:
            call.excinfo = hidden
    if not ours or (call.when != "call" and report.passed and hidden is None):
        return report
    settings = settings_of(item.config)
    raised, message = raised_by(report, exc, info)
    # every waiver of this check and subject, whatever the outcome (one that matched nothing is named
    # at the end); the first waives a violation or a finding
    matching = waivers_of(settings, info.id, subject) if info and subject else []
    waiver = matching[0] if matching and raised in (Raised.VIOLATION, Raised.FINDING) else None
    required = outcome.current().required
    decision = outcome.decide(
        info, raised, message, fail_on=settings.fail_on, profile=settings.profile,
        waiver=waiver.reason if waiver else None, required=required,
    )  # fmt: skip
    short = said_once(item.config, message) if raised is Raised.INDETERMINATE else None
    if raised is Raised.INDETERMINATE:  # (nothing reachable at all: the summary says why, once)
        as_error(report, short or decision.reason)
    elif raised in (Raised.VIOLATION, Raised.FINDING):
        if decision.outcome is Outcome.FAILED:
            report.outcome, report.longrepr = "failed", decision.reason
        else:  # warned or waived: pytest's xfailed, with the policy's reason
            report.outcome, report.wasxfail, report.longrepr = "skipped", decision.reason, None
    elif raised is Raised.OTHER:  # a bug in a check or fixture, or a user's own failure: pytest's report
        decision = outcome.Decision(Outcome.FAILED if report.failed else Outcome.PASSED, message)
    record = result_record(
        info, subject, decision.outcome, message, settings.profile,
        waiver.reason if waiver is not None and decision.outcome is Outcome.WAIVED else None,
        package_nodeid(item, CHECKS_DIR), raised=raised, domain=own_domain(settings, subject),
        title=item.name, matched=tuple(map(str, matching)), required=required,
    )  # fmt: skip
    report.mailspec = record  # type: ignore[attr-defined]
    add_output(item, report, record, shown=short is None)
    return report
