"""Sender-authentication facts: the DNS answers that DKIM, DMARC, MTA-STS and TLS-RPT checks read.

Each fact is the set of answers one survey step asked for (a domain's DMARC discovery, its DKIM
selectors, its MTA-STS and TLS-RPT records), kept raw: the checks parse them with the pure parsers
of :mod:`mailspec.records` (what a record means is the checks' business, what the DNS said is the
survey's), and a timeout stays a timeout, never "no record" (the field's most common false verdict:
checkdmarc#40, Artemis#232).

* :class:`DnsLookups` — answers by question, the shared shape;
* :class:`DmarcSurvey` (``dmarc``), per domain: ``_dmarc.<domain>``, the RFC 9989 tree walk's names,
  the RFC 7489 organisational domain's record, each external report destination's authorisation
  record and each report domain's MX and addresses;
  :meth:`DmarcSurvey.discover` reads them as each specification does (a :class:`DmarcFound`);
* :class:`DkimSurvey` (``dkim``), per domain: ``_domainkey.<domain>`` and each configured selector;
* :class:`MtaStsSurvey` (``mtasts``), per domain: ``_mta-sts`` and ``_smtp._tls`` TXT and the policy
  host's addresses; the policy fetch is :class:`mailspec.facts.mtasts.MtaStsFetch`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailspec.facts.dns import DnsAnswer
from mailspec.records.dmarc import (
    DmarcError,
    DmarcRecord,
    Reading,
    dmarc_records,
    parse_dmarc,
    psl_organizational_domain,
    tree_walk_outcome,
)
from mailspec.records.mtasts import mtasts_records
from mailspec.records.txt import txt_value

__all__ = ["DkimSurvey", "DmarcFound", "DmarcSurvey", "DnsLookups", "MtaStsSurvey"]

#: how each reading is named in messages
READING_NAMES: dict[Reading, str] = {
    "rfc7489": "RFC 7489 (Public Suffix List)",
    "rfc9989": "RFC 9989 (DNS tree walk)",
}


@dataclass(frozen=True, slots=True)
class DnsLookups:
    """Answers, by question (name and type), in the order they were asked."""

    answers: tuple[DnsAnswer, ...] = ()

    def get(self, qname: str, rdtype: str) -> DnsAnswer | None:
        """The answer to one question, if it was asked."""
        name = qname.rstrip(".").lower()
        for a in self.answers:
            if a.qname.rstrip(".").lower() == name and a.rdtype == rdtype:
                return a
        return None

    def txt(self, qname: str) -> DnsAnswer | None:
        return self.get(qname, "TXT")


@dataclass(frozen=True, slots=True)
class DmarcSurvey:
    """What the DNS says of one domain's DMARC policy and its report destinations."""

    domain: str
    lookups: DnsLookups = DnsLookups()
    #: the organisational domain by the Public Suffix List (RFC 7489 §3.2)
    psl_org: str = ""
    #: the names the RFC 9989 tree walk asks, in order (``_dmarc.`` prefixed)
    walk: tuple[str, ...] = ()
    #: why the survey stopped short (its budget), "" when it did not
    error: str = ""

    @property
    def own(self) -> DnsAnswer | None:
        """The answer at ``_dmarc.<domain>``."""
        return self.lookups.txt(f"_dmarc.{self.domain}")

    @property
    def definite(self) -> bool:
        own = self.own
        return not self.error and own is not None and own.definite

    @property
    def problem(self) -> str:
        if self.error:
            return self.error
        own = self.own
        return own.problem if own is not None else f"_dmarc.{self.domain} was not asked"

    def evidence(self) -> list[str]:
        out: list[str] = []
        for a in self.lookups.answers:
            out += a.evidence()
        return out

    def discover(self, reading: Reading) -> DmarcFound:
        """Policy discovery as ``reading`` does it, from the answers the survey got (pure: no DNS).

        ``rfc7489`` (§6.6.3 steps 1 to 5): ``_dmarc.<domain>``; when it holds no DMARC record, the
        Public Suffix List's Organizational Domain's ``_dmarc`` name; more than one record at the name
        asked means no DMARC at all (no further name is asked). ``rfc9989`` (§4.10): the DNS tree walk
        (:func:`mailspec.records.dmarc.tree_walk_outcome`), which passes by a name with more than one
        record. A record that starts with ``v=DMARC1`` but is invalid as a whole (a duplicate tag) is
        found, and not applied: :attr:`DmarcFound.invalid` says why.

        An answer that did not come (a timeout, SERVFAIL, a name the survey's budget left unasked) is
        never "no record": when the outcome depends on it, :attr:`DmarcFound.error` says which.
        """
        if reading == "rfc7489":
            return self._discover_psl()
        return self._discover_walk()

    def _answer(self, name: str) -> tuple[DnsAnswer | None, str]:
        """The TXT answer at ``name`` and, when it is no definite answer, why."""
        answer = self.lookups.txt(name)
        if answer is None:
            return None, self.error or f"{name} TXT was not asked"
        return answer, answer.problem

    def _at(self, name: str) -> tuple[tuple[str, ...], str]:
        """The DMARC records at ``name`` (texts), or why they are unknown."""
        answer, why = self._answer(name)
        if answer is None or why:
            return (), why
        return dmarc_records(txt_value(r.data) for r in answer.records if r.rdtype == "TXT"), ""

    def _consulted(self, names: list[str]) -> tuple[DnsAnswer, ...]:
        return tuple(a for n in names if (a := self.lookups.txt(n)) is not None)

    def _discover_psl(self) -> DmarcFound:
        domain = self.domain.rstrip(".").lower()
        org = self.psl_org or psl_organizational_domain(domain)
        names = [f"_dmarc.{domain}"]
        texts, why = self._at(names[0])
        policy_domain = domain
        if not why and not texts and org != domain:
            names.append(f"_dmarc.{org}")
            texts, why = self._at(names[1])
            policy_domain = org
        base = DmarcFound(
            reading="rfc7489",
            domain=domain,
            policy_domain=None,
            name=names[-1],
            records_at_name=texts,
            record=None,
            organizational_domain=org,
            answers=self._consulted(names),
            error=f"could not test: {why}" if why else "",
        )
        if why or not texts:
            return base
        if len(texts) > 1:
            invalid = _many(names[-1], texts)
            return replace(base, policy_domain=policy_domain, multiple=(names[-1],), invalid=invalid)
        try:
            record = parse_dmarc(texts[0])
        except DmarcError as exc:
            return replace(base, policy_domain=policy_domain, invalid=str(exc))
        return replace(base, policy_domain=policy_domain, record=record)

    def _discover_walk(self) -> DmarcFound:
        domain = self.domain.rstrip(".").lower()
        walk = [n.removeprefix("_dmarc.") for n in self.walk] or [domain]
        records: dict[str, DmarcRecord] = {}
        unknown: dict[str, str] = {}
        multiple: list[str] = []
        invalid: dict[str, str] = {}
        at: dict[str, tuple[str, ...]] = {}
        for d in walk:
            texts, why = self._at(f"_dmarc.{d}")
            if why:
                unknown[f"_dmarc.{d}"] = why
                continue
            at[d] = texts
            if len(texts) > 1:
                multiple.append(f"_dmarc.{d}")
            elif len(texts) == 1:
                try:
                    records[d] = parse_dmarc(texts[0])
                except DmarcError as exc:
                    invalid[d] = str(exc)
        outcome = tree_walk_outcome(domain, records)
        # what the walk would conclude can change with an unknown answer unless the domain's own
        # record decides the policy domain (the Organizational Domain may still be uncertain)
        own_decides = domain in records
        queried = [f"_dmarc.{d}" for d in outcome.queried]
        problems = [unknown[q] for q in queried if q in unknown]
        base = DmarcFound(
            reading="rfc9989",
            domain=domain,
            policy_domain=outcome.policy_domain,
            name=f"_dmarc.{outcome.policy_domain or domain}",
            records_at_name=at.get(outcome.policy_domain or domain, ()),
            record=outcome.record,
            organizational_domain=outcome.organizational_domain,
            answers=self._consulted(queried),
            # (only the names the policy search passed by: those above the record found do not change it)
            multiple=tuple(m for m in multiple if m in queried[: _upto(queried, outcome.policy_domain)]),
            unsure=tuple(problems) if own_decides else (),
            error="" if own_decides or not problems else f"could not test: {problems[0]}",
        )
        if outcome.record is None and domain in invalid:
            # the domain's own record is broken as a whole: found, and not applied
            return replace(base, policy_domain=domain, name=f"_dmarc.{domain}", invalid=invalid[domain])
        if outcome.record is None and f"_dmarc.{domain}" in multiple:
            return replace(base, invalid=_many(f"_dmarc.{domain}", at[domain]))
        return base


