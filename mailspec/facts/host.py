"""What a mail host says of its own MTA, read on the host (pytest-testinfra): the effective settings,
the master.cf services, the listening sockets, the host's addresses, where the role addresses go,
the TLS files and the packet filter. Read once per host and configuration per run
(:mod:`mailspec.hostside`), then frozen: the host checks assert over it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailspec.errors import Indeterminate
from mailspec.facts.dns import DomainDns, MxTarget
from mailspec.records.certs import CertInfo
from mailspec.records.exim import AclStatement, EximConfig
from mailspec.records.postfix import MasterService

__all__ = ["MtaConfig", "RelayProbe", "RoleRoute", "TlsFiles", "this_host_mx"]


@dataclass(frozen=True)
class RoleRoute:
    """Where the MTA sends one address (``postmaster``, ``abuse@example.com``), step by step."""

    address: str
    #: the lookups made, as evidence: ``virtual_alias_maps hash:/etc/postfix/virtual: abuse@x -> root``
    steps: tuple[str, ...] = ()
    #: where it ends: ``local user root``, ``file /var/mail/x``, ``remote abuse@example.net``, or ""
    destination: str = ""
    deliverable: bool = False
    #: why the route could not be read ("" when it was)
    problem: str = ""
    #: the address's domain is in none of the host's address classes (mydestination, virtual alias
    #: or mailbox domains, relay_domains): the host refuses it. A failure where the host is the
    #: domain's MX; elsewhere the host is not the domain's to judge
    foreign: bool = False


@dataclass(frozen=True)
class TlsFiles:
    """The configured certificate and key files, as read on the host."""

    cert_path: str = ""
    key_path: str = ""
    #: why the certificate (key) could not be read or parsed ("" when it was)
    cert_problem: str = ""
    key_problem: str = ""
    #: whether the key is the certificate's (None when either could not be read)
    match: bool | None = None
    cert: CertInfo | None = None
    #: the configured files that do not exist
    absent: tuple[str, ...] = ()
    #: the configured files that exist but that the MTA cannot read as its own user (Exim reads its
    #: TLS files as ``exim_user``): their problem says why
    unreadable: tuple[str, ...] = ()


@dataclass(frozen=True)
class RelayProbe:
    """What Exim's own ACL evaluation answers a relaying attempt from a client outside its networks
    (``exim -bh CLIENT``: a session on standard input, no connection opened, callouts skipped, never
    DATA): the RCPT reply for a recipient at a domain the host does not serve."""

    #: the client Exim is told it talks to (an RFC 5737 documentation address: no packet goes there)
    client: str = ""
    helo: str = ""
    #: the envelope sender ("" for the null sender, ``MAIL FROM:<>``)
    sender: str = ""
    recipient: str = ""
    #: each command sent and Exim's reply (the greeting's command is "")
    replies: tuple[tuple[str, str], ...] = ()
    #: the RCPT reply code (0 when the RCPT ACL was not reached) and its text
    rcpt_code: int = 0
    rcpt: str = ""
    #: why there is no RCPT verdict ("" when there is)
    problem: str = ""
    #: the ACL trace's verdicts and log lines (Exim's standard error), as evidence
    trace: tuple[str, ...] = ()
    #: how the RCPT ACL ended, as its trace says (``ACCEPT``, ``DENY``, ``DISCARD``, ``DEFER``, ``not
    #: OK``, ``implicit DENY``; "" when the trace did not say), and the statement that decided (its
    #: verb and the conditions the trace shows it checked; None when none did) and where it is
    decision: str = ""
    decided_by: AclStatement | None = None
    where: str = ""
    #: the interface the session was told it came in on (``-oMi ADDRESS.PORT``), "" when none
    interface: str = ""

    @property
    def definite(self) -> bool:
        return not self.problem and bool(self.rcpt_code)


@dataclass(frozen=True)
class MtaConfig:
    """One host's MTA (Postfix or Exim), as its own tools report it."""

    #: the testinfra host's id (``local``, ``mx1``)
    host: str
    #: ``postfix``, ``exim``, or "" when neither was found
    mta: str = ""
    #: the configuration directory (Postfix ``-c``) or file (Exim ``-C``) read; "" for the default
    config: str = ""
    #: why the configuration could not be read at all ("" when it was)
    problem: str = ""
    #: the effective settings (Postfix ``postconf -x``; Exim ``exim -bP``)
    values: dict[str, str] = field(default_factory=dict)
    #: the settings that differ from the defaults (Postfix ``postconf -n``)
    nondefault: dict[str, str] = field(default_factory=dict)
    #: the master.cf services (Postfix ``postconf -M``)
    services: tuple[MasterService, ...] = ()
    #: the host's own addresses (``ip -o addr``)
    addresses: tuple[str, ...] = ()
    #: the listening TCP sockets, (address, port); ``0.0.0.0`` / ``::`` for the wildcard
    listening: tuple[tuple[str, int], ...] = ()
    #: why each part could not be read, by part: "master.cf", "sockets", "addresses", "hostname",
    #: "firewall", a setting's name
    unread: dict[str, str] = field(default_factory=dict)
    #: the addresses the host's own resolver gives its MTA host name (``getent ahosts``)
    hostname_ips: tuple[str, ...] = ()
    #: where each role address goes, by address (bare and per surveyed domain)
    roles: dict[str, RoleRoute] = field(default_factory=dict)
    #: the (first) key and certificate pair the server offers; ``more_tls``: the other pairs of
    #: Postfix's ``smtpd_tls_chain_files`` (an RSA and an ECDSA certificate, say)
    tls: TlsFiles | None = None
    more_tls: tuple[TlsFiles, ...] = ()
    #: what each ``check_recipient_access`` table of the RCPT restrictions says of each role address
    #: (Postfix), by ``table|key``; "" when the table has no entry for it
    access: dict[str, str] = field(default_factory=dict)
    #: every entry of each ``check_recipient_access`` table that ``postmap -s`` could list (hash,
    #: btree, lmdb, cdb, texthash), by table: (key, result) pairs
    access_entries: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: the packet filter's rules as they stand (``nft list ruleset`` or ``iptables -S``), and which
    firewall: str = ""
    firewall_tool: str = ""
    #: the entries of each ``mynetworks`` element that is a file or a ``cidr:`` table, by element
    #: (an element that could not be listed is unread as ``mynetworks ELEMENT``)
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Exim's whole configuration as it read it (``exim -bP config``: its ACLs and named lists);
    #: None when it was not read (unread ``exim config``) and for Postfix
    exim_config: EximConfig | None = None
    #: whether each file that Exim's ACLs use only while it exists (Debian's ``${if exists{FILE}{FILE}{}}``
    #: lists) exists, by path; a file whose existence could not be told is not there
    acl_files: dict[str, bool] = field(default_factory=dict)
    #: Exim's transports and their options, defaults included (``exim -bP transports``), by name
    transports: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Exim's answer to a relaying attempt (``exim -bh``); None for Postfix
    relay_probe: RelayProbe | None = None
    #: the commands run and what they said, for the evidence
    commands: tuple[str, ...] = ()

    @property
    def definite(self) -> bool:
        return not self.problem

    def evidence(self) -> list[str]:
        return list(self.commands)

    @property
    def hostname(self) -> str:
        """The MTA's own host name: ``myhostname`` (Postfix), ``primary_hostname`` (Exim)."""
        return self.values.get("myhostname" if self.mta == "postfix" else "primary_hostname", "")

    def listens_on(self, ip: str, port: int) -> bool:
        """Whether a TCP socket listens on ``ip`` at ``port`` (the wildcard of its family counts)."""
        family = 6 if ":" in ip else 4
        for addr, p in self.listening:
            if p != port:
                continue
            if addr in ("*", "0.0.0.0", "::") and (addr != "0.0.0.0" or family == 4):
                return True
            if _same(addr, ip):
                return True
        return False

    def service(self, name: str, type_: str = "inet") -> list[MasterService]:
        return [s for s in self.services if s.type == type_ and s.port == name]


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b)
    except ValueError:
        return False


def this_host_mx(config: MtaConfig, dns: DomainDns) -> list[MxTarget]:
    """The domain's MX hosts that are this host: an address among the host's own, or the name that
    is the MTA's host name."""
    own: Sequence[str] = config.addresses
    name = config.hostname.lower().rstrip(".")
    if not dns.mx.definite:
        raise Indeterminate(f"could not test: the MX records of {dns.domain}: {dns.mx.problem}")
    out = []
    for t in dns.mx_targets:
        if t.name and t.name != "." and not t.definite:
            # (which hosts it names, or which families it publishes, is not known)
            raise Indeterminate(
                f"could not test: the addresses of {dns.domain}'s MX host {t.name}: {t.problem}"
            )
        if not t.name or t.name == ".":
            continue
        if t.name.lower().rstrip(".") == name or any(_same(a, ip) for ip in t.ips for a in own):
            out.append(t)
    return out
