"""The SMTP dialogue checks (mailspec/checks/test_smtp.py) on hand-built facts: every branch of every
rule, the hostile greetings (garbage, binary, an endless line, a tarpit, a bad code), 4yz after the
retry, and the 554 greeting that refuses the probe."""

from __future__ import annotations

import dataclasses

import pytest
from smtp_facts import (
    BABBLER,
    BADCODE,
    BINARY,
    BUDGET,
    CLOSED,
    CLOSED_EARLY,
    GARBAGE,
    HOST,
    NO_V4_ROUTE,
    NO_V6,
    OK,
    REFUSED,
    RELAY,
    TARPIT,
    TIMEOUT,
    UNKNOWN,
    Check,
    D,
    endpoint,
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
)  # fmt: skip

from mailspec.checks import test_smtp as smtp
from mailspec.facts.smtp import Rcpt, SmtpSession, TlsInfo
from mailspec.outcome import current, reset


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


SESSION_CHECKS = [
    smtp.test_smtp_banner_no_underscore,
    smtp.test_smtp_ehlo_ok,
    smtp.test_smtp_ehlo_no_underscore,
    smtp.test_smtp_helo_ok,
    smtp.test_smtp_unknown_command_tolerated,
    smtp.test_smtp_pipelining_advertised,
]
ENVELOPE_CHECKS = [
    smtp.test_smtp_null_sender_accepted,
    smtp.test_smtp_rcpt_unknown_rejected,
    smtp.test_smtp_relay_denied,
    smtp.test_smtp_vrfy_honest,
    smtp.test_smtp_vrfy_implemented,
    smtp.test_smtp_expn_advertised,
]
INTRUSIVE_CHECKS = [smtp.test_smtp_early_talker, smtp.test_smtp_pipelining_unauth]


# ---------------------------------------------------------------------------------------- a good server
def test_a_good_server_passes_every_check_with_its_transcript_as_evidence() -> None:
    s, env = session(transcript=("S: 220 mx1.example.com ESMTP Postfix",)), envelope()
    smtp.test_smtp_connect(s)
    smtp.test_smtp_banner_code(endpoint(), s)
    smtp.test_smtp_banner_syntax(s)
    for check in SESSION_CHECKS:
        check(s)
    for check in ENVELOPE_CHECKS:
        check(s, env)
    for check in INTRUSIVE_CHECKS:
        check(s, intrusive())
    assert "S: 220 mx1.example.com ESMTP Postfix" in current().evidence
    assert any("lists PIPELINING" in n for n in current().notes)


# ------------------------------------------------------------------------------------------ smtp.connect
def test_connect_refused_fails_with_the_reason() -> None:
    assert "connection refused" in fails(smtp.test_smtp_connect, REFUSED, match="does not accept a TCP")


def test_connect_ipv6_without_a_route_skips_and_ipv4_without_one_is_indeterminate() -> None:
    skips(smtp.test_smtp_connect, NO_V6, match="no IPv6 route")
    errors(smtp.test_smtp_connect, NO_V4_ROUTE, match="no route")
    errors(smtp.test_smtp_connect, BUDGET, match="survey timeout")


@pytest.mark.parametrize(("hostile", "match"), [
    (GARBAGE, "not an SMTP reply"), (BABBLER, "not an SMTP reply .'Response too long"),
    (BINARY, "not an SMTP reply"), (TARPIT, "no whole greeting"), (CLOSED_EARLY, "closed by the server"),
], ids=["garbage", "babbler", "binary", "tarpit", "closed"])  # fmt: skip
def test_connect_fails_on_a_greeting_that_is_not_an_smtp_reply(hostile: SmtpSession, match: str) -> None:
    fails(smtp.test_smtp_connect, hostile, match=match)


def test_connect_passes_on_any_reply_code_even_a_bad_one() -> None:
    for s in (BADCODE, greeting(554), greeting(421)):
        passes(smtp.test_smtp_connect, s)


# -------------------------------------------------------------------------------------- smtp.banner.code
def test_banner_code_220_passes() -> None:
    passes(smtp.test_smtp_banner_code, endpoint(), session())


def test_banner_code_421_and_other_4yz_warn() -> None:
    warns(smtp.test_smtp_banner_code, endpoint(), greeting(421, "4.3.2 busy"), match="transient")
    warns(smtp.test_smtp_banner_code, endpoint(), greeting(450, "busy"), match="transient")


