"""The RCPT probe of DMARC report addresses (dmarc.rua.deliverable at --mail-probe=envelope), against
the lab's MTAs: what each kind of server answers, never DATA, the politeness (two connections per
server at most, one probe per address and server however many domains report to it, before the
intrusive probes of that server), and no connection to an address the run was given no consent for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailspec.facts.smtp import ReportRcpt, ReportRcpts, SmtpIntrusive, endpoint_key
from mailspec.survey import DnsEndpoint, SmtpConfig, Survey
from mailspec.testing import LabProcess

SCENARIOS = [
    "good", "dmarc-rua-refused", "greylist-always", "null-sender-rcpt", "null-sender-refused", "tls-gated",
    "tarpit", "dmarc-rua-undeliverable", "dmarc-external-rua-ok",
]  # fmt: skip
#: a domain of its own whose reports go to good.test's mailbox (an address two domains share)
SHARED = """
domain = "shares-reports.test"
[expect]
pass = ["dmarc.rua.deliverable"]
[zone]
records = '''
@       MX  10 mx1.good.test.
_dmarc  TXT "v=DMARC1; p=none; rua=mailto:dmarc@good.test"
'''
[[zone.nameserver]]
host = "ns1"
ip = "127.0.15.200"
"""


def consent(domain: str, host: str, ip: str) -> str | None:
    return None  # (the lab's loopback servers: as its waivers of mx.target.public-address say)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    shared = Path(tmp_path_factory.mktemp("scenarios")) / "shares-reports.toml"
    shared.write_text(SHARED, encoding="utf-8")
    with LabProcess(SCENARIOS, files=[shared]) as started:
        yield started


def survey(lab: LabProcess, refusal: Callable[[str, str, str], str | None] | None = None) -> Survey:
    host, _, port = lab.resolver.rpartition(":")
    smtp = SmtpConfig(timeout=4, probe_helo="probe.lab.test", retry_delay=0.3, refusal=refusal)
    return Survey([DnsEndpoint(host, int(port))], timeout=4, dns_port=lab.dns_port, smtp=smtp)


@pytest.fixture(scope="module")
def probes(lab: LabProcess) -> dict[str, ReportRcpts]:
    domains = [f"{name}.test" for name in SCENARIOS] + ["shares-reports.test"]
    with survey(lab, refusal=consent) as s:
        keys = {d: f"{d}|{lab.smtp_port}" for d in domains}
        s.prefetch((ReportRcpts, k) for k in keys.values())
        return {d: s.get(ReportRcpts, k) for d, k in keys.items()}


def only(probes: dict[str, ReportRcpts], domain: str) -> ReportRcpt:
    fact = probes[domain]
    assert not fact.error, fact
    (probe,) = fact.probes
    return probe


def test_an_existing_mailbox_is_accepted(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "good.test")
    assert p.address == "dmarc@good.test" and p.tag == "rua" and p.host == "mx1.good.test"
    assert not p.untried and p.reply is not None and p.reply.code == 250
    assert p.rcpt is not None and p.rcpt.sender == "" and p.null_refused is None
    assert p.transcript[-2:] == ("C: QUIT", "S: 221 2.0.0 Bye")
    assert "C: RSET" in p.transcript


def test_an_unknown_mailbox_is_refused_from_both_senders(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "dmarc-rua-refused.test")
    assert p.host == "mx.reports.dmarc-rua-refused.test" and p.ip == "127.0.14.19"
    assert p.reply is not None and p.reply.code == 550 and "User unknown" in p.reply.text
    assert p.rcpt is not None and p.rcpt.sender == "mailspec@probe.lab.test"
    assert p.null_refused is not None and p.null_refused.code == 550


def test_a_greylisted_mailbox_is_asked_again_after_the_pause(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "greylist-always.test")
    assert p.reply is not None and p.reply.kind == 4 and p.reply.first.startswith("450")


def test_a_refused_null_sender_is_followed_by_the_probes_own(probes: dict[str, ReportRcpts]) -> None:
    refused_at = {"null-sender-rcpt.test": "RCPT", "null-sender-refused.test": "MAIL"}
    for domain, where in refused_at.items():
        p = only(probes, domain)
        assert p.reply is not None and p.reply.code == 250, (domain, p.transcript)
        assert p.rcpt is not None and p.rcpt.sender == "mailspec@probe.lab.test"
        null = p.null_refused
        assert null is not None and null.sender == ""
        refusal = null.rcpt if where == "RCPT" else null.mail
        assert refusal is not None and refusal.code == 550, (domain, null)


def test_a_mailbox_refused_until_starttls_is_asked_inside_tls(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "tls-gated.test")
    assert p.reply is not None and p.reply.code == 250 and p.rcpt is not None and p.rcpt.tls


def test_a_server_that_does_not_greet_in_time_leaves_it_untried(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "tarpit.test")
    assert p.untried.startswith("could not connect: timeout"), p.untried
    assert p.reply is None


def test_a_report_domain_without_mx_or_address_is_not_connected_to(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "dmarc-rua-undeliverable.test")
    assert p.untried == "no MX host of reports.dmarc-rua-undeliverable.test has an address", p.untried
    assert not p.ip


def test_another_domains_mailbox_is_asked_at_that_domains_mx(probes: dict[str, ReportRcpts]) -> None:
    p = only(probes, "dmarc-external-rua-ok.test")
    assert p.address == "dmarc@dmarc-ext-ok-reports.test" and p.host == "mx1.dmarc-external-rua-ok.test"
    assert p.reply is not None and p.reply.code == 250


def test_an_address_two_domains_share_is_asked_once(lab: LabProcess, probes: dict[str, ReportRcpts]) -> None:
    mine, theirs = only(probes, "good.test"), only(probes, "shares-reports.test")
    assert mine == theirs
    verbs = lab.smtp_stats()["127.0.2.10"]["verbs"]
    assert verbs.count("RCPT") == 1, verbs  # (the null sender was accepted: one RCPT in all)


def test_never_data_and_two_connections_at_most(lab: LabProcess, probes: dict[str, ReportRcpts]) -> None:
    for ip, stats in lab.smtp_stats().items():
        assert stats["data_commands"] == 0, ip
        assert stats["max_open"] <= 2, (ip, stats["max_open"])
        assert set(stats["verbs"]) <= {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "QUIT"}, ip


def test_no_consent_no_connection(lab: LabProcess) -> None:
    before = lab.smtp_stats()["127.0.2.10"]["connections"]
    with survey(lab) as s:  # (no refusal given: only public addresses are connected to)
        fact = s.get(ReportRcpts, f"good.test|{lab.smtp_port}")
    (p,) = fact.probes
    assert p.untried == "not probed: 127.0.2.10 is not a public address"
    assert lab.smtp_stats()["127.0.2.10"]["connections"] == before


def test_the_report_probe_comes_before_the_intrusive_probes_of_its_server() -> None:
    """injectable.test reports to its own MX: every RSET there (the report probe's: no envelope probe
    is asked) comes before the intrusive probes' HELO (the unauthorised-pipelining probe's; the first
    HELO is the read-only session's)."""
    with LabProcess(["injectable"]) as lab:
        mx = endpoint_key("mx1.injectable.test", "127.0.8.42", lab.smtp_port)
        with survey(lab, refusal=consent) as s:
            s.prefetch(
                [(ReportRcpts, f"injectable.test|{lab.smtp_port}"), (SmtpIntrusive, f"injectable.test|{mx}")]
            )
            intrusive = s.get(SmtpIntrusive, f"injectable.test|{mx}")
            report = s.get(ReportRcpts, f"injectable.test|{lab.smtp_port}")
        verbs = lab.smtp_stats()["127.0.8.42"]["verbs"]
    assert intrusive.definite and intrusive.injection_verdict == "vulnerable"
    assert report.probes[0].reply is not None and report.probes[0].reply.code == 250
    helos = [i for i, v in enumerate(verbs) if v == "HELO"]
    resets = [i for i, v in enumerate(verbs) if v == "RSET"]
    assert len(helos) == 2 and resets, verbs
    assert max(resets) < helos[1], verbs
