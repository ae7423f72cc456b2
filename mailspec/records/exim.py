"""Exim's own configuration text, parsed: ``exim -bP`` output, ``exim -bt`` routing and Exim's list
syntax. Pure: no I/O."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "WILDCARDS",
    "BtRoute",
    "exim_bool",
    "exim_interface",
    "exim_list",
    "parse_bp",
    "parse_bt",
    "parse_bt_routes",
]


def parse_bp(text: str) -> dict[str, str]:
    """``exim -bP`` lines as a dict: ``name = value``, and the booleans Exim prints bare
    (``smtp_enforce_sync`` is true, ``no_smtp_enforce_sync`` false)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            out[name.strip()] = value.strip()
        elif " " not in line:
            if line.startswith("no_"):
                out[line[3:]] = "false"
            else:
                out[line] = "true"
    return out


def exim_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1")


def exim_list(value: str) -> list[str]:
    """An Exim list (spec §6.21) as its items: colon-separated unless it starts with ``<`` and
    another separator (``<; ::1 ; 127.0.0.1``); a doubled separator stands for the character itself
    (``::::1`` is ``::1`` in a colon list); items are stripped, empty ones dropped."""
    text, sep = value.strip(), ":"
    if len(text) >= 2 and text[0] == "<" and not text[1].isalnum() and not text[1].isspace():
        sep, text = text[1], text[2:]
    items, item, i = [], "", 0
    while i < len(text):
        if text[i] == sep:
            if text.startswith(sep * 2, i):
                item, i = item + sep, i + 2
                continue
            items.append(item)
            item, i = "", i + 1
            continue
        item, i = item + text[i], i + 1
    items.append(item)
    return [x.strip() for x in items if x.strip()]


#: the addresses in ``local_interfaces`` that stand for every address of their family
WILDCARDS = frozenset({"0.0.0.0", "::0", "::", "*"})


def exim_interface(item: str) -> tuple[str, int | None]:
    """One ``local_interfaces`` item as (address, port or None): ``192.0.2.1``, ``192.0.2.1.2525``
    and ``[192.0.2.1]:2525`` (spec §13.6), ``2001:db8::1.2525``; an item that is no address comes
    back as it is, without a port."""
    item = item.strip()
    if item.startswith("["):
        address, _, rest = item[1:].partition("]")
        port = rest.lstrip(":.")
        return address, int(port) if port.isdigit() else None
    if _is_ip(item):
        return item, None
    address, dot, port = item.rpartition(".")
    if dot and port.isdigit() and _is_ip(address):
        return address, int(port)
    return item, None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


#: what ``exim -bt`` says of one address: routed (to a transport by a router), a file or a pipe (an
#: alias to ``/path`` or ``|command``), discarded (``:blackhole:``), undeliverable, deferred (cannot
#: be resolved at this time), or a duplicate of one listed before
BtKind = Literal["routed", "file", "pipe", "discarded", "undeliverable", "deferred", "duplicate"]


@dataclass(frozen=True)
class BtRoute:
    """One address of ``exim -bt`` output and where it goes."""

    #: the address the entry is about (for a file or a pipe: the address redirected to it)
    address: str
    kind: BtKind
    #: the file or command (``/dev/null``, ``|/usr/bin/procmail``); "" for an address
    target: str = ""
    #: ``router = localuser, transport = local_delivery``, ``transport = address_file``, or the reason
    #: it is undeliverable or deferred
    detail: str = ""
    #: the addresses it was redirected from, nearest first (the ``<--`` lines)
    parents: tuple[str, ...] = ()

    @property
    def deliverable(self) -> bool:
        """Mail for it reaches something: a transport, a pipe, or a file other than /dev/null (a
        discarded address, /dev/null, an undeliverable or deferred one do not; a duplicate is
        delivered through the entry it duplicates)."""
        if self.kind == "file":
            return self.target.strip() != "/dev/null"
        return self.kind in ("routed", "pipe")

    def describe(self) -> str:
        if self.kind in ("file", "pipe"):
            what = f"{self.address} -> {self.target}"
        elif self.kind == "discarded":
            what = f"{self.address} is discarded (:blackhole:)"
        elif self.kind == "undeliverable":
            what = f"{self.address} is undeliverable: {self.detail}"
        elif self.kind == "deferred":
            what = f"{self.address} cannot be resolved at this time: {self.detail}"
        elif self.kind == "duplicate":
            what = f"{self.address} (a duplicate)"
        else:
            what = self.address
        if self.detail and self.kind not in ("undeliverable", "deferred"):
            what += f" ({self.detail})"
        if self.parents:
            what += f", from {' <- '.join(self.parents)}"
        return what


