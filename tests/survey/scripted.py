"""A scripted TCP server on 127.0.0.1 for the SMTP probes' tests: its own event loop in a thread,
so that its timing never waits on the probe's loop. Subclasses write ``_session``."""

from __future__ import annotations

import asyncio
import threading
from typing import Self


class ScriptedServer:
    """``with Subclass(...) as server:`` listens on ``127.0.0.1:server.port`` and runs
    ``_session(reader, writer)`` for each connection; leaving the block cancels what still runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", 0), self.loop
        ).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
