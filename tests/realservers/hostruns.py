"""What the real-Postfix and the real-Exim host tiers share: one ``pytest --pyargs mailspec.hostchecks``
run on a host, as its user runs it, and the table of its verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from .test_scenarios import MailspecRun, run_suite

Run = tuple[str, bool]  # (config name, with --mail-domain)
Key = tuple[str, str]  # (check id, domain)


def run_hostchecks(
    wrapper: Sequence[str], bin_dir: Path, options: Sequence[str], cwd: Path, *, timeout: float
) -> MailspecRun:
    """``pytest --pyargs mailspec.hostchecks`` with *options*, as a user runs it on the host: from the
    empty folder *cwd*, through *wrapper* (the command that puts the host's /etc files in place, in a
    private mount namespace), *bin_dir* (the host's MTA and ``nft``) first on the PATH, killed after
    *timeout* seconds; the JSON report in ``cwd/report.json``, the output in ``cwd.out`` beside it."""
    return run_suite(
        "mailspec.hostchecks", options, cwd, timeout=timeout, wrapper=wrapper, path_first=bin_dir
    )


def verdicts(run: MailspecRun) -> dict[Key, dict[str, Any]]:
    """(check, domain) -> the run's one row for it (the subject is the testinfra host, ``local``)."""
    if run.report is None:
        pytest.fail(f"{run.problem}\n{run.describe()}", pytrace=False)
    out: dict[Key, dict[str, Any]] = {}
    for row in run.report["results"]:
        key = (str(row.get("check")), str(row.get("domain", "")))
        assert key not in out, f"two rows for {key}:\n{out[key]}\n{row}\n{run.describe()}"
        assert row.get("subject") == "local", f"{key}: subject {row.get('subject')!r}, not 'local'"
        out[key] = row
    return out


def table(rows: Mapping[Key, Mapping[str, Any]]) -> str:
    """One line per row, for an assertion's message."""
    lines = []
    for (check, domain), row in sorted(rows.items()):
        where = f"{check}@{domain}" if domain else check
        lines.append(f"  {where}: {row.get('outcome')}: {str(row.get('message', ''))[:400]}")
    return "\n".join(lines)
