"""SPF (RFC 7208): the domain's record, the whole include/redirect tree below it, and whether it
authorises the outbound addresses (`pytest --mail-checks` lists every check).

The tree is the static worst case: every include and redirect is followed, every branch, because a
receiver's evaluation stops at the first match and a record can work for one address and be a
permerror for another (CATALOG.md §18.1). Terms are counted, not DNS packets: include, a, mx, ptr,
exists and redirect cost 1 each, whatever they look up; a term whose domain-spec holds macros costs
1 and is "not fully evaluable". A lookup that timed out or failed is "could not test", never
"no record". The null-MX rule (mx.null.spf-all) lives with the MX checks, in test_mx.py.
"""

from __future__ import annotations

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing
from mailspec.errors import Indeterminate
from mailspec.facts import DomainDns, need
from mailspec.facts.dns import Record
from mailspec.facts.smtp import OutboundIp
from mailspec.facts.spf import NOT_WALKED, SpfNode, SpfResult, SpfTree
from mailspec.outcome import evidence, note, warn
from mailspec.records.spf import (
    MAX_DNS_TERMS,
    MAX_NAMES,
    MAX_VOID_LOOKUPS,
    SpfRecord,
    SpfSyntaxError,
    concatenation_problems,
    duplicate_modifiers,
    is_spf,
    parse_record,
)
from mailspec.records.txt import txt_strings, txt_value

__all__ = [
    "test_helo_spf",
    "test_spf_after_all",
    "test_spf_all",
    "test_spf_authorizes_outbound",
    "test_spf_concatenation",
    "test_spf_include_targets",
    "test_spf_lookup_limit",
    "test_spf_modifiers_once",
    "test_spf_mx_limit",
    "test_spf_no_ptr",
    "test_spf_present",
    "test_spf_rrtype99",
    "test_spf_single",
    "test_spf_size",
    "test_spf_syntax",
    "test_spf_void_limit",
]

#: RFC 7208 §3.4: keep the answer to the TXT question within a 512-octet UDP message
_MAX_ANSWER = 450
#: a DNS character-string holds at most 255 octets (RFC 1035 §3.3)
_MAX_STRING = 255


# ------------------------------------------------------------------------------------------ helpers
def _records(d: DomainDns) -> list[str]:
    """The domain's SPF records (TXT, strings joined without spaces); skip when it has none."""
    existing(d)
    need(d.txt)
    evidence(d.txt)
    records = d.spf_records
    if not records:
        pytest.skip(f"{d.domain} has no SPF record (see spf.present)")
    return records


def _parsed(d: DomainDns) -> list[SpfRecord]:
    """The domain's SPF records, parsed; skip when there is none, or none parses (spf.syntax)."""
    out = []
    for text in _records(d):
        try:
            out.append(parse_record(text))
        except SpfSyntaxError:
            continue
    if not out:
        pytest.skip(f"the SPF record of {d.domain} does not parse (see spf.syntax)")
    return out


def _tree(d: DomainDns, tree: SpfTree) -> SpfNode:
    """The root of the walk when the domain has one SPF record that parses; skip (no record, several,
    a syntax error: other checks report those) or "could not test" otherwise."""
    existing(d)
    evidence(tree)
    root = tree.root
    if root.state == "indeterminate":
        raise Indeterminate(f"could not test: {root.problem}")
    if root.state in ("none", "nxdomain", "invalid"):
        pytest.skip(f"{d.domain} has no SPF record (see spf.present)")
    if root.state == "multiple":
        pytest.skip(f"{d.domain} has several SPF records: check_host gives permerror (see spf.single)")
    if root.state == "syntax":
        pytest.skip(f"the SPF record of {d.domain} does not parse (see spf.syntax)")
    return root


def _nodes(node: SpfNode) -> list[SpfNode]:
    """The node and every node below it (include and redirect targets), depth first."""
    out = [node]
    for t in node.terms:
        if t.child is not None and not t.ignored:
            out += _nodes(t.child)
    return out