def test_banner_code_554_warns_that_it_refuses_the_probe() -> None:
    warns(smtp.test_smtp_banner_code, endpoint(), greeting(554, "5.7.1 go away"), match="refuses this probe")


def test_banner_code_521_fails_for_a_listed_mx_and_warns_for_a_mail_server() -> None:
    fails(smtp.test_smtp_banner_code, endpoint(10), greeting(521), match="null MX")
    warns(smtp.test_smtp_banner_code, endpoint(None), greeting(521), match="null MX")


def test_banner_code_outside_2xx_5xx_or_no_smtp_reply_fails() -> None:
    fails(smtp.test_smtp_banner_code, endpoint(), BADCODE, match="code 666, outside 2xx-5xx")
    for hostile in (GARBAGE, BABBLER, BINARY):
        fails(smtp.test_smtp_banner_code, endpoint(), hostile, match="not an SMTP reply")


def test_banner_code_other_codes_fail() -> None:
    fails(smtp.test_smtp_banner_code, endpoint(), greeting(250), match="greeting is 220")
    fails(smtp.test_smtp_banner_code, endpoint(), greeting(550), match="greeting is 220")


def test_banner_code_without_a_greeting_defers_to_smtp_connect() -> None:
    skips(smtp.test_smtp_banner_code, endpoint(), REFUSED, match="see smtp.connect")
    skips(smtp.test_smtp_banner_code, endpoint(), CLOSED_EARLY, match="see smtp.connect")
    errors(smtp.test_smtp_banner_code, endpoint(), TARPIT, match="no whole greeting")
    skips(smtp.test_smtp_banner_code, endpoint(), NO_V6, match="IPv6")


# ------------------------------------------------------------------------------------ smtp.banner.syntax
@pytest.mark.parametrize("text", [f"{HOST} ESMTP", f"{HOST}", "[192.0.2.25] ESMTP", f"{HOST} ESMTP\tready"])
def test_banner_syntax_passes_a_name_or_literal(text: str) -> None:
    passes(smtp.test_smtp_banner_syntax, greeting(220, text))


@pytest.mark.parametrize(("text", "match"), [
    ("localhost ESMTP", "single label"), ("192.0.2.25 ESMTP", "IP address written as a name"),
], ids=["bare-label", "unbracketed-ip"])  # fmt: skip
def test_banner_syntax_warns_when_the_name_is_no_fqdn(text: str, match: str) -> None:
    warns(smtp.test_smtp_banner_syntax, greeting(220, text), match=match)


@pytest.mark.parametrize(("lines", "match"), [
    (("",), "no name"), ((f" {HOST}",), "white space"), ((f"{HOST}. ESMTP",), "ends with a dot"),
    ((f"{HOST} ESMTP caf\u00e9",), "8-bit"), ((f"{HOST} " + "x" * 600,), "512"),
    ((f"{HOST} ok", "ready\x07"), "control character"),
], ids=["empty", "leading-space", "trailing-dot", "8bit", "too-long", "control"])  # fmt: skip
def test_banner_syntax_fails_a_malformed_greeting(lines: tuple[str, ...], match: str) -> None:
    s = session(greeting=x("", 220, *lines))
    fails(smtp.test_smtp_banner_syntax, s, match=match)


def test_banner_syntax_leaves_the_underscore_to_no_underscore() -> None:
    passes(smtp.test_smtp_banner_syntax, greeting(220, "mx_1.example.com ESMTP"))
    fails(smtp.test_smtp_banner_no_underscore, greeting(220, "mx_1.example.com ESMTP"), match="contains '_'")


def test_banner_syntax_fails_garbage_and_leaves_other_codes_to_banner_code() -> None:
    for hostile in (GARBAGE, BABBLER, BINARY):
        fails(smtp.test_smtp_banner_syntax, hostile, match="not an SMTP reply")
    skips(smtp.test_smtp_banner_syntax, BADCODE, match="see smtp.banner.code")
    skips(smtp.test_smtp_banner_syntax, greeting(554), match="vantage point")
    errors(smtp.test_smtp_banner_syntax, greeting(421), match="not available")
    errors(smtp.test_smtp_banner_syntax, TARPIT)


