"""A pytest run's mailspec state: its settings, its survey, and the xdist hand-over of the survey.

The survey is created on first use. Under pytest-xdist the controller surveys what parametrisation
needs (every domain's DNS, and the subjects of every kind) once, writes it to a hand-over file once,
and each worker reads the subjects at collection and a domain's facts only when one of that domain's
checks runs on it: a worker decodes what its own groups need, and nothing is encoded per worker.
Facts that only checks need (a zone's direct probes) are fetched by the worker that runs the domain's
checks, so no domain is probed twice (each domain's checks stay on one worker).
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from mailspec.errors import Indeterminate, MailspecError, SettingError
from mailspec.facts.base import decode, encode
from mailspec.facts.dns import DomainDns
from mailspec.facts.smtp import HostAddresses
from mailspec.settings import DEFAULT_DNSBLS, ProbeLevel, Settings, Waiver, parse_waiver
from mailspec.subjects import (
    BY_NAME,
    KINDS,
    Subject,
    SubjectKind,
    SubjectKindError,
    kind_for,
    probe_refusal,
    subjects_of,
)
from mailspec.survey import DnsEndpoint, EngineError, SmtpConfig, Survey
from mailspec.survey.progress import Progress

__all__ = [
    "FACT_FIXTURES",
    "NO_DOMAIN",
    "SETTINGS",
    "reads",
    "settings_of",
    "subjects_for",
    "survey_of",
    "waivers_of",
]

#: what --mail-lab sets unless the user chose: the lab's blocklist, a short greylisting pause, the
#: probe name the lab's zones know
LAB_DNSBLS = ("dnsbl.test",)
LAB_RETRY = 1.0
DEFAULT_RETRY = 60.0
LAB_PROBE_HELO = "probe.lab.test"

NO_DOMAIN = "no mail domain to check: pass --mail-domain=DOMAIN (or --mail-lab for the embedded lab)"

#: the keys of the facts a fixture reads for one subject (by default: the subject's domain)
Keys = Callable[[Subject, Settings], list[str]]
#: fixture name -> the fact kind it reads and the keys it reads it by (filled by :func:`reads`)
FACT_FIXTURES: dict[str, tuple[type, Keys]] = {}
#: the fixtures every mail fixture rests on: a test that takes one is a mail test (the user's own, too)
MAIL_FIXTURES = frozenset({"_mailspec_subject", "mail_survey", "mailspec_settings"})

Fn = TypeVar("Fn", bound=Callable[..., Any])
F = TypeVar("F")


def _by_domain(subject: Subject, settings: Settings) -> list[str]:
    return [subject.domain]


def reads(kind: type, keys: Keys = _by_domain) -> Callable[[Fn], Fn]:
    """Declare that a fixture reads facts of ``kind``, by the keys ``keys(subject, settings)`` gives
    (the subject's domain unless said), so that they are fetched after collection."""

    def register(fn: Fn) -> Fn:
        FACT_FIXTURES[fn.__name__] = (kind, keys)
        return fn

    return register


SETTINGS = pytest.StashKey[Settings]()
LAB = pytest.StashKey[Any]()
#: a lab that already serves (LabView's API), stashed by a program that runs pytest, in a
#: pytest_configure hook that runs before mailspec's (python -m mailspec.testing run): --mail-lab
#: surveys it, with the same settings, instead of starting a lab of its own
SERVED_LAB = pytest.StashKey[Any]()
SURVEY = pytest.StashKey[Survey]()
HANDOVER = pytest.StashKey["Handover"]()
WORKER_KEY = "mailspec"
PUBLIC_ADDRESS_CHECK = "dns.ns.public-address"


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS]


def waivers_of(settings: Settings, check: str, subject: Subject) -> list[Waiver]:
    """The waivers of ``check`` that match the subject by any of its names, in the order given."""
    names = sorted(subject.names())
    return [
        w
        for w in settings.waivers
        if w.check == check and any(w.matches(check, subject.domain, n) for n in names)
    ]


