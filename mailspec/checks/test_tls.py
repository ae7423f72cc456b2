"""STARTTLS and certificates, per SMTP endpoint (`pytest --mail-checks` lists every check).

Which certificate problems fail depends on what the domain publishes (CATALOG.md §18.5): with nothing
published, port-25 TLS is opportunistic (RFC 7435), so a wrong name, an expired certificate or a broken
chain is a warning; at an MX host that an MTA-STS policy in ``enforce`` mode covers they are failures of
a ``must`` (senders that apply the policy do not deliver there; the result's severity says ``must``),
and a missing STARTTLS fails too. The policy is read as a sender reads it (the ``published_tls``
fixture); one that could not be looked up or fetched counts as nothing published, and the evidence
says so. DANE, the other publication of §18.5, arrives with the DANE checks.
"""

from __future__ import annotations

import binascii
import datetime as dt
from base64 import b64decode
from typing import TYPE_CHECKING

import pytest

from mailspec.catalog import Severity, check
from mailspec.errors import Indeterminate
from mailspec.facts.published import PublishedTls
from mailspec.facts.smtp import Exchange, LegacyTls, SmtpIntrusive, SmtpSession, TlsInfo
from mailspec.outcome import evidence, note, require, warn
from mailspec.records.certs import (
    CertError,
    CertInfo,
    chain_problem,
    name_matches,
    parse_cert,
    validity_problem,
)
from mailspec.records.hostname import looks_like_ip

if TYPE_CHECKING:  # (the settings module loads the survey, which a check never does)
    from mailspec.settings import Settings

__all__ = [
    "test_tls_cert_chain",
    "test_tls_cert_name",
    "test_tls_cert_validity",
    "test_tls_starttls_handshake",
    "test_tls_starttls_no_injection",
    "test_tls_starttls_no_readvertise",
    "test_tls_starttls_offered",
    "test_tls_version_legacy_refused",
    "test_tls_version_modern",
]

#: a certificate that expires in fewer days than this warns (tls.cert.validity)
EXPIRY_WARN_DAYS = 14
#: the versions RFC 8996 and RFC 8461 §7.2 leave in use
MODERN = ("TLSv1.2", "TLSv1.3")
#: what OpenSSL says when the two sides share no protocol version (the server's alert, or the
#: client's refusal of the version the server chose); "wrong version number" is not among them: it
#: is what a plaintext answer to a ClientHello looks like
_VERSION_ERRORS = ("protocol version", "protocol_version", "unsupported protocol", "unsupported_protocol")
_LOCAL_OPENSSL = "OpenSSL"  # LegacyTls.untested names the local OpenSSL when it, not the server, refused


# ------------------------------------------------------------------------------------------ helpers
def _timed_out(text: str) -> bool:
    return text.lower().startswith("timeout") or "timed out" in text.lower()


def _said(x: Exchange) -> str:
    """A reply for a message: at most 120 characters, unprintable ones as '?' (a garbage greeting)."""
    text = "".join(c if c.isprintable() else "?" for c in x.reply)
    return text if len(text) <= 120 else text[:117] + "..."


def _ready(session: SmtpSession) -> Exchange:
    """The session's EHLO reply; skip when the session did not get that far (the smtp.* checks judge
    why), or could not test when what stopped it was transient (a 4yz) or left no record."""
    where = session.endpoint
    if not session.connected:
        pytest.skip(f"no SMTP session with {where}: {session.connect_error} (see smtp.connect)")
    greeting = session.greeting
    if greeting is None:
        raise Indeterminate(f"could not test: no greeting from {where} was recorded")
    if not session.greeted:
        if greeting.kind == 4:
            raise Indeterminate(
                f"could not test: {where} greets with {_said(greeting)} (a transient refusal)"
            )
        pytest.skip(f"{where} did not greet with 220 ({_said(greeting)}; see smtp.connect, smtp.banner.code)")
    ehlo = session.ehlo
    if ehlo is None:
        raise Indeterminate(f"could not test: no EHLO reply from {where} was recorded")
    if ehlo.code != 250:
        if ehlo.kind == 4:
            raise Indeterminate(f"could not test: EHLO at {where} got {_said(ehlo)} (a transient refusal)")
        pytest.skip(f"EHLO at {where} got {_said(ehlo)} (see smtp.ehlo.ok)")
    return ehlo


