"""Hand-made host facts for the host checks' verdict tests: a well-configured Postfix host, changed
one setting at a time, and the DNS facts of a domain whose MX is (or is not) that host."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailspec.facts.dns import DnsAnswer, DomainDns, MxTarget, Record
from mailspec.facts.host import MtaConfig, RoleRoute, TlsFiles
from mailspec.facts.smtp import HostAddresses, ReverseDns
from mailspec.records.certs import parse_cert
from mailspec.records.postfix import parse_master

D = "example.com"
MX = "mx1.example.com"
V4, V6 = "192.0.2.25", "2001:db8::25"

MASTER = """\
smtp       inet  n       -       y       -       1       postscreen
smtpd      pass  -       -       y       -       -       smtpd
smtp       unix  -       -       y       -       -       smtp
"""

GOOD_VALUES = {
    "myhostname": MX,
    "mydestination": f"{MX}, localhost.{D}, localhost",
    "smtpd_banner": f"{MX} ESMTP Postfix",
    "smtp_helo_name": MX,
    "inet_interfaces": "all",
    "inet_protocols": "all",
    "mynetworks": "127.0.0.0/8 [::1]/128",
    "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
    "smtpd_recipient_restrictions": (
        "check_recipient_access hash:/etc/postfix/roles, reject_rbl_client zen.test"
    ),
    "smtpd_client_restrictions": "",
    "smtpd_helo_restrictions": "",
    "smtpd_sender_restrictions": "",
    "smtpd_helo_required": "yes",
    "smtpd_forbid_unauth_pipelining": "yes",
    "postscreen_greet_action": "enforce",
    "postscreen_pipelining_enable": "no",
    "disable_vrfy_command": "yes",
    "smtpd_tls_security_level": "may",
    "smtpd_tls_cert_file": "/etc/ssl/mx.pem",
    "smtpd_tls_key_file": "/etc/ssl/mx.key",
}


def cert_pem(
    names: list[str], days: int = 90, *, key: ec.EllipticCurvePrivateKey | None = None
) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``names`` valid ``days`` more days (negative: expired), and its key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "x")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def tls_for(names: list[str], days: int = 90) -> TlsFiles:
    pem, _ = cert_pem(names, days)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return TlsFiles("/etc/ssl/mx.pem", "/etc/ssl/mx.key", match=True, cert=parse_cert(der))


def routes(**bad: RoleRoute) -> dict[str, RoleRoute]:
    out = {a: RoleRoute(a, (f"alias_maps hash:/etc/aliases: {a} -> root",), "local user root", True)
           for a in ("postmaster", "abuse", f"postmaster@{D}", f"abuse@{D}")}  # fmt: skip
    for k, v in bad.items():  # (abuse=..., postmaster_at_example_com=...)
        local, at, domain = k.replace("_at_", "@").partition("@")
        out[local + at + domain.replace("_", ".")] = v
    return out


GOOD = MtaConfig(
    host="local",
    mta="postfix",
    values=GOOD_VALUES,
    services=tuple(parse_master(MASTER)),
    addresses=("127.0.0.1", "::1", V4, V6),
    listening=(("0.0.0.0", 25), ("::", 25), ("0.0.0.0", 113)),
    hostname_ips=(V4, V6),
    roles=routes(),
    tls=tls_for([MX]),
    access={
        "hash:/etc/postfix/roles|postmaster@": "OK",
        "hash:/etc/postfix/roles|abuse@": "OK",
    },
    firewall="",
    firewall_tool="nft list ruleset",
)


def mta(values: dict[str, str] | None = None, **changes: Any) -> MtaConfig:
    """The good host, with some settings (``values``) or facts changed."""
    merged = {**GOOD.values, **(values or {})}
    return replace(GOOD, values=merged, **changes)


def ans(
    qname: str, rdtype: str, *records: Record, rcode: str = "NOERROR", error: str | None = None
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=rcode, error=error, answer=records)


def target(name: str, v4: str | None = V4, v6: str | None = V6) -> MxTarget:
    a = ans(name, "A", *([Record(name, 60, "A", v4)] if v4 else []))
    aaaa = ans(name, "AAAA", *([Record(name, 60, "AAAA", v6)] if v6 else []))
    return MxTarget(D, name, 10, a, aaaa)


def domain_dns(*targets: MxTarget) -> DomainDns:
    mx = ans(D, "MX", *(Record(D, 300, "MX", f"10 {t.name}.") for t in targets))
    empty = ans(D, "A")
    return DomainDns(D, ans(D, "SOA"), ans(D, "NS"), mx, empty, empty, empty, mx_targets=targets)


def rdns(ip: str, ptr: str | None, back: str | None = None, *, error: str | None = None) -> ReverseDns:
    """The PTR of ``ip`` (``ptr``), whose name resolves to ``back`` (default: ``ip``)."""
    rev = "25.2.0.192.in-addr.arpa"
    if error:
        return ReverseDns(ip, ans(rev, "PTR", rcode="SERVFAIL", error=error))
    records = (Record(rev, 60, "PTR", ptr + "."),) if ptr else ()
    forward = ()
    if ptr:
        addr = back or ip
        rr = "AAAA" if ":" in addr else "A"
        a = ans(ptr, "A", *([Record(ptr, 60, "A", addr)] if rr == "A" else []))
        aaaa = ans(ptr, "AAAA", *([Record(ptr, 60, "AAAA", addr)] if rr == "AAAA" else []))
        forward = (HostAddresses(ptr, a, aaaa),)
    return ReverseDns(ip, ans(rev, "PTR", *records), forward)


# ---------------------------------------------------------------- a host that answers from a table
@dataclass
class Result:
    rc: int
    stdout: str = ""
    stderr: str = ""

    @property
    def stdout_bytes(self) -> bytes:
        return self.stdout.encode()


class FakeHost:
    """Answers commands by the first regular expression of ``table`` that matches them (exit 127,
    "not found", for anything else), and records what was asked."""

    def __init__(self, table: dict[str, Result]) -> None:
        self.table = table
        self.asked: list[str] = []

    def run(self, command: str, *args: str) -> Result:
        self.asked.append(command)
        for pattern, result in self.table.items():
            if re.fullmatch(pattern, command):
                return result
        return Result(127, "", f"sh: 1: {shlex.split(command)[0]}: not found")
