"""Real DNS servers that play a lab plan on loopback: NSD, Unbound and silent sockets.

The embedded lab (``mailspec.testing``) answers from its own Python server; this tier plays the same
plan with the servers administrators run, so that a lab quirk cannot hide a survey bug:

* every address that serves zones is an NSD (addresses serving exactly the same zones share one
  process), a stale server gets its own NSD with the older zone text, and every ``refused`` address
  is an NSD with no zones (NSD REFUSES names it is not authoritative for);
* ``silent`` addresses are sockets that read UDP and TCP and never answer;
* a ``recursive`` address is an Unbound authoritative for its zones (``auth-zone``) that recurses
  for anyone else's names: an open resolver;
* the resolver (127.0.0.153) is an Unbound without validation whose only way out is a stub zone per
  zone of the plan (the scenario's delegated name servers, or the registry), with ``IP@PORT``. Of
  the resolver knobs, ``silent`` is played by a ``deny`` local zone (questions dropped) and
  ``servfail`` by a stub to a server that REFUSES everything (Unbound then answers SERVFAIL);
  ``truncate`` cannot be played, so such a scenario is left out (:func:`playable` says why).

Every server listens on the same unprivileged port, on its own 127.0.0.0/8 address. Unbound's
outgoing queries leave from a loopback address and ``"."`` is a static local zone with a stub to
the registry, so nothing can be sent towards the real root servers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Protocol

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from mailspec.testing.scenario import Scenario, load_scenarios
from mailspec.testing.zones import LabPlan, ServerPlan, build_lab

__all__ = [
    "APT_PACKAGES",
    "READY_TIMEOUT",
    "SCENARIOS_ENV",
    "NsdInstance",
    "RealLab",
    "ServerError",
    "SilentDns",
    "UnboundInstance",
    "find_program",
    "lab_scenarios",
    "missing_programs",
    "playable",
]

#: program -> the Debian package that provides it
PROGRAMS: dict[str, str] = {"nsd": "nsd", "nsd-checkzone": "nsd", "unbound": "unbound"}
APT_PACKAGES = tuple(sorted(set(PROGRAMS.values())))
#: Seconds every server gets to answer its first question.
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
#: Seconds to wait for each readiness answer: loopback answers take well under a millisecond.
POLL_TIMEOUT = 0.05
#: Ports tried for the lab: unprivileged and below Linux's ephemeral range (32768-60999), so that no
#: client socket of the machine is likely to hold one of them.
PORT_RANGE = (20000, 32000)
#: A lab address (127.0.1.0/24 is the lab's own, never a scenario's) that REFUSES every question: the
#: resolver's stub for the domain of a ``[resolver] servfail`` scenario.
SERVFAIL_SINK = "127.0.1.253"
#: Directories where Debian puts daemons, often missing from a non-root PATH.
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class ServerError(RuntimeError):
    """A server that could not be configured or started; the message carries the end of its logs."""


def find_program(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(name, path=path)


def missing_programs() -> list[str]:
    """The programs of :data:`PROGRAMS` that this machine lacks, with their package."""
    return [f"{name} (package {pkg})" for name, pkg in PROGRAMS.items() if find_program(name) is None]


def _program(name: str) -> str:
    found = find_program(name)
    if found is None:
        raise ServerError(f"{name} is not installed (Debian package {PROGRAMS.get(name, name)})")
    return found


# ------------------------------------------------------------------------------------ DNS questions
def ask(
    ip: str,
    port: int,
    qname: str,
    rdtype: str = "SOA",
    *,
    rd: bool = False,
    timeout: float = 0.25,
    tcp: bool = False,
) -> dns.message.Message | None:
    """One question to *ip*:*port*; ``None`` when nothing usable came back in time."""
    query = dns.message.make_query(qname, rdtype)
    if not rd:
        query.flags &= ~dns.flags.RD
    try:
        if tcp:
            return dns.query.tcp(query, ip, port=port, timeout=timeout)
        return dns.query.udp(query, ip, port=port, timeout=timeout)
    except (OSError, dns.exception.DNSException):
        return None


# ------------------------------------------------------------------------------------ processes
class Process:
    """One server process in its own session, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], output: Path) -> None:
        self.name = name
        self.argv = argv
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out: IO[bytes]
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def exited(self) -> int | None:
        """The exit status once the process has ended."""
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        exited = _wait_unreaped(proc.pid, timeout)
        if exited is not None:
            # Until it is reaped, its PID (its process group's id) cannot be reused, so the group
            # holds only what it forked: NSD's helpers (xfrd, a server child), none of which may stay.
            _kill_group(proc.pid)
        proc.wait(timeout)