def _upto(queried: list[str], policy_domain: str | None) -> int:
    """How many of the walk's names precede the policy record's, and it (all when there is none)."""
    name = f"_dmarc.{policy_domain}"
    return queried.index(name) + 1 if policy_domain is not None and name in queried else len(queried)


def _many(name: str, texts: tuple[str, ...]) -> str:
    return f"{name} has {len(texts)} DMARC records, and more than one means no DMARC at all"


@dataclass(frozen=True, slots=True)
class DmarcFound:
    """What one reading's policy discovery found for a domain (:meth:`DmarcSurvey.discover`)."""

    reading: Reading
    #: the domain whose policy was looked for (lower-case, no trailing dot)
    domain: str
    #: where the record to apply was found (the domain, or its Organizational Domain), or None
    policy_domain: str | None
    #: the ``_dmarc`` name the discovery ended at (where the record is; the domain's own when none)
    name: str
    #: the DMARC records (texts starting ``v=DMARC1``) at :attr:`name`
    records_at_name: tuple[str, ...]
    #: the record that applies, parsed, or None (none found, several, or invalid as a whole)
    record: DmarcRecord | None
    #: the Organizational Domain by this reading (the domain itself when the walk found none)
    organizational_domain: str
    #: the TXT answers this discovery rests on, in the order asked
    answers: tuple[DnsAnswer, ...] = ()
    #: why a DMARC record was found and still does not apply ("" when it applies, or when none was found)
    invalid: str = ""
    #: the names met with more than one DMARC record (each such set is discarded)
    multiple: tuple[str, ...] = ()
    #: answers that did not come and on which the policy does not depend (the tree walk's
    #: Organizational Domain may)
    unsure: tuple[str, ...] = ()
    #: why discovery could not finish: the answer it needed did not come ("" when it finished)
    error: str = ""

    @property
    def found(self) -> bool:
        """Whether the discovery found DMARC records at all (applicable or not)."""
        return bool(self.records_at_name)

    @property
    def where(self) -> str:
        """The reading and the name, for messages."""
        return f"{READING_NAMES[self.reading]}: {self.name}"

    # -- the Fact shape ---------------------------------------------------------------------------
    @property
    def definite(self) -> bool:
        return not self.error

    @property
    def problem(self) -> str:
        return self.error

    def evidence(self) -> list[str]:
        out: list[str] = []
        for a in self.answers:
            out += a.evidence()
        return out


