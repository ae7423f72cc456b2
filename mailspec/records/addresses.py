"""IP addresses: which are globally reachable (the IANA special-purpose registries of RFC 6890)."""

from __future__ import annotations

import ipaddress

__all__ = ["is_ip_address", "is_public_address", "never_asked"]

#: Special-purpose ranges that are not globally reachable (the IANA registries of RFC 6890, as
#: amended), spelled out so that the verdict does not depend on the Python release's ipaddress table.
_NOT_GLOBAL = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
#: Blocks inside 2001::/23 that are globally reachable (RFC 7723 PCP anycast, RFC 8155 TURN anycast,
#: AMT, AS112, ORCHIDv2)
_GLOBAL_EXCEPTIONS = [
    ipaddress.ip_network(n)
    for n in ("192.0.0.9/32", "192.0.0.10/32", "2001:1::1/128", "2001:1::2/128", "2001:3::/32",
              "2001:4:112::/48", "2001:20::/28")
]  # fmt: skip


def is_ip_address(text: str) -> bool:
    """True for exactly an IPv4 or IPv6 address (no brackets, no zone, no trailing dot): what
    :func:`ipaddress.ip_address` takes. :func:`mailspec.records.hostname.looks_like_ip` is the looser
    test a host name fails (a bracketed literal, a dotted quad out of range)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_public_address(ip: str) -> bool:
    """Whether an address is globally reachable (not private, loopback, documentation, ...).

    Text that is not an IP address is not a public address.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if any(addr in n for n in _GLOBAL_EXCEPTIONS if n.version == addr.version):
        return True
    return not any(addr in n for n in _NOT_GLOBAL if n.version == addr.version)


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def never_asked(ip: str) -> str:
    """Why an address is never sent a question, whatever the user consented to ("" if it may be).

    A waiver of dns.ns.public-address lets mailspec ask the user's own non-public servers, but some
    addresses are no server at all: a question to the unspecified address (0.0.0.0, ::; all of
    0.0.0.0/8 is "this network") is delivered to this very machine, and one to a multicast or the
    broadcast address goes to the hosts of the local network. An IPv4-mapped IPv6 address is judged
    by its IPv4 address.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return f"never asked: {ip!r} is not an IP address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_unspecified or (isinstance(addr, ipaddress.IPv4Address) and addr in _THIS_NETWORK):
        return f"never asked: {ip} is no server's address but 'this host' (0.0.0.0/8, ::): it is this machine"
    if addr.is_multicast or addr == _BROADCAST:
        return f"never asked: {ip} is a multicast or broadcast address, not a name server"
    return ""
