"""mailspec.records.exim: ``exim -bP`` (``config``, ``transports``), ``exim -bt`` and ``exim -bh``
output, Exim's list syntax, and what the host checks make of the ACLs. The texts marked "4.96" are
what Debian's exim4 4.96 printed (tests/realservers/test_exim_hostchecks.py runs it); the others are
hand-copied from its documented output format."""

from __future__ import annotations

import re
import warnings

import pytest

from mailspec.records.exim import (
    AclItem,
    AclRun,
    AclStatement,
    acl_files,
    computed,
    domain_guard,
    exim_bool,
    exim_interface,
    exim_list,
    exists_file,
    helo_name,
    host_list_default,
    listening_on,
    local_part_in,
    never_applies,
    open_accept,
    parse_bh,
    parse_bh_trace,
    parse_bp,
    parse_bp_sections,
    parse_bt,
    parse_bt_routes,
    parse_config,
    pcre_search,
    relay_hosts,
    resolve_acl,
    role_filters,
    smtp_ports,
)

BP = """\
accept_8bitmime
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_vrfy =
no_disable_ipv6
primary_hostname = mx1.example.com
smtp_banner = $smtp_active_hostname ESMTP Exim $version_number $tod_full
smtp_enforce_sync
tls_advertise_hosts = *
tls_certificate = /etc/exim4/exim.crt
"""


def test_bp_values_and_bare_booleans() -> None:
    values = parse_bp(BP)
    assert values["primary_hostname"] == "mx1.example.com"
    assert values["acl_smtp_vrfy"] == ""
    assert values["smtp_enforce_sync"] == "true"
    assert values["disable_ipv6"] == "false"
    assert values["accept_8bitmime"] == "true"
    assert values["smtp_banner"].startswith("$smtp_active_hostname ESMTP")
    assert exim_bool(values["smtp_enforce_sync"]) and not exim_bool(values["disable_ipv6"])


def test_bt_routed_and_not() -> None:
    ok = (
        "postmaster@example.com\n  <-- postmaster@example.com\n"
        "  router = localuser, transport = local_delivery\n"
    )
    via = "router = localuser, transport = local_delivery"
    assert parse_bt(ok, 0) == (True, f"postmaster@example.com ({via}), from postmaster@example.com")
    bad = "abuse@example.com is undeliverable: Unrouteable address\n"
    assert parse_bt(bad, 2) == (False, "abuse@example.com is undeliverable: Unrouteable address")
    assert parse_bt("", 2)[0] is False


# Exim 4.96, exim -bt, aliases: postmaster: /dev/null; hole: :blackhole:; abuse: abuse-desk,
# abuse-desk: abuse; remote: someone@example.org (no DNS); both: /dev/null, root
DEV_NULL = "postmaster@mx.hostcheck.test -> /dev/null\n  transport = address_file\n"
DISCARDED = "mail to hole@mx.hostcheck.test is discarded\n"
LOOP = (
    "abuse@mx.hostcheck.test is undeliverable: Unrouteable address\n"
    "    <-- abuse-desk@mx.hostcheck.test\n    <-- abuse@mx.hostcheck.test\n"
)
DEFERRED = (
    "someone@example.org cannot be resolved at this time: host lookup did not complete\n"
    "    <-- remote@mx.hostcheck.test\n"
)
BOTH = (
    "both@mx.hostcheck.test -> /dev/null\n  transport = address_file\nroot@mx.hostcheck.test\n"
    "    <-- both@mx.hostcheck.test\n  router = localuser, transport = local_delivery\n"
)


def test_bt_dev_null_and_a_discard_are_not_deliverable() -> None:
    # (they used to count as routed: exit status 0 and no "undeliverable")
    assert parse_bt(DEV_NULL, 0) == (
        False,
        "postmaster@mx.hostcheck.test -> /dev/null (transport = address_file)",
    )
    assert parse_bt(DISCARDED, 0) == (False, "hole@mx.hostcheck.test is discarded (:blackhole:)")
    (route,) = parse_bt_routes(DEV_NULL)
    assert (route.kind, route.target, route.deliverable) == ("file", "/dev/null", False)
    assert parse_bt("piper@x -> |/usr/bin/procmail\n  transport = address_pipe\n", 0)[0] is True
    assert parse_bt("filer@x -> /var/mail/filer\n  transport = address_file\n", 0)[0] is True


def test_bt_one_deliverable_destination_is_enough() -> None:
    routed, shown = parse_bt(BOTH, 0)
    assert routed and shown.startswith("root@mx.hostcheck.test (router = localuser")
    half = (
        "root@x\n  router = localuser, transport = local_delivery\nnobody@x is undeliverable: Unrouteable\n"
    )
    assert parse_bt(half, 2)[0] is True


def test_bt_loops_and_deferrals() -> None:
    (loop,) = parse_bt_routes(LOOP)
    assert loop.kind == "undeliverable" and loop.parents == (
        "abuse-desk@mx.hostcheck.test",
        "abuse@mx.hostcheck.test",
    )
    assert parse_bt(LOOP, 2)[0] is False
    (deferred,) = parse_bt_routes(DEFERRED)
    assert (deferred.kind, deferred.detail) == ("deferred", "host lookup did not complete")
    assert "cannot be resolved at this time: host lookup did not complete" in deferred.describe()


