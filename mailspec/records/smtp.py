"""SMTP replies (RFC 5321 §4.2): parsing a reply off the wire, and the syntax of the greeting and the
EHLO response (§4.2 Greeting, §4.1.1.1 ehlo-ok-rsp).

The parser is strict where a reply cannot be understood (the code, the separator, the lines of one
reply) and lenient about the text: 8-bit octets are decoded as UTF-8 with replacement characters,
because SMTPUTF8 (RFC 6531) lets a server send UTF-8 text once it is negotiated and the parser
cannot know whether it was. Where the text must be ASCII (the greeting and the EHLO response, which
come before any negotiation), :func:`greeting_problems` and :func:`ehlo_problems` report it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mailspec.records.hostname import hostname_problem, is_ldh_label, looks_like_ip

__all__ = [
    "MAX_LINE_OCTETS",
    "NameKind",
    "Reply",
    "ReplyError",
    "address_literal_ok",
    "ehlo_keywords",
    "ehlo_name",
    "ehlo_problems",
    "greeting_name",
    "greeting_problems",
    "has_underscore_name",
    "name_kind",
    "parse_reply",
    "text_problems",
]

#: RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, its code and CRLF included.
MAX_LINE_OCTETS = 512

NameKind = Literal["fqdn", "bare-label", "address-literal", "ip-not-bracketed", "invalid"]

#: RFC 3463 §2: class "." subject "." detail, class 2, 4 or 5, subject and detail 1 to 3 digits; RFC
#: 2034 §4 puts it first in the text, followed by a space.
_ENHANCED = re.compile(r"([245]\.\d{1,3}\.\d{1,3})(?:[ \t]|\Z)", re.ASCII)
#: RFC 5321 §4.1.1.1 ehlo-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z", re.ASCII)
#: §4.1.1.1 ehlo-param: 1*(%d33-126), any CHAR but SP and the controls.
_PARAM = re.compile(r"[\x21-\x7e]+\Z")
#: §4.1.3 IPv4-address-literal: Snum 3("." Snum), Snum = 1*3DIGIT of value 0 to 255.
_IPV4_LITERAL = re.compile(r"\[(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\]\Z", re.ASCII)
#: §4.1.3 IPv6-address-literal: "IPv6:" IPv6-addr (ABNF strings are case-insensitive, RFC 5234 §2.3).
_IPV6_LITERAL = re.compile(r"\[[Ii][Pp][Vv]6:([0-9A-Fa-f:.]+)\]\Z")


class ReplyError(ValueError):
    """Lines that are not one SMTP reply (RFC 5321 §4.2); the message says which line and why."""


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: its code and, per line, the text after the code and separator."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def kind(self) -> int:
        """2, 3, 4 or 5 (the first digit); 0 for a code outside 2xx-5xx, which is no SMTP reply."""
        return self.code // 100 if 200 <= self.code <= 599 else 0

    @property
    def enhanced(self) -> str:
        """The RFC 3463 status code the first line starts with ("5.1.1"), or ""."""
        m = _ENHANCED.match(self.lines[0]) if self.lines else None
        return m.group(1) if m else ""

    def __str__(self) -> str:
        first = self.lines[0] if self.lines else ""
        more = " …" if len(self.lines) > 1 else ""
        return f"{self.code} {first}".rstrip() + more


def _shown(raw: bytes) -> str:
    """A line for an error message: decoded, control characters escaped by repr, kept short."""
    text = raw.decode("utf-8", errors="replace")
    shown = repr(text if len(text) <= 80 else text[:77] + "...")
    return shown + (" (it contains 8-bit octets)" if not raw.isascii() else "")


def _without_eol(line: bytes) -> bytes:
    """``line`` without the CRLF (or the LF, or the CR) a reader may have left at its end."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith((b"\n", b"\r")) else line


