"""Frozen records of what the survey saw, each with the evidence it rests on.

Facts are plain data: they can be compared, serialised (``to_json``/``from_json``) and handed from the
xdist controller to its workers, and every verdict a check gives can be traced back to them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from mailspec.errors import Indeterminate
from mailspec.records.spf import is_spf

__all__ = [
    "DnsAnswer",
    "DomainDns",
    "MxTarget",
    "NameServer",
    "NsAddress",
    "Record",
    "Soa",
    "need",
]

#: rcodes that are answers (the name's state is known); anything else is "could not determine".
_DEFINITE = frozenset({"NOERROR", "NXDOMAIN"})


@dataclass(frozen=True)
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
        text = self.data.split()[-1].lower()
        return text[:-1] if text.endswith(".") else text


@dataclass(frozen=True)
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
        what = f"{self.qname} {self.rdtype} at {self.server}"
        if self.error is not None:
            return f"{what}: {self.error}"
        return f"{what}: {self.rcode}"

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

    # -- serialisation --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "qname": self.qname,
            "rdtype": self.rdtype,
            "server": self.server,
            "rcode": self.rcode,
            "error": self.error,
            "aa": self.aa,
            "ra": self.ra,
            "tcp": self.tcp,
            "answer": [_rec_json(r) for r in self.answer],
            "authority": [_rec_json(r) for r in self.authority],
            "additional": [_rec_json(r) for r in self.additional],
            "elapsed": self.elapsed,
            "followed": [f.to_json() for f in self.followed],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DnsAnswer:
        return cls(
            qname=data["qname"],
            rdtype=data["rdtype"],
            server=data["server"],
            rcode=data["rcode"],
            error=data["error"],
            aa=data["aa"],
            ra=data["ra"],
            tcp=data["tcp"],
            answer=tuple(Record(*r) for r in data["answer"]),
            authority=tuple(Record(*r) for r in data["authority"]),
            additional=tuple(Record(*r) for r in data["additional"]),
            elapsed=data["elapsed"],
            followed=tuple(cls.from_json(f) for f in data["followed"]),
        )


def _rec_json(r: Record) -> list[Any]:
    return [r.name, r.ttl, r.rdtype, r.data]


def need(*answers: DnsAnswer) -> None:
    """Raise Indeterminate unless every answer is definite (NOERROR or NXDOMAIN)."""
    for a in answers:
        if not a.definite:
            raise Indeterminate(f"could not test: {a.problem}")


@dataclass(frozen=True)
class Soa:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int

    @classmethod
    def from_record(cls, rec: Record) -> Soa:
        f = rec.data.split()
        return cls(f[0].rstrip("."), f[1].rstrip("."), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]))


@dataclass(frozen=True)
class NsAddress:
    """One address of a name server, and what it said when asked directly."""

    ip: str  #: "" when the name server's name has no address at all
    soa: DnsAnswer  #: SOA of the zone, asked directly, RD=0
    recursion: DnsAnswer  #: an out-of-zone question with RD=1
    axfr: DnsAnswer  #: the first message of an AXFR of the zone, over TCP

    @classmethod
    def missing(cls, name: str) -> NsAddress:
        """Stands for a name server whose name has no A or AAAA record: nothing could be asked."""
        none = DnsAnswer(name, "A", "-", error=f"{name} has no A or AAAA record")
        return cls("", none, none, none)


@dataclass(frozen=True)
class NameServer:
    """A name server of the zone: its name, addresses and direct answers."""

    name: str
    a: DnsAnswer
    aaaa: DnsAnswer
    addresses: tuple[NsAddress, ...] = ()

    @property
    def ips(self) -> list[str]:
        return [r.data for r in self.a.records + self.aaaa.records]


@dataclass(frozen=True)
class MxTarget:
    """One MX record's exchange, with its address lookups (CNAME chains kept)."""

    domain: str
    name: str
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