def test_exim_lists() -> None:
    assert exim_list("127.0.0.1 : 192.0.2.1") == ["127.0.0.1", "192.0.2.1"]
    assert exim_list("127.0.0.1:192.0.2.1") == ["127.0.0.1", "192.0.2.1"]  # (no spaces needed)
    assert exim_list("<; ::0 ; 0.0.0.0") == ["::0", "0.0.0.0"]
    assert exim_list("127.0.0.1 : ::::1") == ["127.0.0.1", "::1"]  # (a doubled separator is the character)
    assert exim_list("/a.crt : /b.crt") == ["/a.crt", "/b.crt"]
    assert exim_list("") == [] and exim_list(" : ") == []


def test_exim_interfaces_with_ports() -> None:
    assert exim_interface("192.0.2.1") == ("192.0.2.1", None)
    assert exim_interface("192.0.2.1.2525") == ("192.0.2.1", 2525)
    assert exim_interface("[192.0.2.1]:2525") == ("192.0.2.1", 2525)
    assert exim_interface("2001:db8::1.2525") == ("2001:db8::1", 2525)
    assert exim_interface("[2001:db8::1]:2525") == ("2001:db8::1", 2525)
    assert exim_interface("::1") == ("::1", None)
    assert exim_interface("eth0") == ("eth0", None)


# 4.96, exim -bP config of a Debian-style configuration: a macro (RBL) already replaced, an .ifdef
# resolved, continuation lines joined, comments gone, each condition on a line of its own
CONFIG = """\
# Exim Configuration (4.96)
# 1 "/etc/exim4/exim4.conf"
RBL = bl.example
domainlist local_domains = @ : mx1.example.com : example.com
hostlist relay_from_hosts = <; 127.0.0.1 ; ::1 ; 192.0.2.0/28
localpartlist roles = postmaster : abuse
primary_hostname = mx1.example.com
acl_smtp_rcpt = acl_check_rcpt

begin acl

  acl_check_rcpt:
    accept
    hosts = :
    control = dkim_disable_verify
    deny
    domains = +local_domains
    local_parts = ^[.] : ^.*[@%!/|`#&?]
    message = restricted characters in address
    accept
    local_parts = postmaster
    domains = +local_domains
    deny
    message = Sender verification failed
    !acl = acl_local_deny_exceptions
    ! verify = sender
    deny message = listed at $dnslist_domain
    dnslists = bl.example : b.example
    accept
    hosts = +relay_from_hosts
    control = submission/sender_retain
    require
    message = relay not permitted
    domains = +local_domains
    accept

  acl_local_deny_exceptions:
    accept
    hosts = ${if exists{/etc/exim4/host_local_deny_exceptions}{/etc/exim4/host_local_deny_exceptions}{}}

  acl_check_predata:
    deny message = this host takes no mail

begin routers

  dnslookup:
    driver = dnslookup
"""
ROLES = ("postmaster", "abuse")


def test_config_acls_and_named_lists() -> None:
    config = parse_config(CONFIG)
    assert config.has_acl_section and not config.problems
    assert list(config.acls) == ["acl_check_rcpt", "acl_local_deny_exceptions", "acl_check_predata"]
    assert config.lists["relay_from_hosts"] == ("host", "<; 127.0.0.1 ; ::1 ; 192.0.2.0/28")
    assert config.lists["roles"] == ("localpart", "postmaster : abuse")
    rcpt = config.acls["acl_check_rcpt"]
    assert [s.verb for s in rcpt] == [
        "accept",
        "deny",
        "accept",
        "deny",
        "deny",
        "accept",
        "require",
        "accept",
    ]
    assert rcpt[0].items == (AclItem("hosts", ":"), AclItem("control", "dkim_disable_verify"))
    assert rcpt[3].items[1:] == (
        AclItem("acl", "acl_local_deny_exceptions", True),
        AclItem("verify", "sender", True),
    )
    assert rcpt[4].conditions == (AclItem("dnslists", "bl.example : b.example"),)  # (message is a modifier)
    assert rcpt[-1] == AclStatement("accept")
    assert config.acls["acl_check_predata"][0].items == (AclItem("message", "this host takes no mail"),)
    assert (
        rcpt[4].describe() == "deny  message = listed at $dnslist_domain  dnslists = bl.example : b.example"
    )


def test_macros_defined_in_the_acl_section_are_skipped() -> None:
    # (4.96 prints a macro where the file defines it: Debian's template defines some among its ACLs)
    text = "begin acl\n  acl_check_mail:\n    accept\nCHECK_RCPT_LOCAL_LOCALPARTS = ^[.] : ^.*[@%!/|`#&?]\n"
    text += "  acl_check_rcpt:\n    accept\n"
    config = parse_config(text)
    assert not config.problems and list(config.acls) == ["acl_check_mail", "acl_check_rcpt"]


def test_config_lines_that_do_not_parse() -> None:
    config = parse_config("begin acl\n  a:\n    hosts = :\n  b:\n    accept\n    what is this\n")
    assert set(config.problems) == {"a", "b"} and "before any verb" in config.problems["a"]
    assert resolve_acl(config, "b")[1] is None and "did not parse" in resolve_acl(config, "b")[2]
    assert not parse_config("primary_hostname = x\n").has_acl_section


