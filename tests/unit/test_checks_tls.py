"""The STARTTLS and certificate checks (mailspec/checks/test_tls.py) on hand-built sessions.

Each check is called directly with constructed facts; the certificates are made here with
``cryptography`` (a root, an intermediate and leaves with the flaws a rule looks for).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailspec.catalog import Severity
from mailspec.checks import test_tls as checks
from mailspec.errors import Indeterminate
from mailspec.facts.published import PublishedTls
from mailspec.facts.smtp import Exchange, LegacyTls, SmtpIntrusive, SmtpSession, TlsInfo
from mailspec.outcome import Finding, current, reset
from mailspec.settings import Settings

HOST = "mx1.example.com"
IP = "192.0.2.25"
VIOLATION = (AssertionError, pytest.fail.Exception)
#: no MTA-STS policy covers the host: opportunistic TLS (CATALOG.md §18.5's "nothing published")
NOTHING = PublishedTls("example.com", HOST, why="no MTA-STS record at _mta-sts.example.com")
ENFORCE = PublishedTls(
    "example.com", HOST, "enforce", "the MTA-STS policy of example.com (mode enforce) covers " + HOST
)
TESTING = PublishedTls(
    "example.com", HOST, "testing", "the MTA-STS policy of example.com (mode testing) covers " + HOST
)
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


# ----------------------------------------------------------------------------------- certificates
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


@dataclasses.dataclass
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _ca(cn: str, parent: Issuer | None = None) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(parent.cert.subject if parent else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=30))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if parent is None else 0), critical=True
        )
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if parent is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False
        )
    return Issuer(builder.sign(parent.key if parent else key, hashes.SHA256()), key)


ROOT = _ca("mailspec test root")
INTERMEDIATE = _ca("mailspec test intermediate", ROOT)
OTHER_ROOT = _ca("some other root")


def leaf(
    names: Sequence[str] = (HOST,),
    *,
    issuer: Issuer | None = INTERMEDIATE,
    days: tuple[float, float] = (-10, 80),
    cn: str | None = None,
) -> bytes:
    """A server certificate's DER: SAN dNSNames ``names`` (none when empty), valid from ``days[0]``
    to ``days[1]`` days from now, issued by ``issuer`` (None: self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(cn or (names[0] if names else "no-san"))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return builder.sign(issuer.key if issuer else key, hashes.SHA256()).public_bytes(
        serialization.Encoding.DER
    )


def der(issuer: Issuer) -> bytes:
    return issuer.cert.public_bytes(serialization.Encoding.DER)


def pem(*issuers: Issuer) -> bytes:
    return b"".join(i.cert.public_bytes(serialization.Encoding.PEM) for i in issuers)


def b64(*ders: bytes) -> tuple[str, ...]:
    return tuple(base64.b64encode(d).decode("ascii") for d in ders)


GOOD_CHAIN = b64(leaf(), der(INTERMEDIATE))
TRUST = pem(ROOT)


# --------------------------------------------------------------------------------------- sessions
def x(sent: str, code: int, *lines: str, error: str = "") -> Exchange:
    return Exchange(sent, code, tuple(lines), error)


GREETING = x("", 220, f"{HOST} ESMTP")


def ehlo(*keywords: str) -> Exchange:
    return x("EHLO probe.example.net", 250, HOST, "PIPELINING", *keywords)


def tls(
    *,
    chain: tuple[str, ...] = GOOD_CHAIN,
    version: str = "TLSv1.3",
    starttls: Exchange | None = None,
    error: str = "",
    after: Exchange | None = None,
) -> TlsInfo:
    established = not error and starttls is None
    return TlsInfo(
        starttls or x("STARTTLS", 220, "2.0.0 ready"),
        HOST,
        handshake_error=error,
        version=version if established else "",
        cipher="TLS_AES_256_GCM_SHA384" if established else "",
        chain=chain if established else (),
        ehlo=after if after is not None else (ehlo() if established else None),
    )


def session(
    t: TlsInfo | None = None,
    *,
    offered: bool = True,
    e: Exchange | None = None,
    greeting: Exchange | None = GREETING,
    connect_error: str = "",
    host: str = HOST,
) -> SmtpSession:
    if e is None:
        e = ehlo("STARTTLS") if offered else ehlo()
    if t is None and offered:
        t = tls()
    return SmtpSession(host, IP, 25, connect_error=connect_error, greeting=greeting, ehlo=e, tls=t)


def intrusive(
    *, injection: str = "safe", lines: tuple[str, ...] = ("nothing before the client spoke",),
    legacy: tuple[LegacyTls, ...] = (), error: str = "",
) -> SmtpIntrusive:  # fmt: skip
    if not legacy:
        legacy = (
            LegacyTls("TLSv1.1", error="TLS error: NO_PROTOCOLS_AVAILABLE"),
            LegacyTls("TLSv1", error="x"),
        )
    return SmtpIntrusive(
        HOST, IP, 25, error=error, injection=lines, injection_verdict=injection, legacy=legacy
    )


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


def passes(run: Callable[..., None], *args: object) -> None:
    """Run a check that must pass: a warning, skip or could-not-test escaping a test would be
    reported by the mailspec plugin as xfailed or skipped, not as the failure it is here."""
    try:
        run(*args)
    except (Finding, Indeterminate, pytest.skip.Exception) as exc:
        pytest.fail(f"expected {run.__name__} to pass; it raised {type(exc).__name__}: {exc}")


DEFAULT = Settings()
BULK = Settings(profile="bulk")


# --------------------------------------------------------------------------- session preconditions
@pytest.mark.parametrize(
    ("s", "outcome", "match"),
    [
        (session(connect_error="connection refused"), pytest.skip.Exception, "see smtp.connect"),
        (session(greeting=x("", 554, "go away")), pytest.skip.Exception, "smtp.banner.code"),
        (session(greeting=x("", 421, "busy")), Indeterminate, "transient"),
        (
            session(greeting=Exchange("", error="timeout (no whole greeting)")),
            pytest.skip.Exception,
            "smtp.connect",
        ),
        (
            session(greeting=Exchange("", error="Malformed \x00\x01" + "x" * 200, malformed="garbage")),
            pytest.skip.Exception,
            r"\(no reply \(Malformed \?\?x+\.\.\.; see smtp\.connect, smtp\.banner\.code\)$",
        ),
        (session(greeting=None), Indeterminate, "no greeting"),
        (session(e=x("EHLO probe", 502, "no")), pytest.skip.Exception, "smtp.ehlo.ok"),
        (session(e=Exchange("EHLO probe", error="timeout (no whole reply)")), pytest.skip.Exception, "EHLO"),
        (session(e=x("EHLO probe", 421, "closing")), Indeterminate, "transient"),
        (dataclasses.replace(session(), ehlo=None), Indeterminate, "no EHLO reply"),
    ],
    ids=[
        "refused",
        "554",
        "421",
        "greeting-timeout",
        "garbage",
        "no-greeting",
        "ehlo-502",
        "ehlo-timeout",
        "ehlo-421",
        "no-ehlo",
    ],
)
def test_sessions_that_did_not_get_to_ehlo(s: SmtpSession, outcome: type[BaseException], match: str) -> None:
    with pytest.raises(outcome, match=match):
        checks.test_tls_starttls_offered(s, DEFAULT, NOTHING)
    with pytest.raises(outcome, match=match):
        checks.test_tls_cert_chain(s, TRUST, NOTHING)


# ------------------------------------------------------------------------------------------ offered
def test_starttls_offered_passes_with_the_ehlo_as_evidence() -> None:
    passes(checks.test_tls_starttls_offered, session(), DEFAULT, NOTHING)
    assert "S: 250 STARTTLS" in current().evidence


def test_no_starttls_warns() -> None:
    with pytest.raises(Finding, match=r"does not list STARTTLS.*RFC 3207"):
        checks.test_tls_starttls_offered(session(offered=False), DEFAULT, NOTHING)


def test_no_starttls_fails_under_the_bulk_profile() -> None:
    with pytest.raises(pytest.fail.Exception, match="Google sender guidelines"):
        checks.test_tls_starttls_offered(session(offered=False), BULK, NOTHING)


def test_starttls_keyword_is_case_insensitive() -> None:
    passes(checks.test_tls_starttls_offered, session(e=ehlo("starttls")), DEFAULT, NOTHING)


# ---------------------------------------------------------------------------------------- handshake
def test_a_handshake_passes_with_a_note() -> None:
    passes(checks.test_tls_starttls_handshake, session())
    assert any("TLSv1.3" in n for n in current().notes)


def test_handshake_skips_without_starttls() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"tls\.starttls\.offered"):
        checks.test_tls_starttls_handshake(session(offered=False))