def parse_reply(raw_lines: Sequence[bytes]) -> Reply:
    """The reply made of ``raw_lines``, the lines of one (multi-line) reply as read off the wire.

    Each line is ``code "-" text`` (more lines follow) or ``code [" " text]`` (the last line); all
    carry the same three-digit code (§4.2, §4.2.1). A line may still end in its CRLF (or LF), which
    is dropped. Codes outside 2xx-5xx are kept (:attr:`Reply.kind` is 0 for them): whether a
    reply is acceptable is the caller's question. Text with 8-bit octets is decoded as UTF-8 with
    replacement characters, not refused (see the module docstring).

    Raises :class:`ReplyError` for no lines, a line without a three-digit code, a separator other
    than '-' or ' ', a code that changes between lines, a line after the last line, and a reply
    whose last line still says more lines follow.
    """
    if not raw_lines:
        raise ReplyError("no reply: there are no lines")
    code = 0
    lines: list[str] = []
    final = False
    for n, received in enumerate(raw_lines, start=1):
        raw = _without_eol(received)
        if final:
            raise ReplyError(
                f"line {n} {_shown(raw)} follows line {n - 1}, which was the reply's last line (a "
                "space or nothing after the code; more lines are announced by '-', RFC 5321 §4.2.1)"
            )
        head = raw[:3]
        if len(head) < 3 or not head.isdigit():  # (bytes.isdigit: ASCII digits only)
            raise ReplyError(f"line {n} {_shown(raw)} does not start with a three-digit reply code")
        this = int(head)
        if n == 1:
            code = this
        elif this != code:
            raise ReplyError(
                f"line {n} {_shown(raw)} has the code {head.decode()}, but line 1 has {code:03d}: "
                "every line of one reply carries the same code (RFC 5321 §4.2.1)"
            )
        sep = raw[3:4]
        if sep not in (b"", b" ", b"-"):
            raise ReplyError(
                f"line {n} {_shown(raw)} has {sep.decode('utf-8', errors='replace')!r} after the code, "
                "where '-' (more lines follow) or ' ' (the last line) belongs (RFC 5321 §4.2)"
            )
        final = sep != b"-"
        lines.append(raw[4:].decode("utf-8", errors="replace"))
    if not final:
        raise ReplyError(
            f"line {len(raw_lines)} ends the lines with '{code:03d}-', which announces more: the reply "
            "is incomplete"
        )
    return Reply(code, tuple(lines))


def address_literal_ok(text: str) -> bool:
    """Whether ``text`` is an RFC 5321 §4.1.3 address literal: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``.

    The general form ``[tag:content]`` is refused: IPv6 is the only tag ever standardised.
    """
    if m := _IPV4_LITERAL.match(text):
        return all(int(part) <= 255 for part in m.groups())
    if m := _IPV6_LITERAL.match(text):
        try:
            ipaddress.IPv6Address(m.group(1))
        except ValueError:
            return False
        return True
    return False


def has_underscore_name(word: str) -> bool:
    """Whether a name used in SMTP has an underscore: RFC 5321 §4.1.2 builds a Domain of letters,
    digits and hyphens only (DNS itself allows '_', RFC 2181 §11, but a host name never has one)."""
    return "_" in word


def name_kind(word: str) -> NameKind:
    """What the name in a greeting or EHLO response is.

    ``fqdn`` a host name of at least two LDH labels (RFC 1123 §2.1), ``bare-label`` one LDH label
    (``localhost``), ``address-literal`` ``[192.0.2.1]`` or ``[IPv6:...]``, ``ip-not-bracketed`` an IP
    address written as if it were a name, ``invalid`` anything else (an underscore, an empty label, a
    trailing dot, other characters).
    """
    return _classify(word)[0]


def _classify(word: str) -> tuple[NameKind, str]:
    """:func:`name_kind` and, for ``invalid``, why (a clause starting "it ...")."""
    if not word:
        return "invalid", "it is empty"
    if word.startswith("["):
        if address_literal_ok(word):
            return "address-literal", ""
        return "invalid", "it is bracketed but no IPv4 or [IPv6:...] address literal (RFC 5321 §4.1.3)"
    if looks_like_ip(word):
        return "ip-not-bracketed", ""
    if "\\" in word:
        # hostname_problem reads DNS presentation format, where '\' escapes; on the wire it is a character
        return "invalid", "it contains a backslash"
    if word.endswith("."):
        return "invalid", "it ends with a dot, which the Domain syntax of RFC 5321 §4.1.2 does not allow"
    if (problem := hostname_problem(word)) is None:
        return "fqdn", ""
    if is_ldh_label(word):
        return "bare-label", ""
    return "invalid", problem


def _control(text: str, allowed: str = "\t") -> str:
    """The first control character in ``text`` (other than ``allowed``), or ""."""
    for c in text:
        if (c < " " or c == "\x7f") and c not in allowed:
            return c
    return ""


