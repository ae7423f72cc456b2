"""Reverse DNS: the reverse name of an address, and whether a PTR name looks generic (dynamic).

:func:`generic_rdns` is CATALOG.md Appendix A: the generic rules of SpamAssassin's
``rules/20_dynrdns.cf`` (the ``__RDNS_DYNAMIC_*`` and ``__RDNS_INDICATOR_*`` rules that are not about
one provider), mailspec's lower-confidence additions, and SpamAssassin's static exception. It is a
heuristic: a hit is a WARN (dynip.rdns-generic), never proof.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["GenericMatch", "generic_rdns", "reverse_name"]

# SpamAssassin matches its rules against the rdns= token of X-Spam-Relays-External; here against the
# PTR name alone, so its "rdns=\S*" prefix becomes an unanchored search and "rdns=" an anchor. ASCII:
# Perl's \d and \s, not Unicode's. Case-insensitive for every rule, as Appendix A says (SpamAssassin
# leaves off /i on DIALIN, HEXIP and SPLIT_IP; PTR names are case-insensitive, RFC 4343).
_FLAGS = re.ASCII | re.IGNORECASE

#: The generic rules, in 20_dynrdns.cf's order: (label, pattern, low confidence).
_RULES: tuple[tuple[str, re.Pattern[str], bool], ...] = tuple(
    (label, re.compile(pattern, _FLAGS), low)
    for label, pattern, low in (
        # the address embedded as four digit groups: c-67-168-174-61.client.comcast.net
        ("__RDNS_DYNAMIC_IPADDR", r"\d+[^\d\s]\d+[^\d\s]\d+[^\d\s]\d+\S*\.\S+\.\S", False),
        # an access-type token, then digits: dhcp024-210-034-053.columbus.rr.com, cm89.omega139...
        ("__RDNS_DYNAMIC_DHCP", r"(?:cm|catv|docsis|cable|dsl|dhcp|cpe|node)\S*\d+[^\d\s]+\d", False),
        # digits, then a type label: fia83-8.dsl.hccnet.nl
        ("__RDNS_DYNAMIC_HCC", r"\d+[^\d\s]+\d+\S*\.(?:docsis|cable|dsl|adsl|dhcp|cpe)\.", False),
        # T-Online's dial-in names: pD9E4F89F.dip.t-dialin.net
        ("__RDNS_DYNAMIC_DIALIN", r"^[a-z][A-F0-9]+\.dip\.", False),
        # the address in hex: 0xd5aaf40b.dhcp.kabelnettet.dk
        ("__RDNS_DYNAMIC_HEXIP", r"^0x[a-f0-9]{8}\.", False),
        # the address split around a word: 118.Red-80-35-201.pooles.rima-tde.net
        ("__RDNS_DYNAMIC_SPLIT_IP", r"^\d+\.\S+\d+[^\d\s]\d+[^\d\s]\d+[^\d\s]", False),
        # the host-type indicators of draft-msullivan-dnsop-generic-naming-schemes-00
        ("__RDNS_INDICATOR_DYN", r"[-.]dyn(?:amic)?[-.]", False),
        # 20_dynrdns.cf defines this one but leaves it out of its RDNS_DYNAMIC meta rule ("surprisingly
        # large ham hitrate"): a hit on it alone is low confidence
        ("__RDNS_INDICATOR_TYPE", r"[-.](?:dial|modem|isdn|dov|\S?dsl|cable|wireless)[-.]", True),
        ("__RDNS_INDICATOR_RES", r"[-.](?:res|resnet|client)[-.]", False),
        ("__RDNS_INDICATOR_TYPE2", r"[-.](?:docsis|dhcp|cpe|catv)[-.]", False),
        # dsl.dynamic8510023760.ttnet.net.tr
        ("__RDNS_DYNAMIC_TTNET", r"[-.]dyn(?:amic)?\d", False),
    )
)

#: mailspec's additions (Appendix A): tokens of SpamAssassin's provider-specific rules and examples
#: (pool-151-203-32-68.bos.east.verizon.net, c221106.ppp.asahi-net.or.jp, ...-cust190.lond.broadband
#: .ntl.com, MG001182.user.veloxzone.com.br), as a whole dot- or hyphen-separated part of the name,
#: digits allowed after it (cust190). And T-Online's names of today, p5DC4A1B2.dip0.t-ipconnect.de,
#: which DIALIN's ".dip." (the t-dialin.net names of 2005) no longer matches.
_ADDITIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    *(
        (f"mailspec:{token}", re.compile(rf"(?:^|[-.]){token}\d*(?:[-.]|$)", _FLAGS))
        for token in ("pool", "ppp", "adsl", "cust", "broadband", "user")
    ),
    ("mailspec:dip", re.compile(r"^[a-z][A-F0-9]+\.dip\d+\.", _FLAGS)),
)

#: SpamAssassin's __RDNS_STATIC (bug 5397): the token anywhere in the name suppresses every hit.
_STATIC = re.compile(r"fix|static|fixip", _FLAGS)


@dataclass(frozen=True)
class GenericMatch:
    """Which generic-name rule a PTR name matched, and on what."""

    label: str  #: the first rule that matched: ``__RDNS_DYNAMIC_IPADDR``, ``mailspec:pool``
    text: str  #: the part of the name that rule matched
    #: a rule SpamAssassin does not count (its INDICATOR_TYPE) or a mailspec addition: say "may be"
    low_confidence: bool
    #: every rule that matched, ``label`` first (the additions only when no SpamAssassin rule did)
    labels: tuple[str, ...] = ()

    def __str__(self) -> str:
        how = "may look" if self.low_confidence else "looks"
        return f"{how} generic ({self.label} matched {self.text!r})"


def generic_rdns(name: str) -> GenericMatch | None:
    """The generic/dynamic-name rule ``name`` (a PTR name) matches, or None (Appendix A).

    A name that contains ``fix``, ``static`` or ``fixip`` anywhere matches nothing (SpamAssassin's
    exception, kept as it is: it is a substring, so "prefix" suppresses too). The trailing dot of an
    absolute name is ignored. Never raises.
    """
    text = name[:-1] if name.endswith(".") else name
    if _STATIC.search(text):
        return None
    hits = [(label, m, low) for label, rule, low in _RULES if (m := rule.search(text))]
    hits.sort(key=lambda hit: hit[2])  # a confident rule speaks first (the sort is stable)
    if not hits:
        hits = [(label, m, True) for label, rule in _ADDITIONS if (m := rule.search(text))]
    if not hits:
        return None
    label, m, low = hits[0]
    return GenericMatch(label, m.group(0), low, tuple(h[0] for h in hits))


def reverse_name(ip: str) -> str:
    """The reverse-tree name of an address, with the trailing dot: ``25.2.0.192.in-addr.arpa.``, or
    the 32 nibbles of an IPv6 address under ``ip6.arpa.`` (RFC 3596 §2.5).

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``, how a dual-stack socket shows an IPv4 peer) is
    that IPv4 address, whose PTR is in in-addr.arpa (as dnspython's ``from_address`` does); an IPv6
    zone index (``%eth0``) is ignored. Raises ValueError for text that is not an IP address.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(f"{ip!r} is not an IP address") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.version == 4:
        return ".".join(reversed(str(addr).split("."))) + ".in-addr.arpa."
    # from the packed form: ipaddress's own reverse_pointer fails on a scoped address
    return ".".join(reversed(addr.packed.hex())) + ".ip6.arpa."
