"""The plugin's command line: options, bad input, and what happens without a domain."""

from __future__ import annotations

import pytest

DEAD_RESOLVER = "--mail-resolver=127.0.0.1:9"  # nothing listens: never a real resolver


@pytest.mark.parametrize(
    ("args", "empty"),
    [
        (["--pyargs", "mailspec.checks"], "no mail domain to check"),
        (["--pyargs", "mailspec.checks.test_mx"], "no mail domain to check"),
        (["--pyargs", "mailspec.checks", "--mail-domain="], "--mail-domain was given an empty value"),
        (["--mail-domain="], "--mail-domain was given an empty value"),
        (["--pyargs", "mailspec.checks", "--mail-domains-file="], "--mail-domains-file was given an empty"),
        (["--pyargs", "mailspec.checks", "--mail-domains-file=empty.txt"], "has no domain"),
    ],
    ids=[
        "pyargs",
        "pyargs-module",
        "empty-domain",
        "empty-domain-autocollect",
        "empty-file-name",
        "empty-file",
    ],
)
def test_a_missing_domain_never_passes_a_build(
    pytester: pytest.Pytester, args: list[str], empty: str
) -> None:
    # an unset CI variable (--mail-domain=$MAIL_DOMAIN) used to give "24 skipped" and exit 0
    pytester.makefile(".txt", empty="# no domain yet\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert empty in result.stderr.str()


def test_the_shipped_folder_without_a_domain_is_a_usage_error(pytester: pytest.Pytester) -> None:
    from mailspec.plugin import CHECKS_DIR

    result = pytester.runpytest(str(CHECKS_DIR / "test_mx.py"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "no mail domain to check" in result.stderr.str()


def test_without_a_domain_imported_checks_skip_and_say_why(pytester: pytest.Pytester) -> None:
    # an infrastructure suite that runs its mail checks only where a domain is configured
    pytester.makepyfile(test_infra="from mailspec.checks.test_mx import *\n")
    result = pytester.runpytest("-rs")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes()["skipped"] >= 5
    result.stdout.fnmatch_lines(["*no mail domain to check: pass --mail-domain=DOMAIN*"])
    result.stdout.fnmatch_lines(["mailspec: no mail domain (pass --mail-domain=DOMAIN or --mail-lab)"])


def test_an_empty_folder_without_a_domain_collects_nothing(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_help_lists_every_option_with_its_ini_twin(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    for flag, ini in [
        ("--mail-domain", "mail_domains"),
        ("--mail-server", "mail_servers"),
        ("--mail-outbound", "mail_outbound"),
        ("--mail-helo-name", "mail_helo_names"),
        ("--mail-resolver", "mail_resolvers"),
        ("--mail-smtp-port", "mail_smtp_port"),
        ("--mail-probe", "mail_probe"),
        ("--mail-probe-helo", "mail_probe_helo"),
        ("--mail-timeout", "mail_timeout"),
        ("--mail-fail-on", "mail_fail_on"),
        ("--mail-profile", "mail_profile"),
        ("--mail-waive", "mail_waivers"),
        ("--mail-dkim-selector", "mail_dkim_selectors"),
        ("--mail-dnsbl", "mail_dnsbls"),
        ("--mail-ca", "mail_ca"),
        ("--mail-report", "mail_report"),
        ("--mail-lab", "mail_lab"),
        ("--mail-domains-file", "mail_domains_file"),
    ]:
        assert flag in text
        assert ini in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mail-domain=192.0.2.1"], "mail domain '192.0.2.1' is an IP address: expected a domain name"),
        (["--mail-domain=exa mple.com"], "invalid label 'exa mple'"),
        (["--mail-domain=example.com", "--mail-resolver=resolver.example"], "expected an IP address"),
        (
            ["--mail-domain=example.com", "--mail-probe=all"],
            "expected one of dns, connect, envelope, intrusive",
        ),
        (["--mail-domain=example.com", "--mail-waive=mx.nope=because"], "unknown check id 'mx.nope'"),
        (["--mail-domain=example.com", "--mail-timeout=-1"], "--mail-timeout '-1'"),
        (["--mail-domain=example.com", "--mail-fail-on=sometimes"], "--mail-fail-on 'sometimes'"),
        (["--mail-lab=no-such-scenario"], "no-such-scenario"),
        (["--mail-domain=example.com", "--mail-server=mx.example.com:99999"], "port '99999'"),
        (["--mail-domain=example.com", "--mail-outbound=not an address"], "--mail-outbound host"),
        (["--mail-domain=example.com", "--mail-helo-name=bad name"], "--mail-helo-name 'bad name'"),
        (["--mail-domain=example.com", "--mail-probe-helo=10.0.0.1"], "expected a host name"),
        (["--mail-domain=example.com", "--mail-smtp-port=0"], "--mail-smtp-port: port '0'"),
        (["--mail-domain=example.com", "--mail-dns-port=x"], "--mail-dns-port: port 'x'"),
        (["--mail-domain=example.com", "--mail-profile=gmail"], "expected one of default, bulk"),
        (["--mail-domain=example.com", "--mail-dnsbl=192.0.2.1"], "is an IP address"),
        (["--mail-domain=example.com", "--mail-dkim-selector=s 1"], "expected a selector"),
        (["--mail-domain=example.com", "--mail-ca=/no/such/ca.pem"], "no such file"),
        (["--mail-domain=example.com", "--mail-report=."], "is a directory"),
        (["--mail-domain=example.com", "--mail-report=/etc/hostname/r.json"], "cannot write below"),
        (["--mail-domains-file=/no/such/list.txt"], "cannot read it"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_value(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest("--pyargs", "mailspec.checks", DEAD_RESOLVER, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_ini_twins_are_read_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        mail_probe = everything
        """
    )
    result = pytester.runpytest("--pyargs", "mailspec.checks")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--mail-probe 'everything'" in result.stderr.str()
    result = pytester.runpytest("--pyargs", "mailspec.checks", "--mail-probe=dns", "--mail-lab")
    assert result.ret == pytest.ExitCode.OK


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:mailspec", "--help")
    assert "--mail-domain" not in result.stdout.str()


def test_plugin_loads_with_p_when_autoload_is_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "mailspec", "--pyargs", "mailspec.checks", "--mail-lab")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes()["passed"] >= 20


def test_lab_and_domain_together_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--pyargs", "mailspec.checks", "--mail-lab", "--mail-domain=example.com")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot be combined with --mail-domain" in result.stderr.str()


def test_testpaths_do_not_stop_the_shipped_checks(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntestpaths = infra\n")
    pytester.mkdir("infra")
    pytester.makepyfile(**{"infra/test_host": "def test_host():\n    pass\n"})
    result = pytester.runpytest("--mail-lab=good", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] > 20  # the user's test and the shipped checks


def test_strict_markers_without_xdist(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--pyargs", "mailspec.checks", "--mail-lab", "--strict-markers", "-p", "no:xdist"
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def test_users_async_tests_run_beside_the_survey(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_async="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_own_loop(mx_hosts):
            await asyncio.sleep(0)
            assert mx_hosts
        """
    )
    # in a process of its own: pytest-asyncio's event loop (some versions leave its socket pair to the
    # garbage collector) must not outlive the inner run into the next test's warnings
    result = pytester.runpytest_subprocess("test_async.py", "--mail-lab", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