def text_problems(reply: Reply, *, allow_controls: bool = False) -> list[str]:
    """Characters the reply's text may not carry without SMTPUTF8: one sentence per line with 8-bit
    (non-ASCII) text or, unless ``allow_controls``, a control character other than HT (RFC 5321 §4.2
    textstring: HT, SP and printable US-ASCII)."""
    out: list[str] = []
    for n, line in enumerate(reply.lines, start=1):
        if not line.isascii():
            out.append(
                f"line {n} of the {reply.code} reply has 8-bit (non-ASCII) text, which SMTP reply text "
                "may not carry unless SMTPUTF8 was negotiated (RFC 5321 §4.2 textstring; RFC 6531)"
            )
        elif not allow_controls and (c := _control(line)):
            out.append(
                f"line {n} of the {reply.code} reply contains the control character U+{ord(c):04X}, "
                "which SMTP reply text may not carry (RFC 5321 §4.2 textstring)"
            )
    return out


def _length_problems(reply: Reply) -> list[str]:
    out: list[str] = []
    for n, line in enumerate(reply.lines, start=1):
        # the octets of the line as sent: code, separator, text (re-encoded: close enough for 8-bit
        # text, which is reported on its own) and CRLF
        octets = len(line.encode("utf-8")) + 6
        if octets > MAX_LINE_OCTETS:
            out.append(
                f"line {n} of the {reply.code} reply is {octets} octets long with its code and CRLF; "
                f"a reply line has at most {MAX_LINE_OCTETS} (RFC 5321 §4.5.3.1.5)"
            )
    return out


#: The first word of a line and the character after it: words are separated by SP (and, leniently,
#: HT); any other character, a control included, is part of the word, to be judged with it.
_WORD = re.compile(r"[ \t]*([^ \t]*)(.?)", re.DOTALL)


def _first_word(reply: Reply) -> str:
    m = _WORD.match(reply.lines[0]) if reply.lines else None
    return m.group(1) if m else ""


def greeting_name(reply: Reply) -> str:
    """The first word of the greeting's first line: the server's name (RFC 5321 §4.3.1), or ""."""
    return _first_word(reply)


def ehlo_name(reply: Reply) -> str:
    """The Domain on the first line of a 250 EHLO response, or "" (another code carries none)."""
    return _first_word(reply) if reply.code == 250 else ""


def _literal_for(ip: str) -> str:
    ip = ip.rstrip(".")
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def _name_line_problems(reply: Reply, what: str, *, literal_ok: bool, name: bool) -> list[str]:
    """Problems of the first line's ``(Domain / address-literal) [SP text]`` (greeting and EHLO): its
    syntax, and (``name``) what the name is."""
    first = reply.lines[0] if reply.lines else ""
    if not first.strip(" \t"):
        return [
            f"the {what} has no name after {reply.code}: the server's fully qualified domain name comes "
            "first (RFC 5321 §4.2, §4.3.1)"
        ]
    out: list[str] = []
    if first[0] in " \t":
        out.append(
            f"the {what}'s text starts with white space: the name follows '{reply.code} ' directly "
            "(RFC 5321 §4.2)"
        )
    m = _WORD.match(first)
    word, after = (m.group(1), m.group(2)) if m else ("", "")
    if after and after != " ":
        out.append(f"the name in the {what} is followed by {after!r}, where a single space belongs")
    if not name:
        return out
    kind, why = _classify(word)
    if kind == "bare-label":
        out.append(
            f"the {what} names the host {word!r}, a single label: the server's fully qualified domain "
            "name belongs there (RFC 5321 §2.3.5, §4.3.1)"
        )
    elif kind == "ip-not-bracketed":
        out.append(
            f"the {what}'s first word {word!r} is an IP address written as a name: an address literal "
            f"is bracketed, {_literal_for(word)} (RFC 5321 §4.1.3)"
        )
    elif kind == "address-literal" and not literal_ok:
        out.append(
            f"the {what} names the server by the address literal {word!r}: the ehlo-ok-rsp syntax of "
            "RFC 5321 §4.1.1.1 puts a Domain there"
        )
    elif kind == "invalid":
        out.append(f"the {what}'s first word {word!r} is not a domain name or address literal: {why}")
    return out


