"""What several checks need before they can look: the domain exists, its zone is known."""

from __future__ import annotations

import pytest

from mailspec.errors import Indeterminate
from mailspec.facts import DomainDns, need

__all__ = ["existing", "existing_zone"]


def existing(d: DomainDns) -> None:
    """Error when the domain's existence is unknown; skip when it does not exist."""
    need(d.soa)
    if d.soa.nxdomain and not d.soa.chain:
        pytest.skip(f"{d.domain} does not exist (see dns.domain.exists)")
    if d.soa.nxdomain:
        pytest.skip(f"{d.domain} is an alias for a name that does not exist (see dns.domain.exists)")


def existing_zone(d: DomainDns) -> str:
    """The apex of the zone holding the domain, or skip/error when there is no zone to examine."""
    existing(d)
    if d.zone is None:
        raise Indeterminate(f"could not test: no SOA found for {d.domain} or an enclosing zone")
    return d.zone
