"""DMARC policy records (RFC 7489 §6.3, §6.4, with RFC 9091's ``np``), read both as RFC 7489 and as
RFC 9989 (DMARCbis) reads them, plus the two ways of finding the Organizational Domain.

One record, two readings. Where RFC 9989 changed the rules, :class:`DmarcRecord` keeps what each reading
makes of the record: :meth:`DmarcRecord.problems_for` gives the syntax problems of one reading and
:meth:`DmarcRecord.policy` the policy it applies. The differences (CATALOG.md §11):

- RFC 7489 §6.3 requires ``p`` and requires it second, right after ``v``; a record without a valid ``p``
  (or with an invalid ``sp``) counts as ``p=none`` when it has a valid ``rua`` (§6.6.3 step 6), and
  as no DMARC at all otherwise. RFC 9989 §4.7 treats a missing ``p`` as ``p=none`` and lets the tags
  come in any order.
- ``pct``, ``rf`` and ``ri`` are RFC 7489 tags that RFC 9989 removed (Appendix C.5.2): they are
  validated under RFC 7489 and listed in :attr:`DmarcRecord.historic_tags`. The ``!size`` suffix of a
  report URI is obsolete syntax in RFC 9989 §4.8 (``obs-dmarc-report-size``); it is kept, and parsed.
- ``t`` (test mode) and ``psd`` are RFC 9989 tags; under RFC 7489 they are unknown, and ignored.
- RFC 9989 §4.8 makes ``0`` and ``1`` of ``fo`` mutually exclusive.

What makes a text no DMARC record at all raises :class:`DmarcError`: not starting with ``v=DMARC1``
(§6.3: the record "MUST be ignored") and a tag given twice (the record's tag-list is DKIM's, and RFC 6376
§3.2 makes a tag-list with a duplicate tag invalid as a whole). Every other syntax error is a
:class:`DmarcProblem` on the record, whose tag then takes its default, because RFC 7489 §6.3 and
RFC 9989 §4.8 say so ("syntax errors in the remainder of the record ... discarded in favor of default
values"), and a check can then report them all and still see the policy.

The organisational domain: RFC 7489 §3.2 derives it from the Public Suffix List
(:func:`psl_organizational_domain`, from the list the ``publicsuffixlist`` package ships, so nothing
is downloaded); RFC 9989 §4.10 walks the DNS tree (:func:`tree_walk_names` lists what the walk asks,
:func:`tree_walk_outcome` decides from the answers). The walk follows the text of
draft-ietf-dmarc-dmarcbis-41 §4.10 (the last draft before RFC 9989): at most eight queries, the first
for the domain itself, the next for its parent, or, when the domain has eight labels or more, for its
seven right-most labels, then one label fewer each time down to the top-level domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal
from urllib.parse import unquote

from publicsuffixlist import PublicSuffixList

from mailspec.records.hostname import hostname_problem

__all__ = [
    "MAX_TREE_WALK_QUERIES",
    "Alignment",
    "DmarcError",
    "DmarcProblem",
    "DmarcRecord",
    "Policy",
    "Reading",
    "ReportUri",
    "Subject",
    "TreeWalk",
    "dmarc_records",
    "is_dmarc",
    "needs_report_authorization",
    "parse_dmarc",
    "parse_report_uri",
    "psl_discovery_names",
    "psl_organizational_domain",
    "report_authorization_name",
    "same_organizational_domain",
    "tree_walk_domains",
    "tree_walk_names",
    "tree_walk_outcome",
]

Policy = Literal["none", "quarantine", "reject"]
Alignment = Literal["r", "s"]
#: Which specification reads the record: RFC 7489 (with RFC 9091's ``np``) or RFC 9989 (DMARCbis).
Reading = Literal["rfc7489", "rfc9989"]
#: Whom a policy is for: the policy domain, an existing subdomain (``sp``), a non-existent one (``np``).
Subject = Literal["domain", "subdomain", "nonexistent"]

BOTH: tuple[Reading, ...] = ("rfc7489", "rfc9989")
#: RFC 9989 §4.10: a tree walk asks at most eight names.
MAX_TREE_WALK_QUERIES = 8

_POLICY_OF: dict[str, Policy] = {"none": "none", "quarantine": "quarantine", "reject": "reject"}
_ALIGNMENT_OF: dict[str, Alignment] = {"r": "r", "s": "s"}
_PSD_OF: dict[str, Literal["y", "n", "u"]] = {"y": "y", "n": "n", "u": "u"}
_FO_OPTIONS = frozenset({"0", "1", "d", "s"})
#: Tags RFC 7489 §6.3 (and RFC 9091 §4, np) defines, and those RFC 9989 §4.7 defines.
_TAGS_7489 = frozenset({"v", "p", "sp", "np", "adkim", "aspf", "fo", "pct", "rf", "ri", "rua", "ruf"})
_TAGS_9989 = frozenset({"v", "p", "sp", "np", "adkim", "aspf", "fo", "psd", "t", "rua", "ruf"})
_HISTORIC = ("pct", "rf", "ri")
_KNOWN_TAGS = _TAGS_7489 | _TAGS_9989
#: RFC 7489 §6.6.3 step 5: the record starts with a v tag naming DMARC1 (the value case-sensitive).
_VERSION = re.compile(r"[vV][ \t]*=[ \t]*DMARC1[ \t]*(?:;|\Z)")
_WSP = " \t"
#: DKIM's tag-name (RFC 6376 §3.2), which RFC 7489's tag names follow; RFC 9989 narrows it to 1*ALPHA.
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: RFC 3986 §3.1 scheme, then the characters a URI may hold (§2: unreserved, reserved, pct-encoded).
_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):((?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)\Z")
#: RFC 7489 §6.4: "!" 1*DIGIT [ "k" / "m" / "g" / "t" ], the units powers of two; 20 digits fit 2^64.
_SIZE = re.compile(r"([0-9]{1,20})([kmgtKMGT]?)\Z")
_UNITS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
_MAX_PROBLEMS = 50
_SHOWN = 60


class DmarcError(ValueError):
    """A text that is no DMARC record, or a name no DMARC question can be asked about; the message
    says where and why."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


