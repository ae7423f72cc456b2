"""The early-talker probe (smtp.early-talker): a server that greets and then says nothing to the EHLO
sent before its greeting is "could not test", never "rejected" (the review's should-fix: silence is
neither a rejection nor an acceptance)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from scripted import ScriptedServer

from mailspec.survey.engine import Engine
from mailspec.survey.smtp import SmtpConfig, SmtpProber, _Transcript


class GreetThenSilence(ScriptedServer):
    """127.0.0.1: greets 220 (``reply`` None: then never answers; else answers every line so)."""

    def __init__(self, reply: bytes | None) -> None:
        super().__init__()
        self.reply = reply

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 silent.example ESMTP\r\n")
            await writer.drain()
            while line := await reader.readline():
                if self.reply is not None:
                    writer.write(self.reply if not line.upper().startswith(b"QUIT") else b"221 Bye\r\n")
                    await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


@pytest.fixture
def prober() -> Iterator[SmtpProber]:
    engine = Engine().start()
    try:
        yield SmtpProber(engine, SmtpConfig(timeout=1, probe_helo="probe.lab.test"))
    finally:
        engine.close()


def early(prober: SmtpProber, port: int) -> tuple[tuple[str, ...], str]:
    result: tuple[tuple[str, ...], str] = prober.engine.run(
        prober._early_talker("127.0.0.1", port, _Transcript()), timeout=30
    )
    return result


def test_silence_after_the_greeting_is_untestable_not_rejected(prober: SmtpProber) -> None:
    with GreetThenSilence(None) as server:
        lines, verdict = early(prober, server.port)
    assert verdict == "untestable", lines
    assert lines[-1].startswith("no reply to the early EHLO in time")


def test_a_refusal_of_the_early_ehlo_is_rejected(prober: SmtpProber) -> None:
    with GreetThenSilence(b"554 5.5.1 Error: you talk too early\r\n") as server:
        lines, verdict = early(prober, server.port)
    assert verdict == "rejected", lines
    assert lines[-1] == "rejected: 554 5.5.1 Error: you talk too early"
