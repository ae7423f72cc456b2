"""The host checks (``mailspec.hostchecks``, CATALOG.md §19) judged on real Exim configurations, as a user
runs them: ``pytest --pyargs mailspec.hostchecks --hosts=local:// --mail-mta=exim --mail-mta-config=FILE``.

Exim is Debian's (``exim4-daemon-light``), never installed: installed, exim4 would replace the
machine's MTA (Postfix, which the other real-server cases need). ``.ci/run`` fetches the packages
(``apt-get download exim4-daemon-light exim4-base exim4-config``) into ``$MAILSPEC_EXIM_DIR/debs``
and unpacks them (``dpkg -x``) into ``$MAILSPEC_EXIM_DIR/root`` (default ``/opt/mailspec-exim``; set
``MAILSPEC_EXIM_DIR`` to look elsewhere), and installs the libraries the daemon links. Without the
unpacked binary (no network when .ci/run ran: it leaves the reason in ``$MAILSPEC_EXIM_DIR/unavailable``)
this module skips, saying why; without root, the private mount namespace or a library, it skips too
(it fails in CI, ``CI=true``, like the rest of the tier).

Debian's exim4 is built to run as the user ``Debian-exim``, looked up by name whenever it starts
(``exim -bP`` included): every Exim here, and every mailspec run, sees a private ``/etc/passwd`` and
``/etc/group`` that add it (and ``mailadmin``, the local user the role aliases deliver to), bound
over the machine's in a private mount namespace (``unshare -m``, root) with the host's own
``/etc/hosts`` and ``/etc/resolv.conf`` (a dead loopback resolver: nothing is looked up off the
machine). Exim's ``-C`` is honoured for root, so each host is only its configuration file.

:mod:`.eximconfigs` writes one good host and, per check id that Exim is judged on, one broken host
that differs from it in one thing (with second ways of breaking some checks, and variants of the good
host that must pass as it does). Every host's Exim daemon runs (``exim4 -C FILE -bdf``), each on a
port of its own of 127.0.14.128 (and ::1 where the machine has IPv6), and each host is inspected by
its own mailspec run on that port (a subprocess from an empty folder; the runs go in parallel) with
``--mail-domain`` and the lab DNS of that domain, whose MX host is the host. The good host passes
everything (or skips, saying why); a broken host fails (or warns) on exactly its check, with a message
that names the setting, and gives every other check the good host's verdict. Then the daemons
themselves are asked (SMTP on loopback, never DATA): for each verdict with a behaviour to show (the
greeting, early talk, pipelining, MAIL without HELO, VRFY, STARTTLS with the configured certificate,
the listening addresses, RCPT to an outside domain and to the role addresses from a client outside
the host's networks), what real Exim does agrees with it.

host.relay.restricted reads Exim's own ACL verdict, ``exim -bh 192.0.2.1 -oMi MX_IP.PORT`` with
``MAIL FROM:<>`` (host-checking mode: a session on standard input, no connection opened, callouts
skipped; 192.0.2.1 is only the identity Exim is told the client has, MX_IP.PORT the interface the
daemon takes SMTP on) and the RCPT ACL's trace of which statement decided, and the RCPT ACL itself
(an ``accept`` any client meets before the relay guard, the hosts it trusts); its broken hosts hide
an open final ``accept`` behind sender verification that defers, a TEST-NET client list and a
``$received_port`` condition, and the daemons are asked as -bh asks (the null sender; only the relay
guard's refusal, ``relay not permitted``, counts as not relaying); host.role.unfiltered and the named
lists are read from ``exim -bP config``, host.helo.matches-ptr from the smtp transports' ``helo_data``
(``exim -bP transports``). The DNS-based conditions of the ACLs (the role-filter host's ``dnslists``)
ask the dead loopback resolver of the host's resolv.conf: no answer, Exim assumes "not listed".
The mailspec runs read the hosts as root, as CI runs them; the reader itself needs no root for Exim
(one test reads the good host as ``nobody``: the same settings, routes, ACLs and relay verdict, the
TLS files that only root and the Exim group may read are could-not-test).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import CATALOG
from mailspec.errors import Indeterminate
from mailspec.hostchecks import test_host as h
from mailspec.hostside import read_mta
from mailspec.settings import Settings
from mailspec.testing.process import LabProcess
from mailspec.testing.scenario import parse_scenario

from .conftest import unavailable
from .eximconfigs import (
    BROKEN,
    CONFIGS,
    DOMAIN,
    GOOD,
    GOOD_VARIANTS,
    MX_HOST,
    MX_IP,
    OUTSIDE_IP,
    VARIANTS,
    EximHost,
    HostFiles,
    Users,
    private_users,
    scenario_toml,
    write_host,
)
from .hostruns import Run, run_hostchecks, table, verdicts
from .postfix import free_tcp_port
from .test_scenarios import MailspecRun

pytestmark = pytest.mark.realservers

#: where .ci/run unpacks Debian's Exim (``root/``), its debs (``debs/``), and why it could not
EXIM_DIR = Path(os.environ.get("MAILSPEC_EXIM_DIR", "/opt/mailspec-exim"))
EXIM = EXIM_DIR / "root" / "usr" / "sbin" / "exim4"
DEBS = ("exim4-daemon-light", "exim4-base", "exim4-config")

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
#: every host but the good one
OTHER_HOSTS = (*GOOD_VARIANTS, *BROKEN, *VARIANTS)
#: Seconds one mailspec run may take.
RUN_TIMEOUT = 120.0
#: mailspec runs at once (each is a pytest start-up, then a few dozen exim/stat/ss calls)
RUNS_AT_ONCE = 6
#: mailspec's bound on each DNS query of the lab (--mail-timeout)
DNS_TIMEOUT = 6.0
#: seconds an SMTP reply of a daemon may take (its connect ACL waits a second before the greeting)
SMTP_TIMEOUT = 8.0
#: where each private mount namespace binds the host's files, before it runs the rest of its arguments
BIND = (
    'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && mount --bind "$3" /etc/passwd '
    '&& mount --bind "$4" /etc/group && shift 4 && exec "$@"'
)
#: Without --mail-domain, host.mta.listening fails an MTA that listens on loopback addresses only,
#: and this tier may listen nowhere else (the Postfix host cases say the same)
NO_DOMAIN_LOOPBACK = "any address but loopback"


# ------------------------------------------------------------------------------------ what is needed
def _ipv6() -> bool:
    """Whether the machine has ::1 (the MX host then has an AAAA record, and every daemon listens
    there too)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _exim_problem() -> tuple[str, bool] | None:
    """Why the module cannot run, and whether that is the absence of the debs (a skip, CI or not),
    or ``None``."""
    if not EXIM.is_file():
        marker = EXIM_DIR / "unavailable"
        why = marker.read_text(encoding="utf-8").strip() if marker.is_file() else "not fetched"
        return (
            f"no unpacked Exim at {EXIM} ({why}): .ci/run fetches it (apt-get download {' '.join(DEBS)} "
            f"into {EXIM_DIR}/debs, dpkg -x each into {EXIM_DIR}/root)",
            True,
        )
    ldd = shutil.which("ldd")
    if ldd is not None:
        out = subprocess.run([ldd, str(EXIM)], capture_output=True, text=True, check=False, timeout=30).stdout
        missing = [line.split()[0] for line in out.splitlines() if "not found" in line]
        if missing:
            return (
                f"{EXIM} needs libraries that are not installed: {', '.join(missing)} (.ci/run installs the "
                "library packages that exim4-daemon-light depends on)",
                False,
            )
    if os.geteuid() != 0:
        return (
            "the Exim host cases need root (a private mount namespace, Exim's -C, its spool's owner)",
            False,
        )
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the Exim host cases need unshare (Debian package util-linux)", False
    probe = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", BIND, "sh", *["/dev/null"] * 4, "true"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if probe.returncode != 0:
        last = probe.stderr.strip().splitlines()[-1:] or [f"exit status {probe.returncode}"]
        return f"the Exim host cases need a private mount namespace (unshare -m): {last[0]}", False
    return None


