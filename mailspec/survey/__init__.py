"""The survey: all of mailspec's network I/O, on the engine's event loop in a background thread.

Checks ask for facts by kind and key (``survey.get(DomainDns, "example.com")``); each fact is fetched
once per run, concurrently with every other that is wanted at the same time (:meth:`Survey.prefetch`),
and kept with its evidence. A fact kind nobody asks for is never fetched: a run of MX checks alone
asks no name server directly. The loop is mailspec's own, so users' pytest-asyncio tests are unaffected.

While a prefetch runs, :attr:`Survey.progress` (when set) is told how far it has got, from the waiting
thread; afterwards :meth:`Survey.unreachable` says whether the resolvers answered at all, and if none
did, why (as the operating system said it), so that a run that could test nothing says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from mailspec.facts.auth import DkimSurvey, DmarcSurvey, MtaStsSurvey
from mailspec.facts.base import encode
from mailspec.facts.dns import DnsAnswer, DomainDns, ZoneProbe
from mailspec.facts.mtasts import MtaStsFetch, policy_host, policy_url
from mailspec.facts.smtp import (
    DnsblListing,
    DnsblZone,
    HostAddresses,
    IdentProbe,
    ReportRcpt,
    ReportRcpts,
    ReverseDns,
    SmtpControl,
    SmtpEnvelope,
    SmtpIntrusive,
    SmtpSession,
    endpoint_key,
)
from mailspec.facts.spf import SpfResult, SpfTree
from mailspec.survey.auth import MAX_REPORT_URIS, survey_dkim, survey_dmarc, survey_mtasts
from mailspec.survey.dns import Budget, DnsClient, DnsEndpoint
from mailspec.survey.domain import BUDGET_TIMEOUTS, Consent, probe_zone, survey_domain
from mailspec.survey.engine import Engine, EngineError, Liveness
from mailspec.survey.https import MAX_BYTES, fetch_mta_sts_policy
from mailspec.survey.progress import Progress
from mailspec.survey.smtp import SmtpConfig, SmtpProber
from mailspec.survey.spf import Lookup, check_host, spf_tree

__all__ = [
    "FACT_KINDS",
    "DnsClient",
    "DnsEndpoint",
    "Engine",
    "EngineError",
    "FactKind",
    "Progress",
    "SmtpConfig",
    "Survey",
]

F = TypeVar("F")

#: facts fetched at once, at most (each with its own budget, whose clock starts when it is admitted):
#: more made the burst of questions overrun a resolver on a loaded 2-core machine (bench/dns_survey.py
#: at 128 and 256: answers later than the timeout), and no verdict may depend on machine speed
CONCURRENCY = 64
#: how long a fact holds its admission slot, at most: its first questions (the burst) are out by then;
#: one that still waits (on a silent server, for its budget) lets the next in, so that a hundred
#: black-holed domains do not stall the survey of the rest for a timeout each (it changes when facts
#: start, never what they find: each fact's budget is its own)
ADMIT_HOLD = 1.0
#: seconds between two calls of the progress hook while a prefetch runs
PROGRESS_EVERY = 0.25
#: the channels a resolver is asked over (the client's liveness of each configured resolver)
RESOLVER_CHANNELS = ("dns-udp", "dns-tcp")


@dataclass(frozen=True)
class FactKind:
    """One kind of fact: its name (the memo's and the hand-over's key) and how it is fetched."""

    name: str
    fact: type
    fetch: Callable[[Survey, str], Awaitable[Any]]
    #: the kinds (of the same key) its fetch reads, fetched before it
    after: tuple[type, ...] = ()
    #: the lowest --mail-probe level that may fetch it (dns, connect, envelope, intrusive)
    probe: str = "dns"


async def _fetch_dns(s: Survey, domain: str) -> DomainDns:
    return await survey_domain(s.client, domain, warm_parent=s.wanted(ZoneProbe, domain))


async def _fetch_zone_probe(s: Survey, domain: str) -> ZoneProbe:
    d = await s.fact(DomainDns, domain)
    return await probe_zone(s.client, d, s.consent)


def _split(key: str) -> tuple[str, str, str, int]:
    """``domain|host|ip|port`` -> its parts."""
    domain, host, ip, port = key.split("|")
    return domain, host, ip, int(port)


async def _fetch_session(s: Survey, key: str) -> SmtpSession:
    host, ip, port = key.split("|")
    # each of its connections bounded from when it has its slot (the wait for one is bounded by the
    # budgets of the probes ahead of it): connect, greeting, EHLO, STARTTLS, the handshake, EHLO, QUIT
    return await s.smtp.session(host, ip, int(port), budget=8 * s.timeout + 5.0)


async def _fetch_envelope(s: Survey, key: str) -> SmtpEnvelope:
    domain, host, ip, port = _split(key)
    # after the read-only session: a server that took no connection or sent no greeting then costs
    # one timeout, not two (and a 554 greeting says the probe is refused before another is opened)
    session = await s.fact(SmtpSession, f"{host}|{ip}|{port}")
    g = session.greeting
    if session.connect_error or g is None or not g.replied:
        why = session.connect_error or (g.error if g is not None else "no greeting")
        return SmtpEnvelope(
            domain, host, ip, port, error=f"could not connect: {why}", transcript=session.transcript
        )
    if g.code == 554:
        why = f"the server greets this probe with {g.reply}: it refuses this vantage point"
        return SmtpEnvelope(domain, host, ip, port, refused=why, transcript=session.transcript)
    d = await s.fact(DomainDns, domain)
    soa = d.zone_soa
    rname = soa.mailbox if soa is not None else ""
    if rname.rpartition("@")[2].lower() != domain.lower():
        rname = ""  # a mailbox of another domain is asked at that domain's own MX (dns.soa.rname)
    # bounded from when its connection slot is taken (the queue for a shared MX is politeness, not
    # the server's slowness): each of its ~20 operations within the timeout, and the 4yz retries
    # (two pauses a transaction at most, MAIL and its recipients, in three transactions, and one
    # after a 421 greeting)
    budget = 24 * s.timeout + 7 * s.smtp.config.retry_delay + 5.0
    return await s.smtp.envelope(domain, host, ip, port, rname=rname, budget=budget)


async def _fetch_intrusive(s: Survey, key: str) -> SmtpIntrusive:
    domain, host, ip, port = _split(key)
    endpoint = f"{host}|{ip}|{port}"
    session = await s.fact(SmtpSession, endpoint)
    # last on each server: after every other probe of it that this run wants (a server that punishes
    # these may refuse the probe's address for a while)
    others = [k for kind, k in s.wanted_keys(SmtpEnvelope) if k.endswith("|" + endpoint)]
    await asyncio.gather(*(s.fact(SmtpEnvelope, k) for k in others), return_exceptions=True)
    await _after_report_rcpts(s, ip, port)
    if not session.greeted:
        return SmtpIntrusive(
            host,
            ip,
            port,
            error="no session: "
            + (session.connect_error or (session.greeting.reply if session.greeting else "no greeting")),
        )

    async def run() -> SmtpIntrusive:
        return await s.bounded(s.smtp.intrusive(host, ip, port, domain, session.starttls_offered), 30,
                               f"the intrusive probes at {ip}:{port}",
                               lambda why: SmtpIntrusive(host, ip, port, error=why))  # fmt: skip

    return await s.engine.memo("smtp.intrusive-run", endpoint, run)


# -- DMARC report addresses ----------------------------------------------------------------------
#: (address, rua|ruf, MX host, its address, or why none is asked)
_Target = tuple[str, str, str, str, str]


def _report_addresses(dmarc: DmarcSurvey) -> list[tuple[str, str, str]]:
    """(address, tag, its domain) of each mailto: report URI of the records either reading applies,
    rua first, at most :data:`MAX_REPORT_URIS` a record (as the checks read them), each address once."""
    out: dict[str, tuple[str, str, str]] = {}
    for reading in ("rfc7489", "rfc9989"):
        record = dmarc.discover(reading).record
        if record is None:
            continue
        tagged = [("rua", u) for u in record.rua] + [("ruf", u) for u in record.ruf]
        for tag, uri in tagged[:MAX_REPORT_URIS]:
            if uri.is_mailto and uri.host and uri.address:
                out.setdefault(uri.address.lower(), (uri.address, tag, uri.host))
    return list(out.values())


async def _report_target(
    s: Survey, domain: str, port: int, address: str, tag: str, report_domain: str
) -> _Target:
    """Where the report address is asked: the first address of the report domain's most preferred
    MX host that has one (its implicit MX, the domain's own address, without MX records). A server
    that is an endpoint of this run is asked after its read-only session, and not at all when that
    got no 220 greeting (as its envelope probes are not): a silent server or a tarpit costs one
    timeout, not two, and a connection it still counts is not joined by a third."""
    dmarc = await s.fact(DmarcSurvey, domain)
    mx = dmarc.lookups.get(report_domain, "MX")
    if mx is None or not mx.definite:
        why = mx.problem if mx is not None else dmarc.error or f"{report_domain} MX was not asked"
        return address, tag, "", "", f"the MX of {report_domain} is unknown ({why})"
    ips: list[tuple[str, str]] = []
    if mx.records:
        ranked = sorted(
            (r for r in mx.records if r.target),
            key=lambda r: (int(r.data.split()[0]) if r.data.split()[0].isdigit() else 65536, r.target),
        )
        if not ranked:
            return address, tag, "", "", f"{report_domain} has a null MX: it takes no mail"
        hosts = await asyncio.gather(*(s.fact(HostAddresses, r.target) for r in ranked))
        ips = [(h.name, ip) for h in hosts for ip in h.ips[:1]]
    else:
        for rdtype in ("A", "AAAA"):  # (asked by the DMARC survey for a report domain without MX)
            answer = dmarc.lookups.get(report_domain, rdtype)
            if answer is not None:
                ips += [(report_domain, r.data) for r in answer.records if r.rdtype == rdtype]
    if not ips:
        return address, tag, "", "", f"no MX host of {report_domain} has an address"
    host, ip = ips[0]
    cfg = s.smtp.config
    # (consent for a non-public address: given for the report domain; the domain under test's covers
    # only its own names, which it controls anyway: a zone's DMARC record must not be able to aim the
    # probe at another party's private address)
    own = report_domain == domain or report_domain.endswith("." + domain)
    refused = cfg.refused(report_domain, host, ip)
    if refused and own:
        refused = cfg.refused(domain, host, ip)
    if refused:
        return address, tag, host, ip, refused
    endpoint = endpoint_key(host, ip, port)
    if s.wanted(SmtpSession, endpoint):
        session = await s.fact(SmtpSession, endpoint)
        if not session.greeted:
            g = session.greeting
            why = session.connect_error or (g.reply if g is not None else "no greeting")
            return address, tag, host, ip, f"the read-only session with {host} got no 220 greeting ({why})"
    return address, tag, host, ip, ""


async def _report_targets(s: Survey, key: str) -> list[_Target]:
    """``domain|port``: where each report address of the domain's DMARC records is asked (DNS only,
    memoised: the intrusive probes of a server wait for the report probes that go to it)."""

    async def find() -> list[_Target]:
        domain, _, port = key.rpartition("|")
        dmarc = await s.fact(DmarcSurvey, domain)
        found = _report_addresses(dmarc)
        return list(await asyncio.gather(*(_report_target(s, domain, int(port), *a) for a in found)))

    result: list[_Target] = await s.engine.memo("smtp.report-targets", key, find)
    return result


async def _fetch_report_rcpts(s: Survey, key: str) -> ReportRcpts:
    """``domain|port``: each report address asked at its domain's MX, on ``port``; an address (at one
    server) is asked once per run, however many domains send their reports to it."""
    domain, _, port_text = key.rpartition("|")
    port = int(port_text)
    dmarc = await s.fact(DmarcSurvey, domain)
    if dmarc.error:
        return ReportRcpts(domain, error=f"the DMARC records are not known: {dmarc.error}")
    targets = await _report_targets(s, key)

    async def one(address: str, tag: str, host: str, ip: str, why: str) -> ReportRcpt:
        if why:
            return ReportRcpt(address, tag, host, ip, port if ip else 0, untried=why)

        async def run() -> ReportRcpt:
            return await s.smtp.report_rcpt(address, tag, host, ip, port)

        probe: ReportRcpt = await s.engine.memo("smtp.report-rcpt", f"{address.lower()}|{ip}|{port}", run)
        return probe if probe.tag == tag else replace(probe, tag=tag)

    return ReportRcpts(domain, tuple(await asyncio.gather(*(one(*t) for t in targets))))


async def _after_report_rcpts(s: Survey, ip: str, port: int) -> None:
    """Wait for every report-address probe of this run that goes to ``ip``: the intrusive probes of a
    server come after every other probe of it."""
    keys = [k for _, k in s.wanted_keys(ReportRcpts) if k.endswith(f"|{port}")]
    found = await asyncio.gather(*(_report_targets(s, k) for k in keys), return_exceptions=True)
    mine = [
        k
        for k, targets in zip(keys, found, strict=True)
        if not isinstance(targets, BaseException) and any(t[3] == ip and not t[4] for t in targets)
    ]
    await asyncio.gather(*(s.fact(ReportRcpts, k) for k in mine), return_exceptions=True)


async def _fetch_ident(s: Survey, ip: str) -> IdentProbe:
    # (an ICMP "host unreachable" on port 113 stays "could not test": it may be a REJECT by the
    # host's filter, or a filter on this side of the path, and nothing here tells which)
    return await s.smtp.ident(ip)


async def _fetch_control(s: Survey, key: str) -> SmtpControl:
    host, _, port_text = key.rpartition("|")
    port = int(port_text)
    try:
        ips = [str(ipaddress.ip_address(host))]
    except ValueError:
        found = await s.fact(HostAddresses, host)
        ips = list(found.ips[:2])
        if not ips:
            return SmtpControl(host, port, error=f"its name has no address ({found.problem or 'none'})")
    tried = SmtpControl(host, port)
    for ip in ips:  # (a name's first two addresses, as a sender would fall back)
        tried = await s.smtp.control(host, ip, port)
        if tried.reached:
            break
    return tried


def _control_failed(key: str, why: str) -> SmtpControl:
    host, _, port = key.rpartition("|")
    return SmtpControl(host, int(port), error=why)


async def _fetch_host(s: Survey, name: str) -> HostAddresses:
    budget = Budget(BUDGET_TIMEOUTS * s.timeout, f"the addresses of {name}")
    a, aaaa = await asyncio.gather(s.client.query(name, "A", budget), s.client.query(name, "AAAA", budget))
    return HostAddresses(name, a, aaaa)


async def _fetch_rdns(s: Survey, ip: str) -> ReverseDns:
    import dns.reversename

    budget = Budget(BUDGET_TIMEOUTS * s.timeout, f"the reverse DNS of {ip}")
    ptr = await s.client.query(dns.reversename.from_address(ip).to_text(), "PTR", budget)
    names = list(dict.fromkeys(r.target for r in ptr.records if r.target))[:10]
    forward = await asyncio.gather(*(s.fact(HostAddresses, n) for n in names))
    return ReverseDns(ip, ptr, tuple(forward))


async def _fetch_dnsbl_zone(s: Survey, zone: str) -> DnsblZone:
    budget = Budget(BUDGET_TIMEOUTS * s.timeout, f"the test entries of {zone}")
    listed, unlisted = await asyncio.gather(
        s.client.query(f"2.0.0.127.{zone}", "A", budget), s.client.query(f"1.0.0.127.{zone}", "A", budget)
    )
    return DnsblZone(zone, listed, unlisted)


async def _fetch_dnsbl(s: Survey, key: str) -> DnsblListing:
    import dns.reversename

    ip, zone = key.split("|")
    budget = Budget(BUDGET_TIMEOUTS * s.timeout, f"{ip} in {zone}")
    rev = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
    suffix = ".in-addr.arpa" if ":" not in ip else ".ip6.arpa"
    qname = rev.removesuffix(suffix) + "." + zone
    a = await s.client.query(qname, "A", budget)
    txt = await s.client.query(qname, "TXT", budget) if a.records else None
    return DnsblListing(ip, zone, a, txt)


# -- sender authentication --------------------------------------------------------------------
#: a sender-authentication fact's budget, in timeouts (an SPF tree is ten levels of lookups at most,
#: most of them side by side)
AUTH_TIMEOUTS = 4


def _lookup(s: Survey, budget: Budget) -> Lookup:
    def lookup(qname: str, rdtype: str) -> Awaitable[DnsAnswer]:
        return s.client.query(qname, rdtype, budget)

    return lookup


async def _fetch_spf_tree(s: Survey, name: str) -> SpfTree:
    seconds = AUTH_TIMEOUTS * s.timeout
    budget = Budget(seconds, f"the SPF records of {name}")
    return await spf_tree(name, _lookup(s, budget), timeout=seconds, rr99=True)


async def _fetch_spf_check(s: Survey, key: str) -> SpfResult:
    """``ip|domain``: check_host(ip, domain, postmaster@domain) (RFC 7208 §2.4's MAIL FROM identity;
    a HELO identity is the same with the HELO name as the domain, §2.3)."""
    ip, domain = key.split("|")
    seconds = AUTH_TIMEOUTS * s.timeout
    budget = Budget(seconds, f"SPF for {ip} and {domain}")
    return await check_host(ip, domain, f"postmaster@{domain}", _lookup(s, budget), helo=domain,
                            timeout=seconds)  # fmt: skip


async def _fetch_dmarc(s: Survey, domain: str) -> DmarcSurvey:
    return await survey_dmarc(s.client, domain, AUTH_TIMEOUTS * s.timeout)


async def _fetch_dkim(s: Survey, key: str) -> DkimSurvey:
    """``domain|s1,s2``: the domain's DKIM node and the keys of those selectors."""
    domain, _, selectors = key.partition("|")
    return await survey_dkim(
        s.client, domain, [x for x in selectors.split(",") if x], AUTH_TIMEOUTS * s.timeout
    )