def test_handshake_not_tried_is_indeterminate() -> None:
    s = dataclasses.replace(session(), tls=None)
    with pytest.raises(Indeterminate, match="before it was tried"):
        checks.test_tls_starttls_handshake(s)


def test_454_warns() -> None:
    with pytest.raises(Finding, match="454"):
        checks.test_tls_starttls_handshake(
            session(tls(starttls=x("STARTTLS", 454, "4.7.0 TLS not available")))
        )


def test_501_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"answers it 501.*RFC 3207 §4"):
        checks.test_tls_starttls_handshake(session(tls(starttls=x("STARTTLS", 501, "5.5.4 syntax"))))


def test_a_refused_handshake_fails() -> None:
    t = tls(error="TLS error: SSLV3_ALERT_HANDSHAKE_FAILURE")
    with pytest.raises(pytest.fail.Exception, match="HANDSHAKE_FAILURE") as info:
        checks.test_tls_starttls_handshake(session(t))
    assert "RFC 8996" not in str(info.value)


def test_a_handshake_without_a_shared_version_fails_and_says_so() -> None:
    t = tls(error="TLS error: TLSV1_ALERT_PROTOCOL_VERSION")
    with pytest.raises(pytest.fail.Exception, match=r"no TLS version this probe offers.*RFC 8996"):
        checks.test_tls_starttls_handshake(session(t))