def greeting_problems(reply: Reply, *, name: bool = True) -> list[str]:
    """How the greeting departs from RFC 5321's Greeting syntax, each problem a sentence ([] if none).

    ``220[ -](Domain / address-literal)[ SP textstring]``, further lines ``220-`` and a last ``220``
    (the parsed reply already has one code and the right separators); text of HT, SP and printable
    ASCII; each line at most 512 octets with its CRLF (§4.2, §4.5.3.1.5). A greeting with another
    code (421, 554) has only that problem: the syntax is defined for 220. ``name=False`` leaves out
    what is wrong with the name itself (a bare label, an unbracketed IP, an invalid name), for a
    check that judges it apart; a missing name and the spacing around it are still reported.
    """
    if reply.code != 220:
        return [f"the greeting's code is {reply.code:03d}, not 220 (RFC 5321 §4.2, §4.3.2)"]
    out = _name_line_problems(reply, "greeting", literal_ok=True, name=name)
    return out + text_problems(reply) + _length_problems(reply)


def _ehlo_line_problem(n: int, line: str) -> str | None:
    if not line:
        return f"line {n} of the EHLO response is empty, where an extension keyword belongs (§4.1.1.1)"
    keyword, _, rest = line.partition(" ")
    if not line.isascii():
        return f"line {n} {line!r} of the EHLO response has 8-bit (non-ASCII) characters (§4.1.1.1)"
    if not _KEYWORD.match(keyword):
        return (
            f"line {n} {line!r} of the EHLO response does not start with an extension keyword (a letter "
            "or digit, then letters, digits and '-'; RFC 5321 §4.1.1.1 ehlo-keyword)"
        )
    if rest or line.endswith(" "):
        params = rest.split(" ")
        if any(not p for p in params):
            return (
                f"line {n} {line!r} of the EHLO response has an empty parameter (two spaces in a row, or "
                "a space at the end): parameters are separated by single spaces (§4.1.1.1)"
            )
        if not all(_PARAM.match(p) for p in params):
            return (
                f"line {n} {line!r} of the EHLO response has a parameter with a control character: "
                "ehlo-param is printable ASCII (§4.1.1.1)"
            )
    return None


def _legacy_auth(line: str) -> bool:
    """``AUTH=mechanisms``: the pre-standard form some servers add beside ``AUTH`` for old Outlook."""
    return line[:5].upper() == "AUTH="


def ehlo_problems(reply: Reply, *, name: bool = True, allow_auth_equals: bool = True) -> list[str]:
    """How a 250 EHLO response departs from RFC 5321 §4.1.1.1 ehlo-ok-rsp, each a sentence ([] if none).

    The first line is ``Domain [SP ehlo-greet]`` (ehlo-greet: any ASCII but CR and LF); every later
    line ``ehlo-keyword *(SP ehlo-param)``; each line at most 512 octets. Another code than 250 has
    only that problem. ``name=False`` leaves out what is wrong with the Domain itself (catalog §16
    item 19: behind load balancers the name is often internal, and its FQDN-ness is only a WARN).

    A line ``AUTH=PLAIN LOGIN`` is no ehlo-line ('=' is not a keyword character) but the form Postfix
    (``broken_sasl_auth_clients``) and Exim send for old Outlook clients beside the proper ``AUTH``
    line; clients that do not know it skip it, so it is reported only with ``allow_auth_equals=False``.
    """
    if reply.code != 250:
        return [f"the EHLO response's code is {reply.code:03d}, not 250 (RFC 5321 §4.1.1.1)"]
    out = _name_line_problems(reply, "EHLO response", literal_ok=False, name=name)
    first = reply.lines[0] if reply.lines else ""
    if not first.isascii():
        out.append("line 1 of the EHLO response has 8-bit (non-ASCII) text (§4.1.1.1 ehlo-greet is ASCII)")
    elif "\r" in first or "\n" in first:
        out.append("line 1 of the EHLO response contains a bare CR or LF (§4.1.1.1 ehlo-greet excludes them)")
    for n, line in enumerate(reply.lines[1:], start=2):
        if allow_auth_equals and _legacy_auth(line):
            continue
        if (problem := _ehlo_line_problem(n, line)) is not None:
            out.append(problem)
    return out + _length_problems(reply)


def ehlo_keywords(reply: Reply) -> dict[str, tuple[str, ...]]:
    """The extensions a 250 EHLO response lists: upper-cased keyword → its parameters, in order.

    Lines that are not an ehlo-line (see :func:`ehlo_problems`) are skipped; a keyword listed twice
    keeps its first parameters. Another code than 250 lists none.
    """
    if reply.code != 250:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for line in reply.lines[1:]:
        words = line.split()
        if not words or not _KEYWORD.match(words[0]):
            continue
        out.setdefault(words[0].upper(), tuple(words[1:]))
    return out
