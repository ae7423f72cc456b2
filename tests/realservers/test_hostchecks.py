"""The host checks (``mailspec.hostchecks``, CATALOG.md §19) judged on real Postfix configurations, as a
user runs them: ``pytest --pyargs mailspec.hostchecks --hosts=local:// --mail-mta-config=DIR``.

:mod:`.hostconfigs` writes one good host and, per check id, one broken host that differs from it in
one thing (with second ways of breaking some checks, and variants of the good host that must pass as
it does). Each host is inspected by its own mailspec run (a subprocess from an empty folder; the runs
go in parallel), with ``--mail-domain`` and the lab DNS of that domain (its MX host is the good host's
Postfix), so that each check gives its verdict for the host and, where the catalog has one, for the
domain. The good host must pass everything (or skip, saying why); a broken host must fail (or warn) on
exactly its check, with a message that names the setting, and give every other check the good host's
verdict. Where mailspec is known to judge a host wrongly (:data:`KNOWN_CHECK_BUGS`, each with what
real Postfix does with that configuration), the test is a strict xfail (none is known now).

The good host's Postfix runs (on a free port of 127.0.14.64, postscreen in front): its sockets are
the ones every run reads, since listening sockets are the machine's. The broken host of
host.mta.listening runs too, on a port of its own; every other broken host is only read
(``postconf -c DIR``). Each run sees the host's own ``/etc/hosts`` and ``/etc/resolv.conf`` (bound
over the machine's in a private mount namespace, ``unshare -m``: the host checks resolve
``myhostname`` with ``getent``, which must neither leave loopback nor depend on this machine's files)
and its packet filter's rules (an ``nft`` at the front of its PATH that lists them).

These hosts listen on loopback only, which host.mta.listening without a domain rightly fails; a host
that listens on another address is judged in a network namespace the test creates
(:func:`test_listening_off_loopback_without_a_domain`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import shutil
import signal
import smtplib
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import CATALOG
from mailspec.testing.pki import LabCA
from mailspec.testing.process import LabProcess
from mailspec.testing.scenario import MtaSpec, parse_scenario

from .conftest import unavailable
from .hostconfigs import (
    BROKEN,
    CONFIGS,
    DOMAIN,
    GOOD,
    GOOD_VARIANTS,
    MX_HOST,
    MX_IP,
    VARIANTS,
    HostConfig,
    HostFiles,
    postconf_complaints,
    scenario_toml,
    settings_of,
    write_host,
)
from .hostruns import Run, run_hostchecks, table, verdicts
from .postfix import PostfixInstance, free_tcp_port, runtime_dir
from .test_scenarios import MailspecRun

pytestmark = pytest.mark.realservers

#: the host checks, by catalog id
HOST_IDS = sorted(i for i, e in CATALOG.items() if e.probe == "host")
#: the host checks that judge the host for each --mail-domain (without one, the host alone, or skip)
PER_DOMAIN = frozenset(
    {
        "host.mta.listening",
        "host.mta.address-families",
        "host.role.postmaster",
        "host.role.abuse",
        "host.tls.cert-current",
        "host.helo.matches-ptr",
    }
)
#: every host but the good one: its variants (every check passes), the broken hosts
OTHER_HOSTS = (*GOOD_VARIANTS, *BROKEN, *VARIANTS)
#: hosts on which mailspec.hostchecks is known to judge wrongly (each reason says what real Postfix
#: does, as seen against Postfix 3.7): strict, so that a fixed check makes its host a failure here
#: until its entry is removed
KNOWN_CHECK_BUGS: dict[str, str] = {}


def _params(hosts: Sequence[HostConfig]) -> list[Any]:
    """*hosts* as parameters, the known check bugs as strict xfails."""
    return [
        pytest.param(
            c,
            id=c.name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_CHECK_BUGS[c.name])]
            if c.name in KNOWN_CHECK_BUGS
            else [],
        )
        for c in hosts
    ]


#: the runs: every host with --mail-domain, and without it the good host and the (first) hosts that
#: break a per-domain check (the other checks' verdicts do not depend on a domain)
RUNS = [(c, True) for c in CONFIGS]
RUNS += [(c, False) for c in (GOOD, *BROKEN) if c is GOOD or c.check in PER_DOMAIN]
#: Seconds one mailspec run may take.
RUN_TIMEOUT = 120.0
#: mailspec runs at once (each is a pytest start-up, then a few dozen postconf/postmap calls)
RUNS_AT_ONCE = 4
#: mailspec's bound on each DNS query of the lab (--mail-timeout)
DNS_TIMEOUT = 6.0
#: where the private mount namespace binds each host's files
BIND = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"'


def _namespace_problem() -> str | None:
    """Why a run cannot get a private /etc/hosts (``unshare -m`` and a bind mount), or ``None``."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the host-check runs need unshare (Debian package util-linux)"
    probe = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", BIND, "sh", "/dev/null", "/dev/null", "true"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if probe.returncode != 0:
        why = probe.stderr.strip().splitlines()[-1:] or [f"exit status {probe.returncode}"]
        return (
            f"the host-check runs need a private mount namespace (unshare -m, root or CAP_SYS_ADMIN) to give "
            f"each host its own /etc/hosts: {why[0]}"
        )
    return None


