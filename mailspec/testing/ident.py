"""The lab's ident (RFC 1413) responders: one per MTA address whose ``ident`` knob asks for one.

All of them listen on one unprivileged TCP port shared by every address (:attr:`LabIdent.port`), the
lab's stand-in for port 113. Per address:

* ``closed``: nothing listens (the kernel answers RST, what a REJECT rule gives);
* ``open``: each query ``<port> , <port>`` is answered ``<port>, <port> : ERROR : NO-USER``;
* ``drop``: a listening socket with a backlog of 0 whose one slot the lab fills itself and never
  accepts: Linux drops SYNs for a full accept queue, so clients wait for their connect timeout, as
  behind a firewall DROP rule (checked at start-up; IPv4 only, as in the shared acceptance lab);
* ``blackhole``: accepts the connection and never answers (the "IDENT black hole": a peer that
  asks waits for its timeout all the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import select
import socket
from collections.abc import Sequence
from typing import Any

from mailspec.testing.binding import bind_everywhere

__all__ = ["IDENT_MODES", "LabIdent"]

IDENT_MODES = ("closed", "open", "drop", "blackhole")
#: An open responder closes a connection that sends no query for this long (RFC 1413 suggests
#: 60 to 180 seconds; the lab is less patient).
IDLE_SECONDS = 30.0
MAX_QUERY = 1000
#: How long start-up waits to see the kernel drop a SYN on a full accept queue.
DROP_CHECK_SECONDS = 0.3
_QUERY = re.compile(r"^\s*(\d{1,5})\s*,\s*(\d{1,5})\s*$")


class IdentError(RuntimeError):
    """An ident responder could not be set up as asked."""


def answer(query: str) -> str:
    """RFC 1413 section 6: the reply to one query line (without its end of line)."""
    match = _QUERY.match(query)
    if not match or not all(0 < int(p) < 65536 for p in match.groups()):
        return f"{query.strip()} : ERROR : INVALID-PORT"
    return f"{int(match.group(1))}, {int(match.group(2))} : ERROR : NO-USER"


class _Drop:
    """The ``drop`` trick on one address: a full, never-accepted listener."""

    def __init__(self, ip: str, port: int) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.filler: socket.socket | None = None
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((ip, port))
            self.listener.listen(0)
            self.port = self.listener.getsockname()[1]
            self.filler = socket.create_connection((ip, self.port), timeout=2)
            # A kernel that still completes the next handshake would not model DROP: refuse to lie.
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.setblocking(False)
                probe.connect_ex((ip, self.port))
                # (poll, not select: select cannot watch a descriptor numbered 1024 or more)
                poller = select.poll()
                poller.register(probe, select.POLLOUT)
                writable = poller.poll(DROP_CHECK_SECONDS * 1000)
            finally:
                probe.close()
            if writable:
                raise IdentError(f"ident 'drop' on {ip}: this kernel completes handshakes on a full queue")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.filler is not None:
            self.filler.close()
        self.listener.close()


class LabIdent:
    """The ident responders of a lab; start and stop inside one asyncio event loop.

    *entries* are (address, mode) pairs; ``closed`` ones are left out (nothing listens there).
    """

    def __init__(self, entries: Sequence[tuple[str, str]]) -> None:
        for ip, mode in entries:
            if mode not in IDENT_MODES:
                raise ValueError(f"ident mode {mode!r} of {ip}: expected one of {', '.join(IDENT_MODES)}")
            if mode == "drop" and ":" in ip:
                raise ValueError(f"ident 'drop' on {ip}: IPv4 only")
        self.entries = [(ip, mode) for ip, mode in entries if mode != "closed"]
        self.port = 0
        self.queries = 0
        self._servers: list[asyncio.Server] = []
        self._drops: list[_Drop] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def running(self) -> bool:
        return bool(self._servers or self._drops)

    def __repr__(self) -> str:
        state = f"port {self.port}" if self.running else "stopped"
        return f"<LabIdent {len(self.entries)} addresses, {state}>"

    async def start(self, port: int = 0) -> None:
        """Listen on every address, on *port* or (0) a free port shared by all."""
        if self.running:
            raise RuntimeError("the lab's ident responders are already running")
        if not self.entries:
            return
        await bind_everywhere(self._bind, self.stop, port)

    async def _bind(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for ip, mode in self.entries:
            if mode == "drop":
                drop = _Drop(ip, port)
                self._drops.append(drop)
                port = drop.port
                continue
            server = await loop.create_server(
                functools.partial(self._protocol, mode), host=ip, port=port, reuse_address=True
            )
            self._servers.append(server)
            if port == 0:
                port = server.sockets[0].getsockname()[1]
        self.port = port

    def _protocol(self, mode: str) -> asyncio.BaseProtocol:
        reader = asyncio.StreamReader(limit=MAX_QUERY)
        return asyncio.StreamReaderProtocol(reader, functools.partial(self._accept, mode))

    def _accept(self, mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.ensure_future(self._serve(mode, reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if mode == "blackhole":
                while await reader.read(4096):
                    pass
                return
            while True:
                line = await asyncio.wait_for(reader.readline(), IDLE_SECONDS)
                if not line:
                    return
                self.queries += 1
                writer.write((answer(line.decode("ascii", "replace").strip("\r\n")) + "\r\n").encode())
                await writer.drain()
        except (ConnectionError, OSError, TimeoutError, ValueError, asyncio.LimitOverrunError):
            pass  # the client went away, idled out or sent a line too long: either way, done
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        """Close every listener and connection."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
        drops, self._drops = self._drops, []
        for drop in drops:
            drop.close()
        for _turn in range(100):
            await asyncio.sleep(0)
            for writer in list(self._writers):
                writer.transport.abort()
            if not self._tasks:
                break
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in servers:
            await server.wait_closed()
        self.port = 0
