"""The lab's SMTP servers: a fake MTA on aiosmtpd, and the misbehaving kinds on raw asyncio.

Every MTA of a lab listens on one TCP port shared by all MTA addresses (:attr:`LabMtas.port`). Per
address, the scenario's ``[[mta]]`` table (:class:`~mailspec.testing.scenario.MtaSpec`) decides:

* ``postfix`` and ``fake``: :class:`LabSmtp`, a subclass of aiosmtpd's ``SMTP`` protocol that keeps
  its transport, session, timeout and STARTTLS plumbing and replaces its command loop, so that it can
  answer like Postfix does (replies, codes and texts are Postfix's) and misbehave on purpose;
* ``silent``, ``garbage``, ``tarpit``, ``babbler``, ``binary``, ``badcode``: a few lines of asyncio
  each (see :data:`HOSTILE`).

No message is ever accepted: DATA and BDAT get :data:`DATA_REFUSED`, and are counted (see
:meth:`LabMtas.stats`), so a test can prove that a survey never sent one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import os
import ssl
import threading
from asyncio import sslproto
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from aiosmtpd.smtp import SMTP

from mailspec.testing.binding import bind_everywhere

from .pki import LabCA
from .scenario import MtaSpec

__all__ = [
    "DATA_REFUSED",
    "HOSTILE",
    "PREGREET_WINDOW",
    "SYNC_ERROR",
    "LabMtas",
    "LabSmtp",
    "MtaStats",
    "tls_context",
]

#: The reply to every DATA and BDAT.
DATA_REFUSED = "554 5.7.0 mailspec lab: no message is accepted here"
#: Postfix's reply to a client that talks out of turn (smtpd_forbid_unauth_pipelining = yes).
SYNC_ERROR = "554 5.5.0 Error: SMTP protocol synchronization"
#: Seconds a strict MTA listens before it greets: a byte that arrives in this window comes from a
#: client that did not wait for the greeting (Postfix's smtpd notices the bytes already waiting when
#: it starts; a fresh process takes about this long on a busy machine).
PREGREET_WINDOW = 0.2
#: An idle session is closed after this long (Postfix: smtpd_timeout = 300s).
SESSION_TIMEOUT = 120.0
TLS_HANDSHAKE_TIMEOUT = 30
#: Postfix's line_length_limit; a longer command line is answered 500 and discarded.
LINE_LIMIT = 2048
#: Bytes of one over-long line read and thrown away before the session is closed instead.
MAX_DISCARD = 1 << 20
#: Unrecognised commands tolerated in one session (Postfix: smtpd_hard_error_limit = 20).
HARD_ERROR_LIMIT = 20
#: The message size advertised by default (SIZE 10240000), and the largest BDAT chunk read.
SIZE_LIMIT = 10_240_000
#: Command verbs kept per address for :meth:`LabMtas.stats`; later ones are counted only.
MAX_VERBS = 10_000
#: RFC 2920 section 3.1: commands that may only be the last of a pipelined group. STARTTLS is left
#: to its own rule (RFC 3207 section 4.2: what came with it is discarded, see ``starttls``).
LAST_IN_GROUP = frozenset({"EHLO", "HELO", "DATA", "VRFY", "EXPN", "TURN", "QUIT", "NOOP"})
#: A babbler's greeting line, before it keeps going.
BABBLE_BYTES = 1 << 20
#: What the endless talkers (babbler, binary, garbage) send after their first burst, and how often:
#: a bounded trickle (about 320 KB/s), so that a client that keeps reading costs the lab's loop,
#: which also answers DNS, next to nothing.
TRICKLE_BYTES = 16384
TRICKLE_SECONDS = 0.05
#: byte -> the same byte with its high bit set (bytes.translate: C speed, no per-byte Python)
_HIGH_BIT = bytes(b | 0x80 for b in range(256))


def tls_context(certificate: tuple[Any, Any], versions: str = "modern") -> ssl.SSLContext:
    """A server context for STARTTLS: TLS 1.2 and 1.3, or (``legacy``) also 1.0 and 1.1, or
    (``old-only``) nothing newer than 1.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if versions == "old-only":
        import warnings

        with warnings.catch_warnings():  # (the old versions are deprecated: that is the point here)
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    elif versions == "legacy":
        # MINIMUM_SUPPORTED, not TLSv1: the named old versions are deprecated in the ssl module, and
        # OpenSSL 3 needs security level 0 for their SHA-1 handshake signatures.
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(*certificate)
    return context


