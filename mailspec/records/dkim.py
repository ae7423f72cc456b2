"""DKIM key records (RFC 6376 §3.6.1), with RFC 8301's key sizes and hashes and RFC 8463's Ed25519.

The record is a tag-list (RFC 6376 §3.2): its TXT strings are joined with nothing between, and tags
are ``name=value`` separated by ``;``, white space (FWS) allowed around names, ``=`` and values. Tag
names are case-sensitive (§3.2); the keyword values here are compared without regard to case. The key
(``p=``) is base64 with white space allowed inside (§3.6.1 ``key-p-tag``), decoded with ``cryptography``:
an RSA key as a SubjectPublicKeyInfo (what every deployed key is) or a bare PKCS#1 RSAPublicKey (what
§3.6.1's prose names), an Ed25519 key as its 32 raw octets (RFC 8463 §4.2).

Anything that makes the record unusable to a verifier raises :class:`DkimKeyError`, whose message says
which tag and why. An empty ``p=`` is no error: it is a revoked key (:attr:`DkimKey.revoked`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

__all__ = ["DkimKey", "DkimKeyError", "KeyFormat", "parse_dkim_key"]

#: How the key octets were encoded: X.509 SubjectPublicKeyInfo, PKCS#1 RSAPublicKey, or raw Ed25519.
KeyFormat = Literal["spki", "pkcs1", "ed25519-raw"]

#: RFC 6376 §3.2: FWS and WSP (CR and LF only as part of folding, but a TXT string may hold them).
_FWS = " \t\r\n"
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: §3.2 tval: VALCHAR is %x21-3A / %x3C-7E (printable ASCII but ';'), white space only inside a value.
_VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]+(?:[ \t\r\n]+[\x21-\x3a\x3c-\x7e]+)*\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")
_SHOWN = 60
_ED25519_OCTETS = 32
_KEY_TYPES: dict[str, Literal["rsa", "ed25519"]] = {"rsa": "rsa", "ed25519": "ed25519"}


class DkimKeyError(ValueError):
    """A DKIM key record that a verifier cannot use; the message says which tag and why."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


@dataclass(frozen=True)
class DkimKey:
    """A DKIM key record (RFC 6376 §3.6.1) with its key decoded."""

    #: The record's text (its strings joined).
    text: str
    #: Every tag in order, (name, value without the white space around it).
    tags: tuple[tuple[str, str], ...]
    #: The ``v`` value ("DKIM1"), or None when the record has no v tag.
    version: str | None
    #: ``k``, lower-case: "rsa" (the default) or "ed25519".
    key_type: Literal["rsa", "ed25519"]
    #: ``h``, lower-case, in order; None when absent (every hash algorithm allowed).
    hash_algorithms: tuple[str, ...] | None
    #: ``s``, lower-case, in order (default ("*",)); it contains "email" or "*".
    service_types: tuple[str, ...]
    #: ``t``, the flags in order (lower-case): "y" testing, "s" same-domain i= only; unknown ones kept.
    flags: tuple[str, ...]
    #: ``n``, the notes, as published, or None.
    notes: str | None
    #: The decoded ``p`` octets; empty for a revoked key.
    key_data: bytes
    #: How ``key_data`` is encoded; None for a revoked key.
    key_format: KeyFormat | None
    #: The RSA modulus size in bits; None for Ed25519 and revoked keys.
    rsa_bits: int | None

    @property
    def revoked(self) -> bool:
        """An empty ``p=``: the key has been revoked (RFC 6376 §3.6.1)."""
        return not self.key_data

    @property
    def testing(self) -> bool:
        """``t=y``: the domain is testing DKIM; verifiers treat its mail as unsigned (§3.6.1)."""
        return "y" in self.flags

    @property
    def strict_identity(self) -> bool:
        """``t=s``: the i= domain must equal d=, not be a subdomain of it (§3.6.1)."""
        return "s" in self.flags

    @property
    def sha1_only(self) -> bool:
        """Whether ``h`` allows only sha1, which RFC 8301 §3.1 forbids for signing and verifying."""
        return self.hash_algorithms is not None and set(self.hash_algorithms) == {"sha1"}

    def allows_hash(self, name: str) -> bool:
        return self.hash_algorithms is None or name.lower() in self.hash_algorithms


def _tags(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    segments = text.split(";")
    if segments and not segments[-1].strip(_FWS):
        segments.pop()  # (one ';' may end the list, §3.2)
    for n, segment in enumerate(segments, start=1):
        name, eq, value = segment.partition("=")
        name, value = name.strip(_FWS), value.strip(_FWS)
        if not eq:
            raise DkimKeyError(
                f"tag {n} {_shown(segment.strip(_FWS))} is not name=value (RFC 6376 §3.2 tag-list)"
                + ("; two ';' with nothing between" if not segment.strip(_FWS) else "")
            )
        if not _TAG_NAME.match(name):
            raise DkimKeyError(
                f"tag {n}: {_shown(name)} is not a tag name (a letter, then letters, digits or '_'; "
                "RFC 6376 §3.2)"
            )
        if value and not _VALUE.match(value):
            raise DkimKeyError(
                f"tag {name!r}: its value {_shown(value)} has characters a tag value cannot hold (printable "
                "ASCII but ';', with white space only between; RFC 6376 §3.2)"
            )
        if name in seen:
            raise DkimKeyError(
                f"tag {name!r} appears twice: a tag-list with a duplicate tag is invalid (RFC 6376 §3.2)"
            )
        seen.add(name)
        out.append((name, value))
    return out


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip(_FWS).lower() for item in value.split(":"))


