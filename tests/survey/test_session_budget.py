"""The read-only session's budget runs from when it has its connection slot: a session queued behind
other probes of its server (a provider's MX shared by many domains, another xdist worker's turn) is
not run out of time by the queue, and one whose server stalls once it has its slot still is."""

from __future__ import annotations

import asyncio
import threading
import time

from mailspec.facts.smtp import SmtpSession
from mailspec.survey import DnsEndpoint, SmtpConfig, Survey
from mailspec.survey.smtp import PER_HOST
from tests.survey.scripted import ScriptedServer


class Greeter(ScriptedServer):
    """Greets, answers EHLO, HELO, NOOP and QUIT, and refuses anything else; or, ``stall``, greets
    and then never answers."""

    def __init__(self, stall: bool = False) -> None:
        super().__init__()
        self.stall = stall

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.scripted.test ESMTP\r\n")
        await writer.drain()
        while line := await reader.readline():
            if self.stall:
                continue
            verb = line.split(b" ")[0].strip().upper()
            if verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            replies = {
                b"EHLO": b"250-mx.scripted.test\r\n250 8BITMIME\r\n",
                b"HELO": b"250 mx.scripted.test\r\n",
                b"NOOP": b"250 ok\r\n",
            }
            reply = replies.get(verb, b"502 no\r\n")
            writer.write(reply)
            await writer.drain()
        writer.close()


def session_after_a_wait(server: Greeter, held: float, budget: float) -> tuple[SmtpSession, float]:
    """The session of ``server``, asked while both of its slots are held for ``held`` seconds."""
    config = SmtpConfig(timeout=1, probe_helo="probe.lab.test")
    with Survey([DnsEndpoint("127.0.0.1", 9)], timeout=1, smtp=config) as s:
        release = threading.Event()
        granted = threading.Semaphore(0)
        holders = [
            s.engine.submit(s.smtp.hold_slot("127.0.0.1", granted.release, release)) for _ in range(PER_HOST)
        ]
        for _ in range(PER_HOST):
            assert granted.acquire(timeout=10)
        threading.Timer(held, release.set).start()
        started = time.monotonic()
        session = s.engine.run(
            s.smtp.session("mx.scripted.test", "127.0.0.1", server.port, budget=budget), 60
        )
        took = time.monotonic() - started
        for h in holders:
            h.result(10)
    return session, took


def test_the_wait_for_a_slot_is_not_counted_in_the_budget() -> None:
    with Greeter() as server:
        session, took = session_after_a_wait(server, held=3.0, budget=2.0)
    assert took >= 3.0
    assert session.greeted, session
    assert session.connect_error == "", session
    assert session.ehlo is not None and session.ehlo.code == 250
    assert session.helo is not None and session.helo.code == 250


def test_a_server_that_stalls_in_its_slot_runs_the_budget_out() -> None:
    with Greeter(stall=True) as server:
        # (EHLO unanswered: its timeout of 1 s is past the budget of 0.5 s)
        session, _ = session_after_a_wait(server, held=0.1, budget=0.5)
    assert "the budget of 0.5 s ran out" in session.connect_error, session
