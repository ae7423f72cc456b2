"""Real Postfix configuration directories for the host checks (``mailspec.hostchecks``, CATALOG.md §19):
one :data:`GOOD` host that passes every check, and per check id one broken host (:data:`BROKEN`), each
a small delta from the good one that makes exactly that check fail (or warn, where the catalog says
WARN); :data:`VARIANTS` break some checks a second way (a master.cf override, the other half of a
rule, the FAIL side of a check that also warns), and :data:`GOOD_VARIANTS` configure the good host
differently without breaking anything.

A host here is what the host checks read of it (:class:`HostConfig`): the Postfix configuration
directory (``main.cf``, ``master.cf``, the aliases built with ``postalias``, the virtual alias and
access maps built with ``postmap``, a certificate and its key), the host's ``/etc/hosts`` (how the host
itself resolves ``myhostname``), its packet filter's rules (as ``nft list ruleset`` prints them), and
whether a Postfix of its own must run (the checks that read listening sockets).

Everything is on loopback, in 127.0.14.64-127.0.14.127 (which no packaged scenario uses): the MX host
``mx.hostcheck.test`` of :data:`DOMAIN` is :data:`MX_IP`, its name server :data:`NS_IP`
(:func:`scenario_toml` is the lab DNS of the domain). Nothing leaves a host (``default_transport`` and
``relay_transport`` are ``discard``; local delivery is Postfix's own, so that postmaster@ really is
deliverable, and no message ever arrives), and a running instance's queue, data and log live in its
own folder (:class:`.postfix.PostfixInstance` runs it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mailspec.testing.pki import LabCA

from .postfix import (
    MASTER_HEADER,
    NEVER_DELIVERED,
    SUPPORT_SERVICES,
    _write_settled,
    listen_address,
    postfix_version,
)
from .servers import ServerError, find_program

__all__ = [
    "BROKEN",
    "CONFIGS",
    "DOMAIN",
    "ELSEWHERE",
    "GOOD",
    "GOOD_VARIANTS",
    "MX_HOST",
    "MX_IP",
    "NOWHERE_DNS",
    "NS_IP",
    "VARIANTS",
    "HostConfig",
    "HostFiles",
    "postconf_complaints",
    "scenario_toml",
    "write_host",
]

DOMAIN = "hostcheck.test"
MX_HOST = f"mx.{DOMAIN}"
#: the MX host's address: where the good host's Postfix listens
MX_IP = "127.0.14.64"
#: the name server of DOMAIN in the lab DNS
NS_IP = "127.0.14.65"
#: the resolver of the hosts' /etc/resolv.conf: nothing answers there, so that a name the host's
#: resolver is asked beyond /etc/hosts gets no answer at once instead of leaving loopback
NOWHERE_DNS = "127.0.14.127"
#: an address that is no address of this host (TEST-NET-2, RFC 5737), never connected to
ELSEWHERE = "198.51.100.25"
#: an outbound HELO name that is not the PTR name of the MX address
OTHER_HELO = f"relay.{DOMAIN}"
#: the blocklist of the good host's recipient restrictions (never asked: no client ever gets to RCPT)
BLOCKLIST = "dnsbl.test"
#: days a self-issued certificate (the RSA one, the nearly expired one) is valid, and the latter has left
VALID_DAYS = 90
EXPIRING_DAYS = 5

GOOD_ALIASES = (("postmaster", "root"), ("abuse", "root"), ("hostmaster", "root"))
GOOD_VIRTUAL = ((f"postmaster@{DOMAIN}", "postmaster"), (f"abuse@{DOMAIN}", "abuse"))
#: the access map that accepts mail for the role addresses ahead of the blocklist
ROLE_ACCESS = (("postmaster@", "OK"), ("abuse@", "OK"))

Front = Literal["postscreen", "smtpd"]
Certificate = Literal["lab", "expiring", "expired", "wrong-name", "other-key", "wildcard"]
Filter = Literal["reject", "drop"]


@dataclass(frozen=True)
class HostConfig:
    """One host as the host checks read it. :attr:`main` are main.cf settings that replace (or, for a
    name the good host does not set, follow) the good host's, in its order; ``{etc}`` in a value is
    the configuration directory."""

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
    main: tuple[tuple[str, str], ...] = ()
    #: what takes connections on the SMTP port: postscreen (then smtpd behind it), or smtpd directly
    front: Front = "postscreen"
    #: the address master.cf binds the SMTP port to; "": every inet_interfaces address
    listen: str = MX_IP
    #: ``-o name=value`` overrides of the smtpd that serves the SMTP port (behind postscreen: its
    #: ``pass`` service)
    smtpd_options: tuple[tuple[str, str], ...] = ()
    aliases: tuple[tuple[str, str], ...] = GOOD_ALIASES
    virtual: tuple[tuple[str, str], ...] = GOOD_VIRTUAL
    #: the check_recipient_access map of the role addresses (``{etc}/roles``)
    access: tuple[tuple[str, str], ...] = ROLE_ACCESS
    certificate: Certificate = "lab"
    #: the host's /etc/hosts entries beside localhost: (address, name)
    hosts: tuple[tuple[str, str], ...] = ((MX_IP, MX_HOST),)
    #: what the packet filter does with the ident port
    ident_filter: Filter = "reject"
    #: a Postfix of its own runs from this configuration, on its own SMTP port
    runs: bool = False

    @property
    def check(self) -> str:
        """The check id this host breaks ("" for the good host and its variants)."""
        check = self.name.partition("/")[0]
        return "" if check == "good" else check

    @property
    def slug(self) -> str:
        return self.name.replace(".", "-").replace("/", "--")


def _good_main() -> list[tuple[str, str]]:
    protocols = ">=TLSv1.2" if postfix_version() >= (3, 6) else "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"
    return [
        ("compatibility_level", "3.6" if postfix_version() >= (3, 6) else "2"),
        ("myhostname", MX_HOST),
        ("mydomain", DOMAIN),
        ("mydestination", "$myhostname, localhost"),
        # (Postfix wants inet_interfaces on an interface: the MX address is master.cf's to bind)
        ("inet_interfaces", "loopback-only"),
        ("inet_protocols", "ipv4"),
        ("mynetworks", "127.0.0.0/8"),
        ("smtpd_banner", "$myhostname ESMTP"),
        ("smtpd_helo_required", "yes"),
        ("smtpd_forbid_unauth_pipelining", "yes"),
        ("disable_vrfy_command", "yes"),
        ("smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination"),
        (
            "smtpd_recipient_restrictions",
            f"check_recipient_access hash:{{etc}}/roles, reject_rbl_client {BLOCKLIST}",
        ),
        ("alias_maps", "hash:{etc}/aliases"),
        ("alias_database", "hash:{etc}/aliases"),
        ("virtual_alias_domains", DOMAIN),
        ("virtual_alias_maps", "hash:{etc}/virtual"),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_cert_file", "{etc}/smtpd-cert.pem"),
        ("smtpd_tls_key_file", "{etc}/smtpd-key.pem"),
        ("smtpd_tls_protocols", protocols),
        ("smtpd_tls_mandatory_protocols", protocols),
        ("postscreen_greet_action", "enforce"),
        # Nothing leaves this host, nothing is looked up outside: a lab host. Local delivery is Postfix's
        # own, so that postmaster@ really is deliverable (no message ever arrives: nothing here sends
        # DATA, and the tests count the messages their instances saw).
        ("default_transport", NEVER_DELIVERED),
        ("relay_transport", NEVER_DELIVERED),
        ("smtp_dns_support_level", "disabled"),
        ("smtpd_peername_lookup", "no"),
        ("smtpd_error_sleep_time", "0"),
        ("biff", "no"),
    ]


#: the good host; its Postfix runs: every run reads its sockets (a host's sockets are the machine's)
GOOD = HostConfig("good", runs=True)

#: one broken host per check id of CATALOG.md §19
BROKEN: tuple[HostConfig, ...] = (
    HostConfig(
        "host.mta.listening",
        "master.cf binds the SMTP port to inet_interfaces = loopback-only (127.0.0.1), not to the MX address",
        "failed",
        ("inet_interfaces", "loopback-only", MX_IP),
        domain_only=True,
        listen="",
        runs=True,
    ),
    HostConfig(
        "host.mta.address-families",
        "inet_protocols = ipv6 while the MX host has an A record only",
        "failed",
        ("inet_protocols", "IPv4"),
        domain_only=True,
        main=(("inet_protocols", "ipv6"),),
    ),
    HostConfig(
        "host.hostname.fqdn",
        f"the host resolves myhostname {MX_HOST} to {ELSEWHERE} (/etc/hosts), not to an address of its own",
        "failed",
        ("myhostname", ELSEWHERE),
        hosts=((ELSEWHERE, MX_HOST),),
    ),
    HostConfig(
        "host.banner.names-host",
        "smtpd_banner = mail_host ESMTP",
        "failed",
        ("smtpd_banner", "mail_host"),
        main=(("smtpd_banner", "mail_host ESMTP"),),
    ),
    HostConfig(
        "host.helo.matches-ptr",
        f"smtp_helo_name = {OTHER_HELO}, while the PTR of {MX_IP} is {MX_HOST}",
        "warned",
        ("smtp_helo_name", OTHER_HELO, MX_HOST),
        domain_only=True,
        main=(("smtp_helo_name", OTHER_HELO),),
    ),
    HostConfig(
        "host.relay.restricted",
        "smtpd_relay_restrictions = permit (recipient restrictions without reject_unauth_destination)",
        "failed",
        ("smtpd_relay_restrictions", "reject_unauth_destination"),
        main=(("smtpd_relay_restrictions", "permit"),),
    ),
    HostConfig(
        "host.helo.required",
        "smtpd_helo_required = no",
        "warned",
        ("smtpd_helo_required",),
        main=(("smtpd_helo_required", "no"),),
    ),
    HostConfig(
        "host.pipelining.enforced",
        "smtpd_forbid_unauth_pipelining = no (and postscreen's pipelining test off, its default)",
        "warned",
        ("smtpd_forbid_unauth_pipelining",),
        main=(("smtpd_forbid_unauth_pipelining", "no"),),
    ),
    HostConfig(
        "host.pregreet.enforced",
        "master.cf: smtpd takes the SMTP port directly (no postscreen)",
        "warned",
        ("postscreen",),
        front="smtpd",
    ),
    HostConfig(
        "host.vrfy.restricted",
        "disable_vrfy_command = no",
        "warned",
        ("disable_vrfy_command",),
        main=(("disable_vrfy_command", "no"),),
    ),
    HostConfig(
        "host.role.postmaster",
        "no postmaster alias (aliases and the virtual alias map)",
        "failed",
        ("postmaster",),
        aliases=tuple(a for a in GOOD_ALIASES if a[0] != "postmaster"),
        virtual=tuple(v for v in GOOD_VIRTUAL if not v[0].startswith("postmaster@")),
    ),
    HostConfig(
        "host.role.abuse",
        "no abuse alias (aliases and the virtual alias map)",
        "failed",
        ("abuse",),
        aliases=tuple(a for a in GOOD_ALIASES if a[0] != "abuse"),
        virtual=tuple(v for v in GOOD_VIRTUAL if not v[0].startswith("abuse@")),
    ),
    HostConfig(
        "host.role.unfiltered",
        "smtpd_recipient_restrictions: reject_rbl_client before the check_recipient_access role exception",
        "warned",
        ("smtpd_recipient_restrictions", "reject_rbl_client"),
        main=(
            (
                "smtpd_recipient_restrictions",
                f"reject_rbl_client {BLOCKLIST}, check_recipient_access hash:{{etc}}/roles",
            ),
        ),
    ),
    HostConfig(
        "host.tls.configured",
        "smtpd_tls_key_file holds a key that is not the certificate's",
        "failed",
        ("smtpd-key.pem", "smtpd-cert.pem"),
        certificate="other-key",
    ),
    HostConfig(
        "host.tls.cert-current",
        f"the certificate expires in {EXPIRING_DAYS} days",
        "warned",
        ("smtpd-cert.pem", "days"),
        certificate="expiring",
    ),
    HostConfig(
        "host.ident.not-dropped",
        "nothing listens on the ident port and the packet filter drops it (nft: tcp dport ... drop)",
        "warned",
        ("drop",),
        ident_filter="drop",
    ),
)

#: second ways of breaking some checks: overrides in master.cf, the other half of a rule, the FAIL side
#: of a check that also warns
VARIANTS: tuple[HostConfig, ...] = (
    HostConfig(
        "host.relay.restricted/mynetworks",
        "mynetworks = 127.0.0.0/8, 0.0.0.0/0 (permit_mynetworks then relays for everyone)",
        "failed",
        ("mynetworks", "0.0.0.0/0"),
        main=(("mynetworks", "127.0.0.0/8, 0.0.0.0/0"),),
    ),
    HostConfig(
        "host.helo.required/master.cf",
        "main.cf says smtpd_helo_required = yes, but master.cf's smtpd (behind postscreen) has "
        "-o smtpd_helo_required=no",
        "warned",
        ("smtpd_helo_required",),
        smtpd_options=(("smtpd_helo_required", "no"),),
    ),
    HostConfig(
        "host.pregreet.enforced/ignore",
        "postscreen in front, but postscreen_greet_action = ignore",
        "warned",
        ("postscreen_greet_action", "ignore"),
        main=(("postscreen_greet_action", "ignore"),),
    ),
    HostConfig(
        "host.role.postmaster/dev-null",
        "aliases: postmaster: /dev/null",
        "failed",
        ("postmaster", "/dev/null"),
        aliases=(("postmaster", "/dev/null"), *(a for a in GOOD_ALIASES if a[0] != "postmaster")),
    ),
    HostConfig(
        "host.role.abuse/loop",
        "aliases: abuse: abuse-desk, abuse-desk: abuse (an alias loop)",
        "failed",
        ("abuse", "loop"),
        aliases=(
            ("abuse", "abuse-desk"),
            ("abuse-desk", "abuse"),
            *(a for a in GOOD_ALIASES if a[0] != "abuse"),
        ),
    ),
    HostConfig(
        "host.tls.configured/off",
        "smtpd_tls_security_level = none (the certificate and key still configured)",
        "failed",
        ("smtpd_tls_security_level",),
        main=(("smtpd_tls_security_level", "none"),),
    ),
    HostConfig(
        "host.tls.cert-current/expired",
        "the certificate has expired",
        "failed",
        ("smtpd-cert.pem", "expired"),
        certificate="expired",
    ),
    HostConfig(
        "host.tls.cert-current/wrong-name",
        "the certificate does not name the MX host",
        "failed",
        ("smtpd-cert.pem", MX_HOST),
        certificate="wrong-name",
    ),
    HostConfig(
        "host.role.postmaster/local-disabled",
        "local_transport = error:local mail delivery is disabled (a null client's setting), while "
        "postmaster and abuse are aliases of the local user root",
        "failed",
        ("local_transport",),
        also=("host.role.abuse",),
        main=(("local_transport", "error:local mail delivery is disabled"),),
    ),
    HostConfig(
        "host.tls.cert-current/chain-files",
        "smtpd_tls_chain_files = old.pem (expired), which Postfix uses instead of the current "
        "smtpd_tls_cert_file/smtpd_tls_key_file still set beside it",
        "failed",
        ("old.pem", "expired"),
        main=(("smtpd_tls_chain_files", "{etc}/old.pem"),),
    ),
    HostConfig(
        "host.tls.cert-current/master.cf",
        "master.cf's smtpd (behind postscreen) has -o smtpd_tls_cert_file=old-cert.pem "
        "-o smtpd_tls_key_file=old-key.pem (expired)",
        "failed",
        ("old-cert.pem", "expired"),
        smtpd_options=(
            ("smtpd_tls_cert_file", "{etc}/old-cert.pem"),
            ("smtpd_tls_key_file", "{etc}/old-key.pem"),
        ),
    ),
    HostConfig(
        "host.role.postmaster/virtual-domain",
        f"the virtual alias domain {DOMAIN} has no postmaster@{DOMAIN} entry (the bare postmaster "
        "alias is there): Postfix rejects it, User unknown in virtual alias table",
        "failed",
        (f"postmaster@{DOMAIN}",),
        domain_only=True,
        virtual=tuple(v for v in GOOD_VIRTUAL if not v[0].startswith("postmaster@")),
    ),
    HostConfig(
        "host.role.unfiltered/relay-list",
        "the role exception (check_recipient_access) is in smtpd_relay_restrictions, the blocklist in "
        "smtpd_recipient_restrictions: an OK ends only its own list, the next is still applied",
        "warned",
        ("reject_rbl_client",),
        main=(
            (
                "smtpd_relay_restrictions",
                "check_recipient_access hash:{etc}/roles, permit_mynetworks, reject_unauth_destination",
            ),
            ("smtpd_recipient_restrictions", f"reject_rbl_client {BLOCKLIST}"),
        ),
        # (the domain's own role addresses: "postmaster@" would relay to postmaster@ anywhere)
        access=((f"postmaster@{DOMAIN}", "OK"), (f"abuse@{DOMAIN}", "OK")),
    ),
    HostConfig(
        "host.vrfy.restricted/master.cf",
        "main.cf says disable_vrfy_command = yes, but master.cf's smtpd has -o disable_vrfy_command=no",
        "warned",
        ("disable_vrfy_command",),
        smtpd_options=(("disable_vrfy_command", "no"),),
    ),
    HostConfig(
        "host.relay.restricted/master.cf",
        "master.cf's smtpd has -o mynetworks=0.0.0.0/0 (permit_mynetworks then relays for everyone)",
        "failed",
        ("mynetworks", "0.0.0.0/0"),
        smtpd_options=(("mynetworks", "0.0.0.0/0"),),
    ),
    HostConfig(
        "host.relay.restricted/master.cf-braces",
        "master.cf's smtpd has -o {mynetworks=127.0.0.0/8 0.0.0.0/0} (master(5)'s form for a value with "
        "spaces)",
        "failed",
        ("mynetworks", "0.0.0.0/0"),
        # (master_cf writes "-o KEY=VALUE": the braces ride on the key and the value)
        smtpd_options=(("{mynetworks", "127.0.0.0/8 0.0.0.0/0}"),),
    ),
)
#: variants of the good host: other ways of configuring the same, on which every check must pass
GOOD_VARIANTS: tuple[HostConfig, ...] = (
    HostConfig(
        "good/master-cf-names",
        "master.cf's smtpd names its TLS files with ${config_directory}, which Postfix expands",
        smtpd_options=(
            ("smtpd_tls_cert_file", "${config_directory}/smtpd-cert.pem"),
            ("smtpd_tls_key_file", "${config_directory}/smtpd-key.pem"),
        ),
    ),
    HostConfig(
        "good/debian-banner",
        "Debian's smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)",
        main=(("smtpd_banner", "$myhostname ESMTP $mail_name (Debian/GNU)"),),
    ),
    HostConfig(
        "good/relay-default",
        "smtpd_relay_restrictions as Postfix's default writes it (space-separated, defer_unauth_destination)",
        main=(
            (
                "smtpd_relay_restrictions",
                "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
            ),
        ),
    ),
    HostConfig(
        "good/wildcard-cert",
        f"the certificate names *.{DOMAIN}",
        certificate="wildcard",
    ),
    HostConfig(
        "good/chain-files",
        "the certificate and key in one file, smtpd_tls_chain_files (the legacy parameters empty)",
        main=(
            ("smtpd_tls_cert_file", ""),
            ("smtpd_tls_key_file", ""),
            ("smtpd_tls_chain_files", "{etc}/smtpd-ecdsa.pem"),
        ),
    ),
    HostConfig(
        "good/chain-files-dual",
        "an ECDSA and an RSA certificate, each file key then certificate: smtpd_tls_chain_files = "
        "smtpd-ecdsa.pem, smtpd-rsa.pem",
        main=(
            ("smtpd_tls_cert_file", ""),
            ("smtpd_tls_key_file", ""),
            ("smtpd_tls_chain_files", "{etc}/smtpd-ecdsa.pem, {etc}/smtpd-rsa.pem"),
        ),
    ),
)
CONFIGS: tuple[HostConfig, ...] = (GOOD, *GOOD_VARIANTS, *BROKEN, *VARIANTS)


# ------------------------------------------------------------------------------------ the files
@dataclass(frozen=True)
class HostFiles:
    """Where one host's files are: its Postfix configuration directory (``--mail-mta-config``), the
    files that play its /etc/hosts and /etc/resolv.conf, and a folder for the front of its PATH (an
    ``nft`` that prints its packet filter's rules)."""

    base: Path
    etc: Path
    hosts: Path
    resolv: Path
    bin: Path


def main_cf(config: HostConfig, base: Path, etc: Path) -> str:
    """main.cf of *config*, its queue, data and log in *base*, its tables in *etc*."""
    settings = dict(_good_main())
    settings.update(config.main)
    lines = [
        f"# mailspec's real-server tier: the host checks' {config.name!r} host ({config.delta or 'good'})"
    ]
    lines += [
        f"queue_directory = {base / 'queue'}",
        f"data_directory = {base / 'data'}",
        f"maillog_file = {base / 'maillog'}",
        f"maillog_file_prefixes = {base}",
    ]
    lines += [f"{key} = {value.replace('{etc}', str(etc))}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def master_cf(config: HostConfig, port: int, etc: Path) -> str:
    """master.cf of *config*: postscreen (with smtpd behind it) or smtpd on ``config.listen``:*port*
    (on every ``inet_interfaces`` address when it is "")."""
    where = listen_address(config.listen, port) if config.listen else str(port)
    options = "".join(f"  -o {key}={value}\n" for key, value in config.smtpd_options)
    options = options.replace("{etc}", str(etc))
    if config.front == "postscreen":
        front = (
            f"{where:<9} inet  n       -       n       -       1       postscreen\n"
            f"smtpd     pass  -       -       n       -       -       smtpd\n{options}"
            "dnsblog   unix  -       -       n       -       0       dnsblog\n"
            "tlsproxy  unix  -       -       n       -       0       tlsproxy\n"
        )
    else:
        front = f"{where:<9} inet  n       -       n       -       -       smtpd\n{options}"
    return MASTER_HEADER + front + SUPPORT_SERVICES


def nft_ruleset(config: HostConfig, ident_port: int) -> str:
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


def _table(path: Path, entries: Sequence[tuple[str, str]], sep: str) -> None:
    _write_settled(path, "".join(f"{key}{sep} {value}\n" for key, value in entries))


def _build(tool: str, etc: Path, path: Path) -> None:
    program = find_program(tool)
    if program is None:
        raise ServerError(f"{tool} is not installed (Debian package postfix)")
    proc = subprocess.run(
        [program, "-c", str(etc), f"hash:{path}"], capture_output=True, text=True, check=False, timeout=30
    )
    if proc.returncode != 0 or proc.stderr.strip():
        raise ServerError(f"{tool} -c {etc} hash:{path} failed: {(proc.stderr or proc.stdout).strip()}")


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_issued(
    names: Sequence[str], days_left: int, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
) -> tuple[bytes, bytes]:
    """A certificate for *names* (self-issued: the host checks read its names and dates, not its
    chain) that ends in *days_left* days, and its key, both PEM."""
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
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


@functools.cache
def _rsa_pair() -> tuple[bytes, bytes]:
    """An RSA certificate of the MX host (the second algorithm of a dual-certificate host)."""
    return _self_issued([MX_HOST], VALID_DAYS, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _certificate(config: HostConfig, etc: Path, ca: LabCA) -> None:
    """The TLS files: ``smtpd-cert.pem`` and ``smtpd-key.pem`` as :attr:`HostConfig.certificate`
    says; beside them, for the hosts that name them, ``smtpd-ecdsa.pem`` and ``smtpd-rsa.pem`` (key
    then certificate, as smtpd_tls_chain_files takes them: the MX host's current ECDSA and RSA
    certificates), ``old-cert.pem`` / ``old-key.pem`` and ``old.pem`` (an expired certificate of the
    MX host: the files a renewal left behind)."""
    cert_path, key_path = etc / "smtpd-cert.pem", etc / "smtpd-key.pem"
    good_chain, good_key = (Path(p).read_bytes() for p in ca.issue([MX_HOST]))
    old_chain, old_key = (Path(p).read_bytes() for p in ca.issue([MX_HOST], ["expired"]))
    if config.certificate == "expiring":
        cert, key = _self_issued([MX_HOST], EXPIRING_DAYS, ec.generate_private_key(ec.SECP256R1()))
    elif config.certificate == "other-key":  # another certificate's key: a renewal that replaced one file
        cert, key = good_chain, Path(ca.issue([f"other.{DOMAIN}"])[1]).read_bytes()
    elif config.certificate == "lab":
        cert, key = good_chain, good_key
    elif config.certificate == "wildcard":
        cert, key = (Path(p).read_bytes() for p in ca.issue([f"*.{DOMAIN}"]))
    else:
        cert, key = (Path(p).read_bytes() for p in ca.issue([MX_HOST], [config.certificate]))
    rsa_cert, rsa_key = _rsa_pair()
    files = {
        cert_path: cert,
        key_path: key,
        etc / "smtpd-ecdsa.pem": good_key + good_chain,
        etc / "smtpd-rsa.pem": rsa_key + rsa_cert,
        etc / "old-cert.pem": old_chain,
        etc / "old-key.pem": old_key,
        etc / "old.pem": old_key + old_chain,
    }
    for path, data in files.items():
        path.write_bytes(data)
        path.chmod(0o600)


def write_host(
    config: HostConfig, base: Path, *, port: int, ident_port: int, ca: LabCA, etc: Path | None = None
) -> HostFiles:
    """Write *config* below *base*: its Postfix configuration in *etc* (default ``base/etc``; a
    :class:`.postfix.PostfixInstance`'s own, for a host that runs) listening on *port*, the ident port
    *ident_port* in its packet filter. Returns where everything is."""
    etc = etc or base / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    _write_settled(etc / "main.cf", main_cf(config, base, etc))
    _write_settled(etc / "master.cf", master_cf(config, port, etc))
    _table(etc / "aliases", config.aliases, ":")
    _table(etc / "virtual", config.virtual, "")
    _table(etc / "roles", config.access, "")
    _build("postalias", etc, etc / "aliases")
    _build("postmap", etc, etc / "virtual")
    _build("postmap", etc, etc / "roles")
    _certificate(config, etc, ca)
    hosts = base / "hosts"
    entries = [("127.0.0.1", "localhost"), *config.hosts]
    hosts.write_text("".join(f"{ip} {name}\n" for ip, name in entries), encoding="utf-8")
    resolv = base / "resolv.conf"
    resolv.write_text(f"nameserver {NOWHERE_DNS}\noptions timeout:1 attempts:1\n", encoding="utf-8")
    bin_dir = base / "bin"
    bin_dir.mkdir(exist_ok=True)
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
    return HostFiles(base, etc, hosts, resolv, bin_dir)


def postconf_complaints(etc: Path) -> str | None:
    """What ``postconf -c ETC -n`` warns of (or its failure), or ``None`` when it reads cleanly."""
    program = find_program("postconf")
    if program is None:
        return "postconf is not installed"
    proc = subprocess.run(
        [program, "-c", str(etc), "-n"], capture_output=True, text=True, check=False, timeout=30
    )
    if proc.returncode != 0 or proc.stderr.strip():
        return proc.stderr.strip() or f"exit status {proc.returncode}"
    return None


def settings_of(etc: Path) -> Mapping[str, str]:
    """``postconf -c ETC -n`` as a mapping."""
    program = find_program("postconf") or "postconf"
    out = subprocess.run(
        [program, "-c", str(etc), "-n"], capture_output=True, text=True, check=True, timeout=30
    )
    return dict(line.split(" = ", 1) for line in out.stdout.splitlines() if " = " in line)


# ------------------------------------------------------------------------------------ the lab DNS
def scenario_toml() -> str:
    """The lab scenario of :data:`DOMAIN`: its MX host ``mx.hostcheck.test`` at :data:`MX_IP` (A only),
    whose PTR names it; no MTA (real Postfix plays it)."""
    return f'''\
domain = "{DOMAIN}"
description = "the host checks' domain: its MX host is a real Postfix, inspected from the inside"
[expect]
pass = ["host.mta.listening", "host.role.postmaster", "host.tls.cert-current", "host.helo.matches-ptr"]
[zone]
records = """
@       MX  10 {MX_HOST}.
mx      A   {MX_IP}
"""
[[zone.nameserver]]
host = "ns1"
ip = "{NS_IP}"
[ptr]
"{MX_IP}" = "{MX_HOST}"
'''


def _names_check() -> None:
    """Every broken host has a name of its own and is not the good host."""
    names = [c.name for c in CONFIGS]
    if len(set(names)) != len(names):
        raise AssertionError(f"two hosts share a name: {names}")
    for c in CONFIGS[1:]:
        same = dataclasses.replace(c, name=GOOD.name, delta="", outcome="passed", names=(), domain_only=False)
        if same == dataclasses.replace(GOOD, runs=c.runs):
            raise AssertionError(f"{c.name}: the broken host is the good one")


_names_check()
