"""DKIM key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463), with real keys made here."""

from __future__ import annotations

import base64
import contextlib
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.dkim import DkimKeyError, parse_dkim_key


@cache
def rsa_key(bits: int) -> rsa.RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki(bits: int) -> str:
    der = rsa_key(bits).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64(der)


def pkcs1(bits: int) -> str:
    return b64(rsa_key(bits).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))


@cache
def ed_raw() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()


@pytest.mark.parametrize("bits", [1024, 2048])
def test_rsa_spki(bits: int) -> None:
    key = parse_dkim_key(f"v=DKIM1; k=rsa; p={spki(bits)}")
    assert (key.key_type, key.key_format, key.rsa_bits, key.version) == ("rsa", "spki", bits, "DKIM1")
    assert not key.revoked
    assert key.hash_algorithms is None
    assert key.allows_hash("sha256")
    assert key.service_types == ("*",)


def test_rsa_pkcs1_is_accepted() -> None:
    key = parse_dkim_key(f"p={pkcs1(1024)}")
    assert (key.key_type, key.key_format, key.rsa_bits, key.version) == ("rsa", "pkcs1", 1024, None)


def test_ed25519_raw() -> None:
    p = b64(ed_raw())
    assert len(p) == 44
    key = parse_dkim_key(f"v=DKIM1; k=ed25519; p={p}")
    assert (key.key_type, key.key_format, key.rsa_bits, key.key_data) == (
        "ed25519",
        "ed25519-raw",
        None,
        ed_raw(),
    )


def test_ed25519_as_spki_is_an_error_with_a_hint() -> None:
    der = ed25519.Ed25519PublicKey.from_public_bytes(ed_raw()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(DkimKeyError, match=r"44 octets.*SubjectPublicKeyInfo"):
        parse_dkim_key(f"k=ed25519; p={b64(der)}")


def test_an_ed25519_key_under_k_rsa_is_an_error() -> None:
    der = ed25519.Ed25519PublicKey.from_public_bytes(ed_raw()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(DkimKeyError, match="not an RSA one"):
        parse_dkim_key(f"p={b64(der)}")


def test_an_ec_key_is_no_rsa_key() -> None:
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(DkimKeyError, match="not an RSA one"):
        parse_dkim_key(f"p={b64(der)}")


def test_strings_are_joined_and_white_space_inside_p_is_removed() -> None:
    p = spki(2048)
    halves = ["v=DKIM1; k=rsa; p=" + p[:200], p[200:]]
    assert parse_dkim_key(halves).rsa_bits == 2048
    folded = " ".join(p[i : i + 64] for i in range(0, len(p), 64))
    assert parse_dkim_key(f"v=DKIM1;\r\n\tp={folded}\r\n").rsa_bits == 2048


def test_empty_p_is_revoked() -> None:
    key = parse_dkim_key("v=DKIM1; p=")
    assert key.revoked
    assert (key.key_format, key.rsa_bits, key.key_data) == (None, None, b"")


def test_tags() -> None:
    key = parse_dkim_key(
        f"v=DKIM1; h=sha256:SHA1; s=email:other; t=y:s:x; n=hello there; p={spki(1024)}; zz=1"
    )
    assert key.hash_algorithms == ("sha256", "sha1")
    assert key.service_types == ("email", "other")
    assert key.flags == ("y", "s", "x")
    assert key.testing
    assert key.strict_identity
    assert key.notes == "hello there"
    assert not key.sha1_only
    assert ("zz", "1") in key.tags


def test_sha1_only() -> None:
    key = parse_dkim_key(f"h=sha1; p={spki(1024)}")
    assert key.sha1_only
    assert not key.allows_hash("sha256")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("v=DKIM1", "no p= tag"),
        ("p=AAAA; v=DKIM1", "must be the first"),
        ("v=DKIM2; p=", "DKIM1, exactly"),
        ("v=dkim1; p=", "DKIM1, exactly"),
        ("k=dsa; p=", "key types"),
        ("s=other; p=", "not for email"),
        ("p=; p=", "appears twice"),
        ("v=DKIM1;; p=", "not name=value"),
        ("v=DKIM1; p", "not name=value"),
        ("1v=DKIM1; p=", "not a tag name"),
        ("n=caf\u00e9; p=", "characters a tag value cannot hold"),
        ("p=not*base64", "not base64: it contains '\\*'"),
        ("p=AAA", "whole number"),
        ("p=AB===", "not base64"),
        ("p=AAAAAAAA", "no RSA public key"),
        ("k=ed25519; p=AAAA", "3 octets"),
    ],
)
def test_errors(text: str, why: str) -> None:
    with pytest.raises(DkimKeyError, match=why):
        parse_dkim_key(text)


def test_s_star_and_k_case() -> None:
    key = parse_dkim_key(f"k=RSA; s=*; p={spki(1024)}")
    assert key.key_type == "rsa"


def test_a_10kb_record_is_an_error_or_a_key_quickly() -> None:
    with pytest.raises(DkimKeyError):
        parse_dkim_key("p=" + "A" * 10_000)


_PIECES = st.sampled_from(
    [
        "v=DKIM1",
        ";",
        " ",
        "\r\n",
        "p=",
        "k=",
        "rsa",
        "ed25519",
        "=",
        "A",
        "AAAA",
        "/+",
        "s=",
        "*",
        "\x00",
        "é",
    ]
)


@given(st.text())
def test_any_text_gives_a_key_or_a_dkim_error(text: str) -> None:
    with contextlib.suppress(DkimKeyError):
        parse_dkim_key(text)


@given(st.lists(_PIECES, max_size=30).map("".join))
def test_key_like_text_gives_a_key_or_a_dkim_error(text: str) -> None:
    with contextlib.suppress(DkimKeyError):
        parse_dkim_key(text)


@given(st.binary(max_size=600), st.sampled_from(["rsa", "ed25519"]))
def test_any_octets_as_p_give_a_key_or_a_dkim_error(data: bytes, k: str) -> None:
    with contextlib.suppress(DkimKeyError):
        parse_dkim_key(f"k={k}; p={b64(data)}")


@given(st.integers(min_value=0, max_value=161), st.integers(min_value=0, max_value=255), st.booleans())
def test_a_damaged_real_key_gives_a_key_or_a_dkim_error(where: int, octet: int, cut: bool) -> None:
    der = bytearray(base64.b64decode(spki(1024)))
    der[where] = octet
    data = bytes(der[:where] if cut else der)
    with contextlib.suppress(DkimKeyError):
        key = parse_dkim_key(f"v=DKIM1; p={b64(data)}")
        assert key.revoked or key.rsa_bits is not None
