"""SPF (RFC 7208): the little this release needs; the full parser arrives with the SPF checks."""

from __future__ import annotations

__all__ = ["authorises_hosts", "is_spf"]


def is_spf(text: str) -> bool:
    """RFC 7208 §4.5: a record is SPF if it begins with ``v=spf1`` followed by a space or its end."""
    return text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")


def authorises_hosts(text: str) -> bool:
    """Whether an SPF record lets any host send (anything beyond ``-all``, ``~all`` and ``?all``)."""
    for term in text.split()[1:]:
        t = term.lower()
        if t in ("-all", "~all", "?all") or t.startswith("exp="):
            continue
        return True
    return False