async def _fetch_mtasts(s: Survey, domain: str) -> MtaStsSurvey:
    return await survey_mtasts(s.client, domain, AUTH_TIMEOUTS * s.timeout)


async def _fetch_mtasts_policy(s: Survey, domain: str) -> MtaStsFetch:
    """The policy file, from the policy host's first address (one connection at a time per host)."""
    m = await s.fact(MtaStsSurvey, domain)
    ips = m.host_ips
    port = s.https_port
    if m.txt.definite and not m.sts_records:
        # (senders fetch a policy only when the record says there is one: no connection to the host)
        unpublished = f"no v=STSv1 record at _mta-sts.{domain}: not fetched"
        return MtaStsFetch(domain, policy_host(domain), "", port, policy_url(domain), s.timeout, MAX_BYTES,
                           failure="unpublished", error=unpublished)  # fmt: skip
    if not ips:
        why = (m.host_a.problem or m.host_aaaa.problem) or f"{policy_host(domain)} has no address"
        return MtaStsFetch(domain, policy_host(domain), "", port, policy_url(domain), s.timeout, MAX_BYTES,
                           failure="connect", error=why)  # fmt: skip
    slot = s.engine.host(ips[0]).slot("https", 1)
    return await fetch_mta_sts_policy(domain, ips[0], port=port, ca_path=s.ca_path, timeout=s.timeout,
                                      slot=slot)  # fmt: skip


