"""Role addresses at every MX: postmaster@, abuse@, hostmaster@, asked at RCPT and never sent a message
(`pytest --mail-checks` lists every check).

Each probe is ``MAIL FROM:<>``, ``RCPT TO:<role>``, then RSET: a 2yz passes, a 4yz that is still there
after the one retry warns (greylisting; never a failure), a 5yz fails. Whether the mail would then
get through content filters cannot be seen from outside (CATALOG §17). A server that greets this probe
with 554 refuses it: these checks skip, "cannot evaluate from this vantage point". When MAIL FROM:<>
itself is refused no recipient can be asked: could not test, except in the checks that are about
exactly that (role.postmaster-null-sender, role.not-tls-gated). A recipient refused until STARTTLS is
judged by its answer inside TLS (the refusal itself is role.not-tls-gated's failure).
"""

from __future__ import annotations

import pytest

from mailspec.catalog import check
from mailspec.checks.test_smtp import (
    answered,
    envelope_ready,
    null_sender_refused,
    plain_refusal,
    probe,
    said,
    tls_required,
)
from mailspec.errors import Indeterminate
from mailspec.facts.smtp import Rcpt, SmtpEnvelope, SmtpSession
from mailspec.outcome import note, warn

__all__ = [
    "test_role_abuse",
    "test_role_case_insensitive",
    "test_role_hostmaster",
    "test_role_not_tls_gated",
    "test_role_postmaster",
    "test_role_postmaster_null_sender",
    "test_role_postmaster_unqualified",
]

#: the role probes of the envelope session, in the order they are reported
ROLE_PROBES = ("postmaster", "abuse", "hostmaster", "rname", "unqualified", "mixed-case")


def _role(s: SmtpSession, env: SmtpEnvelope, name: str) -> Rcpt:
    """The role probe's answer; a persistent 4yz warns here, a 2yz or 5yz is the caller's to judge."""
    envelope_ready(s, env)
    r = answered(env, name)
    if r.kind == 4:
        x = r.rcpt
        warn(
            f"{s.endpoint} defers RCPT TO:<{r.mailbox}> (MAIL FROM:<{r.sender}>): "
            f"{said(x) if x is not None else r.describe()}. A temporary refusal that lasts delays "
            "complaints and bounces to the role address (RFC 5321 §4.2.1, §4.5.1); role addresses should be "
            "lightly filtered (exempt them from greylisting). Test again."
        )
    return r