def _tls(session: SmtpSession) -> TlsInfo:
    """The STARTTLS attempt; skip when STARTTLS is not offered."""
    _ready(session)
    if not session.starttls_offered:
        pytest.skip(f"{session.endpoint} does not offer STARTTLS (see tls.starttls.offered)")
    if session.tls is None:
        raise Indeterminate(
            f"could not test: {session.endpoint} offers STARTTLS, but the session ended before it was tried"
        )
    return session.tls


def _why_not(tls: TlsInfo) -> str:
    if tls.starttls.code != 220:
        return f"STARTTLS got {tls.starttls.reply}"
    return f"the TLS handshake failed ({tls.handshake_error or 'no TLS version was recorded'})"


def _established(session: SmtpSession) -> TlsInfo:
    """The TLS session; skip when there is none."""
    tls = _tls(session)
    if not tls.established:
        pytest.skip(f"no TLS session with {session.endpoint}: {_why_not(tls)} (see tls.starttls.handshake)")
    return tls


def _version_refused(tls: TlsInfo) -> bool:
    """The handshake failed because the server has no TLS version this probe offers (1.2 and up)."""
    error = tls.handshake_error.lower()
    return tls.starttls.code == 220 and any(e in error for e in _VERSION_ERRORS)


def _chain(tls: TlsInfo, where: str) -> list[bytes]:
    """The certificates presented, DER, leaf first."""
    try:
        ders = [b64decode(c, validate=True) for c in tls.chain]
    except (binascii.Error, ValueError) as exc:
        raise Indeterminate(
            f"could not test: the certificates recorded from {where} are garbled ({exc})"
        ) from None
    if not ders:
        raise Indeterminate(
            f"could not test: no certificate was recorded from the TLS handshake with {where}"
        )
    return ders


