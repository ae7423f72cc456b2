"""Serve lab scenarios from a process of its own: ``python -m mailspec.testing.serve`` (also
``python -m mailspec.testing serve``).

A DNS server that shares a Python process with the survey it answers competes with it for the GIL,
so under machine load its answers come late and verdicts depend on the load. This entry point runs
the lab alone; :class:`~mailspec.testing.process.LabProcess` starts it and talks to it, and the lab's
container image runs it too.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import math
import os
import secrets
import selectors
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from .lab import CONTROL_IP, Lab, LabError, choose_scenarios, select_scenarios
from .scenario import ScenarioError

__all__ = [
    "ANNOUNCEMENT_FILE",
    "CA_FILE",
    "HEALTH_TIMEOUT",
    "add_announced_state_dir",
    "announcement",
    "build_health_parser",
    "build_parser",
    "dns_answers",
    "health",
    "health_main",
    "main",
    "process_state",
]

PROG = "python -m mailspec.testing.serve"
#: Seconds the lab may take to bind its sockets (LabProcess bounds the whole start-up itself).
BIND_TIMEOUT = 60.0
#: Exit status of a lab that could not start (a bad option, scenario or address), as argparse's.
EXIT_ERROR = 2
#: In --state-dir: the announcement (written once every socket is bound, removed at the end: a ready
#: marker too) and the copy of the lab CA's certificate it names as ca_path.
ANNOUNCEMENT_FILE = "lab.json"
CA_FILE = "ca.pem"
#: Seconds ``health`` waits for each DNS answer (compose's healthcheck allows the whole run 5 s).
HEALTH_TIMEOUT = 1.0
#: What ``health`` asks: the SOA of the registry's zone, which every lab serves (no scenario's
#: resolver knob, such as silent, applies to it).
HEALTH_QUERY = ("test.", "SOA")
#: Exit status of ``health`` when the lab is not healthy (Docker: 0 healthy, 1 unhealthy).
EXIT_UNHEALTHY = 1
HEALTH_PROG = "python -m mailspec.testing health"

DESCRIPTION = """\
Serve mailspec lab scenarios on loopback: over DNS (UDP and TCP) a recursive resolver at
127.0.0.153, the registry of the "test." zone and each scenario's name servers (127.0.x.y), all on
one port; each scenario's MTAs (SMTP, STARTTLS with certificates of a lab CA made at start-up) on a
second port, their ident responders on a third, and their MTA-STS policy hosts (HTTPS, with
certificates of the same CA) on a fourth. Point mailspec at it with --mail-resolver=RESOLVER
--mail-dns-port=DNS_PORT --mail-smtp-port=SMTP_PORT --mail-ca=CA_PATH.

With --dns-listen ADDR (repeatable), the resolver also answers on ADDR, on the same port: an address
of this machine's (or container's) that other hosts reach, such as the lab service's address on the
compose network (172.30.0.10), so that they can query the scenarios too.

Once every socket is bound, one JSON line goes to stdout:

  {"resolver": "127.0.0.153:PORT", "dns_port": PORT, "smtp_port": PORT, "ident_port": PORT,
   "https_port": PORT, "smtp_control": "127.0.1.25:PORT", "ca_path": "/tmp/.../ca.pem",
   "domains": [...], "waivers": [...], "dkim_selectors": [...], "scenarios": [...],
   "dns_listen": ["ADDR:PORT", ...], "pid": PID, "pid_ns": "pid:[...]", "pid_start": TICKS,
   "token": "TIME-RANDOM"}

(smtp_control is "" without --control; waivers in --mail-waive's form, DKIM selectors in
--mail-dkim-selector's SELECTOR@DOMAIN; a port is 0 where nothing listens; pid, its PID namespace and
its start time (/proc/PID/stat) say which process serves, and token is this start's own, so that a
reader can tell a live announcement from one that a killed lab left). The lab then serves until stdin
reaches its end (so it ends with the process that started it) or until SIGTERM or SIGINT, and exits
0. With --serve-forever, stdin is ignored and only a signal stops it: use that where stdin is
/dev/null, as in a container.

While serving, each line read on stdin is a command, answered by one JSON line on stdout:
  stats        {"queries_answered": N}
  smtp-stats   {"smtp_stats": {MTA address: {"connections": N, "max_open": N, "open": N,
                "peers": [...], "data_commands": N, "verbs": [...], "verbs_dropped": N}}}
  https-stats  {"https_stats": {HTTPS address: {"connections": N, "handshakes": N,
                "handshake_failures": N, "server_names": [...], "requests": [...], ...}}}
