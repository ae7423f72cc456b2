"""DMARC (RFC 7489, with RFC 9989's deltas), per domain (`pytest --mail-checks` lists every check).

Each check reads the domain's policy as both specifications find it: RFC 7489 (``_dmarc.<domain>``,
then the Public Suffix List's Organizational Domain) and RFC 9989 (the DNS tree walk). They agree
for nearly every domain; where they do not (a private suffix, a deep name, several records at the
domain's own name), every message says which reading found which record (CATALOG.md §16.18).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing
from mailspec.errors import Indeterminate
from mailspec.facts import DomainDns, need
from mailspec.facts.auth import READING_NAMES, DmarcFound, DmarcSurvey
from mailspec.facts.dns import DnsAnswer
from mailspec.facts.smtp import ReportRcpts
from mailspec.outcome import evidence, note, warn
from mailspec.records.dmarc import (
    DmarcError,
    DmarcRecord,
    Reading,
    ReportUri,
    Subject,
    is_dmarc,
    needs_report_authorization,
    parse_dmarc,
    psl_organizational_domain,
    report_authorization_name,
)
from mailspec.records.spf import authorises_hosts, is_spf
from mailspec.records.txt import txt_value

if TYPE_CHECKING:  # (the settings module loads the survey, which a check never does)
    from mailspec.settings import Settings

__all__ = [
    "test_dmarc_alignment_feasible",
    "test_dmarc_misplaced",
    "test_dmarc_pct",
    "test_dmarc_policy",
    "test_dmarc_present",
    "test_dmarc_rua_deliverable",
    "test_dmarc_rua_external_authorized",
    "test_dmarc_rua_present",
    "test_dmarc_single",
    "test_dmarc_subdomain_policy",
    "test_dmarc_syntax",
]

READINGS: tuple[Reading, ...] = ("rfc7489", "rfc9989")
#: report destinations followed per record, at most (the survey's own cap, MAX_REPORT_URIS)
_MAX_URIS = 10
_EXAMPLE = "v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"


# ------------------------------------------------------------------------------------------ helpers
def _texts(answer: DnsAnswer) -> list[str]:
    return [txt_value(r.data) for r in answer.records if r.rdtype == "TXT"]


def _discover(survey: DmarcSurvey) -> tuple[DmarcFound, DmarcFound]:
    """Both readings' discovery; could not test when either lacks an answer it depends on."""
    found = tuple(survey.discover(r) for r in READINGS)
    for f in found:
        evidence(f)
    for f in found:
        if f.error:
            raise Indeterminate(f.error)
        for why in f.unsure:
            note(f"{READING_NAMES[f.reading]}: the Organizational Domain is uncertain ({why})")
    return found[0], found[1]


class _Judged:
    """One record to judge, and the readings that apply it (both, when they found the same one)."""

    def __init__(self, found: DmarcFound, record: DmarcRecord, readings: tuple[Reading, ...]) -> None:
        self.found = found
        self.record = record
        self.readings = readings

    @property
    def label(self) -> str:
        if len(self.readings) == len(READINGS):
            return f"the DMARC record at {self.found.name}"
        reading = READING_NAMES[self.readings[0]]
        return f"the DMARC record at {self.found.name} (as the {reading} reading finds it)"

    @property
    def subject(self) -> Subject:
        """Whom the record's policy is for here: the domain itself, or (found at the Organizational
        Domain) a subdomain of it, to which ``sp`` applies."""
        return "domain" if self.found.policy_domain == self.found.domain else "subdomain"


def _applied(survey: DmarcSurvey) -> list[_Judged]:
    """The records that apply (one when both readings found the same); skip when there is none."""
    both = _discover(survey)
    out: list[_Judged] = []
    for f in both:
        if f.record is None:
            continue
        same = next((j for j in out if j.found.name == f.name and j.record.text == f.record.text), None)
        if same is not None:
            same.readings = (*same.readings, f.reading)
        else:
            out.append(_Judged(f, f.record, (f.reading,)))
    if not out:
        why = next((f.invalid for f in both if f.invalid), "")
        if why:
            pytest.skip(f"no DMARC record applies to {survey.domain}: {why} (see dmarc.single, dmarc.syntax)")
        pytest.skip(f"{survey.domain} publishes no DMARC record (see dmarc.present)")
    if len(out) == 1 and len(out[0].readings) == 1:
        other = next(f for f in both if f.reading != out[0].readings[0])
        note(
            f"only the {READING_NAMES[out[0].readings[0]]} reading applies a record ({out[0].found.name}); "
            f"the {READING_NAMES[other.reading]} reading applies none"
            + (f": {other.invalid}" if other.invalid else "")
        )
    return out


