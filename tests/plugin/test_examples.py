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
