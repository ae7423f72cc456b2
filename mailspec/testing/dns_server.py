"""The lab's DNS server: every address of a :class:`LabPlan` over real UDP and TCP, on asyncio.

Built on dnspython's server-side pieces only (zone parser, message types); it shares nothing with
mailspec's survey. One port serves all addresses. Per address, the plan's mode decides:

* ``resolver``: answers as a recursive resolver would, from the most specific zone of the whole
  lab, following CNAMEs across zones (RA=1, AA=0), with the per-domain knobs (truncate, silent,
  servfail) of the plan;
* ``authoritative``: AA=1 for its zones, referrals for delegations below them, REFUSED for any
  other name; CNAMEs are chased inside the zone only (as NSD does); AXFR over TCP when allowed;
* ``refused``: REFUSED to everything; ``silent``: reads queries and never answers;
* ``recursive``: authoritative for its zones and an open resolver for every other name; like BIND
  with recursion on, all its answers carry RA=1.

Malformed queries get FORMERR when their header can be read and are dropped otherwise; an
unexpected error while answering gives SERVFAIL, never a dead server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import io
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.nsbase
import dns.rrset
import dns.zone

from mailspec.testing.binding import bind_everywhere, roomy_receive_buffer

from .scenario import ResolverKnobs
from .zones import LabPlan, ServerMode, parse_zone

__all__ = ["MAX_CNAME_HOPS", "LabDnsServer"]

#: CNAMEs the resolver follows for one query; one more is answered SERVFAIL, like a loop.
MAX_CNAME_HOPS = 8
#: A TCP connection with no query for this long is closed (not for silent servers).
TCP_IDLE_SECONDS = 10.0
#: Target size of each message of a zone transfer.
AXFR_MESSAGE_BYTES = 16384

Transport = Literal["udp", "tcp"]
Sender = Callable[[list[bytes]], Awaitable[None]]


@dataclass
class _Result:
    """One lookup in one zone."""

    kind: Literal["answer", "cname", "nodata", "nxdomain", "referral"]
    rrsets: list[dns.rrset.RRset] = field(default_factory=list)
    target: dns.name.Name | None = None  #: the CNAME target
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def _rrset(owner: dns.name.Name, rds: dns.rdataset.Rdataset, ttl: int | None = None) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(owner, rds.ttl if ttl is None else ttl, list(rds))


class _ZoneData:
    """A parsed zone with the indexes lookups need."""

    def __init__(self, origin: str, text: str) -> None:
        self.zone = parse_zone(origin, text)
        assert self.zone.origin is not None
        self.origin: dns.name.Name = self.zone.origin
        self.names: set[dns.name.Name] = set()  # every owner plus empty non-terminals
        self.cuts: set[dns.name.Name] = set()  # delegations below the apex
        for name, node in self.zone.nodes.items():
            ancestor = name
            while ancestor not in self.names:
                self.names.add(ancestor)
                if ancestor == self.origin:
                    break
                ancestor = ancestor.parent()
            if name != self.origin and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS) is not None:
                self.cuts.add(name)
        soa_rds = self.zone.get_rdataset(self.origin, dns.rdatatype.SOA)
        assert soa_rds is not None
        soa = cast(dns.rdtypes.ANY.SOA.SOA, soa_rds[0])
        self.soa = _rrset(self.origin, soa_rds)
        # RFC 2308 section 5: a negative answer's SOA carries min(SOA TTL, MINIMUM).
        self.negative_soa = _rrset(self.origin, soa_rds, min(soa_rds.ttl, soa.minimum))

    def lookup(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> _Result:
        cut = self._cut(qname, qtype)
        if cut is not None:
            return self._referral(cut)
        node = self.zone.get_node(qname)
        if node is None:
            if qname in self.names:
                return _Result("nodata", authority=[self.negative_soa])
            node = self._wildcard(qname)
            if node is None:
                return _Result("nxdomain", authority=[self.negative_soa])
        if qtype == dns.rdatatype.ANY:
            rrsets = [_rrset(qname, rds) for rds in node.rdatasets]
            return _Result("answer", rrsets) if rrsets else _Result("nodata", authority=[self.negative_soa])
        rds = node.get_rdataset(dns.rdataclass.IN, qtype)
        if rds is not None:
            return _Result("answer", [_rrset(qname, rds)])
        cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is not None:
            target = cast(dns.rdtypes.nsbase.NSBase, cname[0]).target
            return _Result("cname", [_rrset(qname, cname)], target=target)
        return _Result("nodata", authority=[self.negative_soa])

    def _cut(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> dns.name.Name | None:
        """The highest delegation between the apex and *qname* (inclusive), if any."""
        if not self.cuts:
            return None
        depth = len(self.origin.labels)
        for size in range(depth + 1, len(qname.labels) + 1):
            name = dns.name.Name(qname.labels[-size:])
            if name in self.cuts:
                # DS lives on the parent side of a cut: answered here, not referred.
                if name == qname and qtype == dns.rdatatype.DS:
                    return None
                return name
        return None

    def _referral(self, cut: dns.name.Name) -> _Result:
        ns = self.zone.get_rdataset(cut, dns.rdatatype.NS)
        assert ns is not None
        glue = []
        for rdata in ns:
            host = cast(dns.rdtypes.nsbase.NSBase, rdata).target
            if not host.is_subdomain(self.origin):
                continue
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                rds = self.zone.get_rdataset(host, rdtype)
                if rds is not None:
                    glue.append(_rrset(host, rds))
        return _Result("referral", authority=[_rrset(cut, ns)], additional=glue)

    def _wildcard(self, qname: dns.name.Name) -> dns.node.Node | None:
        """RFC 4592: the ``*`` child of the closest encloser, if the zone has one."""
        name = qname.parent()
        while name not in self.names:
            name = name.parent()
        return self.zone.get_node(dns.name.Name((b"*", *name.labels)))

    def transfer(self) -> list[dns.rrset.RRset]:
        """The zone for AXFR: SOA first and last (RFC 5936 section 2.2)."""
        rrsets = [self.soa]
        for name, rds in self.zone.iterate_rdatasets():
            if not (name == self.origin and rds.rdtype == dns.rdatatype.SOA):
                rrsets.append(_rrset(name, rds))
        rrsets.append(self.soa)
        return rrsets


@dataclass
class _Endpoint:
    ip: str
    mode: ServerMode
    zones: dict[dns.name.Name, _ZoneData]
    axfr: set[dns.name.Name]


def _closest(zones: dict[dns.name.Name, _ZoneData], qname: dns.name.Name) -> _ZoneData | None:
    name = qname
    while True:
        found = zones.get(name)
        if found is not None:
            return found
        if name in (dns.name.root, dns.name.empty):
            return None
        name = name.parent()


def _reply(query: dns.message.Message, rcode: dns.rcode.Rcode, *, ra: bool = False) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    if ra:
        response.flags |= dns.flags.RA
    return response


def _truncated(query: dns.message.Message, response: dns.message.Message) -> dns.message.Message:
    """The same header with TC=1 and no records: the client must retry over TCP."""
    short = dns.message.make_response(query)
    short.flags = response.flags | dns.flags.TC
    short.set_rcode(response.rcode())
    return short


def _formerr(data: bytes) -> bytes | None:
    """FORMERR for a packet whose header can be read; None (drop it) otherwise or for a response."""
    if len(data) < 12:
        return None
    flags = int.from_bytes(data[2:4], "big")
    if flags & dns.flags.QR:
        return None  # never answer an answer: two servers must not ping-pong
    reply = dns.message.Message(id=int.from_bytes(data[:2], "big"))
    reply.flags = dns.flags.QR | (flags & dns.flags.RD)
    reply.set_opcode(dns.opcode.from_flags(flags))
    reply.set_rcode(dns.rcode.FORMERR)
    return reply.to_wire()


#: connections waiting to be accepted (asyncio's default is 100): every question of a truncated
#: answer comes back over TCP, a survey asks a resolver up to 1,024 at once, and a connection the
#: kernel turns away costs its client a second before it tries again (the kernel caps the number at
#: net.core.somaxconn)
TCP_BACKLOG = 1024


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: LabDnsServer, endpoint: _Endpoint) -> None:
        self.server = server
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        transport = self.transport
        if transport is None or self.endpoint.mode == "silent":
            return

        async def send(wires: list[bytes]) -> None:
            if not transport.is_closing():
                for wire in wires:
                    transport.sendto(wire, addr)

        self.server._spawn(self.server._handle(self.endpoint, data, "udp", send))

    def error_received(self, exc: Exception) -> None:
        """ICMP errors about clients that went away: nothing to do."""


class LabDnsServer:
    """Serves a :class:`LabPlan` on loopback; start and stop it inside one asyncio event loop."""

    def __init__(self, plan: LabPlan, *, latency: float = 0.0, resolver_also: Sequence[str] = ()) -> None:
        """*resolver_also*: more addresses (of this host's, not the plan's) that answer exactly as the
        plan's resolver does, on the same port (``serve --dns-listen``: a container's address)."""
        self.plan = plan
        #: seconds added before every answer (asyncio.sleep: concurrent queries still overlap)
        self.latency = latency
        self.port = 0
        self.queries_received = 0
        self.queries_answered = 0
        self.answered_by_address: Counter[str] = Counter()
        #: unexpected exceptions turned into SERVFAIL (a test asserts there are none)
        self.internal_errors: list[str] = []
        cache: dict[tuple[str, str], _ZoneData] = {}

        def zone_data(origin: str, text: str) -> _ZoneData:
            # The resolver, the registry and the current name servers share one parsed copy.
            key = (origin, text)
            if key not in cache:
                cache[key] = _ZoneData(origin, text)
            return cache[key]

        self._all_zones = {zd.origin: zd for zd in (zone_data(o, t) for o, t in plan.zones.items())}
        self._endpoints: list[_Endpoint] = []
        for server in plan.servers:
            zones = {zd.origin: zd for zd in (zone_data(o, t) for o, t in server.zones.items())}
            axfr = {dns.name.from_text(origin) for origin in server.axfr}
            self._endpoints.append(_Endpoint(server.ip, server.mode, zones, axfr))
        if resolver_also:
            taken = {ep.ip for ep in self._endpoints}
            resolvers = [ep for ep in self._endpoints if ep.ip == plan.resolver_ip]
            if not resolvers:
                raise ValueError(f"resolver_also: the plan serves no resolver at {plan.resolver_ip}")
            resolver = resolvers[0]
            for ip in dict.fromkeys(resolver_also):
                if ip in taken:
                    raise ValueError(f"{ip} is one of the lab's own DNS addresses already")
                self._endpoints.append(dataclasses.replace(resolver, ip=ip))
        self._knobs = {dns.name.from_text(domain): knobs for domain, knobs in plan.resolver_knobs.items()}
        self._tcp_servers: list[asyncio.Server] = []
        self._udp_transports: list[asyncio.DatagramTransport] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.Task[object]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    @property
    def addresses(self) -> list[str]:
        return [ep.ip for ep in self._endpoints]

    @property
    def running(self) -> bool:
        return bool(self._tcp_servers)

    def __repr__(self) -> str:
        state = f"port {self.port}" if self.running else "stopped"
        return f"<LabDnsServer {len(self._endpoints)} addresses, {state}, {self.queries_answered} answered>"

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Bind UDP and TCP on every address, on *port* or (0) a free port shared by all."""
        if self.running:
            raise RuntimeError("the lab DNS server is already running")
        await bind_everywhere(self._bind, self._close_listeners, port)

    async def _bind(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for ep in self._endpoints:
            server = await asyncio.start_server(
                functools.partial(self._accept, ep),
                host=ep.ip,
                port=port,
                reuse_address=True,
                backlog=TCP_BACKLOG,
            )
            self._tcp_servers.append(server)
            if port == 0:
                port = server.sockets[0].getsockname()[1]
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_UdpProtocol, self, ep), local_addr=(ep.ip, port)
            )
            self._udp_transports.append(transport)
            roomy_receive_buffer(transport.get_extra_info("socket"))
        self.port = port

    async def _close_listeners(self) -> None:
        servers, self._tcp_servers = self._tcp_servers, []
        for server in servers:
            server.close()
        for transport in self._udp_transports:
            transport.close()
        self._udp_transports = []
        for server in servers:
            await server.wait_closed()

    async def stop(self) -> None:
        """Close every socket and wait for the work in flight to end."""
        self._closing = True
        for server in self._tcp_servers:
            server.close()
        for transport in self._udp_transports:
            transport.close()
        # A connection accepted just before close() gets its handler a few loop turns later: sweep
        # until several turns in a row find no handler or answer left, so that none outlives us.
        quiet = 0
        for _turn in range(100):
            await asyncio.sleep(0)
            for writer in list(self._writers):
                writer.close()
            pending: list[asyncio.Task[object]] = [*self._tasks, *self._connections]
            if not pending:
                quiet += 1
                if quiet == 3:
                    break
                continue
            quiet = 0
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._close_listeners()
        self.port = 0
        self._closing = False

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ transports

    def _accept(self, ep: _Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: the connection's task is ours from its first moment, so
        # stop() can always find and cancel it (asyncio's own wrapper also logs such cancellations).
        self._writers.add(writer)
        if self._closing:
            writer.close()
        task: asyncio.Task[object] = asyncio.ensure_future(self._serve_tcp(ep, reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve_tcp(
        self, ep: _Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        lock = asyncio.Lock()
        inflight: set[asyncio.Task[None]] = set()
        idle = None if ep.mode == "silent" else TCP_IDLE_SECONDS

        async def send(wires: list[bytes]) -> None:
            async with lock:  # whole messages, never interleaved
                for wire in wires:
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()

        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), idle)
                    data = await asyncio.wait_for(reader.readexactly(int.from_bytes(head, "big")), idle)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    break
                if ep.mode == "silent":
                    continue
                # One task per query: a client may pipeline queries on one connection.
                task = asyncio.ensure_future(self._handle(ep, data, "tcp", send))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
        finally:
            for task in inflight:
                task.cancel()
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, ep: _Endpoint, data: bytes, transport: Transport, send: Sender) -> None:
        self.queries_received += 1
        wires = self._wires(ep, data, transport)
        if wires is None:
            return
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        # Counted before the send completes: a TCP client may hold its answer before drain() returns.
        self.queries_answered += 1
        self.answered_by_address[ep.ip] += 1
        with contextlib.suppress(ConnectionError, OSError):  # the client went away: nothing to do
            await send(wires)

    def _wires(self, ep: _Endpoint, data: bytes, transport: Transport) -> list[bytes] | None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # any garbage (dnspython raises many types): FORMERR or silence
            wire = _formerr(data)
            return [wire] if wire is not None else None
        try:
            messages = self._respond(ep, query, transport)
        except Exception as exc:  # a bug must cost one answer, not the server
            self.internal_errors.append(f"{ep.ip} {query.question}: {exc!r}")
            messages = [_reply(query, dns.rcode.SERVFAIL)]
        if messages is None:
            return None
        if transport == "tcp":
            return [m.to_wire(max_size=65535) for m in messages]
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return [messages[0].to_wire(max_size=limit)]
        except dns.exception.TooBig:
            return [_truncated(query, messages[0]).to_wire()]

    # ------------------------------------------------------------------ answers

    def _respond(
        self, ep: _Endpoint, query: dns.message.Message, transport: Transport
    ) -> list[dns.message.Message] | None:
        """The messages answering *query* at *ep*, or None to stay silent."""
        if query.flags & dns.flags.QR:
            return None
        if query.opcode() != dns.opcode.QUERY:
            return [_reply(query, dns.rcode.NOTIMP)]
        if len(query.question) != 1:
            return [_reply(query, dns.rcode.FORMERR)]
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        if ep.mode == "refused" or question.rdclass != dns.rdataclass.IN:
            return [_reply(query, dns.rcode.REFUSED)]
        if qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            return self._transfer(ep, query, qname, transport)
        if ep.mode == "resolver":
            knobs = self._knobs_for(qname)
            if knobs is not None:
                if knobs.silent:
                    return None
                if knobs.servfail:
                    return [_reply(query, dns.rcode.SERVFAIL, ra=True)]
                if knobs.truncate and transport == "udp":
                    return [_truncated(query, _reply(query, dns.rcode.NOERROR, ra=True))]
            return [self._resolve(query, qname, qtype)]
        return [self._authoritative(ep, query, qname, qtype)]

    def _knobs_for(self, qname: dns.name.Name) -> ResolverKnobs | None:
        name = qname
        while True:
            knobs = self._knobs.get(name)
            if knobs is not None:
                return knobs
            if name in (dns.name.root, dns.name.empty):
                return None
            name = name.parent()

    def _resolve(
        self, query: dns.message.Message, qname: dns.name.Name, qtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        """What a recursive resolver answers, from the current version of every zone."""
        response = _reply(query, dns.rcode.NOERROR, ra=True)
        name = qname
        seen = {qname}
        for _hop in range(MAX_CNAME_HOPS + 1):
            zone = _closest(self._all_zones, name)
            if (
                zone is not None
                and qtype == dns.rdatatype.DS
                and zone.origin == name
                and name != dns.name.root
            ):
                zone = _closest(self._all_zones, name.parent())  # DS is the parent's data
            if zone is None:
                # Nothing outside the lab exists; the root itself exists but is empty.
                if name != dns.name.root:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                return response
            result = zone.lookup(name, qtype)
            if result.kind == "cname":
                response.answer += result.rrsets
                assert result.target is not None
                if result.target in seen:
                    return _reply(query, dns.rcode.SERVFAIL, ra=True)  # a CNAME loop
                seen.add(result.target)
                name = result.target
                continue
            if result.kind == "referral":
                # A delegation to servers the lab does not run: a resolver cannot get an answer.
                return _reply(query, dns.rcode.SERVFAIL, ra=True)
            response.answer += result.rrsets
            response.authority += result.authority
            if result.kind == "nxdomain":
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        return _reply(query, dns.rcode.SERVFAIL, ra=True)  # chain too long

    def _authoritative(
        self, ep: _Endpoint, query: dns.message.Message, qname: dns.name.Name, qtype: dns.rdatatype.RdataType
    ) -> dns.message.Message:
        zone = _closest(ep.zones, qname)
        if zone is None:
            if ep.mode == "recursive":
                return self._resolve(query, qname, qtype)  # the open resolver part
            return _reply(query, dns.rcode.REFUSED)
        response = _reply(query, dns.rcode.NOERROR, ra=ep.mode == "recursive")
        result = zone.lookup(qname, qtype)
        if result.kind == "referral":
            response.authority += result.authority
            response.additional += result.additional
            return response
        response.flags |= dns.flags.AA
        seen = {qname}
        while result.kind == "cname":
            response.answer += result.rrsets
            target = result.target
            # Like NSD: follow the chain while it stays inside this zone, and stop at a loop.
            if target is None or target in seen or not target.is_subdomain(zone.origin):
                return response
            seen.add(target)
            result = zone.lookup(target, qtype)
            if result.kind == "referral":
                return response
        response.answer += result.rrsets
        response.authority += result.authority
        if result.kind == "nxdomain":
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def _transfer(
        self, ep: _Endpoint, query: dns.message.Message, qname: dns.name.Name, transport: Transport
    ) -> list[dns.message.Message]:
        zone = ep.zones.get(qname)
        if transport != "tcp" or zone is None or qname not in ep.axfr:
            return [_reply(query, dns.rcode.REFUSED)]
        messages: list[dns.message.Message] = []
        current = self._transfer_message(query)
        size = 0
        for rrset in zone.transfer():
            wire = io.BytesIO()
            rrset.to_wire(wire)  # uncompressed: an upper bound of its share of a message
            if current.answer and size + wire.tell() > AXFR_MESSAGE_BYTES:
                messages.append(current)
                current = self._transfer_message(query)
                size = 0
            current.answer.append(rrset)
            size += wire.tell()
        messages.append(current)
        return messages

    @staticmethod
    def _transfer_message(query: dns.message.Message) -> dns.message.Message:
        message = dns.message.make_response(query)
        message.flags |= dns.flags.AA
        return message