class MtaStats:
    """What one MTA address saw. Updated in the lab's loop, read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.peers: list[str] = []
        self.data_commands = 0
        self.verbs: list[str] = []
        self.verbs_dropped = 0

    def opened(self, peer: str) -> int:
        """Count a new connection; returns how many are open now."""
        with self._lock:
            self.connections += 1
            self.open += 1
            self.max_open = max(self.max_open, self.open)
            if peer not in self.peers:
                self.peers.append(peer)
            return self.open

    def closed(self) -> None:
        with self._lock:
            self.open -= 1

    def verb(self, verb: str) -> None:
        with self._lock:
            if len(self.verbs) < MAX_VERBS:
                self.verbs.append(verb)
            else:
                self.verbs_dropped += 1

    def data(self) -> None:
        with self._lock:
            self.data_commands += 1

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: connections, max_open, open, peers, data_commands, verbs, verbs_dropped."""
        with self._lock:
            return {
                "connections": self.connections,
                "max_open": self.max_open,
                "open": self.open,
                "peers": list(self.peers),
                "data_commands": self.data_commands,
                "verbs": list(self.verbs),
                "verbs_dropped": self.verbs_dropped,
            }


class _Mta:
    """One MTA address of the lab: its spec and everything its sessions share."""

    def __init__(self, spec: MtaSpec, domains: Sequence[str], context: ssl.SSLContext | None) -> None:
        self.spec = spec
        self.domains = tuple(d.rstrip(".").lower() for d in domains)
        self.context = context
        self.stats = MtaStats()
        self.greylisted: set[tuple[str, str]] = set()  # (sender, recipient) pairs seen once
        self.errors: list[str] = []

    def is_local(self, domain: str) -> bool:
        d = domain.rstrip(".").lower()
        return self.spec.role != "unlisted" and any(d == m or d.endswith("." + m) for m in self.domains)


class _NoHooks:
    """aiosmtpd's handler: every decision is LabSmtp's own, so it has no ``handle_*`` hooks."""


class _TooLong(Exception):
    """A command line longer than :data:`LINE_LIMIT` (read and thrown away)."""


def _path(arg: str, keyword: str) -> tuple[str, str] | None:
    """(address, parameters) of ``FROM:<address> params`` / ``TO:...``, or None if malformed."""
    if arg[: len(keyword)].upper() != keyword:
        return None
    rest = arg[len(keyword) :].lstrip()
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            return None
        address, params = rest[1:end].strip(), rest[end + 1 :].strip()
    else:
        address, _, params = rest.partition(" ")
    if any(c.isspace() for c in address) or "<" in address or ">" in address:
        return None
    if address.startswith("@") and ":" in address:  # an RFC 5321 source route: ignored, as allowed
        address = address.split(":", 1)[1]
    return address, params


