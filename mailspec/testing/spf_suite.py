"""Run openspf test suites through mailspec's SPF evaluator: ``python -m mailspec.testing.spf_suite FILE...``

The files are YAML, several documents each (the format of the official RFC 7208 suite): a
``description``, ``tests`` (``{name: {helo, host, mailfrom, result, explanation?, spec, ...}}``, where
``result`` is one result or a list of accepted ones) and ``zonedata`` (``{name: [records]}``). Each
document's zone data is served by a small DNS server of this module on loopback, and every case goes
through mailspec's own :func:`~mailspec.survey.spf.check_host` and :class:`~mailspec.survey.dns.DnsClient`
over real UDP (TCP after truncation). It prints the cases whose result is not one the suite accepts (or
whose explanation differs from the one it names) and ends with ``N passed, M failed``; the exit status
is 0 only when none failed.

The zone data is read as the suite's reference driver (pyspf's) reads it: an ``SPF`` entry is served
as type 99 and, unless the name has a ``TXT`` entry of its own (``TXT: NONE`` included), as TXT too; a
``TIMEOUT`` entry is a black hole for every type that has no record before it in the list; a TXT given
as a list of strings is one record of several character-strings.

This module is a *client* of the survey, not part of the lab: the lab shares no code with the survey
(tests/qa/test_imports.py keeps that rule, with an exemption for exactly this module), so the
evaluator is imported only when cases run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SPF
import dns.rdtypes.ANY.TXT
import dns.rrset

__all__ = [
    "DEFAULT_TIMEOUT",
    "CaseOutcome",
    "SuiteDnsServer",
    "SuiteReport",
    "Zone",
    "main",
    "run_files",
    "run_suite",
]

#: seconds the evaluator's DNS client waits for a black-holed name
DEFAULT_TIMEOUT = 2.0
#: CNAMEs followed for one question (a loop is answered SERVFAIL)
MAX_CNAME_HOPS = 8

_IN = dns.rdataclass.IN
_TIMEOUT = "TIMEOUT"


def _name(text: str) -> dns.name.Name:
    """A DNS name from the suite's text, label by label (the suite's names hold spaces, '%', ':'),
    absolute whether or not it ends in a dot."""
    text = text[:-1] if text.endswith(".") else text
    if not text:
        return dns.name.root
    return dns.name.Name([label.encode("utf-8") for label in text.split(".")] + [b""])


def _strings(value: Any) -> list[bytes]:
    """TXT character-strings: one per list item, each cut into 255-octet pieces (RFC 1035 §3.3.14).
    An empty list (which no TXT record can be on the wire) is served as one empty string."""
    items = value if isinstance(value, list) else [value]
    out: list[bytes] = [] if items else [b""]
    for item in items:
        data = str(item).encode("utf-8")
        out += [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return out


def _rdata(rdtype: str, value: Any) -> dns.rdata.Rdata:
    if rdtype in ("TXT", "SPF"):
        cls = dns.rdtypes.ANY.TXT.TXT if rdtype == "TXT" else dns.rdtypes.ANY.SPF.SPF
        return cls(_IN, dns.rdatatype.from_text(rdtype), _strings(value))
    if rdtype == "MX":
        preference, exchange = value
        text = f"{int(preference)} {_name(str(exchange)).to_text()}"
        return dns.rdata.from_text(_IN, dns.rdatatype.MX, text)
    if rdtype in ("PTR", "CNAME"):
        return dns.rdata.from_text(_IN, dns.rdatatype.from_text(rdtype), _name(str(value)).to_text())
    return dns.rdata.from_text(_IN, dns.rdatatype.from_text(rdtype), str(value))


Entry = tuple[str, dns.rdata.Rdata | None]  # (type, rdata); ("TIMEOUT", None)


class Zone:
    """One scenario's zone data, read as pyspf's test driver reads it."""

    def __init__(self, zonedata: dict[str, list[Any]] | None) -> None:
        self.names: dict[dns.name.Name, list[Entry]] = {}
        #: entries that could not be served (a label over 63 octets, an unknown type), in words
        self.skipped: list[str] = []
        for owner, records in (zonedata or {}).items():
            try:
                name = _name(str(owner))
            except dns.exception.DNSException as exc:
                self.skipped.append(f"{owner}: {exc}")
                continue
            self.names[name] = self._entries(str(owner), records or [])

    def _entries(self, owner: str, records: list[Any]) -> list[Entry]:
        entries: list[Entry] = []
        generated: list[Entry] = []
        has_txt = any(isinstance(r, dict) and "TXT" in r for r in records)
        for record in records:
            if record == _TIMEOUT:
                entries.append((_TIMEOUT, None))
                continue
            if not isinstance(record, dict):
                self.skipped.append(f"{owner}: {record!r}")
                continue
            for rdtype, value in record.items():
                if value == "NONE":
                    continue  # (TXT: NONE says "no TXT here", and stops SPF being copied to TXT)
                try:
                    entries.append((rdtype, _rdata(rdtype, value)))
                    if rdtype == "SPF" and not has_txt:
                        generated.append(("TXT", _rdata("TXT", value)))
                except (dns.exception.DNSException, ValueError, TypeError) as exc:
                    self.skipped.append(f"{owner} {rdtype} {value!r}: {exc}")
        return entries + generated  # (after any TIMEOUT, as pyspf's driver appends them)

    def lookup(self, qname: dns.name.Name, qtype: str) -> tuple[str, list[dns.rdata.Rdata]]:
        """("nxdomain" | "timeout" | "cname" | "answer", records) for one name and type."""
        entries = self.names.get(qname)
        if entries is None:
            return "nxdomain", []
        found: list[dns.rdata.Rdata] = []
        cnames: list[dns.rdata.Rdata] = []
        for rdtype, rdata in entries:
            if rdtype == _TIMEOUT:
                if not found and not cnames:
                    return "timeout", []
                break
            assert rdata is not None
            if rdtype == qtype:
                found.append(rdata)
            elif rdtype == "CNAME":
                cnames.append(rdata)
        if not found and cnames:
            return "cname", cnames[:1]
        return "answer", found


def _respond(zone: Zone, query: dns.message.Message) -> dns.message.Message | None:
    """The answer to one query, None for a black hole. Answers like a recursive resolver (RA, and AA
    since it owns all the data), following CNAMEs."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA | dns.flags.AA
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    qtype = dns.rdatatype.to_text(question.rdtype)
    name = question.name
    seen = {name}
    for _ in range(MAX_CNAME_HOPS + 1):
        kind, records = zone.lookup(name, qtype)
        if kind == "timeout":
            return None
        if kind == "nxdomain":
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        if kind == "answer":
            if records:
                response.answer.append(dns.rrset.from_rdata_list(name, 300, records))
            return response
        response.answer.append(dns.rrset.from_rdata_list(name, 300, records))
        target = records[0].target  # type: ignore[attr-defined]
        if target in seen:
            break
        seen.add(target)
        name = target
    fail = dns.message.make_response(query)
    fail.flags |= dns.flags.RA
    fail.set_rcode(dns.rcode.SERVFAIL)  # a CNAME loop, or a chain too long
    return fail


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: SuiteDnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        wire = self.server.answer(data, tcp=False)
        if wire is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)

    def error_received(self, exc: Exception) -> None:
        """(an ICMP error about a client that went away: nothing to do)"""