def test_resolve_acl_names_only() -> None:
    config = parse_config(CONFIG)
    assert resolve_acl(config, "") == ("", (), "")
    name, statements, why = resolve_acl(config, "acl_check_rcpt")
    assert name == "acl_check_rcpt" and statements and not why
    for value, words in [
        ("${if eq{$interface_port}{587}{acl_sub}{acl_check_rcpt}}", "expanded"),
        ("/etc/exim4/rcpt.acl", "the file"),
        ("accept hosts = :", "inline"),
        ("acl_nowhere", "no ACL named acl_nowhere"),
    ]:
        assert resolve_acl(config, value)[1] is None and words in resolve_acl(config, value)[2]


# 4.96, exim -be '${if match_local_part{...}{...}}': "!foo" takes postmaster (a list that ends with
# a negated item matches what it does not name), "!foo : bar" does not; PostMaster is postmaster
@pytest.mark.parametrize(
    ("value", "part", "found"),
    [
        ("postmaster : abuse", "postmaster", True),
        ("postmaster : abuse", "PostMaster", True),
        ("postmaster", "abuse", False),
        ("!foo", "postmaster", True),
        ("!foo : bar", "postmaster", False),
        ("!postmaster : *", "postmaster", False),
        ("*", "abuse", True),
        ("*master", "postmaster", True),
        ("^(postmaster|abuse)\\$", "abuse", True),  # (the list is expanded: \$ is $)
        ("\\N^(postmaster|abuse)$\\N", "postmaster", True),
        ("^postmaster\\$", "postmaster-owner", False),
        ("^post", "abuse", False),
        ("+roles", "abuse", True),
        ("+roles", "hostmaster", False),
        ("+nowhere", "abuse", None),
        ("lsearch;/etc/exim4/roles", "abuse", None),
        ("${lookup{x}lsearch{/f}}", "abuse", None),
        ("", "abuse", False),
    ],
)
def test_local_part_lists(value: str, part: str, found: bool | None) -> None:
    lists = parse_config(CONFIG).lists
    assert local_part_in(value, part, lists) is found


def test_filters_before_the_role_exemption() -> None:
    config = parse_config(CONFIG)
    rcpt = config.acls["acl_check_rcpt"]
    findings, exempt = role_filters(config, "acl_check_rcpt", rcpt, ROLES)
    # postmaster is exempt (Debian's accept local_parts = postmaster), abuse is not
    assert set(exempt) == {"postmaster"}
    assert [(f.filters, f.roles, f.unsure) for f in findings] == [
        (("!verify = sender",), ("abuse",), False),
        (("dnslists = bl.example : b.example",), ("abuse",), False),
    ]
    # the restricted-characters deny judges the recipient's local part, and is no filter
    assert all(f.statement is not rcpt[1] for f in findings)


def _rcpt(*statements: str) -> tuple[AclStatement, ...]:
    text = (
        "hostlist relay_from_hosts = 127.0.0.1\nlocalpartlist roles = postmaster : abuse\nbegin acl\n  r:\n"
    )
    text += "".join(f"    {line}\n" for s in statements for line in s.split("\n"))
    config = parse_config(text)
    assert not config.problems, config.problems
    return config.acls["r"]


def _findings(*statements: str) -> list[tuple[str, tuple[str, ...], bool]]:
    text = "localpartlist roles = postmaster : abuse\nbegin acl\n  r:\n"
    text += "".join(f"    {line}\n" for s in statements for line in s.split("\n"))
    text += "  blocklist:\n    accept dnslists = bl.example\n  exceptions:\n    accept hosts = 192.0.2.7\n"
    config = parse_config(text)
    findings, _ = role_filters(config, "r", config.acls["r"], ROLES)
    return [(f.statement.verb, f.roles, f.unsure) for f in findings]


