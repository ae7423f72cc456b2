"""Asynchronous DNS on the survey engine: the resolver path and direct questions to name servers.

Every question is asked at most once per run (the engine's memo), bounded by the timeout and by the
budget of whoever waits for it, and kept whole as a :class:`~mailspec.facts.DnsAnswer`, so that a
verdict can show the answers it rests on. Nothing here raises for anything a server does: a timeout,
SERVFAIL, a closed connection or a garbage reply is an answer whose ``definite`` is False.

Why some of it is written by hand rather than left to dnspython's query functions: a direct question
is sent again, on the same socket, halfway through its timeout (a lost datagram or a rate limit must
not make a server look lame, and a late answer to the first copy still counts); a stray datagram
(wrong id, junk) is skipped rather than taken as the answer; a FORMERR to an EDNS query is asked
again without EDNS, as resolvers do; and a TCP answer is checked for truncation.

The configured resolvers are asked over connected UDP sockets: only a connected socket hears the
operating system's word for what went wrong (an ICMP port unreachable is "connection refused", where
an unconnected socket hears nothing and waits out the timeout). Each resolver's liveness
(:class:`~mailspec.survey.engine.Liveness`, on the engine's host named by its ``ip:port``, the name of
the resolver set's slot too) says whether it ever answered, and if it did not, why.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import dns._asyncbackend  # (DatagramSocket and Backend are re-exported by dns.asyncbackend untyped)
import dns.asyncbackend
import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

from mailspec.facts.dns import DnsAnswer, Record
from mailspec.records.addresses import never_asked
from mailspec.survey.engine import Engine

_Make = Callable[[], Awaitable[DnsAnswer]]

__all__ = ["MAX_CNAME_HOPS", "UNREACHABLE", "Budget", "DnsClient", "DnsEndpoint", "os_reason"]

#: how an answer that could not even be sent (no route from this machine) begins its error
UNREACHABLE = "unreachable from this machine"

#: questions in flight to one authoritative server at once (polite), and to one configured resolver
#: (the user's own, built for it: Unbound's default is 1024 queries in flight per thread; a question
#: that times out holds its place for the whole timeout, so a smaller number makes black-holed
#: domains queue everything behind them)
PER_SERVER = 10
PER_RESOLVER = 1024

#: RFC-less but universal: resolvers and the catalog (§16.3) give up on longer alias chains.
MAX_CNAME_HOPS = 8


@dataclass(frozen=True)
class DnsEndpoint:
    """Where DNS questions go: an IP address and a port."""

    ip: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


class Budget:
    """How long one fact may take in all, whatever its servers do (a deadline on the loop's clock)."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.deadline = asyncio.get_running_loop().time() + seconds

    def remaining(self) -> float:
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def spent(self, qname: str, rdtype: str, server: str) -> DnsAnswer:
        return DnsAnswer(
            qname,
            rdtype,
            server,
            # "timeout", so that no check reads it as an answer (an AXFR refused, say), but not
            # "(timeout)": the server is not silent, the survey stopped waiting for it
            error=f"not answered in time (survey timeout): the survey's budget of {self.seconds:g} s for "
            f"{self.what} ran out",
        )


#: errors that say "this machine has no route there" (typically no IPv6), not "the server is broken"
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


def _network_error(exc: OSError) -> str:
    if exc.errno in _NO_ROUTE:
        return f"{UNREACHABLE}: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused ({exc.strerror or exc})"
    return f"network error: {exc.strerror or exc}"


#: the operating system's reasons, in the words mailspec reports them in
_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EADDRNOTAVAIL: "address not available",
    errno.EAFNOSUPPORT: "address family not supported",
    errno.EPERM: "operation not permitted",
    errno.EACCES: "permission denied",
}


def os_reason(exc: OSError) -> str:
    """What the operating system said, in a few words ("connection refused", "network unreachable")."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _udp_to(endpoint: DnsEndpoint) -> socket.socket:
    """A non-blocking UDP socket connected to ``endpoint`` (connecting sends nothing; with no route
    there, it raises the OSError that says so)."""
    af = dns.inet.af_for_address(endpoint.ip)
    sock = socket.socket(af, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(dns.inet.low_level_address_tuple((endpoint.ip, endpoint.port), af))
    except BaseException:
        sock.close()
        raise
    return sock


class _Datagrams(asyncio.DatagramProtocol):
    """What a connected UDP socket receives: datagrams, and the errors the operating system reports."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, Any] | BaseException] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.received.put_nowait(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.received.put_nowait(exc or EOFError("the socket was closed"))


