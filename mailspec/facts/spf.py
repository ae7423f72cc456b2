"""SPF facts: one check_host() evaluation (:class:`SpfResult`), and the static walk of a domain's
include/redirect tree with each term's cost (:class:`SpfTree`).

Both are plain data (dataclasses, tuples, strings, numbers), so :func:`mailspec.facts.encode` and
:func:`~mailspec.facts.decode` round-trip them. A lookup that timed out or failed is never read as
"no record": it makes the fact indefinite (``definite`` False, ``problem`` says which lookup), and the
tree keeps it apart from the names that really have no SPF record.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailspec.facts.dns import DnsAnswer
from mailspec.records.spf import MAX_DNS_TERMS, MAX_VOID_LOOKUPS, is_spf
from mailspec.records.txt import txt_value

__all__ = ["NOT_WALKED", "RESULTS", "SpfNode", "SpfResult", "SpfStep", "SpfTerm", "SpfTree"]

#: the results of check_host() (RFC 7208 §2.6)
RESULTS = ("none", "neutral", "pass", "fail", "softfail", "temperror", "permerror")

#: evidence lines kept at most (a 10 KB record has thousands of terms; the first lines say enough)
_MAX_LINES = 200


@dataclass(frozen=True, slots=True)
class SpfStep:
    """One step of an evaluation: a record fetched, a term evaluated, an error met."""

    domain: str  #: the domain whose record was being evaluated
    term: str  #: the term as written ("" for the record itself)
    outcome: str  #: "record", "match", "no match", "void", "none", "permerror", "temperror", "note"
    detail: str = ""
    depth: int = 0  #: 0 for the checked domain, 1 inside its include/redirect, ...

    def __str__(self) -> str:
        head = "  " * self.depth + self.domain + (f": {self.term}" if self.term else "")
        return f"{head}: {self.outcome}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class SpfResult:
    """What check_host(<ip>, <domain>, <sender>) returned (RFC 7208 §4), and how it got there."""

    ip: str
    domain: str
    sender: str
    result: str  #: one of :data:`RESULTS`
    reason: str = ""  #: in words: the term that matched, or why the result is an error
    #: the expanded ``exp=`` text for a fail (§6.2); "" when there is none or it could not be used
    explanation: str = ""
    mechanism: str = ""  #: the term that decided the result ("" for the default or an error)
    dns_terms: int = 0  #: terms counted against the limit of 10 (§4.6.4)
    void_lookups: int = 0  #: terms whose lookup was void (NXDOMAIN or no answer)
    trail: tuple[SpfStep, ...] = ()

    @property
    def definite(self) -> bool:
        """False for temperror: the DNS did not answer, the result is not known."""
        return self.result != "temperror"

    @property
    def problem(self) -> str:
        return "" if self.definite else self.reason

    def evidence(self) -> list[str]:
        head = f"check_host({self.ip}, {self.domain}, {self.sender}) = {self.result}"
        lines = [head + (f": {self.reason}" if self.reason else "")]
        if self.explanation:
            lines.append(f"explanation: {self.explanation}")
        lines += [str(s) for s in self.trail[:_MAX_LINES]]
        if len(self.trail) > _MAX_LINES:
            lines.append(f"... {len(self.trail) - _MAX_LINES} more steps")
        return lines


#: the finding of a term the static walk did not look up, its bound reached first
NOT_WALKED = "not looked up: the walk's bound was reached"


@dataclass(frozen=True, slots=True)
class SpfTerm:
    """One term of a record in the static walk, with its cost against the limit of 10."""

    text: str  #: as written
    kind: str  #: the mechanism or modifier name (lower case)
    cost: int = 0  #: 1 for include, a, mx, ptr, exists, redirect (§4.6.4); 0 otherwise or when ignored
    target: str = ""  #: the name it looks up ("" when none, or not known without an evaluation)
    void: bool = False  #: its lookup found nothing (NXDOMAIN or an empty answer)
    #: its lookup did not give an answer (a timeout, SERVFAIL): "" when it did
    problem: str = ""
    #: its domain-spec holds macros: counted 1, but what it looks up is known only when evaluating
    macros: bool = False
    #: never evaluated: a mechanism after ``all`` (§5.1), a redirect beside ``all`` (§6.1)
    ignored: bool = False
    mx_names: int = 0  #: mx: how many MX records the target has
    #: something wrong with the term, in words ("" when nothing is)
    finding: str = ""
    child: SpfNode | None = None  #: include / redirect: the target's record

    @property
    def subtotal(self) -> int:
        """This term's cost and that of everything below it."""
        return self.cost + (self.child.total if self.child is not None else 0)


