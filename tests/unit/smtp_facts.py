"""Hand-built SMTP facts and outcome helpers for the unit tests of the SMTP, role and secondary-MX
checks: a well-behaved server's session and envelope, the hostile greetings as the survey records
them, and ``passes`` / ``fails`` / ``warns`` / ``skips`` / ``errors`` to call a check and assert its
outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailspec.errors import Indeterminate
from mailspec.facts.smtp import Exchange, Rcpt, SmtpEndpoint, SmtpEnvelope, SmtpIntrusive, SmtpSession
from mailspec.outcome import Finding, current, reset

D = "example.com"
HOST = "mx1.example.com"
IP = "192.0.2.25"
UNKNOWN = f"mailspec-0123456789abcdef0123456789abcdef@{D}"
RELAY = "mailspec-relay-test@probe.example.net"


# ------------------------------------------------------------------------------------------- facts
def x(
    sent: str, code: int = 0, *lines: str, error: str = "", first: str = "", malformed: str = ""
) -> Exchange:
    return Exchange(sent, code, tuple(lines), error=error, first=first, malformed=malformed)


GREETING = x("", 220, f"{HOST} ESMTP Postfix")
EHLO = x("EHLO probe.test", 250, HOST, "PIPELINING", "SIZE 10240000", "STARTTLS", "8BITMIME")
HELO = x("HELO probe.test", 250, HOST)
UNKNOWN_CMD = x("XMAILSPEC", 502, "5.5.2 Error: command not recognized")
NOOP = x("NOOP", 250, "2.0.0 Ok")
TIMEOUT = "timeout (no whole reply within 10 s)"
CLOSED = "connection closed by the server"


def session(**kw: Any) -> SmtpSession:
    values: dict[str, Any] = {
        "greeting": GREETING,
        "ehlo": EHLO,
        "helo": HELO,
        "unknown": UNKNOWN_CMD,
        "noop": NOOP,
    }
    values.update(kw)
    return SmtpSession(HOST, values.pop("ip", IP), 25, **values)


def endpoint(preference: int | None = 10) -> SmtpEndpoint:
    return SmtpEndpoint(D, HOST, IP, 25, preference)


def rcpt(mailbox: str, code: int, text: str = "", *, sender: str = "", mail: Exchange | None = None,
         first: str = "", error: str = "", tls: bool = False) -> Rcpt:  # fmt: skip
    m = mail or x(f"MAIL FROM:<{sender}>", 250, "2.1.0 Ok")
    if m.kind != 2:
        return Rcpt(mailbox, sender, m, tls=tls)
    answer = x(f"RCPT TO:<{mailbox}>", code, *([text] if text else []), first=first, error=error)
    return Rcpt(mailbox, sender, m, answer, tls=tls)


OK = "2.1.5 Ok"
NO_USER = "5.1.1 <x>: Recipient address rejected: User unknown in local recipient table"
RELAY_DENIED = "5.7.1 <x>: Relay access denied"


def envelope(*, null_mail: Exchange | None = None, keywords: tuple[str, ...] = ("PIPELINING", "STARTTLS"),
             vrfy_unknown: Exchange | None = None, vrfy_postmaster: Exchange | None = None,
             expn_postmaster: Exchange | None = None, error: str = "", refused: str = "",
             **answers: Rcpt | None) -> SmtpEnvelope:  # fmt: skip
    """A well-behaved server's envelope probes, unless ``answers`` (probe name -> Rcpt, None to drop
    it; ``mixed_case`` for ``mixed-case``) say otherwise."""
    mail = null_mail or x("MAIL FROM:<>", 250, "2.1.0 Ok")
    rcpts: dict[str, Rcpt] = {
        "postmaster": rcpt(f"postmaster@{D}", 250, OK, mail=mail),
        "abuse": rcpt(f"abuse@{D}", 250, OK, mail=mail),
        "hostmaster": rcpt(f"hostmaster@{D}", 250, OK, mail=mail),
        "unqualified": rcpt("Postmaster", 250, OK, mail=mail),
        "mixed-case": rcpt(f"PoStMaStEr@{D}", 250, OK, mail=mail),
        "unknown": rcpt(UNKNOWN, 550, NO_USER, mail=mail),
        "relay": rcpt(RELAY, 554, RELAY_DENIED, sender="mailspec@probe.test"),
        "postmaster-sender": rcpt(f"postmaster@{D}", 250, OK, sender="mailspec@probe.test"),
    }
    for name, r in answers.items():
        key = name.replace("_", "-").replace("-at-tls", "@tls")
        if r is None:
            rcpts.pop(key, None)
        else:
            rcpts[key] = r
    if error or refused:
        return SmtpEnvelope(D, HOST, IP, 25, error=error, refused=refused)
    return SmtpEnvelope(
        D, HOST, IP, 25, null_mail=mail, rcpts=rcpts,
        vrfy_unknown=vrfy_unknown or x(f"VRFY {UNKNOWN}", 252, "2.0.0 Cannot VRFY user"),
        vrfy_postmaster=vrfy_postmaster or x("VRFY postmaster", 252, "2.0.0 postmaster"),
        expn_postmaster=expn_postmaster or x("EXPN postmaster", 502, "5.5.1 EXPN not available"),
        keywords=keywords, transcript=("S: 220 ...",),
    )  # fmt: skip


def intrusive(early: str = "rejected", pipelining: str = "rejected", *, error: str = "",
              early_lines: tuple[str, ...] = ()) -> SmtpIntrusive:  # fmt: skip
    return SmtpIntrusive(
        HOST, IP, 25, error=error, early=early_lines or (f"{early}: ...",), early_verdict=early,
        pipelining=("250 Ok", "250 Ok", "250 Ok"), pipelining_verdict=pipelining,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ outcome helpers
Check = Callable[..., None]
FAILED = (pytest.fail.Exception, AssertionError)


def passes(check: Check, *args: Any) -> list[str]:
    """The check passes; its notes (this call's only: the recorder is reset first)."""
    reset()
    check(*args)
    return current().notes


def fails(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(FAILED, match=match) as info:
        check(*args)
    return str(info.value)


def warns(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(Finding, match=match) as info:
        check(*args)
    return str(info.value)


def skips(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(pytest.skip.Exception, match=match) as info:
        check(*args)
    return str(info.value)


def errors(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(Indeterminate, match=match) as info:
        check(*args)
    assert str(info.value).startswith("could not test")
    return str(info.value)


# the hostile greetings, as the survey records them (aiosmtplib's words)
JUNK = "Malformed SMTP response line: hello junk"
BYTES = "Malformed SMTP response line: \x89\x00\x17"
NOTHING_AFTER: dict[str, Any] = {"ehlo": None, "helo": None, "unknown": None, "noop": None}
GARBAGE = session(greeting=x("", error=JUNK, malformed=JUNK), greeting_raw=JUNK, **NOTHING_AFTER)
BABBLER = session(
    greeting=x("", error="Response too long", malformed="Response too long"),
    greeting_raw="Response too long",
    **NOTHING_AFTER,
)
BINARY = session(greeting=x("", error=BYTES, malformed=BYTES), **NOTHING_AFTER)
TARPIT = session(
    greeting=x("", error="timeout (no whole greeting within 10 s)"),
    helo_error="no reply (timeout (no whole greeting within 10 s))",
    **NOTHING_AFTER,
)
CLOSED_EARLY = session(
    greeting=x("", error="connection closed by the server before a greeting"), **NOTHING_AFTER
)
BADCODE = session(
    greeting=x("", 666, f"{HOST} hello", malformed="reply code 666 is outside 2xx-5xx"),
    greeting_raw="reply code 666 is outside 2xx-5xx",
    **NOTHING_AFTER,
)
REFUSED = session(
    connect_error="connection refused", greeting=None, ehlo=None, helo=None, unknown=None, noop=None
)
NO_V6 = SmtpSession(HOST, "2001:db8::25", 25, connect_error="network unreachable")
NO_V4_ROUTE = SmtpSession(HOST, IP, 25, connect_error="network unreachable")
BUDGET = SmtpSession(HOST, IP, 25, connect_error="not finished in time (survey timeout): the budget ran out")


def greeting(code: int, text: str = f"{HOST} ESMTP") -> SmtpSession:
    return session(greeting=x("", code, text), ehlo=None, helo=None, unknown=None, noop=None)