# ---------------------------------------------------------------- what follows the greeting: preconditions
@pytest.mark.parametrize("check", SESSION_CHECKS, ids=lambda c: c.__name__)
def test_session_checks_skip_or_error_without_a_220_greeting(check: Check) -> None:
    skips(check, REFUSED, match="see smtp.connect")
    skips(check, NO_V6, match="IPv6")
    errors(check, TARPIT, match="no whole greeting")
    skips(check, greeting(554, "5.7.1 no"), match="cannot be evaluated from this vantage point")
    errors(check, greeting(421, "4.3.2 busy"), match="not available now")
    skips(check, greeting(521), match="see smtp.banner.code")
    for hostile in (GARBAGE, BABBLER, BINARY, BADCODE):
        skips(check, hostile, match="does not greet with 220")


@pytest.mark.parametrize("check", ENVELOPE_CHECKS, ids=lambda c: c.__name__)
def test_envelope_checks_skip_when_the_server_refuses_this_probe(check: Check) -> None:
    refused = envelope(
        refused="the server greets this probe with 554 5.7.1 blocked: it refuses this vantage point"
    )
    skips(check, greeting(554, "5.7.1 blocked"), refused, match="cannot evaluate from this vantage point")
    skips(check, session(), refused, match="cannot evaluate from this vantage point")


@pytest.mark.parametrize("check", ENVELOPE_CHECKS, ids=lambda c: c.__name__)
def test_envelope_checks_without_envelope_probes(check: Check) -> None:
    skips(check, REFUSED, envelope(error="could not connect: connection refused"), match="see smtp.connect")
    errors(check, TARPIT, envelope(error="could not connect: timeout"))
    errors(check, greeting(421), envelope(error="no 220 greeting: 421 4.3.2 busy"), match="not available")
    errors(check, session(), envelope(error="the session ended before the probes"), match="session ended")
    errors(check, session(), envelope(error="not finished in time (survey timeout): ran out"), match="survey")


def test_an_envelope_that_ran_is_judged_even_when_the_session_saw_a_421() -> None:
    passes(smtp.test_smtp_null_sender_accepted, greeting(421), envelope())


@pytest.mark.parametrize("check", INTRUSIVE_CHECKS, ids=lambda c: c.__name__)
def test_intrusive_checks_preconditions(check: Check) -> None:
    skips(check, greeting(554), intrusive(), match="vantage point")
    skips(check, REFUSED, intrusive(error="no session: connection refused"), match="see smtp.connect")
    skips(check, session(), intrusive(error="no session: 554 go away"), match="could not run")
    errors(check, session(), intrusive(error="not finished in time (survey timeout)"), match="survey timeout")


# ------------------------------------------------------------------------------- banner.no-underscore
def test_banner_no_underscore_passes_a_clean_name_and_skips_an_empty_one() -> None:
    passes(smtp.test_smtp_banner_no_underscore, session())
    skips(smtp.test_smtp_banner_no_underscore, greeting(220, ""), match="names no server")


# -------------------------------------------------------------------------------------------- EHLO
def test_ehlo_ok_fails_a_non_250_or_a_closed_connection() -> None:
    fails(
        smtp.test_smtp_ehlo_ok,
        session(ehlo=x("EHLO probe.test", 502, "5.5.2 no")),
        match="answers EHLO with 502",
    )
    fails(
        smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", error=CLOSED)), match="closed by the server"
    )


