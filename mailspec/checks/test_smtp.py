"""The SMTP dialogue of every MX address: connection, greeting, EHLO/HELO, envelope behaviour and
protocol enforcement (`pytest --mail-checks` lists every check).

A check of the dialogue after the greeting needs a session: when the endpoint took no connection or
sent no reply, smtp.connect says so and the others skip; when its greeting timed out (a silent server,
a tarpit) or was a 421, they could not test; a 554 greeting refuses this probe, and what follows it
cannot be evaluated from this vantage point (CATALOG §16 13). The helpers below are shared with the
role and secondary-MX checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn, Protocol, TypeVar

import pytest

from mailspec.catalog import check
from mailspec.errors import Indeterminate
from mailspec.facts.smtp import Exchange, Rcpt, SmtpEndpoint, SmtpEnvelope, SmtpIntrusive, SmtpSession
from mailspec.outcome import evidence, note, warn
from mailspec.records.smtp import (
    Reply,
    ehlo_name,
    ehlo_problems,
    greeting_name,
    greeting_problems,
    has_underscore_name,
    name_kind,
)

__all__ = [
    "test_smtp_banner_code",
    "test_smtp_banner_no_underscore",
    "test_smtp_banner_syntax",
    "test_smtp_connect",
    "test_smtp_early_talker",
    "test_smtp_ehlo_no_underscore",
    "test_smtp_ehlo_ok",
    "test_smtp_expn_advertised",
    "test_smtp_helo_ok",
    "test_smtp_null_sender_accepted",
    "test_smtp_pipelining_advertised",
    "test_smtp_pipelining_unauth",
    "test_smtp_rcpt_unknown_rejected",
    "test_smtp_relay_denied",
    "test_smtp_unknown_command_tolerated",
    "test_smtp_vrfy_honest",
    "test_smtp_vrfy_implemented",
]

F = TypeVar("F")


class FactSource(Protocol):
    """The run's survey as a check sees it (the ``mail_survey`` fixture): facts by kind and key, fetched
    all at once (``prefetch``) and read (``get``). A check never loads the survey module itself."""

    def prefetch(self, wanted: Iterable[tuple[type, str]]) -> None: ...

    def get(self, kind: type[F], key: str) -> F: ...

    def wanted(self, kind: type, key: str) -> bool: ...


#: what the operating system says when this machine has no route to an address (no IPv6, typically)
NO_ROUTE = ("network unreachable", "address family not supported", "address not available")
#: how the survey says it stopped waiting on its own budget (not the server's doing)
SURVEY_TIMEOUT = "(survey timeout)"
#: names whose problems are FQDN-ness only: a warning (CATALOG §16 19, names behind load balancers)
SOFT_NAMES = ("bare-label", "ip-not-bracketed", "address-literal")


# ------------------------------------------------------------------------------- shared preconditions
def said(x: Exchange) -> str:
    """The reply, and the transient one before the retry when there was one."""
    return f"{x.reply} (again after a retry; first {x.first})" if x.first else x.reply


def timed_out(text: str) -> bool:
    return "timeout" in text.lower() or SURVEY_TIMEOUT in text


def no_route(s: SmtpSession) -> bool:
    """This machine has no route to the endpoint (an IPv6 target from a probe without IPv6)."""
    return any(s.connect_error.startswith(r) for r in NO_ROUTE)


def skip_unroutable(s: SmtpSession) -> None:
    """Skip an IPv6 endpoint this machine cannot reach (CATALOG §16 6: SKIP, never FAIL); an IPv4
    address without a route is the probe's own network: could not test."""
    if s.connect_error and SURVEY_TIMEOUT in s.connect_error:
        raise Indeterminate(f"could not test: {s.connect_error}")
    if no_route(s):
        if ":" in s.ip:
            pytest.skip(f"{s.endpoint} is an IPv6 address and this machine has no IPv6 route "
                        f"({s.connect_error})")  # fmt: skip
        raise Indeterminate(f"could not test: this machine has no route to {s.endpoint} ({s.connect_error})")


def no_session(s: SmtpSession) -> Exchange:
    """The greeting, whatever it is; skip or could-not-test when the endpoint gave no reply at all
    (smtp.connect judges that)."""
    skip_unroutable(s)
    if s.connect_error:
        pytest.skip(f"no SMTP session with {s.endpoint}: {s.connect_error} (see smtp.connect)")
    g = s.greeting
    if g is None:
        raise Indeterminate(f"could not test: no greeting was read from {s.endpoint}")
    if not g.code and not g.malformed:
        if timed_out(g.error):
            raise Indeterminate(
                f"could not test: {s.endpoint} sent no whole greeting ({g.error}; see smtp.connect)"
            )
        pytest.skip(f"{s.endpoint} sent no greeting: {g.error or 'no reply'} (see smtp.connect)")
    return g


def refuses_probe(where: str, reply: str) -> NoReturn:
    pytest.skip(
        f"{where} greets this probe with {reply}: it refuses this probe, and the rest cannot be "
        "evaluated from this vantage point (CATALOG §16 13; see smtp.banner.code)"
    )


def greeted(s: SmtpSession) -> Exchange:
    """The 220 greeting; else skip or could-not-test, saying why (for checks of what follows it)."""
    g = no_session(s)
    if g.code == 220:
        return g
    if g.code == 554:
        refuses_probe(s.endpoint, g.reply)
    if g.kind == 4:
        raise Indeterminate(
            f"could not test: {s.endpoint} is not available now (greeting {g.reply}; see smtp.banner.code)"
        )
    shown = g.reply if g.code else f"not an SMTP reply: {s.greeting_raw or g.malformed}"
    pytest.skip(f"{s.endpoint} does not greet with 220 ({shown}; see smtp.banner.code)")


