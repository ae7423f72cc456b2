"""The lab's scenarios against real servers: mailspec must give the verdicts each scenario expects.

One mailspec run, as a user types it, surveys every domain the servers play (``--mail-domain`` is
repeatable); each scenario is then one test that reads its domain's results from the shared JSON
report. ``test_servers_play_scenario`` first proves with dnspython alone that the servers serve what
the scenario describes, so that a server problem is not mistaken for a survey bug.

The servers here are name servers only, so mailspec runs with ``--mail-probe=dns`` and each scenario
is judged on what such a run can reach (:func:`dns_level`): the expectations of the checks whose
catalog probe level is ``dns``, less those that read SMTP facts. The SMTP side of the scenarios is
judged against real Postfix in ``test_postfix_verdicts.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import mailspec
from mailspec.catalog import CATALOG
from mailspec.records.dmarc import DmarcError, parse_dmarc
from mailspec.session import LAB_DNSBLS
from mailspec.testing.lab import LabError
from mailspec.testing.process import LabProcess
from mailspec.testing.scenario import Scenario, Soa
from mailspec.testing.verdicts import judge
from mailspec.testing.zones import build_lab, parse_zone

from .servers import SCENARIOS_ENV, RealLab, ask, lab_scenarios

pytestmark = pytest.mark.realservers

#: Seconds the whole mailspec run may take (every domain at once).
RUN_TIMEOUT = 300.0
#: mailspec's bound on each network operation (--mail-timeout), which each silent server costs: with
#: 2 s, the embedded lab's answers came too late now and then (four mailspec runs at once, on a loaded
#: 2-core machine), and an error is not the verdict the lab's scenario expects.
DNS_TIMEOUT = 6.0
#: mailspec runs at once through each lab (real servers, embedded lab): the large one and a small one.
RUNS_AT_ONCE = 2
#: Checks of catalog level ``dns`` whose verdict rests on the MX banner when no ``--mail-helo-name`` is
#: given (the HELO name is the banner's): a ``--mail-probe=dns`` run reads no banner, so they skip.
BANNER_READERS = ("helo.",)
#: A LDH label (RFC 1912 §2.2), as dns.soa.rname requires of every label of the RNAME.
_LDH = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames:
        scenarios = lab_scenarios()
        metafunc.parametrize("scenario", scenarios, ids=[sc.name for sc in scenarios])


# ------------------------------------------------------------------------------------ what a DNS run judges
def dns_judged(check_id: str) -> bool:
    """Whether a ``--mail-probe=dns`` run gives *check_id* (``ID`` or ``ID@SUBJECT``) a verdict of its
    own: its catalog probe level is ``dns`` and it does not read the MX banner. An id the catalog does
    not know is kept, so that judge() names it as unmet rather than it being dropped unseen."""
    check = check_id.partition("@")[0]
    entry = CATALOG.get(check)
    return entry is None or (entry.probe == "dns" and not check.startswith(BANNER_READERS))


def rname_malformed(scenario: Scenario) -> bool:
    """The scenario's SOA RNAME is itself at fault ('@', or a label that is not LDH): the DNS part of
    dns.soa.rname, which a DNS-only run can find."""
    if scenario.zone is None:
        return False
    rname = scenario.zone.soa.rname or Soa.rname
    if "@" in rname:
        return True
    # every label, those of a local part with escaped dots (first\.last) included, as the check reads it
    parts = rname.rstrip(".").replace("\\.", ".").split(".")
    return not parts or not all(_LDH.match(part) for part in parts)


def rua_undeliverable_in_dns(scenario: Scenario) -> bool:
    """A mailto: report domain of the scenario's own DMARC record has a null MX, or no MX and no
    address, in the scenario's zones: the DNS part of dmarc.rua.deliverable, which a DNS-only run can
    find (its other findings, a report mailbox refused or greylisted at RCPT, need the RCPT probe)."""
    zones = [parse_zone(name, text) for name, text in build_lab([scenario]).zones.items()]

    def records(name: str, rdtype: str) -> list[str]:
        for zone in zones:
            found = zone.get_rdataset(f"{name}.", rdtype) if zone.origin is not None else None
            if found is not None:
                return [r.to_text() for r in found]
        return []

    hosts = set()
    for text in records(f"_dmarc.{scenario.domain}", "TXT"):
        with contextlib.suppress(DmarcError):
            record = parse_dmarc("".join(part.strip('"') for part in text.split('" "')))
            hosts |= {u.host for u in (*record.rua, *record.ruf) if u.is_mailto and u.host}
    for host in hosts:
        mx = records(host, "MX")
        if (mx and all(r.split()[-1] == "." for r in mx)) or not (
            mx or records(host, "A") or records(host, "AAAA")
        ):
            return True
    return False


def dns_level(scenario: Scenario) -> Scenario:
    """*scenario* with only the expectations a ``--mail-probe=dns`` run can meet (see
    :func:`dns_judged`). dns.soa.rname is flagged there only for the RNAME's own syntax: its other
    finding, a mailbox refused at RCPT, is read off the envelopes the SMTP checks fetch, so a flag
    that rests on it stays for the Postfix tier; so is dmarc.rua.deliverable for a report domain
    without mail DNS only (:func:`rua_undeliverable_in_dns`). ``clean`` is kept; judge it over
    :func:`dns_results` only."""
    exp = scenario.expect

    def keep(ids: tuple[str, ...], *, flags: bool = False) -> tuple[str, ...]:
        kept = tuple(cid for cid in ids if dns_judged(cid))
        if flags and not rname_malformed(scenario):
            kept = tuple(cid for cid in kept if cid.partition("@")[0] != "dns.soa.rname")
        if flags and not rua_undeliverable_in_dns(scenario):
            kept = tuple(cid for cid in kept if cid.partition("@")[0] != "dmarc.rua.deliverable")
        return kept

    narrowed = dataclasses.replace(
        exp,
        flag=keep(exp.flag, flags=True),
        passed=keep(exp.passed),
        not_passed=keep(exp.not_passed, flags=True),
        skipped=keep(exp.skipped),
        error=keep(exp.error),
        warned=keep(exp.warned, flags=True),
        failed=keep(exp.failed, flags=True),
    )
    return dataclasses.replace(scenario, expect=narrowed)


def dns_results(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The results of the checks a DNS run judges (:func:`dns_judged`): a clean scenario is clean of
    alarms there, and an exact judgement names no check the run could not reach."""
    return [r for r in results if dns_judged(str(r.get("check", "")))]


