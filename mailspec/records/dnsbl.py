"""DNS blocklists (RFC 5782): the names to query, the sanity entries of a list, and what an answer means.

An IP list is asked for ``<address reversed>.<zone>`` A (RFC 5782 §2.1, §2.4); an address in
127.0.0.0/8 means listed, NXDOMAIN means not listed. Anything else is no verdict: an answer outside
127/8 is not a list answer (§2.1 keeps answers there so that they are never mistaken for hosts; a
resolver that rewrites NXDOMAIN or a list that expired and was parked gives them), and Spamhaus
answers 127.255.255.0/24 to say it refuses the question (catalog dnsbl.resolver-usable, §16 11).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_ZONES",
    "TEST_ENTRIES",
    "Listing",
    "SanityEntry",
    "classify",
    "is_spamhaus",
    "query_name",
    "sanity_names",
]

#: The lists consulted when none are configured: the same three as mailspec.settings.DEFAULT_DNSBLS
#: (a unit test keeps the two equal). Each has conditions: Spamhaus refuses queries that come through
#: public resolvers (127.255.255.254) and from heavy users; Barracuda answers only resolvers that
#: registered with it (an unregistered one gets no answer for the 2.0.0.127 test entry either, so
#: dnsbl.zone-sane reports it rather than every address passing).
DEFAULT_ZONES: tuple[str, ...] = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")

Status = Literal["listed", "refused", "not-listed"]
Kind = Literal["spam-source", "policy", ""]

_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
#: Spamhaus's range for errors about the query itself, never a reputation (its 2019 announcement).
_ERRORS = ipaddress.IPv4Network("127.255.255.0/24")
_ERROR_MEANINGS = {
    "127.255.255.252": "a typing error in the list's name (Spamhaus error code)",
    "127.255.255.254": (
        "a query through a public or open resolver, which Spamhaus does not answer (Spamhaus error "
        "code): use a resolver of your own (--mail-resolver)"
    ),
    "127.255.255.255": "an excessive number of queries from this resolver (Spamhaus error code)",
}
#: Spamhaus's answer to an IP question asked of a domain list (DBL), also no reputation.
_SPAMHAUS_DBL_ERROR = "127.0.1.255"
#: Spamhaus's IP-zone return codes (docs.spamhaus.com "Available Zones"; CATALOG.md §5).
_SPAMHAUS_CODES: dict[str, tuple[Kind, str]] = {
    "127.0.0.2": ("spam-source", "SBL: a known spam source or spam operation"),
    "127.0.0.3": ("spam-source", "SBL CSS: a snowshoe spam source"),
    "127.0.0.4": ("spam-source", "XBL: an exploited or infected host"),
    # .5 to .7 are XBL codes Spamhaus reserves ("currently unused")
    "127.0.0.5": ("spam-source", "XBL: an exploited or infected host"),
    "127.0.0.6": ("spam-source", "XBL: an exploited or infected host"),
    "127.0.0.7": ("spam-source", "XBL: an exploited or infected host"),
    "127.0.0.9": ("spam-source", "SBL DROP: a hijacked or criminal network"),
    "127.0.0.10": ("policy", "PBL: an end-user range its ISP says should not send mail directly"),
    "127.0.0.11": ("policy", "PBL: an end-user range Spamhaus says should not send mail directly"),
    "127.0.0.30": ("spam-source", "SBL BCL: a botnet controller"),
}


def is_spamhaus(zone: str) -> bool:
    """Whether ``zone`` is Spamhaus's (``zen.spamhaus.org``, ``pbl.spamhaus.org``, ..., or a DQS zone
    ``<key>.zen.dq.spamhaus.net``): only Spamhaus's codes are told apart by :func:`classify`."""
    name = zone.strip().rstrip(".").lower()
    return any(name == d or name.endswith("." + d) for d in ("spamhaus.org", "spamhaus.net"))


