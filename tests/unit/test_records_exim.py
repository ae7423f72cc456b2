"""mailspec.records.exim: ``exim -bP`` and ``exim -bt`` output, and Exim's list syntax. The ``-bt``
texts marked "4.96" are what Debian's exim4 4.96 printed for the lab's aliases (tests/realservers/
test_exim_hostchecks.py runs it); the others are hand-copied from its documented output format."""

from __future__ import annotations

from mailspec.records.exim import exim_bool, exim_interface, exim_list, parse_bp, parse_bt, parse_bt_routes

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
