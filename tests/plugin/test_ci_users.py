"""What a mail administrator meets in CI: verdicts a dashboard reads right, the user's own tests in
the verdict, warnings that are not skips, checks collected once, waivers that say when they miss."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--mail-timeout=3", *args)


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def output_lines(case: ET.Element) -> list[str]:
    """A case's ``<system-out>``, without the "Captured Out" rule that pytest's writer puts first."""
    return [line for line in (case.findtext("system-out") or "").splitlines() if not line.startswith("---")]


def test_fail_on_warn_fails_a_run_on_a_heuristic_finding(pytester: pytest.Pytester) -> None:
    # an open AXFR is a heuristic finding (WARN): a warning by default, a failure under fail-on=warn
    out = pytester.path / "r.json"
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=open-axfr")
    assert result.ret == pytest.ExitCode.OK
    args = (
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=open-axfr",
        "--mail-fail-on=warn",
        f"--mail-report={out}",
    )
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = report(out)
    assert data["settings"]["fail_on"] == "warn"
    (row,) = [r for r in data["results"] if r["check"] == "dns.ns.no-axfr" and r["outcome"] == "failed"][:1]
    assert row["finding"] == "warn"
    assert data["verdict"] == "FAIL"


def test_a_warning_reads_as_a_warning_in_junit_and_json(pytester: pytest.Pytester) -> None:
    xml, out = pytester.path / "mail.xml", pytester.path / "r.json"
    run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=open-axfr",
        f"--junitxml={xml}",
        f"--mail-report={out}",
    )
    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    warned = [c for name, c in cases.items() if (name or "").startswith("test_dns_ns_no_axfr[")]
    assert warned
    for case in warned:
        skipped = case.find("skipped")
        assert skipped is not None
        assert (skipped.get("message") or "").startswith("warning (may): "), skipped.get("message")
        lines = output_lines(case)
        assert lines[0].startswith("mailspec: dns.ns.no-axfr "), lines
        assert lines[0].endswith(" warned may")
    data = report(out)
    rows = [r for r in data["results"] if r["check"] == "dns.ns.no-axfr"]
    assert {r["outcome"] for r in rows} == {"warned"}
    assert {r["finding"] for r in rows} == {"warn"}
    assert data["verdict"] == "WARN"
    assert data["domains"]["open-axfr.test"]["verdict"] == "WARN"
    # every case's output starts with its mailspec line: passes and skips too
    passed = cases["test_mx_present[open-axfr.test]"]
    assert output_lines(passed)[0] == "mailspec: mx.present open-axfr.test passed should"


def test_json_has_the_run_and_domain_verdicts_and_the_waivers(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    waive = "--mail-waive=mx.no-cname@mail.mx-cname.test=moving it next week"
    run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=mx-cname,good,single-ns",
        waive,
        f"--mail-report={out}",
    )
    data = report(out)
    assert data["verdict"] == "FAIL"  # single-ns fails dns.ns.count
    assert data["domains"]["good.test"]["verdict"] == "PASS"
    assert data["domains"]["mx-cname.test"]["verdict"] == "PASS"  # its one failure is waived
    assert data["domains"]["single-ns.test"]["verdict"] == "FAIL"
    assert sum(data["domains"]["good.test"]["summary"].values()) == len(
        [r for r in data["results"] if r["domain"] == "good.test"]
    )
    mine = [w for w in data["settings"]["waivers"] if not w["lab"]]
    assert mine == [
        {
            "check": "mx.no-cname",
            "subject": "mail.mx-cname.test",
            "reason": "moving it next week",
            "lab": False,
        }
    ]
    (waived,) = [r for r in data["results"] if r["outcome"] == "waived" and r["check"] == "mx.no-cname"]
    assert waived["finding"] == "violation"
    assert [r["finding"] for r in data["results"] if r["outcome"] == "passed"][:1] == [None]


def test_the_users_own_failing_test_is_in_the_verdict(pytester: pytest.Pytester) -> None:
    # a failing custom test beside --mail-lab printed "good.test: PASS" and "failed: 0" with exit 1
    pytester.makepyfile(
        test_policy="""
def test_we_have_two_mx(mx_hosts):
    assert len(mx_hosts) >= 3, "our policy: three MX hosts"

def test_survey_is_there(mail_survey):
    assert False, "a user's test on the survey, with no subject"
