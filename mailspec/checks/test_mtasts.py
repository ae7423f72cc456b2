"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460), per domain (`pytest --mail-checks` lists every check).

The ``_mta-sts`` TXT record says a policy exists; the policy file, fetched over HTTPS from
``mta-sts.<domain>`` (``--mail-probe=connect`` or above), says which MX hosts senders may use and
whether they must authenticate them. Without an ``_mta-sts`` record the policy checks skip ("MTA-STS
not deployed"); a lookup that did not answer is "could not test", never "no record".

With a policy in ``enforce`` mode, the certificate checks of the MX hosts it covers (tls.cert.*,
tls.starttls.offered) fail as a ``must`` too (CATALOG.md §18.5; the ``published_tls`` fixture reads the
policy as a sender does); mtasts.mx-tls gives the policy's own verdict over all its MX hosts.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing
from mailspec.checks.test_smtp import FactSource, no_route, timed_out
from mailspec.checks.test_tls import EXPIRY_WARN_DAYS, _chain, _ready, _why_not
from mailspec.errors import Indeterminate, MailspecError
from mailspec.facts import DomainDns
from mailspec.facts.auth import MtaStsSurvey
from mailspec.facts.dns import need
from mailspec.facts.mtasts import POLICY_MAX_BYTES, MtaStsFetch
from mailspec.facts.smtp import SmtpEndpoint, SmtpSession
from mailspec.outcome import evidence, note, warn
from mailspec.records.certs import CertError, chain_problem, name_matches, parse_cert, validity_problem
from mailspec.records.mtasts import (
    MtaStsError,
    MtaStsPolicy,
    MtaStsRecord,
    parse_mtasts_policy,
    parse_mtasts_record,
)
from mailspec.records.tlsrpt import TlsRptError, TlsRptRecord, parse_tlsrpt_record, tlsrpt_records
from mailspec.records.txt import txt_value

__all__ = [
    "test_mtasts_mx_coverage",
    "test_mtasts_mx_tls",
    "test_mtasts_policy_fetch",
    "test_mtasts_policy_max_age",
    "test_mtasts_policy_syntax",
    "test_mtasts_testing_needs_tlsrpt",
    "test_mtasts_txt",
    "test_tlsrpt_record",
]

#: RFC 8461 §3.2: max_age "typically ... weeks or greater"; below a day warns, below a week is noted
MAX_AGE_WARN = 86400
MAX_AGE_NOTE = 604800
#: the catalog's bound on the fetch (mtasts.policy.fetch: more than 60 s warns)
SLOW_FETCH = 60.0
NOT_DEPLOYED = "MTA-STS not deployed"


# ------------------------------------------------------------------------------------------ helpers
def _records(m: MtaStsSurvey) -> tuple[str, ...]:
    """The ``v=STSv1;`` records at ``_mta-sts.<domain>``; could not test when the lookup failed."""
    evidence(m.txt)
    need(m.txt)
    return m.sts_records


def _deployed(d: DomainDns, m: MtaStsSurvey) -> MtaStsRecord:
    """The domain's MTA-STS record; skip when there is none, or when it is unusable (senders then
    assume no policy, RFC 8461 §3.1; mtasts.txt reports why)."""
    existing(d)
    records = _records(m)
    if not records:
        pytest.skip(f"{NOT_DEPLOYED}: _mta-sts.{m.domain} has no v=STSv1 TXT record")
    if len(records) > 1:
        pytest.skip(
            f"_mta-sts.{m.domain} has {len(records)} v=STSv1 records, so senders assume no policy "
            "(RFC 8461 §3.1; see mtasts.txt)"
        )
    try:
        return parse_mtasts_record(records[0])
    except MtaStsError as exc:
        pytest.skip(
            f"the _mta-sts.{m.domain} record is invalid ({exc}), so senders assume no policy (see mtasts.txt)"
        )


def _fetched(fetch: MtaStsFetch) -> None:
    """Could not test when the fetch did not get an answer (refused, unreachable, timed out)."""
    evidence(fetch)
    if not fetch.definite:
        raise Indeterminate(f"could not test: {fetch.problem}")


def _policy(d: DomainDns, m: MtaStsSurvey, fetch: MtaStsFetch) -> MtaStsPolicy:
    """The policy senders use; skip when there is none to read (mtasts.policy.fetch and
    mtasts.policy.syntax report why)."""
    _deployed(d, m)
    evidence(fetch)
    if not fetch.definite:  # (mtasts.policy.fetch says "could not test"; once is enough)
        pytest.skip(f"the policy could not be fetched ({fetch.problem}; see mtasts.policy.fetch)")
    if fetch.failure or fetch.status != 200 or fetch.truncated:
        pytest.skip(f"no policy was read from {fetch.url} (see mtasts.policy.fetch)")
    if not fetch.body_utf8:  # (as a sender reads it: published_tls refuses it too)
        pytest.skip(f"the policy at {fetch.url} is not valid UTF-8 (see mtasts.policy.syntax)")
    try:
        return parse_mtasts_policy(fetch.body)
    except MtaStsError as exc:
        pytest.skip(f"the policy at {fetch.url} is invalid: {exc} (see mtasts.policy.syntax)")


def _active(d: DomainDns, m: MtaStsSurvey, fetch: MtaStsFetch) -> MtaStsPolicy:
    """The policy, unless its mode is none (then no MX is constrained)."""
    policy = _policy(d, m, fetch)
    if policy.mode == "none":
        pytest.skip(f"the MTA-STS policy of {m.domain} has mode none: senders apply no MTA-STS constraint")
    return policy


def _tlsrpt(m: MtaStsSurvey) -> tuple[tuple[str, ...], TlsRptRecord | None, str]:
    """The ``v=TLSRPTv1;`` records, the one usable record (None if not exactly one valid) and why not."""
    evidence(m.tlsrpt)
    need(m.tlsrpt)
    records = tlsrpt_records(txt_value(r.data) for r in m.tlsrpt.records)
    if len(records) != 1:
        return records, None, f"{len(records)} v=TLSRPTv1 records"
    try:
        return records, parse_tlsrpt_record(records[0]), ""
    except TlsRptError as exc:
        return records, None, str(exc)


def _mx_names(d: DomainDns) -> list[str]:
    """The MX host names (the domain itself for an implicit MX); skip when there is none."""
    need(d.mx)
    if d.null_mx:
        pytest.skip(f"{d.domain} has a null MX: it accepts no mail (RFC 7505)")
    # (in preference order, then by name: the answer's order varies from one query to the next)
    targets = sorted(d.mx_targets, key=lambda t: (t.preference, t.name))
    names = list(dict.fromkeys(t.name for t in targets if t.name))
    if not names:
        pytest.skip(f"{d.domain} has no MX host (see mx.present)")
    return names


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tls_problems(session: SmtpSession, trust: bytes) -> list[str]:
    """What an MTA-STS sender refuses at this endpoint, by the rules of tls.starttls.handshake,
    tls.cert.name, tls.cert.validity and tls.cert.chain ([] when nothing); skip or could not test when
    the session did not get to STARTTLS (the smtp.* and tls.* checks judge why)."""
    where = session.endpoint
    _ready(session)
    if not session.starttls_offered:
        return [f"{where} does not offer STARTTLS"]
    tls = session.tls
    if tls is None:
        raise Indeterminate(f"could not test: the session with {where} ended before STARTTLS was tried")
    evidence(tls.evidence())
    if not tls.established:
        error = tls.handshake_error or tls.starttls.error
        if timed_out(error):
            raise Indeterminate(f"could not test: STARTTLS at {where} timed out ({error})")
        return [f"no TLS session with {where}: {_why_not(tls)}"]
    ders = _chain(tls, where)
    problems: list[str] = []
    try:
        info = parse_cert(ders[0])
    except CertError as exc:
        return [f"the certificate of {where} cannot be read: {exc}"]
    if not name_matches(session.host, info.dns_names):
        names = ", ".join(info.dns_names) or "no DNS name"
        problems.append(f"the certificate of {where} names {names}, not {session.host}")
    now = _now()
    validity = validity_problem(info, now, EXPIRY_WARN_DAYS)
    if validity is not None and validity[0] != "expiring":
        problems.append(f"{where}: {validity[1]}")
    try:
        chain = chain_problem(ders, trust, where, now)
    except CertError as exc:
        raise Indeterminate(f"could not test: the trust store (--mail-ca, or the system's): {exc}") from None
    if chain is not None:
        problems.append(chain)
    return problems


# ------------------------------------------------------------------------------------- the record
@check(
    "mtasts.txt",
    refs=["RFC 8461 §3.1"],
    fix="Publish one TXT record at _mta-sts.<domain>: 'v=STSv1; id=<1 to 32 letters and digits>', "
    "with a new id whenever the policy changes.",
)
def test_mtasts_txt(dns_facts: DomainDns, mtasts_survey: MtaStsSurvey) -> None:
    """The _mta-sts TXT record, when published, is exactly one valid STSv1 record.

    TXT records at ``_mta-sts.<domain>`` (a CNAME followed) that do not begin ``v=STSv1;`` are
    discarded; exactly one must remain, with ``;``-separated fields and an ``id`` of 1 to 32 letters
    and digits (RFC 8461 §3.1). None skips (MTA-STS not deployed); several, or an invalid one, fails:
    senders then assume the domain has no policy.
    """
    existing(dns_facts)
    records = _records(mtasts_survey)
    name = f"_mta-sts.{mtasts_survey.domain}"
    if not records:
        pytest.skip(f"{NOT_DEPLOYED}: {name} has no v=STSv1 TXT record")
    assert len(records) == 1, (
        f"{name} has {len(records)} v=STSv1 records; when the number is not one, senders MUST assume "
        "the domain has no MTA-STS policy (RFC 8461 §3.1). Keep one record: 'v=STSv1; id=<policy id>'."
    )
    try:
        record = parse_mtasts_record(records[0])
    except MtaStsError as exc:
        pytest.fail(
            f"the MTA-STS record at {name} is invalid: {exc}; senders MUST then assume the domain has no "
            "MTA-STS policy (RFC 8461 §3.1). Publish 'v=STSv1; id=<1 to 32 letters and digits>'."
        )
    note(f"{name}: policy id {record.id}")


# ------------------------------------------------------------------------------------- the policy
@check(
    "mtasts.policy.fetch",
    refs=['RFC 8461 §3.2, §3.3 ("3xx MUST NOT be followed")', "RFC 8461 §7.1"],
    fix="Serve the policy at https://mta-sts.<domain>/.well-known/mta-sts.txt with status 200, "
    "Content-Type text/plain, and a publicly trusted certificate for mta-sts.<domain>.",
)
def test_mtasts_policy_fetch(
    dns_facts: DomainDns, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """The MTA-STS policy is served over valid HTTPS with status 200.

    ``GET https://mta-sts.<domain>/.well-known/mta-sts.txt`` (SNI the policy host, no redirect
    followed) must get status 200 with a certificate valid for the policy host that chains to a
    trusted root; otherwise senders have no policy. A Content-Type other than ``text/plain``, a body
    over 64 KiB, or a fetch of over 60 seconds warns. A policy host that does not exist fails; one that
    does not answer is "could not test".
    """
    _deployed(dns_facts, mtasts_survey)
    fetch = mtasts_policy
    host = fetch.host
    if not mtasts_survey.host_ips:
        evidence(mtasts_survey.host_a, mtasts_survey.host_aaaa)
        need(mtasts_survey.host_a, mtasts_survey.host_aaaa)
        pytest.fail(
            f"the domain publishes an MTA-STS record, but the policy host {host} has no A or AAAA "
            "record: senders cannot fetch the policy (RFC 8461 §3.3). Publish the policy host's address "
            "and serve the policy there."
        )
    _fetched(fetch)
    why = {
        "tls": f"the TLS connection to {host} fails ({fetch.tls_reason or 'handshake'}: {fetch.error}); "
        "the certificate must be valid for the policy host and chain to a trusted root (RFC 8461 §3.3)",
        "protocol": f"{host} does not answer in HTTP ({fetch.error}); the policy is served over HTTPS "
        "(RFC 8461 §3.3)",
    }.get(fetch.failure)
    if why is None and fetch.failure:
        why = f"the fetch failed ({fetch.failure}: {fetch.error}; RFC 8461 §3.3)"
    if why is None and fetch.redirected:
        why = (
            f"it answers {fetch.status} (a redirect to {fetch.location or 'nowhere'}), and senders MUST "
            "NOT follow redirects (RFC 8461 §3.3)"
        )
    if why is None and fetch.status != 200:
        why = f"it answers {fetch.status} {fetch.reason}; senders accept only 200 (RFC 8461 §3.3)".rstrip()
    if why is not None:
        seen = f" The server presented a {fetch.certificate.describe()}." if fetch.certificate else ""
        pytest.fail(
            f"the MTA-STS policy cannot be fetched from {fetch.url}: {why}.{seen} Senders then have no "
            "policy (a domain with a cached policy keeps the old one until it expires). Serve the "
            f"policy there with status 200 and a publicly trusted certificate for {host}."
        )
    problems: list[str] = []
    if fetch.media_type != "text/plain":
        problems.append(
            f"its Content-Type is {fetch.content_type or '(none)'}, not text/plain (RFC 8461 §3.2)"
        )
    if fetch.too_large:
        size = f"more than {fetch.body_bytes}" if fetch.truncated else str(fetch.body_bytes)
        problems.append(
            f"it is {size} bytes, over {POLICY_MAX_BYTES // 1024} KiB; senders may refuse a policy that "
            "large (RFC 8461 §3.3)"
        )
    if fetch.elapsed > SLOW_FETCH:
        problems.append(
            f"the fetch took {fetch.elapsed:.0f} s; senders may give up after 60 s (RFC 8461 §3.3)"
        )
    if fetch.content_encoding.lower() not in ("", "identity"):
        problems.append(f"it is sent with Content-Encoding {fetch.content_encoding}, not as plain text")
    if problems:
        warn(
            f"the MTA-STS policy at {fetch.url} is served, but " + "; ".join(problems) + ". Serve it as "
            "a small text/plain file (RFC 8461 §3.2, §3.3)."
        )


@check(
    "mtasts.policy.syntax",
    refs=["RFC 8461 §3.2"],
    fix="Write the policy as CRLF-ended lines: 'version: STSv1', 'mode: enforce' (or testing, none), "
    "'max_age: 604800' and one 'mx: <host or *.domain>' line per MX.",
)
def test_mtasts_policy_syntax(
    dns_facts: DomainDns, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """The MTA-STS policy is syntactically valid.

    ``key: value`` lines (CRLF, LF tolerated); ``version: STSv1``, ``mode`` enforce, testing or none
    and ``max_age`` (up to 10 digits, at most 31557600) each present; at least one ``mx`` unless the
    mode is none; each ``mx`` a domain in A-labels, ``*.`` allowed as its left-most label. Anything a
    sender cannot use fails; what senders tolerate but the grammar does not allow (a repeated field,
    whose first value wins; a blank line; upper case or a trailing dot in an ``mx``) warns; LF-only
    lines are noted.
    """
    _deployed(dns_facts, mtasts_survey)
    fetch = mtasts_policy
    evidence(fetch)
    if not fetch.definite:
        pytest.skip(f"the policy could not be fetched ({fetch.problem}; see mtasts.policy.fetch)")
    if fetch.failure or fetch.status != 200:
        pytest.skip(f"no policy was read from {fetch.url} (see mtasts.policy.fetch)")
    if fetch.truncated:
        pytest.skip(f"the policy at {fetch.url} is larger than the probe reads (see mtasts.policy.fetch)")
    if not fetch.body_utf8:
        pytest.fail(
            f"the policy at {fetch.url} is not UTF-8 text (RFC 8461 §3.2): senders cannot read it. Serve "
            "it as plain ASCII text."
        )
    try:
        policy = parse_mtasts_policy(fetch.body)
    except MtaStsError as exc:
        pytest.fail(
            f"the MTA-STS policy at {fetch.url} is invalid: {exc}. Senders cannot use it, so the domain "
            "has no policy (RFC 8461 §3.2). Write 'version: STSv1', 'mode: enforce' (or testing, none), "
            "'max_age: 604800' and one 'mx:' line per MX host, each line ended by CRLF."
        )
    note(f"mode {policy.mode}, max_age {policy.max_age}, mx {', '.join(policy.mx) or '(none)'}")
    quirks = [n for n in policy.notes if n.kind != "lf-only"]
    for n in policy.notes:
        if n.kind == "lf-only":
            note(f"{n.message} (tolerated)")
    if quirks:
        more = f" (and {policy.notes_left_out} more)" if policy.notes_left_out else ""
        warn(
            f"the MTA-STS policy at {fetch.url} is usable, but not as RFC 8461 §3.2 writes it: "
            + "; ".join(n.message for n in quirks)
            + f"{more}. Senders may read it differently; write each field once, without blank lines, "
            "with mx patterns in lower case and without a trailing dot."
        )


@check(
    "mtasts.policy.max-age",
    refs=["RFC 8461 §3.2", "RFC 8461 §8.3 (a small max_age only when opting out)"],
    fix="Set max_age to at least 604800 (a week); weeks or more is typical (e.g. 1209600 or 31557600).",
)
def test_mtasts_policy_max_age(
    dns_facts: DomainDns, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """The MTA-STS policy's max_age is at least a day.

    With mode enforce or testing, a ``max_age`` under a day warns and one under a week is noted
    (RFC 8461 §3.2: "typically ... on the order of weeks or greater"): a short cache lets an attacker
    who blocks the policy fetch strip TLS once it expires. Mode none passes (a short max_age is how a
    domain opts out, §8.3).
    """
    policy = _policy(dns_facts, mtasts_survey, mtasts_policy)
    if policy.mode == "none":
        note(f"mode none, max_age {policy.max_age}: a short max_age is fine when opting out (RFC 8461 §8.3)")
        return
    if policy.max_age < MAX_AGE_WARN:
        warn(
            f"the MTA-STS policy of {mtasts_survey.domain} (mode {policy.mode}) has max_age "
            f"{policy.max_age}, less than a day: senders re-fetch it so often that an attacker who blocks "
            "the fetch soon strips the protection; RFC 8461 §3.2 suggests weeks or more. Set max_age to "
            "604800 (a week) or more."
        )
    if policy.max_age < MAX_AGE_NOTE:
        note(f"max_age {policy.max_age} is less than a week; RFC 8461 §3.2 suggests weeks or more")


# -------------------------------------------------------------------------------------- the MX hosts
@check(
    "mtasts.mx-coverage",
    refs=["RFC 8461 §4.1", "RFC 8461 §8.4"],
    fix="Add an 'mx:' line to the policy for every MX host (or a '*.<parent>' pattern covering it), "
    "and change the policy id in the _mta-sts record.",
)
def test_mtasts_mx_coverage(
    dns_facts: DomainDns, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """Every MX host matches an mx pattern of the MTA-STS policy.

    A pattern matches the same name, or with ``*.`` exactly one more left-most label (``*.example.com``
    matches ``mx.example.com``, not ``example.com`` nor ``a.b.example.com``; RFC 8461 §4.1). An MX host
    no pattern covers fails under mode enforce (senders refuse to deliver to it) and warns under
    testing; a backup MX left out shows only when the primary is down (§8.4).
    """
    policy = _active(dns_facts, mtasts_survey, mtasts_policy)
    evidence(dns_facts.mx)
    names = _mx_names(dns_facts)
    uncovered = [n for n in names if not policy.covers(n)]
    if not uncovered:
        note("; ".join(f"{n} matches {', '.join(policy.matching_patterns(n))}" for n in names))
        return
    consequence = (
        "senders that apply the policy refuse to deliver to them (RFC 8461 §4.1, §5)"
        if policy.mode == "enforce"
        else "in testing mode senders still deliver, but report the failures (RFC 8461 §5); under "
        "enforce they would refuse these hosts"
    )
    message = (
        f"the MX host(s) {', '.join(uncovered)} of {dns_facts.domain} match no mx pattern of its MTA-STS "
        f"policy ({', '.join(policy.mx)}; mode {policy.mode}): {consequence}. A backup MX left out "
        "shows only when the primary fails (§8.4). Add an 'mx:' line for each (or a '*.' pattern "
        "covering it) and change the policy id in the _mta-sts record."
    )
    if policy.mode == "enforce":
        pytest.fail(message)
    warn(message)


@check(
    "mtasts.mx-tls",
    refs=["RFC 8461 §4, §4.2, §5"],
    fix="Give every MX host covered by the policy working STARTTLS with a certificate from a publicly "
    "trusted CA that names the MX host and is not expired, or switch the policy to mode testing "
    "meanwhile.",
)
def test_mtasts_mx_tls(
    dns_facts: DomainDns,
    mtasts_survey: MtaStsSurvey,
    mtasts_policy: MtaStsFetch,
    mx_endpoints: list[SmtpEndpoint],
    mail_survey: FactSource,
    mail_trust_store: bytes,
) -> None:
    """Every MX host covered by the MTA-STS policy passes its TLS checks.

    For mode enforce or testing, each MX host address that an ``mx`` pattern covers must offer
    STARTTLS, complete the handshake and present a certificate that names the MX host, is within its
    validity period and chains to a trusted root (the rules of tls.starttls.handshake, tls.cert.name,
    tls.cert.validity and tls.cert.chain; RFC 8461 §4.2). A failure fails under enforce (senders do not
    deliver there) and warns under testing. An address whose session did not get to STARTTLS (refused,
    no IPv6 route) is left out and noted; one that timed out makes the check "could not test" unless
    another already fails.
    """
    policy = _active(dns_facts, mtasts_survey, mtasts_policy)
    covered = [e for e in mx_endpoints if e.host and policy.covers(e.host)]
    if not covered:
        pytest.skip(f"no MX address of {dns_facts.domain} is covered by the policy (see mtasts.mx-coverage)")
    try:
        mail_survey.prefetch([(SmtpSession, e.key) for e in covered])
        sessions = [mail_survey.get(SmtpSession, e.key) for e in covered]
    except MailspecError as exc:  # (the survey's EngineError: a wait ran out)
        raise Indeterminate(f"could not test: {exc}") from None
    failing: list[str] = []
    untested: list[str] = []
    left_out: list[str] = []
    passed: list[str] = []
    for s in sessions:
        if s.connect_error and timed_out(s.connect_error):
            untested.append(f"{s.endpoint}: {s.connect_error}")
            continue
        if s.connect_error and not no_route(s):
            left_out.append(f"{s.endpoint}: {s.connect_error} (see smtp.connect)")
            continue
        if no_route(s) and ":" in s.ip:
            left_out.append(f"{s.endpoint}: no IPv6 route from this machine")
            continue
        try:
            problems = _tls_problems(s, mail_trust_store)
        except pytest.skip.Exception as exc:
            left_out.append(str(exc))
            continue
        except Indeterminate as exc:
            untested.append(str(exc).removeprefix("could not test: "))
            continue
        if problems:
            failing.extend(problems)
        else:
            passed.append(s.endpoint)
    if left_out:
        note("not judged: " + "; ".join(left_out))
    if failing:
        consequence = (
            "senders that apply the policy do not deliver there (RFC 8461 §4.2, §5)"
            if policy.mode == "enforce"
            else "in testing mode senders deliver anyway and report the failures (RFC 8461 §5); under "
            "enforce they would not deliver there"
        )
        message = (
            f"the MTA-STS policy of {dns_facts.domain} (mode {policy.mode}) requires authenticated TLS at "
            f"its MX hosts, but " + "; ".join(failing) + f": {consequence}. Give each MX host working "
            "STARTTLS with a publicly trusted, unexpired certificate naming it"
            + (", or switch the policy to mode testing meanwhile." if policy.mode == "enforce" else ".")
        )
        if policy.mode == "enforce":
            pytest.fail(message)
        warn(message)
    if untested:
        raise Indeterminate("could not test: " + "; ".join(untested))
    if not passed:
        pytest.skip(f"no covered MX address of {dns_facts.domain} could be judged ({'; '.join(left_out)})")
    note(f"authenticated TLS works at {', '.join(passed)}")


# ------------------------------------------------------------------------------------------ TLS-RPT
@check(
    "mtasts.testing-needs-tlsrpt",
    refs=["RFC 8461 §5 (testing mode reports failures through TLSRPT)", "RFC 8460 §3"],
    fix="Publish a TLS-RPT record: TXT at _smtp._tls.<domain>, 'v=TLSRPTv1; rua=mailto:tlsrpt@<domain>'.",
)
def test_mtasts_testing_needs_tlsrpt(
    dns_facts: DomainDns, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """An MTA-STS policy in testing mode comes with a TLS-RPT record.

    In testing mode senders deliver despite failures and report them through TLS-RPT (RFC 8461 §5):
    without a valid ``_smtp._tls`` record nobody sees them, and the test teaches nothing. A warning.
    Other modes pass (tlsrpt.record judges the record itself).
    """
    policy = _policy(dns_facts, mtasts_survey, mtasts_policy)
    if policy.mode != "testing":
        note(f"the MTA-STS policy of {mtasts_survey.domain} has mode {policy.mode}, not testing")
        return
    _, record, why = _tlsrpt(mtasts_survey)
    if record is None:
        warn(
            f"the MTA-STS policy of {mtasts_survey.domain} is in testing mode, but _smtp._tls."
            f"{mtasts_survey.domain} has no valid TLS-RPT record ({why}): the failures testing mode "
            "exists to show are reported to nobody (RFC 8461 §5, RFC 8460 §3). Publish 'v=TLSRPTv1; "
            f"rua=mailto:tlsrpt@{mtasts_survey.domain}' there."
        )


@check(
    "tlsrpt.record",
    refs=['RFC 8460 §3 ("If the number of resulting records is not one")'],
    fix="Publish one TXT record at _smtp._tls.<domain>: 'v=TLSRPTv1; rua=mailto:tlsrpt@<domain>'.",
)
def test_tlsrpt_record(dns_facts: DomainDns, mtasts_survey: MtaStsSurvey) -> None:
    """The domain publishes exactly one valid TLS-RPT record.

    TXT records at ``_smtp._tls.<domain>`` that do not begin ``v=TLSRPTv1;`` are discarded; exactly one
    must remain, with ``rua=`` one or more comma-separated ``mailto:`` or ``https:`` URIs (RFC 8460
    §3). None warns when the domain publishes MTA-STS (its failures then go unreported) and is noted
    otherwise (DANE, which the catalog also names, is not looked up yet); several, or an invalid one,
    fails: reporters then send nothing.
    """
    existing(dns_facts)
    name = f"_smtp._tls.{mtasts_survey.domain}"
    records, record, why = _tlsrpt(mtasts_survey)
    if not records:
        if _records(mtasts_survey):
            warn(
                f"{name} has no TLS-RPT record, though {mtasts_survey.domain} publishes MTA-STS: senders "
                "cannot report the TLS failures they meet at its MX hosts (RFC 8460 §3, RFC 8461 §5). "
                f"Publish 'v=TLSRPTv1; rua=mailto:tlsrpt@{mtasts_survey.domain}' there."
            )
        note(f"{name} has no TLS-RPT record; the domain publishes no MTA-STS policy (DANE is not looked up)")
        return
    assert len(records) == 1, (
        f"{name} has {len(records)} v=TLSRPTv1 records; when the number is not one, reporters MUST NOT "
        "send reports (RFC 8460 §3). Keep one: 'v=TLSRPTv1; rua=<mailto: or https: URIs>'."
    )
    if record is None:
        pytest.fail(
            f"the TLS-RPT record at {name} is invalid: {why}; reporters cannot use it (RFC 8460 §3). "
            f"Publish 'v=TLSRPTv1; rua=mailto:tlsrpt@{mtasts_survey.domain}'."
        )
    unsupported = record.unsupported
    extra = f"; skipped by reporters: {', '.join(u.uri for u in unsupported)}" if unsupported else ""
    note(f"{name}: reports to {', '.join(u.uri for u in record.rua)}{extra}")