Blank lines are ignored; an unknown command is answered {"error": "..."}.

With --state-dir DIR, the lab CA's certificate is copied to DIR/ca.pem (the announced ca_path), and
the announcement is written to DIR/lab.json too, once every socket is bound (atomically, never half
a file). A stale one (a lab killed before it could remove its own) is removed at start, before any
server is up; one whose process still runs is another lab's, and the lab refuses to start. Both
files are removed at the end. Another process that shares the network namespace reads it
(python -m mailspec.testing run), and python -m mailspec.testing health --state-dir DIR tells
whether the lab that wrote it serves (a container's healthcheck).

Errors (an unknown scenario, a bad scenario file, an address that cannot be bound) print one line
on stderr naming the cause and exit 2."""

EPILOG = """\
examples:
  python -m mailspec.testing.serve                              # every packaged scenario
  python -m mailspec.testing.serve --scenario good,mx-cname --latency 0.02
  python -m mailspec.testing.serve --scenario-file my.toml --scenario-file more/
  python -m mailspec.testing serve --scenario good --port 53 --smtp-port 25 --ident-port 113 \
      --https-port 443 --state-dir /lab-state --control --serve-forever \
      --dns-listen 172.30.0.10                                   # the lab's container in compose
  python -m mailspec.testing.serve --no-mtas                    # no MTAs (real ones elsewhere)"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names",
        nargs="*",
        default=[],
        metavar="NAME[,NAME...]",
        help="packaged scenarios, as --scenario takes them (python -m mailspec.testing serve good)",
    )
    parser.add_argument(
        "-s",
        "--scenario",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="packaged scenarios by file stem or domain, comma-separated, or 'all'; repeatable "
        "(default: all, unless --scenario-file is given)",
    )
    parser.add_argument(
        "-f",
        "--scenario-file",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="a scenario TOML file, or a folder of *.toml; repeatable; served after the packaged ones",
    )
    parser.add_argument(
        "--latency",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay every DNS answer by this much (default: 0)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="PORT",
        help="UDP and TCP port of every lab address (default: 0, a free unprivileged port)",
    )
    for name, what, container in (
        ("smtp", "every MTA address (and the control MTA)", 25),
        ("ident", "every ident responder", 113),
        ("https", "every MTA-STS policy host", 443),
    ):
        parser.add_argument(
            f"--{name}-port",
            type=_port,
            default=0,
            metavar="PORT",
            help=f"TCP port of {what} (default: 0, a free unprivileged port; {container} in the lab's "
            "container)",
        )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write the lab CA's certificate ({CA_FILE}) and, once serving, the announcement "
        f"({ANNOUNCEMENT_FILE}) into DIR (made if missing), for a process that cannot read stdout",
    )
    parser.add_argument(
        "--dns-listen",
        action="append",
        default=[],
        type=_address,
        metavar="ADDR",
        help="also answer as the resolver on ADDR (an IPv4 or IPv6 address of this host's), on the DNS "
        "port; repeatable (the lab's compose service: its address on the compose network)",
    )
    parser.add_argument(
        "--no-mtas",
        action="store_true",
        help="start no MTA and no ident responder (the lab CA is still made, and the MTA-STS policy "
        "hosts still serve)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help=f"also start the control MTA on {CONTROL_IP} (a server that takes every connection, for "
        "--mail-smtp-control: it tells a dead scenario server from a blocked port); its address and "
        "port are announced as smtp_control",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        metavar="NICE",
        help="run the lab's servers at this scheduling priority (a nice value, -20 to 19: lower is "
        "sooner; below 0 needs root or CAP_SYS_NICE, and is skipped with a note otherwise). The "
        "lab stands for servers on machines of their own: on a busy machine a raised priority keeps "
        "its answers from coming late (LabProcess asks for -10)",
    )
    parser.add_argument(
        "--serve-forever",
        action="store_true",
        help="ignore stdin; serve until SIGTERM or SIGINT",
    )
    parser.add_argument(
        "--list-scenarios",
        action="store_true",
        help="print the packaged scenarios (name and domain, one a line) and exit",
    )
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {text!r}")
    return value


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def announcement(lab: Lab) -> dict[str, Any]:
    """The line printed once the lab is bound."""
    return {
        "resolver": lab.resolver,
        "dns_port": lab.dns_port,
        "smtp_port": lab.smtp_port,
        "ident_port": lab.ident_port,
        "https_port": lab.https_port,
        "smtp_control": lab.smtp_control,
        "ca_path": lab.ca_path,
        "domains": lab.domains,
        "waivers": lab.waivers,
        "dkim_selectors": lab.dkim_selectors,
        "scenarios": [sc.name for sc in lab.scenarios],
        "dns_listen": lab.dns_listen,
    }


def _prioritise(nice: int) -> None:
    """This thread's nice value, before any server thread starts (Linux: threads inherit it from the
    thread that starts them); a machine that does not allow it gets a note on stderr, not a failure."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (OSError, AttributeError) as exc:  # (EPERM or EACCES without CAP_SYS_NICE; no setpriority)
        print(f"{_NAME[0]}: note: --priority={nice} not applied: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    opts = build_parser(prog).parse_args(argv)
    _NAME[0] = prog
    if opts.list_scenarios:
        for sc in select_scenarios("all"):
            print(f"{sc.name}\t{sc.domain}")
        return 0
    _keep_stdin_open()
    if opts.priority is not None:
        _prioritise(opts.priority)
    state: Path | None = opts.state_dir
    with _stop_signals() as (wakeup, received):
        try:
            if state is not None:
                _clear_stale_state(state)  # before any server is up
            lab = Lab(
                choose_scenarios([*opts.names, *opts.scenario], opts.scenario_file),
                latency=opts.latency,
                port=opts.port,
                mtas=not opts.no_mtas,
                control=opts.control,
                smtp_port=opts.smtp_port,
                ident_port=opts.ident_port,
                https_port=opts.https_port,
                dns_listen=opts.dns_listen,
            )
            lab.start(timeout=BIND_TIMEOUT)
        except (LabError, ScenarioError, OSError) as exc:
            _error(exc)
            return EXIT_ERROR
        status = 0
        token = _token()
        try:
            # every server listens: only now the announcement, and only now lab.json
            info = {**announcement(lab), **_identity(token)}
            if state is not None:
                info = _write_state(state, lab, info)
            if _emit(info) and not received:
                _serve(lab, wakeup, received, watch_stdin=not opts.serve_forever)
        except (LabError, OSError) as exc:  # the state folder
            _error(exc)
            status = EXIT_ERROR
        finally:
            if state is not None:
                with contextlib.suppress(OSError):
                    _clear_own_state(state, token)
            if not _stop(lab):
                status = status or 1
    return status


# --------------------------------------------------------------------------- the announcer


def _token() -> str:
    """This start's own token: the time (UTC) and 64 random bits."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(8)}"


def _identity(token: str) -> dict[str, Any]:
    """Who serves: this process, its PID namespace and start time, and this start's token."""
    pid = os.getpid()
    found = _proc_stat(pid)
    return {"pid": pid, "pid_ns": _pid_namespace(), "pid_start": found[1] if found else None, "token": token}


def _pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[INODE]``), where /proc tells it."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of *pid*, from /proc/PID/stat, if readable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # (the command name, in parentheses, may hold spaces)
    try:
        return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime) of proc(5)
    except (IndexError, ValueError):
        return None