def _wait_unreaped(pid: int, timeout: float) -> bool | None:
    """Wait up to *timeout* for child *pid* to end without reaping it: True if it ended, False if it
    was killed for not ending in time; ``None`` if it is not there to wait for (already reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if status is not None:
            return True
        if time.monotonic() > deadline:
            _kill_group(pid)  # still running, so its group id is still its own
            return False
        time.sleep(0.005)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return "(no file)"
    return "\n".join(text.splitlines()[-lines:]) if text else "(empty)"


class Server(Protocol):
    name: str
    addresses: tuple[str, ...]

    def start(self) -> None: ...
    def wait_ready(self, deadline: float) -> None: ...
    def stop(self) -> None: ...
    def logs(self, lines: int = 15) -> str: ...


class _Daemon:
    """What NSD and Unbound instances share: a work folder, a process, logs and readiness polling."""

    program = ""
    addresses: tuple[str, ...] = ()

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / f"{self.program}.conf"
        self.log = workdir / f"{self.program}.log"
        self.process = Process(name, self._argv(), workdir / f"{self.program}.out")

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop()

    def logs(self, lines: int = 15) -> str:
        parts = [f"--- {self.name} ({', '.join(self.addresses)}): {self.workdir}"]
        for path in (self.log, self.process.output):
            tail = _tail(path, lines)
            if tail != "(empty)":
                parts.append(f"--- {path.name}\n{tail}")
        return "\n".join(parts)

    def failed(self, why: str) -> ServerError:
        return ServerError(f"{self.name}: {why}\n{self.logs()}")

    def _poll(self, deadline: float, what: str, ready: Callable[[], bool]) -> None:
        while True:
            status = self.process.exited
            if status is not None:
                raise self.failed(f"exited with status {status} while starting")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.failed(f"{what} within {READY_TIMEOUT:g} s")
            time.sleep(0.01)


# ------------------------------------------------------------------------------------ NSD
def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_zones(workdir: Path, zones: Mapping[str, str]) -> dict[str, str]:
    """Zone files named by position (origins such as the ::1 reverse name are long); origin -> file."""
    files = {}
    for i, (origin, text) in enumerate(sorted(zones.items())):
        name = f"zone{i:03d}.zone"
        (workdir / name).write_text(text, encoding="utf-8")
        files[origin] = name
    return files


class NsdInstance(_Daemon):
    """One NSD answering on *addresses*:*port*, authoritative for *zones*; it REFUSES every other name
    (with no zones at all, it REFUSES everything: a lame server). Zone transfers only for *axfr*."""

    program = "nsd"

    def __init__(
        self,
        name: str,
        addresses: Sequence[str],
        port: int,
        zones: Mapping[str, str],
        workdir: Path,
        *,
        axfr: Collection[str] = (),
        rate_limit_options: bool = True,
    ) -> None:
        self.addresses = tuple(addresses)
        self.port = port
        self.zones = dict(zones)
        self.axfr = frozenset(axfr)
        super().__init__(name, workdir)
        self.files = _write_zones(workdir, self.zones)
        self.conf.write_text(self.config(rate_limit_options=rate_limit_options), encoding="utf-8")

    def _argv(self) -> list[str]:
        return [_program("nsd"), "-d", "-c", str(self.conf)]

    def config(self, *, rate_limit_options: bool = True) -> str:
        w = self.workdir
        lines = [
            "# generated by mailspec's real-server tests",
            "server:",
            *(f"    ip-address: {ip}" for ip in self.addresses),
            f"    port: {self.port}",
            "    do-ip6: no",
            "    reuseport: no",
            '    username: ""',
            '    chroot: ""',
            f"    zonesdir: {_quoted(str(w))}",
            '    database: ""',
            f"    zonelistfile: {_quoted(str(w / 'zone.list'))}",
            f"    xfrdfile: {_quoted(str(w / 'xfrd.state'))}",
            f"    xfrdir: {_quoted(str(w))}",
            f"    pidfile: {_quoted(str(w / 'nsd.pid'))}",
            f"    logfile: {_quoted(str(self.log))}",
            "    server-count: 1",
            "    verbosity: 0",
            "    hide-version: yes",
        ]
        if rate_limit_options:
            # Response rate limiting (on in Debian's build) would slow a survey's burst of questions.
            lines += ["    rrl-ratelimit: 0", "    rrl-whitelist-ratelimit: 0"]
        lines += ["remote-control:", "    control-enable: no"]
        for origin, file in self.files.items():
            lines += ["zone:", f"    name: {_quoted(origin)}", f"    zonefile: {_quoted(file)}"]
            if origin in self.axfr:  # a transfer for any client, as on a misconfigured server
                lines += ["    provide-xfr: 0.0.0.0/0 NOKEY", "    provide-xfr: ::0/0 NOKEY"]
        return "\n".join(lines) + "\n"

    def check_config(self) -> str | None:
        """nsd-checkconf's complaint, or ``None`` when the configuration is valid (or it is not installed)."""
        checkconf = find_program("nsd-checkconf")
        if checkconf is None:
            return None
        proc = subprocess.run([checkconf, str(self.conf)], capture_output=True, text=True, check=False)
        return None if proc.returncode == 0 else (proc.stdout + proc.stderr).strip()

    def wait_ready(self, deadline: float) -> None:
        for ip in self.addresses:
            for origin in self.zones:
                what = f"{ip}:{self.port} gave no authoritative SOA for {origin}"
                self._poll(deadline, what, functools.partial(_answers_soa, ip, self.port, origin))
            if not self.zones:
                what = f"{ip}:{self.port} did not REFUSE a question"
                self._poll(deadline, what, functools.partial(_refuses, ip, self.port))