@dataclass(frozen=True)
class ReportUri:
    """One reporting URI of a ``rua`` or ``ruf`` tag (RFC 7489 §6.2), or of a TLS-RPT ``rua``.

    ``uri`` is the URI as published, without the ``!size`` suffix; ``host`` the destination host
    (RFC 7489 §7.1: the domain of a ``mailto:`` address, the authority's host of any other URI that has
    one), lower-case without a trailing dot, or None for a URI without a host.
    """

    uri: str
    scheme: str
    #: The addr-spec of a mailto: URI, percent-decoded; None for other schemes.
    address: str | None
    host: str | None
    #: The size limit of the ``!size`` suffix in octets (units are powers of two), or None.
    size_limit: int | None = None
    #: The suffix as written ("10m"), or None.
    size_text: str | None = None

    @property
    def is_mailto(self) -> bool:
        return self.scheme == "mailto"


def parse_report_uri(text: str, *, allow_size: bool = True) -> ReportUri:
    """The report URI ``text`` (RFC 3986 syntax; ``mailto:`` per RFC 6068), or DmarcError saying why not.

    With ``allow_size``, a ``!`` starts RFC 7489's size suffix (a literal ``!`` in the URI must be
    percent-encoded, §6.4). A mailto: URI must name one address with a local part and a domain that is
    a valid host name; another scheme's URI is kept as it is, with the host of its authority if it has one.
    """
    uri, size_text, size_limit = text, None, None
    if allow_size and "!" in text:
        uri, _, size_text = text.partition("!")
        m = _SIZE.match(size_text)
        if not m:
            raise DmarcError(
                f"report URI {_shown(text)}: the size suffix {_shown('!' + size_text)} is not '!' digits "
                "and an optional unit k, m, g or t (RFC 7489 §6.4); a '!' inside a URI must be written %21"
            )
        size_limit = int(m.group(1)) << _UNITS[m.group(2).lower()]
        if size_limit >= 1 << 64:
            raise DmarcError(
                f"report URI {_shown(text)}: the size limit does not fit 64 bits (RFC 7489 §6.4)"
            )
    m = _URI.match(uri)
    if not m:
        raise DmarcError(
            f"report URI {_shown(text)} is not a URI (RFC 3986: a scheme such as mailto:, then only "
            "URI characters, others percent-encoded)"
        )
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme == "mailto":
        address = unquote(rest.partition("?")[0], errors="replace")
        local, at, domain = address.rpartition("@")
        if not at or not local or "," in address:
            raise DmarcError(
                f"report URI {_shown(text)}: a mailto: URI names one address, local-part@domain (RFC 6068)"
            )
        host = domain.lower()
        why = hostname_problem(host)
        if why:
            raise DmarcError(f"report URI {_shown(text)}: its domain {_shown(domain)} is no host name: {why}")
        return ReportUri(uri, scheme, address, host, size_limit, size_text)
    host_text: str | None = None
    if rest.startswith("//"):
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        hostport = authority.rpartition("@")[2]
        host_text = hostport[1:].partition("]")[0] if hostport.startswith("[") else hostport.partition(":")[0]
        if not host_text:
            raise DmarcError(f"report URI {_shown(text)} has an authority without a host (RFC 3986 §3.2)")
        host_text = unquote(host_text, errors="replace").lower().rstrip(".")
    return ReportUri(uri, scheme, None, host_text, size_limit, size_text)