# ------------------------------------------------------------------------------------ the hosts
@dataclass
class Daemon:
    """One host's Exim daemon (``exim4 -C FILE -bdf`` in the host's private mount namespace)."""

    config: EximHost
    files: HostFiles
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = open(self.files.base / "daemon.out", "wb")  # noqa: SIM115 (the daemon writes to it)
        with out:
            self.process = subprocess.Popen(
                [*namespace(self.files), str(EXIM), "-C", str(self.files.config), "-bdf"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if "daemon started" in self.files.mainlog.read_text(errors="replace"):
                    return
            time.sleep(0.05)
        pytest.fail(f"the Exim daemon of {self.files.base.name} did not start:\n{self.logs()}", pytrace=False)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def logs(self) -> str:
        parts = []
        for path in (
            self.files.base / "daemon.out",
            self.files.mainlog,
            self.files.base / "log" / "paniclog",
        ):
            with contextlib.suppress(OSError):
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def messages(self) -> int:
        """How many messages reached the daemon's queue (the tier never sends DATA: 0)."""
        inbox = self.files.base / "spool" / "input"
        return sum(1 for p in inbox.rglob("*-H")) if inbox.is_dir() else 0


def namespace(files: HostFiles) -> list[str]:
    """The command prefix that runs the rest in a private mount namespace with *files*' /etc/hosts,
    /etc/resolv.conf, /etc/passwd and /etc/group."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", BIND, "sh",
            str(files.hosts), str(files.resolv), str(files.passwd), str(files.group)]  # fmt: skip


@dataclass
class EximLab:
    """Every host of :data:`CONFIGS` written and its daemon started, with the lab DNS."""

    workdir: Path
    dns: LabProcess
    ident_port: int
    ipv6: bool
    users: Users
    daemons: dict[str, Daemon] = field(default_factory=dict)

    def files(self, config: EximHost) -> HostFiles:
        return self.daemons[config.name].files

    def options(self, config: EximHost, *, with_domain: bool = True) -> list[str]:
        """mailspec's options for a run that inspects *config* (for DOMAIN, *with_domain*)."""
        domain = [
            f"--mail-domain={DOMAIN}",
            f"--mail-resolver={self.dns.resolver_ip}:{self.dns.dns_port}",
            f"--mail-dns-port={self.dns.dns_port}",
            f"--mail-timeout={DNS_TIMEOUT:g}",
        ]
        return [
            "--hosts=local://",
            "--mail-mta=exim",
            f"--mail-mta-config={self.files(config).config}",
            f"--mail-smtp-port={self.daemons[config.name].port}",
            f"--mail-ident-port={self.ident_port}",
            *(domain if with_domain else []),
        ]


def _keep(workdir: Path, lab: EximLab) -> None:
    """Each host's configuration and its daemon's logs, kept beside the tests' other files."""
    for name, daemon in lab.daemons.items():
        keep = workdir / "hosts" / name.replace("/", "--")
        keep.mkdir(parents=True, exist_ok=True)
        base = daemon.files.base
        for path in (
            daemon.files.config,
            base / "etc" / "aliases",
            daemon.files.mainlog,
            base / "daemon.out",
        ):
            with contextlib.suppress(OSError):
                shutil.copyfile(path, keep / path.name)


def usable(config: EximHost, ipv6: bool) -> bool:
    return ipv6 or not config.needs_ipv6


@pytest.fixture(scope="module")
def exim_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EximLab]:
    """The hosts of :mod:`.eximconfigs`, each with its Exim daemon running, and the lab DNS of their
    domain; every daemon is stopped at teardown, whatever happened."""
    problem = _exim_problem()
    if problem is not None:
        why, absent = problem
        if absent:
            pytest.skip(why)
        unavailable(why)
    ipv6 = _ipv6()
    workdir = tmp_path_factory.mktemp("eximchecks")
    scenario_file = workdir / "eximcheck.toml"
    scenario_file.write_text(scenario_toml(ipv6), encoding="utf-8")
    parse_scenario(scenario_toml(ipv6), name="eximcheck")  # (a broken scenario fails here, with its line)
    # (the Exim user must reach its spool: not below pytest's folders, mode 700)
    rundir = Path(tempfile.mkdtemp(prefix="mailspec-eximchecks-", dir="/tmp"))
    rundir.chmod(0o755)
    users = private_users(rundir)
    dns = LabProcess(files=[scenario_file], mtas=False)
    addresses = ["127.0.0.1", MX_IP, *(["::1"] if ipv6 else [])]
    lab = EximLab(workdir, dns, free_tcp_port(addresses), ipv6, users)
    try:
        dns.start()
        ports = {lab.ident_port}
        for config in CONFIGS:
            if not usable(config, ipv6):
                continue
            port = free_tcp_port(addresses)
            while port in ports:
                port = free_tcp_port(addresses)
            ports.add(port)
            files = write_host(
                config, rundir / config.slug, port=port, ident_port=lab.ident_port, users=users, exim=EXIM,
                ipv6=ipv6,
            )  # fmt: skip
            lab.daemons[config.name] = Daemon(config, files, port)
        for daemon in lab.daemons.values():
            daemon.start()
        deadline = time.monotonic() + 30.0
        for daemon in lab.daemons.values():
            daemon.wait_ready(deadline)
        yield lab
    finally:
        for daemon in lab.daemons.values():
            daemon.stop()
        received = {name: n for name, d in lab.daemons.items() if (n := d.messages())}
        try:
            dns.stop()
            _keep(workdir, lab)
        finally:
            shutil.rmtree(rundir, ignore_errors=True)
    # The tier's safety net: the host checks read configuration, they never send a message.
    if received:
        pytest.fail(f"messages reached Exim (DATA was sent): {received}", pytrace=False)


# ------------------------------------------------------------------------------------ the runs
#: the runs: every host with --mail-domain, and without it the good host and the hosts that break a
#: per-domain check by what the host says (listening, families) or by its aliases (the other checks'
#: verdicts do not depend on a domain; abuse@ and the certificate's names are judged as postmaster@
#: and the host name are)
NO_DOMAIN = frozenset({"host.mta.listening", "host.mta.address-families", "host.role.postmaster"})
RUNS = [(c, True) for c in CONFIGS]
RUNS += [(c, False) for c in (GOOD, *BROKEN) if c is GOOD or c.check in NO_DOMAIN]


@pytest.fixture(scope="module")
def runs(exim_lab: EximLab) -> dict[Run, MailspecRun]:
    """(config name, with a domain) -> the mailspec run that inspected it: every run of :data:`RUNS`
    whose host the machine can have, RUNS_AT_ONCE at a time."""
    jobs = [(c, d) for c, d in RUNS if c.name in exim_lab.daemons]

    def one(job: tuple[EximHost, bool]) -> MailspecRun:
        config, with_domain = job
        cwd = exim_lab.workdir / "runs" / f"{config.slug}{'' if with_domain else '--no-domain'}"
        files = exim_lab.files(config)
        options = exim_lab.options(config, with_domain=with_domain)
        return run_hostchecks(namespace(files), files.bin, options, cwd, timeout=RUN_TIMEOUT)

    with ThreadPoolExecutor(max_workers=RUNS_AT_ONCE) as pool:
        done = list(pool.map(one, jobs))
    return {(c.name, d): run for (c, d), run in zip(jobs, done, strict=True)}


def _run(runs: dict[Run, MailspecRun], config: EximHost, with_domain: bool = True) -> MailspecRun:
    if (config.name, with_domain) not in runs:
        pytest.skip(f"{config.name}: the machine has no IPv6 on loopback (::1), which this host needs")
    return runs[config.name, with_domain]


def _params(hosts: Sequence[EximHost]) -> list[Any]:
    return [pytest.param(c, id=c.name) for c in hosts]


# ------------------------------------------------------------------------------------ the verdicts
@pytest.mark.parametrize(
    "with_domain", [pytest.param(True, id="domain"), pytest.param(False, id="no-domain")]
)
def test_good_host_passes_every_check(runs: dict[Run, MailspecRun], with_domain: bool) -> None:
    """Every host check that Exim is judged on passes on the good host: with a domain, the per-domain
    checks for the domain and the others for the host; without, each for the host, where the checks
    that need a domain's MX records skip, saying so, and host.mta.listening fails the loopback-only
    listener (as it does for Postfix: this tier may listen on loopback only)."""
    run = _run(runs, GOOD, with_domain)
    rows = verdicts(run)
    expected = {(i, DOMAIN if with_domain and i in PER_DOMAIN else "") for i in HOST_IDS}
    assert rows.keys() == expected, f"{sorted(rows.keys() ^ expected)}\n{run.describe()}"

    def right(check: str, row: Mapping[str, Any]) -> bool:
        outcome, message = row["outcome"], str(row.get("message", ""))
        if not with_domain and check == "host.mta.listening":
            return outcome == "failed" and NO_DOMAIN_LOOPBACK in message
        return outcome == "passed" or (
            not with_domain and outcome == "skipped" and "--mail-domain" in message
        )

    wrong = {key: row for key, row in rows.items() if not right(key[0], row)}
    assert not wrong, f"the good host:\n{table(wrong)}\n{run.describe()}"


def test_no_check_is_left_unread_on_any_host(runs: dict[Run, MailspecRun]) -> None:
    """Every host check reads its Exim side: no result on any host says "not implemented" (the
    remote transport's helo_data, the RCPT ACL and the role addresses' exemptions used to be)."""
    for (name, _), run in runs.items():
        for (check, _), row in verdicts(run).items():
            assert "not implemented" not in str(row.get("message", "")), f"{name}: {check}: {row['message']}"


def _judge(good_run: MailspecRun, bad_run: MailspecRun, config: EximHost, with_domain: bool) -> None:
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
        # (the words name the setting of the check broken; a check it breaks too may say it otherwise)
        missing = [
            word for word in config.names if key[0] == config.check and word not in row.get("message", "")
        ]
        assert not missing, f"{key}: the message does not name {missing}:\n{row.get('message')}"
    others = dict(config.others) if broken_here else {}
    for key, row in bad.items():
        if key[0] in others:
            assert row["outcome"] == others[key[0]], (
                f"{config.name}: {key} {row['outcome']}:\n{table({key: row})}"
            )
    changed = {
        key: (good[key]["outcome"], row["outcome"])
        for key, row in bad.items()
        if key not in broken and key[0] not in others and row["outcome"] != good[key]["outcome"]
    }
    assert not changed, (
        f"{config.name} ({config.delta}) changed other verdicts (good -> broken): {changed}\n{table(bad)}"
    )


@pytest.mark.parametrize("config", _params(OTHER_HOSTS))
def test_host_breaks_its_check_only(runs: dict[Run, MailspecRun], config: EximHost) -> None:
    """A broken host's check fails (or warns) with a message that names the setting; every other
    result is the good host's (on a variant of the good host, every result is). A per-domain check is
    judged for the domain, and also without one: there it breaks too, unless only the domain's view of
    the host is wrong (``domain_only``), when it gives the good host's verdict."""
    _judge(_run(runs, GOOD), _run(runs, config), config, with_domain=True)
    if (config.name, False) in runs:
        _judge(_run(runs, GOOD, False), runs[config.name, False], config, with_domain=False)


def test_runs_took(runs: dict[Run, MailspecRun]) -> None:
    """Each run finished, well within its limit (a slow run is a host check waiting for something)."""
    slow = {name: round(run.seconds, 1) for name, run in runs.items() if run.seconds > RUN_TIMEOUT / 4}
    assert not slow, slow


# ------------------------------------------------------------------------------------ real Exim
def _connect(address: str, port: int, source: str = "127.0.0.1") -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(SMTP_TIMEOUT)
        if family == socket.AF_INET:
            sock.bind((source, 0))  # (the address EHLO [127.0.0.1] names: helo_verify_hosts verifies it)
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock


class Smtp:
    """A line-level SMTP client of one daemon, on loopback (the checks' behaviours, never DATA)."""

    def __init__(self, port: int, address: str = MX_IP, source: str = "127.0.0.1") -> None:
        self.sock = _connect(address, port, source)
        self.buffer = b""
        self.said: list[str] = []

    def send(self, *lines: str) -> None:
        self.sock.sendall(b"".join(line.encode() + b"\r\n" for line in lines))
        self.said += [f">>> {line}" for line in lines]

    def reply(self) -> str:
        """The next reply's last line ("" at the end of the connection)."""
        while True:
            while b"\r\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                text = line.decode(errors="replace")
                self.said.append(text)
                if len(text) < 4 or text[3] != "-":
                    return text
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                return ""
            self.buffer += data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"QUIT\r\n")
        self.sock.close()