def test_ehlo_ok_4yz_warns_and_a_timeout_or_a_too_long_reply_could_not_test() -> None:
    warns(smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", 421, "4.3.2 busy")), match="transient")
    errors(smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", error=TIMEOUT)))
    errors(
        smtp.test_smtp_ehlo_ok,
        session(ehlo=x("EHLO probe.test", error="Response too long")),
        match="too long",
    )
    errors(smtp.test_smtp_ehlo_ok, session(ehlo=None), match="not sent")


@pytest.mark.parametrize(("lines", "match"), [
    ((HOST, "-SIZE 100"), "extension keyword"), ((HOST, ""), "empty"),
    ((HOST, "SIZE  100"), "empty parameter"), (("",), "no name"), ((f"{HOST}.",), "ends with a dot"),
], ids=["bad-keyword", "empty-line", "double-space", "no-name", "trailing-dot"])  # fmt: skip
def test_ehlo_ok_fails_a_malformed_reply(lines: tuple[str, ...], match: str) -> None:
    fails(smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", 250, *lines)), match=match)


@pytest.mark.parametrize("name", ["localhost", "192.0.2.25", "[192.0.2.25]"])
def test_ehlo_ok_warns_when_the_name_is_no_fqdn(name: str) -> None:
    warns(smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", 250, name, "PIPELINING")))


def test_ehlo_ok_tolerates_the_legacy_auth_line_and_leaves_the_underscore() -> None:
    passes(smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", 250, HOST, "AUTH PLAIN", "AUTH=PLAIN")))
    passes(smtp.test_smtp_ehlo_ok, session(ehlo=x("EHLO probe.test", 250, "mx_1.example.com", "SIZE")))


def test_ehlo_no_underscore_reads_both_ehlo_replies() -> None:
    fails(smtp.test_smtp_ehlo_no_underscore, session(ehlo=x("EHLO p", 250, "mx_1.example.com")), match="'_'")
    after = TlsInfo(
        x("STARTTLS", 220, "2.0.0 Ready"), HOST, version="TLSv1.3", ehlo=x("EHLO p", 250, "in_side")
    )
    fails(smtp.test_smtp_ehlo_no_underscore, session(tls=after), match="in_side")
    skips(smtp.test_smtp_ehlo_no_underscore, session(ehlo=x("EHLO p", 502, "no")), match="see smtp.ehlo.ok")


# -------------------------------------------------------------------------------------------- HELO
def test_helo_ok_fails_an_extended_reply_or_a_refusal() -> None:
    fails(
        smtp.test_smtp_helo_ok, session(helo=x("HELO p", 250, HOST, "PIPELINING", "SIZE")), match="MUST NOT"
    )
    fails(smtp.test_smtp_helo_ok, session(helo=x("HELO p", 502, "5.5.2 no HELO")), match="MUST support HELO")
    fails(smtp.test_smtp_helo_ok, session(helo=x("HELO p", error=CLOSED)), match="closed")


def test_helo_ok_4yz_warns_and_an_unstarted_session_could_not_test() -> None:
    warns(smtp.test_smtp_helo_ok, session(helo=x("HELO p", 451, "4.3.0 later")), match="transient")
    errors(smtp.test_smtp_helo_ok, session(helo=x("HELO p", error=TIMEOUT)))
    errors(smtp.test_smtp_helo_ok, session(helo=None, helo_error="421 busy"), match="did not start .421 busy")


# --------------------------------------------------------------------------------- unknown command
def test_unknown_command_500_and_a_usable_session_pass() -> None:
    passes(smtp.test_smtp_unknown_command_tolerated, session(unknown=x("XMAILSPEC", 500, "5.5.1 what")))


def test_unknown_command_that_closes_the_session_fails() -> None:
    closed = session(unknown=x("XMAILSPEC", error=CLOSED), noop=None)
    fails(smtp.test_smtp_unknown_command_tolerated, closed, match="RFC 5321 §3.8")
    after = session(unknown=x("XMAILSPEC", 500, "what"), noop=x("NOOP", error=CLOSED))
    fails(smtp.test_smtp_unknown_command_tolerated, after, match="then NOOP got no reply")
    unusable = session(noop=x("NOOP", 503, "5.5.1 bad sequence"))
    fails(smtp.test_smtp_unknown_command_tolerated, unusable, match="no longer usable")


def test_unknown_command_success_fails_and_another_5yz_passes_with_a_note() -> None:
    fails(smtp.test_smtp_unknown_command_tolerated, session(unknown=x("XMAILSPEC", 250, "ok")), match="as if")
    notes = passes(smtp.test_smtp_unknown_command_tolerated, session(unknown=x("XMAILSPEC", 550, "no")))
    assert any("500 or 502" in n for n in notes)


def test_unknown_command_421_fails_other_4yz_warn_and_timeouts_could_not_test() -> None:
    too_many = session(unknown=x("XMAILSPEC", 421, "4.7.0 Error: too many errors"), noop=None)
    fails(smtp.test_smtp_unknown_command_tolerated, too_many, match="421 closes the transmission channel")
    later = session(unknown=x("XMAILSPEC", 451, "later"))
    warns(smtp.test_smtp_unknown_command_tolerated, later, match="§3.8")
    warns(smtp.test_smtp_unknown_command_tolerated, session(noop=x("NOOP", 451, "later")), match="transient")
    errors(smtp.test_smtp_unknown_command_tolerated, session(unknown=x("XMAILSPEC", error=TIMEOUT)))
    errors(smtp.test_smtp_unknown_command_tolerated, session(noop=x("NOOP", error=TIMEOUT)))
    errors(smtp.test_smtp_unknown_command_tolerated, session(noop=None), match="NOOP was not sent")
    errors(smtp.test_smtp_unknown_command_tolerated, session(unknown=None), match="ended after HELO")
    errors(smtp.test_smtp_unknown_command_tolerated, session(helo=x("HELO p", 502, "no")), match="past HELO")


def test_pipelining_advertised_records_either_way() -> None:
    notes = passes(smtp.test_smtp_pipelining_advertised, session(ehlo=x("EHLO p", 250, HOST, "SIZE")))
    assert any("does not list" in n for n in notes)
    skips(
        smtp.test_smtp_pipelining_advertised, session(ehlo=x("EHLO p", 554, "no")), match="see smtp.ehlo.ok"
    )


# ---------------------------------------------------------------------------------------- null sender
def test_null_sender_refused_fails_deferred_warns() -> None:
    refused = envelope(null_mail=x("MAIL FROM:<>", 550, "5.7.1 <>: Sender address rejected"))
    assert "a normal sender got 250" in fails(smtp.test_smtp_null_sender_accepted, session(), refused,
                                              match="MUST NOT refuse")  # fmt: skip
    later = envelope(null_mail=x("MAIL FROM:<>", 451, "4.7.1 later", first="451 4.7.1 later"))
    warns(smtp.test_smtp_null_sender_accepted, session(), later, match="again after a retry")
    dropped = envelope(null_mail=x("MAIL FROM:<>", error=CLOSED))
    fails(smtp.test_smtp_null_sender_accepted, session(), dropped, match="refuses MAIL FROM")
    errors(
        smtp.test_smtp_null_sender_accepted, session(), envelope(null_mail=x("MAIL FROM:<>", error=TIMEOUT))
    )


def test_null_sender_refused_until_starttls_is_judged_inside_tls() -> None:
    gated = x("MAIL FROM:<>", 530, "5.7.0 Must issue a STARTTLS command first")
    inside = Rcpt(f"postmaster@{D}", "", x("MAIL FROM:<>", 250, "2.1.0 Ok"), x("RCPT", 250, OK), tls=True)
    notes = passes(
        smtp.test_smtp_null_sender_accepted, session(), envelope(null_mail=gated, postmaster_at_tls=inside)
    )
    assert any("role.not-tls-gated" in n for n in notes)
    errors(smtp.test_smtp_null_sender_accepted, session(), envelope(null_mail=gated), match="inside TLS")


# -------------------------------------------------------------------------------------- unknown rcpt
def test_unknown_recipient_rejected_passes_accepted_or_deferred_warns() -> None:
    passes(smtp.test_smtp_rcpt_unknown_rejected, session(), envelope())
    notes = passes(
        smtp.test_smtp_rcpt_unknown_rejected, session(), envelope(unknown=rcpt(UNKNOWN, 554, "5.7.1 no"))
    )
    assert any("550 is usual" in n for n in notes)
    warns(
        smtp.test_smtp_rcpt_unknown_rejected,
        session(),
        envelope(unknown=rcpt(UNKNOWN, 250, OK)),
        match="catch-all",
    )
    later = rcpt(UNKNOWN, 450, "4.7.1 greylisted", first="450 4.7.1 greylisted")
    warns(
        smtp.test_smtp_rcpt_unknown_rejected, session(), envelope(unknown=later), match="again after a retry"
    )


def test_unknown_recipient_could_not_test_without_its_rcpt() -> None:
    refused_mail = x("MAIL FROM:<>", 550, "5.7.1 no")
    errors(
        smtp.test_smtp_rcpt_unknown_rejected, session(), envelope(null_mail=refused_mail), match="MAIL FROM"
    )
    errors(smtp.test_smtp_rcpt_unknown_rejected, session(), envelope(unknown=None), match="session ended")
    errors(smtp.test_smtp_rcpt_unknown_rejected, session(), envelope(unknown=rcpt(UNKNOWN, 0, error=TIMEOUT)))


def test_unknown_recipient_refused_with_the_null_sender_alone_could_not_test() -> None:
    refuse = "5.7.1 null sender refused here"
    env = envelope(postmaster=rcpt(f"postmaster@{D}", 550, refuse), unknown=rcpt(UNKNOWN, 550, refuse))
    errors(smtp.test_smtp_rcpt_unknown_rejected, session(), env, match="refuses the null sender at RCPT")


# ------------------------------------------------------------------------------------------- relay
def test_relay_denied_passes_on_5yz_or_4yz_and_an_open_relay_fails() -> None:
    passes(smtp.test_smtp_relay_denied, session(), envelope())
    later = rcpt(RELAY, 451, "4.3.0 later", sender="mailspec@probe.test")
    assert any(
        "not relayed now" in n for n in passes(smtp.test_smtp_relay_denied, session(), envelope(relay=later))
    )
    gated = rcpt(RELAY, 530, "5.7.0 Must issue a STARTTLS command first", sender="mailspec@probe.test")
    assert any("STARTTLS" in n for n in passes(smtp.test_smtp_relay_denied, session(), envelope(relay=gated)))
    open_relay = rcpt(RELAY, 250, OK, sender="mailspec@probe.test")
    fails(smtp.test_smtp_relay_denied, session(), envelope(relay=open_relay), match="open relay")


def test_relay_could_not_test_without_its_rcpt() -> None:
    errors(smtp.test_smtp_relay_denied, session(), envelope(relay=None), match="not sent")
    refused = rcpt(
        RELAY, 0, sender="mailspec@probe.test", mail=x("MAIL FROM:<mailspec@probe.test>", 553, "no")
    )
    errors(smtp.test_smtp_relay_denied, session(), envelope(relay=refused), match="no relay recipient")
    timeout = rcpt(RELAY, 0, sender="mailspec@probe.test", error=TIMEOUT)
    errors(smtp.test_smtp_relay_denied, session(), envelope(relay=timeout))


# -------------------------------------------------------------------------------------------- VRFY
@pytest.mark.parametrize("code", [252, 550, 502, 500, 553, 450])
def test_vrfy_honest_passes_anything_but_a_verification(code: int) -> None:
    passes(smtp.test_smtp_vrfy_honest, session(), envelope(vrfy_unknown=x("VRFY x", code, "...")))


def test_vrfy_honest_fails_a_250_for_an_address_rcpt_rejects() -> None:
    lies = x(f"VRFY {UNKNOWN}", 250, f"2.0.0 <{UNKNOWN}>")
    fails(
        smtp.test_smtp_vrfy_honest,
        session(),
        envelope(vrfy_unknown=lies),
        match="MUST NOT appear to have verified",
    )


def test_vrfy_honest_compares_with_rcpt_on_a_catch_all() -> None:
    lies = x(f"VRFY {UNKNOWN}", 250, "ok")
    notes = passes(
        smtp.test_smtp_vrfy_honest, session(), envelope(vrfy_unknown=lies, unknown=rcpt(UNKNOWN, 250, OK))
    )
    assert any("catch-all" in n for n in notes)
    deferred = envelope(vrfy_unknown=lies, unknown=rcpt(UNKNOWN, 450, "4.7.1 later"))
    errors(smtp.test_smtp_vrfy_honest, session(), deferred, match="catch-all is unknown")
    errors(smtp.test_smtp_vrfy_honest, session(), envelope(vrfy_unknown=lies, unknown=None), match="not sent")


def test_vrfy_honest_could_not_test_without_a_reply() -> None:
    errors(smtp.test_smtp_vrfy_honest, session(), envelope(vrfy_unknown=x("VRFY x", error=TIMEOUT)))
    errors(smtp.test_smtp_vrfy_honest, session(), envelope(vrfy_unknown=x("VRFY x", error=CLOSED)))
    env = dataclasses.replace(envelope(), vrfy_unknown=None)
    errors(smtp.test_smtp_vrfy_honest, session(), env, match="VRFY was not sent")


@pytest.mark.parametrize("code", [250, 251, 252, 553])
def test_vrfy_implemented_passes(code: int) -> None:
    passes(
        smtp.test_smtp_vrfy_implemented, session(), envelope(vrfy_postmaster=x("VRFY postmaster", code, "x"))
    )


@pytest.mark.parametrize("code", [500, 502])
def test_vrfy_not_implemented_is_a_violation(code: int) -> None:
    env = envelope(vrfy_postmaster=x("VRFY postmaster", code, "5.5.1 no"))
    fails(smtp.test_smtp_vrfy_implemented, session(), env, match="does not implement VRFY")


def test_vrfy_implemented_other_answers_pass_with_a_note_and_4yz_warns() -> None:
    env = envelope(vrfy_postmaster=x("VRFY postmaster", 550, "5.1.1 User unknown"))
    assert any("implemented" in n for n in passes(smtp.test_smtp_vrfy_implemented, session(), env))
    warns(
        smtp.test_smtp_vrfy_implemented,
        session(),
        envelope(vrfy_postmaster=x("VRFY postmaster", 450, "later")),
    )
    errors(
        smtp.test_smtp_vrfy_implemented,
        session(),
        envelope(vrfy_postmaster=x("VRFY postmaster", error=CLOSED)),
    )


# -------------------------------------------------------------------------------------------- EXPN
def test_expn_supported_but_not_listed_fails() -> None:
    env = envelope(expn_postmaster=x("EXPN postmaster", 250, f"<root@{D}>"))
    fails(smtp.test_smtp_expn_advertised, session(), env, match="MUST be listed")


def test_expn_listed_passes_and_a_list_warns() -> None:
    listed = ("PIPELINING", "EXPN")
    one = envelope(keywords=listed, expn_postmaster=x("EXPN postmaster", 250, "<a@x>"))
    passes(smtp.test_smtp_expn_advertised, session(), one)
    expands = envelope(keywords=listed, expn_postmaster=x("EXPN postmaster", 250, "<a@x>", "<b@x>", "<c@x>"))
    warns(smtp.test_smtp_expn_advertised, session(), expands, match="harvesters")


def test_expn_falls_back_on_the_session_keywords_and_else_could_not_test() -> None:
    expn = x("EXPN postmaster", 250, "<a@x>")
    with_expn = session(ehlo=x("EHLO p", 250, HOST, "EXPN"))
    passes(smtp.test_smtp_expn_advertised, with_expn, envelope(keywords=(), expn_postmaster=expn))
    no_ehlo = session(ehlo=x("EHLO p", 502, "no"))
    errors(smtp.test_smtp_expn_advertised, no_ehlo, envelope(keywords=(), expn_postmaster=expn), match="EHLO")
    errors(
        smtp.test_smtp_expn_advertised,
        session(),
        envelope(expn_postmaster=x("EXPN postmaster", error=TIMEOUT)),
    )


# --------------------------------------------------------------------------------- intrusive (L3)
def test_early_talker_rejected_passes_accepted_warns_greeted_first_skips() -> None:
    passes(smtp.test_smtp_early_talker, session(), intrusive("rejected"))
    warns(smtp.test_smtp_early_talker, session(), intrusive("accepted"), match="before the greeting")
    first = intrusive("untestable", early_lines=("greeted first", "greeted first"))
    skips(smtp.test_smtp_early_talker, session(), first, match="always arrived before")
    failed = intrusive("untestable", early_lines=("rejected: connection failed (connection refused)",))
    errors(smtp.test_smtp_early_talker, session(), failed, match="connection failed")


def test_pipelining_unauth_rejected_passes_accepted_warns_untestable_errors() -> None:
    passes(smtp.test_smtp_pipelining_unauth, session(), intrusive(pipelining="rejected"))
    warns(smtp.test_smtp_pipelining_unauth, session(), intrusive(pipelining="accepted"), match="RFC 2920")
    errors(smtp.test_smtp_pipelining_unauth, session(), intrusive(pipelining="untestable"))


# --------------------------------------------------------------------------------- the shared helpers
def test_tls_required_reads_530_and_5_7_x_naming_tls() -> None:
    assert smtp.tls_required(x("MAIL", 530, "5.7.0 Must issue a STARTTLS command first"))
    assert smtp.tls_required(x("RCPT", 554, "5.7.0 TLS required"))
    assert not smtp.tls_required(x("RCPT", 530, "5.7.0 Authentication required"))
    assert not smtp.tls_required(x("RCPT", 550, "5.1.1 User unknown"))
    assert not smtp.tls_required(x("RCPT", error=CLOSED))
