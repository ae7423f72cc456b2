"""The whole shipped suite at --mail-probe=intrusive against the embedded lab: no MTA was sent DATA
or BDAT, no server had more than two connections from mailspec at once, and no connection or
datagram went anywhere but the lab's loopback addresses."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mailspec.testing.process import LabProcess
from mailspec.testing.scenario import load_scenarios


@pytest.fixture(scope="module")
def intrusive_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[str], Any]:
    folder = tmp_path_factory.mktemp("safety")
    audit = folder / "connects.txt"
    report = folder / "report.json"
    lab = LabProcess(["all"]).start()
    try:
        args = [
            sys.executable, "-m", "pytest", "-p", "audit_connect", "--pyargs", "mailspec.checks",
            "--mail-domain=" + lab.domains[0], *[f"--mail-domain={d}" for d in lab.domains[1:]],
            f"--mail-resolver={lab.resolver}", f"--mail-dns-port={lab.dns_port}",
            f"--mail-smtp-port={lab.smtp_port}", f"--mail-ident-port={lab.ident_port}",
            f"--mail-https-port={lab.https_port}", *[f"--mail-dkim-selector={s}" for s in lab.dkim_selectors],
            f"--mail-ca={lab.ca_path}", "--mail-dnsbl=dnsbl.test", "--mail-probe=intrusive",
            "--mail-probe-helo=probe.lab.test", "--mail-timeout=2", "--mail-smtp-retry=0.5",
            f"--mail-report={report}", "-q", "-p", "no:cacheprovider",
            # the lab's own waivers: its loopback servers are probed only so (mx-public's 192.0.2.10 is not)
            *[f"--mail-waive={w}" for w in lab.waivers],
        ]  # fmt: skip
        env = {**os.environ, "MAILSPEC_AUDIT_CONNECT": str(audit), "PYTHONPATH": str(Path(__file__).parent)}
        proc = subprocess.run(
            args, cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
        stats = lab.smtp_stats()
    finally:
        lab.stop()
    lines = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
    return json.loads(report.read_text(encoding="utf-8")), lines, stats


def test_no_server_was_sent_data_or_bdat(intrusive_run: tuple[dict[str, Any], list[str], Any]) -> None:
    _, _, stats = intrusive_run
    assert stats, "the lab recorded no SMTP connection: the run tested nothing"
    sent = {ip: s["data_commands"] for ip, s in stats.items() if s["data_commands"]}
    assert not sent, f"DATA or BDAT reached {sent}"
    verbs = {v.upper() for s in stats.values() for v in s["verbs"]}
    assert "DATA" not in verbs and "BDAT" not in verbs
    assert {"EHLO", "STARTTLS", "MAIL", "RCPT", "QUIT"} <= verbs


def test_no_server_had_more_than_two_connections_at_once(
    intrusive_run: tuple[dict[str, Any], list[str], Any],
) -> None:
    _, _, stats = intrusive_run
    most = {ip: s["max_open"] for ip, s in stats.items()}
    assert max(most.values()) <= 2, {ip: n for ip, n in most.items() if n > 2}


def test_nothing_went_anywhere_but_the_lab(intrusive_run: tuple[dict[str, Any], list[str], Any]) -> None:
    report, lines, _ = intrusive_run
    assert lines, "the audit hook saw no connection: it did not run"
    owned = {ip for sc in load_scenarios() for ip in sc.addresses}
    outside = set()
    for line in lines:
        _, host, _port = line.split(" ", 2)
        ip = ipaddress.ip_address(host)
        lab_own = host.startswith(("127.0.0.", "127.0.1.")) or host in owned
        if not ip.is_loopback or (ip.version == 4 and not lab_own):
            outside.add(host)
    assert not outside, f"mailspec talked to {sorted(outside)}, which are not the lab's"
    assert report["summary"]["passed"] > 0