class LabSmtp(SMTP):
    """The fake MTA: aiosmtpd's protocol with the command loop replaced by one that plays a spec.

    It keeps aiosmtpd's reader, writer, session, idle timeout and its switch of the transport to TLS
    (``connection_made`` for the TLS transport resets the session, RFC 3207 section 4.2). It adds
    what aiosmtpd has no hook for: a look at input that arrived before the greeting or before a
    reply (``data_received`` counts the bytes not yet read), Postfix's replies, and the knobs.
    """

    line_length_limit = LINE_LIMIT  # the StreamReader's limit (aiosmtpd's default is 1001)

    def __init__(
        self,
        mta: _Mta,
        loop: asyncio.AbstractEventLoop,
        sessions: set[LabSmtp],
        tasks: set[asyncio.Task[Any]],
    ) -> None:
        # Set before aiosmtpd's __init__, which inspects every attribute of the instance.
        self._mta = mta
        self._spec = mta.spec
        self._sessions = sessions
        self._tasks = tasks
        self._unread = 0  # bytes received and not yet read by the command loop
        self._arrived = asyncio.Event()
        self._tls = False
        self._pipelining_ok = False  # EHLO advertised PIPELINING in this session
        self._injected: collections.deque[bytes] = collections.deque()
        self._from_injection = False  # the line being answered came with STARTTLS, in plaintext
        self._unknown = 0
        self._counted = False
        self._uncounted = False
        self._over_limit = False
        self._peer = ""
        super().__init__(_NoHooks(), hostname=mta.spec.ehlo_hostname, timeout=SESSION_TIMEOUT, loop=loop)

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = not self._counted
        super().connection_made(transport)  # the TLS transport comes here too, after STARTTLS
        if first:
            self._counted = True
            self._sessions.add(self)
            task = self._handler_coroutine
            if task is not None:  # aiosmtpd's task of this session: stop() waits for it
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            peer = transport.get_extra_info("peername")
            self._peer = str(peer[0]) if peer else ""
            self._over_limit = self._mta.stats.opened(self._peer) > self._spec.max_connections
        else:
            self._unread = 0  # aiosmtpd threw away the plaintext still buffered (RFC 3207 section 4.2)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._uncount()
        self._sessions.discard(self)

    def _uncount(self) -> None:
        """The connection is over for the count of open ones: at the client's EOF (it has gone) or at
        the loss of the connection, whichever comes first (a TLS session's shutdown may come later)."""
        if self._counted and not self._uncounted:
            self._uncounted = True
            self._mta.stats.closed()

    def data_received(self, data: bytes) -> None:
        self._unread += len(data)
        self._arrived.set()
        super().data_received(data)

    def eof_received(self) -> bool | None:
        # aiosmtpd cancels the session at EOF, losing the replies to commands still buffered; let the
        # command loop read them and end at the EOF itself.
        keep_open = asyncio.StreamReaderProtocol.eof_received(self)
        self._uncount()
        return False if self._tls else keep_open

    def abort(self) -> None:
        """Drop the connection at once (the lab is stopping)."""
        for transport in (self._original_transport, self.transport):
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()

    # ------------------------------------------------------------------ the session

    async def _handle_client(self) -> None:
        try:
            await self._session()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # the client went away
        except Exception as exc:  # a bug must cost one session, not the lab; tests read the list
            self._mta.errors.append(f"{self._spec.ip}: {exc!r}")
        finally:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

    async def _session(self) -> None:
        spec = self._spec
        if self._over_limit:
            await self._send(f"421 4.7.0 {spec.hostname} Error: too many connections from {self._peer}")
            return
        if spec.greeting == "421":
            await self._send(f"421 4.3.2 {spec.hostname} Service not available, closing transmission channel")
            return
        if not await self._greet():
            return
        if spec.greeting == "554":
            await self._no_service()
            return
        while True:
            try:
                line = await self._next_line()
            except _TooLong:
                await self._send("500 5.5.0 Error: line too long")
                continue
            if line is None:
                return
            text = line.decode("utf-8", "surrogateescape").rstrip("\r\n")
            verb, _, arg = text.strip().partition(" ")
            verb = verb.upper()
            self._mta.stats.verb(verb)
            self._reset_timeout()
            if not self._from_injection and self._out_of_turn(verb):
                await self._send(SYNC_ERROR)
                return
            if not await self._command(verb, arg.strip()):
                return

    async def _greet(self) -> bool:
        """Send the greeting; False if a strict MTA caught the client talking first (and said so)."""
        spec = self._spec
        strict = spec.pipelining == "strict"
        if spec.greeting == "multiline":
            # postscreen's way: the first line at once, the last after a delay in which a client
            # that talks is an early talker.
            if not await self._wait_quietly(PREGREET_WINDOW if strict else 0.0):
                return False
            await self._send(f"220-{spec.greeting_text}")
            if not await self._wait_quietly(spec.greeting_delay):
                return False
            await self._send(f"220 {spec.greeting_text}")
            return True
        if not await self._wait_quietly(max(spec.greeting_delay, PREGREET_WINDOW if strict else 0.0)):
            return False
        code = "554" if spec.greeting == "554" else "220"
        await self._send(f"{code} {spec.greeting_text}")
        return True

    async def _wait_quietly(self, seconds: float) -> bool:
        """Wait *seconds* before the greeting; a strict MTA rejects a client that talks meanwhile
        (and returns False), a lax one lets it wait."""
        if self._spec.pipelining != "strict":
            if seconds > 0:
                await asyncio.sleep(seconds)
            return True
        if not self._unread and seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), seconds)
        if self._unread:
            await self._send(SYNC_ERROR)
            return False
        return True

    async def _no_service(self) -> None:
        """RFC 5321 section 3.1: after a 554 greeting, 503 to everything but QUIT."""
        while True:
            try:
                line = await self._next_line()
            except _TooLong:
                await self._send("500 5.5.0 Error: line too long")
                continue
            if line is None:
                return
            verb = line.decode("utf-8", "surrogateescape").strip().partition(" ")[0].upper()
            self._mta.stats.verb(verb)
            if verb == "QUIT":
                await self._send("221 2.0.0 Bye")
                return
            await self._send("503 5.5.1 Error: no SMTP service here")

    def _out_of_turn(self, verb: str) -> bool:
        """A strict MTA's view of input already waiting behind this command (RFC 2920 section 3)."""
        if self._spec.pipelining != "strict" or self._unread <= 0 or verb == "STARTTLS":
            return False
        return not self._pipelining_ok or verb in LAST_IN_GROUP

    async def _next_line(self) -> bytes | None:
        """The next command line (with its end), or None at the end of input; :class:`_TooLong`."""
        self._from_injection = bool(self._injected)
        if self._injected:
            return self._injected.popleft()
        reader = self._reader
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as error:
            discarded = 0
            consumed = error.consumed
            while True:
                chunk = await reader.read(max(consumed, 1))
                self._unread -= len(chunk)
                discarded += len(chunk)
                if not chunk or discarded > MAX_DISCARD:
                    return None
                try:
                    rest = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError as again:
                    consumed = again.consumed
                    continue
                except asyncio.IncompleteReadError:
                    return None
                self._unread -= len(rest)
                raise _TooLong from None
        self._unread -= len(line)
        return line

    async def _send(self, *lines: str) -> None:
        """Reply lines (each with its code), in one write."""
        self._writer.write("".join(f"{line}\r\n" for line in lines).encode("utf-8", "surrogateescape"))
        await self._writer.drain()

    async def _multiline(self, code: int, items: Sequence[str]) -> None:
        *head, last = items
        await self._send(*(f"{code}-{item}" for item in head), f"{code} {last}")

    # ------------------------------------------------------------------ commands

    async def _command(self, verb: str, arg: str) -> bool:
        """Answer one command; False ends the session."""
        handler = self._handlers.get(verb)
        if handler is None:
            return await self._unrecognised(verb)
        return await handler(self, arg)

    async def _unrecognised(self, verb: str) -> bool:
        spec = self._spec
        self._unknown += 1
        if spec.unknown_command == "disconnect" or self._unknown >= HARD_ERROR_LIMIT:
            await self._send(f"421 4.7.0 {spec.hostname} Error: too many errors")
            return False
        await self._send(
            "500 5.5.2 Error: bad syntax" if not verb else "502 5.5.2 Error: command not recognized"
        )
        return True

    def _reset_envelope(self) -> None:
        self.envelope = self._create_envelope()

    async def _cmd_ehlo(self, arg: str) -> bool:
        if not arg:
            await self._send("501 Syntax: EHLO hostname")
            return True
        self._reset_envelope()
        assert self.session is not None
        self.session.host_name = arg
        self.session.extended_smtp = True
        words = self._spec.ehlo_keywords(after_tls=self._tls)
        self._pipelining_ok = any(w.split(" ")[0].upper() == "PIPELINING" for w in words)
        await self._multiline(250, [self._spec.ehlo_hostname, *words])
        return True

    async def _cmd_helo(self, arg: str) -> bool:
        if not arg:
            await self._send("501 Syntax: HELO hostname")
            return True
        self._reset_envelope()
        assert self.session is not None
        self.session.host_name = arg
        self.session.extended_smtp = False
        self._pipelining_ok = False  # RFC 2920: only EHLO negotiates PIPELINING
        if self._spec.helo_reply == "ehlo-style":
            await self._multiline(
                250, [self._spec.ehlo_hostname, *self._spec.ehlo_keywords(after_tls=self._tls)]
            )
        else:
            await self._send(f"250 {self._spec.ehlo_hostname}")
        return True

    async def _cmd_mail(self, arg: str) -> bool:
        # Like Postfix (smtpd_helo_required = no), MAIL needs no HELO before it.
        assert self.envelope is not None
        if self.envelope.mail_from is not None:
            await self._send("503 5.5.1 Error: nested MAIL command")
            return True
        parsed = _path(arg, "FROM:")
        if parsed is None:
            await self._send("501 5.5.4 Syntax: MAIL FROM:<address>")
            return True
        sender, _ = parsed  # parameters (SIZE, BODY, SMTPUTF8) are taken as they come
        if not sender and self._spec.null_sender == "reject":
            await self._send("550 5.7.1 <>: Sender address rejected: Access denied")
            return True
        self.envelope.mail_from = sender
        await self._send("250 2.1.0 Ok")
        return True

    async def _cmd_rcpt(self, arg: str) -> bool:
        assert self.envelope is not None
        if self.envelope.mail_from is None:
            await self._send("503 5.5.1 Error: need MAIL command")
            return True
        parsed = _path(arg, "TO:")
        if parsed is None or not parsed[0]:
            await self._send("501 5.1.3 Bad recipient address syntax")
            return True
        recipient = parsed[0]
        reply = self._recipient(recipient, self.envelope.mail_from)
        if reply.startswith("250"):
            self.envelope.rcpt_tos.append(recipient)
        await self._send(reply)
        return True

    @property
    def _table(self) -> str:
        """Postfix's name of the table that says which recipients exist."""
        return "relay recipient table" if self._spec.role == "backup" else "virtual mailbox table"

    def _known(self, local: str) -> bool:
        spec = self._spec
        if spec.catch_all:
            return True
        if spec.case_sensitive:
            return local in spec.accept
        return local.lower() in {a.lower() for a in spec.accept}

    def _recipient(self, address: str, sender: str) -> str:
        """The reply to ``RCPT TO:<address>``, in Postfix's order: relay control, then the
        recipient tables, then the policies (TLS gate, greylisting)."""
        spec = self._spec
        local, at, domain = address.rpartition("@")
        if not sender and spec.null_sender == "reject-rcpt":
            return f"550 5.7.1 <{address}>: Recipient address rejected: null sender refused here"
        if not at:
            if address.lower() == "postmaster" and spec.unqualified_postmaster == "accept":
                return "250 2.1.5 Ok"  # RFC 5321 section 4.5.1: <Postmaster> needs no domain
            return f"504 5.5.2 <{address}>: Recipient address rejected: need fully-qualified address"
        if not self._mta.is_local(domain):
            if spec.relay == "open":
                return "250 2.1.5 Ok"
            return f"554 5.7.1 <{address}>: Relay access denied"
        if not self._known(local):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in {self._table}"
        if spec.tls_gated and not self._tls:
            return "530 5.7.0 Must issue a STARTTLS command first"
        pair = (sender.lower(), address.lower())
        if spec.greylist == "always" or (spec.greylist == "once" and pair not in self._mta.greylisted):
            self._mta.greylisted.add(pair)
            return f"450 4.7.1 <{address}>: Recipient address rejected: Greylisted by the mailspec lab"
        return "250 2.1.5 Ok"

    def _qualified(self, arg: str) -> str:
        address = arg.strip().removeprefix("<").removesuffix(">").strip()
        return address if "@" in address else f"{address}@{self._mta.domains[0]}"

    async def _cmd_vrfy(self, arg: str) -> bool:
        spec = self._spec
        if not arg:
            await self._send("501 5.5.4 Syntax: VRFY address")
            return True
        if spec.vrfy == "disabled":
            await self._send("502 5.5.1 VRFY command is disabled")
            return True
        address = self._qualified(arg)
        if spec.vrfy == "lies":
            await self._send(f"250 2.0.0 <{address}>")
            return True
        if spec.vrfy == "always252":
            await self._send(f"252 2.0.0 <{address}>")
            return True
        local, _, domain = address.rpartition("@")
        if not self._mta.is_local(domain):
            reply = (
                f"252 2.0.0 <{address}>"
                if spec.relay == "open"
                else f"554 5.7.1 <{address}>: Relay access denied"
            )
        elif self._known(local):
            reply = f"252 2.0.0 <{address}>"  # Postfix: it may exist, it is not looked up further
        else:
            reply = (
                f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
            )
        await self._send(reply)
        return True

    async def _cmd_expn(self, arg: str) -> bool:
        if self._spec.expn == "unrecognised":
            # Postfix's words; not counted as an unknown command: EXPN is a command of RFC 5321 that
            # the server does not implement (a server that drops unknown commands keeps this one).
            await self._send("502 5.5.2 Error: command not recognized")
            return True
        if not arg:
            await self._send("501 5.5.4 Syntax: EXPN address")
            return True
        address = self._qualified(arg)
        local, _, domain = address.rpartition("@")
        if self._mta.is_local(domain) and self._known(local):
            await self._send(f"250 2.1.5 <{address}>")
        else:
            await self._send(f"550 5.1.1 <{address}>: Recipient address rejected: User unknown")
        return True

    async def _cmd_data(self, arg: str) -> bool:
        self._mta.stats.data()
        await self._send(DATA_REFUSED)
        return True

    async def _cmd_bdat(self, arg: str) -> bool:
        self._mta.stats.data()
        words = arg.split()
        size = int(words[0]) if words and words[0].isdigit() else -1
        if not 0 <= size <= SIZE_LIMIT:
            await self._send(DATA_REFUSED)  # the chunk cannot be skipped: end the session
            return False
        chunk = await self._reader.readexactly(size)
        self._unread -= len(chunk)
        await self._send(DATA_REFUSED)
        return True

    async def _cmd_rset(self, arg: str) -> bool:
        self._reset_envelope()
        await self._send("250 2.0.0 Ok")
        return True

    async def _cmd_noop(self, arg: str) -> bool:
        await self._send("250 2.0.0 Ok")
        return True

    async def _cmd_quit(self, arg: str) -> bool:
        await self._send("221 2.0.0 Bye")
        return False

    async def _cmd_etrn(self, arg: str) -> bool:
        await self._send("458 4.3.0 mailspec lab: no queue to run here")
        return True

    async def _cmd_auth(self, arg: str) -> bool:
        await self._send("503 5.5.1 Error: authentication not enabled")
        return True

    async def _cmd_starttls(self, arg: str) -> bool:
        spec = self._spec
        if not spec.offers_tls or self._mta.context is None:
            await self._send("502 5.5.1 Error: command not implemented")
            return True
        if self._tls:
            await self._send("554 5.5.1 Error: TLS already active")
            return True
        if arg:
            await self._send("501 5.5.4 Syntax: STARTTLS")
            return True
        if spec.starttls == "refuse":
            await self._send("454 4.7.0 TLS not available due to local problem")
            return True
        await self._send("220 2.0.0 Ready to start TLS")
        if spec.starttls == "broken":
            return False
        # What the client sent behind STARTTLS, in plaintext. RFC 3207 section 4.2: discard it;
        # an ``injectable`` server answers it after the handshake, as if it came over TLS.
        leftover = await self._reader.read(self._unread) if self._unread > 0 else b""
        self._unread = 0
        if spec.starttls == "injectable":
            self._injected.extend(p for p in leftover.splitlines(keepends=True) if p.endswith(b"\n"))
        return await self._start_tls(self._mta.context)

    async def _start_tls(self, context: ssl.SSLContext) -> bool:
        """Switch the transport to TLS the way aiosmtpd's STARTTLS does, and wait for the handshake."""
        waiter = self.loop.create_future()
        protocol = sslproto.SSLProtocol(
            self.loop, self, context, waiter, server_side=True, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT
        )
        self._tls_protocol = protocol
        self._original_transport = self.transport
        assert isinstance(self._original_transport, asyncio.Transport)
        self._original_transport.set_protocol(protocol)
        self.transport = protocol._app_transport
        protocol.connection_made(self._original_transport)
        try:
            await waiter
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            # a failed handshake ends the session, as it does in Postfix; asyncio's TLS layer then
            # closes the connection without telling this protocol, so it is counted closed here
            self._uncount()
            self._original_transport.close()
            return False
        self._tls = True
        self._pipelining_ok = False
        self._reset_envelope()
        return True

    _handlers: ClassVar[dict[str, Callable[[LabSmtp, str], Awaitable[bool]]]] = {}