def envelope_ready(s: SmtpSession, env: SmtpEnvelope) -> None:
    """Skip or could-not-test unless the envelope probes ran (their session is not the read-only one:
    a 421 there may have cleared by now, or the other way round)."""
    evidence(env)
    if env.refused:
        pytest.skip(f"cannot evaluate from this vantage point: {env.refused} (CATALOG §16 13)")
    if env.error:
        if SURVEY_TIMEOUT not in env.error:
            greeted(s)  # the read-only session's own reason, when it had one
        raise Indeterminate(f"could not test: the envelope probes at {s.endpoint}: {env.error}")


def tls_required(x: Exchange) -> bool:
    """A refusal that says STARTTLS must come first (RFC 3207 §4: 530, or 5.7.x naming TLS)."""
    text = x.text.lower()
    return (x.code == 530 and "auth" not in text) or (
        x.kind == 5 and "tls" in text and text.startswith("5.7.")
    )


def plain_refusal(r: Rcpt) -> Exchange:
    """What refused (or accepted) the probe: its RCPT, or its MAIL when MAIL was refused."""
    return r.rcpt if r.rcpt is not None else r.mail


def probe(env: SmtpEnvelope, name: str, *, tls: bool = True) -> Rcpt | None:
    """The probe ``name`` (postmaster, unknown, ...); when its plaintext answer said STARTTLS comes
    first and it was asked again inside TLS, that answer (``tls=False``: the plaintext one)."""
    r = env.rcpts.get(name)
    if r is not None and tls and tls_required(plain_refusal(r)):
        return env.rcpts.get(f"{name}@tls", r)
    return r


def null_sender_refused(env: SmtpEnvelope) -> str:
    """Why the recipients asked with ``MAIL FROM:<>`` say nothing of the mailboxes, if they do not:
    postmaster@ refused from the null sender at RCPT but accepted from a normal sender ("" if not)."""
    null, normal = probe(env, "postmaster"), probe(env, "postmaster-sender")
    if null is None or null.rcpt is None or null.kind != 5:
        return ""
    if normal is None or normal.rcpt is None or normal.kind != 2:
        return ""
    return (
        f"the server refuses the null sender at RCPT ({null.describe()}) but accepts postmaster@ from a "
        f"normal sender ({normal.describe()}), so recipients asked with MAIL FROM:<> cannot be judged "
        "(see role.postmaster-null-sender)"
    )


def answered(env: SmtpEnvelope, name: str, *, mail_is_the_point: bool = False) -> Rcpt:
    """The probe's RCPT, answered; could-not-test when it was never asked, MAIL failed, no reply
    came, or the refusal is the null sender's rather than the recipient's (each unless
    ``mail_is_the_point``)."""
    r = probe(env, name)
    if r is None:
        raise Indeterminate(f"could not test: the envelope session ended before the {name} probe was sent")
    plain = env.rcpts[name]
    if r is not plain:
        note(f"{plain.describe()}; asked again inside TLS: {r.describe()} (see role.not-tls-gated)")
    if r.rcpt is None:
        if mail_is_the_point:
            return r
        raise Indeterminate(f"could not test: {r.describe()}, so RCPT could not be sent "
                            "(see smtp.null-sender.accepted)")  # fmt: skip
    if not r.rcpt.code:
        raise Indeterminate(f"could not test: {r.describe()}")
    if not mail_is_the_point and not r.sender and r.kind == 5 and (why := null_sender_refused(env)):
        raise Indeterminate(f"could not test: {r.describe()}; {why}")
    return r


def _name_split(with_name: list[str], nameless: list[str], word: str) -> tuple[list[str], list[str]]:
    """The problems of a greeting or EHLO reply as (violations, FQDN-ness warnings).

    A bare label, an unbracketed IP or (in EHLO) an address literal in place of the name is a warning
    only (CATALOG §16 19); an underscore is the no-underscore checks' concern, not counted twice here.
    """
    line = [p for p in with_name if p not in nameless]
    about = [p for p in line if word and repr(word) in p]
    other = [p for p in line if p not in about]
    kind = name_kind(word)
    if kind in SOFT_NAMES:
        return nameless + other, about
    underscore_only = has_underscore_name(word) and name_kind(word.replace("_", "-")) in ("fqdn", *SOFT_NAMES)
    if kind == "invalid" and underscore_only:
        return nameless + other, []
    return nameless + other + about, []


