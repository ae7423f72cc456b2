"""The registry of subject kinds: what a check is parametrised over, how each kind's subjects are
enumerated from the settings and the facts, how their test ids read, and how xdist groups them.

A test is per subject of a kind when it asks (through a public fixture) for the kind's marker fixture
(:attr:`SubjectKind.marker`): ``mx_target`` rests on ``_mailspec_kind_mx``, ``mx_ip`` on
``_mailspec_kind_mx_ip``. Kinds of one family nest (an ``MX@IP`` subject is also an MX host subject),
so a test that asks for both is parametrised over the finer one; kinds of two families do not mix.
A subject that cannot be examined carries why: ``skip`` (nothing to examine) or ``error`` (could not be
determined).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mailspec.facts.dns import DomainDns
from mailspec.records.addresses import is_ip_address

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["KINDS", "Subject", "SubjectKind", "host_id", "kind_for", "on_host", "subjects_of"]


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str
    domain: str
    name: str = ""
    ip: str = ""
    port: int = 0
    skip: str | None = None
    error: str | None = None
    #: other names a waiver may give this subject by (an NS host's addresses)
    also: tuple[str, ...] = ()
    #: the id part that tells this subject from its siblings, when the label does not
    tag: str = ""
    #: an outbound address (or HELO name) mailspec assumes (the MX's), as no --mail-outbound was given
    assumed: bool = False
    #: given by --mail-server (its port is part of its name), not found in the MX records
    server: bool = False

    @property
    def label(self) -> str:
        """The subject as the JSON report names it."""
        if self.kind == "domain":
            return self.domain
        if self.kind == "host":  # the testinfra host's id: local, mx1
            return self.name
        if self.kind == "outbound":
            return f"{self.ip or self.name} (assumed)" if self.assumed else self.ip or self.name
        if self.kind == "smtp" and not self.name and self.ip and self.server:  # a --mail-server by address
            where = f"[{self.ip}]" if ":" in self.ip else self.ip
            return f"{where}:{self.port}" if self.port and self.port != 25 else self.ip
        host = self.name or self.domain
        text = f"{host}@{self.ip}" if self.ip else host
        if self.port and self.port != 25 and self.kind == "smtp" and self.server:  # (a run-wide port of
            # the MX hosts is no part of their names: test ids stay the same whatever the port)
            addr = self.ip or host
            where = f"[{addr}]:{self.port}" if ":" in addr else f"{addr}:{self.port}"
            return f"{host}@{where}" if self.ip else where
        return text

    @property
    def id(self) -> str:
        """The parameter id: ``example.com``, ``example.com-mx1.example.com``, ``...@192.0.2.1``."""
        if self.kind in ("domain", "host"):  # (a host check's id: testinfra's host, then the domain)
            return self.domain
        if (self.skip is not None or self.error is not None) and not self.name:
            return f"{self.domain}-no-{self.kind.replace('_', '-')}"
        if self.kind == "outbound":
            return f"{self.domain}-{self.ip or self.name}{'-assumed' if self.assumed else ''}{self.tag}"
        return f"{self.domain}-{self.label}{self.tag}"

    def names(self) -> set[str]:
        """Every name a waiver may use for this subject: domain, label, host, address, ``also``."""
        return {self.domain, self.label, self.name, self.ip, *self.also} - {""}


@dataclass(frozen=True)
class SubjectKind:
    """One kind of subject."""

    name: str
    #: the private fixture that the kind's public fixtures ask for: it marks a test as per-subject
    marker: str
    family: str
    #: finer kinds of a family have higher ranks (an MX@IP is finer than an MX host)
    rank: int
    enumerate: Callable[[Settings, str, DomainDns | None, Lookup], list[Subject]]
    #: whether enumerating needs the domain's DNS facts
    needs_dns: bool = True

    def group(self, subject: Subject) -> str:
        """The xdist group that keeps a domain's checks on one worker (no domain surveyed twice)."""
        return subject.domain