def process_state(info: Mapping[str, Any], *, strict: bool = False) -> tuple[bool | None, str]:
    """Whether the process that wrote the announcement *info* still runs, judged by its pid:
    ``(True, what)``, ``(False, why not)``, or ``(None, why this process cannot tell)`` (the pid is
    in another PID namespace, a container's that this one does not share). A pid that runs counts
    only while it is the same process (its start time, where /proc tells it); with *strict*, only
    if /proc tells it (a pid alone may be anyone's)."""
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False, "it names no pid"
    theirs, ours = info.get("pid_ns"), _pid_namespace()
    if isinstance(theirs, str) and ours is not None and theirs != ours:
        return None, f"pid {pid} is in another PID namespace ({theirs}; this process is in {ours})"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"pid {pid} is not running"
    except PermissionError:
        pass  # it runs, as another user
    found = _proc_stat(pid)
    if found is None:
        return (None if strict else True), f"pid {pid} runs (/proc does not say since when)"
    pid_state, started = found
    if pid_state in ("Z", "X"):
        return False, f"pid {pid} has exited"
    announced = info.get("pid_start")
    if isinstance(announced, int) and announced != started:
        return False, f"pid {pid} is another process now (it started later than the lab that wrote this)"
    if not isinstance(announced, int) and strict:
        return None, f"pid {pid} runs (the announcement does not say since when)"
    return True, f"pid {pid} runs"


