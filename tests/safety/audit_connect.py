"""A pytest plugin for the safety test's inner run: every socket connect and sendto the process
makes is written, one address a line, to the file named by MAILSPEC_AUDIT_CONNECT (an audit hook: it
sees what any library does, not only what mailspec says it does)."""

from __future__ import annotations

import os
import sys
from typing import Any

_PATH = os.environ.get("MAILSPEC_AUDIT_CONNECT")


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _PATH is None or event not in ("socket.connect", "socket.sendto"):
        return
    address = args[1] if event == "socket.connect" else args[-1]
    if isinstance(address, tuple) and address:
        with open(_PATH, "a", encoding="utf-8") as f:
            f.write(f"{event} {address[0]} {address[1] if len(address) > 1 else ''}\n")


sys.addaudithook(_hook)
