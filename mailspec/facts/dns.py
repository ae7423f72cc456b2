"""DNS facts: answers as the survey received them, and what they say of a mail domain and its zone.

Two kinds, fetched separately so that a run that needs only one never sends the other's questions:

* :class:`DomainDns`: what the configured resolvers say of the domain (SOA, NS, MX, addresses, TXT,
  the MX hosts and name servers with their addresses). Parametrisation needs it (the subject map).
* :class:`ZoneProbe`: what the zone's own name servers, and its parent's, say when asked directly
  (authority, recursion, zone transfer, the delegation). Only the checks that read it fetch it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailspec.errors import Indeterminate
from mailspec.records.spf import is_spf
from mailspec.records.txt import txt_value

__all__ = [
    "PER_NAME",
    "PER_ZONE",
    "DnsAnswer",
    "DomainDns",
    "MxTarget",
    "NameServer",
    "NsAddress",
    "Record",
    "Soa",
    "ZoneProbe",
    "need",
]

#: addresses asked directly, at most, per name server name and per zone (the check dns.ns.public-address)
PER_NAME = 8
PER_ZONE = 32

#: rcodes that are answers (the name's state is known); anything else is "could not determine".
_DEFINITE = frozenset({"NOERROR", "NXDOMAIN"})


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record: owner name (absolute, no trailing dot), TTL, type and rdata text."""

    name: str
    ttl: int
    rdtype: str
    data: str

    def __str__(self) -> str:
        return f"{self.name}. {self.ttl} IN {self.rdtype} {self.data}"

    @property
    def target(self) -> str:
        """The domain name an MX, NS, CNAME or PTR record points at (no trailing dot; '' for the root)."""
        text = self.data.split()[-1].lower() if self.data.split() else ""
        return text[:-1] if text.endswith(".") else text


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One DNS question and what came back (or why nothing usable did)."""

    qname: str
    rdtype: str
    server: str
    rcode: str | None = None
    error: str | None = None
    aa: bool = False
    ra: bool = False
    tcp: bool = False
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    elapsed: float = 0.0
    #: follow-up answers for the target of a dangling CNAME chain (the resolver stopped at the alias)
    followed: tuple[DnsAnswer, ...] = ()

    # -- state ------------------------------------------------------------------------------------
    @property
    def definite(self) -> bool:
        if self.error is not None or self.rcode not in _DEFINITE:
            return False
        return all(f.definite for f in self.followed)

    @property
    def problem(self) -> str:
        """Why this answer is not definite, in words."""
        for f in self.followed:
            if not f.definite:
                return f.problem
        if self.definite:
            return ""
        what = f"{self.qname} {self.rdtype} at {self.server}"
        if self.error is not None:
            return f"{what}: {self.error}"
        return f"{what}: {self.rcode}"

    @property
    def silent(self) -> bool:
        """The server sent nothing back in time (a timeout), as opposed to an error or refusal."""
        return self.error is not None and "(timeout)" in self.error

    @property
    def unreachable(self) -> bool:
        """The question could not be sent: this machine has no route to the server (often: no IPv6)."""
        return self.error is not None and self.error.startswith("unreachable from this machine")

    @property
    def nxdomain(self) -> bool:
        last = self.followed[-1] if self.followed else self
        return last.rcode == "NXDOMAIN"

    @property
    def chain(self) -> tuple[Record, ...]:
        """The CNAME records met on the way, in order."""
        out = [r for r in self.answer if r.rdtype == "CNAME"]
        for f in self.followed:
            out += [r for r in f.answer if r.rdtype == "CNAME"]
        return tuple(out)

    @property
    def final_name(self) -> str:
        name = self.qname
        for rec in self.chain:
            if rec.name == name:
                name = rec.target
        return name

    @property
    def records(self) -> tuple[Record, ...]:
        """The records of the asked type at the end of the chain."""
        final = self.final_name
        pool = list(self.answer)
        for f in self.followed:
            pool += f.answer
        return tuple(r for r in pool if r.rdtype == self.rdtype and r.name == final)

    @property
    def nodata(self) -> bool:
        return self.definite and not self.nxdomain and not self.records

    def evidence(self) -> list[str]:
        head = f";; {self.qname} {self.rdtype} @{self.server}{' (tcp)' if self.tcp else ''}: "
        if self.error is not None:
            lines = [head + self.error]
        else:
            flags = " ".join(f for f, on in (("aa", self.aa), ("ra", self.ra)) if on)
            lines = [head + f"{self.rcode}{' [' + flags + ']' if flags else ''}"]
            lines += [str(r) for r in self.answer]
            if not self.answer:
                lines += [str(r) for r in self.authority if r.rdtype in ("SOA", "NS")]
        for f in self.followed:
            lines += f.evidence()
        return lines


def need(*answers: DnsAnswer) -> None:
    """Raise Indeterminate unless every answer is definite (NOERROR or NXDOMAIN)."""
    for a in answers:
        if not a.definite:
            raise Indeterminate(f"could not test: {a.problem}")


@dataclass(frozen=True, slots=True)
class Soa:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int

    @property
    def mailbox(self) -> str:
        """The RNAME as a mailbox (``hostmaster.example.com`` -> ``hostmaster@example.com``; a dot in
        the local part is written ``\\.``, RFC 1035 §8); "" when it has no domain part."""
        labels = re.split(r"(?<!\\)\.", self.rname)
        if len(labels) < 2 or not all(labels):
            return ""
        return labels[0].replace("\\.", ".") + "@" + ".".join(labels[1:])

    @classmethod
    def from_record(cls, rec: Record) -> Soa | None:
        """The SOA fields of a record, or None when its data is not an SOA's seven fields."""
        f = rec.data.split()
        try:
            return cls(
                f[0].rstrip("."), f[1].rstrip("."), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6])
            )
        except (IndexError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class NameServer:
    """A name server of the zone, as the resolvers see it: its name and address lookups."""

    name: str
    a: DnsAnswer
    aaaa: DnsAnswer

    @property
    def ips(self) -> list[str]:
        return [r.data for r in self.a.records + self.aaaa.records]

    @property
    def definite(self) -> bool:
        return self.a.definite and self.aaaa.definite

    @property
    def problem(self) -> str:
        return self.a.problem or self.aaaa.problem

    def evidence(self) -> list[str]:
        return self.a.evidence() + self.aaaa.evidence()


@dataclass(frozen=True, slots=True)
class NsAddress:
    """One address of a name server, and what it said when asked directly (or why it was not asked)."""

    name: str
    ip: str  #: "" when the name server's name has no address at all
    soa: DnsAnswer  #: SOA of the zone, asked directly, RD=0
    recursion: DnsAnswer  #: an out-of-zone question with RD=1
    axfr: DnsAnswer  #: the first message of an AXFR of the zone, over TCP
    #: why the address was not asked at all (a non-public address, the cap on addresses probed)
    not_probed: str = ""

    @classmethod
    def unasked(cls, name: str, ip: str, why: str) -> NsAddress:
        """Stands for an address that was not asked (``ip`` "" for a name with no address)."""
        none = DnsAnswer(name, "A", ip or "-", error=why)
        return cls(name, ip, none, none, none, not_probed=why)

    @property
    def definite(self) -> bool:
        return not self.not_probed and self.soa.definite

    @property
    def problem(self) -> str:
        return self.not_probed or self.soa.problem

    def evidence(self) -> list[str]:
        return self.soa.evidence()


@dataclass(frozen=True, slots=True)
class MxTarget:
    """One MX record's exchange, with its address lookups (CNAME chains kept)."""

    domain: str
    name: str  #: the exchange; "." for an MX that names the root with a preference other than 0
    preference: int
    a: DnsAnswer | None = None
    aaaa: DnsAnswer | None = None
    implicit: bool = False  #: the domain itself, standing in for a missing MX (RFC 5321 §5.1)

    @property
    def ipv4(self) -> list[str]:
        return [r.data for r in self.a.records] if self.a else []

    @property
    def ipv6(self) -> list[str]:
        return [r.data for r in self.aaaa.records] if self.aaaa else []

    @property
    def ips(self) -> list[str]:
        return self.ipv4 + self.ipv6

    @property
    def lookups(self) -> tuple[DnsAnswer, ...]:
        return tuple(x for x in (self.a, self.aaaa) if x is not None)

    @property
    def definite(self) -> bool:
        return all(x.definite for x in self.lookups)

    @property
    def problem(self) -> str:
        return next((x.problem for x in self.lookups if not x.definite), "")

    def evidence(self) -> list[str]:
        return [line for x in self.lookups for line in x.evidence()]


def _is_null_mx(rec: Record) -> bool:
    """RFC 7505 §3: a null MX is preference 0 and the root ("."); ``MX 10 .`` is not one."""
    pref = rec.data.split()[0] if rec.data.split() else ""
    return rec.target == "" and pref == "0"


@dataclass(frozen=True, slots=True)
class DomainDns:
    """What the resolvers say of one mail domain: its zone, MX hosts and name servers."""

    domain: str
    soa: DnsAnswer
    ns: DnsAnswer  #: the zone's own NS RRset (asked of the resolver)
    mx: DnsAnswer
    a: DnsAnswer
    aaaa: DnsAnswer
    txt: DnsAnswer
    zone: str | None = None  #: the apex of the zone that holds the domain
    nameservers: tuple[NameServer, ...] = ()
    parent_zone: str | None = None
    #: the parent zone's own NS RRset (its servers are asked for the delegation)
    parent_zone_ns: DnsAnswer | None = None
    mx_targets: tuple[MxTarget, ...] = ()
    #: the SOA of the zone itself (the same question as ``soa`` when the domain is the apex)
    zone_soa_answer: DnsAnswer | None = None
    #: when the domain is an alias: the NS RRset of the zone that would delegate it
    alias_holder_ns: DnsAnswer | None = None

    # -- the Fact shape ---------------------------------------------------------------------------
    @property
    def definite(self) -> bool:
        return self.soa.definite

    @property
    def problem(self) -> str:
        return self.soa.problem

    def evidence(self) -> list[str]:
        return self.soa.evidence()

    # -- existence -------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        need(self.soa)
        return not self.soa.nxdomain

    @property
    def is_alias(self) -> bool:
        """Whether the domain itself is a CNAME."""
        return any(r.rdtype == "CNAME" and r.name == self.domain for r in self.soa.answer)

    @property
    def zone_soa(self) -> Soa | None:
        """The SOA of the zone holding the domain."""
        answer = self.zone_soa_answer or self.soa
        for rec in answer.records:
            return Soa.from_record(rec)
        for rec in answer.authority:
            if rec.rdtype == "SOA":
                return Soa.from_record(rec)
        return None

    @property
    def child_ns(self) -> list[str]:
        return sorted({r.target for r in self.ns.records})

    def probed_addresses(self) -> tuple[list[tuple[str, str]], list[str]]:
        """The (name, address) pairs of the zone's name servers that may be asked directly, in order,
        and the ``name@address`` beyond the caps (:data:`PER_NAME` per name, :data:`PER_ZONE` per zone)."""
        chosen: list[tuple[str, str]] = []
        beyond: list[str] = []
        for n in self.nameservers:
            for i, ip in enumerate(n.ips):
                if i < PER_NAME and len(chosen) < PER_ZONE:
                    chosen.append((n.name, ip))
                else:
                    beyond.append(f"{n.name}@{ip}")
        return chosen, beyond

    # -- MX --------------------------------------------------------------------------------------
    @property
    def null_mx(self) -> bool:
        """A sole ``MX 0 .`` (RFC 7505)."""
        recs = self.mx.records
        return len(recs) == 1 and _is_null_mx(recs[0])

    @property
    def has_null_mx_record(self) -> bool:
        return any(_is_null_mx(r) for r in self.mx.records)

    @property
    def non_null_mx(self) -> list[Record]:
        """The MX records that are not a null MX."""
        return [r for r in self.mx.records if not _is_null_mx(r)]

    @property
    def has_address(self) -> bool:
        return bool(self.a.records or self.aaaa.records)

    @property
    def spf_records(self) -> list[str]:
        return [text for r in self.txt.records if is_spf(text := txt_value(r.data))]


@dataclass(frozen=True, slots=True)
class ZoneProbe:
    """What the zone's name servers, and its parent's, said when mailspec asked them directly."""

    domain: str
    zone: str | None
    addresses: tuple[NsAddress, ...] = ()
    #: the parent's NS for the zone, asked of each parent server (a referral or an answer)
    parent_ns: tuple[DnsAnswer, ...] = ()
    #: when the domain is a CNAME: its parent's servers, asked for the domain's own NS
    alias_referrals: tuple[DnsAnswer, ...] = ()

    @property
    def definite(self) -> bool:
        return any(x.definite for x in self.addresses)

    @property
    def problem(self) -> str:
        return next((x.problem for x in self.addresses if not x.definite), "")

    def evidence(self) -> list[str]:
        return [line for x in self.addresses for line in x.evidence()]

    def address(self, name: str, ip: str) -> NsAddress:
        """The probe of one address of one name server (an unasked stand-in when there is none)."""
        for x in self.addresses:
            if x.name == name and x.ip == ip:
                return x
        return NsAddress.unasked(name, ip, f"{name} ({ip or 'no address'}) was not asked")

    @property
    def answered(self) -> list[NsAddress]:
        """The addresses that gave a definite answer to the SOA question."""
        return [x for x in self.addresses if x.soa.definite]

    @property
    def parent_ns_names(self) -> list[str]:
        """The NS names the parent's servers give for the zone (referral or authoritative answer)."""
        names: set[str] = set()
        for ans in self.parent_ns:
            if not ans.definite:
                continue  # a parent server that did not answer says nothing about the delegation
            for rec in ans.answer + ans.authority:
                if rec.rdtype == "NS" and rec.name == self.zone:
                    names.add(rec.target)
        return sorted(names)

    @property
    def delegated_alias(self) -> list[str]:
        """When the domain is a CNAME: the NS names its parent delegates it to (a CNAME at an apex)."""
        return sorted(
            {
                rec.target
                for ans in self.alias_referrals
                if ans.definite
                for rec in ans.answer + ans.authority
                if rec.rdtype == "NS" and rec.name == self.domain
            }
        )
