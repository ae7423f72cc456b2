"""The SMTP client of the survey: the read-only session, the envelope probes and the intrusive ones.

Well-behaved dialogues go through aiosmtplib; the probes that break the protocol on purpose (early
talking, unauthorised pipelining, STARTTLS injection) use raw asyncio streams, since no client
library sends what a correct client must not. What mailspec sends, and never sends, is fixed here:
EHLO, HELO, STARTTLS, MAIL, RCPT, RSET, VRFY, EXPN, NOOP, QUIT, and an unknown command
(``XMAILSPEC``); never DATA or BDAT (:data:`ALLOWED_VERBS` is checked before every write).

Politeness: at most :data:`PER_HOST` connections to one address at once (the engine's per-host slot,
shared by every fact of the run); on each endpoint the intrusive probes wait for every other probe of
it that the run wants, because a server that punishes them may refuse the probe's address after.
Every read and connect is bounded by the timeout, every reply by a length and a line count.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib

from mailspec.facts.smtp import (
    Exchange,
    IdentProbe,
    LegacyTls,
    Rcpt,
    ReportRcpt,
    SmtpControl,
    SmtpEnvelope,
    SmtpIntrusive,
    SmtpSession,
    TlsInfo,
)
from mailspec.survey.dns import os_reason
from mailspec.survey.engine import Engine

__all__ = [
    "ALLOWED_VERBS",
    "PER_HOST",
    "SmtpConfig",
    "SmtpConnector",
    "SmtpProber",
    "UnsafeCommand",
    "safe_client",
]

#: connections to one address at once, at most, across every fact of the run
PER_HOST = 2
#: the only commands mailspec ever sends (RFC 5321 verbs, and the unknown one it tests with)
ALLOWED_VERBS = frozenset(
    {"EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "RSET", "VRFY", "EXPN", "NOOP", "QUIT", "XMAILSPEC"}
)
#: a reply longer than this many lines, or a line longer than this many octets, is not an SMTP reply
#: worth reading on (RFC 5321 §4.5.3.1.5 allows 512 octets a line; EHLO lists rarely pass 30 lines)
MAX_LINES = 1000
MAX_LINE = 4096
#: characters of a malformed greeting kept as evidence
RAW_KEPT = 200


#: the stdlib's encoding constant for DER (ssl.Purpose-style public name missing before 3.13)
_DER = 2  # _ssl.ENCODING_DER (ENCODING_PEM is 1)


#: Linux's TCP_FASTOPEN_CONNECT (socket names it from Python 3.12 on; the number is Linux's ABI)
TCP_FASTOPEN_CONNECT: int | None = getattr(
    socket, "TCP_FASTOPEN_CONNECT", 30 if sys.platform == "linux" else None
)
#: Linux's TCP_FASTOPEN_NO_COOKIE (4.19 and later; no Python names it): Fast Open without a cookie
#: from an earlier connection to the server, so that TCP_FASTOPEN_CONNECT defers the SYN until the
#: first write and that write's bytes leave in it (see SmtpProber._tcp)
TCP_FASTOPEN_NO_COOKIE: int | None = getattr(
    socket, "TCP_FASTOPEN_NO_COOKIE", 34 if sys.platform == "linux" else None
)


#: the sockets opened inside the current connection slot (closed when the slot is left)
_SOCKETS: contextvars.ContextVar[list[list[Any]]] = contextvars.ContextVar("mailspec_smtp_sockets")


def _own(sock: socket.socket, closer: Callable[[], object]) -> None:
    """The owner of ``sock`` now (an aiosmtplib client, a stream's transport): it is what closes it
    when the slot is left (closing the socket under a live transport would leave the loop watching
    a file descriptor number that the next socket reuses)."""
    for entry in _SOCKETS.get([]):
        if entry[0] is sock:
            entry[1] = closer


class UnsafeCommand(RuntimeError):
    """mailspec was about to send a command it never sends (DATA, BDAT, ...): a bug, stopped here."""


def _checked(command: str) -> bytes:
    verb = command.split(" ", 1)[0].upper()
    if verb not in ALLOWED_VERBS or "\r" in command or "\n" in command:
        raise UnsafeCommand(f"mailspec never sends {command!r}")
    return command.encode("utf-8") + b"\r\n"


@dataclass(frozen=True)
class SmtpConfig:
    """How the probes behave (from the settings)."""

    timeout: float = 10.0
    probe_helo: str = "localhost"
    #: the pause before the one retry of a 4yz reply (greylisting)
    retry_delay: float = 60.0
    #: the recipient of the relay test: a mailbox in a live domain the target does not serve
    relay_rcpt: str = ""
    ident_port: int = 113
    #: a folder shared by every process of the run (pytest-xdist's workers): the two connections per
    #: server are then counted across processes, with a lock file per slot
    lock_dir: str | None = None
    #: cap on the ident wait (RFC 1413 clients wait 30 s or more; the catalog gives 10 s)
    ident_timeout: float = 10.0
    #: why mailspec does not connect to an address that no subject of the run named (a DMARC report
    #: domain's MX): ``refusal(domain, host, ip)``, None if it may (the settings' consent); without
    #: it, only public addresses are connected to
    refusal: Callable[[str, str, str], str | None] | None = None
    #: the control servers (host, port): SMTP servers known to take connections from here, asked
    #: when no server under test took one (--mail-smtp-control)
    controls: tuple[tuple[str, int], ...] = ()

    def refused(self, domain: str, host: str, ip: str) -> str | None:
        """Why ``ip`` (``host``'s address, for ``domain``) is not connected to, or None if it may be."""
        if self.refusal is not None:
            return self.refusal(domain, host, ip)
        from mailspec.records.addresses import is_public_address, never_asked

        if why := never_asked(ip):
            return why.replace("never asked", "not probed", 1)
        return None if is_public_address(ip) else f"not probed: {ip} is not a public address"


@dataclass
class _Transcript:
    """The lines of one connection's dialogue (or of several in a row), and the round trips each one
    waited for: a greeting is two (the TCP handshake, then the greeting), a command one, a TLS
    handshake one; commands pipelined in one write, one in all."""

    lines: list[str] = field(default_factory=list)
    round_trips: list[int] = field(default_factory=list)

    def add(self, *exchanges: Exchange | None) -> None:
        for x in exchanges:
            if x is not None:
                self.lines += x.transcript()
                if not x.sent:  # a greeting: a new connection
                    self.round_trips.append(2)
                elif self.round_trips and (
                    not x.sent.endswith(("(sent before the greeting)", "(pipelined)"))
                    or x.sent.startswith("MAIL FROM:<> (pipelined)")  # (the group's first: one in all)
                ):
                    self.round_trips[-1] += 1

    def handshake(self) -> None:
        if self.round_trips:
            self.round_trips[-1] += 1

    def note(self, text: str) -> None:
        self.lines.append(f"   ({text})")


def _reply_exchange(sent: str, code: int, message: str) -> Exchange:
    lines = tuple(message.split("\n")) if message else ()
    malformed = "" if 200 <= code < 600 else f"reply code {code} is outside 2xx-5xx"
    return Exchange(sent, code=code, lines=lines, malformed=malformed)


def _error_text(exc: BaseException, timeout: float) -> str:
    # a TLS failure wrapped by aiosmtplib ("connection lost") keeps its reason in the chain
    inner: BaseException | None = exc
    for _ in range(5):
        inner = inner.__cause__ or inner.__context__ if inner is not None else None
        if isinstance(inner, ssl.SSLError):
            return f"TLS error: {inner.reason or inner}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, aiosmtplib.SMTPTimeoutError)):
        return f"timeout (no whole reply within {timeout:g} s)"
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return "connection closed by the server"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.message or f"invalid reply ({exc.code})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return os_reason(exc)
    return f"{type(exc).__name__}: {exc}"


class _Session:
    """One aiosmtplib connection, every command bounded and recorded."""

    def __init__(
        self, client: aiosmtplib.SMTP, timeout: float, log: _Transcript, sock: socket.socket | None = None
    ) -> None:
        self.client = client
        self.sock = sock
        self.timeout = timeout
        self.log = log
        self.closed = False
        #: the 4yz and 5yz replies drawn on this connection (servers count them per session)
        self.errors = 0
        #: whether the connection was upgraded by STARTTLS
        self.tls = False

    def is_closed(self) -> bool:
        """Whether the connection is over (as a call: it changes while the caller awaits)."""
        return self.closed

    async def command(self, command: str) -> Exchange:
        data = _checked(command)
        if self.closed:
            x = Exchange(command, error="connection already closed")
            self.log.add(x)
            return x
        verb, _, rest = data[:-2].partition(b" ")
        try:
            args = (verb, rest) if rest else (verb,)
            r = await asyncio.wait_for(self.client.execute_command(*args), self.timeout + 1)
            x = _reply_exchange(command, r.code, r.message)
            if r.code >= 400:
                self.errors += 1
            if r.code == 421:
                self.closed = True
            if verb.upper() == b"EHLO" and r.code == 250:
                # what aiosmtplib's own ehlo() records: its starttls() then sends no EHLO of its own
                from aiosmtplib.esmtp import parse_esmtp_extensions

                self.client.last_ehlo_response = r
                self.client.esmtp_extensions, self.client.server_auth_methods = parse_esmtp_extensions(
                    r.message
                )
                self.client.supports_esmtp = True
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            x = Exchange(command, error=_error_text(exc, self.timeout))
            self.closed = True
        self.log.add(x)
        return x

    async def starttls(self, server_name: str, context: ssl.SSLContext) -> TlsInfo:
        _checked("STARTTLS")
        try:
            r = await asyncio.wait_for(
                self.client.starttls(server_hostname=server_name, tls_context=context, timeout=self.timeout),
                self.timeout * 2 + 1,
            )
            st = _reply_exchange("STARTTLS", r.code, r.message)
        except aiosmtplib.SMTPResponseException as exc:
            st = _reply_exchange("STARTTLS", exc.code, exc.message)
            self.log.add(st)
            return TlsInfo(st, server_name)
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            self.closed = True
            st = Exchange("STARTTLS", code=220, lines=("(reply as expected)",))
            err = _error_text(exc, self.timeout)
            self.log.add(st)
            self.log.handshake()
            self.log.note(f"TLS handshake failed: {err}")
            return TlsInfo(st, server_name, handshake_error=err)
        self.log.add(st)
        self.log.handshake()
        self.tls = True
        transport = self.client.transport
        obj = transport.get_extra_info("ssl_object") if transport is not None else None
        version = obj.version() or "" if obj is not None else ""
        cipher = (obj.cipher() or ("",))[0] if obj is not None else ""
        chain = _peer_chain(obj)
        self.log.note(f"TLS {version} {cipher}, {len(chain)} certificate(s)")
        return TlsInfo(st, server_name, version=version, cipher=cipher, chain=chain)

    async def quit(self) -> None:
        """QUIT, then wait (briefly, bounded) for the server to close its side, as RFC 5321 §4.1.1.10
        has it do after 221: only then is the connection over for the server too, so that the next
        one never makes three at once from its point of view."""
        peer_closed = False
        if not self.closed:
            reply = await self.command("QUIT")
            if reply.code == 221:
                peer_closed = await _closed_by_peer(self.client, CLOSE_WAIT)
        self.closed = True
        with contextlib.suppress(Exception):
            self.client.close()
        if self.sock is not None:  # (a failed TLS upgrade can leave the socket to us)
            with contextlib.suppress(Exception):
                self.sock.close()
        # a moment for the server to see our side close too before the slot goes to the next
        # connection (a TLS session's close is seen by us before the server is done with it)
        await asyncio.sleep(CLOSE_GRACE if peer_closed else 2 * CLOSE_GRACE)


#: one connection serves the envelope probes of several domains in turn (RSET between them, RFC 5321
#: §4.1.1.5: "any stored sender, recipients, and mail data MUST be discarded"), but only while it has
#: drawn at most this many error replies: servers count a client's errors per session and punish
#: them (Postfix waits before each reply past smtpd_soft_error_limit, 10, and hangs up at
#: smtpd_hard_error_limit, 20), and one domain's probes draw three to five (the unknown recipient,
#: VRFY of it, EXPN, the relay test), so a reused connection never reaches ten
REUSE_ERRORS = 4
#: ... and for this many domains at most (a catch-all server draws no errors at all)
REUSE_DOMAINS = 8


@dataclass
class _EnvelopeJob:
    """One domain's envelope probes, queued for a connection of its server."""

    domain: str
    host: str
    probes: dict[str, str]
    unknown_local: str
    budget: float
    future: asyncio.Future[SmtpEnvelope]
    #: the connection the job works on now (closed by its lane if the job's budget runs out)
    session: _Session | None = None


@dataclass
class _EnvelopeConn:
    """A connection kept open between two domains' envelope probes (after RSET)."""

    session: _Session
    keywords: tuple[str, ...]
    #: the transcript lines of its greeting and EHLO (each later domain's evidence starts with them)
    opening: tuple[str, ...]
    domains: int = 1


@dataclass
class _Lanes:
    """The envelope probes queued for one endpoint, and how many connections work through them."""

    queue: list[_EnvelopeJob] = field(default_factory=list)
    running: int = 0


#: tries of the early-talker probe (see SmtpProber._early_talker)
EARLY_TRIES = 3

#: seconds to wait for a server to close its side after 221, and to let it see our close
CLOSE_WAIT = 1.0
CLOSE_GRACE = 0.05


async def _closed_by_peer(client: aiosmtplib.SMTP, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        protocol = client.protocol
        if protocol is None or protocol.transport is None:
            return True
        await asyncio.sleep(0.01)
    return False


def _peer_chain(obj: Any) -> tuple[str, ...]:
    """The certificates the server presented, leaf first (base64 DER)."""
    if obj is None:
        return ()
    # Python 3.13 has SSLObject.get_unverified_chain(); 3.11 and 3.12 have it only on the private
    # _ssl object. Without it, only the leaf (getpeercert) is known.
    raw = getattr(obj, "get_unverified_chain", None) or getattr(getattr(obj, "_sslobj", None),
                                                                "get_unverified_chain", None)  # fmt: skip
    ders: list[bytes] = []
    if raw is not None:
        with contextlib.suppress(Exception):
            for cert in raw() or []:
                ders.append(cert.public_bytes(_DER) if hasattr(cert, "public_bytes") else cert)
    if not ders:
        with contextlib.suppress(Exception):
            leaf = obj.getpeercert(binary_form=True)
            if leaf:
                ders.append(leaf)
    return tuple(base64.b64encode(d).decode("ascii") for d in ders)


class _SafeSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client that refuses to send DATA, BDAT or a message (mailspec never does)."""

    async def execute_command(self, *args: bytes, **kwargs: Any) -> Any:
        verb = (args[0] if args else b"").split(b" ", 1)[0].decode("ascii", "replace").upper()
        if verb not in ALLOWED_VERBS:
            raise UnsafeCommand(f"mailspec never sends {verb}")
        if any(c < 0x20 or c == 0x7F for arg in args for c in arg):  # (CR LF DATA smuggled in an address)
            raise UnsafeCommand(f"mailspec never sends control characters in a command ({verb})")
        return await super().execute_command(*args, **kwargs)

    async def data(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeCommand("mailspec never sends DATA")

    async def sendmail(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeCommand("mailspec never sends a message")

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafeCommand("mailspec never sends a message")


def safe_client(ip: str, port: int, timeout: float, helo: str, **options: Any) -> aiosmtplib.SMTP:
    """An aiosmtplib client to ``ip:port`` that never sends DATA or BDAT, every operation bounded."""
    options.setdefault("start_tls", False)
    options.setdefault("validate_certs", False)
    return _SafeSMTP(hostname=ip, port=port, timeout=timeout, local_hostname=helo, **options)


class SmtpConnector:
    """Safe aiosmtplib connections to one endpoint, for users' own dialogues (the ``smtp_connect``
    fixture): ``async with connector() as smtp:`` connects, reads the greeting and sends QUIT at the
    end; :meth:`close_all` closes whatever is still open (at the test's teardown)."""

    #: how long a connection waits for one of the server's slots (the survey's own probes of that
    #: server may hold both), in timeouts
    SLOT_WAIT = 30

    def __init__(
        self, ip: str, port: int, timeout: float, helo: str, prober: SmtpProber | None = None
    ) -> None:
        self.ip, self.port, self.timeout, self.helo = ip, port, timeout, helo
        self.prober = prober
        self.opened: list[aiosmtplib.SMTP] = []

    @contextlib.asynccontextmanager
    async def __call__(self, **options: Any) -> AsyncIterator[aiosmtplib.SMTP]:
        async with self._held():
            client = safe_client(self.ip, self.port, self.timeout, self.helo, **options)
            self.opened.append(client)
            try:
                await asyncio.wait_for(client.connect(), self.timeout + 1)
                yield client
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.quit(), self.timeout)
                client.close()

    @contextlib.asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        """One of the server's connection slots, the survey's own (the test's loop is not the
        survey's: the slot is held there, by a task that waits for the test's connection to end), so
        that the test's dialogues and the survey's probes never make more than two at once."""
        if self.prober is None:
            yield
            return
        loop = asyncio.get_running_loop()
        granted: asyncio.Future[None] = loop.create_future()
        release = threading.Event()

        def settle() -> None:
            if not granted.done():
                granted.set_result(None)

        def grant() -> None:
            loop.call_soon_threadsafe(settle)

        holder = self.prober.engine.submit(self.prober.hold_slot(self.ip, grant, release))
        wait = self.SLOT_WAIT * self.timeout
        got = False
        try:
            try:
                await asyncio.wait_for(granted, wait)
            except TimeoutError:
                raise TimeoutError(
                    f"no connection slot of {self.ip} came free within {wait:g} s (at most two "
                    "connections to a server at once, the survey's included)"
                ) from None
            got = True
            yield
        finally:
            release.set()
            if not got:  # (gave up waiting: the holder must not take the slot later)
                holder.cancel()

    def close_all(self) -> None:
        for client in self.opened:
            with contextlib.suppress(Exception):
                client.close()
        self.opened.clear()


def tls_client_context(*, legacy: str = "") -> ssl.SSLContext:
    """The survey's TLS client context: no verification during the handshake (the checks judge the
    chain afterwards, so that a bad certificate is a finding, not a failed connection); TLS 1.2 and
    up, or only one old version for the legacy probe ("TLSv1", "TLSv1.1")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if legacy == "any":  # every version this machine's OpenSSL offers (the fallback handshake)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    elif legacy:
        version = ssl.TLSVersion.TLSv1 if legacy == "TLSv1" else ssl.TLSVersion.TLSv1_1
        # setting an old version warns (DeprecationWarning): the probe means to, and under
        # filterwarnings=error the warning would end the user's run
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class SmtpProber:
    """The SMTP, TLS and IDENT probes of one survey, on the engine's loop."""

    def __init__(self, engine: Engine, config: SmtpConfig) -> None:
        self.engine = engine
        self.config = config
        self.opened: dict[str, int] = {}  #: connections opened per address (for benchmarks and tests)
        self.ports: set[int] = set()  #: the ports connected to
        self.in_flight = 0
        #: the envelope probes queued per endpoint (ip, port)
        self._lanes: dict[tuple[str, int], _Lanes] = {}
        self._lane_tasks: set[asyncio.Task[None]] = set()

    # -- connections ------------------------------------------------------------------------------
    async def hold_slot(self, ip: str, granted: Callable[[], None], release: threading.Event) -> None:
        """Take one of ``ip``'s connection slots, say so (``granted()``), and keep it until
        ``release`` is set (from another thread: a user's test on a loop of its own)."""
        async with self._slot(ip):
            granted()
            while not release.is_set():
                await asyncio.sleep(0.02)
            await asyncio.sleep(2 * CLOSE_GRACE)  # (the server sees the test's close before the next)

    @contextlib.asynccontextmanager
    async def _slot(self, ip: str) -> AsyncIterator[None]:
        """One of the server's connection slots; every socket opened in it is closed when it is left,
        also when the work is cancelled (its budget ran out): no connection outlives its slot."""
        async with self.engine.host(ip).slot("smtp", PER_HOST):
            lock = await self._process_slot(ip) if self.config.lock_dir else None
            self.in_flight += 1
            sockets: list[list[Any]] = []
            token = _SOCKETS.set(sockets)
            try:
                yield
            finally:
                _SOCKETS.reset(token)
                for _sock, closer in sockets:
                    with contextlib.suppress(Exception):
                        closer()
                self.in_flight -= 1
                if lock is not None:
                    lock.close()  # (closing the file releases its lock)

    async def _process_slot(self, ip: str) -> Any:
        """One of the server's :data:`PER_HOST` slots across every process of the run: an exclusive
        lock on one of its slot files (polled, so that the loop never blocks on it)."""
        import fcntl

        assert self.config.lock_dir is not None
        name = ip.replace(":", "_")
        while True:
            for n in range(PER_HOST):
                f = open(os.path.join(self.config.lock_dir, f"smtp-{name}-{n}.lock"), "a")  # noqa: SIM115
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.close()
                    continue
                return f
            await asyncio.sleep(0.02)

    async def _tcp(
        self, ip: str, port: int, first: bytes = b"", early: list[bool] | None = None
    ) -> socket.socket:
        """A connected TCP socket (the operating system's reason on failure, as OSError).

        ``first`` (the early talker's EHLO) is handed to the kernel before the handshake starts, so
        that it reaches the server with the handshake, whatever this process does after: see the
        comment below. Where that cannot be done it is sent right after the connect, and ``early``
        gets False if a greeting byte had arrived first (then this was no early talk)."""
        live = self.engine.host(ip).over("smtp")
        if live.silent:  # several connections timed out and none was ever taken: asking costs a timeout
            raise TimeoutError(f"timeout (no TCP answer to {live.timeouts} earlier connections)")
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        held = _SOCKETS.get(None)

        def fresh() -> socket.socket:
            made = socket.socket(family, socket.SOCK_STREAM)
            made.setblocking(False)
            if held is not None:
                held.append([made, made.close])
            self.opened[ip] = self.opened.get(ip, 0) + 1
            return made

        sock = fresh()
        self.ports.add(port)
        rest = first  # what is still to be sent once the connection is up
        if first and TCP_FASTOPEN_CONNECT is not None and TCP_FASTOPEN_NO_COOKIE is not None:
            # Why the EHLO must leave inside the handshake, not "right after" it. A server that
            # refuses early talkers looks once: Postfix 3.7's smtpd (smtpd_forbid_unauth_pipelining)
            # asks the kernel how many bytes wait on the new connection (peekfd(): FIONREAD) a few
            # milliseconds after accept(), just before it writes 220. An EHLO that is not in the
            # socket's receive queue at that instant is, to Postfix, an ordinary command after the
            # greeting ("220 then 250"). A write from this process right after connect() is not in
            # time for sure: under load the process can be descheduled between the two calls for
            # longer than master takes to fork smtpd and smtpd to look (measured: 10-15 ms with
            # the two cores busy, and 220 then 250 on a third of the tries). TCP_FASTOPEN_CONNECT
            # alone does not help: without a Fast Open cookie from this server (Postfix's listener
            # does not do Fast Open, so it never gives one) connect() starts an ordinary handshake
            # and send() is an ordinary write, whenever it comes. With TCP_FASTOPEN_NO_COOKIE as
            # well, connect() sends nothing (it returns 0: the connection is deferred), and the
            # send() below hands the EHLO to the kernel, which puts it in the SYN. A server without
            # Fast Open acknowledges only the SYN; on its SYN-ACK the kernel, in the same softirq,
            # sends the unacknowledged EHLO again as the segment that completes the handshake (Linux
            # sends no bare ACK then: tcp_rcv_fastopen_synack). So the EHLO is in the new socket's
            # receive queue before the server can accept() it: every look a server takes sees it,
            # and one that does not look still greets and answers it (220 then 250). A Fast Open
            # server takes the EHLO from the SYN itself: earlier still.
            deferred = False
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
                # 0: deferred until the first write. EINPROGRESS: an ordinary handshake is under way
                # (Fast Open off here, or switched off by the kernel's blackhole detection): then the
                # EHLO is sent after the connect, below, and checked against the greeting
                deferred = sock.connect_ex((ip, port)) == 0
            if deferred:
                try:
                    rest = first[sock.send(first) :]
                except OSError:
                    # (nothing left, not even the SYN: an ordinary connection instead)
                    sock.close()
                    sock = fresh()
        try:
            # (on a connect already under way, asyncio waits for it to end and reads its result)
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (ip, port)), self.config.timeout
            )
        except TimeoutError:
            sock.close()
            live.timed_out()
            raise TimeoutError(f"timeout (no TCP answer within {self.config.timeout:g} s)") from None
        except OSError as exc:
            sock.close()
            live.failed(os_reason(exc))
            raise
        except BaseException:
            sock.close()
            raise
        live.answered += 1
        if rest:
            if rest == first:  # nothing went with the handshake: did a greeting byte beat us to it?
                try:
                    crossed = bool(sock.recv(1, socket.MSG_PEEK))
                except (BlockingIOError, InterruptedError):
                    crossed = False
                if crossed and early is not None:
                    early.append(False)
            with contextlib.suppress(BlockingIOError):
                sock.send(rest)
        return sock

    async def _open(
        self, ip: str, port: int, log: _Transcript
    ) -> tuple[_Session | None, Exchange | None, str]:
        """Connect and read the greeting: (session, greeting, connect error)."""
        t = self.config.timeout
        try:
            sock = await self._tcp(ip, port)
        except TimeoutError as exc:
            return None, None, str(exc)
        except OSError as exc:
            return None, None, os_reason(exc)
        client = _SafeSMTP(
            timeout=t,
            local_hostname=self.config.probe_helo,
            start_tls=False,
            use_tls=False,
            validate_certs=False,
        )
        _own(sock, client.close)
        try:
            r = await asyncio.wait_for(client.connect(sock=sock, timeout=t), t + 1)
            greeting = _reply_exchange("", r.code, r.message)
        except aiosmtplib.SMTPConnectResponseError as exc:
            greeting = _reply_exchange("", exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            text = _error_text(exc, t)
            if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
                text = f"timeout (no whole greeting within {t:g} s)"
            elif isinstance(exc, aiosmtplib.SMTPConnectError) and "closed" in str(exc).lower():
                text = "connection closed by the server before a greeting"
            greeting = Exchange(
                "", error=text, malformed=text if "Malformed" in text or "too long" in text else ""
            )
            with contextlib.suppress(Exception):
                client.close()
            sock.close()
            log.add(greeting)
            return None, greeting, ""
        log.add(greeting)
        return _Session(client, t, log, sock), greeting, ""

    # -- the read-only session (L1) ---------------------------------------------------------------
    async def session(self, host: str, ip: str, port: int, *, budget: float = 0.0) -> SmtpSession:
        """The read-only session and, beside it (the two connections at once), the fresh session for
        HELO and the unknown command. ``budget`` (seconds, 0: none) bounds each of its connections
        from the moment it has its slot: the wait for a slot is politeness (another process's, or
        another probe's turn at a shared server, each bounded by its own budget), not the server's
        slowness, and must not run a session out of time that its server would have answered."""
        start = time.monotonic()
        log, log2 = _Transcript(), _Transcript()

        def spent() -> str:
            return f"not finished in time (survey timeout): the budget of {budget:g} s ran out"

        async def main() -> tuple[str, Exchange | None, Exchange | None, TlsInfo | None]:
            try:
                return await in_slot()
            except TimeoutError:
                return spent(), None, None, None

        async def in_slot() -> tuple[str, Exchange | None, Exchange | None, TlsInfo | None]:
            ehlo = tls = None
            async with self._slot(ip), asyncio.timeout(budget or None):
                s, greeting, connect_error = await self._open(ip, port, log)
                if connect_error:
                    return connect_error, None, None, None
                if s is not None and greeting is not None and greeting.code == 220:
                    ehlo = await s.command(f"EHLO {self.config.probe_helo}")
                    offered = ehlo.code == 250 and any(
                        line.split()[:1] == ["STARTTLS"] for line in (x.upper() for x in ehlo.lines[1:])
                    )
                    if offered and not s.closed:
                        tls = await s.starttls(host, tls_client_context())
                        if tls.established:
                            after = await s.command(f"EHLO {self.config.probe_helo}")
                            tls = _with_ehlo(tls, after)
                if s is not None:
                    await s.quit()
            return "", greeting, ehlo, tls

        async def fresh() -> tuple[str, Exchange | None, Exchange | None, Exchange | None]:
            try:
                return await fresh_in_slot()
            except TimeoutError:
                return spent(), None, None, None

        async def fresh_in_slot() -> tuple[str, Exchange | None, Exchange | None, Exchange | None]:
            log2.note("a fresh session for HELO and an unknown command")
            async with self._slot(ip), asyncio.timeout(budget or None):
                s2, g2, err2 = await self._open(ip, port, log2)
                if err2 or s2 is None or g2 is None or g2.code != 220:
                    return err2 or (g2.reply if g2 is not None else "no greeting"), None, None, None
                helo = await s2.command(f"HELO {self.config.probe_helo}")
                unknown = noop = None
                if not s2.closed:
                    unknown = await s2.command("XMAILSPEC")
                if not s2.closed:
                    noop = await s2.command("NOOP")
                await s2.quit()
            return "", helo, unknown, noop

        (connect_error, greeting, ehlo, tls), (helo_error, helo, unknown, noop) = await asyncio.gather(
            main(), fresh()
        )
        if tls is not None and tls.starttls.code == 220 and tls.handshake_error:
            tls = await self._fallback(host, ip, port, tls, log, budget)
        if connect_error:
            return SmtpSession(host, ip, port, connect_error=connect_error, elapsed=time.monotonic() - start)
        raw = greeting.malformed if greeting is not None else ""
        return SmtpSession(
            host, ip, port, greeting=greeting, greeting_raw=raw[:RAW_KEPT], ehlo=ehlo, tls=tls, helo=helo,
            unknown=unknown, noop=noop, helo_error=helo_error, transcript=tuple(log.lines + log2.lines),
            elapsed=time.monotonic() - start,
            round_trips=(sum(log.round_trips), sum(log2.round_trips)),
        )  # fmt: skip

    async def _fallback(
        self, host: str, ip: str, port: int, tls: TlsInfo, log: _Transcript, budget: float = 0.0
    ) -> TlsInfo:
        """After a failed handshake, one more that offers every version this machine can: which one
        the server speaks tells a server of old TLS versions only from a broken one."""
        from dataclasses import replace

        log.note("the handshake failed: once more, offering every TLS version, to learn which one it speaks")
        try:
            async with self._slot(ip), asyncio.timeout(budget or None):
                s, g, err = await self._open(ip, port, log)
                if err or s is None or g is None or g.code != 220:
                    if s is not None:
                        await s.quit()
                    return replace(tls, fallback_error=err or "no 220 greeting")
                await s.command(f"EHLO {self.config.probe_helo}")
                again = await s.starttls(host, tls_client_context(legacy="any"))
                await s.quit()
        except TimeoutError:
            return replace(tls, fallback_error=f"not finished in time: the budget of {budget:g} s ran out")
        if again.established:
            return replace(tls, fallback_version=again.version)
        return replace(tls, fallback_error=again.handshake_error or again.starttls.reply)

    # -- the envelope probes (L2) -----------------------------------------------------------------
    async def envelope(
        self, domain: str, host: str, ip: str, port: int, *, rname: str = "", budget: float = 0.0
    ) -> SmtpEnvelope:
        """The envelope probes of one domain; ``budget`` (seconds) bounds them from the moment a
        connection takes them up, so that a provider's MX shared by hundreds of domains (their
        envelopes queued for its two connections) is not timed out by the queue.

        The domains of one endpoint share its connections: at most :data:`PER_HOST` of them work
        through the queue, each serving domain after domain with RSET between (see
        :data:`REUSE_ERRORS` for when a fresh one is opened instead)."""
        unknown_local = f"mailspec-{secrets.token_hex(16)}"
        probes: dict[str, str] = {
            "postmaster": f"postmaster@{domain}",
            "abuse": f"abuse@{domain}",
            "hostmaster": f"hostmaster@{domain}",
            "unqualified": "Postmaster",
            "mixed-case": f"PoStMaStEr@{domain}",
            "unknown": f"{unknown_local}@{domain}",
        }
        if rname and rname.lower() not in {v.lower() for v in probes.values()}:
            probes["rname"] = rname
        job = _EnvelopeJob(
            domain, host, probes, unknown_local, budget, asyncio.get_running_loop().create_future()
        )
        lanes = self._lanes.setdefault((ip, port), _Lanes())
        lanes.queue.append(job)
        if lanes.running < PER_HOST:
            self._start_lane(ip, port, lanes)
        return await job.future  # (cancelled by its caller: the lane skips it)

    def _start_lane(self, ip: str, port: int, lanes: _Lanes) -> None:
        lanes.running += 1
        task = asyncio.ensure_future(self._lane(ip, port, lanes))
        self._lane_tasks.add(task)
        task.add_done_callback(self._lane_tasks.discard)

    async def _lane(self, ip: str, port: int, lanes: _Lanes) -> None:
        """Connections to an endpoint, one after another, each in a slot of its own, working through
        its queued envelope probes: one connection serves domain after domain while it may (see
        :data:`REUSE_ERRORS`), and its slot is given up when it closes, so that the server's other
        probes (and other processes' under xdist) get their turn."""
        normal = False
        job: _EnvelopeJob | None = None
        try:
            while (job := self._next_job(lanes)) is not None:
                async with self._slot(ip):
                    conn: _EnvelopeConn | None = None
                    while job is not None:
                        result, conn = await self._run_job(job, ip, port, conn)
                        if not job.future.done():
                            job.future.set_result(result)
                        job = self._next_job(lanes) if conn is not None else None
                    if conn is not None:
                        conn.session.log = _Transcript()
                        await conn.session.quit()
            normal = True
        except BaseException as exc:
            # (the slot itself failed, or the lane was cancelled: nothing queued may wait forever)
            why = f"could not test: the probe failed ({type(exc).__name__}: {exc})"
            for j in [*([job] if job is not None else []), *lanes.queue]:
                if not j.future.done():
                    j.future.set_result(SmtpEnvelope(j.domain, j.host, ip, port, error=why))
            lanes.queue.clear()
            if not isinstance(exc, Exception):
                raise
        finally:
            lanes.running -= 1
            if normal and lanes.queue and lanes.running < PER_HOST:  # (queued while this one closed)
                self._start_lane(ip, port, lanes)

    @staticmethod
    def _next_job(lanes: _Lanes) -> _EnvelopeJob | None:
        while lanes.queue:
            job = lanes.queue.pop(0)
            if not job.future.done():  # (one whose caller gave up is skipped)
                return job
        return None

    async def _run_job(
        self, job: _EnvelopeJob, ip: str, port: int, conn: _EnvelopeConn | None
    ) -> tuple[SmtpEnvelope, _EnvelopeConn | None]:
        """One domain's envelope probes within its budget: the result, and the connection to pass on.
        A domain that drew a transient (4yz) reply on a connection other domains used first is
        probed again on a fresh one: its verdicts must not rest on what the server made of them."""
        log = _Transcript()
        try:
            async with asyncio.timeout(job.budget or None):
                result, passed_on = await self._envelope(job, ip, port, conn, log)
                if conn is not None and _transient(result):
                    self._drop(passed_on)
                    await asyncio.sleep(2 * CLOSE_GRACE)
                    log = _Transcript()
                    log.note("4yz on a connection other domains used first: asked again on a fresh one")
                    result, passed_on = await self._envelope(job, ip, port, None, log)
                return result, passed_on
        except TimeoutError:
            why = f"not finished in time (survey timeout): the budget of {job.budget:g} s ran out"
        except Exception as exc:  # (one hostile reply must not strand the queue behind it)
            why = f"could not test: the probe failed ({type(exc).__name__}: {exc})"
        # the connection in use is in an unknown state: closed now, not when the slot is left
        if job.session is not None:
            self._drop_session(job.session)
        self._drop(conn)
        await asyncio.sleep(2 * CLOSE_GRACE)
        return SmtpEnvelope(job.domain, job.host, ip, port, error=why, transcript=tuple(log.lines)), None

    @classmethod
    def _drop(cls, conn: _EnvelopeConn | None) -> None:
        """Close a connection in an unknown state at once (its slot would close it too, later)."""
        if conn is not None:
            cls._drop_session(conn.session)

    @staticmethod
    def _drop_session(session: _Session) -> None:
        session.closed = True
        with contextlib.suppress(Exception):
            session.client.close()
        if session.sock is not None:
            with contextlib.suppress(Exception):
                session.sock.close()

    async def _connect_envelope(
        self, job: _EnvelopeJob, ip: str, port: int, log: _Transcript
    ) -> tuple[_EnvelopeConn | None, SmtpEnvelope | None]:
        """A fresh connection, greeted and past EHLO, for envelope probes (or why there is none)."""
        cfg = self.config
        domain, host = job.domain, job.host
        s, greeting, connect_error = await self._open(ip, port, log)
        job.session = s
        if greeting is not None and greeting.code == 421 and s is not None:
            await s.quit()
            log.note(f"421 at the greeting: one retry after {cfg.retry_delay:g} s")
            await asyncio.sleep(cfg.retry_delay)
            s, greeting, connect_error = await self._open(ip, port, log)
            job.session = s
        if connect_error or s is None or greeting is None:
            why = connect_error or (greeting.error if greeting is not None else "no greeting")
            return None, SmtpEnvelope(
                domain, host, ip, port, error=f"could not connect: {why}", transcript=tuple(log.lines)
            )
        if greeting.code != 220:
            await s.quit()
            if greeting.code == 554:
                why = f"the server greets this probe with {greeting.reply}: it refuses this vantage point"
                return None, SmtpEnvelope(domain, host, ip, port, refused=why, transcript=tuple(log.lines))
            why = f"no 220 greeting: {greeting.reply}"
            return None, SmtpEnvelope(domain, host, ip, port, error=why, transcript=tuple(log.lines))
        ehlo = await s.command(f"EHLO {cfg.probe_helo}")
        if ehlo.code != 250 and not s.closed:
            await s.command(f"HELO {cfg.probe_helo}")
        keywords = (
            tuple(line.split()[0].upper() for line in ehlo.lines[1:] if line.split())
            if ehlo.code == 250
            else ()
        )
        return _EnvelopeConn(s, keywords, tuple(log.lines)), None

    async def _envelope(
        self, job: _EnvelopeJob, ip: str, port: int, conn: _EnvelopeConn | None, log: _Transcript
    ) -> tuple[SmtpEnvelope, _EnvelopeConn | None]:
        """One domain's envelope probes, on ``conn`` (left by the previous domain) or a fresh
        connection; the connection to pass on to the next domain, if it may serve one."""
        cfg = self.config
        domain, host, probes, unknown_local = job.domain, job.host, job.probes, job.unknown_local
        if conn is not None:
            job.session = conn.session
            conn.session.log = log
            conn.domains += 1
            log.lines += conn.opening
            log.note(f"this connection served {conn.domains - 1} other domain(s) first; RSET since")
            log.round_trips.append(0)
        else:
            conn, failed = await self._connect_envelope(job, ip, port, log)
            if conn is None:
                assert failed is not None
                return failed, None
        s, keywords = conn.session, conn.keywords
        rcpts: dict[str, Rcpt] = {}
        null_mail = await self._transaction(s, "", probes, rcpts, tls=False)
        if not s.closed:
            await s.command("RSET")
        if not s.closed:
            sender = f"mailspec@{cfg.probe_helo}"
            more = {"postmaster-sender": f"postmaster@{domain}"}
            if cfg.relay_rcpt:
                more = {"relay": cfg.relay_rcpt, **more}
            await self._transaction(s, sender, more, rcpts, tls=False)
            if not s.closed:
                await s.command("RSET")
        vrfy_u = vrfy_p = expn_p = None
        if not s.closed:
            vrfy_u = await s.command(f"VRFY {unknown_local}@{domain}")
        if not s.closed:
            vrfy_p = await s.command("VRFY postmaster")
        if not s.closed:
            expn_p = await s.command("EXPN postmaster")
        gated = [k for k, r in rcpts.items() if k in probes and _tls_required(r)]
        if gated and "STARTTLS" in keywords and not s.closed:
            log.note("recipients refused until STARTTLS: asked again inside TLS")
            if not s.closed:
                await s.command("RSET")
            tls = await s.starttls(host, tls_client_context())
            if tls.established:
                await s.command(f"EHLO {cfg.probe_helo}")
                again = {f"{k}@tls": probes[k] for k in gated}
                await self._transaction(s, "", again, rcpts, tls=True)
        passed_on: _EnvelopeConn | None = None
        if (
            not s.closed
            and not s.tls
            and s.errors <= REUSE_ERRORS
            and conn.domains < REUSE_DOMAINS
            and not _transient_rcpts(rcpts, null_mail)
        ):
            reset = await s.command("RSET")
            if reset.code == 250:
                passed_on = conn
        if passed_on is None:
            await s.quit()
        if s.closed and not rcpts and null_mail is None:
            why = "the session ended before the probes"
            return SmtpEnvelope(domain, host, ip, port, error=why, transcript=tuple(log.lines)), None
        return SmtpEnvelope(
            domain, host, ip, port, null_mail=null_mail, rcpts=rcpts, vrfy_unknown=vrfy_u,
            vrfy_postmaster=vrfy_p, expn_postmaster=expn_p, keywords=keywords, transcript=tuple(log.lines),
            round_trips=(sum(log.round_trips),),
        ), passed_on  # fmt: skip

    async def _transaction(
        self, s: _Session, sender: str, probes: dict[str, str], out: dict[str, Rcpt], *, tls: bool
    ) -> Exchange | None:
        """``MAIL FROM:<sender>`` and one RCPT per probe; a 4yz is retried once after the pause (one
        pause for MAIL, one for all the recipients)."""
        mail = await s.command(f"MAIL FROM:<{sender}>")
        if mail.kind == 4 and not s.closed:
            await asyncio.sleep(self.config.retry_delay)
            retry = await s.command(f"MAIL FROM:<{sender}>")
            mail = _retried(retry, mail)
        if mail.kind != 2:
            for name, box in probes.items():
                out[name] = Rcpt(box, sender, mail, tls=tls)
            return mail
        transient: list[str] = []
        for name, box in probes.items():
            if s.closed:
                break
            r = await s.command(f"RCPT TO:<{box}>")
            out[name] = Rcpt(box, sender, mail, r, tls=tls)
            if r.kind == 4:
                transient.append(name)
        if transient and not s.closed:
            # one pause for the whole transaction (a greylist answers every recipient of it alike),
            # then each transient recipient asked once more in the same transaction
            await asyncio.sleep(self.config.retry_delay)
            for name in transient:
                if s.is_closed():  # (the pause may have outlasted the server's patience)
                    break
                first = out[name].rcpt
                assert first is not None
                retry = await s.command(f"RCPT TO:<{probes[name]}>")
                out[name] = Rcpt(probes[name], sender, mail, _retried(retry, first), tls=tls)
        return mail

    # -- a DMARC report address (L2) -------------------------------------------------------------
    #: the report-address probe's bound, in timeouts, from when its connection slot is taken: the
    #: connect and greeting, EHLO (and HELO), MAIL and RCPT twice (in plaintext, then inside TLS:
    #: STARTTLS, the handshake and EHLO again), RSET and QUIT, each within the timeout; the pauses
    #: of the greylisting retries come on top (see report_rcpt)
    REPORT_TIMEOUTS = 16

    async def report_rcpt(self, address: str, tag: str, host: str, ip: str, port: int) -> ReportRcpt:
        """Whether ``host`` (at ``ip``) takes mail for the report address: EHLO, ``MAIL FROM:<>``,
        ``RCPT TO:<address>``, RSET, QUIT, in one of the server's connection slots (never DATA). A 4yz
        is asked once more after the greylisting pause; a refusal that says STARTTLS is needed first
        is asked once more inside TLS, as a report sender that uses TLS would be answered; a 5yz to
        the null sender (at MAIL or RCPT) once more with the probe's own sender
        (``mailspec@<probe name>``), as report senders use a sender of their own."""
        cfg = self.config
        log = _Transcript()

        def done(untried: str = "", rcpt: Rcpt | None = None, null: Rcpt | None = None) -> ReportRcpt:
            return ReportRcpt(address, tag, host, ip, port, untried=untried, rcpt=rcpt, null_refused=null,
                              transcript=tuple(log.lines))  # fmt: skip

        if not address or any(c.isspace() or not c.isprintable() or c in "<>" for c in address):
            return done(f"{address!r} cannot be sent in an RCPT command")
        # the 4yz pauses it may take: one after a 421 greeting, and two (MAIL, then the recipient) in
        # each of its three transactions (the null sender, again inside TLS, the probe's own sender)
        budget = self.REPORT_TIMEOUTS * cfg.timeout + 7 * cfg.retry_delay + 5.0
        held: list[_Session] = []
        async with self._slot(ip):
            try:
                async with asyncio.timeout(budget):
                    return await self._report_rcpt(address, host, ip, port, log, held, done)
            except TimeoutError:
                for session in held:
                    self._drop_session(session)
                return done(f"not finished in time: the budget of {budget:g} s ran out")

    async def _report_rcpt(
        self,
        address: str,
        host: str,
        ip: str,
        port: int,
        log: _Transcript,
        held: list[_Session],
        done: Callable[..., ReportRcpt],
    ) -> ReportRcpt:
        cfg = self.config
        s, greeting, connect_error = await self._open(ip, port, log)
        held += [s] if s is not None else []
        if greeting is not None and greeting.code == 421 and s is not None:
            await s.quit()
            log.note(f"421 at the greeting: one retry after {cfg.retry_delay:g} s")
            await asyncio.sleep(cfg.retry_delay)
            s, greeting, connect_error = await self._open(ip, port, log)
            held += [s] if s is not None else []
        if connect_error or s is None or greeting is None:
            why = connect_error or (greeting.error if greeting is not None else "no greeting")
            return done(f"could not connect: {why}")
        if greeting.code != 220:
            await s.quit()
            return done(f"the server greets this probe with {greeting.reply}")
        ehlo = await s.command(f"EHLO {cfg.probe_helo}")
        if ehlo.code != 250 and not s.closed:
            await s.command(f"HELO {cfg.probe_helo}")
        keywords = (
            {line.split()[0].upper() for line in ehlo.lines[1:] if line.split()}
            if ehlo.code == 250
            else set()
        )
        out: dict[str, Rcpt] = {}
        if not s.closed:
            await self._transaction(s, "", {"report": address}, out, tls=False)
        first = out.get("report")
        if first is not None and _tls_required(first) and "STARTTLS" in keywords and not s.closed:
            log.note("refused until STARTTLS: asked again inside TLS")
            await s.command("RSET")
            if not s.closed:
                tls = await s.starttls(host, tls_client_context())
                if tls.established:
                    await s.command(f"EHLO {cfg.probe_helo}")
                    if not s.closed:
                        await self._transaction(s, "", {"report": address}, out, tls=True)
        null = out.get("report")
        if null is not None and (null.rcpt or null.mail).kind == 5 and not s.closed:
            # RFC 5321 §4.5.5: only bounces must use the null sender, and a report sender need not
            # (most do not): a refusal of <> is no refusal of the address until a sender is refused too
            log.note("refused with the null sender: asked again with the probe's own sender")
            await s.command("RSET")
            if not s.closed:
                sender = f"mailspec@{cfg.probe_helo}"
                await self._transaction(s, sender, {"report-sender": address}, out, tls=s.tls)
        if not s.closed:
            await s.command("RSET")
        await s.quit()
        r = out.get("report-sender", null)
        refused_null = null if r is not null else None
        if r is None:
            return done("the session ended before MAIL")
        if r.rcpt is None:
            return done(f"MAIL FROM:<{r.sender}> got {r.mail.reply}", r, refused_null)
        if not r.rcpt.replied:
            return done(f"no reply to RCPT: {r.rcpt.error}", r, refused_null)
        if r.rcpt.code == 421:  # (the server closed the session: no retry was possible)
            return done(f"RCPT got {r.rcpt.reply}, and the server closed the session", r, refused_null)
        return done("", r, refused_null)

    # -- the intrusive probes (L3) ----------------------------------------------------------------
    async def intrusive(self, host: str, ip: str, port: int, domain: str, tls_offered: bool) -> SmtpIntrusive:
        logs = [_Transcript() for _ in range(5)]
        # independent of each other: run side by side, two connections at a time (the host's slot)
        early_part = self._early_talker(ip, port, logs[0])
        pipe_part = self._pipelining(ip, port, domain, logs[1])
        injection: tuple[str, ...] = ()
        inj_verdict = "untestable"
        legacy: list[LegacyTls] = []
        if tls_offered:
            parts = await asyncio.gather(
                early_part,
                pipe_part,
                self._injection(host, ip, port, logs[2]),
                self._legacy(host, ip, port, "TLSv1.1", logs[3]),
                self._legacy(host, ip, port, "TLSv1", logs[4]),
            )
            (early, early_verdict), (pipelining, pipe_verdict), (injection, inj_verdict) = parts[:3]
            legacy = [parts[3], parts[4]]
        else:
            (early, early_verdict), (pipelining, pipe_verdict) = await asyncio.gather(early_part, pipe_part)
        log = _Transcript([line for part in logs for line in part.lines])
        trips = tuple(sum(part.round_trips) for part in logs if part.round_trips)
        return SmtpIntrusive(
            host, ip, port, early=early, early_verdict=early_verdict, pipelining=pipelining,
            pipelining_verdict=pipe_verdict, injection=injection, injection_verdict=inj_verdict,
            legacy=tuple(legacy), transcript=tuple(log.lines), round_trips=trips,
        )  # fmt: skip

    async def _raw(
        self, ip: str, port: int, first: bytes = b"", early: list[bool] | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = await self._tcp(ip, port, first, early)
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE * 2)
        _own(sock, writer.transport.abort)
        return reader, writer

    async def _reply(self, reader: asyncio.StreamReader) -> Exchange:
        """One reply from a raw stream, bounded in time, line length and line count."""
        lines: list[str] = []
        code = 0
        deadline = asyncio.get_running_loop().time() + self.config.timeout
        try:
            while len(lines) < MAX_LINES:
                left = deadline - asyncio.get_running_loop().time()
                raw = await asyncio.wait_for(reader.readline(), max(left, 0.01))
                if not raw:
                    return Exchange(
                        "", code=code, lines=tuple(lines), error="connection closed by the server"
                    )
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if len(text) < 3 or not text[:3].isdigit():
                    return Exchange("", error="not an SMTP reply", malformed=text[:RAW_KEPT])
                code = int(text[:3])
                lines.append(text[4:])
                if text[3:4] != "-":
                    return Exchange("", code=code, lines=tuple(lines))
            return Exchange("", code=code, lines=tuple(lines), error=f"more than {MAX_LINES} lines")
        except TimeoutError:
            return Exchange(
                "",
                code=code,
                lines=tuple(lines),
                error=f"timeout (no whole reply within {self.config.timeout:g} s)",
            )
        except (ValueError, asyncio.LimitOverrunError):
            return Exchange("", error=f"a reply line longer than {MAX_LINE * 2} octets")
        except OSError as exc:
            return Exchange("", error=os_reason(exc))

    @staticmethod
    async def _close(
        writer: asyncio.StreamWriter, reader: asyncio.StreamReader | None = None, *, quit: bool = True
    ) -> None:
        """QUIT (unless it was sent already), and (given the reader) wait briefly for the server to
        close its side first."""
        if quit:
            with contextlib.suppress(Exception):
                writer.write(_checked("QUIT"))
        if reader is not None:
            with contextlib.suppress(Exception):
                deadline = asyncio.get_running_loop().time() + CLOSE_WAIT
                while await asyncio.wait_for(
                    reader.read(4096), max(0.01, deadline - asyncio.get_running_loop().time())
                ):
                    pass
        with contextlib.suppress(Exception):
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 2)

    async def _early_talker(self, ip: str, port: int, log: _Transcript) -> tuple[tuple[str, ...], str]:
        """EHLO sent right after the TCP handshake, before any greeting byte. On Linux the kernel sends
        it with the handshake's last packet; elsewhere it is sent right after the connect, and a try
        in which a greeting byte had arrived first does not count.

        Up to :data:`EARLY_TRIES` tries, and one rejection is the verdict: the catalog says "retry
        once", but a server's own detection races too (real Postfix 3.7 with
        ``smtpd_forbid_unauth_pipelining`` now and then let an early EHLO through, under load, in this
        project's real-server tier), so "accepted" is said only when every try was accepted."""
        out: list[str] = []
        hello = _checked(f"EHLO {self.config.probe_helo}")
        log.note("early talker: EHLO sent before the greeting")
        for _ in range(EARLY_TRIES):
            early: list[bool] = []
            async with self._slot(ip):
                try:
                    reader, writer = await self._raw(ip, port, first=hello, early=early)
                except (OSError, TimeoutError) as exc:
                    out.append(
                        f"rejected: connection failed ({os_reason(exc) if isinstance(exc, OSError) else exc})"
                    )
                    return tuple(out), "untestable"
                try:
                    g = await self._reply(reader)
                    log.add(g)
                    if not g.replied and g.error.startswith("timeout"):  # (slow is not "rejected")
                        out.append(f"no greeting in time: {g.reply}")
                        return tuple(out), "untestable"
                    if g.code != 220:
                        out.append(f"rejected: {g.reply}")
                        return tuple(out), "rejected"
                    r = await self._reply(reader)
                    log.add(
                        Exchange(
                            f"EHLO {self.config.probe_helo} (sent before the greeting)",
                            r.code,
                            r.lines,
                            r.error,
                        )
                    )
                    if not r.replied and r.error.startswith("timeout"):
                        # (silence after the greeting says nothing either way: the server may have
                        # discarded the early EHLO and be waiting for a command, or be slow)
                        out.append(f"no reply to the early EHLO in time: {r.reply}")
                        return tuple(out), "untestable"
                    if r.kind != 2:
                        out.append(f"rejected: {r.reply}")
                        return tuple(out), "rejected"
                    if early:  # (a greeting byte arrived before the EHLO left: no early talk)
                        out.append(
                            f"greeted first: the greeting arrived before the EHLO left (220 then {r.code})"
                        )
                        continue
                    out.append(f"accepted: 220 then {r.code}")
                finally:
                    await self._close(writer, reader)
        return tuple(out), "accepted" if any(x.startswith("accepted") for x in out) else "untestable"

    async def _pipelining(
        self, ip: str, port: int, domain: str, log: _Transcript
    ) -> tuple[tuple[str, ...], str]:
        """HELO (so PIPELINING was never negotiated), then MAIL, RCPT and NOOP in one write."""
        log.note("unauthorised pipelining: MAIL, RCPT and NOOP in one write after HELO")
        async with self._slot(ip):
            try:
                reader, writer = await self._raw(ip, port)
            except (OSError, TimeoutError) as exc:
                return (f"connection failed: {exc}",), "untestable"
            try:
                g = await self._reply(reader)
                log.add(g)
                if g.code != 220:
                    return (f"no greeting: {g.reply}",), "untestable"
                writer.write(_checked(f"HELO {self.config.probe_helo}"))
                h = await self._reply(reader)
                log.add(Exchange(f"HELO {self.config.probe_helo}", h.code, h.lines, h.error))
                if h.kind != 2:
                    return (f"HELO got {h.reply}",), "untestable"
                group = [
                    _checked("MAIL FROM:<>"),
                    _checked(f"RCPT TO:<postmaster@{domain}>"),
                    _checked("NOOP"),
                ]
                writer.write(b"".join(group))
                replies = []
                for cmd in ("MAIL FROM:<>", f"RCPT TO:<postmaster@{domain}>", "NOOP"):
                    r = await self._reply(reader)
                    log.add(Exchange(cmd + " (pipelined)", r.code, r.lines, r.error))
                    replies.append(r)
                    if not r.replied and r.error.startswith("timeout"):  # (slow is not "rejected")
                        return tuple(x.reply for x in replies), "untestable"
                    if not r.replied:
                        return tuple(x.reply for x in replies), "rejected"
                    if r.kind != 2:
                        return tuple(x.reply for x in replies), "rejected"
                return tuple(x.reply for x in replies), "accepted"
            finally:
                await self._close(writer, reader)

    async def _injection(
        self, host: str, ip: str, port: int, log: _Transcript
    ) -> tuple[tuple[str, ...], str]:
        """``STARTTLS`` and ``NOOP`` in one write; after the handshake, anything the server says before
        its answer to the client's first command there (QUIT, which only 221 answers) is the answer
        to a command injected in plaintext (RFC 3207 §4.2)."""
        log.note("STARTTLS injection: STARTTLS and NOOP in one write")
        quit_sent = False
        async with self._slot(ip):
            try:
                reader, writer = await self._raw(ip, port)
            except (OSError, TimeoutError) as exc:
                return (f"connection failed: {exc}",), "untestable"
            try:
                g = await self._reply(reader)
                log.add(g)
                if g.code != 220:
                    return (f"no greeting: {g.reply}",), "untestable"
                writer.write(_checked(f"EHLO {self.config.probe_helo}"))
                e = await self._reply(reader)
                log.add(Exchange(f"EHLO {self.config.probe_helo}", e.code, e.lines, e.error))
                if e.code != 250:
                    return (f"EHLO got {e.reply}",), "untestable"
                writer.write(_checked("STARTTLS") + _checked("NOOP"))
                st = await self._reply(reader)
                log.add(Exchange("STARTTLS + NOOP (one write)", st.code, st.lines, st.error))
                if st.code != 220:
                    return (f"STARTTLS got {st.reply}",), "untestable"
                try:
                    await asyncio.wait_for(
                        writer.start_tls(tls_client_context(), server_hostname=host), self.config.timeout
                    )
                except (ssl.SSLError, OSError, TimeoutError) as exc:
                    return (f"TLS handshake failed: {_error_text(exc, self.config.timeout)}",), "untestable"
                log.handshake()
                # The one command over TLS is QUIT, sent once and never followed by another: a
                # server answers in order, QUIT only with 221 and NOOP only with 250 (RFC 5321
                # §4.1.1.10, §4.1.1.9), so a reply that comes before the 221 answers something sent
                # before the handshake. What the verdict rests on is the order of the replies, never
                # how soon one came; and no second command is ever sent before the reply to the
                # first, which a server that enforces RFC 2920 would punish (a NOOP then a QUIT
                # right after the first reply is, to such a server, an unauthorised pipeline when
                # that reply was the injected NOOP's)
                quit_sent = True
                writer.write(_checked("QUIT"))
                first = await self._reply(reader)
                log.add(Exchange("QUIT (the first command after the handshake)", first.code, first.lines,
                                 first.error))  # fmt: skip
                if first.code == 221:
                    log.note("QUIT got 221 first: the injected NOOP was discarded")
                    return (f"QUIT got {first.reply} first: nothing before it was answered",), "safe"
                if not first.replied:
                    if first.error.startswith("timeout"):  # (slow is not "safe")
                        return (f"no reply to QUIT after the handshake ({first.error})",), "untestable"
                    return (f"the session ended after the handshake ({first.error})",), "safe"
                if first.code == 421:  # (the server closing, RFC 5321 §3.8: says nothing of the NOOP)
                    return (f"QUIT got {first.reply}",), "untestable"
                second = await self._reply(reader)
                log.lines += second.transcript()  # (no command of its own: no round trip of its own)
                if second.replied:
                    log.note("a reply came before QUIT's: the answer to the NOOP injected before TLS")
                    return (f"QUIT got {first.reply} first, then {second.reply} (the injected NOOP's "
                            "answer came before QUIT's)",), "vulnerable"  # fmt: skip
                return (f"QUIT got {first.reply}, not 221, then no more ({second.error})",), "untestable"
            finally:
                await self._close(writer, reader, quit=not quit_sent)

    async def _legacy(self, host: str, ip: str, port: int, version: str, log: _Transcript) -> LegacyTls:
        try:
            ctx = tls_client_context(legacy=version)
        except (ValueError, ssl.SSLError) as exc:
            return LegacyTls(version, untested=f"this machine's OpenSSL cannot offer {version}: {exc}")
        async with self._slot(ip):
            s, g, err = await self._open(ip, port, log)
            if err or s is None or g is None or g.code != 220:
                if s is not None:
                    await s.quit()
                return LegacyTls(version, error=err or "no 220 greeting", untested="no session")
            await s.command(f"EHLO {self.config.probe_helo}")
            log.note(f"legacy TLS: a handshake that offers only {version}")
            tls = await s.starttls(host, ctx)
            if tls.established:
                await s.quit()
                return LegacyTls(version, accepted=True)
            await s.quit()
            if tls.starttls.code != 220:
                return LegacyTls(version, error=tls.starttls.reply, untested="STARTTLS refused")
            if "no protocols available" in tls.handshake_error.lower() or (
                "unsupported protocol" in tls.handshake_error.lower()
                and "alert" not in tls.handshake_error.lower()
            ):
                return LegacyTls(
                    version, error=tls.handshake_error, untested=f"this machine's OpenSSL refuses {version}"
                )
            return LegacyTls(version, error=tls.handshake_error or "refused")

    # -- the control server -----------------------------------------------------------------------
    async def control(self, host: str, ip: str, port: int) -> SmtpControl:
        """Connect to a control server, read its greeting and QUIT (within its slot, each step bounded
        by the timeout): whether this machine can reach an SMTP port at all."""
        log = _Transcript()
        async with self._slot(ip):
            s, greeting, connect_error = await self._open(ip, port, log)
            if connect_error:
                return SmtpControl(host, port, ip, error=connect_error)
            first = greeting.reply if greeting is not None else ""
            if s is not None:
                await s.quit()
        return SmtpControl(host, port, ip, greeting=first[:RAW_KEPT])

    # -- IDENT ------------------------------------------------------------------------------------
    async def ident(self, ip: str) -> IdentProbe:
        port = self.config.ident_port
        wait = min(self.config.timeout, self.config.ident_timeout)
        start = time.monotonic()
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        async with self.engine.host(ip).slot("ident", 1):
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (ip, port)), wait)
            except TimeoutError:
                sock.close()
                return IdentProbe(ip, port, "timeout", f"no answer to the TCP handshake within {wait:g} s",
                                  time.monotonic() - start)  # fmt: skip
            except ConnectionRefusedError:
                sock.close()
                return IdentProbe(ip, port, "refused", "connection refused", time.monotonic() - start)
            except OSError as exc:
                sock.close()
                return IdentProbe(ip, port, "unreachable", os_reason(exc), time.monotonic() - start)
            # open: ask about a connection that does not exist, and read one bounded line of reply
            reply = ""
            try:
                await asyncio.wait_for(loop.sock_sendall(sock, b"25 , 65535\r\n"), 2.0)
                data = await asyncio.wait_for(loop.sock_recv(sock, 512), min(wait, 5.0))
                reply = data.decode("ascii", "replace").strip()[:RAW_KEPT] or "(closed without a reply)"
            except TimeoutError:
                reply = "(accepted the connection, no reply to a query)"
            except OSError as exc:
                reply = f"({os_reason(exc)})"
            finally:
                sock.close()
            return IdentProbe(ip, port, "open", reply, time.monotonic() - start)