def _contained(fetch: Callable[[Survey, str], Awaitable[Any]], failed: Callable[[str, str], Any]) -> Any:
    """``fetch``, with nothing a server does escaping it: an exception becomes that fact's "could not
    test" (``failed(key, why)``), as in the DNS client, so that one hostile server cannot end a run."""

    async def guarded(s: Survey, key: str) -> Any:
        try:
            return await fetch(s, key)
        except Exception as exc:  # (CancelledError is no Exception: a cancelled fetch stays cancelled)
            return failed(key, f"could not test: the probe failed ({type(exc).__name__}: {exc})")

    return guarded


def _session_failed(key: str, why: str) -> SmtpSession:
    host, ip, port = key.split("|")
    return SmtpSession(host, ip, int(port), connect_error=why)


def _envelope_failed(key: str, why: str) -> SmtpEnvelope:
    domain, host, ip, port = _split(key)
    return SmtpEnvelope(domain, host, ip, port, error=why)


def _intrusive_failed(key: str, why: str) -> SmtpIntrusive:
    _domain, host, ip, port = _split(key)
    return SmtpIntrusive(host, ip, port, error=why)


def _report_rcpts_failed(key: str, why: str) -> ReportRcpts:
    return ReportRcpts(key.rpartition("|")[0], error=why)


