"""The executable documentation in tests_examples/ runs, against the embedded lab."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "tests_examples"


def test_embedding_example(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "test_embedding.py", pytester.path)
    result = pytester.runpytest("test_embedding.py", "--mail-lab", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    # 10 shipped MX checks (some per MX host) plus the two of the example's own, per MX host
    assert outcomes["passed"] >= 10
    assert "failed" not in outcomes


def test_embedding_example_finds_a_broken_mx(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "test_embedding.py", pytester.path)
    result = pytester.runpytest("test_embedding.py", "--mail-lab=mx-cname", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED test_embedding.py::test_mx_no_cname*"])


def test_fixtures_example(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "test_fixtures.py", pytester.path)
    result = pytester.runpytest("test_fixtures.py", "--mail-lab", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_examples_skip_without_a_domain(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "test_fixtures.py", pytester.path)
    result = pytester.runpytest("test_fixtures.py", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=3)


def test_waivers_example(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "waivers.ini", pytester.path / "pytest.ini")
    out = pytester.path / "r.json"
    result = pytester.runpytest("--pyargs", "mailspec.checks", "--mail-lab=mx-cname", f"--mail-report={out}")
    assert result.ret == pytest.ExitCode.OK
    import json

    (row,) = [r for r in json.loads(out.read_text())["results"] if r["check"] == "mx.no-cname"]
    assert row["outcome"] == "waived"
    assert row["waiver"].startswith("the alias goes away")


def test_custom_checks_example_is_reported_like_a_shipped_check(pytester: pytest.Pytester) -> None:
    import json

    shutil.copy(EXAMPLES / "test_custom_checks.py", pytester.path)
    out = pytester.path / "r.json"
    args = ("test_custom_checks.py", "-p", "no:cacheprovider", f"--mail-report={out}")
    result = pytester.runpytest(*args, "--mail-lab")
    assert result.ret == pytest.ExitCode.OK
    rows = json.loads(out.read_text())["results"]
    ours = [r for r in rows if r["check"] == "acme.mx.ours"]
    assert len(ours) == 2  # one per MX host of good.test
    assert {r["outcome"] for r in ours} == {"passed"}
    assert ours[0]["severity"] == "must"
    assert ours[0]["title"] == "Every MX host is one of ours."
    assert ours[0]["refs"] == ["ACME mail policy §2 (inbound mail lands on our own MX hosts)"]
    assert ours[0]["remediation"] == "Point every MX record at one of our mx*.good.test hosts."
    # a domain that breaks the policy: a failure at `must`, with the check's message
    result = pytester.runpytest(*args, "--mail-lab=mx-cname", "-k", "acme_mx_ours")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = json.loads(out.read_text())["results"]
    assert [r["outcome"] for r in rows] == ["failed"]
    assert "is not one of our MX hosts" in rows[0]["message"]
    # waivable by its own id, like a shipped check
    waive = "--mail-waive=acme.mx.ours=moving to our hosts in March"
    result = pytester.runpytest(*args, "--mail-lab=mx-cname", "-k", "acme_mx_ours", waive)
    assert result.ret == pytest.ExitCode.OK
    assert [r["outcome"] for r in json.loads(out.read_text())["results"]] == ["waived"]
    # warn(): a warning, whatever the check's severity
    result = pytester.runpytest(*args, "--mail-lab=single-ns", "-k", "acme_mx_redundant", "-rx")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*XFAIL*test_acme_mx_redundant*warning (should): single-ns.test has 1 MX*"])


def test_a_users_warn_without_a_declared_check_is_a_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mine="""
from mailspec import warn

def test_odd(mx_hosts):
    warn("something odd")
"""
    )
    result = pytester.runpytest("test_mine.py", "--mail-lab", "-p", "no:cacheprovider", "-rx")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*XFAIL*test_odd*warning (may): something odd*"])


def test_smtp_dialogue_example(pytester: pytest.Pytester) -> None:
    """A custom SMTP check with smtp_connect: one test per MX endpoint, DATA refused before it is sent."""
    import json

    shutil.copy(EXAMPLES / "test_smtp_dialogue.py", pytester.path)
    out = pytester.path / "r.json"
    result = pytester.runpytest(
        "test_smtp_dialogue.py",
        "--mail-lab",
        "-p",
        "no:cacheprovider",
        "-p",
        "asyncio",
        f"--mail-report={out}",
    )
    result.assert_outcomes(passed=6)
    rows = [r for r in json.loads(out.read_text())["results"] if r["check"] == "acme.smtp.size"]
    assert sorted(r["subject"] for r in rows) == ["mx1.good.test@127.0.2.10", "mx2.good.test@127.0.2.11"]
    assert {r["outcome"] for r in rows} == {"passed"}


def test_smtp_dialogue_example_skips_below_connect(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLES / "test_smtp_dialogue.py", pytester.path)
    result = pytester.runpytest(
        "test_smtp_dialogue.py", "--mail-lab", "--mail-probe=dns", "-p", "no:cacheprovider", "-p", "asyncio"
    )
    result.assert_outcomes(skipped=6)


def test_smtp_connect_shares_the_two_connections_per_server(pytester: pytest.Pytester) -> None:
    """A user's dialogues take the survey's connection slots: three at once never make three open."""
    from mailspec.testing import LabProcess

    path = pytester.makepyfile(
        """
        import asyncio

        import pytest


        @pytest.mark.asyncio
        async def test_three_at_once(smtp_endpoint, smtp_connect):
            async def one():
                async with smtp_connect() as smtp:
                    await smtp.ehlo()
                    await asyncio.sleep(0.5)
                    return (await smtp.noop()).code

            assert await asyncio.gather(one(), one(), one()) == [250, 250, 250]
        """
    )
    with LabProcess(["good"]) as lab:
        result = pytester.runpytest(
            path.name, "-p", "no:cacheprovider", "-p", "asyncio", "--mail-domain=good.test",
            f"--mail-resolver={lab.resolver}", f"--mail-dns-port={lab.dns_port}",
            f"--mail-smtp-port={lab.smtp_port}", "--mail-waive=mx.target.public-address=lab",
        )  # fmt: skip
        stats = lab.smtp_stats()
    result.assert_outcomes(passed=2)
    assert {ip: s["connections"] for ip, s in stats.items()} == {"127.0.2.10": 3, "127.0.2.11": 3}
    assert max(s["max_open"] for s in stats.values()) == 2
