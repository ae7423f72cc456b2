"""The sending identity: the sender domain (`pytest --mail-checks` lists every check)."""

from __future__ import annotations

import pytest

from mailspec.catalog import check
from mailspec.facts import DomainDns, need
from mailspec.outcome import evidence
from mailspec.records.spf import authorises_hosts

__all__ = ["test_sender_domain_resolvable"]


@check(
    "sender.domain-resolvable",
    refs=["RFC 5321 §2.3.5", "RFC 2505 §2.9", "RFC 7505 §4.2"],
    fix="Give the sender domain an MX record (or at least an A/AAAA record).",
)
def test_sender_domain_resolvable(dns_facts: DomainDns) -> None:
    """The sender domain has a (non-null) MX or an address, so receivers accept it in MAIL FROM."""
    d = dns_facts
    need(d.soa)
    evidence(d.soa)
    assert not d.soa.nxdomain, (
        f"the sender domain {d.domain} does not exist (NXDOMAIN): receivers verify the MAIL FROM domain "
        "and reject mail from a domain that does not resolve (RFC 5321 §2.3.5, RFC 2505 §2.9). Register it."
    )
    need(d.mx)
    evidence(d.mx)
    if d.null_mx:
        need(d.txt)
        if not any(authorises_hosts(s) for s in d.spf_records):
            pytest.skip(f"{d.domain} declares that it takes and sends no mail (null MX, no SPF sender)")
    usable_mx = [r for r in d.non_null_mx if r.target != ""]
    if usable_mx:
        return
    evidence(d.a, d.aaaa)
    if not d.has_address:
        need(d.a, d.aaaa)
    assert d.has_address, (
        f"the sender domain {d.domain} has no usable MX "
        f"{'(only a null MX) ' if d.has_null_mx_record else ''}and no A/AAAA record: receivers that check "
        "the MAIL FROM domain reject its mail, and bounces cannot return (RFC 5321 §2.3.5, RFC 2505 §2.9, "
        "RFC 7505 §4.2). Publish an MX record for it."
    )
