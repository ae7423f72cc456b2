"""Domains that share an MX share its envelope connections (RSET between domains), within the two
connections per server, and each domain still gets every probe of its own."""

from __future__ import annotations

from mailspec.facts import DomainDns
from mailspec.facts.smtp import SmtpEnvelope, SmtpSession, endpoint_key
from mailspec.survey import DnsEndpoint, SmtpConfig, Survey
from mailspec.survey.smtp import REUSE_DOMAINS
from mailspec.testing import LabProcess

MX, IP = "mx1.good.test", "127.0.2.10"


def survey_envelopes(lab: LabProcess, domains: list[str]) -> tuple[dict[str, SmtpEnvelope], int]:
    host, _, port = lab.resolver.rpartition(":")
    config = SmtpConfig(
        timeout=6, probe_helo="probe.lab.test", retry_delay=0.5, relay_rcpt="relay@probe.lab.test"
    )
    endpoint = endpoint_key(MX, IP, lab.smtp_port)
    keys = {d: f"{d}|{endpoint}" for d in domains}
    with Survey([DnsEndpoint(host, int(port))], timeout=6, dns_port=lab.dns_port, smtp=config) as s:
        # the session and the domains' DNS first, so that every envelope is queued at once (what a
        # run's prefetch does for a provider's MX whose session is already known)
        s.prefetch([(SmtpSession, endpoint), *((DomainDns, d) for d in domains)])
        before = lab.smtp_stats()[IP]["connections"]
        s.prefetch((SmtpEnvelope, k) for k in keys.values())
        envelopes = {d: s.get(SmtpEnvelope, k) for d, k in keys.items()}
        opened = lab.smtp_stats()[IP]["connections"] - before
    return envelopes, opened


def test_domains_of_one_mx_share_its_envelope_connections() -> None:
    domains = ["good.test"] + [f"d{i}.good.test" for i in range(5)]
    with LabProcess(["good"]) as lab:
        envelopes, opened = survey_envelopes(lab, domains)
        most_open = lab.smtp_stats()[IP]["max_open"]
    # six domains, two connections at a time, each serving at least two domains before it is closed
    assert 1 <= opened <= 4, opened
    assert most_open <= 2
    reused = [
        d for d, e in envelopes.items() if any("other domain(s) first; RSET since" in x for x in e.transcript)
    ]
    assert len(reused) == len(domains) - opened
    for d, e in envelopes.items():
        assert e.definite, (d, e.error)
        assert e.rcpts["postmaster"].kind == 2, (d, e.transcript)
        assert e.rcpts["postmaster"].mailbox == f"postmaster@{d}"
        assert e.rcpts["unknown"].kind == 5, d
        assert e.keywords, d  # (the EHLO of the connection it used)
        # each domain's evidence starts with the greeting and EHLO of its connection
        assert e.transcript[0].startswith("S: 220"), e.transcript[:2]


def test_a_connection_serves_a_bounded_number_of_domains() -> None:
    assert 1 < REUSE_DOMAINS <= 10


def test_a_domain_whose_budget_runs_out_leaves_no_connection_open() -> None:
    """A tarpit that never answers MAIL: each domain's budget runs out, its connection is closed at
    once, and the server never sees more than two at a time (the review's leak)."""
    with LabProcess(["tarpit"]) as lab:
        (ip,) = [i for i in lab.smtp_stats()]
        host, _, port = lab.resolver.rpartition(":")
        config = SmtpConfig(timeout=1, probe_helo="probe.lab.test", retry_delay=0.1)
        endpoint = endpoint_key("mx1.tarpit.test", ip, lab.smtp_port)
        with Survey([DnsEndpoint(host, int(port))], timeout=1, dns_port=lab.dns_port, smtp=config) as s:
            keys = [f"d{i}.tarpit.test|{endpoint}" for i in range(5)]
            s.prefetch((SmtpEnvelope, k) for k in keys)
            envelopes = [s.get(SmtpEnvelope, k) for k in keys]
        most_open = lab.smtp_stats()[ip]["max_open"]
    assert all(not e.definite for e in envelopes)
    assert most_open <= 2
