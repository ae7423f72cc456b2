"""Secondary MX hosts: reachable, accepting the domain, and no weaker than the primary
(`pytest --mail-checks` lists every check).

The primary is the best (lowest) preference; an exchange listed at several preferences counts at its
best one. What a backup does with a message after RCPT (relay it to the primary, queue it) cannot be
seen without sending one (CATALOG §17): these checks stop at RCPT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing
from mailspec.checks.test_smtp import (
    FactSource,
    envelope_ready,
    null_sender_refused,
    probe,
    said,
    skip_unroutable,
)
from mailspec.errors import Indeterminate, MailspecError
from mailspec.facts import DomainDns, MxTarget, need
from mailspec.facts.auth import MtaStsSurvey
from mailspec.facts.mtasts import MtaStsFetch
from mailspec.facts.published import published_tls
from mailspec.facts.smtp import Exchange, SmtpEndpoint, SmtpEnvelope, SmtpIntrusive, SmtpSession
from mailspec.outcome import evidence, note, warn
from mailspec.records.smtp import Reply

if TYPE_CHECKING:  # (the settings module loads the survey, which a check never does)
    from mailspec.settings import Settings

__all__ = [
    "test_mx2_accepts_domain",
    "test_mx2_all_reachable",
    "test_mx2_dual_stack_path",
    "test_mx2_policy_covered",
    "test_mx2_policy_parity",
    "test_mx2_sandwich",
]

#: the --mail-probe levels, lowest first (compared by name: the settings module loads the survey)
PROBE_ORDER = ("dns", "connect", "envelope", "intrusive")
#: the words of a refusal that is about the mailbox, not the domain (the domain is accepted)
MAILBOX_UNKNOWN = ("user unknown", "unknown user", "no such user", "mailbox unavailable", "does not exist")


def _hosts(d: DomainDns) -> dict[str, set[int]]:
    """Each MX host (no null MX, no root) with every preference it is listed at."""
    out: dict[str, set[int]] = {}
    for t in d.mx_targets:
        if t.name and t.name != ".":
            out.setdefault(t.name, set()).add(t.preference)
    return out


def _mx_hosts(d: DomainDns) -> list[MxTarget]:
    """The domain's MX hosts, one each (at its best preference); skip when there are none to compare."""
    existing(d)
    need(d.mx)
    evidence(d.mx)
    if d.null_mx:
        pytest.skip(f"{d.domain} has a null MX: it accepts no mail (RFC 7505)")
    best: dict[str, MxTarget] = {}
    for t in d.mx_targets:
        if t.name and t.name != "." and (t.name not in best or t.preference < best[t.name].preference):
            best[t.name] = t
    if not best:
        pytest.skip(f"{d.domain} has no MX host (see mx.present)")
    return sorted(best.values(), key=lambda t: (t.preference, t.name))


@check(
    "mx2.all-reachable",
    refs=["RFC 5321 §5.1"],
    fix="Make every MX address accept connections on port 25 and greet, or remove it from the MX records.",
)
def test_mx2_all_reachable(smtp_session: SmtpSession) -> None:
    """Every MX address at every preference accepts a connection on port 25 and greets.

    Senders try each MX in order of preference (RFC 5321 §5.1), so a dead address at any preference
    delays mail: a warning per address (smtp.connect is the failure). A deliberately dead primary
    (nolisting) is a choice: waive this check for that host. An IPv6 address this machine has no route
    to is skipped.
    """
    s = smtp_session
    evidence(s)
    skip_unroutable(s)
    g = s.greeting
    if not s.connect_error and g is not None and g.code:  # a reply, as smtp.connect counts it
        if g.code != 220:
            note(f"{s.endpoint} greets with {g.reply} (see smtp.banner.code)")
        return
    if s.connect_error:
        why = f"does not accept a TCP connection on port {s.port} ({s.connect_error})"
    elif g is None or (not g.code and not g.malformed):
        why = f"accepts the connection but sends no greeting ({g.error if g is not None else 'no reply'})"
    else:
        why = f"greets with something that is not an SMTP reply ({(s.greeting_raw or g.malformed)[:80]!r})"
    warn(
        f"{s.endpoint} {why}. Senders try every MX address in order of preference (RFC 5321 §5.1), so each "
        "one that cannot take mail delays delivery. Fix or remove it (or, for a deliberate nolisting "
        "primary, waive mx2.all-reachable for that host)."
    )


