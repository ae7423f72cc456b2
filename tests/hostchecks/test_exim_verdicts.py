"""The host checks' Exim rules over hand-made Exim facts, as real Exim 4.96 behaves
(tests/realservers/test_exim_hostchecks.py shows each against a running daemon): HELO is required by
``hosts_require_helo`` (not by ``helo_try_verify_hosts``), PIPECONNECT defeats ``smtp_enforce_sync``,
``local_interfaces`` is an Exim list, and a TLS file the Exim user cannot read fails."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from host_facts import GOOD, MX, tls_for

from mailspec.errors import Indeterminate
from mailspec.facts.host import MtaConfig
from mailspec.hostchecks import test_host as h
from mailspec.outcome import Finding, current, reset
from mailspec.settings import Settings

S = Settings()
FAILED = (AssertionError, pytest.fail.Exception)

VALUES = {
    "primary_hostname": MX,
    "smtp_banner": "$smtp_active_hostname ESMTP Exim $version_number $tod_full",
    "smtp_enforce_sync": "true",
    "hosts_require_helo": "*",
    "helo_verify_hosts": "",
    "helo_try_verify_hosts": "",
    "acl_smtp_mail": "",
    "acl_smtp_connect": "acl_check_connect",
    "pipelining_connect_advertise_hosts": "",
    "tls_advertise_hosts": "*",
    "local_interfaces": "<; ::0 ; 0.0.0.0",
    "disable_ipv6": "false",
}


def exim(**changes: Any) -> MtaConfig:
    return MtaConfig(
        "local", "exim", values={**VALUES, **changes}, addresses=GOOD.addresses, listening=GOOD.listening,
        hostname_ips=GOOD.hostname_ips, tls=tls_for([MX]),
    )  # fmt: skip


def passes(check: Any, *args: Any) -> list[str]:
    reset()
    check(*args)
    return current().notes


def warns(check: Any, *args: Any, match: str) -> str:
    with pytest.raises(Finding, match=match) as info:
        check(*args)
    return str(info.value)


def test_helo_is_required_by_hosts_require_helo() -> None:
    passes(h.test_host_helo_required, exim(), S)  # (Exim 4.95+: its default, *)
    passes(h.test_host_helo_required, exim(hosts_require_helo="!192.0.2.1 : *"), S)
    warns(h.test_host_helo_required, exim(hosts_require_helo=""), S, match="hosts_require_helo = ''")
    # helo_try_verify_hosts checks a HELO that is given, and requires none (it used to pass)
    warns(h.test_host_helo_required, exim(hosts_require_helo="", helo_try_verify_hosts="*"), S, match="MAIL")
    passes(h.test_host_helo_required, exim(hosts_require_helo="", helo_verify_hosts="*"), S)
    with pytest.raises(Indeterminate, match="whether acl_check_mail requires HELO"):
        h.test_host_helo_required(exim(hosts_require_helo="", acl_smtp_mail="acl_check_mail"), S)
    before = {k: v for k, v in VALUES.items() if k != "hosts_require_helo"}  # (Exim before 4.95)
    old = dataclasses.replace(exim(), values=before)
    warns(h.test_host_helo_required, old, S, match="no hosts_require_helo")


def test_pipe_connect_for_every_host_defeats_enforced_sync() -> None:
    for check in (h.test_host_pipelining_enforced, h.test_host_pregreet_enforced):
        passes(check, exim(), S)
        message = warns(check, exim(pipelining_connect_advertise_hosts="*"), S, match="PIPECONNECT")
        assert "pipelining_connect_advertise_hosts = '*'" in message
        warns(check, exim(smtp_enforce_sync="false"), S, match="smtp_enforce_sync is false")
        notes = passes(check, exim(pipelining_connect_advertise_hosts="192.0.2.7"), S)
        assert any("PIPECONNECT is offered to 192.0.2.7" in n for n in notes)
        # (an Exim without PIPECONNECT prints no such option: smtp_enforce_sync decides)
        without = {k: v for k, v in VALUES.items() if k != "pipelining_connect_advertise_hosts"}
        passes(check, dataclasses.replace(exim(), values=without), S)
    notes = passes(h.test_host_pregreet_enforced, exim(acl_smtp_connect=""), S)
    assert any("no acl_smtp_connect" in n for n in notes)


def test_listening_reads_local_interfaces_as_an_exim_list() -> None:
    c = exim(local_interfaces="192.0.2.25:192.0.2.26")  # (colons, no spaces: one word to a Postfix list)
    c = dataclasses.replace(c, listening=(("192.0.2.25", 25),))
    with pytest.raises(FAILED, match=r"at 192\.0\.2\.26 "):
        h.test_host_mta_listening(c, "", None, None, S)
    c = dataclasses.replace(c, values={**c.values, "local_interfaces": "<; 192.0.2.25 ; 192.0.2.26.2525"})
    passes(h.test_host_mta_listening, c, "", None, None, S)  # (192.0.2.26 listens on 2525 only)
    # the wildcards stand for every address: a socket on the wildcard, not one on "::0"
    c = dataclasses.replace(c, values={**c.values, "local_interfaces": "<; ::0 ; 0.0.0.0"})
    c = dataclasses.replace(c, listening=(("0.0.0.0", 25),))
    passes(h.test_host_mta_listening, c, "", None, None, S)


def test_tls_files_the_exim_user_cannot_read_fail() -> None:
    key = "/etc/exim4/exim.key"
    why = f"{key} cannot be read by the Exim user Debian-exim (uid 101): it is owner 0, group 0, mode 600"
    tls = dataclasses.replace(tls_for([MX]), key_path=key, key_problem=why, unreadable=(key,))
    with pytest.raises(FAILED, match="cannot be read by the Exim user Debian-exim"):
        h.test_host_tls_configured(dataclasses.replace(exim(), tls=tls), S)
    # dual certificates: the second pair's problems count too
    second = dataclasses.replace(tls_for([MX]), cert_path="/etc/exim4/rsa.crt", key_path=key, key_problem=why,
                                 unreadable=(key,))  # fmt: skip
    with pytest.raises(FAILED, match="cannot be read by the Exim user"):
        h.test_host_tls_configured(dataclasses.replace(exim(), more_tls=(second,)), S)
    passes(h.test_host_tls_configured, dataclasses.replace(exim(), more_tls=(tls_for([MX]),)), S)
