"""The role-address checks (mailspec/checks/test_role.py) on hand-built envelopes: 2yz pass, a 4yz
after the retry warns, 5yz fails; a refused MAIL FROM:<> leaves the recipient checks untested except
the ones about exactly that; a 554 greeting skips them all ("cannot evaluate from this vantage
point"); TLS-gated refusals are judged inside TLS and fail role.not-tls-gated."""

from __future__ import annotations

import pytest
from smtp_facts import (
    CLOSED,
    NO_USER,
    OK,
    REFUSED,
    TIMEOUT,
    Check,
    D,
    envelope,
    errors,
    fails,
    greeting,
    passes,
    rcpt,
    session,
    skips,
    warns,
    x,
)

from mailspec.checks import test_role as role
from mailspec.facts.smtp import Rcpt
from mailspec.outcome import reset

NORMAL = "mailspec@probe.test"
GATED = "5.7.0 Must issue a STARTTLS command first"
NULL_REFUSED = "5.7.1 null sender refused here"
#: postmaster@ refused from a normal sender too: a refusal with the null sender is the mailbox's
NORMAL_REFUSED = rcpt(f"postmaster@{D}", 550, NO_USER, sender=NORMAL)

#: each simple role check and the probe it reads
SIMPLE: list[tuple[Check, str, str]] = [
    (role.test_role_postmaster, "postmaster", f"postmaster@{D}"),
    (role.test_role_postmaster_unqualified, "unqualified", "Postmaster"),
    (role.test_role_abuse, "abuse", f"abuse@{D}"),
    (role.test_role_hostmaster, "hostmaster", f"hostmaster@{D}"),
]
ALL = [
    role.test_role_postmaster,
    role.test_role_postmaster_unqualified,
    role.test_role_postmaster_null_sender,
    role.test_role_abuse,
    role.test_role_case_insensitive,
    role.test_role_hostmaster,
    role.test_role_not_tls_gated,
]


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


def _name(c: Check) -> str:
    return c.__name__


def test_a_good_server_passes_every_role_check() -> None:
    for check in ALL:
        passes(check, session(), envelope())


@pytest.mark.parametrize(("check", "name", "mailbox"), SIMPLE, ids=[s[1] for s in SIMPLE])
def test_role_5yz_fails_and_4yz_after_the_retry_warns(check: Check, name: str, mailbox: str) -> None:
    refused = {name: rcpt(mailbox, 550, NO_USER), "postmaster_sender": NORMAL_REFUSED}
    fails(check, session(), envelope(**refused), match="refuses")
    later = rcpt(mailbox, 450, "4.7.1 greylisted", first="450 4.7.1 greylisted")
    warns(check, session(), envelope(**{name: later}), match="defers")


@pytest.mark.parametrize(("check", "name", "mailbox"), SIMPLE, ids=[s[1] for s in SIMPLE])
def test_role_could_not_test_without_an_answer(check: Check, name: str, mailbox: str) -> None:
    errors(check, session(), envelope(**{name: rcpt(mailbox, 0, error=TIMEOUT)}))
    errors(
        check, session(), envelope(null_mail=x("MAIL FROM:<>", 550, "5.7.1 <>: rejected")), match="MAIL FROM"
    )


@pytest.mark.parametrize("check", ALL, ids=_name)
def test_every_role_check_skips_when_the_server_refuses_this_probe(check: Check) -> None:
    refused = envelope(
        refused="the server greets this probe with 554 5.7.1 no: it refuses this vantage point"
    )
    skips(check, greeting(554, "5.7.1 no"), refused, match="cannot evaluate from this vantage point")


@pytest.mark.parametrize("check", ALL, ids=_name)
def test_every_role_check_without_envelope_probes(check: Check) -> None:
    skips(check, REFUSED, envelope(error="could not connect: connection refused"), match="see smtp.connect")
    errors(check, greeting(421), envelope(error="no 220 greeting: 421 busy"), match="not available")


def test_postmaster_refused_with_the_null_sender_only_passes_with_a_note() -> None:
    env = envelope(postmaster=rcpt(f"postmaster@{D}", 550, NULL_REFUSED))
    notes = passes(role.test_role_postmaster, session(), env)
    assert any("role.postmaster-null-sender" in n for n in notes)


def test_other_roles_refused_with_the_null_sender_only_could_not_test() -> None:
    env = envelope(
        postmaster=rcpt(f"postmaster@{D}", 550, NULL_REFUSED),
        abuse=rcpt(f"abuse@{D}", 550, NULL_REFUSED),
        hostmaster=rcpt(f"hostmaster@{D}", 550, NULL_REFUSED),
        mixed_case=rcpt(f"PoStMaStEr@{D}", 550, NULL_REFUSED),
    )
    for check in (role.test_role_abuse, role.test_role_hostmaster, role.test_role_case_insensitive):
        errors(check, session(), env, match="refuses the null sender at RCPT")
    fails(role.test_role_postmaster_null_sender, session(), env, match="from the null sender")


# ------------------------------------------------------------------------------------- null sender
def test_null_sender_refused_at_mail_but_a_normal_sender_accepted_fails() -> None:
    env = envelope(null_mail=x("MAIL FROM:<>", 550, "5.7.1 <>: Sender address rejected"))
    fails(role.test_role_postmaster_null_sender, session(), env, match="RFC 2505")


def test_null_sender_deferred_while_a_normal_one_is_accepted_warns() -> None:
    env = envelope(postmaster=rcpt(f"postmaster@{D}", 450, "4.7.1 later", first="450 4.7.1 later"))
    warns(role.test_role_postmaster_null_sender, session(), env, match="exempt the null sender")


