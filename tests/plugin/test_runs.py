"""The plugin end to end against the embedded lab: collection, outcomes, reports, waivers, fail-on."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

N_CHECKS = 122  # the checks this release runs (mailspec --mail-checks counts them)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "--mail-timeout=3", *args)


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_empty_folder_collects_the_shipped_checks(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--mail-lab")
    assert result.ret == pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 20
    result.stdout.fnmatch_lines(["*mailspec: domains=good.test*", "*good.test: PASS*"])


def test_pyargs_form_and_exit_code_on_failure(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED*test_mx_no_cname[[]mx-cname.test-mail.mx-cname.test[]]*"])


def test_paths_given_means_only_those_are_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own="def test_mine(mx_hosts):\n    assert mx_hosts\n")
    result = run(pytester, "test_own.py", "--mail-lab")
    result.assert_outcomes(passed=1)


def test_no_check_collected_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npython_files = check_*.py\n")
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no mailspec check was collected" in result.stderr.str()


@pytest.mark.parametrize("keyword", ["mx.no-cname", "mx_no_cname"])
def test_select_a_check_by_its_id(pytester: pytest.Pytester, keyword: str) -> None:
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname", "-k", keyword)
    result.assert_outcomes(failed=1)


def test_json_report(pytester: pytest.Pytester) -> None:
    out = pytester.path / "out" / "mail.json"
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname", f"--mail-report={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = report(out)
    assert data["schema"] == "mailspec-report/1"
    assert data["mailspec_version"] == "0.1.0"
    assert data["settings"]["domains"] == ["mx-cname.test"]
    assert data["settings"]["probe"] == "envelope"
    assert sum(data["summary"].values()) == len(data["results"])
    assert data["summary"]["failed"] == 1
    (failed,) = [r for r in data["results"] if r["outcome"] == "failed"]
    assert failed["check"] == "mx.no-cname"
    assert failed["domain"] == "mx-cname.test"
    assert failed["subject"] == "mail.mx-cname.test"
    assert failed["severity"] == "must"
    assert failed["title"] == "The MX exchange is not an alias (CNAME)."
    assert "is a CNAME for mx1.mx-cname.test" in failed["message"]
    assert "RFC 2181 §10.3" in failed["message"]
    assert any("IN CNAME mx1.mx-cname.test." in line for line in failed["evidence"])
    assert failed["refs"][0] == "RFC 2181 §10.3"
    assert failed["remediation"]
    assert (
        failed["nodeid"] == "mailspec/checks/test_mx.py::test_mx_no_cname[mx-cname.test-mail.mx-cname.test]"
    )
    assert {r["check"] for r in data["results"]} >= {"dns.domain.exists", "mx.present"}
    assert len({r["check"] for r in data["results"]}) == N_CHECKS


def test_json_report_under_xdist_is_complete(pytester: pytest.Pytester) -> None:
    one, two = pytester.path / "one.json", pytester.path / "two.json"
    run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname,good", f"--mail-report={one}")
    run(
        pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname,good", f"--mail-report={two}", "-n", "2"
    )
    a, b = report(one), report(two)
    assert a["summary"] == b["summary"]
    # Each run's lab issues its certificates from its own clock, so "valid until 2027-03-03 08:41 UTC"
    # may read 08:42 in the second run (CI saw it): the moments are masked, nothing else is.
    moment = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")

    def key(r: dict[str, Any]) -> tuple[str, ...]:
        return (r["check"], r["domain"], r["subject"], r["outcome"], moment.sub("<when>", r["message"]))

    assert sorted(map(key, a["results"])) == sorted(map(key, b["results"]))
    assert any(moment.search(r["message"]) for r in a["results"])  # (the mask is not vacuous)


def test_xdist_runs_each_domains_checks_on_one_worker(pytester: pytest.Pytester) -> None:
    # a domain whose checks were spread over two workers would have its name servers asked by both
    # (each worker fetches the direct questions its tests read); the test ids stay as the contract says
    out = pytester.path / "r.json"
    lab = "--mail-lab=mx-cname,good,lame-refused,single-ns"
    result = run(pytester, "--pyargs", "mailspec.checks", lab, f"--mail-report={out}", "-n", "2", "-v")
    ran = re.findall(
        r"\[(gw\d)\] \[ *\d+%\] (?:PASSED|FAILED|SKIPPED|XFAIL|ERROR) (\S+)", result.stdout.str()
    )
    domains = {"mx-cname.test", "good.test", "lame-refused.test", "single-ns.test"}
    seen: dict[str, set[str]] = {}
    for worker, nodeid in ran:
        assert nodeid.endswith("]"), nodeid  # not renamed ("...]@group")
        (domain,) = [d for d in domains if f"[{d}" in nodeid]
        seen.setdefault(domain, set()).add(worker)
    assert len(ran) == len(report(out)["results"])
    assert seen.keys() == domains
    assert {w for ws in seen.values() for w in ws} == {"gw0", "gw1"}
    assert all(len(workers) == 1 for workers in seen.values()), seen
    assert all(r["nodeid"].endswith("]") for r in report(out)["results"])


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_junit_names_evidence_and_properties(pytester: pytest.Pytester, xdist: list[str]) -> None:
    xml = pytester.path / "mail.xml"
    run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname", f"--junitxml={xml}", *xdist)
    root = ET.parse(xml).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["mailspec_version"] == "0.1.0"
    assert props["mailspec_domains"] == "mx-cname.test"
    assert props["mailspec_probe"] == "envelope"
    assert props["mailspec_profile"] == "default"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    case = cases["test_mx_no_cname[mx-cname.test-mail.mx-cname.test]"]
    failure = case.find("failure")
    assert failure is not None
    assert "is a CNAME for mx1.mx-cname.test" in (failure.get("message") or "")
    out = case.find("system-out")
    assert out is not None
    assert "IN CNAME mx1.mx-cname.test." in (out.text or "")
    passed = cases["test_mx_present[mx-cname.test]"]
    assert "IN MX 10 mail.mx-cname.test." in (passed.findtext("system-out") or "")


def test_fail_on_must_turns_should_violations_into_warnings(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    # lame-refused violates dns.ns.authoritative, a `should`
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=lame-refused", f"--mail-report={out}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result = run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=lame-refused",
        "--mail-fail-on=must",
        f"--mail-report={out}",
        "-rx",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*XFAIL*test_dns_ns_authoritative*warning (should): ns2.lame-refused.test*"])
    rows = [r for r in report(out)["results"] if r["check"] == "dns.ns.authoritative"]
    assert sorted(r["outcome"] for r in rows) == ["passed", "warned"]


def test_fail_on_may_makes_may_violations_fail(pytester: pytest.Pytester) -> None:
    # an open AXFR is a `may` finding reported as a warning: a heuristic never fails, even at may
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=open-axfr", "--mail-fail-on=may")
    assert result.ret == pytest.ExitCode.OK
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=single-ns", "--mail-fail-on=may")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_waiver_turns_a_failure_into_waived(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    result = run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=mx-cname",
        f"--mail-report={out}",
        "--mail-waive=mx.no-cname@mail.mx-cname.test=migrating by March",
        "-rx",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*XFAIL*test_mx_no_cname*waived: migrating by March*"])
    (row,) = [r for r in report(out)["results"] if r["check"] == "mx.no-cname"]
    assert row["outcome"] == "waived"
    assert row["waiver"] == "migrating by March"
    assert "is a CNAME for mx1.mx-cname.test" in row["message"]


def test_waiver_for_another_subject_does_not_apply(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-lab=mx-cname",
        "--mail-waive=mx.no-cname@other.example=not this one",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_waivers_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmail_waivers =\n    mx.no-cname=known alias, ticket 42\n")
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=mx-cname")
    assert result.ret == pytest.ExitCode.OK


def test_timeouts_are_errors_never_failures(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=blackhole", f"--mail-report={out}")
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes
    assert outcomes["errors"] >= 20
    rows = report(out)["results"]
    # every check of the domain could not test; the blocklists' own test entries are no part of the
    # domain (they answer), the intrusive checks are above the default probe level, and the DKIM key
    # checks have no selector to look at (none is guessed)
    about_lists = {"dnsbl.zone-sane", "dnsbl.resolver-usable"}
    unasked = ("--mail-probe=intrusive", "--mail-dkim-selector")
    mine = [r for r in rows if r["check"] not in about_lists and not any(u in r["message"] for u in unasked)]
    assert {r["outcome"] for r in mine} == {"error"}
    assert all("could not test" in r["message"] for r in rows if r["outcome"] == "error")
    assert "Traceback" not in result.stdout.str()


def test_servfail_is_never_an_implicit_mx(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=servfail", f"--mail-report={out}")
    (row,) = [r for r in report(out)["results"] if r["check"] == "mx.present"]
    assert row["outcome"] == "error"
    assert "SERVFAIL" in row["message"]


def test_unreachable_resolver_is_an_error_naming_it(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-domain=example.com",
        "--mail-resolver=127.0.0.1:9",
        "-k",
        "dns.domain.exists",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    # the one resolver is unreachable: the error points at the summary, which names it and the cause
    result.stdout.fnmatch_lines(
        [
            "*could not test: no resolver answered (see the mailspec summary)*",
            "mailspec: nothing could be tested: no resolver answered: 127.0.0.1:9 connection refused",
        ]
    )


def test_bulk_profile_is_accepted(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--pyargs", "mailspec.checks", "--mail-lab", "--mail-profile=bulk")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*profile=bulk*"])


def test_a_dead_resolver_is_followed_by_the_next(pytester: pytest.Pytester, mailspec_lab: Any) -> None:
    out = pytester.path / "r.json"
    result = run(
        pytester,
        "--pyargs",
        "mailspec.checks",
        "--mail-domain=good.test",
        "--mail-resolver=127.0.0.1:9",
        f"--mail-resolver={mailspec_lab.resolver}",
        f"--mail-dns-port={mailspec_lab.dns_port}",
        f"--mail-smtp-port={mailspec_lab.smtp_port}",
        f"--mail-https-port={mailspec_lab.https_port}",
        *(f"--mail-dkim-selector={s}" for s in mailspec_lab.dkim_selectors),
        f"--mail-ca={mailspec_lab.ca_path}",
        "--mail-dnsbl=dnsbl.test",
        "--mail-probe-helo=probe.lab.test",
        "--mail-waive=mx.target.public-address=lab loopback",
        "--mail-waive=dns.ns.public-address=lab loopback",
        f"--mail-report={out}",
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert {r["outcome"] for r in report(out)["results"]} <= {"passed", "skipped", "waived"}


def test_the_bulk_profile_makes_the_sender_rules_a_must(pytester: pytest.Pytester) -> None:
    # CATALOG.md §15: dmarc.present is a should; the bulk senders' rules make it a must
    rows = {}
    for profile in ("default", "bulk"):
        out = pytester.path / f"{profile}.json"
        run(pytester, "--pyargs", "mailspec.checks", "--mail-lab=dmarc-none", "--mail-fail-on=must",
            f"--mail-profile={profile}", f"--mail-report={out}", "-k", "dmarc_present")  # fmt: skip
        (rows[profile],) = [r for r in report(out)["results"] if r["check"] == "dmarc.present"]
    assert (rows["default"]["outcome"], rows["default"]["severity"]) == ("warned", "should")
    assert (rows["bulk"]["outcome"], rows["bulk"]["severity"]) == ("failed", "must")