def _ehlo(s: Smtp, name: str = "[127.0.0.1]") -> list[str]:
    s.send(f"EHLO {name}")
    s.reply()
    return [line[4:].upper() for line in s.said if line[:4] in ("250-", "250 ")]


#: the outside client's envelope: a sender and a recipient at domains the hosts do not serve (RFC 2606)
OUTSIDE_SENDER = "probe@example.org"
OUTSIDE_RECIPIENT = "relaytest@example.net"
#: what the relay guard of the hosts says (``require message = relay not permitted``): the one
#: refusal that shows the host does not relay (any other, a deferred sender verification or a list of
#: clients, shows only that this client, or this sender, was turned away)
RELAY_REFUSAL = "relay not permitted"


def _trusting(files: HostFiles) -> ssl.SSLContext:
    """A client context that trusts the host's own certificate files (and nothing else), and checks
    the MX host's name."""
    ctx = ssl.create_default_context(cadata="".join(p.read_text() for p in files.trusted))
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def behaves(check: str, daemon: Daemon, ipv6: bool) -> tuple[bool, str]:
    """Whether the running daemon shows what *check* asks for, and the conversation as evidence."""
    port = daemon.port
    if check in ("host.mta.listening", "host.mta.address-families"):
        wanted = ["::1"] if check == "host.mta.address-families" else [MX_IP, *(["::1"] if ipv6 else [])]
        said = []
        for address in wanted:
            try:
                _connect(address, port).close()
                said.append(f"[{address}]:{port}: connected")
            except OSError as exc:
                said.append(f"[{address}]:{port}: {exc}")
        return all(line.endswith("connected") for line in said), "\n".join(said)
    outside = check in ("host.relay.restricted", "host.role.unfiltered")
    s = Smtp(port, source=OUTSIDE_IP if outside else "127.0.0.1")
    try:
        if outside:
            # (from the client outside the host's networks, as -bh's 192.0.2.1 is; never DATA)
            s.reply()
            _ehlo(s, f"[{OUTSIDE_IP}]")
            if check == "host.relay.restricted":
                # (the null sender, as mailspec's exim -bh and exim_checkaccess send: it passes sender
                # verification; and only the relay guard's refusal counts as not relaying)
                s.send("MAIL FROM:<>")
                s.reply()
                s.send(f"RCPT TO:<{OUTSIDE_RECIPIENT}>")
                reply = s.reply()
                ok = reply.startswith("5") and RELAY_REFUSAL in reply
            else:
                s.send(f"MAIL FROM:<{OUTSIDE_SENDER}>")
                s.reply()
                replies = []
                for role in ("postmaster", "abuse"):
                    s.send(f"RCPT TO:<{role}@{DOMAIN}>")
                    replies.append(s.reply())
                ok = all(r.startswith("250") for r in replies)  # (both taken)
        elif check == "host.pregreet.enforced":
            s.send("EHLO [127.0.0.1]")  # (before the greeting)
            ok = s.reply().startswith("554")
        elif check == "host.banner.names-host":
            greeting = s.reply()
            ok = greeting.startswith(f"220 {MX_HOST} ") and "_" not in greeting
        elif check == "host.pipelining.enforced":
            s.reply()
            s.send("EHLO [127.0.0.1]", "MAIL FROM:<>")  # (MAIL without waiting for the EHLO reply)
            replies = [s.reply(), s.reply()]
            ok = any(r.startswith("554") for r in replies)
        elif check == "host.helo.required":
            s.reply()
            s.send("MAIL FROM:<>")
            ok = s.reply().startswith("5")
        elif check == "host.vrfy.restricted":
            s.reply()
            _ehlo(s)
            s.send(f"VRFY postmaster@{DOMAIN}")
            ok = s.reply()[:3] not in ("250", "251")
        elif check == "host.tls.configured":
            s.reply()
            ok = "STARTTLS" in _ehlo(s)
            if ok:
                s.send("STARTTLS")
                ok = s.reply().startswith("220")
            if ok:
                try:
                    tls = _trusting(daemon.files).wrap_socket(s.sock, server_hostname=MX_HOST)
                    s.said.append(f"TLS: {tls.version()} {tls.cipher()}")
                    s.sock = tls
                except (ssl.SSLError, OSError) as exc:
                    s.said.append(f"TLS handshake: {exc}")
                    ok = False
        else:
            raise AssertionError(f"no behaviour to probe for {check}")
    finally:
        s.close()
    return ok, "\n".join(s.said)


