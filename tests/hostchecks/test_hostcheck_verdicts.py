"""Each host check's verdict over hand-made host facts (mailspec/hostchecks/test_host.py): the good
host passes every check; one setting changed at a time fails, warns, skips or could-not-test as
CATALOG §19 says; an unread setting is never a failure; an Exim rule not read is an error (the Exim
rules themselves: test_exim_verdicts.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from host_facts import GOOD, MX, V4, V6, D, domain_dns, mta, rdns, routes, target, tls_for

from mailspec.errors import Indeterminate
from mailspec.facts.host import MtaConfig, RoleRoute, TlsFiles
from mailspec.hostchecks import test_host as h
from mailspec.outcome import Finding, current, reset
from mailspec.records.postfix import parse_master
from mailspec.settings import Settings

S = Settings()
FAILED = (AssertionError, pytest.fail.Exception)
Check = Callable[..., None]


def passes(check: Check, *args: Any) -> list[str]:
    reset()
    check(*args)
    return current().notes


def fails(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(FAILED, match=match) as info:
        check(*args)
    return str(info.value)


def warns(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(Finding, match=match) as info:
        check(*args)
    return str(info.value)


def skips(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(pytest.skip.Exception, match=match) as info:
        check(*args)
    return str(info.value)


def errors(check: Check, *args: Any, match: str | None = None) -> str:
    with pytest.raises(Indeterminate, match=match) as info:
        check(*args)
    assert str(info.value).startswith("could not test")
    return str(info.value)


MINE = [target(MX)]
DNS = domain_dns(*MINE)
EXIM = MtaConfig(
    "local",
    "exim",
    values={
        "primary_hostname": MX,
        "smtp_banner": "$smtp_active_hostname ESMTP Exim",
        "smtp_enforce_sync": "true",
        "tls_advertise_hosts": "*",
        "disable_ipv6": "false",
    },
    addresses=GOOD.addresses,
    listening=GOOD.listening,
    hostname_ips=GOOD.hostname_ips,
    roles=routes(),
    tls=GOOD.tls,
)


def test_the_good_host_passes_every_check() -> None:
    passes(h.test_host_mta_listening, GOOD, D, DNS, MINE, S)
    passes(h.test_host_mta_listening, GOOD, "", None, None, S)
    passes(h.test_host_mta_address_families, GOOD, D, DNS, MINE, S)
    passes(h.test_host_hostname_fqdn, GOOD)
    passes(h.test_host_banner_names_host, GOOD, S)
    passes(h.test_host_helo_matches_ptr, GOOD, D, MINE, [rdns(V4, MX), rdns(V6, MX)])
    passes(h.test_host_relay_restricted, GOOD, S)
    passes(h.test_host_helo_required, GOOD, S)
    passes(h.test_host_pipelining_enforced, GOOD, S)
    passes(h.test_host_pregreet_enforced, GOOD, S)
    passes(h.test_host_vrfy_restricted, GOOD, S)
    notes = passes(h.test_host_role_postmaster, GOOD, D, DNS)
    assert notes == ["postmaster -> local user root", f"postmaster@{D} -> local user root"]
    passes(h.test_host_role_abuse, GOOD, "", None)
    passes(h.test_host_role_unfiltered, GOOD, S)
    passes(h.test_host_tls_configured, GOOD, S)
    passes(h.test_host_tls_cert_current, GOOD, D, DNS, MINE, S)
    passes(h.test_host_tls_cert_current, GOOD, "", None, None, S)
    passes(h.test_host_ident_not_dropped, GOOD, S)


# ------------------------------------------------------------------------------------- listening
def test_listening_fails_for_an_mx_address_without_a_socket() -> None:
    c = mta(listening=(("127.0.0.1", 25), (V6, 25)))
    text = fails(h.test_host_mta_listening, c, D, DNS, MINE, S)
    assert f"{MX} {V4}" in text and V6 not in text.split("listening:")[0]
    assert "RFC 5321 §4.5.4.2" in text


def test_listening_on_the_lab_port_and_without_a_domain() -> None:
    c = mta(listening=(("0.0.0.0", 2525),))
    fails(h.test_host_mta_listening, c, "", None, None, S, match="nothing listens on TCP port 25")
    passes(h.test_host_mta_listening, c, "", None, None, Settings(smtp_port=2525))
    # (item 8) a loopback-only listener is no MX listener
    loop = mta({"inet_interfaces": "loopback-only"}, listening=(("127.0.0.1", 25), ("::1", 25)))
    fails(h.test_host_mta_listening, loop, "", None, None, S, match="only on the host itself")
    c = mta({"inet_interfaces": "127.0.0.1, 192.0.2.9"}, listening=(("127.0.0.1", 25),))
    fails(h.test_host_mta_listening, c, "", None, None, S, match="192.0.2.9")


def test_listening_unreadable_sockets_is_an_error_and_no_mx_here_skips() -> None:
    errors(h.test_host_mta_listening, mta(unread={"sockets": "`ss` failed"}), D, DNS, MINE, S)
    skips(h.test_host_mta_listening, GOOD, D, DNS, [], S, match="no MX host of example.com is this host")


def test_address_families() -> None:
    fails(h.test_host_mta_address_families, mta({"inet_protocols": "ipv4"}), D, DNS, MINE, S, match="IPv6")
    v4only = [target(MX, V4, None)]
    passes(h.test_host_mta_address_families, mta({"inet_protocols": "ipv4"}), D, DNS, v4only, S)
    fails(h.test_host_mta_address_families, mta(listening=(("0.0.0.0", 25),)), D, DNS, MINE, S,
          match="no IPv6 socket")  # fmt: skip
    skips(h.test_host_mta_address_families, GOOD, "", None, None, S, match="--mail-domain")
    fails(h.test_host_mta_address_families, EXIM.__class__(**{**EXIM.__dict__, "values": {**EXIM.values,
          "disable_ipv6": "true"}}), D, DNS, MINE, S, match="disable_ipv6")  # fmt: skip


# ------------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("name", ["localhost", "mail", "mx_1.example.com", ""])
def test_hostname_not_an_fqdn_fails(name: str) -> None:
    fails(h.test_host_hostname_fqdn, mta({"myhostname": name}), match="myhostname")


def test_hostname_must_resolve_to_the_host() -> None:
    fails(h.test_host_hostname_fqdn, mta(hostname_ips=()), match="no address at all")
    fails(h.test_host_hostname_fqdn, mta(hostname_ips=("198.51.100.7",)), match="none of them the host's own")
    assert "loopback" in passes(h.test_host_hostname_fqdn, mta(hostname_ips=("127.0.1.1",)))[0]
    errors(h.test_host_hostname_fqdn, mta(unread={"hostname": "`getent` failed"}))
    passes(h.test_host_hostname_fqdn, EXIM)


def test_banner() -> None:
    fails(h.test_host_banner_names_host, mta({"smtpd_banner": "ESMTP ready"}), S, match="not the host name")
    fails(h.test_host_banner_names_host, mta({"smtpd_banner": f"{MX} ESMTP my_server"}), S, match="'_'")
    over = mta(services=tuple(parse_master("smtp inet n - y - - smtpd -o smtpd_banner=mail.local")))
    fails(h.test_host_banner_names_host, over, S, match="mail.local")
    passes(h.test_host_banner_names_host, EXIM, S)


def test_helo_matches_ptr() -> None:
    text = warns(h.test_host_helo_matches_ptr, GOOD, D, MINE, [rdns(V4, "host-25.isp.example")])
    assert MX in text and "host-25.isp.example" in text  # both sides named
    warns(
        h.test_host_helo_matches_ptr,
        GOOD,
        D,
        MINE,
        [rdns(V4, MX, "192.0.2.99")],
        match="does not resolve back",
    )
    warns(h.test_host_helo_matches_ptr, GOOD, D, MINE, [rdns(V4, None)], match="no PTR record")
    errors(h.test_host_helo_matches_ptr, GOOD, D, MINE, [rdns(V4, None, error="timeout")])
    skips(h.test_host_helo_matches_ptr, GOOD, "", None, None, match="--mail-domain")
    # (Exim's helo_data is judged in test_exim_verdicts.py: these facts have no transports read)
    skips(h.test_host_helo_matches_ptr, EXIM, D, MINE, [], match="no smtp transport")


# ----------------------------------------------------------------------------------------- policy
@pytest.mark.parametrize(
    "values",
    [
        {
            "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated",
            "smtpd_recipient_restrictions": "",
        },
        {
            "smtpd_relay_restrictions": "permit_mynetworks, permit, reject_unauth_destination",
            "smtpd_recipient_restrictions": "permit",
        },
        {"mynetworks": "127.0.0.0/8 8.0.0.0/8"},
        {"mynetworks": "127.0.0.0/8 [2a00::]/16"},
    ],
)
def test_relay_open_fails(values: dict[str, str]) -> None:
    fails(h.test_host_relay_restricted, mta(values), S, match="RFC 2505")


def test_relay_restricted_in_recipient_restrictions_or_refused_by_exim() -> None:
    c = mta(
        {
            "smtpd_relay_restrictions": "",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
        }
    )
    passes(h.test_host_relay_restricted, c, S)
    errors(h.test_host_relay_restricted, EXIM, S, match="exim -bh was not run")  # (test_exim_verdicts.py)
    errors(h.test_host_relay_restricted, mta(unread={"master.cf": "`postconf -M` failed"}), S)


def test_helo_pipelining_pregreet_vrfy_warn() -> None:
    warns(h.test_host_helo_required, mta({"smtpd_helo_required": "no"}), S, match="smtpd_helo_required")
    warns(h.test_host_pipelining_enforced, mta({"smtpd_forbid_unauth_pipelining": "no"}), S)
    c = mta({"smtpd_forbid_unauth_pipelining": "no", "smtpd_data_restrictions": "reject_unauth_pipelining"})
    passes(h.test_host_pipelining_enforced, c, S)
    c = mta({"smtpd_forbid_unauth_pipelining": "no", "postscreen_pipelining_enable": "yes"})
    passes(h.test_host_pipelining_enforced, c, S)
    warns(h.test_host_pregreet_enforced, mta({"postscreen_greet_action": "ignore"}), S, match="ignore")
    plain = mta(services=tuple(parse_master("smtp inet n - y - - smtpd")))
    warns(h.test_host_pregreet_enforced, plain, S, match="no postscreen")
    warns(h.test_host_vrfy_restricted, mta({"disable_vrfy_command": "no"}), S, match="harvest")


def test_exim_rules_read_or_said_unread() -> None:
    passes(h.test_host_pipelining_enforced, EXIM, S)
    passes(h.test_host_pregreet_enforced, EXIM, S)
    no_sync = MtaConfig("local", "exim", values={"smtp_enforce_sync": "false"})
    warns(h.test_host_pipelining_enforced, no_sync, S)
    warns(h.test_host_pregreet_enforced, no_sync, S)
    warns(h.test_host_helo_required, EXIM, S, match="Exim accepts MAIL without HELO")  # (no acl_smtp_mail)
    passes(h.test_host_helo_required, MtaConfig("local", "exim", values={"helo_verify_hosts": "*"}), S)
    passes(h.test_host_vrfy_restricted, EXIM, S)
    errors(h.test_host_role_unfiltered, EXIM, S, match="exim -bP config was not read")


# ------------------------------------------------------------------------------------------- roles
def test_roles() -> None:
    nowhere = RoleRoute(f"postmaster@{D}", ("no alias and no local user named postmaster",),
                        "no alias and no local user postmaster", False)  # fmt: skip
    c = mta(roles=routes(postmaster_at_example_com=nowhere))
    text = fails(h.test_host_role_postmaster, c, D, DNS, match="RFC 5321 §4.5.1")
    assert "no local user named postmaster" in text
    passes(h.test_host_role_postmaster, c, "", None)  # bare postmaster still goes somewhere
    devnull = RoleRoute(
        "abuse", ("alias_maps hash:/etc/aliases: abuse -> /dev/null",), "file /dev/null", False
    )
    fails(h.test_host_role_abuse, mta(roles=routes(abuse=devnull)), "", None, match="/dev/null")
    broken = RoleRoute("abuse", problem="`postalias -q abuse hash:/etc/aliases` failed: no such db")
    errors(h.test_host_role_abuse, mta(roles=routes(abuse=broken)), "", None)
    errors(h.test_host_role_abuse, mta(roles={}), "", None)


def test_roles_unfiltered() -> None:
    early = mta({"smtpd_client_restrictions": "reject_rbl_client zen.test"})
    warns(h.test_host_role_unfiltered, early, S, match="smtpd_client_restrictions")
    filtered = mta(access={"hash:/etc/postfix/roles|postmaster@": "OK", "hash:/etc/postfix/roles|abuse@": ""})
    warns(h.test_host_role_unfiltered, filtered, S, match="abuse@")
    first = mta(
        {"smtpd_recipient_restrictions": "reject_rbl_client zen.test, check_recipient_access hash:/x"}
    )
    warns(h.test_host_role_unfiltered, first, S, match="reject_rbl_client")
    errors(h.test_host_role_unfiltered, mta(unread={"access hash:/etc/postfix/roles": "failed"}), S)


# --------------------------------------------------------------------------------------------- TLS
def test_tls_configured() -> None:
    fails(h.test_host_tls_configured, mta({"smtpd_tls_security_level": "none"}), S, match="no STARTTLS")
    absent = TlsFiles("/etc/ssl/mx.pem", "/etc/ssl/mx.key", "/etc/ssl/mx.pem does not exist", "", None, None,
                      ("/etc/ssl/mx.pem",))  # fmt: skip
    fails(h.test_host_tls_configured, mta(tls=absent), S, match="does not exist")
    denied = TlsFiles(
        "/etc/ssl/mx.pem", "/etc/ssl/mx.key", "", "/etc/ssl/mx.key could not be read: Permission denied"
    )
    errors(h.test_host_tls_configured, mta(tls=denied), S, match="Permission denied")
    other = TlsFiles("/etc/ssl/mx.pem", "/etc/ssl/other.key", match=False, cert=tls_for([MX]).cert)
    fails(h.test_host_tls_configured, mta(tls=other), S, match="not the key of the certificate")
    passes(h.test_host_tls_configured, EXIM, S)
    fails(h.test_host_tls_configured, MtaConfig("local", "exim", values={"tls_advertise_hosts": ""}), S)


def test_tls_cert_current() -> None:
    fails(h.test_host_tls_cert_current, mta(tls=tls_for(["other.example.net"])), D, DNS, MINE, S, match=MX)
    fails(h.test_host_tls_cert_current, mta(tls=tls_for([MX], days=-3)), D, DNS, MINE, S, match="expired")
    warns(h.test_host_tls_cert_current, mta(tls=tls_for([MX], days=5)), D, DNS, MINE, S, match="expires")
    passes(h.test_host_tls_cert_current, mta(tls=tls_for([f"*.{D}"])), D, DNS, MINE, S)
    skips(h.test_host_tls_cert_current, mta(tls=TlsFiles(cert_problem="no certificate file is configured")),
          D, DNS, MINE, S, match="host.tls.configured")  # fmt: skip


# ------------------------------------------------------------------------------------------- IDENT
def test_ident() -> None:
    closed = mta(listening=(("0.0.0.0", 25),))
    passes(h.test_host_ident_not_dropped, closed, S)  # no rule: the kernel resets
    dropped = mta(listening=(("0.0.0.0", 25),), firewall="-P INPUT DROP\n", firewall_tool="iptables -S")
    warns(h.test_host_ident_not_dropped, dropped, S, match="drops it silently")
    rejected = mta(
        listening=(("0.0.0.0", 25),), firewall="-P INPUT DROP\n-A INPUT -p tcp --dport 113 -j REJECT\n"
    )
    passes(h.test_host_ident_not_dropped, rejected, S)
    errors(h.test_host_ident_not_dropped, mta(listening=(), unread={"firewall": "nft failed"}), S)
    passes(
        h.test_host_ident_not_dropped, mta(unread={"firewall": "nft failed"}), S
    )  # a listener: no rules needed


# ------------------------------------------------------------------------------ settings, subjects
def test_the_mta_options_and_their_ini_twins() -> None:
    from mailspec.errors import SettingError

    s = Settings.parse({"mail_mta": "Postfix", "mail_mta_config": "/etc/postfix-out"})
    assert (s.mta, s.mta_config) == ("postfix", "/etc/postfix-out")
    assert (Settings.parse({}).mta, Settings.parse({}).mta_config) == ("auto", None)
    with pytest.raises(SettingError, match="'qmail': expected one of auto, postfix, exim"):
        Settings.parse({"mail_mta": "qmail"})
    with pytest.raises(SettingError, match="'etc/postfix': expected an absolute path on the host"):
        Settings.parse({"mail_mta_config": "etc/postfix"})


def test_a_host_subject_is_named_after_its_testinfra_host() -> None:
    from mailspec.subjects import Subject, on_host

    class Backend:
        def get_pytest_id(self) -> str:
            return "mx1"

    class Host:
        backend = Backend()

    params: dict[str, object] = {"_testinfra_host": Host()}
    alone = on_host(None, ["_mailspec_kind_host", "host"], params)
    assert alone == Subject("host", "", "mx1") and alone.label == "mx1"
    per_domain = on_host(Subject("host", D), ["_mailspec_kind_host"], params)
    assert per_domain is not None and (per_domain.label, per_domain.id, per_domain.domain) == ("mx1", D, D)
    assert per_domain.names() == {D, "mx1"}
    assert on_host(None, ["mx_target"], params) is None


# ------------------------------------------------------------------------------ reviewed defects
def test_relay_a_table_ahead_of_the_guard_is_judged_or_could_not_test() -> None:  # (item 1)
    roles = {"smtpd_relay_restrictions": "check_recipient_access hash:/etc/postfix/roles, "
             "reject_unauth_destination", "smtpd_recipient_restrictions": ""}  # fmt: skip
    fails(h.test_host_relay_restricted, mta(roles), S, match="postmaster@<any domain>")
    other = {**roles, "smtpd_relay_restrictions": "check_client_access hash:/x, reject_unauth_destination"}
    errors(h.test_host_relay_restricted, mta(other), S, match="a table ahead of reject_unauth_destination")


def test_relay_mynetworks_files_and_tables() -> None:  # (item 2)
    c = mta({"mynetworks": "/etc/postfix/mynetworks"}, networks={"/etc/postfix/mynetworks": ("8.0.0.0/8",)})
    fails(h.test_host_relay_restricted, c, S, match="8.0.0.0/8")
    c = mta({"mynetworks": "hash:/etc/postfix/nets"}, unread={"mynetworks hash:/etc/postfix/nets": "x"})
    errors(h.test_host_relay_restricted, c, S)
    errors(h.test_host_relay_restricted, mta({"mynetworks": "cidr:/etc/postfix/n.cidr"}), S, match="cidr:")


def test_role_in_a_domain_the_host_does_not_accept() -> None:  # (item 3)
    refused = RoleRoute(f"postmaster@{D}", (f"{D} is in none of mydestination",), f"not accepted for {D}",
                        False, foreign=True)  # fmt: skip
    c = mta(roles=routes(postmaster_at_example_com=refused))
    fails(h.test_host_role_postmaster, c, D, DNS, match="not accepted")
    errors(h.test_host_role_postmaster, c, D, domain_dns(target("mx.other.test", "198.51.100.1", None)))


def test_unfiltered_exemption_ends_with_its_list() -> None:  # (item 4)
    c = mta({"smtpd_relay_restrictions": "check_recipient_access hash:/etc/postfix/roles, "
             "permit_mynetworks, reject_unauth_destination",
             "smtpd_recipient_restrictions": "reject_rbl_client zen.test"})  # fmt: skip
    warns(h.test_host_role_unfiltered, c, S, match="reject_rbl_client")


def test_exim_default_banner_passes() -> None:  # (item 9)
    banner = "$smtp_active_hostname ESMTP Exim $version_number $tod_full"
    default = MtaConfig("local", "exim", values={**EXIM.values, "smtp_banner": banner})
    passes(h.test_host_banner_names_host, default, S)


def test_an_unreadable_certificate_is_an_error() -> None:  # (item 10)
    denied = TlsFiles(
        "/etc/ssl/mx.pem", "/etc/ssl/mx.key", "/etc/ssl/mx.pem could not be read: Permission denied"
    )
    errors(h.test_host_tls_cert_current, mta(tls=denied), D, DNS, MINE, S, match="Permission denied")


def test_an_mx_answer_not_definite_is_an_error() -> None:  # (item 7)
    from dataclasses import replace

    from host_facts import ans

    from mailspec.facts.host import this_host_mx

    broken = replace(DNS, mx=ans(D, "MX", rcode="SERVFAIL", error="SERVFAIL"))
    with pytest.raises(Indeterminate, match="MX records"):
        this_host_mx(GOOD, broken)
    half = target(MX)
    half = replace(half, aaaa=ans(MX, "AAAA", rcode="SERVFAIL", error="timeout"))
    with pytest.raises(Indeterminate, match="addresses"):
        this_host_mx(GOOD, domain_dns(half))


@pytest.mark.parametrize(
    ("rules", "verdict"),
    [
        ("-P INPUT ACCEPT\n-A INPUT -p udp --dport 113 -j DROP\n", "open"),
        ("-P INPUT ACCEPT\n-A INPUT -j DROP\n", "drop"),
        ("-P INPUT ACCEPT\n-A INPUT -p tcp --dport 100:200 -j DROP\n", "drop"),
        ("-P INPUT ACCEPT\n-A INPUT -s 10.0.0.0/8 -p tcp --dport 113 -j DROP\n", "unknown"),
        ("-P INPUT ACCEPT\n-A OUTPUT -p tcp --dport 113 -j DROP\n", "open"),
        (
            "table inet f {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
            "  tcp dport 100-200 drop\n }\n}\n",
            "drop",
        ),
        (
            "table inet f {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
            "  jump other\n }\n}\n",
            "unknown",
        ),
    ],
)
def test_ident_rules(rules: str, verdict: str) -> None:  # (item 5)
    from mailspec.records.firewall import port_disposition

    assert port_disposition(rules, 113)[0] == verdict


def test_lab_port_reads_the_smtp_service_and_its_overrides() -> None:  # (items 13, 14, 19)
    lab = Settings(smtp_port=40025)
    text = "smtp inet n - y - 1 postscreen -o postscreen_greet_action=ignore\nsmtpd pass - - y - - smtpd\n"
    over = mta(services=tuple(parse_master(text)))
    warns(h.test_host_pregreet_enforced, over, lab, match="ignore")
    unread = mta(unread={"master.cf": "`postconf -M` failed"})
    for check in (h.test_host_tls_configured, h.test_host_banner_names_host):
        errors(check, unread, S, match="postconf -M")
    errors(h.test_host_mta_listening, unread, "", None, None, S, match="postconf -M")


# ------------------------------------------------------------ the smtpd on the SMTP port (master.cf)
#: master.cf with postscreen on port 25 and the smtpd it hands clients to, with its own -o overrides
BEHIND_POSTSCREEN = (
    "smtp inet n - y - 1 postscreen\n"
    "smtpd pass - - y - - smtpd -o disable_vrfy_command=no -o mynetworks=0.0.0.0/0\n"
)


def test_vrfy_and_mynetworks_are_the_port_25_smtpds() -> None:
    # (main.cf says VRFY is off and mynetworks is the host; the smtpd behind postscreen says otherwise)
    c = mta({"disable_vrfy_command": "yes", "mynetworks": "127.0.0.0/8"},
            services=tuple(parse_master(BEHIND_POSTSCREEN)))  # fmt: skip
    warns(h.test_host_vrfy_restricted, c, S, match="disable_vrfy_command = no")
    message = fails(h.test_host_relay_restricted, c, S, match="0.0.0.0/0")
    assert "mynetworks" in message
    passes(h.test_host_vrfy_restricted, mta({"disable_vrfy_command": "yes"}), S)


def test_relay_a_table_whose_keys_are_listed() -> None:
    roles = {"smtpd_relay_restrictions": "check_recipient_access hash:/etc/postfix/roles, "
             "reject_unauth_destination", "smtpd_recipient_restrictions": ""}  # fmt: skip
    named = (("postmaster@example.com", "OK"), ("abuse@example.com", "OK"), ("example.net", "OK"))

    def listed(*more: tuple[str, str], **values: str) -> MtaConfig:
        return mta(
            {**roles, **values}, access={}, access_entries={"hash:/etc/postfix/roles": (*named, *more)}
        )

    passes(h.test_host_relay_restricted, listed(), S)
    # (a key that matches every domain and accepts: by Postfix's default parent_domain_matches_subdomains
    # "com" matches the domains below it, ".com" is never looked up)
    for wide in (("abuse@", "OK"), ("com", "OK"), ("co.uk", "permit"), ("com", "1234567")):
        fails(h.test_host_relay_restricted, listed(wide), S, match=re.escape(f"{wide[0]} {wide[1]}"))
    for harmless in (
        ("com", "REJECT"),
        (".co.uk", "OK"),
        ("localhost", "OK"),
        ("lan", "OK"),
        ("com", "DUNNO"),
    ):
        passes(h.test_host_relay_restricted, listed(harmless), S)
    # (without smtpd_access_maps in parent_domain_matches_subdomains, ".com" is the key that matches below)
    other = {"parent_domain_matches_subdomains": "relay_domains"}
    fails(h.test_host_relay_restricted, listed((".co.uk", "OK"), **other), S, match=re.escape(".co.uk OK"))
    passes(h.test_host_relay_restricted, listed(("com", "OK"), **other), S)
    # (a restriction class or list is not expanded: could not test, not a pass)
    for unsure in (("com", "open_class"), ("com", "permit_mynetworks, permit")):
        errors(h.test_host_relay_restricted, listed(unsure), S, match="restriction list or class")


def test_relay_mynetworks_style_override_is_could_not_test() -> None:
    text = "smtp inet n - y - - smtpd -o mynetworks_style=class\n"
    c = mta(
        services=tuple(parse_master(text)), unread={"mynetworks": "mynetworks_style = class, not computed"}
    )
    errors(h.test_host_relay_restricted, c, S, match="mynetworks_style")
