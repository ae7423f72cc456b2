"""The host checks' Exim rules over hand-made Exim facts, as real Exim 4.96 behaves
(tests/realservers/test_exim_hostchecks.py shows each against a running daemon): HELO is required by
``hosts_require_helo`` (not by ``helo_try_verify_hosts``), PIPECONNECT defeats ``smtp_enforce_sync``,
``local_interfaces`` is an Exim list, a TLS file the Exim user cannot read fails, the outbound HELO is
the smtp transports' ``helo_data``, relaying is what ``exim -bh`` answers, and the role addresses are
judged through the ACLs of ``exim -bP config``."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from host_facts import GOOD, MX, V4, D, rdns, target, tls_for

from mailspec.errors import Indeterminate
from mailspec.facts.host import MtaConfig, RelayProbe
from mailspec.hostchecks import test_host as h
from mailspec.outcome import Finding, current, reset
from mailspec.records.exim import AclItem, AclStatement, parse_config
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


#: the ACLs of a good host (Exim's default configuration, with abuse beside postmaster), as exim -bP
#: config prints them
ACLS = """\
domainlist local_domains = @ : example.com
hostlist relay_from_hosts = <; 127.0.0.1 ; ::1
begin acl
  acl_check_connect:
    accept delay = 1s
  acl_check_rcpt:
    accept hosts = :
    accept local_parts = postmaster : abuse
    domains = +local_domains
    deny message = listed at $dnslist_domain
    dnslists = zen.example
    require verify = sender
    accept hosts = +relay_from_hosts
    require message = relay not permitted
    domains = +local_domains
    accept
  acl_check_mail:
    accept
  acl_check_data:
    deny spam = nobody:true
    accept
