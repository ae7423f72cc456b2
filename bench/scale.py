#!/usr/bin/env python3
"""Scale benchmark: mailspec over thousands of mail domains, run as a CI user runs it.

The targets (from the issue): 1,000 domains, 10 % of them black-holed, in at most 60 s; 5,000
healthy domains in at most 1 GiB. For each run this prints the wall time and the peak RSS of the
pytest process, the size of the JSON report and the outcome counts of its summary. Nothing here is a
timed test: the script prints figures.

    python bench/scale.py --case 1000-blackholed          # 1,000 domains, 100 of them black-holed
    python bench/scale.py --case 5000                     # 5,000 healthy domains
    python bench/scale.py --case 5000 --python /tmp/before-venv/bin/python --runs 3
    python bench/scale.py --case 1000-blackholed --clean-venv   # as `pip install mailspec` has it

``--clean-venv`` runs pytest from a venv with this checkout installed and nothing else (as a CI user
has it): a development environment's plugins (pytest-asyncio, hypothesis, pytest-benchmark, xdist)
add their hooks to every test, about a fifth of a large run's time.

Cases are made here: each healthy domain is a copy of the lab's well-configured domain (two MX hosts,
SPF, two name servers) with name server addresses of its own; a black-holed one is configured the
same way, but the lab's resolver never answers for it (``[resolver] silent = true``, as in the
packaged ``blackhole`` scenario). Every 10th domain is the black-holed one, so they are spread over
the list. The scenarios are written as TOML files into a temporary folder and served by the lab in a
process of its own (``python -m mailspec.testing.serve`` when the lab's mailspec has it, else a
small equivalent in this script, ``--lab private``), under the lab's interpreter (``--lab-python``,
default: this one). Addresses stay in 127.0.0.0/8: inside the scenario range of the lab
(127.0.2.0-127.0.9.255) while they fit, otherwise from 127.1.0.1 up (second and third octets), away
from the lab's resolver (127.0.0.153) and registry (127.0.1.1); only the private server can serve
those, as the scenario loader refuses them (it is widened in that process only). Each address takes
two sockets (UDP, TCP) and a process may open only so many files (the hard limit, 20,000 on the
machine this was written on, cannot be raised there): past that, the private server runs as several
processes on one port, the first with the resolver and the registry. The MX hosts have the domain's
name server addresses: nothing listens on them for SMTP, so the runs use ``--mail-probe=dns`` (``--probe``)
and the SMTP checks are collected and reported as skipped (bench/smtp_survey.py measures that half).

pytest runs under ``--python`` (which decides the mailspec under test), from an empty temporary
folder, as ``python -m pytest -p mailspec --pyargs mailspec.checks --mail-domains-file=... -q``
with the lab's resolver and port, the ``--mail-timeout`` default and the loopback waivers
(``dns.ns.public-address`` only if that mailspec knows the id). Peak RSS is the pytest process's own
(``wait4``), in MiB of 2**20 bytes; the lab's peak is printed beside it. Also printed: pytest's CPU
time, when its first test result appeared (start-up, survey and collection are over by then) and its
RSS at that moment, and the mean load average during the run: the machine may be shared, so read
the wall times with it. ``--runs N`` prints each run and the median, min and max; each run is killed
after ``--limit`` seconds (1800), and the lab is always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import os
import queue
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CASES: dict[str, tuple[int, int]] = {  # name -> (domains, black-holed)
    "1000-blackholed": (1000, 100),
    "5000": (5000, 0),
}
TARGETS: dict[str, str] = {
    "1000-blackholed": "wall <= 60 s",
    "5000": "peak RSS <= 1 GiB",
}
#: bound on one pytest run, and on the lab's start-up
RUN_LIMIT = 1800.0
#: open files a lab process keeps free beside its two sockets per address
FD_SLACK = 1024
LAB_START_LIMIT = 600.0
#: the lab's scenario range (mailspec.testing.scenario.SCENARIO_FIRST/LAST), asked of the lab's python
DEFAULT_RANGE = ("127.0.2.0", "127.0.9.255")
#: beyond the scenario range: 127.1.0.1 and up, never 127.0.x.y (the lab's own and packaged scenarios')
SPILL_FIRST_SECOND_OCTET = 1
#: a line of pytest -q's progress characters: the first test results (after start-up, survey, collection)
PROGRESS = re.compile(rb"(?:^|\n)[.sxXEF]+(?:\n|$| +\[)")
WAIVERS = ("mx.target.public-address=lab", "dns.ns.public-address=lab")


# --------------------------------------------------------------------------------------------- scenarios
def addresses(count: int, fit: tuple[str, str]) -> list[str]:
    """*count* distinct loopback addresses: inside the scenario range *fit* if they fit there, else
    spread over 127.S.T.U with S >= 1 (no .0 or .255 last octet in either case)."""
    first, last = (ipaddress.IPv4Address(a) for a in fit)
    inside = [
        str(ipaddress.IPv4Address(n))
        for n in range(int(first), int(last) + 1)
        if int(ipaddress.IPv4Address(n)) % 256 not in (0, 255)
    ]
    if count <= len(inside):
        return inside[:count]
    out: list[str] = []
    for second in range(SPILL_FIRST_SECOND_OCTET, 255):
        for third in range(256):
            for fourth in range(1, 255):
                out.append(f"127.{second}.{third}.{fourth}")
                if len(out) == count:
                    return out
    raise SystemExit(f"{count} addresses do not fit in 127.0.0.0/8")


def scenario_toml(n: int, ns1: str, ns2: str, *, blackholed: bool) -> str:
    """One domain: the lab's well-configured domain (MX, SPF, DMARC, reverse DNS) with name servers
    of its own; optionally with the lab's resolver silent for it."""
    domain = f"scale-{n:05d}.test"
    expect = 'error = ["dns.domain.exists"]' if blackholed else "clean = true"
    silent = "\n[resolver]\nsilent = true\n" if blackholed else ""
    return f'''# generated by bench/scale.py
domain = "{domain}"
waive = ["mx.target.public-address=the lab serves every MX on loopback"]
[expect]
{expect}
[zone]
records = """
@    MX  10 mx1
@    MX  20 mx2
@    TXT "v=spf1 mx -all"
_dmarc TXT "v=DMARC1; p=reject"
mx1  A   {ns1}
mx2  A   {ns2}
"""
[[zone.nameserver]]
host = "ns1"
ip = "{ns1}"
[[zone.nameserver]]
host = "ns2"
ip = "{ns2}"
[ptr]
"{ns1}" = "mx1.{domain}"
"{ns2}" = "mx2.{domain}"
{silent}'''