@dataclass(frozen=True)
class DmarcProblem:
    """A syntax problem of a DMARC record, which the readings in ``readings`` see."""

    #: The tag it is about ("" for the record as a whole).
    tag: str
    message: str
    readings: tuple[Reading, ...] = BOTH

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DmarcRecord:
    """A DMARC record as published, with each tag's valid value (or its default) and the problems.

    A tag whose value is invalid reads as its default here (RFC 7489 §6.3), and its problem is in
    :attr:`problems`; :meth:`policy` applies §6.6.3 step 6 on top of that.
    """

    #: The record's text (its strings joined).
    text: str
    #: Every tag in order, (name lower-cased, value stripped of the white space around it).
    tags: tuple[tuple[str, str], ...]
    #: p, sp and np as published when valid, else None (absent, or invalid: see :attr:`problems`).
    p: Policy | None
    sp: Policy | None
    np: Policy | None
    adkim: Alignment
    aspf: Alignment
    #: The failure-reporting options (``fo``, default {"0"}).
    fo: frozenset[str]
    #: The syntactically valid URIs of rua and ruf (invalid ones are problems).
    rua: tuple[ReportUri, ...]
    ruf: tuple[ReportUri, ...]
    #: RFC 7489's pct (default 100), rf (default ("afrf",)) and ri (default 86400); historic in RFC 9989.
    pct: int
    rf: tuple[str, ...]
    ri: int
    #: RFC 9989's test mode (``t=y``) and public-suffix flag (``psd``, default "u").
    test_mode: bool
    psd: Literal["y", "n", "u"]
    problems: tuple[DmarcProblem, ...] = field(default=())
    #: How many problems were left out of :attr:`problems` (a hostile record can have thousands).
    problems_left_out: int = 0

    def has(self, tag: str) -> bool:
        """Whether the record has the tag ``tag`` (any value)."""
        return any(name == tag for name, _ in self.tags)

    def value(self, tag: str) -> str | None:
        """The value of ``tag`` as published, or None."""
        return next((v for name, v in self.tags if name == tag), None)

    @property
    def unknown_tags(self) -> tuple[str, ...]:
        """Tags neither reading defines, which both ignore (RFC 7489 §6.3, RFC 9989 §4.7)."""
        return tuple(name for name, _ in self.tags if name not in _KNOWN_TAGS)

    @property
    def historic_tags(self) -> tuple[str, ...]:
        """The tags of this record that RFC 9989 removed: pct, rf, ri (Appendix C.5.2)."""
        return tuple(name for name, _ in self.tags if name in _HISTORIC)

    @property
    def p_is_second(self) -> bool:
        """Whether ``p`` is the tag right after ``v``, as RFC 7489 §6.3 requires."""
        return len(self.tags) > 1 and self.tags[1][0] == "p"

    def problems_for(self, reading: Reading) -> tuple[DmarcProblem, ...]:
        return tuple(p for p in self.problems if reading in p.readings)

    def acts_as_none(self, reading: Reading) -> bool:
        """Whether ``reading`` treats the record as ``p=none`` because a policy tag is missing or invalid
        and a valid rua exists (RFC 7489 §6.6.3 step 6, RFC 9989 §4.10.1); False when the record
        stands as published, or when it is not applied at all (see :meth:`applies`)."""
        return self._policy_broken(reading) and bool(self.rua)

    def applies(self, reading: Reading) -> bool:
        """Whether ``reading`` applies DMARC with this record at all (§6.6.3 step 6: a record without a
        valid policy and without a valid rua is not applied)."""
        return not self._policy_broken(reading) or bool(self.rua)

    def _policy_broken(self, reading: Reading) -> bool:
        p_bad = self.p is None and (self.has("p") or reading == "rfc7489")
        sp_bad = self.sp is None and self.has("sp")
        np_bad = self.np is None and self.has("np")
        # RFC 7489 §6.6.3 names p and sp; RFC 9989 §4.10.1 adds np (RFC 9091 left np's errors unsaid)
        return p_bad or sp_bad or (np_bad and reading == "rfc9989")

    def policy(self, reading: Reading, subject: Subject = "domain") -> Policy | None:
        """The policy ``reading`` takes from this record for ``subject``, or None when it applies no DMARC.

        ``domain`` is the policy domain itself (``p``); ``subdomain`` an existing subdomain (``sp``, else
        ``p``); ``nonexistent`` a subdomain that does not exist (``np``, else ``sp``, else ``p``: RFC 9091
        §4.1, RFC 9989 §4.7). This is the published request: :meth:`applied_policy` adds RFC 9989's test mode.
        """
        if self._policy_broken(reading):
            return "none" if self.rua else None
        p: Policy = self.p or "none"  # (9989: no p at all is p=none)
        if subject == "domain":
            return p
        if subject == "subdomain":
            return self.sp or p
        return self.np or self.sp or p

    def applied_policy(self, reading: Reading, subject: Subject = "domain") -> Policy | None:
        """:meth:`policy`, one level lower under RFC 9989 when ``t=y`` (reject → quarantine → none, §4.7)."""
        policy = self.policy(reading, subject)
        if reading == "rfc9989" and self.test_mode and policy is not None:
            return "quarantine" if policy == "reject" else "none"
        return policy

    @property
    def enforcing(self) -> bool:
        """Whether ``p`` asks for quarantine or reject."""
        return self.p in ("quarantine", "reject")


