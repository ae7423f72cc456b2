"""mailspec itself against real Postfix: each scenario's verdicts, and the fake MTA's held to them.

One mailspec run, as a user types it (from an empty folder, ``--mail-probe=intrusive``), surveys the
scenarios whose MTAs Postfix plays, through the lab's DNS and CA (``postfix_lab.mailspec_args()``); the
same command, pointed at the embedded lab playing the same scenarios with its fake MTAs (only the
resolver, DNS and SMTP ports and CA differ), runs beside it. Then, per scenario:

* ``test_postfix_verdicts``: the report meets the scenario's ``[expect]`` (``judge(exact=True)``), less
  the expectations real Postfix cannot meet (:data:`POSTFIX_CANNOT`, each with the reason);
* ``test_same_smtp_verdicts_as_fake``: every SMTP-side check (``smtp.*``, ``role.*``, ``tls.*``,
  ``mx2.*``) gives each subject the outcome it gives against the fake MTA. The fake answers like
  Postfix but for a few replies (``test_postfix.KNOWN_DIFFERENCES``: 502 where Postfix says 500, VRFY's
  wording), which no verdict may depend on; a verdict that differs is a check that depends on how a
  server answers beyond the protocol, or a fake that plays the scenario otherwise than Postfix does;
* ``test_no_message_reached_postfix``: not one message reached Postfix (never DATA).

Which scenarios (:func:`judged`): those whose expectations say something of the SMTP side (a check
above catalog level ``dns``, ``helo.*`` and ``dns.soa.rname``, which read the banner and the RCPT
answer, or ``clean = true``) and that run with the lab's own options. A scenario about DNS alone plays
Postfix at its defaults (its certificate's names aside) and expects nothing of it; one with options
of its own (``--mail-dnsbl``) needs two more mailspec runs. Both are left out by default, to keep the
tier within its time (a mailspec run costs in proportion to its domains); with
``MAILSPEC_POSTFIX_VERDICTS=all`` every scenario Postfix plays is judged. The scenarios left out are
listed as skipped, with the reason.

How many connections mailspec held to one Postfix at once is not asserted: smtpd logs ``connect from``
when its process (a fresh one per connection, ``max_use=1``) takes the connection over and
``disconnect from`` after it has seen the client go, with timestamps to the second, so under load two
sessions one after the other can look overlapped in the log, and overlapped ones sequential (anvil
counts from the same smtpd events). The log cannot show the politeness limit either way:
``test_postfix_connections`` counts mailspec's connections to Postfix through a relay instead.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import CATALOG
from mailspec.testing.lab import LabError, LabView
from mailspec.testing.process import LabProcess
from mailspec.testing.scenario import MtaSpec, Scenario
from mailspec.testing.verdicts import judge

from .servers import lab_scenarios
from .test_scenarios import MailspecRun, run_mailspec

try:  # without the SMTP side of mailspec.testing this tier cannot run (conftest says so at setup)
    from .postfix import PostfixLab, not_played_aside, unplayable
except ImportError as exc:
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        raise
    pytest.skip(f"the Postfix tier cannot import what it needs: {exc}", allow_module_level=True)

pytestmark = pytest.mark.realservers

#: "all": judge every scenario Postfix plays, not only those about the SMTP side (see the module's doc)
SCOPE_ENV = "MAILSPEC_POSTFIX_VERDICTS"
#: The options both runs add to the lab's: every probe, and a bound on each network operation.
# 6 s: the embedded lab serving the comparison is in this process and answered late under load at 3 s
COMMON_OPTIONS = ("--mail-probe=intrusive", "--mail-timeout=6")
#: The checks whose verdicts rest on the MTA's SMTP dialogue.
SMTP_SIDE = ("smtp.", "role.", "tls.", "mx2.")
#: Checks of catalog level dns that read SMTP facts: the banner (the HELO name, when no
#: --mail-helo-name is given) and the RCPT answer for the SOA RNAME's and the DMARC report mailboxes.
SMTP_READERS = ("helo.", "dns.soa.rname", "dmarc.rua.deliverable")
#: (scenario, check id) -> why real Postfix, configured as the scenario says, cannot meet that
#: expectation. Empty: Postfix can meet every expectation of every scenario judged here.
POSTFIX_CANNOT: dict[tuple[str, str], str] = {}


# ------------------------------------------------------------------------------------ the scenarios
def _as_postfix(spec: MtaSpec) -> MtaSpec | None:
    """*spec* as Postfix plays it, or ``None`` if it cannot. A ``kind = "fake"`` MTA whose every knob
    Postfix has a setting for (``vrfy = "disabled"``) is played too: the fake MTA plays both kinds
    alike, so the comparison with it stands."""
    # At collection Postfix may be missing (the fixture then skips): no postconf-based check here.
    if unplayable(spec, overrides=False) is None:
        return spec
    if spec.kind == "fake":
        as_postfix = dataclasses.replace(spec, kind="postfix")
        if unplayable(as_postfix, overrides=False) is None:
            return as_postfix
    return None


def _about_smtp(scenario: Scenario) -> bool:
    """The scenario's expectations say something of its MTAs."""
    exp = scenario.expect
    ids = exp.flag + exp.passed + exp.not_passed + exp.skipped + exp.error + exp.warned

    def reads_smtp(check_id: str) -> bool:
        check = check_id.partition("@")[0]
        entry = CATALOG.get(check)
        return entry is None or entry.probe != "dns" or check.startswith(SMTP_READERS)

    return exp.clean or any(reads_smtp(cid) for cid in ids)