def write_scenarios(folder: Path, domains: int, blackholed: int, fit: tuple[str, str]) -> list[str]:
    """Write one TOML file per domain into *folder*; return the domains in list order."""
    if not 0 <= blackholed <= domains:
        raise SystemExit("--blackholed must be between 0 and --domains")
    # black-holed: spread evenly, e.g. every 10th for 100 of 1,000
    step = domains / blackholed if blackholed else 0
    dark = {int(i * step + step - 1) for i in range(blackholed)}
    ips = addresses(2 * domains, fit)
    shutil.rmtree(folder, ignore_errors=True)  # a kept folder of an earlier run
    folder.mkdir(parents=True)
    names = []
    for n in range(domains):
        text = scenario_toml(n, ips[2 * n], ips[2 * n + 1], blackholed=n in dark)
        (folder / f"scale-{n:05d}.toml").write_text(text, encoding="utf-8")
        names.append(f"scale-{n:05d}.test")
    return names


# --------------------------------------------------------------------------------------------- the lab
def _nofile_hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def addresses_per_process() -> int:
    """Lab addresses one process can bind: two sockets each (UDP, TCP) within the hard limit on open
    files (which only a process with CAP_SYS_RESOURCE could raise), less room for connections."""
    hard = _nofile_hard()
    return (hard - FD_SLACK) // 2 if hard != resource.RLIM_INFINITY else 1 << 20