def _ident_failed(ip: str, why: str) -> IdentProbe:
    return IdentProbe(ip, 0, "error", why)


#: every fact kind the survey knows, by its type
FACT_KINDS: dict[type, FactKind] = {
    k.fact: k
    for k in (
        FactKind("dns", DomainDns, _fetch_dns),
        FactKind("dns.zone-probe", ZoneProbe, _fetch_zone_probe, after=(DomainDns,)),
        FactKind("dns.host", HostAddresses, _fetch_host),
        FactKind("dns.rdns", ReverseDns, _fetch_rdns),
        FactKind("dnsbl.zone", DnsblZone, _fetch_dnsbl_zone),
        FactKind("dnsbl", DnsblListing, _fetch_dnsbl),
        FactKind("smtp.session", SmtpSession, _contained(_fetch_session, _session_failed), probe="connect"),
        FactKind(
            "smtp.envelope", SmtpEnvelope, _contained(_fetch_envelope, _envelope_failed), probe="envelope"
        ),
        FactKind(
            "smtp.intrusive",
            SmtpIntrusive,
            _contained(_fetch_intrusive, _intrusive_failed),
            probe="intrusive",
        ),
        FactKind(
            "smtp.report-rcpt",
            ReportRcpts,
            _contained(_fetch_report_rcpts, _report_rcpts_failed),
            probe="envelope",
        ),
        FactKind("ident", IdentProbe, _contained(_fetch_ident, _ident_failed), probe="connect"),
        FactKind("smtp.control", SmtpControl, _contained(_fetch_control, _control_failed), probe="connect"),
        FactKind("spf", SpfTree, _fetch_spf_tree),
        FactKind("spf.check", SpfResult, _fetch_spf_check),
        FactKind("dmarc", DmarcSurvey, _fetch_dmarc),
        FactKind("dkim", DkimSurvey, _fetch_dkim),
        FactKind("mtasts", MtaStsSurvey, _fetch_mtasts),
        FactKind("mtasts.policy", MtaStsFetch, _fetch_mtasts_policy, after=(MtaStsSurvey,), probe="connect"),
    )
}