@functools.cache
def judged() -> tuple[tuple[Scenario, ...], dict[str, str]]:
    """The scenarios judged here (Postfix plays each of their MTAs, and nothing of them is left
    unplayed), and every other packaged scenario with the reason it is not."""
    everything = os.environ.get(SCOPE_ENV, "").strip().lower() == "all"
    scenarios: list[Scenario] = []
    left_out: dict[str, str] = {}
    for sc in lab_scenarios():
        if not sc.mtas:
            left_out[sc.name] = "no MTA: nothing for Postfix to play (test_scenarios.py judges it)"
            continue
        played = [_as_postfix(spec) for spec in sc.mtas]
        why = [
            f"{spec.hostname}: {unplayable(spec, overrides=False)}"
            for spec, mine in zip(sc.mtas, played, strict=True)
            if mine is None
        ] + [f"{m.hostname}: {not_played_aside(m)}" for m in sc.mtas if not_played_aside(m)]
        if not why and not everything:
            if not _about_smtp(sc):
                why = [f"about DNS alone: no expectation reads SMTP (judged with {SCOPE_ENV}=all)"]
            elif sc.mailspec_args:
                why = [
                    f"needs options of its own, {' '.join(sc.mailspec_args)} (judged with {SCOPE_ENV}=all)"
                ]
        if why:
            left_out[sc.name] = why[0]
            continue
        mtas = tuple(m for m in played if m is not None)
        scenarios.append(sc if mtas == sc.mtas else dataclasses.replace(sc, mtas=mtas))
    return tuple(scenarios), left_out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames:
        scenarios, left_out = judged()
        params = [pytest.param(sc, id=sc.name) for sc in scenarios]
        # Every other scenario is named too, skipped with the reason: the list of what is not judged.
        params += [
            pytest.param(None, id=name, marks=pytest.mark.skip(reason=f"{name}: {why}"))
            for name, why in left_out.items()
        ]
        metafunc.parametrize("scenario", params)


@pytest.fixture(scope="module")
def postfix_scenarios() -> list[Scenario]:
    return list(judged()[0])


@pytest.fixture(scope="module")
def fake_lab(postfix_lab: PostfixLab) -> Iterator[LabView]:
    """The embedded lab playing the same scenarios with its fake MTAs (on ports of its own), in a
    process of its own: in this one, its DNS and MTAs would answer late whenever the runs' output
    kept this process busy (the fake MTA plays a ``kind = "postfix"`` MTA alike, so the packaged
    scenarios are the ones Postfix plays)."""
    lab = LabProcess([sc.domain for sc in postfix_lab.scenarios])
    try:
        lab.start()
    except (LabError, OSError) as exc:
        pytest.fail(f"the embedded lab did not start: {exc}", pytrace=False)
    try:
        yield lab
    finally:
        lab.stop()