def test_role_exemptions_and_filters() -> None:
    exempt = "accept local_parts = postmaster : abuse\ndomains = +local_domains"
    dnsbl = "deny dnslists = bl.example"
    assert _findings(exempt, dnsbl, "accept") == []
    assert _findings(dnsbl, exempt) == [("deny", ROLES, False)]
    assert _findings("accept local_parts = +roles", dnsbl) == []  # (a named list)
    assert _findings("accept local_parts = postmaster\nverify = recipient", dnsbl) == [
        ("deny", ("abuse",), False)
    ]
    # an accept that also asks something of the client exempts no one
    assert _findings("accept local_parts = postmaster : abuse\nhosts = +relay_from_hosts", dnsbl) != []
    # warn never refuses; an accept without conditions ends the ACL
    assert _findings("warn dnslists = bl.example", exempt) == []
    assert _findings("accept", dnsbl) == []
    for refusing in ("defer", "drop", "discard", "require"):
        assert _findings(f"{refusing} verify = sender/callout=30s", exempt) == [(refusing, ROLES, False)]
    for condition in ("!verify = reverse_host_lookup", "ratelimit = 100 / 1h / strict", "senders = :",
                      "hosts = 192.0.2.7", "verify = helo", "spf = fail"):  # fmt: skip
        assert _findings(f"deny {condition}", exempt) == [("deny", ROLES, False)], condition
    # conditions on the recipient are no filters
    for condition in ("verify = recipient", "domains = +local_domains", "local_parts = ^[.]"):
        assert _findings(f"deny {condition}", exempt) == [], condition
    # a filter that leaves the role addresses out does not count
    assert _findings("deny dnslists = bl.example\n!local_parts = postmaster : abuse") == []
    assert _findings("deny dnslists = bl.example\nlocal_parts = ^.*[@%!/|]") == []
    assert _findings("deny dnslists = bl.example\ndomains = ! +local_domains") == []
    assert _findings("deny dnslists = bl.example\nlocal_parts = !abuse") == [("deny", ("postmaster",), False)]
    # an ACL called with acl = filters by its own conditions; !acl = is a list of exceptions
    assert _findings("deny acl = blocklist", exempt) == [("deny", ROLES, False)]
    assert _findings("deny !acl = exceptions\nmessage = x", exempt) == []
    # what cannot be read is unsure: a lookup of the exemption, a nested ACL that is expanded
    assert _findings("accept local_parts = lsearch;/etc/exim4/roles", dnsbl) == [("deny", ROLES, True)]
    assert _findings("deny acl = ${if true{blocklist}}", exempt) == [("deny", ROLES, True)]
    # Debian's sender callouts: a list computed at run time, empty (never matching) while the file is absent
    listed = "/etc/exim4/local_sender_callout"
    debian = f"deny !acl = exceptions\nsenders = ${{if exists{{{listed}}}{{{listed}}}{{}}}}\n"
    debian += "!verify = sender/callout"
    assert _findings(debian, exempt) == [("deny", ROLES, True)]
    assert _findings(
        "deny condition = ${if def:sender_helo_name{no}{yes}}\ndnslists = bl.example", exempt
    ) == [("deny", ROLES, False)]


def test_the_hosts_an_rcpt_acl_lets_relay() -> None:
    config = parse_config(CONFIG)
    networks, unjudged, shown = relay_hosts(config, config.acls["acl_check_rcpt"])
    assert networks == ["127.0.0.1", "::1", "192.0.2.0/28"] and unjudged == []
    assert "hostlist relay_from_hosts = <; 127.0.0.1 ; ::1 ; 192.0.2.0/28" in shown
    assert relay_hosts(config, _rcpt("accept hosts = *"))[0] == ["0.0.0.0/0", "::/0"]
    networks, unjudged, _ = relay_hosts(
        config, _rcpt("accept hosts = ! 9.0.0.0/8 : 8.0.0.0/8 : mail.example.com")
    )
    assert (networks, unjudged) == (["8.0.0.0/8"], ["mail.example.com"])  # (9.0.0.0/8: an exception)
    # a list that ends in a negation matches every host it did not refuse, as a negated condition does
    every = ["0.0.0.0/0", "::/0"]
    assert relay_hosts(config, _rcpt("accept hosts = 8.0.0.0/8 : ! 9.0.0.0/8"))[0] == [*every, "8.0.0.0/8"]
    assert relay_hosts(config, _rcpt("accept hosts = !10.0.0.0/8"))[0] == every
    assert relay_hosts(config, _rcpt("accept !hosts = 10.0.0.0/8"))[0] == every
    assert relay_hosts(config, _rcpt("accept !hosts = 10.0.0.0/8\nhosts = 8.0.0.0/8"))[0] == ["8.0.0.0/8"]
    # the walk stops at the relay guard: what is accepted after it is at the host's own domains
    guard = "require message = relay not permitted\ndomains = +local_domains"
    assert relay_hosts(config, _rcpt(guard, "accept hosts = *"))[0] == []
    assert relay_hosts(config, _rcpt("deny !domains = +local_domains", "accept hosts = *"))[0] == []
    assert relay_hosts(config, _rcpt("accept hosts = 8.0.0.0/8", guard))[0] == ["8.0.0.0/8"]
    assert relay_hosts(config, _rcpt("accept hosts = net-lsearch;/etc/relay"))[1] == [
        "net-lsearch;/etc/relay"
    ]
    # only accepts that ask nothing else of the client; nothing after an unconditional accept
    assert relay_hosts(config, _rcpt("accept hosts = 8.0.0.0/8\nauthenticated = *"))[0] == []
    assert relay_hosts(config, _rcpt("deny hosts = 8.0.0.0/8"))[0] == []
    assert relay_hosts(config, _rcpt("accept", "accept hosts = 8.0.0.0/8"))[0] == []


# 4.96: exim -bh 192.0.2.1, EHLO, MAIL, RCPT to example.net, QUIT
BH = """
**** SMTP testing session as if from host 192.0.2.1
**** but without any ident (RFC 1413) callback.
**** This is not for real!

220 mx.eximcheck.test ESMTP Exim 4.96 Thu, 03 Dec 2026 06:22:52 +0000
250-mx.eximcheck.test Hello client.example [192.0.2.1]
250-SIZE 52428800
250-PIPELINING
250 HELP
250 OK
550 relay not permitted
221 mx.eximcheck.test closing connection
"""


