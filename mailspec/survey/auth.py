"""The sender-authentication part of the survey: the DNS answers of DMARC, DKIM, MTA-STS and TLS-RPT.

Each function asks what its checks read, concurrently, over the survey's memoised DNS client (a name
that two of them ask is asked once), bounded by one budget; what a record says is left to the checks
and the parsers of :mod:`mailspec.records`. DMARC's survey reads the records it found only to know
which further names to ask (each report destination's authorisation record and its MX).
"""

from __future__ import annotations

import asyncio

from mailspec.facts.auth import DkimSurvey, DmarcSurvey, DnsLookups, MtaStsSurvey
from mailspec.facts.dns import DnsAnswer
from mailspec.records.dmarc import (
    DmarcError,
    dmarc_records,
    needs_report_authorization,
    parse_dmarc,
    psl_discovery_names,
    psl_organizational_domain,
    report_authorization_name,
    tree_walk_names,
)
from mailspec.records.txt import txt_value
from mailspec.survey.dns import Budget, DnsClient

__all__ = ["MAX_REPORT_URIS", "survey_dkim", "survey_dmarc", "survey_mtasts"]

#: report destinations followed per record, at most (a record with a thousand rua URIs costs no more)
MAX_REPORT_URIS = 10


def texts(answer: DnsAnswer) -> list[str]:
    """The TXT records of an answer, each as one string (its character-strings joined)."""
    return [txt_value(r.data) for r in answer.records if r.rdtype == "TXT"]


async def survey_dmarc(client: DnsClient, domain: str, seconds: float) -> DmarcSurvey:
    """``_dmarc.<domain>``, the RFC 9989 tree walk's names and the RFC 7489 organisational domain's
    name (all at once: the walk's answers decide which of them matter), then, for each DMARC record
    found, its mailto report destinations: the authorisation record of each external one (RFC 7489
    §7.1) and the MX (and, without one, the addresses) of each destination domain (§7.2.1.1)."""
    budget = Budget(seconds, f"the DMARC records of {domain}")
    walk = tree_walk_names(domain)
    names = list(dict.fromkeys((*walk, *psl_discovery_names(domain))))
    answers = list(await asyncio.gather(*(client.query(n, "TXT", budget) for n in names)))
    follow: dict[tuple[str, str], None] = {}
    for name, ans in zip(names, answers, strict=True):
        found = dmarc_records(texts(ans))
        if len(found) != 1:
            continue
        try:
            record = parse_dmarc(found[0])
        except DmarcError:
            continue
        policy_domain = name.removeprefix("_dmarc.")
        for uri in (*record.rua, *record.ruf)[:MAX_REPORT_URIS]:
            if not uri.is_mailto or not uri.host:
                continue
            if needs_report_authorization(policy_domain, uri.host):
                follow[(report_authorization_name(policy_domain, uri.host), "TXT")] = None
            follow[(uri.host, "MX")] = None
    more = list(await asyncio.gather(*(client.query(q, t, budget) for q, t in follow)))
    # a report domain without MX is deliverable through its address (RFC 5321 §5.1's implicit MX)
    bare = [a.qname for a in more if a.rdtype == "MX" and a.definite and not a.records]
    more += await asyncio.gather(*(client.query(n, t, budget) for n in bare for t in ("A", "AAAA")))
    return DmarcSurvey(
        domain,
        DnsLookups(tuple(answers) + tuple(more)),
        psl_org=psl_organizational_domain(domain),
        walk=walk,
    )


async def survey_dkim(client: DnsClient, domain: str, selectors: list[str], seconds: float) -> DkimSurvey:
    """``_domainkey.<domain>`` (dkim.namespace) and the TXT record of each configured selector."""
    budget = Budget(seconds, f"the DKIM keys of {domain}")
    node, *keys = await asyncio.gather(
        client.query(f"_domainkey.{domain}", "TXT", budget),
        *(client.query(f"{s}._domainkey.{domain}", "TXT", budget) for s in selectors),
    )
    return DkimSurvey(domain, node, tuple(zip(selectors, keys, strict=True)))


async def survey_mtasts(client: DnsClient, domain: str, seconds: float) -> MtaStsSurvey:
    """``_mta-sts.<domain>`` and ``_smtp._tls.<domain>`` TXT, and the policy host's addresses."""
    budget = Budget(seconds, f"the MTA-STS records of {domain}")
    host = f"mta-sts.{domain}"
    txt, tlsrpt, a, aaaa = await asyncio.gather(
        client.query(f"_mta-sts.{domain}", "TXT", budget),
        client.query(f"_smtp._tls.{domain}", "TXT", budget),
        client.query(host, "A", budget),
        client.query(host, "AAAA", budget),
    )
    return MtaStsSurvey(domain, txt, tlsrpt, a, aaaa)