@dataclass(frozen=True)
class DomainDns:
    """Everything the DNS survey saw of one mail domain."""

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
    parent_ns: tuple[DnsAnswer, ...] = ()  #: the parent's NS for the zone, asked of each parent server
    mx_targets: tuple[MxTarget, ...] = ()
    #: when the domain is a CNAME: its parent's servers, asked for the domain's own NS
    alias_referrals: tuple[DnsAnswer, ...] = ()
    #: the SOA of the zone itself (the same question as ``soa`` when the domain is the apex)
    zone_soa_answer: DnsAnswer | None = None

    # -- existence -------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        need(self.soa)
        return not self.soa.nxdomain

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

    # -- MX --------------------------------------------------------------------------------------
    @property
    def null_mx(self) -> bool:
        """A sole ``MX 0 .`` (RFC 7505)."""
        recs = self.mx.records
        return len(recs) == 1 and recs[0].target == ""

    @property
    def has_null_mx_record(self) -> bool:
        return any(r.target == "" for r in self.mx.records)

    @property
    def implicit_mx(self) -> bool:
        return self.mx.definite and not self.mx.nxdomain and not self.mx.records

    @property
    def has_address(self) -> bool:
        return bool(self.a.records or self.aaaa.records)

    @property
    def spf_records(self) -> list[str]:
        return [text for r in self.txt.records if is_spf(text := _txt_value(r.data))]

    # -- serialisation ---------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def mx_json(t: MxTarget) -> dict[str, Any]:
            return {
                "domain": t.domain,
                "name": t.name,
                "preference": t.preference,
                "a": t.a.to_json() if t.a else None,
                "aaaa": t.aaaa.to_json() if t.aaaa else None,
                "implicit": t.implicit,
            }

        def ns_json(n: NameServer) -> dict[str, Any]:
            return {
                "name": n.name,
                "a": n.a.to_json(),
                "aaaa": n.aaaa.to_json(),
                "addresses": [
                    {
                        "ip": x.ip,
                        "soa": x.soa.to_json(),
                        "recursion": x.recursion.to_json(),
                        "axfr": x.axfr.to_json(),
                    }
                    for x in n.addresses
                ],
            }

        return {
            "domain": self.domain,
            "soa": self.soa.to_json(),
            "ns": self.ns.to_json(),
            "mx": self.mx.to_json(),
            "a": self.a.to_json(),
            "aaaa": self.aaaa.to_json(),
            "txt": self.txt.to_json(),
            "zone": self.zone,
            "nameservers": [ns_json(n) for n in self.nameservers],
            "parent_zone": self.parent_zone,
            "parent_ns": [p.to_json() for p in self.parent_ns],
            "mx_targets": [mx_json(t) for t in self.mx_targets],
            "alias_referrals": [a.to_json() for a in self.alias_referrals],
            "zone_soa_answer": self.zone_soa_answer.to_json() if self.zone_soa_answer else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DomainDns:
        ans = DnsAnswer.from_json

        def opt(x: dict[str, Any] | None) -> DnsAnswer | None:
            return ans(x) if x is not None else None

        return cls(
            domain=d["domain"],
            soa=ans(d["soa"]),
            ns=ans(d["ns"]),
            mx=ans(d["mx"]),
            a=ans(d["a"]),
            aaaa=ans(d["aaaa"]),
            txt=ans(d["txt"]),
            zone=d["zone"],
            nameservers=tuple(
                NameServer(
                    name=n["name"],
                    a=ans(n["a"]),
                    aaaa=ans(n["aaaa"]),
                    addresses=tuple(
                        NsAddress(x["ip"], ans(x["soa"]), ans(x["recursion"]), ans(x["axfr"]))
                        for x in n["addresses"]
                    ),
                )
                for n in d["nameservers"]
            ),
            parent_zone=d["parent_zone"],
            parent_ns=tuple(ans(p) for p in d["parent_ns"]),
            mx_targets=tuple(
                MxTarget(t["domain"], t["name"], t["preference"], opt(t["a"]), opt(t["aaaa"]), t["implicit"])
                for t in d["mx_targets"]
            ),
            alias_referrals=tuple(ans(a) for a in d.get("alias_referrals", [])),
            zone_soa_answer=opt(d.get("zone_soa_answer")),
        )


def _txt_value(data: str) -> str:
    """The text of a TXT rdata as presented by dnspython: quoted strings joined without spaces."""
    out: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == '"':
            i += 1
            buf: list[str] = []
            while i < len(data) and data[i] != '"':
                if data[i] == "\\" and i + 1 < len(data):
                    nxt = data[i + 1]
                    if nxt.isdigit() and i + 3 < len(data):
                        buf.append(chr(int(data[i + 1 : i + 4])))
                        i += 4
                        continue
                    buf.append(nxt)
                    i += 2
                    continue
                buf.append(data[i])
                i += 1
            out.append("".join(buf))
        i += 1
    return "".join(out)


#: Special-purpose ranges that are not globally reachable (the IANA registries of RFC 6890, as
#: amended), spelled out so that the verdict does not depend on the Python release's ipaddress table.
_NOT_GLOBAL = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
#: Blocks inside 2001::/23 that are globally reachable (RFC 7723 PCP anycast, RFC 8155 TURN anycast,
#: AMT, AS112, ORCHIDv2)
_GLOBAL_EXCEPTIONS = [
    ipaddress.ip_network(n)
    for n in ("192.0.0.9/32", "192.0.0.10/32", "2001:1::1/128", "2001:1::2/128", "2001:3::/32",
              "2001:4:112::/48", "2001:20::/28")
]  # fmt: skip


def is_public_address(ip: str) -> bool:
    """Whether an address is globally reachable (not private, loopback, documentation, ...)."""
    addr = ipaddress.ip_address(ip)
    if any(addr in n for n in _GLOBAL_EXCEPTIONS if n.version == addr.version):
        return True
    return not any(addr in n for n in _NOT_GLOBAL if n.version == addr.version)