@contextlib.contextmanager
def _nofile() -> Iterator[None]:
    """The soft limit on open files raised to the hard one while a lab process is spawned (it inherits
    it); restored afterwards, so that pytest runs under the limit this benchmark was started with."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (before[1], before[1]))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, before)


def _lab_info(lab_python: str) -> dict[str, object]:
    code = (
        "import importlib.util, json\n"
        "from mailspec.testing import scenario as s\n"
        "print(json.dumps({'serve': importlib.util.find_spec('mailspec.testing.serve') is not None,"
        " 'range': [str(getattr(s, 'SCENARIO_FIRST', '')), str(getattr(s, 'SCENARIO_LAST', ''))]}))\n"
    )
    out = subprocess.run(
        [lab_python, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd="/"
    )
    if out.returncode != 0:
        raise SystemExit(
            f"the lab's python {lab_python} cannot import mailspec.testing:\n{out.stderr[-2000:]}"
        )
    info: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    rng = info["range"]
    if not (isinstance(rng, list) and all(rng)):
        info["range"] = list(DEFAULT_RANGE)
    return info


@dataclass
class LabProcess:
    """One lab process; its first stdout line is JSON with resolver and dns_port; stdin EOF stops it."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen[str] | None = None
    ready: dict[str, object] = field(default_factory=dict)

    def start(self) -> dict[str, object]:
        with self.log.open("w") as err, _nofile():
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd="/",
                start_new_session=True,
            )
        lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=LAB_START_LIMIT)
        except queue.Empty:
            line = ""
        if not line.strip():
            self.close()
            tail = self.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the lab did not start ({' '.join(self.argv[:4])} ...):\n{tail}")
        self.ready = json.loads(line)
        return self.ready

    def peak_rss_mib(self) -> float:
        """The process's high-water mark (VmHWM), while it runs."""
        if self.proc is None:
            return 0.0
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # stdin EOF: the lab stops
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@dataclass
class LabGroup:
    """The lab, in one process or (more addresses than one process may bind) several on one port: the
    first serves the resolver, the registry and its share of the name servers, each other one its own
    share."""

    processes: list[LabProcess]
    resolver: str = ""
    dns_port: int = 0
    started_in: float = 0.0

    def start(self) -> LabGroup:
        t0 = time.perf_counter()
        first = self.processes[0].start()
        self.resolver, self.dns_port = str(first["resolver"]), int(str(first["dns_port"]))
        for other in self.processes[1:]:
            other.argv += ["--port", str(self.dns_port)]
            other.start()
        self.started_in = time.perf_counter() - t0
        return self

    def peak_rss_mib(self) -> float:
        return sum(p.peak_rss_mib() for p in self.processes)

    def close(self) -> None:
        for p in self.processes:
            p.close()


def make_lab(
    kind: str, lab_python: str, folder: Path, latency: float, n_addresses: int, work: Path
) -> LabGroup:
    if kind == "official":
        argv = [lab_python, "-m", "mailspec.testing.serve", "--scenario-file", str(folder)]
        argv += ["--latency", repr(latency)]
        return LabGroup([LabProcess(argv, work / "lab.log")])
    shards = math.ceil((n_addresses + 2) / addresses_per_process())
    me = str(Path(__file__).resolve())
    return LabGroup(
        [
            LabProcess(
                [lab_python, me, "--serve-lab", str(folder), "--latency", repr(latency)]
                + (["--shard", f"{i}/{shards}"] if shards > 1 else []),
                work / f"lab-{i}.log",
            )
            for i in range(shards)
        ]
    )


def serve_lab(argv: list[str]) -> None:
    """The private lab server: the scenarios of a folder in mailspec.testing.lab.Lab until stdin EOF;
    with ``--shard I/K``, the I-th of K processes, on one port (``--port``) for all (see LabGroup)."""
    ap = argparse.ArgumentParser(prog="scale.py --serve-lab")
    ap.add_argument("folder")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--port", type=int, default=0)
    opts = ap.parse_args(argv)
    shard, shards = (int(x) for x in opts.shard.split("/"))

    from mailspec.testing import scenario as scenario_mod

    def fits(ip: str) -> bool:
        return scenario_mod.SCENARIO_FIRST <= ipaddress.IPv4Address(ip) <= scenario_mod.SCENARIO_LAST

    wanted = [
        line.split('"')[1]
        for p in Path(opts.folder).glob("*.toml")
        for line in p.read_text().splitlines()
        if line.startswith("ip = ")
    ]
    if not all(fits(ip) for ip in wanted):
        # More addresses than the scenario range holds: widen it in this process only (loopback still).
        scenario_mod.SCENARIO_FIRST = ipaddress.IPv4Address("127.0.2.0")
        scenario_mod.SCENARIO_LAST = ipaddress.IPv4Address("127.254.255.254")
    scenarios = scenario_mod.load_scenarios([opts.folder])
    if shards == 1:
        from mailspec.testing.lab import Lab

        lab = Lab(scenarios, latency=opts.latency)
        lab.start(timeout=LAB_START_LIMIT)
        try:
            ready = {
                "resolver": lab.resolver,
                "dns_port": lab.dns_port,
                "domains": lab.domains,
                "waivers": lab.waivers,
            }
            print(json.dumps(ready), flush=True)
            sys.stdin.read()
        finally:
            lab.stop()
        return
    asyncio.run(_serve_shard(scenarios, opts.latency, shard, shards, opts.port))