def _uris(record: DmarcRecord) -> list[tuple[str, ReportUri]]:
    """The record's report URIs as the survey followed them: (tag, URI), rua first, at most ten."""
    tagged = [("rua", u) for u in record.rua] + [("ruf", u) for u in record.ruf]
    if len(tagged) > _MAX_URIS:
        note(f"only the first {_MAX_URIS} of {len(tagged)} report URIs were followed")
    return tagged[:_MAX_URIS]


def _got(survey: DmarcSurvey, qname: str, rdtype: str) -> DnsAnswer:
    answer = survey.lookups.get(qname, rdtype)
    if answer is None:
        raise Indeterminate(f"could not test: {survey.error or f'{qname} {rdtype} was not asked'}")
    evidence(answer)
    need(answer)
    return answer


# ------------------------------------------------------------------------------------ discovery
@check(
    "dmarc.present",
    refs=[
        "RFC 7489 §6.1, §6.6.3 steps 1–3, §3.2",
        "RFC 9989 §4.10 (DNS tree walk)",
        'Google sender guidelines (bulk: "Set up DMARC … can be set to none")',
        "Yahoo Sender Hub best practices",
    ],
    fix='Publish a TXT record at _dmarc.<domain>: "v=DMARC1; p=none; rua=mailto:<a mailbox you read>", '
    "then raise p to quarantine or reject once the reports show your mail aligns.",
)
def test_dmarc_present(dns_facts: DomainDns, dmarc_survey: DmarcSurvey) -> None:
    """The domain (or its organisational domain) publishes a DMARC record.

    Both readings are asked: RFC 7489 (the domain's own ``_dmarc`` name, then the Public Suffix
    List's Organizational Domain's) and RFC 9989 (the DNS tree walk). When only one of them finds a
    record, receivers that follow the other apply no DMARC: a warning. Several records, or a record
    invalid as a whole, still count as published here (dmarc.single and dmarc.syntax report them).
    A domain that does not exist skips (dns.domain.exists reports it).
    """
    existing(dns_facts)
    psl, walk = _discover(dmarc_survey)
    d = psl.domain
    if psl.found and walk.found:
        if psl.name == walk.name:
            note(f"both readings find the DMARC record at {psl.name}")
        else:
            note(
                f"the readings disagree on where {d}'s DMARC record is: {psl.where}; {walk.where} "
                f"(Organizational Domain {psl.organizational_domain} by the PSL, "
                f"{walk.organizational_domain} by the tree walk)"
            )
        return
    walked = ", ".join(a.qname for a in walk.answers) or walk.name
    if psl.found or walk.found:
        finds, misses = (psl, walk) if psl.found else (walk, psl)
        warn(
            f"only the {READING_NAMES[finds.reading]} reading finds a DMARC record for {d} ({finds.name}); "
            f"the {READING_NAMES[misses.reading]} reading finds none (it asked "
            f"{', '.join(a.qname for a in misses.answers) or misses.name}), so receivers that follow "
            "it apply no DMARC policy (RFC 7489 §6.6.3, §3.2; RFC 9989 §4.10). Publish the record at "
            f"_dmarc.{d} itself, which both readings ask first."
        )
    org = psl.organizational_domain
    asked_org = f", nor its Organizational Domain's _dmarc.{org} (Public Suffix List)" if org != d else ""
    pytest.fail(
        f"{d} publishes no DMARC record: _dmarc.{d} has none{asked_org}, and RFC 9989's tree walk "
        f"({walked}) found none either. Receivers apply no DMARC policy to mail from {d}, and Google and "
        "Yahoo require one of bulk senders, p=none sufficing (RFC 7489 §6.1, §6.6.3; Google sender "
        f'guidelines). Publish _dmarc.{d} TXT "{_EXAMPLE.format(domain=d)}".'
    )


