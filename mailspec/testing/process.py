"""The lab in a process of its own: :class:`LabProcess`.

A lab in the survey's own process competes with it for the GIL: under machine load its answers come
late (a TCP fallback took seconds), so verdicts would depend on the load. A :class:`LabProcess` runs
``python -m mailspec.testing.serve`` (:mod:`mailspec.testing.serve`) and reads the API a caller needs
from its first line::

    with LabProcess.from_names(["good"]) as lab:
        dns.query.udp(query, lab.resolver_ip, port=lab.dns_port)
        smtplib.SMTP("127.0.2.10", lab.smtp_port)
        lab.https_port, lab.dkim_selectors          # the policy hosts' port, ["s1@good.test"]

The child serves until its stdin reaches its end, so it ends with its parent, however the parent ends.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Any

from .lab import LabError, LabView, choose_scenarios
from .zones import RESOLVER_IP

__all__ = ["PRIORITY", "PROCESS_START_TIMEOUT", "PROCESS_STOP_TIMEOUT", "LabProcess"]

#: Seconds start() waits for the child's ready line: a Python start-up, imports and the binding of
#: every address, on a machine that may be busy.
PROCESS_START_TIMEOUT = 30.0
#: Seconds stop() waits for the child to end after closing its stdin, before it terminates it.
PROCESS_STOP_TIMEOUT = 10.0
#: Seconds a command (``stats``) waits for its answer.
REPLY_TIMEOUT = 10.0
_KILL_TIMEOUT = 5.0
_FAILED_TIMEOUT = 1.0  # a child that failed to start gets this long after its stdin is closed
_STDERR_SHOWN = 4000
#: The child's nice value (``serve --priority``): the lab stands for servers on machines of their own,
#: and a survey's timeouts must not depend on how busy this one is. Only root (CAP_SYS_NICE) may
#: lower it below 0; elsewhere the child notes that and runs as it is. None: as the parent runs.
PRIORITY = -10


class LabProcess(LabView):
    """Lab scenarios served by ``python -m mailspec.testing.serve`` in a child process.

    *names* are packaged scenarios (file stem or domain, comma-separated allowed, ``"all"``), *files*
    scenario TOML files or folders of them; no name and no file means every packaged scenario, files
    alone only the files. *priority*: the child's nice value (:data:`PRIORITY`). The scenarios are
    loaded here too, the same way, so an unknown name (:class:`LabError`) or a broken file
    (:class:`ScenarioError`) fails at once, and :attr:`scenarios`, :attr:`domains` and
    :attr:`waivers` are known before :meth:`start`.
    """

    def __init__(
        self,
        names: Iterable[str] | str | None = None,
        *,
        files: Iterable[str | os.PathLike[str]] = (),
        latency: float = 0.0,
        port: int = 0,
        mtas: bool = True,
        control: bool = False,
        priority: int | None = PRIORITY,
    ) -> None:
        self._names = [] if names is None else [names] if isinstance(names, str) else list(names)
        self._files = [os.path.abspath(f) for f in files]
        if not (math.isfinite(latency) and latency >= 0):
            raise LabError(f"latency must be a finite number of seconds >= 0, got {latency}")
        if not 0 <= port <= 65535:
            raise LabError(f"port must be 0 (a free one) to 65535, got {port}")
        if names is not None and not self._names and not self._files:
            raise LabError("name at least one lab scenario (or 'all')")
        self._scenarios = choose_scenarios(self._names, self._files)
        self._latency = float(latency)
        self._port = port
        self._mtas = mtas
        self._control = control
        self._priority = priority
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._pending = b""
        self._info: dict[str, Any] = {}
        self._returncode: int | None = None

    @classmethod
    def from_names(
        cls, names: Iterable[str] | str, *, latency: float = 0.0, mtas: bool = True, control: bool = False
    ) -> LabProcess:
        """A lab process of the packaged scenarios named by file stem or domain; ``all`` means every one."""
        listed = [names] if isinstance(names, str) else list(names)
        if not listed:
            raise LabError("name at least one lab scenario (or 'all')")
        return cls(listed, latency=latency, mtas=mtas, control=control)

    @property
    def command(self) -> list[str]:
        """The child's command line."""
        cmd = [sys.executable, "-m", "mailspec.testing.serve"]
        # OPTION=VALUE: a value that starts with a dash stays a value.
        if self._names:
            cmd.append(f"--scenario={','.join(self._names)}")
        cmd += [f"--scenario-file={path}" for path in self._files]
        if self._latency:
            cmd.append(f"--latency={self._latency!r}")
        if self._port:
            cmd.append(f"--port={self._port}")
        if not self._mtas:
            cmd.append("--no-mtas")
        if self._control:
            cmd.append("--control")
        if self._priority is not None:
            cmd.append(f"--priority={self._priority}")
        return cmd

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = PROCESS_START_TIMEOUT) -> LabProcess:
        """Start the child and wait at most *timeout* seconds for it to be serving.

        Raises :class:`LabError` with the child's stderr if it exits, says something unexpected or is
        not ready in time (then it is killed).
        """
        with self._lock:
            if self._proc is not None:
                raise LabError("the lab process is already running")
            # A file, not a pipe: a chatty child never blocks on it. Closed by stop() (or _shut_down).
            stderr = tempfile.TemporaryFile()  # noqa: SIM115
            try:
                proc = subprocess.Popen(
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    bufsize=0,
                    close_fds=True,
                    # Its own process group: a terminal's Ctrl-C goes to the parent, which stops the
                    # lab when it is done with it, rather than ending the lab under a running survey.
                    process_group=0,
                )
            except OSError as exc:
                stderr.close()
                raise LabError(f"could not run {sys.executable}: {exc}") from exc
            assert proc.stdout is not None
            selector = selectors.DefaultSelector()
            selector.register(proc.stdout, selectors.EVENT_READ)
            self._proc, self._stderr, self._selector = proc, stderr, selector
            self._pending, self._info, self._returncode = b"", {}, None
            # Garbage collection or interpreter exit without stop(): still end the child, bounded.
            self._finalizer = weakref.finalize(self, _shut_down, proc, stderr, selector)
            try:
                info = self._reply(timeout, "the lab process did not report ready within {:g} s")
                self._info = self._check(info)
            except LabError as exc:
                self._end(timeout=_FAILED_TIMEOUT, keep_stderr=True)
                detail = self._stderr_text()
                self._close_stderr()
                raise LabError(f"{exc}{detail}") from None
            except BaseException:  # KeyboardInterrupt while waiting: no child left behind
                self._end(timeout=_FAILED_TIMEOUT)
                raise
        return self

    def stop(self, timeout: float = PROCESS_STOP_TIMEOUT) -> None:
        """End the child: close its stdin, wait at most *timeout* seconds, then terminate or kill it.

        Harmless when not running; a stopped lab process can be started again.
        """
        with self._lock:
            self._end(timeout=timeout)

    def __enter__(self) -> LabProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ what users need

    @property
    def running(self) -> bool:
        """Started, and the child has not exited."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The child's process id while started, else None."""
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited (0: it stopped cleanly), else None."""
        proc = self._proc
        return proc.poll() if proc is not None else self._returncode

    @property
    def dns_port(self) -> int:
        """The UDP and TCP port every lab address listens on (0 while stopped)."""
        return int(self._info.get("dns_port", 0))

    @property
    def resolver_ip(self) -> str:
        resolver = self._info.get("resolver")
        return str(resolver).rpartition(":")[0] if resolver else RESOLVER_IP

    @property
    def domains(self) -> list[str]:
        return [sc.domain for sc in self._scenarios]

    @property
    def latency(self) -> float:
        return self._latency

    @property
    def smtp_port(self) -> int:
        """The TCP port every MTA address listens on (0 while stopped, or without MTAs)."""
        return int(self._info.get("smtp_port", 0))

    @property
    def ident_port(self) -> int:
        """The TCP port of the ident responders (0 while stopped, or when there are none)."""
        return int(self._info.get("ident_port", 0))

    @property
    def https_port(self) -> int:
        """The TCP port of the MTA-STS policy hosts (0 while stopped, or when there are none)."""
        return int(self._info.get("https_port", 0))

    @property
    def smtp_control(self) -> str:
        """``IP:PORT`` of the child's control MTA ("" while stopped, or without ``control=True``)."""
        return str(self._info.get("smtp_control", ""))

    @property
    def ca_path(self) -> str:
        """The child's lab CA (PEM), removed when it stops ("" while stopped)."""
        return str(self._info.get("ca_path", ""))

    @property
    def queries_answered(self) -> int:
        """DNS queries the child has answered since it started (asks it: the ``stats`` command)."""
        reply = self._ask("stats")
        if not isinstance(reply.get("queries_answered"), int):
            raise LabError(f"the lab process answered 'stats' with {reply}")
        return int(reply["queries_answered"])

    def smtp_stats(self) -> dict[str, dict[str, Any]]:
        """What each MTA address saw since the child started (asks it: the ``smtp-stats`` command)."""
        reply = self._ask("smtp-stats")
        stats = reply.get("smtp_stats")
        if not isinstance(stats, dict):
            raise LabError(f"the lab process answered 'smtp-stats' with {str(reply)[:500]}")
        return stats

    def https_stats(self) -> dict[str, dict[str, Any]]:
        """What each HTTPS address saw since the child started (asks it: the ``https-stats`` command)."""
        reply = self._ask("https-stats")
        stats = reply.get("https_stats")
        if not isinstance(stats, dict):
            raise LabError(f"the lab process answered 'https-stats' with {str(reply)[:500]}")
        return stats

    def _ask(self, command: str) -> dict[str, Any]:
        """Send one command to the child and read its answer."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or not self._info:
                raise LabError("the lab process is not running")
            try:
                proc.stdin.write(command.encode() + b"\n")
                late = f"the lab process did not answer {command!r} within {{:g}} s"
                return self._reply(REPLY_TIMEOUT, late)
            except BrokenPipeError:
                raise LabError(f"the lab process is gone{self._stderr_text()}") from None
            except LabError as exc:
                raise LabError(f"{exc}{self._stderr_text()}") from None

    def __repr__(self) -> str:
        state = f"resolver {self.resolver}, pid {self.pid}" if self.running else "stopped"
        shown = ", ".join(self.domains[:3]) + (", ..." if len(self.domains) > 3 else "")
        return f"<LabProcess {len(self._scenarios)} scenarios ({shown}), {state}>"

    # ------------------------------------------------------------------ the child

    def _reply(self, timeout: float, late: str) -> dict[str, Any]:
        """The child's next stdout line, as a JSON object, within *timeout* seconds."""
        proc, selector = self._proc, self._selector
        assert proc is not None and proc.stdout is not None and selector is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(late.format(timeout))
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                try:
                    status = proc.wait(min(_KILL_TIMEOUT, max(deadline - time.monotonic(), 0.1)))
                except subprocess.TimeoutExpired:
                    raise LabError("the lab process closed its stdout") from None
                raise LabError(f"the lab process exited with status {status}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise LabError(f"the lab process said {line[:200]!r}, not a JSON object")
        if "error" in reply:
            raise LabError(f"the lab process answered: {reply['error']}")
        return reply

    def _check(self, info: dict[str, Any]) -> dict[str, Any]:
        """The ready line, if it describes the lab this object was made for (the child imports
        mailspec by itself: a different copy on its path would serve something else)."""
        expected = {"domains": self.domains, "scenarios": [sc.name for sc in self._scenarios]}
        seen = {key: info.get(key) for key in expected}
        resolver, port = info.get("resolver"), info.get("dns_port")
        if seen != expected or not isinstance(port, int) or not isinstance(resolver, str):
            raise LabError(f"the lab process serves {str(info)[:500]}, not {str(expected)[:500]}")
        if resolver.rpartition(":")[2] != str(port) or not 0 < port <= 65535:
            raise LabError(f"the lab process reported resolver {resolver!r} and port {port!r}")
        ports = ("smtp_port", "ident_port", "https_port")
        others = {key: info.get(key) for key in (*ports, "ca_path")}
        if not (
            all(isinstance(info.get(k), int) and 0 <= info[k] <= 65535 for k in ports)
            and isinstance(info.get("ca_path"), str)
        ):
            raise LabError(f"the lab process reported {others}")
        return info

    def _end(self, *, timeout: float = PROCESS_STOP_TIMEOUT, keep_stderr: bool = False) -> None:
        proc, finalizer = self._proc, self._finalizer
        if proc is None:
            return
        if finalizer is not None:
            finalizer.detach()
        _reap(proc, timeout)
        if self._selector is not None:
            self._selector.close()
        if proc.stdout is not None:
            proc.stdout.close()
        self._proc = self._selector = self._finalizer = None
        self._returncode, self._info, self._pending = proc.returncode, {}, b""
        if not keep_stderr:
            self._close_stderr()

    def _stderr_text(self) -> str:
        """``; its stderr: ...`` (its end, if long), or nothing."""
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        if len(text) > _STDERR_SHOWN:
            text = "..." + text[-_STDERR_SHOWN:]
        return f"; its stderr: {text}" if text else ""

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Close the child's stdin (it stops at its end), then wait, terminate, kill: each bounded."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):  # BrokenPipeError: it has exited already
            proc.stdin.close()
    for step in (None, proc.terminate, proc.kill):
        if step is not None:
            with contextlib.suppress(ProcessLookupError):
                step()
        try:
            proc.wait(timeout if step is None else _KILL_TIMEOUT)
        except subprocess.TimeoutExpired:
            continue
        return


def _shut_down(proc: subprocess.Popen[bytes], stderr: IO[bytes], selector: selectors.BaseSelector) -> None:
    _reap(proc, PROCESS_STOP_TIMEOUT)
    selector.close()
    if proc.stdout is not None:
        proc.stdout.close()
    stderr.close()
