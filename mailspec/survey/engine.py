"""The survey engine: one event loop in a background thread, a memo of facts, per-host politeness.

Every protocol client (DNS today; SMTP, IDENT and HTTPS next) runs on one :class:`Engine`:

* the loop is an :class:`asyncio.Runner`'s, in a daemon thread of its own, so that it is independent of
  whatever loop a user's pytest-asyncio tests use; :meth:`Engine.start` returns once the loop runs, and
  :meth:`Engine.close` cancels whatever is still in flight and closes the loop;
* :meth:`Engine.memo` fetches a value once per run, whoever asks and however many ask at once, keyed
  by a kind and a key; the work runs as a task of its own, so a caller that stops waiting (its budget
  spent) does not cancel it for the others;
* :meth:`Engine.host` is the per-host state every protocol shares (whether it has stayed silent so
  far), with a slot per use that bounds the operations of that use in flight to the host at once;
* every wait of a caller outside the loop is bounded (:meth:`Engine.run` takes a timeout), and may be
  waited in slices, so that the caller's thread can report progress between them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mailspec.errors import MailspecError

__all__ = ["Engine", "EngineError", "Host", "Liveness"]

T = TypeVar("T")

#: seconds the loop thread may take to start, and to wind down on close
START_TIMEOUT = 10.0
CLOSE_TIMEOUT = 10.0
#: full timeouts, with no answer ever, after which a host counts as silent and is not asked again
SILENT_AFTER = 3


class EngineError(MailspecError):
    """The survey engine could not do what was asked (not started, closed, or a wait ran out)."""


@dataclass
class Liveness:
    """Whether a host answers over one channel (DNS over UDP, DNS over TCP, SMTP, ...)."""

    answered: int = 0  #: operations it answered (anything at all came back)
    timeouts: int = 0  #: operations that ran out of time with nothing back
    #: operations that failed with nothing back and the operating system said why ("connection
    #: refused", "network unreachable"), by reason
    failures: dict[str, int] = field(default_factory=dict)
    #: the reason the last operation that got nothing back ended with ("timeout", or the OS's reason)
    last_failure: str = ""

    def timed_out(self) -> None:
        """One operation ran out of time with nothing back."""
        self.timeouts += 1
        self.last_failure = "timeout"

    def failed(self, reason: str) -> None:
        """One operation got nothing back, and the operating system said why."""
        self.failures[reason] = self.failures.get(reason, 0) + 1
        self.last_failure = reason

    @property
    def asked(self) -> int:
        """Operations that ended, whichever way."""
        return self.answered + self.timeouts + sum(self.failures.values())

    @property
    def cause(self) -> str:
        """Why it answered nothing: the most frequent reason ("timeout" or the OS's), the last one
        seen among equals; "" when nothing failed."""
        counts = dict(self.failures)
        if self.timeouts:
            counts["timeout"] = self.timeouts
        if not counts:
            return ""
        top = max(counts.values())
        if counts.get(self.last_failure) == top:
            return self.last_failure
        return next(reason for reason, n in counts.items() if n == top)

    @property
    def silent(self) -> bool:
        """It never answered, and several operations timed out: asking again only costs a timeout.

        A host that answered even once (a rate limiter, a server slow for some names) is never
        silent, so that a rate limit is not taken for a dead server.
        """
        return self.answered == 0 and self.timeouts >= SILENT_AFTER


@dataclass
class Host:
    """What every protocol knows of one host (an IP address) during a run.

    Each use of it (``"dns"``, ``"smtp"``, ...) has a slot of its own, sized by that use, since a DNS
    question and an SMTP connection do not cost a server the same; each channel (a server may answer
    UDP and hold every TCP connection open) has its own :class:`Liveness`.
    """

    address: str
    slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    channels: dict[str, Liveness] = field(default_factory=dict)

    def slot(self, use: str, limit: int) -> asyncio.Semaphore:
        """At most ``limit`` operations of ``use`` in flight to this host at once."""
        sem = self.slots.get(use)
        if sem is None:
            sem = self.slots[use] = asyncio.Semaphore(limit)
        return sem

    def over(self, channel: str) -> Liveness:
        """Whether the host answers over ``channel`` (made on first use)."""
        live = self.channels.get(channel)
        if live is None:
            live = self.channels[channel] = Liveness()
        return live


@dataclass
class _Memo:
    tasks: dict[tuple[str, Hashable], asyncio.Task[Any]] = field(default_factory=dict)


class Engine:
    """The loop, the memo and the hosts of one survey run."""

    def __init__(self) -> None:
        self._memo = _Memo()
        self._hosts: dict[str, Host] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> Engine:
        """Start the loop thread; return once the loop is running (or raise EngineError)."""
        with self._lock:
            if self._thread is not None:
                return self
            if self._closed:
                raise EngineError("the survey engine is closed")
            ready = threading.Event()
            failure: list[BaseException] = []

            def main() -> None:
                try:
                    with asyncio.Runner() as runner:
                        runner.run(self._serve(ready))
                except BaseException as exc:  # reported to start()'s caller, not lost in the thread
                    failure.append(exc)
                    ready.set()

            thread = threading.Thread(target=main, name="mailspec-survey", daemon=True)
            thread.start()
            if not ready.wait(timeout) or failure or self._loop is None:
                why = f": {failure[0]}" if failure else f" within {timeout:g} s"
                raise EngineError(f"the survey's event loop did not start{why}")
            self._thread = thread
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        ready.set()
        await self._stop.wait()
        # asyncio.Runner cancels every task still pending when this returns, then closes the loop

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Cancel what is still in flight, close the loop and end its thread (idempotent)."""
        with self._lock:
            thread, loop, stop = self._thread, self._loop, self._stop
            self._closed = True
            self._thread = None
        if thread is None or loop is None or stop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running coroutines --------------------------------------------------------------------
    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the engine's loop; its result, for a thread other than the loop's."""
        loop = self._loop
        if self._thread is None or loop is None:
            coro.close()
            raise EngineError("the survey engine is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise EngineError("Engine.run() called from the engine's own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        timeout: float,
        *,
        tick: Callable[[], None] | None = None,
        every: float = 0.25,
    ) -> T:
        """Run ``coro`` on the engine's loop and wait at most ``timeout`` seconds for its result.

        With ``tick``, the wait is cut in slices of ``every`` seconds, and ``tick()`` is called between
        them, in the caller's thread (never the loop's); the bound stays ``timeout`` in all.
        """
        future = self.submit(coro)
        try:
            if tick is None:
                return future.result(timeout)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                try:
                    return future.result(min(every, left))
                except TimeoutError:
                    if future.done():
                        raise
                tick()
        except TimeoutError:
            future.cancel()
            raise EngineError(f"the survey did not finish within {timeout:g} s") from None
        except BaseException:
            future.cancel()  # (a tick that raised, or KeyboardInterrupt: nothing is left running)
            raise

    # -- the memo ------------------------------------------------------------------------------
    def task(self, kind: str, key: Hashable, make: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """The task that makes the value of ``(kind, key)``, started now if it was not (on the loop)."""
        task = self._memo.tasks.get((kind, key))
        if task is None:

            async def run() -> T:
                return await make()

            task = asyncio.ensure_future(run())
            self._memo.tasks[(kind, key)] = task
        return task

    async def memo(self, kind: str, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """The value of ``(kind, key)``: made once per run by ``make``, shared by every caller."""
        result: T = await asyncio.shield(self.task(kind, key, make))
        return result

    def memoised(self, kind: str) -> int:
        """How many values of ``kind`` were made (or are being made) in this run."""
        return sum(1 for k, _ in self._memo.tasks if k == kind)

    # -- hosts ---------------------------------------------------------------------------------
    def host(self, address: str) -> Host:
        """The shared state of one host (made on first use; on the loop)."""
        h = self._hosts.get(address)
        if h is None:
            h = self._hosts[address] = Host(address)
        return h

    def known_host(self, address: str) -> Host | None:
        """The shared state of one host, if it was ever used (from any thread: nothing is made)."""
        return self._hosts.get(address)

    def hosts_asked(self) -> int:
        """How many hosts were asked something over some channel so far (from any thread: a snapshot,
        as the loop's thread may be adding hosts meanwhile)."""
        hosts = list(self._hosts.values())  # (one C-level copy under the GIL: never "changed size")
        return sum(1 for h in hosts if h.channels)
