"""SPF records (RFC 7208): the §12 grammar, macro expansion (§7) and the questions checks ask of a record.

Pure: no I/O. :func:`parse_record` turns a record's text into a frozen :class:`SpfRecord` or raises
:class:`SpfSyntaxError`, the only error this module raises for bad input, whose message says where
(the term and its position) and why. A record that parses is one that RFC 7208's check_host()
evaluates rather than answering "permerror" (§4.6: a syntax error anywhere in the record is a
permerror before any term is evaluated).

Macro strings are parsed into :class:`MacroString` values; :func:`expand` and :func:`expand_domain`
expand them for a :class:`MacroContext` (the letters of §7.3, the transformers and delimiters of §7.1,
URL-escaping for upper-case letters, and the 253-character truncation of domain names of §7.3).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from mailspec.errors import MailspecError

__all__ = [
    "DNS_MECHANISMS",
    "MAX_DNS_TERMS",
    "MAX_NAMES",
    "MAX_NAME_LENGTH",
    "MAX_VOID_LOOKUPS",
    "MECHANISMS",
    "QUALIFIER_RESULTS",
    "Concatenation",
    "Directive",
    "Macro",
    "MacroContext",
    "MacroString",
    "Modifier",
    "SpfRecord",
    "SpfSyntaxError",
    "Term",
    "authorises_hosts",
    "concatenation_problems",
    "domain_problem",
    "duplicate_modifiers",
    "expand",
    "expand_domain",
    "ip_nibbles",
    "is_spf",
    "parse_domain_spec",
    "parse_explain_string",
    "parse_macro_string",
    "parse_record",
]

#: RFC 7208 §4.6.4: at most 10 terms that query the DNS per check_host() evaluation
MAX_DNS_TERMS = 10
#: RFC 7208 §4.6.4: void lookups (NXDOMAIN or an empty answer) SHOULD be limited to two
MAX_VOID_LOOKUPS = 2
#: RFC 7208 §4.6.4: names per ``mx`` term (more: permerror) and per ``ptr`` / ``%{p}`` (more: ignored)
MAX_NAMES = 10
#: RFC 7208 §7.3: an expanded domain name is cut to this many characters, label by label from the left
MAX_NAME_LENGTH = 253

#: the mechanisms of RFC 7208 §5, and those among them that query the DNS (§4.6.4; ``redirect`` too)
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})

Qualifier = Literal["+", "-", "~", "?"]
#: what each qualifier makes of a match (RFC 7208 §4.6.2)
QUALIFIER_RESULTS: dict[str, str] = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

_LETTERS = "slodiphcrtv"
#: RFC 7208 §7.1: "c", "r" and "t" are allowed only in "exp" text
_EXP_ONLY = "crt"
_DELIMITERS = ".-+,/_="
_MODIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*=")
_DIRECTIVE = re.compile(r"([+~?-]?)([A-Za-z][A-Za-z0-9]*)")
#: §12 dual-cidr-length at the end of an ``a`` or ``mx`` term (leading zeros are checked apart)
_DUAL_CIDR = re.compile(r"(?P<spec>.*?)(?:/(?P<c4>[0-9]+))?(?://(?P<c6>[0-9]+))?", re.DOTALL)
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IP4_NETWORK = re.compile(rf"{_QNUM}\.{_QNUM}\.{_QNUM}\.{_QNUM}\Z")
_CIDR_NUMBER = re.compile(r"(?:0|[1-9][0-9]{0,2})\Z")
#: §12 toplabel: LDH with at least one letter, or with an inner hyphen
_TOPLABEL = re.compile(r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])\Z")
#: RFC 3986 unreserved characters, never escaped by an upper-case macro (RFC 7208 §7.3)
_UNRESERVED = "-._~"


class SpfSyntaxError(MailspecError, ValueError):
    """The text is not valid SPF (RFC 7208 §12); check_host() returns permerror for it."""

    def __init__(self, reason: str, *, position: int = 0, term: str = "", rule: str = "spf.syntax") -> None:
        self.reason = reason
        #: offset of the offending character (or term) in the text that was parsed
        self.position = position
        #: the term it is in ("" when the problem is not in one term)
        self.term = term
        #: the catalog id the problem belongs to (``spf.syntax``, or ``spf.modifiers-once``)
        self.rule = rule
        where = f"at position {position}" + (f" in term {_short(term)}" if term else "")
        super().__init__(f"{reason} ({where})")


def _short(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, shortened in the middle when long (a record may be 10 KB)."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit // 2]) + "..." + repr(text[-limit // 2 :])


#: makes the error for one place: a reason in, an error out
_Fail = Callable[[str], SpfSyntaxError]


# -- macro strings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Macro:
    """One macro-expand of RFC 7208 §7.1: ``%{letter digits r delimiters}``, or an escape.

    ``letter`` is the lower-case macro letter, or ``%``, ``_`` or ``-`` for the escapes ``%%``
    (a percent sign), ``%_`` (a space) and ``%-`` (``%20``).
    """

    letter: str
    #: keep this many right-hand parts (None: all)
    digits: int | None = None
    reverse: bool = False
    #: the characters the value is split on ("" means "." only)
    delimiters: str = ""
    #: written in upper case: the expansion is URL-escaped (§7.3)
    url_escape: bool = False

    @property
    def is_escape(self) -> bool:
        return self.letter in "%_-"

    def __str__(self) -> str:
        if self.is_escape:
            return "%" + self.letter
        letter = self.letter.upper() if self.url_escape else self.letter
        digits = "" if self.digits is None else str(self.digits)
        return "%{" + letter + digits + ("r" if self.reverse else "") + self.delimiters + "}"


@dataclass(frozen=True, slots=True)
class MacroString:
    """A parsed macro-string (or explain-string): literal text and macros, in order."""

    text: str
    parts: tuple[str | Macro, ...] = ()

    @property
    def macros(self) -> tuple[Macro, ...]:
        """The macros that depend on the evaluation (escapes such as ``%%`` excluded)."""
        return tuple(p for p in self.parts if isinstance(p, Macro) and not p.is_escape)

    @property
    def has_macros(self) -> bool:
        """Whether expanding it depends on the evaluation (its value cannot be known in advance)."""
        return bool(self.macros)

    @property
    def letters(self) -> frozenset[str]:
        return frozenset(m.letter for m in self.macros)

    def __str__(self) -> str:
        return self.text


def parse_macro_string(
    text: str, *, exp: bool = False, spaces: bool = False, offset: int = 0, term: str = ""
) -> MacroString:
    """Parse a §12 macro-string (``spaces``: an explain-string, which may also hold SP).

    Without ``exp`` the letters ``c``, ``r`` and ``t`` are refused (§7.1: "exp" text only).
    ``offset`` and ``term`` only place the errors in a larger text.
    """
    parts: list[str | Macro] = []
    literal: list[str] = []
    i, n = 0, len(text)

    def fail(reason: str, at: int) -> SpfSyntaxError:
        return SpfSyntaxError(reason, position=offset + at, term=term)

    while i < n:
        ch = text[i]
        if ch != "%":
            if not ("\x21" <= ch <= "\x7e" or (spaces and ch == " ")):
                raise fail(f"character {ch!r} is not allowed (visible ASCII only, RFC 7208 §12)", i)
            literal.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            raise fail("a '%' at the end: write '%%' for a percent sign (RFC 7208 §7.1)", i)
        nxt = text[i + 1]
        if nxt in "%_-":
            macro = Macro(nxt)
            i += 2
        elif nxt == "{":
            end = text.find("}", i + 2)
            if end < 0:
                raise fail("a macro '%{' is not closed with '}'", i)
            macro = _macro_body(text[i + 2 : end], exp=exp, fail=functools.partial(_at, fail, i))
            i = end + 1
        else:
            raise fail(f"'%' followed by {nxt!r}: only '%{{', '%%', '%_' and '%-' are macros (§7.1)", i)
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(macro)
    if literal:
        parts.append("".join(literal))
    return MacroString(text, tuple(parts))


def _at(fail: Callable[[str, int], SpfSyntaxError], at: int, reason: str) -> SpfSyntaxError:
    return fail(reason, at)


def _macro_body(body: str, *, exp: bool, fail: _Fail) -> Macro:
    """The inside of ``%{...}``: letter, transformers (digits, "r"), delimiters (§7.1)."""
    if not body:
        raise fail("an empty macro '%{}'")
    letter = body[0]
    if letter.lower() not in _LETTERS or not letter.isascii():
        raise fail(f"{letter!r} is not a macro letter (one of {_LETTERS}, RFC 7208 §7.1)")
    if not exp and letter.lower() in _EXP_ONLY:
        raise fail(f"the macro letter {letter!r} is allowed only in exp text (RFC 7208 §7.1)")
    j = 1
    while j < len(body) and body[j] in "0123456789":
        j += 1
    digits = int(body[1:j]) if j > 1 else None
    if digits == 0:
        raise fail("a macro's digit transformer must not be zero (RFC 7208 §7.1)")
    reverse = j < len(body) and body[j] in "rR"
    if reverse:
        j += 1
    delimiters = body[j:]
    bad = [c for c in delimiters if c not in _DELIMITERS]
    if bad:
        raise fail(f"{bad[0]!r} in macro %{{{body}}} is not a delimiter (one of {_DELIMITERS}, §7.1)")
    return Macro(letter.lower(), digits, reverse, delimiters, url_escape=letter.isupper())


def parse_domain_spec(text: str, *, offset: int = 0, term: str = "") -> MacroString:
    """Parse a §12 domain-spec: a macro-string that ends in ``.toplabel`` (a dot allowed after it)
    or in a macro."""
    if not text:
        raise SpfSyntaxError("an empty domain-spec", position=offset, term=term)
    spec = parse_macro_string(text, offset=offset, term=term)
    last = spec.parts[-1]
    if isinstance(last, Macro):
        return spec
    tail = last[:-1] if last.endswith(".") else last
    dot = tail.rfind(".")
    if dot < 0 or not _TOPLABEL.match(tail[dot + 1 :]):
        raise SpfSyntaxError(
            f"domain-spec {_short(text)} does not end in a top label with a letter (or an inner hyphen), "
            "nor in a macro (RFC 7208 §12 domain-end)",
            position=offset,
            term=term,
        )
    return spec


def parse_explain_string(text: str) -> MacroString:
    """Parse the text of an explanation TXT record (§6.2: an explain-string; every letter allowed)."""
    return parse_macro_string(text, exp=True, spaces=True)


# -- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Directive:
    """A mechanism with its qualifier (RFC 7208 §4.6.2, §5)."""

    text: str  #: the term as written
    position: int  #: its offset in the record
    qualifier: Qualifier
    mechanism: str  #: lower case: all, include, a, mx, ptr, ip4, ip6, exists
    #: include, exists; a, mx, ptr when given ("" network for them); None otherwise
    domain_spec: MacroString | None = None
    #: a / mx / ip4: the IPv4 prefix length; a / mx / ip6: the IPv6 one (None: not given)
    cidr4: int | None = None
    cidr6: int | None = None
    #: ip4 / ip6: the network (host bits kept as written in ``text``; masked here)
    network: str = ""
    explicit_qualifier: bool = False  #: the qualifier was written (``+all``), not implied (``all``)

    @property
    def result(self) -> str:
        """What a match gives: pass, fail, softfail or neutral."""
        return QUALIFIER_RESULTS[self.qualifier]

    @property
    def queries_dns(self) -> bool:
        """Whether the term counts against the limit of 10 (§4.6.4)."""
        return self.mechanism in DNS_MECHANISMS

    @property
    def has_macros(self) -> bool:
        return self.domain_spec is not None and self.domain_spec.has_macros

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Modifier:
    """A ``name=value`` term (RFC 7208 §6): redirect, exp, or an unknown modifier (legal, ignored)."""

    text: str
    position: int
    name: str  #: lower case
    value: MacroString  #: a domain-spec for redirect and exp

    @property
    def queries_dns(self) -> bool:
        """Only ``redirect`` counts against the limit of 10 (§4.6.4; exp's lookup comes later)."""
        return self.name == "redirect"

    @property
    def has_macros(self) -> bool:
        return self.value.has_macros

    def __str__(self) -> str:
        return self.text


Term = Directive | Modifier


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed SPF record: its terms in order (directives and modifiers)."""

    text: str
    terms: tuple[Directive | Modifier, ...] = ()

    @property
    def directives(self) -> tuple[Directive, ...]:
        return tuple(t for t in self.terms if isinstance(t, Directive))

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        return tuple(t for t in self.terms if isinstance(t, Modifier))

    def modifier(self, name: str) -> Modifier | None:
        """The (first) modifier of that name."""
        return next((m for m in self.modifiers if m.name == name), None)

    @property
    def redirect(self) -> Modifier | None:
        return self.modifier("redirect")

    @property
    def exp(self) -> Modifier | None:
        return self.modifier("exp")

    @property
    def all(self) -> Directive | None:
        """The first ``all`` mechanism: evaluation always ends there (§5.1)."""
        return next((d for d in self.directives if d.mechanism == "all"), None)

    @property
    def after_all(self) -> tuple[Directive, ...]:
        """Mechanisms after the first ``all``: never evaluated (§5.1 "MUST be ignored")."""
        first = self.all
        if first is None:
            return ()
        ds = self.directives
        return ds[ds.index(first) + 1 :]

    @property
    def redirect_ignored(self) -> bool:
        """A ``redirect`` in a record with ``all``: never used (§6.1)."""
        return self.redirect is not None and self.all is not None

    @property
    def evaluated(self) -> tuple[Directive | Modifier, ...]:
        """The terms an evaluation can reach: mechanisms up to the first ``all``, and redirect
        unless there is an ``all`` (exp and unknown modifiers cost nothing)."""
        ignored = {d.position for d in self.after_all}
        out: list[Directive | Modifier] = []
        for t in self.terms:
            if t.position in ignored:
                continue
            if isinstance(t, Modifier) and t.name == "redirect" and self.redirect_ignored:
                continue
            out.append(t)
        return tuple(out)

    @property
    def dns_terms(self) -> tuple[Directive | Modifier, ...]:
        """The terms an evaluation of this record alone can count against the limit of 10 (§4.6.4):
        include, a, mx, ptr, exists and redirect, each 1, among :attr:`evaluated`."""
        return tuple(t for t in self.evaluated if t.queries_dns)

    @property
    def ptr_terms(self) -> tuple[Directive, ...]:
        """``ptr`` mechanisms (§5.5: "SHOULD NOT be published")."""
        return tuple(d for d in self.directives if d.mechanism == "ptr")

    @property
    def macro_terms(self) -> tuple[Directive | Modifier, ...]:
        """DNS-querying terms whose domain-spec has macros: what they look up is known only during an
        evaluation, so a static count of lookups is approximate for them."""
        return tuple(t for t in self.terms if t.has_macros and t.queries_dns)

    @property
    def authorises_everyone(self) -> tuple[Directive, ...]:
        """Reachable pass mechanisms that match every address: ``+all`` or a bare ``all``, ``ip4`` or
        ``ip6`` with prefix length 0 (``ip4:0.0.0.0/0``, ``ip6:::/0``), and ``a`` / ``mx`` with a /0 prefix
        (every address of its family, once the name has any)."""
        out = []
        unreachable = {x.position for x in self.after_all}
        for d in self.directives:
            if d.position in unreachable or d.qualifier != "+":
                continue
            if (
                d.mechanism == "all"
                or (d.mechanism in ("ip4", "ip6") and d.network.endswith("/0"))
                or (d.mechanism in ("a", "mx") and 0 in (d.cidr4, d.cidr6))
            ):
                out.append(d)
        return tuple(out)

    def __str__(self) -> str:
        return self.text


def is_spf(text: str) -> bool:
    """RFC 7208 §4.5: a record is SPF if it begins with ``v=spf1`` followed by a space or its end."""
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def authorises_hosts(text: str) -> bool:
    """Whether an SPF record lets any host send (anything beyond ``-all``, ``~all`` and ``?all``)."""
    for term in text.split()[1:]:
        t = term.lower()
        if t in ("-all", "~all", "?all") or t.startswith("exp="):
            continue
        return True
    return False


def _tokens(text: str) -> list[tuple[int, str]]:
    """The terms of a record after its version, each with its offset (separated by 1*SP, §12)."""
    out = []
    for m in re.finditer(r"[^ ]+", text):
        out.append((m.start(), m.group()))
    return out[1:]


def parse_record(text: str) -> SpfRecord:
    """Parse one SPF record (RFC 7208 §12); raise :class:`SpfSyntaxError` where it is not one.

    Checks every rule a receiver applies before evaluating anything (§4.6): the version, visible
    ASCII separated by spaces only, known mechanisms and their arguments, CIDR ranges, macro syntax,
    and redirect / exp at most once (§6).
    """
    if not is_spf(text):
        raise SpfSyntaxError("the record does not begin with 'v=spf1' and a space or its end (§4.5)")
    for i, ch in enumerate(text):
        if not ("\x21" <= ch <= "\x7e" or ch == " "):
            raise SpfSyntaxError(
                f"character {ch!r} is not allowed: terms are visible ASCII separated by spaces (§12)",
                position=i,
            )
    terms: list[Directive | Modifier] = []
    seen: dict[str, int] = {}
    for pos, token in _tokens(text):
        term = _parse_term(token, pos)
        if isinstance(term, Modifier) and term.name in ("redirect", "exp"):
            if term.name in seen:
                raise SpfSyntaxError(
                    f"a second {term.name!r} modifier (the first at position {seen[term.name]}): "
                    "each may appear at most once (RFC 7208 §6)",
                    position=pos,
                    term=token,
                    rule="spf.modifiers-once",
                )
            seen[term.name] = pos
        terms.append(term)
    return SpfRecord(text, tuple(terms))


def _parse_term(token: str, pos: int) -> Directive | Modifier:
    mod = _MODIFIER.match(token)
    if mod:
        name = token[: mod.end() - 1].lower()
        value_text = token[mod.end() :]
        if name in ("redirect", "exp"):
            value = parse_domain_spec(value_text, offset=pos + mod.end(), term=token)
        else:
            # unknown modifiers are legal and never expanded (§6): any macro letter is syntax
            value = parse_macro_string(value_text, exp=True, offset=pos + mod.end(), term=token)
        return Modifier(token, pos, name, value)
    m = _DIRECTIVE.match(token)
    if not m:
        raise SpfSyntaxError("not a mechanism nor a modifier", position=pos, term=token)
    qualifier_text, name = m.group(1), m.group(2).lower()
    qualifier = cast(Qualifier, qualifier_text or "+")
    rest, at = token[m.end() :], pos + m.end()
    if name not in MECHANISMS:
        raise SpfSyntaxError(
            f"unknown mechanism {_short(m.group(2))} (RFC 7208 §5)", position=pos, term=token
        )

    def make(
        spec: MacroString | None = None, cidr4: int | None = None, cidr6: int | None = None, network: str = ""
    ) -> Directive:
        return Directive(token, pos, qualifier, name, spec, cidr4, cidr6, network, bool(qualifier_text))

    def fail(reason: str) -> SpfSyntaxError:
        return SpfSyntaxError(reason, position=pos, term=token)

    if name == "all":
        if rest:
            raise fail("'all' takes no argument (RFC 7208 §5.1)")
        return make()
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise fail(f"{name!r} needs ':' and a domain-spec (RFC 7208 §5.2, §5.7)")
        return make(parse_domain_spec(rest[1:], offset=at + 1, term=token))
    if name == "ptr":
        if not rest:
            return make()
        if not rest.startswith(":"):
            raise fail("'ptr' takes only ':' and a domain-spec (RFC 7208 §5.5)")
        return make(parse_domain_spec(rest[1:], offset=at + 1, term=token))
    if name in ("a", "mx"):
        if rest and rest[0] not in ":/":
            raise fail(f"{name!r} takes ':' and a domain-spec, then CIDR lengths (RFC 7208 §5.3, §5.4)")
        parts = _DUAL_CIDR.fullmatch(rest)
        assert parts is not None  # (every string matches: the spec part may take it all)
        spec_text, c4, c6 = parts.group("spec"), parts.group("c4"), parts.group("c6")
        cidr4 = _cidr(c4, 32, fail) if c4 is not None else None
        cidr6 = _cidr(c6, 128, fail) if c6 is not None else None
        spec = None
        if spec_text:
            if not spec_text.startswith(":"):
                raise fail(f"bad CIDR length {_short(spec_text)} (§12 dual-cidr-length: /N and //N)")
            spec = parse_domain_spec(spec_text[1:], offset=at + 1, term=token)
        return make(spec, cidr4, cidr6)
    # ip4, ip6
    if not rest.startswith(":"):
        raise fail(f"{name!r} needs ':' and a network (RFC 7208 §5.6)")
    net_text, slash, length = rest[1:].partition("/")
    if name == "ip4":
        if not _IP4_NETWORK.match(net_text):
            raise fail(f"{_short(net_text)} is not a dotted-quad IPv4 address (no omitted octets, §5.6)")
        bits = _cidr(length, 32, fail) if slash else 32
        network = str(ipaddress.IPv4Network(f"{net_text}/{bits}", strict=False))
        return make(cidr4=bits if slash else None, network=network)
    try:
        if "%" in net_text or not net_text:
            raise ValueError(net_text)  # (ipaddress takes a scope id: "fe80::1%eth0" is no network)
        address = ipaddress.IPv6Address(net_text)
    except ValueError:
        raise fail(f"{_short(net_text)} is not an IPv6 address (RFC 4291 §2.2)") from None
    bits = _cidr(length, 128, fail) if slash else 128
    network = str(ipaddress.IPv6Network(f"{address}/{bits}", strict=False))
    return make(cidr6=bits if slash else None, network=network)


def _cidr(text: str, top: int, fail: _Fail) -> int:
    if not _CIDR_NUMBER.match(text) or int(text) > top:
        raise fail(f"CIDR length {_short(text)} is not a number from 0 to {top} without leading zeros (§12)")
    return int(text)


def duplicate_modifiers(text: str) -> list[str]:
    """The names of ``redirect`` and ``exp`` modifiers that appear more than once (spf.modifiers-once),
    read from the terms without parsing them (so it answers for a record with other errors too)."""
    counts: dict[str, int] = {}
    for _, token in _tokens(text):
        name = token.split("=", 1)[0].lower() if "=" in token else ""
        if name in ("redirect", "exp"):
            counts[name] = counts.get(name, 0) + 1
    return sorted(n for n, c in counts.items() if c > 1)


# -- concatenation (RFC 7208 §3.3) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Concatenation:
    """A place where a TXT record's character-strings were joined between two whole terms, gluing
    them into one: the publisher expected a space there (§3.3: "concatenated together without adding
    spaces")."""

    index: int  #: the boundary: after character-string number ``index`` (0-based)
    position: int  #: its offset in the joined text
    left: str  #: the term before the boundary, whole by itself
    right: str  #: the term after it, whole by itself
    glued: str  #: what the join made of them
    breaks_syntax: bool  #: the glued token is no valid term (the record is a permerror)

    def __str__(self) -> str:
        effect = "is not a valid term" if self.breaks_syntax else "silently changes the term"
        return (
            f"strings {self.index + 1} and {self.index + 2} join {self.left!r} and {self.right!r} "
            f"into {self.glued!r}, which {effect}; end the first with a space"
        )


def _valid_term(token: str) -> bool:
    if token.lower() == "v=spf1":
        return True
    try:
        _parse_term(token, 0)
    except SpfSyntaxError:
        return False
    return True


def concatenation_problems(strings: Sequence[str]) -> list[Concatenation]:
    """Boundaries between the character-strings of one TXT record that glue two whole terms together.

    A split inside a term (``include:_sp`` + ``f.example.com``) is how long records are meant to be
    published and is not reported: only a boundary where the text on each side is a valid term by
    itself, but the join is another term (``…example.com`` + ``include:…``) or none (``-all`` + ``ip4:…``).
    """
    out: list[Concatenation] = []
    joined = "".join(strings)
    offset = 0
    for k, s in enumerate(strings[:-1]):
        offset += len(s)
        if offset == 0 or offset >= len(joined):
            continue
        if joined[offset - 1] == " " or joined[offset] == " ":
            continue
        start = joined.rfind(" ", 0, offset) + 1
        end = joined.find(" ", offset)
        end = len(joined) if end < 0 else end
        left, right, glued = joined[start:offset], joined[offset:end], joined[start:end]
        if _valid_term(left) and _valid_term(right):
            broken = glued.lower() != "v=spf1" and not _valid_term(glued)
            if start == 0:
                broken = True  # "v=spf1" glued to a term: the record is not SPF at all
            out.append(Concatenation(k, offset, left, right, glued, broken))
    return out


# -- expansion (RFC 7208 §7) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MacroContext:
    """What the macro letters stand for during one check_host() (RFC 7208 §7.3)."""

    sender: str  #: <sender>: local-part@domain (``postmaster`` as local-part when it has none)
    domain: str  #: <domain>: the domain whose record is being evaluated
    ip: str  #: <ip>: the client's address
    helo: str = "unknown"  #: the HELO/EHLO domain
    receiver: str = "unknown"  #: %{r}: the receiving host's domain
    validated: str = "unknown"  #: %{p}: a validated domain name of <ip> (found with the DNS)
    timestamp: int = 0  #: %{t}: seconds since the epoch

    @property
    def local_part(self) -> str:
        local, at, _ = self.sender.rpartition("@")
        return local if at and local else "postmaster"

    @property
    def sender_domain(self) -> str:
        _, at, domain = self.sender.rpartition("@")
        return domain if at else self.sender


def ip_nibbles(ip: str) -> str:
    """%{i}: an IPv4 address as written, an IPv6 address as 32 dot-separated nibbles (§7.3, in upper
    case as its examples write them)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return str(address)
    return ".".join(address.packed.hex().upper())


def _value(letter: str, ctx: MacroContext) -> str:
    if letter == "s":
        return f"{ctx.local_part}@{ctx.sender_domain}"
    if letter == "l":
        return ctx.local_part
    if letter == "o":
        return ctx.sender_domain
    if letter == "d":
        return ctx.domain
    if letter == "i":
        return ip_nibbles(ctx.ip)
    if letter == "p":
        return ctx.validated
    if letter == "v":
        return "in-addr" if ipaddress.ip_address(ctx.ip).version == 4 else "ip6"
    if letter == "h":
        return ctx.helo
    if letter == "c":
        return str(ipaddress.ip_address(ctx.ip))  # (RFC 5952 text for IPv6)
    if letter == "r":
        return ctx.receiver
    return str(ctx.timestamp)  # t


def _transform(value: str, macro: Macro) -> str:
    """§7.3: split on the delimiters (default "."), reverse with "r", keep the right-most parts, join
    with dots; an upper-case letter URL-escapes the result."""
    parts = re.split("[" + re.escape(macro.delimiters or ".") + "]", value)
    if macro.reverse:
        parts.reverse()
    if macro.digits is not None and macro.digits < len(parts):
        parts = parts[-macro.digits :]
    out = ".".join(parts)
    if macro.url_escape:
        out = urllib.parse.quote(out, safe=_UNRESERVED)
    return out


def expand(spec: MacroString, ctx: MacroContext) -> str:
    """The text of a macro-string for one evaluation (§7.3). ``%{p}`` takes ``ctx.validated``: the
    caller looks it up first when ``"p" in spec.letters``."""
    out: list[str] = []
    for part in spec.parts:
        if isinstance(part, str):
            out.append(part)
        elif part.letter == "%":
            out.append("%")
        elif part.letter == "_":
            out.append(" ")
        elif part.letter == "-":
            out.append("%20")
        else:
            out.append(_transform(_value(part.letter, ctx), part))
    return "".join(out)


def expand_domain(spec: MacroString, ctx: MacroContext) -> tuple[str, bool]:
    """A domain-spec expanded to the name to query (no trailing dot), and whether it had to be cut:
    a name longer than 253 characters loses labels from the left until it fits (§7.3)."""
    name = expand(spec, ctx)
    if name.endswith("."):
        name = name[:-1]
    cut = False
    while len(name) > MAX_NAME_LENGTH:
        cut = True
        dot = name.find(".")
        name = name[dot + 1 :] if dot >= 0 else ""
    return name, cut


def domain_problem(name: str, *, multi_label: bool = False) -> str:
    """Why ``name`` cannot be asked in the DNS ("" when it can): an empty label (other than a final
    dot), a label over 63 octets, a name over 253; with ``multi_label``, a name of one label
    (RFC 7208 §4.3)."""
    text = name[:-1] if name.endswith(".") else name
    if not text:
        return "the name is empty"
    if len(text) > MAX_NAME_LENGTH:
        return f"the name is {len(text)} characters long (at most {MAX_NAME_LENGTH})"
    labels = text.split(".")
    if any(not label for label in labels):
        return "the name has an empty label"
    long = next((label for label in labels if len(label.encode("utf-8", "replace")) > 63), None)
    if long is not None:
        return f"the label {long[:20]!r}... is longer than 63 octets"
    if multi_label and len(labels) < 2:
        return "the name has a single label (not a fully qualified domain)"
    return ""