def test_bh_replies() -> None:
    replies = parse_bh(BH)
    assert [r.code for r in replies] == [220, 250, 250, 550, 221]
    assert len(replies[1].lines) == 4 and str(replies[1]).endswith("... 250 HELP")
    assert str(replies[3]) == "550 relay not permitted"
    assert parse_bh("exim: permission denied\n") == []


# 4.96: exim -bP transports (abridged)
TRANSPORTS = """
remote_smtp transport:
no_body_only
driver = smtp
helo_data = $primary_hostname
interface =

local_delivery transport:
driver = appendfile
file = /var/mail/$local_part
"""


def test_transports_and_helo_names() -> None:
    transports = parse_bp_sections(TRANSPORTS)
    assert list(transports) == ["remote_smtp", "local_delivery"]
    assert transports["remote_smtp"]["driver"] == "smtp" and transports["remote_smtp"]["body_only"] == "false"
    assert transports["local_delivery"]["file"] == "/var/mail/$local_part"
    assert helo_name("$primary_hostname", "mx1.example.com") == "mx1.example.com"
    assert helo_name("${primary_hostname}", "mx1.example.com") == "mx1.example.com"
    assert helo_name("", "mx1.example.com") == "mx1.example.com"
    assert helo_name("out.example.com", "mx1.example.com") == "out.example.com"
    assert helo_name("${lookup dnsdb{ptr=$sending_ip_address}{$value}}", "mx1.example.com") is None
    assert helo_name("<value not displayable>", "mx1.example.com") is None


# Debian's optional lists (4.96 -bP config of exim4.conf.template): the file while it exists, else empty
OPTIONAL = "${if exists{/etc/exim4/local_host_blacklist}{/etc/exim4/local_host_blacklist}{}}"


def test_optional_files() -> None:
    assert exists_file(OPTIONAL) == "/etc/exim4/local_host_blacklist"
    assert exists_file("${if exists{/a}{/b}{}}") is None and exists_file("/etc/exim4/x") is None
    text = f"begin acl\n  r:\n    deny !acl = x\n    hosts = {OPTIONAL}\n"
    text += "    accept local_parts = postmaster : abuse\n"
    config = parse_config(text)
    assert acl_files(config) == ["/etc/exim4/local_host_blacklist"]
    deny = config.acls["r"][0]
    assert computed(deny) == [f"hosts = {OPTIONAL}"]  # (whether the file is there is not known)
    absent, present = {"/etc/exim4/local_host_blacklist": False}, {"/etc/exim4/local_host_blacklist": True}
    assert computed(deny, absent) == [] and computed(deny, present) == []
    assert never_applies(deny, absent) and not never_applies(deny, present) and not never_applies(deny, {})
    roles = ("postmaster", "abuse")
    assert [f.unsure for f in role_filters(config, "r", config.acls["r"], roles)[0]] == [True]
    assert (
        role_filters(config, "r", config.acls["r"], roles, absent)[0] == []
    )  # (an empty list blocks no one)
    found = role_filters(config, "r", config.acls["r"], roles, present)[0]
    assert [(f.roles, f.unsure) for f in found] == [(roles, False)]


def test_set_is_a_modifier() -> None:
    """``set acl_m_x = 1`` (the variable's name before the ``=``) parses (it used to be a problem that
    made the whole ACL unread)."""
    text = "begin acl\n  r:\n    warn set acl_m_x = 1\n    accept set acl_c_count = ${eval:1+1}\n"
    config = parse_config(text + "    hosts = +relay_from_hosts\n")
    assert not config.problems
    warn_, accept = config.acls["r"]
    assert warn_.items == (AclItem("set", "acl_m_x = 1"),) and str(warn_.items[0]) == "set acl_m_x = 1"
    assert accept.items[0].modifier and [str(i) for i in accept.conditions] == ["hosts = +relay_from_hosts"]


