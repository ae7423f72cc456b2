"""docker/compose.yaml's own commands, run as compose runs them, without Docker: in a network
namespace of their own that holds the compose network's address, the lab service's command (its
servers on the namespace's loopback addresses, on ports 53, 25, 113 and 443) and then, once the lab's
healthcheck passes, the runner service's command, as separate processes sharing that namespace
(network_mode: service:lab), with the volumes mapped to folders of a tmp folder. Their verdicts
must be those of ``pytest --pyargs mailspec.checks --mail-lab=SCENARIO``.

The commands are read from compose.yaml (entrypoint, command, environment, volumes, sysctls, the
network's address), never written here. Needs root, ``unshare``, ``nsenter`` and ``ip``: skipped
without them, except in CI (``CI=true``), where it must run. Every wait is bounded; every process
started is ended; the namespace's traffic stays in it (loopback, and an interface with no route out).
"""

from __future__ import annotations

import collections
import json
import os
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
WAIT = 120.0  # seconds: a bound for anything to happen, never an expectation of speed
TIMEOUT = "--mail-timeout=3"
#: the packaged well-configured scenario, and one broken SMTP scenario
SCENARIOS = ["good", "open-relay"]


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------------------------ compose, as compose reads it
_VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))"
)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable interpolation: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}`` (and ``?`` for ``-``: required)."""

    def one(m: re.Match[str]) -> str:
        if m["dollar"]:
            return "$"
        name = m["braced"] or m["bare"]
        value = env.get(name)
        if (m["op"] in (":-", ":?") and not value) or (m["op"] in ("-", "?") and value is None):
            if m["op"].endswith("?"):
                raise AssertionError(f"compose.yaml requires ${name}: {m['arg']}")
            return str(m["arg"])
        return value or ""

    return _VARIABLE.sub(one, text)


class Service:
    """One compose service's process: its argv, environment and volumes, with each volume's
    container path mapped to a folder below *root*."""

    def __init__(self, name: str, data: dict[str, Any], env: Mapping[str, str], root: Path) -> None:
        spec = data["services"][name]
        self.name = name
        self.volumes: dict[str, Path] = {}
        for entry in spec.get("volumes", []):
            source, target = str(entry).split(":")[:2]
            self.volumes[target] = root / source
            self.volumes[target].mkdir(parents=True, exist_ok=True)
        argv = [interpolate(str(a), env) for a in [*spec["entrypoint"], *spec["command"]]]
        assert argv[0] == "python", argv  # the image's python: this one here
        self.argv = [sys.executable, *map(self.mapped, argv[1:])]
        environment = spec.get("environment", {})
        if isinstance(environment, list):
            environment = dict(str(e).partition("=")[::2] for e in environment)
        self.environment = {k: interpolate(str(v), env) for k, v in environment.items()}
        self.healthcheck = [self.mapped(a) for a in spec.get("healthcheck", {}).get("test", [])[1:]]
        self.sysctls = {str(k): str(v) for k, v in spec.get("sysctls", {}).items()}
        self.spec = spec

    def mapped(self, arg: str) -> str:
        """*arg* with a container path (alone, or as an OPTION=VALUE's value) below a volume mapped."""
        option, eq, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        for target, folder in self.volumes.items():
            if value == target or value.startswith(target + "/"):
                value = str(folder) + value[len(target) :]
        return f"{option}{eq}{value}"


def network_addresses(data: dict[str, Any], service: str) -> list[str]:
    """ADDRESS/PREFIX of the service on each of its compose networks."""
    found = []
    for network, attached in data["services"][service].get("networks", {}).items():
        [config] = data["networks"][network]["ipam"]["config"]
        prefix = str(config["subnet"]).partition("/")[2]
        found.append(f"{attached['ipv4_address']}/{prefix}")
    return found


# ------------------------------------------------------------------------------- the namespace
def _no_namespace() -> str | None:
    """Why no network namespace can be made here, if so."""
    if os.geteuid() != 0:
        return "needs root, to make a network namespace"
    for tool, package in (("unshare", "util-linux"), ("nsenter", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian's {package} package)"
    try:
        done = subprocess.run(
            ["unshare", "--net", "--", "ip", "link", "set", "lo", "up"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        return "unshare --net did not finish within 30 s"
    if done.returncode != 0:
        return f"cannot make a network namespace: unshare --net: {done.stderr.strip()}"
    return None


class Namespace:
    """A network namespace, held by a process that lives as long as its stdin is open: ``lo`` up, the
    compose network's addresses on an interface of its own (a dummy, or a veth pair whose both ends
    are in the namespace: no route leads out), the service's sysctls set."""

    def __init__(self, addresses: list[str], sysctls: Mapping[str, str], log: Path) -> None:
        script = ["set -e", "ip link set lo up"]
        if addresses:
            script.append(
                "ip link add eth0 type dummy 2>/dev/null || ip link add eth0 type veth peer name eth0-peer"
            )
            script.append("if ip link show eth0-peer >/dev/null 2>&1; then ip link set eth0-peer up; fi")
            script += [f"ip addr add {shlex.quote(a)} dev eth0" for a in addresses]
            script.append("ip link set eth0 up")
        for key, value in sysctls.items():
            path = "/proc/sys/" + key.replace(".", "/")
            script.append(f"echo {shlex.quote(value)} > {shlex.quote(path)}")
        script += ["echo ready", "exec cat >/dev/null"]  # (until its stdin ends)
        self.children: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []
        self._log = log
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--", "sh", "-c", "\n".join(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.holder.stdout is not None and self.holder.stderr is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.holder.stdout, selectors.EVENT_READ)
            ready = bool(selector.select(30)) and self.holder.stdout.readline() == b"ready\n"
        if not ready:
            _end(self.holder)
            why = self.holder.stderr.read().decode()
            for stream in (self.holder.stdin, self.holder.stdout, self.holder.stderr):
                if stream is not None:
                    stream.close()
            raise AssertionError(f"the namespace could not be set up within 30 s: {why}")

    def start(self, name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """*argv* in the namespace, its output in files ``<name>.out`` and ``<name>.err``."""
        out, err = (open(self._log / f"{name}.{s}", "wb") for s in ("out", "err"))  # noqa: SIM115
        self._files += [out, err]
        proc = subprocess.Popen(
            ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *argv],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, **kwargs,
        )  # fmt: skip
        self.children.append(proc)
        return proc

    def run(self, argv: list[str], timeout: float) -> int:
        done = subprocess.run(
            ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *argv],
            stdin=subprocess.DEVNULL, check=False, capture_output=True, timeout=timeout,
        )  # fmt: skip
        return done.returncode

    def close(self) -> None:
        for proc in self.children:
            _end(proc)
        assert self.holder.stdin is not None
        self.holder.stdin.close()
        try:
            self.holder.wait(30)
        except subprocess.TimeoutExpired:
            _end(self.holder)
        for stream in (self.holder.stdout, self.holder.stderr, *self._files):
            if stream is not None:
                stream.close()


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


@pytest.fixture
def namespace(tmp_path: Path) -> Iterator[Namespace]:
    why = _no_namespace()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI runs as root and must run the compose commands in a namespace")
        pytest.skip(why)
    data = compose()
    sysctls = {str(k): str(v) for k, v in data["services"]["lab"].get("sysctls", {}).items()}
    ns = Namespace(network_addresses(data, "lab"), sysctls, tmp_path)
    try:
        yield ns
    finally:
        ns.close()


# ------------------------------------------------------------------------------------- the runs
def _child_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """This environment without what the outer pytest (and xdist) set, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return {**env, **extra}


def _verdicts(report: Path) -> collections.Counter[tuple[str, str, str]]:
    data = json.loads(report.read_text(encoding="utf-8"))
    return collections.Counter((r["check"], r["subject"], r["outcome"]) for r in data["results"])


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_compose_commands_give_the_verdicts_of_mail_lab(
    scenario: str, namespace: Namespace, tmp_path: Path
) -> None:
    data = compose()
    env = {"SCENARIO": scenario, "PYTEST_ADDOPTS": TIMEOUT}  # (as `SCENARIO=... docker compose up` reads)
    volumes = tmp_path / "volumes"
    lab = Service("lab", data, env, volumes)
    runner = Service("runner", data, env, volumes)
    assert runner.spec["network_mode"] == "service:lab" and lab.healthcheck

    # --mail-lab on this machine's loopback, meanwhile, from a folder of its own (no ini file: as in
    # the runner's container)
    direct_dir = tmp_path / "direct"
    direct_dir.mkdir()
    direct = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--pyargs", "mailspec.checks", f"--mail-lab={scenario}",
         "-p", "no:cacheprovider", TIMEOUT, f"--mail-report={direct_dir / 'mail.json'}", "-q"],
        cwd=direct_dir, env=_child_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        served = namespace.start("lab", lab.argv, env=_child_env(lab.environment), cwd=tmp_path)
        # depends_on: condition: service_healthy, with the healthcheck's own test, in the namespace
        deadline = time.monotonic() + WAIT
        while namespace.run(lab.healthcheck, timeout=30) != 0:
            assert served.poll() is None, f"the lab exited {served.returncode}: {_text(tmp_path / 'lab.err')}"
            assert time.monotonic() < deadline, f"the lab was not healthy within {WAIT} s"
            time.sleep(0.1)
        # (in the reports volume: the runner image's WORKDIR, where nothing else may be left)
        work = runner.volumes["/reports"]
        ran = namespace.start("runner", runner.argv, env=_child_env(runner.environment), cwd=work)
        try:
            status = ran.wait(WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the runner did not finish within {WAIT} s: {_text(tmp_path / 'runner.err')}")
        direct_status = direct.wait(WAIT)
        assert served.poll() is None, f"the lab exited early: {_text(tmp_path / 'lab.err')}"
        served.terminate()  # (compose stops the lab with SIGTERM once the runner exits)
        assert served.wait(WAIT) == 0, _text(tmp_path / "lab.err")
    finally:
        _end(direct)

    reports = runner.volumes["/reports"]
    detail = _text(tmp_path / "runner.out") + _text(tmp_path / "runner.err")
    # (and nothing else of pytest's own: a plugin of this machine's, pytest-benchmark, may add a dot-folder)
    assert sorted(f for f in os.listdir(reports) if not f.startswith(".")) == ["mail.json", "mail.xml"], (
        detail
    )
    assert "<testsuite" in (reports / "mail.xml").read_text(encoding="utf-8")
    assert not (lab.volumes["/lab-state"] / "lab.json").exists()  # gone with the lab
    announced = json.loads((tmp_path / "lab.out").read_text().splitlines()[0])
    assert (announced["dns_port"], announced["smtp_port"], announced["smtp_control"]) == (
        53,
        25,
        "127.0.1.25:25",
    )

    # the runner surveyed the compose lab (its fixed ports), not a lab of its own, with --mail-lab's
    # settings (the lab's waivers among them, as the lab's)
    settings = json.loads((reports / "mail.json").read_text(encoding="utf-8"))["settings"]
    direct_settings = json.loads((direct_dir / "mail.json").read_text(encoding="utf-8"))["settings"]
    assert settings["resolvers"] == [announced["resolver"]] == ["127.0.0.153:53"]
    assert direct_settings["resolvers"] != settings["resolvers"]  # (a lab of its own, on a free port)
    del settings["resolvers"], direct_settings["resolvers"]
    assert settings == direct_settings

    # the same verdicts, and the same exit status, as --mail-lab's
    ours, theirs = _verdicts(reports / "mail.json"), _verdicts(direct_dir / "mail.json")
    assert ours == theirs, (ours - theirs, theirs - ours)
    assert status == direct_status, detail
    assert (status == 0) == (scenario == "good")
    assert len(ours) > 50
    if scenario == "open-relay":
        assert ours[("smtp.relay.denied", "mx1.open-relay.test@127.0.5.250", "failed")] == 1
