"""Binding a lab server on every one of its addresses, on one port shared by all."""

from __future__ import annotations

import errno
import resource
from collections.abc import Awaitable, Callable

__all__ = ["BIND_ATTEMPTS", "DESCRIPTORS_WANTED", "bind_everywhere", "enough_descriptors"]

#: open files a lab may need: every packaged scenario's addresses take about 800 sockets (DNS over
#: UDP and TCP, SMTP, IDENT, HTTPS), and a test may run two labs and a survey at once
DESCRIPTORS_WANTED = 8192

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