@check(
    "role.postmaster",
    refs=["RFC 5321 §4.5.1", "RFC 5321 §2.3.5", "RFC 2142 §5"],
    fix="Accept mail for postmaster@ of every domain the server receives mail for (an alias to a person).",
)
def test_role_postmaster(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """Every MX accepts mail for postmaster@ of each hosted domain.

    ``RCPT TO:<postmaster@domain>`` after ``MAIL FROM:<>`` at every endpoint of the domain under test.
    When only the null sender is refused (postmaster@ is accepted from a normal sender), the mailbox
    exists: it passes with a note, and role.postmaster-null-sender fails.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    if why := null_sender_refused(env):
        note(f"postmaster@{env.domain} exists: {why}")
        return
    r = _role(s, env, "postmaster")
    assert r.kind == 2, (
        f"{s.endpoint} refuses postmaster@{env.domain}: {r.describe()}. Every SMTP server MUST support the "
        "reserved mailbox postmaster for the domains it receives mail for (RFC 5321 §4.5.1, §2.3.5; RFC "
        "2142 §5). Add a postmaster alias that reaches a person (Postfix: `postmaster: root` in "
        "/etc/aliases, or postmaster@ in the virtual alias map), on every MX."
    )


@check(
    "role.postmaster-unqualified",
    refs=["RFC 5321 §4.1.1.3", "RFC 5321 §4.5.1", "RFC 5321 §2.3.5"],
    fix="Accept RCPT TO:<Postmaster> without a domain (it means the server's own postmaster).",
)
def test_role_postmaster_unqualified(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server accepts mail for the unqualified recipient <Postmaster>.

    RFC 5321 requires it, but many servers refuse it (must†: reported as a warning).
    """
    s, env = smtp_session, smtp_envelope
    r = _role(s, env, "unqualified")
    assert r.kind == 2, (
        f"{s.endpoint} refuses the unqualified recipient: {r.describe()}. RCPT TO:<Postmaster> without a "
        "domain MUST be supported (RFC 5321 §4.1.1.3, §4.5.1): it reaches the postmaster of the server "
        "when its domains cannot be. Let the MTA accept it (Postfix qualifies it with $myorigin and "
        "accepts it when postmaster is a local alias)."
    )


@check(
    "role.postmaster-null-sender",
    refs=["RFC 5321 §4.5.5", "RFC 2505 §2.6.1"],
    fix="Accept mail from the null sender to postmaster@ (exempt it from sender checks).",
)
def test_role_postmaster_null_sender(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server accepts mail for postmaster@ from the null sender.

    Bounces and complaints arrive with ``MAIL FROM:<>``. postmaster@ with the null sender is compared
    with the same recipient from a normal sender (``mailspec@<probe name>``): refused with the null
    sender (at MAIL or RCPT) but accepted from the normal one fails, and deferred (a 4yz that
    outlasts the retry) warns; the same answer to both senders is not the null sender's doing
    (role.postmaster and smtp.null-sender.accepted judge it): skipped.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    null = answered(env, "postmaster", mail_is_the_point=True)
    x = plain_refusal(null)
    where = s.endpoint
    if not x.code:
        raise Indeterminate(f"could not test: {null.describe()}")
    if null.rcpt is not None and null.kind == 2:
        return
    normal = probe(env, "postmaster-sender")
    if normal is None:
        raise Indeterminate(
            f"could not test: {null.describe()}, and the comparison with a normal sender was not sent"
        )
    y = plain_refusal(normal)
    if (null.rcpt is None) == (normal.rcpt is None) and x.kind == y.kind and x.kind in (4, 5):
        pytest.skip(
            f"postmaster@{env.domain} gets the same at {where} with the null sender ({null.describe()}) "
            f"and with a normal sender ({normal.describe()}): not the null sender's (see role.postmaster)"
        )
    if normal.rcpt is None or y.kind != 2:
        raise Indeterminate(
            f"could not test: {null.describe()}, and a normal sender could not be compared "
            f"({normal.describe()})"
        )
    if x.kind == 4:
        warn(
            f"{where} defers postmaster@{env.domain} from the null sender ({null.describe()}"
            f"{', again after a retry' if x.first else ''}) but accepts it from a normal sender "
            f"({normal.describe()}). Bounces and complaints come with MAIL FROM:<> (RFC 5321 §4.5.5); "
            "exempt the null sender from greylisting."
        )
    pytest.fail(
        f"{where} accepts postmaster@{env.domain} from a normal sender ({normal.describe()}) but refuses it "
        f"from the null sender ({null.describe()}): bounces and complaints, which come with MAIL FROM:<>, "
        "cannot reach the postmaster (RFC 5321 §4.5.5; the MTA MUST NOT refuse MAIL From:<>, RFC 2505 "
        "§2.6.1). Exempt the null sender (and postmaster@) from sender checks."
    )


@check(
    "role.abuse",
    refs=["RFC 2142 §4", "RFC 2142 §2"],
    fix="Accept mail for abuse@ (an alias to whoever handles complaints).",
)
def test_role_abuse(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server accepts mail for abuse@ of the organisation's domain.

    Asked for the domain under test; RFC 2142 asks it of the organisation's top-level domain, so run
    mailspec on that domain too when this one is a subdomain.
    """
    s, env = smtp_session, smtp_envelope
    r = _role(s, env, "abuse")
    assert r.kind == 2, (
        f"{s.endpoint} refuses abuse@{env.domain}: {r.describe()}. abuse@ is where complaints about "
        "inappropriate behaviour are sent, and must be valid and supported (RFC 2142 §2, §4); refusing "
        "it sends complaints to blocklists instead. Add an abuse alias that reaches whoever handles "
        "complaints, on every MX."
    )


@check(
    "role.case-insensitive",
    refs=["RFC 2142 §2", "RFC 5321 §4.5.1"],
    fix="Match the postmaster (and role) local parts case-insensitively.",
)
def test_role_case_insensitive(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server accepts postmaster@ in any letter case.

    ``RCPT TO:<PoStMaStEr@domain>``: accepted like ``postmaster@`` passes; refused while postmaster@
    is accepted fails (deferred warns); the same answer as postmaster@ is role.postmaster's to judge
    (skipped here).
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    r = answered(env, "mixed-case")
    if r.kind == 2:
        return
    lower = probe(env, "postmaster")
    if lower is not None and lower.rcpt is not None and lower.kind == r.kind:
        pytest.skip(
            f"postmaster@{env.domain} in lower case gets the same: {lower.describe()} (see role.postmaster)"
        )
    if lower is None or lower.rcpt is None or lower.kind != 2:
        raise Indeterminate(
            f"could not test: {r.describe()}, and postmaster@ in lower case could not be compared "
            f"({lower.describe() if lower is not None else 'not sent'})"
        )
    if r.kind == 4:
        warn(
            f"{s.endpoint} accepts postmaster@{env.domain} but defers {r.mailbox}: {r.describe()}, again "
            "after a retry. The local part postmaster is case-insensitive (RFC 5321 §4.5.1); test again."
        )
    pytest.fail(
        f"{s.endpoint} accepts postmaster@{env.domain} but refuses {r.mailbox}: {r.describe()}. The local "
        "part postmaster is case-insensitive (RFC 5321 §4.5.1; RFC 2142 §2 for the role names). Match "
        "role local parts without regard to case (Postfix does; check a case-sensitive alias or "
        "recipient table)."
    )


@check(
    "role.hostmaster",
    refs=["RFC 2142 §5", "RFC 2142 §7", "RFC 1912 §2.2", "Zonemaster ZONE09"],
    fix="Accept mail for hostmaster@ and for the SOA RNAME mailbox.",
)
def test_role_hostmaster(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server accepts mail for hostmaster@ and the SOA RNAME mailbox.

    ``hostmaster@domain``, and the zone's SOA RNAME mailbox when it is another mailbox of the domain
    (one in another domain is not asked here; see dns.soa.rname).
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    names = [n for n in ("hostmaster", "rname") if n in env.rcpts or n == "hostmaster"]
    refused: list[Rcpt] = []
    deferred: list[Rcpt] = []
    unknown: list[str] = []
    for name in names:
        r = probe(env, name)
        if r is None:
            unknown.append(f"the {name} probe was not sent (the session ended)")
        elif r.rcpt is None:
            raise Indeterminate(f"could not test: {r.describe()} (see smtp.null-sender.accepted)")
        elif r.kind == 5 and (why := null_sender_refused(env)):
            unknown.append(f"{r.describe()}; {why}")
        elif r.kind == 5:
            refused.append(r)
        elif r.kind == 4:
            deferred.append(r)
        elif r.kind != 2:
            unknown.append(r.describe())
        if r is not None and r is not env.rcpts.get(name):
            note(f"{env.rcpts[name].describe()}; inside TLS: {r.describe()} (see role.not-tls-gated)")
    where = s.endpoint
    assert not refused, (
        f"{where} refuses {' and '.join(r.describe() for r in refused)}. hostmaster@ is where DNS problems "
        "are reported (RFC 2142 §5, §7), and the SOA RNAME names the zone's contact (RFC 1912 §2.2); both "
        "should accept mail. Add the aliases, or point the SOA RNAME at a mailbox that exists."
    )
    if unknown:
        raise Indeterminate(f"could not test: {'; '.join(unknown)}")
    if deferred:
        warn(
            f"{where} defers {' and '.join(r.describe() for r in deferred)} even after a retry; a lasting "
            "temporary refusal delays reports to the DNS contact (RFC 2142 §5). Test again."
        )


@check(
    "role.not-tls-gated",
    refs=["RFC 3207 §4"],
    fix="Accept mail for local recipients without STARTTLS on port 25 (offer TLS, do not require it).",
)
def test_role_not_tls_gated(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The role addresses accept mail on a plaintext session, without STARTTLS.

    Fails when, on plaintext, ``MAIL FROM:<>`` or a role ``RCPT`` is refused with a reply that asks
    for STARTTLS first (530, or a 5.7.x code naming TLS). A refusal for any other reason is the other
    role checks' concern.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    m = env.null_mail
    if m is None:
        raise Indeterminate(f"could not test: MAIL FROM:<> was not sent to {s.endpoint}")
    where = s.endpoint
    cite = (
        "a publicly-referenced SMTP server MUST NOT require STARTTLS in order to deliver mail locally (RFC "
        "3207 §4): senders without TLS cannot reach the domain's role addresses. Offer STARTTLS on port "
        "25 without requiring it (Postfix smtpd_tls_security_level = may, not encrypt)."
    )
    assert not tls_required(m), f"{where} refuses MAIL FROM:<> without STARTTLS ({m.reply}); {cite}"
    if m.kind != 2:
        raise Indeterminate(f"could not test: MAIL FROM:<> got {said(m)} (see smtp.null-sender.accepted)")
    asked = [env.rcpts[n] for n in ROLE_PROBES if n in env.rcpts]
    if not asked:
        raise Indeterminate(f"could not test: the session with {where} ended before any role recipient")
    gated = [r for r in asked if r.rcpt is not None and tls_required(r.rcpt)]
    assert not gated, f"on plaintext, {where} refuses {'; '.join(r.describe() for r in gated)}; {cite}"
