"""Domain and host names: normalisation of user input and the syntax rules of RFC 1123 / RFC 5321."""

from __future__ import annotations

import ipaddress
import re

import idna

from mailspec.errors import SettingError

__all__ = [
    "LDH_LABEL",
    "hostname_problem",
    "is_ldh_label",
    "looks_like_ip",
    "normalise_domain",
    "split_labels",
    "underscore_labels",
]

#: RFC 1123 §2.1 / RFC 5321 §4.1.2 "Domain": letters, digits and inner hyphens; 1 to 63 octets.
#: (``\Z``, not ``$``: ``$`` also matches before a final newline, and "mx\n" is no label.)
LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
#: What DNS itself tolerates in the labels a user may ask about (RFC 2181 §11 allows more, but a mail
#: domain with spaces or '@' is always a typo).
_INPUT_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_MAX_NAME = 253
_DIGITS = "0123456789"


def is_ldh_label(label: str) -> bool:
    return bool(LDH_LABEL.match(label))


def looks_like_ip(name: str) -> bool:
    """True for a dotted quad (with or without a trailing dot), a bracketed literal or IPv6 text."""
    text = name.rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(re.fullmatch(r"\d+(\.\d+){3}", text))
    return True


def split_labels(name: str) -> list[str]:
    """The labels of ``name`` in DNS presentation format (RFC 1035 §5.1), as dnspython writes it.

    Splits on unescaped dots and decodes the escapes inside a label: ``\\.`` is a dot, ``\\\\`` a
    backslash, ``\\X`` the character X and ``\\DDD`` the octet of decimal value DDD (as the character
    of that code point). One trailing unescaped dot is the root and gives no label, so ``""`` and
    ``"."`` have none. Never raises: a malformed escape (a lone trailing backslash, ``\\DDD`` above
    255, fewer than three digits) is kept as written, backslash included, for the caller to report.
    """
    labels: list[str] = []
    label: list[str] = []
    i, n = 0, len(name)
    while i < n:
        c = name[i]
        if c == ".":
            labels.append("".join(label))
            label = []
            i += 1
        elif c != "\\" or i + 1 == n:  # (a lone trailing backslash is kept)
            label.append(c)
            i += 1
        elif name[i + 1] in _DIGITS:
            digits = name[i + 1 : i + 4]
            if len(digits) == 3 and all(d in _DIGITS for d in digits) and int(digits) <= 255:
                label.append(chr(int(digits)))
                i += 4
            else:  # not \DDD: keep the backslash, the digits follow as themselves
                label.append(c)
                i += 1
        else:
            label.append(name[i + 1])
            i += 2
    if label or not name.endswith("."):  # (an unescaped final dot leaves ``label`` empty)
        labels.append("".join(label))
    return [] if labels == [""] else labels


def underscore_labels(name: str) -> list[str]:
    """The labels of ``name`` (presentation format, escapes decoded) that contain an underscore."""
    return [label for label in split_labels(name) if "_" in label]


def hostname_problem(name: str) -> str | None:
    """Why ``name`` is not a valid host name (RFC 1123 §2.1, RFC 5321 §2.3.5), or None.

    ``name`` is in DNS presentation format: ``mx\\.dot.example.com`` has the label ``mx.dot``.
    """
    labels = split_labels(name)
    if not labels:
        return "it is the root, not a host name"
    length = sum(len(label) for label in labels) + len(labels) - 1
    if length > _MAX_NAME:
        return f"it is {length} octets long; a host name has at most {_MAX_NAME}"
    if len(labels) < 2:
        return "it has a single label; a host name is fully qualified (at least two labels)"
    for label in labels:
        if not label:
            return "it has an empty label"
        if "_" in label:
            return f"its label {label!r} contains '_', which is not allowed in a host name"
        if not is_ldh_label(label):
            return (
                f"its label {label!r} is not letters, digits and inner hyphens (LDH), "
                "or is longer than 63 octets"
            )
    if labels[-1].isdigit() and not looks_like_ip(name):
        # (an all-numeric name such as 192.0.2.1 is mx.target.not-ip's to report)
        return f"its top-level label {labels[-1]!r} is all-numeric; a TLD is alphabetic (RFC 1123 §2.1)"
    return None


def normalise_domain(text: str, *, what: str = "mail domain") -> str:
    """A user-given domain as lower-case ASCII (IDNs punycoded), no trailing dot, or SettingError."""
    raw = text.strip()
    if not raw:
        raise SettingError(f"empty {what}: expected a domain name such as example.com")
    if looks_like_ip(raw):
        raise SettingError(f"{what} {text!r} is an IP address: expected a domain name such as example.com")
    name = raw[:-1] if raw.endswith(".") else raw
    if "@" in name:
        raise SettingError(f"{what} {text!r} looks like a mail address: expected only the domain part")
    try:
        # IDNA 2008 with UTS #46 mapping, as registries and browsers do today ("faß.de" stays faß)
        ascii_name = name if name.isascii() else idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise SettingError(
            f"{what} {text!r} is not a valid internationalised domain name ({exc}): expected a domain "
            "name such as example.com or bücher.example"
        ) from None
    ascii_name = ascii_name.lower()
    labels = ascii_name.split(".")
    if len(ascii_name) > _MAX_NAME:
        raise SettingError(f"{what} {text!r} is {len(ascii_name)} octets long: at most {_MAX_NAME} expected")
    for label in labels:
        if not _INPUT_LABEL.match(label):
            raise SettingError(
                f"{what} {text!r} has an invalid label {label!r}: expected letters, digits, hyphens "
                "(and '_'), 1 to 63 per label, separated by single dots"
            )
    if len(labels) < 2:
        raise SettingError(f"{what} {text!r} has a single label: expected a fully qualified domain")
    return ascii_name
