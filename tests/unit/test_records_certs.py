"""Certificates: parsing, RFC 9525 name matching, chain building and validity, on certificates
made here with cryptography (a root, an intermediate, leaves of every kind)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.certs import (
    CertError,
    CertInfo,
    chain_problem,
    load_trust,
    name_matches,
    parse_cert,
    validity_problem,
)

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
INTER_KEY = ec.generate_private_key(ec.SECP384R1())
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def make(
    subject: x509.Name,
    key: PrivateKey,
    *,
    issuer: x509.Name | None = None,
    issuer_key: PrivateKey | None = None,
    ca: bool = False,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    not_before: dt.datetime = NOW - 30 * DAY,
    not_after: dt.datetime = NOW + 60 * DAY,
    eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate as a CA of the Web PKI would make it (key ids, key usage, basicConstraints)."""
    signer = issuer_key or key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
        .add_extension(_key_usage(ca), critical=True)
    )
    if eku is not None and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm)


ROOT = make(name("mailspec test root", "mailspec"), ROOT_KEY, ca=True, not_before=NOW - 900 * DAY,
            not_after=NOW + 900 * DAY)  # fmt: skip
INTER = make(name("mailspec test intermediate"), INTER_KEY, issuer=ROOT.subject, issuer_key=ROOT_KEY, ca=True,
             not_before=NOW - 400 * DAY, not_after=NOW + 400 * DAY)  # fmt: skip
OTHER_ROOT = make(
    name("some other root"), OTHER_KEY, ca=True, not_before=NOW - 900 * DAY, not_after=NOW + 900 * DAY
)


def issued(cn: str, **kw: object) -> x509.Certificate:
    """A leaf issued by INTER."""
    kw.setdefault("dns", [cn])
    return make(name(cn), LEAF_KEY, issuer=INTER.subject, issuer_key=INTER_KEY, **kw)  # type: ignore[arg-type]


LEAF = issued("mx.example.com", dns=["mx.example.com", "MX2.Example.COM"], ips=["192.0.2.25", "2001:db8::25"])
SELF_SIGNED = make(name("self.example.com"), LEAF_KEY, dns=["self.example.com"])


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


TRUST = b"# a bundle with comments\n" + pem(ROOT) + b"\njunk between blocks\n" + pem(OTHER_ROOT)


def problem(*chain: x509.Certificate, trust: bytes = TRUST, at: dt.datetime = NOW) -> str | None:
    return chain_problem([der(c) for c in chain], trust, "mx.example.com", at)


# --- parse_cert ----------------------------------------------------------------------------------


def test_parse_a_leaf() -> None:
    info = parse_cert(der(LEAF))
    assert info == CertInfo(
        subject="CN=mx.example.com",
        issuer="CN=mailspec test intermediate",
        dns_names=("mx.example.com", "mx2.example.com"),
        ip_names=("192.0.2.25", "2001:db8::25"),
        not_before=NOW - 30 * DAY,
        not_after=NOW + 60 * DAY,
        self_signed=False,
        key="ECDSA P-256",
        signature_algorithm="ecdsa-with-SHA256",
        sha256=hashlib.sha256(der(LEAF)).hexdigest(),
    )
    assert info.not_before.tzinfo is not None
    assert info.not_before.utcoffset() == dt.timedelta(0)


def test_the_subject_is_an_rfc_4514_string() -> None:
    assert parse_cert(der(ROOT)).subject == "CN=mailspec test root,O=mailspec"


def test_self_signed_means_same_name_and_own_signature() -> None:
    assert parse_cert(der(SELF_SIGNED)).self_signed
    assert parse_cert(der(ROOT)).self_signed
    # the name of its own issuer, but signed by another key: not self-signed
    impostor = make(name("self.example.com"), LEAF_KEY, issuer_key=OTHER_KEY)
    info = parse_cert(der(impostor))
    assert info.subject == info.issuer
    assert not info.self_signed