class _ConnectedUdp(dns._asyncbackend.DatagramSocket):
    """A connected UDP socket for dnspython's query functions (the asyncio sockets dnspython makes are
    unconnected: a refusal is heard as silence there, and costs a whole timeout)."""

    def __init__(self, family: int, transport: asyncio.DatagramTransport, protocol: _Datagrams) -> None:
        super().__init__(family, socket.SOCK_DGRAM)
        self.transport = transport
        self.protocol = protocol

    @classmethod
    async def to(cls, endpoint: DnsEndpoint) -> _ConnectedUdp:
        sock = _udp_to(endpoint)
        try:
            transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
                _Datagrams, sock=sock
            )
        except BaseException:
            sock.close()
            raise
        return cls(sock.family, transport, protocol)

    async def sendto(self, what: bytes, destination: Any, timeout: float | None) -> int:
        self.transport.sendto(what)  # (connected: to its peer; an error comes back through recvfrom)
        return len(what)

    async def recvfrom(self, size: int, timeout: float | None) -> tuple[bytes, Any]:
        try:
            got = await asyncio.wait_for(self.protocol.received.get(), timeout)
        except TimeoutError:
            raise dns.exception.Timeout(timeout=timeout) from None  # type: ignore[no-untyped-call]
        if isinstance(got, BaseException):
            raise got
        return got

    async def close(self) -> None:
        self.transport.close()

    async def getpeername(self) -> Any:
        return self.transport.get_extra_info("peername")

    async def getsockname(self) -> Any:
        return self.transport.get_extra_info("sockname")


class _Resolver(dns.nameserver.Do53Nameserver):
    """One configured resolver, asked over connected UDP sockets (the operating system's reason for a
    failure reaches the answer), its liveness kept on the engine's host named by the endpoint."""

    def __init__(self, client: DnsClient, endpoint: DnsEndpoint) -> None:
        super().__init__(endpoint.ip, endpoint.port)
        self.client = client
        self.endpoint = endpoint

    def __str__(self) -> str:
        return str(self.endpoint)

    async def async_query(
        self,
        request: dns.message.QueryMessage,
        timeout: float,
        source: str | None,
        source_port: int,
        max_size: bool,
        backend: dns._asyncbackend.Backend,
        one_rr_per_rrset: bool = False,
        ignore_trailing: bool = False,
    ) -> dns.message.Message:
        # (no source address: the client's resolver never sets one)
        live = self.client.engine.host(str(self.endpoint)).over("dns-tcp" if max_size else "dns-udp")
        with self.client.flying():
            try:
                if max_size:
                    response = await dns.asyncquery.tcp(
                        request,
                        self.address,
                        timeout=timeout,
                        port=self.port,
                        backend=backend,
                        one_rr_per_rrset=one_rr_per_rrset,
                        ignore_trailing=ignore_trailing,
                    )
                else:
                    sock = await _ConnectedUdp.to(self.endpoint)
                    try:
                        response = await dns.asyncquery.udp(
                            request,
                            self.address,
                            timeout=timeout,
                            port=self.port,
                            raise_on_truncation=True,
                            one_rr_per_rrset=one_rr_per_rrset,
                            ignore_trailing=ignore_trailing,
                            ignore_errors=True,
                            ignore_unexpected=True,
                            sock=sock,
                        )
                    finally:
                        await sock.close()
            except dns.exception.Timeout:
                live.timed_out()
                raise
            except OSError as exc:  # (dnspython takes the resolver out of this question's attempts)
                live.failed(os_reason(exc))
                raise
            except Exception:
                live.answered += (
                    1  # something came back: a truncated or unreadable reply, a closed connection
                )
                raise
        live.answered += 1
        return response


def _attempts(errors: Iterable[Any]) -> dict[str, str]:
    """What each resolver's attempts ended in, from dnspython's list of failed attempts: its last
    one's "timeout", or the operating system's reason."""
    out: dict[str, str] = {}
    for err in errors:
        exc = err[3] if len(err) > 3 else None
        if isinstance(exc, dns.exception.Timeout):
            out[str(err[0])] = "timeout"
        elif isinstance(exc, OSError):
            out[str(err[0])] = os_reason(exc)
        elif isinstance(exc, BaseException):
            out[str(err[0])] = _describe(exc)
    return out


