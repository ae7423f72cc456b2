"""The survey: all of mailspec's network I/O, on its own event loop in a background thread.

Checks ask it for facts; each fact is fetched once per session, concurrently with every other, and
kept with its evidence. The loop is mailspec's own, so users' pytest-asyncio tests are unaffected.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from mailspec.facts import DomainDns
from mailspec.survey.dns import DnsClient, Nameserver
from mailspec.survey.domain import survey_domain

__all__ = ["DnsClient", "Nameserver", "Survey"]

T = TypeVar("T")


class Survey:
    """A session's survey of mail domains: memoised, concurrent, bounded by ``timeout`` per operation."""

    def __init__(self, resolvers: list[Nameserver], *, timeout: float = 10.0, auth_port: int = 53) -> None:
        self.resolvers = list(resolvers)
        self.timeout = timeout
        self.auth_port = auth_port
        self._domains: dict[str, DomainDns] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mailspec-survey", daemon=True)
        self._thread.start()
        self._client: DnsClient = self.run(self._make_client())

    async def _make_client(self) -> DnsClient:
        return DnsClient(self.resolvers, timeout=self.timeout, auth_port=self.auth_port)

    def __repr__(self) -> str:
        return f"<Survey resolvers={self._client.resolver_text} domains={sorted(self._domains)}>"

    # -- running coroutines on the survey's loop ---------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the survey's loop and wait for its result (from any other thread)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("Survey.run() called from the survey's own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Survey:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- facts ----------------------------------------------------------------------------------
    @property
    def queries_sent(self) -> int:
        return self._client.sent

    def survey(self, domains: Iterable[str]) -> dict[str, DomainDns]:
        """Survey the DNS of every domain not yet surveyed, all at once; return all of them."""
        with self._lock:
            todo = [d for d in dict.fromkeys(domains) if d not in self._domains]
            if todo:
                results = self.run(self._survey_all(todo))
                self._domains.update(zip(todo, results, strict=True))
            return {d: self._domains[d] for d in domains}

    async def _survey_all(self, domains: list[str]) -> list[DomainDns]:
        return list(await asyncio.gather(*(survey_domain(self._client, d) for d in domains)))

    def dns(self, domain: str) -> DomainDns:
        """The DNS facts of one domain (surveyed now if they were not yet)."""
        return self.survey([domain])[domain]

    # -- hand-over (xdist controller -> workers) -----------------------------------------------
    def export(self) -> dict[str, Any]:
        with self._lock:
            return {"dns": {d: f.to_json() for d, f in self._domains.items()}}

    def load(self, data: dict[str, Any]) -> None:
        with self._lock:
            for d, f in data.get("dns", {}).items():
                self._domains.setdefault(d, DomainDns.from_json(f))