async def _serve_shard(scenarios: list[object], latency: float, shard: int, shards: int, port: int) -> None:
    import dataclasses

    from mailspec.testing.dns_server import LabDnsServer
    from mailspec.testing.zones import build_lab

    plan = build_lab(scenarios)  # type: ignore[arg-type]
    own, theirs = plan.servers[:2], plan.servers[2:]  # the resolver and registry; the scenarios'
    size = math.ceil(len(theirs) / shards)
    mine = (own if shard == 0 else ()) + theirs[shard * size : (shard + 1) * size]
    server = LabDnsServer(dataclasses.replace(plan, servers=mine), latency=latency)
    await server.start(port)
    try:
        ready = {
            "resolver": f"{plan.resolver_ip}:{server.port}",
            "dns_port": server.port,
            "domains": list(plan.domains),
            "addresses": len(mine),
        }
        print(json.dumps(ready), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await server.stop()


# --------------------------------------------------------------------------------------------- one run
@dataclass
class Run:
    wall: float
    rss_mib: float
    report_bytes: int
    summary: dict[str, int]
    returncode: int
    tail: str
    results: int
    session_s: float | None
    cpu_s: float  #: user + system CPU of the pytest process
    first_output_s: float | None  #: when pytest printed its first test result
    rss_at_first_output_mib: float | None
    load: float  #: the mean 1-minute load average over the run


def _knows(python: str, check_id: str) -> bool:
    code = f"from mailspec.catalog import CATALOG; print({check_id!r} in CATALOG)"
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd="/"
    )
    if out.returncode != 0:
        raise SystemExit(f"{python} cannot import mailspec:\n{out.stderr[-2000:]}")
    return out.stdout.strip() == "True"


@dataclass
class _Watch:
    """What is sampled while pytest runs: its RSS when its first output appears, and the load."""

    out: Path
    t0: float
    first_output_s: float | None = None  #: when the first test result was printed
    rss_at_first_output_mib: float | None = None
    loads: list[float] = field(default_factory=list)
    _next_load: float = 0.0

    _seen: int = 0

    def sample(self, pid: int) -> None:
        now = time.perf_counter()
        if self.first_output_s is None and self.out.stat().st_size > self._seen:
            with self.out.open("rb") as f:
                f.seek(max(0, self._seen - 1))
                chunk = f.read()
            self._seen += len(chunk) - (1 if self._seen else 0)
            if PROGRESS.search(chunk):
                self.first_output_s = now - self.t0
                self.rss_at_first_output_mib = _vmrss_mib(pid)
        if now >= self._next_load:
            with contextlib.suppress(OSError, ValueError):
                self.loads.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self._next_load = now + 5


def _vmrss_mib(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def _wait(pid: int, limit: float, watch: _Watch) -> tuple[int, resource.struct_rusage, bool]:
    """wait4 the child within *limit* seconds (its own rusage); kill its process group after that."""
    deadline = time.monotonic() + limit
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), usage, False
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return os.waitstatus_to_exitcode(status), usage, True
        watch.sample(pid)
        time.sleep(0.05)


def pytest_argv(
    python: str,
    domains_file: Path,
    report: Path,
    lab: LabGroup,
    waivers: Sequence[str],
    extra: Sequence[str],
    probe: str = "",
) -> list[str]:
    return [
        python,
        *extra,
        "-m",
        "pytest",
        "-p",
        "mailspec",
        "--pyargs",
        "mailspec.checks",
        f"--mail-domains-file={domains_file}",
        f"--mail-resolver={lab.resolver}",
        f"--mail-dns-port={lab.dns_port}",
        "--mail-dnsbl=dnsbl.test",  # (the lab's blocklist, as --mail-lab has it)
        *(f"--mail-waive={w}" for w in waivers),
        f"--mail-report={report}",
        *([f"--mail-probe={probe}"] if probe else []),
        "-q",
        "-p",
        "no:cacheprovider",
        "--tb=no",
    ]