def test_a_handshake_timeout_is_indeterminate() -> None:
    with pytest.raises(Indeterminate, match="timed out"):
        checks.test_tls_starttls_handshake(session(tls(error="timeout (no whole reply within 10 s)")))


def test_a_handshake_with_no_result_is_indeterminate() -> None:
    t = dataclasses.replace(tls(), version="")
    with pytest.raises(Indeterminate, match="no result"):
        checks.test_tls_starttls_handshake(session(t))


def test_no_reply_to_starttls() -> None:
    closed = tls(starttls=Exchange("STARTTLS", error="connection closed by the server"))
    with pytest.raises(pytest.fail.Exception, match="gives no reply"):
        checks.test_tls_starttls_handshake(session(closed))
    silent = tls(starttls=Exchange("STARTTLS", error="timeout (no whole reply within 10 s)"))
    with pytest.raises(Indeterminate, match="no reply to STARTTLS"):
        checks.test_tls_starttls_handshake(session(silent))


# -------------------------------------------------------------------------------------- readvertise
def test_no_readvertise_passes() -> None:
    passes(checks.test_tls_starttls_no_readvertise, session())


def test_starttls_again_inside_tls_fails() -> None:
    with pytest.raises(AssertionError, match=r"lists STARTTLS again.*RFC 3207 §4\.2"):
        checks.test_tls_starttls_no_readvertise(session(tls(after=ehlo("STARTTLS"))))


def test_readvertise_needs_the_second_ehlo() -> None:
    with pytest.raises(Indeterminate, match="EHLO after the TLS handshake"):
        checks.test_tls_starttls_no_readvertise(session(tls(after=Exchange("EHLO x", error="timeout"))))
    with pytest.raises(Indeterminate, match="none was sent"):
        checks.test_tls_starttls_no_readvertise(session(dataclasses.replace(tls(), ehlo=None)))


def test_readvertise_skips_without_tls() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"tls\.starttls\.handshake"):
        checks.test_tls_starttls_no_readvertise(session(tls(error="TLS error: bad")))
    with pytest.raises(pytest.skip.Exception, match="STARTTLS got 454"):
        checks.test_tls_starttls_no_readvertise(session(tls(starttls=x("STARTTLS", 454, "later"))))


# ---------------------------------------------------------------------------------------- injection
def test_injection_safe_passes() -> None:
    passes(checks.test_tls_starttls_no_injection, session(), intrusive())
    assert any("nothing before the client spoke" in e for e in current().evidence)


