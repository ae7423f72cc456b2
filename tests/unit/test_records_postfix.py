"""mailspec.records.postfix (and records.firewall): Postfix's configuration text, parsed, on output
captured from Debian's Postfix 3.7 (``postconf -d``, ``postconf -x -c DIR``, ``postconf -M -c DIR``),
and on live ``postconf -c DIR`` runs where Postfix is installed (reading needs no privilege)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mailspec.records.firewall import port_disposition
from mailspec.records.postfix import (
    accepting,
    access_tables,
    parse_master,
    parse_postconf,
    restrictions,
    service_value,
    split_list,
    wide_networks,
    yes,
)

#: ``postconf -d`` of Debian's Postfix 3.7.11 (a selection of its lines, as printed)
POSTCONF_D = """\
alias_maps = hash:/etc/aliases, nis:mail.aliases
disable_vrfy_command = no
inet_interfaces = all
inet_protocols = all
mail_version = 3.7.11
mydestination = $myhostname, localhost.$mydomain, localhost
myhostname = vm.localdomain
mynetworks = 127.0.0.0/8 192.0.2.0/24 [::1]/128 [fd00::]/64 [fe80::]/64
postscreen_greet_action = ignore
smtpd_banner = $myhostname ESMTP $mail_name
smtpd_forbid_unauth_pipelining = no
smtpd_helo_required = no
smtpd_relay_restrictions = ${{$compatibility_level} <level {1} ? {} : {permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination}}
"""  # noqa: E501

#: ``postconf -c DIR -M`` of a master.cf with postscreen and a submission service (3.7.11)
POSTCONF_M = """\
smtp       inet  n       -       y       -       1       postscreen
smtpd      pass  -       -       y       -       -       smtpd -o smtpd_helo_required=yes
dnsblog    unix  -       -       y       -       0       dnsblog
submission inet  n       -       y       -       -       smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
relay      unix  -       -       y       -       -       smtp -o syslog_name=postfix/$service_name
"""  # noqa: E501

MAIN_CF = """\
myhostname = mx1.example.com
mydomain = example.com
inet_protocols = ipv4
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
    reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access hash:/etc/postfix/roles, reject_rbl_client zen.example
