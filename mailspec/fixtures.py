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
from typing import TYPE_CHECKING, Any

import pytest

from mailspec.errors import Indeterminate
from mailspec.facts.auth import DkimSurvey, DmarcFound, DmarcSurvey, MtaStsSurvey
from mailspec.facts.dns import DomainDns, MxTarget, NameServer, NsAddress, ZoneProbe
from mailspec.facts.host import MtaConfig, this_host_mx
from mailspec.facts.mtasts import MtaStsFetch
from mailspec.facts.published import PublishedTls
from mailspec.facts.published import published_tls as published_tls_of
from mailspec.facts.smtp import (
    DnsblListing,
    DnsblZone,
    HostAddresses,
    IdentProbe,
    OutboundIp,
    ReportRcpts,
    ReverseDns,
    SmtpEndpoint,
    SmtpEnvelope,
    SmtpIntrusive,
    SmtpSession,
    endpoint_key,
)
from mailspec.facts.spf import SpfResult, SpfTree
from mailspec.records.exim import exim_list
from mailspec.records.hostname import looks_like_ip
from mailspec.session import (
    NO_DOMAIN,
    PROBE_LEVELS,
    fact,
    reads,
    settings_of,
    subjects_for,
    survey_of,
)
from mailspec.settings import Settings
from mailspec.subjects import BY_NAME, Subject, probe_refusal
from mailspec.survey import Survey
from mailspec.survey.engine import EngineError
from mailspec.survey.smtp import SmtpConnector

if TYPE_CHECKING:
    from mailspec.testing.fixtures import LabFactory
    from mailspec.testing.lab import Lab