@pytest.mark.parametrize(
    "pattern",
    ["^[[:alpha:]]+$", "^(?i)post", "^(?<=x)a", "^\\Qa.b\\E", "^a++$", "^a*+", "^\\p{L}+", "^\\x{61}"],
)
def test_pcre_only_syntax_is_not_judged(pattern: str) -> None:
    """A regular expression that Python reads otherwise than PCRE (or warns of) cannot be judged: None,
    and no FutureWarning (an error under filterwarnings = error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pcre_search(pattern, "postmaster") is None
        # (in a list, which is expanded, a backslash survives inside \N...\N only)
        assert local_part_in(f"\\N{pattern}\\N", "postmaster", {}) is None


ALL46, ONLY4, NO46 = (True, True), (True, False), (False, False)


@pytest.mark.parametrize(
    ("value", "named", "nameless"),
    [
        ("*", ALL46, ALL46),
        ("<; 0.0.0.0/0 ; ::/0", ALL46, ALL46),
        ("<; 0.0.0.0/0 ; 0:0:0:0:0:0:0:0/0", ALL46, ALL46),
        ("0.0.0.0/0", ONLY4, ONLY4),
        ("!192.0.2.0/24", ALL46, ALL46),  # (every other host)
        ("192.0.2.0/24 : *", ALL46, ALL46),
        ("!192.0.2.0/24 : !*", NO46, NO46),
        ("!*", NO46, NO46),
        ("! *", NO46, NO46),
        ("!* : *", NO46, NO46),  # (the first item that matches decides)
        ("<; !0.0.0.0/0 ; !::0/0", NO46, NO46),
        ("<; !0.0.0.0/0 ; *", (False, True), (False, True)),
        ("192.0.2.0/24 : @ : @[] : localhost : mx.example : net-lsearch;/etc/x", NO46, NO46),
        ("", NO46, NO46),
        ("+all", ALL46, ALL46),
        ("+none : *", ALL46, ALL46),
        ("!+all", NO46, NO46),
        ("+v4", ONLY4, ONLY4),
        # (an item that needs the client's name fails the list for a client that has none)
        ("!*.legacy.example", ALL46, NO46),
        ("!oldhost.example : *", ALL46, ALL46),  # (a name to look up: its addresses only)
        ("^mx : *", ALL46, NO46),
        ("lsearch;/etc/exim4/hosts : *", ALL46, NO46),
        ("+ignore_unknown : !*.legacy.example : *", ALL46, ALL46),
        ("+include_unknown : !*.legacy.example : *", ALL46, ALL46),  # (accepted, whatever the "!")
        ("!\\N^.*\\.dyn\\.example$\\N : *", ALL46, NO46),
        ("!+corp : *", ALL46, ALL46),  # (a failure in a named list: it does not match)
        ("+corp", NO46, NO46),
        ("+include_unknown : *.x", NO46, ALL46),
        ("+include_defer : *", ALL46, ALL46),
    ],
)
def test_host_list_default(value: str, named: tuple[bool, bool], nameless: tuple[bool, bool]) -> None:
    lists = {
        "all": ("host", "*"),
        "none": ("host", "!*"),
        "v4": ("host", "0.0.0.0/0"),
        "corp": ("host", "*.corp.example"),
    }
    reach = host_list_default(value, {**lists, "mailboxes": ("localpart", "*")})
    assert reach is not None
    assert (reach.named[4], reach.named[6]) == named
    assert (reach.nameless[4], reach.nameless[6]) == nameless
    assert reach.every((4, 6)) == (named == nameless == ALL46)


@pytest.mark.parametrize(
    "value",
    ["+undefined", "+mailboxes", "${lookup{x}lsearch{/etc/hosts.allow}}", "/etc/exim4/helo_hosts", "!/etc/x",
     "lsearch*;/etc/x"],
)  # fmt: skip
def test_host_list_default_cannot_tell(value: str) -> None:
    assert host_list_default(value, {"mailboxes": ("localpart", "*")}) is None
    assert host_list_default("+all", None) is None  # (the named lists could not be read)


def test_host_list_default_stops_at_a_loop() -> None:
    assert host_list_default("+a", {"a": ("host", "+b"), "b": ("host", "+a")}) is None


def test_pcre_that_python_reads_alike() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pcre_search("^post[a-z]+$", "POSTMASTER") is True
        assert pcre_search("^abuse$", "postmaster") is False
        assert pcre_search("^[a-", "x") is None  # (no regular expression at all)
        assert pcre_search("[[]x", "[x") is None  # (re warns it may read "[[" as a nested set one day)
        assert pcre_search("[a-]x", "-x") is True
        for pattern in ("[a--]", "[a&&b]", "[~~]", "[a||b]"):  # (re warns of set operations to come)
            assert pcre_search(pattern, "a") is None, pattern
        # (bytes, as PCRE without UTF mode: ASCII classes and case, "." one byte)
        assert pcre_search("^k", "\u212a") is False  # (the Kelvin sign is no "k" to Exim)
        assert pcre_search(r"^\w+$", "jos\u00e9") is False
        assert pcre_search("^.{4}$", "jos\u00e9") is False
        assert pcre_search("^.{5}$", "jos\u00e9") is True
        assert pcre_search("^a{,2}$", "a") is None  # (a quantifier to re, text to PCRE2 before 10.43)


def test_exim_list_is_linear_on_long_items() -> None:
    assert exim_list("a" * 100_000 + " : b") == ["a" * 100_000, "b"]
    assert exim_list("a:::b") == ["a:", "b"] and exim_list("<; a;;b ; c") == ["a;b", "c"]


def test_smtp_ports_and_listening_addresses() -> None:
    assert smtp_ports("") == [25] and smtp_ports("smtp : 2525 : submission : weird") == [25, 2525, 587]
    interfaces = "<; 192.0.2.1 ; 192.0.2.2.2525 ; ::0"
    assert listening_on(interfaces, "25", 25) == ["192.0.2.1", "::0"]
    assert listening_on(interfaces, "25", 2525) == ["192.0.2.2"]
    assert listening_on(interfaces, None, 2525) == ["192.0.2.1", "192.0.2.2", "::0"]


@pytest.mark.parametrize(
    ("statement", "guard"),
    [
        ("require message = relay not permitted\ndomains = +local_domains : +relay_to_domains", True),
        ("require domains = +local_domains\nverify = recipient", True),
        ("deny message = relay not permitted\n!domains = +local_domains\n!authenticated = *", True),
        ("deny domains = ! +local_domains", True),
        ("deny !domains = +local_domains\n!hosts = +relay_from_hosts", True),
        # verify = recipient refuses what does not route, at any domain: not the guard
        ("require verify = recipient", False),
        ("drop !verify = recipient/callout", False),
        ("deny !domains = +local_domains\n!verify = recipient", False),
        # a deny that also needs a positive condition refuses only some relaying
        ("deny domains = !+local_domains\nlocal_parts = ^[./|] : ^.*[@%!] : ^.*/\\.\\./", False),
        ("deny !domains = +local_domains\nhosts = 192.0.2.0/24", False),
        ("deny !domains = +local_domains\ndnslists = zen.example", False),
        ("discard !domains = +local_domains", True),
        ("defer !domains = +local_domains", True),
        ("deny hosts = 192.0.2.0/24", False),
        ("deny !verify = sender", False),
        ("require verify = sender", False),
        ("deny domains = +local_domains", False),
        ("accept domains = +local_domains", False),
        ("warn !domains = +local_domains", False),
    ],
)
def test_the_relay_guard(statement: str, guard: bool) -> None:
    assert domain_guard(_rcpt(statement)[0]) is guard


def test_an_accept_any_client_meets_before_the_guard() -> None:
    guard = "require domains = +local_domains"
    assert open_accept(_rcpt("accept hosts = :", "deny hosts = 192.0.2.0/24", "accept")) == AclStatement(
        "accept"
    )
    found = open_accept(_rcpt("accept local_parts = relaytest", guard))
    assert found is not None and found.describe() == "accept  local_parts = relaytest"
    assert open_accept(_rcpt("accept message = ok\nverify = sender\nsenders = *@example.com")) is not None
    for safe in (
        "accept hosts = +relay_from_hosts",
        "accept authenticated = *",
        "accept domains = +local_domains",
        "accept condition = ${if eq{$received_port}{587}}",
        "accept !verify = sender",
    ):
        assert open_accept(_rcpt(safe, guard, "accept")) is None, safe
    assert open_accept(_rcpt(guard, "accept")) is None
    # a refusal of every untrusted client stops the search as the guard does (what follows is the
    # trusted clients'), a narrower one does not
    trusted_only = "deny message = relay not permitted\n!hosts = +relay_from_hosts\n!authenticated = *"
    assert (
        open_accept(_rcpt("accept domains = +local_domains\nverify = recipient", trusted_only, "accept"))
        is None
    )
    assert open_accept(_rcpt("deny message = relay not permitted", "accept")) is None
    assert open_accept(_rcpt("require verify = recipient", "accept")) == AclStatement("accept")
    local_parts = "deny domains = !+local_domains\nlocal_parts = ^[./|] : ^.*[@%!]"
    assert open_accept(_rcpt(local_parts, "accept")) == AclStatement("accept")
    assert open_accept(_rcpt("deny !domains = +local_domains", "accept")) is None


def test_accepting_the_local_domains_exempts_every_role() -> None:
    config = parse_config("begin acl\n  r:\n    accept domains = +local_domains\n    verify = recipient\n"
                          "    deny dnslists = zen.example\n")  # fmt: skip
    found, exempt = role_filters(config, "r", config.acls["r"], ("postmaster", "abuse"))
    assert found == [] and set(exempt) == {"postmaster", "abuse"}
    config = parse_config(
        "begin acl\n  r:\n    accept domains = ! +local_domains\n    deny dnslists = zen.example\n"
    )
    found, exempt = role_filters(config, "r", config.acls["r"], ("postmaster",))
    assert exempt == {} and [f.roles for f in found] == [("postmaster",)]


# 4.96: exim -C FILE -bh 192.0.2.1 -oMi 127.0.14.128.2525, EHLO, MAIL FROM:<>, RCPT to example.net, QUIT
# (standard error; the helo and host-list lines left out)
TRACE = """\
>>> using ACL "acl_check_mail"
>>> processing "accept" (/tmp/xp/conf2 14)
>>> accept: condition test succeeded in ACL "acl_check_mail"
>>> end of ACL "acl_check_mail": ACCEPT
>>> using ACL "acl_check_rcpt"
>>> processing "accept" (/tmp/xp/conf2 19)
>>> check hosts = :
>>> accept: condition test failed in ACL "acl_check_rcpt"
>>> processing "warn" (/tmp/xp/conf2 20)
>>> check set acl_m_x = 1
>>> warn: condition test succeeded in ACL "acl_check_rcpt"
>>> processing "deny" (/tmp/xp/conf2 21)
>>> check acl = acl_sub
>>>  using ACL "acl_sub"
>>>  processing "accept" (/tmp/xp/conf2 16)
>>>  check hosts = 10.0.0.0/8
>>>  host in "10.0.0.0/8"? no (end of list)
>>>  accept: condition test failed in ACL "acl_sub"
>>>  processing "deny" (/tmp/xp/conf2 17)
>>>  deny: condition test succeeded in ACL "acl_sub"
>>>  end of ACL "acl_sub": DENY
>>> deny: condition test failed in ACL "acl_check_rcpt"
>>> processing "deny" (/tmp/xp/conf2 22)
>>>   message: port $received_port ip $received_ip_address
>>> check condition = ${if eq{$received_port}{-1}}
>>>                 =
>>> deny: condition test failed in ACL "acl_check_rcpt"
>>> processing "accept" (/tmp/xp/conf2 26)
>>> check hosts = +relay_from_hosts
>>> accept: condition test failed in ACL "acl_check_rcpt"
>>> processing "deny" (/tmp/xp/conf2 27)
>>>   message: relay not permitted
>>> check !domains = +local_domains
>>> example.net in "@ : eximcheck.test"? no (end of list)
>>> example.net in "+local_domains"? no (end of list)
>>> check !verify = recipient
>>> >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>
>>> routing relaytest@example.net
>>> check domains = nothing-of-the-acl
>>> no more routers
>>> ----------- end verify ------------
>>> deny: condition test succeeded in ACL "acl_check_rcpt"
>>> end of ACL "acl_check_rcpt": DENY
LOG: H=(client.example) [192.0.2.1] F=<> rejected RCPT <relaytest@example.net>: Unrouteable address
"""
#: 4.96: the RCPT ACL's ends: a require that failed, a discard, an implicit deny, a deferred condition
ENDS = {
    "not OK": """\