def _records(section: Iterable[dns.rrset.RRset]) -> tuple[Record, ...]:
    out: list[Record] = []
    for rrset in section:
        name = "." if rrset.name == dns.name.root else rrset.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(rrset.rdtype)
        out.extend(Record(name, rrset.ttl, rdtype, rd.to_text()) for rd in rrset)
    return tuple(out)


def _from_message(
    qname: str, rdtype: str, server: str, msg: dns.message.Message, elapsed: float, tcp: bool
) -> DnsAnswer:
    ans = DnsAnswer(
        qname=qname,
        rdtype=rdtype,
        server=server,
        rcode=dns.rcode.to_text(msg.rcode()),
        aa=bool(msg.flags & dns.flags.AA),
        ra=bool(msg.flags & dns.flags.RA),
        tcp=tcp,
        answer=_records(msg.answer),
        authority=_records(msg.authority),
        # (the additional section is not kept: no check reads it, and a survey of thousands of
        # domains holds every answer to the end)
        elapsed=round(elapsed, 4),
    )
    if msg.flags & dns.flags.TC:
        # a truncated answer is incomplete: what it lacks cannot be read as "missing"
        return replace(ans, error="truncated answer (TC=1) even over TCP: incomplete")
    loop = cname_loop(ans)
    if loop:
        return replace(ans, error=f"CNAME loop: {loop}")
    return ans


def cname_loop(ans: DnsAnswer) -> str:
    """The loop, as ``a -> b -> a``, when the answer's CNAME chain from the question comes back on
    itself; "" otherwise."""
    targets = {r.name: r.target for r in ans.answer if r.rdtype == "CNAME"}
    name, seen = ans.qname, [ans.qname]
    while name in targets:
        name = targets[name]
        if name in seen:
            return " -> ".join([*seen, name])
        seen.append(name)
    return ""