def _when(at: dt.datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _cert_lines(info: CertInfo) -> list[str]:
    return [
        f"   leaf certificate: subject {info.subject or '(empty)'}; issuer {info.issuer or '(empty)'}",
        f"   subjectAltName DNS: {', '.join(info.dns_names) or '(none)'}",
        f"   valid {_when(info.not_before)} to {_when(info.not_after)}; key {info.key}; "
        f"signature {info.signature_algorithm}; SHA-256 {info.sha256}",
    ]


def _leaf(session: SmtpSession, tls: TlsInfo) -> CertInfo:
    """The leaf certificate's contents; a certificate that does not parse warns (what a sender that
    checks certificates would make of it: it cannot authenticate the server)."""
    ders = _chain(tls, session.endpoint)
    try:
        info = parse_cert(ders[0])
    except CertError as exc:
        warn(
            f"the certificate {session.endpoint} presented after STARTTLS cannot be read: {exc}. A "
            "sender that checks certificates (MTA-STS, DANE) cannot authenticate the server (RFC 8461 "
            "§4.2). Install a well-formed X.509 certificate for the MX host name."
        )
        raise  # (never reached: warn() raises; this tells the type checker so)
    evidence(_cert_lines(info))
    return info


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _enforced(published: PublishedTls, message: str) -> None:
    """Fail at ``must`` when an MTA-STS policy in enforce mode covers the host (CATALOG.md §18.5)."""
    evidence(published.evidence())
    if published.enforced:
        require(Severity.MUST, published.why)
        pytest.fail(
            f"{message} Here this is a must: {published.why}, and senders that apply it do not deliver "
            "to a host that fails it (RFC 8461 §4.2, §5)."
        )


# ------------------------------------------------------------------------------------------ STARTTLS
@check(
    "tls.starttls.offered",
    refs=[
        "RFC 3207 §2–§4",
        "RFC 8461 §4",
        "RFC 7672 §2.2",
        'Google sender guidelines ("Use a TLS connection")',
    ],
    fix="Enable STARTTLS in the MTA with a certificate for the MX host name (Postfix: "
    "smtpd_tls_security_level = may, smtpd_tls_chain_files).",
)
def test_tls_starttls_offered(
    smtp_session: SmtpSession, mailspec_settings: Settings, published_tls: PublishedTls
) -> None:
    """The server offers STARTTLS.

    Its absence is a warning: TLS on port 25 is opportunistic (RFC 3207 §4, RFC 7435). Under
    ``--mail-profile=bulk`` (the mailbox providers' TLS requirement) it fails instead, and at an MX
    host that an MTA-STS policy in ``enforce`` mode covers it fails as a ``must`` (senders then refuse
    to deliver in plaintext, RFC 8461 §4, §5). The failure under TLSA records arrives with the DANE
    checks.
    """
    ehlo = _ready(smtp_session)
    evidence(ehlo.transcript())
    if smtp_session.starttls_offered:
        return
    message = (
        f"the EHLO reply of {smtp_session.endpoint} does not list STARTTLS: mail to it travels in "
        "plaintext, readable and alterable on the way. Senders use STARTTLS when offered (RFC 3207 §2, "
        "§4), and the large mailbox providers ask for TLS (Google sender guidelines). Enable STARTTLS "
        "in the MTA with a certificate for the MX host name."
    )
    _enforced(published_tls, message)
    if mailspec_settings.profile == "bulk":
        pytest.fail(message)
    warn(message)


@check(
    "tls.starttls.handshake",
    refs=["RFC 3207 §4", "RFC 8461 §7.1 (SNI = MX hostname)", "RFC 7672 §8.1"],
    fix="Configure the MTA's TLS with a certificate and key that belong together and TLS 1.2 or 1.3, "
    "or stop advertising STARTTLS.",
)
def test_tls_starttls_handshake(smtp_session: SmtpSession) -> None:
    """The STARTTLS handshake succeeds.

    ``STARTTLS`` must get 220 and the TLS handshake (with SNI = the MX host name, TLS 1.2 or 1.3
    offered, certificates not yet judged) must complete. A 4yz reply is transient: a warning. A 5yz
    reply, a refused handshake or a dropped connection while STARTTLS is advertised fails: senders
    that try it then fall back to plaintext, or give up (RFC 3207 §4). A timeout is "could not test".
    """
    tls = _tls(smtp_session)
    where = smtp_session.endpoint
    evidence(tls.evidence())
    st = tls.starttls
    if tls.established:
        note(f"TLS {tls.version} {tls.cipher} with {where} (SNI {tls.server_name})")
        return
    if st.code == 220:
        error = tls.handshake_error
        if not error:
            raise Indeterminate(f"could not test: the TLS handshake with {where} left no result")
        if _timed_out(error):
            raise Indeterminate(f"could not test: the TLS handshake with {where} timed out ({error})")
        hint = (
            " The server has no TLS version this probe offers (TLS 1.2 and 1.3): it supports only "
            "versions that RFC 8996 retires (see tls.version.modern)."
            if _version_refused(tls)
            else ""
        )
        pytest.fail(
            f"{where} advertises STARTTLS and accepts it (220), but the TLS handshake (SNI "
            f"{tls.server_name}) fails: {error}.{hint} Senders that try TLS then fall back to plaintext "
            "or defer the mail (RFC 3207 §4, RFC 8461 §7.1). Fix the MTA's TLS configuration (a "
            "certificate and key that belong together, TLS 1.2 or 1.3), or stop advertising STARTTLS."
        )
    if not st.replied:
        if _timed_out(st.error):
            raise Indeterminate(f"could not test: no reply to STARTTLS from {where} ({st.error})")
        pytest.fail(
            f"{where} advertises STARTTLS but gives no reply to it ({st.error or 'no reply'}); a server "
            "that offers STARTTLS must answer it (RFC 3207 §4). Fix or disable its TLS support."
        )
    if st.kind == 4:
        warn(
            f"{where} advertises STARTTLS but answers it {st.reply}: TLS is temporarily unavailable "
            "(RFC 3207 §4: 454), so mail goes in plaintext meanwhile. Check the MTA's TLS configuration "
            "and logs (a certificate or key file it cannot read)."
        )
    pytest.fail(
        f"{where} advertises STARTTLS but answers it {st.reply} instead of 220 (RFC 3207 §4): senders "
        "that try TLS fail. Fix the MTA's TLS configuration, or stop advertising STARTTLS."
    )


@check(
    "tls.starttls.no-readvertise",
    refs=["RFC 3207 §4.2"],
    fix="Upgrade or fix the MTA so that the EHLO reply inside TLS omits STARTTLS.",
)
def test_tls_starttls_no_readvertise(smtp_session: SmtpSession) -> None:
    """The server does not offer STARTTLS again after the TLS handshake."""
    tls = _established(smtp_session)
    where = smtp_session.endpoint
    evidence(tls.evidence())
    ehlo = tls.ehlo
    if ehlo is None or ehlo.code != 250:
        got = ehlo.reply if ehlo is not None else "none was sent"
        raise Indeterminate(f"could not test: the EHLO after the TLS handshake with {where} got {got}")
    again = [line for line in ehlo.lines[1:] if line.split()[:1] and line.split()[0].upper() == "STARTTLS"]
    assert not again, (
        f"inside TLS, the EHLO reply of {where} lists STARTTLS again; a server MUST NOT return the "
        "STARTTLS extension in the EHLO reply after a TLS handshake (RFC 3207 §4.2), and a client that "
        "acts on it breaks the session. Fix or upgrade the MTA."
    )


@check(
    "tls.starttls.no-injection",
    refs=["RFC 3207 §4.2", "RFC 2920 §3.1"],
    fix="Upgrade the MTA: it must discard input buffered before the TLS handshake (CVE-2011-0411 class).",
)
def test_tls_starttls_no_injection(smtp_session: SmtpSession, smtp_intrusive: SmtpIntrusive) -> None:
    """The server discards commands sent before the TLS handshake (no STARTTLS injection).

    ``STARTTLS`` and ``NOOP`` go in one plaintext write; a server that answers the NOOP inside TLS,
    before the client has said anything there, executes what a man in the middle could have inserted
    before encryption began (RFC 3207 §4.2). Without a working handshake the probe cannot run: skipped
    (see tls.starttls.handshake). A vulnerable server fails, as the rule's severity (MUST) says; CATALOG.md
    §17 lists the check among the WARN-only reactions, but that row is about rate-limited reactions,
    and this one is a definite protocol violation with a security consequence.
    """
    _established(smtp_session)  # (the probe needs a handshake that works)
    where = smtp_session.endpoint
    if smtp_intrusive.error:
        raise Indeterminate(f"could not test: the intrusive probes of {where}: {smtp_intrusive.error}")
    lines = [f"STARTTLS injection at {where}: {line}" for line in smtp_intrusive.injection]
    evidence(lines)
    verdict = smtp_intrusive.injection_verdict
    if verdict == "safe":
        return
    seen = "; ".join(smtp_intrusive.injection) or "no record of the probe"
    if verdict != "vulnerable":
        raise Indeterminate(f"could not test: the STARTTLS injection probe of {where} could not run ({seen})")
    pytest.fail(
        f"{where} answered a command sent in plaintext together with STARTTLS inside the TLS session "
        f"({seen}): it keeps input buffered before the handshake, so an attacker can inject commands "
        "(RFC 3207 §4.2: the server MUST discard knowledge obtained before TLS; RFC 2920 §3.1). "
        "Upgrade the MTA to a version that flushes its input buffer at STARTTLS."
    )


# ------------------------------------------------------------------------------------------ versions
@check(
    "tls.version.modern",
    refs=["RFC 8461 §7.2", "RFC 8996 §4, §5"],
    fix="Enable TLS 1.2 and TLS 1.3 in the MTA (upgrade an old TLS library; do not exclude them in "
    "smtpd_tls_protocols).",
)
def test_tls_version_modern(smtp_session: SmtpSession) -> None:
    """The server negotiates TLS 1.2 or 1.3.

    The probe offers TLS 1.2 and 1.3 only: a completed handshake names the version; a handshake that
    fails because the server alerts "protocol version" (or chooses an older one) means it supports
    only older versions, which fails. When it fails otherwise (a server that just closes), the survey
    tries once more offering every version: a handshake in TLS 1.1 or older then fails this check too.
    Any other handshake failure is tls.starttls.handshake's to report.
    """
    tls = _tls(smtp_session)
    where = smtp_session.endpoint
    evidence(tls.evidence())
    if tls.established:
        assert tls.version in MODERN, (
            f"{where} negotiated {tls.version}; TLS 1.0 and 1.1 MUST NOT be used (RFC 8996 §4, §5) and "
            "MTA-STS senders require TLS 1.2 or later (RFC 8461 §7.2). Enable TLS 1.2 and 1.3 in the MTA."
        )
        return
    if tls.fallback_version and tls.fallback_version not in MODERN:
        pytest.fail(
            f"{where} refuses a TLS handshake offering TLS 1.2 and 1.3 ({tls.handshake_error}) and "
            f"completes one in {tls.fallback_version} when older versions are offered too: it speaks only "
            "TLS versions that MUST NOT be used (RFC 8996 §4, §5; RFC 8461 §7.2). Enable TLS 1.2 and 1.3."
        )
    if _version_refused(tls):
        pytest.fail(
            f"{where} refuses a TLS handshake offering TLS 1.2 and 1.3 ({tls.handshake_error}): it "
            "supports only TLS versions that MUST NOT be used (RFC 8996 §4, §5; RFC 8461 §7.2). "
            "Upgrade its TLS library or configuration to allow TLS 1.2 and 1.3."
        )
    pytest.skip(f"no TLS session with {where}: {_why_not(tls)} (see tls.starttls.handshake)")


def _legacy_line(where: str, x: LegacyTls) -> str:
    state = "accepted" if x.accepted else f"not tried ({x.untested})" if x.untested else "refused"
    detail = f": {x.error}" if x.error and not x.accepted else ""
    return f"handshake offering only {x.version} at {where}: {state}{detail}"


@check(
    "tls.version.legacy-refused",
    refs=["RFC 8996 §4, §5, §7", "RFC 7435 §3"],
    fix="Disable TLS 1.0 and 1.1 in the MTA (Postfix: smtpd_tls_protocols = >=TLSv1.2).",
)
def test_tls_version_legacy_refused(smtp_session: SmtpSession, smtp_intrusive: SmtpIntrusive) -> None:
    """The server refuses TLS 1.0 and TLS 1.1.

    A handshake offering only TLS 1.1, then only TLS 1.0, must be refused. An accepted one is a
    warning, not a failure: RFC 8996 says MUST NOT, but TLS on port 25 is opportunistic (RFC 7435 §3)
    and an old sender is better served by TLS 1.0 than by plaintext. When this machine's OpenSSL
    cannot offer an old version, that version was not tried: the check skips and says so (never a
    pass for a version that was not tested). A server that refuses STARTTLS itself skips (see
    tls.starttls.handshake); one whose modern handshake fails is still probed.
    """
    tls = _tls(smtp_session)
    where = smtp_session.endpoint
    if tls.starttls.code != 220:  # (a failed modern handshake still lets an old one be tried)
        pytest.skip(f"STARTTLS at {where} got {tls.starttls.reply} (see tls.starttls.handshake)")
    if smtp_intrusive.error:
        raise Indeterminate(f"could not test: the intrusive probes of {where}: {smtp_intrusive.error}")
    legacy = smtp_intrusive.legacy
    evidence([_legacy_line(where, x) for x in legacy])
    if not legacy:
        raise Indeterminate(f"could not test: no legacy TLS handshake was tried at {where}")
    accepted = [x.version for x in legacy if x.accepted]
    if accepted:
        warn(
            f"{where} completes a TLS handshake that offers only {' or '.join(accepted)}; TLS 1.0 and 1.1 "
            "MUST NOT be negotiated (RFC 8996 §4, §5). Port-25 TLS is opportunistic (RFC 7435 §3), so "
            "this is a warning. Disable TLS 1.0 and 1.1 in the MTA (Postfix: smtpd_tls_protocols = "
            ">=TLSv1.2)."
        )
    other = [x for x in legacy if x.untested and _LOCAL_OPENSSL not in x.untested]
    if other:
        why = "; ".join(f"{x.version}: {x.untested}{' (' + x.error + ')' if x.error else ''}" for x in other)
        raise Indeterminate(f"could not test: the legacy TLS handshakes at {where} could not run ({why})")
    local = [x for x in legacy if x.untested]
    if local:
        refused = [x.version for x in legacy if not x.untested]
        done = f"; {' and '.join(refused)} refused" if refused else ""
        pytest.skip(
            f"this machine's OpenSSL cannot offer {' or '.join(x.version for x in local)}, so that was "
            f"not tried at {where}{done} ({local[0].untested})"
        )


# -------------------------------------------------------------------------------------- certificates
@check(
    "tls.cert.name",
    refs=["RFC 9525 §6.3, §2", "RFC 8461 §4.2", "RFC 7672 §3.2.2, §3.1.1"],
    fix="Install a certificate whose subjectAltName lists the MX host name (or a wildcard for its parent).",
)
def test_tls_cert_name(smtp_session: SmtpSession, published_tls: PublishedTls) -> None:
    """The server's certificate names the MX host.

    A subjectAltName dNSName must match the MX host name (case-insensitive; ``*`` only as the whole
    left-most label, matching one label); the CN is not used (RFC 9525 §6.3, §2). With nothing
    published a mismatch is a warning (opportunistic TLS); at an MX host that an MTA-STS policy covers
    it fails, as a ``must`` under mode enforce (senders refuse the host) and at the check's own
    severity under mode testing (senders report it). The DANE cases (a failure under DANE-TA, a skip
    under a matching DANE-EE record) arrive with the DANE checks. An endpoint named by an address
    (``--mail-server=192.0.2.1``, or an MX name such as ``192.0.2.1.``) has no host name to match:
    skipped.
    """
    tls = _established(smtp_session)
    host = smtp_session.host
    if host == smtp_session.ip or looks_like_ip(host):
        pytest.skip(
            f"{smtp_session.endpoint} is named by an address (a --mail-server given by address, or an MX "
            "name that looks like one: see mx.target.not-ip), so there is no host name to match"
        )
    evidence(tls.evidence())
    info = _leaf(smtp_session, tls)
    if name_matches(host, info.dns_names):
        return
    names = ", ".join(info.dns_names) if info.dns_names else "no DNS name (no subjectAltName dNSName)"
    cn = (
        f" (its subject, {info.subject}, is not consulted: RFC 9525 §2)"
        if host in info.subject.lower()
        else ""
    )
    message = (
        f"the certificate of {smtp_session.endpoint} names {names}, not {host}{cn}; a sender that "
        "authenticates the server matches the MX host name against the subjectAltName (RFC 9525 §6.3, "
        "RFC 8461 §4.2) and would refuse it. Install a certificate whose subjectAltName lists "
        f"{host} (or *.{host.partition('.')[2]})."
    )
    _enforced(published_tls, message)
    if published_tls.authenticated:
        pytest.fail(f"{message} ({published_tls.why}: senders report the failure, RFC 8461 §5)")
    warn(message)


@check(
    "tls.cert.validity",
    refs=["RFC 8461 §4.2", "RFC 7672 §3.1.1", "RFC 7671 §5.1"],
    fix="Renew the certificate before it expires, and automate the renewal (ACME).",
)
def test_tls_cert_validity(smtp_session: SmtpSession, published_tls: PublishedTls) -> None:
    """The server's certificate is within its validity period and not about to expire.

    Expired, not yet valid, or expiring within 14 days is a warning with nothing published
    (CATALOG.md §18.5). At an MX host that an MTA-STS policy in ``enforce`` mode covers, an expired or
    not yet valid certificate fails as a ``must`` (senders refuse it, RFC 8461 §4.2); one about to
    expire still warns. The skip under a matching DANE-EE record arrives with the DANE checks.
    """
    tls = _established(smtp_session)
    evidence(tls.evidence())
    info = _leaf(smtp_session, tls)
    problem = validity_problem(info, _now(), EXPIRY_WARN_DAYS)
    if problem is None:
        note(f"the certificate of {smtp_session.endpoint} is valid until {_when(info.not_after)}")
        return
    kind, sentence = problem
    fixes = {
        "expired": "senders that authenticate the server (MTA-STS) refuse it (RFC 8461 §4.2). Renew it "
        "now, and automate the renewal.",
        "not-yet-valid": "senders that authenticate the server refuse it until then (RFC 8461 §4.2). "
        "Check the issuing machine's clock, or install the previous certificate meanwhile.",
        "expiring": "once expired, senders that authenticate the server (MTA-STS) refuse it (RFC 8461 "
        "§4.2). Renew it now, and automate the renewal.",
    }
    message = f"{smtp_session.endpoint}: {sentence}; {fixes.get(kind, fixes['expired'])}"
    if kind != "expiring":
        _enforced(published_tls, message)
    warn(message)


@check(
    "tls.cert.chain",
    refs=["RFC 8461 §4.2", "RFC 8314 §4.4"],
    fix="Install a certificate from a publicly trusted CA and configure the MTA to send the "
    "intermediate certificates with it (the full chain file).",
)
def test_tls_cert_chain(
    smtp_session: SmtpSession, mail_trust_store: bytes, published_tls: PublishedTls
) -> None:
    """The server's certificate chains to a publicly trusted root.

    The chain the server presented (leaf first, then intermediates) must build to a root of the trust
    store (``--mail-ca``, else the system's), under Web PKI rules; the leaf's own dates and name are
    the other checks' (tls.cert.validity, tls.cert.name). A self-signed certificate, a missing
    intermediate or an untrusted root is a warning with nothing published (opportunistic TLS), and a
    failure of a ``must`` at an MX host that an MTA-STS policy in ``enforce`` mode covers (senders
    refuse it, RFC 8461 §4.2). A trust store with no certificate is "could not test".
    """
    tls = _established(smtp_session)
    where = smtp_session.endpoint
    evidence(tls.evidence())
    ders = _chain(tls, where)
    try:
        problem = chain_problem(ders, mail_trust_store, where, _now())
    except CertError as exc:
        raise Indeterminate(f"could not test: the trust store (--mail-ca, or the system's): {exc}") from None
    if problem is None:
        return
    message = (
        f"{problem}; senders that authenticate the server (MTA-STS) require a chain to a trusted root "
        "(RFC 8461 §4.2, RFC 8314 §4.4). Install a certificate from a publicly trusted CA and send the "
        "intermediate certificates with it (the full chain file)."
    )
    _enforced(published_tls, message)
    warn(message)
