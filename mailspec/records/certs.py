"""X.509 certificates as a TLS server presents them: what one says, whether a name matches it (RFC
9525 §6.3), whether a chain builds to a trusted root, and whether it is current.

Pure: certificates come in as DER bytes (the survey keeps what the server sent), trust anchors as
PEM bytes; the work is done by ``cryptography``. Certificates are hostile input here, so every way
one can fail to parse ends in :class:`CertError` with a sentence, never a traceback.
"""

from __future__ import annotations

import binascii
import datetime as dt
import functools
import itertools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from mailspec.records.hostname import looks_like_ip

__all__ = [
    "CertError",
    "CertInfo",
    "chain_problem",
    "load_trust",
    "name_matches",
    "parse_cert",
    "validity_problem",
]


class CertError(ValueError):
    """Bytes that are not a usable certificate (or a trust store without one); the message says why."""


@dataclass(frozen=True)
class CertInfo:
    """What one certificate says."""

    subject: str  #: RFC 4514 string, "CN=mx.example.com,O=Example"
    issuer: str
    dns_names: tuple[str, ...]  #: the subjectAltName dNSNames, lower-case, as given (A-labels)
    ip_names: tuple[str, ...]  #: the subjectAltName iPAddresses
    not_before: dt.datetime  #: aware, UTC
    not_after: dt.datetime  #: aware, UTC
    #: issuer == subject and the signature verifies with the certificate's own key (where
    #: ``cryptography`` can verify that key type; else issuer == subject alone)
    self_signed: bool
    key: str  #: "ECDSA P-256", "RSA 2048", "Ed25519"
    signature_algorithm: str  #: "sha256WithRSAEncryption", "ecdsa-with-SHA256", or the OID
    sha256: str  #: the SHA-256 fingerprint of the DER, lower-case hex


_CURVES = {"secp192r1": "P-192", "secp224r1": "P-224", "secp256r1": "P-256", "secp384r1": "P-384",
           "secp521r1": "P-521"}  # fmt: skip
_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "RSASSA-PSS",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ecdsa-with-SHA1",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "ecdsa-with-SHA224",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "dsa-with-sha1",
    SignatureAlgorithmOID.DSA_WITH_SHA224: "dsa-with-sha224",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "dsa-with-sha256",
    SignatureAlgorithmOID.ED25519: "Ed25519",
    SignatureAlgorithmOID.ED448: "Ed448",
}


def _asn1_reason(exc: Exception) -> str:
    """cryptography's parse errors are Rust debug text; the kind and place are what a person needs."""
    text = str(exc)
    kind = re.search(r"kind: (\w+)", text)
    where = re.search(r"location: \[([^\]]*)\]", text)
    if kind:
        place = where.group(1).replace('"', "") if where and where.group(1) else ""
        return f"ASN.1 error {kind.group(1)}" + (f" in {place}" if place else "")
    return text or type(exc).__name__


def _non_positive_serial(der: bytes) -> bool:
    """Whether the DER's serial number is zero or negative (read by hand, for :func:`_load_der`)."""

    def tlv(pos: int) -> tuple[int, int, int]:  # tag, start of content, end of content
        tag, first = der[pos], der[pos + 1]
        if first < 0x80:
            return tag, pos + 2, pos + 2 + first
        n = first & 0x7F
        return tag, pos + 2 + n, pos + 2 + n + int.from_bytes(der[pos + 2 : pos + 2 + n], "big")

    try:
        _, start, _ = tlv(0)  # Certificate
        _, start, _ = tlv(start)  # tbsCertificate
        tag, start, end = tlv(start)
        if tag == 0xA0:  # [0] version
            tag, start, end = tlv(end)
        serial = der[start:end]
    except IndexError:
        return False  # (cryptography will say what is wrong with it)
    return tag == 0x02 and (not serial or serial[0] & 0x80 != 0 or not any(serial))


def _load_der(der: bytes, what: str = "the certificate") -> x509.Certificate:
    """The certificate in ``der``, or CertError saying why not; its names and extensions are parsed
    too (cryptography parses them only when asked), so that nothing later fails on them."""
    if der.lstrip()[:11] == b"-----BEGIN ":
        raise CertError(f"{what} is PEM text, not DER bytes")
    if not _non_positive_serial(der):
        return _parse(der, what)
    # cryptography warns of such a serial (RFC 5280 §4.1.2.2 wants it positive) when it loads the
    # certificate and when it first parses its extensions, and means to refuse it one day; TLS stacks
    # and trust stores have them (a Go Daddy root of Debian's bundle). Under filterwarnings=error the
    # warning would be an exception, so it is silenced, on this rare path only: the filters are
    # process-global, not the thread's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _parse(der, what)