def query_name(ip: str, zone: str) -> str:
    """The name to ask for ``ip`` in ``zone``, without a trailing dot (RFC 5782 §2.1, §2.4).

    ``192.0.2.99`` in ``zen.spamhaus.org`` is ``99.2.0.192.zen.spamhaus.org``; an IPv6 address is
    its 32 nibbles, least significant first. An IPv4-mapped IPv6 address stays IPv6 (that is how an
    IPv6 list's test entry ``::ffff:7f00:2`` is asked). Raises ValueError for text that is not an
    IP address.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"{ip!r} is not an IP address") from None
    if addr.version == 4:
        labels = ".".join(reversed(str(addr).split(".")))
    else:  # (not rdns.reverse_name: that maps ::ffff:a.b.c.d to IPv4, as a PTR lookup must)
        labels = ".".join(reversed(addr.packed.hex()))
    return f"{labels}.{name}" if (name := zone.strip().rstrip(".")) else labels


# (SanityEntry and sanity_names, not Test...: pytest would collect those names where a test imports them)
@dataclass(frozen=True)
class SanityEntry:
    """An entry every list has (RFC 5782 §5): the test address that must be listed, or the one that
    must not be."""

    address: str
    must_exist: bool  #: True: listed (an A record); False: NXDOMAIN

    @property
    def version(self) -> int:
        return 6 if ":" in self.address else 4


#: RFC 5782 §5: 127.0.0.2 is listed and 127.0.0.1 is not, for IPv4 lists; ::FFFF:7F00:2 and
#: ::FFFF:7F00:1 for IPv6 lists. (A domain list's are the names TEST and INVALID, §5 too; mailspec
#: asks IP lists only.)
TEST_ENTRIES: tuple[SanityEntry, ...] = (
    SanityEntry("127.0.0.2", True),
    SanityEntry("127.0.0.1", False),
    SanityEntry("::ffff:7f00:2", True),
    SanityEntry("::ffff:7f00:1", False),
)


def sanity_names(zone: str, version: int = 4) -> tuple[tuple[str, bool], ...]:
    """The sanity queries of an IPv4 (``version=4``) or IPv6 list: (name, must exist) pairs,
    ``("2.0.0.127.<zone>", True)`` and ``("1.0.0.127.<zone>", False)`` for IPv4."""
    return tuple((query_name(e.address, zone), e.must_exist) for e in TEST_ENTRIES if e.version == version)


@dataclass(frozen=True)
class Listing:
    """What a list's answer for one address says."""

    zone: str
    #: ``listed``, ``not-listed``, or ``refused``: no verdict ("could not test", see :attr:`reason`)
    status: Status
    #: the answer's addresses, as given
    codes: tuple[str, ...] = ()
    #: for ``listed``: ``spam-source`` if any code says so, else ``policy`` (Spamhaus PBL only)
    kind: Kind = ""
    #: for ``listed``: what each code means, in the order of :attr:`codes`; for ``refused``: why
    reason: str = ""
    spam_codes: tuple[str, ...] = ()  #: the codes that name a spam source
    policy_codes: tuple[str, ...] = ()  #: the codes that name a policy listing (PBL; dynip.pbl)

    @property
    def listed(self) -> bool:
        return self.status == "listed"

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def __str__(self) -> str:
        if self.status == "not-listed":
            return f"not listed in {self.zone}"
        if self.status == "refused":
            return f"{self.zone} gave no verdict: {self.reason}"
        return f"listed in {self.zone} ({self.kind}): {self.reason}"


def _refusal(zone: str, code: str) -> str | None:
    """Why ``code`` is no list answer, or None when it is one (in 127/8, not an error code)."""
    try:
        addr = ipaddress.ip_address(code)
    except ValueError:
        return f"the answer {code!r} is not an IPv4 address"
    if addr.version != 4:
        return f"the answer {code} is not an IPv4 address"
    if addr in _ERRORS:
        # (reserved by Spamhaus; no list uses the range for listings, so it is an error from any)
        meaning = _ERROR_MEANINGS.get(str(addr), "an error code (127.255.255.0/24), not a listing")
        return f"the answer {addr} means {meaning}"
    if str(addr) == _SPAMHAUS_DBL_ERROR and is_spamhaus(zone):
        return f"the answer {addr} means an address was asked of a Spamhaus domain list (DBL)"
    if addr not in _LOOPBACK:
        return (
            f"the answer {addr} is outside 127.0.0.0/8, so it is not a list answer (RFC 5782 §2.1): the "
            "resolver rewrites NXDOMAIN, or the list's domain no longer runs a list"
        )
    return None


def classify(zone: str, addresses: Sequence[str]) -> Listing:
    """What the A records ``addresses`` of a list query in ``zone`` mean (none: not listed).

    Any address that is no list answer makes the whole answer ``refused``, never ``listed`` (catalog
    dnsbl.resolver-usable). Spamhaus codes are told apart (spam source or PBL policy); every other
    list's 127/8 answer is a spam-source listing. Never raises.
    """
    codes = tuple(addresses)
    if not codes:
        return Listing(zone, "not-listed")
    refusals = [r for c in codes if (r := _refusal(zone, c)) is not None]
    if refusals:
        return Listing(zone, "refused", codes, reason="; ".join(dict.fromkeys(refusals)))
    spamhaus = is_spamhaus(zone)
    spam: list[str] = []
    policy: list[str] = []
    meanings: list[str] = []
    for code in codes:
        known = _SPAMHAUS_CODES.get(str(ipaddress.ip_address(code)))
        kind, meaning = known or ("spam-source", "a code mailspec does not know")
        if not spamhaus:
            kind, meaning = "spam-source", "listed"
        (policy if kind == "policy" else spam).append(code)
        meanings.append(f"{code} ({meaning})")
    return Listing(
        zone,
        "listed",
        codes,
        kind="spam-source" if spam else "policy",
        reason="; ".join(meanings),
        spam_codes=tuple(spam),
        policy_codes=tuple(policy),
    )