def test_injection_vulnerable_fails() -> None:
    probe = intrusive(injection="vulnerable", lines=("before the client spoke: 250 2.0.0 Ok",))
    with pytest.raises(pytest.fail.Exception, match=r"250 2\.0\.0 Ok.*RFC 3207 §4\.2"):
        checks.test_tls_starttls_no_injection(session(), probe)


def test_injection_untestable_is_indeterminate() -> None:
    probe = intrusive(injection="untestable", lines=("STARTTLS got 454 later",))
    with pytest.raises(Indeterminate, match="454 later"):
        checks.test_tls_starttls_no_injection(session(), probe)
    with pytest.raises(Indeterminate, match="no session"):
        checks.test_tls_starttls_no_injection(session(), intrusive(error="no session: refused"))


def test_injection_skips_without_a_working_handshake() -> None:
    with pytest.raises(pytest.skip.Exception, match="does not offer STARTTLS"):
        checks.test_tls_starttls_no_injection(session(offered=False), intrusive(injection="untestable"))
    with pytest.raises(pytest.skip.Exception, match=r"tls\.starttls\.handshake"):
        checks.test_tls_starttls_no_injection(
            session(tls(error="TLS error: x")), intrusive(injection="untestable")
        )


# ----------------------------------------------------------------------------------------- versions
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_modern_versions_pass(version: str) -> None:
    passes(checks.test_tls_version_modern, session(tls(version=version)))


def test_an_old_negotiated_version_fails() -> None:
    with pytest.raises(AssertionError, match=r"negotiated TLSv1\.1.*RFC 8996"):
        checks.test_tls_version_modern(session(tls(version="TLSv1.1")))


@pytest.mark.parametrize(
    "error", ["TLS error: TLSV1_ALERT_PROTOCOL_VERSION", "[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol"]
)
def test_only_old_versions_fail(error: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="supports only TLS versions that MUST NOT"):
        checks.test_tls_version_modern(session(tls(error=error)))


def test_modern_skips_on_another_handshake_failure() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"tls\.starttls\.handshake"):
        checks.test_tls_version_modern(session(tls(error="TLS error: WRONG_VERSION_NUMBER")))
    with pytest.raises(pytest.skip.Exception, match=r"tls\.starttls\.offered"):
        checks.test_tls_version_modern(session(offered=False))


def test_legacy_refused_passes() -> None:
    passes(checks.test_tls_version_legacy_refused, session(), intrusive())
    assert any("TLSv1.1" in e and "refused" in e for e in current().evidence)


def test_legacy_accepted_warns() -> None:
    probe = intrusive(legacy=(LegacyTls("TLSv1.1", accepted=True), LegacyTls("TLSv1", untested="OpenSSL")))
    with pytest.raises(Finding, match=r"only TLSv1\.1; TLS 1\.0 and 1\.1 MUST NOT"):
        checks.test_tls_version_legacy_refused(session(), probe)


def test_legacy_untested_by_this_openssl_skips_never_passes() -> None:
    local = "this machine's OpenSSL cannot offer TLSv1: no protocols available"
    both = intrusive(legacy=(LegacyTls("TLSv1.1", untested=local), LegacyTls("TLSv1", untested=local)))
    with pytest.raises(pytest.skip.Exception, match=r"OpenSSL cannot offer TLSv1\.1 or TLSv1"):
        checks.test_tls_version_legacy_refused(session(), both)
    one = intrusive(legacy=(LegacyTls("TLSv1.1", error="alert"), LegacyTls("TLSv1", untested=local)))
    with pytest.raises(pytest.skip.Exception, match=r"TLSv1\.1 refused"):
        checks.test_tls_version_legacy_refused(session(), one)


def test_legacy_that_could_not_run_is_indeterminate() -> None:
    probe = intrusive(legacy=(LegacyTls("TLSv1.1", error="no 220 greeting", untested="no session"),))
    with pytest.raises(Indeterminate, match="no session"):
        checks.test_tls_version_legacy_refused(session(), probe)
    with pytest.raises(Indeterminate, match="refused"):
        checks.test_tls_version_legacy_refused(session(), intrusive(error="no session: refused"))
    empty = dataclasses.replace(intrusive(), legacy=())
    with pytest.raises(Indeterminate, match="no legacy TLS handshake"):
        checks.test_tls_version_legacy_refused(session(), empty)


