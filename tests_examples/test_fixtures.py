"""The public fixtures: the survey, the facts and the settings, in plain pytest tests."""

from __future__ import annotations

from mailspec.facts import DomainDns, MxTarget
from mailspec.settings import Settings
from mailspec.survey import Survey


def test_the_survey_is_shared(mail_survey: Survey, mail_domain: str, dns_facts: DomainDns) -> None:
    # facts are memoised per session: asking again sends nothing
    before = mail_survey.queries_sent
    assert mail_survey.dns(mail_domain) is dns_facts
    assert mail_survey.queries_sent == before


def test_mx_hosts_have_addresses(mx_hosts: list[MxTarget]) -> None:
    assert all(host.ips for host in mx_hosts)


def test_settings_are_visible(mailspec_settings: Settings, mail_domain: str) -> None:
    assert mail_domain in mailspec_settings.domains
