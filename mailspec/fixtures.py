"""mailspec's public fixtures (what ``pytest --fixtures`` shows), loaded with the plugin.

A test that asks for ``mail_domain`` or ``dns_facts`` runs once per configured domain; one that asks
for ``mx_target`` once per MX host; ``mx_ip`` once per MX host and address; ``nameserver`` once per
name server; ``nameserver_address`` once per name server and address (see :mod:`mailspec.subjects`).
Facts are fetched once per run, whoever asks; :data:`mailspec.session.FACT_FIXTURES` says which
fixture reads which fact kind, so that the plugin fetches, right after collection and all at once, the
facts the collected tests will read, and none that they will not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from mailspec.errors import Indeterminate
from mailspec.facts.dns import DomainDns, MxTarget, NameServer, NsAddress, ZoneProbe
from mailspec.session import NO_DOMAIN, fact, reads, settings_of, survey_of
from mailspec.settings import Settings
from mailspec.subjects import Subject
from mailspec.survey import Survey

if TYPE_CHECKING:
    from mailspec.testing.fixtures import LabFactory
    from mailspec.testing.lab import Lab

__all__ = [
    "dns_facts",
    "mail_domain",
    "mail_survey",
    "mailspec_lab",
    "mailspec_settings",
    "make_mailspec_lab",
    "mx_hosts",
    "mx_ip",
    "mx_target",
    "nameserver",
    "nameserver_address",
    "zone_probe",
]


# ------------------------------------------------------------------------------------ the run's own
@pytest.fixture(scope="session")
def mailspec_settings(pytestconfig: pytest.Config) -> Settings:
    """The validated mailspec settings of this run (domains, resolvers, probe level, waivers, ...)."""
    return settings_of(pytestconfig)


@pytest.fixture(scope="session")
def mail_survey(pytestconfig: pytest.Config) -> Survey:
    """The run's survey: every network fact, fetched once and memoised (``mail_survey.dns(domain)``,
    ``mail_survey.zone_probe(domain)``)."""
    if not settings_of(pytestconfig).active:
        pytest.skip(NO_DOMAIN)
    return survey_of(pytestconfig)


# ------------------------------------------------------------------------ subjects (mailspec.subjects)
@pytest.fixture
def _mailspec_subject(request: pytest.FixtureRequest) -> Subject:
    subject: Subject | None = getattr(request, "param", None)
    if subject is None:
        pytest.skip(NO_DOMAIN)
    if subject.error is not None:
        raise Indeterminate(subject.error)
    return subject


# each kind's marker: asking for it (through a public fixture) makes a test per subject of that kind
# (session-scoped: a marker holds nothing, and a run of many domains sets up none per test)
@pytest.fixture(scope="session")
def _mailspec_kind_domain() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_mx() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_mx_ip() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_ns() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_ns_ip() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_smtp() -> None:
    return None


# -------------------------------------------------------------------------------------- the domain
@pytest.fixture
def mail_domain(_mailspec_subject: Subject, _mailspec_kind_domain: None) -> str:
    """The mail domain under test (one test per configured domain)."""
    return _mailspec_subject.domain


@pytest.fixture
@reads(DomainDns)
def dns_facts(request: pytest.FixtureRequest, mail_domain: str) -> DomainDns:
    """What the resolvers say of the domain under test (:class:`mailspec.facts.DomainDns`): its SOA,
    NS, MX, addresses and TXT, and its MX hosts and name servers with their addresses."""
    return fact(request.config, DomainDns, mail_domain)


@pytest.fixture
@reads(ZoneProbe)
def zone_probe(request: pytest.FixtureRequest, mail_domain: str) -> ZoneProbe:
    """What the zone's name servers, and its parent's, said when asked directly
    (:class:`mailspec.facts.ZoneProbe`): each address's SOA, recursion and AXFR answers, and the
    delegation. Only tests that ask for it make mailspec ask name servers directly."""
    return fact(request.config, ZoneProbe, mail_domain)


# ------------------------------------------------------------------------------------------- MX
@pytest.fixture
def mx_hosts(dns_facts: DomainDns) -> list[MxTarget]:
    """The domain's MX hosts (the domain itself for an implicit MX; none for a null MX), with addresses."""
    return [t for t in dns_facts.mx_targets if t.name]


@pytest.fixture
def mx_target(dns_facts: DomainDns, _mailspec_subject: Subject, _mailspec_kind_mx: None) -> MxTarget:
    """One MX host of the domain under test (one test per MX host)."""
    return next(t for t in dns_facts.mx_targets if t.name == _mailspec_subject.name)


@pytest.fixture
def mx_ip(_mailspec_subject: Subject, _mailspec_kind_mx_ip: None) -> str:
    """One address of an MX host (one test per MX host and address)."""
    return _mailspec_subject.ip


# ---------------------------------------------------------------------------------- name servers
@pytest.fixture
def nameserver(dns_facts: DomainDns, _mailspec_subject: Subject, _mailspec_kind_ns: None) -> NameServer:
    """One name server of the zone of the domain under test, with its addresses (one test per name
    server)."""
    return next(n for n in dns_facts.nameservers if n.name == _mailspec_subject.name)


@pytest.fixture
def nameserver_address(
    nameserver: NameServer, zone_probe: ZoneProbe, _mailspec_subject: Subject, _mailspec_kind_ns_ip: None
) -> NsAddress:
    """One address of a name server, with its direct answers (one test per name server and address).

    For a name server whose name has no address, ``ip`` is empty and nothing was asked; for an
    address that was not asked (not public, see ``dns.ns.public-address``), ``not_probed`` says why.
    """
    if not _mailspec_subject.ip:
        return NsAddress.unasked(nameserver.name, "", f"{nameserver.name} has no A or AAAA record")
    return zone_probe.address(nameserver.name, _mailspec_subject.ip)


# --------------------------------------------------------------------------------------- the lab
@pytest.fixture(scope="session")
def mailspec_lab() -> Iterator[Lab]:
    """A started lab of every packaged scenario, shared by the whole session.

    Point a resolver at ``mailspec_lab.resolver`` (``127.0.0.153:PORT``); the scenarios' domains are
    ``mailspec_lab.domains`` and their waivers ``mailspec_lab.waivers``. Stopped at session end.
    """
    from mailspec.testing.fixtures import session_lab  # the lab's libraries load only when used

    yield from session_lab()


@pytest.fixture
def make_mailspec_lab() -> Iterator[LabFactory]:
    """A factory of started labs, each stopped when the test ends.

    ``make_mailspec_lab(["good", "mx-cname"], latency=0.05)`` takes packaged scenario names (file
    stem or domain; ``"all"``) or :class:`~mailspec.testing.Scenario` objects; no argument means
    every packaged scenario. ``latency`` (seconds) delays every DNS answer.
    """
    from mailspec.testing.fixtures import lab_factory

    yield from lab_factory()