"""
    )
    out = pytester.path / "r.json"
    result = run(pytester, "--mail-lab", f"--mail-report={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["good.test: FAIL (2 failed*", "mailspec: verdict FAIL"])
    data = report(out)
    assert data["summary"]["failed"] == 2
    assert data["verdict"] == "FAIL"
    assert data["domains"]["good.test"]["verdict"] == "FAIL"
    mine = [r for r in data["results"] if r["outcome"] == "failed"]
    assert {r["check"] for r in mine} == {""}
    assert any("three MX hosts" in r["message"] for r in mine)


def test_a_plain_failing_test_beside_mailspec_fails_the_run_verdict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_unrelated():\n    assert False\n")
    out = pytester.path / "r.json"
    result = run(pytester, "--mail-lab", f"--mail-report={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = report(out)
    assert data["domains"]["good.test"]["verdict"] == "PASS"  # it takes none of good.test's subjects
    assert data["verdict"] == "FAIL"  # but the run failed, and the verdict says so


def test_star_imported_checks_run_once_beside_the_auto_added_suite(pytester: pytest.Pytester) -> None:
    # FAILED 2 checks (mx.no-cname [mail.mx-cname.test], mx.no-cname [mail.mx-cname.test])
    pytester.makepyfile(test_mail="from mailspec.checks.test_mx import *  # noqa: F403\n")
    out = pytester.path / "r.json"
    result = run(pytester, "--mail-lab=mx-cname", f"--mail-report={out}", "-rf")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = report(out)
    ids = [(r["check"], r["subject"]) for r in data["results"]]
    assert len(ids) == len(set(ids))
    assert ids.count(("mx.no-cname", "mail.mx-cname.test")) == 1
    result.stdout.fnmatch_lines(["*FAILED*mx.no-cname [[]mail.mx-cname.test[]]: *", "*10 deselected*"])
    assert "2 checks (mx.no-cname" not in result.stdout.str()
    assert data["summary"]["failed"] == 1


def test_star_imported_checks_keep_the_users_marks(pytester: pytest.Pytester) -> None:
    # the user's copy is the one kept: their module's marks select it (-m), as before de-duplication
    pytester.makeini("[pytest]\nmarkers = mail: our mail checks\n")
    pytester.makepyfile(
        test_mail=(
            "import pytest\n"
            "from mailspec.checks.test_mx import *  # noqa: F403\n"
            "pytestmark = pytest.mark.mail\n"
        )
    )
    result = run(pytester, "--mail-lab=mx-cname", "-m", "mail")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*FAILED test_mail.py::test_mx_no_cname[[]mx-cname.test-mail.mx-cname.test[]]*"]
    )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1
    assert outcomes["passed"] >= 5


def test_warn_in_a_test_without_mail_fixtures_is_a_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mine="""
from mailspec import warn

def test_x():
    warn('no fixture')

def test_mx(mx_hosts):
    assert mx_hosts
"""
    )
    result = run(pytester, "test_mine.py", "--mail-lab", "-rx")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*XFAIL*test_x*warning (may): no fixture*"])
    assert "Traceback" not in result.stdout.str()


def test_a_waiver_that_matched_nothing_is_named_at_the_end(pytester: pytest.Pytester) -> None:
    waive = "--mail-waive=mx.no-cname@mail.typo.test=a typo in the subject"
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname", waive)
    result.stdout.fnmatch_lines(
        [
            "mailspec: waiver 'mx.no-cname@mail.typo.test=a typo in the subject' matched no result: "
            "no result of mx.no-cname has the subject 'mail.typo.test'"
        ]
    )
    result = run(
        pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname", "--mail-waive=mx.no-cname=ok"
    )
    assert "matched no result" not in result.stdout.str()


def test_every_option_is_in_force_none_is_said_to_have_no_effect(pytester: pytest.Pytester) -> None:
    """The header names options that no check reads yet; in this release every option has its checks
    (--mail-profile=bulk and --mail-dkim-selector were the last)."""
    args = (
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=good",
        "--mail-dkim-selector=s1",
        "--mail-profile=bulk",
    )
    result = run(pytester, *args, "--mail-dnsbl=bl.example", "--mail-probe=intrusive", "-k", "dkim")
    assert "no effect in this release" not in result.stdout.str()


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_reported_durations_count_the_survey(pytester: pytest.Pytester, xdist: list[str]) -> None:
    # a black-holed domain's survey waits the whole timeout (2 s) before it gives up: a lower bound
    # that holds on any machine; pytest's "in N s" and the JUnit suite time used to start after it
    xml = pytester.path / "mail.xml"
    args = ("--pyargs", "mailspec.checks", "--mail-lab=blackhole", f"--junitxml={xml}", *xdist)
    result = pytester.runpytest("-p", "no:cacheprovider", "--mail-timeout=2", *args)
    seconds = float(re.findall(r" in ([0-9.]+)s", result.stdout.str())[-1])
    assert seconds >= 2.0
    root = ET.parse(xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    assert float(suite.get("time") or 0) >= 2.0


@pytest.mark.parametrize(
    ("waiver", "says"),
    [
        ("mx.no-cnam=typo", "unknown check id 'mx.no-cnam' (did you mean mx.no-cname"),
        ("spf.lookup-limt@example.com=typo", "did you mean spf.lookup-limit"),
    ],
)
def test_an_unknown_waiver_id_suggests_the_nearest(pytester: pytest.Pytester, waiver: str, says: str) -> None:
    pytester.makepyfile(
        test_own="""
