"""The STARTTLS injection probe (tls.starttls.no-injection): its verdict rests on the order of the
server's replies, never on how soon one comes, and it never pipelines over TLS.

The flake this guards against: the probe used to send NOOP after the handshake, read one reply and send
QUIT at once. Against a vulnerable server that reply was the injected NOOP's, so the QUIT left while the
server still owed the answer to the client's NOOP: to a server that enforces RFC 2920 (Postfix's
smtpd_forbid_unauth_pipelining, the lab's fake MTA) that is an unauthorised pipeline, answered
``554 5.5.0 Error: SMTP protocol synchronization`` whenever the QUIT arrived before the server read
the NOOP (one run in ten, more under load): "could not test" instead of "vulnerable". The scripted
server below waits after each injected answer, so that the old probe lost that race every time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from scripted import ScriptedServer

from mailspec.survey.engine import Engine
from mailspec.survey.smtp import SmtpConfig, SmtpProber, _Transcript
from mailspec.testing import LabProcess
from mailspec.testing.mta import tls_context
from mailspec.testing.pki import LabCA

SYNC = b"554 5.5.0 Error: SMTP protocol synchronization\r\n"


class ScriptedMta(ScriptedServer):
    """An SMTP server on 127.0.0.1 (its own loop, in a thread) that plays STARTTLS one of three ways:
    ``safe`` discards what came with STARTTLS; ``slow`` keeps it, answers it after the handshake and
    then waits ``pause`` seconds before it reads on; ``late`` keeps it and answers it only once the
    client has sent something over TLS. Every mode enforces RFC 2920 as Postfix does: a command with
    more input waiting behind it (PIPELINING is not advertised) gets 554 and the session ends."""

    def __init__(self, mode: str, certificate: tuple[Path, Path], pause: float = 0.3) -> None:
        super().__init__()
        self.mode, self.pause = mode, pause
        self.context = tls_context(certificate)
        self.seen: list[bytes] = []  #: every line read, over TLS or not
        self.synced = 0  #: how many times a client was caught pipelining

    @staticmethod
    def _buffered(reader: asyncio.StreamReader) -> bytearray:
        """The input received and not yet read (what a server's FIONREAD sees)."""
        buffered: bytearray = vars(reader)["_buffer"]
        return buffered

    def _pending(self, reader: asyncio.StreamReader) -> int:
        return len(self._buffered(reader))

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bool:
        verb = line.split(b" ", 1)[0].strip().upper()
        if verb == b"QUIT":
            writer.write(b"221 2.0.0 Bye\r\n")
            return False
        if verb == b"EHLO":
            writer.write(b"250-mx.scripted.test\r\n250 STARTTLS\r\n")
        else:
            writer.write(b"250 2.0.0 Ok\r\n")
        return True

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 mx.scripted.test ESMTP\r\n")
            injected: list[bytes] = []
            while line := await reader.readline():
                self.seen.append(line)
                if line.strip().upper() == b"STARTTLS":
                    if self.mode == "safe":
                        self._buffered(reader).clear()  # RFC 3207 §4.2: what came with STARTTLS goes
                    else:
                        injected = bytes(self._buffered(reader)).splitlines(keepends=True)
                        self._buffered(reader).clear()
                    writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                    await writer.drain()
                    await writer.start_tls(self.context)
                    break
                if self._pending(reader):
                    self.synced += 1
                    writer.write(SYNC)
                    return
                if not await self._answer(reader, writer, line):
                    return
                await writer.drain()
            else:
                return
            if self.mode == "late":  # the injected answer comes only after the client spoke
                while not self._pending(reader):
                    await asyncio.sleep(0.01)
            for line in injected:
                self.seen.append(line)
                await self._answer(reader, writer, line)
                await writer.drain()
                await asyncio.sleep(self.pause if self.mode == "slow" else 0)
            while line := await reader.readline():
                self.seen.append(line)
                if self._pending(reader):
                    self.synced += 1
                    writer.write(SYNC)
                    return
                if not await self._answer(reader, writer, line):
                    await writer.drain()
                    return
                await writer.drain()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return LabCA(tmp_path_factory.mktemp("ca")).issue(["mx.scripted.test"])


@pytest.fixture(scope="module")
def prober() -> Iterator[SmtpProber]:
    engine = Engine().start()
    try:
        yield SmtpProber(engine, SmtpConfig(timeout=5, probe_helo="probe.lab.test"))
    finally:
        engine.close()


def injection(prober: SmtpProber, host: str, ip: str, port: int) -> tuple[tuple[str, ...], str, list[str]]:
    log = _Transcript()
    lines, verdict = prober.engine.run(prober._injection(host, ip, port, log), timeout=30)
    return lines, verdict, log.lines


@pytest.mark.parametrize("mode", ["slow", "late"])
def test_a_server_that_answers_the_injected_command_is_vulnerable_however_it_times_it(
    mode: str, certificate: tuple[Path, Path], prober: SmtpProber
) -> None:
    with ScriptedMta(mode, certificate) as mta:
        for _ in range(3):
            lines, verdict, log = injection(prober, "mx.scripted.test", "127.0.0.1", mta.port)
            assert verdict == "vulnerable", (lines, log)
            assert "QUIT got 250 2.0.0 Ok first, then 221 2.0.0 Bye" in lines[0]
        # the probe never talked out of turn, over TLS or before it
        assert mta.synced == 0
        over_tls = [
            line for line in mta.seen if line.strip().upper() not in (b"EHLO PROBE.LAB.TEST", b"STARTTLS")
        ]
        assert over_tls.count(b"NOOP\r\n") == 3  # the injected one only: the client's sole command is QUIT


def test_a_server_that_discards_it_is_safe(certificate: tuple[Path, Path], prober: SmtpProber) -> None:
    with ScriptedMta("safe", certificate) as mta:
        lines, verdict, log = injection(prober, "mx.scripted.test", "127.0.0.1", mta.port)
        assert mta.synced == 0
    assert verdict == "safe", (lines, log)
    assert lines == ("QUIT got 221 2.0.0 Bye first: nothing before it was answered",)


def test_the_lab_verdicts_hold_every_time(prober: SmtpProber) -> None:
    """The lab's injectable MTA (strict about pipelining, as Postfix) and its well-configured one,
    ten probes each, two at a time (the intrusive probes' politeness)."""
    with LabProcess(["injectable", "good"]) as lab:

        async def ten(host: str, ip: str) -> list[str]:
            runs = [prober._injection(host, ip, lab.smtp_port, _Transcript()) for _ in range(10)]
            return [verdict for _, verdict in await asyncio.gather(*runs)]

        vulnerable = prober.engine.run(ten("mx1.injectable.test", "127.0.8.42"), timeout=120)
        safe = prober.engine.run(ten("mx1.good.test", "127.0.2.10"), timeout=120)
        most_open = lab.smtp_stats()["127.0.8.42"]["max_open"]
    assert vulnerable == ["vulnerable"] * 10
    assert safe == ["safe"] * 10
    assert most_open <= 2