def nothing_reachable(config: pytest.Config) -> str | None:
    """Why nothing could be reached at all (every resolver unanswered), if so; never makes a survey."""
    survey = config.stash.get(SURVEY, None)
    return survey.unreachable() if survey is not None else None


def said_once(config: pytest.Config, message: str) -> str | None:
    """The short message of a check that could not test because nothing could be reached at all
    (every resolver unanswered, or no SMTP server took a connection): the summary says why, once."""
    from mailspec.report.terminal import BLOCKED

    if nothing_reachable(config):
        return "could not test: no resolver answered (see the mailspec summary)"
    if BLOCKED in message:
        return "could not test: no SMTP server took a connection (see the mailspec summary)"
    return None


def uses_mailspec(item: pytest.Item) -> bool:
    """Whether a test that is no shipped check takes mailspec's fixtures (a user's own mail test)."""
    return not MAIL_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def own_domain(settings: Settings, subject: Subject | None) -> str:
    """The domain a result belongs to: its subject's, or the only one surveyed."""
    if subject is not None:
        return subject.domain
    return settings.domains[0] if len(settings.domains) == 1 else ""


def asks_for_shipped_suite(config: pytest.Config, checks_dir: Path) -> bool:
    """Whether the command line names the shipped checks (``--pyargs mailspec.checks[.test_x]``, or
    their folder): a run that must not pass without a domain."""
    for arg in config.args:
        target = str(arg).split("::", 1)[0]
        if config.option.pyargs and (target == "mailspec.checks" or target.startswith("mailspec.checks.")):
            return True
        with contextlib.suppress(OSError, ValueError):
            path = Path(target).resolve()
            if path == checks_dir.resolve() or path.is_relative_to(checks_dir.resolve()):
                return True
    return False


def once_per_check(items: list[pytest.Item], checks_dir: Path) -> list[pytest.Item]:
    """The items, each check and subject once: a user's module that star-imports the shipped checks
    (``from mailspec.checks.test_mx import *``) beside the auto-added suite would run them twice.
    The user's copy is kept (their module's marks, fixtures and conftest apply to it)."""
    first: dict[tuple[int, str], int] = {}
    keep = [True] * len(items)
    for i, item in enumerate(items):
        fn, callspec = getattr(item, "function", None), getattr(item, "callspec", None)
        if fn is None or callspec is None or item.get_closest_marker("mailspec") is None:
            continue
        key = (id(fn), callspec.id)
        j = first.setdefault(key, i)
        if j != i:  # a second copy: drop the shipped file's
            drop = i if _is_shipped(Path(item.path), checks_dir) else j
            keep[drop] = False
            first[key] = j if drop == i else i
    return [item for item, k in zip(items, keep, strict=True) if k]


@functools.cache
def _is_shipped(path: Path, checks_dir: Path) -> bool:
    return path.resolve().is_relative_to(checks_dir.resolve())


def _consent(settings: Settings) -> Any:
    def consent(domain: str, name: str, ip: str) -> bool:
        return bool(waivers_of(settings, PUBLIC_ADDRESS_CHECK, Subject("ns", domain, name, also=(ip,))))

    return consent


def survey_of(config: pytest.Config) -> Survey:
    """The run's survey, created on first use (with the hand-over's facts on an xdist worker)."""
    survey = config.stash.get(SURVEY, None)
    if survey is None:
        s = settings_of(config)
        handover = config.stash.get(HANDOVER, None)
        smtp = SmtpConfig(
            timeout=s.timeout,
            probe_helo=s.probe_name,
            retry_delay=s.smtp_retry,
            relay_rcpt=s.relay_recipient,
            ident_port=s.ident_port,
            # xdist's workers share the hand-over's folder: two connections per server in all of them
            lock_dir=str(handover.path.parent) if handover is not None else None,
            refusal=functools.partial(probe_refusal, s),  # (a DMARC report domain's MX)
            controls=s.smtp_controls,
        )
        survey = Survey(
            list(s.resolvers), timeout=s.timeout, dns_port=s.dns_port, consent=_consent(s), smtp=smtp,
            https_port=s.https_port, ca_path=str(s.ca) if s.ca is not None else None,
        )  # fmt: skip
        config.stash[SURVEY] = survey
        if not hasattr(config, "workerinput"):  # (an xdist worker's output is not shown)
            survey.progress = _progress(config)
        handover = config.stash.get(HANDOVER, None)
        if handover is not None:
            survey.add_source(handover.fact)
    return survey


