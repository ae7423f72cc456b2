"""The lab's certificate authority and the server certificates it issues (for STARTTLS).

A fresh CA per lab (ECDSA P-256, "mailspec lab CA"); its PEM is what a survey of the lab trusts
(``--mail-ca``). Each certificate can carry the flaws a scenario wants a survey to notice::

    ca = LabCA(folder)
    chain, key = ca.issue(["mx1.good.test"])                 # a proper server certificate
    chain, key = ca.issue(["mx1.good.test"], {"expired"})    # ended 35 days ago

``wrong-name`` names :data:`WRONG_NAME` instead of the names asked for, ``self-signed`` is its own
issuer. The shared acceptance lab (``../shared/lab/labkit/pki.py``) issues the same certificates,
so that a scenario means the same in both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections.abc import Collection, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_NAME", "FLAWS", "WRONG_NAME", "LabCA"]

#: The common name of every lab CA.
CA_NAME = "mailspec lab CA"
#: The name a ``wrong-name`` certificate is issued for instead of the server's own.
WRONG_NAME = "mail.unrelated-host.test"
#: The flaws :meth:`LabCA.issue` can give a certificate.
FLAWS = frozenset({"wrong-name", "expired", "self-signed"})

#: How long a good certificate lasts, and how long ago an expired one ended.
VALID_DAYS = 90
EXPIRED_DAYS_AGO = 35
#: The CA's own validity, around the lab's start: it predates every certificate it issues (an
#: expired one included), as a real CA does, so that a chain checked at the leaf's own time holds.
CA_DAYS = 400
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailspec lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),  # CN is at most 64 characters
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class LabCA:
    """A throwaway certificate authority writing into *folder* (which must exist)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        # One clock for the whole lab: every certificate's validity is relative to the same moment.
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(CA_NAME)
        public = self._key.public_key()
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(days=CA_DAYS))
            .not_valid_after(self.now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self._ca_path = self.folder / "ca.pem"
        self._ca_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._issued: dict[tuple[tuple[str, ...], frozenset[str]], tuple[Path, Path]] = {}
        self._lock = threading.Lock()  # a lab may issue from its own thread and its caller's

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM): what a client of the lab trusts."""
        return self._ca_path

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def issue(self, names: Sequence[str], flaws: Collection[str] = ()) -> tuple[Path, Path]:
        """(chain PEM path: the leaf and nothing else, key PEM path) of a server certificate whose SAN
        dNSNames are *names*, with *flaws* (a subset of :data:`FLAWS`). The same names and flaws give
        the same files again."""
        wanted = tuple(n.rstrip(".").lower() for n in names)
        chosen = frozenset(flaws)
        if not wanted or not all(wanted):
            raise ValueError(f"a certificate needs at least one name, got {list(names)!r}")
        if not chosen <= FLAWS:
            raise ValueError(f"unknown certificate flaw(s) {sorted(chosen - FLAWS)}; known: {sorted(FLAWS)}")
        key = (wanted, chosen)
        with self._lock:
            if key not in self._issued:
                self._issued[key] = self._write(wanted, chosen)
            return self._issued[key]

    def _write(self, names: tuple[str, ...], flaws: frozenset[str]) -> tuple[Path, Path]:
        san = (WRONG_NAME,) if "wrong-name" in flaws else names
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        subject = _name(san[0])
        if "expired" in flaws:
            not_before = self.now - dt.timedelta(days=EXPIRED_DAYS_AGO + VALID_DAYS)
            not_after = self.now - dt.timedelta(days=EXPIRED_DAYS_AGO)
        else:
            not_before, not_after = self.now - dt.timedelta(days=1), self.now + dt.timedelta(days=VALID_DAYS)
        self_signed = "self-signed" in flaws
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else self._cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        cert = builder.sign(key if self_signed else self._key, hashes.SHA256())
        # A readable stem plus a digest of the whole request: distinct requests never share files.
        digest = hashlib.sha256(repr((names, sorted(flaws))).encode()).hexdigest()[:10]
        stem = f"{_UNSAFE.sub('_', names[0])[:60]}-{'-'.join(sorted(flaws)) or 'ok'}-{digest}"
        chain_path, key_path = self.folder / f"{stem}.pem", self.folder / f"{stem}.key"
        chain_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        return chain_path, key_path

    def __repr__(self) -> str:
        return f"<LabCA {self._ca_path}, {len(self._issued)} certificate(s)>"
