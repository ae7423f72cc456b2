"""mailspec.records.exim: ``exim -bP`` and ``exim -bt`` output (as Exim 4.96 prints it; Exim is not
installed here, so the texts are hand-copied from its documented output format)."""

from __future__ import annotations

from mailspec.records.exim import exim_bool, parse_bp, parse_bt

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
    assert parse_bt(ok, 0) == (True, "<-- postmaster@example.com")
    bad = "abuse@example.com is undeliverable: Unrouteable address\n"
    assert parse_bt(bad, 2) == (False, "abuse@example.com is undeliverable: Unrouteable address")
    assert parse_bt("", 2)[0] is False