# ------------------------------------------------------------------------------------ the servers alone
def _serial(reply: dns.message.Message) -> int | None:
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(rrset[0].serial)
    return None


def test_servers_play_scenario(scenario: Scenario, real_lab: RealLab) -> None:
    """Without mailspec: each name server of the scenario behaves as its mode says, and the resolver
    resolves the domain (or says it does not exist)."""
    if scenario.name in real_lab.skipped:
        pytest.skip(f"{scenario.name}: {real_lab.skipped[scenario.name]}")
    port = real_lab.dns_port
    wrong: list[str] = []
    for zone in scenario.zones:
        for ns in zone.nameservers:
            where = f"{ns.host} ({ns.ip}:{port}, {ns.mode}) for {zone.name}"
            if ns.mode == "silent":
                udp, tcp = (
                    ask(ns.ip, port, zone.name, timeout=0.3),
                    ask(ns.ip, port, zone.name, timeout=0.3, tcp=True),
                )
                if udp is not None or tcp is not None:
                    wrong.append(f"{where}: answered, it should be silent")
                continue
            reply = ask(ns.ip, port, zone.name, timeout=2.0)
            if reply is None:
                wrong.append(f"{where}: no answer to SOA")
                continue
            rcode = dns.rcode.to_text(reply.rcode())
            if ns.mode == "refused":
                if rcode != "REFUSED":
                    wrong.append(f"{where}: {rcode} to SOA, expected REFUSED")
                continue
            want = ns.serial if ns.mode == "stale" else zone.soa.serial
            if rcode != "NOERROR" or not reply.flags & dns.flags.AA or _serial(reply) != want:
                flags = dns.flags.to_text(reply.flags)
                wrong.append(
                    f"{where}: {rcode} {flags} serial {_serial(reply)}, "
                    f"expected an authoritative SOA with serial {want}"
                )
            root = ask(ns.ip, port, ".", rd=True, timeout=2.0)
            recurses = (
                root is not None and bool(root.flags & dns.flags.RA) and root.rcode() != dns.rcode.REFUSED
            )
            if recurses != (ns.mode == "recursive"):
                wrong.append(f"{where}: {'offers' if recurses else 'refuses'} recursion for '.'")
            axfr_open = zone.axfr == "open"
            transfer = ask(ns.ip, port, zone.name, "AXFR", timeout=2.0, tcp=True)
            gives = (
                transfer is not None
                and transfer.rcode() == dns.rcode.NOERROR
                and _serial(transfer) is not None
            )
            if gives != axfr_open:
                wrong.append(
                    f"{where}: zone transfer {'given' if gives else 'refused'}, axfr = {zone.axfr!r}"
                )
    resolver_ip, _, _ = real_lab.resolver.partition(":")
    if scenario.resolver.silent:  # a deny zone: the question is dropped
        dropped = ask(resolver_ip, port, scenario.domain, "SOA", rd=True, timeout=1.0)
        if dropped is not None:
            wrong.append(
                f"resolver {real_lab.resolver}: answered {scenario.domain} SOA, it should stay silent"
            )
    else:
        answer = None
        deadline = time.monotonic() + 5.0
        while answer is None and time.monotonic() < deadline:  # a stub resolver asks again, so do we
            answer = ask(resolver_ip, port, scenario.domain, "SOA", rd=True, timeout=1.0)
        rcode = "no answer" if answer is None else dns.rcode.to_text(answer.rcode())
        expected = "NOERROR" if scenario.zone is not None else "NXDOMAIN"
        lame = scenario.zone is not None and all(
            ns.mode in ("refused", "silent") for ns in scenario.zone.delegation
        )
        if scenario.resolver.servfail or lame:
            expected = "SERVFAIL"  # no server that answers: a real resolver cannot get an answer
        if rcode != expected:
            wrong.append(
                f"resolver {real_lab.resolver}: {rcode} to {scenario.domain} SOA, expected {expected}"
            )
    assert not wrong, f"{scenario.name}: the servers do not play the scenario:\n  - " + "\n  - ".join(wrong)