def parse_bt_routes(text: str) -> list[BtRoute]:
    """``exim -bt`` output (Exim 4.9x), one entry per address it reports: an unindented line opens an
    entry (``ADDR``, ``ADDR -> /file``, ``ADDR is undeliverable: WHY``, ``ADDR cannot be resolved at
    this time: WHY``, ``mail to ADDR is discarded``, ``ADDR [duplicate, would not be delivered]``);
    its indented lines say where from (``<-- PARENT``) and how (``router = ..., transport = ...``,
    ``host NAME [IP]``)."""
    entries: list[dict[str, object]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        line = raw.strip()
        if not raw[0].isspace():
            entry: dict[str, object] = {"parents": [], "detail": [], "target": ""}
            if line.startswith("mail to ") and line.endswith(" is discarded"):
                entry.update(address=line[8:-13], kind="discarded")
            elif " is undeliverable" in line:
                address, _, why = line.partition(" is undeliverable")
                entry.update(address=address, kind="undeliverable", reason=why.lstrip(": "))
            elif " cannot be resolved at this time" in line:
                address, _, why = line.partition(" cannot be resolved at this time")
                entry.update(address=address, kind="deferred", reason=why.lstrip(": "))
            elif "[duplicate, would not be delivered]" in line:
                entry.update(address=line.partition(" ")[0], kind="duplicate")
            elif " -> " in line:
                address, _, target = line.partition(" -> ")
                entry.update(
                    address=address, target=target, kind="pipe" if target.startswith("|") else "file"
                )
            else:
                entry.update(address=line, kind="routed")
            entries.append(entry)
        elif entries:
            current = entries[-1]
            if line.startswith("<--"):
                parents = current["parents"]
                assert isinstance(parents, list)
                parents.append(line[3:].strip())
            elif line.startswith(("router =", "transport =", "host ")):
                details = current["detail"]
                assert isinstance(details, list)
                details.append(line)
    out = []
    for e in entries:
        details, parents = e["detail"], e["parents"]
        assert isinstance(details, list) and isinstance(parents, list)
        detail = str(e.get("reason", "")) or ", ".join(str(d) for d in details)
        kind = e["kind"]
        assert kind in ("routed", "file", "pipe", "discarded", "undeliverable", "deferred", "duplicate")
        out.append(BtRoute(str(e["address"]), kind, str(e["target"]), detail, tuple(str(p) for p in parents)))
    return out


def parse_bt(text: str, status: int) -> tuple[bool, str]:
    """Whether ``exim -bt ADDRESS`` routed the address somewhere deliverable (a transport, a pipe, a
    file other than /dev/null: a discarded address or /dev/null is not), and what it says of it: the
    deliverable destinations, else the first entry. ``status`` (Exim's exit status: 0 all routed, 1
    some deferred, 2 some undeliverable) is not needed beyond the text, which says each address's
    fate."""
    routes = parse_bt_routes(text)
    good = [r for r in routes if r.deliverable]
    if good:
        return True, "; ".join(r.describe() for r in good)
    if routes:
        return False, routes[0].describe()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return False, lines[0] if lines else (f"exit status {status}" if status else "")
