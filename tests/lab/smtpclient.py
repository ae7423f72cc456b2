"""Plain-socket helpers for the lab's SMTP tests: the standard library only (socket, ssl, smtplib),
never mailspec's own client, so that a bug shared by both cannot hide.

Every read is bounded by :data:`WAIT`, which is generous: it is a bound for something to happen on
a busy machine, never an expectation of speed.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import time
from types import TracebackType

WAIT = 30.0
PROBE = "probe.lab.test"
TCP_FASTOPEN_CONNECT = getattr(socket, "TCP_FASTOPEN_CONNECT", 30)  # Linux 4.11+
_REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")


class Raw:
    """One SMTP connection spoken byte for byte, so that a test can misbehave on purpose."""

    def __init__(
        self,
        ip: str,
        port: int,
        *,
        first: bytes = b"",
        source: str | None = None,
        timeout: float = WAIT,
    ) -> None:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buffer = b""
        if source is not None:
            self.sock.bind((source, 0))
        if first:
            # The kernel sends these bytes the moment the handshake completes: no scheduling gap in
            # which the server could greet first.
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
        self.sock.connect((ip, port))
        if first:
            self.sock.sendall(first)

    def __enter__(self) -> Raw:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self, limit: int = 1 << 20) -> bytes:
        """One line without its end; ConnectionError at EOF."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise AssertionError(f"no end of line in {len(self.buffer)} bytes")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by the server after {self.buffer[:200]!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self) -> tuple[int, list[str]]:
        """One whole reply: (code, the text of each line)."""
        lines: list[str] = []
        while True:
            raw = self.line()
            match = _REPLY_LINE.match(raw)
            assert match, f"not a reply line: {raw[:200]!r}"
            lines.append(match.group(3).decode("utf-8", "replace"))
            if match.group(2) == b" ":
                return int(match.group(1)), lines

    def command(self, text: str) -> tuple[int, list[str]]:
        self.send(text + "\r\n")
        return self.reply()

    def closed_by_peer(self) -> bool:
        """The server ended the connection (EOF or reset) within the bound, after what was buffered."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            except TimeoutError:
                return False
            if not chunk:
                return True
            self.buffer += chunk
        return False

    def starttls(self, context: ssl.SSLContext, server_name: str | None = None) -> ssl.SSLSocket:
        """Wrap the connection (after a 220 to STARTTLS); what was buffered must be nothing."""
        assert not self.buffer, f"plaintext left before the handshake: {self.buffer!r}"
        self.sock = context.wrap_socket(self.sock, server_hostname=server_name)
        return self.sock


def smtp(ip: str, port: int) -> smtplib.SMTP:
    """A connected smtplib client (the greeting read); an explicit HELO name: no lookup of our own."""
    return smtplib.SMTP(ip, port, local_hostname=PROBE, timeout=WAIT)


def trusting(cafile: str) -> ssl.SSLContext:
    """A client context that trusts only the lab CA and checks host names."""
    return ssl.create_default_context(cafile=cafile)


def anything() -> ssl.SSLContext:
    """A client context that accepts any certificate (to look at a flawed one)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