# ------------------------------------------------------------------------------------ running mailspec
@dataclass(frozen=True)
class MailspecRun:
    """One mailspec run over several domains, and what it left behind."""

    command: tuple[str, ...]
    cwd: Path
    returncode: int | None  #: None: killed at RUN_TIMEOUT
    output: str
    seconds: float
    report: dict[str, Any] | None
    problem: str = ""  #: why there is no report

    def results(self, domain: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = (self.report or {}).get("results", [])
        return [r for r in results if str(r.get("domain", "")).rstrip(".").lower() == domain]

    def describe(self, lines: int = 40) -> str:
        tail = "\n".join(self.output.strip().splitlines()[-lines:])
        status = (
            "killed after the time limit" if self.returncode is None else f"exit status {self.returncode}"
        )
        return (
            f"mailspec run ({status}, {self.seconds:.1f} s) in {self.cwd}:\n  {shlex.join(self.command)}\n"
            f"--- last {lines} lines of its output\n{tail}"
        )


def _project_root() -> Path:
    """Where the mailspec package under test is imported from (a checkout need not be installed)."""
    return Path(mailspec.__file__).resolve().parent.parent


def run_mailspec(options: Sequence[str], cwd: Path) -> MailspecRun:
    """mailspec's shipped suite with *options*, as a user runs it, from the empty folder *cwd*; the
    JSON report goes to ``cwd/report.json``, the output beside *cwd*."""
    return run_suite("mailspec.checks", options, cwd, timeout=RUN_TIMEOUT)


def run_suite(
    package: str,
    options: Sequence[str],
    cwd: Path,
    *,
    timeout: float,
    wrapper: Sequence[str] = (),
    path_first: Path | None = None,
) -> MailspecRun:
    """``pytest --pyargs PACKAGE`` with *options*, as a user runs it, from the folder *cwd* (made if
    missing), through *wrapper* (a command that runs the rest), *path_first* first on the PATH, killed
    after *timeout* seconds; the JSON report goes to ``cwd/report.json``, the output beside *cwd*."""
    cwd.mkdir(parents=True, exist_ok=True)
    report_path = cwd / "report.json"
    command = [
        *wrapper, sys.executable, "-m", "pytest", "-p", "mailspec", "--pyargs", package,
        *options, f"--mail-report={report_path}", "-p", "no:cacheprovider", "-q",
    ]  # fmt: skip
    # As a user runs it: none of this session's pytest settings (PYTEST_ADDOPTS, xdist's worker id).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_project_root()), env.get("PYTHONPATH")) if p)
    if path_first is not None:
        env["PATH"] = os.pathsep.join([str(path_first), env.get("PATH", os.defpath)])
    out_path = cwd.parent / f"{cwd.name}.out"
    t0 = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        returncode: int | None
        try:
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
    seconds = time.monotonic() - t0
    output = out_path.read_text(errors="replace")
    report: dict[str, Any] | None = None
    problem = ""
    if returncode is None:
        problem = f"mailspec did not finish within {timeout:g} s"
    elif not report_path.is_file():
        problem = f"mailspec wrote no report ({report_path})"
    else:
        try:
            loaded = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problem = f"mailspec's report {report_path} is not readable JSON: {exc}"
        else:
            if isinstance(loaded, dict) and isinstance(loaded.get("results"), list):
                report = loaded
            else:
                problem = f"mailspec's report {report_path} has no 'results' list"
    return MailspecRun(tuple(command), cwd, returncode, output, seconds, report, problem)


def dns_options(
    resolver: str, dns_port: int, scenarios: Sequence[Scenario], extra: Sequence[str]
) -> list[str]:
    """mailspec's options for a DNS-only survey of the domains of *scenarios* (with their waivers and the
    *extra* options they share); *resolver* (``IP:PORT``) and *dns_port* say where the lab is."""
    # The lab's blocklist, as --mail-lab sets it, unless the scenarios name their own: mailspec's
    # default lists are not served here, so every dnsbl.* verdict would be "could not test".
    own_lists = any(arg.startswith("--mail-dnsbl=") for arg in extra)
    return [
        *(f"--mail-domain={sc.domain}" for sc in scenarios),
        f"--mail-resolver={resolver}", f"--mail-dns-port={dns_port}",
        "--mail-probe=dns", f"--mail-timeout={DNS_TIMEOUT:g}",
        *([] if own_lists else [f"--mail-dnsbl={zone}" for zone in LAB_DNSBLS]),
        *(f"--mail-waive={waiver}" for sc in scenarios for waiver in sc.waivers),
        # the selectors whose keys the scenarios publish (as --mail-lab passes them: none is guessed)
        *(f"--mail-dkim-selector={s}" for sc in scenarios for s in sc.dkim_subjects),
        *extra,
    ]  # fmt: skip


def _runs(
    resolver: str,
    dns_port: int,
    scenarios: Sequence[Scenario],
    cwd: Path,
    label: str,
    timings: list[tuple[str, float]],
) -> dict[str, MailspecRun]:
    """Scenario name -> the run that surveyed its domain: one run for all scenarios, or one per distinct
    ``mailspec_args`` (extra options apply to a whole run, so they cannot be mixed). The largest run
    goes first, the small ones beside it: the large one waits on silent servers at times."""
    groups: dict[tuple[str, ...], list[Scenario]] = {}
    for sc in scenarios:
        groups.setdefault(tuple(sc.mailspec_args), []).append(sc)
    jobs = []
    for i, (extra, group) in enumerate(sorted(groups.items(), key=lambda g: -len(g[1]))):
        folder = cwd / f"{label}-{i}"
        folder.mkdir()
        jobs.append((group, dns_options(resolver, dns_port, group, extra), folder))
    with ThreadPoolExecutor(max_workers=RUNS_AT_ONCE) as pool:
        done = list(pool.map(lambda job: run_mailspec(job[1], job[2]), jobs))
    runs: dict[str, MailspecRun] = {}
    for (group, _, _), run in zip(jobs, done, strict=True):
        timings.append((f"mailspec over {len(group)} domains ({label})", run.seconds))
        runs.update(dict.fromkeys((sc.name for sc in group), run))
    return runs


@dataclass(frozen=True)
class Runs:
    """Scenario name -> mailspec's run, through the real servers and through the embedded lab."""

    real: dict[str, MailspecRun]
    embedded: dict[str, MailspecRun]
    embedded_problem: str = ""  #: why there are no embedded-lab runs


@pytest.fixture(scope="session")
def mailspec_runs(real_lab: RealLab, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The same mailspec command against the real servers and against the embedded lab playing the
    same scenarios, the real servers first."""
    cwd = tmp_path_factory.mktemp("mailspec")
    scenarios = real_lab.scenarios
    real_lab.timings.append(("resolver restarted", real_lab.restart_resolver()))

    def embedded() -> dict[str, MailspecRun]:
        # in a process of its own, as a network's servers would be: its answers never wait on this
        # process's threads (no verdict may depend on how busy the machine is)
        paths = [p for p in os.environ.get(SCENARIOS_ENV, "").split(os.pathsep) if p.strip()]
        lab_process = LabProcess(files=paths) if paths else LabProcess([sc.name for sc in scenarios])
        with lab_process as lab:
            return _runs(lab.resolver, lab.dns_port, scenarios, cwd, "embedded-lab", real_lab.timings)

    # One after the other, not both at once: the embedded lab is one Python process answering every
    # scenario's domains, and with two surveys of its own beside two of the real servers', on a
    # 2-core machine under load, it fell behind by more than two timeouts (a run of domains in a row
    # "could not test"), which is the machine's speed, not the lab's behaviour.
    real = _runs(real_lab.resolver, real_lab.dns_port, scenarios, cwd, "real-servers", real_lab.timings)
    try:
        return Runs(real, embedded())
    except LabError as exc:
        return Runs(real, {}, f"the embedded lab did not start: {exc}")


# ------------------------------------------------------------------------------------ expectations
def test_scenario_verdicts(scenario: Scenario, real_lab: RealLab, mailspec_runs: Runs) -> None:
    """mailspec, surveying the scenario's domain through real NSD and Unbound, gives the verdicts the
    scenario expects of a DNS-only run (:func:`dns_level`)."""
    if scenario.name in real_lab.skipped:
        pytest.skip(f"{scenario.name}: {real_lab.skipped[scenario.name]}")
    run = mailspec_runs.real[scenario.name]
    if run.report is None:
        pytest.fail(f"{run.problem}\n{run.describe()}", pytrace=False)
    results = run.results(scenario.domain)
    if not results:
        pytest.fail(f"the report has no result for {scenario.domain}\n{run.describe()}", pytrace=False)
    reachable = dns_level(scenario)
    problems = judge(reachable, dns_results(results), exact=True)
    # What the run cannot judge it must not have judged either: above --mail-probe=dns, a skip.
    problems += [
        f"above --mail-probe=dns: {r['check']}@{r.get('subject', '')} {r['outcome']}: {r.get('message', '')}"
        for r in results
        if CATALOG.get(str(r["check"])) is not None
        and CATALOG[str(r["check"])].probe != "dns"
        and r["outcome"] != "skipped"
    ]
    if problems:
        about = f" ({scenario.description.splitlines()[0]})" if scenario.description else ""
        head = (
            f"{scenario.name} ({scenario.domain}){about}: {len(problems)} of the {reachable.expect.count} "
            f"expectation(s) a DNS-only run can meet (of {scenario.expect.count}) unmet against real servers:"
        )
        where = f"report: {run.cwd / 'report.json'}; resolver {real_lab.resolver}; logs in {real_lab.workdir}"
        pytest.fail("\n  - ".join([head, *problems]) + "\n" + where, pytrace=False)


def _verdicts(run: MailspecRun, domain: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(r.get("check")), str(r.get("subject"))): r for r in run.results(domain)}


def test_same_verdicts_as_embedded_lab(
    scenario: Scenario,
    real_lab: RealLab,
    mailspec_runs: Runs,
) -> None:
    """Every check gives the same outcome for every subject through real servers as through the
    embedded lab: a difference is a lab that does not behave like the servers it imitates (or a
    survey that depends on a server's quirks)."""
    if scenario.name in real_lab.skipped:
        pytest.skip(f"{scenario.name}: {real_lab.skipped[scenario.name]}")
    if mailspec_runs.embedded_problem:
        pytest.fail(mailspec_runs.embedded_problem, pytrace=False)
    real, embedded = mailspec_runs.real[scenario.name], mailspec_runs.embedded[scenario.name]
    for run in (real, embedded):
        if run.report is None:
            pytest.fail(f"{run.problem}\n{run.describe()}", pytrace=False)
    ours, theirs = _verdicts(real, scenario.domain), _verdicts(embedded, scenario.domain)
    differences = []
    for key in sorted(set(ours) | set(theirs)):
        mine, lab = ours.get(key), theirs.get(key)
        if mine is not None and lab is not None and mine.get("outcome") == lab.get("outcome"):
            continue
        check, subject = key
        differences.append(
            f"{check} [{subject}]: embedded lab {_outcome(lab)}, real servers {_outcome(mine)}"
        )
    if differences:
        head = (
            f"{scenario.name} ({scenario.domain}): {len(differences)} verdict(s) differ between the "
            "embedded lab and the real servers:"
        )
        where = f"reports: {real.cwd / 'report.json'} (real), {embedded.cwd / 'report.json'} (embedded)"
        pytest.fail("\n  - ".join([head, *differences]) + "\n" + where, pytrace=False)


def _outcome(result: dict[str, Any] | None) -> str:
    if result is None:
        return "(no result)"
    message = str(result.get("message") or "").strip().splitlines()
    return str(result.get("outcome")).upper() + (f" ({message[0][:160]})" if message else "")
