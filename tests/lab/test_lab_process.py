"""The lab in a process of its own: LabProcess and ``python -m mailspec.testing.serve``.

Every wait is bounded and generous (the machine may be busy); nothing is timed. DNS questions go to
the lab on loopback only, to an explicit server.
"""

from __future__ import annotations

import ast
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import mailspec.testing
from mailspec.testing import LabError, LabProcess, ScenarioError, select_scenarios

SERVE = [sys.executable, "-m", "mailspec.testing.serve"]
WAIT = 60.0  # seconds: a bound for anything to happen, never an expectation of speed


def _mx(resolver_ip: str, port: int, name: str = "good.test") -> list[tuple[int, str]]:
    assert resolver_ip.startswith("127.")
    query = dns.message.make_query(name, "MX")
    answer = dns.query.udp(query, resolver_ip, port=port, timeout=10)
    assert answer.rcode() == dns.rcode.NOERROR
    [rrset] = answer.answer
    return sorted((rd.preference, rd.exchange.to_text()) for rd in rrset if rd.rdtype == dns.rdatatype.MX)


GOOD_MX = [(10, "mx1.good.test."), (20, "mx2.good.test.")]
[GOOD] = select_scenarios(["good"])


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (an orphan's reaper may be slow)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return fields[0] in ("Z", "X")


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + WAIT
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _line(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The next JSON line from a child's stdout, bounded by WAIT."""
    assert proc.stdout is not None
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + WAIT
        while not data.endswith(b"\n"):
            assert time.monotonic() < deadline, f"no line within {WAIT} s; got {data!r}"
            if sel.select(1.0):
                chunk = os.read(proc.stdout.fileno(), 1)  # one byte a time: nothing read past the line
                assert chunk, f"stdout ended after {data!r}"
                data += chunk
    reply = json.loads(data)
    assert isinstance(reply, dict)
    return reply


Serve = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def served() -> Iterator[Serve]:
    """Starts ``serve`` children (of the arguments given) and makes sure each one ends."""
    children: list[subprocess.Popen[bytes]] = []

    def serve(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*SERVE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        children.append(proc)
        return proc

    yield serve
    for proc in children:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


# ---------------------------------------------------------------------------- LabProcess


def test_a_lab_process_serves_good_test_and_stop_ends_it() -> None:
    lab = LabProcess.from_names(["good"])
    assert (lab.running, lab.dns_port, lab.pid) == (False, 0, None)
    assert lab.domains == ["good.test"] and [sc.name for sc in lab.scenarios] == ["good"]
    lab.start(timeout=WAIT)
    pid = lab.pid
    assert pid is not None and pid != os.getpid() and lab.running
    assert lab.resolver == f"127.0.0.153:{lab.dns_port}" and lab.resolver_ip == "127.0.0.153"
    assert 0 < lab.dns_port <= 65535
    assert lab.waivers == list(GOOD.waivers)
    assert "mx.target.public-address@good.test=the embedded lab serves every MX on loopback" in lab.waivers
    assert lab.scenario("good.test").name == "good"
    before = lab.queries_answered
    assert _mx(lab.resolver_ip, lab.dns_port) == GOOD_MX
    assert lab.queries_answered > before
    assert f"pid {pid}" in repr(lab)

    lab.stop()
    assert (lab.running, lab.pid, lab.returncode, lab.dns_port) == (False, None, 0, 0)
    assert _gone(pid)  # stop() waited for it (and reaped it)
    assert "stopped" in repr(lab)
    lab.stop()  # twice is harmless
    with pytest.raises(LabError, match="not running"):
        _ = lab.queries_answered


def test_a_lab_process_is_a_context_manager_and_restarts() -> None:
    lab = LabProcess("good")
    pids = []
    for _ in range(2):
        with lab:
            pids.append(lab.pid)
            assert _mx(lab.resolver_ip, lab.dns_port) == GOOD_MX
            with pytest.raises(LabError, match="already running"):
                lab.start(timeout=WAIT)
        assert not lab.running and lab.returncode == 0
    assert pids[0] != pids[1] and all(_gone(p) for p in pids if p is not None)


def test_an_unknown_scenario_is_named_before_any_process_starts() -> None:
    with pytest.raises(LabError, match="'no-such-scenario'"):
        LabProcess.from_names(["good", "no-such-scenario"])
    with pytest.raises(LabError, match="at least one"):
        LabProcess.from_names([])
    with pytest.raises(LabError, match="latency"):
        LabProcess(["good"], latency=-1)


def test_a_scenario_file_is_served_beside_the_packaged_ones(tmp_path: Path) -> None:
    path = tmp_path / "extra.toml"
    path.write_text(
        textwrap.dedent(
            '''
            domain = "extra.test"
            [expect]
            clean = true
            [zone]
            records = """
            @    MX  10 mx
            mx   A   127.0.9.20
            """
            [[zone.nameserver]]
            host = "ns1"
            ip = "127.0.9.21"
            [[zone.nameserver]]
            host = "ns2"
            ip = "127.0.9.22"
            '''
        )
    )
    with LabProcess(["good"], files=[path]) as lab:
        assert lab.domains == ["good.test", "extra.test"]
        assert [sc.name for sc in lab.scenarios] == ["good", "extra"]
        assert _mx(lab.resolver_ip, lab.dns_port, "extra.test") == [(10, "mx.extra.test.")]
    with LabProcess(files=[path]) as lab:  # files alone: only the files
        assert lab.domains == ["extra.test"]
    broken = tmp_path / "broken.toml"
    broken.write_text("domain = ")
    with pytest.raises(ScenarioError, match=r"broken\.toml"):
        LabProcess(files=[broken])


def test_a_child_that_cannot_start_raises_lab_error_with_its_stderr() -> None:
    with LabProcess(["good"]) as first:
        taken = LabProcess(["good"], port=first.dns_port)
        with pytest.raises(LabError, match=r"exited with status 2.*stderr.*could not start"):
            taken.start(timeout=WAIT)
        assert (taken.running, taken.pid, taken.returncode) == (False, None, 2)
        assert _mx(first.resolver_ip, first.dns_port) == GOOD_MX  # the first lab is untouched


def test_a_child_not_ready_in_time_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", Recorded)  # the process module's too
    lab = LabProcess(["good"])
    with pytest.raises(LabError, match="did not report ready within 0 s"):
        lab.start(timeout=0)
    [proc] = started
    assert proc.returncode is not None and _gone(proc.pid)
    assert (lab.running, lab.pid) == (False, None)


def test_a_child_that_dies_is_reported() -> None:
    with LabProcess(["good"]) as lab:
        pid = lab.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(LabError, match=r"gone|exited"):
            _ = lab.queries_answered
        assert not lab.running
    assert lab.returncode == -signal.SIGKILL and _gone(pid)


def test_the_child_ends_when_its_parent_dies() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from mailspec.testing import LabProcess\n"
            "lab = LabProcess(['good']).start(timeout=60)\n"
            "print(lab.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not _gone(child)
    finally:
        parent.kill()  # SIGKILL: no finalizer, no atexit; only the kernel closes its pipes
        parent.communicate(timeout=WAIT)
    assert _wait_gone(child), f"the lab process {child} outlived its parent"


# ---------------------------------------------------------------------------- the entry point


def test_serve_help_describes_the_entry_point() -> None:
    proc = subprocess.run([*SERVE, "--help"], capture_output=True, text=True, timeout=WAIT, check=False)
    assert proc.returncode == 0, proc.stderr
    for word in (
        "--scenario",
        "--scenario-file",
        "--latency",
        "--port",
        "--serve-forever",
        "--no-mtas",
        "stdin",
    ):
        assert word in proc.stdout


def test_serve_lists_the_packaged_scenarios() -> None:
    proc = subprocess.run(
        [*SERVE, "--list-scenarios"], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert proc.returncode == 0
    assert "good\tgood.test" in proc.stdout.splitlines()


def test_serve_names_an_unknown_scenario_on_one_line_and_exits_2() -> None:
    proc = subprocess.run(
        [*SERVE, "--scenario", "good,no-such-scenario"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert "no-such-scenario" in line


def test_serve_stops_at_the_end_of_stdin(served: Serve) -> None:
    proc = served("--scenario", "good")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    ready = _line(proc)
    assert ready == {
        "resolver": f"127.0.0.153:{ready['dns_port']}",
        "dns_port": ready["dns_port"],
        "smtp_port": ready["smtp_port"],
        "ident_port": 0,  # good.test keeps port 113 closed: nothing listens
        "https_port": ready["https_port"],  # mta-sts.good.test
        "smtp_control": "",  # (only with --control)
        "ca_path": ready["ca_path"],
        "domains": ["good.test"],
        "waivers": list(GOOD.waivers),
        "dkim_selectors": ["s1@good.test"],
        "scenarios": ["good"],
        # (who serves, for a healthcheck and a runner that must tell this lab from a stale one)
        "pid": proc.pid,
        "pid_ns": os.readlink(f"/proc/{proc.pid}/ns/pid"),
        "pid_start": ready["pid_start"],
        "token": ready["token"],
        "dns_listen": [],
    }
    assert isinstance(ready["pid_start"], int) and ready["pid_start"] > 0
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{16}", ready["token"]), ready["token"]
    assert 0 < ready["smtp_port"] <= 65535 and Path(ready["ca_path"]).is_file()
    assert 0 < ready["https_port"] <= 65535  # mta-sts.good.test
    assert _mx("127.0.0.153", ready["dns_port"]) == GOOD_MX
    proc.stdin.write(b"stats\n\nnonsense\n")
    proc.stdin.flush()
    assert _line(proc)["queries_answered"] >= 1
    assert "unknown command 'nonsense'" in _line(proc)["error"]
    proc.stdin.close()
    assert proc.wait(WAIT) == 0
    assert proc.stdout.read() == b"" and proc.stderr.read() == b""
    assert not Path(ready["ca_path"]).exists()  # the CA's folder went with the lab


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_forever_stops_on_a_signal(served: Serve, sig: signal.Signals) -> None:
    proc = served("--scenario", "good", "--serve-forever")
    assert proc.stdin is not None and proc.stderr is not None
    ready = _line(proc)
    proc.stdin.close()  # ignored
    assert _mx("127.0.0.153", ready["dns_port"]) == GOOD_MX
    proc.send_signal(sig)
    assert proc.wait(WAIT) == 0
    assert proc.stderr.read() == b""


def test_the_lab_imports_nothing_of_the_survey() -> None:
    """The lab shares no code with the survey it tests (and needs no pytest but for its fixtures)."""
    folder = Path(mailspec.testing.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "spf_suite.py":  # (a client of mailspec's SPF evaluator, not part of the lab)
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("mailspec.survey", "mailspec.records")), (path.name, name)
                if path.name != "fixtures.py":
                    assert name.split(".")[0] not in ("pytest", "_pytest"), (path.name, name)


# ---------------------------------------------------------------------------- the MTAs of a lab process


def _converse(ip: str, port: int, lines: list[bytes]) -> list[bytes]:
    """Greeting, then each line and its reply (one line each here), with plain sockets."""
    with socket.create_connection((ip, port), timeout=WAIT) as sock:
        reader = sock.makefile("rb")
        replies = [reader.readline()]
        for line in lines:
            sock.sendall(line + b"\r\n")
            replies.append(reader.readline())
        return replies


def test_a_lab_process_serves_mtas_and_reports_what_they_saw() -> None:
    with LabProcess(["good"]) as lab:
        assert 0 < lab.smtp_port <= 65535 and lab.ident_port == 0
        ca = Path(lab.ca_path)
        assert ca.is_file() and "BEGIN CERTIFICATE" in ca.read_text()
        replies = _converse("127.0.2.10", lab.smtp_port, [b"HELO probe.lab.test", b"DATA", b"QUIT"])
        assert [r[:4] for r in replies] == [b"220 ", b"250 ", b"554 ", b"221 "]
        stats = lab.smtp_stats()
        assert set(stats) == {"127.0.2.10", "127.0.2.11"}
        mx1 = stats["127.0.2.10"]
        assert (mx1["connections"], mx1["data_commands"], mx1["verbs"]) == (1, 1, ["HELO", "DATA", "QUIT"])
        assert mx1["peers"] == ["127.0.0.1"] and stats["127.0.2.11"]["connections"] == 0
    assert not ca.exists() and lab.smtp_port == 0 and lab.ca_path == ""
    with pytest.raises(LabError, match="not running"):
        lab.smtp_stats()


def test_a_lab_process_without_mtas() -> None:
    lab = LabProcess(["good"], mtas=False)
    assert "--no-mtas" in lab.command
    with lab:
        assert lab.smtp_port == 0 and Path(lab.ca_path).is_file()
        assert lab.smtp_stats() == {}
        assert _mx(lab.resolver_ip, lab.dns_port) == GOOD_MX


def test_a_lab_process_runs_at_a_raised_priority_where_it_may() -> None:
    """The lab stands for servers on machines of their own: as root its threads run at nice -10, so a
    busy machine does not make its answers late; elsewhere it runs as it is and says why."""
    from mailspec.testing.process import PRIORITY

    lab = LabProcess(["good"], mtas=False)
    assert f"--priority={PRIORITY}" in lab.command
    assert "--priority" not in " ".join(LabProcess(["good"], priority=None).command)
    with lab:
        assert lab.pid is not None
        threads = list(Path(f"/proc/{lab.pid}/task").iterdir())
        nice = {os.getpriority(os.PRIO_PROCESS, int(t.name)) for t in threads}
        if os.geteuid() == 0:
            assert len(threads) >= 2 and nice == {PRIORITY}  # (the server thread too)
        else:
            assert nice == {os.getpriority(os.PRIO_PROCESS, 0)}


def test_serve_notes_a_priority_it_may_not_take(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without CAP_SYS_NICE a raised priority is refused (EPERM, EACCES): a note, not a failure."""
    from mailspec.testing import serve

    def refuse(which: int, who: int, nice: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    serve._prioritise(-10)
    assert "--priority=-10 not applied: [Errno 1] Operation not permitted" in capsys.readouterr().err


def test_serve_answers_smtp_stats(served: Serve) -> None:
    proc = served("--scenario", "good")
    assert proc.stdin is not None
    ready = _line(proc)
    _converse("127.0.2.11", ready["smtp_port"], [b"QUIT"])
    proc.stdin.write(b"smtp-stats\n")
    proc.stdin.flush()
    stats = _line(proc)["smtp_stats"]
    assert stats["127.0.2.11"]["verbs"] == ["QUIT"] and stats["127.0.2.10"]["connections"] == 0
    proc.stdin.close()
    assert proc.wait(WAIT) == 0