# --------------------------------------------------------------------------- connection and greeting
@check(
    "smtp.connect",
    refs=["RFC 5321 §3.1", "RFC 5321 §4.5.4.2", "RFC 5321 §4.5.3.2.1"],
    fix="Make the MX host listen on port 25 and greet promptly, or remove the address from the MX host.",
)
def test_smtp_connect(smtp_session: SmtpSession) -> None:
    """Each MX address accepts a TCP connection on port 25 and sends a reply.

    Any reply line with a three-digit code passes (what code it is, is smtp.banner.code's question);
    no connection, no whole reply within --mail-timeout (a silent server, a tarpit), a connection
    closed before a reply, or something that is not an SMTP reply at all (garbage, binary, an endless
    line) fails. When no SMTP server of the run took a connection the probe's own port 25 is blocked:
    could not test. An IPv6 address this machine has no route to is skipped.
    """
    s = smtp_session
    evidence(s)
    skip_unroutable(s)
    if s.connect_error:
        pytest.fail(
            f"{s.endpoint} does not accept a TCP connection on port {s.port}: {s.connect_error}. Senders "
            "try each MX address in turn and need a server listening there (RFC 5321 §3.1, §4.5.4.2). "
            "Start the MTA on that address, open the firewall to port 25, or remove the address from "
            "the MX host."
        )
    g = s.greeting
    if g is None:
        raise Indeterminate(f"could not test: no greeting was read from {s.endpoint}")
    if g.code:
        return
    if g.malformed:
        raw = s.greeting_raw or g.malformed
        pytest.fail(
            f"{s.endpoint} accepts the connection but sends something that is not an SMTP reply "
            f"({raw[:120]!r}); a server greets with a reply line '220 <its name> ...' (RFC 5321 §3.1, "
            "§4.2). Check what listens on port 25 at that address (a wrong service, a broken proxy)."
        )
    if timed_out(g.error):
        pytest.fail(
            f"{s.endpoint} accepts the connection but sent no whole greeting ({g.error}); a sender gives "
            "up on a silent or very slow server (RFC 5321 §3.1; clients wait at most 5 minutes, "
            "§4.5.3.2.1, and this run waited --mail-timeout). Make the server greet promptly (or raise "
            "--mail-timeout if it delays its greeting on purpose)."
        )
    pytest.fail(
        f"{s.endpoint} accepts the connection but {g.error or 'sends no reply'}; a server greets every "
        "connection with a reply (RFC 5321 §3.1). Check the MTA's logs for why it drops connections."
    )


@check(
    "smtp.banner.code",
    refs=["RFC 5321 §3.1", "RFC 5321 §4.2", "RFC 5321 §4.2.3", "RFC 5321 §4.3.2", "RFC 7504 §3"],
    fix="Greet with 220; publish a null MX instead of greeting with 521.",
)
def test_smtp_banner_code(smtp_endpoint: SmtpEndpoint, smtp_session: SmtpSession) -> None:
    """Each MX address greets with a 220 reply.

    220 passes. 421 (service not available) and any other 4yz are transient: a warning, never a
    failure. 554 refuses this probe (its address may be blocklisted there): a warning, and the
    postmaster and envelope checks skip (RFC 5321 §4.5.1 exemption). 521 fails for a listed MX (a
    domain that takes no mail publishes a null MX instead, RFC 7504 §3) and warns for a --mail-server.
    A code outside 2xx-5xx, or a reply that is not an SMTP reply at all, fails; so does any other code
    (§4.3.2 allows 220 and 554).
    """
    s = smtp_session
    evidence(s)
    g = no_session(s)
    where = s.endpoint
    if not g.code:
        raw = s.greeting_raw or g.malformed
        pytest.fail(
            f"{where} greets with something that is not an SMTP reply ({raw[:120]!r}); the greeting is "
            "a reply with code 220 (RFC 5321 §3.1, §4.2, §4.3.2). Check what listens on port 25."
        )
    if g.code == 220:
        return
    if g.code == 421 or g.kind == 4:
        warn(
            f"{where} greets with {g.reply}: a transient refusal (RFC 5321 §4.2.1, §3.8: 421 means the "
            "service is not available now). Senders retry later; if it lasts, check the server's load "
            "and connection limits, and test again."
        )
    if g.code == 554:
        warn(
            f"{where} greets this probe with {g.reply}: it refuses this probe (RFC 5321 §3.1, §4.3.2); "
            "the probe's address may be blocklisted there. The postmaster and envelope checks cannot "
            "be evaluated from this vantage point; run mailspec from another network to test them."
        )
    if g.code == 521:
        message = (
            f"{where} greets with {g.reply}: it does not accept mail at all (RFC 7504 §3), yet senders "
            "are sent to it. A domain that takes no mail publishes a null MX (`MX 0 .`, RFC 7505) "
            "instead; a domain that does, points its MX at a server that greets with 220."
        )
        if smtp_endpoint.preference is None:
            warn(message)
        pytest.fail(message)
    if not g.kind:
        pytest.fail(
            f"{where} greets with the code {g.code}, outside 2xx-5xx: that is no SMTP reply, and "
            "senders cannot understand it (RFC 5321 §4.2, §4.2.3). Greet with '220 <the server's "
            "name> ...'."
        )
    pytest.fail(
        f"{where} greets with {g.reply}; the greeting is 220 (or 554 to refuse a connection, RFC 5321 "
        "§3.1, §4.3.2). Configure the server to greet with '220 <its name> ...'."
    )


