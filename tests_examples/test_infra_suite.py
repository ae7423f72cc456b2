"""An infrastructure team's testinfra suite for its mail hosts, with mailspec in it: some of the
shipped host checks (the MTA's configuration, read on each host), one shipped check from outside (the
domain's MX records), and the team's own tests over the same facts and testinfra's ``host``.

Run with: pytest tests_examples/test_infra_suite.py --hosts=ssh://mx1.example.com,ssh://mx2.example.com
--mail-domain=example.com (on the mail host itself: --hosts=local://; another Postfix configuration:
--mail-mta-config=/etc/postfix-out). Without --mail-domain the outside check skips and the host checks
judge what each host alone says.
"""

from __future__ import annotations

from typing import Any

from mailspec.checks.test_mx import test_mx_present  # noqa: F401  (from outside: the domain's MX records)
from mailspec.facts import DomainDns
from mailspec.facts.host import MtaConfig
from mailspec.hostchecks.test_host import (  # noqa: F401  (from inside: each host's own configuration)
    test_host_relay_restricted,
    test_host_role_postmaster,
    test_host_vrfy_restricted,
)


def test_postfix_is_the_mta(mta_config: MtaConfig) -> None:
    """Our own rule: every mail host runs Postfix (the host's facts are read once, for every check)."""
    assert mta_config.mta == "postfix", f"{mta_config.host} runs {mta_config.mta or 'no MTA'}"


def test_message_size_limit_is_ours(mta_config: MtaConfig) -> None:
    """Our own rule: we take messages up to 50 MB (Postfix's default is 10 MB)."""
    limit = int(mta_config.values.get("message_size_limit", "0") or 0)
    assert limit == 0 or limit >= 10_240_000, f"{mta_config.host}: message_size_limit = {limit}"


def test_postqueue_is_installed(host: Any) -> None:
    """A plain testinfra test beside them: the host's own tools."""
    assert host.exists("postqueue") or not host.exists("postconf")


def test_the_domain_has_mx_hosts(dns_facts: DomainDns) -> None:
    """A test of the outside fixtures (skipped without --mail-domain)."""
    assert [t.name for t in dns_facts.mx_targets if t.name]