# ------------------------------------------------------------------------------------ the hosts
@dataclass
class HostLab:
    """Every host of :data:`CONFIGS` written (and the running ones started), with the lab DNS."""

    workdir: Path
    dns: LabProcess
    ident_port: int
    files: dict[str, HostFiles] = field(default_factory=dict)
    #: config name -> the SMTP port its run expects the MTA on (--mail-smtp-port)
    ports: dict[str, int] = field(default_factory=dict)
    instances: dict[str, PostfixInstance] = field(default_factory=dict)

    def options(self, config: HostConfig, *, with_domain: bool = True) -> list[str]:
        """mailspec's options for a run that inspects *config* (for DOMAIN, *with_domain*)."""
        domain = [
            f"--mail-domain={DOMAIN}",
            f"--mail-resolver={self.dns.resolver_ip}:{self.dns.dns_port}",
            f"--mail-dns-port={self.dns.dns_port}",
            f"--mail-timeout={DNS_TIMEOUT:g}",
        ]
        return [
            "--hosts=local://",
            "--mail-mta=postfix",
            f"--mail-mta-config={self.files[config.name].etc}",
            f"--mail-smtp-port={self.ports[config.name]}",
            f"--mail-ident-port={self.ident_port}",
            *(domain if with_domain else []),
        ]


def _spec(config: HostConfig) -> MtaSpec:
    """The MtaSpec that a running host's :class:`PostfixInstance` is made of (its address, for the
    greeting it waits for); the host's configuration then replaces the generated one."""
    ip = MX_IP if config.listen else "127.0.0.1"
    return MtaSpec(ip=ip, hostname=MX_HOST, tls=("none",))


def _instance(
    config: HostConfig, base: Path, port: int, ident_port: int, ca: LabCA
) -> tuple[PostfixInstance, HostFiles]:
    """A (not yet started) Postfix whose configuration directory is *config*'s host's."""
    written: list[HostFiles] = []

    def configure(etc: Path) -> None:
        written.append(write_host(config, base, port=port, ident_port=ident_port, ca=ca, etc=etc))

    inst = PostfixInstance(_spec(config), DOMAIN, port, base, ca, configure=configure)
    return inst, written[0]


def _keep(workdir: Path, lab: HostLab) -> None:
    """Each host's configuration and its Postfix's logs, kept beside the tests' other files."""
    for name, files in lab.files.items():
        keep = workdir / "hosts" / name.replace("/", "--")
        keep.mkdir(parents=True, exist_ok=True)
        for path in (files.etc / "main.cf", files.etc / "master.cf", files.hosts, files.base / "maillog"):
            with contextlib.suppress(OSError):
                shutil.copyfile(path, keep / path.name)


