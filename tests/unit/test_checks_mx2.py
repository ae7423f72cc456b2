"""The secondary-MX checks (mailspec/checks/test_mx2.py) and dns.soa.rname's RCPT part on hand-built
facts: reachability, the domain accepted at every MX, policy parity between the backup and the
primary (read through a stand-in for the survey), sandwiches, address families, and the MTA-STS/DANE
coverage that needs facts of a later release."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import pytest
from smtp_facts import (
    BABBLER,
    BADCODE,
    GARBAGE,
    NO_USER,
    NO_V6,
    OK,
    REFUSED,
    RELAY,
    TARPIT,
    UNKNOWN,
    envelope,
    errors,
    fails,
    greeting,
    intrusive,
    passes,
    rcpt,
    session,
    skips,
    warns,
    x,
)

from mailspec.checks import test_dns as dnschecks
from mailspec.checks import test_mx2 as mx2
from mailspec.errors import MailspecError
from mailspec.facts import DnsAnswer, DomainDns, MxTarget, Record
from mailspec.facts.auth import MtaStsSurvey
from mailspec.facts.mtasts import MtaStsFetch, policy_host, policy_url
from mailspec.facts.smtp import SmtpEndpoint, SmtpEnvelope, SmtpIntrusive
from mailspec.outcome import current, reset
from mailspec.settings import ProbeLevel, Settings

D = "example.com"
F = TypeVar("F")


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


# ------------------------------------------------------------------------------------------ DNS facts
def ans(
    qname: str, rdtype: str, *records: Record, rcode: str = "NOERROR", error: str | None = None
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=None if error else rcode, error=error, answer=records)


def target(name: str, pref: int, v4: tuple[str, ...] = (), v6: tuple[str, ...] = ()) -> MxTarget:
    a = ans(name, "A", *(Record(name, 60, "A", ip) for ip in v4))
    aaaa = ans(name, "AAAA", *(Record(name, 60, "AAAA", ip) for ip in v6))
    return MxTarget(D, name, pref, a, aaaa)


def domain(
    *targets: MxTarget, rname: str = "hostmaster.example.com.", mx: DnsAnswer | None = None
) -> DomainDns:
    soa = Record(D, 3600, "SOA", f"ns1.example.com. {rname} 1 14400 3600 1209600 3600")
    records = tuple(Record(D, 300, "MX", f"{t.preference} {t.name}." if t.name else "0 .") for t in targets)
    return DomainDns(
        D, soa=ans(D, "SOA", soa), ns=ans(D, "NS"), mx=mx or ans(D, "MX", *records), a=ans(D, "A"),
        aaaa=ans(D, "AAAA"), txt=ans(D, "TXT"), zone=D, mx_targets=targets,
    )  # fmt: skip


MX1 = target("mx1.example.com", 10, ("192.0.2.1",))
MX2 = target("mx2.example.com", 20, ("192.0.2.2",))
TWO = domain(MX1, MX2)


def ep(t: MxTarget, ip: str | None = None, pref: int | None = -1) -> SmtpEndpoint:
    return SmtpEndpoint(D, t.name, ip or t.ips[0], 25, t.preference if pref == -1 else pref)


class Facts:
    """A stand-in for the run's survey: facts by kind and key, or the survey's error."""

    def __init__(self, facts: dict[tuple[type, str], Any], *, broken: bool = False) -> None:
        self.facts = facts
        self.broken = broken
        self.prefetched: list[tuple[type, str]] = []

    def prefetch(self, wanted: Any) -> None:
        self.prefetched += list(wanted)

    def wanted(self, kind: type, key: str) -> bool:
        """Every fact it holds was wanted by the run (the SMTP checks were selected)."""
        return self.broken or (kind, key) in self.facts

    def get(self, kind: type[F], key: str) -> F:
        if self.broken:
            raise MailspecError("the survey did not finish within 30 s")
        value: F = self.facts[(kind, key)]
        return value


def facts_of(**by_endpoint: tuple[SmtpEndpoint, SmtpEnvelope, SmtpIntrusive | None]) -> Facts:
    out: dict[tuple[type, str], Any] = {}
    for e, env, l3 in by_endpoint.values():
        out[(SmtpEnvelope, e.envelope_key)] = env
        if l3 is not None:
            out[(SmtpIntrusive, e.envelope_key)] = l3
    return Facts(out)


ENVELOPE = Settings(probe=ProbeLevel.ENVELOPE)
INTRUSIVE = Settings(probe=ProbeLevel.INTRUSIVE)
DNS_ONLY = Settings(probe=ProbeLevel.DNS)


# -------------------------------------------------------------------------------------- all-reachable
def test_all_reachable_passes_any_reply_and_warns_without_one() -> None:
    passes(mx2.test_mx2_all_reachable, session())
    assert any("smtp.banner.code" in n for n in passes(mx2.test_mx2_all_reachable, greeting(554)))
    passes(mx2.test_mx2_all_reachable, BADCODE)
    for dead in (REFUSED, TARPIT, GARBAGE, BABBLER):
        warns(mx2.test_mx2_all_reachable, dead, match="nolisting")
    skips(mx2.test_mx2_all_reachable, NO_V6, match="IPv6")


# ------------------------------------------------------------------------------------- accepts-domain
def test_accepts_domain_2yz_passes_4yz_passes_with_a_note() -> None:
    passes(mx2.test_mx2_accepts_domain, session(), envelope())
    later = envelope(postmaster=rcpt(f"postmaster@{D}", 451, "4.3.0 later", first="451 4.3.0 later"))
    assert any("may defer" in n for n in passes(mx2.test_mx2_accepts_domain, session(), later))


def test_accepts_domain_fails_relay_denied_or_unknown_domain() -> None:
    refuse = {
        "postmaster": rcpt(f"postmaster@{D}", 554, "5.7.1 <postmaster@example.com>: Relay access denied"),
        "postmaster_sender": rcpt(f"postmaster@{D}", 554, "5.7.1 Relay access denied", sender="a@b"),
    }
    fails(mx2.test_mx2_accepts_domain, session(), envelope(**refuse), match="Postfix relay_domains")
    unknown_domain = rcpt(f"postmaster@{D}", 550, "5.1.2 bad destination system")
    refuse["postmaster"] = unknown_domain
    fails(mx2.test_mx2_accepts_domain, session(), envelope(**refuse), match="refuses mail for")


def test_accepts_domain_a_refused_mailbox_shows_the_domain_is_served() -> None:
    env = envelope(
        postmaster=rcpt(f"postmaster@{D}", 550, NO_USER),
        postmaster_sender=rcpt(f"postmaster@{D}", 550, NO_USER, sender="a@b"),
    )
    assert any("role.postmaster" in n for n in passes(mx2.test_mx2_accepts_domain, session(), env))


def test_accepts_domain_falls_back_on_a_normal_sender() -> None:
    no_null = envelope(null_mail=x("MAIL FROM:<>", 550, "5.7.1 no null sender"))
    assert any("normal sender" in n for n in passes(mx2.test_mx2_accepts_domain, session(), no_null))
    null_rcpt = envelope(postmaster=rcpt(f"postmaster@{D}", 550, "5.7.1 null sender refused here"))
    passes(mx2.test_mx2_accepts_domain, session(), null_rcpt)


def test_accepts_domain_preconditions() -> None:
    refused = envelope(refused="the server greets this probe with 554: it refuses this vantage point")
    skips(mx2.test_mx2_accepts_domain, greeting(554), refused, match="vantage point")
    errors(mx2.test_mx2_accepts_domain, session(), envelope(postmaster=None), match="ended before RCPT")
    errors(mx2.test_mx2_accepts_domain, session(), envelope(postmaster=rcpt(f"postmaster@{D}", 0, error="x")))


# -------------------------------------------------------------------------------------- policy parity
def _parity(me: SmtpEndpoint, mine: SmtpEnvelope, facts: Facts, settings: Settings = ENVELOPE,
            d: DomainDns = TWO, endpoints: list[SmtpEndpoint] | None = None) -> None:  # fmt: skip
    eps = endpoints if endpoints is not None else [ep(MX1), ep(MX2)]
    mx2.test_mx2_policy_parity(me, session(), mine, d, eps, facts, settings)


def test_parity_skips_the_primary_and_a_mail_server() -> None:
    skips(_parity, ep(MX1), envelope(), Facts({}), match="best-preference MX")
    skips(_parity, ep(MX2, pref=None), envelope(), Facts({}), match="--mail-server")


def test_parity_passes_a_backup_as_strict_as_the_primary() -> None:
    facts = facts_of(p=(ep(MX1), envelope(), None))
    notes = passes(_parity, ep(MX2), envelope(), facts)
    assert any("an unknown recipient, the relay test" in n for n in notes)
    assert (SmtpEnvelope, ep(MX1).envelope_key) in facts.prefetched


def test_parity_warns_when_the_backup_accepts_an_unknown_recipient_or_relays() -> None:
    facts = facts_of(p=(ep(MX1), envelope(), None))
    lax = envelope(unknown=rcpt(UNKNOWN, 250, OK))
    warns(_parity, ep(MX2), lax, facts, match="an unknown recipient: mx1.example.com .* rejects it")
    relays = envelope(relay=rcpt(RELAY, 250, OK, sender="mailspec@probe.test"))
    warns(_parity, ep(MX2), relays, facts, match="the relay test")


def test_parity_compares_the_intrusive_probes_only_at_intrusive_level() -> None:
    facts = facts_of(p=(ep(MX1), envelope(), intrusive()), b=(ep(MX2), envelope(), intrusive("accepted")))
    passes(_parity, ep(MX2), envelope(), facts, ENVELOPE)
    warns(_parity, ep(MX2), envelope(), facts, INTRUSIVE, match="early talking")
    facts = facts_of(
        p=(ep(MX1), envelope(), intrusive()), b=(ep(MX2), envelope(), intrusive(pipelining="accepted"))
    )
    warns(_parity, ep(MX2), envelope(), facts, INTRUSIVE, match="unauthorised pipelining")


def test_parity_a_backup_stricter_than_the_primary_passes() -> None:
    facts = facts_of(p=(ep(MX1), envelope(unknown=rcpt(UNKNOWN, 250, OK)), None))
    passes(_parity, ep(MX2), envelope(), facts)


def test_parity_could_not_test_when_nothing_compares() -> None:
    refused = envelope(refused="the server greets this probe with 554: it refuses this vantage point")
    errors(_parity, ep(MX2), envelope(), facts_of(p=(ep(MX1), refused, None)), match="no probe was answered")
    errors(_parity, ep(MX2), envelope(), Facts({}, broken=True), match="did not finish")
    # a primary without an address leaves the backup the best MX a sender can reach: the reference
    skips(_parity, ep(MX2), envelope(), Facts({}), ENVELOPE, TWO, [ep(MX2)], match="best-preference MX")


def test_parity_a_sandwiched_backup_is_the_primary() -> None:
    sandwich = domain(MX1, MX2, dataclasses.replace(MX2, preference=5))
    skips(_parity, ep(MX2), envelope(), Facts({}), ENVELOPE, sandwich, match="best-preference MX")


# -------------------------------------------------------------------------------------------- DNS only
def test_sandwich_notes_an_exchange_at_both_ends() -> None:
    sandwich = domain(MX1, MX2, dataclasses.replace(MX1, preference=30))
    assert any("sandwich" in n for n in passes(mx2.test_mx2_sandwich, sandwich))
    several = domain(
        MX1, MX2, dataclasses.replace(MX2, preference=15), target("mx3.example.com", 30, ("192.0.2.3",))
    )
    assert any("several preferences" in n for n in passes(mx2.test_mx2_sandwich, several))
    assert passes(mx2.test_mx2_sandwich, TWO) == []
    assert passes(mx2.test_mx2_sandwich, domain(MX1)) == []


def test_mx2_dns_checks_skip_a_null_mx_or_no_mx() -> None:
    null = domain(MxTarget(D, "", 0))
    covered = partial_policy(mx2.test_mx2_policy_covered, STS, policy_fetch())
    for check in (mx2.test_mx2_sandwich, mx2.test_mx2_dual_stack_path, covered):
        skips(check, null, match="null MX")
        skips(check, domain(), match="no MX host")
        errors(check, domain(mx=ans(D, "MX", error="no answer within 1 s (timeout)")))


def test_dual_stack_path_warns_when_a_backup_has_only_the_other_family() -> None:
    v6_backup = target("mx2.example.com", 20, (), ("2001:db8::2",))
    warns(mx2.test_mx2_dual_stack_path, domain(MX1, v6_backup), match="only IPv4 .* only IPv6")
    both = target("mx1.example.com", 10, ("192.0.2.1",), ("2001:db8::1",))
    passes(mx2.test_mx2_dual_stack_path, domain(both, v6_backup))
    passes(mx2.test_mx2_dual_stack_path, TWO)
    skips(mx2.test_mx2_dual_stack_path, domain(MX1), match="no lower-preference")
    implicit = dataclasses.replace(MX1, name=D, preference=0, implicit=True)
    skips(mx2.test_mx2_dual_stack_path, _implicit(implicit), match="implicit")
    broken = dataclasses.replace(v6_backup, aaaa=ans("mx2.example.com", "AAAA", error="no answer (timeout)"))
    errors(mx2.test_mx2_dual_stack_path, domain(MX1, broken))


def _implicit(t: MxTarget) -> DomainDns:
    return dataclasses.replace(domain(), mx_targets=(t,))


STS = MtaStsSurvey(
    D,
    ans(f"_mta-sts.{D}", "TXT", Record(f"_mta-sts.{D}", 300, "TXT", '"v=STSv1; id=1"')),
    ans(f"_smtp._tls.{D}", "TXT"),
    ans(policy_host(D), "A", Record(policy_host(D), 60, "A", "192.0.2.80")),
    ans(policy_host(D), "AAAA"),
)
NO_STS = dataclasses.replace(STS, txt=ans(f"_mta-sts.{D}", "TXT"))


def policy_fetch(mode: str = "enforce", *patterns: str, **kw: Any) -> MtaStsFetch:
    body = f"version: STSv1\r\nmode: {mode}\r\n" + "".join(
        f"mx: {p}\r\n" for p in patterns or ("*.example.com",)
    )
    body += "max_age: 604800\r\n"
    fields: dict[str, Any] = {"status": 200, "reason": "OK", "content_type": "text/plain", "body": body,
                              "body_bytes": len(body)}  # fmt: skip
    fields.update(kw)
    return MtaStsFetch(D, policy_host(D), "192.0.2.80", 443, policy_url(D), 10.0, 69632, **fields)


def partial_policy(check: Any, survey: MtaStsSurvey, fetch: MtaStsFetch) -> Any:
    def run(d: DomainDns) -> None:
        check(d, survey, fetch)

    return run


def test_policy_covered_fails_when_the_policy_leaves_a_backup_out() -> None:
    only_mx1 = partial_policy(mx2.test_mx2_policy_covered, STS, policy_fetch("enforce", "mx1.example.com"))
    reset()
    with pytest.raises(
        AssertionError, match=r"not the backup MX host\(s\) mx2.example.com \(preference 20\)"
    ):
        only_mx1(TWO)
    assert any("does not cover mx2.example.com" in line for line in current().evidence)
    testing = partial_policy(mx2.test_mx2_policy_covered, STS, policy_fetch("testing", "mx1.example.com"))
    with pytest.raises(AssertionError, match=r"RFC 8461 §8\.4"):
        testing(TWO)


def test_policy_covered_passes_when_every_backup_is_covered() -> None:
    notes = passes(partial_policy(mx2.test_mx2_policy_covered, STS, policy_fetch()), TWO)
    assert any("covered by the MTA-STS policy like the primary" in n for n in notes)


def test_policy_covered_skips_without_a_policy_on_the_primary_and_errors_when_unknown() -> None:
    check = mx2.test_mx2_policy_covered
    skips(partial_policy(check, NO_STS, policy_fetch()), TWO, match="no MTA-STS record.*DANE")
    skips(
        partial_policy(check, STS, policy_fetch("none", "mx1.example.com")),
        TWO,
        match="mode enforce or testing",
    )
    skips(
        partial_policy(check, STS, policy_fetch("enforce", "mx2.example.com")),
        TWO,
        match="does not cover mx1",
    )
    skips(partial_policy(check, STS, policy_fetch()), domain(MX1), match="no lower-preference")
    refused = policy_fetch(status=0, failure="connect", error="connection refused")
    errors(partial_policy(check, STS, refused), TWO)


# ------------------------------------------------------------------------------- dns.soa.rname at RCPT
def _rname(
    d: DomainDns, facts: Facts, settings: Settings = ENVELOPE, eps: list[SmtpEndpoint] | None = None
) -> None:
    dnschecks.test_dns_soa_rname(d, [ep(MX1), ep(MX2)] if eps is None else eps, facts, settings)


def test_rname_accepted_at_every_mx_passes_with_a_note() -> None:
    facts = facts_of(a=(ep(MX1), envelope(), None), b=(ep(MX2), envelope(), None))
    notes = passes(_rname, TWO, facts)
    assert any("accepted at RCPT by mx1.example.com" in n and "mx2.example.com" in n for n in notes)
    assert any("hostmaster@example.com" in line for line in current().evidence)


def test_rname_refused_at_an_mx_warns() -> None:
    refused = envelope(hostmaster=rcpt(f"hostmaster@{D}", 550, NO_USER))
    facts = facts_of(a=(ep(MX1), envelope(), None), b=(ep(MX2), refused, None))
    warns(_rname, TWO, facts, match="refused at RCPT by mx2.example.com")


def test_rname_another_mailbox_of_the_domain_is_read_from_its_own_probe() -> None:
    d = domain(MX1, rname="dns\\.admin.example.com.")
    env = envelope(rname=rcpt(f"dns.admin@{D}", 550, NO_USER))
    warns(_rname, d, facts_of(a=(ep(MX1), env, None)), ENVELOPE, [ep(MX1)], match="dns.admin@example.com")


def test_rname_in_another_domain_or_below_the_probe_level_is_noted_not_asked() -> None:
    facts = Facts({}, broken=True)
    other = domain(MX1, rname="hostmaster.example.net.")
    assert any("not checked at RCPT" in n for n in passes(_rname, other, facts))
    assert any("--mail-probe=envelope" in n for n in passes(_rname, TWO, facts, DNS_ONLY))
    assert any("no MX address" in n for n in passes(_rname, TWO, facts, ENVELOPE, []))


def test_rname_untested_at_rcpt_is_noted_not_an_error() -> None:
    assert any("could not be asked" in n for n in passes(_rname, TWO, Facts({}, broken=True)))
    refused = envelope(refused="the server greets this probe with 554: it refuses this vantage point")
    null = envelope(
        postmaster=rcpt(f"postmaster@{D}", 550, "5.7.1 null sender refused"),
        hostmaster=rcpt(f"hostmaster@{D}", 550, "5.7.1 null sender refused"),
    )
    facts = facts_of(a=(ep(MX1), refused, None), b=(ep(MX2), null, None))
    notes = passes(_rname, TWO, facts)
    assert any("not tested at RCPT" in n and "vantage point" in n and "null sender" in n for n in notes)


def test_rname_syntax_warnings_come_first() -> None:
    warns(_rname, domain(MX1, rname="host_master.example.com."), Facts({}, broken=True), match="not a")


def test_rname_is_not_asked_when_no_smtp_check_was_selected() -> None:
    """dns.soa.rname opens no SMTP connection of its own: without the envelopes the run fetches for
    the SMTP checks, the RCPT part is only noted."""
    assert any("not asked at RCPT in this run" in n for n in passes(_rname, TWO, Facts({})))