class SuiteDnsServer:
    """One scenario's zone data on 127.0.0.1, over UDP and TCP, on a free port (async context manager)."""

    def __init__(self, zone: Zone, host: str = "127.0.0.1") -> None:
        self.zone = zone
        self.host = host
        self.port = 0
        self.queries = 0
        self.errors: list[str] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        self.queries += 1
        try:
            query = dns.message.from_wire(data)
        except Exception:  # (garbage: dnspython raises many types) dropped
            return None
        try:
            response = _respond(self.zone, query)
        except Exception as exc:  # a bug must cost one answer (SERVFAIL), not the server
            self.errors.append(f"{query.question}: {exc!r}")
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        if response is None:
            return None
        if tcp:
            return response.to_wire(max_size=65535)
        limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            short = dns.message.make_response(query)
            short.flags = response.flags | dns.flags.TC
            return short.to_wire()

    async def __aenter__(self) -> SuiteDnsServer:
        loop = asyncio.get_running_loop()
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, 0)
        self.port = self._tcp.sockets[0].getsockname()[1]
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.host, self.port)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                head = await reader.readexactly(2)
                data = await reader.readexactly(int.from_bytes(head, "big"))
                wire = self.answer(data, tcp=True)
                if wire is None:
                    continue  # (a black hole keeps the connection, silent)
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


