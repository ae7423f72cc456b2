"""IDENT replies (RFC 1413 §4-§5 and its FORMAL SYNTAX): ``<port-pair> : USERID : <opsys> : <user-id>``
or ``<port-pair> : ERROR : <error-type>``.

White space around the tokens and separators is allowed (the RFC's note 1 on syntax: be liberal in
what you accept), except in the user id, which is everything after the third colon up to the end
of the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["ERROR_TYPES", "IdentError", "IdentReply", "parse_ident_reply"]

#: The error types RFC 1413 §5 defines; others must begin with "X".
ERROR_TYPES = ("INVALID-PORT", "NO-USER", "HIDDEN-USER", "UNKNOWN-ERROR")

_WS = " \t"
#: <token>: 1 to 64 printable ASCII characters other than ':' (and white space, which ends a token).
_TOKEN = re.compile(r"[\x21-\x39\x3b-\x7e]{1,64}\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")
_CHARSET = re.compile(r"[A-Za-z0-9_-]{1,40}\Z")


class IdentError(ValueError):
    """A line that is not an RFC 1413 reply; the message says why."""


@dataclass(frozen=True)
class IdentReply:
    """One IDENT reply: for the connection between ``server_port`` (on the host that answered) and
    ``client_port`` (on the asking host), a user id or an error."""

    server_port: int
    client_port: int
    kind: Literal["USERID", "ERROR"]
    #: USERID: the operating system (``UNIX``, ``OTHER``) and the user id's character set
    opsys: str = ""
    charset: str = ""
    #: USERID: the user id, decoded in its character set (unknown to Python: octet by octet, as latin-1)
    user_id: str = ""
    #: ERROR: the error type (``NO-USER``, ``HIDDEN-USER``, ``X-...``)
    error: str = ""

    @property
    def is_error(self) -> bool:
        return self.kind == "ERROR"

    def answers(self, server_port: int, client_port: int) -> bool:
        """Whether this is the reply to the query ``server_port, client_port`` (§4: the port pair is
        returned as it was asked)."""
        return (self.server_port, self.client_port) == (server_port, client_port)


def _port(text: str, what: str) -> int:
    value = text.strip(_WS)
    if not _PORT.match(value) or not 1 <= int(value) <= 65535:
        raise IdentError(f"the {what} {value!r} is not a TCP port (1 to 65535, at most 5 digits)")
    return int(value)


def _token(text: str, what: str) -> str:
    value = text.strip(_WS)
    if not _TOKEN.match(value):
        raise IdentError(
            f"the {what} {value!r} is not a token (1 to 64 printable ASCII characters, no ':' or space)"
        )
    return value


def _decode(octets: bytes, charset: str) -> str:
    """The user id in its character set; RFC 1413 note 6: one the client does not know is handled as
    octets (latin-1 keeps each octet as one character)."""
    if not _CHARSET.match(charset):  # (a name codecs.lookup could read as a module path is no charset)
        return octets.decode("latin-1")
    try:
        return octets.decode(charset, errors="replace")
    except (UnicodeError, LookupError, TypeError, ValueError):  # unknown, or no text encoding ("hex")
        return octets.decode("latin-1")


def parse_ident_reply(line: bytes) -> IdentReply:
    """The IDENT reply ``line`` (a trailing CRLF or LF is dropped), or IdentError.

    The reply type is read case-insensitively and returned upper-case; the operating system,
    character set and error type are kept as sent. The user id keeps its trailing white space (it is
    part of the id) but loses the white space after the colon that every server sends (RFC 1413's own
    example, ``6193, 23 : USERID : UNIX : stjohns``). An error type outside the four of §5 must begin
    with "X".
    """
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    if any(c in line for c in b"\r\n\x00"):
        raise IdentError("the reply contains a CR, LF or NUL inside the line")
    head, sep, rest = line.partition(b":")
    if not sep:
        raise IdentError("the reply has no ':': expected '<port>, <port> : USERID|ERROR : ...'")
    if not head.isascii():
        raise IdentError("the port pair has 8-bit (non-ASCII) octets")
    server, comma, client = head.decode("ascii").partition(",")
    if not comma:
        raise IdentError(f"the port pair {head.decode('ascii').strip(_WS)!r} has no ','")
    server_port = _port(server, "server port")
    client_port = _port(client, "client port")
    kind_raw, sep, rest = rest.partition(b":")
    if not sep or not kind_raw.isascii():
        raise IdentError("the reply type is not followed by ':': expected USERID or ERROR, then ':'")
    kind = kind_raw.decode("ascii").strip(_WS).upper()
    if kind == "ERROR":
        if not rest.isascii():
            raise IdentError("the error type has 8-bit (non-ASCII) octets")
        error = _token(rest.decode("ascii"), "error type")
        if error.upper() not in ERROR_TYPES and not (error[0] in "Xx" and len(error) >= 2):
            raise IdentError(
                f"the error type {error!r} is none of {', '.join(ERROR_TYPES)} and does not begin "
                "with 'X' (RFC 1413 §5)"
            )
        return IdentReply(server_port, client_port, "ERROR", error=error)
    if kind != "USERID":
        raise IdentError(f"the reply type {kind!r} is neither USERID nor ERROR")
    field, sep, user = rest.partition(b":")
    if not sep:
        raise IdentError("the USERID reply has no ':' between the operating system and the user id")
    if not field.isascii():
        raise IdentError("the operating system field has 8-bit (non-ASCII) octets")
    opsys_text, comma, charset_text = field.decode("ascii").partition(",")
    opsys = _token(opsys_text, "operating system")
    charset = _token(charset_text, "character set") if comma else "US-ASCII"
    user = user.lstrip(b" \t")
    if not user:
        raise IdentError("the USERID reply has an empty user id")
    return IdentReply(server_port, client_port, "USERID", opsys, charset, _decode(user, charset))
