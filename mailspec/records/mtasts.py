"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record (§3.1), the policy file (§3.2) and MX matching (§4.1).

Both grammars are strict where the RFC is (field names and keyword values are case-sensitive ``%s``
strings), and the policy parser tolerates what deployed policies do and senders accept (CATALOG.md
§16.17): LF-only lines, a trailing dot or upper case in an ``mx`` pattern, a repeated field (the first
wins), blank lines. Each such quirk is a :class:`PolicyNote` on the result, for a WARN; what a sender
cannot use raises :class:`MtaStsError`, whose message gives the line and the rule.

The parsers are linear in their input and keep at most a bounded number of notes, so a policy of
megabytes costs time in proportion and no more (the fetcher caps the size; this does not rely on it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mailspec.records.hostname import is_ldh_label

__all__ = [
    "MAX_MAX_AGE",
    "Mode",
    "MtaStsError",
    "MtaStsPolicy",
    "MtaStsRecord",
    "NoteKind",
    "PolicyNote",
    "is_mtasts_record",
    "mtasts_records",
    "mx_matches",
    "parse_mtasts_policy",
    "parse_mtasts_record",
    "parse_mx_pattern",
]

Mode = Literal["enforce", "testing", "none"]
#: What a :class:`PolicyNote` is about.
NoteKind = Literal["lf-only", "blank-line", "duplicate", "trailing-dot", "upper-case", "case-of-field"]

#: RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year).
MAX_MAX_AGE = 31557600

_WSP = " \t"
#: §3.1: records are those that begin "v=STSv1" and a field delimiter (*WSP ";" *WSP).
_RECORD_START = re.compile(r"v=STSv1[ \t]*;")
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
#: §3.1 sts-ext-name and §3.2 sts-policy-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
#: §3.1 sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E), printable ASCII but ';' and '='.
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MAX_AGE = re.compile(r"[0-9]{1,10}\Z")
_FIELDS = ("version", "mode", "max_age", "mx")
_MODES: dict[str, Mode] = {"enforce": "enforce", "testing": "testing", "none": "none"}
_MAX_NOTES = 50
_SHOWN = 60
_MAX_NAME = 253


class MtaStsError(ValueError):
    """An MTA-STS TXT record or policy that a sender cannot use; the message says where and why."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


# --- the TXT record ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MtaStsRecord:
    """A ``_mta-sts`` TXT record (RFC 8461 §3.1)."""

    text: str
    #: The policy id: 1 to 32 letters and digits; a new id means a new policy to fetch.
    id: str
    #: The extension fields, (name, value), in order.
    extensions: tuple[tuple[str, str], ...] = ()


def is_mtasts_record(text: str) -> bool:
    """Whether ``text`` begins ``v=STSv1;`` (white space allowed before the ';'): the records §3.1 keeps."""
    return bool(_RECORD_START.match(text))


def mtasts_records(texts: Iterable[str | Sequence[str]]) -> tuple[str, ...]:
    """The MTA-STS records among the TXT records ``texts`` (each a text or its strings, joined with
    nothing between), in order; any other number than one means no usable record (§3.1)."""
    joined = (t if isinstance(t, str) else "".join(t) for t in texts)
    return tuple(t for t in joined if is_mtasts_record(t))


def parse_mtasts_record(text: str | Sequence[str]) -> MtaStsRecord:
    """The ``_mta-sts`` TXT record ``text``, or MtaStsError.

    §3.1: ``v=STSv1`` first, then ``;``-separated fields (white space around the ';' only), one
    ``id=`` of 1 to 32 ALPHA/DIGIT, extension fields ``name=value``; a final ';' allowed.
    """
    text = text if isinstance(text, str) else "".join(text)
    if not is_mtasts_record(text):
        raise MtaStsError(
            f"{_shown(text)} does not begin with v=STSv1; (RFC 8461 §3.1): it is no MTA-STS record"
        )
    fields = [f.strip(_WSP) for f in text.split(";")]
    if fields[-1] == "":
        fields.pop()  # (a final delimiter is allowed)
    record_id: str | None = None
    extensions: list[tuple[str, str]] = []
    seen: set[str] = set()
    for n, f in enumerate(fields[1:], start=2):
        name, eq, value = f.partition("=")
        if not f:
            raise MtaStsError(f"field {n} is empty: two ';' with nothing between (RFC 8461 §3.1)")
        if not eq or not _EXT_NAME.match(name):
            raise MtaStsError(
                f"field {n} {_shown(f)} is not name=value with no white space around '=' (RFC 8461 §3.1)"
            )
        if name in seen:
            raise MtaStsError(f"field {n}: {name!r} appears twice (RFC 8461 §3.1 defines each field once)")
        seen.add(name)
        if name == "id":
            if not _ID.match(value):
                raise MtaStsError(f"id={_shown(value)}: the id is 1 to 32 letters and digits (RFC 8461 §3.1)")
            record_id = value
        elif not _EXT_VALUE.match(value):
            raise MtaStsError(
                f"field {name!r}: its value {_shown(value)} is not 1 or more printable characters other "
                "than ';', '=' and space (RFC 8461 §3.1 sts-ext-value)"
            )
        else:
            extensions.append((name, value))
    if record_id is None:
        raise MtaStsError(f"{_shown(text)} has no id= field, which RFC 8461 §3.1 requires")
    return MtaStsRecord(text, record_id, tuple(extensions))


# --- the policy file -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyNote:
    """Something in a policy that senders tolerate but the RFC's grammar does not allow, or a repeat."""

    #: The line it is on (1-based; 0 for the file as a whole).
    line: int
    kind: NoteKind
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class MtaStsPolicy:
    """An MTA-STS policy (RFC 8461 §3.2)."""

    version: str
    mode: Mode
    #: Seconds a sender may cache the policy (0 to 31557600).
    max_age: int
    #: The ``mx`` patterns in order: lower-case, without a trailing dot (see :attr:`notes`).
    mx: tuple[str, ...]
    #: Extension fields (name, value), in order, each name's first only.
    extensions: tuple[tuple[str, str], ...] = ()
    notes: tuple[PolicyNote, ...] = ()
    #: How many notes were left out of :attr:`notes` (a hostile file can repeat a field a million times).
    notes_left_out: int = 0

    def matching_patterns(self, host: str) -> tuple[str, ...]:
        """The ``mx`` patterns that ``host`` matches (§4.1)."""
        return tuple(p for p in self.mx if mx_matches(p, host))

    def covers(self, host: str) -> bool:
        """Whether the MX host ``host`` matches at least one ``mx`` pattern (§4.1)."""
        return any(mx_matches(p, host) for p in self.mx)


def mx_matches(pattern: str, host: str) -> bool:
    """Whether the MX host name ``host`` matches the policy ``mx`` ``pattern`` (RFC 8461 §4.1).

    A plain pattern matches the same name; ``*.rest`` matches a name of exactly one label more than
    ``rest`` (``*.example.com`` matches ``mx.example.com``, not ``example.com`` nor
    ``a.b.example.com``). Names compare without regard to case or a trailing dot.
    """
    p = pattern.rstrip(".").lower()
    h = host.rstrip(".").lower()
    if p.startswith("*."):
        first, dot, rest = h.partition(".")
        return bool(first) and bool(dot) and first != "*" and rest == p[2:]
    return bool(p) and h == p


def parse_mx_pattern(value: str) -> tuple[str, list[tuple[NoteKind, str]]]:
    """The ``mx`` pattern ``value`` normalised (lower-case, no trailing dot), with the quirks found, or
    MtaStsError: it must be ``["*."] Domain`` (RFC 8461 §3.2; Domain of RFC 5321 §4.1.2) in A-labels."""
    notes: list[tuple[NoteKind, str]] = []
    name = value
    if name.endswith(".") and name != ".":
        notes.append(("trailing-dot", f"mx {_shown(value)} ends with a dot, which the Domain syntax has not"))
        name = name[:-1]
    if not name.isascii():
        raise MtaStsError(
            f"mx {_shown(value)} is not ASCII: patterns are written in A-labels (RFC 8461 §3.2)"
        )
    if name != name.lower():
        notes.append(
            ("upper-case", f"mx {_shown(value)} has upper case; names compare without regard to case")
        )
        name = name.lower()
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if not labels:
            raise MtaStsError(f"mx {_shown(value)}: '*.' must be followed by a domain (RFC 8461 §3.2)")
    if len(name) > _MAX_NAME:
        raise MtaStsError(f"mx {_shown(value)} is longer than {_MAX_NAME} characters")
    for label in labels:
        if not is_ldh_label(label):
            raise MtaStsError(
                f"mx {_shown(value)}: {_shown(label)} is no domain label (letters, digits and inner hyphens, "
                "1 to 63; a '*' only as the whole left-most label; RFC 8461 §3.2, RFC 5321 §4.1.2)"
            )
    return name, notes


def parse_mtasts_policy(body: bytes | str) -> MtaStsPolicy:
    """The MTA-STS policy file ``body`` (bytes as served, or text), or MtaStsError.

    §3.2: lines ``key: value`` (white space after the ':' and at the end of the line allowed) ended by
    CRLF, LF tolerated; ``version: STSv1``, ``mode`` enforce/testing/none and ``max_age`` (1 to 10 digits,
    at most 31557600) each required; ``mx`` patterns, at least one unless mode is none; extension fields
    kept; a repeated field other than mx keeps its first value (a note says so).
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MtaStsError(
                f"the policy is not UTF-8 text: octet {exc.start} is {body[exc.start : exc.start + 1]!r} "
                "(RFC 8461 §3.2)"
            ) from None
    else:
        text = body
    notes: list[PolicyNote] = []
    left_out = 0

    def note(line: int, kind: NoteKind, message: str) -> None:
        nonlocal left_out
        if len(notes) < _MAX_NOTES:
            notes.append(PolicyNote(line, kind, message))
        else:
            left_out += 1

    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # (the last line's terminator is optional; a final one leaves nothing after it)
    first: dict[str, tuple[int, str]] = {}
    mx: list[str] = []
    extensions: list[tuple[str, str]] = []
    lf_only = 0
    terminated = len(lines) if text.endswith("\n") else len(lines) - 1  # (lines that end in LF)
    for n, raw in enumerate(lines, start=1):
        has_cr = raw.endswith("\r")
        line = raw[:-1] if has_cr else raw
        if n <= terminated and not has_cr:
            lf_only += 1
        if not line.strip(_WSP):
            note(n, "blank-line", f"line {n} is blank; the policy grammar has no blank lines (ignored)")
            continue
        key, colon, value = line.partition(":")
        if not colon or not _EXT_NAME.match(key):
            raise MtaStsError(
                f"line {n} {_shown(line)} is not 'key: value' (a field name of letters, digits, '_', '-' "
                "and '.', at the start of the line, then ':'; RFC 8461 §3.2)"
            )
        value = value.strip(_WSP)
        if not value or _CTL.search(value):
            raise MtaStsError(
                f"line {n}: {key!r} has "
                + ("no value" if not value else f"a control character in its value {_shown(value)}")
                + " (RFC 8461 §3.2)"
            )
        if key == "mx":
            pattern, quirks = parse_mx_pattern(value)
            for kind, message in quirks:
                note(n, kind, f"line {n}: {message}")
            mx.append(pattern)
            continue
        if key in first:
            note(
                n, "duplicate", f"line {n}: {key!r} again (first on line {first[key][0]}); the first is used"
            )
            continue
        first[key] = (n, value)
        if key not in _FIELDS:
            if key.lower() in _FIELDS:
                note(
                    n,
                    "case-of-field",
                    f"line {n}: {key!r} is not {key.lower()!r}: field names are case-sensitive",
                )
            extensions.append((key, value))
    if lf_only:
        note(0, "lf-only", f"{lf_only} line(s) end in LF alone; RFC 8461 §3.2 says CRLF")
    for key in ("version", "mode", "max_age"):
        if key not in first:
            near = [k for k in first if k.lower() == key]
            hint = f" (there is {near[0]!r}: field names are case-sensitive)" if near else ""
            raise MtaStsError(f"the policy has no {key!r} field, which RFC 8461 §3.2 requires{hint}")
    line_v, version = first["version"]
    if version != "STSv1":
        raise MtaStsError(
            f"line {line_v}: version {_shown(version)}: the only version is STSv1, exactly (§3.2)"
        )
    line_m, mode_text = first["mode"]
    mode = _MODES.get(mode_text)
    if mode is None:
        raise MtaStsError(
            f"line {line_m}: mode {_shown(mode_text)}: expected enforce, testing or none (RFC 8461 §3.2)"
        )
    line_a, age = first["max_age"]
    if not _MAX_AGE.match(age) or int(age) > MAX_MAX_AGE:
        raise MtaStsError(
            f"line {line_a}: max_age {_shown(age)}: expected 1 to 10 digits, at most {MAX_MAX_AGE} seconds "
            "(RFC 8461 §3.2)"
        )
    if not mx and mode != "none":
        raise MtaStsError(
            f"the policy has mode {mode} and no mx line: at least one is required (RFC 8461 §3.2)"
        )
    return MtaStsPolicy(
        version=version,
        mode=mode,
        max_age=int(age),
        mx=tuple(mx),
        extensions=tuple(extensions),
        notes=tuple(notes),
        notes_left_out=left_out,
    )
