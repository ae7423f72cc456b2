"""The subjects checks are parametrised over (domain, MX host, MX@IP, name server, NS@IP), from the facts.

Known before collection, so that each subject is its own test case. A subject that cannot be examined
carries why: ``skip`` (nothing to examine) or ``error`` (could not be determined).
"""

from __future__ import annotations

from dataclasses import dataclass

from mailspec.facts import DomainDns

__all__ = ["Subject", "subjects_of"]


@dataclass(frozen=True)
class Subject:
    kind: str
    domain: str
    name: str = ""
    ip: str = ""
    skip: str | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        """The subject as the JSON report names it."""
        if self.kind == "domain":
            return self.domain
        if self.ip:
            return f"{self.name}@{self.ip}"
        return self.name or self.domain

    @property
    def id(self) -> str:
        """The parameter id: ``example.com``, ``example.com-mx1.example.com``, ``...@192.0.2.1``."""
        if self.kind == "domain":
            return self.domain
        if self.skip is not None or self.error is not None:
            return f"{self.domain}-no-{self.kind.replace('_', '-')}"
        return f"{self.domain}-{self.label}"


def _blocked(kind: str, d: DomainDns) -> Subject | None:
    """Why no subject of this kind can be examined for the domain, if so."""
    if not d.soa.definite:
        return Subject(kind, d.domain, error=f"could not test: {d.soa.problem}")
    if d.soa.nxdomain:
        return Subject(kind, d.domain, skip=f"{d.domain} does not exist (NXDOMAIN; see dns.domain.exists)")
    return None


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
            if not lookup.definite and t.name not in seen:
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
    out: list[Subject] = []
    for n in d.nameservers:
        if kind == "ns":
            out.append(Subject("ns", d.domain, n.name))
            continue
        undecided = [x for x in (n.a, n.aaaa) if not x.definite]
        if undecided and not n.addresses:
            out.append(Subject(kind, d.domain, n.name, error=f"could not test: {undecided[0].problem}"))
        elif not n.addresses:
            out.append(Subject(kind, d.domain, n.name))  # a name with no address: a lame delegation
        out.extend(Subject(kind, d.domain, n.name, x.ip) for x in n.addresses)
    if not out:
        return [Subject(kind, d.domain, skip=f"no name server of {d.domain} has an address")]
    return out


def subjects_of(kind: str, d: DomainDns) -> list[Subject]:
    if kind == "domain":
        return [Subject("domain", d.domain)]
    if kind in ("mx", "mx_ip"):
        return _mx(kind, d)
    if kind in ("ns", "ns_ip"):
        return _ns(kind, d)
    raise ValueError(f"unknown subject kind {kind!r}")