def _with_ehlo(tls: TlsInfo, ehlo: Exchange) -> TlsInfo:
    from dataclasses import replace

    return replace(tls, ehlo=ehlo)


def _transient_rcpts(rcpts: dict[str, Rcpt], null_mail: Exchange | None) -> bool:
    """Whether a domain's envelope drew a 4yz reply (first try or retry)."""
    replies = [r.rcpt for r in rcpts.values() if r.rcpt is not None] + [r.mail for r in rcpts.values()]
    if null_mail is not None:
        replies.append(null_mail)
    return any(x.kind == 4 or x.first for x in replies)


def _transient(e: SmtpEnvelope) -> bool:
    vrfy = [x for x in (e.vrfy_unknown, e.vrfy_postmaster, e.expn_postmaster) if x is not None]
    return _transient_rcpts(e.rcpts, e.null_mail) or any(x.kind == 4 for x in vrfy)


def _retried(second: Exchange, first: Exchange) -> Exchange:
    from dataclasses import replace

    return replace(second, first=first.reply)


def _tls_required(r: Rcpt) -> bool:
    """A refusal that says STARTTLS is needed first (530, or 5.7.0 with "TLS" in the text)."""
    x = r.rcpt or r.mail
    return x.code == 530 or (x.kind == 5 and "tls" in x.text.lower() and x.text.startswith("5.7."))


Fetch = Callable[..., Awaitable[Any]]