@pytest.fixture(scope="module")
def host_lab(postfix_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostLab]:
    """The hosts of :mod:`.hostconfigs` and the lab DNS of their domain; every Postfix started is
    stopped at teardown, whatever happened."""
    why = _namespace_problem()
    if why:
        unavailable(why)
    workdir = tmp_path_factory.mktemp("hostchecks")
    scenario_file = workdir / "hostcheck.toml"
    scenario_file.write_text(scenario_toml(), encoding="utf-8")
    parse_scenario(scenario_toml(), name="hostcheck")  # (a broken scenario fails here, with its line)
    rundir = runtime_dir("mailspec-hostchecks-")
    ca_dir = rundir / "ca"
    ca_dir.mkdir()
    ca = LabCA(ca_dir)
    dns = LabProcess(files=[scenario_file], mtas=False)
    lab = HostLab(workdir, dns, ident_port=free_tcp_port(["127.0.0.1", MX_IP]))
    try:
        dns.start()
        smtp_port = free_tcp_port(["127.0.0.1", MX_IP])
        for config in CONFIGS:
            base = rundir / config.slug
            port = smtp_port if config is GOOD or not config.runs else free_tcp_port(["127.0.0.1", MX_IP])
            lab.ports[config.name] = port
            if config.runs:
                inst, lab.files[config.name] = _instance(config, base, port, lab.ident_port, ca)
                lab.instances[config.name] = inst
            else:
                lab.files[config.name] = write_host(config, base, port=port, ident_port=lab.ident_port, ca=ca)
        with ThreadPoolExecutor(max_workers=RUNS_AT_ONCE) as pool:
            found = pool.map(postconf_complaints, [f.etc for f in lab.files.values()])
            complaints = dict(zip(lab.files, found, strict=True))
        wrong = {name: why for name, why in complaints.items() if why}
        if wrong:
            pytest.fail(f"postconf -n complains of the hosts' configurations: {wrong}", pytrace=False)
        for inst in lab.instances.values():
            inst.start()
        deadline = time.monotonic() + 40.0
        for inst in lab.instances.values():
            inst.wait_ready(deadline)
        yield lab
    finally:
        for inst in lab.instances.values():
            inst.terminate()
        errors = []
        for inst in lab.instances.values():
            try:
                inst.stop()
            except Exception as exc:  # one failure must not leave the others running
                errors.append(exc)
        received = {name: n for name, inst in lab.instances.items() if (n := inst.messages())}
        try:
            dns.stop()
            _keep(workdir, lab)
        finally:
            shutil.rmtree(rundir, ignore_errors=True)
        if errors:
            raise errors[0]
    # The tier's safety net: the host checks read configuration, they never send a message.
    if received:
        pytest.fail(f"messages reached Postfix (DATA or BDAT was sent): {received}", pytrace=False)