def is_dmarc(text: str) -> bool:
    """Whether ``text`` (a TXT record's strings joined) starts with ``v=DMARC1``, as a DMARC record does
    (RFC 7489 §6.6.3 step 5; white space around '=' allowed, the value exact)."""
    return bool(_VERSION.match(text))


def dmarc_records(texts: Iterable[str | Sequence[str]]) -> tuple[str, ...]:
    """The DMARC records among the TXT records ``texts`` (each a text, or its character-strings, which
    are joined with nothing between, RFC 7489 §6.6.3 / RFC 7208 §3.3), in order. More than one means
    that DMARC is not applied (§6.6.3 step 5)."""
    joined = (t if isinstance(t, str) else "".join(t) for t in texts)
    return tuple(t for t in joined if is_dmarc(t))


class _Problems:
    def __init__(self) -> None:
        self.kept: list[DmarcProblem] = []
        self.left_out = 0

    def add(self, tag: str, message: str, readings: tuple[Reading, ...] = BOTH) -> None:
        if len(self.kept) < _MAX_PROBLEMS:
            self.kept.append(DmarcProblem(tag, message, readings))
        else:
            self.left_out += 1


def _split(text: str, problems: _Problems) -> list[tuple[str, str, int]]:
    """The tag-list of ``text``: (name, value, offset) per tag; DmarcError for a duplicate tag."""
    out: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    offset = 0
    for n, segment in enumerate(text.split(";"), start=1):
        here, offset = offset, offset + len(segment) + 1
        stripped = segment.strip(_WSP)
        if not stripped:
            if offset <= len(text):  # (one ';' at the very end is allowed: [dmarc-sep])
                problems.add("", f"tag {n} (at character {here}) is empty: two ';' with nothing between")
            continue
        name, eq, value = stripped.partition("=")
        name, value = name.rstrip(_WSP), value.lstrip(_WSP)
        if not eq:
            problems.add("", f"{_shown(stripped)} (at character {here}) is not tag=value; it is ignored")
            continue
        if not _TAG_NAME.match(name):
            problems.add(
                "", f"{_shown(name)} (at character {here}) is not a tag name (letters, digits, '_'); ignored"
            )
            continue
        key = name.lower()
        if key in seen:
            raise DmarcError(
                f"the tag {key!r} appears twice (tags {seen[key]} and {n}, at character {here}): a tag-list "
                "with a duplicate tag is invalid as a whole (RFC 6376 §3.2, which RFC 7489 §6.3 builds on)"
            )
        seen[key] = n
        out.append((key, value, here))
    return out


