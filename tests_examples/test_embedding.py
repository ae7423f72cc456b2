"""Embedding mailspec in your own infrastructure suite.

Run with: pytest tests_examples/test_embedding.py --mail-domain=example.com [--mail-resolver=ADDR]
(or --mail-lab to try it on the embedded lab).
"""

from __future__ import annotations

from mailspec.checks.test_mx import *  # noqa: F403  the shipped MX checks, run as part of this suite
from mailspec.facts import DomainDns, MxTarget


def test_every_mx_record_is_cached_for_at_least_five_minutes(dns_facts: DomainDns) -> None:
    """Your own rule, over the same survey: no extra DNS traffic."""
    short = [r for r in dns_facts.mx.answer if r.rdtype == "MX" and r.ttl < 300]
    assert not short, f"MX records with a TTL under 300 s: {', '.join(map(str, short))}"


def test_mx_host_is_one_of_ours(mx_target: MxTarget) -> None:
    """Runs once per MX host of every configured domain."""
    assert mx_target.name.endswith(f".{mx_target.domain}") or mx_target.implicit