def _blocked(kind: str, d: DomainDns) -> Subject | None:
    """Why no subject of this kind can be examined for the domain, if so."""
    if not d.soa.definite:
        return Subject(kind, d.domain, error=f"could not test: {d.soa.problem}")
    if d.soa.nxdomain:
        return Subject(kind, d.domain, skip=f"{d.domain} does not exist (NXDOMAIN; see dns.domain.exists)")
    return None


#: a name's addresses, as the survey resolves them (for subjects given by host name)
Lookup = Callable[[str], list[str]]


def _no_lookup(name: str) -> list[str]:
    return []


def _domain(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
    return [Subject("domain", domain)]


def _mx(kind: str, d: DomainDns) -> list[Subject]:
    if (b := _blocked(kind, d)) is not None:
        return [b]
    if not d.mx.definite:
        return [Subject(kind, d.domain, error=f"could not test: {d.mx.problem}")]
    if d.null_mx:
        return [Subject(kind, d.domain, skip=f"{d.domain} has a null MX: it accepts no mail (RFC 7505)")]
    targets = [t for t in d.mx_targets if t.name]
    if not targets:
        undecided = [x for x in (d.a, d.aaaa) if not x.definite]
        if d.mx.nodata and undecided and not d.has_address:  # an implicit MX may exist: unknown
            return [Subject(kind, d.domain, error=f"could not test: {undecided[0].problem}")]
        return [Subject(kind, d.domain, skip=f"{d.domain} has no MX host (see mx.present)")]
    out: list[Subject] = []
    seen: set[str] = set()
    for t in targets:
        if kind == "mx":
            if t.name not in seen:
                out.append(Subject("mx", d.domain, t.name))
            seen.add(t.name)
            continue
        for lookup in t.lookups:
            if not lookup.definite and t.name not in seen and not t.ips:
                seen.add(t.name)
                out.append(Subject(kind, d.domain, t.name, error=f"could not test: {lookup.problem}"))
        for ip in t.ips:
            if f"{t.name}@{ip}" not in seen:
                seen.add(f"{t.name}@{ip}")
                out.append(Subject(kind, d.domain, t.name, ip))
    if not out:
        return [
            Subject(kind, d.domain, skip=f"no MX host of {d.domain} has an address (see mx.target.resolves)")
        ]
    return out


def _ns(kind: str, d: DomainDns) -> list[Subject]:
    if (b := _blocked(kind, d)) is not None:
        return [b]
    if not d.ns.definite:
        return [Subject(kind, d.domain, error=f"could not test: {d.ns.problem}")]
    if not d.nameservers:
        return [Subject(kind, d.domain, skip=f"no name server found for the zone of {d.domain}")]
    if kind == "ns":
        return [Subject("ns", d.domain, n.name, also=tuple(n.ips)) for n in d.nameservers]
    chosen, _ = d.probed_addresses()
    out: list[Subject] = []
    for n in d.nameservers:
        if not n.ips:
            if not n.definite:
                out.append(Subject(kind, d.domain, n.name, error=f"could not test: {n.problem}"))
            else:
                out.append(Subject(kind, d.domain, n.name))  # a name with no address: a lame delegation
        out.extend(Subject(kind, d.domain, name, ip) for name, ip in chosen if name == n.name)
    if not out:
        return [Subject(kind, d.domain, skip=f"no name server of {d.domain} has an address")]
    return out


def _smtp(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
    """The SMTP endpoints: each ``--mail-server`` (its port, else ``--mail-smtp-port``) at each of its
    addresses, or every MX@IP on ``--mail-smtp-port``."""
    if settings.servers:
        out: list[Subject] = []
        for host, port in settings.servers:
            if is_ip_address(host):
                out.append(Subject("smtp", domain, "", host, port=port, server=True))
                continue
            ips = lookup(host)
            if not ips:
                why = f"could not test: {host} (--mail-server) has no address"
                out.append(Subject("smtp", domain, host, port=port, server=True, error=why))
            out += [Subject("smtp", domain, host, ip, port=port, server=True) for ip in ips]
        return out
    assert d is not None
    out = []
    for s in _mx("mx_ip", d):
        skip = s.skip
        if skip is None and s.error is None and s.ip:
            skip = probe_refusal(settings, s.domain, s.name, s.ip)
        port = settings.smtp_port if not s.skip and not s.error else 0
        out.append(Subject("smtp", s.domain, s.name, s.ip, port=port, skip=skip, error=s.error))
    return out


#: the check whose waiver is the user's consent to connecting to a non-public MX address
MX_PUBLIC_CHECK = "mx.target.public-address"


def probe_refusal(settings: Settings, domain: str, name: str, ip: str) -> str | None:
    """Why mailspec does not connect to an MX address (None if it may).

    An address that is not public (loopback, private, documentation, ...) is connected to only with
    the user's consent: a waiver of ``mx.target.public-address`` that covers it (the lab waives it for
    its loopback servers). A zone cannot aim mailspec's probes at the machine it runs on or at the
    network around it. Some addresses are no server at all, whatever the consent.
    """
    from mailspec.records.addresses import is_public_address, never_asked

    if why := never_asked(ip):
        return why.replace("never asked", "not probed", 1)
    if is_public_address(ip):
        return None
    for w in settings.waivers:
        if w.check == MX_PUBLIC_CHECK and any(
            w.matches(MX_PUBLIC_CHECK, domain, n) for n in (name, ip, domain)
        ):
            return None
    return (
        f"not probed: {ip} is not a public address (mx.target.public-address); mailspec connects to a "
        f"non-public MX address only when that check is waived for it ("
        f"--mail-waive={MX_PUBLIC_CHECK}@{ip}=...)"
    )


def _outbound(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
    """The addresses the domain sends from: each ``--mail-outbound`` (a host name at each of its
    addresses), or, assumed, the SMTP endpoints' addresses."""
    if settings.outbound:
        out: list[Subject] = []
        for entry in settings.outbound:
            if is_ip_address(entry):
                out.append(Subject("outbound", domain, "", entry))
                continue
            ips = lookup(entry)
            if not ips:
                why = f"could not test: {entry} (--mail-outbound) has no address"
                out.append(Subject("outbound", domain, entry, error=why))
            out += [Subject("outbound", domain, entry, ip) for ip in ips]
        return out
    seen: set[str] = set()
    out = []
    for s in _smtp(settings, domain, d, lookup):
        if (s.skip is not None and not s.ip) or s.error is not None:
            out.append(Subject("outbound", domain, skip=s.skip, error=s.error))
        elif s.ip not in seen:  # (an address not probed over SMTP is still looked up in the DNS)
            seen.add(s.ip)
            out.append(Subject("outbound", domain, s.name, s.ip, port=s.port, assumed=True))
    return out


def _dkim(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
    """The DKIM selectors configured for the domain (``--mail-dkim-selector``): they cannot be
    discovered (RFC 6376 §3.1: the domain owner chooses them, and may make them unguessable), so
    without one the key checks skip, saying how to name them, and never fail."""
    selectors = settings.selectors_for(domain)
    if not selectors:
        why = (
            f"no DKIM selector is configured for {domain}: selectors cannot be discovered (RFC 6376 "
            "§3.1); pass --mail-dkim-selector=SELECTOR (or SELECTOR@DOMAIN) to check its keys"
        )
        return [Subject("dkim", domain, skip=why)]
    return [Subject("dkim", domain, sel) for sel in selectors]


def _host(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
    """A host check per host only: no domain (the host is testinfra's parameter, named at run time)."""
    return [Subject("host", "")]


def _host_domain(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
    """A host check that concerns a domain: per host and domain."""
    return [Subject("host", domain)]


#: testinfra's private fixture that holds the host a test runs on (one test per --hosts entry)
TESTINFRA_HOST = "_testinfra_host"


def host_id(host: object) -> str:
    """A testinfra host's id, as testinfra names its tests (``local``, ``mx1``)."""
    backend = getattr(host, "backend", None)
    get = getattr(backend, "get_pytest_id", None)
    return str(get()) if callable(get) else ""


def on_host(
    subject: Subject | None, fixturenames: Iterable[str], params: dict[str, object]
) -> Subject | None:
    """The subject of a test, named after the testinfra host it runs on when it is a host check
    (its kind's marker asked for): testinfra, not mailspec, parametrises over the hosts."""
    if subject is None:
        if BY_NAME["host"].marker not in fixturenames:
            return None
        subject = Subject("host", "")
    if subject.kind != "host" or subject.name:
        return subject
    return replace(subject, name=host_id(params.get(TESTINFRA_HOST)))


def _needs(
    fn: Callable[[str, DomainDns], list[Subject]], kind: str
) -> Callable[[Settings, str, DomainDns | None, Lookup], list[Subject]]:
    def enumerate_kind(settings: Settings, domain: str, d: DomainDns | None, lookup: Lookup) -> list[Subject]:
        assert d is not None
        return fn(kind, d)

    return enumerate_kind


#: every subject kind, coarsest first within each family
KINDS: tuple[SubjectKind, ...] = (
    SubjectKind("domain", "_mailspec_kind_domain", "domain", 0, _domain, needs_dns=False),
    SubjectKind("mx", "_mailspec_kind_mx", "mx", 1, _needs(_mx, "mx")),
    SubjectKind("mx_ip", "_mailspec_kind_mx_ip", "mx", 2, _needs(_mx, "mx_ip")),
    SubjectKind("ns", "_mailspec_kind_ns", "ns", 1, _needs(_ns, "ns")),
    SubjectKind("ns_ip", "_mailspec_kind_ns_ip", "ns", 2, _needs(_ns, "ns_ip")),
    SubjectKind("smtp", "_mailspec_kind_smtp", "smtp", 1, _smtp, needs_dns=True),
    SubjectKind("outbound", "_mailspec_kind_outbound", "outbound", 1, _outbound, needs_dns=True),
    SubjectKind("dkim", "_mailspec_kind_dkim", "dkim", 1, _dkim, needs_dns=False),
    # the host checks (testinfra): per host, and per host and domain (the host is testinfra's parameter)
    SubjectKind("host", "_mailspec_kind_host", "host", 1, _host, needs_dns=False),
    SubjectKind("host_domain", "_mailspec_kind_host_domain", "host", 2, _host_domain, needs_dns=False),
)
BY_NAME = {k.name: k for k in KINDS}


class SubjectKindError(ValueError):
    """A test asks for fixtures of subject kinds that do not nest."""


def kind_for(fixturenames: Iterable[str]) -> SubjectKind:
    """The kind a test is parametrised over: the finest kind whose marker it asks for (domain if none)."""
    names = set(fixturenames)
    asked = [k for k in KINDS if k.marker in names and k.family != "domain"]
    if not asked:
        return BY_NAME["domain"]
    families = {k.family for k in asked}
    if len(families) > 1:
        raise SubjectKindError(
            "a test cannot be per subject of " + " and of ".join(sorted(families)) + " at once: "
            "ask for the fixtures of one kind (e.g. mx_target with mx_ip, or nameserver with "
            "nameserver_address)"
        )
    return max(asked, key=lambda k: k.rank)


def subjects_of(
    kind: SubjectKind | str, settings: Settings, domain: str, d: DomainDns | None,
    lookup: Lookup = _no_lookup,
) -> list[Subject]:  # fmt: skip
    """The subjects of one kind for one domain, each with a test id of its own."""
    k = BY_NAME[kind] if isinstance(kind, str) else kind
    out = k.enumerate(settings, domain, d, lookup)
    seen: dict[str, int] = {}
    unique: list[Subject] = []
    for s in out:
        n = seen.get(s.id, 0)
        seen[s.id] = n + 1
        unique.append(s if n == 0 else replace(s, tag=f"-{n + 1}"))
    return unique
