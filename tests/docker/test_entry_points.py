"""The entry points the docker lab runs, on this machine's loopback (no namespace, no root):
``python -m mailspec.testing serve`` with fixed ports and ``--state-dir``, and
``python -m mailspec.testing run``. Every wait is bounded; every child is ended."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailspec.labrun import AnnouncedLab, pytest_args, wait_for_lab
from mailspec.testing import LabError

MODULE = [sys.executable, "-m", "mailspec.testing"]
WAIT = 60.0  # seconds: a bound for anything to happen, never an expectation of speed

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


def test_the_module_names_its_commands() -> None:
    done = subprocess.run([*MODULE, "--help"], check=False, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0 and "serve" in done.stdout and "run" in done.stdout
    done = subprocess.run([*MODULE, "nonsense"], check=False, capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 2 and "unknown command 'nonsense'" in done.stderr
    for command in ("serve", "run"):
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


def test_run_hands_the_lab_to_mail_lab_and_writes_the_reports_where_asked() -> None:
    lab = AnnouncedLab(
        {
            "resolver": "127.0.0.153:53", "dns_port": 53, "smtp_port": 25, "ident_port": 113,
            "https_port": 443, "smtp_control": "127.0.1.25:25", "ca_path": "/lab-state/ca.pem",
            "domains": ["a.test", "b.test"], "waivers": [], "dkim_selectors": [], "scenarios": ["a", "b"],
        }
    )  # fmt: skip
    args = pytest_args(lab, Path("/reports"), ["-q"])
    assert args[:3] == ["--pyargs", "mailspec.checks", "--mail-lab=a,b"]
    assert "--junitxml=/reports/mail.xml" in args and "--mail-report=/reports/mail.json" in args
    assert args[-1] == "-q"  # the user's own come last, so they win
