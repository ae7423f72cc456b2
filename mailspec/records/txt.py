"""TXT record data (RFC 1035 §3.3.14) as dnspython presents it: quoted character-strings."""

from __future__ import annotations

__all__ = ["txt_strings", "txt_value"]


def txt_value(data: str) -> str:
    """The text of a TXT rdata in presentation form: its quoted strings joined without spaces
    (RFC 7208 §3.3), with ``\\X`` and ``\\DDD`` escapes decoded."""
    return "".join(txt_strings(data))


def txt_strings(data: str) -> list[str]:
    """The character-strings of a TXT rdata in presentation form, each decoded, in order."""
    out: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == '"':
            i += 1
            buf: list[str] = []
            while i < len(data) and data[i] != '"':
                if data[i] == "\\" and i + 1 < len(data):
                    digits = data[i + 1 : i + 4]
                    if len(digits) == 3 and digits.isdigit():
                        buf.append(chr(int(digits)))
                        i += 4
                        continue
                    buf.append(data[i + 1])
                    i += 2
                    continue
                buf.append(data[i])
                i += 1
            out.append("".join(buf))
        i += 1
    return out