@pytest.mark.parametrize(
    ("key", "description", "signature"),
    [
        (ec.generate_private_key(ec.SECP256R1()), "ECDSA P-256", "ecdsa-with-SHA256"),
        (ec.generate_private_key(ec.SECP384R1()), "ECDSA P-384", "ecdsa-with-SHA256"),
        (rsa.generate_private_key(65537, 2048), "RSA 2048", "sha256WithRSAEncryption"),
        (ed25519.Ed25519PrivateKey.generate(), "Ed25519", "Ed25519"),
    ],
    ids=["p256", "p384", "rsa", "ed25519"],
)
def test_key_and_signature_algorithm(key: PrivateKey, description: str, signature: str) -> None:
    info = parse_cert(der(make(name("k.example"), key, dns=["k.example"])))
    assert (info.key, info.signature_algorithm) == (description, signature)
    assert info.self_signed


def test_a_certificate_without_san_has_no_names_and_its_cn_is_not_one() -> None:
    info = parse_cert(der(issued("cn-only.example.com", dns=[])))
    assert info.dns_names == ()
    assert info.ip_names == ()
    assert not name_matches("cn-only.example.com", info.dns_names)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "0 bytes"),
        (b"hello world", "not a DER X.509 certificate"),
        (b"\x30\x03\x02\x01\x01", "ASN.1 error"),
        (der(LEAF)[:200], "ASN.1 error"),
        (der(LEAF) + b"\x00", "ASN.1 error"),
        (pem(LEAF), "PEM text, not DER"),
    ],
    ids=["empty", "text", "not-a-certificate", "truncated", "trailing-data", "pem"],
)
def test_bytes_that_do_not_parse_give_a_clear_cert_error(data: bytes, fragment: str) -> None:
    with pytest.raises(CertError) as info:
        parse_cert(data)
    assert fragment in str(info.value)
    assert "ParseError {" not in str(info.value)  # (not cryptography's Rust debug text)


def test_cert_error_is_a_value_error() -> None:
    assert issubclass(CertError, ValueError)


def test_a_negative_serial_parses_without_a_warning() -> None:
    # cryptography warns about it (RFC 5280 forbids it; TLS stacks accept it), which this suite's
    # filterwarnings=error would turn into an exception
    good = der(issued("neg.example", serial=0x01020304))
    assert good.count(b"\x02\x04\x01\x02\x03\x04") == 1
    negative = good.replace(b"\x02\x04\x01\x02\x03\x04", b"\x02\x04\x81\x02\x03\x04")
    info = parse_cert(negative)
    assert info.dns_names == ("neg.example",)


# --- name_matches --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "names", "matches"),
    [
        ("mx.example.com", ["mx.example.com"], True),
        ("MX.Example.com", ["mx.EXAMPLE.com"], True),
        ("mx.example.com.", ["mx.example.com"], True),
        ("mx.example.com", ["mx.example.com."], True),
        ("mx.example.com", ["other.example.com", "mx.example.com"], True),
        ("mx.example.com", ["mx.example.org"], False),
        ("mx.example.com", [], False),
        # '*' as the whole left-most label matches exactly one label
        ("mx.example.com", ["*.example.com"], True),
        ("MX.EXAMPLE.COM", ["*.Example.Com"], True),
        ("example.com", ["*.example.com"], False),
        ("a.mx.example.com", ["*.example.com"], False),
        ("example.com", ["*.com"], True),  # (RFC 9525 sets no public-suffix rule; kept at that)
        # any other '*' makes the name match nothing
        ("mx.example.com", ["m*.example.com"], False),
        ("mx.example.com", ["*x.example.com"], False),
        ("mx.example.com", ["mx.*.com"], False),
        ("a.b.com", ["*.*.com"], False),
        ("com", ["*"], False),
        ("x.example.com", ["*."], False),
        ("x..com", ["*..com"], False),
        ("*.example.com", ["*.example.com"], False),  # a reference identity is no pattern
        # IDNs: the A-labels as given, no conversion
        ("xn--bcher-kva.example", ["xn--bcher-kva.example"], True),
        ("XN--BCHER-KVA.example", ["xn--bcher-kva.example"], True),
        ("bücher.example", ["xn--bcher-kva.example"], False),
        ("xn--bcher-kva.example", ["bücher.example"], False),
        ("MÜ.example", ["mü.example"], False),  # only ASCII case is folded
        ("mx.xn--bcher-kva.example", ["*.xn--bcher-kva.example"], True),
        # an IP address is matched against iPAddress names, never a dNSName
        ("192.0.2.25", ["192.0.2.25"], False),
        ("2001:db8::25", ["2001:db8::25"], False),
        ("", ["mx.example.com"], False),
        (".", ["."], False),
        ("mx..example.com", ["mx..example.com"], False),
    ],
)
def test_name_matches(host: str, names: list[str], matches: bool) -> None:
    assert name_matches(host, names) is matches