def _decode(p: str) -> bytes:
    data = "".join(p.split())  # (FWS inside the base64 is allowed, §3.6.1 key-p-tag)
    if not _BASE64.match(data):
        bad = next((c for c in data.rstrip("=") if not (c.isascii() and (c.isalnum() or c in "+/"))), "=")
        raise DkimKeyError(f"p= is not base64: it contains {bad!r} (RFC 6376 §3.6.1, base64 per RFC 2045)")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise DkimKeyError(
            f"p= is not base64: its {len(data)} characters are not a whole number of base64 quanta "
            "(a multiple of four, '=' padding at the end only)"
        ) from None


def _rsa(data: bytes) -> tuple[KeyFormat, int]:
    try:
        key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise DkimKeyError(
            f"p= decodes to {len(data)} octets that are no RSA public key (neither a SubjectPublicKeyInfo "
            "nor a PKCS#1 RSAPublicKey, RFC 6376 §3.6.1)"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimKeyError(
            f"k=rsa, but p= holds a {type(key).__name__.removesuffix('PublicKey')} key, not an RSA one "
            "(an Ed25519 key needs k=ed25519, and then its 32 raw octets, RFC 8463 §4.2)"
        )
    pkcs1 = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return ("pkcs1" if pkcs1 == data else "spki"), key.key_size


def _ed25519(data: bytes) -> None:
    if len(data) != _ED25519_OCTETS:
        hint = ""
        try:
            spki = serialization.load_der_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
        else:
            hint = f" (it is a SubjectPublicKeyInfo of a {type(spki).__name__} key; publish the raw octets)"
        raise DkimKeyError(
            f"k=ed25519, but p= decodes to {len(data)} octets: an Ed25519 key is its 32 raw octets, 44 "
            f"base64 characters (RFC 8463 §4.2){hint}"
        )
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(data)
    except (ValueError, UnsupportedAlgorithm):  # pragma: no cover - any 32 octets load
        raise DkimKeyError("k=ed25519, but p= is no Ed25519 public key (RFC 8463 §4.2)") from None


def parse_dkim_key(text: str | Sequence[str]) -> DkimKey:
    """The DKIM key record ``text`` (a TXT record's text, or its character-strings, joined with nothing
    between, RFC 6376 §3.6.2.2), or DkimKeyError.

    Rules (RFC 6376 §3.2, §3.6.1): a tag-list without duplicate tags; ``v``, if present, first and
    exactly ``DKIM1``; ``p`` present (empty = revoked); ``k`` rsa (the default) or ed25519 (RFC 8463);
    ``s`` contains email or ``*``; ``p`` base64 of a key of type ``k``. Unknown tags, hash algorithms
    and flags are ignored (§3.6.1 says verifiers MUST ignore them).
    """
    text = text if isinstance(text, str) else "".join(text)
    if not text.strip(_FWS):
        raise DkimKeyError("the record is empty: a DKIM key record has at least p= (RFC 6376 §3.6.1)")
    tags = _tags(text)
    values = dict(tags)
    version = values.get("v")
    if version is not None:
        if tags[0][0] != "v":
            raise DkimKeyError(
                f"v= is tag {[n for n, _ in tags].index('v') + 1}: when present it must be the first "
                "(RFC 6376 §3.6.1)"
            )
        if version != "DKIM1":
            raise DkimKeyError(f"v={_shown(version)}: the only version is DKIM1, exactly (RFC 6376 §3.6.1)")
    if "p" not in values:
        raise DkimKeyError("there is no p= tag: a DKIM key record must have one (RFC 6376 §3.6.1)")
    k = _KEY_TYPES.get(values.get("k", "rsa").lower())
    if k is None:
        raise DkimKeyError(
            f"k={_shown(values['k'])}: the key types are rsa (RFC 6376 §3.6.1) and ed25519 (RFC 8463 §4.2)"
        )
    services = _list(values["s"]) if "s" in values else ("*",)
    if "email" not in services and "*" not in services:
        raise DkimKeyError(
            f"s={_shown(values['s'])}: the key is not for email (s must contain email or *, RFC 6376 §3.6.1)"
        )
    hashes = _list(values["h"]) if "h" in values else None
    flags = _list(values["t"]) if "t" in values else ()
    data = _decode(values["p"])
    key_format: KeyFormat | None = None
    bits: int | None = None
    if data and k == "rsa":
        key_format, bits = _rsa(data)
    elif data:
        _ed25519(data)
        key_format = "ed25519-raw"
    return DkimKey(
        text=text,
        tags=tuple(tags),
        version=version,
        key_type=k,
        hash_algorithms=hashes,
        service_types=services,
        flags=flags,
        notes=values.get("n"),
        key_data=data,
        key_format=key_format,
        rsa_bits=bits,
    )
