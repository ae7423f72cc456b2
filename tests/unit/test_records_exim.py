"""mailspec.records.exim: ``exim -bP`` (``config``, ``transports``), ``exim -bt`` and ``exim -bh``
output, Exim's list syntax, and what the host checks make of the ACLs. The texts marked "4.96" are
what Debian's exim4 4.96 printed (tests/realservers/test_exim_hostchecks.py runs it); the others are
hand-copied from its documented output format."""

from __future__ import annotations

import pytest

from mailspec.records.exim import (
    AclItem,
    AclStatement,
    acl_files,
    computed,
    exim_bool,
    exim_interface,
    exim_list,
    exists_file,
    helo_name,
    local_part_in,
    never_applies,
    parse_bh,
    parse_bp,
    parse_bp_sections,
    parse_bt,
    parse_bt_routes,
    parse_config,
    relay_hosts,
    resolve_acl,
    role_filters,
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
        config, _rcpt("accept hosts = 8.0.0.0/8 : mail.example.com : ! 9.0.0.0/8")
    )
    assert (networks, unjudged) == (["8.0.0.0/8"], ["mail.example.com"])
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
