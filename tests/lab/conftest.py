"""Fixtures of the lab's own tests: the packaged lab, and a way to ask it with plain dnspython."""

from __future__ import annotations

from collections.abc import Callable

import dns.message
import dns.query
import dns.rdatatype
import pytest

from mailspec.testing import RESOLVER_IP, Lab
from mailspec.testing.fixtures import mailspec_lab, make_mailspec_lab

__all__ = ["mailspec_lab", "make_mailspec_lab"]

Ask = Callable[..., dns.message.Message]


def ask_lab(lab: Lab) -> Ask:
    """``ask(name, rdtype, ip=resolver, tcp=False, timeout=5.0, **make_query_kwargs)`` (the timeout: a
    bound for a loaded machine; the tests of silence pass a short one)."""

    def ask(
        name: str,
        rdtype: str | dns.rdatatype.RdataType,
        ip: str = RESOLVER_IP,
        *,
        tcp: bool = False,
        timeout: float = 5.0,
        **kwargs: object,
    ) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype, **kwargs)  # type: ignore[arg-type]
        send = dns.query.tcp if tcp else dns.query.udp
        return send(query, ip, port=lab.dns_port, timeout=timeout)

    return ask


@pytest.fixture
def ask(mailspec_lab: Lab) -> Ask:
    """Queries to the session lab of every packaged scenario."""
    return ask_lab(mailspec_lab)


@pytest.fixture
def asker() -> Callable[[Lab], Ask]:
    """Makes an ``ask`` bound to any lab (for the labs a test starts itself)."""
    return ask_lab