class DnsClient:
    """DNS questions for one survey: through the configured resolvers, or straight to a name server.

    ``resolvers`` are asked in order (a timeout or SERVFAIL from one moves on to the next, like a stub
    resolver with several ``nameserver`` lines), a second attempt within the timeout, so that a lost
    datagram is asked again. ``dns_port`` is the port of authoritative servers for
    direct questions (53; the embedded lab uses an unprivileged one).
    """

    def __init__(
        self, engine: Engine, resolvers: list[DnsEndpoint], *, timeout: float = 10.0, dns_port: int = 53
    ) -> None:
        if not resolvers:
            raise ValueError("at least one resolver is needed")
        self.engine = engine
        self.resolvers = list(resolvers)
        self.timeout = timeout
        self.dns_port = dns_port
        self.sent = 0  #: questions that went to the network (memo misses)
        self.in_flight = 0  #: questions sent and not answered (nor given up on) yet
        self._resolver = dns.asyncresolver.Resolver(configure=False)
        self._resolver.nameservers = [_Resolver(self, r) for r in resolvers]
        # a lost datagram is asked again within the timeout; the first try gets the larger share, so
        # that a resolver slow under a burst is not asked twice at once
        self._resolver.timeout = timeout * 0.6
        self._resolver.lifetime = timeout * len(resolvers)
        self._resolver.cache = None
        self._resolver.retry_servfail = False
        self._resolver.rotate = False
        self._resolver.use_edns(0, 0, 1232)

    @property
    def resolver_text(self) -> str:
        return ",".join(str(r) for r in self.resolvers)

    @contextmanager
    def flying(self) -> Iterator[None]:
        """One question in flight (counted on the loop; read from any thread, for progress)."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    # -- public API -----------------------------------------------------------------------------
    async def query(self, qname: str, rdtype: str, budget: Budget | None = None) -> DnsAnswer:
        """Ask the resolvers; a CNAME chain the resolver left dangling is followed here."""
        qname = qname.lower().rstrip(".") or "."
        key = ("", qname, rdtype, True)
        return await self._wait(key, lambda: self._resolve_following(qname, rdtype), budget)

    async def query_at(
        self, ip: str, qname: str, rdtype: str, *, rd: bool = False, budget: Budget | None = None
    ) -> DnsAnswer:
        """Ask one name server directly (UDP, sent twice within the timeout; TCP on truncation).

        An address that is no server (:func:`never_asked`) is sent nothing: the answer says why."""
        server = DnsEndpoint(ip, self.dns_port)
        if why := never_asked(ip):
            return DnsAnswer(qname, rdtype, str(server), error=why)
        key = (str(server), qname, rdtype, rd)
        return await self._wait(key, lambda: self._direct(server, qname, rdtype, rd=rd), budget)

    async def axfr_at(self, ip: str, zone: str, budget: Budget | None = None) -> DnsAnswer:
        """Ask one name server for a zone transfer and read only its first message (never an address
        that is no server: :func:`never_asked`)."""
        server = DnsEndpoint(ip, self.dns_port)
        if why := never_asked(ip):
            return DnsAnswer(zone, "AXFR", str(server), error=why)
        return await self._wait((str(server), zone, "AXFR", False), lambda: self._axfr(server, zone), budget)

    # -- machinery ------------------------------------------------------------------------------
    def warm(self, qname: str, rdtype: str) -> None:
        """Start asking the resolvers a question whose answer a later fact will want (no wait)."""
        qname = qname.lower().rstrip(".") or "."
        key = ("", qname, rdtype, True)
        self._fetch(key, lambda: self._resolve_following(qname, rdtype))

    def _fetch(self, key: tuple[str, str, str, bool], make: _Make) -> asyncio.Future[DnsAnswer]:
        async def guarded() -> DnsAnswer:
            self.sent += 1
            try:
                return await make()
            except Exception as exc:  # nothing a server does may escape the engine: a fact of its own
                return DnsAnswer(key[1], key[2], key[0] or self.resolver_text, error=_describe(exc))

        return self.engine.task("dns", key, guarded)

    async def _wait(self, key: tuple[str, str, str, bool], make: _Make, budget: Budget | None) -> DnsAnswer:
        fetch = asyncio.shield(self._fetch(key, make))
        if budget is None:
            return await fetch
        try:
            return await asyncio.wait_for(fetch, budget.remaining())
        except TimeoutError:
            return budget.spent(key[1], key[2], key[0] or self.resolver_text)

    async def _resolve_following(self, qname: str, rdtype: str) -> DnsAnswer:
        first = await self._resolve(qname, rdtype)
        followed: list[DnsAnswer] = []
        seen = {qname}
        current = first
        result = first
        for _ in range(MAX_CNAME_HOPS):
            if not current.definite or rdtype == "CNAME" or current.nxdomain or result.records:
                return result
            final = result.final_name
            if final == current.qname:
                return result  # no alias left dangling: plain NODATA
            if final in seen:
                followed.append(DnsAnswer(final, rdtype, current.server, error=f"CNAME loop at {final}"))
                return replace(first, followed=tuple(followed))
            seen.add(final)
            current = await self._resolve(final, rdtype)
            followed.append(current)
            result = replace(first, followed=tuple(followed))
        if current.definite and not current.nxdomain and not result.records and result.final_name != qname:
            final = result.final_name
            if final != current.qname or current.chain:
                # still an alias after every hop allowed: unknown, never "no such record"
                followed.append(
                    DnsAnswer(
                        final,
                        rdtype,
                        current.server,
                        error=f"CNAME chain longer than {MAX_CNAME_HOPS} hops; not followed further",
                    )
                )
                result = replace(first, followed=tuple(followed))
        return result

    async def _resolve(self, qname: str, rdtype: str) -> DnsAnswer:
        server = self.resolver_text
        start = time.monotonic()
        try:
            name = dns.name.from_text(qname)
        except dns.exception.DNSException as exc:
            return DnsAnswer(qname, rdtype, server, error=f"not a valid DNS name: {exc}")
        # one slot for the resolver set: dnspython fails over across the resolvers itself
        async with self.engine.host(self.resolver_text).slot("dns-resolver", PER_RESOLVER):
            try:
                ans = await self._resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
            except dns.resolver.NXDOMAIN as exc:
                resp: dns.message.Message = exc.response(name)  # type: ignore[no-untyped-call]
                return self._checked(
                    _from_message(qname, rdtype, server, resp, time.monotonic() - start, False)
                )
            except dns.resolver.NoNameservers as exc:
                return self._no_nameservers(qname, rdtype, server, exc, time.monotonic() - start)
            except dns.resolver.LifetimeTimeout as exc:
                # (a resolver that failed otherwise was taken out of the attempts: say why)
                attempts = _attempts(exc.kwargs.get("errors", []))
                also = "; ".join(f"{ep} {why}" for ep, why in attempts.items() if why != "timeout")
                return DnsAnswer(
                    qname,
                    rdtype,
                    server,
                    error=f"no answer within {self.timeout:g} s, asked twice (timeout)"
                    + (f"; {also}" if also else ""),
                    elapsed=round(time.monotonic() - start, 4),
                )
            except dns.resolver.YXDOMAIN:
                return DnsAnswer(qname, rdtype, server, rcode="YXDOMAIN")
            except OSError as exc:
                return DnsAnswer(qname, rdtype, server, error=_network_error(exc))
            except Exception as exc:
                return DnsAnswer(qname, rdtype, server, error=_describe(exc))
        return self._checked(
            _from_message(qname, rdtype, server, ans.response, time.monotonic() - start, False)
        )

    @staticmethod
    def _checked(ans: DnsAnswer) -> DnsAnswer:
        """A resolver's answer is an answer only if the resolver recursed (RA) or owns the name (AA):
        an upward referral, or a server that does not recurse, says nothing about the name."""
        if ans.error is None and not ans.ra and not ans.aa and not ans.answer:
            return replace(
                ans,
                error=f"{ans.rcode} without recursion (RA=0) and not authoritative: a referral, not an "
                f"answer; is {ans.server} a recursive resolver?",
            )
        return ans

    def _no_nameservers(
        self, qname: str, rdtype: str, server: str, exc: dns.resolver.NoNameservers, elapsed: float
    ) -> DnsAnswer:
        errors = exc.kwargs.get("errors", [])
        for err in errors:
            resp = err[4] if len(err) > 4 else None
            if isinstance(resp, dns.message.Message) and resp.rcode() != dns.rcode.NOERROR:
                # the resolver said why (SERVFAIL, REFUSED): keep its words
                ans = _from_message(qname, rdtype, server, resp, elapsed, bool(err[1]))
                return ans if ans.error else replace(ans, error=None)
        for err in errors:
            resp = err[4] if len(err) > 4 else None
            if isinstance(resp, dns.message.Message):
                # a NOERROR answer that dnspython would not take (a CNAME loop in one answer: "chain too
                # long"): keep the answer as evidence, and say what is wrong with it in our words
                ans = _from_message(qname, rdtype, server, resp, elapsed, bool(err[1]))
                return ans if ans.error else replace(ans, error=f"unusable answer: {_describe(err[3])}")
        # nothing came back from any resolver: why each failed, as the operating system said it
        attempts = _attempts(errors)
        if not attempts:
            return DnsAnswer(qname, rdtype, server, error=f"all resolvers failed ({exc})", elapsed=elapsed)
        if len(self.resolvers) == 1:  # (the answer names it already)
            text, whom = "; ".join(attempts.values()), "no reply"
        else:
            text, whom = (
                "; ".join(f"{ep} {why}" for ep, why in attempts.items()),
                "no reply from any resolver",
            )
        causes = [e[3] for e in errors if len(e) > 3]
        if all(isinstance(c, OSError) and c.errno in _NO_ROUTE for c in causes):
            error = f"{UNREACHABLE}: {text}"  # (no route to any resolver: typically no IPv6 here)
        else:
            timeout = " (timeout)" if "timeout" in attempts.values() else ""
            error = f"{whom}: {text}{timeout}"
        return DnsAnswer(qname, rdtype, server, error=error, elapsed=elapsed)

    async def _direct(self, server: DnsEndpoint, qname: str, rdtype: str, *, rd: bool) -> DnsAnswer:
        start = time.monotonic()
        try:
            q = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
        except dns.exception.DNSException as exc:
            return DnsAnswer(qname, rdtype, str(server), error=f"not a valid DNS name: {exc}")
        if not rd:
            q.flags &= ~dns.flags.RD
        host = self.engine.host(server.ip)
        udp = host.over("dns-udp")
        async with host.slot("dns", PER_SERVER):
            if udp.silent:
                return DnsAnswer(
                    qname,
                    rdtype,
                    str(server),
                    error=f"no answer (timeout): {server.ip} answered none of its first "
                    f"{udp.timeouts} questions, so it was not asked again",
                )
            try:
                with self.flying():
                    resp, tcp = await self._exchange(server, q)
                    if resp is not None and resp.rcode() == dns.rcode.FORMERR and q.edns >= 0:
                        # a server without EDNS (RFC 6891 §7): ask again without it, as resolvers do
                        q = dns.message.make_query(qname, rdtype, use_edns=False)
                        if not rd:
                            q.flags &= ~dns.flags.RD
                        resp, tcp = await self._exchange(server, q)
            except OSError as exc:
                udp.failed(os_reason(exc))
                return DnsAnswer(qname, rdtype, str(server), error=_network_error(exc))
            except Exception as exc:
                udp.answered += 1  # something came back, if only garbage
                return DnsAnswer(qname, rdtype, str(server), error=_describe(exc))
            if resp is None:
                udp.timed_out()
                return DnsAnswer(
                    qname,
                    rdtype,
                    str(server),
                    error=f"no answer within {self.timeout:g} s, asked twice (timeout)",
                    elapsed=round(time.monotonic() - start, 4),
                )
            udp.answered += 1
        return _from_message(qname, rdtype, str(server), resp, time.monotonic() - start, tcp)

    async def _exchange(
        self, server: DnsEndpoint, q: dns.message.Message
    ) -> tuple[dns.message.Message | None, bool]:
        """One question over UDP, sent again on the same socket halfway through the timeout (stray
        datagrams skipped), then over TCP if the answer was truncated. None: no answer in time."""
        backend = dns.asyncbackend.get_default_backend()
        af = dns.inet.af_for_address(server.ip)
        sock = await backend.make_socket(af, socket.SOCK_DGRAM)  # type: ignore[no-untyped-call]
        try:
            resp = None
            for _ in range(2):
                try:
                    resp = await dns.asyncquery.udp(
                        q,
                        server.ip,
                        timeout=self.timeout / 2,
                        port=server.port,
                        ignore_unexpected=True,
                        ignore_errors=True,
                        sock=sock,
                    )
                    break
                except dns.exception.Timeout:
                    continue
        finally:
            await sock.close()
        if resp is None:
            return None, False
        if not resp.flags & dns.flags.TC:
            return resp, False
        tcp = self.engine.host(server.ip).over("dns-tcp")
        if tcp.silent:
            raise _TcpFailure(
                f"truncated over UDP, and {server.ip} answered none of its first {tcp.timeouts} questions "
                "over TCP, so it was not asked again"
            )
        try:
            tcp_resp = await dns.asyncquery.tcp(q, server.ip, timeout=self.timeout, port=server.port)
        except dns.exception.Timeout:
            tcp.timed_out()
            raise _TcpFailure(f"truncated over UDP, and TCP timed out after {self.timeout:g} s") from None
        except (EOFError, ConnectionError) as exc:
            tcp.answered += 1  # it did something: closed the connection
            raise _TcpFailure(
                "truncated over UDP, and the TCP connection closed before a whole answer "
                f"({type(exc).__name__})"
            ) from None
        tcp.answered += 1
        return tcp_resp, True

    async def _axfr(self, server: DnsEndpoint, zone: str) -> DnsAnswer:
        start = time.monotonic()
        q = dns.message.make_query(zone, dns.rdatatype.AXFR)
        q.flags &= ~dns.flags.RD
        host = self.engine.host(server.ip)
        tcp = host.over("dns-tcp")
        async with host.slot("dns", PER_SERVER):
            if host.over("dns-udp").silent:
                return DnsAnswer(zone, "AXFR", str(server), error="no answer (timeout): the server is silent")
            if tcp.silent:
                # every AXFR to a server that holds TCP connections open would take a whole timeout and
                # one of its slots: the SOA questions of the zones behind would wait past their budget
                return DnsAnswer(
                    zone,
                    "AXFR",
                    str(server),
                    error=f"no answer over TCP (timeout): {server.ip} answered none of its first "
                    f"{tcp.timeouts} questions over TCP, so it was not asked again",
                )
            try:
                with self.flying():
                    resp = await dns.asyncquery.tcp(q, server.ip, timeout=self.timeout, port=server.port)
            except dns.exception.Timeout:
                tcp.timed_out()
                return DnsAnswer(
                    zone, "AXFR", str(server), error=f"no answer within {self.timeout:g} s (timeout)"
                )
            except (EOFError, ConnectionError) as exc:
                # a server that closes the connection on AXFR is refusing it
                tcp.answered += 1
                return DnsAnswer(
                    zone, "AXFR", str(server), error=f"closed: {type(exc).__name__} {exc}".strip()
                )
            except OSError as exc:
                tcp.failed(os_reason(exc))
                return DnsAnswer(zone, "AXFR", str(server), error=_network_error(exc))
            except Exception as exc:
                tcp.answered += 1
                return DnsAnswer(zone, "AXFR", str(server), error=_describe(exc))
            tcp.answered += 1
        ans = _from_message(zone, "AXFR", str(server), resp, time.monotonic() - start, True)
        # keep the evidence small: the first records say enough
        return replace(ans, answer=ans.answer[:3])


class _TcpFailure(Exception):
    """The TCP half of a truncated exchange failed (said in words)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _TcpFailure):
        return str(exc)
    text = str(exc).strip()
    return f"unusable reply: {type(exc).__name__}{': ' + text if text else ''}"