def _listed(items: tuple[str, ...] | list[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def _without_duplicates(text: str) -> str:
    """The record without the second and later redirect / exp modifiers (spf.modifiers-once's
    concern), so that spf.syntax judges the rest of it."""
    seen: set[str] = set()
    kept = []
    for i, token in enumerate(text.split(" ")):
        name = token.split("=", 1)[0].lower() if i and "=" in token else ""
        if name in ("redirect", "exp"):
            if name in seen:
                continue
            seen.add(name)
        kept.append(token)
    return " ".join(kept)


def _rdata_octets(rec: Record) -> int:
    """The wire length of a TXT record's RDATA: each character-string and its length octet."""
    return sum(1 + len(s.encode("latin-1", "replace")) for s in txt_strings(rec.data))


def _spf_like(strings: list[str]) -> bool:
    """A TXT record meant as SPF: SPF once joined, or ``v=spf1`` glued to its next string."""
    joined = "".join(strings)
    return is_spf(joined) or (len(strings) > 1 and joined.lower().startswith("v=spf1"))


# ------------------------------------------------------------------------------------ the record
@check(
    "spf.present",
    refs=["RFC 7208 §2.1, §4.5", "Google and Yahoo sender requirements (SPF or DKIM for all senders)"],
    fix='Publish a TXT record at the domain naming the hosts that send its mail, e.g. "v=spf1 mx -all" '
    '(or "v=spf1 -all" if it sends none).',
)
def test_spf_present(dns_facts: DomainDns) -> None:
    """Each sender domain publishes an SPF record.

    A record is a TXT record whose text, its strings joined without spaces, begins with ``v=spf1``
    and a space or its end (RFC 7208 §4.5: ``v=spf10`` is no SPF record). A TXT question that timed
    out or failed is "could not test", never "no record". Several records are spf.single's. A domain
    with a sole null MX and no record declares that it sends no mail: mx.null.spf-all asks it for
    ``v=spf1 -all``, and this check skips.
    """
    d = dns_facts
    existing(d)
    need(d.txt)
    evidence(d.txt)
    records = d.spf_records
    if len(records) > 1:
        note(f"{d.domain} has {len(records)} SPF records (see spf.single)")
    if not records:
        need(d.mx)
        if d.null_mx:
            pytest.skip(
                f"{d.domain} declares that it sends no mail (null MX): its SPF record should be "
                '"v=spf1 -all" (see mx.null.spf-all)'
            )
    assert records, (
        f"{d.domain} publishes no SPF record (no TXT record beginning 'v=spf1'): receivers cannot tell "
        "which hosts may send its mail, so forged mail in its name is not rejected (RFC 7208 §2.1, "
        "§4.5), and Google and Yahoo require SPF or DKIM of every sender. Publish a TXT record naming "
        'the hosts that send its mail, e.g. "v=spf1 mx -all" (or "v=spf1 -all" if it sends none).'
    )


@check(
    "spf.single",
    refs=['RFC 7208 §3.2 ("MUST NOT have multiple records"), §4.5'],
    fix="Merge the SPF records into one TXT record and delete the others.",
)
def test_spf_single(dns_facts: DomainDns) -> None:
    """A name has at most one SPF record.

    Two ``v=spf1`` TXT records make check_host() a permerror (RFC 7208 §4.5), for every address. A
    ``v=spf1`` in the middle of a string starts no record; a type-99 record is spf.rrtype99's.
    """
    records = _records(dns_facts)
    assert len(records) == 1, (
        f"{dns_facts.domain} has {len(records)} SPF records ({_listed(records, 3)}): a domain MUST NOT "
        "have multiple records (RFC 7208 §3.2), and receivers return permerror for it (§4.5), so none "
        "of its mail passes SPF. Merge them into one TXT record and delete the others."
    )


@check(
    "spf.syntax",
    refs=["RFC 7208 §4.6, §4.6.1, §5.6, §6, §12"],
    fix="Correct the record to RFC 7208 §12's grammar (a validator names the term at fault).",
)
def test_spf_syntax(dns_facts: DomainDns) -> None:
    """The SPF record is syntactically valid.

    The grammar of RFC 7208 §12: the mechanisms all, include, a, mx, ptr, ip4, ip6 and exists with the
    qualifiers + - ~ ?, modifiers ``name=value``, CIDR lengths 0-32 and 0-128, dotted quads with no
    omitted octet, valid macros. Unknown modifiers are legal; a repeated redirect or exp is
    spf.modifiers-once's (the rest of the record is judged here).
    """
    problems = []
    for text in _records(dns_facts):
        try:
            parse_record(_without_duplicates(text))
        except SpfSyntaxError as exc:
            problems.append(f"{text!r}: {exc}")
    assert not problems, (
        f"the SPF record of {dns_facts.domain} is not valid SPF: {'; '.join(problems)}. Receivers "
        "return permerror for it (RFC 7208 §4.6, §12), so none of its mail passes SPF. Correct the "
        "record to RFC 7208 §12's grammar."
    )


@check(
    "spf.modifiers-once",
    refs=["RFC 7208 §6"],
    fix="Keep one redirect= and one exp= modifier at most, and delete the others.",
)
def test_spf_modifiers_once(dns_facts: DomainDns) -> None:
    """The SPF modifiers redirect and exp each appear at most once."""
    bad = [(text, dups) for text in _records(dns_facts) if (dups := duplicate_modifiers(text))]
    if bad:
        text, dups = bad[0]
        pytest.fail(
            f"the SPF record of {dns_facts.domain} ({text!r}) has more than one "
            f"{' and more than one '.join(repr(n + '=') for n in dups)} modifier: each may appear at most "
            "once, or the record is a permerror (RFC 7208 §6). Keep one and delete the others."
        )


# ----------------------------------------------------------------------------- the include tree
@check(
    "spf.lookup-limit",
    refs=['RFC 7208 §4.6.4 ("MUST limit the total number of those terms to 10 … MUST return permerror")'],
    fix="Replace include, a and mx terms by ip4/ip6 ranges, or drop includes the domain does not send "
    "through, to bring the count to 10 or fewer.",
)
def test_spf_lookup_limit(dns_facts: DomainDns, spf_tree: SpfTree) -> None:
    """Evaluating the SPF record takes at most 10 DNS-querying terms.

    include, a, mx, ptr, exists and redirect cost 1 each, in the domain's record and in every record
    it includes or redirects to; all, ip4, ip6 and exp cost nothing, and terms never evaluated (after
    ``all``, a redirect beside ``all``) cost nothing. Counted over every branch, as the worst case an
    address can meet; an include loop never ends within the limit. A term with macros costs 1 and
    warns: what it looks up is known only for a given client.
    """
    _tree(dns_facts, spf_tree)
    t = spf_tree
    lower = "" if t.complete else "at least "
    assert not t.loops, (
        f"the SPF tree of {dns_facts.domain} never ends within the limit ({_listed(t.loops, 2)}): every "
        f"include or redirect costs 1, so receivers pass the {MAX_DNS_TERMS}th term and MUST return "
        "permerror (RFC 7208 §4.6.4). Remove the include or redirect that closes the loop."
    )
    assert not t.too_deep, (
        f"the SPF tree of {dns_facts.domain} nests includes or redirects deeper than the limit allows "
        f"({_listed(t.too_deep, 2)}): every include or redirect costs 1, so receivers pass the "
        f"{MAX_DNS_TERMS}th term down that chain and MUST return permerror (RFC 7208 §4.6.4). Shorten the "
        "chain: include the records it ends in directly, or replace them by ip4/ip6 ranges."
    )
    assert t.total <= MAX_DNS_TERMS, (
        f"evaluating the SPF record of {dns_facts.domain} takes {lower}{t.total} DNS-querying terms "
        f"over its include/redirect tree, more than the {MAX_DNS_TERMS} receivers allow: they MUST "
        f"return permerror past the {MAX_DNS_TERMS}th (RFC 7208 §4.6.4), so mail that matches only late "
        "in the record fails SPF. Replace include, a and mx terms by ip4/ip6 ranges, or drop includes "
        f"the domain does not send through, to bring the count to {MAX_DNS_TERMS} or fewer."
    )
    if t.indeterminate:
        raise Indeterminate(
            f"could not test: {t.indeterminate[0]} (the count so far, {t.total}, is a lower bound)"
        )
    if t.macro_terms:
        warn(
            f"the SPF record of {dns_facts.domain} counts {t.total} DNS-querying "
            f"term{'' if t.total == 1 else 's'}, but is not fully "
            f"evaluable: {_listed(t.macro_terms)} (each counted 1; what it looks up, and what that "
            "includes, depends on the client, RFC 7208 §4.6.4, §7). Check the count for the addresses "
            "the domain sends from, or replace the macros by fixed names."
        )
    if t.stopped:
        note(f"{t.stopped}: the terms beyond are counted from their text")


@check(
    "spf.void-limit",
    refs=['RFC 7208 §4.6.4 ("SHOULD limit void lookups to two"), §11.1'],
    fix="Remove the terms that name domains with no such record (stale includes, a: and mx: of hosts "
    "that no longer exist).",
)
def test_spf_void_limit(dns_facts: DomainDns, spf_tree: SpfTree) -> None:
    """Evaluating the SPF record meets at most two void lookups.

    A void lookup is a term whose lookup answers NXDOMAIN or no record (RFC 7208 §4.6.4), counted once
    per term over every branch of the tree; receivers SHOULD return permerror past the second.
    """
    _tree(dns_facts, spf_tree)
    t = spf_tree
    lower = "" if t.complete else "at least "
    assert not t.over_void_limit, (
        f"evaluating the SPF record of {dns_facts.domain} meets {lower}{t.void_lookups} void lookups "
        f"({_listed(t.void_terms)}), more than the {MAX_VOID_LOOKUPS} receivers SHOULD allow before "
        "returning permerror (RFC 7208 §4.6.4, §11.1). Remove the terms that name domains with no such "
        "record (stale includes, a: and mx: of hosts that no longer exist)."
    )
    if t.indeterminate:
        raise Indeterminate(f"could not test: {t.indeterminate[0]}")
    if t.void_terms:
        note(f"void lookups: {_listed(t.void_terms)}")
    if t.macro_terms:
        note(f"not fully evaluable (macros; their lookups were not made): {_listed(t.macro_terms)}")


@check(
    "spf.mx-limit",
    refs=["RFC 7208 §4.6.4"],
    fix="Replace the mx term by the sending hosts' ip4/ip6 ranges, or point it at a domain with at most "
    "10 MX hosts.",
)
def test_spf_mx_limit(dns_facts: DomainDns, spf_tree: SpfTree) -> None:
    """Each SPF mx term names a domain with at most 10 MX hosts.

    Past ten MX records an ``mx`` mechanism is a permerror (RFC 7208 §4.6.4). A ``ptr`` term's names
    beyond the first ten are only ignored, and depend on the client: spf.no-ptr reports ``ptr``.
    """
    _tree(dns_facts, spf_tree)
    t = spf_tree
    assert not t.mx_over_limit, (
        f"the SPF tree of {dns_facts.domain} has mx terms whose domain has more than {MAX_NAMES} MX "
        f"hosts ({_listed(t.mx_over_limit)}): receivers return permerror for such a term (RFC 7208 "
        "§4.6.4). Replace it by the sending hosts' ip4/ip6 ranges, or point it at a domain with at most "
        f"{MAX_NAMES} MX hosts."
    )
    if t.indeterminate:
        raise Indeterminate(f"could not test: {t.indeterminate[0]}")
    # (a walk stopped at its bound left some terms unlooked-up: only an mx term among them, or an
    # include or redirect that might hold one, leaves the verdict open)
    unwalked = [
        f"{n.domain}: {term.text}"
        for n in _nodes(t.root)
        for term in n.terms
        if term.finding.startswith(NOT_WALKED) and term.kind in ("mx", "include", "redirect")
    ]
    if t.stopped and unwalked:
        raise Indeterminate(f"could not test every mx term: {t.stopped} ({_listed(unwalked, 3)})")
    macro_mx = [m for m in t.macro_terms if ": mx" in m.lower()]
    if macro_mx:
        note(f"not fully evaluable (macros): {_listed(macro_mx)}")


@check(
    "spf.include-targets",
    refs=["RFC 7208 §5.2 (result table: none → permerror), §6.1"],
    fix="Correct or remove each include and redirect whose target has no SPF record.",
)
def test_spf_include_targets(dns_facts: DomainDns, spf_tree: SpfTree) -> None:
    """Every SPF include and redirect target publishes an SPF record.

    An ``include:`` or ``redirect=`` of a name without exactly one SPF record is a permerror, not a
    non-match (RFC 7208 §5.2, §6.1). A target whose TXT question did not answer is "could not test";
    an included record that does not parse warns (it is a permerror too, but not this rule's).
    """
    root = _tree(dns_facts, spf_tree)
    t = spf_tree
    invalid = [
        f"{n.domain}: {term.text}: {term.child.problem}"
        for n in _nodes(root)
        for term in n.terms
        if term.child is not None and not term.ignored and term.child.state == "invalid"
    ]
    bad = [*t.bad_targets, *invalid]
    assert not bad, (
        f"the SPF tree of {dns_facts.domain} includes or redirects to names without a single SPF record "
        f"({_listed(bad)}): receivers return permerror for such a term, not a non-match (RFC 7208 §5.2, "
        "§6.1), so mail that reaches it fails SPF. Correct the name, or remove the include or redirect."
    )
    if t.indeterminate:
        raise Indeterminate(f"could not test: {t.indeterminate[0]}")
    below = [e for e in t.syntax_errors if not e.startswith(f"{root.domain}: ")]
    if below:
        warn(
            f"the SPF tree of {dns_facts.domain} includes records that do not parse ({_listed(below)}): "
            "evaluating them is a permerror (RFC 7208 §4.6, §5.2). Ask their publisher to correct "
            "them, or remove the include."
        )
    macro_targets = [m for m in t.macro_terms if ": include:" in m.lower() or ": redirect=" in m.lower()]
    if macro_targets:
        note(f"targets not fully evaluable (macros): {_listed(macro_targets)}")


# ------------------------------------------------------------------------------- record content
@check(
    "spf.all",
    refs=[
        'RFC 7208 §2.1 (negative determinations need "-all"), §4.7, §5.1',
        "RFC 7208 App. A.1 (v=spf1 +all: any address passes)",
    ],
    fix='End the record in "-all" (or "~all" while testing), after the terms naming the senders.',
)
def test_spf_all(dns_facts: DomainDns) -> None:
    """The SPF record ends in -all or ~all (or redirects), never +all.

    ``+all``, a bare ``all``, ``ip4:0.0.0.0/0`` or ``ip6:::/0`` (or ``a``/``mx`` with a /0 prefix)
    authorise every host on the Internet and fail; ``?all``, or neither ``all`` nor ``redirect=``
    (an implicit ``?all``, neutral), warn: no forged mail is ever rejected on it.
    """
    d = dns_facts
    for record in _parsed(d):
        if everyone := record.authorises_everyone:
            pytest.fail(
                f"the SPF record of {d.domain} ({record.text!r}) authorises every host on the Internet "
                f"with {', '.join(x.text for x in everyone)} (RFC 7208 §5.1, App. A.1: any address passes): "
                "anyone can send mail that passes SPF as the domain. Name the sending hosts and end the "
                'record in "-all".'
            )
    for record in _parsed(d):
        last = record.all
        if last is not None and last.qualifier in "-~":
            continue
        if last is None and record.redirect is not None:
            continue
        what = f"ends in {last.text!r}" if last is not None else "has neither 'all' nor 'redirect='"
        warn(
            f"the SPF record of {d.domain} ({record.text!r}) {what}: mail from any other host is "
            "neutral, as if there were no record, so forged mail is never rejected on SPF (RFC 7208 "
            '§2.1, §4.7). End the record in "-all" (or "~all" while testing).'
        )


@check(
    "spf.after-all",
    refs=['RFC 7208 §5.1 ("MUST be ignored"), §6.1'],
    fix="Move the terms before 'all', or delete them (and a redirect= beside 'all').",
)
def test_spf_after_all(dns_facts: DomainDns) -> None:
    """No SPF terms follow the all mechanism.

    Mechanisms after ``all`` are never evaluated (RFC 7208 §5.1), and a ``redirect=`` beside ``all`` is
    never used (§6.1): the publisher meant something the receivers ignore.
    """
    for record in _parsed(dns_facts):
        ignored = [x.text for x in record.after_all]
        if record.redirect_ignored and record.redirect is not None:
            ignored.append(record.redirect.text)
        if ignored:
            warn(
                f"the SPF record of {dns_facts.domain} ({record.text!r}) has terms receivers ignore: "
                f"{', '.join(ignored)} (after 'all' nothing is evaluated, RFC 7208 §5.1, and a redirect "
                "beside 'all' is never used, §6.1). Move them before 'all', or delete them."
            )


@check(
    "spf.no-ptr",
    refs=['RFC 7208 §5.5 ("SHOULD NOT be published")'],
    fix="Replace ptr by the sending hosts' ip4/ip6 ranges (or a: and mx: terms).",
)
def test_spf_no_ptr(dns_facts: DomainDns, spf_tree: SpfTree) -> None:
    """The SPF record does not use the ptr mechanism.

    ``ptr`` is slow, unreliable and loads the reverse DNS of the client's provider (RFC 7208 §5.5).
    Looked for in the domain's record and in every record it includes or redirects to.
    """
    root = _tree(dns_facts, spf_tree)
    ptrs = list(spf_tree.ptr_terms)
    if ptrs:
        own = all(p.startswith(f"{root.domain}: ") for p in ptrs)
        whose = "its record" if own else "its include/redirect tree"
        warn(
            f"the SPF record of {dns_facts.domain} uses the ptr mechanism in {whose} "
            f"({_listed(ptrs)}): it SHOULD NOT be published (RFC 7208 §5.5): it is slow, fails when "
            "the client's reverse DNS does, and loads the provider's name servers. Replace ptr by the "
            "sending hosts' ip4/ip6 ranges (or a: and mx: terms)."
        )


@check(
    "spf.size",
    refs=["RFC 7208 §3.3, §3.4", "RFC 1035 §3.3.14"],
    fix="Shorten the record (ip4/ip6 ranges, fewer includes), or move part of it to an included name, "
    "and split strings longer than 255 octets.",
)
def test_spf_size(dns_facts: DomainDns) -> None:
    """The SPF record fits the DNS size limits (255-octet strings, 450 octets in all).

    Each character-string holds at most 255 octets (a longer record is split into several strings),
    and the domain name and all the TXT records at it should stay within 450 octets (RFC 7208 §3.4),
    so that the answer fits a 512-octet UDP message and is not truncated to TCP, which some
    receivers do not retry.
    """
    d = dns_facts
    _records(d)
    spf = [r for r in d.txt.records if is_spf(txt_value(r.data))]
    long = [
        f"a string of {n} octets" for r in spf for s in txt_strings(r.data) if (n := len(s)) > _MAX_STRING
    ]
    total = len(d.txt.final_name) + sum(_rdata_octets(r) for r in d.txt.records)
    evidence(f"{d.txt.final_name}: {len(d.txt.records)} TXT record(s), {total} octets with the name")
    problems = [*long]
    if total > _MAX_ANSWER:
        problems.append(
            f"the name and its {len(d.txt.records)} TXT record(s) take {total} octets, more than "
            f"{_MAX_ANSWER}"
        )
    if problems:
        warn(
            f"the SPF answer of {d.domain} is too large: {'; '.join(problems)}. A TXT answer over "
            f"{_MAX_ANSWER} octets risks not fitting a 512-octet UDP message (RFC 7208 §3.4), and a "
            f"character-string holds {_MAX_STRING} octets at most (§3.3, RFC 1035 §3.3.14). Shorten the "
            "record (ip4/ip6 ranges, fewer includes) or move part of it to an included name."
        )


@check(
    "spf.concatenation",
    refs=['RFC 7208 §3.3 ("concatenated together without adding spaces")'],
    fix="End each string of the TXT record with a space where one term ends and the next begins.",
)
def test_spf_concatenation(dns_facts: DomainDns) -> None:
    """The SPF record's strings join without gluing terms together.

    A TXT record's strings are joined without spaces (RFC 7208 §3.3): a split between two terms that
    lacks a space glues them (``…example.cominclude:…``, ``-allip4:…``). That fails when the joined
    term is invalid (a permerror), and warns when it is valid but says something else. A split
    inside a term is how long records are published, and passes.
    """
    d = dns_facts
    existing(d)
    need(d.txt)
    evidence(d.txt)
    candidates = [s for r in d.txt.records if _spf_like(s := txt_strings(r.data))]
    if not candidates:
        pytest.skip(f"{d.domain} has no SPF record (see spf.present)")
    found = [c for strings in candidates for c in concatenation_problems(strings)]
    broken = [str(c) for c in found if c.breaks_syntax]
    assert not broken, (
        f"the SPF record of {d.domain} glues terms together where its strings join: {'; '.join(broken)}. "
        "Strings are concatenated without adding spaces (RFC 7208 §3.3), so receivers read an invalid "
        "term and return permerror. End each string with a space where a term ends."
    )
    if found:
        warn(
            f"the SPF record of {d.domain} glues terms together where its strings join: "
            f"{'; '.join(str(c) for c in found)}. Strings are concatenated without adding spaces (RFC "
            "7208 §3.3), so receivers read another name than the one meant. End each string with a "
            "space where a term ends."
        )


@check(
    "spf.rrtype99",
    refs=['RFC 7208 §3.1 ("MUST be published as a DNS TXT (type 16) … only"), §14.1'],
    fix="Publish the record as TXT, and delete the obsolete SPF (type 99) record.",
)
def test_spf_rrtype99(dns_facts: DomainDns, spf_tree: SpfTree) -> None:
    """SPF is published as TXT only, not as the obsolete SPF (type 99) record.

    A type-99 record warns: no receiver reads it (RFC 7208 §14.1), and two copies drift apart. One
    without the TXT record fails: the domain then has no SPF at all for receivers.
    """
    d = dns_facts
    existing(d)
    need(d.txt)
    evidence(d.txt)
    rr99 = spf_tree.rr99
    if rr99 is None:
        raise Indeterminate(f"could not test: the SPF (type 99) records of {d.domain} were not asked")
    if not rr99.definite and rr99.rcode in ("NOTIMP", "FORMERR", "REFUSED"):
        note(f"the name servers do not answer type-99 questions ({rr99.problem})")
        rr99_texts: list[str] = []
    else:
        need(rr99)
        evidence(rr99)
        rr99_texts = spf_tree.rr99_records
    if not rr99_texts and not d.spf_records:
        pytest.skip(f"{d.domain} has no SPF record (see spf.present)")
    assert d.spf_records or not rr99_texts, (
        f"{d.domain} publishes SPF only as the obsolete SPF (type 99) record ({rr99_texts[0]!r}) and "
        "not as TXT: SPF records MUST be published as TXT (RFC 7208 §3.1), and receivers read TXT only "
        "(§14.1), so for them the domain has no SPF record. Publish the record as TXT, and delete the "
        "type-99 record."
    )
    if rr99_texts:
        warn(
            f"{d.domain} also publishes the obsolete SPF (type 99) record ({rr99_texts[0]!r}): SPF is "
            "published as TXT only (RFC 7208 §3.1, §14.1), no receiver reads type 99, and the two copies "
            "drift apart. Delete the type-99 record."
        )


# ------------------------------------------------------------------------------------ the senders
@check(
    "spf.authorizes-outbound",
    refs=["RFC 7208 §2.3, §2.4, §4", "Google bulk sender requirements (SPF and DKIM)"],
    fix="Add the outbound address to the domain's SPF record (ip4:/ip6:, or the include of the "
    "service that sends for it).",
)
def test_spf_authorizes_outbound(
    dns_facts: DomainDns,
    outbound_ip: OutboundIp,
    spf_outbound: SpfResult,
    spf_helo_known: list[tuple[str, SpfTree, SpfResult]],
) -> None:
    """The SPF record authorises every outbound IP address.

    check_host(<address>, <domain>, ``postmaster@<domain>``) as a receiver evaluates the MAIL FROM
    identity (RFC 7208 §2.4, §4) must be pass; fail, softfail, neutral, none and permerror fail, a
    temperror is "could not test". Where a HELO name given with --mail-helo-name publishes an SPF
    record, check_host(<address>, <HELO name>) must be pass too: receivers check the HELO identity
    first, and for bounces (the null sender) it is the only one (RFC 7208 §2.3, §2.4). A HELO name
    without a record, or one only read off the MX banner, is helo.spf's. Only
    for the addresses given with --mail-outbound: the MX addresses are not known to send the domain's
    mail.
    """
    if outbound_ip.assumed:
        pytest.skip(
            "no outbound address configured: pass --mail-outbound (the MX addresses are not known to "
            "send the domain's mail)"
        )
    existing(dns_facts)
    r = spf_outbound
    evidence(r)
    if not r.definite:
        raise Indeterminate(f"could not test: {r.reason}")
    failures: list[str] = []
    if r.result != "pass":
        detail = f" ({r.reason})" if r.reason else ""
        fix = (
            f"Correct the SPF record of {r.domain}"
            if r.result == "permerror"
            else f"Add ip{'6' if ':' in r.ip else '4'}:{r.ip} (or the include of the service that sends for "
            f"it) to the SPF record of {r.domain}"
        )
        failures.append(
            f"SPF does not authorise {outbound_ip} to send as {r.domain}: check_host({r.ip}, {r.domain}, "
            f"{r.sender}) = {r.result}{detail}. Receivers evaluate it for every message (RFC 7208 §2.4, "
            f"§4), and Google and Yahoo require SPF to pass for bulk mail. {fix}."
        )
    unknown: list[str] = []
    for name, tree, helo in spf_helo_known:
        if tree.root.state != "record":  # (no record, or a broken one: helo.spf reports it)
            continue
        evidence(helo)
        if not helo.definite:
            unknown.append(f"check_host({helo.ip}, {name}): {helo.reason}")
        elif helo.result == "pass":
            note(f"the HELO identity passes too: check_host({helo.ip}, {name}) = pass")
        else:
            detail = f" ({helo.reason})" if helo.reason else ""
            failures.append(
                f"the SPF record of the HELO name {name} does not authorise {helo.ip}: check_host({helo.ip}, "
                f"{name}) = {helo.result}{detail}. Receivers check the HELO identity, and for bounces it is "
                f"the only one (RFC 7208 §2.3, §2.4). Make the record at {name} cover the address (typically "
                '"v=spf1 a -all" with an A record for it).'
            )
    if failures:
        pytest.fail(" ".join(failures))
    if unknown:
        raise Indeterminate(f"could not test: {'; '.join(unknown)}")


@check(
    "helo.spf",
    refs=["RFC 7208 §2.3 (HELO checks RECOMMENDED), §10.1.2, §10.1.3"],
    fix='Publish a TXT record "v=spf1 a -all" at the HELO name.',
)
def test_helo_spf(outbound_ip: OutboundIp, spf_helo: list[tuple[str, SpfTree, SpfResult]]) -> None:
    """The HELO name publishes an SPF record.

    Typically ``v=spf1 a -all``: receivers check the HELO identity (RFC 7208 §2.3), and it is the one
    they check for bounces (the null sender). A record that is a permerror (several, or invalid)
    warns as well. What check_host() gives for the address and the HELO name is noted.
    """
    if not spf_helo:
        pytest.skip(f"no HELO host name is known for {outbound_ip} (pass --mail-helo-name)")
    missing: list[str] = []
    broken: list[str] = []
    unknown: list[str] = []
    for name, tree, result in spf_helo:
        evidence(tree)
        root = tree.root
        if root.state == "indeterminate":
            unknown.append(f"{name}: {root.problem}")
        elif root.state == "nxdomain":
            note(f"the HELO name {name} does not exist (NXDOMAIN): helo.resolves reports it")
        elif root.state in ("none", "invalid"):
            missing.append(f"{name} ({root.problem or root.state})")
        elif root.state in ("multiple", "syntax", "loop", "too-deep"):
            broken.append(f"{name} ({root.problem})")
        else:
            evidence(result)
            note(
                f"check_host({result.ip}, {name}) = {result.result}"
                + (" (assumed)" if outbound_ip.assumed else "")
            )
    if missing:
        warn(
            f"the HELO name {', '.join(missing)} of {outbound_ip} publishes no SPF record: receivers "
            "check the HELO identity (RFC 7208 §2.3), and for bounces it is the only one (§10.1.3). "
            'Publish a TXT record "v=spf1 a -all" at it.'
        )
    if broken:
        warn(
            f"the SPF record of the HELO name {', '.join(broken)} of {outbound_ip} is a permerror "
            '(RFC 7208 §4.5, §4.6). Publish one valid TXT record, typically "v=spf1 a -all".'
        )
    if unknown:
        raise Indeterminate(f"could not test: {'; '.join(unknown)}")
