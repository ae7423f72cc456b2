"""Asynchronous DNS: the resolver path (dnspython's async resolver) and direct questions to name servers.

Every question is asked at most once per session (memoised as a shared future), bounded by the timeout,
and kept whole as a :class:`~mailspec.facts.DnsAnswer`, so that a verdict can show the answers it rests
on. Nothing here raises for a DNS failure: a timeout or SERVFAIL is an answer whose ``definite`` is False.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset

from mailspec.facts import DnsAnswer, Record

__all__ = ["MAX_CNAME_HOPS", "UNREACHABLE", "DnsClient", "Nameserver"]

#: how an answer that could not even be sent (no route from this machine) begins its error
UNREACHABLE = "unreachable from this machine"

#: questions in flight to one authoritative server at once
PER_SERVER = 10

#: RFC-less but universal: resolvers and the catalog (§16.3) give up on longer alias chains.
MAX_CNAME_HOPS = 8


@dataclass(frozen=True)
class Nameserver:
    ip: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"


#: errors that say "this machine has no route there" (typically no IPv6), not "the server is broken"
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


def _network_error(exc: OSError) -> str:
    if exc.errno in _NO_ROUTE:
        return f"{UNREACHABLE}: {exc.strerror or exc}"
    return f"network error: {exc.strerror or exc}"


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
    return DnsAnswer(
        qname=qname,
        rdtype=rdtype,
        server=server,
        rcode=dns.rcode.to_text(msg.rcode()),
        aa=bool(msg.flags & dns.flags.AA),
        ra=bool(msg.flags & dns.flags.RA),
        tcp=tcp,
        answer=_records(msg.answer),
        authority=_records(msg.authority),
        additional=_records(msg.additional),
        elapsed=round(elapsed, 4),
    )


class DnsClient:
    """DNS questions for one survey: through the configured resolvers, or straight to a name server.

    ``resolvers`` are asked in order (a timeout or SERVFAIL from one moves on to the next, like a stub
    resolver with several ``nameserver`` lines). ``auth_port`` is the port of authoritative servers for
    direct questions (53; the embedded lab uses an unprivileged one).
    """

    def __init__(
        self,
        resolvers: list[Nameserver],
        *,
        timeout: float = 10.0,
        auth_port: int = 53,
        max_in_flight: int = 128,
    ) -> None:
        if not resolvers:
            raise ValueError("at least one resolver is needed")
        self.resolvers = list(resolvers)
        self.timeout = timeout
        self.auth_port = auth_port
        self._memo: dict[tuple[str, str, str, bool], asyncio.Future[DnsAnswer]] = {}
        self._limit = asyncio.Semaphore(max_in_flight)
        self._per_server: dict[str, asyncio.Semaphore] = {}
        self.sent = 0  #: questions that went to the network (memo misses)
        self._resolver = dns.asyncresolver.Resolver(configure=False)
        self._resolver.nameservers = [dns.nameserver.Do53Nameserver(r.ip, r.port) for r in resolvers]
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout * len(resolvers)
        self._resolver.cache = None
        self._resolver.retry_servfail = False
        self._resolver.rotate = False
        self._resolver.use_edns(0, 0, 1232)

    @property
    def resolver_text(self) -> str:
        return ",".join(str(r) for r in self.resolvers)

    # -- public API -----------------------------------------------------------------------------
    async def query(self, qname: str, rdtype: str) -> DnsAnswer:
        """Ask the resolvers; a CNAME chain the resolver left dangling is followed here."""
        qname = qname.lower().rstrip(".") or "."
        return await self._memoised(("", qname, rdtype, True), lambda: self._resolve_following(qname, rdtype))

    async def query_at(self, ip: str, qname: str, rdtype: str, *, rd: bool = False) -> DnsAnswer:
        """Ask one name server directly (UDP, TCP on truncation)."""
        server = Nameserver(ip, self.auth_port)
        return await self._memoised(
            (str(server), qname, rdtype, rd), lambda: self._direct(server, qname, rdtype, rd=rd), ip
        )

    async def axfr_at(self, ip: str, zone: str) -> DnsAnswer:
        """Ask one name server for a zone transfer and read only its first message."""
        server = Nameserver(ip, self.auth_port)
        return await self._memoised((str(server), zone, "AXFR", False), lambda: self._axfr(server, zone), ip)

    # -- machinery ------------------------------------------------------------------------------
    async def _memoised(
        self,
        key: tuple[str, str, str, bool],
        make: Callable[[], Awaitable[DnsAnswer]],
        server_ip: str | None = None,
    ) -> DnsAnswer:
        fut = self._memo.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._memo[key] = fut
            try:
                # the server's own slot first, so that a queue at one server holds no global slot
                slot = self._server_slot(server_ip) if server_ip else contextlib.nullcontext()
                async with slot, self._limit:
                    self.sent += 1
                    result = await make()
            except Exception as exc:  # never leave waiters hanging on a bug
                fut.set_exception(exc)
                raise
            fut.set_result(result)
            return result
        return await asyncio.shield(fut)

    async def _resolve_following(self, qname: str, rdtype: str) -> DnsAnswer:
        first = await self._resolve(qname, rdtype)
        followed: list[DnsAnswer] = []
        seen = {qname}
        current = first
        result = first
        for _ in range(MAX_CNAME_HOPS):
            if not current.definite or rdtype == "CNAME" or current.nxdomain or result.records:
                break
            final = result.final_name
            if final == current.qname:
                break  # no alias left dangling: plain NODATA
            if final in seen:
                followed.append(DnsAnswer(final, rdtype, current.server, error=f"CNAME loop at {final}"))
                result = replace(first, followed=tuple(followed))
                break
            seen.add(final)
            current = await self._resolve(final, rdtype)
            followed.append(current)
            result = replace(first, followed=tuple(followed))
        return result

    async def _resolve(self, qname: str, rdtype: str) -> DnsAnswer:
        server = self.resolver_text
        start = time.monotonic()
        try:
            name = dns.name.from_text(qname)
        except dns.exception.DNSException as exc:
            return DnsAnswer(qname, rdtype, server, error=f"not a valid DNS name: {exc}")
        try:
            ans = await self._resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN as exc:
            resp: dns.message.Message = exc.response(name)  # type: ignore[no-untyped-call]
            return _from_message(qname, rdtype, server, resp, time.monotonic() - start, False)
        except dns.resolver.NoNameservers as exc:
            return self._no_nameservers(qname, rdtype, server, exc, time.monotonic() - start)
        except dns.resolver.LifetimeTimeout:
            return DnsAnswer(
                qname,
                rdtype,
                server,
                error=f"no answer within {self.timeout:g} s (timeout)",
                elapsed=round(time.monotonic() - start, 4),
            )
        except dns.resolver.YXDOMAIN:
            return DnsAnswer(qname, rdtype, server, rcode="YXDOMAIN")
        except dns.exception.DNSException as exc:
            return DnsAnswer(qname, rdtype, server, error=f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            return DnsAnswer(qname, rdtype, server, error=_network_error(exc))
        assert ans.response is not None
        return _from_message(qname, rdtype, server, ans.response, time.monotonic() - start, False)

    def _no_nameservers(
        self, qname: str, rdtype: str, server: str, exc: dns.resolver.NoNameservers, elapsed: float
    ) -> DnsAnswer:
        errors = exc.kwargs.get("errors", [])
        for err in errors:
            resp = err[4] if len(err) > 4 else None
            if isinstance(resp, dns.message.Message):
                return _from_message(qname, rdtype, server, resp, elapsed, bool(err[1]))
        text = "; ".join(f"{e[0]}: {e[3]}" for e in errors) or str(exc)
        return DnsAnswer(qname, rdtype, server, error=f"all resolvers failed ({text})", elapsed=elapsed)

    def _server_slot(self, ip: str) -> asyncio.Semaphore:
        """At most a few questions in flight to one name server: a polite probe is not rate-limited."""
        slot = self._per_server.get(ip)
        if slot is None:
            slot = self._per_server[ip] = asyncio.Semaphore(PER_SERVER)
        return slot

    async def _direct(self, server: Nameserver, qname: str, rdtype: str, *, rd: bool) -> DnsAnswer:
        start = time.monotonic()
        try:
            q = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
        except dns.exception.DNSException as exc:
            return DnsAnswer(qname, rdtype, str(server), error=f"not a valid DNS name: {exc}")
        if not rd:
            q.flags &= ~dns.flags.RD
        # a lost datagram (or response rate limiting) must not make a server look lame: ask twice
        for attempt in range(2):
            try:
                resp, tcp = await asyncio.wait_for(
                    dns.asyncquery.udp_with_fallback(q, server.ip, timeout=self.timeout, port=server.port),
                    self.timeout * 2,
                )
                break
            except (TimeoutError, dns.exception.Timeout):
                if attempt == 0:
                    await asyncio.sleep(min(0.5, self.timeout / 4))  # a short pause eases rate limits
                    continue
                return DnsAnswer(
                    qname,
                    rdtype,
                    str(server),
                    error=f"no answer within {self.timeout:g} s, asked twice (timeout)",
                    elapsed=round(time.monotonic() - start, 4),
                )
            except dns.exception.DNSException as exc:
                return DnsAnswer(qname, rdtype, str(server), error=f"unusable reply: {exc}")
            except OSError as exc:
                return DnsAnswer(qname, rdtype, str(server), error=_network_error(exc))
        return _from_message(qname, rdtype, str(server), resp, time.monotonic() - start, tcp)

    async def _axfr(self, server: Nameserver, zone: str) -> DnsAnswer:
        start = time.monotonic()
        q = dns.message.make_query(zone, dns.rdatatype.AXFR)
        q.flags &= ~dns.flags.RD
        try:
            resp = await asyncio.wait_for(
                dns.asyncquery.tcp(q, server.ip, timeout=self.timeout, port=server.port), self.timeout * 2
            )
        except (TimeoutError, dns.exception.Timeout):
            return DnsAnswer(
                zone, "AXFR", str(server), error=f"no answer within {self.timeout:g} s (timeout)"
            )
        except (dns.exception.DNSException, EOFError, ConnectionError) as exc:
            # a server that closes the connection on AXFR is refusing it
            return DnsAnswer(zone, "AXFR", str(server), error=f"closed: {type(exc).__name__} {exc}".strip())
        except OSError as exc:
            return DnsAnswer(zone, "AXFR", str(server), error=_network_error(exc))
        ans = _from_message(zone, "AXFR", str(server), resp, time.monotonic() - start, True)
        # keep the evidence small: the first records say enough
        return replace(ans, answer=ans.answer[:3])