from mailspec import check

@check("acme.mx.ours", severity="must", refs=["ACME policy"])
def test_ours(mx_target):
    '''Ours.'''
"""
    )
    result = run(pytester, "test_own.py", "--mail-lab", f"--mail-waive={waiver}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str()


def test_a_custom_check_id_must_not_pose_as_mailspecs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_own="""
from mailspec import check

@check("mx.ours", severity="must", refs=["ACME policy"])
def test_ours(mx_target):
    '''Ours.'''
"""
    )
    result = run(pytester, "test_own.py", "--mail-lab")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*its area 'mx' is mailspec's*acme.mx.ours*"])


def test_mail_checks_lists_the_catalog_and_exits(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--mail-checks")
    assert result.ret == pytest.ExitCode.OK
    text = result.stdout.str()
    assert "mailspec checks: 146 in the catalog, 122 run by this release" in text
    result.stdout.fnmatch_lines(
        [
            "  mx.no-cname * must * dns * The MX exchange is not an alias (CNAME).",
            "* cites: RFC 2181 §10.3*",
            "  dane.tlsa.present * * [[]a later release[]]",
        ]
    )
    assert "collected" not in text  # nothing is run


def test_a_could_not_test_result_costs_no_traceback(pytester: pytest.Pytester) -> None:
    # pytest formatted a full traceback for each indeterminate result (about 56 ms each) before the
    # plugin replaced it with its message: 200 black-holed domains took 282 s, 47 s with --tb=no
    pytester.makepyfile(
        count_reprs="""
import _pytest.nodes

CALLS = []
_real = _pytest.nodes.Node._repr_failure_py

def _counting(self, excinfo, style=None):
    CALLS.append(self.nodeid)
    return _real(self, excinfo, style)

_pytest.nodes.Node._repr_failure_py = _counting