@check(
    "dmarc.single",
    refs=["RFC 7489 §6.6.3 step 5", "RFC 9989 §4.10"],
    fix="Merge the DMARC records at the name into one TXT record (one policy, one rua list) and delete "
    "the others.",
)
def test_dmarc_single(dmarc_survey: DmarcSurvey) -> None:
    """The domain publishes exactly one DMARC record.

    Only TXT records that start with ``v=DMARC1`` count (an SPF record at the same name, through a
    wildcard, is no DMARC record; dmarc.misplaced reports it). Every name either reading met is
    looked at: under RFC 7489 several records at the name asked mean no DMARC at all, and RFC 9989's
    walk passes such a name by, which may apply a record higher up instead.
    """
    psl, walk = _discover(dmarc_survey)
    if not psl.found and not walk.found and not psl.multiple and not walk.multiple:
        pytest.skip(f"{psl.domain} publishes no DMARC record (see dmarc.present)")
    names = list(dict.fromkeys((*psl.multiple, *walk.multiple)))
    counts = []
    for name in names:
        answer = dmarc_survey.lookups.txt(name)
        texts = [t for t in _texts(answer) if is_dmarc(t)] if answer is not None else []
        counts.append(f"{name} has {len(texts)}: " + "; ".join(repr(t) for t in texts))
    effect = []
    for f in (psl, walk):
        if f.multiple:
            effect.append(
                f"the {READING_NAMES[f.reading]} reading "
                + (f"applies the record at {f.name} instead" if f.record is not None else "applies no DMARC")
            )
    assert not names, (
        f"more than one DMARC record: {'; '.join(counts)}. After discarding the TXT records that do not "
        f"start with v=DMARC1, exactly one must remain, or DMARC is not applied ({', '.join(effect)}; "
        "RFC 7489 §6.6.3 step 5). Merge them into one record."
    )


# ----------------------------------------------------------------------------------- the record
def _syntax_problems(judged: _Judged) -> tuple[list[str], list[str]]:
    """(failures, warnings) of one record: what the current reading (RFC 9989) or both readings
    reject fails; what only RFC 7489 rejects, and RFC 9989 accepts, warns (old receivers read it)."""
    failures: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for reading in judged.readings:
        for p in judged.record.problems_for(reading):
            if p.message in seen:
                continue
            seen.add(p.message)
            if p.readings == ("rfc7489",):
                warnings.append(f"{p.message} (RFC 7489 only)")
            elif p.readings == ("rfc9989",):
                failures.append(f"{p.message} (RFC 9989)")
            else:
                failures.append(p.message)
    return failures, warnings


@check(
    "dmarc.syntax",
    refs=["RFC 7489 §6.3, §6.4, §6.6.3 step 6", "RFC 9091 (np)", "RFC 9989 §4.7, §4.8 (via checkdmarc)"],
    fix='Write the record as "v=DMARC1; p=<none|quarantine|reject>; ..." with v first and p second, '
    "each tag once, each value one the RFC lists.",
)
def test_dmarc_syntax(dmarc_survey: DmarcSurvey) -> None:
    """The DMARC record is syntactically valid.

    A tag given twice makes the record invalid as a whole (RFC 6376 §3.2's tag-list): it fails. An
    invalid value (p, sp, np, adkim, aspf, fo, a report URI) fails: the tag falls back to its
    default, and an invalid p or sp without a valid rua means no DMARC at all (RFC 7489 §6.6.3 step
    6), and so does a record that a reading applies not at all. What only RFC 7489 rejects and RFC 9989
    accepts (no p when a valid rua makes it p=none, p not second, a bad pct, rf or ri) warns: receivers
    of the old specification still read it so. Unknown tags are ignored (a note).
    """
    psl, walk = _discover(dmarc_survey)
    broken = [f for f in (psl, walk) if f.found and len(f.records_at_name) == 1 and f.invalid]
    for f in broken:
        pytest.fail(
            f"the DMARC record at {f.name} ({f.records_at_name[0]!r}) is invalid as a whole: {f.invalid}. "
            f"Receivers apply no DMARC with it ({READING_NAMES[f.reading]}; RFC 7489 §6.3). "
            "Give each tag once."
        )
    judged = _applied(dmarc_survey)
    failures: list[str] = []
    warnings: list[str] = []
    for j in judged:
        fails, warns = _syntax_problems(j)
        failures += [f"{j.label}: {m}" for m in fails]
        warnings += [f"{j.label}: {m}" for m in warns]
        if j.record.unknown_tags:
            note(f"{j.label}: unknown tags {', '.join(j.record.unknown_tags)} are ignored (RFC 7489 §6.3)")
        for reading in j.readings:
            if not j.record.applies(reading):
                failures.append(
                    f"{j.label}: the {READING_NAMES[reading]} reading applies no DMARC with it, since it has "
                    "no valid policy and no valid rua (RFC 7489 §6.6.3 step 6)"
                )
            elif j.record.acts_as_none(reading):
                m = (
                    f"{j.label}: without a valid policy, the {READING_NAMES[reading]} reading treats it as "
                    "p=none because it has a valid rua (RFC 7489 §6.6.3 step 6)"
                )
                (failures if reading == "rfc9989" or j.record.has("p") else warnings).append(m)
    assert not failures, (
        f"the DMARC record is not valid: {'; '.join(failures)}. Invalid tags take their defaults, and "
        "an invalid policy with no valid rua leaves the domain without DMARC (RFC 7489 §6.3, §6.6.3 step 6; "
        "RFC 9989 §4.7). Correct the record."
    )
    if warnings:
        warn(
            f"{'; '.join(warnings)}. RFC 9989 accepts this, but receivers still reading RFC 7489 do not "
            "(RFC 7489 §6.3: p is required and comes right after v). Put p second: "
            '"v=DMARC1; p=none; ...".'
        )