@dataclass(frozen=True, slots=True)
class SpfNode:
    """One domain in the walk and its record (or why it has none)."""

    domain: str
    #: "record" (one SPF record, parsed), "none" (no SPF record), "nxdomain", "multiple" (more than one
    #: SPF record), "syntax" (the record does not parse), "invalid" (no valid domain name),
    #: "indeterminate" (the TXT lookup did not answer), "loop", "too-deep", "not-walked" (the walk's
    #: bound was reached first)
    state: str
    record: str = ""  #: the SPF record's text (the first of several for "multiple")
    problem: str = ""  #: in words, for every state but "record"
    terms: tuple[SpfTerm, ...] = ()
    answer: DnsAnswer | None = None  #: the TXT lookup

    @property
    def total(self) -> int:
        """DNS-querying terms in this record and below it."""
        return sum(t.subtotal for t in self.terms)

    @property
    def has_one_record(self) -> bool:
        """Exactly one SPF record, whether or not it parses (the spf.include-targets rule)."""
        return self.state in ("record", "syntax")

    def lines(self, depth: int = 0) -> list[str]:
        pad = "  " * depth
        record = self.record if len(self.record) <= 300 else self.record[:300] + "..."
        head = f"{pad}{self.domain}: " + (record if self.state == "record" else f"[{self.state}]")
        if self.problem:
            head += f" ({self.problem})"
        out = [head]
        for t in self.terms:
            notes = [f"cost {t.cost}"]
            if t.ignored:
                notes.append("ignored")
            if t.void:
                notes.append("void")
            if t.mx_names:
                notes.append(f"{t.mx_names} MX")
            for text in (t.problem, t.finding):
                if text:
                    notes.append(text)
            out.append(f"{pad}  {t.text}  [{'; '.join(notes)}]")
            if t.child is not None:
                out += t.child.lines(depth + 2)
        return out


@dataclass(frozen=True, slots=True)
class SpfTree:
    """The static worst case of a domain's SPF: every branch of its include/redirect tree walked, not
    only the first match, with what the catalog's spf.* rules need summed up (RFC 7208 §4.6.4, §5.2,
    §6.1). Entries of the tuples read ``domain: term: why``."""

    domain: str
    root: SpfNode
    total: int = 0  #: DNS-querying terms over the whole tree (a lower bound when not ``complete``)
    void_lookups: int = 0
    void_terms: tuple[str, ...] = ()  #: the terms whose lookup was void (checkdmarc#173)
    mx_over_limit: tuple[str, ...] = ()  #: mx terms whose target has more than 10 MX records
    #: include / redirect targets without exactly one SPF record (permerror, §5.2, §6.1); a target
    #: whose lookup did not answer is in :attr:`indeterminate` instead, never here
    bad_targets: tuple[str, ...] = ()
    macro_terms: tuple[str, ...] = ()  #: counted 1 each, "not fully evaluable"
    ptr_terms: tuple[str, ...] = ()
    loops: tuple[str, ...] = ()
    too_deep: tuple[str, ...] = ()
    syntax_errors: tuple[str, ...] = ()
    indeterminate: tuple[str, ...] = ()  #: lookups that did not answer (timeouts, SERVFAIL)
    stopped: str = ""  #: why the walk stopped before the end ("" when it did not)
    #: the obsolete SPF (type 99) RRset at the domain (RFC 7208 §3.1, §14.1), asked beside the TXT;
    #: None when it was not asked (the domain is no valid name)
    rr99: DnsAnswer | None = None

    @property
    def has_record(self) -> bool:
        return self.root.state == "record"

    @property
    def rr99_records(self) -> list[str]:
        """The texts of the type-99 records that are SPF records (their strings joined, §3.3)."""
        if self.rr99 is None:
            return []
        return [t for r in self.rr99.records if is_spf(t := txt_value(r.data))]

    @property
    def complete(self) -> bool:
        """Every term was walked and every lookup answered: the counts are exact, not lower bounds."""
        return not self.indeterminate and not self.stopped and not self.too_deep and not self.macro_terms

    @property
    def over_lookup_limit(self) -> bool:
        return self.total > MAX_DNS_TERMS

    @property
    def over_void_limit(self) -> bool:
        return self.void_lookups > MAX_VOID_LOOKUPS

    # -- the Fact shape ---------------------------------------------------------------------------
    @property
    def definite(self) -> bool:
        """Whether every lookup of the walk answered (a timeout anywhere makes the counts partial)."""
        return not self.indeterminate

    @property
    def problem(self) -> str:
        return self.indeterminate[0] if self.indeterminate else ""

    def evidence(self) -> list[str]:
        lines = self.root.lines()
        if len(lines) > _MAX_LINES:
            lines = [*lines[:_MAX_LINES], f"... {len(lines) - _MAX_LINES} more lines"]
        lines.append(
            f"total: {self.total} DNS-querying terms (limit {MAX_DNS_TERMS}), "
            f"{self.void_lookups} void lookups (limit {MAX_VOID_LOOKUPS})"
        )
        if self.stopped:
            lines.append(f"walk stopped: {self.stopped}")
        if self.rr99 is not None and (self.rr99.records or not self.rr99.definite):
            lines += self.rr99.evidence()
        return lines