# -- running -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseOutcome:
    """One case of the suite and what mailspec's evaluator gave for it."""

    file: str
    scenario: str
    case: str
    expected: tuple[str, ...]
    result: str
    reason: str = ""
    #: the explanation the suite names ("DEFAULT": none from exp=); None when it names none
    expected_explanation: str | None = None
    explanation: str = ""

    @property
    def explanation_ok(self) -> bool:
        if self.expected_explanation is None or self.result != "fail":
            return True
        if self.expected_explanation == "DEFAULT":
            return self.explanation == ""
        return self.explanation == self.expected_explanation

    @property
    def passed(self) -> bool:
        return self.result in self.expected and self.explanation_ok

    def __str__(self) -> str:
        expected = " or ".join(self.expected)
        line = f"FAILED {self.scenario} / {self.case}: expected {expected}, got {self.result}"
        if self.reason:
            line += f" ({self.reason})"
        if not self.explanation_ok:
            line += f"; explanation {self.explanation!r}, expected {self.expected_explanation!r}"
        elif self.explanation:
            line += f"; explanation {self.explanation!r}"
        return line


@dataclass
class SuiteReport:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    seconds: float = 0.0
    #: zone data that could not be served, in words
    skipped: list[str] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if not o.passed]

    @property
    def summary(self) -> str:
        return f"{self.passed} passed, {len(self.failed)} failed"


def _accepted(result: Any) -> tuple[str, ...]:
    return tuple(str(r).lower() for r in (result if isinstance(result, list) else [result]))


async def _run_scenario(
    file: str, doc: dict[str, Any], timeout: float
) -> tuple[list[CaseOutcome], list[str]]:
    # the evaluator, imported only here: this module is a client of the survey (see the docstring)
    from mailspec.survey.dns import DnsClient, DnsEndpoint
    from mailspec.survey.engine import Engine
    from mailspec.survey.spf import check_mailfrom

    zone = Zone(doc.get("zonedata"))
    scenario = str(doc.get("description", "?"))
    tests: dict[str, dict[str, Any]] = doc.get("tests") or {}
    async with SuiteDnsServer(zone) as server:
        # one client per scenario: the memo is per run, and scenarios reuse names with other data
        client = DnsClient(Engine(), [DnsEndpoint(server.host, server.port)], timeout=timeout)

        async def one(name: str, case: dict[str, Any]) -> CaseOutcome:
            expected = _accepted(case.get("result"))
            expected_exp = case.get("explanation")
            try:
                got = await check_mailfrom(
                    str(case.get("host", "")),
                    str(case.get("mailfrom", "") or ""),
                    str(case.get("helo", "") or ""),
                    client.query,
                    receiver="receiver.example.net",
                )
            except ValueError as exc:  # (a case whose host is no IP address: the case is broken)
                return CaseOutcome(file, scenario, name, expected, "error", f"bad case: {exc}")
            return CaseOutcome(
                file,
                scenario,
                name,
                expected,
                got.result,
                got.reason,
                None if expected_exp is None else str(expected_exp),
                got.explanation,
            )

        outcomes = await asyncio.gather(*(one(n, c) for n, c in tests.items()))
    return list(outcomes), [f"{scenario}: {s}" for s in zone.skipped + server.errors]


def _load(path: Path) -> list[dict[str, Any]]:
    yaml = importlib.import_module("yaml")  # (PyYAML ships no type information)
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]


async def run_suite(
    documents: Iterable[tuple[str, dict[str, Any]]], *, timeout: float = DEFAULT_TIMEOUT
) -> SuiteReport:
    """Every case of every (file, scenario document), scenarios and cases concurrently."""
    start = time.monotonic()
    runs = await asyncio.gather(*(_run_scenario(f, d, timeout) for f, d in documents))
    report = SuiteReport()
    for outcomes, skipped in runs:
        report.outcomes += outcomes
        report.skipped += skipped
    report.seconds = time.monotonic() - start
    return report


def run_files(paths: Sequence[str | Path], *, timeout: float = DEFAULT_TIMEOUT) -> SuiteReport:
    """Load the suite files and run them (an event loop of its own)."""
    documents = [(str(p), d) for p in paths for d in _load(Path(p))]
    return asyncio.run(run_suite(documents, timeout=timeout))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mailspec.testing.spf_suite",
        description="Run openspf YAML test suites through mailspec's SPF evaluator.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="a test-suite file (YAML)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for a black-holed name (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case, passed or not")
    args = parser.parse_args(argv)
    yaml = importlib.import_module("yaml")
    try:
        report = run_files(args.files, timeout=args.timeout)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"spf_suite: cannot read the suite: {exc}", file=sys.stderr)
        return 2
    for skipped in report.skipped:
        print(f"note: not served: {skipped}")
    for outcome in report.outcomes:
        if not outcome.passed:
            print(outcome)
        elif args.verbose:
            print(f"passed {outcome.scenario} / {outcome.case}: {outcome.result}")
    print(f"{len(report.outcomes)} cases in {report.seconds:.1f} s")
    print(report.summary)
    return 0 if not report.failed else 1


if __name__ == "__main__":
    sys.exit(main())
