"""The lab's HTTPS server: MTA-STS policy hosts (RFC 8461 section 3.3), with certificates from the lab CA.

Every policy host of a lab listens on one TCP port shared by all its addresses (:attr:`LabHttps.port`,
the lab's stand-in for port 443). One listener per address serves every host name given for it:
the TLS server name (SNI) picks the certificate, the Host header picks the site (the SNI's site, or
the address's first, when the Host names none of them). Per host name, :class:`HttpsSite` sets:

* ``policy``: the text served at ``/.well-known/mta-sts.txt`` (any other path is 404);
* ``certificate``: ``valid`` (issued by the lab CA for the host, or ``cert_names``), ``wrong-name``
  (for :data:`~mailspec.testing.pki.WRONG_NAME`), ``expired``, ``self-signed``;
* ``status`` (200 by default, 301 with a ``redirect``), ``redirect`` (the ``Location`` sent, and
  never served), ``content_type`` (``text/plain``; "" sends none);
* ``body``: ``normal``; ``huge`` (a ``Content-Length`` of :data:`HUGE_BYTES`, sent as fast as the
  client reads); ``endless`` (chunked, :data:`DRIBBLE_BYTES` every :data:`DRIBBLE_SECONDS`, for as
  long as the client stays);
* ``silence``: ``http`` (the TLS handshake and the request are taken, and nothing is ever answered);
  ``tcp`` (the connection is accepted and not a byte is sent: no TLS, so the whole address, all its
  host names, is silent).

It is plain asyncio and the standard library's ssl, like the lab's MTAs; the HTTP it speaks is the
least a client needs: one request per connection, then ``Connection: close``. What every address saw
(connections, handshakes and their failures, the server names and requests) is in :meth:`LabHttps.stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import ssl
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mailspec.testing.binding import bind_everywhere

from .pki import LabCA

__all__ = [
    "CERTIFICATE_KINDS",
    "DRIBBLE_BYTES",
    "DRIBBLE_SECONDS",
    "HUGE_BYTES",
    "POLICY_PATH",
    "HttpsSite",
    "HttpsStats",
    "LabHttps",
    "serving",
]

CertificateKind = Literal["valid", "wrong-name", "expired", "self-signed"]
BodyMode = Literal["normal", "huge", "endless"]
SilenceMode = Literal["", "http", "tcp"]

CERTIFICATE_KINDS: tuple[CertificateKind, ...] = ("valid", "wrong-name", "expired", "self-signed")
BODY_MODES: tuple[BodyMode, ...] = ("normal", "huge", "endless")
SILENCE_MODES: tuple[SilenceMode, ...] = ("", "http", "tcp")

#: Where a policy host serves its policy (RFC 8461 section 3.2).
POLICY_PATH = "/.well-known/mta-sts.txt"
#: The declared (and, to a client that reads it all, sent) length of a ``huge`` body: a gigabyte.
HUGE_BYTES = 1 << 30
#: What an ``endless`` body sends after the policy, and how often: a slow trickle (about 640 bytes
#: a second), so that a client that keeps reading waits for its timeout, not for a size cap.
DRIBBLE_BYTES = 64
DRIBBLE_SECONDS = 0.1
#: A ``huge`` body is written in blocks of this size, each after the client took the one before.
BLOCK_BYTES = 1 << 16
#: Bounds of a request: its line and each header line, the number of headers, the wait for it.
MAX_LINE = 8192
MAX_HEADERS = 100
REQUEST_SECONDS = 30.0
HANDSHAKE_SECONDS = 30.0
#: How long a closing connection may take to say goodbye (TLS close_notify) before it is dropped.
CLOSE_SECONDS = 2.0
#: Requests kept per address for :meth:`LabHttps.stats`; later ones are counted only.
MAX_REQUESTS = 1000
#: Handshake failure reasons kept per address.
MAX_REASONS = 100
START_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class HttpsSite:
    """One host name of the lab's HTTPS server, on one address (an MTA-STS policy host).

    A scenario's policy host with two addresses is two sites of the same ``host``.
    """

    host: str  #: the host name ("mta-sts.good.test"): the certificate's name and the site's
    ip: str  #: the address it listens on
    policy: str = ""  #: the policy file's text, served at :data:`POLICY_PATH`
    certificate: CertificateKind = "valid"
    cert_names: tuple[str, ...] = ()  #: SAN names of the certificate; empty: the host
    status: int = 0  #: the status of the policy's answer; 0: 200, or 301 with a redirect
    redirect: str = ""  #: a Location to send (with a 3xx status) instead of the policy
    content_type: str = "text/plain"  #: the Content-Type sent; "" sends none
    body: BodyMode = "normal"
    silence: SilenceMode = ""

    def __post_init__(self) -> None:
        if not self.host or not self.ip:
            raise ValueError(f"an HTTPS site needs a host and an address, got {self.host!r} on {self.ip!r}")
        if self.certificate not in CERTIFICATE_KINDS:
            raise ValueError(
                f"certificate {self.certificate!r} of {self.host}: expected one of {CERTIFICATE_KINDS}"
            )
        if self.body not in BODY_MODES:
            raise ValueError(f"body {self.body!r} of {self.host}: expected one of {BODY_MODES}")
        if self.silence not in SILENCE_MODES:
            raise ValueError(f"silence {self.silence!r} of {self.host}: expected one of {SILENCE_MODES}")
        if self.status and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} of {self.host}: not an HTTP status")
        if self.redirect and not 300 <= self.answer_status <= 399:
            raise ValueError(f"redirect of {self.host} with status {self.status}: a redirect needs a 3xx")

    @property
    def name(self) -> str:
        return self.host.rstrip(".").lower()

    @property
    def answer_status(self) -> int:
        """The status the policy's request gets."""
        return self.status or (301 if self.redirect else 200)

    @property
    def flaws(self) -> frozenset[str]:
        """The certificate's flaws, as :meth:`LabCA.issue` takes them."""
        return frozenset() if self.certificate == "valid" else frozenset({self.certificate})