@check(
    "smtp.banner.syntax",
    refs=["RFC 5321 §4.2", "RFC 5321 §4.3.1", "RFC 5321 §4.5.3.1.5"],
    fix="Greet with '220 <the server's fully qualified name> <text>', lines of at most 512 octets.",
)
def test_smtp_banner_syntax(smtp_session: SmtpSession) -> None:
    """The SMTP greeting is well formed and names the server's FQDN first.

    ``220[ -](Domain / address-literal)[ SP text]``, ASCII text, each line at most 512 octets, further
    lines ``220-`` (RFC 5321 §4.2, §4.5.3.1.5). A bare label (``localhost``) or an IP address without
    brackets as the first word warns (CATALOG §16 19: names behind load balancers); an underscore is
    smtp.banner.no-underscore's concern. A greeting that is not an SMTP reply at all (no reply code:
    garbage, binary, an endless line) fails; a reply with another code than 220, even one outside
    2xx-5xx, is smtp.banner.code's failure (skipped here).
    """
    s = smtp_session
    evidence(s)
    g = no_session(s)
    if not g.code:
        shown = repr((s.greeting_raw or g.malformed)[:120])
        pytest.fail(
            f"the greeting of {s.endpoint} is not an SMTP reply ({shown}); a greeting is "
            "'220 <domain> [text]' (RFC 5321 §4.2). Check what listens on port 25 at that address."
        )
    g = greeted(s)
    reply = Reply(g.code, g.lines)
    word = greeting_name(reply)
    hard, soft = _name_split(greeting_problems(reply), greeting_problems(reply, name=False), word)
    assert not hard, (
        f"the greeting of {s.endpoint} ({g.reply}) is not well formed: {'; '.join(hard)}. The greeting is "
        "'220 <the server's fully qualified domain name> [text]', in ASCII, each line at most 512 octets "
        "(RFC 5321 §4.2, §4.3.1, §4.5.3.1.5). Correct the MTA's banner setting (Postfix smtpd_banner, "
        "Exim smtp_banner)."
    )
    if soft:
        warn(
            f"the greeting of {s.endpoint} ({g.reply}): {'; '.join(soft)}. Senders log and compare this "
            "name; set the banner to the host's public fully qualified name (RFC 5321 §4.3.1)."
        )


@check(
    "smtp.banner.no-underscore",
    refs=["RFC 5321 §4.1.2", "RFC 1123 §2.1"],
    fix="Name the server in its greeting with letters, digits, hyphens and dots only.",
)
def test_smtp_banner_no_underscore(smtp_session: SmtpSession) -> None:
    """The name in the SMTP greeting contains no underscore."""
    s = smtp_session
    evidence(s)
    g = greeted(s)
    word = greeting_name(Reply(g.code, g.lines))
    if not word:
        pytest.skip(f"the greeting of {s.endpoint} names no server (see smtp.banner.syntax)")
    assert not has_underscore_name(word), (
        f"the greeting of {s.endpoint} names the server {word!r}, which contains '_': a domain name in "
        "SMTP is letters, digits and hyphens (RFC 5321 §4.1.2, RFC 1123 §2.1), and receivers that check "
        "it reject such names. Rename the host (or set the banner's name) without the underscore."
    )


# ------------------------------------------------------------------------------------- EHLO and HELO
def _no_reply(what: str, where: str, x: Exchange) -> None:
    """A command that got no reply: could not test on a timeout, or when the session had ended before
    it was sent; when the server closed the session on it, fall through (the caller judges that)."""
    if x.code:
        return
    if timed_out(x.error) or "already closed" in x.error or not x.error:
        raise Indeterminate(f"could not test: {what} to {where} got {x.reply}")
    if "too long" in x.error.lower():  # longer than the survey reads: its limit, not the server's fault
        raise Indeterminate(
            f"could not test: the reply to {what} from {where} was too long to read ({x.error})"
        )


@check(
    "smtp.ehlo.ok",
    refs=["RFC 5321 §4.1.1.1", "RFC 5321 §4.1.4"],
    fix="Answer EHLO with '250-<the server's name>' and one extension keyword a line.",
)
def test_smtp_ehlo_ok(smtp_session: SmtpSession) -> None:
    """The server answers EHLO with a well-formed 250 reply.

    ``250[- ]Domain [text]``, then one ``ehlo-keyword *(SP ehlo-param)`` a line (RFC 5321 §4.1.1.1).
    A 4yz is transient (a warning); any other code, or a closed connection, fails. A name that is a
    bare label or an address warns only (CATALOG §16 19); the legacy ``AUTH=`` line is tolerated.
    """
    s = smtp_session
    evidence(s)
    greeted(s)
    e = s.ehlo
    if e is None:
        raise Indeterminate(f"could not test: EHLO was not sent to {s.endpoint}")
    _no_reply("EHLO", s.endpoint, e)
    if e.kind == 4:
        warn(f"{s.endpoint} answers EHLO with {e.reply}, a transient refusal (RFC 5321 §4.2.1); test again.")
    assert e.code == 250, (
        f"{s.endpoint} answers EHLO with {e.reply}; a server answers EHLO with 250 and its extensions "
        "(RFC 5321 §4.1.1.1, §4.1.4). Enable ESMTP in the MTA (and check what sits in front of it)."
    )
    reply = Reply(e.code, e.lines)
    hard, soft = _name_split(ehlo_problems(reply), ehlo_problems(reply, name=False), ehlo_name(reply))
    assert not hard, (
        f"the EHLO reply of {s.endpoint} is not well formed: {'; '.join(hard)}. The reply is "
        "'250-<domain> [text]', then one extension keyword (letters, digits, '-') and its parameters a "
        "line (RFC 5321 §4.1.1.1). Correct the MTA's (or its proxy's) EHLO response."
    )
    if soft:
        warn(
            f"the EHLO reply of {s.endpoint}: {'; '.join(soft)}. Set the MTA's host name to its public "
            "fully qualified name (RFC 5321 §4.1.1.1)."
        )


