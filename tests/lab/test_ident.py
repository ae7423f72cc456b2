"""The lab's ident (port 113) responders, seen with plain sockets: open, closed, drop, blackhole."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator

import pytest

from mailspec.testing import Lab, LabIdent, ScenarioError, parse_scenario
from mailspec.testing.ident import answer

WAIT = 30.0
MODES = {"open": "127.0.9.110", "closed": "127.0.9.111", "drop": "127.0.9.112", "blackhole": "127.0.9.113"}
SCENARIO = """
domain = "ident.test"
[expect]
clean = true
[zone]
records = "@ MX 10 mx"
[[zone.nameserver]]
host = "ns1"
ip = "127.0.9.109"
""" + "".join(
    f'\n[[mta]]\nip = "{ip}"\nhostname = "{mode}.ident.test"\nident = "{mode}"\n'
    for mode, ip in MODES.items()
)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab([parse_scenario(SCENARIO, "ident")]) as started:
        yield started


def test_open_answers_each_query_with_no_user(lab: Lab) -> None:
    with socket.create_connection((MODES["open"], lab.ident_port), timeout=WAIT) as sock:
        sock.sendall(b"25 , 40000\r\n")
        assert sock.recv(512) == b"25, 40000 : ERROR : NO-USER\r\n"
        sock.sendall(b"6195,23\r\nnonsense\r\n")  # several queries on one connection
        data = b""
        while data.count(b"\n") < 2:
            chunk = sock.recv(512)
            assert chunk
            data += chunk
        assert data == b"6195, 23 : ERROR : NO-USER\r\nnonsense : ERROR : INVALID-PORT\r\n"


def test_closed_refuses_the_connection(lab: Lab) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((MODES["closed"], lab.ident_port), timeout=WAIT)


def test_drop_never_completes_the_handshake(lab: Lab) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(1.0)  # the SYN is dropped: only the bound ends the wait, whatever its length
    try:
        with pytest.raises(TimeoutError):
            sock.connect((MODES["drop"], lab.ident_port))
    finally:
        sock.close()


def test_blackhole_accepts_and_never_answers(lab: Lab) -> None:
    with socket.create_connection((MODES["blackhole"], lab.ident_port), timeout=WAIT) as sock:
        sock.sendall(b"25 , 40000\r\n")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(512)


def test_the_responders_share_one_port_and_stop_with_the_lab() -> None:
    lab = Lab([parse_scenario(SCENARIO, "ident")]).start()
    port = lab.ident_port
    assert 1024 <= port <= 65535 and port != lab.smtp_port
    lab.stop()
    assert lab.ident_port == 0
    for ip in MODES.values():  # every address is free again, the dropped one included
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ip, port))


def test_a_lab_without_ident_responders_has_no_ident_port() -> None:
    text = SCENARIO
    for mode in ("open", "drop", "blackhole"):
        text = text.replace(f'ident = "{mode}"', "")
    with Lab([parse_scenario(text, "quiet")]) as lab:
        assert lab.ident_port == 0 and lab.smtp_port > 0


def test_answer_follows_rfc_1413() -> None:
    assert answer("25 , 40000") == "25, 40000 : ERROR : NO-USER"
    assert answer("  113,25  ") == "113, 25 : ERROR : NO-USER"
    assert answer("0, 25") == "0, 25 : ERROR : INVALID-PORT"
    assert answer("70000, 25") == "70000, 25 : ERROR : INVALID-PORT"
    assert answer("hello") == "hello : ERROR : INVALID-PORT"


def test_drop_is_ipv4_only_and_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="IPv4 only"):
        LabIdent([("::1", "drop")])
    with pytest.raises(ValueError, match="expected one of"):
        LabIdent([("127.0.9.110", "maybe")])
    text = SCENARIO.replace('ip = "127.0.9.112"', 'ip = "::1"')
    with pytest.raises(ScenarioError, match=r"mta\[2\]\.ident: 'drop' is only supported on IPv4"):
        parse_scenario(text, "six")


def test_a_taken_port_is_an_error_that_releases_what_was_bound() -> None:
    async def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
            blocker.bind(("127.0.9.113", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            ident = LabIdent(list(zip(MODES.values(), MODES, strict=True)))
            with pytest.raises(OSError, match="in use") as failure:
                await ident.start(port)
            assert failure.value.errno == errno.EADDRINUSE and not ident.running
        again = LabIdent(list(zip(MODES.values(), MODES, strict=True)))
        await again.start(port)
        assert again.port == port
        await again.stop()

    asyncio.run(run())
