"""The SMTP half as a CI user meets it: the probe ceiling, runs that open no SMTP connection, and a
network where port 25 is blocked (said once, every SMTP check an error, never a failure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import CATALOG
from mailspec.testing import LabProcess


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--mail-timeout=3", *args)


def results(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["results"]
    return rows


def test_blocked_port_25_is_said_once_and_every_smtp_check_is_an_error(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    # a closed port on loopback: the operating system refuses every connection, the control's too
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab", "--mail-server=127.0.0.1:9",
                 "--mail-smtp-control=127.0.0.1:9", f"--mail-report={out}")  # fmt: skip
    said = [line for line in result.stdout.lines if "looks blocked from here" in line]
    assert said == [
        "mailspec: no SMTP check could be tested: outbound port 9 looks blocked from here: no SMTP server "
        "took a connection (connection refused), and no control server did either (127.0.0.1:9: "
        "connection refused)"
    ]
    # (the checks above the dns level that talk to no SMTP server of the run: IDENT; the MTA-STS
    # policy's HTTPS fetch, which the lab's web server answers; mx2.policy-covered, which compares the
    # policy with the MX records; dmarc.rua.deliverable, whose RCPT to the report addresses is not sent
    # with --mail-server, leaving its DNS half)
    others = ("ident.", "mtasts.", "mx2.policy-covered", "dmarc.rua.deliverable")
    smtp = [
        r for r in results(out) if CATALOG[r["check"]].probe != "dns" and not r["check"].startswith(others)
    ]
    assert smtp
    assert {r["outcome"] for r in smtp} <= {"error", "skipped"}
    assert any(r["outcome"] == "error" for r in smtp)


def smtp_outcomes(path: Path) -> dict[str, str]:
    return {
        r["check"]: r["outcome"] for r in results(path) if r["check"] in ("smtp.connect", "smtp.banner.code")
    }


def test_a_control_server_that_answers_makes_a_dead_server_fail(pytester: pytest.Pytester) -> None:
    """The same dead server, with a control that takes connections (the lab's own, which --mail-lab
    names by itself): the port is open from here, so the server is down: smtp.connect fails."""
    out = pytester.path / "r.json"
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab", "--mail-server=127.0.0.1:9",
                 f"--mail-report={out}")  # fmt: skip
    assert not [line for line in result.stdout.lines if "looks blocked from here" in line]
    assert smtp_outcomes(out) == {"smtp.connect": "failed", "smtp.banner.code": "skipped"}


@pytest.mark.parametrize("control", [True, False])
def test_without_a_control_the_runs_own_servers_decide(pytester: pytest.Pytester, control: bool) -> None:
    """Outside the lab, no control is named unless given: the run's own servers decide (one that took
    a connection proves the port open), and a given control decides alone."""
    out = pytester.path / "r.json"
    with LabProcess(["good"], control=True) as lab:
        assert lab.smtp_control.startswith("127.0.1.25:")
        extra = (f"--mail-smtp-control={lab.smtp_control}",) if control else ()
        result = run(pytester, "--pyargs", "mailspec.checks", "--mail-domain=good.test",
                     f"--mail-resolver={lab.resolver}", f"--mail-dns-port={lab.dns_port}",
                     "--mail-server=127.0.0.1:9", "--mail-waive=mx.target.public-address=lab",
                     f"--mail-report={out}", *extra)  # fmt: skip
        connections = lab.smtp_stats()["127.0.1.25"]["connections"]
    blocked = [line for line in result.stdout.lines if "looks blocked from here" in line]
    if control:
        assert connections == 1  # (connect, greeting, QUIT: once for the run)
        assert not blocked
        assert smtp_outcomes(out)["smtp.connect"] == "failed"
    else:
        assert connections == 0
        assert len(blocked) == 1
        assert smtp_outcomes(out)["smtp.connect"] == "error"


@pytest.mark.parametrize(
    ("args", "opens"),
    [
        (("--mail-probe=dns",), False),
        (("-k", "dns. or mx."), False),
        (("--mail-probe=connect",), True),
    ],
)
def test_a_run_that_needs_no_smtp_fact_opens_no_smtp_connection(
    pytester: pytest.Pytester, args: tuple[str, ...], opens: bool
) -> None:
    with LabProcess(["good"]) as lab:
        common = (
            "--pyargs", "mailspec.checks", "--mail-domain=good.test", f"--mail-resolver={lab.resolver}",
            f"--mail-dns-port={lab.dns_port}", f"--mail-smtp-port={lab.smtp_port}",
            "--mail-waive=mx.target.public-address=lab", "--mail-waive=dns.ns.public-address=lab",
        )  # fmt: skip
        run(pytester, *common, *args)
        connections = sum(s["connections"] for s in lab.smtp_stats().values())
    assert (connections > 0) is opens, connections


def test_checks_above_the_probe_ceiling_skip_naming_the_option(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    run(pytester, "--pyargs", "mailspec.checks", "--mail-lab", "--mail-probe=connect", f"--mail-report={out}")
    rows = {r["check"]: r for r in results(out)}
    for check in ("role.postmaster", "smtp.relay.denied", "smtp.early-talker", "tls.starttls.no-injection"):
        assert rows[check]["outcome"] == "skipped"
        assert "--mail-probe=" in rows[check]["message"], rows[check]
    assert rows["smtp.banner.no-underscore"]["outcome"] == "passed"
    assert rows["tls.starttls.offered"]["outcome"] == "passed"
