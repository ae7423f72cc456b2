"""Real Exim configurations for the host checks (``mailspec.hostchecks``, CATALOG.md §19): one
:data:`GOOD` host that passes every check Exim is judged on, and per check id one broken host
(:data:`BROKEN`), each a small delta from the good one that makes exactly that check fail (or warn,
where the catalog says WARN); :data:`VARIANTS` break some checks a second way, and
:data:`GOOD_VARIANTS` configure the good host differently without breaking anything.

A host here is what the host checks read of it (:class:`EximHost`): an Exim configuration file (the
main options, ACLs, routers and transports of a small MX host), its aliases file, its certificates
and keys, the host's ``/etc/hosts``, ``/etc/passwd`` and ``/etc/group`` (the user Debian's exim4 is
built to run as, ``Debian-exim``, and the local user the role addresses reach, ``mailadmin``), its
packet filter's rules (as ``nft list ruleset`` prints them), and the port its Exim daemon listens on.

Everything is on loopback, in 127.0.14.128-127.0.14.191 (which neither a packaged scenario nor the
Postfix host cases use): the MX host ``mx.eximcheck.test`` of :data:`DOMAIN` is :data:`MX_IP` (and
``::1`` where the machine has it), its name server :data:`NS_IP` (:func:`scenario_toml` is the lab
DNS of the domain), and :data:`OUTSIDE_IP` the client that is none of the host's own (the daemons are
asked from there whether they relay, and whether they take the role addresses). Nothing leaves a
host: the daemon's DATA is refused by its predata ACL, it never looks a client up (``host_lookup``,
``rfc1413_hosts`` empty), its DNS blocklist ``bl.example`` is asked of the dead loopback resolver
(:data:`NOWHERE_DNS`), and its spool, log and pid file live in the host's own folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "BROKEN",
    "CONFIGS",
    "DOMAIN",
    "EXIM_USER",
    "GOOD",
    "GOOD_VARIANTS",
    "MAIL_ADMIN",
    "MX_HOST",
    "MX_IP",
    "NS_IP",
    "OUTSIDE_IP",
    "VARIANTS",
    "EximHost",
    "HostFiles",
    "Users",
    "private_users",
    "scenario_toml",
    "write_host",
]

DOMAIN = "eximcheck.test"
MX_HOST = f"mx.{DOMAIN}"
#: the MX host's address: where every host's Exim daemon listens (each on a port of its own)
MX_IP = "127.0.14.128"
#: the name server of DOMAIN in the lab DNS
NS_IP = "127.0.14.129"
#: the resolver of the hosts' /etc/resolv.conf: nothing answers there, so that a name Exim or the
#: host checks look up beyond /etc/hosts gets no answer at once instead of leaving loopback
NOWHERE_DNS = "127.0.14.191"
#: an address that is no address of this host (TEST-NET-2, RFC 5737), never connected to
ELSEWHERE = "198.51.100.26"
#: the loopback address the daemons are asked from as a client outside the host's networks (not in
#: relay_from_hosts); the broken role-filter hosts list it as a blocked client
OUTSIDE_IP = "127.0.14.190"
#: the DNS blocklist of the role-filter hosts: its queries go to NOWHERE_DNS, which never answers
BLOCKLIST = "bl.example"
#: the user Debian's exim4 is built to run as (EXIM_USER, looked up by name when it starts)
EXIM_USER = "Debian-exim"
#: the local user the role aliases deliver to
MAIL_ADMIN = "mailadmin"
#: days a certificate is valid, and how many the nearly expired one has left
VALID_DAYS = 90
EXPIRING_DAYS = 5

GOOD_ALIASES = (("postmaster", MAIL_ADMIN), ("abuse", MAIL_ADMIN), ("hostmaster", MAIL_ADMIN))

Certificate = Literal[
    "lab", "expiring", "expired", "wrong-name", "other-key", "dual", "combined", "root-only", "closed-folder"
]
Filter = Literal["reject", "drop"]
Listen = Literal["mx", "loopback"]

#: the main options of the good host, in order; ``{base}`` is the host's folder, ``{port}`` its SMTP
#: port, ``{interfaces}`` the addresses it listens on; TLS settings come from the certificate
GOOD_MAIN: tuple[tuple[str, str], ...] = (
    ("primary_hostname", MX_HOST),
    ("spool_directory", "{base}/spool"),
    ("log_file_path", "{base}/log/%slog"),
    ("pid_file_path", "{base}/exim.pid"),
    ("local_interfaces", "{interfaces}"),
    ("daemon_smtp_ports", "{port}"),
    ("acl_smtp_connect", "acl_check_connect"),
    ("acl_smtp_rcpt", "acl_check_rcpt"),
    ("acl_smtp_predata", "acl_check_predata"),
    # (Exim 4.94 and later offer PIPECONNECT to every host by default, and then take early input as
    # pipelined EHLO: the good host offers it to nobody)
    ("pipelining_connect_advertise_hosts", ""),
    ("tls_advertise_hosts", "*"),
    # A lab host: no DNS or ident lookups of clients, a clean environment.
    ("host_lookup", ""),
    ("rfc1413_hosts", ""),
    ("keep_environment", ""),
)


#: the named lists of the good host's main section, in order: (``kind NAME``, value)
GOOD_LISTS: tuple[tuple[str, str], ...] = (
    ("domainlist local_domains", f"@ : {DOMAIN}"),
    ("hostlist relay_from_hosts", "<; 127.0.0.1 ; ::1"),
)

#: the good host's RCPT ACL, in parts: local submissions, the role addresses, the hosts it relays
#: for, then only its own domains (Exim's default configuration, with abuse beside postmaster)
LOCAL_SUBMISSION = "accept hosts = :"
RELAY_GUARD = "require message = relay not permitted\n        domains = +local_domains"
RELAY_PART = f"accept hosts = +relay_from_hosts\n{RELAY_GUARD}\naccept"


def rcpt_with(before_roles: str = "", after_roles: str = "", *, roles: str = "postmaster : abuse") -> str:
    """The good host's RCPT ACL, with statements before and after the role addresses' accept."""
    accept_roles = f"accept local_parts = {roles}\n       domains = +local_domains"
    parts = (LOCAL_SUBMISSION, before_roles, accept_roles, after_roles, RELAY_PART)
    return "\n".join(p for p in parts if p)


GOOD_RCPT = rcpt_with()
#: the RCPT ACL without its relay guard: its final accept takes any recipient
OPEN_RCPT = GOOD_RCPT.replace(RELAY_GUARD + "\n", "")
#: the good host's ACLs, in order: (name, statements)
GOOD_ACLS: tuple[tuple[str, str], ...] = (
    # (early talkers show themselves in the second before the greeting)
    ("acl_check_connect", "accept delay = 1s"),
    ("acl_check_rcpt", GOOD_RCPT),
    ("acl_check_predata", "deny message = this lab host takes no mail"),
    ("acl_check_vrfy", "accept"),
)


def open_rcpt_behind(statement: str) -> str:
    """The RCPT ACL with ``statement`` after the role addresses' accept and no relay guard: its final
    accept takes any recipient from a client that the statement lets through."""
    return rcpt_with(after_roles=statement).replace(RELAY_GUARD + "\n", "")


#: sender verification, which defers for an outside sender (the dead loopback resolver: 451), and
#: passes the null sender
SENDER_VERIFY = "deny message = sender verify failed\n     !verify = sender"
#: a deny of the documentation networks (RFC 5737), as a bogon list has them: -bh's client among them
BOGONS = "deny message = bogon client\n     hosts = 192.0.2.0/24 : 198.51.100.0/24 : 203.0.113.0/24"
#: a deny of every session that did not come in on the daemon's SMTP port ({port}): without -oMi,
#: exim -bh has $received_port -1
OTHER_PORTS = "deny message = not the MX port\n     condition = ${if !eq{$received_port}{{port}}}"
#: a deny of the DNS blocklist (a DNS lookup that never completes: "assumed not in list")
DNSBL = f"deny message = $sender_host_address is listed at $dnslist_domain\n     dnslists = {BLOCKLIST}"
#: Debian's optional blocklist: the file's hosts while it exists, else an empty list ({base}: the
#: host's folder; the file is never written)
OPTIONAL_BLOCKLIST = (
    "deny message = $sender_host_address is blocked\n"
    "     hosts = ${if exists{{base}/etc/blocked_hosts}{{base}/etc/blocked_hosts}{}}"
)
#: a deny of the one outside client, listed by address (a local blocklist that the daemon shows)
BLOCKED = f"deny message = $sender_host_address is blocked\n     hosts = {OUTSIDE_IP}"


@dataclass(frozen=True)
class EximHost:
    """One host as the host checks read it. :attr:`main` are main options that replace (or, for a name
    the good host does not set, follow) the good host's; None unsets one (Exim's default)."""

    #: "good", or the check id this host breaks; ``/variant`` after either for another way of the same
    name: str
    #: one line: what is broken ("" for the good host)
    delta: str = ""
    #: the outcome the broken check must give: failed or warned
    outcome: Literal["passed", "failed", "warned"] = "passed"
    #: words the broken check's message must contain (the setting it names)
    names: tuple[str, ...] = ()
    #: whether only the check's per-domain result breaks (the host alone looks right)
    domain_only: bool = False
    #: other checks the break breaks too, with the same outcome (one setting that two rules rest on)
    also: tuple[str, ...] = ()
    #: other checks whose verdict the break changes otherwise, and to what (a check it takes away
    #: what to judge from: skipped)
    others: tuple[tuple[str, str], ...] = ()
    main: tuple[tuple[str, str | None], ...] = ()
    #: named lists that replace (or follow) the good host's, by ``kind NAME``
    lists: tuple[tuple[str, str], ...] = ()
    #: ACLs that replace (or follow) the good host's, by name (``{base}`` in them: the host's folder)
    acls: tuple[tuple[str, str], ...] = ()
    #: options of the remote_smtp transport (driver = smtp)
    remote_smtp: tuple[tuple[str, str], ...] = ()
    #: the checks (among :data:`BEHAVIOURS` of the tests) whose verdict on this host its daemon cannot
    #: show from loopback (a public network it trusts, a blocklist no resolver of the lab serves)
    unshown: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = GOOD_ALIASES
    certificate: Certificate = "lab"
    #: where the daemon listens: the MX address, or 127.0.0.1 (either with ::1 where the machine has it)
    listen: Listen = "mx"
    #: the host's /etc/hosts entries beside localhost: (address, name)
    hosts: tuple[tuple[str, str], ...] = ((MX_IP, MX_HOST),)
    #: what the packet filter does with the ident port
    ident_filter: Filter = "reject"
    #: whether the machine must have IPv6 on loopback for this host to mean anything
    needs_ipv6: bool = False

    @property
    def check(self) -> str:
        """The check id this host breaks ("" for the good host and its variants)."""
        check = self.name.partition("/")[0]
        return "" if check == "good" else check

    @property
    def slug(self) -> str:
        return self.name.replace(".", "-").replace("/", "--")


GOOD = EximHost("good")

#: one broken host per check id that Exim is judged on
BROKEN: tuple[EximHost, ...] = (
    EximHost(
        "host.mta.listening",
        "local_interfaces = 127.0.0.1 (and ::1): the daemon listens on loopback, not on the MX address",
        "failed",
        ("local_interfaces", MX_IP),
        domain_only=True,
        listen="loopback",
    ),
    EximHost(
        "host.mta.address-families",
        "disable_ipv6 = true while the MX host has an AAAA record (::1)",
        "failed",
        ("disable_ipv6", "IPv6"),
        domain_only=True,
        also=("host.mta.listening",),  # (Exim then listens on no IPv6 address: ::1 has no listener)
        main=(("disable_ipv6", "true"),),
        needs_ipv6=True,
    ),
    EximHost(
        "host.hostname.fqdn",
        f"the host resolves primary_hostname {MX_HOST} to {ELSEWHERE} (/etc/hosts), not to an address of "
        "its own",
        "failed",
        ("primary_hostname", ELSEWHERE),
        hosts=((ELSEWHERE, MX_HOST),),
    ),
    EximHost(
        "host.banner.names-host",
        "smtp_banner = mail_host ESMTP",
        "failed",
        ("smtp_banner", "mail_host"),
        main=(("smtp_banner", "mail_host ESMTP"),),
    ),
    EximHost(
        "host.helo.required",
        "hosts_require_helo = (empty): MAIL is taken without HELO",
        "warned",
        ("hosts_require_helo",),
        main=(("hosts_require_helo", ""),),
    ),
    EximHost(
        "host.pipelining.enforced",
        "smtp_enforce_sync = false",
        "warned",
        ("smtp_enforce_sync",),
        also=("host.pregreet.enforced",),
        main=(("smtp_enforce_sync", "false"),),
    ),
    EximHost(
        "host.pregreet.enforced",
        "pipelining_connect_advertise_hosts = * (Exim's default): PIPECONNECT for every client",
        "warned",
        ("pipelining_connect_advertise_hosts",),
        also=("host.pipelining.enforced",),
        main=(("pipelining_connect_advertise_hosts", None),),
    ),
    EximHost(
        "host.vrfy.restricted",
        "acl_smtp_vrfy = acl_check_vrfy (which accepts)",
        "warned",
        ("acl_smtp_vrfy",),
        main=(("acl_smtp_vrfy", "acl_check_vrfy"),),
    ),
    EximHost(
        "host.role.postmaster",
        "no postmaster alias",
        "failed",
        ("postmaster",),
        aliases=tuple(a for a in GOOD_ALIASES if a[0] != "postmaster"),
    ),
    EximHost(
        "host.role.abuse",
        "no abuse alias",
        "failed",
        ("abuse",),
        aliases=tuple(a for a in GOOD_ALIASES if a[0] != "abuse"),
    ),
    EximHost(
        "host.tls.configured",
        "tls_privatekey holds a key that is not the certificate's",
        "failed",
        ("exim.key", "exim.crt"),
        certificate="other-key",
    ),
    EximHost(
        "host.tls.cert-current",
        f"the certificate expires in {EXPIRING_DAYS} days",
        "warned",
        ("exim.crt", "days"),
        certificate="expiring",
    ),
    EximHost(
        "host.ident.not-dropped",
        "nothing listens on the ident port and the packet filter drops it (nft: tcp dport ... drop)",
        "warned",
        ("drop",),
        ident_filter="drop",
    ),
    EximHost(
        "host.helo.matches-ptr",
        f"remote_smtp: helo_data = other.{DOMAIN} (the PTR of the MX address names {MX_HOST})",
        "warned",
        ("helo_data", f"other.{DOMAIN}", MX_HOST),
        domain_only=True,
        remote_smtp=(("helo_data", f"other.{DOMAIN}"),),
    ),
    EximHost(
        "host.relay.restricted",
        "the RCPT ACL has no `require domains = +local_domains`: its final accept takes any recipient",
        "failed",
        ("exim -bh", "relaytest@example.net", "250"),
        acls=(("acl_check_rcpt", OPEN_RCPT),),
    ),
    EximHost(
        "host.role.unfiltered",
        f"the RCPT ACL denies clients on the DNS blocklist {BLOCKLIST} before it accepts postmaster and "
        "abuse",
        "warned",
        ("dnslists", BLOCKLIST, "postmaster@ and abuse@"),
        acls=(("acl_check_rcpt", rcpt_with(DNSBL)),),
        unshown=("host.role.unfiltered",),  # (no resolver of the lab serves bl.example)
    ),
)

#: second ways of breaking some checks
VARIANTS: tuple[EximHost, ...] = (
    EximHost(
        "host.helo.required/try-verify",
        "hosts_require_helo = (empty), helo_try_verify_hosts = * (which checks a HELO given, and "
        "requires none)",
        "warned",
        ("hosts_require_helo",),
        main=(("hosts_require_helo", ""), ("helo_try_verify_hosts", "*")),
    ),
    EximHost(
        "host.role.postmaster/dev-null",
        "aliases: postmaster: /dev/null",
        "failed",
        ("postmaster", "/dev/null"),
        aliases=(("postmaster", "/dev/null"), *(a for a in GOOD_ALIASES if a[0] != "postmaster")),
    ),
    EximHost(
        "host.role.postmaster/blackhole",
        "aliases: postmaster: :blackhole:",
        "failed",
        ("postmaster", "discarded"),
        aliases=(("postmaster", ":blackhole:"), *(a for a in GOOD_ALIASES if a[0] != "postmaster")),
    ),
    EximHost(
        "host.role.abuse/loop",
        "aliases: abuse: abuse-desk, abuse-desk: abuse (an alias loop)",
        "failed",
        ("abuse", "undeliverable"),
        aliases=(
            ("abuse", "abuse-desk"),
            ("abuse-desk", "abuse"),
            *(a for a in GOOD_ALIASES if a[0] != "abuse"),
        ),
    ),
    EximHost(
        "host.tls.configured/off",
        "tls_advertise_hosts = (empty; the certificate and key still configured)",
        "failed",
        ("tls_advertise_hosts",),
        main=(("tls_advertise_hosts", ""),),
    ),
    EximHost(
        "host.tls.configured/root-only",
        "the key file is root's, mode 600: the Exim user cannot read it (STARTTLS: 454)",
        "failed",
        ("exim.key", EXIM_USER),
        certificate="root-only",
    ),
    EximHost(
        "host.tls.configured/closed-folder",
        "the certificate and key are in a folder of root's, mode 700, which the Exim user cannot enter",
        "failed",
        ("private", EXIM_USER),
        certificate="closed-folder",
    ),
    EximHost(
        "host.tls.configured/self-signed",
        "tls_certificate unset (Exim offers STARTTLS with a self-signed certificate of its own making)",
        "failed",
        ("tls_certificate", "self-signed"),
        others=(("host.tls.cert-current", "skipped"),),
        main=(("tls_certificate", None), ("tls_privatekey", None)),
    ),
    EximHost(
        "host.tls.cert-current/expired",
        "the certificate has expired",
        "failed",
        ("exim.crt", "expired"),
        certificate="expired",
    ),
    EximHost(
        "host.tls.cert-current/wrong-name",
        "the certificate does not name the MX host",
        "failed",
        ("exim.crt", MX_HOST),
        certificate="wrong-name",
    ),
    EximHost(
        "host.relay.restricted/wide-network",
        "relay_from_hosts = <; 127.0.0.1 ; ::1 ; 8.0.0.0/8 (a public /8 may relay; exim -bh from 192.0.2.1 "
        "is refused)",
        "failed",
        ("8.0.0.0/8", "wider than /24", "acl_check_rcpt"),
        lists=(("hostlist relay_from_hosts", "<; 127.0.0.1 ; ::1 ; 8.0.0.0/8"),),
        unshown=("host.relay.restricted",),  # (the daemon is asked from loopback, not from 8.0.0.0/8)
    ),
    EximHost(
        "host.relay.restricted/behind-sender-verify",
        "no relay guard; `deny !verify = sender` (which defers an outside sender, 451) before the final "
        "accept: the null sender passes it and is relayed",
        "failed",
        ("exim -bh", "MAIL FROM:<>", "accepts relaying", "250", "before any relay guard"),
        acls=(("acl_check_rcpt", open_rcpt_behind(SENDER_VERIFY)),),
    ),
    EximHost(
        "host.relay.restricted/behind-bogons",
        "no relay guard; `deny hosts = 192.0.2.0/24 : ...` (TEST-NET, -bh's client) before the final accept: "
        "every other client is relayed",
        "failed",
        ("acl_check_rcpt", "before any relay guard"),
        acls=(("acl_check_rcpt", open_rcpt_behind(BOGONS)),),
    ),
    EximHost(
        "host.relay.restricted/behind-port",
        "no relay guard; a deny of sessions not on the daemon's port ($received_port) before the final "
        "accept: SMTP clients on that port are relayed",
        "failed",
        ("exim -bh", "-oMi", "accepts relaying", "250", "before any relay guard"),
        acls=(("acl_check_rcpt", open_rcpt_behind(OTHER_PORTS)),),
    ),
    EximHost(
        "host.role.unfiltered/client-list",
        f"the RCPT ACL denies the client {OUTSIDE_IP} (hosts =) before it accepts postmaster and abuse",
        "warned",
        ("hosts = " + OUTSIDE_IP, "acl_check_rcpt"),
        acls=(("acl_check_rcpt", rcpt_with(BLOCKED)),),
    ),
    EximHost(
        "host.role.unfiltered/mail-acl",
        f"acl_smtp_mail denies the client {OUTSIDE_IP} before any recipient is known",
        "warned",
        ("acl_smtp_mail", "before any recipient is known"),
        main=(("acl_smtp_mail", "acl_check_mail"),),
        acls=(("acl_check_mail", f"{BLOCKED}\naccept"),),
    ),
)

#: variants of the good host: other ways of configuring the same, on which every check must pass
GOOD_VARIANTS: tuple[EximHost, ...] = (
    EximHost(
        "good/dual-certificates",
        "an ECDSA and an RSA certificate: tls_certificate and tls_privatekey are lists of two files",
        certificate="dual",
    ),
    EximHost(
        "good/combined-file",
        "the key in the certificate's file (tls_privatekey unset)",
        certificate="combined",
    ),
    EximHost(
        "good/helo-verify",
        "hosts_require_helo = (empty), helo_verify_hosts = * (which requires HELO, and verifies it)",
        main=(("hosts_require_helo", ""), ("helo_verify_hosts", "*")),
    ),
    EximHost(
        "good/roles-list",
        f"the role addresses in a localpartlist (accept local_parts = +role_addresses), the DNS blocklist "
        f"{BLOCKLIST} after them, and before them Debian's optional client blocklist (hosts = ${{if "
        "exists{FILE}{FILE}{}}), its file absent",
        lists=(("localpartlist role_addresses", "postmaster : abuse"),),
        acls=(("acl_check_rcpt", rcpt_with(OPTIONAL_BLOCKLIST, DNSBL, roles="+role_addresses")),),
    ),
    EximHost(
        "good/literal-helo",
        f"remote_smtp: helo_data = {MX_HOST} (the name itself, not $primary_hostname)",
        remote_smtp=(("helo_data", MX_HOST),),
    ),
)
CONFIGS: tuple[EximHost, ...] = (GOOD, *GOOD_VARIANTS, *BROKEN, *VARIANTS)


# ------------------------------------------------------------------------------------ the users
@dataclass(frozen=True)
class Users:
    """The host's /etc/passwd and /etc/group (the machine's, with the Exim user and the mail admin
    added where they are missing), and their ids."""

    passwd: Path
    group: Path
    exim_uid: int
    exim_gid: int
    admin_uid: int


def _free(taken: set[int], start: int) -> int:
    n = start
    while n in taken:
        n += 1
    return n


def private_users(folder: Path) -> Users:
    """Write the hosts' /etc/passwd and /etc/group into *folder*: the machine's, with ``Debian-exim``
    (user and group) and ``mailadmin`` added under ids that are free, unless the machine has them."""
    passwd_lines = Path("/etc/passwd").read_text(encoding="utf-8").splitlines()
    group_lines = Path("/etc/group").read_text(encoding="utf-8").splitlines()
    users = {f[0]: f for f in (line.split(":") for line in passwd_lines) if len(f) >= 7}
    groups = {f[0]: f for f in (line.split(":") for line in group_lines) if len(f) >= 3}
    uids = {int(f[2]) for f in users.values() if f[2].isdigit()}
    gids = {int(f[2]) for f in groups.values() if f[2].isdigit()}
    if EXIM_USER in groups:
        gid = int(groups[EXIM_USER][2])
    else:
        gid = _free(gids, 64900)
        group_lines.append(f"{EXIM_USER}:x:{gid}:")
    if EXIM_USER in users:
        uid = int(users[EXIM_USER][2])
    else:
        uid = _free(uids, 64900)
        uids.add(uid)
        passwd_lines.append(f"{EXIM_USER}:x:{uid}:{gid}::{folder}:/usr/sbin/nologin")
    if MAIL_ADMIN in users:
        admin = int(users[MAIL_ADMIN][2])
    else:
        admin = _free(uids, uid + 1)
        passwd_lines.append(f"{MAIL_ADMIN}:x:{admin}:{gid}::{folder}:/usr/sbin/nologin")
    passwd, group = folder / "passwd", folder / "group"
    passwd.write_text("\n".join(passwd_lines) + "\n", encoding="utf-8")
    group.write_text("\n".join(group_lines) + "\n", encoding="utf-8")
    for path in (passwd, group):
        path.chmod(0o644)
    return Users(passwd, group, uid, gid, admin)


# ------------------------------------------------------------------------------------ the files
@dataclass(frozen=True)
class HostFiles:
    """Where one host's files are: its Exim configuration (``--mail-mta-config``), the files that
    play its /etc/hosts, /etc/resolv.conf, /etc/passwd and /etc/group, a folder for the front of its
    PATH (its Exim, and an ``nft`` that prints its packet filter's rules), and the certificate files
    a client of it may trust (the ones it is configured with)."""

    base: Path
    config: Path
    hosts: Path
    resolv: Path
    passwd: Path
    group: Path
    bin: Path
    trusted: tuple[Path, ...]

    @property
    def mainlog(self) -> Path:
        return self.base / "log" / "mainlog"


def _interfaces(listen: Listen, ipv6: bool) -> str:
    if listen == "loopback":
        return "<; 127.0.0.1 ; ::1" if ipv6 else "127.0.0.1"
    return f"<; {MX_IP} ; ::1" if ipv6 else MX_IP


def _tls_main(config: EximHost, base: Path) -> list[tuple[str, str]]:
    etc = base / "etc"
    if config.certificate == "dual":
        return [
            ("tls_certificate", f"{etc}/exim.crt : {etc}/exim-rsa.crt"),
            ("tls_privatekey", f"{etc}/exim.key : {etc}/exim-rsa.key"),
        ]
    if config.certificate == "combined":
        return [("tls_certificate", f"{etc}/exim.pem")]
    folder = base / "private" if config.certificate == "closed-folder" else etc
    return [("tls_certificate", f"{folder}/exim.crt"), ("tls_privatekey", f"{folder}/exim.key")]


def exim_conf(config: EximHost, base: Path, *, port: int, ipv6: bool) -> str:
    """The configuration file of *config*, its spool, log and tables in *base*, its daemon on *port*."""
    settings: dict[str, str | None] = dict(GOOD_MAIN)
    settings.update(_tls_main(config, base))
    settings.update(config.main)
    interfaces = _interfaces(config.listen, ipv6)
    lines = [f"# mailspec's real-server tier: the host checks' {config.name!r} Exim host"]
    lines += [f"# ({config.delta or 'good'})"]
    lines += [
        f"{kind_name} = {value}" for kind_name, value in {**dict(GOOD_LISTS), **dict(config.lists)}.items()
    ]
    for key, value in settings.items():
        if value is None:
            continue
        text = value.format(base=base, port=port, interfaces=interfaces)
        lines.append(f"{key} = {text}" if text else f"{key} =")
    acls = {**dict(GOOD_ACLS), **dict(config.acls)}
    lines += ["", "begin acl", ""]
    for name, statements in acls.items():
        text = statements.replace("{base}", str(base)).replace("{port}", str(port))
        lines += [f"{name}:", *(f"  {line}" for line in text.splitlines()), ""]
    smtp = "".join(f"  {k} = {v}\n" for k, v in config.remote_smtp)
    lines.append(
        f"""
begin routers

dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  ignore_target_hosts = 0.0.0.0 : 127.0.0.0/8
  no_more

system_aliases:
  driver = redirect
  allow_fail
  allow_defer
  data = ${{lookup{{$local_part}}lsearch{{{base}/etc/aliases}}}}
  file_transport = address_file
  pipe_transport = address_pipe

local_user:
  driver = accept
  check_local_user
  transport = local_delivery

begin transports

remote_smtp:
  driver = smtp
{smtp}
local_delivery:
  driver = appendfile
  file = {base}/mail/$local_part

address_file:
  driver = appendfile

address_pipe:
  driver = pipe
  return_output

begin retry

*   *   F,1h,15m
"""
    )
    return "\n".join(lines)


def nft_ruleset(config: EximHost, ident_port: int) -> str:
    """The packet filter's rules as ``nft list ruleset`` prints them."""
    verdict = "reject with tcp reset" if config.ident_filter == "reject" else "drop"
    return (
        "table inet filter {\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        f"\t\ttcp dport {ident_port} {verdict}\n"
        "\t}\n"
        "}\n"
    )


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_issued(
    names: Sequence[str], days_left: int, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
) -> bytes:
    """A certificate for *names* (self-issued: the host checks read its names and dates, and a client
    of the lab trusts the host's own certificate files) that ends in *days_left* days, PEM."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=VALID_DAYS - days_left))
        .not_valid_after(now + dt.timedelta(days=days_left))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificates(config: EximHost, base: Path, users: Users) -> tuple[Path, ...]:
    """The TLS files of *config* (``exim.crt`` and ``exim.key``, root's and the Exim group's, mode 640:
    as Debian's exim4 wants them), and the certificate files among them."""
    etc = base / "etc"
    kind = config.certificate
    key = _ec()
    days = {"expiring": EXPIRING_DAYS, "expired": -1}.get(kind, VALID_DAYS)
    names = [f"other.{DOMAIN}"] if kind == "wrong-name" else [MX_HOST]
    cert = _self_issued(names, days, key)
    key_pem = _pem_key(_ec()) if kind == "other-key" else _pem_key(key)
    folder = base / "private" if kind == "closed-folder" else etc
    folder.mkdir(exist_ok=True)
    files: dict[Path, bytes]
    if kind == "combined":
        files = {etc / "exim.pem": key_pem + cert}
    else:
        files = {folder / "exim.crt": cert, folder / "exim.key": key_pem}
    if kind == "dual":
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files[etc / "exim-rsa.crt"] = _self_issued([MX_HOST], VALID_DAYS, rsa_key)
        files[etc / "exim-rsa.key"] = _pem_key(rsa_key)
    for path, data in files.items():
        path.write_bytes(data)
        os.chown(path, 0, users.exim_gid)
        path.chmod(0o640)
    if kind == "root-only":
        os.chown(folder / "exim.key", 0, 0)
        (folder / "exim.key").chmod(0o600)
    if kind == "closed-folder":
        folder.chmod(0o700)
    return tuple(p for p in files if p.suffix in (".crt", ".pem"))


def write_host(
    config: EximHost, base: Path, *, port: int, ident_port: int, users: Users, exim: Path, ipv6: bool
) -> HostFiles:
    """Write *config* below *base* (spool and log the Exim user's), its daemon on *port*, the ident port
    *ident_port* in its packet filter, the Exim binary *exim* at the front of its PATH. Returns where
    everything is."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    for sub in ("etc", "spool", "log", "mail"):
        (base / sub).mkdir(exist_ok=True)
        (base / sub).chmod(0o755)
    for sub in ("spool", "log", "mail"):
        os.chown(base / sub, users.exim_uid, users.exim_gid)
    config_file = base / "etc" / "exim.conf"
    config_file.write_text(exim_conf(config, base, port=port, ipv6=ipv6), encoding="utf-8")
    (base / "etc" / "aliases").write_text("".join(f"{k}: {v}\n" for k, v in config.aliases), encoding="utf-8")
    trusted = _certificates(config, base, users)
    hosts = base / "hosts"
    entries = [("127.0.0.1", "localhost"), ("::1", "localhost ip6-localhost"), *config.hosts]
    hosts.write_text("".join(f"{ip} {name}\n" for ip, name in entries), encoding="utf-8")
    resolv = base / "resolv.conf"
    resolv.write_text(f"nameserver {NOWHERE_DNS}\noptions timeout:1 attempts:1\n", encoding="utf-8")
    bin_dir = base / "bin"
    bin_dir.mkdir(exist_ok=True)
    # (Debian installs exim4, and exim beside it; the host checks find exim4 on the PATH)
    (bin_dir / "exim4").symlink_to(exim)
    rules = base / "nft-ruleset"
    rules.write_text(nft_ruleset(config, ident_port), encoding="utf-8")
    nft = bin_dir / "nft"
    nft.write_text(
        "#!/bin/sh\n# The host's packet filter as it stands, read only: `nft list ruleset`.\n"
        f'if [ "$*" = "list ruleset" ]; then exec cat {rules}; fi\n'
        'echo "nft: this lab host only lists its ruleset" >&2\nexit 1\n',
        encoding="utf-8",
    )
    nft.chmod(0o755)
    return HostFiles(base, config_file, hosts, resolv, users.passwd, users.group, bin_dir, trusted)


# ------------------------------------------------------------------------------------ the lab DNS
def scenario_toml(ipv6: bool) -> str:
    """The lab scenario of :data:`DOMAIN`: its MX host ``mx.eximcheck.test`` at :data:`MX_IP` (and
    ``::1`` with *ipv6*), whose PTR names it; no MTA (real Exim plays it)."""
    aaaa = "mx      AAAA ::1\n" if ipv6 else ""
    ptr6 = f'"::1" = "{MX_HOST}"\n' if ipv6 else ""
    return f'''\
domain = "{DOMAIN}"
description = "the Exim host checks' domain: its MX host is a real Exim, inspected from the inside"
[expect]
pass = ["host.mta.listening", "host.role.postmaster", "host.tls.cert-current"]
[zone]
records = """
@       MX  10 {MX_HOST}.
mx      A   {MX_IP}
{aaaa}"""
[[zone.nameserver]]
host = "ns1"
ip = "{NS_IP}"
[ptr]
"{MX_IP}" = "{MX_HOST}"
{ptr6}'''


def _names_check() -> None:
    """Every other host has a name of its own and is not the good host."""
    names = [c.name for c in CONFIGS]
    if len(set(names)) != len(names):
        raise AssertionError(f"two hosts share a name: {names}")
    for c in CONFIGS[1:]:
        same = dataclasses.replace(
            c, name=GOOD.name, delta="", outcome="passed", names=(), domain_only=False, also=(), others=(),
            unshown=(),
        )  # fmt: skip
        if same == GOOD:
            raise AssertionError(f"{c.name}: the host is the good one")


_names_check()
