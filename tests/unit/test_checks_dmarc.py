"""The DMARC checks (mailspec/checks/test_dmarc.py) and DMARC policy discovery
(:meth:`mailspec.facts.auth.DmarcSurvey.discover`) on hand-built facts, under both readings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailspec.checks import test_dmarc as checks
from mailspec.errors import Indeterminate
from mailspec.facts.auth import DmarcSurvey, DnsLookups
from mailspec.facts.base import decode, encode
from mailspec.facts.dns import DnsAnswer, DomainDns, Record
from mailspec.facts.smtp import Exchange, Rcpt, ReportRcpt, ReportRcpts
from mailspec.outcome import Finding, current, reset
from mailspec.records.dmarc import psl_discovery_names, psl_organizational_domain, tree_walk_names
from mailspec.settings import Settings

D = "example.com"
GOOD = "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"
TIMEOUT = "no answer in 3.0 s (timeout)"


def ans(
    qname: str, rdtype: str, *answer: Record, rcode: str = "NOERROR", error: str | None = None
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=None if error else rcode, error=error, answer=answer)


def quoted(text: str) -> str:
    """A TXT rdata in presentation form, split into strings of at most 255 characters."""
    parts = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)


def txt(qname: str, *texts: str, rcode: str = "NOERROR", error: str | None = None) -> DnsAnswer:
    return ans(qname, "TXT", *(Record(qname, 300, "TXT", quoted(t)) for t in texts), rcode=rcode, error=error)


def mx(qname: str, *targets: str, rcode: str = "NOERROR", error: str | None = None) -> DnsAnswer:
    return ans(qname, "MX", *(Record(qname, 300, "MX", t) for t in targets), rcode=rcode, error=error)


def survey(domain: str = D, *given: DnsAnswer) -> DmarcSurvey:
    """The survey of ``domain`` with the answers ``given``; every discovery name not given is NXDOMAIN."""
    answers = list(given)
    asked = {(a.qname, a.rdtype) for a in given}
    for name in dict.fromkeys((*tree_walk_names(domain), *psl_discovery_names(domain))):
        if (name, "TXT") not in asked:
            answers.append(txt(name, rcode="NXDOMAIN"))
    return DmarcSurvey(
        domain,
        DnsLookups(tuple(answers)),
        psl_org=psl_organizational_domain(domain),
        walk=tree_walk_names(domain),
    )


def with_record(text: str = GOOD, *more: DnsAnswer, domain: str = D) -> DmarcSurvey:
    return survey(domain, txt(f"_dmarc.{domain}", text), *more)


def domain_dns(*apex_txt: str, domain: str = D, error: str | None = None) -> DomainDns:
    none = ans(domain, "A")
    return DomainDns(
        domain,
        soa=ans(domain, "SOA"),
        ns=ans(domain, "NS"),
        mx=mx(domain, "10 mx1.example.com."),
        a=none,
        aaaa=ans(domain, "AAAA"),
        txt=txt(domain, *apex_txt, error=error),
    )


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


def passes(run: Callable[..., None], *args: object) -> None:
    try:
        run(*args)
    except (Finding, Indeterminate, pytest.skip.Exception) as exc:
        pytest.fail(f"expected {run.__name__} to pass; it raised {type(exc).__name__}: {exc}")


def warns(run: Callable[..., None], *args: object, match: str) -> str:
    with pytest.raises(Finding, match=match) as info:
        run(*args)
    return str(info.value)


def skips(run: Callable[..., None], *args: object, match: str) -> None:
    with pytest.raises(pytest.skip.Exception, match=match):
        run(*args)


def fails(run: Callable[..., None], *args: object, match: str) -> str:
    with pytest.raises((AssertionError, pytest.fail.Exception), match=match) as info:
        run(*args)
    return str(info.value)


# ------------------------------------------------------------------------------------ discovery
def test_discovery_finds_the_domains_own_record_in_both_readings() -> None:
    s = with_record()
    for reading in ("rfc7489", "rfc9989"):
        found = s.discover(reading)
        assert found.definite
        assert found.policy_domain == D
        assert found.name == f"_dmarc.{D}"
        assert found.record is not None
        assert found.record.p == "reject"
        assert found.organizational_domain == D


def test_discovery_falls_back_to_the_organizational_domain() -> None:
    s = survey("mail.example.com", txt("_dmarc.example.com", GOOD))
    for reading in ("rfc7489", "rfc9989"):
        found = s.discover(reading)
        assert found.policy_domain == D
        assert found.name == "_dmarc.example.com"
        assert found.record is not None


def test_discovery_readings_disagree_at_a_private_suffix() -> None:
    # github.io is a private suffix: the PSL makes foo.github.io its own Organizational Domain,
    # the tree walk finds github.io's record and takes it
    s = survey("foo.github.io", txt("_dmarc.github.io", "v=DMARC1; p=reject"))
    psl, walk = s.discover("rfc7489"), s.discover("rfc9989")
    assert psl.record is None
    assert psl.organizational_domain == "foo.github.io"
    assert not psl.found
    assert walk.record is not None
    assert walk.policy_domain == "github.io"
    assert walk.organizational_domain == "github.io"


def test_discovery_readings_disagree_on_several_records_at_the_own_name() -> None:
    s = survey(
        "a.example.com",
        txt("_dmarc.a.example.com", "v=DMARC1; p=none", "v=DMARC1; p=reject"),
        txt("_dmarc.example.com", "v=DMARC1; p=quarantine"),
    )
    psl, walk = s.discover("rfc7489"), s.discover("rfc9989")
    assert psl.record is None  # RFC 7489 §6.6.3 step 5: no DMARC at all, no fallback
    assert psl.multiple == ("_dmarc.a.example.com",)
    assert "2 DMARC records" in psl.invalid
    assert walk.record is not None
    assert walk.record.p == "quarantine"
    assert walk.multiple == ("_dmarc.a.example.com",)


def test_discovery_of_a_record_invalid_as_a_whole() -> None:
    s = with_record("v=DMARC1; p=reject; p=none")
    for reading in ("rfc7489", "rfc9989"):
        found = s.discover(reading)
        assert found.found
        assert found.record is None
        assert "twice" in found.invalid


def test_discovery_ignores_non_dmarc_text() -> None:
    s = with_record("v=spf1 -all")
    for reading in ("rfc7489", "rfc9989"):
        assert not s.discover(reading).found


def test_a_timeout_is_never_no_record() -> None:
    s = survey(D, txt(f"_dmarc.{D}", error=TIMEOUT))
    for reading in ("rfc7489", "rfc9989"):
        found = s.discover(reading)
        assert not found.definite
        assert "timeout" in found.error


def test_a_timeout_above_the_own_record_leaves_the_policy_known() -> None:
    s = survey("mail.example.com", txt("_dmarc.mail.example.com", GOOD), txt("_dmarc.com", error=TIMEOUT))
    walk = s.discover("rfc9989")
    assert walk.definite
    assert walk.record is not None
    assert walk.unsure
    s = survey("mail.example.com", txt("_dmarc.com", error=TIMEOUT))
    assert "timeout" in s.discover("rfc9989").error


def test_the_survey_round_trips_through_the_codec() -> None:
    s = with_record()
    assert decode(DmarcSurvey, encode(s)) == s


# --------------------------------------------------------------------------------- dmarc.present
def test_present_passes_and_says_where() -> None:
    passes(checks.test_dmarc_present, domain_dns(), with_record())
    assert any("both readings" in n for n in current().notes)


def test_present_fails_without_any_record() -> None:
    message = fails(checks.test_dmarc_present, domain_dns(), survey(), match="publishes no DMARC record")
    assert "RFC 7489 §6.1" in message
    assert "v=DMARC1; p=none" in message


def test_present_warns_when_only_one_reading_finds_a_record() -> None:
    s = survey("foo.github.io", txt("_dmarc.github.io", "v=DMARC1; p=reject"))
    message = warns(checks.test_dmarc_present, domain_dns(), s, match="only the RFC 9989")
    assert "RFC 7489 (Public Suffix List) reading finds none" in message


def test_present_is_indeterminate_on_a_timeout() -> None:
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dmarc_present(domain_dns(), survey(D, txt(f"_dmarc.{D}", error=TIMEOUT)))


# ---------------------------------------------------------------------------------- dmarc.single
def test_single_passes_with_one_record() -> None:
    passes(checks.test_dmarc_single, with_record(GOOD + "x"))


def test_single_fails_with_two() -> None:
    s = survey(D, txt(f"_dmarc.{D}", GOOD, "v=DMARC1; p=none", "v=spf1 -all"))
    message = fails(checks.test_dmarc_single, s, match="more than one DMARC record")
    assert "_dmarc.example.com has 2" in message
    assert "RFC 7489 §6.6.3 step 5" in message


def test_single_skips_without_a_record_and_errs_on_timeout() -> None:
    skips(checks.test_dmarc_single, survey(), match="dmarc.present")
    with pytest.raises(Indeterminate):
        checks.test_dmarc_single(survey(D, txt(f"_dmarc.{D}", rcode="SERVFAIL")))


# ---------------------------------------------------------------------------------- dmarc.syntax
def test_syntax_passes_a_good_record() -> None:
    passes(checks.test_dmarc_syntax, with_record("v=DMARC1; p=reject; sp=quarantine; adkim=s; fo=1"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("v=DMARC1; p=reject; p=none", "invalid as a whole"),
        ("v=DMARC1; p=rejected; rua=mailto:a@example.com", "expected none, quarantine or reject"),
        ("v=DMARC1; p=reject; adkim=x", "adkim"),
        ("v=DMARC1; p=reject; fo=0:1", "RFC 9989"),
    ],
)
def test_syntax_fails_invalid_records(text: str, match: str) -> None:
    message = fails(checks.test_dmarc_syntax, with_record(text), match=match)
    assert "RFC 7489 §6.3" in message


@pytest.mark.parametrize(
    "text", ["v=DMARC1; rua=mailto:a@example.com; p=reject", "v=DMARC1; rua=mailto:a@example.com"]
)
def test_syntax_warns_what_only_rfc7489_rejects(text: str) -> None:
    warns(checks.test_dmarc_syntax, with_record(text), match="RFC 7489 only")


def test_syntax_is_indeterminate_on_a_timeout() -> None:
    with pytest.raises(Indeterminate):
        checks.test_dmarc_syntax(survey(D, txt(f"_dmarc.{D}", error=TIMEOUT)))


# ---------------------------------------------------------------------------------- dmarc.policy
def test_policy_passes_reject_and_quarantine() -> None:
    passes(checks.test_dmarc_policy, with_record())
    passes(checks.test_dmarc_policy, with_record("v=DMARC1; p=quarantine"))


def test_policy_warns_none_and_test_mode() -> None:
    warns(checks.test_dmarc_policy, with_record("v=DMARC1; p=none"), match="p=none: monitoring only")
    message = warns(checks.test_dmarc_policy, with_record("v=DMARC1; p=reject; t=y"), match="test mode")
    assert "quarantine" in message


def test_policy_at_the_organizational_domain_is_the_subdomain_policy() -> None:
    s = survey("mail.example.com", txt("_dmarc.example.com", "v=DMARC1; p=reject; sp=none"))
    warns(checks.test_dmarc_policy, s, match=r"sp \(or p\)=none")


def test_policy_skips_without_a_record_and_errs_on_timeout() -> None:
    skips(checks.test_dmarc_policy, survey(), match="dmarc.present")
    with pytest.raises(Indeterminate):
        checks.test_dmarc_policy(survey(D, txt(f"_dmarc.{D}", error=TIMEOUT)))


# ------------------------------------------------------------------------ dmarc.subdomain-policy
def test_subdomain_policy() -> None:
    passes(checks.test_dmarc_subdomain_policy, with_record("v=DMARC1; p=reject; sp=quarantine"))
    warns(checks.test_dmarc_subdomain_policy, with_record("v=DMARC1; p=reject; np=none"), match="np=none")
    skips(
        checks.test_dmarc_subdomain_policy, with_record("v=DMARC1; p=none; sp=none"), match="does not enforce"
    )
    with pytest.raises(Indeterminate):
        checks.test_dmarc_subdomain_policy(survey(D, txt(f"_dmarc.{D}", error=TIMEOUT)))


# ------------------------------------------------------------------------------------- dmarc.pct
def test_pct() -> None:
    passes(checks.test_dmarc_pct, with_record())
    message = warns(checks.test_dmarc_pct, with_record("v=DMARC1; p=reject; pct=50"), match="pct=50")
    assert "historic tag pct" in message
    warns(checks.test_dmarc_pct, with_record("v=DMARC1; p=none; ri=3600"), match="historic tag ri")
    with pytest.raises(Indeterminate):
        checks.test_dmarc_pct(survey(D, txt(f"_dmarc.{D}", error=TIMEOUT)))


# ------------------------------------------------------------------------------ dmarc.rua.present
def test_rua_present() -> None:
    passes(checks.test_dmarc_rua_present, with_record())
    warns(checks.test_dmarc_rua_present, with_record("v=DMARC1; p=reject"), match="no rua tag")
    warns(
        checks.test_dmarc_rua_present,
        with_record("v=DMARC1; p=reject; rua=https://r.example"),
        match="mailto",
    )
    with pytest.raises(Indeterminate):
        checks.test_dmarc_rua_present(survey(D, txt(f"_dmarc.{D}", error=TIMEOUT)))


# ------------------------------------------------------------------- dmarc.rua.external-authorized
EXTERNAL = "v=DMARC1; p=reject; rua=mailto:agg@reports.example.net"
AUTH_NAME = "example.com._report._dmarc.reports.example.net"


def test_external_destination_authorised() -> None:
    passes(checks.test_dmarc_rua_external_authorized, with_record(EXTERNAL, txt(AUTH_NAME, "v=DMARC1")))
    passes(checks.test_dmarc_rua_external_authorized, with_record())  # an internal destination


def test_external_destination_not_authorised_fails() -> None:
    message = fails(
        checks.test_dmarc_rua_external_authorized,
        with_record(EXTERNAL, txt(AUTH_NAME, rcode="NXDOMAIN")),
        match="MUST ignore it",
    )
    assert AUTH_NAME in message
    assert "RFC 7489 §7.1" in message


def test_external_override_at_another_host_fails() -> None:
    auth = txt(AUTH_NAME, "v=DMARC1; rua=mailto:x@elsewhere.example.org")
    fails(checks.test_dmarc_rua_external_authorized, with_record(EXTERNAL, auth), match="another host")


def test_external_authorisation_timeout_is_indeterminate() -> None:
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dmarc_rua_external_authorized(with_record(EXTERNAL, txt(AUTH_NAME, error=TIMEOUT)))


# --------------------------------------------------------------------------- dmarc.rua.deliverable
ADDRESS = "dmarc@example.com"
MX1 = "mx1.example.com"
#: what the fixture gives below --mail-probe=envelope
NOT_ASKED = ReportRcpts(D, error="RCPT needs --mail-probe=envelope or above (this run: --mail-probe=dns)")


def reply(sent: str, code: int, text: str, first: str = "") -> Exchange:
    return Exchange(sent, code=code, lines=(text,), first=first)


def rcpt(code: int, text: str, *, sender: str = "", first: str = "", tls: bool = False) -> Rcpt:
    return Rcpt(ADDRESS, sender, reply(f"MAIL FROM:<{sender}>", 250, "2.1.0 Ok"),
                reply(f"RCPT TO:<{ADDRESS}>", code, text, first), tls=tls)  # fmt: skip


def probed(envelope: Rcpt | None = None, *, untried: str = "", null: Rcpt | None = None) -> ReportRcpts:
    probe = ReportRcpt(ADDRESS, "rua", MX1, "192.0.2.25", 25, untried=untried, rcpt=envelope,
                       null_refused=null, transcript=("C: RCPT TO:<dmarc@example.com>",))  # fmt: skip
    return ReportRcpts(D, (probe,))


def deliverable(run: ReportRcpts) -> None:
    checks.test_dmarc_rua_deliverable(with_record(GOOD, mx(D, f"10 {MX1}.")), run)


def notes() -> str:
    return " | ".join(current().notes)


def test_rua_deliverable() -> None:
    passes(checks.test_dmarc_rua_deliverable, with_record(GOOD, mx(D, "10 mx1.example.com.")), NOT_ASKED)
    implicit = (mx(D), ans(D, "A", Record(D, 300, "A", "192.0.2.1")), ans(D, "AAAA"))
    passes(checks.test_dmarc_rua_deliverable, with_record(GOOD, *implicit), NOT_ASKED)


def test_rua_undeliverable_fails() -> None:
    fails(checks.test_dmarc_rua_deliverable, with_record(GOOD, mx(D, "0 .")), NOT_ASKED, match="null MX")
    gone = (mx(D, rcode="NXDOMAIN"), ans(D, "A", rcode="NXDOMAIN"), ans(D, "AAAA", rcode="NXDOMAIN"))
    message = fails(
        checks.test_dmarc_rua_deliverable, with_record(GOOD, *gone), NOT_ASKED, match="does not exist"
    )
    assert "RFC 7489 §7.2.1.1" in message


def test_rua_deliverable_timeout_is_indeterminate() -> None:
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dmarc_rua_deliverable(with_record(GOOD, mx(D, error=TIMEOUT)), NOT_ASKED)


def test_rua_below_envelope_keeps_the_dns_verdict_and_says_the_address_was_not_tried() -> None:
    passes(deliverable, NOT_ASKED)
    assert "not asked for at their MX" in notes() and "--mail-probe=envelope" in notes()


def test_rua_accepted_at_rcpt_passes_with_a_note() -> None:
    passes(deliverable, probed(rcpt(250, "2.1.5 Ok")))
    assert f"accepts RCPT TO:<{ADDRESS}>" in notes() and MX1 in notes()
    assert "C: RCPT TO:<dmarc@example.com>" in current().evidence


def test_rua_refused_at_rcpt_fails_naming_the_address_and_the_reply() -> None:
    unknown = "5.1.1 <dmarc@example.com>: Recipient address rejected: User unknown"
    envelope = rcpt(550, unknown, sender="mailspec@probe.example")
    message = fails(deliverable, probed(envelope, null=rcpt(550, unknown)), match="refuses the address")
    assert ADDRESS in message and f"550 {unknown}" in message and MX1 in message
    assert "MAIL FROM:<>" in message and "MAIL FROM:<mailspec@probe.example>" in message
    assert "RFC 7489 §7.2.1.1" in message


def test_rua_refused_only_from_the_null_sender_passes_with_a_note() -> None:
    null = rcpt(550, "5.7.1 <dmarc@example.com>: null sender refused here")
    passes(deliverable, probed(rcpt(250, "2.1.5 Ok", sender="mailspec@probe.example"), null=null))
    assert "refuses the address from the null sender" in notes() and "null sender refused here" in notes()


def test_rua_refused_until_starttls_is_judged_inside_tls() -> None:
    passes(deliverable, probed(rcpt(250, "2.1.5 Ok", tls=True)))
    assert "inside TLS" in notes()


def test_rua_transient_after_the_retry_warns() -> None:
    grey = "4.7.1 <dmarc@example.com>: Recipient address rejected: Greylisted"
    message = warns(deliverable, probed(rcpt(450, grey, first=f"450 {grey}")), match="is transient")
    assert ADDRESS in message and f"450 {grey}" in message and "after a pause" in message


def test_rua_a_5yz_fails_even_when_another_address_is_transient() -> None:
    other = "reports@example.com"
    grey = ReportRcpt(other, "ruf", MX1, "192.0.2.25", 25, rcpt=Rcpt(other, "", reply("MAIL", 250, "Ok"),
                      reply("RCPT", 451, "4.3.0 try later", "451 4.3.0 try later")))  # fmt: skip
    refused = probed(rcpt(550, "5.1.1 unknown")).probes[0]
    record = f"{GOOD}; ruf=mailto:{other}"
    with pytest.raises(AssertionError, match=r"5\.1\.1 unknown") as info:
        checks.test_dmarc_rua_deliverable(
            with_record(record, mx(D, f"10 {MX1}.")), ReportRcpts(D, (refused, grey))
        )
    assert "4.3.0 try later" in str(info.value)


@pytest.mark.parametrize(
    "why",
    [
        "could not connect: timeout (no TCP answer within 10 s)",
        "could not connect: connection refused",
        "the server greets this probe with 554 5.7.1 go away",
        "MAIL FROM:<mailspec@probe.example> got 550 5.7.1 no",
        "not finished in time: the budget of 165 s ran out",
        "not probed: 10.0.0.25 is not a public address",
    ],
)
def test_rua_probe_that_could_not_be_made_keeps_the_dns_verdict(why: str) -> None:
    passes(deliverable, probed(untried=why))
    assert "could not be made" in notes() and why in notes() and "DNS verdict stands" in notes()


def test_rua_probe_does_not_rescue_a_dns_failure() -> None:
    gone = (mx(D, rcode="NXDOMAIN"), ans(D, "A", rcode="NXDOMAIN"), ans(D, "AAAA", rcode="NXDOMAIN"))
    untried = probed(untried="the MX of example.com is unknown")
    fails(checks.test_dmarc_rua_deliverable, with_record(GOOD, *gone), untried, match="does not exist")


def test_rua_probe_missing_for_an_address_is_a_note() -> None:
    passes(deliverable, ReportRcpts(D))
    assert "it was not asked" in notes()


def test_report_rcpts_round_trip_through_the_codec() -> None:
    facts = probed(rcpt(550, "5.1.1 unknown", sender="mailspec@probe.example"), null=rcpt(550, "x"))
    assert decode(ReportRcpts, encode(facts)) == facts
    assert facts.get("DMARC@example.com") is facts.probes[0]


# ------------------------------------------------------------------------------- dmarc.misplaced
def test_misplaced() -> None:
    passes(checks.test_dmarc_misplaced, domain_dns("v=spf1 mx -all"), with_record())
    warns(checks.test_dmarc_misplaced, domain_dns(GOOD), survey(), match="at its apex")
    warns(checks.test_dmarc_misplaced, domain_dns(), with_record("v=spf1 mx -all"), match="SPF text")
    with pytest.raises(Indeterminate):
        checks.test_dmarc_misplaced(domain_dns(error=TIMEOUT), with_record())


# --------------------------------------------------------------------------- dmarc.alignment-feasible
def test_alignment_feasible_by_spf_or_dkim() -> None:
    passes(checks.test_dmarc_alignment_feasible, domain_dns("v=spf1 mx -all"), with_record(), Settings())
    dkim = Settings(dkim_selectors=("s1",))
    passes(checks.test_dmarc_alignment_feasible, domain_dns(), with_record(), dkim)
    assert any("s1" in n for n in current().notes)


def test_alignment_feasible_relaxed_through_the_organizational_domain() -> None:
    sub = "mail.example.com"
    org_selector = Settings(dkim_selectors=("s1@example.com",))
    s = survey(sub, txt("_dmarc.example.com", GOOD))
    passes(checks.test_dmarc_alignment_feasible, domain_dns(domain=sub), s, org_selector)
    strict = survey(sub, txt("_dmarc.example.com", GOOD + "; adkim=s"))
    fails(
        checks.test_dmarc_alignment_feasible,
        domain_dns(domain=sub),
        strict,
        org_selector,
        match="no identifier can align",
    )


def test_alignment_not_feasible_fails() -> None:
    message = fails(
        checks.test_dmarc_alignment_feasible,
        domain_dns("v=spf1 -all"),
        with_record(),
        Settings(),
        match="authorises no host",
    )
    assert "RFC 7489 §3.1.1" in message
    with pytest.raises(Indeterminate):
        checks.test_dmarc_alignment_feasible(domain_dns(error=TIMEOUT), with_record(), Settings())


def test_syntax_fails_a_record_rfc7489_does_not_apply() -> None:
    message = fails(checks.test_dmarc_syntax, with_record("v=DMARC1; adkim=s"), match="applies no DMARC")
    assert "RFC 7489 (Public Suffix List)" in message


def test_policy_reports_a_record_once_when_both_readings_agree() -> None:
    passes(checks.test_dmarc_policy, with_record())
    assert current().notes == ["the DMARC record at _dmarc.example.com: p=reject"]


def test_policy_says_which_reading_applies_no_dmarc() -> None:
    message = warns(checks.test_dmarc_policy, with_record("v=DMARC1; adkim=s"), match="applies no DMARC")
    assert "(RFC 7489 (Public Suffix List))" in message
    assert "(RFC 9989 (DNS tree walk)) asks for p=none" in message


def test_present_notes_where_the_readings_find_different_records() -> None:
    s = survey(
        "a.example.com",
        txt("_dmarc.a.example.com", "v=DMARC1; p=none", "v=DMARC1; p=reject"),
        txt("_dmarc.example.com", "v=DMARC1; p=quarantine"),
    )
    passes(checks.test_dmarc_present, domain_dns(domain=s.domain), s)
    assert any("readings disagree" in n and "_dmarc.example.com" in n for n in current().notes)


def test_single_ignores_several_records_above_the_one_that_applies() -> None:
    s = survey(
        "a.example.com",
        txt("_dmarc.a.example.com", GOOD),
        txt("_dmarc.example.com", "v=DMARC1; p=none", "v=DMARC1; p=reject"),
    )
    assert s.discover("rfc9989").multiple == ()
    passes(checks.test_dmarc_single, s)


def test_alignment_skips_for_a_domain_that_sends_no_mail() -> None:
    """A parked domain ("v=spf1 -all", no selector) has nothing to align: a skip, not a failure."""
    with pytest.raises(pytest.skip.Exception, match="sends no mail"):
        checks.test_dmarc_alignment_feasible(domain_dns("v=spf1 -all"), with_record(), Settings())


def test_rua_refusal_of_the_probe_not_the_mailbox_only_warns() -> None:
    # (a blocklist of this machine at the report MX: RFC 3463 X.7.x, no mailbox status)
    blocked = "5.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org"
    message = warns(deliverable, probed(rcpt(554, blocked)), match="may be of this probe")
    assert ADDRESS in message and "554 5.7.1" in message and "X.1.x, X.2.x" in message
    # no enhanced code: the words decide
    fails(deliverable, probed(rcpt(550, "<dmarc@example.com>: User unknown")), match="refuses the address")
    warns(deliverable, probed(rcpt(550, "Access denied")), match="may be of this probe")


def test_rua_starttls_demanded_but_unusable_keeps_the_dns_verdict() -> None:
    passes(deliverable, probed(rcpt(530, "5.7.0 Must issue a STARTTLS command first")))
    assert "asks for STARTTLS" in notes() and "DNS verdict stands" in notes()