class HttpsStats:
    """What one address of the HTTPS server saw. Updated in the lab's loop, read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.peers: list[str] = []
        self.handshakes = 0
        self.handshake_failures = 0
        self.failure_reasons: list[str] = []
        #: the SNI of each ClientHello ("" when none was sent), in order
        self.server_names: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.requests_dropped = 0
        self.per_host: dict[str, int] = {}
        self.body_bytes = 0  #: bytes of response bodies written (to the transport: not all read)

    def opened(self, peer: str) -> None:
        with self._lock:
            self.connections += 1
            self.open += 1
            self.max_open = max(self.max_open, self.open)
            if peer not in self.peers:
                self.peers.append(peer)

    def closed(self) -> None:
        with self._lock:
            self.open -= 1

    def hello(self, server_name: str) -> None:
        """A ClientHello arrived, with this server name ("" when it had none)."""
        with self._lock:
            if len(self.server_names) < MAX_REQUESTS:
                self.server_names.append(server_name)

    def handshake(self, failure: str = "") -> None:
        with self._lock:
            if failure:
                self.handshake_failures += 1
                if len(self.failure_reasons) < MAX_REASONS:
                    self.failure_reasons.append(failure)
            else:
                self.handshakes += 1

    def request(self, site: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.per_host[site] = self.per_host.get(site, 0) + 1
            if len(self.requests) < MAX_REQUESTS:
                self.requests.append(record)
            else:
                self.requests_dropped += 1

    def sent(self, n: int) -> None:
        with self._lock:
            self.body_bytes += n

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: connections, open, max_open, peers, handshakes, handshake_failures,
        failure_reasons, server_names, requests (method, target, host, sni, headers), requests_dropped,
        per_host (requests by site), body_bytes."""
        with self._lock:
            return {
                "connections": self.connections,
                "open": self.open,
                "max_open": self.max_open,
                "peers": list(self.peers),
                "handshakes": self.handshakes,
                "handshake_failures": self.handshake_failures,
                "failure_reasons": list(self.failure_reasons),
                "server_names": list(self.server_names),
                "requests": [dict(r) for r in self.requests],
                "requests_dropped": self.requests_dropped,
                "per_host": dict(self.per_host),
                "body_bytes": self.body_bytes,
            }


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 and 1.3) with one certificate chain and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(*certificate)
    return context