@check(
    "dmarc.policy",
    refs=[
        "RFC 7489 §6.3 (p)",
        "Google/Yahoo bulk sender requirements (p=none acceptable)",
        "RFC 9989 §4.7 (t, via checkdmarc)",
    ],
    fix="Once the aggregate reports show that your own mail passes DMARC, set p=quarantine, then "
    "p=reject (and drop t=y).",
)
def test_dmarc_policy(dmarc_survey: DmarcSurvey) -> None:
    """The DMARC policy is quarantine or reject.

    p=none (monitoring only) warns: it meets Google's and Yahoo's minimum but protects nobody. So does
    RFC 9989's test mode (t=y), which lowers an enforcing policy one step. A record found at the
    Organizational Domain applies its subdomain policy (sp, else p) to the domain.
    """
    findings: list[str] = []
    for j in _applied(dmarc_survey):
        # a record both readings apply is reported once, unless they read its policy differently
        same = len(
            {(j.record.policy(r, j.subject), j.record.applied_policy(r, j.subject)) for r in j.readings}
        )
        for reading in j.readings[:1] if same == 1 else j.readings:
            published = j.record.policy(reading, j.subject)
            applied = j.record.applied_policy(reading, j.subject)
            who = "" if same == 1 else f" ({READING_NAMES[reading]})"
            tag = "p" if j.subject == "domain" else "sp (or p)"
            if published is None:
                findings.append(
                    f"{j.label}{who} applies no DMARC at all: it has no valid p and no valid rua "
                    "(RFC 7489 §6.6.3 step 6; see dmarc.syntax)"
                )
            elif published == "none":
                why = " (it has no valid policy)" if j.record.acts_as_none(reading) else ""
                findings.append(f"{j.label}{who} asks for {tag}=none{why}: monitoring only")
            elif applied != published:
                findings.append(
                    f"{j.label}{who} is in test mode (t=y): receivers apply {applied}, not {published} "
                    "(RFC 9989 §4.7)"
                )
            else:
                note(f"{j.label}{who}: {tag}={published}")
    if findings:
        warn(
            f"{'; '.join(dict.fromkeys(findings))}. Receivers deliver mail that fails DMARC as usual, so "
            f"anyone can still send as {dmarc_survey.domain} (RFC 7489 §6.3; p=none meets Google's and "
            "Yahoo's minimum). Move to p=quarantine, then p=reject, once the reports show your mail aligns."
        )


@check(
    "dmarc.subdomain-policy",
    refs=["RFC 7489 §6.3 (sp)", "RFC 9091 §4 (np)"],
    fix="Remove sp=none and np=none (subdomains then take p), or set them to quarantine or reject.",
)
def test_dmarc_subdomain_policy(dmarc_survey: DmarcSurvey) -> None:
    """The DMARC policy does not exempt subdomains (sp=none or np=none).

    Only an enforcing p is judged: with p=none there is nothing for subdomains to be exempt from
    (dmarc.policy reports that).
    """
    findings: list[str] = []
    enforcing = False
    for j in _applied(dmarc_survey):
        for reading in j.readings:
            if j.record.policy(reading) not in ("quarantine", "reject"):
                continue
            enforcing = True
            exempt = [t for t, v in (("sp", j.record.sp), ("np", j.record.np)) if v == "none"]
            if exempt:
                none = " and ".join(f"{t}=none" for t in exempt)
                findings.append(f"{j.label} has p={j.record.p} but {none}")
    if not enforcing:
        pytest.skip(f"the DMARC policy of {dmarc_survey.domain} does not enforce (see dmarc.policy)")
    if findings:
        warn(
            f"{'; '.join(dict.fromkeys(findings))}: mail from existing (sp) or non-existent (np) "
            f"subdomains of the policy domain is not protected, so anyone can send as "
            f"anything.{dmarc_survey.domain} (RFC 7489 §6.3, RFC 9091 §4). Remove sp=none and np=none."
        )


