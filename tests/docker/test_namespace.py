"""docker/compose.yaml's own commands, run as compose runs them, without Docker: in a network
namespace of their own that holds the compose network's address and the lab service's sysctls, the
lab service's command (its servers on the namespace's loopback addresses, on ports 53, 25, 113 and
443, and its resolver on the compose address too), as its image's user (not root, no capability:
the sysctl is what lets it bind those ports), and then, once the lab's healthcheck (run as that user
too) passes, the runner service's command as its image's user, as separate processes sharing that
network namespace (network_mode: service:lab) and this machine's PID namespace (pid: service:lab),
with the volumes mapped to folders of a tmp folder, owned by the users the images give them to.
Their verdicts must be those of ``pytest --pyargs mailspec.checks --mail-lab=SCENARIO``.

The commands are read from compose.yaml (entrypoint, command, environment, volumes, sysctls,
healthcheck, the network's address) and the users and working folders from the images' Dockerfiles,
never written here. Needs root, ``unshare``, ``nsenter``, ``ip``, ``mount`` and ``setpriv``: skipped
without them, except in CI (``CI=true``), where it must run. Every wait is bounded; every process
started is ended; the namespace's traffic stays in it (loopback, and an interface with no route out):
every query to the compose address is sent from inside it.

The users that are not root need this machine's Python, which may be below a folder only root may
enter (pyenv's, below /root): the namespace's own mount namespace then shows such a folder as one that
anyone may enter, holding only what Python needs (bind mounts, in that mount namespace alone).
"""

from __future__ import annotations

import collections
import json
import os
import re
import selectors
import shlex
import shutil
import site
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
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
UNPRIVILEGED_PORT_START = "net.ipv4.ip_unprivileged_port_start"


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


def image_steps(spec: dict[str, Any]) -> dict[str, str]:
    """The last USER and WORKDIR of the Dockerfile a compose service is built from."""
    path = COMPOSE_FILE.parent / spec["build"]["context"] / spec["build"]["dockerfile"]
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    found = {}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() in ("USER", "WORKDIR"):
            found[word.upper()] = rest.strip()
    return found


def service_user(data: dict[str, Any], name: str) -> tuple[int, int]:
    """(uid, gid) a compose service runs as: compose's ``user``, or its image's USER (numeric in both
    images: no passwd entry needed)."""
    spec = data["services"][name]
    uid, _, gid = str(spec.get("user", image_steps(spec)["USER"])).partition(":")
    return int(uid), int(gid or uid)


