"""Rendering scenarios into a lab plan: zone texts and the servers that serve them.

The plan is plain data (frozen dataclasses, zone-file text, addresses), so that it can drive the
embedded asyncio server (``dns_server.py``) as well as real NSD and Unbound instances:

* every scenario zone is delegated from ``test.``, which the *registry* (``nic.test``,
  127.0.1.1) serves together with ``127.in-addr.arpa``, the ``::1`` reverse zone when a scenario
  gives ``::1`` a PTR, top-level extra zones (e.g. ``10.``) and extra zones that name no servers;
* each scenario name server address is one :class:`ServerPlan`; a ``stale`` one carries the zone
  rendered with its older serial, a ``refused`` or ``silent`` one carries no zone;
* the resolver (127.0.0.153) is listed with every zone in its current version. A runner built on
  Unbound skips that entry and makes one stub zone per :attr:`LabPlan.stub_zones` entry instead;
* the registry also serves the lab's blocklists: ``dnsbl.test`` (RFC 5782 section 5 test entries and
  every address a scenario's ``[dnsbl]`` lists) and three broken lists below it for the "could not
  test" cases: ``refusing.dnsbl.test`` answers 127.255.255.254 for everything (Spamhaus' refusal of
  public resolvers), ``wild.dnsbl.test`` lists everything (a dead, wildcarded list) and
  ``badanswer.dnsbl.test`` answers 10.0.0.1, outside 127/8.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.name
import dns.reversename
import dns.zone

from .scenario import (
    DEFAULT_SERIAL,
    NameServerSpec,
    ResolverKnobs,
    Scenario,
    ScenarioError,
    Soa,
    Zone,
    check_together,
)

__all__ = [
    "DNSBL_BADANSWER",
    "DNSBL_REFUSING",
    "DNSBL_WILD",
    "DNSBL_ZONE",
    "REGISTRY_IP",
    "REGISTRY_NAME",
    "RESOLVER_IP",
    "REVERSE_V4",
    "LabPlan",
    "ServerMode",
    "ServerPlan",
    "build_lab",
    "parse_zone",
]

#: The recursive resolver every client of the lab is pointed at.
RESOLVER_IP = "127.0.0.153"
#: The registry: authoritative for test., the reverse zones and the top-level extra zones.
REGISTRY_IP = "127.0.1.1"
REGISTRY_NAME = "nic.test"
REVERSE_V4 = "127.in-addr.arpa"
LAB_SOA = Soa(serial=DEFAULT_SERIAL)

#: The lab's blocklist, and its three broken siblings (each a zone of its own, so a survey can be
#: pointed at one with ``--mail-dnsbl``).
DNSBL_ZONE = "dnsbl.test"
DNSBL_REFUSING = "refusing.dnsbl.test"
DNSBL_WILD = "wild.dnsbl.test"
DNSBL_BADANSWER = "badanswer.dnsbl.test"
#: RFC 5782 section 5: every IPv4 list lists 127.0.0.2 and never 127.0.0.1; IPv6 lists ::FFFF:7F00:2.
DNSBL_TEST_V4 = "127.0.0.2"
DNSBL_TEST_V6 = "::ffff:7f00:2"
DNSBL_LISTED_TXT = "listed by the mailspec lab"
#: what each broken list answers for every name
_BROKEN_LISTS = {
    DNSBL_REFUSING: ("127.255.255.254", "mailspec lab: queries through public resolvers are refused"),
    DNSBL_WILD: ("127.0.0.2", "mailspec lab: this list lists everything"),
    DNSBL_BADANSWER: ("10.0.0.1", "mailspec lab: this list answers outside 127/8"),
}

ServerMode = Literal["resolver", "authoritative", "refused", "silent", "recursive"]
#: how a scenario name server's mode maps to what its address does
_SERVER_MODES: dict[str, ServerMode] = {
    "current": "authoritative",
    "stale": "authoritative",
    "refused": "refused",
    "silent": "silent",
    "recursive": "recursive",
}


@dataclass(frozen=True)
class ServerPlan:
    """One address of the lab and what it does there (UDP and TCP, one port for all)."""

    ip: str
    #: ``resolver``: recursive answers from every zone (RA=1); ``authoritative``: AA=1 for its zones,
    #: referrals below them, REFUSED elsewhere; ``refused``: REFUSED to everything; ``silent``: never
    #: answers; ``recursive``: authoritative for its zones, an open resolver for the rest.
    mode: ServerMode
    #: origin (no trailing dot) -> zone text this address serves (a stale server's older version)
    zones: dict[str, str] = field(default_factory=dict)
    #: origins it gives a zone transfer (AXFR over TCP) to any client
    axfr: tuple[str, ...] = ()
    #: host names that point at it
    names: tuple[str, ...] = ()
    #: the scenario it belongs to ("" for the lab's own resolver and registry)
    scenario: str = ""


@dataclass(frozen=True)
class LabPlan:
    """Everything a lab serves, as data."""

    #: origin (no trailing dot) -> current zone text, for every zone of the lab
    zones: dict[str, str]
    #: one entry per address, the resolver first, then the registry, then the scenarios' servers
    servers: tuple[ServerPlan, ...]
    #: the scenarios' domains, in scenario order
    domains: tuple[str, ...]
    #: domain -> resolver knobs, for the domains that set any
    resolver_knobs: dict[str, ResolverKnobs]
    #: zones a resolver must be pointed at (stub zones) -> the addresses serving them
    stub_zones: dict[str, tuple[str, ...]]
    #: zone origin -> the scenario that defines it ("" for the lab's own)
    zone_scenarios: dict[str, str]
    resolver_ip: str = RESOLVER_IP
    registry_ip: str = REGISTRY_IP

    def server(self, ip: str) -> ServerPlan:
        for plan in self.servers:
            if plan.ip == ip:
                return plan
        raise KeyError(ip)

    def knobs_for(self, name: str) -> ResolverKnobs | None:
        """The resolver knobs that apply to *name* (the most specific domain at or above it)."""
        name = name.rstrip(".").lower()
        best: tuple[int, ResolverKnobs] | None = None
        for domain, knobs in self.resolver_knobs.items():
            if (name == domain or name.endswith("." + domain)) and (best is None or len(domain) > best[0]):
                best = (len(domain), knobs)
        return best[1] if best else None


def parse_zone(origin: str, text: str) -> dns.zone.Zone:
    """A zone text as a dnspython zone with absolute names."""
    return dns.zone.from_text(text, origin=origin + ".", relativize=False, check_origin=True)


def build_lab(scenarios: Sequence[Scenario]) -> LabPlan:
    """Render *scenarios* into a :class:`LabPlan`; every zone text is parsed here, so a typo is a
    :class:`ScenarioError` naming the scenario."""
    return _Builder(scenarios).build()


# --------------------------------------------------------------------------- rendering


def _below(name: str, ancestor: str) -> bool:
    return name == ancestor or name.endswith("." + ancestor)


def _address_line(host: str, ip: str) -> str:
    kind = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
    return f"{host}. IN {kind} {ip}"


def _header(origin: str, soa: Soa, ttl: int, servers: Sequence[str]) -> list[str]:
    # The shared lab's convention: an RNAME with a dot is absolute, a bare label is relative.
    rname = soa.rname.rstrip(".") if "." in soa.rname else f"{soa.rname}.{origin}"
    return [
        f"; {origin}: generated by the mailspec lab",
        f"$ORIGIN {origin}.",
        f"$TTL {ttl}",
        f"@ IN SOA {servers[0]}. {rname}. "
        f"( {soa.serial} {soa.refresh} {soa.retry} {soa.expire} {soa.minimum} )",
        *(f"@ IN NS {host}." for host in servers),
    ]


def _block(origin: str, ttl: int, title: str, text: str) -> list[str]:
    # $ORIGIN/$TTL again, so that directives inside one block cannot leak into the next.
    body = text.strip("\n")
    return [f"; --- {title}", f"$ORIGIN {origin}.", f"$TTL {ttl}", body] if body.strip() else []


def _join(lines: Iterable[str]) -> str:
    return "\n".join(lines) + "\n"


def dnsbl_name(ip: str, zone: str = DNSBL_ZONE) -> str:
    """RFC 5782 sections 2.1 and 2.4: reversed octets (IPv4) or nibbles (IPv6) under *zone*."""
    address = ipaddress.ip_address(ip)
    labels = str(address).split(".") if address.version == 4 else list(address.exploded.replace(":", ""))
    return ".".join(reversed(labels)) + f".{zone}"


@dataclass
class _ServerAcc:
    mode: ServerMode
    scenario: str
    zones: dict[str, str] = field(default_factory=dict)
    axfr: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, scenarios: Sequence[Scenario]) -> None:
        self.scenarios = list(scenarios)
        self.zones: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        self.servers: dict[str, _ServerAcc] = {}
        self.registry_zones: list[str] = []
        self.delegations: list[str] = []
        self.registry_hosts: list[str] = []
        self.registry_blocks: list[str] = []

    def build(self) -> LabPlan:
        check_together(self.scenarios)
        for sc in self.scenarios:
            for zone in sc.zones:
                self._scenario_zone(sc, zone)
        for sc in self.scenarios:
            self._nameserver_hosts(sc)
            self._registry_records(sc)
        self._dnsbl_zones()
        self._add("", "test", self._test_zone())
        self.registry_zones.insert(0, "test")
        self._reverse_zones()

        registry = ServerPlan(
            ip=REGISTRY_IP,
            mode="authoritative",
            zones={origin: self.zones[origin] for origin in self.registry_zones},
            axfr=tuple(o for o in self.registry_zones if self._axfr_open(o)),
            names=(REGISTRY_NAME,),
        )
        resolver = ServerPlan(ip=RESOLVER_IP, mode="resolver", zones=dict(self.zones))
        scenario_servers = tuple(
            ServerPlan(
                ip=ip,
                mode=acc.mode,
                zones=acc.zones,
                axfr=tuple(acc.axfr),
                names=tuple(acc.names),
                scenario=acc.scenario,
            )
            for ip, acc in sorted(self.servers.items(), key=lambda item: ipaddress.ip_address(item[0]))
        )
        stub: dict[str, tuple[str, ...]] = {
            o: (REGISTRY_IP,)
            for o in self.registry_zones
            if not any(_below(o, p) and o != p for p in self.registry_zones)
        }
        return LabPlan(
            zones=dict(self.zones),
            servers=(resolver, registry, *scenario_servers),
            domains=tuple(sc.domain for sc in self.scenarios),
            resolver_knobs={sc.domain: sc.resolver for sc in self.scenarios if sc.resolver.active},
            stub_zones=stub,
            zone_scenarios=dict(self.owner),
        )

    def _axfr_open(self, origin: str) -> bool:
        return any(z.name == origin and z.axfr == "open" for sc in self.scenarios for z in sc.zones)

    def _add(self, scenario: str, origin: str, text: str) -> dns.zone.Zone:
        try:
            parsed = parse_zone(origin, text)
        except (dns.exception.DNSException, ValueError) as exc:
            where = scenario or "lab"
            raise ScenarioError(f"{where}: zone {origin} does not parse: {exc}") from exc
        self.zones[origin] = text
        self.owner[origin] = scenario
        return parsed

    # ------------------------------------------------------------------ scenario zones

    def _scenario_zone(self, sc: Scenario, zone: Zone) -> None:
        apex = [ns.host for ns in zone.apex_nameservers] if zone.nameservers else [REGISTRY_NAME]
        header = _header(zone.name, zone.soa, zone.ttl, apex)
        records = _block(zone.name, zone.ttl, f"records of {sc.name}", zone.records)
        # Parse once without glue to learn which names the records define: a name server host the
        # records make a CNAME (the ns.no-cname case) must not also get an address record.
        defined = self._add(sc.name, zone.name, _join(header + records))
        glue = []
        for ns in self._hosts(sc):
            if _below(ns.host, zone.name) and defined.get_node(dns.name.from_text(ns.host)) is None:
                glue.append(_address_line(ns.host, ns.ip))
        glue = list(dict.fromkeys(glue))
        text = _join(header + glue + records)
        self._add(sc.name, zone.name, text)

        if not zone.nameservers:
            self.registry_zones.append(zone.name)
        else:
            for ns in zone.nameservers:
                self._serve(sc, zone, ns, glue, records, apex, text)
        if zone.name.endswith(".test"):
            label = zone.name.removesuffix(".test")
            servers = [ns.host for ns in zone.delegation] or [REGISTRY_NAME]
            self.delegations += [
                f"; {zone.name} ({sc.name})",
                *(f"{label} IN NS {host}." for host in servers),
            ]
            for ns in zone.delegation:
                if _below(ns.host, zone.name):
                    self.delegations.append(_address_line(ns.host, ns.ip))

    def _serve(
        self,
        sc: Scenario,
        zone: Zone,
        ns: NameServerSpec,
        glue: list[str],
        records: list[str],
        apex: list[str],
        text: str,
    ) -> None:
        mode = _SERVER_MODES[ns.mode]
        acc = self.servers.setdefault(ns.ip, _ServerAcc(mode=mode, scenario=sc.name))
        if acc.mode != mode:
            raise ScenarioError(f"{sc.name}: {ns.ip} cannot be both {acc.mode} and {mode}")
        if ns.host not in acc.names:
            acc.names.append(ns.host)
        if mode in ("refused", "silent"):
            return
        if ns.mode == "stale" and ns.serial is not None:
            soa = Soa(
                ns.serial, zone.soa.refresh, zone.soa.retry, zone.soa.expire, zone.soa.minimum, zone.soa.rname
            )
            stale = _join(_header(zone.name, soa, zone.ttl, apex) + glue + records)
            try:
                parse_zone(zone.name, stale)
            except (dns.exception.DNSException, ValueError) as exc:
                raise ScenarioError(f"{sc.name}: stale zone {zone.name} does not parse: {exc}") from exc
            acc.zones[zone.name] = stale
        else:
            acc.zones[zone.name] = text
        if zone.axfr == "open" and zone.name not in acc.axfr:
            acc.axfr.append(zone.name)

    @staticmethod
    def _hosts(sc: Scenario) -> list[NameServerSpec]:
        return [ns for zone in sc.zones for ns in zone.nameservers]

    def _nameserver_hosts(self, sc: Scenario) -> None:
        """Hosts in none of the scenario's zones get their address in test., like a registry host
        object; a host inside another zone of the lab would be occluded there, so it is refused."""
        own = [z.name for z in sc.zones]
        for ns in self._hosts(sc):
            if any(_below(ns.host, z) for z in own):
                continue
            inside = [z for z in self.zones if z != "test" and _below(ns.host, z)]
            if inside:
                raise ScenarioError(
                    f"{sc.name}: name server {ns.host} lies in zone {inside[0]} of "
                    f"{self.owner[inside[0]] or 'the lab'}; define it in one of the scenario's own zones"
                )
            line = _address_line(ns.host, ns.ip)
            if line not in self.registry_hosts:
                self.registry_hosts.append(line)

    def _registry_records(self, sc: Scenario) -> None:
        if not sc.registry_records.strip():
            return
        block = _block("test", 3600, f"registry records of {sc.name}", sc.registry_records)
        probe = _header("test", LAB_SOA, 3600, [REGISTRY_NAME]) + block
        try:
            parsed = parse_zone("test", _join(probe))
        except (dns.exception.DNSException, ValueError) as exc:
            raise ScenarioError(f"{sc.name}: [registry] records do not parse: {exc}") from exc
        for name in parsed.nodes:
            owner = name.to_text(omit_final_dot=True).lower()
            if owner == "test":
                continue
            if not _below(owner, sc.domain):
                raise ScenarioError(f"{sc.name}: [registry] record {owner} is not at or below {sc.domain}")
            inside = [z for z in self.zones if z != "test" and _below(owner, z)]
            if inside:
                raise ScenarioError(
                    f"{sc.name}: [registry] record {owner} would be hidden by zone {inside[0]}"
                )
        self.registry_blocks += block

    # ------------------------------------------------------------------ the blocklists

    def _dnsbl_zones(self) -> None:
        def entry(ip: str, txt: str) -> list[str]:
            name = dnsbl_name(ip)
            return [f"{name}. IN A 127.0.0.2", f'{name}. IN TXT "{txt}"']

        lines = _header(DNSBL_ZONE, LAB_SOA, 300, [REGISTRY_NAME])
        lines += entry(DNSBL_TEST_V4, "RFC 5782 test entry") + entry(DNSBL_TEST_V6, "RFC 5782 test entry")
        for sc in self.scenarios:
            for ip in sc.dnsbl_listed:
                lines += entry(ip, f"{DNSBL_LISTED_TXT} ({sc.name})")
        # The broken lists are zones of their own, delegated from dnsbl.test to the registry.
        lines += [f"{zone}. IN NS {REGISTRY_NAME}." for zone in _BROKEN_LISTS]
        self._add("", DNSBL_ZONE, _join(dict.fromkeys(lines)))
        self.registry_zones.append(DNSBL_ZONE)
        self.delegations += [f"; {DNSBL_ZONE} (the lab's)", f"dnsbl IN NS {REGISTRY_NAME}."]
        for zone, (address, txt) in _BROKEN_LISTS.items():
            body = [f"@ IN A {address}", f'@ IN TXT "{txt}"', f"* IN A {address}", f'* IN TXT "{txt}"']
            self._add("", zone, _join(_header(zone, LAB_SOA, 300, [REGISTRY_NAME]) + body))
            self.registry_zones.append(zone)

    # ------------------------------------------------------------------ the registry's zones

    def _test_zone(self) -> str:
        lines = _header("test", LAB_SOA, 3600, [REGISTRY_NAME])
        lines += [_address_line(REGISTRY_NAME, REGISTRY_IP), *self.registry_hosts]
        lines += ["; --- delegations", *self.delegations]
        lines += self.registry_blocks
        return _join(lines)

    def _reverse_zones(self) -> None:
        v4: list[str] = []
        v6: dict[str, list[str]] = {}
        for sc in self.scenarios:
            for ip, host in sc.ptr:
                reverse = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
                if ipaddress.ip_address(ip).version == 4:
                    v4.append(f"{reverse}. IN PTR {host}.")
                else:
                    v6.setdefault(reverse, []).append(f"@ IN PTR {host}.")
        header = _header(REVERSE_V4, LAB_SOA, 3600, [REGISTRY_NAME])
        self._add("", REVERSE_V4, _join(header + v4))
        self.registry_zones.append(REVERSE_V4)
        for origin, records in v6.items():
            self._add("", origin, _join(_header(origin, LAB_SOA, 3600, [REGISTRY_NAME]) + records))
            self.registry_zones.append(origin)