@check(
    "dmarc.pct",
    refs=["RFC 7489 §6.3, §6.6.4", "RFC 9989 Appendix C.5.2 (via checkdmarc #252, mailauth v7)"],
    fix="Remove pct (and rf, ri): RFC 9989 dropped them; to stage a rollout, use p=quarantine, or t=y.",
)
def test_dmarc_pct(dmarc_survey: DmarcSurvey) -> None:
    """The DMARC policy applies to all mail (no pct below 100, no historic tags).

    Under RFC 7489 an enforcing p with pct below 100 applies to that share of failing mail only.
    RFC 9989 removed pct, rf and ri: a record that still has them warns ("historic tag").
    """
    findings: list[str] = []
    for j in _applied(dmarc_survey):
        enforcing = j.record.policy("rfc7489", j.subject) in ("quarantine", "reject")
        if "rfc7489" in j.readings and j.record.pct < 100 and enforcing:
            findings.append(
                f"{j.label} has pct={j.record.pct}: RFC 7489 receivers apply "
                f"{j.record.policy('rfc7489', j.subject)} to {j.record.pct} % of failing mail only, the "
                "next lower policy to the rest (RFC 7489 §6.6.4)"
            )
        if "rfc9989" in j.readings and j.record.historic_tags:
            findings.append(
                f"{j.label} has the historic tag{'s' if len(j.record.historic_tags) > 1 else ''} "
                f"{', '.join(j.record.historic_tags)}, which RFC 9989 removed and its receivers ignore"
            )
    if findings:
        warn(f"{'; '.join(findings)}. Remove pct (and rf, ri); stage a rollout with p=quarantine or t=y.")


# ------------------------------------------------------------------------------------- reports
@check(
    "dmarc.rua.present",
    refs=["RFC 7489 §6.2, §6.3 (rua)"],
    fix="Add rua=mailto:<a mailbox you read> to the DMARC record (a report-processing service's "
    "address works too, with its authorisation record).",
)
def test_dmarc_rua_present(dmarc_survey: DmarcSurvey) -> None:
    """The DMARC record asks for aggregate reports (rua).

    At least one syntactically valid rua URI, and a mailto: one among them, since mailto: is the only
    scheme receivers must support. A size suffix (``!10m``) is RFC 7489 syntax that RFC 9989 only
    keeps as obsolete: a note.
    """
    findings: list[str] = []
    for j in _applied(dmarc_survey):
        if not j.record.rua:
            bad = "an invalid rua (see dmarc.syntax)" if j.record.has("rua") else "no rua tag"
            findings.append(f"{j.label} has {bad}")
        elif not any(u.is_mailto for u in j.record.rua):
            findings.append(
                f"{j.label} has no mailto: rua URI ({', '.join(u.uri for u in j.record.rua)}); receivers "
                "need only support mailto: (RFC 7489 §6.2)"
            )
        sized = [f"{u.uri}!{u.size_text}" for u in j.record.rua if u.size_text]
        if sized:
            note(f"{j.label}: the size suffix of {', '.join(sized)} is obsolete under RFC 9989 §4.8")
    if findings:
        warn(
            f"{'; '.join(findings)}: no aggregate reports, so you cannot see who sends as "
            f"{dmarc_survey.domain} or whether your own mail aligns before enforcing (RFC 7489 §6.2, §6.3). "
            f"Add rua=mailto:dmarc-reports@{dmarc_survey.domain}."
        )


@check(
    "dmarc.rua.external-authorized",
    refs=["RFC 7489 §7.1 (steps 1–8)", "RFC 9990 §4 / RFC 9991 §5 (via implementer notes)"],
    fix='Ask the report destination to publish TXT "v=DMARC1" at <policy-domain>._report._dmarc.'
    "<destination-host>, or send reports to an address within your own organisational domain.",
)
def test_dmarc_rua_external_authorized(dmarc_survey: DmarcSurvey) -> None:
    """Each external DMARC report destination authorises the domain's reports.

    A destination outside the policy domain's Organizational Domain (by the Public Suffix List; the
    survey does not walk the destinations' trees) must publish a TXT record starting ``v=DMARC1``
    at ``<policy-domain>._report._dmarc.<destination-host>``, or receivers MUST ignore the URI. An
    override rua/ruf in that record may only name addresses at the same host. Only mailto: URIs are
    followed (a note for others).
    """
    failures: list[str] = []
    checked = 0
    for j in _applied(dmarc_survey):
        policy_domain = j.found.policy_domain or j.found.domain
        for tag, uri in _uris(j.record):
            if not uri.is_mailto or not uri.host:
                note(f"{j.label}: {tag} {uri.uri} is not a mailto: URI; its authorisation was not checked")
                continue
            if not needs_report_authorization(policy_domain, uri.host):
                continue
            checked += 1
            name = report_authorization_name(policy_domain, uri.host)
            texts = [t for t in _texts(_got(dmarc_survey, name, "TXT")) if is_dmarc(t)]
            if not texts:
                failures.append(
                    f"{tag} {uri.uri} is outside {psl_organizational_domain(policy_domain)}, and {name} "
                    "has no TXT record starting v=DMARC1, so receivers MUST ignore it"
                )
                continue
            for text in texts:
                try:
                    auth = parse_dmarc(text)
                except DmarcError:
                    continue
                moved = [u.uri for u in (*auth.rua, *auth.ruf) if u.host != uri.host]
                if moved:
                    failures.append(
                        f"{name} authorises {uri.host} but overrides the destination with "
                        f"{', '.join(moved)}, at another host than {uri.host} (RFC 7489 §7.1 step 6: "
                        "receivers ignore it)"
                    )
    if checked == 0:
        note("every report destination is within the policy domain's Organizational Domain")
    assert not failures, (
        f'{"; ".join(failures)} (RFC 7489 §7.1). Ask each destination to publish TXT "v=DMARC1" at '
        "<policy-domain>._report._dmarc.<destination-host>, or send reports to an address of your own."
    )


