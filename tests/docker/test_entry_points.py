"""The entry points the docker lab runs, on this machine's loopback (no namespace, no root):
``python -m mailspec.testing serve`` with fixed ports, ``--state-dir`` and ``--dns-listen`` (on a
loopback address), ``python -m mailspec.testing health`` and ``python -m mailspec.testing run``, and
what they make of a stale announcement. Every wait is bounded; every child is ended; every query goes
to a loopback address."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from mailspec.labrun import AnnouncedLab, pytest_args, wait_for_lab
from mailspec.testing import LabError

MODULE = [sys.executable, "-m", "mailspec.testing"]
WAIT = 60.0  # seconds: a bound for anything to happen, never an expectation of speed
#: a loopback address that no lab server has (the lab's are 127.0.0.153 and 127.0.1.0 to 127.0.15.255)
LISTEN = "127.0.0.199"

Start = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture
def start() -> Iterator[Start]:
    children: list[subprocess.Popen[bytes]] = []

    def run(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*MODULE, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        children.append(proc)
        return proc

    yield run
    for proc in children:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(path: Path, proc: subprocess.Popen[bytes], stale: str) -> dict[str, Any]:
    """The announcement in *path*, once the lab has replaced the *stale* one there."""
    deadline = time.monotonic() + WAIT
    while not path.exists() or path.read_text() == stale:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else proc.returncode
        assert time.monotonic() < deadline, f"no {path} within {WAIT} s"
        time.sleep(0.05)
    info = json.loads(path.read_text())  # (renamed into place whole: never half a file)
    assert isinstance(info, dict)
    return info


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MODULE, *args], check=False, capture_output=True, text=True, timeout=WAIT)


def _mx(target: str, domain: str) -> list[str]:
    """The MX records of *domain* that the DNS server at *target* (``IP:PORT``, loopback) answers."""
    address, _, port = target.rpartition(":")
    assert address.startswith("127."), target  # (never anywhere else)
    reply = dns.query.udp(dns.message.make_query(domain, "MX"), address, port=int(port), timeout=10)
    return sorted(rd.to_text() for rrset in reply.answer for rd in rrset)


def _announcement(**changes: Any) -> dict[str, Any]:
    info = {
        "resolver": "127.0.0.153:53", "dns_port": 53, "smtp_port": 25, "ident_port": 113,
        "https_port": 443, "smtp_control": "127.0.1.25:25", "ca_path": "/lab-state/ca.pem",
        "domains": ["a.test", "b.test"], "waivers": [], "dkim_selectors": [], "scenarios": ["a", "b"],
        "dns_listen": [], "pid": 1, "pid_ns": None, "pid_start": None, "token": "20260101T000000Z-0",
    }  # fmt: skip
    return {**info, **changes}


def test_the_module_names_its_commands() -> None:
    done = _run("--help")
    assert done.returncode == 0 and all(c in done.stdout for c in ("serve", "health", "run"))
    done = _run("nonsense")
    assert done.returncode == 2 and "unknown command 'nonsense'" in done.stderr
    for command in ("serve", "health", "run"):
        done = subprocess.run(
            [*MODULE, command, "--help"], check=False, capture_output=True, text=True, timeout=WAIT
        )
        assert done.returncode == 0 and f"python -m mailspec.testing {command}" in done.stdout


def test_serve_fixes_its_ports_and_announces_itself_in_the_state_folder(start: Start, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    stale = "{stale"
    (state / "lab.json").write_text(stale)  # a lab killed before it could remove its own
    ports = {"dns_port": _free_port(), "smtp_port": _free_port(), "ident_port": _free_port()}
    ports["https_port"] = _free_port()
    proc = start(
        "serve", "good,ident-open", f"--port={ports['dns_port']}", f"--smtp-port={ports['smtp_port']}",
        f"--ident-port={ports['ident_port']}", f"--https-port={ports['https_port']}",
        f"--state-dir={state}", "--control", "--serve-forever",
    )  # fmt: skip
    info = _wait_for(state / "lab.json", proc, stale)
    assert {k: info[k] for k in ports} == ports
    assert info["smtp_control"] == f"127.0.1.25:{ports['smtp_port']}"
    assert info["ca_path"] == str((state / "ca.pem").resolve())
    assert (state / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert info["scenarios"] == ["good", "ident-open"] and info["domains"] == ["good.test", "ident-open.test"]
    # who serves, and this start's own token
    assert (info["pid"], info["dns_listen"]) == (proc.pid, [])
    assert isinstance(info["token"], str) and len(info["token"]) > 16
    assert info["pid_ns"] == os.readlink("/proc/self/ns/pid") and isinstance(info["pid_start"], int)
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == info  # the stdout line says the same
    with socket.create_connection(("127.0.2.10", ports["smtp_port"]), timeout=10) as s:  # mx1.good.test
        assert s.recv(512).startswith(b"220 ")
    lab = AnnouncedLab.read(state / "lab.json")
    assert (lab.resolver, lab.domains, lab.waivers) == (info["resolver"], info["domains"], info["waivers"])
    assert lab.dkim_selectors == ["s1@good.test"]
    proc.terminate()
    assert proc.wait(WAIT) == 0
    assert sorted(os.listdir(state)) == []  # the announcement and the CA go with the lab


def test_serve_fails_cleanly_on_a_taken_port(start: Start, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.2.10", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start("serve", "good", f"--smtp-port={port}", f"--state-dir={tmp_path}", "--serve-forever")
        assert proc.wait(WAIT) == 2
        assert proc.stderr is not None and b"error:" in proc.stderr.read()
    assert not (tmp_path / "lab.json").exists()


def test_run_waits_a_bounded_time_for_a_lab(tmp_path: Path) -> None:
    began = time.monotonic()
    done = subprocess.run(
        [*MODULE, "run", f"--state-dir={tmp_path}", "--wait=0.5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 2 and "no lab announced itself" in done.stderr
    assert time.monotonic() - began < WAIT
    with pytest.raises(LabError, match="no lab announced itself"):
        wait_for_lab(tmp_path, 0)


def test_run_refuses_an_announcement_it_cannot_use(tmp_path: Path) -> None:
    (tmp_path / "lab.json").write_text(json.dumps({"resolver": "127.0.0.153:53", "dns_port": 54}))
    with pytest.raises(LabError, match="no usable"):
        wait_for_lab(tmp_path, 0)
    (tmp_path / "lab.json").write_text("[]")
    with pytest.raises(LabError, match="no JSON object"):
        wait_for_lab(tmp_path, 0)
    for broken in ({"pid": 0}, {"pid": "12"}, {"token": ""}, {"dns_listen": "127.0.0.199:53"}):
        (tmp_path / "lab.json").write_text(json.dumps(_announcement(**broken)))
        with pytest.raises(LabError, match=f"no usable {next(iter(broken))}"):
            wait_for_lab(tmp_path, 0)


def test_run_hands_the_lab_to_mail_lab_and_writes_the_reports_where_asked() -> None:
    lab = AnnouncedLab(_announcement())
    args = pytest_args(lab, Path("/reports"), ["-q"])
    assert args[:3] == ["--pyargs", "mailspec.checks", "--mail-lab=a,b"]
    assert "--junitxml=/reports/mail.xml" in args and "--mail-report=/reports/mail.json" in args
    assert args[-1] == "-q"  # the user's own come last, so they win


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait(WAIT)
    return proc.pid


def test_serve_answers_on_dns_listen_and_health_says_whether_it_serves(start: Start, tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = _free_port()
    proc = start("serve", "good", f"--port={port}", f"--dns-listen={LISTEN}", f"--state-dir={state}",
                 "--serve-forever")  # fmt: skip
    info = _wait_for(state / "lab.json", proc, "")
    assert info["dns_listen"] == [f"{LISTEN}:{port}"]
    # the resolver's own answers, on the --dns-listen address too
    assert _mx(f"{LISTEN}:{port}", "good.test.") == _mx(info["resolver"], "good.test.")
    assert _mx(f"{LISTEN}:{port}", "good.test.") == ["10 mx1.good.test.", "20 mx2.good.test."]
    done = _run("health", f"--state-dir={state}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("healthy: ") and f"{LISTEN}:{port} (NOERROR)" in done.stdout
    # a second lab on the same state folder would clobber a live lab's announcement: refused
    again = _run("serve", "good", f"--state-dir={state}", "--serve-forever")
    assert again.returncode == 2 and f"another lab serves from {state / 'lab.json'}" in again.stderr
    assert json.loads((state / "lab.json").read_text())["token"] == info["token"]
    # a runner that cannot see the lab's pid (another PID namespace) asks its DNS server instead
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "lab.json").write_text(json.dumps({**info, "pid_ns": "pid:[1]"}))
    assert wait_for_lab(elsewhere, 0).token == info["token"]

    # killed: its announcement stays behind, stale
    proc.send_signal(signal.SIGKILL)
    proc.wait(WAIT)
    assert json.loads((state / "lab.json").read_text())["token"] == info["token"]
    done = _run("health", f"--state-dir={state}")
    assert (done.returncode, done.stdout.split(":")[0]) == (1, "unhealthy"), done.stdout + done.stderr
    assert f"{state / 'lab.json'} is stale: pid {proc.pid} is not running" in done.stdout
    with pytest.raises(LabError, match="did not answer"):  # (where the pid cannot be seen: no DNS)
        wait_for_lab(elsewhere, 0)


def test_health_wants_the_announcement_its_process_and_an_answer(tmp_path: Path) -> None:
    done = _run("health", f"--state-dir={tmp_path}")
    assert done.returncode == 1 and f"unhealthy: no {tmp_path / 'lab.json'}" in done.stdout
    (tmp_path / "lab.json").write_text(json.dumps(_announcement(pid=_dead_pid())))
    done = _run("health", f"--state-dir={tmp_path}")
    assert done.returncode == 1 and "is stale: pid" in done.stdout and "is not running" in done.stdout
    # a process that runs (this one), but no DNS server where the announcement says (a free port)
    mine = {"pid": os.getpid(), "resolver": f"127.0.0.153:{_free_port()}"}
    (tmp_path / "lab.json").write_text(json.dumps(_announcement(**mine)))
    began = time.monotonic()
    done = _run("health", f"--state-dir={tmp_path}", "--timeout=0.5")
    assert done.returncode == 1 and "did not answer test. SOA" in done.stdout, done.stdout
    assert time.monotonic() - began < WAIT


def test_run_refuses_a_stale_announcement_and_waits_for_a_fresh_one(start: Start, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    stale = _announcement(pid=_dead_pid(), token="20260101T000000Z-stale")
    (state / "lab.json").write_text(json.dumps(stale))
    done = _run("run", f"--state-dir={state}", "--wait=0.5")
    assert done.returncode == 2, done.stderr
    assert f"refusing the stale lab announcement {state / 'lab.json'}" in done.stderr
    assert f"pid {stale['pid']} is not running" in done.stderr and "no fresh one within 0.5 s" in done.stderr

    # waiting: told of the stale one once, then given the fresh one a new lab writes
    notes: list[str] = []
    found: list[AnnouncedLab | BaseException] = []

    def wait() -> None:
        try:
            found.append(wait_for_lab(state, WAIT, notes.append))
        except BaseException as exc:
            found.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    deadline = time.monotonic() + WAIT
    while not notes:
        assert time.monotonic() < deadline and waiter.is_alive(), found
        time.sleep(0.05)
    assert "refusing the stale lab announcement" in notes[0] and "waiting up to" in notes[0]
    proc = start("serve", "good", f"--state-dir={state}", "--serve-forever")
    waiter.join(WAIT)
    assert not waiter.is_alive() and len(found) == 1
    [lab] = found
    assert isinstance(lab, AnnouncedLab) and lab.pid == proc.pid and lab.token != stale["token"]
    assert len(notes) == 1  # (once for each stale announcement)
    assert proc.stderr is not None
    proc.terminate()
    assert proc.wait(WAIT) == 0
    assert f"removing the stale {state / 'lab.json'}" in proc.stderr.read().decode()


def test_serve_refuses_a_bad_dns_listen(tmp_path: Path) -> None:
    done = _run("serve", "good", "--dns-listen=lab.test", f"--state-dir={tmp_path}", "--serve-forever")
    assert done.returncode == 2 and "not an IP address: 'lab.test'" in done.stderr
    done = _run("serve", "good", "--dns-listen=127.0.0.153", f"--state-dir={tmp_path}", "--serve-forever")
    assert done.returncode == 2 and "is one of the lab's own DNS addresses" in done.stderr
    assert not (tmp_path / "lab.json").exists()