class _Listener:
    """One address: its sites by host name, and the context whose SNI callback picks among them."""

    def __init__(self, ip: str, sites: list[tuple[HttpsSite, tuple[Path, Path]]]) -> None:
        self.ip = ip
        self.sites = {spec.name: spec for spec, _ in reversed(sites)}  # (the first of a name wins)
        self.contexts = {spec.name: server_context(files) for spec, files in reversed(sites)}
        self.first = sites[0][0]
        self.silent = any(spec.silence == "tcp" for spec, _ in sites)
        self.stats = HttpsStats()
        self.errors: list[str] = []
        # The handshake's context: the first site's certificate until the SNI callback says otherwise.
        self.context = server_context(sites[0][1])
        self.context.sni_callback = self._sni
        self._names: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()

    def _sni(self, obj: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        name = (server_name or "").rstrip(".").lower()
        self._names[obj] = name
        self.stats.hello(name)
        context = self.contexts.get(name)
        if context is not None:
            obj.context = context

    def server_name(self, obj: object) -> str:
        """The SNI a handshake was made with ("" when none)."""
        return self._names.get(obj, "") if isinstance(obj, ssl.SSLObject) else ""

    def site(self, host_header: str, server_name: str) -> HttpsSite:
        """The site of a request: the Host header's, else the SNI's, else the address's first."""
        host = host_header.strip().lower()
        if host.startswith("["):
            host = host.partition("]")[0] + "]"
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        host = host.rstrip(".")
        return self.sites.get(host) or self.sites.get(server_name) or self.first


class _BadRequest(Exception):
    """A request the server cannot read (answered 400)."""


class LabHttps:
    """Every MTA-STS policy host of a lab, on one port; start and stop it inside one asyncio loop.

    *sites* are the host names and their knobs (see :class:`HttpsSite`), grouped by address; *ca*
    issues their certificates. Certificates and TLS contexts are made here, in the caller's thread,
    so that :meth:`start` only binds.
    """

    def __init__(self, sites: Sequence[HttpsSite], ca: LabCA) -> None:
        by_ip: dict[str, list[tuple[HttpsSite, tuple[Path, Path]]]] = {}
        for spec in sites:
            files = ca.issue(spec.cert_names or (spec.name,), spec.flaws)
            by_ip.setdefault(spec.ip, []).append((spec, files))
        for ip, entries in by_ip.items():
            modes = {spec.silence == "tcp" for spec, _ in entries}
            if len(modes) > 1:
                raise ValueError(f"HTTPS address {ip}: silence 'tcp' silences every host name of an address")
        self._listeners = [_Listener(ip, entries) for ip, entries in by_ip.items()]
        self.port = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    @property
    def addresses(self) -> list[str]:
        return [listener.ip for listener in self._listeners]

    @property
    def running(self) -> bool:
        return bool(self._servers)

    @property
    def sessions(self) -> int:
        """Connections being served now (0 after :meth:`stop`: no task outlives it)."""
        return len(self._tasks)

    @property
    def internal_errors(self) -> list[str]:
        """Unexpected exceptions in sessions (each cost its session); a test asserts there are none."""
        return [e for listener in self._listeners for e in listener.errors]

    def stats(self) -> dict[str, dict[str, Any]]:
        """Address -> :meth:`HttpsStats.snapshot` (JSON-ready)."""
        return {listener.ip: listener.stats.snapshot() for listener in self._listeners}

    def __repr__(self) -> str:
        state = f"port {self.port}" if self.running else "stopped"
        return f"<LabHttps {len(self._listeners)} addresses, {state}>"

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on every address, on *port* or (0) a free port shared by all."""
        if self.running:
            raise RuntimeError("the lab's HTTPS server is already running")
        if not self._listeners:
            return
        await bind_everywhere(self._bind, self._close_listeners, port)

    async def _bind(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            factory = functools.partial(self._protocol, listener)
            server = await loop.create_server(factory, host=listener.ip, port=port, reuse_address=True)
            self._servers.append(server)
            if port == 0:
                port = server.sockets[0].getsockname()[1]
        self.port = port

    def _protocol(self, listener: _Listener) -> asyncio.BaseProtocol:
        reader = asyncio.StreamReader(limit=MAX_LINE)
        return asyncio.StreamReaderProtocol(reader, functools.partial(self._accept, listener))

    def _accept(
        self, listener: _Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # A plain callback: the task is ours from its first moment, so stop() can always cancel it.
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        listener.stats.opened(str(peer[0]) if peer else "")
        if self._closing:
            writer.transport.abort()
        task = asyncio.ensure_future(self._session(listener, reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_listeners(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()

    async def stop(self) -> None:
        """Close every listener and connection, and wait for the sessions to end."""
        self._closing = True
        for server in self._servers:
            server.close()
        # A connection accepted just before close() starts its session a loop turn later: sweep
        # until several turns in a row find nothing left.
        quiet = 0
        for _turn in range(100):
            await asyncio.sleep(0)
            for writer in list(self._writers):
                writer.transport.abort()
            pending = list(self._tasks)
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

    # ------------------------------------------------------------------ one connection

    async def _session(
        self, listener: _Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            if listener.silent:
                while await reader.read(4096):
                    pass
                return
            server_name = await self._handshake(listener, writer)
            if server_name is None:
                return
            await self._exchange(listener, server_name, reader, writer)
        except (ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or idled out: done
        except Exception as exc:  # a bug must cost one session, not the lab; tests read the list
            listener.errors.append(f"{listener.ip}: {exc!r}")
        finally:
            listener.stats.closed()
            self._writers.discard(writer)
            await _close(writer)

    async def _handshake(self, listener: _Listener, writer: asyncio.StreamWriter) -> str | None:
        """The TLS handshake; the server name the client sent, or None if the handshake failed."""
        try:
            await writer.start_tls(listener.context, ssl_handshake_timeout=HANDSHAKE_SECONDS)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            listener.stats.handshake(str(reason))
            return None
        listener.stats.handshake()
        return listener.server_name(writer.get_extra_info("ssl_object"))

    async def _exchange(
        self,
        listener: _Listener,
        server_name: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            method, target, headers = await asyncio.wait_for(_read_request(reader), REQUEST_SECONDS)
        except (_BadRequest, ValueError, asyncio.LimitOverrunError):
            await _answer(writer, listener.stats, 400, b"bad request\n", {"Content-Type": "text/plain"})
            return
        if method is None:
            return  # the client closed without a request
        spec = listener.site(headers.get("host", ""), server_name)
        record = {"method": method, "target": target, "host": headers.get("host", ""), "sni": server_name,
                  "site": spec.name, "headers": headers}  # fmt: skip
        listener.stats.request(spec.name, record)
        if spec.silence == "http":
            while await reader.read(4096):
                pass
            return
        if method != "GET":
            await _answer(writer, listener.stats, 405, b"only GET here\n", {"Allow": "GET"})
            return
        if target.partition("?")[0] != POLICY_PATH:
            await _answer(writer, listener.stats, 404, b"not found\n", {"Content-Type": "text/plain"})
            return
        status = spec.answer_status
        extra = {"Content-Type": spec.content_type} if spec.content_type else {}
        if spec.redirect:
            extra["Location"] = spec.redirect
        if status != 200 or spec.redirect:
            text = f"{status} {_phrase(status)}\n".encode()
            await _answer(writer, listener.stats, status, text, extra)
        elif spec.body == "huge":
            await _huge(writer, listener.stats, spec.policy.encode(), extra)
        elif spec.body == "endless":
            await _endless(writer, listener.stats, spec.policy.encode(), extra)
        else:
            await _answer(writer, listener.stats, status, spec.policy.encode(), extra)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str | None, str, dict[str, str]]:
    """(method, target, headers with lower-case names) of one request; method None at a clean EOF."""
    line = await reader.readline()
    if not line:
        return None, "", {}
    words = line.decode("latin-1").split()
    if len(words) != 3 or not words[2].startswith("HTTP/1."):
        raise _BadRequest(line[:100])
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        raw = await reader.readline()
        if not raw.endswith(b"\n"):
            raise _BadRequest("the request ended in its head")
        text = raw.decode("latin-1").rstrip("\r\n")
        if not text:
            return words[0], words[1], headers
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(text[:100])
        key = name.lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise _BadRequest(f"more than {MAX_HEADERS} headers")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_phrase(status)}", "Server: mailspec-lab", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _answer(
    writer: asyncio.StreamWriter, stats: HttpsStats, status: int, body: bytes, headers: dict[str, str]
) -> None:
    writer.write(_head(status, {**headers, "Content-Length": str(len(body))}) + body)
    stats.sent(len(body))
    await writer.drain()


async def _huge(
    writer: asyncio.StreamWriter, stats: HttpsStats, policy: bytes, headers: dict[str, str]
) -> None:
    """The policy, then padding lines, :data:`HUGE_BYTES` in all, each block after the client took the
    one before (it stops when the client goes)."""
    writer.write(_head(200, {**headers, "Content-Length": str(HUGE_BYTES)}))
    pad = b"# padding " + b"x" * 52 + b"\r\n"
    block = (pad * (BLOCK_BYTES // len(pad) + 1))[:BLOCK_BYTES]
    first = (policy + block)[:BLOCK_BYTES]
    left = HUGE_BYTES
    chunk = first
    while left > 0 and not writer.transport.is_closing():
        piece = chunk[:left]
        writer.write(piece)
        stats.sent(len(piece))
        left -= len(piece)
        chunk = block
        await writer.drain()
        # drain() returns at once once the connection is lost (writes are dropped): yield, so that the
        # loss is seen (is_closing) instead of a gigabyte written into nothing in one busy loop
        await asyncio.sleep(0)


async def _endless(
    writer: asyncio.StreamWriter, stats: HttpsStats, policy: bytes, headers: dict[str, str]
) -> None:
    """A chunked body: the policy, then :data:`DRIBBLE_BYTES` every :data:`DRIBBLE_SECONDS`, forever."""
    writer.write(_head(200, {**headers, "Transfer-Encoding": "chunked"}))
    if policy:
        writer.write(b"%x\r\n%s\r\n" % (len(policy), policy))
        stats.sent(len(policy))
    drop = (b"# and more " + b"." * DRIBBLE_BYTES)[: DRIBBLE_BYTES - 2] + b"\r\n"
    while not writer.transport.is_closing():
        await writer.drain()
        await asyncio.sleep(DRIBBLE_SECONDS)
        writer.write(b"%x\r\n%s\r\n" % (len(drop), drop))
        stats.sent(len(drop))


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a connection, letting TLS say goodbye for a moment; drop it if the client does not."""
    if writer.transport.is_closing():
        writer.transport.abort()
        return
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_SECONDS)
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    except Exception:  # (a client that went away, or that never answered the goodbye)
        writer.transport.abort()


@contextlib.contextmanager
def serving(sites: Sequence[HttpsSite], ca: LabCA, port: int = 0) -> Iterator[LabHttps]:
    """A :class:`LabHttps` started on an event loop of its own, in a thread, for as long as the block
    lasts (for tests and scripts that have no lab loop of their own)."""
    server = LabHttps(sites, ca)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mailspec-lab-https", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(port), loop).result(START_TIMEOUT)
        yield server
    finally:
        try:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(START_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(START_TIMEOUT)
            loop.close()
