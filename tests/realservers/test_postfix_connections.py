"""The politeness limit against real Postfix: mailspec never holds more than two connections to one
server at once, across pytest-xdist's workers too, however many domains share the server.

Postfix's own log cannot show it (see ``test_postfix_verdicts``'s module doc), so this run goes
through a counting relay: one listener on each Postfix instance's address, on a port of its own,
forwarding bytes both ways to the instance. It counts a connection open from the moment it accepts
it until either side has closed (as the fake MTA counts its own); mailspec only opens the next one
once the server has closed the last, so the relay's count is mailspec's. The relay's upstream
connection comes from the same loopback address as mailspec's own would, but it cannot put an EHLO
in the TCP handshake (the early-talker probe does), so the verdicts of this run are not judged: only
its connections are.

Six domains share ``good.test``'s two MX hosts (their envelope probes queue for the same two
connections), and the run takes ``-n 2``: the two workers count their connections together through
the slot files in the hand-over folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailspec.testing.scenario import Scenario, parse_scenario

from .test_scenarios import run_mailspec

try:  # without the SMTP side of mailspec.testing this tier cannot run (conftest says so at setup)
    from .postfix import PostfixLab
except ImportError:  # pragma: no cover - conftest fails or skips the tier with the reason
    PostfixLab = None  # type: ignore[assignment,misc]

pytestmark = pytest.mark.realservers

#: the domains beside good.test that use its MX hosts (name server addresses from the free range)
SHARING = 5


def sharing_scenario(n: int) -> Scenario:
    return parse_scenario(
        f"""
domain = "shares-mx-{n}.test"
[expect]
pass = ["smtp.connect"]
[zone]
records = '''
@       MX  10 mx1.good.test.
@       MX  20 mx2.good.test.
'''
[[zone.nameserver]]
host = "ns1"
ip = "127.0.14.{40 + n}"
""",
        name=f"shares-mx-{n}",
    )


@pytest.fixture(scope="module")
def postfix_scenarios() -> list[Scenario | str]:
    return ["good", *(sharing_scenario(n) for n in range(SHARING))]


class CountingRelay:
    """A TCP relay on each of ``ips`` (one port for all), to ``ip:target``; counts per address the
    connections open at once."""

    def __init__(self, ips: list[str], target: int) -> None:
        self.ips, self.target = ips, target
        self.port = 0
        self.open: dict[str, int] = dict.fromkeys(ips, 0)
        self.most: dict[str, int] = dict.fromkeys(ips, 0)
        self.connections: dict[str, int] = dict.fromkeys(ips, 0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[asyncio.Server] = []

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = writer.get_extra_info("sockname")[0]
        self.connections[ip] += 1
        self.open[ip] += 1
        self.most[ip] = max(self.most[ip], self.open[ip])
        counted = True

        def closed() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.open[ip] -= 1

        try:
            up_reader, up_writer = await asyncio.open_connection(ip, self.target)
        except OSError:
            closed()
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            closed()  # (the first side to close ends the connection, as mailspec counts it)
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _bind(self) -> None:
        for _ in range(20):  # (one free port on every address)
            first = await asyncio.start_server(self._relay, self.ips[0], 0)
            port = first.sockets[0].getsockname()[1]
            servers = [first]
            try:
                for ip in self.ips[1:]:
                    servers.append(await asyncio.start_server(self._relay, ip, port))
            except OSError:
                for s in servers:
                    s.close()
                continue
            self.servers, self.port = servers, port
            return
        raise OSError("no port free on every Postfix address for the relay")

    def __enter__(self) -> CountingRelay:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._bind(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            for s in self.servers:
                s.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def relayed_run(postfix_lab: PostfixLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountingRelay]:
    ips = sorted({inst.spec.ip for inst in postfix_lab.instances})
    cwd = Path(tmp_path_factory.mktemp("relayed"))
    with CountingRelay(ips, postfix_lab.smtp_port) as relay:
        options = [
            *(a for a in postfix_lab.mailspec_args() if not a.startswith("--mail-smtp-port=")),
            f"--mail-smtp-port={relay.port}",
            "--mail-probe=intrusive",
            "--mail-timeout=6",
            "-n",
            "2",
        ]
        run = run_mailspec(options, cwd)
        assert run.report is not None, run.describe()
        yield relay


def test_no_postfix_had_more_than_two_connections_at_once(relayed_run: CountingRelay) -> None:
    relay = relayed_run
    assert all(n == 0 for n in relay.open.values()), relay.open  # (every connection was closed)
    assert relay.most and max(relay.most.values()) <= 2, relay.most
    # each MX host served the session, six domains' envelope probes and the intrusive probes
    assert min(relay.connections.values()) >= 6, relay.connections
    assert max(relay.most.values()) == 2, relay.most  # (the limit was reached: the test could fail)