def _progress(config: pytest.Config) -> Callable[[Progress], None] | None:
    """The survey's progress on pytest's terminal: a live line, a line every few seconds in a CI
    log, nothing under -q (mailspec.report.progress)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return None
    from mailspec.report.progress import ProgressLine

    line = ProgressLine(tr, config.get_verbosity())
    capman = config.pluginmanager.get_plugin("capturemanager")

    def show(p: Progress) -> None:
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            line(p)

    return show


def _kind(metafunc: pytest.Metafunc) -> SubjectKind:
    try:
        return kind_for(metafunc.fixturenames)
    except SubjectKindError as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None


def parametrize_subjects(metafunc: pytest.Metafunc) -> None:
    """One test per subject of the kind the test asks for, in every domain (a host check: see
    :func:`parametrize_hosts`)."""
    config = metafunc.config
    settings = settings_of(config)
    if BY_NAME["host"].marker in metafunc.fixturenames:
        return
    if not settings.active:
        skip = pytest.mark.skip(reason=NO_DOMAIN)
        params = [pytest.param(None, marks=skip)]
        metafunc.parametrize("_mailspec_subject", params, ids=["no-mail-domain"], indirect=True)
        return
    kind = _kind(metafunc)
    grouped = getattr(config.option, "dist", "no") == "loadgroup"  # the user's choice; else ours below
    params = []
    for domain in settings.domains:
        for subject in subjects_for(config, kind, domain):
            marks = [pytest.mark.xdist_group(kind.group(subject))] if grouped else []
            if subject.skip is not None:
                marks.append(pytest.mark.skip(reason=subject.skip))
            params.append(pytest.param(subject, marks=marks, id=subject.id))
    metafunc.parametrize("_mailspec_subject", params, indirect=True)


def parametrize_hosts(metafunc: pytest.Metafunc) -> None:
    """A host check runs once per testinfra host (testinfra parametrises that); one that concerns a
    domain also once per domain, when domains are given (``test_host_role_postmaster[local-x.com]``).
    Without a domain it is not parametrised here: it judges what the host alone says."""
    if BY_NAME["host"].marker not in metafunc.fixturenames:
        return
    settings = settings_of(metafunc.config)
    kind = _kind(metafunc)
    if kind.name != "host_domain" or not settings.active:
        return
    params = [pytest.param(Subject("host", d), id=d) for d in settings.domains]
    metafunc.parametrize("_mailspec_subject", params, indirect=True)


def subjects_for(config: pytest.Config, kind: SubjectKind, domain: str) -> list[Subject]:
    handover = config.stash.get(HANDOVER, None)
    if handover is not None:
        return handover.subjects(kind, domain)
    settings = settings_of(config)
    survey = survey_of(config)
    d = survey.dns(domain) if kind.needs_dns else None
    return subjects_of(kind, settings, domain, d, _lookup(survey))


def _lookup(survey: Survey) -> Callable[[str], list[str]]:
    def lookup(name: str) -> list[str]:
        try:
            return list(survey.get(HostAddresses, name).ips)
        except EngineError:
            return []

    return lookup


def start_lab(config: pytest.Config, settings: Settings) -> Settings:
    # the lab's server libraries load only when it is used, and its servers run in a process of their
    # own, so that their answers are not slowed by the survey's work (no verdict may depend on load)
    from mailspec.testing.process import LabProcess

    names = [n.strip() for n in (settings.lab or "").split(",") if n.strip()]
    lab = config.stash.get(SERVED_LAB, None)
    try:
        if lab is None:
            lab = LabProcess.from_names(names, control=True)
            lab.start()
    except (MailspecError, RuntimeError, ValueError, OSError) as exc:  # the lab's errors name the cause
        raise pytest.UsageError(f"--mail-lab={settings.lab}: {exc}") from None
    config.stash[LAB] = lab
    host, _, port = lab.resolver.rpartition(":")
    try:
        lab_waivers = tuple(replace(parse_waiver(w), lab=True) for w in lab.waivers)
    except SettingError as exc:  # a broken scenario file is a bug in mailspec
        raise pytest.UsageError(f"--mail-lab: {exc}") from None
    # the lab's servers, CA and blocklist, unless the user chose their own
    lab_ca = getattr(lab, "ca_path", None)
    ca = settings.ca if settings.ca is not None or lab_ca is None else Path(lab_ca)
    return replace(
        settings,
        domains=tuple(lab.domains),
        resolvers=(DnsEndpoint(host, int(port)),),
        dns_port=lab.dns_port,
        smtp_port=getattr(lab, "smtp_port", settings.smtp_port),
        # the lab's control server: it always takes connections, so a scenario's dead server fails
        smtp_controls=settings.smtp_controls or _lab_control(lab),
        ident_port=getattr(lab, "ident_port", settings.ident_port),
        https_port=getattr(lab, "https_port", settings.https_port) or settings.https_port,
        # the scenarios' own selectors (selector@domain), unless the user chose theirs
        dkim_selectors=settings.dkim_selectors or tuple(getattr(lab, "dkim_selectors", ())),
        ca=ca,
        dnsbls=LAB_DNSBLS if settings.dnsbls == DEFAULT_DNSBLS else settings.dnsbls,
        smtp_retry=LAB_RETRY if settings.smtp_retry == DEFAULT_RETRY else settings.smtp_retry,
        probe_helo=settings.probe_helo or LAB_PROBE_HELO,
        waivers=settings.waivers + lab_waivers,
    )


def _lab_control(lab: Any) -> tuple[tuple[str, int], ...]:
    host, _, port = str(getattr(lab, "smtp_control", "")).rpartition(":")
    return ((host, int(port)),) if host and port.isdigit() else ()


def facts_wanted(items: list[pytest.Item], settings: Settings) -> dict[str, set[tuple[type, str]]]:
    """Domain -> the facts (kind, key) the collected tests of its subjects read through their
    fixtures; none above the --mail-probe ceiling, and none for a test that will be skipped."""
    from mailspec.report.results import subject_of
    from mailspec.survey import FACT_KINDS

    wanted: dict[str, set[tuple[type, str]]] = defaultdict(set)
    for item in items:
        subject = subject_of(item)
        if subject is None or subject.error is not None or subject.skip is not None or not subject.domain:
            continue
        if item.get_closest_marker("skip") is not None:
            continue
        for f in getattr(item, "fixturenames", ()):
            if f in FACT_FIXTURES:
                kind, keys = FACT_FIXTURES[f]
                if PROBE_LEVELS[FACT_KINDS[kind].probe] <= settings.probe:
                    wanted[subject.domain].update((kind, key) for key in keys(subject, settings))
    return wanted


#: the --mail-probe levels by name
PROBE_LEVELS = {str(p): p for p in ProbeLevel}


def probe_ceiling(items: list[pytest.Item], settings: Settings) -> None:
    """Mark to skip each collected check that needs a probe above --mail-probe (its probes are never
    sent), with a reason naming the option."""
    from mailspec.report.results import check_of

    for item in items:
        from mailspec.catalog import CATALOG

        info = check_of(item)
        entry = CATALOG.get(info.id) if info is not None else None
        need = PROBE_LEVELS.get(entry.probe) if entry is not None else None
        if need is not None and need > settings.probe:
            why = f"needs --mail-probe={need} or above (this run: --mail-probe={settings.probe})"
            item.add_marker(pytest.mark.skip(reason=why))


def prefetch(config: pytest.Config, wanted: list[tuple[type, str]]) -> None:
    """Fetch the facts, all at once; one whose bound ran out is asked again (bounded) when read."""
    with contextlib.suppress(EngineError):
        survey_of(config).prefetch(wanted)


def fact(config: pytest.Config, kind: type[F], key: str) -> F:
    """One fact, for a fixture: a survey that ran out of its bounds could not test, never a failure."""
    try:
        return survey_of(config).get(kind, key)
    except EngineError as exc:
        raise Indeterminate(f"could not test: {exc}") from None


# ------------------------------------------------------------------------------------- hand-over
def settings_handover(settings: Settings) -> dict[str, Any]:
    return {
        "domains": list(settings.domains),
        "resolvers": [[r.ip, r.port] for r in settings.resolvers],
        "dns_port": settings.dns_port,
        "waivers": [str(w) for w in settings.waivers],
        "smtp_port": settings.smtp_port,
        "smtp_controls": [list(c) for c in settings.smtp_controls],
        "ident_port": settings.ident_port,
        "https_port": settings.https_port,
        "ca": str(settings.ca) if settings.ca is not None else None,
        "dnsbls": list(settings.dnsbls),
        "smtp_retry": settings.smtp_retry,
        "probe_helo": settings.probe_helo,
        "dkim_selectors": list(settings.dkim_selectors),
    }


def apply_settings_handover(settings: Settings, data: dict[str, Any]) -> Settings:
    return replace(
        settings,
        domains=tuple(data["domains"]),
        resolvers=tuple(DnsEndpoint(ip, port) for ip, port in data["resolvers"]),
        dns_port=data["dns_port"],
        waivers=tuple(parse_waiver(w) for w in data["waivers"]),
        smtp_port=data["smtp_port"],
        smtp_controls=tuple((host, port) for host, port in data["smtp_controls"]),
        ident_port=data["ident_port"],
        https_port=data["https_port"],
        ca=Path(data["ca"]) if data["ca"] else None,
        dnsbls=tuple(data["dnsbls"]),
        smtp_retry=data["smtp_retry"],
        probe_helo=data["probe_helo"],
        dkim_selectors=tuple(data["dkim_selectors"]),
    )


class Handover:
    """The survey, as the controller wrote it for its workers: subjects up front, facts by offset."""

    def __init__(self, path: Path, index: dict[str, list[int]], subjects: dict[str, Any]) -> None:
        self.path = path
        self.index = index
        self._subjects = subjects

    @classmethod
    def write(cls, config: pytest.Config) -> dict[str, Any]:
        """(Controller) survey what parametrisation needs, write it once, return the workers' input."""
        folder = Path(tempfile.mkdtemp(prefix="mailspec-handover-"))
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        return cls.write_to(folder, settings_of(config), survey_of(config))

    @classmethod
    def write_to(cls, folder: Path, settings: Settings, survey: Survey) -> dict[str, Any]:
        """Write the subject map and every domain's DNS facts below ``folder``: one file of subjects
        (read by every worker at collection) and one of facts, a line a domain (read by offset)."""
        survey.survey(settings.domains)
        path = folder / "facts.jsonl"
        index: dict[str, list[int]] = {}
        with path.open("wb") as f:
            for domain in settings.domains:
                line = json.dumps(survey.export(DomainDns, domain), separators=(",", ":")).encode() + b"\n"
                index[domain] = [f.tell(), len(line)]
                f.write(line)
        subjects = {
            k.name: {
                domain: [
                    encode(s)
                    for s in subjects_of(
                        k, settings, domain, survey.dns(domain) if k.needs_dns else None, _lookup(survey)
                    )
                ]
                for domain in settings.domains
            }
            for k in KINDS
        }
        (folder / "subjects.json").write_text(json.dumps(subjects, separators=(",", ":")))
        return {"settings": settings_handover(settings), "folder": str(folder), "index": index}

    @classmethod
    def read(cls, data: dict[str, Any]) -> Handover:
        folder = Path(data["folder"])
        subjects = json.loads((folder / "subjects.json").read_text())
        return cls(folder / "facts.jsonl", data["index"], subjects)

    def subjects(self, kind: SubjectKind, domain: str) -> list[Subject]:
        return [decode(Subject, s) for s in self._subjects[kind.name][domain]]

    def fact(self, kind: type, key: str) -> Any | None:
        if kind is not DomainDns or key not in self.index:
            return None
        offset, length = self.index[key]
        with self.path.open("rb") as f:
            f.seek(offset)
            return decode(DomainDns, json.loads(f.read(length)))