def _mailbox_unknown(x: Exchange) -> bool:
    """A 5yz that refuses the mailbox (5.1.1, "user unknown"), not the domain or the relaying."""
    text = x.text.lower()
    if Reply(x.code, x.lines).enhanced == "5.1.1":  # (Postfix's backup: "User unknown in relay
        return True  # recipient table" is about the mailbox, though it says "relay")
    if "relay" in text or "domain" in text:
        return False
    return any(w in text for w in MAILBOX_UNKNOWN)


@check(
    "mx2.accepts-domain",
    refs=["RFC 5321 §3.6.2", "RFC 5321 §5.1", "RFC 5321 §4.2.1"],
    fix="Make every MX (backups included) accept mail for the domain: list it in the backup's relay domains.",
)
def test_mx2_accepts_domain(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """Every MX, backups included, accepts mail for the domain at RCPT.

    Judged from ``RCPT TO:<postmaster@domain>`` after ``MAIL FROM:<>`` (a normal sender when the null
    one was refused): 2yz passes; 4yz passes with a note (a backup may defer, RFC 5321 §4.2.1); a 5yz
    that refuses the domain or the relaying fails (the backup would bounce the domain's mail while the
    primary is down). A 5yz that refuses only the mailbox (5.1.1, "user unknown") shows the domain is
    served: it passes here, and role.postmaster fails.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    r = probe(env, "postmaster")
    normal = probe(env, "postmaster-sender")
    refused = (r is not None and r.rcpt is None) or bool(null_sender_refused(env))  # the null sender's
    if r is not None and refused and normal is not None and normal.rcpt is not None:
        note(f"{r.describe()}; judged from a normal sender instead (see role.postmaster-null-sender)")
        r = normal
    if r is None:
        raise Indeterminate(f"could not test: the session with {s.endpoint} ended before RCPT")
    x = r.rcpt
    if x is None or not x.code:
        raise Indeterminate(f"could not test: {r.describe()}")
    where = s.endpoint
    if x.kind == 2:
        return
    if x.kind == 4:
        note(f"{where} defers mail for {env.domain} ({said(x)}): a backup MX may defer (RFC 5321 §4.2.1)")
        return
    if x.kind == 5 and _mailbox_unknown(x):
        note(f"{where} takes mail for {env.domain} but refuses {r.mailbox} ({x.reply}; see role.postmaster)")
        return
    pytest.fail(
        f"{where} refuses mail for {env.domain}: {r.describe()}. Every MX of a domain must accept its mail "
        "(RFC 5321 §5.1, §3.6.2): when the primary is down senders deliver to this one, and a 5yz bounces "
        f"the mail. Configure it to accept (and relay) {env.domain} (Postfix relay_domains), or remove its "
        "MX record."
    )


# ------------------------------------------------------------------------------------ policy parity
Verdict = tuple[bool | None, str]  #: (rejects it? None: unknown, what was seen)


def _unknown_rcpt(env: SmtpEnvelope) -> Verdict:
    if not env.definite or env.refused:
        return None, env.refused or env.error
    r = probe(env, "unknown")
    if r is None or r.rcpt is None or r.kind not in (2, 5):
        return None, r.describe() if r is not None else "not asked"
    if r.kind == 5 and null_sender_refused(env):  # refused for its sender, not as unknown
        return None, r.describe()
    return r.kind == 5, r.describe()


def _relay(env: SmtpEnvelope) -> Verdict:
    if not env.definite or env.refused:
        return None, env.refused or env.error
    r = env.rcpts.get("relay")
    if r is None or r.rcpt is None or not r.rcpt.code:
        return None, r.describe() if r is not None else "not asked"
    return r.kind in (4, 5), r.describe()


def _verdict(verdict: str, lines: tuple[str, ...]) -> Verdict:
    seen = "; ".join(lines) or verdict or "not tried"
    return {"rejected": True, "accepted": False}.get(verdict), seen


def _early(x: SmtpIntrusive) -> Verdict:
    return _verdict(x.early_verdict, x.early) if x.definite else (None, x.error)


def _pipelining(x: SmtpIntrusive) -> Verdict:
    return _verdict(x.pipelining_verdict, x.pipelining) if x.definite else (None, x.error)


@check(
    "mx2.policy-parity",
    refs=["RFC 5321 §5.1", "RFC 5321 §7.9"],
    fix="Give the backup MX the primary's recipient list and anti-spam policy (or drop the backup).",
)
def test_mx2_policy_parity(
    smtp_endpoint: SmtpEndpoint,
    smtp_session: SmtpSession,
    smtp_envelope: SmtpEnvelope,
    dns_facts: DomainDns,
    mx_endpoints: list[SmtpEndpoint],
    mail_survey: FactSource,
    mailspec_settings: Settings,
) -> None:
    """No backup MX accepts what the best-preference MX rejects.

    For each lower-preference MX address, the same probes as at the best-preference addresses: an
    unknown recipient, the relay test and, with --mail-probe=intrusive, early talking and unauthorised
    pipelining. A backup that accepts what a primary address rejects warns (spammers aim at backups,
    which often lack the primary's recipient list and filters). The primary itself is the reference
    (skipped); a probe that either side could not answer is left out. The HELO-syntax probe of the
    catalog is not made yet.
    """
    me = smtp_endpoint
    if me.preference is None:
        pytest.skip("the servers were given with --mail-server: there are no MX preferences to compare")
    prefs = _hosts(dns_facts)
    endpoints = [e for e in mx_endpoints if e.preference is not None]
    best = min((min(prefs.get(e.host, {e.preference})) for e in endpoints if e.preference is not None),
               default=me.preference)  # fmt: skip
    if best in prefs.get(me.host, {me.preference}):
        pytest.skip(
            f"{me} is a best-preference MX (preference {best}): the reference the backups are compared with"
        )
    envelope_ready(smtp_session, smtp_envelope)
    primaries = [e for e in endpoints if best in prefs.get(e.host, {e.preference or 0})]
    if not primaries:
        raise Indeterminate(f"could not test: no best-preference MX address of {me.domain} to compare with")
    intrusive = PROBE_ORDER.index(str(mailspec_settings.probe)) >= PROBE_ORDER.index("intrusive")
    wanted: list[tuple[type, str]] = [(SmtpEnvelope, e.envelope_key) for e in primaries]
    if intrusive:
        wanted += [(SmtpIntrusive, e.envelope_key) for e in [*primaries, me]]
    try:
        mail_survey.prefetch(wanted)
        theirs = [(e, mail_survey.get(SmtpEnvelope, e.envelope_key)) for e in primaries]
        theirs_l3 = (
            [(e, mail_survey.get(SmtpIntrusive, e.envelope_key)) for e in primaries] if intrusive else []
        )
        mine_l3 = mail_survey.get(SmtpIntrusive, me.envelope_key) if intrusive else None
    except MailspecError as exc:  # (the survey's EngineError: a wait ran out)
        raise Indeterminate(f"could not test: {exc}") from None
    comparisons: list[tuple[str, Verdict, list[tuple[SmtpEndpoint, Verdict]]]] = []
    envelope_probes: list[tuple[str, Callable[[SmtpEnvelope], Verdict]]] = [
        ("an unknown recipient", _unknown_rcpt),
        ("the relay test", _relay),
    ]
    for label, fn in envelope_probes:
        comparisons.append((label, fn(smtp_envelope), [(e, fn(x)) for e, x in theirs]))
    if mine_l3 is not None:
        intrusive_probes: list[tuple[str, Callable[[SmtpIntrusive], Verdict]]] = [
            ("early talking", _early),
            ("unauthorised pipelining", _pipelining),
        ]
        for label, fn3 in intrusive_probes:
            comparisons.append((label, fn3(mine_l3), [(e, fn3(x)) for e, x in theirs_l3]))
    compared: list[str] = []
    weaker: list[str] = []
    for label, (mine, seen), others in comparisons:
        definite = [(e, v) for e, v in others if v[0] is not None]
        if mine is None or not definite:
            continue
        compared.append(label)
        evidence(f"{label}: {me}: {seen}", *(f"{label}: {e}: {v[1]}" for e, v in definite))
        strict = [(e, v) for e, v in definite if v[0]]
        if not mine and strict:
            e, v = strict[0]
            weaker.append(f"{label}: {e} rejects it ({v[1]}), this backup accepts it ({seen})")
    if not compared:
        raise Indeterminate(
            f"could not test: no probe was answered both at {me} and at a best-preference MX address"
        )
    if weaker:
        warn(
            f"the backup MX {me} (preference {me.preference}) is weaker than the primary: "
            f"{'; '.join(weaker)}. Spammers aim at backup MX hosts because they often lack the primary's "
            "checks; give the backup the primary's recipient list and policies (or drop it: with "
            "queueing senders, a backup MX is rarely needed)."
        )
    note(f"compared with the best-preference MX: {', '.join(compared)}")


# ------------------------------------------------------------------------------------- DNS only
@check(
    "mx2.sandwich",
    refs=["RFC 5321 §5.1"],
    fix="Nothing to fix: a sandwich (the primary listed again as the worst MX) is recorded as deliberate.",
)
def test_mx2_sandwich(dns_facts: DomainDns) -> None:
    """An exchange listed at both the best and the worst preference is a deliberate sandwich.

    Recorded for information (the nolisting "sandwich" variant), never flagged as a duplicate; an
    exchange listed at several other preferences is noted too. Equal preferences are fine (senders
    pick among them at random, RFC 5321 §5.1).
    """
    _mx_hosts(dns_facts)
    hosts = _hosts(dns_facts)
    every = {p for ps in hosts.values() for p in ps}
    lo, hi = min(every), max(every)
    if lo == hi:
        return
    sandwich = [h for h, ps in sorted(hosts.items()) if lo in ps and hi in ps]
    several = [h for h, ps in sorted(hosts.items()) if len(ps) > 1 and h not in sandwich]
    for h in sandwich:
        note(
            f"{h} is listed at both the best ({lo}) and the worst ({hi}) preference: a sandwich "
            "(nolisting variant), taken as deliberate"
        )
    for h in several:
        note(f"{h} is listed at several preferences ({', '.join(str(p) for p in sorted(hosts[h]))})")


def _families(t: MxTarget) -> set[str]:
    return {f for f, ips in (("IPv4", t.ipv4), ("IPv6", t.ipv6)) if ips}


@check(
    "mx2.dual-stack-path",
    refs=["RFC 3974 §4.2"],
    fix="Give the primary MX both IPv4 and IPv6 addresses, or give each backup the primary's family.",
)
def test_mx2_dual_stack_path(dns_facts: DomainDns) -> None:
    """The backup MX hosts share an address family with the primary MX.

    When the best-preference MX hosts have only one address family, a backup that has only the other
    one cannot relay to them (RFC 3974 §4.2): a warning naming each such backup. A primary with both
    families, or no backup, passes.
    """
    targets = _mx_hosts(dns_facts)
    if targets[0].implicit:
        pytest.skip(f"{dns_facts.domain} has no MX record (an implicit MX): there is no backup MX")
    best = targets[0].preference
    primaries = [t for t in targets if t.preference == best]
    backups = [t for t in targets if t.preference != best]
    if not backups:
        pytest.skip(f"{dns_facts.domain} has no lower-preference MX host")
    for t in targets:
        evidence(*t.lookups)
        need(*t.lookups)
    families = set().union(*(_families(t) for t in primaries))
    if len(families) != 1:
        if not families:
            pytest.skip(
                f"no best-preference MX host of {dns_facts.domain} has an address (see mx.target.resolves)"
            )
        return
    (family,) = families
    stranded = [t for t in backups if _families(t) and family not in _families(t)]
    if stranded:
        other = "IPv6" if family == "IPv4" else "IPv4"
        warn(
            f"the best-preference MX ({', '.join(t.name for t in primaries)}) has only {family} addresses, "
            f"but the backup(s) {', '.join(t.name for t in stranded)} only {other}: a backup cannot relay "
            "the mail it takes to the primary (RFC 3974 §4.2). Give the primary both families, or the "
            f"backup an {family} address."
        )


@check(
    "mx2.policy-covered",
    refs=["RFC 8461 §8.4", "RFC 7672 §2.2.1"],
    fix="List every MX host in the MTA-STS policy's mx patterns and publish TLSA records for each.",
)
def test_mx2_policy_covered(
    dns_facts: DomainDns, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """The backup MX hosts are covered by MTA-STS and DANE like the primary.

    When the domain's MTA-STS policy (mode enforce or testing) covers its best-preference MX hosts,
    every lower-preference MX host must match an ``mx`` pattern too: a backup left out shows only when
    the primary is down, and then senders that apply the policy refuse it (RFC 8461 §8.4). Without a
    policy that covers the primary there is nothing to match: skipped. A policy that could not be
    looked up or fetched is "could not test". The DANE half (TLSA records at every MX host like the
    primary, RFC 7672 §2.2.1) arrives with the DANE checks.
    """
    targets = _mx_hosts(dns_facts)
    best = min(t.preference for t in targets)
    if all(t.preference == best for t in targets):
        pytest.skip(f"{dns_facts.domain} has no lower-preference MX host: nothing to compare")
    policy = {
        t.name: published_tls(dns_facts.domain, t.name, mtasts_survey, lambda: mtasts_policy) for t in targets
    }
    evidence(mtasts_survey.txt)
    evidence([line for p in policy.values() for line in p.evidence()])
    unknown = [p.why for p in policy.values() if p.unknown]
    if unknown:
        raise Indeterminate(f"could not test: {unknown[0]}")
    primary = [t.name for t in targets if t.preference == best]
    if not any(policy[name].authenticated for name in primary):
        pytest.skip(
            f"no MTA-STS policy in mode enforce or testing covers the primary MX of {dns_facts.domain} "
            f"({policy[primary[0]].why}); the DANE half of this check arrives with the DANE checks"
        )
    backups = [t for t in targets if t.preference != best]
    left_out = [t for t in backups if not policy[t.name].authenticated]
    assert not left_out, (
        f"the MTA-STS policy of {dns_facts.domain} covers its primary MX ({', '.join(primary)}) but not "
        f"the backup MX host(s) {', '.join(f'{t.name} (preference {t.preference})' for t in left_out)}: "
        "the gap shows only when the primary is down, and then senders that apply the policy refuse the "
        "backup (RFC 8461 §8.4). Add an mx: line for each backup to the policy and change the policy id "
        "in the _mta-sts record."
    )
    note(
        f"every backup MX host ({', '.join(t.name for t in backups)}) is covered by the MTA-STS policy like "
        "the primary; TLSA records (DANE) are not compared in this release"
    )
