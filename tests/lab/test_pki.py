"""The lab CA: a fresh CA per lab, proper server certificates, each flaw on demand.

Verification goes through the standard library's TLS (a handshake over a socket pair, checked
against the CA's PEM); the certificate's extensions are read with cryptography, the library the CA
is built with, since the ssl module does not show them.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailspec.testing.pki import CA_NAME, EXPIRED_DAYS_AGO, WRONG_NAME, LabCA


def _handshake(ca: LabCA, chain: Path, key: Path, name: str | None) -> dict[str, object]:
    """Serve *chain* on one end of a socket pair, connect from the other trusting only the lab CA;
    return the certificate the client saw (raises ssl.SSLCertVerificationError)."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(chain, key)
    client_context = ssl.create_default_context(cafile=str(ca.ca_path))
    client_context.check_hostname = name is not None
    left, right = socket.socketpair()
    left.settimeout(30)
    right.settimeout(30)

    def serve() -> None:
        try:
            with server_context.wrap_socket(left, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass  # the client refused the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client_context.wrap_socket(right, server_hostname=name) as tls:
            cert = tls.getpeercert()
            tls.sendall(b"x")
            assert cert is not None
            return dict(cert)
    finally:
        right.close()
        thread.join(30)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_fresh_ca_writes_its_pem(tmp_path: Path) -> None:
    ca = LabCA(tmp_path)
    assert ca.ca_path == tmp_path / "ca.pem" and ca.ca_path.is_file()
    cert = _cert(ca.ca_path)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_NAME
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    (tmp_path / "other").mkdir()
    assert _cert(LabCA(tmp_path / "other").ca_path) != cert  # a new CA each time


def test_a_good_certificate_verifies_for_its_names(tmp_path: Path) -> None:
    ca = LabCA(tmp_path)
    chain, key = ca.issue(["mx1.good.test", "mail.good.test"])
    assert chain.read_text().count("BEGIN CERTIFICATE") == 1  # the leaf and nothing else
    assert "PRIVATE KEY" in key.read_text() and key.stat().st_mode & 0o077 == 0
    seen = _handshake(ca, chain, key, "mail.good.test")
    assert seen["subjectAltName"] == (("DNS", "mx1.good.test"), ("DNS", "mail.good.test"))
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(ca, chain, key, "mx2.good.test")


def test_a_good_certificate_is_a_proper_server_certificate(tmp_path: Path) -> None:
    ca = LabCA(tmp_path)
    cert = _cert(ca.issue(["mx1.good.test"])[0])
    ext = cert.extensions
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ext.get_extension_for_class(x509.BasicConstraints).critical
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.issuer == _cert(ca.ca_path).subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc


@pytest.mark.parametrize(
    ("flaws", "name", "reason"),
    [
        ({"expired"}, "mx1.good.test", "certificate has expired"),
        ({"self-signed"}, "mx1.good.test", "self-signed certificate"),
        ({"wrong-name"}, "mx1.good.test", "Hostname mismatch"),
        ({"expired", "self-signed"}, None, "self-signed certificate|certificate has expired"),
    ],
)
def test_each_flaw_fails_verification_for_its_reason(
    tmp_path: Path, flaws: set[str], name: str | None, reason: str
) -> None:
    ca = LabCA(tmp_path)
    chain, key = ca.issue(["mx1.good.test"], flaws)
    with pytest.raises(ssl.SSLCertVerificationError, match=reason):
        _handshake(ca, chain, key, name)


def test_the_flaws_are_what_they_say(tmp_path: Path) -> None:
    ca = LabCA(tmp_path)
    wrong = _cert(ca.issue(["mx1.good.test"], {"wrong-name"})[0])
    assert wrong.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == [WRONG_NAME]
    assert _handshake(ca, *ca.issue(["mx1.good.test"], {"wrong-name"}), None)["subjectAltName"] == (
        ("DNS", WRONG_NAME),
    )
    expired = _cert(ca.issue(["mx1.good.test"], {"expired"})[0])
    ended = ca.now - expired.not_valid_after_utc
    assert ended == dt.timedelta(days=EXPIRED_DAYS_AGO)
    # The CA predates the expired certificate: its chain held while the certificate was valid.
    assert _cert(ca.ca_path).not_valid_before_utc < expired.not_valid_before_utc
    selfsigned = _cert(ca.issue(["mx1.good.test"], {"self-signed"})[0])
    assert selfsigned.issuer == selfsigned.subject != _cert(ca.ca_path).subject


def test_issued_pairs_are_cached_per_names_and_flaws(tmp_path: Path) -> None:
    ca = LabCA(tmp_path)
    first = ca.issue(["mx1.good.test"])
    assert ca.issue(("MX1.good.test.",)) == first  # the same names, written differently
    assert ca.issue(["mx1.good.test"], {"expired"}) != first
    assert ca.issue(["mx1.good.test"], ["expired"]) == ca.issue(["mx1.good.test"], frozenset({"expired"}))
    assert ca.issue(["mx1.good.test", "mail.good.test"]) != first
    assert len({p for pair in [first, ca.issue(["mx2.good.test"])] for p in pair}) == 4


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    ca = LabCA(tmp_path)
    with pytest.raises(ValueError, match="unknown certificate flaw"):
        ca.issue(["mx1.good.test"], {"revoked"})
    with pytest.raises(ValueError, match="at least one name"):
        ca.issue([])
