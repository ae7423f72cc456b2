"""A small scriptable hostile DNS server on loopback, for the survey's end-to-end tests.

One port, many loopback addresses, real UDP and TCP, on an asyncio loop in a thread of the test
process (the survey under test runs in a pytest subprocess). Each address plays a role:

* ``resolver``: answers every name of the world as a recursive resolver would (RA=1, AA=0), from the
  most specific zone that holds it, chasing CNAMEs across zones (at most 8 hops; a loop stops the
  chase, and the records met so far are the answer, NOERROR: a hostile resolver);
* ``auth``: AA=1 for its zones, referrals for delegations below them, REFUSED for any other name and
  for zone transfers;
* ``sentinel``: counts what reaches it and never answers (127.0.0.1, where a question sent to
  0.0.0.0 lands).

Rules switch the behaviour per server address, query name and type (first match wins; see
:data:`BEHAVIOURS`). Every message received is logged, so that a test can count what the survey asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

__all__ = ["BEHAVIOURS", "HostileDns", "Query", "Rule", "World"]

Role = Literal["resolver", "auth", "sentinel"]
Transport = Literal["udp", "tcp"]

#: What a rule can make a server do:
#:
#: * ``answer``: the role's own answer; ``refused``: REFUSED;
#: * ``silent``: read, never answer (a TCP connection is held open until the client gives up);
#: * ``tcp-silent``: answer over UDP; over TCP read the question and never answer;
#: * ``truncate``: TC=1 and no records over UDP, the whole answer over TCP;
#: * ``tcp-close``: TC=1 over UDP, and the TCP connection closed as soon as the question is read;
#: * ``tcp-half``: TC=1 over UDP, and half a TCP frame, then close;
#: * ``tc-always``: TC=1 and no records, over UDP and TCP alike;
#: * ``stray-id`` / ``stray-junk``: over UDP, first a copy of the answer with another id / junk bytes
#:   that start like a reply to the query, then the answer;
#: * ``no-edns``: FORMERR without OPT to a query with EDNS (a pre-EDNS server), else the answer;
#: * ``referral``: RA=0, AA=0, no answer, the NS of the zone above in authority (an upward referral);
#: * ``dangling``: as a resolver, only the first CNAME of a chain, never its target.
BEHAVIOURS = frozenset(
    {
        "answer",
        "silent",
        "truncate",
        "tcp-close",
        "tcp-half",
        "tc-always",
        "stray-id",
        "stray-junk",
        "no-edns",
        "referral",
        "dangling",
        "refused",
        "tcp-silent",
    }
)

#: CNAMEs the resolver role chases for one question
MAX_CHASE = 8
#: how long a held (silent) TCP connection is kept at most, and an idle one waits for a question
HOLD_SECONDS = 30.0
IDLE_SECONDS = 10.0
BIND_ATTEMPTS = 8


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def _norm(text: str) -> str:
    return text.lower().rstrip(".") or "."


@dataclass(frozen=True)
class Query:
    """One message that reached the server."""

    server: str
    transport: Transport
    qname: str  #: normalised, "?" when the message could not be read
    qtype: str
    edns: bool
    rd: bool
    at: float = field(default=0.0, compare=False)  #: when it arrived (the loop's clock): for debugging only


@dataclass(frozen=True)
class Rule:
    """Behave as ``behaviour`` for the questions that match (None matches anything)."""

    behaviour: str
    server: str | None = None  #: an address, or a network ("127.1.0.0/16")
    qname: str | None = None
    qtype: str | None = None

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {self.behaviour!r}; expected one of {sorted(BEHAVIOURS)}")

    def _server_matches(self, server: str) -> bool:
        if self.server is None or self.server == server:
            return True
        return "/" in self.server and ipaddress.ip_address(server) in ipaddress.ip_network(self.server)

    def matches(self, server: str, qname: str, qtype: str) -> bool:
        return (
            self._server_matches(server)
            and (self.qname is None or _norm(self.qname) == qname)
            and (self.qtype is None or self.qtype.upper() == qtype)
        )


class World:
    """The zones every server answers from (the resolver all of them, an auth server its own)."""

    def __init__(self) -> None:
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {}

    def add(self, apex: str, text: str) -> World:
        """A zone in master-file syntax, names relative to ``apex`` (TTL 300 unless given)."""
        origin = _name(apex)
        self.zones[origin] = dns.zone.from_text(
            "$TTL 300\n" + text, origin=origin, relativize=False, check_origin=True
        )
        return self

    def zone_for(
        self, qname: dns.name.Name, among: Iterable[dns.name.Name] | None = None
    ) -> dns.zone.Zone | None:
        """The most specific zone (of ``among``, else of the world) that holds ``qname``."""
        apexes = [a for a in (self.zones if among is None else among) if qname.is_subdomain(a)]
        return self.zones[max(apexes, key=len)] if apexes else None


@dataclass
class _Lookup:
    kind: Literal["answer", "cname", "nodata", "nxdomain", "referral"]
    rrsets: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    target: dns.name.Name | None = None


def _rrset(
    owner: dns.name.Name, zone: dns.zone.Zone, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    rds = zone.get_rdataset(owner, rdtype)
    if rds is None:
        return None
    return dns.rrset.from_rdata_list(owner, rds.ttl, list(rds))


def _soa(zone: dns.zone.Zone) -> dns.rrset.RRset:
    soa = _rrset(zone.origin, zone, dns.rdatatype.SOA)  # type: ignore[arg-type]
    assert soa is not None
    return soa


def _lookup(
    zone: dns.zone.Zone, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, *, cuts: bool
) -> _Lookup:
    origin = zone.origin
    assert origin is not None
    if cuts:  # a delegation between the apex and the name: a referral (glue in the additional section)
        for depth in range(len(origin) + 1, len(qname) + 1):
            cut = qname.split(depth)[1]  # the ancestor of qname with ``depth`` labels, apex side first
            ns = _rrset(cut, zone, dns.rdatatype.NS)
            if ns is not None:
                glue = [
                    g
                    for rd in ns
                    for t in (dns.rdatatype.A, dns.rdatatype.AAAA)
                    if (g := _rrset(rd.target, zone, t)) is not None
                ]
                return _Lookup("referral", authority=[ns], additional=glue)
    node = zone.get_node(qname)
    if node is None:
        if any(n.is_subdomain(qname) for n in zone.nodes):
            return _Lookup("nodata", authority=[_soa(zone)])
        return _Lookup("nxdomain", authority=[_soa(zone)])
    cname = _rrset(qname, zone, dns.rdatatype.CNAME)
    if cname is not None and rdtype != dns.rdatatype.CNAME:
        return _Lookup("cname", rrsets=[cname], target=cname[0].target)
    rrset = _rrset(qname, zone, rdtype)
    if rrset is None:
        return _Lookup("nodata", authority=[_soa(zone)])
    return _Lookup("answer", rrsets=[rrset])


class HostileDns:
    """The servers: ``roles`` maps each loopback address to its role (and an auth address to its zones).

    ``rules`` may be changed between runs (:meth:`set_rules`); :attr:`log` holds every message received.
    """

    def __init__(
        self,
        world: World,
        *,
        resolver: str,
        auth: dict[str, list[str]] | None = None,
        sentinels: Iterable[str] = ("127.0.0.1",),
        rules: Iterable[Rule] = (),
    ) -> None:
        self.world = world
        self.resolver = resolver
        self.roles: dict[str, Role] = {resolver: "resolver"}
        self.served: dict[str, list[dns.name.Name]] = {}
        for ip, zones in (auth or {}).items():
            self.roles[ip] = "auth"
            self.served[ip] = [_name(z) for z in zones]
        for ip in sentinels:
            self.roles.setdefault(ip, "sentinel")
        self.rules: list[Rule] = list(rules)
        self.log: list[Query] = []
        #: the server's own failures (a bug in a script); a test asserts there are none
        self.errors: list[str] = []
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._closers: list[Callable[[], None]] = []
        #: every TCP connection's handler and writer still alive, closed at stop
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._random = random.Random(7)
        self._cache: dict[tuple[object, ...], bytes] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> HostileDns:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="hostile-dns", daemon=True)
        self._thread.start()
        if not ready.wait(120) or failure:
            raise RuntimeError(
                f"the hostile DNS server did not start: {failure[0] if failure else 'timeout'}"
            )
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed() and self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        thread.join(30)
        self._thread = None

    def __enter__(self) -> HostileDns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        await self._bind_all()
        ready.set()
        await self._stopping.wait()
        for close in self._closers:
            close()
        # (every connection still open is closed and its handler ended before the loop closes: a
        # transport left to the garbage collector is a ResourceWarning in the test that runs next)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 5)
        await asyncio.sleep(0)

    async def _bind_all(self) -> None:
        last: OSError | None = None
        for _ in range(BIND_ATTEMPTS):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((self.resolver, 0))
            port = probe.getsockname()[1]
            probe.close()
            socks: list[socket.socket] = []
            try:
                for ip in self.roles:
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        s = socket.socket(socket.AF_INET, kind)
                        socks.append(s)
                        if kind == socket.SOCK_STREAM:
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        s.bind((ip, port))
            except OSError as exc:
                for s in socks:
                    s.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                last = exc
                continue
            self.port = port
            await self._listen(socks)
            return
        raise RuntimeError(f"no free port for the hostile DNS server: {last}")

    async def _listen(self, socks: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        for s in socks:
            ip = s.getsockname()[0]
            if s.type == socket.SOCK_DGRAM:
                transport, _ = await loop.create_datagram_endpoint(lambda ip=ip: _Udp(self, ip), sock=s)
                self._closers.append(transport.close)
            else:
                server = await asyncio.start_server(
                    lambda r, w, ip=ip: self._tcp(ip, r, w), sock=s, backlog=64
                )
                self._closers.append(server.close)

    def set_rules(self, rules: Iterable[Rule]) -> None:
        with self._lock:
            self.rules = list(rules)

    # -- counting -------------------------------------------------------------------------------
    def queries(
        self,
        *,
        server: str | Callable[[str], bool] | None = None,
        transport: Transport | None = None,
        qname: str | None = None,
        qtype: str | None = None,
    ) -> list[Query]:
        with self._lock:
            log = list(self.log)
        return [
            q
            for q in log
            if (server is None or (server(q.server) if callable(server) else q.server == server))
            and (transport is None or q.transport == transport)
            and (qname is None or q.qname == _norm(qname))
            and (qtype is None or q.qtype == qtype.upper())
        ]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()

    # -- answering ------------------------------------------------------------------------------
    def _behaviour(self, server: str, qname: str, qtype: str) -> str:
        with self._lock:
            rules = list(self.rules)
        return next((r.behaviour for r in rules if r.matches(server, qname, qtype)), "answer")

    def _read(self, server: str, transport: Transport, wire: bytes) -> tuple[dns.message.Message | None, str]:
        """The query (None when unreadable) and the behaviour to answer it with; logs it."""
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            with self._lock:
                self.log.append(Query(server, transport, "?", "?", False, False, time.monotonic()))
            return None, "silent"
        question = q.question[0] if q.question else None
        qname = _norm(question.name.to_text()) if question is not None else "?"
        qtype = dns.rdatatype.to_text(question.rdtype) if question is not None else "?"
        with self._lock:
            self.log.append(
                Query(
                    server,
                    transport,
                    qname,
                    qtype,
                    q.edns >= 0,
                    bool(q.flags & dns.flags.RD),
                    time.monotonic(),
                )
            )
        if self.roles[server] == "sentinel" or question is None:
            return q, "silent"
        return q, self._behaviour(server, qname, qtype)

    def _respond(self, server: str, q: dns.message.Message, behaviour: str) -> dns.message.Message:
        if behaviour == "no-edns" and q.edns >= 0:
            r = dns.message.make_response(q)
            r.use_edns(False)
            r.set_rcode(dns.rcode.FORMERR)
            return r
        if behaviour == "refused":
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.REFUSED)
            return r
        if behaviour == "referral":
            return self._referral(q)
        if self.roles[server] == "resolver":
            return self._resolve(q, chase=behaviour != "dangling")
        return self._authoritative(server, q)

    def _referral(self, q: dns.message.Message) -> dns.message.Message:
        """An upward referral: no recursion, not authoritative, the NS of the zone above in authority."""
        r = dns.message.make_response(q)
        r.flags &= ~(dns.flags.AA | dns.flags.RA)
        qname = q.question[0].name
        zone = self.world.zone_for(qname.parent() if qname != dns.name.root else qname)
        if zone is not None:
            ns = _rrset(zone.origin, zone, dns.rdatatype.NS)  # type: ignore[arg-type]
            if ns is not None:
                r.authority.append(ns)
        return r

    def _resolve(self, q: dns.message.Message, *, chase: bool) -> dns.message.Message:
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        r.flags &= ~dns.flags.AA
        question = q.question[0]
        name, seen = question.name, set()
        for _ in range(MAX_CHASE + 1):
            zone = self.world.zone_for(name)
            if zone is None:
                if not r.answer:
                    r.set_rcode(dns.rcode.SERVFAIL)
                return r
            found = _lookup(zone, name, question.rdtype, cuts=False)
            r.answer += found.rrsets
            if found.kind == "cname" and found.target is not None:
                seen.add(name)
                if not chase or found.target in seen:
                    return r  # dangling on purpose, or a loop: the records met so far
                name = found.target
                continue
            if found.kind == "nxdomain":
                r.set_rcode(dns.rcode.NXDOMAIN)
            if found.kind in ("nxdomain", "nodata"):
                r.authority += found.authority
            return r
        return r  # chased as far as it goes: what was met

    def _authoritative(self, server: str, q: dns.message.Message) -> dns.message.Message:
        r = dns.message.make_response(q)
        r.flags &= ~dns.flags.RA
        question = q.question[0]
        zone = self.world.zone_for(question.name, self.served.get(server, []))
        if zone is None or question.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            r.set_rcode(dns.rcode.REFUSED)
            return r
        found = _lookup(zone, question.name, question.rdtype, cuts=True)
        if found.kind == "referral":
            r.authority += found.authority
            r.additional += found.additional
            return r
        r.flags |= dns.flags.AA
        r.answer += found.rrsets
        r.authority += found.authority
        if found.kind == "nxdomain":
            r.set_rcode(dns.rcode.NXDOMAIN)
        return r

    @staticmethod
    def _truncated(q: dns.message.Message, template: dns.message.Message | None = None) -> bytes:
        r = dns.message.make_response(q)
        if template is not None:
            r.flags = template.flags
        r.flags |= dns.flags.TC
        return r.to_wire()

    def _wire(self, server: str, q: dns.message.Message, behaviour: str, limit: int) -> bytes:
        """The answer in wire form, at most ``limit`` octets (else truncated, TC=1); memoised by all it
        depends on but the id, so that a large answer asked again and again costs little."""
        question = q.question[0]
        who = "resolver" if self.roles[server] == "resolver" else tuple(self.served.get(server, ()))
        key = (who, question.name, question.rdtype, behaviour, q.flags, q.edns, q.payload, limit)
        out = self._cache.get(key)
        if out is None:
            r = self._respond(server, q, behaviour)
            try:
                out = r.to_wire(max_size=limit)
            except dns.exception.TooBig:
                out = self._truncated(q, r)
            self._cache[key] = out
        return q.id.to_bytes(2, "big") + out[2:]

    def answer_udp(self, server: str, wire: bytes) -> list[bytes]:
        """The datagrams to send back for one datagram received (none: silence)."""
        q, behaviour = self._read(server, "udp", wire)
        if q is None or behaviour == "silent":
            return []
        if behaviour in ("truncate", "tcp-close", "tcp-half", "tc-always"):
            return [self._truncated(q)]
        out = self._wire(server, q, behaviour, max(512, q.payload) if q.edns >= 0 else 512)
        if behaviour == "stray-id":
            other = dns.message.from_wire(out)
            other.id = (q.id + 1) % 65536
            return [other.to_wire(), out]
        if behaviour == "stray-junk":
            # the query's id and a response's flags (QR RD RA, no TC), then counts no message can hold
            # and random bytes: it reads as the reply to this query until the parser chokes
            junk = q.id.to_bytes(2, "big") + b"\x81\x80\xff\xff\xff\xff\x00\x00\x00\x00"
            return [junk + bytes(self._random.randrange(256) for _ in range(28)), out]
        return [out]

    async def _tcp(self, server: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._tcp_session(server, reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _tcp_session(
        self, server: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), IDLE_SECONDS)
                    wire = await asyncio.wait_for(
                        reader.readexactly(int.from_bytes(head, "big")), IDLE_SECONDS
                    )
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                q, behaviour = self._read(server, "tcp", wire)
                if q is None or behaviour in ("silent", "tcp-silent"):
                    await self._hold(reader, writer)
                    return
                if behaviour == "tcp-close":
                    return
                try:
                    out = (
                        self._truncated(q)
                        if behaviour == "tc-always"
                        else self._wire(server, q, behaviour, 65535)
                    )
                except Exception as exc:
                    self.errors.append(f"{server} tcp: {type(exc).__name__}: {exc}")
                    out = _servfail(wire)
                frame = len(out).to_bytes(2, "big") + out
                if behaviour == "tcp-half":
                    writer.write(frame[: len(frame) // 2])
                    await writer.drain()
                    return
                writer.write(frame)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep a connection open and answer nothing, until the client closes it (or a long while)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_SECONDS
        with contextlib.suppress(TimeoutError, ConnectionError):
            while loop.time() < deadline:
                if not await asyncio.wait_for(reader.read(4096), deadline - loop.time()):
                    return  # the client gave up


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: HostileDns, ip: str) -> None:
        self.owner = owner
        self.ip = ip
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            replies = self.owner.answer_udp(self.ip, data)
        except Exception as exc:  # a bug here must show, as SERVFAIL and in ``errors``, never as silence
            self.owner.errors.append(f"{self.ip} udp: {type(exc).__name__}: {exc}")
            replies = [_servfail(data)]
        assert self.transport is not None
        for reply in replies:
            if reply:
                self.transport.sendto(reply, addr)


def _servfail(wire: bytes) -> bytes:
    try:
        r = dns.message.make_response(dns.message.from_wire(wire))
    except Exception:
        return b""
    r.set_rcode(dns.rcode.SERVFAIL)
    return r.to_wire()