@dataclass(frozen=True, slots=True)
class DkimSurvey:
    """The DKIM key records of one domain's configured selectors, and its ``_domainkey`` node."""

    domain: str
    namespace: DnsAnswer
    #: (selector, the TXT answer at ``<selector>._domainkey.<domain>``)
    selectors: tuple[tuple[str, DnsAnswer], ...] = ()

    def selector(self, name: str) -> DnsAnswer | None:
        for s, a in self.selectors:
            if s == name:
                return a
        return None

    @property
    def definite(self) -> bool:
        return self.namespace.definite and all(a.definite for _, a in self.selectors)

    @property
    def problem(self) -> str:
        for a in (self.namespace, *(a for _, a in self.selectors)):
            if not a.definite:
                return a.problem
        return ""

    def evidence(self) -> list[str]:
        out = self.namespace.evidence()
        for _, a in self.selectors:
            out += a.evidence()
        return out


@dataclass(frozen=True, slots=True)
class MtaStsSurvey:
    """One domain's MTA-STS record, its policy host's addresses, and its TLS-RPT record."""

    domain: str
    txt: DnsAnswer  #: ``_mta-sts.<domain>`` TXT
    tlsrpt: DnsAnswer  #: ``_smtp._tls.<domain>`` TXT
    host_a: DnsAnswer  #: ``mta-sts.<domain>`` A
    host_aaaa: DnsAnswer  #: ``mta-sts.<domain>`` AAAA

    @property
    def definite(self) -> bool:
        return self.txt.definite and self.tlsrpt.definite

    @property
    def problem(self) -> str:
        for a in (self.txt, self.tlsrpt):
            if not a.definite:
                return a.problem
        return ""

    @property
    def sts_records(self) -> tuple[str, ...]:
        """The ``v=STSv1`` records at ``_mta-sts.<domain>`` (RFC 8461 §3.1: exactly one is usable)."""
        return mtasts_records(txt_value(r.data) for r in self.txt.records if r.rdtype == "TXT")

    @property
    def host_ips(self) -> list[str]:
        """The policy host's addresses (IPv4 first)."""
        out: list[str] = []
        for ans in (self.host_a, self.host_aaaa):
            out += [r.data for r in ans.records if r.rdtype in ("A", "AAAA")]
        return out

    def evidence(self) -> list[str]:
        return self.txt.evidence() + self.tlsrpt.evidence()