def _policy_value(tag: str, value: str, problems: _Problems) -> Policy | None:
    policy = _POLICY_OF.get(value.lower())
    if policy is not None:
        return policy
    problems.add(tag, f"{tag}={_shown(value)}: expected none, quarantine or reject (RFC 7489 §6.3)")
    return None


def _rors(tag: str, value: str, problems: _Problems) -> Alignment:
    mode = _ALIGNMENT_OF.get(value.lower())
    if mode is not None:
        return mode
    problems.add(tag, f"{tag}={_shown(value)}: expected r (relaxed) or s (strict); read as r (RFC 7489 §6.3)")
    return "r"


def _uris(tag: str, value: str, problems: _Problems) -> tuple[ReportUri, ...]:
    uris: list[ReportUri] = []
    if not value:
        problems.add(tag, f"{tag} is empty: expected one or more comma-separated URIs (RFC 7489 §6.4)")
        return ()
    for part in value.split(","):
        item = part.strip(_WSP)
        try:
            uris.append(parse_report_uri(item))
        except DmarcError as exc:
            problems.add(tag, f"{tag}: {exc}; it is ignored")
    return tuple(uris)


def _digits(tag: str, value: str, limit: int, default: int, problems: _Problems, max_digits: int) -> int:
    if value.isascii() and value.isdigit() and len(value) <= max_digits and int(value) <= limit:
        return int(value)
    problems.add(
        tag,
        f"{tag}={_shown(value)}: expected an integer from 0 to {limit}; read as {default} (RFC 7489 §6.3)",
        ("rfc7489",),
    )
    return default


def parse_dmarc(text: str | Sequence[str]) -> DmarcRecord:
    """The DMARC record ``text`` (a TXT record's text, or its character-strings, joined with nothing
    between), or DmarcError when it is no DMARC record: it does not start with ``v=DMARC1``, or a tag
    appears twice. Every other syntax error is a :class:`DmarcProblem` on the result (see the module).

    Tag names and keyword values are case-insensitive (ABNF strings, RFC 5234 §2.3); ``DMARC1`` is exact.
    Linear in the length of ``text``.
    """
    text = text if isinstance(text, str) else "".join(text)
    if not is_dmarc(text):
        raise DmarcError(
            f"{_shown(text)} does not start with v=DMARC1: it is no DMARC record (RFC 7489 §6.3: "
            "the v tag is first and its value exactly DMARC1)"
        )
    problems = _Problems()
    split = _split(text, problems)
    tags = tuple((name, value) for name, value, _ in split)
    values = dict(tags)
    if "p" not in values:
        problems.add(
            "p",
            "there is no p tag: RFC 7489 §6.3 requires one (RFC 9989 §4.7 reads a missing p as p=none)",
            ("rfc7489",),
        )
    elif tags[1][0] != "p":
        problems.add(
            "p",
            f"p is tag {[n for n, _ in tags].index('p') + 1}, not the second right after v, as RFC 7489 §6.3 "
            "requires (RFC 9989 allows any order)",
            ("rfc7489",),
        )
    p = _policy_value("p", values["p"], problems) if "p" in values else None
    sp = _policy_value("sp", values["sp"], problems) if "sp" in values else None
    np = _policy_value("np", values["np"], problems) if "np" in values else None
    adkim = _rors("adkim", values["adkim"], problems) if "adkim" in values else "r"
    aspf = _rors("aspf", values["aspf"], problems) if "aspf" in values else "r"
    fo: frozenset[str] = frozenset({"0"})
    if "fo" in values:
        options = [o.strip(_WSP) for o in values["fo"].split(":")]
        bad = [o for o in options if o.lower() not in _FO_OPTIONS]
        if bad:
            problems.add(
                "fo", f"fo={_shown(values['fo'])}: {_shown(bad[0])} is not 0, 1, d or s (RFC 7489 §6.3)"
            )
        else:
            fo = frozenset(o.lower() for o in options)
            if {"0", "1"} <= fo:
                problems.add(
                    "fo", "fo has both 0 and 1, which RFC 9989 §4.8 makes mutually exclusive", ("rfc9989",)
                )
    rua = _uris("rua", values["rua"], problems) if "rua" in values else ()
    ruf = _uris("ruf", values["ruf"], problems) if "ruf" in values else ()
    pct = _digits("pct", values["pct"], 100, 100, problems, 3) if "pct" in values else 100
    ri = _digits("ri", values["ri"], 2**32 - 1, 86400, problems, 10) if "ri" in values else 86400
    rf: tuple[str, ...] = ("afrf",)
    if "rf" in values:
        formats = tuple(f.strip(_WSP).lower() for f in values["rf"].split(":"))
        if formats and all(f == "afrf" for f in formats):
            rf = formats
        else:
            problems.add(
                "rf",
                f"rf={_shown(values['rf'])}: the only registered report format is afrf (RFC 7489 §6.3)",
                ("rfc7489",),
            )
    test_mode = False
    if "t" in values:
        t = values["t"].lower()
        if t not in ("y", "n"):
            problems.add("t", f"t={_shown(values['t'])}: expected y or n (RFC 9989 §4.7)", ("rfc9989",))
        test_mode = t == "y"
    psd: Literal["y", "n", "u"] = "u"
    if "psd" in values:
        flag = _PSD_OF.get(values["psd"].lower())
        if flag is not None:
            psd = flag
        else:
            problems.add(
                "psd", f"psd={_shown(values['psd'])}: expected y, n or u (RFC 9989 §4.7)", ("rfc9989",)
            )
    return DmarcRecord(
        text=text,
        tags=tags,
        p=p,
        sp=sp,
        np=np,
        adkim=adkim,
        aspf=aspf,
        fo=fo,
        rua=rua,
        ruf=ruf,
        pct=pct,
        rf=rf,
        ri=ri,
        test_mode=test_mode,
        psd=psd,
        problems=tuple(problems.kept),
        problems_left_out=problems.left_out,
    )


