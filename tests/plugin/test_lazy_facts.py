"""Facts are fetched when the collected checks read them, and only then: a run of MX checks alone asks
no name server directly; a run of the DNS checks does."""

from __future__ import annotations

from typing import Any

import pytest

WAIVE = ("--mail-waive=mx.target.public-address=lab", "--mail-waive=dns.ns.public-address=lab")


def direct_questions(lab: Any) -> int:
    ips = {ns.ip for zone in lab.scenario("good").zones for ns in zone.nameservers}
    return sum(n for ip, n in lab.server.answered_by_address.items() if ip in ips)


def run(pytester: pytest.Pytester, lab: Any, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--pyargs", "mailspec.checks", "--mail-domain=good.test",
        f"--mail-resolver={lab.resolver}", f"--mail-dns-port={lab.dns_port}",
        f"--mail-smtp-port={lab.smtp_port}", f"--mail-https-port={lab.https_port}", *WAIVE, *args,
    )  # fmt: skip


def test_mx_checks_alone_ask_no_name_server(pytester: pytest.Pytester, make_mailspec_lab: Any) -> None:
    lab = make_mailspec_lab(["good"])
    result = run(pytester, lab, "-k", "mx_")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes()["passed"] >= 5
    assert direct_questions(lab) == 0


def test_dns_checks_ask_the_name_servers(pytester: pytest.Pytester, make_mailspec_lab: Any) -> None:
    lab = make_mailspec_lab(["good"])
    result = run(pytester, lab, "-k", "dns_ns_authoritative")
    assert result.ret == pytest.ExitCode.OK
    assert direct_questions(lab) > 0


def test_a_users_own_test_on_the_zone_probe_fetches_it(
    pytester: pytest.Pytester, make_mailspec_lab: Any
) -> None:
    lab = make_mailspec_lab(["good"])
    pytester.makepyfile(
        test_own="""
def test_every_server_answers(zone_probe):
    assert zone_probe.addresses and all(x.soa.aa for x in zone_probe.addresses)

def test_only_mx(mx_hosts):
    assert mx_hosts
"""
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "test_own.py", "--mail-domain=good.test", f"--mail-resolver={lab.resolver}",
        f"--mail-dns-port={lab.dns_port}", *WAIVE,
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    assert direct_questions(lab) > 0