def _answers_soa(ip: str, port: int, origin: str, *, recursive: bool = False) -> bool:
    """*ip* answers SOA for *origin*: authoritatively, or (*recursive*) after recursing for it."""
    reply = ask(ip, port, origin, rd=recursive, timeout=POLL_TIMEOUT)
    if reply is None or reply.rcode() != dns.rcode.NOERROR:
        return False
    if not recursive and not reply.flags & dns.flags.AA:
        return False
    return any(rrset.rdtype == dns.rdatatype.SOA for rrset in reply.answer)


def _refuses(ip: str, port: int) -> bool:
    reply = ask(ip, port, ".", timeout=POLL_TIMEOUT)
    return reply is not None and reply.rcode() == dns.rcode.REFUSED


def check_zone(origin: str, text: str, workdir: Path) -> str | None:
    """What ``nsd-checkzone`` says against *text*, or ``None`` when NSD would load it."""
    checkzone = _program("nsd-checkzone")
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="check-", suffix=".zone", dir=workdir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        proc = subprocess.run([checkzone, origin, name], capture_output=True, text=True, check=False)
    finally:
        os.unlink(name)
    if proc.returncode == 0:
        return None
    out = (proc.stderr + proc.stdout).strip().replace(name, f"zone {origin}")
    return " / ".join(line.strip() for line in out.splitlines() if line.strip()) or f"exit {proc.returncode}"