# --- the Organizational Domain -----------------------------------------------------------------------


def _labels(domain: str) -> list[str]:
    name = domain.strip().rstrip(".").lower()
    labels = name.split(".")
    if not name or any(not label for label in labels):
        raise DmarcError(f"{_shown(domain)} is no domain name (an empty name, or an empty label)")
    return labels


@cache
def _psl() -> PublicSuffixList:
    # the list the package ships (read once: ~10k rules); private suffixes too, as receivers use them
    return PublicSuffixList()


def is_public_suffix(name: str) -> bool:
    """Whether ``name`` is itself a suffix the Public Suffix List the package ships lists (``com``,
    ``co.uk``; not an unknown top-level name such as ``localhost`` or ``lan``)."""
    name = name.strip().strip(".").lower()
    return bool(name) and bool(_listed_psl().is_public(name))


@cache
def _listed_psl() -> PublicSuffixList:
    # (the listed suffixes only: an unknown TLD is no suffix here)
    return PublicSuffixList(accept_unknown=False)


def psl_organizational_domain(domain: str) -> str:
    """RFC 7489 §3.2's Organizational Domain of ``domain``: its public suffix on the Public Suffix List
    (the ``publicsuffixlist`` package's copy, ICANN and private sections, unknown TLDs a suffix of one
    label) and one label more. A name that is itself a public suffix is its own Organizational Domain
    (§3.2 leaves the case open; this is what receivers do). Lower-case, no trailing dot."""
    name = ".".join(_labels(domain))
    return _psl().privatesuffix(name) or name


def psl_discovery_names(domain: str) -> tuple[str, ...]:
    """The names RFC 7489 §6.6.3 queries for ``domain``'s policy: ``_dmarc.<domain>``, then, if that has
    no record and the Organizational Domain differs, ``_dmarc.<organizational domain>``."""
    name = ".".join(_labels(domain))
    org = psl_organizational_domain(name)
    return (f"_dmarc.{name}",) if org == name else (f"_dmarc.{name}", f"_dmarc.{org}")