@check(
    "smtp.ehlo.no-underscore",
    refs=["RFC 5321 §4.1.2", "RFC 1123 §2.1"],
    fix="Set the MTA's host name (Postfix myhostname) without an underscore.",
)
def test_smtp_ehlo_no_underscore(smtp_session: SmtpSession) -> None:
    """The name in the EHLO reply contains no underscore.

    The name in the first EHLO reply, and in the one after STARTTLS when there was one.
    """
    s = smtp_session
    evidence(s)
    greeted(s)
    replies = [s.ehlo, s.tls.ehlo if s.tls is not None else None]
    names = [ehlo_name(Reply(x.code, x.lines)) for x in replies if x is not None and x.code == 250]
    names = [n for n in dict.fromkeys(names) if n]
    if not names:
        pytest.skip(f"{s.endpoint} gave no 250 EHLO reply with a name (see smtp.ehlo.ok)")
    bad = [n for n in names if has_underscore_name(n)]
    assert not bad, (
        f"{s.endpoint} names itself {', '.join(repr(b) for b in bad)} in its EHLO reply, which contains "
        "'_': a domain name in SMTP is letters, digits and hyphens (RFC 5321 §4.1.2, RFC 1123 §2.1). "
        "Rename the host (Postfix myhostname, Exim primary_hostname) without the underscore."
    )


@check(
    "smtp.helo.ok",
    refs=["RFC 5321 §3.2", "RFC 5321 §4.1.1.1"],
    fix="Answer HELO with a single line '250 <the server's name>' (no extension list).",
)
def test_smtp_helo_ok(smtp_session: SmtpSession) -> None:
    """The server answers HELO with a single-line 250 reply.

    In a fresh session (no EHLO before it). A multi-line 250 is the extended EHLO response, which a
    server MUST NOT give to HELO; a 4yz is transient (a warning); any other code or a closed
    connection fails.
    """
    s = smtp_session
    evidence(s)
    greeted(s)
    h = s.helo
    if h is None:
        raise Indeterminate(
            f"could not test: the fresh session for HELO with {s.endpoint} did not start "
            f"({s.helo_error or 'no greeting'})"
        )
    _no_reply("HELO", s.endpoint, h)
    if h.kind == 4:
        warn(f"{s.endpoint} answers HELO with {h.reply}, a transient refusal (RFC 5321 §4.2.1); test again.")
    assert h.code == 250, (
        f"{s.endpoint} answers HELO with {h.reply}; servers MUST support HELO and answer it with 250 "
        "(RFC 5321 §4.1.1.1, §3.2), for the old clients that do not speak EHLO. Enable HELO in the MTA "
        "or the proxy in front of it."
    )
    assert len(h.lines) <= 1, (
        f"{s.endpoint} answers HELO with a {len(h.lines)}-line 250 reply ({' | '.join(h.lines[:4])}); "
        "servers MUST NOT return the extended EHLO-style response to a HELO (RFC 5321 §3.2). Answer "
        "HELO with a single line '250 <name>'."
    )


@check(
    "smtp.unknown-command.tolerated",
    refs=["RFC 5321 §3.8", "RFC 5321 §4.2.4"],
    fix="Answer an unrecognised command with 500 (or 502) and keep the session open.",
)
def test_smtp_unknown_command_tolerated(smtp_session: SmtpSession) -> None:
    """The server rejects an unknown command and keeps the session open.

    ``XMAILSPEC`` after HELO, then ``NOOP``: 500/502 and a 250 to NOOP pass; a closed connection (or
    a NOOP refused after it) fails, and so does a 421, which announces that the server closes the
    channel (exactly what §3.8 forbids; "too many errors" after one unknown command); another 4yz
    warns (transient); a success (2yz/3yz) for a command that does not exist fails; another 5yz
    passes with a note (500 or 502 is the right code).
    """
    s = smtp_session
    evidence(s)
    greeted(s)
    h = s.helo
    if h is None or h.kind != 2:
        raise Indeterminate(
            f"could not test: the fresh session with {s.endpoint} did not get past HELO "
            f"({h.reply if h is not None else s.helo_error or 'no greeting'}; see smtp.helo.ok)"
        )
    u = s.unknown
    if u is None:
        raise Indeterminate(f"could not test: the session with {s.endpoint} ended after HELO")
    where = s.endpoint
    _no_reply("the unknown command XMAILSPEC", where, u)

    def closed(what: str) -> str:
        return (
            f"{where} closes the session when sent the unknown command XMAILSPEC ({what}); a server that "
            "closes connections in response to commands that are not understood is in violation of RFC "
            "5321 §3.8. Answer unknown commands with 500 and go on (check for an over-eager protocol filter)."
        )

    if not u.code:
        pytest.fail(closed(u.reply))
    if u.code == 421:
        pytest.fail(closed(f"{u.reply}: 421 closes the transmission channel"))
    if u.kind == 4:
        warn(
            f"{where} answers the unknown command XMAILSPEC with {u.reply}: a transient refusal (RFC 5321 "
            "§4.2.1), where 500 belongs (§4.2.4); the session stays open, as §3.8 requires. Test again."
        )
    assert u.kind == 5, (
        f"{where} answers the unknown command XMAILSPEC with {u.reply}, as if it had done it; an "
        "unrecognised command gets 500 (RFC 5321 §4.2.4, §3.8). Fix the MTA or the proxy in front of it."
    )
    n = s.noop
    if n is None:
        raise Indeterminate(f"could not test: NOOP was not sent to {where} after the unknown command")
    _no_reply("NOOP", where, n)
    if not n.code:
        pytest.fail(closed(f"{u.reply}, then NOOP got {n.reply}"))
    if n.kind == 4:
        warn(
            f"{where} answers NOOP after the unknown command with {n.reply}, a transient refusal; test again."
        )
    assert n.kind == 2, (
        f"{where} answers the unknown command XMAILSPEC with {u.reply} and then NOOP with {n.reply}: the "
        "session is no longer usable, which RFC 5321 §3.8 forbids for commands that are not understood. "
        "Answer unknown commands with 500 and keep serving the session."
    )
    if u.code not in (500, 502):
        note(f"{where} answers the unknown command with {u.reply}; 500 or 502 is usual (RFC 5321 §4.2.4)")


