"""The lab's MTAs, knob by knob, seen from outside with the standard library only (smtplib, ssl, socket).

One lab serves every MTA of this module (one address per knob, in 127.0.9.64-127.0.9.127, which no
packaged scenario uses). Nothing here is timed: every wait is a generous bound (see smtpclient.WAIT).
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from smtpclient import WAIT, Raw, anything, smtp, trusting

from mailspec.testing import Lab, parse_scenario
from mailspec.testing.mta import DATA_REFUSED, HARD_ERROR_LIMIT, SYNC_ERROR
from mailspec.testing.pki import WRONG_NAME

DOMAIN = "knobs.test"

#: suffix of 127.0.9.x -> (label, the knobs of its [[mta]] table as TOML lines)
MTAS: dict[int, tuple[str, str]] = {
    64: ("strict", ""),
    65: ("lax", 'pipelining = "lax"'),
    66: ("banner", 'banner = "custom banner text"\nehlo_name = "ehlo.knobs.test"\n'
                   'cert_names = ["a.knobs.test", "b.knobs.test"]'),
    67: ("multiline", 'kind = "fake"\ngreeting = "multiline"\ngreeting_delay = 1.0'),
    68: ("g421", 'kind = "fake"\ngreeting = "421"'),
    69: ("g554", 'kind = "fake"\ngreeting = "554"'),
    70: ("ext", 'kind = "fake"\nextensions = ["PIPELINING", "8BITMIME"]'),
    71: ("junk", 'kind = "fake"\nehlo_extra_keywords = 10000'),
    72: ("helostyle", 'kind = "fake"\nhelo_reply = "ehlo-style"'),
    73: ("vrfyoff", 'kind = "fake"\nvrfy = "disabled"'),
    74: ("vrfylies", 'kind = "fake"\nvrfy = "lies"'),
    75: ("vrfy252", 'kind = "fake"\nvrfy = "always252"'),
    76: ("expnhidden", 'kind = "fake"\nexpn = "unadvertised"'),
    77: ("expnlisted", 'kind = "fake"\nexpn = "advertised"'),
    78: ("nullno", 'kind = "fake"\nnull_sender = "reject"'),
    79: ("nullrcpt", 'kind = "fake"\nnull_sender = "reject-rcpt"'),
    80: ("case", 'kind = "fake"\ncase_sensitive = true'),
    81: ("unqualified", 'kind = "fake"\nunqualified_postmaster = "reject"'),
    82: ("gated", 'kind = "fake"\ntls_gated = true'),
    83: ("greyonce", 'kind = "fake"\ngreylist = "once"'),
    84: ("greyalways", 'kind = "fake"\ngreylist = "always"'),
    85: ("dropper", 'kind = "fake"\nunknown_command = "disconnect"'),
    86: ("readvertise", 'kind = "fake"\nstarttls = "readvertise"'),
    87: ("injectable", 'kind = "fake"\nstarttls = "injectable"'),
    88: ("refuse", 'kind = "fake"\nstarttls = "refuse"'),
    89: ("broken", 'kind = "fake"\nstarttls = "broken"'),
    90: ("legacy", 'kind = "fake"\ntls_versions = "legacy"'),
    91: ("maxconn", 'kind = "fake"\nmax_connections = 2'),
    92: ("relay", 'relay = "open"'),
    93: ("catchall", 'accept = ["*"]'),
    94: ("backup", 'role = "backup"'),
    95: ("unlisted", 'role = "unlisted"'),
    96: ("notls", 'tls = "none"'),
    97: ("wrong", 'tls = "wrong-name"'),
    98: ("expired", 'tls = "expired"'),
    99: ("selfsigned", 'tls = "self-signed"'),
    100: ("flawed", 'tls = ["expired", "wrong-name"]'),
    101: ("counted", ""),
    102: ("silent", 'kind = "silent"'),
    103: ("garbage", 'kind = "garbage"'),
    104: ("tarpit", 'kind = "tarpit"'),
    105: ("babbler", 'kind = "babbler"'),
    106: ("binary", 'kind = "binary"'),
    107: ("badcode", 'kind = "badcode"'),
    108: ("slowlax", 'pipelining = "lax"\ngreeting_delay = 0.5'),
}  # fmt: skip
IP = {label: f"127.0.9.{n}" for n, (label, _) in MTAS.items()}


def host(label: str) -> str:
    return f"{label}.{DOMAIN}"


SCENARIO = f'''
domain = "{DOMAIN}"
[expect]
clean = true
[zone]
records = """
@ MX 10 strict
"""
[[zone.nameserver]]
host = "ns1"
ip = "127.0.9.60"
''' + "".join(
    f'\n[[mta]]\nip = "{IP[label]}"\nhostname = "{host(label)}"\n{knobs}\n' for label, knobs in MTAS.values()
)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab([parse_scenario(SCENARIO, "knobs")]) as started:
        yield started
        assert started.mta_errors == []  # no session ended in an unexpected exception


def connect(lab: Lab, label: str, **kwargs: Any) -> Raw:
    return Raw(IP[label], lab.smtp_port, **kwargs)


def session(lab: Lab, label: str) -> smtplib.SMTP:
    return smtp(IP[label], lab.smtp_port)


def code(reply: tuple[int, Any]) -> int:
    return reply[0]


def text(reply: tuple[int, bytes]) -> str:
    return reply[1].decode()


def keywords(client: smtplib.SMTP) -> list[str]:
    """The keyword lines of the last EHLO reply (smtplib's ehlo_resp), without the host name line."""
    assert client.ehlo_resp is not None
    return client.ehlo_resp.decode().split("\n")[1:]


DEFAULT_KEYWORDS = [
    "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN",
    "SMTPUTF8", "CHUNKING",
]  # fmt: skip


# --------------------------------------------------------------------------- the greeting


def test_greeting_names_the_host(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        assert c.reply() == (220, ["strict.knobs.test ESMTP"])
    with connect(lab, "banner") as c:
        assert c.reply() == (220, ["custom banner text"])


def test_multiline_greeting_comes_in_two_lines(lab: Lab) -> None:
    with connect(lab, "multiline") as c:
        assert c.line() == b"220-multiline.knobs.test ESMTP"
        assert c.line() == b"220 multiline.knobs.test ESMTP"  # after the delay
        assert code(c.command("EHLO probe.lab.test")) == 250


def test_a_client_that_talks_during_the_multiline_greeting_is_rejected(lab: Lab) -> None:
    with connect(lab, "multiline") as c:
        assert c.line() == b"220-multiline.knobs.test ESMTP"
        c.send("EHLO probe.lab.test\r\n")  # before the last greeting line
        assert c.line().decode() == SYNC_ERROR
        assert c.closed_by_peer()


def test_a_421_greeting_ends_the_connection(lab: Lab) -> None:
    with connect(lab, "g421") as c:
        assert c.reply()[0] == 421
        assert c.closed_by_peer()


def test_after_a_554_greeting_everything_but_quit_gets_503(lab: Lab) -> None:
    with connect(lab, "g554") as c:
        assert c.reply() == (554, ["g554.knobs.test ESMTP"])
        assert code(c.command("EHLO probe.lab.test")) == 503
        assert code(c.command("MAIL FROM:<>")) == 503
        assert code(c.command("QUIT")) == 221
        assert c.closed_by_peer()


def test_a_lax_mta_delays_its_greeting_and_tolerates_early_talk(lab: Lab) -> None:
    with connect(lab, "slowlax", first=b"EHLO probe.lab.test\r\n") as c:
        assert c.reply() == (220, ["slowlax.knobs.test ESMTP"])
        assert code(c.reply()) == 250  # the EHLO it was sent before the greeting


# --------------------------------------------------------------------------- EHLO and HELO


def test_ehlo_lists_postfix_keywords_and_starttls(lab: Lab) -> None:
    with contextlib.closing(session(lab, "strict")) as s:
        assert code(s.ehlo("probe.lab.test")) == 250
        assert s.ehlo_resp is not None and s.ehlo_resp.decode().split("\n")[0] == "strict.knobs.test"
        assert keywords(s) == DEFAULT_KEYWORDS


def test_ehlo_name_and_a_given_extension_list(lab: Lab) -> None:
    with contextlib.closing(session(lab, "banner")) as s:
        s.ehlo("probe.lab.test")
        assert s.ehlo_resp is not None and s.ehlo_resp.decode().split("\n")[0] == "ehlo.knobs.test"
    with contextlib.closing(session(lab, "ext")) as s:
        s.ehlo("probe.lab.test")
        assert keywords(s) == ["PIPELINING", "8BITMIME"]  # replaces the default, STARTTLS included


def test_keywords_follow_vrfy_expn_and_tls(lab: Lab) -> None:
    for label, present, absent in [
        ("vrfyoff", [], ["VRFY"]),
        ("expnhidden", ["VRFY"], ["EXPN"]),
        ("expnlisted", ["EXPN"], []),
        ("notls", ["VRFY"], ["STARTTLS"]),
    ]:
        with contextlib.closing(session(lab, label)) as s:
            s.ehlo("probe.lab.test")
            words = [w.split()[0] for w in keywords(s)]
            assert set(present) <= set(words) and not set(absent) & set(words), (label, words)


def test_a_hostile_ehlo_lists_ten_thousand_extra_keywords(lab: Lab) -> None:
    with contextlib.closing(session(lab, "junk")) as s:
        assert code(s.ehlo("probe.lab.test")) == 250
        words = keywords(s)
        assert len(words) == len(DEFAULT_KEYWORDS) + 10000 and "STARTTLS" in words
        assert words[-1] == "X-MAILSPEC-JUNK-009999"
        assert code(s.noop()) == 250  # and the session goes on


def test_helo_gets_one_line_unless_the_mta_answers_it_ehlo_style(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        assert c.command("HELO probe.lab.test") == (250, ["strict.knobs.test"])
    with connect(lab, "helostyle") as c:
        c.reply()
        reply = c.command("HELO probe.lab.test")
        assert reply[0] == 250 and reply[1][0] == "helostyle.knobs.test" and "PIPELINING" in reply[1]


def test_ehlo_and_helo_need_a_name(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        assert code(c.command("EHLO")) == 501
        assert code(c.command("HELO")) == 501


# --------------------------------------------------------------------------- envelopes


def test_recipients_of_a_final_mta(lab: Lab) -> None:
    with contextlib.closing(session(lab, "strict")) as s:
        s.ehlo("probe.lab.test")
        assert code(s.mail("<>")) == 250
        assert code(s.rcpt("postmaster@knobs.test")) == 250
        assert code(s.rcpt("PoStMaStEr@knobs.test")) == 250  # local parts fold case, as in Postfix
        assert code(s.rcpt("abuse@sub.knobs.test")) == 250  # the names below the domain are served too
        assert code(s.rcpt("Postmaster")) == 250  # unqualified, RFC 5321 section 4.5.1
        unknown = s.rcpt("nobody@knobs.test")
        assert code(unknown) == 550 and "User unknown in virtual mailbox table" in text(unknown)
        relay = s.rcpt("someone@elsewhere.test")
        assert code(relay) == 554 and "Relay access denied" in text(relay)


def test_envelope_order_and_syntax(lab: Lab) -> None:
    with contextlib.closing(session(lab, "strict")) as s:
        assert code(s.docmd("RCPT TO:<postmaster@knobs.test>")) == 503  # no MAIL yet
        assert code(s.docmd("MAIL FROM:<a@b.test")) == 501  # unclosed
        assert code(s.docmd("MAIL TO:<a@b.test>")) == 501
        assert code(s.docmd("MAIL FROM:<a@b.test> SIZE=100")) == 250  # no HELO needed, like Postfix
        assert code(s.docmd("MAIL FROM:<a@b.test>")) == 503  # nested
        assert code(s.docmd("RCPT TO:<>")) == 501
        assert code(s.rset()) == 250
        assert code(s.docmd("MAIL FROM: <>")) == 250  # a space after the colon is tolerated


def test_relay_catch_all_backup_and_unlisted_roles(lab: Lab) -> None:
    with contextlib.closing(session(lab, "relay")) as s:
        s.mail("<probe@lab.test>")
        assert code(s.rcpt("someone@elsewhere.test")) == 250
    with contextlib.closing(session(lab, "catchall")) as s:
        s.mail("<>")
        assert code(s.rcpt("mailspec-random-1234@knobs.test")) == 250
    with contextlib.closing(session(lab, "backup")) as s:
        s.mail("<>")
        assert code(s.rcpt("postmaster@knobs.test")) == 250
        unknown = s.rcpt("nobody@knobs.test")
        assert code(unknown) == 550 and "relay recipient table" in text(unknown)
    with contextlib.closing(session(lab, "unlisted")) as s:
        s.mail("<>")
        denied = s.rcpt("postmaster@knobs.test")
        assert code(denied) == 554 and "5.7.1" in text(denied) and "Relay access denied" in text(denied)


def test_case_sensitive_and_unqualified_postmaster(lab: Lab) -> None:
    with contextlib.closing(session(lab, "case")) as s:
        s.mail("<>")
        assert code(s.rcpt("postmaster@knobs.test")) == 250
        assert code(s.rcpt("PoStMaStEr@knobs.test")) == 550
    with contextlib.closing(session(lab, "unqualified")) as s:
        s.mail("<>")
        assert code(s.rcpt("Postmaster")) == 504
        assert code(s.rcpt("postmaster@knobs.test")) == 250


def test_the_null_sender_refused_at_mail_or_at_every_rcpt(lab: Lab) -> None:
    with contextlib.closing(session(lab, "nullno")) as s:
        assert code(s.mail("<>")) == 550
        assert code(s.mail("<probe@lab.test>")) == 250
        assert code(s.rcpt("postmaster@knobs.test")) == 250
    with contextlib.closing(session(lab, "nullrcpt")) as s:
        assert code(s.mail("<>")) == 250
        assert code(s.rcpt("postmaster@knobs.test")) == 550
        assert code(s.rcpt("Postmaster")) == 550
        s.rset()
        assert code(s.mail("<probe@lab.test>")) == 250
        assert code(s.rcpt("postmaster@knobs.test")) == 250


def test_greylisting_once_and_forever(lab: Lab) -> None:
    for attempt, expected in enumerate([450, 250, 250]):
        with contextlib.closing(session(lab, "greyonce")) as s:
            s.mail("<grey@lab.test>")
            assert code(s.rcpt("postmaster@knobs.test")) == expected, attempt
            if attempt == 0:
                assert code(s.rcpt("nobody@knobs.test")) == 550  # unknown: rejected before greylisting
    with contextlib.closing(session(lab, "greyonce")) as s:
        s.mail("<other@lab.test>")
        assert code(s.rcpt("postmaster@knobs.test")) == 450  # a new (sender, recipient) pair
    for _ in range(2):
        with contextlib.closing(session(lab, "greyalways")) as s:
            s.mail("<grey@lab.test>")
            assert code(s.rcpt("postmaster@knobs.test")) == 450


def test_a_tls_gated_mta_wants_starttls_for_its_mailboxes(lab: Lab) -> None:
    with contextlib.closing(session(lab, "gated")) as s:
        s.ehlo("probe.lab.test")
        s.mail("<>")
        assert code(s.rcpt("postmaster@knobs.test")) == 530
        assert code(s.rcpt("nobody@knobs.test")) == 550
        s.rset()
        context = trusting(lab.ca_path)
        context.check_hostname = False
        assert code(s.starttls(context=context)) == 220
        s.ehlo("probe.lab.test")
        s.mail("<>")
        assert code(s.rcpt("postmaster@knobs.test")) == 250


# --------------------------------------------------------------------------- VRFY, EXPN, others


def test_vrfy_modes(lab: Lab) -> None:
    with contextlib.closing(session(lab, "strict")) as s:
        assert code(s.verify("postmaster")) == 252
        assert code(s.verify("<abuse@knobs.test>")) == 252
        assert code(s.verify("nobody@knobs.test")) == 550
        assert code(s.verify("someone@elsewhere.test")) == 554
        assert code(s.docmd("VRFY")) == 501
    for label, expected in [("vrfyoff", 502), ("vrfylies", 250), ("vrfy252", 252)]:
        with contextlib.closing(session(lab, label)) as s:
            assert code(s.verify("mailspec-random-1234@knobs.test")) == expected, label


def test_expn_modes(lab: Lab) -> None:
    with contextlib.closing(session(lab, "strict")) as s:
        assert code(s.docmd("EXPN", "postmaster")) == 502
        assert code(s.noop()) == 250  # not counted as an unknown command
    for label in ("expnhidden", "expnlisted"):
        with contextlib.closing(session(lab, label)) as s:
            reply = s.docmd("EXPN", "postmaster")
            assert code(reply) == 250 and "postmaster@knobs.test" in text(reply)
            assert code(s.docmd("EXPN", "nobody")) == 550


def test_unknown_commands_are_tolerated_up_to_postfix_s_limit(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        for _ in range(HARD_ERROR_LIMIT - 1):
            assert code(c.command("XMAILSPEC")) == 502
            assert code(c.command("NOOP")) == 250  # the session stays usable
        assert code(c.command("XMAILSPEC")) == 421
        assert c.closed_by_peer()


def test_an_mta_that_drops_unknown_commands(lab: Lab) -> None:
    with connect(lab, "dropper") as c:
        c.reply()
        assert code(c.command("NOOP")) == 250
        assert code(c.command("XMAILSPEC")) == 421
        assert c.closed_by_peer()


def test_empty_and_overlong_lines_and_other_commands(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        assert code(c.command("")) == 500
        assert c.command("NOOP " + "x" * 5000) == (500, ["5.5.0 Error: line too long"])
        assert code(c.command("AUTH PLAIN")) == 503
        assert code(c.command("ETRN knobs.test")) == 458
        assert code(c.command("QUIT")) == 221
        assert c.closed_by_peer()


def test_data_and_bdat_are_refused_and_counted(lab: Lab) -> None:
    before = lab.smtp_stats()[IP["counted"]]["data_commands"]
    with connect(lab, "counted") as c:
        c.reply()
        c.command("EHLO probe.lab.test")
        c.command("MAIL FROM:<>")
        c.command("RCPT TO:<postmaster@knobs.test>")
        assert c.command("DATA") == (554, [DATA_REFUSED.removeprefix("554 ")])
        c.send("BDAT 5 LAST\r\nhello")
        assert code(c.reply()) == 554
        assert code(c.command("NOOP")) == 250  # the chunk was skipped, not taken for commands
    assert lab.smtp_stats()[IP["counted"]]["data_commands"] == before + 2


# --------------------------------------------------------------------------- pipelining, early talk


def test_pipelining_after_helo_is_rejected_by_a_strict_mta(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        c.command("HELO probe.lab.test")
        c.send("MAIL FROM:<>\r\nRCPT TO:<postmaster@knobs.test>\r\nNOOP\r\n")  # one write
        assert c.line().decode() == SYNC_ERROR
        assert c.closed_by_peer()


def test_pipelining_after_helo_is_answered_by_a_lax_mta(lab: Lab) -> None:
    with connect(lab, "lax") as c:
        c.reply()
        c.command("HELO probe.lab.test")
        c.send("MAIL FROM:<>\r\nRCPT TO:<postmaster@knobs.test>\r\nNOOP\r\n")
        assert [code(c.reply()) for _ in range(3)] == [250, 250, 250]


def test_negotiated_pipelining_is_fine_but_not_past_a_last_command(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        c.command("EHLO probe.lab.test")
        c.send("MAIL FROM:<>\r\nRCPT TO:<postmaster@knobs.test>\r\n")
        assert [code(c.reply()) for _ in range(2)] == [250, 250]
        c.send("NOOP\r\nRSET\r\n")  # NOOP may only end a group (RFC 2920 section 3.1)
        assert c.line().decode() == SYNC_ERROR


def test_an_early_talker_is_rejected_by_a_strict_mta(lab: Lab) -> None:
    # On loopback the greeting and the client's EHLO could cross; a strict MTA must catch at least
    # one of three attempts (in practice, every one: the EHLO leaves with the handshake).
    first_lines = []
    for _ in range(3):
        with connect(lab, "strict", first=b"EHLO probe.lab.test\r\n") as c:
            first_lines.append(c.line().decode())
            if first_lines[-1] == SYNC_ERROR:
                assert c.closed_by_peer()
                break
    assert SYNC_ERROR in first_lines, first_lines


def test_an_early_talker_is_answered_by_a_lax_mta(lab: Lab) -> None:
    with connect(lab, "lax", first=b"EHLO probe.lab.test\r\n") as c:
        assert c.reply() == (220, ["lax.knobs.test ESMTP"])
        assert code(c.reply()) == 250


# --------------------------------------------------------------------------- STARTTLS


def _after_starttls(c: Raw) -> None:
    c.reply()
    c.command("EHLO probe.lab.test")
    assert code(c.command("STARTTLS")) == 220


def test_starttls_gives_a_lab_certificate_for_the_host(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        _after_starttls(c)
        tls = c.starttls(trusting(lab.ca_path), "strict.knobs.test")  # verified: chain and name
        cert = tls.getpeercert()
        assert cert["subjectAltName"] == (("DNS", "strict.knobs.test"),)
        assert dict(x[0] for x in cert["issuer"])["commonName"] == "mailspec lab CA"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        reply = c.command("EHLO probe.lab.test")
        assert reply[0] == 250 and "STARTTLS" not in reply[1]  # RFC 3207 section 4.2
        assert code(c.command("STARTTLS")) == 554  # already active
    with contextlib.closing(session(lab, "banner")) as s:
        s.starttls(context=anything())
        assert isinstance(s.sock, ssl.SSLSocket)
        der = s.sock.getpeercert(binary_form=True)
        assert der is not None
    context = trusting(lab.ca_path)
    with connect(lab, "banner") as c:
        _after_starttls(c)
        cert = c.starttls(context, "b.knobs.test").getpeercert()
        assert cert["subjectAltName"] == (("DNS", "a.knobs.test"), ("DNS", "b.knobs.test"))


@pytest.mark.parametrize(
    ("label", "name", "reason"),
    [
        ("wrong", "wrong.knobs.test", "Hostname mismatch"),
        ("expired", "expired.knobs.test", "certificate has expired"),
        ("selfsigned", "selfsigned.knobs.test", "self-signed certificate"),
        ("flawed", None, "certificate has expired"),
    ],
)
def test_flawed_certificates_fail_verification_for_their_flaw(
    lab: Lab, label: str, name: str | None, reason: str
) -> None:
    context = trusting(lab.ca_path)
    context.check_hostname = name is not None
    with connect(lab, label) as c:
        _after_starttls(c)
        with pytest.raises(ssl.SSLCertVerificationError, match=reason):
            c.starttls(context, name)


def test_a_wrong_name_certificate_names_the_unrelated_host(lab: Lab) -> None:
    context = trusting(lab.ca_path)
    context.check_hostname = False  # the chain is the lab CA's: only the name is wrong
    with connect(lab, "wrong") as c:
        _after_starttls(c)
        assert c.starttls(context).getpeercert()["subjectAltName"] == (("DNS", WRONG_NAME),)


def test_no_tls_refused_and_broken_starttls(lab: Lab) -> None:
    with connect(lab, "notls") as c:
        c.reply()
        c.command("EHLO probe.lab.test")
        assert code(c.command("STARTTLS")) == 502
    with connect(lab, "refuse") as c:
        c.reply()
        assert "STARTTLS" in c.command("EHLO probe.lab.test")[1]
        assert code(c.command("STARTTLS")) == 454
        assert code(c.command("NOOP")) == 250
    with connect(lab, "broken") as c:
        _after_starttls(c)
        assert c.closed_by_peer()
    with connect(lab, "strict") as c:
        c.reply()
        assert code(c.command("STARTTLS now")) == 501


def test_starttls_readvertised_after_the_handshake(lab: Lab) -> None:
    with connect(lab, "readvertise") as c:
        _after_starttls(c)
        c.starttls(anything())
        assert "STARTTLS" in c.command("EHLO probe.lab.test")[1]


def test_plaintext_sent_with_starttls_is_discarded(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        c.reply()
        c.command("EHLO probe.lab.test")
        c.send("STARTTLS\r\nNOOP\r\n")  # one write: NOOP is in the server's buffer with STARTTLS
        assert code(c.reply()) == 220
        c.starttls(anything())
        reply = c.command("EHLO probe.lab.test")
        assert reply[0] == 250 and len(reply[1]) > 1  # the answer to this EHLO, not to the old NOOP


def test_plaintext_sent_with_starttls_is_answered_by_an_injectable_mta(lab: Lab) -> None:
    with connect(lab, "injectable") as c:
        c.reply()
        c.command("EHLO probe.lab.test")
        c.send("STARTTLS\r\nNOOP\r\n")
        assert code(c.reply()) == 220
        c.starttls(anything())
        assert c.reply() == (250, ["2.0.0 Ok"])  # before the client said anything over TLS


def _legacy_client() -> ssl.SSLContext:
    context = anything()
    with warnings.catch_warnings():  # the ssl module deprecates naming the old versions
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def test_tls_versions_modern_refuses_tls_1_1_and_legacy_accepts_it(lab: Lab) -> None:
    with connect(lab, "strict") as c:
        _after_starttls(c)
        with pytest.raises(ssl.SSLError):
            c.starttls(_legacy_client())
    with connect(lab, "legacy") as c:
        _after_starttls(c)
        assert c.starttls(_legacy_client()).version() == "TLSv1.1"
        assert code(c.command("EHLO probe.lab.test")) == 250
    with connect(lab, "legacy") as c:
        _after_starttls(c)
        assert c.starttls(anything()).version() in ("TLSv1.2", "TLSv1.3")  # modern ones still work


# --------------------------------------------------------------------------- connections and stats


def _wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        time.sleep(0.02)


def test_max_connections_turns_the_next_one_away(lab: Lab) -> None:
    ip = IP["maxconn"]
    _wait_until(lambda: lab.smtp_stats()[ip]["open"] == 0, "no connection left open")
    first, second = connect(lab, "maxconn"), connect(lab, "maxconn")
    try:
        assert code(first.reply()) == 220 and code(second.reply()) == 220
        with connect(lab, "maxconn") as third:
            reply = third.reply()
            assert reply[0] == 421 and "too many connections" in reply[1][0]
            assert third.closed_by_peer()
    finally:
        first.close()
    _wait_until(lambda: lab.smtp_stats()[ip]["open"] <= 1, "the first connection counted closed")
    with connect(lab, "maxconn") as again:
        assert code(again.reply()) == 220
    second.close()
    assert lab.smtp_stats()[ip]["max_open"] >= 2


def test_stats_count_connections_peers_and_verbs(lab: Lab) -> None:
    ip = IP["counted"]
    before = lab.smtp_stats()[ip]
    with connect(lab, "counted", source="127.0.0.7") as a, connect(lab, "counted", source="127.0.0.8") as b:
        a.reply()
        b.reply()
        a.command("EHLO probe.lab.test")
        b.command("NOOP")
        a.command("XMAILSPEC arg")
        a.command("QUIT")
    stats = lab.smtp_stats()[ip]
    assert stats["connections"] == before["connections"] + 2
    assert {"127.0.0.7", "127.0.0.8"} <= set(stats["peers"])
    assert stats["max_open"] >= 2
    assert stats["verbs"][len(before["verbs"]) :] in (
        ["EHLO", "NOOP", "XMAILSPEC", "QUIT"],
        ["NOOP", "EHLO", "XMAILSPEC", "QUIT"],
    )
    assert stats["verbs_dropped"] == 0


def test_stats_are_json_ready_for_every_address(lab: Lab) -> None:
    import json

    stats = lab.smtp_stats()
    assert set(stats) == set(IP.values())
    assert json.loads(json.dumps(stats)) == stats


# --------------------------------------------------------------------------- the misbehaving kinds


def test_a_silent_mta_accepts_and_never_speaks(lab: Lab) -> None:
    with connect(lab, "silent", timeout=0.5) as c:
        c.send("EHLO probe.lab.test\r\n")
        with pytest.raises(TimeoutError):
            c.sock.recv(1)  # 0.5 s of nothing: enough to see that nothing comes at once
    assert lab.smtp_stats()[IP["silent"]]["connections"] >= 1


def test_a_garbage_mta_sends_junk_then_endless_continuation_lines(lab: Lab) -> None:
    with connect(lab, "garbage") as c:
        assert c.line().startswith(b"\x00\xff\xfe")
        lines = [c.line() for _ in range(50)]
        assert all(line.startswith((b"220-", b"\x1b[31m")) for line in lines)
        assert not any(line.startswith(b"220 ") for line in lines)


def test_a_tarpit_sends_a_valid_greeting_one_byte_at_a_time(lab: Lab) -> None:
    greeting = b"220 tarpit.knobs.test ESMTP\r\n"
    with connect(lab, "tarpit") as c:
        first = c.sock.recv(len(greeting))
        # The whole greeting takes about 30 s: its first read cannot hold all of it.
        assert first and greeting.startswith(first) and len(first) < len(greeting)
        rest = first
        while len(rest) < 3:
            rest += c.sock.recv(3)
        assert rest.startswith(b"220")


def test_a_babbler_greets_with_a_line_that_never_ends(lab: Lab) -> None:
    with connect(lab, "babbler") as c:
        data = b""
        while len(data) < (1 << 20) + 4:
            chunk = c.sock.recv(1 << 16)
            assert chunk, "closed early"
            data += chunk
        assert data.startswith(b"220 ") and b"\n" not in data and b"\r" not in data


def test_a_binary_mta_sends_only_bytes_above_0x7f(lab: Lab) -> None:
    with connect(lab, "binary") as c:
        data = b""
        while len(data) < 65536:
            chunk = c.sock.recv(65536)
            assert chunk, "closed early"
            data += chunk
        assert min(data) >= 0x80


def test_a_badcode_mta_greets_with_666(lab: Lab) -> None:
    with connect(lab, "badcode") as c:
        assert c.line() == b"666 badcode.knobs.test ESMTP"
        c.send("EHLO probe.lab.test\r\n")
        assert c.line().startswith(b"666 ")
        c.send("QUIT\r\n")
        assert c.line() == b"221 2.0.0 Bye"
    assert "EHLO" in lab.smtp_stats()[IP["badcode"]]["verbs"]


# --------------------------------------------------------------------------- one port, loopback only


def test_every_mta_listens_on_one_port_and_only_on_its_own_address(lab: Lab) -> None:
    port = lab.smtp_port
    assert 1024 <= port <= 65535
    for ip in (IP["strict"], IP["badcode"]):
        with socket.create_connection((ip, port), timeout=WAIT):
            pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.9.63", port), timeout=WAIT)  # no MTA there


def test_an_mta_on_ipv6_loopback() -> None:
    text = SCENARIO.split("\n[[mta]]")[0] + '\n[[mta]]\nip = "::1"\nhostname = "six.knobs.test"\n'
    with Lab([parse_scenario(text, "six")]) as lab, Raw("::1", lab.smtp_port) as c:
        assert c.reply() == (220, ["six.knobs.test ESMTP"])
        c.command("EHLO probe.lab.test")
        assert code(c.command("STARTTLS")) == 220
        assert c.starttls(trusting(lab.ca_path), "six.knobs.test").version() in ("TLSv1.2", "TLSv1.3")
