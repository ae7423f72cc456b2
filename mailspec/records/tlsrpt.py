"""SMTP TLS Reporting (RFC 8460): the ``_smtp._tls`` TXT record (§3).

The grammar (§3): ``v=TLSRPTv1``, then ``;``-separated fields (white space around the ';' only), among
them one ``rua=`` with one or more comma-separated URIs (``mailto:`` or ``https:``, §3 "rua"), and
extension fields ``name=value``. A field name is case-sensitive. The URIs are parsed by
:func:`mailspec.records.dmarc.parse_report_uri`, without DMARC's ``!size`` suffix (commas and
semicolons inside a URI must be percent-encoded, §3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailspec.records.dmarc import DmarcError, ReportUri, parse_report_uri

__all__ = [
    "SUPPORTED_SCHEMES",
    "TlsRptError",
    "TlsRptRecord",
    "is_tlsrpt_record",
    "parse_tlsrpt_record",
    "tlsrpt_records",
]

#: The schemes RFC 8460 §3 defines for rua: reports by mail and by HTTPS POST.
SUPPORTED_SCHEMES = frozenset({"mailto", "https"})

_WSP = " \t"
#: §3: records are those that begin "v=TLSRPTv1" and a field delimiter (*WSP ";" *WSP).
_RECORD_START = re.compile(r"v=TLSRPTv1[ \t]*;")
#: §3 tlsrpt-ext-name and tlsrpt-ext-value.
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_SHOWN = 60


class TlsRptError(ValueError):
    """A TLS-RPT record that a reporter cannot use; the message says where and why."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "...")


@dataclass(frozen=True)
class TlsRptRecord:
    """A ``_smtp._tls`` TLS-RPT record (RFC 8460 §3)."""

    text: str
    #: The rua URIs in order (at least one of them mailto: or https:).
    rua: tuple[ReportUri, ...]
    #: The extension fields, (name, value), in order.
    extensions: tuple[tuple[str, str], ...] = ()

    @property
    def unsupported(self) -> tuple[ReportUri, ...]:
        """The rua URIs of schemes RFC 8460 does not define, which reporters skip."""
        return tuple(u for u in self.rua if u.scheme not in SUPPORTED_SCHEMES)


def is_tlsrpt_record(text: str) -> bool:
    """Whether ``text`` begins ``v=TLSRPTv1;`` (white space allowed before the ';'), as §3 keeps."""
    return bool(_RECORD_START.match(text))


def tlsrpt_records(texts: Iterable[str | Sequence[str]]) -> tuple[str, ...]:
    """The TLS-RPT records among the TXT records ``texts`` (each a text or its strings, joined with
    nothing between), in order; "if the number of resulting records is not one", there is none (§3)."""
    joined = (t if isinstance(t, str) else "".join(t) for t in texts)
    return tuple(t for t in joined if is_tlsrpt_record(t))


def parse_tlsrpt_record(text: str | Sequence[str]) -> TlsRptRecord:
    """The TLS-RPT record ``text``, or TlsRptError.

    §3: ``v=TLSRPTv1`` first; exactly one ``rua=`` of comma-separated URIs (white space around the
    commas allowed), each a URI, at least one mailto: or https:; other fields extensions
    (``name=value``, printable, no ';', '=' or space); no field twice; a final ';' allowed.
    """
    text = text if isinstance(text, str) else "".join(text)
    if not is_tlsrpt_record(text):
        raise TlsRptError(
            f"{_shown(text)} does not begin with v=TLSRPTv1; (RFC 8460 §3): it is no TLS-RPT record"
        )
    fields = [f.strip(_WSP) for f in text.split(";")]
    if fields[-1] == "":
        fields.pop()  # (a final delimiter is allowed)
    rua: tuple[ReportUri, ...] | None = None
    extensions: list[tuple[str, str]] = []
    seen: set[str] = set()
    for n, f in enumerate(fields[1:], start=2):
        if not f:
            raise TlsRptError(f"field {n} is empty: two ';' with nothing between (RFC 8460 §3)")
        name, eq, value = f.partition("=")
        if not eq or not _EXT_NAME.match(name):
            raise TlsRptError(
                f"field {n} {_shown(f)} is not name=value with no white space around '=' (RFC 8460 §3)"
            )
        if name in seen:
            raise TlsRptError(f"field {n}: {name!r} appears twice (RFC 8460 §3 defines each field once)")
        seen.add(name)
        if name == "rua":
            rua = _rua(value)
        elif not _EXT_VALUE.match(value):
            raise TlsRptError(
                f"field {name!r}: its value {_shown(value)} is not 1 or more printable characters other than "
                "';', '=' and space (RFC 8460 §3 tlsrpt-ext-value)"
            )
        else:
            extensions.append((name, value))
    if rua is None:
        raise TlsRptError(f"{_shown(text)} has no rua= field, which RFC 8460 §3 requires")
    return TlsRptRecord(text, rua, tuple(extensions))


def _rua(value: str) -> tuple[ReportUri, ...]:
    if not value:
        raise TlsRptError(
            "rua= is empty: expected one or more comma-separated mailto: or https: URIs (RFC 8460 §3)"
        )
    uris: list[ReportUri] = []
    for n, part in enumerate(value.split(","), start=1):
        item = part.strip(_WSP)
        try:
            uri = parse_report_uri(item, allow_size=False)
        except DmarcError as exc:
            raise TlsRptError(f"rua URI {n}: {exc}") from None
        if uri.scheme == "https" and not uri.host:
            raise TlsRptError(f"rua URI {n} {_shown(item)}: an https: URI needs a host (RFC 8460 §3)")
        uris.append(uri)
    if not any(u.scheme in SUPPORTED_SCHEMES for u in uris):
        raise TlsRptError(
            f"rua={_shown(value)} has no mailto: or https: URI, the two schemes reporters use (RFC 8460 §3)"
        )
    return tuple(uris)