def _parse(der: bytes, what: str) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:  # (hostile bytes: ValueError, InvalidVersion, ... all mean "no")
        raise CertError(
            f"{what} ({len(der)} bytes) is not a DER X.509 certificate: {_asn1_reason(exc)}"
        ) from None
    try:
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
    except Exception as exc:  # (KeyError, TypeError, ValueError from a broken Name)
        raise CertError(f"{what}: its subject or issuer name does not parse ({exc!r})") from None
    try:
        _ = cert.extensions  # (parsed once, then kept by the certificate)
    except Exception as exc:  # (ValueError, DuplicateExtension, UnsupportedGeneralNameType)
        raise CertError(f"{what}: its extensions do not parse ({_asn1_reason(exc)})") from None
    return cert


def _key(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except Exception:  # (an unknown algorithm or broken parameters: described, not fatal)
        try:
            oid = cert.public_key_algorithm_oid.dotted_string
        except Exception:  # (likewise)
            oid = "?"
        return f"unsupported key (algorithm {oid})"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {_CURVES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    names: tuple[tuple[type, str], ...] = (
        (ed25519.Ed25519PublicKey, "Ed25519"), (ed448.Ed448PublicKey, "Ed448"),
        (x25519.X25519PublicKey, "X25519"), (x448.X448PublicKey, "X448"),
    )  # fmt: skip
    return next((name for cls, name in names if isinstance(key, cls)), type(key).__name__)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """Whether ``issuer`` issued ``cert`` (its name and key); None when the key type cannot verify."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (UnsupportedAlgorithm, TypeError):
        return None
    except (InvalidSignature, ValueError):
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _signed_by(cert, cert) is not False


def parse_cert(der: bytes) -> CertInfo:
    """What the DER certificate ``der`` says, or CertError (with a sentence) for bytes that do not parse."""
    cert = _load_der(der)
    subject = cert.subject.rfc4514_string()
    issuer = cert.issuer.rfc4514_string()
    extensions = cert.extensions
    dns_names: tuple[str, ...] = ()
    ip_names: tuple[str, ...] = ()
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        dns_names = tuple(name.lower() for name in san.get_values_for_type(x509.DNSName))
        ip_names = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    oid = cert.signature_algorithm_oid
    return CertInfo(
        subject=subject,
        issuer=issuer,
        dns_names=dns_names,
        ip_names=ip_names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=_self_signed(cert),
        key=_key(cert),
        signature_algorithm=_SIGNATURES.get(oid, oid.dotted_string),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _dns_id(name: str) -> str:
    # ASCII case only: an A-label is compared as given, and non-ASCII text is never folded into a match
    return name.translate(_ASCII_LOWER).removesuffix(".")


def name_matches(host: str, dns_names: Sequence[str]) -> bool:
    """Whether the host name ``host`` matches one of a certificate's SAN dNSNames (RFC 9525 §6.3).

    Case-insensitive (ASCII), a trailing dot ignored on both sides, IDNs compared as the A-labels
    given (no IDNA conversion). ``*`` counts only as the whole left-most label, and then matches
    exactly one label: ``*.example.com`` matches ``mx.example.com``, not ``example.com`` or
    ``a.mx.example.com``; any other ``*`` (``m*.example.com``, ``*.*.com``, ``*`` alone) makes that name
    match nothing. The CN is not consulted (RFC 9525 §6.2.1). An IP address never matches a dNSName:
    it is compared with the iPAddress names (:attr:`CertInfo.ip_names`).
    """
    ref = _dns_id(host)
    if not ref or "*" in ref or looks_like_ip(ref) or "" in ref.split("."):
        return False
    first, _, ref_parent = ref.partition(".")
    for presented in dns_names:
        name = _dns_id(presented)
        if "*" not in name:
            if name == ref:
                return True
            continue
        parent = name[2:]
        wildcard = name.startswith("*.") and "*" not in parent and "" not in parent.split(".")
        if wildcard and parent == ref_parent and first:
            return True
    return False


_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)


@functools.lru_cache(maxsize=8)
def _trust(pem: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM bundle, parsed once (a system bundle has some 150)."""
    certs: list[x509.Certificate] = []
    for n, block in enumerate(_PEM_BLOCK.findall(pem), start=1):
        try:
            der = binascii.a2b_base64(block)
        except binascii.Error as exc:
            raise CertError(f"certificate {n} of the trust store is not base64 ({exc})") from None
        certs.append(_load_der(der, f"certificate {n} of the trust store"))
    if not certs:
        raise CertError(
            "the trust store has no certificate in it: expected PEM blocks "
            "'-----BEGIN CERTIFICATE-----' ... '-----END CERTIFICATE-----'"
        )
    return tuple(certs)


def load_trust(pem: bytes) -> list[x509.Certificate]:
    """The trust anchors in a PEM bundle. Text outside the CERTIFICATE blocks (comments, other PEM
    types) is ignored; raises CertError when there is no certificate, or a block does not parse."""
    return list(_trust(pem))


@functools.lru_cache(maxsize=8)
def _store(pem: bytes) -> Store:
    return Store(list(_trust(pem)))


def _eku_allows_server(eku: x509.ExtendedKeyUsage | None, *, any_ok: bool) -> bool:
    return (
        eku is None
        or ExtendedKeyUsageOID.SERVER_AUTH in eku
        or (any_ok and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku)
    )


def _check_ee_eku(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    if not _eku_allows_server(eku, any_ok=False):
        raise ValueError("the leaf's extendedKeyUsage does not include serverAuth")


def _check_ca_eku(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    if not _eku_allows_server(eku, any_ok=True):
        raise ValueError("an issuer's extendedKeyUsage does not include serverAuth")


def _verifier_builder(pem: bytes, at: dt.datetime) -> PolicyBuilder:
    """The Web PKI rules of ``cryptography``'s server verifier, but without the name check.

    cryptography 48's server verifier always matches a subject name: its EE policy must require the
    SAN (``build_server_verifier`` refuses one that does not) and then checks the name. Its client
    verifier has no subject; given the Web PKI EE policy with the SAN optional and the EKU checked
    for serverAuth (the client verifier would want clientAuth, for the leaf and, when they list
    EKUs, the CAs), it checks what a server chain needs except the name, which name_matches judges.
    """
    ee = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _check_ee_eku)
    )
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _check_ca_eku
    )
    return PolicyBuilder().store(_store(pem)).time(at).extension_policies(ca_policy=ca, ee_policy=ee)


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _when(at: dt.datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string() or "(an empty name)"
    except Exception:  # (only for a message: a name that does not parse is still named)
        return "(a name that does not parse)"


def _subject(cert: x509.Certificate) -> str:
    return _name(cert.subject)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except Exception:  # (absent or unparsable: not a CA)
        return False


def _eku(cert: x509.Certificate) -> x509.ExtendedKeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except Exception:  # (absent or unparsable: no restriction to report)
        return None


def _issuer_in(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate | None:
    return next((c for c in pool if c.subject == cert.issuer and _signed_by(cert, c) is not False), None)


def _diagnosis(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    at: dt.datetime,
    host: str,
    error: str,
) -> str:
    """Why the chain does not verify, in words: the verifier's own message is terse, so the chain is
    walked again by name and signature to say where it breaks."""
    path = [leaf]
    anchored = leaf in trust
    while not anchored and len(path) <= 10:
        current = path[-1]
        if (root := _issuer_in(current, trust)) is not None:
            path.append(root)
            anchored = True
        elif _self_signed(current):
            break
        elif (nxt := _issuer_in(current, [c for c in intermediates if c not in path])) is not None:
            path.append(nxt)
        else:
            break
    end = path[-1]
    if not anchored:
        if end is leaf and _self_signed(leaf):
            return f"{host} presented a self-signed certificate ({_subject(leaf)}) that is not a trusted root"
        if _self_signed(end):
            return f"the chain {host} presented ends at the root {_subject(end)}, which is not trusted"
        missing = (
            "the server sent no intermediate certificate"
            if not intermediates
            else "an intermediate certificate is missing from the chain"
        )
        return (
            f"the issuer of {_subject(end)} ({_name(end.issuer)}) is neither among the "
            f"certificates {host} presented nor a trusted root: {missing}, or the issuer is not trusted"
        )
    if _is_ca(leaf) and leaf not in trust:
        return f"the certificate {host} presented, {_subject(leaf)}, is a CA certificate, not a server's"
    for child, issuer in itertools.pairwise(path):
        if not _is_ca(issuer):
            return (
                f"{_subject(issuer)} issued {_subject(child)} but is not a CA certificate "
                "(basicConstraints cA is not set)"
            )
    for cert in path:
        role = "the leaf" if cert is leaf else "the trusted root" if cert in trust else "the intermediate"
        if at > cert.not_valid_after_utc:
            return f"{role} {_subject(cert)} in the chain expired on {_when(cert.not_valid_after_utc)}"
        if at < cert.not_valid_before_utc:
            return (
                f"{role} {_subject(cert)} in the chain is not valid until {_when(cert.not_valid_before_utc)}"
            )
    for issuer in path[1:]:
        if not _eku_allows_server(_eku(issuer), any_ok=True):
            return (
                f"{_subject(issuer)} in the chain may not issue TLS server certificates (its "
                "extendedKeyUsage lacks serverAuth)"
            )
    if not _eku_allows_server(_eku(leaf), any_ok=False):
        return f"the leaf {_subject(leaf)} is not for TLS servers (its extendedKeyUsage lacks serverAuth)"
    return f"the chain {host} presented does not validate: {_verifier_reason(error)}"


def _verifier_reason(error: str) -> str:
    """cryptography's VerificationError text without its prefixes and its certificate repr."""
    reason = re.sub(r"\s*\(encountered processing .*\)$", "", error, flags=re.DOTALL)
    return reason.removeprefix("validation failed: ").removeprefix("candidates exhausted: ")


def chain_problem(chain_der: Sequence[bytes], trust_pem: bytes, host: str, at: dt.datetime) -> str | None:
    """Why the chain a server presented (DER, leaf first, then intermediates) does not build to a root
    of ``trust_pem``, in one sentence; None when it does.

    Only the chain is judged (tls.cert.chain), not the name (:func:`name_matches`) nor the leaf's
    dates (:func:`validity_problem`): the verification time is ``at`` moved inside the leaf's validity,
    so that an expired leaf is not also a broken chain, while the intermediates and the root must be
    valid then. ``host`` only names the server in the sentence. Web PKI rules otherwise, as
    cryptography applies them: the CAs' basicConstraints and keyUsage, EKUs that allow serverAuth,
    issuer RSA keys of at least 2048 bits, the Web PKI's signature algorithms (no SHA-1). A
    certificate of the chain that does not parse is a problem, said so; a trust store without
    certificates raises CertError (it is the configuration that is wrong, not the server).
    """
    trust = _trust(trust_pem)
    if not chain_der:
        return f"{host} presented no certificate"
    certs: list[x509.Certificate] = []
    for n, der in enumerate(chain_der, start=1):
        try:
            certs.append(_load_der(der, f"certificate {n} of the chain {host} presented"))
        except CertError as exc:
            return str(exc)
    leaf, intermediates = certs[0], certs[1:]
    when = min(max(_utc(at), leaf.not_valid_before_utc), leaf.not_valid_after_utc)
    try:
        _verifier_builder(trust_pem, when).build_client_verifier().verify(leaf, intermediates)
    except VerificationError as exc:
        try:
            return _diagnosis(leaf, intermediates, trust, when, host, str(exc))
        except Exception:  # (the diagnosis only finds words; a certificate it trips on gets the plain ones)
            return f"the chain {host} presented does not validate: {_verifier_reason(str(exc))}"
    except Exception as exc:  # (UnsupportedGeneralNameType, ...: the chain cannot be judged, so it fails)
        return f"the chain {host} presented cannot be verified: {exc or type(exc).__name__}"
    return None


def validity_problem(info: CertInfo, at: dt.datetime, warn_days: int = 14) -> tuple[str, str] | None:
    """Whether the certificate is current at ``at``: ``("expired", sentence)``, ``("not-yet-valid", ...)``,
    ``("expiring", ...)`` when fewer than ``warn_days`` days are left (tls.cert.validity), or None.

    The bounds are inclusive (RFC 5280 §4.1.2.5). A naive ``at`` is taken as UTC.
    """
    now = _utc(at)
    if now < info.not_before:
        days = (info.not_before - now).days
        return "not-yet-valid", (
            f"the certificate is not valid before {_when(info.not_before)} ({days} days from now)"
        )
    if now > info.not_after:
        days = (now - info.not_after).days
        return "expired", f"the certificate expired on {_when(info.not_after)}, {days} days ago"
    left = info.not_after - now
    if left < dt.timedelta(days=warn_days):
        return "expiring", (
            f"the certificate expires on {_when(info.not_after)}, in {left.days} days (less than {warn_days})"
        )
    return None