@check(
    "dmarc.rua.deliverable",
    refs=["RFC 7489 §7.2.1.1", 'checkdmarc "missing MX" warning', "RFC 5321 §4.2.1, §4.2.2 (RCPT replies)"],
    fix="Give each report address's domain an MX record (or an address), create the report mailbox "
    "at that domain's mail server, or report to an address that takes mail.",
)
def test_dmarc_rua_deliverable(dmarc_survey: DmarcSurvey, dmarc_report_rcpts: ReportRcpts) -> None:
    """The domain of each DMARC report address can receive mail.

    Each mailto: destination's domain (rua and ruf) needs a non-null MX, or, without any MX, an A or
    AAAA record (RFC 5321 §5.1's implicit MX); a null MX (RFC 7505) takes no mail. At
    --mail-probe=envelope and above, each address is also asked for at its domain's most preferred
    MX (``MAIL FROM:<>``, ``RCPT TO:<address>``, never DATA): a 5yz refusal fails, a 4yz that a retry
    after the greylisting pause still gets warns, and a probe that could not be made (no connection,
    a timeout, a refused greeting or MAIL) leaves the DNS verdict standing, with a note that says so.
    """
    failures: list[str] = []
    hosts: dict[str, str] = {}
    addresses: dict[str, tuple[str, str]] = {}
    for j in _applied(dmarc_survey):
        for tag, uri in _uris(j.record):
            if uri.is_mailto and uri.host:
                hosts.setdefault(uri.host, f"{tag} {uri.uri}")
                if uri.address:
                    addresses.setdefault(uri.address.lower(), (uri.address, f"{tag} {uri.uri}"))
    if not hosts:
        pytest.skip(f"the DMARC record of {dmarc_survey.domain} names no mailto: report address")
    deliverable: set[str] = set()
    for host, what in hosts.items():
        mx = _got(dmarc_survey, host, "MX")
        usable = [r for r in mx.records if r.target != ""]
        if usable:
            deliverable.add(host)
            continue
        if mx.records:
            failures.append(f"{what}: {host} has a null MX (MX 0 .): it takes no mail (RFC 7505)")
            continue
        a, aaaa = _got(dmarc_survey, host, "A"), _got(dmarc_survey, host, "AAAA")
        if not (a.records or aaaa.records):
            state = "does not exist (NXDOMAIN)" if mx.nxdomain else "has no MX and no A/AAAA record"
            failures.append(f"{what}: {host} {state}")
        else:
            deliverable.add(host)
    transient = _report_rcpts(dmarc_report_rcpts, addresses, deliverable, failures)
    assert not failures, (
        f"{'; '.join(failures + transient)}: receivers cannot deliver the domain's DMARC reports there "
        "(RFC 7489 §7.2.1.1). Give the report domain an MX record, create the report mailbox at its mail "
        "server, or report to an address that takes mail."
    )
    if transient:
        warn(
            f"{'; '.join(transient)}. A 4yz reply (even after a retry) is transient (RFC 5321 §4.2.1): "
            "receivers queue their reports and may give up; a refusal that names no mailbox status may "
            "be of this probe, not of the address. Make sure the mail server accepts mail for the report "
            "address (exempt it from greylisting and from the client checks a report sender may fail)."
        )


