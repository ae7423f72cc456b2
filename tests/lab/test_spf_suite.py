"""The SPF suite runner: the official RFC 7208 suite passes whole through mailspec's evaluator, and
the runner serves the suite's zone data as its reference driver (pyspf's) reads it.

The official suite (openspf's rfc7208-tests.yml, with its licence) ships in ``tests/data/spf/``;
``$MAILSPEC_SPF_SUITE`` points the test at another copy. Everything is served on 127.0.0.1;
nothing goes to the system's resolver.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from mailspec.testing.spf_suite import SuiteDnsServer, Zone, main

OFFICIAL = Path(
    os.environ.get(
        "MAILSPEC_SPF_SUITE",
        Path(__file__).resolve().parents[1] / "data" / "spf" / "rfc7208-tests.yml",
    )
)
OFFICIAL_CASES = 203


def test_the_official_rfc7208_suite_passes_whole() -> None:
    if not OFFICIAL.is_file():
        pytest.fail(f"the official suite is not at {OFFICIAL} (set MAILSPEC_SPF_SUITE to its path)")
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mailspec.testing.spf_suite", str(OFFICIAL)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    print(f"{lines[-1] if lines else done.stderr} ({time.monotonic() - start:.1f} s)")
    assert lines[-1] == f"{OFFICIAL_CASES} passed, 0 failed", done.stdout + done.stderr
    assert done.returncode == 0
    assert not [line for line in lines if line.startswith("FAILED")]


SMALL = """\
---
description: two cases, one expected wrongly
tests:
  right:
    spec: 4.6/1
    helo: mail.example.net
    host: 192.0.2.10
    mailfrom: "a@example.com"
    result: pass
  wrong:
    spec: 4.6/1
    helo: mail.example.net
    host: 192.0.2.11
    mailfrom: "a@example.com"
    result: [pass, neutral]
    explanation: none at all
zonedata:
  example.com:
    - SPF: v=spf1 ip4:192.0.2.10 -all
"""


def test_a_case_with_another_result_is_printed_and_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "small.yml"
    suite.write_text(SMALL, encoding="utf-8")
    assert main([str(suite)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "1 passed, 1 failed"
    (failed,) = [line for line in out if line.startswith("FAILED")]
    assert "two cases, one expected wrongly / wrong" in failed
    assert "expected pass or neutral, got fail" in failed


def test_an_explanation_other_than_the_suites_fails_the_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "exp.yml"
    suite.write_text(
        SMALL.replace("result: [pass, neutral]", "result: fail").replace(
            "-all\n", "-all exp=why.example.com\n  why.example.com:\n    - TXT: '%{i} may not send'\n"
        ),
        encoding="utf-8",
    )
    assert main([str(suite)]) == 1
    out = capsys.readouterr().out
    assert "explanation '192.0.2.11 may not send', expected 'none at all'" in out


def test_an_unreadable_suite_is_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.yml")]) == 2
    bad = tmp_path / "bad.yml"
    bad.write_text("tests: [unclosed", encoding="utf-8")
    assert main([str(bad)]) == 2
    assert "cannot read the suite" in capsys.readouterr().err


ZONE = textwrap.dedent(
    """\
    both.example: [{SPF: "v=spf1 -all"}]
    own-txt.example: [{SPF: "v=spf1 -all"}, {TXT: NONE}]
    strings.example: [{TXT: ["v=spf1 ", "ip4:192.0.2.1 -all"]}]
    spf-then-timeout.example: [{SPF: "v=spf1 -all"}, TIMEOUT]
    txt-then-timeout.example: [{TXT: "v=spf1 -all"}, TIMEOUT]
    alias.example: [{CNAME: both.example}]
    """
)


def test_the_zone_data_is_served_as_the_reference_driver_reads_it() -> None:
    import yaml  # (PyYAML: the runner's dependency)

    zone = Zone(yaml.safe_load(ZONE))

    async def ask(server: SuiteDnsServer, name: str, rdtype: str) -> dns.message.Message | None:
        q = dns.message.make_query(name, rdtype)
        try:
            return await dns.asyncquery.udp(q, server.host, timeout=0.5, port=server.port)
        except dns.exception.Timeout:
            return None

    def texts(msg: dns.message.Message | None, rdtype: str) -> list[str]:
        assert msg is not None
        return [
            rd.to_text()
            for rrset in msg.answer
            if rrset.rdtype == dns.rdatatype.from_text(rdtype)
            for rd in rrset
        ]

    async def go() -> None:
        async with SuiteDnsServer(zone) as server:
            # an SPF entry is type 99, and TXT too unless the name says otherwise
            assert texts(await ask(server, "both.example", "SPF"), "SPF") == ['"v=spf1 -all"']
            assert texts(await ask(server, "both.example", "TXT"), "TXT") == ['"v=spf1 -all"']
            assert texts(await ask(server, "own-txt.example", "TXT"), "TXT") == []
            # a list of strings is one record of several character-strings
            assert texts(await ask(server, "strings.example", "TXT"), "TXT") == [
                '"v=spf1 " "ip4:192.0.2.1 -all"'
            ]
            # TIMEOUT: a black hole for the types with no record before it (the copied TXT comes after)
            assert await ask(server, "spf-then-timeout.example", "TXT") is None
            assert texts(await ask(server, "spf-then-timeout.example", "SPF"), "SPF") == ['"v=spf1 -all"']
            assert texts(await ask(server, "txt-then-timeout.example", "TXT"), "TXT") == ['"v=spf1 -all"']
            assert await ask(server, "txt-then-timeout.example", "A") is None
            alias = await ask(server, "alias.example", "TXT")
            assert texts(alias, "CNAME") == ["both.example."] and texts(alias, "TXT") == ['"v=spf1 -all"']
            nx = await ask(server, "nowhere.example", "TXT")
            assert nx is not None and nx.rcode() == dns.rcode.NXDOMAIN
            assert server.errors == []

    asyncio.run(go())