begin routers
"""
SMTP = {"driver": "smtp", "helo_data": "$primary_hostname", "interface": ""}
#: the relay guard of Exim's default configuration, as the -bh trace shows it refusing
GUARD = AclStatement("require", (AclItem("domains", "+local_domains"),))
REFUSED = RelayProbe(
    "192.0.2.1", "client.example", "", "relaytest@example.net",
    (("RCPT TO:<relaytest@example.net>", "550 relay not permitted"),), 550, "550 relay not permitted",
    decision="not OK", decided_by=GUARD, where="/etc/exim4/exim4.conf 412", interface="192.0.2.25.25",
)  # fmt: skip


def exim(**changes: Any) -> MtaConfig:
    return MtaConfig(
        "local", "exim", values={**VALUES, **changes}, addresses=GOOD.addresses, listening=GOOD.listening,
        hostname_ips=GOOD.hostname_ips, tls=tls_for([MX]), exim_config=parse_config(ACLS),
        transports={"remote_smtp": SMTP, "local_delivery": {"driver": "appendfile"}}, relay_probe=REFUSED,
    )  # fmt: skip


def acls(text: str, **changes: Any) -> MtaConfig:
    """The good host with the ACL section ``text`` (and main options ``changes``)."""
    connect = "  acl_check_connect:\n    accept delay = 1s\n"
    return dataclasses.replace(exim(**changes), exim_config=parse_config(f"begin acl\n{connect}{text}"))


def fails(check: Any, *args: Any, match: str) -> str:
    with pytest.raises(FAILED, match=match) as info:
        check(*args)
    return str(info.value)


def errors(check: Any, *args: Any, match: str) -> str:
    with pytest.raises(Indeterminate, match=match) as info:
        check(*args)
    assert str(info.value).startswith("could not test")
    return str(info.value)


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
        # (a list that ends in a negation matches every other host)
        warns(check, exim(pipelining_connect_advertise_hosts="!10.0.0.0/8"), S, match="PIPECONNECT")
        for nobody in ("!*", "<; !0.0.0.0/0 ; !::/0", "!* : *"):  # (PIPECONNECT turned off)
            notes = passes(check, exim(pipelining_connect_advertise_hosts=nobody), S)
            assert not any("PIPECONNECT is offered" in n for n in notes)
        # (every IPv6 client, in another spelling; a named list of every host)
        warns(check, exim(pipelining_connect_advertise_hosts="<; 0::/0"), S, match="PIPECONNECT")
        named = dataclasses.replace(
            exim(pipelining_connect_advertise_hosts="+all"), exim_config=parse_config("hostlist all = *\n")
        )
        warns(check, named, S, match="PIPECONNECT")
        notes = passes(check, exim(pipelining_connect_advertise_hosts="+undefined"), S)
        assert any("could not be told" in n for n in notes)
        # (every IPv4 client, on a dual-stack host)
        message = warns(check, exim(pipelining_connect_advertise_hosts="0.0.0.0/0"), S, match="PIPECONNECT")
        assert "to every IPv4 client" in message
        nameless = exim(pipelining_connect_advertise_hosts="+include_unknown : *.dyn.example")
        message = warns(check, nameless, S, match="PIPECONNECT")
        assert "to every client without reverse DNS" in message
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


# ------------------------------------------------------------------------------- helo_data
MINE = [target(MX)]
PTR = [rdns(V4, MX)]


def with_helo(value: str | None, **more: str) -> MtaConfig:
    options = {k: v for k, v in {**SMTP, "helo_data": value, **more}.items() if v is not None}
    return dataclasses.replace(exim(), transports={"remote_smtp": options})


def test_helo_is_the_smtp_transports_helo_data() -> None:
    passes(h.test_host_helo_matches_ptr, exim(), D, MINE, PTR)  # ($primary_hostname, Exim's default)
    passes(h.test_host_helo_matches_ptr, with_helo(None), D, MINE, PTR)  # (unset: the same)
    passes(h.test_host_helo_matches_ptr, with_helo("${primary_hostname}"), D, MINE, PTR)
    passes(h.test_host_helo_matches_ptr, with_helo(MX.upper() + "."), D, MINE, PTR)
    text = warns(h.test_host_helo_matches_ptr, with_helo("out.example.com"), D, MINE, PTR, match="helo_data")
    assert "HELO out.example.com" in text and MX in text and "remote_smtp" in text  # (both sides named)
    warns(h.test_host_helo_matches_ptr, exim(), D, MINE, [rdns(V4, None)], match="no PTR record")
    warns(h.test_host_helo_matches_ptr, exim(), D, MINE, [rdns(V4, MX, "192.0.2.99")], match="resolve back")
    errors(h.test_host_helo_matches_ptr, exim(), D, MINE, [rdns(V4, None, error="timeout")], match="PTR")
    # a second smtp transport with another name is judged too
    two = dataclasses.replace(
        exim(), transports={"remote_smtp": SMTP, "smarthost": {**SMTP, "helo_data": "x.test"}}
    )
    warns(h.test_host_helo_matches_ptr, two, D, MINE, PTR, match="x.test .*smarthost")


def test_helo_that_is_not_known_here() -> None:
    lookup = "${lookup dnsdb{ptr=$sending_ip_address}{$value}{$primary_hostname}}"
    text = errors(
        h.test_host_helo_matches_ptr, with_helo(lookup), D, MINE, PTR, match="expanded at each delivery"
    )
    assert "remote_smtp" in text and "dnsdb" in text
    unread = dataclasses.replace(exim(), unread={"transports": "`exim -bP transports` failed: exit status 1"})
    errors(h.test_host_helo_matches_ptr, unread, D, MINE, PTR, match="exim -bP transports")
    local_only = dataclasses.replace(exim(), transports={"local_delivery": {"driver": "appendfile"}})
    with pytest.raises(pytest.skip.Exception, match="no smtp transport"):
        h.test_host_helo_matches_ptr(local_only, D, MINE, PTR)
    with pytest.raises(pytest.skip.Exception, match="--mail-domain"):
        h.test_host_helo_matches_ptr(exim(), "", None, None)


# ---------------------------------------------------------------------------------- relaying
def probed(
    code: int, reply: str = "", problem: str = "", decision: str = "DENY", by: AclStatement | None = GUARD
) -> MtaConfig:
    probe = dataclasses.replace(
        REFUSED, rcpt_code=code, rcpt=reply or f"{code} x", problem=problem, decision=decision, decided_by=by
    )
    return dataclasses.replace(exim(), relay_probe=probe)


def statement(verb: str, *items: str) -> AclStatement:
    parsed = parse_config("begin acl\n r:\n  " + "\n  ".join([verb, *items]) + "\n").acls["r"]
    return parsed[0]


def test_relaying_is_what_exim_bh_answers() -> None:
    notes = passes(h.test_host_relay_restricted, exim(), S)
    assert not any("-bh" in n for n in notes)
    accepted = probed(250, "250 Accepted", decision="ACCEPT", by=statement("accept"))
    text = fails(h.test_host_relay_restricted, accepted, S, match="accepts relaying")
    assert "exim -bh" in text and "relaytest@example.net" in text and "250 Accepted" in text
    assert "MAIL FROM:<>" in text and "-oMi 192.0.2.25.25" in text and "accepted by `accept`" in text
    errors(h.test_host_relay_restricted, probed(354), S, match="answered RCPT with 354")
    why = "MAIL FROM:<> was answered 451 sender verify defer: the RCPT ACL was not reached"
    errors(h.test_host_relay_restricted, probed(0, problem=why), S, match="the RCPT ACL was not reached")
    errors(h.test_host_relay_restricted, dataclasses.replace(exim(), relay_probe=None), S, match="exim -bh")


def test_a_deferred_relaying_attempt_is_could_not_test() -> None:
    """A 4xx (``deny !verify = sender`` whose DNS lookup deferred, say) hides the relay guard's verdict:
    an open relay behind it would pass if it counted as restricted (it used to)."""
    deferred = probed(
        451, "451 Temporary local problem", decision="DEFER", by=statement("deny", "!verify = sender")
    )
    text = errors(h.test_host_relay_restricted, deferred, S, match="defers the relaying attempt")
    assert "451 Temporary local problem" in text and "`deny  !verify = sender`" in text
    errors(h.test_host_relay_restricted, probed(451, decision="", by=None), S, match="defers")


def test_a_refusal_counts_only_from_the_relay_guard() -> None:
    for guard in (
        statement("require", "domains = +local_domains : +relay_to_domains"),
        statement("deny", "message = relay not permitted", "!domains = +local_domains", "!authenticated = *"),
        statement("deny", "domains = ! +local_domains"),
        # a refusal of every client it does not trust: a bare deny, or one with only !hosts/!authenticated
        statement("deny", "message = relay not permitted"),
        statement(
            "deny", "message = relay not permitted", "!hosts = +relay_from_hosts", "!authenticated = *"
        ),
    ):
        passes(h.test_host_relay_restricted, probed(550, by=guard), S)
    # recipient verification refuses an unroutable probe at any domain: it says nothing of relaying
    for verify in (statement("deny", "!verify = recipient"), statement("require", "verify = recipient")):
        errors(h.test_host_relay_restricted, probed(550, by=verify), S, match="does not route")
    narrow = statement("deny", "!domains = +local_domains", "hosts = 192.0.2.0/24")
    errors(h.test_host_relay_restricted, probed(550, by=narrow), S, match="not the relay guard")
    # a statement before the guard refuses the TEST-NET client: the guard's verdict is hidden
    bogon = probed(550, "550 Administrative prohibition", by=statement("deny", "hosts = 192.0.2.0/24"))
    text = errors(h.test_host_relay_restricted, bogon, S, match="not the relay guard")
    assert "`deny  hosts = 192.0.2.0/24` (/etc/exim4/exim4.conf 412)" in text
    errors(h.test_host_relay_restricted, probed(550, by=statement("deny", "dnslists = zen.example")), S,
           match="dnslists = zen.example")  # fmt: skip
    errors(h.test_host_relay_restricted, probed(550, decision="", by=None), S, match="does not say which")
    # no RCPT ACL: Exim refuses every recipient over SMTP
    no_acl = dataclasses.replace(probed(550, decision="", by=None), values={**VALUES, "acl_smtp_rcpt": ""})
    notes = passes(h.test_host_relay_restricted, no_acl, S)
    assert any("no acl_smtp_rcpt" in n for n in notes)
    # nothing took the recipient: the end of the ACL refused it
    notes = passes(h.test_host_relay_restricted, probed(550, decision="implicit DENY", by=None), S)
    assert any("implicit deny" in n for n in notes)


def test_a_discard_answers_250_and_relays_nothing() -> None:
    discard = probed(
        250, "250 Accepted", decision="DISCARD", by=statement("discard", "!domains = +local_domains")
    )
    notes = passes(h.test_host_relay_restricted, discard, S)
    assert any("discarded" in n for n in notes)
    other = probed(250, "250 Accepted", decision="DISCARD", by=statement("discard", "hosts = 192.0.2.0/24"))
    errors(h.test_host_relay_restricted, other, S, match="not the relay guard")


def test_an_open_accept_before_the_relay_guard_fails() -> None:
    """Whatever -bh says (its client refused by a bogon list, say), an ``accept`` that any client meets
    before the relay guard relays."""
    for rule in (
        "accept",
        "accept local_parts = relaytest",
        "accept verify = sender\n    senders = *@example.com",
    ):
        text = "  r:\n    deny hosts = 192.0.2.0/24\n    " + rule + "\n    require domains = +local_domains\n"
        c = dataclasses.replace(
            acls(text, acl_smtp_rcpt="r"),
            relay_probe=probed(550, by=statement("deny", "hosts = 192.0.2.0/24")).relay_probe,
        )
        fails(h.test_host_relay_restricted, c, S, match="before any relay guard")
    # after the guard, an accept takes only the host's own domains
    guarded = "  r:\n    require domains = +local_domains\n    accept\n"
    passes(h.test_host_relay_restricted, acls(guarded, acl_smtp_rcpt="r"), S)
    hosts = "  r:\n    accept hosts = +relay_from_hosts\n    authenticated = *\n"
    hosts += "    require domains = @\n    accept\n"
    passes(h.test_host_relay_restricted, acls(hosts, acl_smtp_rcpt="r"), S)


def test_the_networks_the_rcpt_acl_trusts() -> None:
    wide = "  r:\n    accept hosts = <; 127.0.0.1 ; 8.0.0.0/8 ; 2a00::/16\n    require domains = @\n"
    text = fails(h.test_host_relay_restricted, acls(wide, acl_smtp_rcpt="r"), S, match="wider than /24")
    assert "8.0.0.0/8" in text and "2a00::/16" in text and "exim -bh" not in text  # (-bh refused it)
    # a wide network fails even when -bh could not say
    c = dataclasses.replace(
        acls(wide, acl_smtp_rcpt="r"), relay_probe=probed(0, problem="timed out").relay_probe
    )
    fails(h.test_host_relay_restricted, c, S, match="8.0.0.0/8")
    names = "  r:\n    accept hosts = mail.example.com : net-lsearch;/etc/relay\n    require domains = @\n"
    notes = passes(h.test_host_relay_restricted, acls(names, acl_smtp_rcpt="r"), S)
    assert any("not judged" in n and "net-lsearch;/etc/relay" in n for n in notes)
    notes = passes(h.test_host_relay_restricted, exim(acl_smtp_rcpt="${if true{acl_check_rcpt}}"), S)
    assert any("expanded" in n for n in notes)
    # a list that ends in a negation is every other host, and so is a negated condition
    for hosts in (
        "accept hosts = !10.0.0.0/8",
        "accept !hosts = 10.0.0.0/8",
        "accept hosts = !+relay_from_hosts",
    ):
        text = f"  r:\n    {hosts}\n    require domains = @\n"
        message = fails(
            h.test_host_relay_restricted, acls(text, acl_smtp_rcpt="r"), S, match="wider than /24"
        )
        assert "0.0.0.0/0" in message and "::/0" in message
    # what is accepted after the relay guard is the host's own domains
    after = "  r:\n    require domains = +local_domains\n    accept hosts = *\n"
    passes(h.test_host_relay_restricted, acls(after, acl_smtp_rcpt="r"), S)


# ------------------------------------------------------------------------------ role addresses
def test_role_addresses_are_accepted_ahead_of_the_filters() -> None:
    notes = passes(h.test_host_role_unfiltered, exim(acl_smtp_rcpt="acl_check_rcpt"), S)
    assert any(
        n.startswith("postmaster@ is accepted by `accept  local_parts = postmaster : abuse") for n in notes
    )
    assert not any("content filters" in n for n in notes)
    notes = passes(
        h.test_host_role_unfiltered, exim(acl_smtp_rcpt="acl_check_rcpt", acl_smtp_data="acl_check_data"), S
    )
    assert any("content filters run in acl_smtp_data (acl_check_data)" in n for n in notes)
    passes(
        h.test_host_role_unfiltered, exim(acl_smtp_rcpt="acl_check_rcpt", acl_smtp_mail="acl_check_mail"), S
    )


def test_filters_before_the_exemption_warn() -> None:
    blocklist_first = "  r:\n    deny dnslists = zen.example\n    accept local_parts = postmaster : abuse\n"
    text = warns(h.test_host_role_unfiltered, acls(blocklist_first, acl_smtp_rcpt="r"), S, match="dnslists")
    assert "postmaster@ and abuse@" in text and ", a DNS blocklist (Postfix reject_rbl_client" in text
    assert "seed (i)" in text
    debian = "  r:\n    accept local_parts = postmaster\n    domains = @\n    require verify = sender\n"
    text = warns(h.test_host_role_unfiltered, acls(debian, acl_smtp_rcpt="r"), S, match="verify = sender")
    assert "takes abuse@ (local_parts)" in text
    early = "  m:\n    drop hosts = 192.0.2.7\n    accept\n  r:\n    accept\n"
    text = warns(
        h.test_host_role_unfiltered,
        acls(early, acl_smtp_mail="m", acl_smtp_rcpt="r"),
        S,
        match="acl_smtp_mail",
    )
    assert "before any recipient is known" in text and "drop  hosts = 192.0.2.7" in text
    helo = "  hl:\n    require verify = helo\n    accept\n  r:\n    accept\n"
    warns(
        h.test_host_role_unfiltered,
        acls(helo, acl_smtp_helo="hl", acl_smtp_rcpt="r"),
        S,
        match="HELO verification",
    )
    warns(h.test_host_role_unfiltered, exim(acl_smtp_rcpt=""), S, match="no acl_smtp_rcpt")


def test_role_acls_that_are_not_read() -> None:
    errors(h.test_host_role_unfiltered, exim(acl_smtp_rcpt="${if true{acl_check_rcpt}}"), S, match="expanded")
    errors(h.test_host_role_unfiltered, exim(acl_smtp_rcpt="/etc/exim4/rcpt.acl"), S, match="the file")
    errors(h.test_host_role_unfiltered, exim(acl_smtp_rcpt="nowhere"), S, match="no ACL named nowhere")
    lookup = "  r:\n    accept local_parts = lsearch;/etc/exim4/roles\n    deny dnslists = zen.example\n"
    errors(h.test_host_role_unfiltered, acls(lookup, acl_smtp_rcpt="r"), S, match="whether an exemption of")
    unread = dataclasses.replace(
        exim(), exim_config=None, unread={"exim config": "`exim -bP config` failed: x"}
    )
    errors(h.test_host_role_unfiltered, unread, S, match="exim -bP config")
    listed = "/etc/exim4/local_sender_callout"
    callout = f"  r:\n    deny senders = ${{if exists{{{listed}}}{{{listed}}}{{}}}}\n"
    callout += "    !verify = sender/callout\n    accept local_parts = postmaster : abuse\n"
    errors(h.test_host_role_unfiltered, acls(callout, acl_smtp_rcpt="r"), S, match="computed at run time")
    # the file absent (stat), the list is empty and blocks no one; present, it is a filter
    c = dataclasses.replace(acls(callout, acl_smtp_rcpt="r"), acl_files={listed: False})
    passes(h.test_host_role_unfiltered, c, S)
    c = dataclasses.replace(c, acl_files={listed: True})
    warns(h.test_host_role_unfiltered, c, S, match="a sender list")
    early = "  m:\n    deny senders = ${lookup{x}lsearch{/f}}\n    !verify = sender\n    accept\n"
    early += "  r:\n    accept\n"
    errors(
        h.test_host_role_unfiltered,
        acls(early, acl_smtp_mail="m", acl_smtp_rcpt="r"),
        S,
        match="acl_smtp_mail",
    )
    broken = "  r:\n    accept\n    what is this\n"
    errors(h.test_host_role_unfiltered, acls(broken, acl_smtp_rcpt="r"), S, match="did not parse")


def test_helo_verify_hosts_must_be_every_host() -> None:
    """``helo_verify_hosts = 192.0.2.0/24`` requires HELO of that network only (it used to pass)."""
    for value in ("*", "<; 0.0.0.0/0 ; ::/0", "0.0.0.0/0 : ::::0/0", "!192.0.2.0/24"):
        passes(h.test_host_helo_required, exim(hosts_require_helo="", helo_verify_hosts=value), S)
        passes(h.test_host_helo_required, exim(hosts_require_helo=value), S)
    every = dataclasses.replace(
        exim(hosts_require_helo="+all"), exim_config=parse_config("hostlist all = *\n")
    )
    passes(h.test_host_helo_required, every, S)
    errors(
        h.test_host_helo_required,
        exim(hosts_require_helo="+undefined"),
        S,
        match="a list that is not defined",
    )
    errors(
        h.test_host_helo_required,
        exim(hosts_require_helo="/etc/exim4/helo_hosts"),
        S,
        match="a file of items",
    )
    unread = dataclasses.replace(exim(hosts_require_helo="+relay_from_hosts"), exim_config=None)
    errors(
        h.test_host_helo_required,
        unread,
        S,
        match=r"named lists could not be read \(exim -bP config failed\)",
    )
    # (a client without reverse DNS fails a list with a name pattern: it needs no HELO)
    for value in ("!*.legacy.example", "^mx : *"):
        warns(h.test_host_helo_required, exim(hosts_require_helo=value), S, match="hosts_require_helo")
    passes(h.test_host_helo_required, exim(hosts_require_helo="+ignore_unknown : !*.legacy.example : *"), S)
    # (an Exim that listens on IPv4 only needs no IPv6 client in the list)
    ipv4_only = dataclasses.replace(exim(hosts_require_helo="0.0.0.0/0"), listening=(("0.0.0.0", 25),))
    passes(h.test_host_helo_required, ipv4_only, S)
    # (the SMTP ports by number or service name: an IPv6 socket on another port does not count)
    ports = exim(hosts_require_helo="0.0.0.0/0", daemon_smtp_ports="smtp : submission")
    on_v4 = dataclasses.replace(ports, listening=(("0.0.0.0", 25), ("0.0.0.0", 587), ("::", 22)))
    passes(h.test_host_helo_required, on_v4, S)
    on_v6 = dataclasses.replace(ports, listening=(("0.0.0.0", 25), ("::", 587)))
    warns(h.test_host_helo_required, on_v6, S, match="hosts_require_helo")
    nobody = ("!*", "<; !0.0.0.0/0 ; !::/0", "192.0.2.1 : !*", "!* : *")  # (the first item decides)
    for value in ("192.0.2.0/24", "0.0.0.0/0", "+relay_from_hosts", *nobody):
        text = warns(
            h.test_host_helo_required, exim(hosts_require_helo="", helo_verify_hosts=value), S, match="MAIL"
        )
        assert f"helo_verify_hosts = {value!r} (not every host)" in text
        warns(
            h.test_host_helo_required,
            exim(hosts_require_helo=value),
            S,
            match=re.escape(f"hosts_require_helo = {value!r}"),
        )


def test_an_early_acl_that_calls_an_unread_acl_is_could_not_test() -> None:
    """``deny acl = ${if ...}`` in acl_smtp_mail may filter every recipient: not known here (it used to
    pass silently)."""
    early = "  m:\n    deny acl = ${if eq{$sender_host_address}{}{a}{b}}\n    accept\n  r:\n    accept\n"
    text = errors(
        h.test_host_role_unfiltered,
        acls(early, acl_smtp_mail="m", acl_smtp_rcpt="r"),
        S,
        match="acl_smtp_mail",
    )
    assert "calls an ACL that is not read" in text
    missing = "  m:\n    deny acl = nowhere\n    accept\n  r:\n    accept\n"
    errors(
        h.test_host_role_unfiltered, acls(missing, acl_smtp_mail="m", acl_smtp_rcpt="r"), S, match="nowhere"
    )


def test_accepting_the_local_domains_exempts_the_role_addresses() -> None:
    """``accept domains = +local_domains`` takes every address of the host's domains: a filter after
    it does not reach postmaster@ (it used to warn)."""
    for accept in (
        "accept domains = +local_domains",
        "accept domains = +local_domains\n    verify = recipient",
    ):
        text = f"  r:\n    {accept}\n    deny dnslists = zen.example\n"
        notes = passes(h.test_host_role_unfiltered, acls(text, acl_smtp_rcpt="r"), S)
        assert any(
            n.startswith("postmaster@ is accepted by `accept  domains = +local_domains") for n in notes
        )
    # other domains only, or verify = recipient alone: no exemption
    for accept in ("accept domains = ! +local_domains", "accept verify = recipient"):
        text = f"  r:\n    {accept}\n    deny dnslists = zen.example\n"
        warns(h.test_host_role_unfiltered, acls(text, acl_smtp_rcpt="r"), S, match="dnslists")