def test_legacy_skips_without_starttls() -> None:
    with pytest.raises(pytest.skip.Exception, match="does not offer STARTTLS"):
        checks.test_tls_version_legacy_refused(session(offered=False), intrusive())
    with pytest.raises(pytest.skip.Exception, match=r"STARTTLS at .* got 454"):
        checks.test_tls_version_legacy_refused(session(tls(starttls=x("STARTTLS", 454, "no"))), intrusive())


def test_legacy_is_probed_when_the_modern_handshake_fails() -> None:
    probe = intrusive(legacy=(LegacyTls("TLSv1.1", accepted=True), LegacyTls("TLSv1", accepted=True)))
    with pytest.raises(Finding, match=r"TLSv1\.1 or TLSv1;"):
        checks.test_tls_version_legacy_refused(
            session(tls(error="TLS error: TLSV1_ALERT_PROTOCOL_VERSION")), probe
        )


# --------------------------------------------------------------------------------------------- name
def test_a_matching_name_passes_with_the_certificate_as_evidence() -> None:
    passes(checks.test_tls_cert_name, session(), NOTHING)
    assert any(f"subjectAltName DNS: {HOST}" in e for e in current().evidence)


def test_a_wildcard_matches_one_label() -> None:
    passes(checks.test_tls_cert_name, session(tls(chain=b64(leaf(["*.example.com"])))), NOTHING)
    with pytest.raises(Finding):
        checks.test_tls_cert_name(session(tls(chain=b64(leaf(["*.com"])))), NOTHING)


def test_a_wrong_name_warns() -> None:
    t = tls(chain=b64(leaf(["mail.unrelated-host.test"])))
    with pytest.raises(
        Finding,
        match=r"of mx1\.example\.com \[192\.0\.2\.25\] names mail\.unrelated-host\.test, "
        r"not mx1\.example\.com.*RFC 9525",
    ):
        checks.test_tls_cert_name(session(t), NOTHING)


def test_the_cn_is_not_used() -> None:
    t = tls(chain=b64(leaf([], cn=HOST)))
    with pytest.raises(Finding, match=r"no subjectAltName dNSName.*is not consulted"):
        checks.test_tls_cert_name(session(t), NOTHING)


def test_an_endpoint_given_by_address_has_no_name_to_match() -> None:
    with pytest.raises(pytest.skip.Exception, match="named by an address"):
        checks.test_tls_cert_name(session(host=IP), NOTHING)


def test_a_certificate_that_does_not_parse_warns_without_a_traceback() -> None:
    t = tls(chain=b64(b"\x30\x03\x02\x01\x01"))
    with pytest.raises(Finding, match=r"cannot be read: .*not a DER X\.509 certificate"):
        checks.test_tls_cert_name(session(t), NOTHING)
    with pytest.raises(Finding, match="cannot be read"):
        checks.test_tls_cert_validity(session(t), NOTHING)
    with pytest.raises(Finding, match=r"not a DER X\.509 certificate"):
        checks.test_tls_cert_chain(session(t), TRUST, NOTHING)


def test_no_recorded_certificate_is_indeterminate() -> None:
    with pytest.raises(Indeterminate, match="no certificate was recorded"):
        checks.test_tls_cert_name(session(tls(chain=())), NOTHING)
    with pytest.raises(Indeterminate, match="garbled"):
        checks.test_tls_cert_chain(session(tls(chain=("not base64!",))), TRUST, NOTHING)


def test_certificate_checks_skip_without_tls() -> None:
    for run in (checks.test_tls_cert_name, checks.test_tls_cert_validity):
        with pytest.raises(pytest.skip.Exception, match="no TLS session"):
            run(session(tls(error="TLS error: x")), NOTHING)
    with pytest.raises(pytest.skip.Exception, match="does not offer STARTTLS"):
        checks.test_tls_cert_chain(session(offered=False), TRUST, NOTHING)