def same_organizational_domain(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` have the same Organizational Domain by the Public Suffix List (RFC 7489
    §3.2, relaxed alignment §3.1); the RFC 9989 reading needs DNS answers: compare
    :attr:`TreeWalk.organizational_domain` of the two walks."""
    return psl_organizational_domain(a) == psl_organizational_domain(b)


def needs_report_authorization(policy_domain: str, destination_host: str) -> bool:
    """Whether reports for ``policy_domain`` sent to ``destination_host`` need the destination's
    authorisation record (RFC 7489 §7.1: only when their Organizational Domains differ; PSL reading)."""
    return not same_organizational_domain(policy_domain, destination_host)


def report_authorization_name(policy_domain: str, destination_host: str) -> str:
    """The TXT name that authorises ``destination_host`` to receive ``policy_domain``'s reports: the
    domain the policy was retrieved from, ``_report._dmarc``, then the destination host (RFC 7489 §7.1
    steps 2 to 4). A record there starting ``v=DMARC1`` authorises; its own rua/ruf may override the
    addresses, but only within the same host (§7.1 step 6)."""
    return f"{'.'.join(_labels(policy_domain))}._report._dmarc.{'.'.join(_labels(destination_host))}"


def tree_walk_domains(domain: str) -> tuple[str, ...]:
    """The domains RFC 9989's DNS tree walk asks about for ``domain``, in order (§4.10 steps 1 to 7).

    First ``domain`` itself; then, when it has fewer than eight labels, its parent, and when it has
    eight or more, its seven right-most labels; then one label fewer each time, down to the top-level
    domain. So at most :data:`MAX_TREE_WALK_QUERIES` names: ``a.b.c.d.e.f.g.h.i.j.mail.example.com``
    asks itself, then ``g.h.i.j.mail.example.com`` ... ``com`` (the draft's own example). Policy
    discovery (§4.10.1) and the Organizational Domain (§4.10.2) walk the same list; the walk stops
    early at a record with ``psd=y`` or ``psd=n`` (see :func:`tree_walk_outcome`).
    """
    labels = _labels(domain)
    out = [".".join(labels)]
    rest = labels[1:] if len(labels) < MAX_TREE_WALK_QUERIES else labels[-(MAX_TREE_WALK_QUERIES - 1) :]
    while rest:
        out.append(".".join(rest))
        rest = rest[1:]
    return tuple(out)


def tree_walk_names(domain: str) -> tuple[str, ...]:
    """The ``_dmarc.`` TXT names of :func:`tree_walk_domains`, in the order the walk asks them."""
    return tuple(f"_dmarc.{d}" for d in tree_walk_domains(domain))


@dataclass(frozen=True)
class TreeWalk:
    """What RFC 9989's tree walk from ``domain`` concludes from the records it found."""

    domain: str
    #: The domains the walk asks before it stops (a prefix of :func:`tree_walk_domains`).
    queried: tuple[str, ...]
    #: Where the policy record to apply was found (§4.10.1), and that record; None when DMARC does not apply.
    policy_domain: str | None
    record: DmarcRecord | None
    #: The Organizational Domain (§4.10.2); ``domain`` itself when the walk found none.
    organizational_domain: str


def tree_walk_outcome(domain: str, records: Mapping[str, DmarcRecord]) -> TreeWalk:
    """The policy domain and Organizational Domain of ``domain`` by RFC 9989's tree walk, given
    ``records``: for each walked domain (lower-case, no ``_dmarc.``) that had exactly one DMARC record,
    that record parsed (names with none, or more than one, which the walk discards, are left out).

    The walk stops at the first record with ``psd=y`` or ``psd=n`` (§4.10 steps 2 and 6). The
    Organizational Domain is, from the longest name to the shortest (§4.10.2): the first with
    ``psd=n``; else, for a ``psd=y`` record other than at ``domain``, the name one label below it on the
    way to ``domain``; else the found name with the fewest labels; else ``domain``. The policy record
    (§4.10.1) is ``domain``'s own, else the Organizational Domain's, else the public suffix domain's
    (the ``psd=y`` record).
    """
    walk = tree_walk_domains(domain)
    labels = walk[0].split(".")
    found: list[str] = []
    queried: list[str] = []
    for name in walk:
        queried.append(name)
        record = records.get(name)
        if record is not None:
            found.append(name)
            if record.psd in ("y", "n"):
                break
    org = walk[0]
    psd_domain: str | None = None
    for name in found:
        record = records[name]
        if record.psd == "n":
            org = name
            break
        if record.psd == "y" and name != walk[0]:
            org = ".".join(labels[-(name.count(".") + 2) :])
            psd_domain = name
            break
    else:
        if found:
            org = found[-1]
    if walk[0] in records:
        policy_domain: str | None = walk[0]
    elif org in records and org in queried:
        policy_domain = org
    else:
        policy_domain = psd_domain
    return TreeWalk(
        domain=walk[0],
        queried=tuple(queried),
        policy_domain=policy_domain,
        record=records[policy_domain] if policy_domain is not None else None,
        organizational_domain=org,
    )
