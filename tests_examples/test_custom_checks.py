"""Checks of your own: an id, a severity and references of yours, reported like the shipped ones.

Each is a test function marked with ``mailspec.check``: its outcome follows ``--mail-fail-on``, it can be
waived (``--mail-waive=acme.mx.ours=reason``), ``mailspec.warn()`` makes a warning, and the JSON report
and JUnit show its id, severity, title (the docstring's first sentence), message, evidence and fix.

    pytest tests_examples/test_custom_checks.py --mail-domain=example.com --mail-report=mail.json
"""

from __future__ import annotations

from mailspec import check, evidence, warn
from mailspec.facts import DomainDns, MxTarget

#: the networks our MX hosts live in (here: the embedded lab's well-configured domain)
OUR_MX_SUFFIX = ".good.test"


@check(
    "acme.mx.ours",
    severity="must",
    refs=["ACME mail policy §2 (inbound mail lands on our own MX hosts)"],
    fix="Point every MX record at one of our mx*.good.test hosts.",
)
def test_acme_mx_ours(mx_target: MxTarget) -> None:
    """Every MX host is one of ours."""
    evidence(mx_target)
    assert mx_target.name.endswith(OUR_MX_SUFFIX), (
        f"{mx_target.name} is not one of our MX hosts (*{OUR_MX_SUFFIX}); ACME mail policy §2 asks that "
        "inbound mail lands on our own hosts. Point the MX at one of them."
    )


@check(
    "acme.mx.redundant",
    severity="should",
    refs=["ACME mail policy §3 (two MX hosts at least)"],
    fix="Publish a second MX host.",
)
def test_acme_mx_redundant(dns_facts: DomainDns, mx_hosts: list[MxTarget]) -> None:
    """The domain has two MX hosts at least."""
    evidence(dns_facts.mx)
    if len(mx_hosts) < 2:
        warn(f"{dns_facts.domain} has {len(mx_hosts)} MX host(s); our policy asks for two at least.")