# ------------------------------------------------------------------------------------ the runs
def run_on(files: HostFiles, options: Sequence[str], cwd: Path, prefix: Sequence[str] = ()) -> MailspecRun:
    """mailspec's host checks on the host of *files*: its /etc/hosts and /etc/resolv.conf bound in a
    private mount namespace, its ``nft`` first on the PATH. *prefix* runs it through another command
    (``nsenter --net=...``: in the host's network namespace)."""
    wrapper = [*prefix, "unshare", "-m", "--propagation", "private", "sh", "-c", BIND, "sh"]
    wrapper += [str(files.hosts), str(files.resolv)]
    return run_hostchecks(wrapper, files.bin, options, cwd, timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def runs(host_lab: HostLab) -> dict[Run, MailspecRun]:
    """(config name, with a domain) -> the mailspec run that inspected it: every run of :data:`RUNS`,
    RUNS_AT_ONCE at a time."""

    def one(job: tuple[HostConfig, bool]) -> MailspecRun:
        config, with_domain = job
        files = host_lab.files[config.name]
        cwd = host_lab.workdir / "runs" / f"{config.slug}{'' if with_domain else '--no-domain'}"
        return run_on(files, host_lab.options(config, with_domain=with_domain), cwd)

    with ThreadPoolExecutor(max_workers=RUNS_AT_ONCE) as pool:
        done = list(pool.map(one, RUNS))
    return {(c.name, d): run for (c, d), run in zip(RUNS, done, strict=True)}


@pytest.mark.parametrize("config", OTHER_HOSTS, ids=[c.name for c in OTHER_HOSTS])
def test_host_differs_from_the_good_one_as_intended(host_lab: HostLab, config: HostConfig) -> None:
    """Each other host's ``postconf -n`` differs from the good host's in the settings it says, and
    nothing else (the configuration directories' paths aside); its master.cf only where it says."""
    good_dir, bad_dir = host_lab.files[GOOD.name], host_lab.files[config.name]

    def normalised(files: HostFiles) -> dict[str, str]:
        return {k: v.replace(str(files.base), "BASE") for k, v in settings_of(files.etc).items()}

    good, bad = normalised(good_dir), normalised(bad_dir)
    differ = {k for k in good.keys() | bad.keys() if good.get(k) != bad.get(k)}
    assert differ == {k for k, _ in config.main}, f"{config.name}: {sorted(differ)} differ"
    master = [(bad_dir.etc / "master.cf").read_text(), (good_dir.etc / "master.cf").read_text()]
    master[0] = master[0].replace(str(host_lab.ports[config.name]), str(host_lab.ports[GOOD.name]))
    own = (config.front, config.listen, config.smtpd_options)
    assert (master[0] != master[1]) == (own != (GOOD.front, GOOD.listen, GOOD.smtpd_options))


def test_running_hosts_greet(host_lab: HostLab) -> None:
    """The hosts that run answer with their banner (postscreen lets loopback clients, mynetworks, on
    to smtpd at once)."""
    assert set(host_lab.instances) == {c.name for c in CONFIGS if c.runs}
    for name, inst in host_lab.instances.items():
        assert inst.running, name
        client = smtplib.SMTP(timeout=10)
        try:
            code, text = client.connect(*inst.address)
            client.quit()
        finally:
            client.close()
        assert (code, text.decode()) == (220, f"{MX_HOST} ESMTP"), f"{name}:\n{inst.logs()}"


# ------------------------------------------------------------------------------------ the verdicts
#: Without a domain, host.mta.listening fails an MTA that listens on loopback addresses only (no other
#: host can reach it), and this tier's hosts listen on 127.0.14.64 by rule: for them, that failure is
#: the right verdict. test_listening_off_loopback_without_a_domain judges a host that listens on
#: another address, in a network namespace of its own.
LOOPBACK_ONLY = ("host.mta.listening", "")


@pytest.mark.parametrize(
    "with_domain", [pytest.param(True, id="domain"), pytest.param(False, id="no-domain")]
)
def test_good_host_passes_every_check(runs: dict[Run, MailspecRun], with_domain: bool) -> None:
    """Every host check passes on the good host: with a domain, the per-domain checks for the domain
    and the others for the host; without, each for the host, where only the checks that need a
    domain's MX records skip, saying so, and host.mta.listening fails, since the lab host listens on
    loopback only."""
    run = runs[GOOD.name, with_domain]
    rows = verdicts(run)
    expected = {(i, DOMAIN if with_domain and i in PER_DOMAIN else "") for i in HOST_IDS}
    assert rows.keys() == expected, f"{sorted(rows.keys() ^ expected)}\n{run.describe()}"
    if not with_domain:
        row = rows.pop(LOOPBACK_ONLY)
        assert row["outcome"] == "failed", f"{table({LOOPBACK_ONLY: row})}\n{run.describe()}"
        assert "at any address but loopback" in row["message"], row["message"]
    wrong = {
        key: row
        for key, row in rows.items()
        if not (
            row["outcome"] == "passed"
            or (not with_domain and row["outcome"] == "skipped" and "--mail-domain" in row.get("message", ""))
        )
    }
    assert not wrong, f"the good host:\n{table(wrong)}\n{run.describe()}"


def _judge(good_run: MailspecRun, bad_run: MailspecRun, config: HostConfig, with_domain: bool) -> None:
    good, bad = verdicts(good_run), verdicts(bad_run)
    assert good.keys() == bad.keys(), f"{sorted(good.keys() ^ bad.keys())}"
    broken_here = not config.domain_only or with_domain
    checks = {config.check, *config.also} if broken_here else set()
    broken = {key: row for key, row in bad.items() if key[0] in checks}
    for key, row in broken.items():
        assert row["outcome"] == config.outcome, (
            f"{config.name} ({config.delta}): {key} {row['outcome']}, expected {config.outcome}:\n"
            f"{table({key: row})}\n{bad_run.describe()}"
        )
        missing = [word for word in config.names if word not in row.get("message", "")]
        assert not missing, f"{key}: the message does not name {missing}:\n{row.get('message')}"
    changed = {
        key: (good[key]["outcome"], row["outcome"])
        for key, row in bad.items()
        if key not in broken and row["outcome"] != good[key]["outcome"]
    }
    assert not changed, (
        f"{config.name} ({config.delta}) changed other verdicts (good -> broken): {changed}\n{table(bad)}"
    )


@pytest.mark.parametrize("config", _params(OTHER_HOSTS))
def test_host_breaks_its_check_only(runs: dict[Run, MailspecRun], config: HostConfig) -> None:
    """A broken host's check fails (or warns) with a message that names the setting; every other
    result is the good host's (on a variant of the good host, every result is). A per-domain check is
    judged for the domain, and (for the first broken host of each) also without one: there it breaks
    too, unless only the domain's view of the host is wrong (``domain_only``), when it gives the good
    host's verdict."""
    _judge(runs[GOOD.name, True], runs[config.name, True], config, with_domain=True)
    if (config.name, False) in runs:
        _judge(runs[GOOD.name, False], runs[config.name, False], config, with_domain=False)


def test_runs_took(runs: dict[Run, MailspecRun]) -> None:
    """Each run finished, well within its limit (a slow run is a host check waiting for something)."""
    slow = {name: round(run.seconds, 1) for name, run in runs.items() if run.seconds > RUN_TIMEOUT / 4}
    assert not slow, slow


# ------------------------------------------------------------- listening off loopback (a namespace)
#: the host's address in the network namespace the test creates (nothing outside it has it)
OFF_LOOPBACK = "10.77.0.25"


@contextlib.contextmanager
def network_namespace() -> Iterator[list[str]]:
    """A network namespace of its own with loopback up, holding :data:`OFF_LOOPBACK` too; yields
    the prefix that runs a command in it (``nsenter --net=...``). The namespace is set up by its
    holder process itself, once unshared (``unshare --net sh -c ...``: nothing can reach the
    machine's own interfaces), and lives as long as that holder, killed at the end."""
    # (on loopback's interface: this kernel may have no dummy or veth driver, and the check judges
    # the address, which is no loopback address)
    script = f"ip link set lo up && ip addr add {OFF_LOOPBACK}/32 dev lo && echo ready && exec sleep 600"
    holder = subprocess.Popen(
        ["unshare", "--net", "sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stderr is not None
        with selectors.DefaultSelector() as selector:
            selector.register(holder.stdout, selectors.EVENT_READ)
            ready = bool(selector.select(30)) and holder.stdout.readline() == b"ready\n"
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
            unavailable(
                f"an address in a network namespace ({script}): {holder.stderr.read().decode().strip()}"
            )
        yield ["nsenter", f"--net=/proc/{holder.pid}/ns/net"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        for stream in (holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()


def _listening(prefix: Sequence[str], port: int) -> list[str]:
    """The TCP sockets listening on *port* in the namespace (``ss -ltn``)."""
    out = subprocess.run(
        [*prefix, "ss", "-H", "-l", "-t", "-n"], capture_output=True, text=True, timeout=30, check=False
    )
    return [
        f[3]
        for f in (line.split() for line in out.stdout.splitlines())
        if len(f) > 3 and f[3].endswith(f":{port}")
    ]


@pytest.mark.parametrize(
    ("listen", "outcome"),
    [pytest.param(OFF_LOOPBACK, "passed", id="mx-address"), pytest.param("", "failed", id="loopback-only")],
)
def test_listening_off_loopback_without_a_domain(
    postfix_installed: None, tmp_path: Path, listen: str, outcome: str
) -> None:
    """Without a domain, host.mta.listening passes a Postfix that listens on port 25 at an address
    other hosts can reach, and fails one whose only listener is loopback (inet_interfaces =
    loopback-only, master.cf binding no address): real Postfix, in a network namespace of its own
    that holds :data:`OFF_LOOPBACK` (the machine's other tiers may listen on loopback only)."""
    why = _namespace_problem()
    if why:
        unavailable(why)
    config = dataclasses.replace(GOOD, name=f"good/listen-{listen or 'inet-interfaces'}", listen=listen,
                                 hosts=((OFF_LOOPBACK, MX_HOST),))  # fmt: skip
    port = 25
    rundir = runtime_dir("mailspec-listening-")
    ca_dir = rundir / "ca"
    ca_dir.mkdir()
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, rundir, ignore_errors=True)
        prefix = stack.enter_context(network_namespace())
        inst, files = _instance(config, rundir / "host", port, 113, LabCA(ca_dir))
        inst.process.argv = [*prefix, *inst.process.argv]
        try:
            inst.start()
            deadline = time.monotonic() + 40.0
            while not _listening(prefix, port):
                if inst.process.exited is not None or time.monotonic() > deadline:
                    pytest.fail(f"Postfix did not listen on port {port} in the namespace:\n{inst.logs()}")
                time.sleep(0.05)
            sockets = _listening(prefix, port)
            options = [
                "--hosts=local://",
                "--mail-mta=postfix",
                f"--mail-mta-config={files.etc}",
                f"--mail-smtp-port={port}",
                "--mail-ident-port=113",
                "-k",
                "host_mta_listening",
            ]
            run = run_on(files, options, tmp_path / "run", prefix=prefix)
        finally:
            inst.terminate()
            inst.stop()
    rows = verdicts(run)
    row = rows[("host.mta.listening", "")]
    assert row["outcome"] == outcome, f"listening on {sockets}:\n{table(rows)}\n{run.describe()}"
    if outcome == "failed":
        assert "any address but loopback" in row["message"], row["message"]
    else:
        assert sockets == [f"{OFF_LOOPBACK}:{port}"], sockets