#: the checks whose verdict a daemon's behaviour shows
BEHAVIOURS = (
    "host.mta.listening",
    "host.mta.address-families",
    "host.banner.names-host",
    "host.helo.required",
    "host.pipelining.enforced",
    "host.pregreet.enforced",
    "host.vrfy.restricted",
    "host.tls.configured",
    "host.relay.restricted",
    "host.role.unfiltered",
)


def asked(config: EximHost, ipv6: bool) -> tuple[str, ...]:
    """The behaviours asked of *config*'s daemon: every one on the good host and its variants, those
    of the checks it breaks on a broken host; none that it cannot show from loopback (``unshown``)."""
    wanted = BEHAVIOURS if not config.check else [c for c in BEHAVIOURS if c in {config.check, *config.also}]
    return tuple(c for c in wanted if (ipv6 or c != "host.mta.address-families") and c not in config.unshown)


Shown = dict[tuple[str, str], tuple[bool, str]]  # (config name, check) -> (shown, the conversation)


@pytest.fixture(scope="module")
def behaviour(exim_lab: EximLab) -> Shown:
    """What each daemon does, for each behaviour asked of it: all at once (each conversation waits a
    second for the greeting)."""
    jobs = [(name, check) for name, d in exim_lab.daemons.items() for check in asked(d.config, exim_lab.ipv6)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        done = list(pool.map(lambda job: behaves(job[1], exim_lab.daemons[job[0]], exim_lab.ipv6), jobs))
    return dict(zip(jobs, done, strict=True))


@pytest.mark.parametrize("config", _params((GOOD, *OTHER_HOSTS)))
def test_real_exim_agrees(
    exim_lab: EximLab, runs: dict[Run, MailspecRun], behaviour: Shown, config: EximHost
) -> None:
    """What the host's running Exim does agrees with mailspec's verdict: the check passed exactly
    when the daemon shows the practice (a greeting that starts with the host name; 554 to early talk
    and to MAIL pipelined behind EHLO; 5xx to MAIL without HELO; no 250 to VRFY; STARTTLS with the
    configured certificate; a listener on each MX address; from a client outside the host's networks,
    the relay guard's 5xx to the null sender's RCPT at an outside domain (any other refusal, or a 4xx,
    is no proof), and 250 to RCPT postmaster@ and abuse@ of the domain). On
    the good host and its variants every behaviour is asked; on a broken host, those of the checks it
    breaks, but for what loopback cannot show (a public network the host trusts, a blocklist no lab
    resolver serves)."""
    rows = verdicts(_run(runs, config))
    disagree = {}
    for check in asked(config, exim_lab.ipv6):
        ok, said = behaviour[config.name, check]
        row = rows[check, DOMAIN if check in PER_DOMAIN else ""]
        if ok != (row["outcome"] == "passed"):
            disagree[check] = (
                f"mailspec {row['outcome']}: {row.get('message', '')[:300]}\n  real Exim:\n{said}"
            )
    logs = exim_lab.daemons[config.name].logs()[-2000:]
    assert not disagree, "\n".join(f"{k}: {v}" for k, v in disagree.items()) + f"\n{logs}"


# ------------------------------------------------------------------------------------ the relay probe
#: what exim -bh answers the null sender's RCPT to an outside domain on the relay hosts, and what the
#: probe alone makes of it (the RCPT ACL's ``accept`` before any relay guard fails them all besides):
#: (the RCPT code, how the ACL ended, the statement that decided, the probe's verdict)
RELAY_PROBES: dict[str, tuple[int, str, str, str]] = {
    GOOD.name: (550, "not OK", "require  domains = +local_domains", "restricted"),
    "host.relay.restricted": (250, "ACCEPT", "accept", "open"),
    # (451 for an outside sender: the null sender passes sender verification)
    "host.relay.restricted/behind-sender-verify": (250, "ACCEPT", "accept", "open"),
    # (-bh's TEST-NET client is refused before the relay guard: the guard's verdict is hidden)
    "host.relay.restricted/behind-bogons": (550, "DENY", "deny  hosts = 192.0.2.0/24", "could not test"),
    # (-oMi: $received_port is the daemon's port, as for a real client)
    "host.relay.restricted/behind-port": (250, "ACCEPT", "accept", "open"),
}


@pytest.mark.parametrize("name", list(RELAY_PROBES))
def test_the_relay_probe_on_real_exim(exim_lab: EximLab, name: str) -> None:
    """The relay probe itself (``exim -bh 192.0.2.1 -oMi MX_IP.PORT``, MAIL FROM:<>) on real Exim: the
    RCPT reply, how the RCPT ACL's trace says it ended and by which statement, and the probe's verdict
    without the ACL's static reading: a refusal counts only from the relay guard, never a 4xx."""
    daemon = exim_lab.daemons[name]
    files = daemon.files
    c = read_mta(LocalHost(files), "local", mta="exim", config=str(files.config), domains=[DOMAIN],
                 port=daemon.port)  # fmt: skip
    probe = c.relay_probe
    assert probe is not None and probe.definite, probe
    code, decision, statement, verdict = RELAY_PROBES[name]
    assert probe.interface == f"{MX_IP}.{daemon.port}" and probe.sender == ""
    assert (probe.rcpt_code, probe.decision) == (code, decision), probe
    assert probe.decided_by is not None and probe.decided_by.describe().startswith(statement), probe
    problems: list[str] = []
    unknown = h._exim_relay_probe_verdict(c, problems)
    found = "open" if problems else "could not test" if unknown else "restricted"
    assert found == verdict, (problems, unknown)


# ------------------------------------------------------------------------------------ unprivileged
@dataclass
class Ran:
    """A command's result as testinfra gives it."""

    rc: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode(errors="replace")


@dataclass
class LocalHost:
    """A testinfra-like host: each command runs in the host's private mount namespace, with its PATH,
    as root or (``user``) as that unprivileged user, the way an ssh:// host of a plain account does."""

    files: HostFiles
    user: str = ""

    def run(self, command: str, *args: str) -> Ran:
        become = []
        if self.user:
            account = pwd.getpwnam(self.user)
            become = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
        env = {"PATH": os.pathsep.join([str(self.files.bin), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])}
        proc = subprocess.run(
            [*namespace(self.files), *become, "sh", "-c", command], env=env, capture_output=True, check=False,
            timeout=60,
        )  # fmt: skip
        return Ran(proc.returncode, proc.stdout, proc.stderr)


def test_an_unprivileged_reader_reads_exim_too(exim_lab: EximLab) -> None:
    """The host reader needs no root for Exim: as ``nobody``, ``exim -C FILE -bP`` and ``-bt`` (Exim
    drops its privilege for a -C file of a user's) give what they give root, and the TLS files, which
    only root and the Exim group may read, are could-not-test (never a failure)."""
    files = exim_lab.files(GOOD)
    config = str(files.config)
    as_root = read_mta(LocalHost(files), "local", mta="exim", config=config, domains=[DOMAIN])
    plain = read_mta(LocalHost(files, user="nobody"), "local", mta="exim", config=config, domains=[DOMAIN])
    assert (as_root.problem, plain.problem) == ("", "")
    assert plain.values == as_root.values and plain.hostname == MX_HOST
    assert plain.roles == as_root.roles and all(r.deliverable for r in plain.roles.values())
    assert plain.exim_config == as_root.exim_config and plain.exim_config is not None
    assert plain.transports == as_root.transports and plain.transports["remote_smtp"]["driver"] == "smtp"
    assert plain.relay_probe is not None and as_root.relay_probe is not None
    assert (plain.relay_probe.rcpt_code, as_root.relay_probe.rcpt_code) == (550, 550), plain.relay_probe
    assert as_root.tls is not None and plain.tls is not None
    assert as_root.tls.match is True and not as_root.tls.unreadable
    assert "Permission denied" in plain.tls.cert_problem, plain.tls
    with pytest.raises(Indeterminate, match="Permission denied"):
        h.test_host_tls_configured(plain, Settings(smtp_port=exim_lab.daemons[GOOD.name].port))