# ------------------------------------------------------------------------------------ Unbound
class UnboundInstance(_Daemon):
    """Unbound on *ip*:*port*, recursing only through *stubs* (zone -> addresses, all on *port*).

    Without *auth_zones* it is the lab's resolver; with them it is also authoritative for those
    zones (a name server that recurses for anyone: an open resolver). Questions about a name in
    *deny* (or below it) are dropped: ``local-zone: ... deny``. No validation, no root hints:
    ``"."`` is a static local zone, so names outside the stubs are NXDOMAIN and never leave the lab.
    """

    program = "unbound"

    def __init__(
        self,
        name: str,
        ip: str,
        port: int,
        stubs: Mapping[str, Sequence[str]],
        workdir: Path,
        *,
        root_stub: Sequence[str],
        auth_zones: Mapping[str, str] | None = None,
        deny: Collection[str] = (),
        probe: str = "test",
    ) -> None:
        self.ip = ip
        self.addresses = (ip,)
        self.port = port
        self.auth_zones = dict(auth_zones or {})
        #: names whose questions (and those of every name below) are dropped unanswered
        self.deny = tuple(deny)
        # An auth-zone answers for its names itself; a stub for the same name would fight it.
        self.stubs = {z: tuple(a) for z, a in stubs.items() if z not in self.auth_zones}
        self.root_stub = tuple(root_stub)
        self.probe = probe
        super().__init__(name, workdir)
        self.files = _write_zones(workdir, self.auth_zones)
        self.conf.write_text(self.config(), encoding="utf-8")

    def _argv(self) -> list[str]:
        return [_program("unbound"), "-d", "-c", str(self.conf)]

    def config(self) -> str:
        w = self.workdir
        lines = [
            "# generated by mailspec's real-server tests",
            "server:",
            f"    interface: {self.ip}",
            f"    port: {self.port}",
            "    do-ip4: yes",
            "    do-ip6: no",
            "    do-udp: yes",
            "    do-tcp: yes",
            "    so-reuseport: no",
            # Its questions leave from a loopback address: they cannot reach anything else.
            f"    outgoing-interface: {self.ip}",
            "    do-daemonize: no",
            '    username: ""',
            '    chroot: ""',
            f"    directory: {_quoted(str(w))}",
            f"    pidfile: {_quoted(str(w / 'unbound.pid'))}",
            "    use-syslog: no",
            f"    logfile: {_quoted(str(self.log))}",
            "    log-time-ascii: yes",
            "    verbosity: 0",
            "    num-threads: 1",
            "    incoming-num-tcp: 100",
            # Open to the whole lab (and, for a recursive name server, to anyone who can reach it).
            "    access-control: 0.0.0.0/0 allow",
            "    do-not-query-localhost: no",
            # No validator: the lab's zones are unsigned, and no trust anchor is configured.
            '    module-config: "iterator"',
            "    qname-minimisation: no",
            # A lab server answers within a millisecond; a silent one must not cost the default 376 ms
            # per try, or a domain with a silent name server resolves only after seconds, and Unbound
            # drops a client's question after 1.9 s (discard-timeout).
            "    unknown-server-time-limit: 100",
            "    prefetch: no",
            "    serve-expired: no",
            '    local-zone: "." static',
        ]
        lines += [f"    local-zone: {_quoted(name + '.')} deny" for name in self.deny]
        for zone in [*self.stubs, *self.auth_zones]:
            if zone and zone not in self.deny:
                # Also overrides Unbound's default local zones (test., 127.in-addr.arpa., ...).
                lines.append(f"    local-zone: {_quoted(zone + '.')} transparent")
        lines += ["remote-control:", "    control-enable: no"]
        for zone, addresses in self.stubs.items():
            lines += ["stub-zone:", f"    name: {_quoted(zone + '.')}"]
            lines += [f"    stub-addr: {ip}@{self.port}" for ip in addresses]
        # Names in a transparent zone without a stub would otherwise go to the root hints.
        lines += [
            "stub-zone:",
            '    name: "."',
            *(f"    stub-addr: {ip}@{self.port}" for ip in self.root_stub),
        ]
        for origin, file in self.files.items():
            lines += [
                "auth-zone:",
                f"    name: {_quoted(origin + '.')}",
                f"    zonefile: {_quoted(str(w / file))}",
                "    for-downstream: yes",
                "    for-upstream: yes",
                "    fallback-enabled: no",
            ]
        return "\n".join(lines) + "\n"

    def check_config(self) -> str | None:
        checkconf = find_program("unbound-checkconf")
        if checkconf is None:
            return None
        proc = subprocess.run([checkconf, str(self.conf)], capture_output=True, text=True, check=False)
        return None if proc.returncode == 0 else (proc.stdout + proc.stderr).strip()

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def wait_ready(self, deadline: float) -> None:
        for origin in self.auth_zones:
            what = f"{self.address} gave no authoritative SOA for {origin}"
            self._poll(deadline, what, functools.partial(_answers_soa, self.ip, self.port, origin))
        what = f"{self.address} did not resolve {self.probe} SOA"
        self._poll(
            deadline, what, functools.partial(_answers_soa, self.ip, self.port, self.probe, recursive=True)
        )