def run_once(argv: list[str], work: Path, report: Path, limit: float) -> Run:
    cwd = work / "cwd"
    shutil.rmtree(cwd, ignore_errors=True)
    cwd.mkdir()
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    out_path = work / "pytest.out"
    with out_path.open("w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        watch = _Watch(out_path, t0)
        code, usage, killed = _wait(proc.pid, limit, watch)
        wall = time.perf_counter() - t0
    proc.returncode = code  # reaped by wait4
    lines = out_path.read_text(errors="replace").splitlines()
    tail = next((ln for ln in reversed(lines) if ln.strip() and not ln.startswith("mailspec: JSON")), "")
    if killed:
        tail = f"KILLED after {limit:g} s; last line: {tail}"
    summary: dict[str, int] = {}
    results = 0
    session_s = None
    size = report.stat().st_size if report.exists() else 0
    if size:
        data = json.loads(report.read_text(encoding="utf-8"))
        summary = data.get("summary", {})
        results = len(data.get("results", []))
        session_s = data.get("duration_s")
    return Run(
        wall,
        usage.ru_maxrss / 1024,
        size,
        summary,
        code,
        tail,
        results,
        session_s,
        usage.ru_utime + usage.ru_stime,
        watch.first_output_s,
        watch.rss_at_first_output_mib,
        statistics.fmean(watch.loads) if watch.loads else 0.0,
    )


# --------------------------------------------------------------------------------------------- output
def _mib(n: float) -> str:
    return f"{n:,.0f} MiB"


def _size(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB ({n:,.0f} B)"


def _stats(label: str, values: list[float], fmt: str) -> str:
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"  {label:12} median {fmt.format(med)}  min {fmt.format(lo)}  max {fmt.format(hi)}"


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _uptime() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    return f"load average {_load()}"


@contextlib.contextmanager
def _workdir(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mailspec-scale-") as tmp:
        yield Path(tmp)


def clean_venv() -> str:
    """A venv (made once, in the temporary folder) with this checkout installed as a user installs
    it: mailspec and its dependencies, none of the dev plugins (pytest-asyncio, hypothesis,
    pytest-benchmark, xdist), whose per-test hooks cost about a fifth of a large run."""
    root = Path(__file__).resolve().parents[1]
    venv = Path(tempfile.gettempdir()) / "mailspec-bench-clean-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(root)], check=True
    )
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(root)], check=True)
    return str(python)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), default="1000-blackholed")
    ap.add_argument("--domains", type=int, help="override the case's number of domains")
    ap.add_argument("--blackholed", type=int, help="override the case's number of black-holed domains")
    ap.add_argument("--python", default=sys.executable, help="interpreter (and so mailspec) that runs pytest")
    ap.add_argument(
        "--clean-venv",
        action="store_true",
        help="run pytest in a new venv with only `pip install <this checkout>` (no dev plugins), as a CI "
        "user has it; overrides --python",
    )
    ap.add_argument("--lab-python", default=sys.executable, help="interpreter (and so mailspec) of the lab")
    ap.add_argument("--lab", choices=("auto", "official", "private"), default="auto")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="added by the lab to every answer")
    ap.add_argument(
        "--probe",
        default="dns",
        help="--mail-probe of the runs (default dns: the domains' MX hosts are no SMTP servers here, "
        "so the SMTP checks, collected and reported as skipped, would only count refused connections; "
        "bench/smtp_survey.py measures the SMTP half); '' for mailspec's default",
    )
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--limit", type=float, default=RUN_LIMIT, help="seconds before a pytest run is killed")
    ap.add_argument("--cprofile", metavar="PATH", help="run pytest under cProfile, stats to PATH (last run)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (scenarios, report, output)")
    opts = ap.parse_args(argv)
    if opts.clean_venv:
        opts.python = clean_venv()
    domains, blackholed = CASES[opts.case]
    if opts.domains is not None:
        domains = opts.domains
        blackholed = opts.blackholed if opts.blackholed is not None else domains // 10 * bool(blackholed)
    elif opts.blackholed is not None:
        blackholed = opts.blackholed
    custom = (domains, blackholed) != CASES[opts.case]

    info = _lab_info(opts.lab_python)
    fit = (str(info["range"][0]), str(info["range"][1]))  # type: ignore[index]
    first, last = (ipaddress.IPv4Address(a) for a in fit)
    in_range = all(first <= ipaddress.IPv4Address(a) <= last for a in addresses(2 * domains, fit))
    one_process = 2 * domains + 2 <= addresses_per_process()
    kind = opts.lab
    if kind == "auto":
        kind = "official" if info["serve"] and in_range and one_process else "private"
    with _workdir(opts.keep) as work:
        names = write_scenarios(work / "scenarios", domains, blackholed, fit)
        domains_file = work / "domains.txt"
        domains_file.write_text("".join(f"{d}\n" for d in names), encoding="utf-8")
        report = work / "report.json"
        lab = make_lab(kind, opts.lab_python, work / "scenarios", opts.latency_ms / 1000, 2 * domains, work)
        print(f"mailspec scale benchmark: case {opts.case}{' (custom)' if custom else ''}")
        print(f"  {domains:,} domains, {blackholed:,} black-holed; lab latency {opts.latency_ms:g} ms")
        print(f"  pytest: {opts.python}; lab: {kind} server under {opts.lab_python}")
        if kind == "private" and not info["serve"]:
            print("  (mailspec.testing.serve is not in the lab's mailspec: this script's own server)")
        elif kind == "private" and opts.lab == "auto":
            print(
                f"  (mailspec.testing.serve exists, but {2 * domains:,} addresses exceed its range "
                f"{fit[0]}-{fit[1]} or one process's {addresses_per_process():,})"
            )
        if len(lab.processes) > 1:
            print(
                f"  lab in {len(lab.processes)} processes on one port: {2 * domains + 2:,} addresses, at most"
                f" {addresses_per_process():,} per process (open files: hard limit {_nofile_hard():,})"
            )
        print(f"  machine: {os.cpu_count()} CPUs; {_uptime()}")
        runs: list[Run] = []
        try:
            lab.start()
            print(f"  lab ready in {lab.started_in:.1f} s at {lab.resolver}, {_mib(lab.peak_rss_mib())} RSS")
            # the lab's public addresses check of name servers, if the mailspec under test has it
            waivers = [w for w in WAIVERS if w.startswith("mx.") or _knows(opts.python, w.split("=")[0])]
            for i in range(opts.runs):
                extra: list[str] = []
                if opts.cprofile and i == opts.runs - 1:
                    extra = ["-m", "cProfile", "-o", str(Path(opts.cprofile).resolve())]
                cmd = pytest_argv(opts.python, domains_file, report, lab, waivers, extra, opts.probe)
                if i == 0:
                    print(
                        "  command: " + " ".join(cmd[:1] + [a if " " not in a else repr(a) for a in cmd[1:]])
                    )
                r = run_once(cmd, work, report, opts.limit)
                runs.append(r)
                summary = ", ".join(f"{k} {v:,}" for k, v in r.summary.items()) or "no report"
                session = f", session {r.session_s:.1f} s" if r.session_s is not None else ""
                print(
                    f"run {i + 1}: wall {r.wall:.1f} s{session}; peak RSS {_mib(r.rss_mib)}; "
                    f"report {_size(r.report_bytes)}; {r.results:,} results; exit {r.returncode}"
                )
                print(f"  summary: {summary}")
                print(f"  pytest: {r.tail}")
                first = (
                    f"first test result at {r.first_output_s:.1f} s, "
                    f"RSS then {_mib(r.rss_at_first_output_mib or 0)}"
                    if r.first_output_s is not None
                    else "no test result seen"
                )
                print(f"  pytest CPU {r.cpu_s:.1f} s (user + system); {first}")
                print(f"  load: mean 1-min load {r.load:.2f} during the run; now {_load()}")
            print(f"lab peak RSS (VmHWM, all its processes): {_mib(lab.peak_rss_mib())}")
        finally:
            lab.close()
    if len(runs) > 1:
        print(f"over {len(runs)} runs:")
        print(_stats("wall", [r.wall for r in runs], "{:.1f} s"))
        print(_stats("peak RSS", [r.rss_mib for r in runs], "{:,.0f} MiB"))
        print(_stats("report", [r.report_bytes / 2**20 for r in runs], "{:,.1f} MiB"))
        print(_stats("pytest CPU", [r.cpu_s for r in runs], "{:.1f} s"))
    if not custom:
        wall = statistics.median(r.wall for r in runs)
        rss = statistics.median(r.rss_mib for r in runs)
        verdict = {"1000-blackholed": wall <= 60, "5000": rss <= 1024}[opts.case]
        print(f"target ({TARGETS[opts.case]}): {'met' if verdict else 'NOT met'}")
    return 0 if all(r.returncode in (0, 1) for r in runs) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-lab"]:
        serve_lab(sys.argv[2:])
    else:
        sys.exit(main())