def _report_rcpts(
    probes: ReportRcpts, addresses: dict[str, tuple[str, str]], deliverable: set[str], failures: list[str]
) -> list[str]:
    """The RCPT half of dmarc.rua.deliverable: a refused report address joins ``failures``; the ones
    still refused for now (4yz after the retry) are returned; what could not be asked is noted."""
    transient: list[str] = []
    if probes.error:
        note(f"the report addresses were not asked for at their MX: {probes.error}")
        return transient
    for key, (address, what) in addresses.items():
        if address.rpartition("@")[2].lower() not in deliverable:
            continue  # (its domain takes no mail: the DNS half said so)
        probe = probes.get(key)
        if probe is None:
            note(f"{what}: the RCPT probe of {address} could not be made (it was not asked)")
            continue
        evidence(probe.evidence())
        reply, envelope = probe.reply, probe.rcpt
        if probe.untried or reply is None or envelope is None:
            note(f"{what}: the RCPT probe of {address} could not be made ({probe.untried or 'no reply'}); "
                 "the DNS verdict stands")  # fmt: skip
            continue
        domain = address.rpartition("@")[2]
        at = f"{probe.where} ({'the address' if probe.host.lower() == domain.lower() else 'MX'} of {domain})"
        via = " inside TLS" if envelope.tls else ""
        sender = f" from <{envelope.sender}>" if envelope.sender else ""
        null = probe.null_refused
        refused_null = f"{null.describe()}, and " if null is not None else ""
        if reply.kind == 5 and _tls_demanded(reply.reply) and not envelope.tls:
            note(f"{what}: {at} asks for STARTTLS before RCPT ({reply.reply}), which this probe could not "
                 "use; the DNS verdict stands")  # fmt: skip
        elif reply.kind == 5 and not _about_the_mailbox(reply.reply):
            # (a refusal of the probe rather than of the address: a blocklist of this machine, its
            # reverse DNS, its sender; the report MX is often a third party's, so no failure)
            transient.append(
                f"{what}: {at} refuses RCPT TO:<{address}>{via}{sender} with {reply.reply}: not a "
                "mailbox status (RFC 3463 X.1.x, X.2.x), so it may refuse this probe rather than the "
                "address; check that reports reach it"
            )
        elif reply.kind == 5:
            failures.append(f"{what}: {at} refuses the address{via}: {refused_null}{envelope.describe()}")
        elif reply.kind == 4:
            retried = " (also when asked again after a pause)" if reply.first else ""
            transient.append(
                f"{what}: {at} answered RCPT TO:<{address}>{via}{sender} with {reply.reply}{retried}"
            )
        elif reply.kind == 2:
            note(f"{what}: {at} accepts RCPT TO:<{address}>{via}{sender} ({reply.reply})")
            if null is not None:
                note(
                    f"{what}: it refuses the address from the null sender ({null.describe()}): a report "
                    "sent with an empty reverse-path would bounce (most report senders use one of their "
                    "own; RFC 5321 §4.5.5 keeps the null sender for bounces)"
                )
        else:
            note(f"{what}: the RCPT probe of {address} got no usable reply ({reply.reply}); the DNS "
                 "verdict stands")  # fmt: skip
    return transient


_ENHANCED = re.compile(r"^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b")


def _about_the_mailbox(reply: str) -> bool:
    """A 5yz RCPT reply that is about the recipient's mailbox: an enhanced status code of the address
    or mailbox classes (RFC 3463 §3.2, §3.3: X.1.x, X.2.x), or, without one, words that say so."""
    m = _ENHANCED.match(reply.strip())
    if m:
        return m.group(2) in ("1", "2")
    text = reply.lower()
    return any(w in text for w in ("user unknown", "no such user", "mailbox unavailable", "unknown user",
                                   "does not exist", "recipient address rejected"))  # fmt: skip


def _tls_demanded(reply: str) -> bool:
    """The reply asks for STARTTLS first (530 5.7.0, RFC 3207 §4)."""
    text = reply.lower()
    return reply.startswith("530") or "starttls" in text


# ----------------------------------------------------------------------------------- placement
@check(
    "dmarc.misplaced",
    refs=["RFC 7489 §6.1", "RFC 7208 §3.5 (wildcards)"],
    fix="Move the DMARC record from the apex to _dmarc.<domain>; replace a wildcard TXT (*.<domain>) "
    "that puts SPF text at _dmarc with records at the names that need them.",
)
def test_dmarc_misplaced(dns_facts: DomainDns, dmarc_survey: DmarcSurvey) -> None:
    """DMARC and SPF records are at their own names, not misplaced.

    A ``v=DMARC1`` TXT at the domain's apex has no effect (receivers ask ``_dmarc.<domain>`` only);
    SPF text at ``_dmarc.<domain>`` is usually a wildcard TXT answering for every name.
    """
    d = dns_facts.domain
    evidence(dns_facts.txt)
    need(dns_facts.txt)
    own = _got(dmarc_survey, f"_dmarc.{d}", "TXT")
    findings: list[str] = []
    at_apex = [t for t in _texts(dns_facts.txt) if is_dmarc(t)]
    if at_apex:
        findings.append(
            f"{d} has a DMARC record at its apex ({at_apex[0]!r}), where it has no effect: receivers ask "
            f"_dmarc.{d} only (RFC 7489 §6.1). Move it to _dmarc.{d}"
        )
    spf = [t for t in _texts(own) if is_spf(t)]
    if spf:
        wild = any(r.name.startswith("*.") for r in own.answer)
        findings.append(
            f"_dmarc.{d} answers SPF text ({spf[0]!r}){', from a wildcard' if wild else ''}: a wildcard TXT "
            "makes every name seem to have records (RFC 7208 §3.5), and a DMARC record there would share "
            "the name with it. Replace the wildcard with records at the names that need them"
        )
    if findings:
        warn("; ".join(findings) + ".")


