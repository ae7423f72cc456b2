"""Run the shipped checks against a lab that serves elsewhere: ``python -m mailspec.testing run``.

(Here, not in :mod:`mailspec.testing`: this is the survey's side, pytest and the plugin, and the lab
shares no code with the survey it tests; the lab's ``__main__`` only names the command.)

The lab's container runs ``python -m mailspec.testing serve --state-dir DIR`` on its loopback
addresses; a container that shares its network namespace (and its PID namespace, so that it can see
the lab's process) runs this. It waits for the lab's announcement (``DIR/lab.json``), refusing a
stale one (its process is gone: a lab that was killed left it) and waiting, a bounded time, for a
fresh one, then runs ``pytest --pyargs mailspec.checks --mail-lab`` in this
process, with that lab handed to ``--mail-lab`` instead of one of its own
(:data:`mailspec.session.SERVED_LAB`): the very options ``--mail-lab`` sets (the lab's resolver,
ports, CA, control MTA, blocklist, probe name, waivers and DKIM selectors), so the verdicts are
those of ``--mail-lab``. With ``--reports DIR`` it writes ``DIR/mail.xml`` (JUnit) and
``DIR/mail.json`` (mailspec's JSON report). Its exit status is pytest's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mailspec.testing.lab import LabError, LabView
from mailspec.testing.serve import ANNOUNCEMENT_FILE, add_announced_state_dir, dns_answers, process_state

__all__ = ["AnnouncedLab", "main", "pytest_args", "wait_for_lab"]

PROG = "python -m mailspec.testing run"
#: Seconds to wait for the lab's announcement by default (a container's start-up and the binding).
WAIT = 60.0
JUNIT_FILE = "mail.xml"
JSON_FILE = "mail.json"
#: Exit status when no lab could be found (as argparse's for a bad option).
EXIT_ERROR = 2
_POLL = 0.1

DESCRIPTION = f"""\
Run the shipped checks (pytest --pyargs mailspec.checks --mail-lab) against the lab that
'python -m mailspec.testing serve --state-dir DIR' serves in this network namespace: wait for its
announcement (DIR/{ANNOUNCEMENT_FILE}; a stale one, whose process is gone, is refused, and a fresh
one waited for; where the lab's process is in a PID namespace this one cannot see, its DNS server
must answer instead), then survey its domains with its resolver, ports, CA, control
MTA, waivers and DKIM selectors, as --mail-lab does with a lab of its own. Arguments after '--' go
to pytest (after the ones this adds, so that they win). The exit status is pytest's; {EXIT_ERROR}
when no lab announced itself in time (or only a stale announcement is there)."""

EPILOG = f"""\
examples:
  {PROG} --state-dir /lab-state --reports /reports
  {PROG} --state-dir /lab-state -- --mail-timeout=3 -n 2"""

_PORTS = ("dns_port", "smtp_port", "ident_port", "https_port")
_LISTS = ("domains", "waivers", "dkim_selectors", "scenarios")


class AnnouncedLab(LabView):
    """A lab that another process serves, as its announcement (``serve``'s JSON line) describes it.

    ``stop()`` does nothing: the lab is not this process's to stop.
    """

    def __init__(self, info: dict[str, Any]) -> None:
        self._info = _checked(info)
        self._scenarios = []  # (another process's: only their names are known)

    @classmethod
    def read(cls, path: str | Path) -> AnnouncedLab:
        """The lab announced in *path*; :class:`LabError` naming the problem if it is no announcement."""
        try:
            info = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LabError(f"cannot read the lab's announcement {path}: {exc}") from None
        if not isinstance(info, dict):
            raise LabError(f"{path} holds no JSON object, so no lab announcement")
        return cls(info)

    @property
    def resolver_ip(self) -> str:
        return str(self._info["resolver"]).rpartition(":")[0]

    @property
    def dns_port(self) -> int:
        return int(self._info["dns_port"])

    @property
    def smtp_port(self) -> int:
        return int(self._info["smtp_port"])

    @property
    def ident_port(self) -> int:
        return int(self._info["ident_port"])

    @property
    def https_port(self) -> int:
        return int(self._info["https_port"])

    @property
    def ca_path(self) -> str:
        return str(self._info["ca_path"])

    @property
    def smtp_control(self) -> str:
        return str(self._info.get("smtp_control", ""))

    @property
    def domains(self) -> list[str]:
        return list(self._info["domains"])

    @property
    def waivers(self) -> list[str]:
        return list(self._info["waivers"])

    @property
    def dkim_selectors(self) -> list[str]:
        return list(self._info["dkim_selectors"])

    @property
    def scenario_names(self) -> list[str]:
        return list(self._info["scenarios"])

    @property
    def dns_listen(self) -> list[str]:
        """``ADDR:PORT`` where the lab's resolver also answers (``serve --dns-listen``)."""
        return list(self._info.get("dns_listen", []))

    @property
    def pid(self) -> int:
        """The serving process (in the lab's PID namespace)."""
        return int(self._info["pid"])

    @property
    def token(self) -> str:
        """The lab's start token: its own, whichever process reads it."""
        return str(self._info["token"])

    @property
    def info(self) -> dict[str, Any]:
        """The announcement, as read."""
        return dict(self._info)

    def smtp_stats(self) -> dict[str, dict[str, Any]]:
        raise LabError("an announced lab's statistics are its own process's (ask it on its stdin)")

    def https_stats(self) -> dict[str, dict[str, Any]]:
        raise LabError("an announced lab's statistics are its own process's (ask it on its stdin)")

    def stop(self) -> None:
        """Nothing to stop: the lab is another process's."""

    def __repr__(self) -> str:
        return f"<AnnouncedLab {', '.join(self.scenario_names)}, resolver {self.resolver}>"


def _checked(info: dict[str, Any]) -> dict[str, Any]:
    """*info*, if it has what a run needs, of the types ``serve`` writes."""
    problems = [k for k in _PORTS if not (isinstance(info.get(k), int) and 0 <= info[k] <= 65535)]
    problems += [k for k in _LISTS if not _strings(info.get(k))]
    problems += [
        k for k in ("resolver", "ca_path", "token") if not isinstance(info.get(k), str) or not info[k]
    ]
    if not isinstance(info.get("smtp_control", ""), str):
        problems.append("smtp_control")
    if not _strings(info.get("dns_listen", [])):
        problems.append("dns_listen")
    pid = info.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        problems.append("pid")
    if not problems and str(info["resolver"]).rpartition(":")[2] != str(info["dns_port"]):
        problems.append("resolver")
    if not problems and not info["domains"]:
        problems.append("domains")
    if problems:
        raise LabError(f"the lab's announcement has no usable {', '.join(problems)}: {str(info)[:500]}")
    return dict(info)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def wait_for_lab(
    state_dir: str | Path, timeout: float = WAIT, note: Callable[[str], None] | None = None
) -> AnnouncedLab:
    """The lab announced in *state_dir*, once it is there and fresh (at most *timeout* seconds).

    A stale announcement (its process is gone) is refused: *note* is told of it, once for each one,
    and a fresh one is waited for; :class:`LabError` names the file if none comes in time. Where the
    lab's process is in a PID namespace that this one cannot see, its DNS server must answer instead.
    """
    path = Path(state_dir) / ANNOUNCEMENT_FILE
    deadline = time.monotonic() + timeout
    stale = ""
    noted: set[str] = set()
    while True:
        lab = _read(path)
        if lab is not None:
            fresh, why = _fresh(lab)
            if fresh:
                return lab
            stale = f"refusing the stale lab announcement {path} (token {lab.token}): {why}"
            if note is not None and lab.token not in noted:
                noted.add(lab.token)
                note(f"{stale}; waiting up to {timeout:g} s for a fresh one")
        if time.monotonic() >= deadline:
            if stale and lab is not None:
                raise LabError(
                    f"{stale}; no fresh one within {timeout:g} s (a lab that was killed left it: is "
                    f"'python -m mailspec.testing serve --state-dir {state_dir}' running?)"
                )
            raise LabError(
                f"no lab announced itself in {path} within {timeout:g} s (is "
                f"'python -m mailspec.testing serve --state-dir {state_dir}' running?)"
            )
        time.sleep(_POLL)


def _read(path: Path) -> AnnouncedLab | None:
    """The announcement in *path* (renamed into place whole by the lab: complete once it is there);
    None while there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LabError(f"cannot read the lab's announcement {path}: {exc}") from None
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise LabError(f"cannot read the lab's announcement {path}: {exc}") from None
    if not isinstance(info, dict):
        raise LabError(f"{path} holds no JSON object, so no lab announcement")
    return AnnouncedLab(info)


def _fresh(lab: AnnouncedLab) -> tuple[bool, str]:
    """Whether *lab*'s process still serves, and if not, why."""
    running, what = process_state(lab.info)
    if running is not None:
        return running, what
    answered, said = dns_answers(lab.info)
    if answered:
        return True, said
    return False, f"{what}, and {said}"


def pytest_args(lab: AnnouncedLab, reports: Path | None, extra: Sequence[str] = ()) -> list[str]:
    """The pytest command line (without ``pytest``) of a run of the shipped checks against *lab*."""
    args = ["--pyargs", "mailspec.checks", f"--mail-lab={','.join(lab.scenario_names)}"]
    args += ["-p", "no:cacheprovider"]  # (a container's working folder need not be writable)
    if reports is not None:
        args += [f"--junitxml={reports / JUNIT_FILE}", f"--mail-report={reports / JSON_FILE}"]
    return args + list(extra)


class _HandOver:
    """The pytest plugin that hands the announced lab to ``--mail-lab`` (before mailspec configures)."""

    def __init__(self, lab: AnnouncedLab) -> None:
        self._lab = lab

    def pytest_configure(self, config: Any) -> None:
        from mailspec.session import SERVED_LAB

        config.stash[SERVED_LAB] = self._lab

    # (mailspec's pytest_configure is trylast: this one, of the default order, runs before it)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} [--] [PYTEST ARGS...]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_announced_state_dir(parser)
    parser.add_argument(
        "--reports",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"write the JUnit ({JUNIT_FILE}) and JSON ({JSON_FILE}) reports into DIR (made if missing)",
    )
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the lab's announcement (default: {WAIT:g})",
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


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    ours, extra = (args[: args.index("--")], args[args.index("--") + 1 :]) if "--" in args else (args, [])
    opts = build_parser(prog).parse_args(ours)

    def note(message: str) -> None:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)

    try:
        lab = wait_for_lab(opts.state_dir, opts.wait, note)
        if opts.reports is not None:
            opts.reports.mkdir(parents=True, exist_ok=True)
    except (LabError, OSError) as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    command = pytest_args(lab, opts.reports, extra)
    print(f"{prog}: {lab!r}: pytest {' '.join(command)}", file=sys.stderr, flush=True)

    import pytest

    return int(pytest.main(command, plugins=[_HandOver(lab)]))


if __name__ == "__main__":
    sys.exit(main())