def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(f"tracebacks formatted: {len(CALLS)}")
"""
    )
    pytester.syspathinsert()
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=blackhole", "-p", "count_reprs")
    assert result.parseoutcomes()["errors"] >= 20
    result.stdout.fnmatch_lines(["tracebacks formatted: 0"])


def test_nothing_reachable_is_said_once_with_the_os_reason(pytester: pytest.Pytester) -> None:
    # a closed resolver port read as "no answer within 10 s (timeout)", in 23 near-identical blocks
    out = pytester.path / "r.json"
    dead = "--mail-resolver=127.0.0.1:9"  # nothing listens there
    result = run(
        pytester, "--pyargs", "mailspec.checks", "--mail-domain=example.com", dead, f"--mail-report={out}"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = result.stdout.str()
    cause = "mailspec: nothing could be tested: no resolver answered: 127.0.0.1:9 connection refused"
    assert result.stdout.lines.count(cause) == 1
    assert text.count("connection refused") == 1  # once: each error says only where to look
    assert "could not test: no resolver answered (see the mailspec summary)" in text
    assert "(timeout)" not in text
    # every check could not test (the four intrusive ones skip: above the default probe level; the
    # nine DKIM key checks skip: no selector is given, and none is guessed)
    result.stdout.fnmatch_lines(
        ["example.com: INCOMPLETE (109 error, 13 skipped)", "mailspec: verdict INCOMPLETE"]
    )
    data = report(out)
    assert data["verdict"] == "INCOMPLETE"
    assert data["summary"]["failed"] == 0
    assert all("connection refused" in r["message"] for r in data["results"] if r["outcome"] == "error")


def test_a_survey_longer_than_a_second_shows_progress(pytester: pytest.Pytester) -> None:
    # a black-holed domain's survey waits the whole timeout (2 s): progress is shown in a CI log
    # (pytester's output is no terminal), and nothing under -q
    args = ("--pyargs", "mailspec.checks", "--mail-lab=blackhole", "--mail-timeout=2")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    result.stdout.fnmatch_lines(
        [
            "mailspec: surveying 0/1 domain, * questions in flight, * (*s)",
            "mailspec: surveyed 1 domain * in *s",
        ]
    )
    quiet = pytester.runpytest("-p", "no:cacheprovider", *args, "-q")
    assert "mailspec: survey" not in quiet.stdout.str()


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_waiver_of_a_check_that_did_not_run_says_so(pytester: pytest.Pytester, xdist: list[str]) -> None:
    # a custom id is known only once the checks are collected, and a run of some paths (or --lf)
    # may not collect it: said at the end, with the nearest id that ran, never a hard error
    pytester.makepyfile(
        test_own='''
from mailspec import check

@check("acme.mx.ours", severity="must", refs=["ACME policy"])
def test_ours(mx_target):
    """Ours."""
'''
    )
    waivers = ("--mail-waive=acme.mx.our=typo of a custom id", "--mail-waive=spf.lookup-limit=not yet run")
    result = run(pytester, "test_own.py", "--mail-lab", *waivers, *xdist)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "mailspec: waiver 'acme.mx.our=typo of a custom id' matched no result: no check acme.mx.our ran "
            "in this run (did you mean acme.mx.ours?)",
            "mailspec: waiver 'spf.lookup-limit=not yet run' matched no result: no check spf.lookup-limit*",
        ]
    )


def test_the_mailspec_line_comes_before_what_a_test_printed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_own='''
from mailspec import check

@check("acme.dom.ok", severity="must", refs=["ACME policy"])
def test_ok(mail_domain):
    """Fine."""
    print("debug: looking at", mail_domain)
'''
    )
    xml = pytester.path / "mail.xml"
    run(pytester, "test_own.py", "--mail-lab", f"--junitxml={xml}")
    (case,) = ET.parse(xml).getroot().iter("testcase")
    lines = output_lines(case)
    assert lines[0] == "mailspec: acme.dom.ok good.test passed must"
    assert "debug: looking at good.test" in lines


def test_the_summary_names_the_users_own_failing_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_policy="def test_three_mx(mx_hosts):\n    assert len(mx_hosts) >= 3, 'too few'\n"
    )
    result = run(pytester, "--mail-lab")
    result.stdout.fnmatch_lines(["  your tests:", "    FAILED  test_three_mx[[]good.test[]]: too few*"])


def test_a_teardown_that_could_not_test_makes_the_result_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_td='''
import pytest
from mailspec import check
from mailspec.errors import Indeterminate

@pytest.fixture
def broken_teardown():
    yield
    raise Indeterminate("could not test: the teardown lost its server")

@check("acme.td.x", severity="must", refs=["ACME"])
def test_td(mail_domain, broken_teardown):
    """Teardown breaks."""
    import time
    time.sleep(0.2)
'''
    )
    out = pytester.path / "r.json"
    result = run(pytester, "test_td.py", "--mail-lab", f"--mail-report={out}")
    result.assert_outcomes(passed=1, errors=1)
    (row,) = report(out)["results"]
    assert (row["outcome"], row["message"]) == ("error", "could not test: the teardown lost its server")
    assert report(out)["verdict"] == "INCOMPLETE"
    assert row["duration_s"] >= 0.2  # the check's own time, not only its teardown's


def test_a_program_that_calls_pytest_main_gets_its_heap_back(pytester: pytest.Pytester) -> None:
    # a command-line run leaves its heap frozen on the way out (it exits next); a program that calls
    # pytest.main() goes on, and must get every object back for the garbage collector
    script = pytester.makepyfile(
        run_main="""
import gc, sys, pytest
pytest.main()
print("frozen after pytest.main():", gc.get_freeze_count())
"""
    )
    result = pytester.run(
        sys.executable,
        str(script),
        "-p",
        "no:cacheprovider",
        "-q",
        "--pyargs",
        "mailspec.checks",
        "--mail-lab",
    )
    result.stdout.fnmatch_lines(["frozen after pytest.main(): 0"])
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "--pyargs", "mailspec.checks", "--mail-lab")
    import gc

    assert gc.get_freeze_count() == 0