# ----------------------------------------------------------------------------------- alignment
@check(
    "dmarc.alignment-feasible",
    refs=[
        "RFC 7489 §3.1.1, §3.1.2",
        "RFC 9989 §4.10.2 (Organizational Domain by tree walk)",
        'Google sender guidelines ("From: header must be aligned with either the SPF domain or the '
        'DKIM domain")',
    ],
    fix="Publish an SPF record for the domain that authorises its senders (and use the domain as "
    "Return-Path), or sign with DKIM under d=<domain> and pass the selector (--mail-dkim-selector).",
)
def test_dmarc_alignment_feasible(
    dns_facts: DomainDns, dmarc_survey: DmarcSurvey, mailspec_settings: Settings
) -> None:
    """SPF or DKIM can align with the From domain.

    SPF: the domain's own SPF record (the domain itself as the Return-Path domain, which aligns both
    relaxed and strict) must authorise some host. DKIM: a configured selector under ``d=<domain>``
    (aligned either way) or, with relaxed adkim, under its Organizational Domain. Relaxed alignment
    compares Organizational Domains: by the Public Suffix List (RFC 7489 §3.2) or by the tree walk
    (RFC 9989), which a note explains when they differ. A domain that does not exist, or that
    declares it sends no mail (a null MX without SPF, or an SPF record that authorises no host with
    no DKIM selector configured: the parked-domain setup), has nothing to align and skips.
    """
    d = dns_facts.domain
    existing(dns_facts)
    evidence(dns_facts.txt)
    need(dns_facts.txt)
    psl, walk = _discover(dmarc_survey)
    record = next((f.record for f in (walk, psl) if f.record is not None), None)
    adkim = record.adkim if record is not None else "r"
    if psl.organizational_domain != walk.organizational_domain:
        note(
            f"the Organizational Domain of {d} is {psl.organizational_domain} by the Public Suffix List "
            f"(RFC 7489 §3.2) but {walk.organizational_domain} by RFC 9989's tree walk: relaxed alignment "
            "of a subdomain identifier may differ between receivers"
        )
    spf = [t for t in dns_facts.spf_records if authorises_hosts(t)]
    selectors = mailspec_settings.selectors_for(d)
    org_selectors: list[str] = []
    orgs = {psl.organizational_domain, walk.organizational_domain} - {d}
    if adkim == "r":
        for org in sorted(orgs):
            org_selectors += [f"{s} (d={org})" for s in mailspec_settings.selectors_for(org)]
    if spf:
        note(f"SPF can align: {d}'s own SPF record authorises senders ({spf[0]!r})")
    if selectors:
        note(f"DKIM can align: configured selectors {', '.join(selectors)} (d={d})")
    if org_selectors:
        note(f"DKIM can align (relaxed): configured selectors {', '.join(org_selectors)}")
    if spf or selectors or org_selectors:
        return
    if dns_facts.null_mx or (dns_facts.spf_records and not spf):
        pytest.skip(
            f"{d} declares that it sends no mail ("
            + ("a null MX" if dns_facts.null_mx else f"SPF {dns_facts.spf_records[0]!r}")
            + "): no identifier needs to align"
        )
    no_spf = (
        f"{d}'s SPF record authorises no host ({dns_facts.spf_records[0]!r})"
        if dns_facts.spf_records
        else f"{d} has no SPF record"
    )
    pytest.fail(
        f"no identifier can align with the From domain {d}: {no_spf}, and no DKIM selector is configured "
        f"for {d}{' or its Organizational Domain' if orgs and adkim == 'r' else ''} (pass "
        "--mail-dkim-selector). DMARC passes only when SPF or DKIM authenticates a domain aligned with the "
        "From domain (RFC 7489 §3.1.1, §3.1.2; Google requires it of bulk senders). Publish an SPF record "
        f"for {d} that authorises its senders, or sign with DKIM under d={d}."
    )