class Service:
    """One compose service's process: its argv, environment and volumes, with each volume's
    container path mapped to a folder below *root*; its user (compose's ``user``, or its image's
    USER) and working folder (its image's WORKDIR, mapped)."""

    def __init__(self, name: str, data: dict[str, Any], env: Mapping[str, str], root: Path) -> None:
        spec = data["services"][name]
        self.name = name
        steps = image_steps(spec)
        self.user = service_user(data, name)
        self.volumes: dict[str, Path] = {}
        self.writable: list[Path] = []
        for entry in spec.get("volumes", []):
            source, target, *mode = str(entry).split(":")
            self.volumes[target] = root / source
            self.volumes[target].mkdir(parents=True, exist_ok=True)
            if "ro" not in mode:
                self.writable.append(self.volumes[target])
        argv = [interpolate(str(a), env) for a in [*spec["entrypoint"], *spec["command"]]]
        assert argv[0] == "python", argv  # the image's python: this one here
        self.argv = [sys.executable, *map(self.mapped, argv[1:])]
        environment = spec.get("environment", {})
        if isinstance(environment, list):
            environment = dict(str(e).partition("=")[::2] for e in environment)
        self.environment = {k: interpolate(str(v), env) for k, v in environment.items()}
        self.healthcheck = [self.mapped(a) for a in spec.get("healthcheck", {}).get("test", [])[1:]]
        self.sysctls = {str(k): str(v) for k, v in spec.get("sysctls", {}).items()}
        self.workdir = Path(self.mapped(steps["WORKDIR"]))
        self.spec = spec

    def own_volumes(self) -> None:
        """Each volume's folder that it writes its user's, as the image gives its mount point to that
        user (a named volume starts as a copy of the image's folder, owner included)."""
        for folder in self.writable:
            os.chown(folder, *self.user)

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
    tools = [("unshare", "util-linux"), ("nsenter", "util-linux"), ("ip", "iproute2")]
    tools += [("mount", "mount"), ("setpriv", "util-linux")]
    for tool, package in tools:
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian's {package} package)"
    try:
        done = subprocess.run(
            ["unshare", "--net", "--mount", "--", "ip", "link", "set", "lo", "up"],
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


def _can_enter(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def closed_folders(users: list[tuple[int, int]]) -> dict[Path, set[str]]:
    """Folders on the way to this Python (its prefixes, its executable, its import path) that one of
    *users* may not enter, each with the names below it on those ways."""
    wanted = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    wanted |= {*site.getsitepackages(), *(p for p in sys.path if p)}
    closed: dict[Path, set[str]] = {}
    for path in sorted(Path(os.path.realpath(w)) for w in wanted if os.path.exists(w)):
        parts = path.parts
        for depth in range(1, len(parts)):
            folder = Path(*parts[:depth])
            st = folder.stat()
            if not all(_can_enter(st, uid, gid) for uid, gid in users):
                closed.setdefault(folder, set()).add(parts[depth])
    return closed


def open_views(closed: dict[Path, set[str]], views: Path) -> list[str]:
    """Shell lines (in a mount namespace of its own) that show each closed folder as one anyone may
    enter, holding only the names below it that Python needs: each one bound into a view folder, the
    view bound over the closed folder; the deepest first, recursively, so that an outer view keeps the
    inner ones."""
    lines = []
    for n, (folder, names) in enumerate(sorted(closed.items(), key=lambda kv: -len(kv[0].parts))):
        view = views / str(n)
        view.mkdir(parents=True)
        view.chmod(0o755)
        for name in sorted(names):
            inside = folder / name
            if inside.is_dir():
                (view / name).mkdir()
            else:
                (view / name).touch()
            lines.append(f"mount --rbind {shlex.quote(str(inside))} {shlex.quote(str(view / name))}")
        lines.append(f"mount --rbind {shlex.quote(str(view))} {shlex.quote(str(folder))}")
    return lines


class Namespace:
    """A network namespace (and a mount namespace, private), held by a process that lives as long as
    its stdin is open: ``lo`` up, the compose network's addresses on an interface of its own (a
    dummy, or a veth pair whose both ends are in the namespace: no route leads out), the service's
    sysctls set in it, and the views of *mounts* (:func:`open_views`) in its mount namespace."""

    def __init__(
        self, addresses: list[str], sysctls: Mapping[str, str], log: Path, mounts: tuple[str, ...] = ()
    ) -> None:
        script = ["set -e", "ip link set lo up"]
        if addresses:
            script.append(
                "ip link add eth0 type dummy 2>/dev/null || ip link add eth0 type veth peer name eth0-peer"
            )
            script.append("if ip link show eth0-peer >/dev/null 2>&1; then ip link set eth0-peer up; fi")
            script += [f"ip addr add {shlex.quote(a)} dev eth0" for a in addresses]
            script.append("ip link set eth0 up")
        for key, value in sysctls.items():
            # (/proc/sys/net is the network namespace's of the process that opens it: this one's)
            path = "/proc/sys/" + key.replace(".", "/")
            script.append(f"echo {shlex.quote(value)} > {shlex.quote(path)}")
        script += list(mounts)
        script += ["echo ready", "exec cat >/dev/null"]  # (until its stdin ends)
        self.children: list[subprocess.Popen[bytes]] = []
        self._files: list[IO[bytes]] = []
        self._log = log
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(script)],
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

    def argv(
        self, argv: list[str], user: tuple[int, int] | None = None, cwd: Path | None = None
    ) -> list[str]:
        """*argv* in the network namespace; as *user* (uid, gid: no groups, no capability), in the
        mount namespace too, in *cwd* (entering a mount namespace leaves its root as the folder)."""
        enter = ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]
        if user is None:
            return [*enter, "--", *argv]
        assert cwd is not None
        enter += [f"--mount=/proc/{self.holder.pid}/ns/mnt", f"--wd={cwd}"]
        drop = ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--inh-caps=-all"]
        return [*enter, "--", *drop, "--", *argv]

    def start(
        self, name: str, argv: list[str], user: tuple[int, int] | None = None, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        """*argv* in the namespace, its output in files ``<name>.out`` and ``<name>.err``."""
        out, err = (open(self._log / f"{name}.{s}", "wb") for s in ("out", "err"))  # noqa: SIM115
        self._files += [out, err]
        proc = subprocess.Popen(
            self.argv(argv, user, kwargs.get("cwd")), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            **kwargs,
        )  # fmt: skip
        self.children.append(proc)
        return proc

    def run(
        self, argv: list[str], timeout: float, user: tuple[int, int] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv, user, cwd), stdin=subprocess.DEVNULL, check=False, capture_output=True,
            text=True, timeout=timeout, cwd=cwd,
        )  # fmt: skip

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