# ------------------------------------------------------------------------------------ the runs
def postfix_options(lab: PostfixLab, scenarios: Sequence[Scenario], extra: Sequence[str]) -> list[str]:
    """The options of a survey of *scenarios* through *lab*, with the *extra* options they share."""
    # The lab's blocklist, as --mail-lab sets it, unless the scenarios name their own (then only theirs).
    own_lists = any(arg.startswith("--mail-dnsbl=") for arg in extra)
    lab_args = [
        arg for arg in lab.mailspec_args(scenarios) if not (own_lists and arg.startswith("--mail-dnsbl="))
    ]
    return [*lab_args, *COMMON_OPTIONS, *extra]


def fake_options(options: Sequence[str], fake: LabView) -> list[str]:
    """*options* (:func:`postfix_options`) pointed at the embedded lab *fake* instead."""
    where = {
        "--mail-resolver": fake.resolver,
        "--mail-dns-port": str(fake.dns_port),
        "--mail-smtp-port": str(fake.smtp_port),
        "--mail-ca": str(fake.ca_path),
        "--mail-https-port": str(fake.https_port),
    }
    out = []
    for arg in options:
        flag, sep, _ = arg.partition("=")
        out.append(f"{flag}={where[flag]}" if sep and flag in where else arg)
    return out


@dataclass(frozen=True)
class VerdictRuns:
    """Scenario name -> mailspec's run against Postfix, and against the fake MTAs."""

    postfix: dict[str, MailspecRun]
    fake: dict[str, MailspecRun]


@pytest.fixture(scope="module")
def verdict_runs(
    postfix_lab: PostfixLab, fake_lab: LabView, tmp_path_factory: pytest.TempPathFactory
) -> VerdictRuns:
    """Both surveys of every scenario: one run per distinct ``mailspec_args`` (extra options apply to a
    whole run), the largest first, the two of a group side by side."""
    cwd = tmp_path_factory.mktemp("postfix-verdicts")
    groups: dict[tuple[str, ...], list[Scenario]] = {}
    for sc in postfix_lab.scenarios:
        groups.setdefault(tuple(sc.mailspec_args), []).append(sc)
    jobs: list[tuple[str, list[Scenario], list[str], Path]] = []
    for i, (extra, group) in enumerate(sorted(groups.items(), key=lambda g: -len(g[1]))):
        options = postfix_options(postfix_lab, group, extra)
        for side, argv in (("postfix", options), ("fake", fake_options(options, fake_lab))):
            folder = cwd / f"{side}-{i}"
            folder.mkdir()
            jobs.append((side, group, argv, folder))
    # Two at a time: the runs are CPU-bound (pytest's own work per check), on as few as two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda job: run_mailspec(job[2], job[3]), jobs))
    out: dict[str, dict[str, MailspecRun]] = {"postfix": {}, "fake": {}}
    for (side, group, _, _), run in zip(jobs, runs, strict=True):
        out[side].update(dict.fromkeys((sc.name for sc in group), run))
        postfix_lab.timings.append((f"mailspec over {len(group)} domains ({side})", run.seconds))
    return VerdictRuns(out["postfix"], out["fake"])


def _results(run: MailspecRun, scenario: Scenario) -> list[dict[str, Any]]:
    if run.report is None:
        pytest.fail(f"{run.problem}\n{run.describe()}", pytrace=False)
    results = run.results(scenario.domain)
    if not results:
        pytest.fail(f"the report has no result for {scenario.domain}\n{run.describe()}", pytrace=False)
    return results


def _played_as_written(scenario: Scenario, postfix_lab: PostfixLab) -> None:
    """Fail unless the lab played every MTA of the scenario (postconf can still refuse an override)."""
    labels = {f"{m.hostname} [{m.ip}]" for m in scenario.mtas}
    unplayed = {label: why for label, why in postfix_lab.unplayed.items() if label in labels}
    why = postfix_lab.skipped.get(scenario.name)
    if unplayed or why:
        pytest.fail(f"{scenario.name}: chosen as played by Postfix, but it is not: {why or unplayed}")


