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
* :class:`DkimSurvey` (``dkim``), per domain: ``_domainkey.<domain>`` and each configured selector;
* :class:`MtaStsSurvey` (``mtasts``), per domain: ``_mta-sts`` and ``_smtp._tls`` TXT and the policy
  host's addresses; the policy fetch is :class:`mailspec.facts.mtasts.MtaStsFetch`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailspec.facts.dns import DnsAnswer

__all__ = ["DkimSurvey", "DmarcSurvey", "DnsLookups", "MtaStsSurvey"]


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
    def host_ips(self) -> list[str]:
        """The policy host's addresses (IPv4 first)."""
        out: list[str] = []
        for ans in (self.host_a, self.host_aaaa):
            out += [r.data for r in ans.records if r.rdtype in ("A", "AAAA")]
        return out

    def evidence(self) -> list[str]:
        return self.txt.evidence() + self.tlsrpt.evidence()
