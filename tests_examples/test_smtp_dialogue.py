"""A custom SMTP check of your own: a dialogue with each MX endpoint, through ``smtp_connect``.

``smtp_connect`` opens aiosmtplib connections to the endpoint under test (one test per MX host and
address) with mailspec's safety: bounded by --mail-timeout, no DATA, BDAT or message ever sent, and
closed at the end. The tests are async (pytest-asyncio); the surveyed session (``smtp_session``) is
there too, for checks that only read what mailspec already saw.

    pytest tests_examples/test_smtp_dialogue.py --mail-domain=example.com -p asyncio
"""

from __future__ import annotations

import pytest

from mailspec import check, evidence
from mailspec.facts import SmtpEndpoint, SmtpSession
from mailspec.survey.smtp import UnsafeCommand

#: the smallest message size limit we accept (ACME mail policy §4)
MIN_SIZE = 10_000_000


@check(
    "acme.smtp.size",
    severity="should",
    refs=["ACME mail policy §4 (messages up to 10 MB)", "RFC 1870"],
    fix="Raise the MTA's message size limit (Postfix: message_size_limit) to 10 MB or more.",
)
@pytest.mark.asyncio
async def test_acme_smtp_size(smtp_endpoint: SmtpEndpoint, smtp_connect) -> None:  # type: ignore[no-untyped-def]
    """Every MX accepts messages of 10 MB, as its EHLO SIZE keyword says."""
    async with smtp_connect() as smtp:
        reply = await smtp.ehlo()
        evidence(f"EHLO -> {reply.code} {reply.message}")
        size = smtp.esmtp_extensions.get("size", "")
    assert size, f"{smtp_endpoint} does not advertise SIZE (RFC 1870): the limit is unknown to senders"
    assert not size.isdigit() or int(size) == 0 or int(size) >= MIN_SIZE, (
        f"{smtp_endpoint} advertises SIZE {size}: below our 10 MB policy (ACME mail policy §4)"
    )


@pytest.mark.asyncio
async def test_data_is_never_sent(smtp_connect) -> None:  # type: ignore[no-untyped-def]
    """The connection refuses DATA before anything is sent: a dialogue of yours cannot send mail."""
    async with smtp_connect() as smtp:
        await smtp.ehlo()
        with pytest.raises(UnsafeCommand):
            await smtp.data("Subject: never sent\r\n\r\nnever sent\r\n")


def test_the_banner_names_the_host(smtp_endpoint: SmtpEndpoint, smtp_session: SmtpSession) -> None:
    """The surveyed session is a fixture too: no connection of your own is needed to read it."""
    assert smtp_session.greeted, smtp_session.evidence()
    assert smtp_session.greeting is not None
    assert smtp_session.greeting.lines[0].split()[0].lower() == smtp_endpoint.host