def _no_consent(domain: str, name: str, ip: str) -> bool:
    return False


class _Tally:
    """How many facts of one prefetch are done, per key (counted on the loop, read from the waiting
    thread: plain integers)."""

    def __init__(self, todo: list[tuple[type, str]]) -> None:
        self.facts_total = len(todo)
        self.left = Counter(key for _, key in todo)
        self.domains_total = len(self.left)
        self.facts_done = 0
        self.domains_done = 0

    def done(self, key: str) -> None:
        self.facts_done += 1
        self.left[key] -= 1
        if self.left[key] == 0:
            self.domains_done += 1


class Survey:
    """A run's survey of mail domains: memoised, concurrent, each fact bounded by a budget."""

    #: told how far a prefetch has got, about every :data:`PROGRESS_EVERY` s while it runs and once
    #: more when it ends (``done``), always from the thread that waits for it, never the loop's
    progress: Callable[[Progress], None] | None = None

    def __init__(
        self,
        resolvers: list[DnsEndpoint],
        *,
        timeout: float = 10.0,
        dns_port: int = 53,
        consent: Consent = _no_consent,
        concurrency: int = CONCURRENCY,
        smtp: SmtpConfig | None = None,
        https_port: int = 443,
        ca_path: str | None = None,
    ) -> None:
        self.resolvers = list(resolvers)
        self.timeout = timeout
        self.dns_port = dns_port
        self.consent = consent
        self.concurrency = concurrency
        self.progress = None
        self.engine = Engine()
        self._loaded: dict[tuple[str, str], Any] = {}
        self._wanted: set[tuple[type, str]] = set()
        self._wanted_of: Counter[type] = Counter()  #: how many facts of each kind are wanted
        self._sources: list[Callable[[type, str], Any | None]] = []
        self._admit: asyncio.Semaphore | None = None
        self._client: DnsClient | None = None
        self._smtp_config = smtp or SmtpConfig(timeout=timeout)
        self._smtp: SmtpProber | None = None
        self._control_ips: set[str] = set()  #: the control servers' addresses (not servers under test)
        #: what smtp_blocked() said, and for how many wanted sessions
        self._blocked: tuple[int, str | None] | None = None
        #: where MTA-STS policy hosts listen, and the trust store their certificates are checked with
        #: (None: the system's)
        self.https_port = https_port
        self.ca_path = ca_path
        self.engine.start()
        self._client = self.engine.run(self._make_client(), timeout=10.0)

    async def _make_client(self) -> DnsClient:
        self._admit = asyncio.Semaphore(self.concurrency)
        return DnsClient(self.engine, self.resolvers, timeout=self.timeout, dns_port=self.dns_port)

    @property
    def client(self) -> DnsClient:
        if self._client is None:
            raise EngineError("the survey is not started")
        return self._client

    def __repr__(self) -> str:
        return f"<Survey resolvers={self.client.resolver_text} facts={len(self._loaded)}>"

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Survey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def smtp(self) -> SmtpProber:
        """The SMTP, TLS and IDENT prober (made on first use: a DNS-only run has none)."""
        if self._smtp is None:
            self._smtp = SmtpProber(self.engine, self._smtp_config)
        return self._smtp

    async def bounded(self, work: Awaitable[F], timeouts: float, what: str, spent: Callable[[str], F]) -> F:
        """``work``, or ``spent(reason)`` when it takes more than ``timeouts`` timeouts in all."""
        seconds = timeouts * self.timeout + 5.0
        try:
            return await asyncio.wait_for(work, seconds)
        except TimeoutError:
            return spent(f"not finished in time (survey timeout): the survey's budget of {seconds:g} s for "
                         f"{what} ran out")  # fmt: skip

    def _want(self, facts: Iterable[tuple[type, str]]) -> None:
        for fact in facts:
            if fact not in self._wanted:
                self._wanted.add(fact)
                self._wanted_of[fact[0]] += 1

    def wanted_keys(self, kind: type) -> list[tuple[type, str]]:
        """The keys of ``kind`` wanted in this run so far."""
        return [(k, key) for k, key in list(self._wanted) if k is kind]

    def smtp_blocked(self) -> str | None:
        """None when some SMTP server took a TCP connection (or none was tried); else why none did,
        once for the run: "outbound port 25 looks blocked from here (<the OS's reason>)".

        The servers under test are judged once every read-only session this run wants has ended (a
        refused server must not read as a blocked port while another's answer is on its way). With
        control servers (--mail-smtp-control), they decide: one that takes a connection proves the
        port open from here, so the servers under test are down, not blocked (their checks fail).

        Call it from a thread other than the engine's: it may wait for the sessions and the controls."""
        if self._smtp is None:
            return None
        # (once per set of wanted sessions: every check of a dead server asks, thousands in a big run)
        generation = self._wanted_of[SmtpSession]
        if self._blocked is not None and self._blocked[0] == generation:
            return self._blocked[1]
        said = self._smtp_blocked()
        self._blocked = (generation, said)
        return said

    def _smtp_blocked(self) -> str | None:
        assert self._smtp is not None
        under_test = set()
        for _, key in self.wanted_keys(SmtpSession):
            under_test.add(key.split("|")[1])
            with contextlib.suppress(EngineError):
                self.get(SmtpSession, key)
        merged = Liveness()
        failures: Counter[str] = Counter()
        for ip in list(self._smtp.opened):
            host = self.engine.known_host(ip)
            live = host.channels.get("smtp") if host is not None else None
            if live is None or (ip in self._control_ips and ip not in under_test):
                continue
            if live.answered:
                return None
            merged.timeouts += live.timeouts
            failures.update(dict(live.failures))
            merged.last_failure = live.last_failure or merged.last_failure
        merged.failures = dict(failures)
        if not merged.asked:
            return None
        cause = merged.cause
        if cause == "timeout":
            cause = f"no TCP answer within {self.timeout:g} s"
        ports = ", ".join(str(p) for p in sorted(self._smtp.ports)) or "25"
        said = f"outbound port {ports} looks blocked from here: no SMTP server took a connection ({cause})"
        controls = self.controls()
        if not controls:
            return said
        if any(c.reached for c in controls):
            return None
        tried = "; ".join(f"{c.endpoint}: {c.error}" for c in controls)
        return f"{said}, and no control server did either ({tried})"

    def controls(self) -> list[SmtpControl]:
        """What the control servers (--mail-smtp-control) said, asked now if they were not yet."""
        if self._smtp is None:
            return []
        out = []
        for host, port in self._smtp.config.controls:
            try:
                found = self.get(SmtpControl, f"{host}|{port}")
            except EngineError as exc:
                found = SmtpControl(host, port, error=f"could not ask: {exc}")
            out.append(found)
            self._control_ips.add(found.ip)
        return out

    @property
    def queries_sent(self) -> int:
        return self.client.sent

    # -- facts ----------------------------------------------------------------------------------
    def add_source(self, source: Callable[[type, str], Any | None]) -> None:
        """Facts fetched elsewhere (the xdist controller's hand-over): ``source(kind, key)`` gives a
        fact, or None to have it fetched here."""
        self._sources.append(source)

    def _known(self, kind: type[F], key: str) -> F | None:
        name = FACT_KINDS[kind].name
        value = self._loaded.get((name, key))
        if value is None:
            for source in self._sources:
                value = source(kind, key)
                if value is not None:
                    self._loaded[(name, key)] = value
                    break
        result: F | None = value
        return result

    async def fact(self, kind: type[F], key: str) -> F:
        """The fact of ``kind`` for ``key``, fetched once per run (on the engine's loop)."""
        fk = FACT_KINDS[kind]
        known = self._known(kind, key)
        if known is not None:
            return known
        self._want([(kind, key)])

        async def make() -> F:
            assert self._admit is not None
            for need in fk.after:  # fetched first, outside this fact's admission: no slot waits on another
                await self.fact(need, key)
            await self._admit.acquire()
            task = asyncio.ensure_future(fk.fetch(self, key))
            try:  # the slot is this fact's while its burst of questions goes out, and no longer
                await asyncio.wait({task}, timeout=ADMIT_HOLD)
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                self._admit.release()
            value: F = await task
            return value

        return await self.engine.memo(fk.name, key, make)

    def wanted(self, kind: type, key: str) -> bool:
        """Whether the fact of ``kind`` for ``key`` was asked for in this run (a fetch that comes
        first may prepare for it)."""
        return (kind, key) in self._wanted

    def _bound(self, count: int) -> float:
        """How long fetching ``count`` facts may take at most: each within its budget (for a zone
        probe, after its domain's), ``concurrency`` at a time, and a margin."""
        rounds = math.ceil(max(count, 1) / self.concurrency) + 1
        return rounds * 2 * BUDGET_TIMEOUTS * self.timeout + 30.0

    def prefetch(self, wanted: Iterable[tuple[type, str]]) -> None:
        """Fetch every ``(kind, key)`` not yet known, all at once."""
        todo = list(dict.fromkeys((k, key) for k, key in wanted if self._known(k, key) is None))
        if not todo:
            return
        self._want(todo)  # before any starts: a fact that waits for others sees them all

        tally = _Tally(todo)

        async def one(kind: type, key: str) -> None:
            try:
                await self.fact(kind, key)
            finally:
                tally.done(key)

        async def all_of() -> None:
            await asyncio.gather(*(one(k, key) for k, key in todo))

        hook = self.progress
        if hook is None:
            self.engine.run(all_of(), timeout=self._bound(len(todo)))
            return
        start = time.monotonic()

        def report(done: bool = False) -> None:
            client = self._client
            hook(
                Progress(
                    elapsed=time.monotonic() - start,
                    facts_done=tally.facts_done,
                    facts_total=tally.facts_total,
                    domains_done=tally.domains_done,
                    domains_total=tally.domains_total,
                    servers=self.engine.hosts_asked(),
                    questions_in_flight=client.in_flight if client is not None else 0,
                    connections_in_flight=self._smtp.in_flight if self._smtp is not None else 0,
                    done=done,
                )
            )

        try:
            self.engine.run(all_of(), timeout=self._bound(len(todo)), tick=report, every=PROGRESS_EVERY)
        finally:
            report(done=True)

    def get(self, kind: type[F], key: str) -> F:
        """The fact of ``kind`` for ``key`` (fetched now if it was not yet)."""
        known = self._known(kind, key)
        if known is not None:
            return known
        value = self.engine.run(self.fact(kind, key), timeout=self._bound(1))
        self._loaded[(FACT_KINDS[kind].name, key)] = value
        return value

    def survey(self, domains: Iterable[str]) -> dict[str, DomainDns]:
        """The DNS facts of every domain, surveyed all at once where they are not known yet."""
        names = list(dict.fromkeys(domains))
        self.prefetch((DomainDns, d) for d in names)
        return {d: self.get(DomainDns, d) for d in names}

    def dns(self, domain: str) -> DomainDns:
        """The DNS facts of one domain (surveyed now if they were not yet)."""
        return self.get(DomainDns, domain)

    def zone_probe(self, domain: str) -> ZoneProbe:
        """What the domain's name servers said when asked directly (asked now if not yet)."""
        return self.get(ZoneProbe, domain)

    # -- reachability ----------------------------------------------------------------------------
    def unreachable(self) -> str | None:
        """None when any configured resolver ever answered anything (any reply at all, SERVFAIL and
        REFUSED too), or none was asked yet; else, every question to every resolver having failed with
        nothing back, one line naming each resolver and why (the operating system's reason, or
        timeout; its most frequent one).

        Safe from any thread: it reads a snapshot of the resolvers' liveness."""
        causes: list[str] = []
        asked = False
        for resolver in self.resolvers:
            host = self.engine.known_host(str(resolver))
            channels = [] if host is None else [host.channels.get(c) for c in RESOLVER_CHANNELS]
            merged = Liveness()
            failures: Counter[str] = Counter()
            for live in channels:  # (over TCP only after UDP: its last failure is the later one)
                if live is None:
                    continue
                merged.answered += live.answered
                merged.timeouts += live.timeouts
                failures.update(dict(live.failures))  # (a copy first: the loop may be adding to it)
                merged.last_failure = live.last_failure or merged.last_failure
            if merged.answered:
                return None
            merged.failures = dict(failures)
            if not merged.asked:
                causes.append(f"{resolver} not asked")
                continue
            asked = True
            cause = merged.cause
            if cause == "timeout":
                cause = f"timeout (no reply within {self.timeout:g} s)"
            causes.append(f"{resolver} {cause}")
        if not asked:
            return None
        return "no resolver answered: " + "; ".join(causes)

    # -- hand-over (xdist controller -> workers) -----------------------------------------------
    def export(self, kind: type, key: str) -> Any:
        """One known fact as JSON-ready data."""
        return encode(self.get(kind, key))