__all__ = [
    "dkim_selector",
    "dkim_survey",
    "dmarc_record",
    "dmarc_report_rcpts",
    "dmarc_survey",
    "dns_facts",
    "dnsbl_listings",
    "dnsbl_zones",
    "helo_names",
    "ident_probe",
    "mail_domain",
    "mail_survey",
    "mail_trust_store",
    "mailspec_lab",
    "mailspec_settings",
    "make_mailspec_lab",
    "mta_config",
    "mta_domain",
    "mta_domain_dns",
    "mta_mx_hosts",
    "mta_outbound_ptr",
    "mtasts_policy",
    "mtasts_survey",
    "mx_endpoints",
    "mx_hosts",
    "mx_ip",
    "mx_target",
    "nameserver",
    "nameserver_address",
    "outbound_ip",
    "published_tls",
    "reverse_dns",
    "smtp_connect",
    "smtp_endpoint",
    "smtp_envelope",
    "smtp_intrusive",
    "smtp_session",
    "spf_helo",
    "spf_helo_known",
    "spf_outbound",
    "spf_tree",
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
    if subject is None and BY_NAME["host"].marker in request.fixturenames:
        return Subject("host", "")  # a host check with no domain to judge the host for: the host alone
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


@pytest.fixture(scope="session")
def _mailspec_kind_outbound() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_dkim() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_host() -> None:
    return None


@pytest.fixture(scope="session")
def _mailspec_kind_host_domain() -> None:
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


# ------------------------------------------------------------------------------------- SMTP servers
def _need_probe(settings: Settings, level: str, what: str) -> None:
    if PROBE_LEVELS[level] > settings.probe:
        pytest.skip(f"{what} needs --mail-probe={level} or above (this run: --mail-probe={settings.probe})")


def _endpoint(subject: Subject, d: DomainDns | None) -> SmtpEndpoint:
    pref = None
    if d is not None:
        pref = next((t.preference for t in d.mx_targets if t.name == subject.name), None)
    return SmtpEndpoint(subject.domain, subject.name or subject.ip, subject.ip, subject.port, pref)


def _session_keys(subject: Subject, settings: Settings) -> list[str]:
    return [endpoint_key(subject.name or subject.ip, subject.ip, subject.port)]


def _envelope_keys(subject: Subject, settings: Settings) -> list[str]:
    return [f"{subject.domain}|{k}" for k in _session_keys(subject, settings)]


@pytest.fixture
def smtp_endpoint(
    request: pytest.FixtureRequest, _mailspec_subject: Subject, _mailspec_kind_smtp: None
) -> SmtpEndpoint:
    """One SMTP server under test (:class:`mailspec.facts.SmtpEndpoint`: domain, host, address, port,
    MX preference): every MX host at each of its addresses on --mail-smtp-port, or each --mail-server
    (one test per endpoint)."""
    settings = settings_of(request.config)
    d = fact(request.config, DomainDns, _mailspec_subject.domain) if not settings.servers else None
    return _endpoint(_mailspec_subject, d)


def _blocked(config: pytest.Config, session: SmtpSession) -> None:
    """A session that could not connect while no SMTP server of the run took a connection: the
    probe's own network blocks SMTP (could not test, said once in the summary)."""
    if session.connect_error:
        why = survey_of(config).smtp_blocked()
        if why is not None:
            raise Indeterminate(f"could not test: {why}")


@pytest.fixture
@reads(SmtpSession, _session_keys)
def smtp_session(request: pytest.FixtureRequest, smtp_endpoint: SmtpEndpoint) -> SmtpSession:
    """The read-only session with the endpoint under test (:class:`mailspec.facts.SmtpSession`): the
    greeting, EHLO and its keywords, STARTTLS, the TLS handshake and the certificates presented, EHLO
    again, and a fresh session's HELO and unknown command; ``transcript`` has every line.
    Needs --mail-probe=connect or above."""
    _need_probe(settings_of(request.config), "connect", "the SMTP session")
    session = fact(request.config, SmtpSession, smtp_endpoint.key)
    _blocked(request.config, session)
    return session


@pytest.fixture
@reads(SmtpEnvelope, _envelope_keys)
def smtp_envelope(
    request: pytest.FixtureRequest, smtp_endpoint: SmtpEndpoint, smtp_session: SmtpSession
) -> SmtpEnvelope:
    """The envelope probes of the domain under test at the endpoint (:class:`mailspec.facts.SmtpEnvelope`):
    ``MAIL FROM:<>``, RCPT for postmaster@, abuse@, hostmaster@, the SOA RNAME, ``<Postmaster>``,
    a mixed-case postmaster, a random unknown local part, the relay test; VRFY and EXPN. Never DATA.
    Needs --mail-probe=envelope or above."""
    _need_probe(settings_of(request.config), "envelope", "the envelope probes")
    return fact(request.config, SmtpEnvelope, smtp_endpoint.envelope_key)


@pytest.fixture
@reads(SmtpIntrusive, _envelope_keys)
def smtp_intrusive(
    request: pytest.FixtureRequest, smtp_endpoint: SmtpEndpoint, smtp_session: SmtpSession
) -> SmtpIntrusive:
    """The deliberate protocol violations sent to the endpoint, after every other probe of it
    (:class:`mailspec.facts.SmtpIntrusive`): early talking, unauthorised pipelining, STARTTLS
    injection, legacy TLS. Needs --mail-probe=intrusive."""
    _need_probe(settings_of(request.config), "intrusive", "the intrusive probes")
    return fact(request.config, SmtpIntrusive, smtp_endpoint.envelope_key)


@pytest.fixture
@reads(MtaStsFetch)
def published_tls(request: pytest.FixtureRequest, smtp_endpoint: SmtpEndpoint) -> PublishedTls:
    """What the endpoint's domain publishes about TLS to it, as a sender reads it
    (:class:`mailspec.facts.published.PublishedTls`): the mode of the MTA-STS policy whose ``mx``
    patterns cover the MX host (``.enforced``: authenticated TLS is a must there), or no policy, with
    ``.why`` in words. Never "could not test": an unanswered lookup reads as nothing published, and
    ``.why`` says so. Needs --mail-probe=connect or above (the policy is fetched over HTTPS)."""
    config = request.config
    _need_probe(settings_of(config), "connect", "the SMTP session")
    e = smtp_endpoint
    if not e.domain or e.host == e.ip:
        return PublishedTls(e.domain, e.host, why=f"{e} is named by an address: no MTA-STS policy names it")
    try:
        survey = survey_of(config).get(MtaStsSurvey, e.domain)
    except EngineError as exc:
        return PublishedTls(
            e.domain, e.host, why=f"the MTA-STS record could not be looked up ({exc})", unknown=True
        )

    def fetched() -> MtaStsFetch | None:
        try:
            return survey_of(config).get(MtaStsFetch, e.domain)
        except EngineError as exc:
            return MtaStsFetch(e.domain, "", "", 0, "", 0.0, 0, failure="timeout", error=str(exc))

    return published_tls_of(e.domain, e.host, survey, fetched)


@pytest.fixture
def mx_endpoints(request: pytest.FixtureRequest, mail_domain: str) -> list[SmtpEndpoint]:
    """Every SMTP endpoint of the domain under test (its MX hosts at each address, or the
    --mail-servers), with MX preferences, in preference order."""
    config = request.config
    settings = settings_of(config)
    d = fact(config, DomainDns, mail_domain) if not settings.servers else None
    subjects = subjects_for(config, BY_NAME["smtp"], mail_domain)
    endpoints = [_endpoint(s, d) for s in subjects if s.error is None and s.skip is None]
    # (in MX preference order, then by name and address: the DNS answer's order varies between runs)
    return sorted(endpoints, key=lambda e: (e.preference if e.preference is not None else -1, e.host, e.ip))


@pytest.fixture(scope="session")
def mail_trust_store(pytestconfig: pytest.Config) -> bytes:
    """The PEM certificates that certificate chains are checked against: --mail-ca, else the
    system's trust store."""
    import ssl
    from pathlib import Path

    ca = settings_of(pytestconfig).ca
    paths = [ca] if ca is not None else []
    if not paths:
        verify = ssl.get_default_verify_paths()
        paths = [Path(p) for p in (verify.cafile, verify.openssl_cafile) if p]
        paths += [Path("/etc/ssl/certs/ca-certificates.crt"), Path("/etc/pki/tls/certs/ca-bundle.crt")]
    for path in paths:
        try:
            return path.read_bytes()
        except OSError:
            continue
    raise Indeterminate("could not test: no trust store found (pass --mail-ca=PATH)")


@pytest.fixture
def smtp_connect(request: pytest.FixtureRequest, smtp_endpoint: SmtpEndpoint) -> Iterator[SmtpConnector]:
    """Connections to the endpoint under test for dialogues of your own, in async tests
    (pytest-asyncio): ``async with smtp_connect() as smtp:`` gives a greeted :class:`aiosmtplib.SMTP`
    (EHLO is yours to send) and sends QUIT at the end. The survey's safety holds: every operation is
    bounded by --mail-timeout, DATA, BDAT and sending a message raise before anything is sent, and a
    connection still open when the test ends is closed, and the two connections per server at once
    count yours too (a connection waits for a free slot). Needs --mail-probe=connect or above."""
    settings = settings_of(request.config)
    _need_probe(settings, "connect", "smtp_connect")
    if not smtp_endpoint.ip:
        raise Indeterminate(f"could not test: {smtp_endpoint.host} has no address")
    connector = SmtpConnector(
        smtp_endpoint.ip,
        smtp_endpoint.port,
        settings.timeout,
        settings.probe_name,
        survey_of(request.config).smtp,  # (its slots: two connections at once, the survey's included)
    )
    yield connector
    connector.close_all()


# --------------------------------------------------------------------------------- outbound identity
@pytest.fixture
def outbound_ip(
    request: pytest.FixtureRequest, _mailspec_subject: Subject, _mailspec_kind_outbound: None
) -> OutboundIp:
    """One address the domain sends mail from (:class:`mailspec.facts.OutboundIp`): each
    --mail-outbound, or, *assumed*, each MX address (one test per address)."""
    s = _mailspec_subject
    return OutboundIp(s.domain, s.ip, s.name, s.assumed, s.port or settings_of(request.config).smtp_port)


@pytest.fixture
@reads(ReverseDns, lambda s, _: [s.ip])
def reverse_dns(request: pytest.FixtureRequest, outbound_ip: OutboundIp) -> ReverseDns:
    """The outbound address's PTR names and their own addresses (:class:`mailspec.facts.ReverseDns`)."""
    return fact(request.config, ReverseDns, outbound_ip.ip)


@pytest.fixture
def helo_names(request: pytest.FixtureRequest, outbound_ip: OutboundIp) -> list[tuple[str, HostAddresses]]:
    """The names the outbound server gives in HELO/EHLO, each with its addresses: every
    --mail-helo-name, or, *assumed*, the banner and EHLO names of the MX at that address (which needs
    --mail-probe=connect or above)."""
    config = request.config
    settings = settings_of(config)
    names = list(settings.helo_names)
    if not names:
        if PROBE_LEVELS["connect"] > settings.probe:
            pytest.skip(
                "no HELO name known: pass --mail-helo-name, or let mailspec read the MX banner "
                f"(--mail-probe=connect or above; this run: --mail-probe={settings.probe})"
            )
        if why := probe_refusal(settings, outbound_ip.domain, outbound_ip.host, outbound_ip.ip):
            pytest.skip(f"no HELO name known: the MX banner is not read ({why}); pass --mail-helo-name")
        host = outbound_ip.host or outbound_ip.ip
        session = fact(config, SmtpSession, endpoint_key(host, outbound_ip.ip, outbound_ip.smtp_port))
        _blocked(config, session)
        names = list(dict.fromkeys(n for n in _banner_names(session) if n))
        if not names:
            raise Indeterminate(
                f"could not test: no banner or EHLO name from {session.endpoint} "
                f"({session.connect_error or 'no greeting'}); pass --mail-helo-name"
            )
    survey = survey_of(config)
    survey.prefetch((HostAddresses, n) for n in names if "." in n and not n.startswith("["))
    return [(n, fact(config, HostAddresses, n)) for n in names]


def _banner_names(session: SmtpSession) -> list[str]:
    out = []
    if session.ehlo is not None and session.ehlo.code == 250 and session.ehlo.lines:
        out.append(session.ehlo.lines[0].split(" ", 1)[0].lower().rstrip("."))
    if session.greeting is not None and session.greeting.code == 220 and session.greeting.lines:
        out.append(session.greeting.lines[0].split(" ", 1)[0].lower().rstrip("."))
    return out


@pytest.fixture
@reads(
    IdentProbe,
    lambda s, settings: [] if s.assumed and probe_refusal(settings, s.domain, s.name, s.ip) else [s.ip],
)
def ident_probe(request: pytest.FixtureRequest, outbound_ip: OutboundIp) -> IdentProbe:
    """A TCP connection to port 113 of the outbound address (:class:`mailspec.facts.IdentProbe`):
    open, refused or unanswered. Needs --mail-probe=connect or above."""
    settings = settings_of(request.config)
    _need_probe(settings, "connect", "the IDENT probe")
    if outbound_ip.assumed and (
        why := probe_refusal(settings, outbound_ip.domain, outbound_ip.host, outbound_ip.ip)
    ):
        pytest.skip(why)
    return fact(request.config, IdentProbe, outbound_ip.ip)


@pytest.fixture
@reads(DnsblListing, lambda s, settings: [f"{s.ip}|{z}" for z in settings.dnsbls])
def dnsbl_listings(request: pytest.FixtureRequest, outbound_ip: OutboundIp) -> dict[str, DnsblListing]:
    """The outbound address looked up in every --mail-dnsbl list: zone -> its answer."""
    zones = settings_of(request.config).dnsbls
    return {z: fact(request.config, DnsblListing, f"{outbound_ip.ip}|{z}") for z in zones}


@pytest.fixture
@reads(DnsblZone, lambda s, settings: list(settings.dnsbls))
def dnsbl_zones(request: pytest.FixtureRequest, mail_domain: str) -> dict[str, DnsblZone]:
    """Each --mail-dnsbl list's RFC 5782 test entries: zone -> its answers."""
    zones = settings_of(request.config).dnsbls
    return {z: fact(request.config, DnsblZone, z) for z in zones}


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


# ---------------------------------------------------------------------------- sender authentication
@pytest.fixture
@reads(SpfTree)
def spf_tree(request: pytest.FixtureRequest, mail_domain: str) -> SpfTree:
    """The domain's SPF record and the whole include/redirect tree below it, every branch walked
    (:class:`mailspec.facts.spf.SpfTree`): each term with its DNS cost, the total against the limit
    of ten, the void lookups and the terms that caused them, and every lookup that did not answer."""
    return fact(request.config, SpfTree, mail_domain)


@pytest.fixture
@reads(SpfResult, lambda s, _: [f"{s.ip}|{s.domain}"] if s.ip else [])
def spf_outbound(request: pytest.FixtureRequest, outbound_ip: OutboundIp) -> SpfResult:
    """RFC 7208 check_host() for the outbound address and the domain, as a receiver evaluates the
    MAIL FROM identity ``postmaster@<domain>`` (:class:`mailspec.facts.spf.SpfResult`: ``.result`` is
    pass, fail, softfail, neutral, none, permerror or temperror, ``.trail`` the terms it went
    through). One test per outbound address (--mail-outbound, else the assumed MX addresses)."""
    return fact(request.config, SpfResult, f"{outbound_ip.ip}|{outbound_ip.domain}")


@pytest.fixture
def spf_helo(
    request: pytest.FixtureRequest, outbound_ip: OutboundIp, helo_names: list[tuple[str, HostAddresses]]
) -> list[tuple[str, SpfTree, SpfResult]]:
    """For each HELO name of the outbound address, a tuple ``(name, tree, result)``: the name's own
    SPF tree (:class:`mailspec.facts.spf.SpfTree`) and check_host() of the address with the HELO
    identity (:class:`mailspec.facts.spf.SpfResult`, RFC 7208 §2.3). One test per outbound address;
    an empty list when no HELO host name is known (pass --mail-helo-name)."""
    config = request.config
    names = [n for n, _ in helo_names if "." in n and not n.startswith("[")]
    survey = survey_of(config)
    survey.prefetch([*((SpfTree, n) for n in names), *((SpfResult, f"{outbound_ip.ip}|{n}") for n in names)])
    return [(n, fact(config, SpfTree, n), fact(config, SpfResult, f"{outbound_ip.ip}|{n}")) for n in names]


@pytest.fixture
def spf_helo_known(
    request: pytest.FixtureRequest, outbound_ip: OutboundIp
) -> list[tuple[str, SpfTree, SpfResult]]:
    """``spf_helo`` for the names given with --mail-helo-name, for a configured outbound address; an
    empty list otherwise (an assumed address, or a HELO name only read off the MX banner: an
    assumption no verdict of the address's SPF should rest on; helo.spf judges those names)."""
    if outbound_ip.assumed or not settings_of(request.config).helo_names:
        return []
    try:
        value: list[tuple[str, SpfTree, SpfResult]] = request.getfixturevalue("spf_helo")
    except (Indeterminate, pytest.skip.Exception):
        return []
    return value


@pytest.fixture
@reads(DmarcSurvey)
def dmarc_survey(request: pytest.FixtureRequest, mail_domain: str) -> DmarcSurvey:
    """What the DNS says of the domain's DMARC policy (:class:`mailspec.facts.DmarcSurvey`):
    ``_dmarc.<domain>``, the RFC 9989 tree walk's names, the RFC 7489 organisational domain's record,
    and each report destination's authorisation record and MX."""
    return fact(request.config, DmarcSurvey, mail_domain)


def _report_keys(subject: Subject, settings: Settings) -> list[str]:
    return [] if settings.servers else [f"{subject.domain}|{settings.smtp_port}"]


@pytest.fixture
@reads(ReportRcpts, _report_keys)
def dmarc_report_rcpts(request: pytest.FixtureRequest, mail_domain: str) -> ReportRcpts:
    """Each mailto: report address of the domain's DMARC record asked for at its domain's MX
    (:class:`mailspec.facts.smtp.ReportRcpts`): EHLO, ``MAIL FROM:<>``, RCPT, RSET, QUIT; never DATA.
    Below --mail-probe=envelope, and with --mail-server (the run probes only the servers it names),
    nothing is sent, and ``error`` says why."""
    settings = settings_of(request.config)
    if PROBE_LEVELS["envelope"] > settings.probe:
        why = f"RCPT needs --mail-probe=envelope or above (this run: --mail-probe={settings.probe})"
        return ReportRcpts(mail_domain, error=why)
    if settings.servers:
        return ReportRcpts(mail_domain, error="--mail-server names the only SMTP servers this run probes")
    try:
        return survey_of(request.config).get(ReportRcpts, f"{mail_domain}|{settings.smtp_port}")
    except EngineError as exc:  # (the DNS verdict stands: no "could not test" for the whole check)
        return ReportRcpts(mail_domain, error=f"the survey ran out of time ({exc})")


@pytest.fixture
def dkim_selector(_mailspec_subject: Subject, _mailspec_kind_dkim: None) -> str:
    """One DKIM selector of the domain under test (one test per --mail-dkim-selector; selectors
    cannot be discovered, so without one the DKIM key checks skip)."""
    return _mailspec_subject.name


def _dkim_key(subject: Subject, settings: Settings) -> list[str]:
    return [f"{subject.domain}|{','.join(settings.selectors_for(subject.domain))}"]


@pytest.fixture
@reads(DkimSurvey, _dkim_key)
def dkim_survey(request: pytest.FixtureRequest, mail_domain: str) -> DkimSurvey:
    """The domain's ``_domainkey`` node and the key record of each of its configured selectors
    (:class:`mailspec.facts.DkimSurvey`): raw DNS answers; ``.selector("s1")`` is one selector's TXT
    answer, to read with :func:`mailspec.records.dkim.parse_dkim_key`."""
    settings = settings_of(request.config)
    return fact(request.config, DkimSurvey, f"{mail_domain}|{','.join(settings.selectors_for(mail_domain))}")


@pytest.fixture
@reads(MtaStsSurvey)
def mtasts_survey(request: pytest.FixtureRequest, mail_domain: str) -> MtaStsSurvey:
    """The domain's ``_mta-sts`` and ``_smtp._tls`` (TLS-RPT) records and the policy host's addresses
    (:class:`mailspec.facts.MtaStsSurvey`): raw DNS answers, to read with :mod:`mailspec.records.mtasts`
    and :mod:`mailspec.records.tlsrpt`."""
    return fact(request.config, MtaStsSurvey, mail_domain)


@pytest.fixture
@reads(MtaStsFetch)
def mtasts_policy(request: pytest.FixtureRequest, mail_domain: str) -> MtaStsFetch:
    """The MTA-STS policy file as fetched over HTTPS (:class:`mailspec.facts.MtaStsFetch`): status,
    certificate, content type and body; certificates checked against --mail-ca or the system's
    store, no redirect followed, size and time bounded. Needs --mail-probe=connect or above."""
    _need_probe(settings_of(request.config), "connect", "the MTA-STS policy fetch")
    return fact(request.config, MtaStsFetch, mail_domain)


@pytest.fixture
def dmarc_record(dmarc_survey: DmarcSurvey) -> DmarcFound:
    """The DMARC record as discovered (:class:`mailspec.facts.auth.DmarcFound`), the way RFC 9989 finds it
    (its DNS tree walk; ``dmarc_survey.discover("rfc7489")`` gives RFC 7489's Public Suffix List
    reading): ``.record`` is the parsed record that applies (``assert dmarc_record.record.p ==
    "reject"``; for a record found at the organisational domain, ``sp`` is the subdomains' policy),
    or None; ``.policy_domain`` and ``.name`` say where it was found, ``.records_at_name`` what was
    published there. Could not test (an error) when an answer it depends on did not come."""
    found = dmarc_survey.discover("rfc9989")
    if found.error:
        raise Indeterminate(found.error)
    return found


# ------------------------------------------------------------------------- host checks (testinfra)
#: (host id, MTA, configuration) -> the MTA facts read there: once per host and configuration per run
_MTA_READ = pytest.StashKey[dict[tuple[str, str, str, int], MtaConfig]]()


@pytest.fixture
def mta_config(
    request: pytest.FixtureRequest, host: Any, _mailspec_subject: Subject, _mailspec_kind_host: None
) -> MtaConfig:
    """The MTA of the testinfra host under test (:class:`mailspec.facts.host.MtaConfig`), as its own
    tools report it: Postfix's effective settings (``postconf -x``, ``postconf -n``), its master.cf
    services (``postconf -M``), where postmaster and abuse go (``postmap -q``, ``postalias -q``), or
    Exim's (``exim -bP``, ``exim -bt``); the host's listening sockets, addresses, TLS files and packet
    filter. Read once per host and configuration per run (``--mail-mta``, ``--mail-mta-config``); an
    MTA that cannot be read at all makes the test an error (could not test), never a failure."""
    from mailspec.hostside import read_mta
    from mailspec.subjects import host_id

    settings = settings_of(request.config)
    name = host_id(host) or "host"
    cache = request.config.stash.setdefault(_MTA_READ, {})
    key = (name, settings.mta, settings.mta_config or "", settings.smtp_port)
    if key not in cache:
        cache[key] = read_mta(host, name, mta=settings.mta, config=settings.mta_config,
                              domains=settings.domains, timeout=settings.timeout,
                              port=settings.smtp_port)  # fmt: skip
    found = cache[key]
    if found.problem:
        raise Indeterminate(f"could not test: {found.problem}")
    return found


@pytest.fixture
def mta_domain(
    _mailspec_subject: Subject, _mailspec_kind_host_domain: None, _mailspec_kind_host: None
) -> str:
    """The mail domain a host check judges the host for (one test per host and domain), or "" when
    no --mail-domain was given (the check then judges what the host alone says)."""
    return _mailspec_subject.domain


@pytest.fixture
@reads(DomainDns, lambda s, _: [s.domain] if s.domain else [])
def mta_domain_dns(request: pytest.FixtureRequest, mta_domain: str) -> DomainDns | None:
    """What the resolvers say of :func:`mta_domain` (None without a domain)."""
    return fact(request.config, DomainDns, mta_domain) if mta_domain else None


@pytest.fixture
def mta_mx_hosts(
    request: pytest.FixtureRequest, mta_config: MtaConfig, mta_domain_dns: DomainDns | None
) -> list[MxTarget] | None:
    """The MX hosts of :func:`mta_domain` that are this host (an MX address among the host's own, or
    the MTA's host name), with their addresses; None without a domain."""
    if mta_domain_dns is None:
        return None
    mine = this_host_mx(mta_config, mta_domain_dns)
    # (the terminal summary sets these beside the outside checks of the same servers)
    request.node.user_properties.extend(("mailspec_mx", t.name) for t in mine)
    return mine


@pytest.fixture
def mta_outbound_ptr(
    request: pytest.FixtureRequest, mta_config: MtaConfig, mta_mx_hosts: list[MxTarget] | None
) -> list[ReverseDns] | None:
    """The reverse DNS of the host's outbound addresses, as the survey saw it: ``--mail-outbound``
    addresses that are the host's own, else Postfix's ``smtp_bind_address``/``smtp_bind_address6``
    (Exim: the ``interface`` addresses of its smtp transports), else (assumed) the MX addresses of this
    host; None without a domain."""
    if mta_mx_hosts is None:
        return None
    settings = settings_of(request.config)
    own = set(mta_config.addresses)
    ips = [ip for ip in settings.outbound if ip in own]
    if not ips and mta_config.mta == "exim":
        smtp = [t for t in mta_config.transports.values() if t.get("driver") == "smtp"]
        ips = list(
            dict.fromkeys(a for t in smtp for a in exim_list(t.get("interface", "")) if looks_like_ip(a))
        )
    if not ips:
        bound = (mta_config.values.get(n, "") for n in ("smtp_bind_address", "smtp_bind_address6"))
        ips = [ip for ip in bound if ip]
    if not ips:
        ips = list(dict.fromkeys(ip for t in mta_mx_hosts for ip in t.ips))
    return [fact(request.config, ReverseDns, ip) for ip in ips]