# ----------------------------------------------------------------------------------------- validity
def test_a_current_certificate_passes_with_its_end_date() -> None:
    passes(checks.test_tls_cert_validity, session(), NOTHING)
    assert any("valid until" in n for n in current().notes)


@pytest.mark.parametrize(
    ("days", "match"),
    [((-100, -5), "expired on"), ((-80, 5), "less than 14"), ((3, 90), "not valid before")],
    ids=["expired", "expiring", "not-yet-valid"],
)
def test_validity_problems_warn(days: tuple[float, float], match: str) -> None:
    with pytest.raises(Finding, match=match):
        checks.test_tls_cert_validity(session(tls(chain=b64(leaf(days=days)))), NOTHING)


# -------------------------------------------------------------------------------------------- chain
def test_a_chain_to_a_trusted_root_passes() -> None:
    passes(checks.test_tls_cert_chain, session(), TRUST, NOTHING)


def test_a_missing_intermediate_warns() -> None:
    with pytest.raises(Finding, match=r"no intermediate certificate.*RFC 8461 §4\.2"):
        checks.test_tls_cert_chain(session(tls(chain=b64(leaf()))), TRUST, NOTHING)


def test_a_self_signed_certificate_warns() -> None:
    with pytest.raises(Finding, match="self-signed"):
        checks.test_tls_cert_chain(session(tls(chain=b64(leaf(issuer=None)))), TRUST, NOTHING)


def test_an_untrusted_root_warns() -> None:
    with pytest.raises(Finding, match="not trusted"):
        checks.test_tls_cert_chain(session(), pem(OTHER_ROOT), NOTHING)


def test_an_empty_trust_store_is_indeterminate() -> None:
    with pytest.raises(Indeterminate, match="trust store"):
        checks.test_tls_cert_chain(session(), b"# no certificates here\n", NOTHING)


# ------------------------------------------------------------------- what the domain publishes (§18.5)
def _violates_as_must(run: Callable[..., None], *args: object) -> str:
    """The check fails (not warns) and records that it counts as a must here."""
    reset()
    with pytest.raises(VIOLATION) as info:
        run(*args)
    assert current().required is Severity.MUST
    assert any("must here" in line and "mode enforce" in line for line in current().evidence)
    return str(info.value)


def test_enforce_makes_a_missing_starttls_a_must() -> None:
    message = _violates_as_must(checks.test_tls_starttls_offered, session(offered=False), DEFAULT, ENFORCE)
    assert "does not list STARTTLS" in message and "mode enforce" in message and "RFC 8461" in message


def test_enforce_makes_a_wrong_name_a_must_and_testing_a_failure() -> None:
    wrong = session(tls(chain=b64(leaf(["other.example.net"]))))
    assert "not mx1.example.com" in _violates_as_must(checks.test_tls_cert_name, wrong, ENFORCE)
    reset()
    with pytest.raises(VIOLATION, match="mode testing"):
        checks.test_tls_cert_name(wrong, TESTING)
    assert current().required is None  # (the check's own severity: should)


def test_enforce_makes_an_expired_certificate_a_must_but_expiring_still_warns() -> None:
    expired = session(tls(chain=b64(leaf(days=(-30, -2)))))
    assert "expired" in _violates_as_must(checks.test_tls_cert_validity, expired, ENFORCE)
    reset()
    with pytest.raises(Finding, match="expires"):
        checks.test_tls_cert_validity(session(tls(chain=b64(leaf(days=(-30, 5))))), ENFORCE)
    assert current().required is None


def test_enforce_makes_a_broken_chain_a_must() -> None:
    message = _violates_as_must(checks.test_tls_cert_chain, session(tls(chain=b64(leaf()))), TRUST, ENFORCE)
    assert "trusted root" in message


def test_a_policy_that_could_not_be_read_is_judged_as_nothing_published() -> None:
    unknown = PublishedTls(
        "example.com", HOST, why="the MTA-STS policy could not be fetched (timeout)", unknown=True
    )
    reset()
    with pytest.raises(Finding):
        checks.test_tls_cert_name(session(tls(chain=b64(leaf(["other.example.net"])))), unknown)
    assert any("could not be fetched" in line for line in current().evidence)
    assert current().required is None