LabSmtp._handlers = {
    "EHLO": LabSmtp._cmd_ehlo,
    "HELO": LabSmtp._cmd_helo,
    "MAIL": LabSmtp._cmd_mail,
    "RCPT": LabSmtp._cmd_rcpt,
    "DATA": LabSmtp._cmd_data,
    "BDAT": LabSmtp._cmd_bdat,
    "RSET": LabSmtp._cmd_rset,
    "NOOP": LabSmtp._cmd_noop,
    "QUIT": LabSmtp._cmd_quit,
    "VRFY": LabSmtp._cmd_vrfy,
    "EXPN": LabSmtp._cmd_expn,
    "ETRN": LabSmtp._cmd_etrn,
    "AUTH": LabSmtp._cmd_auth,
    "STARTTLS": LabSmtp._cmd_starttls,
}


# --------------------------------------------------------------------------- the misbehaving kinds

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Hostile = Callable[[MtaSpec, MtaStats, Reader, Writer], Awaitable[None]]


async def _silent(
    spec: MtaSpec, stats: MtaStats, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Accept, swallow whatever arrives, never say a word."""
    while await reader.read(4096):
        pass


async def _garbage(
    spec: MtaSpec, stats: MtaStats, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Binary junk, then ``220-`` continuation lines that never reach their last line."""
    w.write(b"\x00\xff\xfe\x16\x03\x01\x02\x00" + os.urandom(120).replace(b"\n", b"?") + b"\r\n")
    line = 0
    while not reader.at_eof():
        line += 1
        w.write(b"220-babbling line %d %s\r\n" % (line, os.urandom(24).hex().encode()))
        if line % 7 == 0:
            w.write(b"\x1b[31m\xc3\x28 not even text \x00\r\n")
        await w.drain()
        await asyncio.sleep(0.02)


async def _slowly(w: asyncio.StreamWriter, data: bytes) -> None:
    for i in range(len(data)):
        w.write(data[i : i + 1])
        await w.drain()
        await asyncio.sleep(1.0)


async def _tarpit(
    spec: MtaSpec, stats: MtaStats, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """A valid greeting, one byte a second; then every command is answered the same way."""
    await _slowly(w, f"220 {spec.greeting_text}\r\n".encode())
    while line := await reader.readline():
        stats.verb(line.decode("utf-8", "replace").strip().partition(" ")[0].upper())
        await _slowly(w, b"502 5.5.2 Error: command not recognized\r\n")


async def _babbler(
    spec: MtaSpec, stats: MtaStats, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """A greeting line of 1 MiB and no end of line, and then more of it, for as long as the client reads."""
    babble = (b"babble " * (TRICKLE_BYTES // 7 + 1))[:TRICKLE_BYTES]
    w.write(b"220 " + (babble * (BABBLE_BYTES // TRICKLE_BYTES + 1))[:BABBLE_BYTES])
    await w.drain()
    while not reader.at_eof():
        w.write(babble)
        await w.drain()
        await asyncio.sleep(TRICKLE_SECONDS)


async def _binary(
    spec: MtaSpec, stats: MtaStats, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Random bytes, every one of them above 0x7f: no line, no reply code, ever."""
    while not reader.at_eof():
        w.write(os.urandom(TRICKLE_BYTES).translate(_HIGH_BIT))
        await w.drain()
        await asyncio.sleep(TRICKLE_SECONDS)


async def _badcode(
    spec: MtaSpec, stats: MtaStats, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """A greeting with code 666 (outside 2xx-5xx); every command gets 666 too, QUIT a 221."""
    w.write(f"666 {spec.greeting_text}\r\n".encode())
    await w.drain()
    while line := await reader.readline():
        verb = line.decode("utf-8", "replace").strip().partition(" ")[0].upper()
        stats.verb(verb)
        if verb == "QUIT":
            w.write(b"221 2.0.0 Bye\r\n")
            await w.drain()
            return
        w.write(f"666 {spec.hostname} still not a reply code\r\n".encode())
        await w.drain()


#: kind -> what a connection to it gets
HOSTILE: dict[str, Hostile] = {
    "silent": _silent,
    "garbage": _garbage,
    "tarpit": _tarpit,
    "babbler": _babbler,
    "binary": _binary,
    "badcode": _badcode,
}


# --------------------------------------------------------------------------- the servers


class LabMtas:
    """Every MTA of a lab, on one port; start and stop it inside one asyncio event loop.

    *mtas* are (spec, the mail domains it serves) pairs; *ca* issues the STARTTLS certificates (it
    is needed when any MTA offers TLS). Certificates and TLS contexts are made here, in the caller's
    thread, so that :meth:`start` only binds.
    """

    def __init__(self, mtas: Sequence[tuple[MtaSpec, Sequence[str]]], ca: LabCA | None = None) -> None:
        self._mtas: list[_Mta] = []
        for spec, domains in mtas:
            context = None
            if spec.offers_tls:
                if ca is None:
                    raise ValueError(f"MTA {spec.hostname} [{spec.ip}] offers STARTTLS: the lab needs a CA")
                certificate = ca.issue(spec.certificate_names, spec.tls_flaws)
                context = tls_context(certificate, spec.tls_versions)
            self._mtas.append(_Mta(spec, domains, context))
        self.port = 0
        self._servers: list[asyncio.Server] = []
        self._sessions: set[LabSmtp] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    @property
    def addresses(self) -> list[str]:
        return [m.spec.ip for m in self._mtas]

    @property
    def running(self) -> bool:
        return bool(self._servers)

    @property
    def internal_errors(self) -> list[str]:
        """Unexpected exceptions in sessions (each cost its session); a test asserts there are none."""
        return [e for m in self._mtas for e in m.errors]

    def stats(self) -> dict[str, dict[str, Any]]:
        """MTA address -> :meth:`MtaStats.snapshot` (JSON-ready)."""
        return {m.spec.ip: m.stats.snapshot() for m in self._mtas}

    def __repr__(self) -> str:
        state = f"port {self.port}" if self.running else "stopped"
        return f"<LabMtas {len(self._mtas)} addresses, {state}>"

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on every MTA address, on *port* or (0) a free port shared by all."""
        if self.running:
            raise RuntimeError("the lab's MTAs are already running")
        if not self._mtas:
            return
        await bind_everywhere(self._bind, self._close_listeners, port)

    async def _bind(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for mta in self._mtas:
            factory: Callable[[], asyncio.BaseProtocol]
            if mta.spec.dialogue:
                factory = functools.partial(LabSmtp, mta, loop, self._sessions, self._tasks)
            else:
                factory = functools.partial(self._raw_protocol, mta)
            server = await loop.create_server(factory, host=mta.spec.ip, port=port, reuse_address=True)
            self._servers.append(server)
            if port == 0:
                port = server.sockets[0].getsockname()[1]
        self.port = port

    def _raw_protocol(self, mta: _Mta) -> asyncio.BaseProtocol:
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        return asyncio.StreamReaderProtocol(reader, functools.partial(self._raw_accept, mta))

    def _raw_accept(self, mta: _Mta, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback: the task is ours from its first moment, so stop() can always cancel it.
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        mta.stats.opened(str(peer[0]) if peer else "")
        if self._closing:
            writer.close()
        task = asyncio.ensure_future(self._raw_session(mta, reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _raw_session(
        self, mta: _Mta, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await HOSTILE[mta.spec.kind](mta.spec, mta.stats, reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away, or sent a line too long for readline: either way, done
        finally:
            mta.stats.closed()
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

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
        # A connection accepted just before close() starts its session a few loop turns later:
        # sweep until several turns in a row find nothing left.
        quiet = 0
        for _turn in range(100):
            await asyncio.sleep(0)
            for session in list(self._sessions):
                session.abort()
            for writer in list(self._writers):
                writer.transport.abort()
            pending = list(self._tasks)
            if not pending and not self._sessions:
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