@check(
    "smtp.pipelining.advertised",
    refs=["RFC 2920 §3", "RFC 2920 §3.2"],
    fix="Nothing to fix: this is recorded for information (PIPELINING is a standard, STD 60).",
)
def test_smtp_pipelining_advertised(smtp_session: SmtpSession) -> None:
    """Whether the EHLO reply lists PIPELINING is recorded for information.

    Advertising PIPELINING is fine (RFC 2920 is STD 60; the old advice to disable it is obsolete);
    what matters is that the server enforces it (smtp.pipelining.unauth).
    """
    s = smtp_session
    evidence(s)
    greeted(s)
    if s.ehlo is None or s.ehlo.code != 250:
        pytest.skip(f"{s.endpoint} gave no 250 EHLO reply (see smtp.ehlo.ok)")
    listed = "PIPELINING" in s.keywords
    note(f"{s.endpoint} {'lists' if listed else 'does not list'} PIPELINING in its EHLO reply (RFC 2920)")


# ---------------------------------------------------------------------------------- the envelope (L2)
@check(
    "smtp.null-sender.accepted",
    refs=["RFC 2505 §2.6.1", "RFC 5321 §4.5.5"],
    fix="Accept MAIL FROM:<> (bounces and delivery reports use the null sender).",
)
def test_smtp_null_sender_accepted(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server accepts the null sender (MAIL FROM:<>).

    2yz passes, 5yz fails, a 4yz after the one retry warns. A refusal that asks for STARTTLS first is
    judged by the answer inside TLS (the TLS requirement itself is role.not-tls-gated's concern).
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    m = env.null_mail
    if m is None:
        raise Indeterminate(f"could not test: MAIL FROM:<> was not sent to {s.endpoint}")
    where = s.endpoint
    if tls_required(m):
        inside = env.rcpts.get("postmaster@tls")
        if inside is None:
            raise Indeterminate(
                f"could not test: {where} answers MAIL FROM:<> with {m.reply} (STARTTLS first), and it could "
                "not be asked inside TLS (see role.not-tls-gated)"
            )
        note(f"plaintext MAIL FROM:<> got {m.reply}; inside TLS {inside.mail.reply} (see role.not-tls-gated)")
        m = inside.mail
    _no_reply("MAIL FROM:<>", where, m)
    if m.kind == 2:
        return
    if m.kind == 4:
        warn(
            f"{where} defers MAIL FROM:<>: {said(m)}. A persistent temporary refusal delays every bounce "
            "and delivery report (RFC 2505 §2.6.1); test again, and check greylisting of the null sender."
        )
    normal = env.rcpts.get("postmaster-sender")
    also = f" (a normal sender got {normal.mail.reply})" if normal is not None else ""
    pytest.fail(
        f"{where} refuses MAIL FROM:<> with {m.reply}{also}; the MTA MUST NOT refuse the null sender, "
        "which bounces and delivery reports use (RFC 2505 §2.6.1, RFC 5321 §4.5.5). Remove the rule that "
        "rejects the empty sender (check sender-verification and anti-spam settings)."
    )


@check(
    "smtp.rcpt.unknown-rejected",
    refs=["RFC 5321 §6.2", "RFC 5321 §7.8"],
    fix="Reject unknown recipients at RCPT time (Postfix local_recipient_maps / relay_recipient_maps).",
)
def test_smtp_rcpt_unknown_rejected(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server rejects an unknown recipient at RCPT time.

    A random local part (``mailspec-<128 bits>@domain``): 550/551/553 pass (another 5yz passes with a
    note); 250 warns (a catch-all, or accept-then-bounce, which sends backscatter); a 4yz after the
    retry warns.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    r = answered(env, "unknown")
    x = r.rcpt
    assert x is not None
    where = s.endpoint
    if x.kind == 5:
        if x.code not in (550, 551, 553):
            note(f"{where} rejects an unknown recipient with {x.reply}; 550 is usual (RFC 5321 §4.2.2)")
        return
    if x.kind == 4:
        warn(
            f"{where} defers an unknown recipient ({r.mailbox}): {said(x)}. It should be rejected during "
            "the transaction (RFC 5321 §6.2); a server that tempfails unknown users makes senders queue "
            "and retry. Check greylisting and recipient verification."
        )
    if x.kind == 2:
        warn(
            f"{where} accepts the random recipient {r.mailbox} ({x.reply}): a catch-all, or a server that "
            "accepts and bounces later, which sends backscatter to forged senders (RFC 5321 §6.2, §7.8). "
            "Reject unknown recipients at RCPT time (for a backup MX: give it the list of valid recipients)."
        )
    raise Indeterminate(f"could not test: {r.describe()}")


@check(
    "smtp.relay.denied",
    refs=["RFC 2505 §2", "RFC 2505 §2.1", "RFC 5321 §3.6.2", "RFC 5321 §7.9"],
    fix="Relay only for your own users and domains (Postfix smtpd_relay_restrictions / mynetworks).",
)
def test_smtp_relay_denied(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server refuses to relay mail for domains it does not serve (no open relay).

    ``MAIL FROM:<mailspec@probe>``, ``RCPT TO:<relay test recipient>`` (--mail-relay-rcpt; never DATA):
    a 5yz or 4yz passes, a 2yz fails (an open relay). A refused MAIL FROM leaves relaying untested.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    r = env.rcpts.get("relay")
    if r is None:
        raise Indeterminate(f"could not test: the relay probe was not sent to {s.endpoint}")
    if r.rcpt is None:
        raise Indeterminate(f"could not test: {r.describe()}, so no relay recipient could be tried")
    x = r.rcpt
    where = s.endpoint
    if not x.code:
        raise Indeterminate(f"could not test: {r.describe()}")
    if x.kind == 5 and "sender" in x.text.lower():  # (e.g. Postfix's reject_unknown_sender_domain)
        raise Indeterminate(
            f"could not test: {where} refuses the relay recipient because of the probe's sender ({x.reply}), "
            "not for relaying: give --mail-probe-helo a name with an MX, A and PTR of yours"
        )
    if x.kind == 4:
        note(f"{where} defers the relay recipient ({said(x)}): not relayed now")
    elif tls_required(x):
        note(f"{where} refuses the relay recipient until STARTTLS ({x.reply}); inside TLS it was not tried")
    assert x.kind != 2, (
        f"{where} accepts mail from {r.sender} to {r.mailbox}, a domain it does not serve ({x.reply}): an "
        "open relay, which spammers find within hours. An MTA MUST be able to refuse such relaying "
        "(RFC 2505 §2, §2.1) and SHOULD answer 550 (RFC 5321 §7.9). Relay only for authenticated users "
        "and your own networks and domains."
    )


@check(
    "smtp.vrfy.honest",
    refs=["RFC 5321 §7.3", "RFC 5321 §3.5.3"],
    fix="Answer VRFY with 252 (cannot verify) unless the address really is verified.",
)
def test_smtp_vrfy_honest(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """VRFY does not claim to have verified addresses that do not exist.

    ``VRFY`` of the random local part: 250 (or 251) fails unless RCPT accepts the same address (a
    catch-all, CATALOG §16 12), where it passes with a note; 252, 550, 502 and every other answer pass.
    A 250 while RCPT of the address was deferred could not be judged.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    v = env.vrfy_unknown
    if v is None:
        raise Indeterminate(f"could not test: VRFY was not sent to {s.endpoint}")
    where = s.endpoint
    _no_reply("VRFY", where, v)
    if not v.code:
        raise Indeterminate(f"could not test: {v.sent} got {v.reply}")
    if v.code not in (250, 251):
        return
    r = probe(env, "unknown")
    x = r.rcpt if r is not None else None
    if x is not None and x.kind == 2:
        note(f"{where} verifies the random address, and accepts it at RCPT too ({x.reply}): a catch-all")
        return
    if x is None or x.kind != 5:
        raise Indeterminate(
            f"could not test: {where} answers {v.sent} with {v.reply}, and whether it is a catch-all is "
            f"unknown ({r.describe() if r is not None else 'RCPT of the address was not sent'})"
        )
    pytest.fail(
        f"{where} answers {v.sent} with {v.reply} but rejects the same address at RCPT ({x.reply}): it "
        "claims to have verified an address that does not exist. A server MUST NOT appear to have "
        "verified addresses that are not, in fact, verified (RFC 5321 §7.3); answer 252 when VRFY is "
        "disabled."
    )


@check(
    "smtp.vrfy.implemented",
    refs=["RFC 5321 §4.5.1", "RFC 5321 §3.5.2", "RFC 5321 §7.3"],
    fix="Answer VRFY (with 252 'cannot verify' if you do not want to disclose addresses).",
)
def test_smtp_vrfy_implemented(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """The server implements VRFY (if only to answer 252).

    ``VRFY postmaster``: 250/251/252/553 pass; 500/502 (not implemented) is a violation of RFC 5321
    §4.5.1 that the catalog reports as a warning (must†: widely disabled); a 4yz warns. Any other
    answer (550 "user unknown", a policy refusal) shows the command is implemented: it passes, with a
    note (252 is the answer of a server that does not disclose addresses).
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    v = env.vrfy_postmaster
    if v is None:
        raise Indeterminate(f"could not test: VRFY was not sent to {s.endpoint}")
    where = s.endpoint
    _no_reply("VRFY postmaster", where, v)
    if not v.code:
        raise Indeterminate(f"could not test: VRFY postmaster got {v.reply}")
    if v.code in (250, 251, 252, 553):
        return
    if v.kind == 4:
        warn(f"{where} answers VRFY postmaster with {said(v)}, a transient refusal; test again.")
    assert v.code not in (500, 502), (
        f"{where} does not implement VRFY ({v.reply}); VRFY is part of the minimum implementation (RFC "
        "5321 §4.5.1), and a server that does not want to disclose addresses answers 252 (§3.5.2, "
        "§7.3). Postfix: leave disable_vrfy_command off (it answers 252 for unverifiable addresses)."
    )
    note(f"{where} answers VRFY postmaster with {v.reply} (implemented; 252 is usual, RFC 5321 §3.5.3)")


@check(
    "smtp.expn.advertised",
    refs=["RFC 5321 §3.5.2", "RFC 5321 §7.3"],
    fix="List EXPN in the EHLO reply if it is supported, or (better) disable EXPN.",
)
def test_smtp_expn_advertised(smtp_session: SmtpSession, smtp_envelope: SmtpEnvelope) -> None:
    """A server that supports EXPN lists it in its EHLO reply.

    ``EXPN postmaster`` answered 250 while EHLO does not list EXPN fails; a 250 that expands a list (more
    than one line) warns: it hands out addresses to harvesters (§7.3). Any other answer passes.
    """
    s, env = smtp_session, smtp_envelope
    envelope_ready(s, env)
    x = env.expn_postmaster
    if x is None:
        raise Indeterminate(f"could not test: EXPN was not sent to {s.endpoint}")
    where = s.endpoint
    _no_reply("EXPN postmaster", where, x)
    if x.code != 250:
        return
    keywords = set(env.keywords)
    if not keywords:
        if s.ehlo is None or s.ehlo.code != 250:
            raise Indeterminate(f"could not test: {where} answers EXPN, but its EHLO reply is unknown")
        keywords = set(s.keywords)
    assert "EXPN" in keywords, (
        f"{where} answers EXPN postmaster with {x.reply} but its EHLO reply does not list EXPN "
        f"({', '.join(sorted(keywords)) or 'no keywords'}); if EXPN is supported it MUST be listed "
        "(RFC 5321 §3.5.2). List it, or better disable EXPN (§7.3)."
    )
    if len(x.lines) > 1:
        warn(
            f"{where} expands postmaster to {len(x.lines)} addresses with EXPN ({' | '.join(x.lines[:3])}"
            f"{' ...' if len(x.lines) > 3 else ''}): it hands mailing-list members to address harvesters "
            "(RFC 5321 §7.3). Disable EXPN."
        )


# ------------------------------------------------------------------------- protocol enforcement (L3)
def _intrusive_ready(s: SmtpSession, x: SmtpIntrusive) -> None:
    evidence(x)
    greeted(s)
    if x.error:
        if timed_out(x.error):
            raise Indeterminate(f"could not test: the intrusive probes at {s.endpoint}: {x.error}")
        pytest.skip(f"the intrusive probes at {s.endpoint} could not run: {x.error}")


@check(
    "smtp.early-talker",
    refs=["RFC 5321 §4.3.1", "RFC 5321 §4.1.1"],
    fix="Reject clients that talk before the greeting (Postfix postscreen pregreet test, Exim's check).",
)
def test_smtp_early_talker(smtp_session: SmtpSession, smtp_intrusive: SmtpIntrusive) -> None:
    """The server rejects a client that talks before the greeting.

    ``EHLO`` sent right after the TCP handshake, before any greeting byte: a 5yz/421, or a greeting
    withheld and the connection dropped, passes; the normal 220 and 250 warn (spam software talks
    early; correct senders wait, RFC 5321 §4.3.1). Skipped when the greeting always came first.
    """
    s, x = smtp_session, smtp_intrusive
    _intrusive_ready(s, x)
    seen = "; ".join(x.early) or "nothing recorded"
    if x.early_verdict == "rejected":
        return
    if x.early_verdict == "accepted":
        warn(
            f"{s.endpoint} answers a client that sent EHLO before the greeting normally ({seen}). Senders "
            "SHOULD wait for the greeting (RFC 5321 §4.3.1), and spam software often does not: reject early "
            "talkers (Postfix postscreen_greet_action = enforce, Exim's synchronisation check)."
        )
    if any(line.startswith("greeted first") for line in x.early):
        pytest.skip(f"the greeting of {s.endpoint} always arrived before the early EHLO could: {seen}")
    raise Indeterminate(f"could not test: the early-talker probe of {s.endpoint}: {seen}")


@check(
    "smtp.pipelining.unauth",
    refs=["RFC 2920 §3", "RFC 2920 §3.1"],
    fix="Reject pipelined commands from clients that did not negotiate PIPELINING "
    "(Postfix smtpd_forbid_unauth_pipelining = yes).",
)
def test_smtp_pipelining_unauth(smtp_session: SmtpSession, smtp_intrusive: SmtpIntrusive) -> None:
    """The server rejects pipelined commands from a client that did not negotiate PIPELINING.

    After ``HELO`` (PIPELINING never negotiated), ``MAIL FROM:<>``, ``RCPT TO:<postmaster@domain>``
    and ``NOOP`` in one write: a rejection or a dropped connection passes; three normal replies warn.
    """
    s, x = smtp_session, smtp_intrusive
    _intrusive_ready(s, x)
    seen = "; ".join(x.pipelining) or "nothing recorded"
    if x.pipelining_verdict == "rejected":
        return
    if x.pipelining_verdict == "accepted":
        warn(
            f"{s.endpoint} answers commands pipelined after HELO normally ({seen}); a client may pipeline "
            "only after EHLO listed PIPELINING (RFC 2920 §3), and bulk spam tools do it anyway. Reject it "
            "(Postfix smtpd_forbid_unauth_pipelining = yes, or reject_unauth_pipelining)."
        )
    raise Indeterminate(f"could not test: the unauthorised pipelining probe of {s.endpoint}: {seen}")
