"""The host checks end to end (pytester): ``pytest --pyargs mailspec.hostchecks --hosts=local://`` on
this machine's Postfix tools, reading a configuration directory written below the test's tmp path
(``postconf -c DIR`` reads unprivileged; nothing is started, nothing is sent anywhere). The JSON rows,
the test ids, the subject, waivers, JUnit, a missing MTA (an error, never a failure), the per-domain
checks with --mail-lab, and the side-by-side summary of the outside and inside verdicts.

The host checks resolve the host's names as the host does (``getent ahosts``), and this machine's
resolver points off it: every run is a subprocess in a private mount namespace (``unshare -m``) whose
/etc/hosts names the test hosts and whose /etc/resolv.conf points at a loopback address where nothing
listens, so that no lookup leaves loopback. Without that namespace (not root) the runs are skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mailspec.catalog import CATALOG

pytest.importorskip("testinfra")
needs_postfix = pytest.mark.skipif(
    shutil.which("postconf") is None, reason="Postfix's tools are not installed"
)

HOST_IDS = sorted(i for i, e in CATALOG.items() if e.probe == "host")
#: the ids that are also per domain (CONTRACT: host.role.postmaster[local-example.com])
PER_DOMAIN = {
    "host.mta.listening",
    "host.mta.address-families",
    "host.role.postmaster",
    "host.role.abuse",
    "host.tls.cert-current",
    "host.helo.matches-ptr",
}


def write_config(folder: Path, hostname: str = "mx1.example.com", **extra: str) -> Path:
    """A Postfix configuration directory: main.cf (with ``extra`` settings), Debian's master.cf, and an
    aliases table built with postalias."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "myhostname": hostname,
        "mydomain": hostname.split(".", 1)[1],
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "alias_maps": f"hash:{folder}/aliases",
        "alias_database": f"hash:{folder}/aliases",
        "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
        **extra,
    }
    (folder / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    master = Path("/etc/postfix/master.cf")
    (folder / "master.cf").write_text(
        master.read_text() if master.is_file() else "smtp inet n - y - - smtpd\n"
    )
    (folder / "aliases").write_text("postmaster: root\nabuse: root\n")
    subprocess.run(["postalias", "-c", str(folder), str(folder / "aliases")], check=True)
    return folder


#: where the private mount namespace binds the test's files
BIND = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"'
#: the test hosts' names, on loopback
HOSTS = "127.0.1.1 mx1.example.com\n127.0.1.2 mx1.good.test\n"
#: a loopback address where no name server listens (a lookup beyond /etc/hosts fails at once)
NO_RESOLVER = "nameserver 127.0.14.33\noptions timeout:1 attempts:1\n"


def _namespace_problem() -> str | None:
    if shutil.which("unshare") is None:
        return "these runs need unshare (Debian package util-linux)"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", BIND, "sh", *["/dev/null"] * 2, "true"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return f"these runs need a private mount namespace (unshare -m: root or CAP_SYS_ADMIN): {why}"
    return None


_PROBLEM = _namespace_problem()
pytestmark = pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")


def isolated(pytester: pytest.Pytester, *args: str, path: str | None = None) -> pytest.RunResult:
    """``python -m pytest *args`` from the pytester folder, with the private /etc/hosts and
    /etc/resolv.conf (and ``PATH`` set to *path*, if given, for pytest alone)."""
    hosts, resolv = pytester.path / "etc-hosts", pytester.path / "etc-resolv.conf"
    if not hosts.exists():
        machine = Path("/etc/hosts").read_text(encoding="utf-8") if Path("/etc/hosts").is_file() else ""
        hosts.write_text(machine + "\n" + HOSTS, encoding="utf-8")
        resolv.write_text(NO_RESOLVER, encoding="utf-8")
    env = ["env", *([f"PATH={path}"] if path is not None else [])]
    command = ["unshare", "-m", "--propagation", "private", "sh", "-c", BIND, "sh", str(hosts), str(resolv)]
    # (no PYTEST_* variables of the outer run, e.g. xdist's, reach the inner one)
    for name in [k for k in os.environ if k.startswith("PYTEST_")]:
        env.append(f"--unset={name}")
    return pytester.run(*command, *env, sys.executable, "-m", "pytest", *args, timeout=300)


def run(pytester: pytest.Pytester, *args: str, path: str | None = None) -> pytest.RunResult:
    return isolated(
        pytester, "-p", "no:cacheprovider", "--pyargs", "mailspec.hostchecks", "--hosts=local://", *args,
        path=path,
    )  # fmt: skip


def rows(path: Path) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return list(data["results"])


@needs_postfix
def test_one_row_per_check_named_after_the_host(pytester: pytest.Pytester) -> None:
    conf = write_config(pytester.path / "pf")
    out = pytester.path / "r.json"
    result = run(pytester, f"--mail-mta-config={conf}", f"--mail-report={out}", "-rA")
    results = rows(out)
    assert sorted(r["check"] for r in results) == HOST_IDS
    assert {r["subject"] for r in results} == {"local"}
    assert {r["domain"] for r in results} == {""}
    by_id = {r["check"]: r for r in results}
    relay = by_id["host.relay.restricted"]
    assert relay["outcome"] == "passed" and relay["severity"] == "must"
    assert relay["nodeid"] == "mailspec/hostchecks/test_host.py::test_host_relay_restricted[local]"
    assert any("smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" in e
               for e in relay["evidence"])  # fmt: skip
    assert by_id["host.role.postmaster"]["outcome"] == "passed"
    assert by_id["host.mta.address-families"]["outcome"] == "skipped"
    assert "--mail-domain" in by_id["host.mta.address-families"]["message"]
    assert by_id["host.hostname.fqdn"]["outcome"] in ("passed", "failed")  # (what this machine resolves)
    result.stdout.fnmatch_lines(["*test_host_relay_restricted[[]local[]]*", "*host local: *"])


@needs_postfix
def test_an_open_relay_fails_with_the_fix_and_can_be_waived(pytester: pytest.Pytester) -> None:
    conf = write_config(pytester.path / "pf", smtpd_relay_restrictions="permit", mynetworks="0.0.0.0/0")
    out = pytester.path / "r.json"
    result = run(pytester, f"--mail-mta-config={conf}", f"--mail-report={out}", "-k", "relay")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [row] = rows(out)
    assert row["outcome"] == "failed" and "0.0.0.0/0" in row["message"]
    assert "reject_unauth_destination" in row["message"] and row["remediation"]
    result = run(pytester, f"--mail-mta-config={conf}", f"--mail-report={out}", "-k", "relay",
                 "--mail-waive=host.relay.restricted@local=the lab relays for everyone")  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    [row] = rows(out)
    assert row["outcome"] == "waived" and row["waiver"] == "the lab relays for everyone"


@needs_postfix
def test_junit_case_output_starts_with_the_mailspec_line(pytester: pytest.Pytester) -> None:
    conf = write_config(pytester.path / "pf")
    xml = pytester.path / "j.xml"
    run(pytester, f"--mail-mta-config={conf}", f"--junitxml={xml}", "-k", "relay")
    [case] = ET.parse(xml).getroot().iter("testcase")
    assert case.get("name") == "test_host_relay_restricted[local]"
    # (without the "Captured Out" rule that pytest's writer puts first)
    out = [line for line in (case.findtext("system-out") or "").splitlines() if not line.startswith("---")]
    assert out[0] == "mailspec: host.relay.restricted local passed must"


def test_no_mta_is_an_error_never_a_failure(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    result = run(pytester, "--mail-mta=exim", f"--mail-report={out}")  # (Exim is not installed here)
    if shutil.which("exim") or shutil.which("exim4"):
        pytest.skip("Exim is installed on this machine")
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors") == len(HOST_IDS) and "failed" not in outcomes
    results = rows(out)
    assert {r["outcome"] for r in results} == {"error"}
    assert all("exim is not installed" in r["message"] for r in results)


def test_auto_without_postfix_or_exim(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    run(pytester, f"--mail-report={out}", path="/nonexistent")  # (the host's commands find no MTA tool)
    results = rows(out)
    assert {r["outcome"] for r in results} == {"error"}
    # (postconf is also looked for in /usr/sbin, which PATH does not hide: then its settings, which
    # are not there, cannot be read; an error either way, never a failure)
    messages = {r["message"] for r in results}
    assert messages == {"could not test: no Postfix or Exim found on local"} or all(
        m.startswith("could not test: could not read Postfix's settings on local") for m in messages
    )


@needs_postfix
def test_a_missing_config_dir_is_an_error(pytester: pytest.Pytester) -> None:
    out = pytester.path / "r.json"
    run(pytester, f"--mail-mta-config={pytester.path / 'nothing'}", f"--mail-report={out}", "-k", "vrfy")
    [row] = rows(out)
    assert row["outcome"] == "error" and "main.cf" in row["message"]


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("--mail-mta=sendmail", "'sendmail': expected one of auto, postfix, exim"),
        ("--mail-mta-config=relative/dir", "'relative/dir': expected an absolute path"),
    ],
)
def test_bad_values_are_usage_errors(pytester: pytest.Pytester, option: str, words: str) -> None:
    result = run(pytester, option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


@needs_postfix
def test_per_domain_ids_and_one_verdict_from_both_sides(pytester: pytest.Pytester) -> None:
    # the host is mx1.good.test by its host name: the lab's good domain's first MX host
    conf = write_config(pytester.path / "pf", hostname="mx1.good.test")
    out = pytester.path / "r.json"
    result = isolated(
        pytester,
        "-p", "no:cacheprovider", "--pyargs", "mailspec.checks", "mailspec.hostchecks", "--hosts=local://",
        f"--mail-mta-config={conf}", "--mail-lab", "--mail-timeout=3", f"--mail-report={out}",
    )  # fmt: skip
    results = [r for r in rows(out) if r["check"].startswith("host.")]
    per_domain = {r["check"] for r in results if r["domain"] == "good.test"}
    assert per_domain == PER_DOMAIN
    assert {r["check"] for r in results if r["domain"] == ""} == set(HOST_IDS) - PER_DOMAIN
    assert {r["subject"] for r in results} == {"local"}
    postmaster = next(r for r in results if r["check"] == "host.role.postmaster")
    assert postmaster["nodeid"].endswith("test_host_role_postmaster[local-good.test]")
    result.stdout.fnmatch_lines(["mailspec: mx1.good.test  outside: PASS (*)  inside local: *"])


EXAMPLE = Path(__file__).resolve().parents[2] / "tests_examples" / "test_infra_suite.py"


@needs_postfix
def test_the_infra_suite_example(pytester: pytest.Pytester) -> None:
    shutil.copy(EXAMPLE, pytester.path)
    # (the lab's domain is one this host accepts: a domain it does not is not its to judge)
    conf = write_config(
        pytester.path / "pf",
        disable_vrfy_command="yes",
        mydestination="$myhostname, localhost.$mydomain, localhost, good.test",
    )
    out = pytester.path / "r.json"
    args = ("test_infra_suite.py", "-p", "no:cacheprovider", "--hosts=local://", f"--mail-mta-config={conf}")
    result = isolated(pytester, *args, f"--mail-report={out}")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=6, skipped=2)  # (the outside tests need a domain)
    results = rows(out)
    assert {r["check"] for r in results if r["check"]} >= {"host.relay.restricted", "host.vrfy.restricted"}
    own = [r for r in results if r["title"] == "test_postfix_is_the_mta[local]"]
    assert own and own[0]["subject"] == "local"
    result = isolated(pytester, *args, "--mail-lab")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=8)


def test_without_testinfra_collecting_is_a_usage_error(pytester: pytest.Pytester) -> None:  # (item 12)
    # (without testinfra there is no --hosts either)
    result = isolated(
        pytester, "-p", "no:cacheprovider", "-p", "no:pytest11.testinfra", "--pyargs", "mailspec.hostchecks"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "host checks need pytest-testinfra (pip install 'mailspec[host]')" in result.stderr.str()
    assert "fixture 'host' not found" not in result.stdout.str()
