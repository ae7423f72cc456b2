"""The check catalog: stable ids, default severities, and the ``mailspec`` marker that carries them.

``CATALOG`` mirrors CATALOG.md (every id, implemented or not, so that a waiver written for a check of
a later release is accepted today). A shipped check names its id with :func:`check`; the severity comes
from here, so that one place decides it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["CATALOG", "CatalogEntry", "CheckInfo", "Severity", "check", "check_info", "function_name"]

F = TypeVar("F", bound=Callable[..., Any])


class Severity(enum.IntEnum):
    """How strongly the cited text asks for a practice (RFC 2119 words)."""

    MAY = 1
    SHOULD = 2
    MUST = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.strip().upper()]


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    severity: Severity
    #: a mailbox provider's published requirement: promoted to must under --mail-profile=bulk
    policy: bool = False
    #: "must†": the RFC says MUST, but the rule is widely and knowingly violated: reported as a warning
    demoted: bool = False

    def effective(self, profile: str) -> Severity:
        if profile == "bulk" and self.policy:
            return Severity.MUST
        return self.severity


def _e(check_id: str, severity: Severity, *, policy: bool = False, demoted: bool = False) -> CatalogEntry:
    return CatalogEntry(check_id, severity, policy, demoted)


CATALOG: dict[str, CatalogEntry] = {
    e.id: e
    for e in (
        _e("dns.domain.exists", Severity.MUST),
        _e("dns.domain.no-underscore", Severity.MUST),
        _e("dns.apex.no-cname", Severity.MUST),
        _e("dns.ns.count", Severity.MUST),
        _e("dns.ns.authoritative", Severity.SHOULD),
        _e("dns.ns.public-address", Severity.MUST),
        _e("dns.ns.no-cname", Severity.MUST),
        _e("dns.ns.parent-child-match", Severity.SHOULD),
        _e("dns.soa.serial-consistent", Severity.SHOULD),
        _e("dns.soa.timers", Severity.MAY),
        _e("dns.soa.rname", Severity.MAY),
        _e("dns.ns.no-recursion", Severity.MAY),
        _e("dns.ns.no-axfr", Severity.MAY),
        _e("dns.dnssec", Severity.SHOULD),
        _e("mx.present", Severity.SHOULD),
        _e("mx.null.exclusive", Severity.MUST),
        _e("mx.null.not-sender", Severity.SHOULD),
        _e("mx.null.spf-all", Severity.SHOULD),
        _e("mx.target.not-ip", Severity.MUST),
        _e("mx.target.hostname-syntax", Severity.MUST),
        _e("mx.no-cname", Severity.MUST),
        _e("mx.target.resolves", Severity.MUST),
        _e("mx.target.public-address", Severity.SHOULD),
        _e("mx.ipv4-reachable", Severity.SHOULD),
        _e("mx2.all-reachable", Severity.SHOULD),
        _e("mx2.accepts-domain", Severity.MUST),
        _e("mx2.policy-parity", Severity.SHOULD),
        _e("mx2.sandwich", Severity.MAY),
        _e("mx2.dual-stack-path", Severity.SHOULD),
        _e("mx2.policy-covered", Severity.SHOULD),
        _e("rdns.ptr-exists", Severity.SHOULD, policy=True),
        _e("rdns.fcrdns", Severity.SHOULD, policy=True),
        _e("rdns.ptr-target-not-cname", Severity.MUST),
        _e("rdns.single-ptr", Severity.MAY),
        _e("helo.fqdn", Severity.MUST),
        _e("helo.no-underscore", Severity.MUST),
        _e("helo.resolves", Severity.SHOULD),
        _e("helo.matches-ptr", Severity.SHOULD),
        _e("helo.spf", Severity.SHOULD),
        _e("sender.domain-resolvable", Severity.MUST),
        _e("dynip.rdns-generic", Severity.SHOULD),
        _e("dynip.pbl", Severity.SHOULD),
        _e("dnsbl.zone-sane", Severity.MUST),
        _e("dnsbl.resolver-usable", Severity.MUST),
        _e("dnsbl.listed", Severity.SHOULD),
        _e("smtp.connect", Severity.MUST),
        _e("smtp.banner.code", Severity.SHOULD),
        _e("smtp.banner.syntax", Severity.SHOULD),
        _e("smtp.banner.no-underscore", Severity.MUST),
        _e("smtp.ehlo.ok", Severity.MUST),
        _e("smtp.ehlo.no-underscore", Severity.MUST),
        _e("smtp.helo.ok", Severity.MUST),
        _e("smtp.unknown-command.tolerated", Severity.MUST),
        _e("smtp.null-sender.accepted", Severity.MUST),
        _e("smtp.rcpt.unknown-rejected", Severity.MAY),
        _e("smtp.relay.denied", Severity.MUST),
        _e("smtp.vrfy.honest", Severity.MUST),
        _e("smtp.vrfy.implemented", Severity.MUST, demoted=True),
        _e("smtp.expn.advertised", Severity.MUST),
        _e("smtp.early-talker", Severity.MAY),
        _e("smtp.pipelining.unauth", Severity.MAY),
        _e("smtp.pipelining.advertised", Severity.MAY),
        _e("role.postmaster", Severity.MUST),
        _e("role.postmaster-unqualified", Severity.MUST, demoted=True),
        _e("role.postmaster-null-sender", Severity.MUST),
        _e("role.abuse", Severity.SHOULD),
        _e("role.case-insensitive", Severity.SHOULD),
        _e("role.hostmaster", Severity.MAY),
        _e("role.not-tls-gated", Severity.MUST),
        _e("tls.starttls.offered", Severity.SHOULD, policy=True),
        _e("tls.starttls.handshake", Severity.MUST),
        _e("tls.starttls.no-readvertise", Severity.MUST),
        _e("tls.starttls.no-injection", Severity.MUST),
        _e("tls.version.modern", Severity.MUST),
        _e("tls.version.legacy-refused", Severity.SHOULD),
        _e("tls.cert.name", Severity.SHOULD),
        _e("tls.cert.validity", Severity.SHOULD),
        _e("tls.cert.chain", Severity.SHOULD),
        _e("spf.present", Severity.SHOULD, policy=True),
        _e("spf.single", Severity.MUST),
        _e("spf.syntax", Severity.MUST),
        _e("spf.modifiers-once", Severity.MUST),
        _e("spf.lookup-limit", Severity.MUST),
        _e("spf.void-limit", Severity.SHOULD),
        _e("spf.mx-limit", Severity.MUST),
        _e("spf.include-targets", Severity.MUST),
        _e("spf.all", Severity.SHOULD),
        _e("spf.after-all", Severity.SHOULD),
        _e("spf.no-ptr", Severity.SHOULD),
        _e("spf.size", Severity.SHOULD),
        _e("spf.concatenation", Severity.MUST),
        _e("spf.rrtype99", Severity.SHOULD),
        _e("spf.authorizes-outbound", Severity.SHOULD, policy=True),
        _e("dkim.namespace", Severity.MAY),
        _e("dkim.selector.present", Severity.MUST, policy=True),
        _e("dkim.selector.single", Severity.MUST),
        _e("dkim.key.syntax", Severity.MUST),
        _e("dkim.key.revoked", Severity.MAY),
        _e("dkim.key.rsa-min", Severity.MUST, policy=True),
        _e("dkim.key.rsa-recommended", Severity.SHOULD),
        _e("dkim.key.no-sha1", Severity.MUST),
        _e("dkim.key.testing", Severity.SHOULD),
        _e("dkim.key.ed25519", Severity.MAY),
        _e("dmarc.present", Severity.SHOULD, policy=True),
        _e("dmarc.single", Severity.MUST),
        _e("dmarc.syntax", Severity.MUST),
        _e("dmarc.policy", Severity.SHOULD),
        _e("dmarc.subdomain-policy", Severity.SHOULD),
        _e("dmarc.pct", Severity.SHOULD),
        _e("dmarc.rua.present", Severity.SHOULD),
        _e("dmarc.rua.external-authorized", Severity.MUST),
        _e("dmarc.rua.deliverable", Severity.SHOULD),
        _e("dmarc.misplaced", Severity.SHOULD),
        _e("dmarc.alignment-feasible", Severity.SHOULD, policy=True),
        _e("mtasts.txt", Severity.MUST),
        _e("mtasts.policy.fetch", Severity.MUST),
        _e("mtasts.policy.syntax", Severity.MUST),
        _e("mtasts.policy.max-age", Severity.SHOULD),
        _e("mtasts.mx-coverage", Severity.MUST),
        _e("mtasts.mx-tls", Severity.MUST),
        _e("mtasts.testing-needs-tlsrpt", Severity.SHOULD),
        _e("tlsrpt.record", Severity.SHOULD),
        _e("dane.tlsa.present", Severity.MAY),
        _e("dane.dnssec", Severity.MUST),
        _e("dane.tlsa.params", Severity.SHOULD),
        _e("dane.tlsa.match", Severity.MUST),
        _e("dane.ta-in-chain", Severity.MUST),
        _e("dane.requires-starttls", Severity.MUST),
        _e("dane.all-mx", Severity.SHOULD),
        _e("ident.port113", Severity.MAY),
        # §19: host-side checks of the MTA's own configuration (the testinfra release)
        _e("host.mta.listening", Severity.MUST),
        _e("host.mta.address-families", Severity.SHOULD),
        _e("host.hostname.fqdn", Severity.MUST),
        _e("host.banner.names-host", Severity.MUST),
        _e("host.helo.matches-ptr", Severity.SHOULD),
        _e("host.relay.restricted", Severity.MUST),
        _e("host.helo.required", Severity.SHOULD),
        _e("host.pipelining.enforced", Severity.SHOULD),
        _e("host.pregreet.enforced", Severity.MAY),
        _e("host.vrfy.restricted", Severity.MAY),
        _e("host.role.postmaster", Severity.MUST),
        _e("host.role.abuse", Severity.SHOULD),
        _e("host.role.unfiltered", Severity.MAY),
        _e("host.tls.configured", Severity.SHOULD),
        _e("host.tls.cert-current", Severity.SHOULD),
        _e("host.ident.not-dropped", Severity.MAY),
    )
}


@dataclass(frozen=True)
class CheckInfo:
    """What a shipped check declares: its id, severity, references, title (docstring) and fix."""

    id: str
    severity: Severity
    refs: tuple[str, ...]
    title: str
    remediation: str
    policy: bool = False
    demoted: bool = False

    def effective(self, profile: str) -> Severity:
        return CatalogEntry(self.id, self.severity, self.policy, self.demoted).effective(profile)


def function_name(check_id: str) -> str:
    """The test function named after an id: ``mx.no-cname`` -> ``test_mx_no_cname``."""
    return "test_" + check_id.replace(".", "_").replace("-", "_")


def check(check_id: str, *, refs: Sequence[str], fix: str = "") -> Callable[[F], F]:
    """Mark a test function as the mailspec check ``check_id`` (which must be in the catalog)."""
    import pytest

    entry = CATALOG[check_id]  # KeyError at import time: an id that is not in the catalog

    def wrap(func: F) -> F:
        doc = (func.__doc__ or "").strip()
        info = CheckInfo(
            id=check_id,
            severity=entry.severity,
            refs=tuple(refs),
            title=doc.split("\n\n", 1)[0].replace("\n", " ").strip(),
            remediation=fix,
            policy=entry.policy,
            demoted=entry.demoted,
        )
        marked: F = pytest.mark.mailspec(check_id, severity=str(entry.severity), refs=tuple(refs), info=info)(
            func
        )
        return marked

    return wrap


def check_info(marker_kwargs: Mapping[str, Any]) -> CheckInfo | None:
    info = marker_kwargs.get("info")
    return info if isinstance(info, CheckInfo) else None