>>> using ACL "r"
>>> processing "require" (/tmp/xp/conf3 13)
>>>   message: relay not permitted
>>> check domains = +local_domains
>>> example.net in "+local_domains"? no (end of list)
>>> require: condition test failed in ACL "r"
>>> end of ACL "r": not OK
""",
    "DISCARD": """\
>>> using ACL "r"
>>> processing "discard" (/tmp/xp/conf3 13)
>>> check !domains = +local_domains
>>> discard: condition test succeeded in ACL "r"
>>> end of ACL "r": DISCARD
""",
    "implicit DENY": """\
>>> using ACL "r"
>>> processing "accept" (/tmp/xp/conf3 13)
>>> check domains = +local_domains
>>> accept: condition test failed in ACL "r"
>>> end of ACL "r": implicit DENY
""",
    "DEFER": """\
>>> using ACL "r"
>>> processing "deny" (/tmp/xp/conf4 13)
>>> check !verify = sender
>>> >>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>
>>> routing x@example.org
>>> dnslookup router: defer for x@example.org
>>>   message: host lookup did not complete
>>> ----------- end verify ------------
>>> deny: condition test deferred in ACL "r"
LOG: H=(client.example) [192.0.2.1] sender verify defer for <x@example.org>: host lookup did not complete
""",
}


def test_bh_trace_runs_and_deciding_statements() -> None:
    mail, rcpt = parse_bh_trace(TRACE)
    assert mail == AclRun("acl_check_mail", "ACCEPT", AclStatement("accept"), "/tmp/xp/conf2 14")
    # (the nested ACL's lines and the verification's are not the RCPT ACL's statements)
    assert rcpt.acl == "acl_check_rcpt" and rcpt.result == "DENY" and rcpt.where == "/tmp/xp/conf2 27"
    assert rcpt.statement == AclStatement(
        "deny", (AclItem("domains", "+local_domains", True), AclItem("verify", "recipient", True))
    )
    # (deny !domains !verify = recipient: a routable recipient at another domain passes it)
    assert rcpt.statement is not None and not domain_guard(rcpt.statement)
    found = {end: parse_bh_trace(text) for end, text in ENDS.items()}
    assert {end: [r.result for r in runs] for end, runs in found.items()} == {e: [e] for e in ENDS}
    assert found["not OK"][0].statement == AclStatement("require", (AclItem("domains", "+local_domains"),))
    assert found["DISCARD"][0].statement == AclStatement(
        "discard", (AclItem("domains", "+local_domains", True),)
    )
    assert found["implicit DENY"][0].statement is None
    assert found["DEFER"][0].statement == AclStatement("deny", (AclItem("verify", "sender", True),))
    assert parse_bh_trace("exim: permission denied\n") == []


def _later_format(trace: str) -> str:
    """A 4.96 trace as later releases may print it: the ACL's name bare, and in ``processing``."""
    out, acl = [], ""
    for line in trace.splitlines():
        m = re.match(r'^(>>> +)using ACL "([^"]+)"$', line)
        if m:
            acl = m.group(2)
        named = re.sub(r'^(>>> +)processing "', rf'\1processing ACL {acl} "', line)
        out.append(re.sub(r'ACL "([^"]+)"', r"ACL \1", named))
    return "\n".join(out) + "\n"


def test_bh_trace_in_the_later_format_reads_the_same() -> None:
    later = _later_format(TRACE)
    assert 'processing ACL acl_check_rcpt "deny"' in later and "in ACL acl_check_rcpt" in later
    assert parse_bh_trace(later) == parse_bh_trace(TRACE)
    for text in ENDS.values():
        assert parse_bh_trace(_later_format(text)) == parse_bh_trace(text)


def test_bh_trace_keeps_a_run_whose_end_is_missing() -> None:
    cut = ENDS["not OK"].replace('>>> end of ACL "r": not OK\n', "")
    runs = parse_bh_trace(cut + ENDS["implicit DENY"].replace('"r"', '"r2"'))
    assert [(r.acl, r.result) for r in runs] == [("r", ""), ("r2", "implicit DENY")]
    assert runs[0].statement == AclStatement("require", (AclItem("domains", "+local_domains"),))