# ------------------------------------------------------------------------------------ silent servers
class SilentDns:
    """Reads DNS questions over UDP and TCP on *addresses*:*port* and never answers (one thread)."""

    def __init__(self, name: str, addresses: Sequence[str], port: int) -> None:
        self.name = name
        self.addresses = tuple(addresses)
        self.port = port
        self.datagrams = 0
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None

    def start(self) -> None:
        self._wake = socket.socketpair()
        try:
            for ip in self.addresses:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._sockets.append(udp)
                udp.bind((ip, self.port))
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._sockets.append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((ip, self.port))
                tcp.listen(64)
        except OSError as exc:
            self.stop()
            raise ServerError(f"{self.name}: cannot listen on port {self.port}: {exc}") from exc
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        peers: list[socket.socket] = []
        for sock in self._sockets:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        assert self._wake is not None
        wake = self._wake[0]
        sel.register(wake, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in sel.select():
                    obj = key.fileobj
                    if not isinstance(obj, socket.socket):
                        continue
                    sock = obj
                    if sock is wake:
                        return
                    with contextlib.suppress(OSError):
                        if sock.type == socket.SOCK_DGRAM:
                            sock.recvfrom(65535)
                            self.datagrams += 1
                        elif sock in self._sockets:
                            peer, _ = sock.accept()
                            peer.setblocking(False)
                            peers.append(peer)
                            sel.register(peer, selectors.EVENT_READ)
                            self.connections += 1
                        elif not sock.recv(65535):  # the client gave up; the connection stays mute
                            sel.unregister(sock)
                            peers.remove(sock)
                            sock.close()
        finally:
            for peer in peers:
                peer.close()
            sel.close()

    def wait_ready(self, deadline: float) -> None:
        """Bound in :meth:`start`: nothing to wait for."""

    def stop(self) -> None:
        if self._thread is not None and self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(b"x")
            self._thread.join(STOP_TIMEOUT)
        self._thread = None
        for sock in [*self._sockets, *(self._wake or ())]:
            sock.close()
        self._sockets.clear()
        self._wake = None

    def logs(self, lines: int = 15) -> str:
        return (
            f"--- {self.name}: {', '.join(self.addresses)} port {self.port}: read {self.datagrams} UDP "
            f"datagram(s) and {self.connections} TCP connection(s), answered none"
        )


# ------------------------------------------------------------------------------------ scenarios
#: os.pathsep-separated scenario files or folders to play instead of the packaged scenarios
SCENARIOS_ENV = "MAILSPEC_REALSERVERS_SCENARIOS"


@functools.cache
def lab_scenarios() -> tuple[Scenario, ...]:
    """The scenarios of this tier: the packaged ones, or those :data:`SCENARIOS_ENV` names."""
    paths = [p for p in os.environ.get(SCENARIOS_ENV, "").split(os.pathsep) if p.strip()]
    return tuple(load_scenarios(paths or None))


def playable(scenarios: Sequence[Scenario], workdir: Path) -> tuple[list[Scenario], dict[str, str]]:
    """The scenarios real servers can play, and why each other one cannot (name -> reason)."""
    skipped: dict[str, str] = {}
    candidates = []
    for sc in scenarios:
        reason = _unplayable(sc)
        if reason:
            skipped[sc.name] = reason
        else:
            candidates.append(sc)
    # NSD is stricter than dnspython's zone parser (e.g. "CNAME and other data"): ask nsd-checkzone
    # about every zone text of every scenario (a stale server's older text too), in parallel.
    plans = {sc.name: build_lab([sc]) for sc in candidates}
    texts = list(dict.fromkeys(key for plan in plans.values() for key in _nsd_texts(plan)))
    checkdir = workdir / "checkzone"
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = dict(zip(texts, pool.map(lambda k: check_zone(k[0], k[1], checkdir), texts), strict=True))
    ok = []
    for sc in candidates:
        errors = sorted(
            {
                f"{origin}: {verdicts[(origin, text)]}"
                for origin, text in _nsd_texts(plans[sc.name])
                if verdicts[(origin, text)]
            }
        )
        if errors:
            skipped[sc.name] = "NSD will not load its zones: " + "; ".join(errors)
        else:
            ok.append(sc)
    return ok, skipped


def _unplayable(sc: Scenario) -> str | None:
    if sc.resolver.truncate:
        return (
            "[resolver] truncate: the embedded lab's resolver truncates its UDP answers for this domain; "
            "Unbound has no setting that truncates the answers for one domain"
        )
    for zone in sc.zones:
        if zone.axfr == "open" and any(ns.mode == "recursive" for ns in zone.nameservers):
            return f"zone {zone.name}: Unbound (the recursive name server) cannot give zone transfers"
    return None


def _nsd_texts(plan: LabPlan) -> Iterable[tuple[str, str]]:
    for server in plan.servers:
        if server.mode == "authoritative":
            yield from server.zones.items()


# ------------------------------------------------------------------------------------ the whole lab
class RealLab:
    """A lab plan played by real servers in *workdir*: ``with RealLab(scenarios, tmp) as lab: ...``."""

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        workdir: Path,
        *,
        port: int | None = None,
        skipped: Mapping[str, str] | None = None,
    ) -> None:
        self.scenarios = list(scenarios)
        #: scenarios left out of the lab (name -> why), see :func:`playable`
        self.skipped = dict(skipped or {})
        self.workdir = workdir
        self.plan: LabPlan = build_lab(self.scenarios)
        self.port = port or 0
        self.servers: list[Server] = []
        self.resolver_instance: UnboundInstance | None = None
        #: kind of server -> how many were started (kept after :meth:`stop`)
        self.inventory: dict[str, int] = {}
        #: (what, seconds): how long each phase took; users of the lab may add their own
        self.timings: list[tuple[str, float]] = []

    # -------------------------------------------------------------- what clients need
    @property
    def dns_port(self) -> int:
        return self.port

    @property
    def resolver(self) -> str:
        """``IP:PORT`` of the resolver, as ``--mail-resolver`` takes it."""
        return f"{self.plan.resolver_ip}:{self.port}"

    @property
    def domains(self) -> list[str]:
        return list(self.plan.domains)

    def stub_zones(self) -> dict[str, tuple[str, ...]]:
        """Zone -> the addresses a resolver asks for it: the registry's top-level zones, and each
        scenario zone's delegation (what ``test.`` names, lame servers included)."""
        stubs = {zone: tuple(ips) for zone, ips in self.plan.stub_zones.items()}
        for sc in self.scenarios:
            for zone in sc.zones:
                if zone.nameservers:
                    stubs[zone.name] = tuple(dict.fromkeys(ns.ip for ns in zone.delegation))
        return stubs

    def logs(self, lines: int = 15, *, scenario: Scenario | None = None) -> str:
        """The end of every server's logs; with *scenario*, only of the servers it involves (its own,
        the registry and the resolver)."""
        servers = self.servers
        if scenario is not None:
            wanted = set(scenario.addresses) | {self.plan.registry_ip, self.plan.resolver_ip}
            servers = [server for server in servers if wanted & set(server.addresses)]
        return "\n".join(server.logs(lines) for server in servers)

    # -------------------------------------------------------------- life cycle
    def _addresses(self) -> list[str]:
        return [server.ip for server in self.plan.servers] + [SERVFAIL_SINK]

    def resolver_stubs(self) -> dict[str, tuple[str, ...]]:
        """:meth:`stub_zones` with the resolver knobs Unbound can play: the domain of a ``servfail``
        scenario gets a stub of its own to a server that REFUSES everything, so that Unbound, finding
        no server that answers, gives SERVFAIL for it and every name below it."""
        stubs = self.stub_zones()
        for sc in self.scenarios:
            if sc.resolver.servfail:
                stubs[sc.domain] = (SERVFAIL_SINK,)
        return stubs

    def _build(self) -> tuple[list[Server], list[UnboundInstance]]:
        port = self.port
        first: list[Server] = []
        groups: dict[tuple[object, ...], list[ServerPlan]] = {}
        refused: list[str] = []
        silent: list[str] = []
        recursive: list[ServerPlan] = []
        for server in self.plan.servers:
            if server.mode == "authoritative":
                key = (tuple(sorted(server.zones.items())), tuple(sorted(server.axfr)))
                groups.setdefault(key, []).append(server)
            elif server.mode == "refused":
                refused.append(server.ip)
            elif server.mode == "silent":
                silent.append(server.ip)
            elif server.mode == "recursive":
                recursive.append(server)
        for members in groups.values():
            ips = [m.ip for m in members]
            first.append(
                NsdInstance(
                    f"nsd-{ips[0]}",
                    ips,
                    port,
                    members[0].zones,
                    self.workdir / f"nsd-{ips[0]}",
                    axfr=members[0].axfr,
                )
            )
        if any(sc.resolver.servfail for sc in self.scenarios):
            refused.append(SERVFAIL_SINK)
        if refused:
            first.append(
                NsdInstance(
                    f"nsd-refused-{refused[0]}", refused, port, {}, self.workdir / f"nsd-refused-{refused[0]}"
                )
            )
        if silent:
            first.append(SilentDns(f"silent-{silent[0]}", silent, port))
        stubs = self.stub_zones()
        root = (self.plan.registry_ip,)
        second = [
            UnboundInstance(
                f"unbound-{s.ip}",
                s.ip,
                port,
                stubs,
                self.workdir / f"unbound-{s.ip}",
                root_stub=root,
                auth_zones=s.zones,
                probe=next(iter(s.zones), "test"),
            )
            for s in recursive
        ]
        second.append(
            UnboundInstance(
                "unbound-resolver",
                self.plan.resolver_ip,
                port,
                self.resolver_stubs(),
                self.workdir / "unbound-resolver",
                root_stub=root,
                # A resolver that drops every question about a domain: the silent knob.
                deny=[sc.domain for sc in self.scenarios if sc.resolver.silent],
                probe="test",
            )
        )
        return first, second

    def start(self) -> RealLab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self._addresses())
        first, second = self._build()
        self.inventory = dict(Counter(type(server).__name__ for server in [*first, *second]))
        for server in [*first, *second]:
            if isinstance(server, NsdInstance | UnboundInstance):
                complaint = server.check_config()
                if complaint and isinstance(server, NsdInstance) and "rrl" in complaint:
                    # An NSD built without rate limiting does not know its options; it does not limit.
                    server.conf.write_text(server.config(rate_limit_options=False), encoding="utf-8")
                    complaint = server.check_config()
                if complaint:
                    raise ServerError(f"{server.name}: {server.conf} is rejected:\n{complaint}")
        try:
            t0 = time.monotonic()
            # The resolvers start once the authoritative servers answer: an early SERVFAIL is cached.
            self._start_all(first)
            t1 = time.monotonic()
            self._start_all(second)
            t2 = time.monotonic()
        except BaseException:
            self.stop()
            raise
        self.resolver_instance = second[-1]
        self.timings += [("name servers ready", t1 - t0), ("resolvers ready", t2 - t1)]
        return self

    def restart_resolver(self) -> float:
        """Start the resolver afresh (an empty cache, nothing learnt about the name servers), so that
        a survey does not depend on the questions asked before it; returns the seconds it took."""
        resolver = self.resolver_instance
        if resolver is None:
            raise ServerError("the lab is not running")
        t0 = time.monotonic()
        resolver.stop()
        resolver.start()
        resolver.wait_ready(time.monotonic() + READY_TIMEOUT)
        return time.monotonic() - t0

    def _start_all(self, servers: Sequence[Server]) -> None:
        for server in servers:
            self.servers.append(server)
            server.start()
        deadline = time.monotonic() + READY_TIMEOUT
        for server in servers:  # they start in parallel; waiting for each in turn costs no more
            server.wait_ready(deadline)

    def stop(self) -> None:
        servers, self.servers = self.servers, []
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda s: s.stop(), reversed(servers)))

    def __enter__(self) -> RealLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port(addresses: Sequence[str], attempts: int = 50) -> int:
    """A port that is free for UDP and TCP on every one of *addresses*."""
    rng = random.Random()
    last: OSError | None = None
    for _ in range(attempts):
        port = rng.randrange(*PORT_RANGE)
        held: list[socket.socket] = []
        try:
            for ip in addresses:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    held.append(sock)
                    if kind == socket.SOCK_STREAM:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((ip, port))
            return port
        except OSError as exc:
            last = exc
        finally:
            for sock in held:
                sock.close()
    raise ServerError(f"no port in {PORT_RANGE[0]}-{PORT_RANGE[1]} is free on all lab addresses: {last}")
