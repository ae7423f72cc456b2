"""Binding a lab server on every one of its addresses, on one port shared by all."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable

__all__ = ["BIND_ATTEMPTS", "bind_everywhere"]

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