@given(st.text(max_size=30), st.lists(st.text(max_size=30), max_size=4))
def test_name_matches_never_raises(host: str, names: list[str]) -> None:
    assert isinstance(name_matches(host, names), bool)


@given(
    st.from_regex(
        r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){1,3}\.[a-z]{2,5}",
        fullmatch=True,
    )
)
def test_a_name_matches_itself_any_case_and_its_parents_wildcard(host: str) -> None:
    assert name_matches(host, [host.upper()])
    assert name_matches(host.upper() + ".", [host])
    _, _, parent = host.partition(".")
    assert name_matches(host, ["*." + parent])
    assert not name_matches(parent, ["*." + parent])
    assert not name_matches("x." + host, ["*." + parent])


# --- load_trust ----------------------------------------------------------------------------------


def test_load_trust_reads_every_block_and_skips_the_rest() -> None:
    key_block = b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    certs = load_trust(
        b"\xff\xfe junk\n" + pem(ROOT) + key_block + b"more\n" + pem(INTER, OTHER_ROOT) + b"end"
    )
    assert certs == [ROOT, INTER, OTHER_ROOT]


@pytest.mark.parametrize(
    "data", [b"", b"no certificates here", b"-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"]
)
def test_a_trust_store_without_a_certificate_is_a_cert_error(data: bytes) -> None:
    with pytest.raises(CertError, match="no certificate"):
        load_trust(data)


def test_a_broken_block_in_the_trust_store_is_a_cert_error_naming_it() -> None:
    broken = pem(ROOT) + b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertError, match="certificate 2 of the trust store"):
        load_trust(broken)


def test_the_system_trust_store_loads() -> None:
    cafile = ssl.get_default_verify_paths().cafile
    if not cafile or not Path(cafile).is_file():
        pytest.skip("this machine has no CA bundle file")
    assert len(load_trust(Path(cafile).read_bytes())) > 20


@given(
    st.binary(max_size=200)
    | st.builds(lambda a, b: a + pem(ROOT)[:b], st.binary(max_size=20), st.integers(0, 900))
)
def test_load_trust_raises_nothing_but_cert_error(data: bytes) -> None:
    try:
        certs = load_trust(data)
    except CertError:
        return
    assert certs


# --- chain_problem -------------------------------------------------------------------------------


def test_a_complete_chain_has_no_problem() -> None:
    assert problem(LEAF, INTER) is None


def test_a_chain_that_includes_its_root_has_no_problem() -> None:
    assert problem(LEAF, INTER, ROOT) is None


def test_the_name_is_not_judged() -> None:
    # the chain's problem only: names are name_matches's, and a leaf may have none, or a wildcard
    assert problem(issued("wild.example.com", dns=["*.example.com"]), INTER) is None
    assert problem(issued("cn-only.example.com", dns=[]), INTER) is None
    assert problem(issued("ip-only", dns=[], ips=["192.0.2.25"]), INTER) is None


@pytest.mark.parametrize(
    ("not_before", "not_after", "at"),
    [
        (NOW - 90 * DAY, NOW - 10 * DAY, NOW),  # expired
        (NOW + 10 * DAY, NOW + 90 * DAY, NOW),  # not yet valid
        (NOW - 90 * DAY, NOW - 10 * DAY, dt.datetime(2030, 6, 1, 12)),  # a naive time is UTC
    ],
    ids=["expired", "not-yet-valid", "naive-time"],
)
def test_the_leafs_dates_are_not_judged(
    not_before: dt.datetime, not_after: dt.datetime, at: dt.datetime
) -> None:
    leaf = issued("dated.example.com", not_before=not_before, not_after=not_after)
    assert problem(leaf, INTER, at=at) is None