def _dns_target(text: str) -> tuple[str, int]:
    """(address, port) of ``ADDR:PORT`` or ``[ADDR]:PORT``; ValueError if it is neither."""
    host, _, port = text.rpartition(":")
    address = str(ipaddress.ip_address(host.strip("[]")))
    number = int(port)
    if not 0 < number <= 65535:
        raise ValueError(f"port {number}")
    return address, number


def add_announced_state_dir(parser: argparse.ArgumentParser) -> None:
    """``--state-dir DIR`` (required) of a command that reads the announcement a lab wrote there
    (``health``, and ``run`` of :mod:`mailspec.labrun`)."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help=f"the lab's --state-dir, where it announces itself ({ANNOUNCEMENT_FILE})",
    )


def dns_answers(info: Mapping[str, Any], timeout: float = HEALTH_TIMEOUT) -> tuple[bool, str]:
    """Whether the lab's DNS server answers, at its resolver and at each ``dns_listen`` address of
    the announcement *info*: one query each (the registry zone's SOA, over UDP, *timeout* seconds),
    and any answer counts. ``(answered, what was seen)``."""
    listen = info.get("dns_listen")
    targets = [info.get("resolver"), *(listen if isinstance(listen, list) else [])]
    seen = []
    for target in targets:
        try:
            address, port = _dns_target(str(target))
        except ValueError:
            return False, f"the announcement names no DNS server ({target!r})"
        query = dns.message.make_query(HEALTH_QUERY[0], HEALTH_QUERY[1])
        try:
            reply = dns.query.udp(query, address, port=port, timeout=timeout)
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            return False, f"the lab's DNS server at {target} did not answer {' '.join(HEALTH_QUERY)} ({why})"
        seen.append(f"{target} ({dns.rcode.to_text(reply.rcode())})")
    return True, f"DNS answered at {', '.join(seen)}"


def health(state_dir: str | os.PathLike[str], timeout: float = HEALTH_TIMEOUT) -> tuple[bool, str]:
    """Whether the lab announced in *state_dir* serves: its announcement is there, the process that
    wrote it runs, and its DNS server answers (:func:`dns_answers`). ``(healthy, why)``."""
    path = Path(state_dir) / ANNOUNCEMENT_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, f"no {path} (the lab does not serve yet, or it stopped)"
    except (OSError, ValueError) as exc:
        return False, f"cannot read {path}: {exc}"
    if not isinstance(info, dict):
        return False, f"{path} holds no JSON object"
    running, what = process_state(info)
    if running is not True:
        return False, f"{path} is stale: {what}" if running is False else f"{path}: {what}"
    answered, said = dns_answers(info, timeout)
    if not answered:
        return False, f"{path}: {what}, but {said}"
    return True, f"{path} (token {info.get('token')}): {what}; {said}"


def build_health_parser(prog: str = HEALTH_PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Exit 0 if the lab that 'python -m mailspec.testing serve --state-dir DIR' "
        f"announced in DIR/{ANNOUNCEMENT_FILE} serves: the file is there, the process it names runs, "
        f"and the lab's DNS server answers a query (at the announced resolver and each --dns-listen "
        f"address); {EXIT_UNHEALTHY} otherwise. One line on stdout says why. A container's healthcheck "
        "(docker/compose.yaml).",
    )
    add_announced_state_dir(parser)
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=HEALTH_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for each DNS answer (default: {HEALTH_TIMEOUT:g})",
    )
    return parser


def health_main(argv: Sequence[str] | None = None, prog: str = HEALTH_PROG) -> int:
    opts = build_health_parser(prog).parse_args(argv)
    healthy, why = health(opts.state_dir, opts.timeout)
    with contextlib.suppress(OSError):
        print(f"{'healthy' if healthy else 'unhealthy'}: {why}", flush=True)
    return 0 if healthy else EXIT_UNHEALTHY


# --------------------------------------------------------------------------- the state folder


def _clear_stale_state(state: Path) -> None:
    """Made if missing, without a stale announcement (a lab killed before it could remove its own) or
    CA; :class:`LabError` if the announcement there is of a lab that still serves."""
    state.mkdir(parents=True, exist_ok=True)
    path = state / ANNOUNCEMENT_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        info = None
    except (OSError, ValueError):
        info = {}
    if isinstance(info, dict) and info.get("pid") != os.getpid():
        running, what = process_state(info, strict=True)
        if running:
            raise LabError(
                f"another lab serves from {path} ({what}, token {info.get('token')}): stop it, or give "
                "this one a --state-dir of its own"
            )
        _note(f"removing the stale {path} ({what})")
    elif info is not None:
        _note(f"removing the stale {path}")
    for name in (ANNOUNCEMENT_FILE, CA_FILE):
        with contextlib.suppress(FileNotFoundError):
            (state / name).unlink()


def _clear_own_state(state: Path, token: str) -> None:
    """The announcement and the CA, unless another lab has announced itself there since."""
    path = state / ANNOUNCEMENT_FILE
    with contextlib.suppress(FileNotFoundError):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            info = {}
        if isinstance(info, dict) and info.get("token") not in (None, token):
            return
        path.unlink()
    with contextlib.suppress(FileNotFoundError):
        (state / CA_FILE).unlink()


def _write_state(state: Path, lab: Lab, info: dict[str, Any]) -> dict[str, Any]:
    """The CA's certificate, then the announcement that names it: each renamed into place whole, so
    that a reader never sees half a file, and the announcement's presence means the lab serves."""
    ca = state / CA_FILE
    _atomic(ca, Path(lab.ca_path).read_bytes())
    info = {**info, "ca_path": str(ca.resolve())}
    _atomic(state / ANNOUNCEMENT_FILE, (json.dumps(info, indent=1) + "\n").encode())
    return info


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # (the runner may be another user: it reads both files)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- serving


def _serve(lab: Lab, wakeup: int, received: list[int], *, watch_stdin: bool) -> None:
    """Answer commands on stdin until its end (or a signal, or a parent that stopped reading)."""
    with selectors.PollSelector() as selector:  # poll, unlike epoll, takes a file or /dev/null too
        selector.register(wakeup, selectors.EVENT_READ)
        if watch_stdin:
            selector.register(0, selectors.EVENT_READ)
        pending = b""
        while not received:
            for key, _ in selector.select():
                if key.fd == wakeup:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wakeup, 512)
                    continue
                try:
                    chunk = os.read(0, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    if not stat.S_ISFIFO(os.fstat(0).st_mode):
                        _note("stdin reached its end; stopping (--serve-forever ignores stdin)")
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not _command(lab, line.decode("utf-8", "replace").strip()):
                        return


def _stop(lab: Lab) -> bool:
    try:
        lab.stop()
    except LabError as exc:
        _error(exc)
        return False
    return True


def _command(lab: Lab, command: str) -> bool:
    """Answer one command; False once stdout is gone (nobody listens: stop)."""
    if not command:
        return True
    if command == "stats":
        return _emit({"queries_answered": lab.server.queries_answered})
    if command == "smtp-stats":
        return _emit({"smtp_stats": lab.smtp_stats()})
    if command == "https-stats":
        return _emit({"https_stats": lab.https_stats()})
    return _emit({"error": f"unknown command {command!r}; known: stats, smtp-stats, https-stats"})


def _emit(obj: dict[str, Any]) -> bool:
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader is gone; point stdout at /dev/null so that the flush at exit cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return False
    return True


def _error(exc: BaseException) -> None:
    _note(f"error: {' '.join(str(exc).split())}")


#: the name the notes on stderr go under: main()'s prog
_NAME = [PROG]


def _note(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"{_NAME[0]}: {message}", file=sys.stderr, flush=True)


def _keep_stdin_open() -> None:
    """A closed fd 0 would be reused by the lab's first socket: put /dev/null (its end) there."""
    try:
        os.fstat(0)
    except OSError:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.dup2(fd, 0)
            os.close(fd)


@contextlib.contextmanager
def _stop_signals() -> Iterator[tuple[int, list[int]]]:
    """SIGTERM and SIGINT set a flag and wake the serving loop (through a self-pipe), so the lab is
    stopped by the code that runs it, not by an exception raised wherever the signal lands."""
    received: list[int] = []
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    if threading.current_thread() is not threading.main_thread():  # main() called from a thread
        try:
            yield read_fd, received
        finally:
            os.close(read_fd)
            os.close(write_fd)
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield read_fd, received
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_wakeup)
        os.close(read_fd)
        os.close(write_fd)


if __name__ == "__main__":
    sys.exit(main())
