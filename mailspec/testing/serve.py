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
import json
import math
import os
import selectors
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .lab import CONTROL_IP, Lab, LabError, choose_scenarios, select_scenarios
from .scenario import ScenarioError

__all__ = ["ANNOUNCEMENT_FILE", "CA_FILE", "announcement", "build_parser", "main"]

PROG = "python -m mailspec.testing.serve"
#: Seconds the lab may take to bind its sockets (LabProcess bounds the whole start-up itself).
BIND_TIMEOUT = 60.0
#: Exit status of a lab that could not start (a bad option, scenario or address), as argparse's.
EXIT_ERROR = 2
#: In --state-dir: the announcement (written once every socket is bound, removed at the end: a ready
#: marker too) and the copy of the lab CA's certificate it names as ca_path.
ANNOUNCEMENT_FILE = "lab.json"
CA_FILE = "ca.pem"

DESCRIPTION = """\
Serve mailspec lab scenarios on loopback: over DNS (UDP and TCP) a recursive resolver at
127.0.0.153, the registry of the "test." zone and each scenario's name servers (127.0.x.y), all on
one port; each scenario's MTAs (SMTP, STARTTLS with certificates of a lab CA made at start-up) on a
second port, their ident responders on a third, and their MTA-STS policy hosts (HTTPS, with
certificates of the same CA) on a fourth. Point mailspec at it with --mail-resolver=RESOLVER
--mail-dns-port=DNS_PORT --mail-smtp-port=SMTP_PORT --mail-ca=CA_PATH.

Once every socket is bound, one JSON line goes to stdout:

  {"resolver": "127.0.0.153:PORT", "dns_port": PORT, "smtp_port": PORT, "ident_port": PORT,
   "https_port": PORT, "smtp_control": "127.0.1.25:PORT", "ca_path": "/tmp/.../ca.pem",
   "domains": [...], "waivers": [...], "dkim_selectors": [...], "scenarios": [...]}

(smtp_control is "" without --control; waivers in --mail-waive's form, DKIM selectors in
--mail-dkim-selector's SELECTOR@DOMAIN; a port is 0 where nothing listens). The lab then serves until stdin
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
the announcement is written to DIR/lab.json too, once every socket is bound (atomically: its
presence means the lab serves; a stale one is removed at start, and the two files at the end).
Another process that shares the network namespace reads it: python -m mailspec.testing run.

Errors (an unknown scenario, a bad scenario file, an address that cannot be bound) print one line
on stderr naming the cause and exit 2."""

EPILOG = """\
examples:
  python -m mailspec.testing.serve                              # every packaged scenario
  python -m mailspec.testing.serve --scenario good,mx-cname --latency 0.02
  python -m mailspec.testing.serve --scenario-file my.toml --scenario-file more/
  python -m mailspec.testing serve --scenario good --port 53 --smtp-port 25 --ident-port 113 \
      --https-port 443 --state-dir /lab-state --control --serve-forever    # the lab's container
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
    }


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    opts = build_parser(prog).parse_args(argv)
    if opts.list_scenarios:
        for sc in select_scenarios("all"):
            print(f"{sc.name}\t{sc.domain}")
        return 0
    _keep_stdin_open()
    state: Path | None = opts.state_dir
    with _stop_signals() as (wakeup, received):
        try:
            if state is not None:
                _clear_state(state)
            lab = Lab(
                choose_scenarios([*opts.names, *opts.scenario], opts.scenario_file),
                latency=opts.latency,
                port=opts.port,
                mtas=not opts.no_mtas,
                control=opts.control,
                smtp_port=opts.smtp_port,
                ident_port=opts.ident_port,
                https_port=opts.https_port,
            )
            lab.start(timeout=BIND_TIMEOUT)
        except (LabError, ScenarioError, OSError) as exc:
            _error(exc)
            return EXIT_ERROR
        status = 0
        try:
            info = announcement(lab)
            if state is not None:
                info = _write_state(state, lab, info)
            if _emit(info) and not received:
                _serve(lab, wakeup, received, watch_stdin=not opts.serve_forever)
        except OSError as exc:  # the state folder could not be written
            _error(exc)
            status = EXIT_ERROR
        finally:
            if state is not None:
                with contextlib.suppress(OSError):
                    _clear_state(state)
            if not _stop(lab):
                status = status or 1
    return status


# --------------------------------------------------------------------------- the state folder


def _clear_state(state: Path) -> None:
    """Made if missing, without a stale announcement (a lab killed before it could remove its own)."""
    state.mkdir(parents=True, exist_ok=True)
    for name in (ANNOUNCEMENT_FILE, CA_FILE):
        with contextlib.suppress(FileNotFoundError):
            (state / name).unlink()


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


def _note(message: str) -> None:
    with contextlib.suppress(OSError):
        print(f"{PROG}: {message}", file=sys.stderr, flush=True)


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
