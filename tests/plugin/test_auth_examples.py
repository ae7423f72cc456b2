"""tests_examples/test_sender_policy.py (a user's own sender-authentication policy on the public
fixtures) runs against the embedded lab: it passes on good.test and fails, saying why, on the lab
domains that break each of its rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "tests_examples"
EXAMPLE = "test_sender_policy.py"
RULES = ("acme.dmarc.reject", "acme.spf.strict", "acme.dkim.2048", "acme.mtasts.enforce")


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    shutil.copy(EXAMPLES / EXAMPLE, pytester.path)
    out = pytester.path / "r.json"
    result = pytester.runpytest(EXAMPLE, "-p", "no:cacheprovider", f"--mail-report={out}", *args)
    return result, json.loads(out.read_text())["results"]


def test_sender_policy_example_passes_on_the_good_domain(pytester: pytest.Pytester) -> None:
    result, rows = run(pytester, "--mail-lab")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)
    assert sorted((r["check"], r["outcome"]) for r in rows) == sorted((c, "passed") for c in RULES)
    (dkim,) = [r for r in rows if r["check"] == "acme.dkim.2048"]
    assert dkim["subject"] == "s1"
    assert dkim["severity"] == "must"
    assert dkim["title"] == "Each of our DKIM selectors publishes an RSA key of 2048 bits or more."
    assert any("s1._domainkey.good.test" in line for line in dkim["evidence"])


@pytest.mark.parametrize(
    ("scenario", "rule", "message"),
    [
        pytest.param(
            "dmarc-p-none",
            "acme.dmarc.reject",
            "dmarc-p-none.test: DMARC p=none at _dmarc.dmarc-p-none.test, expected p=reject",
            id="dmarc-p-none",
        ),
        pytest.param(
            "dmarc-none",
            "acme.dmarc.reject",
            "dmarc-none.test: DMARC p=(no record applies) at _dmarc.dmarc-none.test, expected p=reject",
            id="dmarc-none",
        ),
        pytest.param(
            "spf-lookups",
            "acme.spf.strict",
            "spf-lookups.test: SPF takes 11 DNS lookups, expected 10 at most",
            id="spf-lookups",
        ),
        pytest.param(
            "spf-neutral-all",
            "acme.spf.strict",
            "spf-neutral-all.test: SPF 'v=spf1 mx ?all' does not end in -all",
            id="spf-neutral-all",
        ),
        pytest.param(
            "dkim-rsa1024",
            "acme.dkim.2048",
            "s1._domainkey.dkim-rsa1024.test: k=rsa, 1024 bits; expected RSA, 2048 bits or more",
            id="dkim-rsa1024",
        ),
        pytest.param(
            "mtasts-testing-no-tlsrpt",
            "acme.mtasts.enforce",
            "mtasts-testing-no-tlsrpt.test: MTA-STS mode 'testing', expected 'enforce'",
            id="mtasts-testing",
        ),
    ],
)
def test_sender_policy_example_fails_where_the_policy_is_broken(
    pytester: pytest.Pytester, scenario: str, rule: str, message: str
) -> None:
    """Each rule on a domain that breaks it: a failure (exit 1) with the rule's message."""
    test = "test_" + rule.replace(".", "_")
    result, rows = run(pytester, f"--mail-lab={scenario}", "-k", test)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    assert [(r["check"], r["outcome"]) for r in rows] == [(rule, "failed")]
    assert message in rows[0]["message"]
    result.stdout.fnmatch_lines([f"*FAILED*{rule}*{message}*"])
    assert "Traceback" not in result.stdout.str()


def test_sender_policy_example_fails_on_a_domain_without_mta_sts(pytester: pytest.Pytester) -> None:
    """MTA-STS not deployed at all is a failure of the rule, not "could not test"."""
    result, rows = run(pytester, "--mail-lab=dmarc-p-none", "-k", "test_acme_mtasts_enforce")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert [(r["check"], r["outcome"]) for r in rows] == [("acme.mtasts.enforce", "failed")]
    assert "no MTA-STS record at _mta-sts.dmarc-p-none.test" in rows[0]["message"]


def test_sender_policy_example_is_waivable_and_skips_without_a_domain(pytester: pytest.Pytester) -> None:
    waive = "--mail-waive=acme.dmarc.reject=moving to p=reject after the March review"
    result, rows = run(pytester, "--mail-lab=dmarc-p-none", "-k", "test_acme_dmarc_reject", waive)
    assert result.ret == pytest.ExitCode.OK
    assert [r["outcome"] for r in rows] == ["waived"]
    shutil.copy(EXAMPLES / EXAMPLE, pytester.path)
    result = pytester.runpytest(EXAMPLE, "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=4)
