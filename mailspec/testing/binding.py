"""Binding a lab server on every one of its addresses, on one port shared by all."""

from __future__ import annotations

import errno
import resource
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = [
    "BIND_ATTEMPTS",
    "DESCRIPTORS_WANTED",
    "UDP_RECEIVE_BUFFER",
    "bind_everywhere",
    "enough_descriptors",
    "roomy_receive_buffer",
]

#: open files a lab may need: every packaged scenario's addresses take about 800 sockets (DNS over
#: UDP and TCP, SMTP, IDENT, HTTPS), and a test may run two labs and a survey at once
DESCRIPTORS_WANTED = 8192

#: bytes of datagrams a lab UDP socket may hold unread. A survey asks a resolver up to 1,024
#: questions at once per process (twice that under ``-n 2``), and a loaded machine may leave the lab
#: unscheduled for a moment: the kernel's default (212,992 bytes, about 256 small datagrams) then
#: drops the rest, and a burst of lost questions comes back as a burst of retries, lost again, so a
#: verdict would depend on the machine's load (measured: 214 questions dropped in one ``-n 2`` run).
UDP_RECEIVE_BUFFER = 8 * 2**20

#: ports tried when the port is chosen (0): a port free on the first address may be taken on another
BIND_ATTEMPTS = 5


async def bind_everywhere(
    bind: Callable[[int], Awaitable[None]], undo: Callable[[], Awaitable[None]], port: int
) -> None:
    """``bind(port)`` on every address; with ``port`` 0 (a free one), up to :data:`BIND_ATTEMPTS`
    tries, each after ``undo()`` closed what the last one bound, when an address had that port taken."""
    attempts = BIND_ATTEMPTS if port == 0 else 1
    for attempt in range(attempts):
        try:
            await bind(port)
            return
        except OSError as exc:
            await undo()
            if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise


def enough_descriptors(wanted: int = DESCRIPTORS_WANTED) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (at most the hard limit), so
    that a lab of every scenario does not run out on a machine whose soft limit is 1024; the limit
    in force after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


class _Socket(Protocol):
    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...
    def getsockopt(self, level: int, option: int, /) -> int: ...


def roomy_receive_buffer(sock: _Socket, size: int = UDP_RECEIVE_BUFFER) -> int:
    """Give *sock* a receive buffer of *size* bytes, as far as this process may: SO_RCVBUFFORCE
    (Linux, with CAP_NET_ADMIN: root) passes the machine's ``net.core.rmem_max``, SO_RCVBUF is capped
    by it. The size in force after, as the kernel reports it."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    for option in (force, socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:  # (EPERM without CAP_NET_ADMIN)
            continue
        break
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