def test_the_same_answer_to_both_senders_is_not_the_null_senders_doing() -> None:
    both = envelope(
        postmaster=rcpt(f"postmaster@{D}", 550, NO_USER),
        postmaster_sender=rcpt(f"postmaster@{D}", 550, NO_USER, sender=NORMAL),
    )
    skips(role.test_role_postmaster_null_sender, session(), both, match="see role.postmaster")
    greylisted = envelope(
        postmaster=rcpt(f"postmaster@{D}", 450, "4.7.1 later"),
        postmaster_sender=rcpt(f"postmaster@{D}", 450, "4.7.1 later", sender=NORMAL),
    )
    skips(role.test_role_postmaster_null_sender, session(), greylisted, match="not the null sender")
    mail_both = envelope(
        null_mail=x("MAIL FROM:<>", 550, "no"),
        postmaster_sender=rcpt(f"postmaster@{D}", 0, sender=NORMAL, mail=x("MAIL", 550, "no")),
    )
    skips(role.test_role_postmaster_null_sender, session(), mail_both)


def test_null_sender_compared_with_an_unusable_normal_sender_could_not_test() -> None:
    refused = rcpt(f"postmaster@{D}", 550, NO_USER)
    sender_refused = rcpt(f"postmaster@{D}", 0, sender=NORMAL, mail=x("MAIL", 553, "5.1.8 bad sender domain"))
    env = envelope(postmaster=refused, postmaster_sender=sender_refused)
    errors(role.test_role_postmaster_null_sender, session(), env, match="could not be compared")
    errors(
        role.test_role_postmaster_null_sender, session(), envelope(postmaster=refused, postmaster_sender=None)
    )
    errors(
        role.test_role_postmaster_null_sender, session(), envelope(null_mail=x("MAIL FROM:<>", error=TIMEOUT))
    )


# --------------------------------------------------------------------------------------- letter case
def test_case_insensitive_fails_when_only_the_mixed_case_is_refused() -> None:
    env = envelope(mixed_case=rcpt(f"PoStMaStEr@{D}", 550, NO_USER))
    fails(role.test_role_case_insensitive, session(), env, match="case-insensitive")
    later = envelope(mixed_case=rcpt(f"PoStMaStEr@{D}", 450, "4.7.1 later"))
    warns(role.test_role_case_insensitive, session(), later, match="defers")


def test_case_insensitive_leaves_a_refused_postmaster_to_role_postmaster() -> None:
    env = envelope(
        postmaster=rcpt(f"postmaster@{D}", 550, NO_USER),
        mixed_case=rcpt(f"PoStMaStEr@{D}", 550, NO_USER),
        postmaster_sender=NORMAL_REFUSED,
    )
    skips(role.test_role_case_insensitive, session(), env, match="see role.postmaster")
    deferred = envelope(
        postmaster=rcpt(f"postmaster@{D}", 450, "later"), mixed_case=rcpt(f"PoStMaStEr@{D}", 550, NO_USER)
    )
    errors(role.test_role_case_insensitive, session(), deferred, match="could not be compared")


# ----------------------------------------------------------------------------------------- hostmaster
def test_hostmaster_also_asks_the_soa_rname_mailbox() -> None:
    passes(role.test_role_hostmaster, session(), envelope(rname=rcpt(f"dns-admin@{D}", 250, OK)))
    msg = fails(role.test_role_hostmaster, session(), envelope(rname=rcpt(f"dns-admin@{D}", 550, NO_USER)))
    assert f"dns-admin@{D}" in msg
    errors(role.test_role_hostmaster, session(), envelope(hostmaster=None), match="not sent")


def test_hostmaster_refusal_wins_over_an_unanswered_rname() -> None:
    env = envelope(hostmaster=rcpt(f"hostmaster@{D}", 550, NO_USER), rname=rcpt(f"dns@{D}", 0, error=TIMEOUT))
    fails(role.test_role_hostmaster, session(), env, match="hostmaster")


# ------------------------------------------------------------------------------------------- TLS gating
def test_tls_gated_role_recipients_fail_not_tls_gated_and_are_judged_inside_tls() -> None:
    inside = Rcpt(f"postmaster@{D}", "", x("MAIL FROM:<>", 250, "2.1.0 Ok"), x("RCPT", 250, OK), tls=True)
    env = envelope(postmaster=rcpt(f"postmaster@{D}", 530, GATED), postmaster_at_tls=inside)
    fails(role.test_role_not_tls_gated, session(), env, match="RFC 3207 §4")
    notes = passes(role.test_role_postmaster, session(), env)
    assert any("inside TLS" in n for n in notes)


def test_a_tls_gated_null_sender_fails_not_tls_gated() -> None:
    env = envelope(null_mail=x("MAIL FROM:<>", 530, GATED))
    fails(role.test_role_not_tls_gated, session(), env, match="MAIL FROM:<> without STARTTLS")


def test_not_tls_gated_ignores_refusals_that_are_not_about_tls() -> None:
    passes(role.test_role_not_tls_gated, session(), envelope(abuse=rcpt(f"abuse@{D}", 550, NO_USER)))
    auth = rcpt(f"abuse@{D}", 530, "5.7.0 Authentication required")
    passes(role.test_role_not_tls_gated, session(), envelope(abuse=auth))


def test_not_tls_gated_could_not_test_without_role_recipients() -> None:
    env = envelope(**{n: None for n in ("postmaster", "abuse", "hostmaster", "unqualified", "mixed_case")})
    errors(role.test_role_not_tls_gated, session(), env, match="before any role recipient")
    errors(role.test_role_not_tls_gated, session(), envelope(null_mail=x("MAIL FROM:<>", error=CLOSED)))