def test_a_missing_intermediate() -> None:
    sentence = problem(LEAF)
    assert sentence is not None
    assert "CN=mailspec test intermediate" in sentence
    assert "no intermediate" in sentence
    assert "mx.example.com" in sentence  # the host is named


def test_a_wrong_intermediate() -> None:
    stranger = make(name("stranger CA"), OTHER_KEY, issuer=OTHER_ROOT.subject, issuer_key=OTHER_KEY, ca=True)
    sentence = problem(LEAF, stranger)
    assert sentence is not None
    assert "missing from the chain" in sentence


def test_a_self_signed_leaf() -> None:
    sentence = problem(SELF_SIGNED)
    assert sentence is not None
    assert "self-signed" in sentence
    assert "CN=self.example.com" in sentence


def test_a_self_signed_leaf_that_is_trusted_has_no_problem() -> None:
    assert problem(SELF_SIGNED, trust=pem(SELF_SIGNED)) is None


def test_a_chain_to_an_untrusted_root() -> None:
    private_root_key = ec.generate_private_key(ec.SECP256R1())
    private_root = make(name("private root"), private_root_key, ca=True)
    leaf = make(name("p.example.com"), LEAF_KEY, issuer=private_root.subject, issuer_key=private_root_key,
                dns=["p.example.com"])  # fmt: skip
    sentence = problem(leaf, private_root)
    assert sentence is not None
    assert "ends at the root CN=private root" in sentence
    assert problem(leaf, private_root, trust=pem(private_root)) is None


def test_an_issuer_that_is_not_a_ca() -> None:
    not_ca = make(
        INTER.subject, INTER_KEY, issuer=ROOT.subject, issuer_key=ROOT_KEY, ca=False, dns=["inter.example"]
    )
    sentence = problem(LEAF, not_ca)
    assert sentence is not None
    assert "not a CA certificate" in sentence
    assert "CN=mailspec test intermediate issued CN=mx.example.com" in sentence


def test_a_ca_certificate_as_the_leaf() -> None:
    sentence = problem(INTER)
    assert sentence is not None
    assert "is a CA certificate, not a server's" in sentence


def test_an_expired_intermediate() -> None:
    old = make(INTER.subject, INTER_KEY, issuer=ROOT.subject, issuer_key=ROOT_KEY, ca=True,
               not_before=NOW - 400 * DAY, not_after=NOW - DAY)  # fmt: skip
    sentence = problem(LEAF, old)
    assert sentence is not None
    assert "the intermediate CN=mailspec test intermediate in the chain expired on" in sentence


def test_a_leaf_for_clients_only() -> None:
    sentence = problem(issued("client.example.com", eku=[ExtendedKeyUsageOID.CLIENT_AUTH]), INTER)
    assert sentence is not None
    assert "serverAuth" in sentence


def test_a_leaf_without_eku_or_with_server_and_client_auth_is_fine() -> None:
    assert problem(issued("any.example.com", eku=None), INTER) is None
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert problem(issued("both.example.com", eku=both), INTER) is None


def _intermediate_with_eku(*usages: x509.ObjectIdentifier) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(INTER.subject)
        .issuer_name(ROOT.subject)
        .public_key(INTER_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 10 * DAY)
        .not_valid_after(NOW + 100 * DAY)
    )
    for ext in INTER.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    return builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False).sign(
        ROOT_KEY, hashes.SHA256()
    )


def test_an_intermediate_restricted_to_server_auth_is_fine() -> None:
    # cryptography's client verifier would want clientAuth of a CA that lists EKUs: not here
    assert problem(LEAF, _intermediate_with_eku(ExtendedKeyUsageOID.SERVER_AUTH)) is None
    assert problem(LEAF, _intermediate_with_eku(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)) is None