"""


def test_postconf_d_output() -> None:
    values = parse_postconf(POSTCONF_D)
    assert values["mail_version"] == "3.7.11"
    assert values["mydestination"] == "$myhostname, localhost.$mydomain, localhost"
    assert values["smtpd_relay_restrictions"].startswith("${{$compatibility_level}")
    assert len(values) == 13


def test_postconf_folded_lines_warnings_and_comments() -> None:
    text = "# a comment\npostconf: warning: /x/main.cf: unused parameter: foo=bar\n" + MAIN_CF
    values = parse_postconf(text)
    assert values["smtpd_relay_restrictions"] == (
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    )
    assert "postconf: warning: /x/main.cf: unused parameter: foo" not in values
    assert parse_postconf("broken line without equals\nname =\n") == {"name": ""}


def test_split_list_commas_spaces_and_braces() -> None:
    assert split_list("permit_mynetworks, permit_sasl_authenticated,reject") == [
        "permit_mynetworks",
        "permit_sasl_authenticated",
        "reject",
    ]
    assert split_list("127.0.0.0/8 [::1]/128") == ["127.0.0.0/8", "[::1]/128"]
    assert split_list("") == []
    grouped = split_list(parse_postconf(POSTCONF_D)["smtpd_relay_restrictions"])
    assert len(grouped) == 1  # the unexpanded conditional is one element


def test_restrictions_keep_table_case() -> None:
    words = restrictions("Permit_MyNetworks, check_recipient_access hash:/etc/Postfix/roles")
    assert words == ["permit_mynetworks", "check_recipient_access", "hash:/etc/Postfix/roles"]


def test_master_services() -> None:
    services = parse_master(POSTCONF_M)
    assert [s.name for s in services] == ["smtp", "smtpd", "dnsblog", "submission", "relay"]
    smtp = services[0]
    assert (smtp.type, smtp.port, smtp.command, smtp.maxproc) == ("inet", "smtp", "postscreen", "1")
    sub = services[3]
    assert sub.option("smtpd_tls_security_level") == "encrypt"
    assert sub.option("smtpd_relay_restrictions") == "permit_sasl_authenticated,reject"
    assert sub.option("nothing") is None
    assert services[1].port == ""  # (a pass service has no port)


def test_master_cf_text_with_comments_and_folding() -> None:
    text = (
        "# ====\n127.0.0.1:2525 inet n - y - - smtpd\n  -o smtpd_banner=lab\n"
        "#submission inet n - y - - smtpd\nbroken\n"
    )
    services = parse_master(text)
    assert len(services) == 1
    assert services[0].port == "2525"
    assert services[0].option("smtpd_banner") == "lab"


def test_service_value_override_and_reference() -> None:
    values = {"smtpd_helo_required": "no", "mua_relay": "permit_sasl_authenticated, reject"}
    [service] = parse_master("sub inet n - y - - smtpd -o smtpd_relay_restrictions=$mua_relay")
    assert service_value(values, service, "smtpd_relay_restrictions") == "permit_sasl_authenticated, reject"
    assert service_value(values, service, "smtpd_helo_required") == "no"


@pytest.mark.parametrize(
    ("entries", "wide"),
    [
        (["127.0.0.0/8", "[::1]/128", "10.0.0.0/8", "192.168.0.0/16"], []),
        (["198.51.100.0/24", "[2001:db8:1::]/48"], []),
        (["203.0.113.0/24", "[2001:db8::]/32"], []),  # documentation space: not public
        (["203.0.113.0/23"], ["203.0.113.0/23"]),  # (203.0.112.0/24 is public)
        (["8.8.0.0/16"], ["8.8.0.0/16"]),
        (["[2a00:1450::]/32"], ["[2a00:1450::]/32"]),
        (["0.0.0.0/0"], ["0.0.0.0/0"]),
        (["hash:/etc/postfix/network_table", "mail.example.com"], []),
    ],
)
def test_wide_networks(entries: list[str], wide: list[str]) -> None:
    assert wide_networks(entries) == wide


def test_yes() -> None:
    assert yes("yes") and yes("True") and not yes("no") and not yes(None) and not yes("")


def test_access_tables_and_results() -> None:
    values = parse_postconf(MAIN_CF)
    assert access_tables(values) == ["hash:/etc/postfix/roles"]
    assert accepting("OK") and accepting("permit") and accepting("250 fine")
    assert not accepting("") and not accepting("REJECT no") and not accepting("DUNNO")


@pytest.mark.parametrize(
    ("rules", "verdict"),
    [
        ("", "open"),
        ("-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 113 -j DROP\n", "drop"),
        ("-P INPUT DROP\n-A INPUT -p tcp -m tcp --dport 113 -j REJECT --reject-with tcp-reset\n", "reject"),
        ("-P INPUT DROP\n-A INPUT -p tcp --dport 22 -j ACCEPT\n", "drop"),
        ("-A INPUT -p tcp -m multiport --dports 25,113 -j ACCEPT\n", "accept"),
        ("-A OUTPUT -p tcp --dport 113 -j DROP\n", "open"),
        (
            "table inet filter {\n chain input {\n  type filter hook input priority filter; policy drop;\n"
            "  tcp dport 113 reject with tcp reset\n }\n}\n",
            "reject",
        ),
        (
            "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n",
            "drop",
        ),
        ("table inet f {\n chain input {\n  tcp dport { 25, 113 } drop\n }\n}\n", "drop"),
        ("-A INPUT -p tcp --dport 1130 -j DROP\n", "open"),
    ],
)
def test_port_disposition(rules: str, verdict: str) -> None:
    assert port_disposition(rules, 113)[0] == verdict


# ------------------------------------------------------------------------------ live, where installed
needs_postconf = pytest.mark.skipif(shutil.which("postconf") is None, reason="Postfix is not installed")


def postconf(*args: str) -> str:
    return subprocess.run(["postconf", *args], capture_output=True, text=True, check=True).stdout


@needs_postconf
def test_live_postconf_defaults() -> None:
    values = parse_postconf(postconf("-d"))
    assert len(values) > 500
    assert values["inet_protocols"] in ("all", "ipv4", "ipv6", "ipv4, ipv6")
    assert "mail_version" in values


@needs_postconf
def test_live_config_dir(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(MAIN_CF)
    (tmp_path / "master.cf").write_text(POSTCONF_M)
    nondefault = parse_postconf(postconf("-c", str(tmp_path), "-n"))
    assert nondefault["myhostname"] == "mx1.example.com"
    assert nondefault["smtpd_relay_restrictions"].endswith("reject_unauth_destination")
    expanded = parse_postconf(postconf("-c", str(tmp_path), "-x"))
    assert expanded["smtpd_banner"].startswith("mx1.example.com ESMTP")
    assert "mx1.example.com" in split_list(expanded["mydestination"])
    services = parse_master(postconf("-c", str(tmp_path), "-M"))
    assert services[0].command == "postscreen"
    assert services[3].option("smtpd_tls_security_level") == "encrypt"


def test_master_cf_brace_grouped_overrides_and_postconf_p() -> None:
    from mailspec.records.postfix import parse_service_params

    s = parse_master("smtp inet n - y - 1 smtpd -o { mynetworks = 127.0.0.0/8 0.0.0.0/0 } -o {x=y}\n")[0]
    assert s.options == (("mynetworks", "127.0.0.0/8 0.0.0.0/0"), ("x", "y"))
    text = (
        "smtpd/pass/mynetworks = 127.0.0.0/8 0.0.0.0/0\nsmtp/inet/syslog_name = postfix/in\n"
        "postconf: warning: x\n"
    )
    assert parse_service_params(text) == {
        ("smtpd", "pass"): [("mynetworks", "127.0.0.0/8 0.0.0.0/0")],
        ("smtp", "inet"): [("syslog_name", "postfix/in")],
    }


def test_the_smtpd_of_the_smtp_port() -> None:
    from mailspec.records.postfix import front_service, smtpd_param, smtpd_service

    text = (
        "127.0.0.1:smtp inet n - y - - smtpd -o disable_vrfy_command=yes\n"
        "192.0.2.25:smtp inet n - y - 1 postscreen -o smtpd_service_name=smtpd2\n"
        "smtpd pass - - y - - smtpd\nsmtpd2 pass - - y - - smtpd -o disable_vrfy_command=no\n"
    )
    services = parse_master(text)
    front = front_service(services, 25)
    assert front is not None and front.name == "192.0.2.25:smtp"  # (not the loopback-bound one)
    smtpd = smtpd_service(services, 25)
    assert smtpd is not None and smtpd.name == "smtpd2"  # (the one postscreen names)
    assert smtpd_param({"disable_vrfy_command": "yes"}, services, "disable_vrfy_command", 25) == "no"


def test_access_results() -> None:
    from mailspec.records.postfix import access_action, any_domain_keys, table_entries

    actions = {r: access_action(r) for r in ("OK", "permit", "RELAY", "1234567", "REJECT no", "550 5.7.1 no",
                                             "DUNNO", "HOLD", "reject_unverified_recipient", "open_class",
                                             "permit_mynetworks, permit")}  # fmt: skip
    assert actions == {
        "OK": "accept", "permit": "accept", "RELAY": "accept", "1234567": "accept", "REJECT no": "refuse",
        "550 5.7.1 no": "refuse", "DUNNO": "refuse", "HOLD": "refuse",
        "reject_unverified_recipient": "refuse", "open_class": "other", "permit_mynetworks, permit": "other",
    }  # fmt: skip
    entries = table_entries("  stray\n# c\ncom\tOK\nabuse@\tREJECT no\n  more\n.co.uk OK\nexample.com OK\n")
    assert entries == [("com", "OK"), ("abuse@", "REJECT no more"), (".co.uk", "OK"), ("example.com", "OK")]
    assert [k for k, _ in any_domain_keys(entries)] == ["com", "abuse@"]
    assert [k for k, _ in any_domain_keys(entries, parent_matches=False)] == ["abuse@", ".co.uk"]
    assert any_domain_keys([("localhost", "OK"), ("lan", "OK")]) == []
