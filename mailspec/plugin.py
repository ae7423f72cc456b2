"""The pytest glue: options and ini twins, collection of the shipped checks, parametrisation, outcomes.

Thin on purpose: settings, survey, facts, subjects and the outcome policy are library code; this module
only connects them to pytest's hooks and fixtures.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mailspec import outcome
from mailspec.catalog import CheckInfo, check_info
from mailspec.errors import Indeterminate, MailspecError, SettingError
from mailspec.facts import DomainDns, MxTarget, NameServer, NsAddress
from mailspec.outcome import Finding, Outcome
from mailspec.report import ReportCollector
from mailspec.settings import OPTIONS, Settings, parse_waiver, system_resolvers
from mailspec.subjects import Subject, subjects_of
from mailspec.survey import Nameserver, Survey
from mailspec.testing.lab import Lab

__all__ = [
    "dns_facts",
    "mail_domain",
    "mail_survey",
    "mailspec_settings",
    "mx_hosts",
    "mx_ip",
    "mx_target",
    "nameserver",
    "nameserver_address",
]

#: the lab's fixtures (mailspec_lab, make_mailspec_lab) come with the plugin
pytest_plugins = ["mailspec.testing.fixtures"]

CHECKS_DIR = Path(__file__).parent / "checks"
SETTINGS = pytest.StashKey[Settings]()
SURVEY = pytest.StashKey[Survey]()
LAB = pytest.StashKey[Any]()
WORKER_KEY = "mailspec"

NO_DOMAIN = "no mail domain to check: pass --mail-domain=DOMAIN (or --mail-lab for the embedded lab)"

#: which public fixture makes a test per which subject, most specific first
_KIND_BY_FIXTURE = (
    ("nameserver_address", "ns_ip"),
    ("mx_ip", "mx_ip"),
    ("nameserver", "ns"),
    ("mx_target", "mx"),
)
_MAILSPEC_FIXTURES = {"_mailspec_subject", "mail_survey", "mailspec_settings"}


# --------------------------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailspec", "mailspec: check a live mail deployment against best practices")
    for opt in OPTIONS:
        help_text = f"{opt.help} [ini: {opt.ini}]"
        if opt.multiple:
            group.addoption(
                opt.flag,
                action="append",
                dest=opt.dest,
                default=[],
                metavar=opt.metavar,
                help=help_text + " (repeatable)",
            )
            parser.addini(opt.ini, f"{opt.help} (one a line)", type="linelist", default=[])
        else:
            group.addoption(opt.flag, dest=opt.dest, default=None, metavar=opt.metavar, help=help_text)
            parser.addini(opt.ini, opt.help, type="string", default="")
    group.addoption(
        "--mail-lab",
        nargs="?",
        const="good",
        default=None,
        dest="mail_lab",
        metavar="SCENARIO",
        help="start the embedded lab (DNS on loopback) and survey its domain(s): a scenario name, "
        "'all', or nothing for the well-configured one [ini: mail_lab]",
    )
    parser.addini(
        "mail_lab",
        "start the embedded lab with this scenario ('all' for every one)",
        type="string",
        default="",
    )
    parser.addini(
        "mailspec_autocollect",
        "collect the shipped checks when no test path is given",
        type="bool",
        default=True,
    )


def _raw_values(config: pytest.Config) -> dict[str, Any]:
    values: dict[str, Any] = {}
    cli_domains = bool(
        config.getoption("mail_domain")
        or config.getoption("mail_domains_file")
        or config.getoption("mail_lab")
    )
    for opt in OPTIONS:
        cli = config.getoption(opt.dest)
        if cli:
            values[opt.dest] = cli
        elif opt.dest in ("mail_domain", "mail_domains_file") and cli_domains:
            values[opt.dest] = None  # the command line named the domains: the ini's do not add to them
        else:
            values[opt.dest] = config.getini(opt.ini) or None
    cli_named = config.getoption("mail_domain") or config.getoption("mail_domains_file")
    values["mail_lab"] = (
        config.getoption("mail_lab") or (None if cli_named else config.getini("mail_lab")) or None
    )
    values["mailspec_autocollect"] = str(config.getini("mailspec_autocollect"))
    return values


# ------------------------------------------------------------------------------------------- configure
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mailspec(id, severity, refs): a mailspec best-practice check with its catalog id"
    )
    try:
        settings = Settings.parse(_raw_values(config))
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and WORKER_KEY in workerinput:
        handed = json.loads(workerinput[WORKER_KEY])
        settings = _apply_handover(settings, handed["settings"])
    elif settings.lab:
        settings = _start_lab(config, settings)
    if settings.active and not settings.resolvers:
        try:
            settings = replace(settings, resolvers=tuple(system_resolvers()), resolvers_from_system=True)
        except SettingError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[SETTINGS] = settings
    collector = ReportCollector(config, settings)
    config.pluginmanager.register(collector, "mailspec-report")

    # no test path on the command line: the shipped checks join whatever else is collected
    if settings.active and settings.autocollect and config.args_source is not pytest.Config.ArgsSource.ARGS:
        config.args.append(str(CHECKS_DIR))
    # each domain's checks stay on one worker, so that no domain is surveyed twice
    if settings.active and getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
    if settings.active:
        _junit(config, settings)


def _junit(config: pytest.Config, settings: Settings) -> None:
    """Suite properties, and the evidence of every check in its JUnit case's <system-out>.

    pytest writes captured output to JUnit only when junit_logging asks for it, and offers no public
    way for a plugin to change an ini value; its JUnit writer (created by pytest's own pytest_configure,
    which ran before this one) is told directly, unless the user chose a value other than the default.
    The suite properties go to the same writer, so that they are there under xdist too (where tests,
    and the record_testsuite_property fixture, run in workers that write no JUnit).
    """
    from mailspec import __version__

    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ != "LogXML":
            continue
        if config.getini("junit_logging") == "no" and getattr(plugin, "logging", None) == "no":
            plugin.logging = "system-out"
        for name, value in (
            ("mailspec_version", __version__),
            ("mailspec_domains", " ".join(settings.domains)),
            ("mailspec_probe", str(settings.probe)),
            ("mailspec_profile", settings.profile),
            ("mailspec_fail_on", str(settings.fail_on)),
        ):
            plugin.add_global_property(name, value)


def _start_lab(config: pytest.Config, settings: Settings) -> Settings:
    names = [n.strip() for n in (settings.lab or "").split(",") if n.strip()]
    try:
        lab = Lab.from_names(names)
        lab.start()
    except (MailspecError, RuntimeError, ValueError, OSError) as exc:  # the lab's errors name the cause
        raise pytest.UsageError(f"--mail-lab={settings.lab}: {exc}") from None
    config.stash[LAB] = lab
    host, _, port = lab.resolver.rpartition(":")
    try:
        lab_waivers = tuple(parse_waiver(w) for w in lab.waivers)
    except SettingError as exc:  # a broken scenario file is a bug in mailspec
        raise pytest.UsageError(f"--mail-lab: {exc}") from None
    return replace(
        settings,
        domains=tuple(lab.domains),
        resolvers=(Nameserver(host, int(port)),),
        dns_port=lab.dns_port,
        waivers=settings.waivers + lab_waivers,
    )


def _handover(settings: Settings) -> dict[str, Any]:
    return {
        "domains": list(settings.domains),
        "resolvers": [[r.ip, r.port] for r in settings.resolvers],
        "dns_port": settings.dns_port,
        "waivers": [str(w) for w in settings.waivers],
    }


def _apply_handover(settings: Settings, data: dict[str, Any]) -> Settings:
    return replace(
        settings,
        domains=tuple(data["domains"]),
        resolvers=tuple(Nameserver(ip, port) for ip, port in data["resolvers"]),
        dns_port=data["dns_port"],
        waivers=tuple(parse_waiver(w) for w in data["waivers"]),
    )


def _survey(config: pytest.Config) -> Survey:
    """The session's survey, created (and the DNS of every domain surveyed, all at once) on first use."""
    survey = config.stash.get(SURVEY, None)
    if survey is None:
        settings = config.stash[SETTINGS]
        survey = Survey(list(settings.resolvers), timeout=settings.timeout, auth_port=settings.dns_port)
        config.stash[SURVEY] = survey
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        if workerinput is not None and WORKER_KEY in workerinput:
            survey.load(json.loads(workerinput[WORKER_KEY])["survey"])
        survey.survey(settings.domains)
    return survey


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.stash[SETTINGS].active:
        _survey(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: the controller hands its settings and DNS survey to each worker."""
    config: pytest.Config = node.config
    settings = config.stash[SETTINGS]
    if settings.active:
        node.workerinput[WORKER_KEY] = json.dumps(
            {"settings": _handover(settings), "survey": _survey(config).export()}
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    survey = config.stash.get(SURVEY, None)
    if survey is not None:
        survey.close()
    lab = config.stash.get(LAB, None)
    if lab is not None:
        lab.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[SETTINGS]
    if not s.active:
        return ["mailspec: no mail domain (pass --mail-domain=DOMAIN or --mail-lab)"]
    resolvers = ",".join(str(r) for r in s.resolvers) + (" (system)" if s.resolvers_from_system else "")
    shown = ", ".join(s.domains[:5]) + (f" and {len(s.domains) - 5} more" if len(s.domains) > 5 else "")
    lines = [
        f"mailspec: domains={shown}",
        f"mailspec: resolvers={resolvers} probe={s.probe} timeout={s.timeout:g}s fail-on={s.fail_on} "
        f"profile={s.profile}" + (f" dns-port={s.dns_port}" if s.dns_port != 53 else ""),
    ]
    if s.lab:
        lines.append(f"mailspec: embedded lab: {s.lab}")
    if s.waivers:
        lines.append(f"mailspec: {len(s.waivers)} waiver(s): " + "; ".join(str(w) for w in s.waivers[:3]))
    return lines


# ----------------------------------------------------------------------------------- parametrisation
def _kind_for(fixturenames: list[str]) -> str:
    for fixture, kind in _KIND_BY_FIXTURE:
        if fixture in fixturenames:
            return kind
    return "domain"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_mailspec_subject" not in metafunc.fixturenames:
        return
    config = metafunc.config
    settings = config.stash[SETTINGS]
    if not settings.active:
        metafunc.parametrize(
            "_mailspec_subject",
            [pytest.param(None, marks=pytest.mark.skip(reason=NO_DOMAIN))],
            ids=["no-mail-domain"],
            indirect=True,
        )
        return
    kind = _kind_for(metafunc.fixturenames)
    survey = _survey(config)
    grouped = config.pluginmanager.hasplugin("xdist")  # the mark is unknown (strict markers) without it
    params = []
    for domain in settings.domains:
        for subject in subjects_of(kind, survey.dns(domain)):
            marks = [pytest.mark.xdist_group(domain)] if grouped else []
            if subject.skip is not None:
                marks.append(pytest.mark.skip(reason=subject.skip))
            params.append(pytest.param(subject, marks=marks, id=subject.id))
    metafunc.parametrize("_mailspec_subject", params, indirect=True)


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def mailspec_settings(pytestconfig: pytest.Config) -> Settings:
    """The validated mailspec settings of this run (domains, resolvers, probe level, waivers, ...)."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def mail_survey(pytestconfig: pytest.Config) -> Survey:
    """The session's survey: every network fact, fetched once and memoised (``mail_survey.dns(domain)``)."""
    if not pytestconfig.stash[SETTINGS].active:
        pytest.skip(NO_DOMAIN)
    return _survey(pytestconfig)


@pytest.fixture
def _mailspec_subject(request: pytest.FixtureRequest) -> Subject:
    subject: Subject | None = getattr(request, "param", None)
    if subject is None:
        pytest.skip(NO_DOMAIN)
    if subject.error is not None:
        raise Indeterminate(subject.error)
    return subject


@pytest.fixture
def mail_domain(_mailspec_subject: Subject) -> str:
    """The mail domain under test (one test per configured domain)."""
    return _mailspec_subject.domain


@pytest.fixture
def dns_facts(mail_survey: Survey, mail_domain: str) -> DomainDns:
    """Everything the DNS survey saw of the domain under test (:class:`mailspec.facts.DomainDns`)."""
    return mail_survey.dns(mail_domain)


@pytest.fixture
def mx_hosts(dns_facts: DomainDns) -> list[MxTarget]:
    """The domain's MX hosts (the domain itself for an implicit MX; none for a null MX), with addresses."""
    return [t for t in dns_facts.mx_targets if t.name]


@pytest.fixture
def mx_target(dns_facts: DomainDns, _mailspec_subject: Subject) -> MxTarget:
    """One MX host of the domain under test (one test per MX host)."""
    return next(t for t in dns_facts.mx_targets if t.name == _mailspec_subject.name)


@pytest.fixture
def mx_ip(_mailspec_subject: Subject) -> str:
    """One address of an MX host (one test per MX host and address)."""
    return _mailspec_subject.ip


@pytest.fixture
def nameserver(dns_facts: DomainDns, _mailspec_subject: Subject) -> NameServer:
    """One name server of the zone of the domain under test (one test per name server)."""
    return next(n for n in dns_facts.nameservers if n.name == _mailspec_subject.name)


@pytest.fixture
def nameserver_address(nameserver: NameServer, _mailspec_subject: Subject) -> NsAddress:
    """One address of a name server, with its direct answers (one test per name server and address).

    For a name server whose name has no address, ``ip`` is empty and nothing was asked.
    """
    if not _mailspec_subject.ip:
        return NsAddress.missing(nameserver.name)
    return next(x for x in nameserver.addresses if x.ip == _mailspec_subject.ip)


# ---------------------------------------------------------------------------------------- collection
def _info(item: pytest.Item) -> CheckInfo | None:
    marker = item.get_closest_marker("mailspec")
    return check_info(marker.kwargs) if marker is not None else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    found = False
    for item in items:
        info = _info(item)
        if info is not None:
            found = True
            item.extra_keyword_matches.add(info.id)
        elif _MAILSPEC_FIXTURES & set(getattr(item, "fixturenames", ())):
            found = True
    settings = config.stash[SETTINGS]
    # (collection errors are pytest's to report: no "nothing collected" on top of them)
    if settings.active and not found and not session.testsfailed and not getattr(config, "workerinput", None):
        raise pytest.UsageError(
            "mailspec: a mail domain was given but no mailspec check was collected. Run the shipped "
            "checks with `pytest --pyargs mailspec.checks ...`, or check that your python_files / "
            "python_functions settings (or -k / the paths given) do not exclude them."
        )


# -------------------------------------------------------------------------------------------- outcome
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    outcome.reset()


def _evidence_section(item: pytest.Item, when: str) -> None:
    rec = outcome.current()
    if rec.evidence:
        item.add_report_section(when, "stdout (mailspec evidence)", "\n".join(rec.evidence) + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        _evidence_section(item, "call")


def _subject_of(item: pytest.Item) -> Subject | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("_mailspec_subject") if callspec is not None else None
    return value if isinstance(value, Subject) else None


def _package_nodeid(item: pytest.Item) -> str:
    """A shipped check's node id as the JSON report names it: ``mailspec/checks/test_mx.py::...``,
    whatever folder pytest ran from (its own node ids are relative to the rootdir)."""
    path = Path(item.path).resolve()
    if not path.is_relative_to(CHECKS_DIR.resolve()):
        return ""
    _, _, rest = item.nodeid.partition("::")
    return f"{path.relative_to(CHECKS_DIR.resolve().parents[1]).as_posix()}::{rest}"


def _message(exc: BaseException) -> str:
    text = str(exc.msg) if isinstance(exc, pytest.fail.Exception) else str(exc)
    # pytest's assertion rewriting appends its own explanation after the message: keep ours
    return text.split("\nassert ", 1)[0].strip() or type(exc).__name__


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    info = _info(item)
    subject = _subject_of(item)
    if info is None and subject is None:
        return report
    if call.when == "setup" and call.excinfo is None and report.passed:
        return report
    if call.when == "teardown" and report.passed:
        return report
    if call.when == "setup":
        _evidence_section(item, "setup")
    settings = item.config.stash[SETTINGS]
    rec = outcome.current()
    exc = call.excinfo.value if call.excinfo is not None else None
    message = "; ".join(rec.notes)
    waiver = None
    result: Outcome
    if isinstance(exc, Indeterminate):
        result, message = Outcome.ERROR, _message(exc)
        report.outcome = "failed"
        report.longrepr = message
        report.when = "setup"  # an error ("could not test"), never a failure: pytest reports setup errors so
    elif report.skipped and not hasattr(report, "wasxfail"):
        result = Outcome.SKIPPED
        longrepr = report.longrepr
        message = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        message = message.removeprefix("Skipped: ")
    elif exc is None and report.passed:
        result = Outcome.PASSED
    elif isinstance(exc, (AssertionError, Finding, pytest.fail.Exception)) and info and subject:
        message = _message(exc)
        waiver = settings.waiver_for(info.id, subject.domain, subject.label)
        result = outcome.decide(
            info,
            violated=not isinstance(exc, Finding),
            heuristic=isinstance(exc, Finding),
            fail_on=settings.fail_on,
            profile=settings.profile,
            waived=waiver is not None,
        )
        severity = info.effective(settings.profile)
        if result is Outcome.FAILED:
            report.longrepr = message
        elif result is Outcome.WAIVED:
            assert waiver is not None
            report.outcome = "skipped"
            report.wasxfail = f"waived: {waiver.reason} ({message})"
            report.longrepr = None
        else:
            report.outcome = "skipped"
            report.wasxfail = f"{severity}: {message}"
            report.longrepr = None
    else:  # a bug in a check or fixture, or a user's own assertion: leave pytest's report alone
        result = Outcome.FAILED if report.failed else Outcome.PASSED
        message = _message(exc) if exc is not None else message
    report.mailspec = {  # type: ignore[attr-defined]
        "check": info.id if info else "",
        "domain": subject.domain if subject else "",
        "subject": subject.label if subject else "",
        "outcome": result.value,
        "severity": str(info.effective(settings.profile)) if info else "",
        "title": info.title if info else "",
        "message": message,
        "evidence": list(rec.evidence),
        "refs": list(info.refs) if info else [],
        "remediation": info.remediation if info else "",
        "waiver": waiver.reason if waiver is not None and result is Outcome.WAIVED else None,
        "contract_nodeid": _package_nodeid(item),
    }
    return report