# ------------------------------------------------------------------------------------ expectations
def postfix_expectations(scenario: Scenario) -> Scenario:
    """*scenario* without the expectations of :data:`POSTFIX_CANNOT`."""
    cannot = {cid for name, cid in POSTFIX_CANNOT if name == scenario.name}
    if not cannot:
        return scenario
    exp = scenario.expect

    def keep(ids: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(cid for cid in ids if cid not in cannot)

    narrowed = dataclasses.replace(
        exp,
        flag=keep(exp.flag),
        passed=keep(exp.passed),
        not_passed=keep(exp.not_passed),
        skipped=keep(exp.skipped),
        error=keep(exp.error),
        warned=keep(exp.warned),
    )
    return dataclasses.replace(scenario, expect=narrowed)


def test_postfix_verdicts(scenario: Scenario, postfix_lab: PostfixLab, verdict_runs: VerdictRuns) -> None:
    """mailspec, surveying the scenario with its MTAs played by real Postfix, gives the verdicts the
    scenario expects."""
    _played_as_written(scenario, postfix_lab)
    run = verdict_runs.postfix[scenario.name]
    expected = postfix_expectations(scenario)
    problems = judge(expected, _results(run, scenario), exact=True)
    if problems:
        about = f" ({scenario.description.splitlines()[0]})" if scenario.description else ""
        head = (
            f"{scenario.name} ({scenario.domain}){about}: {len(problems)} of {expected.expect.count} "
            "expectation(s) unmet against real Postfix:"
        )
        where = f"report: {run.cwd / 'report.json'}; Postfix configurations and logs in {postfix_lab.workdir}"
        pytest.fail("\n  - ".join([head, *problems]) + "\n" + where, pytrace=False)


# ------------------------------------------------------------------------------------ the fake, compared
def _smtp_verdicts(results: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {
        (str(r.get("check")), str(r.get("subject"))): r
        for r in results
        if str(r.get("check", "")).startswith(SMTP_SIDE)
    }


def _outcome(result: Mapping[str, Any] | None) -> str:
    if result is None:
        return "(no result)"
    message = str(result.get("message") or "").strip().splitlines()
    return str(result.get("outcome")).upper() + (f" ({message[0][:200]})" if message else "")


def test_same_smtp_verdicts_as_fake(
    scenario: Scenario, postfix_lab: PostfixLab, verdict_runs: VerdictRuns
) -> None:
    """Every SMTP-side check gives every subject of the scenario the same outcome against real Postfix
    as against the embedded lab's fake MTA."""
    _played_as_written(scenario, postfix_lab)
    real, fake = verdict_runs.postfix[scenario.name], verdict_runs.fake[scenario.name]
    ours, theirs = _smtp_verdicts(_results(real, scenario)), _smtp_verdicts(_results(fake, scenario))
    differences = []
    for key in sorted(set(ours) | set(theirs)):
        mine, lab = ours.get(key), theirs.get(key)
        if mine is not None and lab is not None and mine.get("outcome") == lab.get("outcome"):
            continue
        check, subject = key
        differences.append(f"{check} [{subject}]: fake MTA {_outcome(lab)}, Postfix {_outcome(mine)}")
    if differences:
        head = (
            f"{scenario.name} ({scenario.domain}): {len(differences)} SMTP verdict(s) differ between the "
            "embedded lab's fake MTA and real Postfix:"
        )
        where = f"reports: {real.cwd / 'report.json'} (Postfix), {fake.cwd / 'report.json'} (fake)"
        pytest.fail("\n  - ".join([head, *differences]) + "\n" + where, pytrace=False)


# ------------------------------------------------------------------------------------ safety, last
def test_no_message_reached_postfix(postfix_lab: PostfixLab, verdict_runs: VerdictRuns) -> None:
    """mailspec's every probe, the intrusive ones included, stopped before DATA: no instance ever
    received or queued a message."""
    assert verdict_runs.postfix, "no mailspec run"
    counts = postfix_lab.messages_by_instance()
    assert postfix_lab.messages() == 0, {name: n for name, n in counts.items() if n}