def test_an_intermediate_restricted_to_client_auth() -> None:
    sentence = problem(LEAF, _intermediate_with_eku(ExtendedKeyUsageOID.CLIENT_AUTH))
    assert sentence is not None
    assert "may not issue TLS server certificates" in sentence


def test_a_chain_certificate_that_does_not_parse_is_a_problem_not_an_exception() -> None:
    sentence = chain_problem([der(LEAF), b"garbage"], TRUST, "mx.example.com", NOW)
    assert sentence is not None
    assert "certificate 2 of the chain mx.example.com presented" in sentence
    assert "not a DER X.509 certificate" in sentence


def test_no_certificate_presented() -> None:
    assert chain_problem([], TRUST, "mx.example.com", NOW) == "mx.example.com presented no certificate"


def test_a_trust_store_without_certificates_raises() -> None:
    with pytest.raises(CertError, match="no certificate"):
        chain_problem([der(LEAF), der(INTER)], b"nothing", "mx.example.com", NOW)


@given(st.data())
def test_chain_problem_never_raises_for_broken_chains(data: st.DataObject) -> None:
    chain = [bytearray(der(c)) for c in (LEAF, INTER)]
    for _ in range(data.draw(st.integers(1, 4))):
        which = data.draw(st.integers(0, 1))
        chain[which][data.draw(st.integers(0, len(chain[which]) - 1))] = data.draw(st.integers(0, 255))
    result = chain_problem([bytes(c) for c in chain], TRUST, "mx.example.com", NOW)
    assert result is None or (isinstance(result, str) and result)


# --- validity_problem ----------------------------------------------------------------------------

INFO = parse_cert(der(LEAF))  # valid from NOW - 30 days to NOW + 60 days


@pytest.mark.parametrize(
    ("at", "kind", "fragment"),
    [
        (NOW, None, None),
        (NOW + 61 * DAY, "expired", "expired on 2030-07-31 12:00 UTC, 1 days ago"),
        (NOW - 31 * DAY, "not-yet-valid", "not valid before 2030-05-02 12:00 UTC"),
        (NOW + 50 * DAY, "expiring", "in 10 days (less than 14)"),
        (NOW + 60 * DAY, "expiring", "in 0 days"),  # notAfter itself is still valid (RFC 5280)
        (NOW - 30 * DAY, None, None),  # and so is notBefore
        (NOW + 46 * DAY, None, None),  # exactly 14 days left: not fewer
        (dt.datetime(2030, 8, 2), "expired", "expired"),  # a naive time is UTC
    ],
)
def test_validity_problem(at: dt.datetime, kind: str | None, fragment: str | None) -> None:
    result = validity_problem(INFO, at)
    if kind is None:
        assert result is None
    else:
        assert result is not None
        assert result[0] == kind
        assert fragment is not None
        assert fragment in result[1]


def test_warn_days_is_configurable() -> None:
    assert validity_problem(INFO, NOW + 30 * DAY) is None
    warning = validity_problem(INFO, NOW + 30 * DAY, warn_days=45)
    assert warning is not None
    assert warning[0] == "expiring"
    assert validity_problem(INFO, NOW + 60 * DAY, warn_days=0) is None


# --- properties of parse_cert ---------------------------------------------------------------------

GOOD = der(LEAF)


@given(st.binary(max_size=300))
def test_parse_cert_raises_nothing_but_cert_error_for_any_bytes(data: bytes) -> None:
    try:
        info = parse_cert(data)
    except CertError:
        return
    assert info.sha256 == hashlib.sha256(data).hexdigest()


@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_parse_cert_raises_nothing_but_cert_error_for_damaged_certificates(
    flips: list[tuple[int, int]],
) -> None:
    data = bytearray(GOOD)
    for at, value in flips:
        data[at] = value
    try:
        info = parse_cert(bytes(data))
    except CertError:
        return
    assert info.sha256 == hashlib.sha256(bytes(data)).hexdigest()
    assert isinstance(info.key, str)