def _end(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)


MakeNamespace = Callable[..., Namespace]


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder that the images' users may enter (below it: the volumes, and the views)."""
    folder = Path(tempfile.mkdtemp(prefix="mailspec-compose-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def make_namespace(tmp_path: Path, work: Path) -> Iterator[MakeNamespace]:
    """Namespaces like the lab service's: its network's addresses, its sysctls (unless *sysctls*
    says otherwise), and views for the images' users."""
    why = _no_namespace()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI runs as root and must run the compose commands in a namespace")
        pytest.skip(why)
    data = compose()
    users = [service_user(data, name) for name in data["services"]]
    made: list[Namespace] = []

    def make(sysctls: Mapping[str, str] | None = None) -> Namespace:
        if sysctls is None:
            sysctls = {str(k): str(v) for k, v in data["services"]["lab"].get("sysctls", {}).items()}
        views = work / f"views{len(made)}"
        mounts = open_views(closed_folders(users), views)
        ns = Namespace(network_addresses(data, "lab"), sysctls, tmp_path, tuple(mounts))
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
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


#: run inside the namespace: the scenario domain's MX, as the resolver answers it at each address
_ASK = """
import json, sys
import dns.message, dns.query
domain, *targets = sys.argv[1:]
found = {}
for target in targets:
    address, _, port = target.rpartition(":")
    reply = dns.query.udp(dns.message.make_query(domain, "MX"), address, port=int(port), timeout=10)
    found[target] = sorted(rd.to_text() for rrset in reply.answer for rd in rrset)
print(json.dumps(found))
"""


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _port_start() -> str:
    return Path("/proc/sys/" + UNPRIVILEGED_PORT_START.replace(".", "/")).read_text().strip()


def _stale_announcement(path: Path, addresses: list[str]) -> None:
    """What a lab killed in an earlier run leaves in the lab-state volume: lab.json, its pid gone."""
    gone = subprocess.Popen(["true"])
    gone.wait(WAIT)
    info = {
        "resolver": "127.0.0.153:53", "dns_port": 53, "smtp_port": 25, "ident_port": 113,
        "https_port": 443, "smtp_control": "127.0.1.25:25", "ca_path": "/lab-state/ca.pem",
        "domains": ["good.test"], "waivers": [], "dkim_selectors": [], "scenarios": ["good"],
        "dns_listen": [f"{a.partition('/')[0]}:53" for a in addresses], "pid": gone.pid,
        "pid_ns": os.readlink("/proc/self/ns/pid"), "pid_start": None, "token": "20260101T000000Z-stale",
    }  # fmt: skip
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_compose_commands_give_the_verdicts_of_mail_lab(
    scenario: str, make_namespace: MakeNamespace, tmp_path: Path, work: Path
) -> None:
    data = compose()
    env = {"SCENARIO": scenario, "PYTEST_ADDOPTS": TIMEOUT}  # (as `SCENARIO=... docker compose up` reads)
    volumes = work / "volumes"
    lab = Service("lab", data, env, volumes)
    runner = Service("runner", data, env, volumes)
    assert runner.spec["network_mode"] == "service:lab" and lab.healthcheck
    # (pid: service:lab: the runner sees the lab's processes; here all share this machine's)
    assert runner.spec["pid"] == "service:lab"
    assert lab.user[0] != 0 and runner.user[0] != 0
    lab.own_volumes()
    runner.own_volumes()  # (the reports volume; lab-state it only reads)
    state = lab.volumes["/lab-state"]
    [compose_address] = [a.partition("/")[0] for a in network_addresses(data, "lab")]
    assert f"--dns-listen={compose_address}" in lab.argv
    _stale_announcement(state / "lab.json", network_addresses(data, "lab"))
    host_port_start = _port_start()

    namespace = make_namespace()
    # compose's sysctl, in the namespace only
    sysctl = namespace.run(["cat", "/proc/sys/" + UNPRIVILEGED_PORT_START.replace(".", "/")], timeout=30)
    assert sysctl.stdout.strip() == lab.sysctls[UNPRIVILEGED_PORT_START]
    # the stale announcement is no health (its pid is gone: no query is even sent)
    stale = namespace.run(lab.healthcheck, timeout=30, user=lab.user, cwd=lab.workdir)
    assert stale.returncode == 1 and "is stale: pid" in stale.stdout, stale.stdout + stale.stderr

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
        served = namespace.start(
            "lab", lab.argv, user=lab.user, env=_child_env(lab.environment), cwd=lab.workdir
        )
        # depends_on: condition: service_healthy, with the healthcheck's own test, in the namespace, as
        # the lab's user
        deadline = time.monotonic() + WAIT
        while (
            health := namespace.run(lab.healthcheck, timeout=30, user=lab.user, cwd=lab.workdir)
        ).returncode:
            assert served.poll() is None, f"the lab exited {served.returncode}: {_text(tmp_path / 'lab.err')}"
            assert time.monotonic() < deadline, f"the lab was not healthy within {WAIT} s: {health.stdout}"
            time.sleep(0.1)
        assert f"{compose_address}:53 (NOERROR)" in health.stdout, health.stdout
        # the lab serves as its image's user, with no capability (the sysctl lets it bind below 1024)
        status = _status(served.pid)
        assert (
            status["Uid"].split() == [str(lab.user[0])] * 4
            and status["Gid"].split() == [str(lab.user[1])] * 4
        )
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
        assert _port_start() == host_port_start  # (the host's own is left alone)
        # the scenario, from the compose address (inside the namespace only), as from the resolver
        asked = namespace.run(
            [sys.executable, "-c", _ASK, f"{scenario}.test.", f"{compose_address}:53", "127.0.0.153:53"],
            timeout=60,
        )
        assert asked.returncode == 0, asked.stderr
        mx = json.loads(asked.stdout)
        assert mx[f"{compose_address}:53"] == mx["127.0.0.153:53"]
        assert mx[f"{compose_address}:53"] and all(
            r.endswith(f".{scenario}.test.") for r in mx[f"{compose_address}:53"]
        ), mx

        # (in the reports volume: the runner image's WORKDIR, where nothing else may be left)
        ran = namespace.start(
            "runner", runner.argv, user=runner.user, env=_child_env(runner.environment), cwd=runner.workdir
        )
        try:
            status_code = ran.wait(WAIT)
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
    assert all(os.stat(reports / f).st_uid == runner.user[0] for f in ("mail.json", "mail.xml"))
    assert "<testsuite" in (reports / "mail.xml").read_text(encoding="utf-8")
    assert sorted(os.listdir(state)) == []  # the announcement and the CA go with the lab
    assert f"removing the stale {state / 'lab.json'}" in _text(tmp_path / "lab.err")
    announced = json.loads((tmp_path / "lab.out").read_text().splitlines()[0])
    assert (announced["dns_port"], announced["smtp_port"], announced["smtp_control"]) == (
        53,
        25,
        "127.0.1.25:25",
    )
    assert announced["dns_listen"] == [f"{compose_address}:53"] and announced["pid"] == served.pid

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
    assert status_code == direct_status, detail
    assert (status_code == 0) == (scenario == "good")
    assert len(ours) > 50
    if scenario == "open-relay":
        assert ours[("smtp.relay.denied", "mx1.open-relay.test@127.0.5.250", "failed")] == 1


def test_without_the_compose_sysctl_the_lab_user_cannot_bind_its_ports(
    make_namespace: MakeNamespace, tmp_path: Path, work: Path
) -> None:
    """The sysctl is what the lab's non-root bind needs: without it (the kernel's default, 1024), the
    lab service's command, as its image's user, fails on its first port below 1024."""
    data = compose()
    lab = Service("lab", data, {}, work / "volumes")
    lab.own_volumes()
    namespace = make_namespace(sysctls={})
    sysctl = namespace.run(["cat", "/proc/sys/" + UNPRIVILEGED_PORT_START.replace(".", "/")], timeout=30)
    assert int(sysctl.stdout) > 25
    served = namespace.start("lab", lab.argv, user=lab.user, env=_child_env(lab.environment), cwd=lab.workdir)
    assert served.wait(WAIT) == 2
    assert "[Errno 13]" in _text(tmp_path / "lab.err") and "('127.0.0.153', 53)" in _text(
        tmp_path / "lab.err"
    )
    assert not (lab.volumes["/lab-state"] / "lab.json").exists()
