"""mailspec.hostside: what the reader asks a host and makes of the answers, on a fake testinfra host
that answers from a table (no Postfix or Exim needed): which MTA, the route of the role addresses
through virtual aliases, aliases and local users, the TLS files, and parts that cannot be read."""

from __future__ import annotations

import re

from host_facts import FakeHost, Result, cert_pem

from mailspec.hostside import read_mta

CERT, KEY = cert_pem(["mx1.example.com"])
POSTFIX = {
    r"sh -c 'command -v postconf'": Result(0, "/usr/sbin/postconf\n"),
    r"postconf -c /etc/pf -x": Result(
        0,
        (
            "myhostname = mx1.example.com\nmydestination = mx1.example.com, localhost\n"
            "alias_maps = hash:/etc/aliases\nvirtual_alias_maps = hash:/etc/pf/virtual\n"
            "virtual_alias_domains = hash:/etc/pf/virtual\n"
            "smtpd_recipient_restrictions = check_recipient_access hash:/etc/pf/roles,"
            " reject_rbl_client z.test\n"
            "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n"
        ),
    ),
    r"postconf -c /etc/pf -n": Result(0, "myhostname = mx1.example.com\n"),
    r"postconf -c /etc/pf -M": Result(0, "smtp inet n - y - - smtpd\n"),
    r"ip -o addr show": Result(
        0,
        "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 192.0.2.25/24 brd x\n"
        "2: eth0    inet6 2001:db8::25/64 scope global\n",
    ),
    r"ss -H -l -t -n": Result(0, "LISTEN 0 100 0.0.0.0:25 0.0.0.0:*\nLISTEN 0 100 [::]:25 [::]:*\n"),
    r"getent ahosts mx1.example.com": Result(0, "192.0.2.25 STREAM mx1.example.com\n192.0.2.25 DGRAM\n"),
    r"nft list ruleset": Result(1, "", "Operation not permitted"),
    r"iptables -S": Result(0, "-P INPUT ACCEPT\n"),
    r"ip6tables -S": Result(0, "-P INPUT ACCEPT\n"),
    # postmaster@example.com -> virtual -> postmaster (local) -> alias root -> a local user
    r"postmap -c /etc/pf -q postmaster@example.com hash:/etc/pf/virtual": Result(0, "postmaster\n"),
    r"postalias -c /etc/pf -q postmaster hash:/etc/aliases": Result(0, "root\n"),
    r"getent passwd root": Result(0, "root:x:0:0::/root:/bin/sh\n"),
    # abuse -> /dev/null; abuse@example.com: the catch-all of the domain, a remote address
    r"postalias -c /etc/pf -q abuse hash:/etc/aliases": Result(0, "/dev/null\n"),
    r"postmap -c /etc/pf -q @example.com hash:/etc/pf/virtual": Result(0, "desk@example.net\n"),
    r"postmap -c /etc/pf -q postmaster@ hash:/etc/pf/roles": Result(0, "OK\n"),
    r"postmap -c /etc/pf -q example.com hash:/etc/pf/virtual": Result(0, "x\n"),
    r"cat -- /etc/ssl/mx.pem": Result(0, CERT.decode()),
    r"cat -- /etc/ssl/mx.key": Result(1, "", "cat: /etc/ssl/mx.key: Permission denied"),
    r"(postmap|postalias|getent) .*": Result(1),
}


def test_postfix_read_once_with_its_config_dir() -> None:
    host = FakeHost(POSTFIX)
    c = read_mta(host, "mx1", mta="auto", config="/etc/pf", domains=["example.com"])
    assert (c.host, c.mta, c.config, c.problem) == ("mx1", "postfix", "/etc/pf", "")
    assert c.hostname == "mx1.example.com"
    assert c.addresses == ("127.0.0.1", "192.0.2.25", "2001:db8::25")
    assert c.listening == (("0.0.0.0", 25), ("::", 25))
    assert c.hostname_ips == ("192.0.2.25",)
    assert c.services[0].command == "smtpd"
    # every Postfix tool got the configuration directory
    assert all(" -c /etc/pf " in a for a in host.asked if a.startswith(("postconf", "postmap", "postalias")))
    assert c.firewall_tool == "iptables -S" and "firewall" not in c.unread


def test_postfix_role_routes() -> None:
    c = read_mta(FakeHost(POSTFIX), "mx1", config="/etc/pf", domains=["example.com"])
    route = c.roles["postmaster@example.com"]
    assert route.deliverable and route.destination == "local user root"
    assert "virtual_alias_maps hash:/etc/pf/virtual: postmaster@example.com -> postmaster" in route.steps
    assert not c.roles["abuse"].deliverable and c.roles["abuse"].destination == "file /dev/null"
    assert c.roles["abuse@example.com"].destination == "remote desk@example.net"
    assert c.access["hash:/etc/pf/roles|postmaster@"] == "OK"
    assert c.access["hash:/etc/pf/roles|abuse@"] == ""


def test_tls_files_read_and_a_denied_key() -> None:
    c = read_mta(FakeHost(POSTFIX), "mx1", config="/etc/pf")
    assert c.tls is not None and c.tls.cert is not None
    assert c.tls.cert.dns_names == ("mx1.example.com",)
    assert "Permission denied" in c.tls.key_problem and c.tls.match is None and not c.tls.absent


def test_key_and_certificate_that_belong_together_or_not() -> None:
    table = {**POSTFIX, r"cat -- /etc/ssl/mx.key": Result(0, KEY.decode())}
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.tls is not None and c.tls.match is True
    _, other = cert_pem(["x.example"])
    table = {**POSTFIX, r"cat -- /etc/ssl/mx.key": Result(0, other.decode())}
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.tls is not None and c.tls.match is False
    table = {
        **POSTFIX,
        r"cat -- /etc/ssl/mx.key": Result(1, "", "cat: /etc/ssl/mx.key: No such file or directory"),
    }
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.tls is not None and c.tls.absent == ("/etc/ssl/mx.key",)


def test_a_failing_postconf_is_a_problem_not_a_verdict() -> None:
    table = {
        **POSTFIX,
        r"postconf -c /etc/pf -x": Result(1, "", "postconf: fatal: open /etc/pf/main.cf: No such file"),
    }
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert "could not read Postfix's settings on mx1" in c.problem and "main.cf" in c.problem


def test_unreadable_parts_are_recorded() -> None:
    table = {k: v for k, v in POSTFIX.items() if not k.startswith(("ss", "iptables"))}
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert "ss is not installed" in c.unread["sockets"]
    assert c.unread["firewall"].startswith("the packet filter could not be read")
    assert "nft" in c.unread["firewall"] and "iptables" in c.unread["firewall"]


def test_no_mta_found() -> None:
    c = read_mta(FakeHost({}), "mx1")
    assert c.problem == "no Postfix or Exim found on mx1"


EXIM = {
    r"sh -c 'command -v exim'": Result(0, "/usr/sbin/exim\n"),
    r"exim -C /etc/exim/exim.conf -bP": Result(
        0, "primary_hostname = mx1.example.com\nsmtp_enforce_sync\ntls_certificate = /etc/ssl/mx.pem\n"
    ),
    r"exim -C /etc/exim/exim.conf -bt postmaster": Result(
        0, "postmaster@mx1.example.com\n  <-- postmaster\n  router = system_aliases\n"
    ),
    r"exim -C /etc/exim/exim.conf -bt abuse": Result(
        2, "abuse@mx1.example.com is undeliverable: Unrouteable address\n"
    ),
    r"cat -- /etc/ssl/mx.pem": Result(0, CERT.decode()),
}


def test_exim_read_with_its_config_file() -> None:
    host = FakeHost(EXIM)
    c = read_mta(host, "mx1", config="/etc/exim/exim.conf")
    assert (c.mta, c.problem) == ("exim", "")
    assert c.values["smtp_enforce_sync"] == "true" and c.hostname == "mx1.example.com"
    assert c.roles["postmaster"].deliverable
    assert not c.roles["abuse"].deliverable and "Unrouteable" in c.roles["abuse"].destination
    assert c.tls is not None and c.tls.cert is not None and "no private key" in c.tls.key_problem
    c = read_mta(FakeHost({}), "mx1", mta="exim")
    assert c.mta == "exim" and "exim is not installed" in c.problem


def test_commands_are_time_bounded_and_a_timeout_is_unread() -> None:  # (item 11)
    table = {
        r"sh -c 'command -v timeout'": Result(0, "/usr/bin/timeout\n"),
        r"timeout -k 2 10 sh -c 'command -v postconf'": Result(0, "/usr/sbin/postconf\n"),
        r"timeout -k 2 30 sh -c 'postconf -c /etc/pf -x'": Result(124),
    }
    host = FakeHost(table)
    c = read_mta(host, "mx1", config="/etc/pf")
    assert "timed out after 30 s" in c.problem
    assert all(a.startswith("timeout -k 2 ") for a in host.asked[1:])


def test_an_empty_nft_ruleset_falls_back_to_iptables() -> None:  # (item 6)
    table = {**POSTFIX, r"nft list ruleset": Result(0, ""), r"iptables -S": Result(0, "-P INPUT DROP\n")}
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.firewall_tool == "iptables -S" and "-P INPUT DROP" in c.firewall


def test_postconf_outside_the_path() -> None:  # (item 20)
    table = {
        r"test -x /usr/sbin/postconf": Result(0),
        **{
            k.replace("postconf -c", "/usr/sbin/postconf -c"): v
            for k, v in POSTFIX.items()
            if "command" not in k
        },
    }
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.mta == "postfix" and c.problem == ""


def test_mynetworks_file_read_and_table_unread() -> None:  # (item 2)
    x = POSTFIX[r"postconf -c /etc/pf -x"]
    table = {
        **POSTFIX,
        r"postconf -c /etc/pf -x": Result(0, x.stdout + "mynetworks = /etc/pf/nets, hash:/etc/pf/n\n"),
        r"cat -- /etc/pf/nets": Result(0, "# ours\n127.0.0.0/8, 8.0.0.0/8\n"),
    }
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.networks["/etc/pf/nets"] == ("127.0.0.0/8", "8.0.0.0/8")
    assert "cannot be listed" in c.unread["mynetworks hash:/etc/pf/n"]


def test_chain_files_pair_key_then_certificate() -> None:  # (item 17)
    x = POSTFIX[r"postconf -c /etc/pf -x"]
    table = {
        **POSTFIX,
        r"postconf -c /etc/pf -x": Result(0, x.stdout + "smtpd_tls_chain_files = /etc/ssl/k1, /etc/ssl/c1\n"),
        r"cat -- /etc/ssl/k1": Result(0, KEY.decode()),
        r"cat -- /etc/ssl/c1": Result(0, CERT.decode()),
    }
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.tls is not None and (c.tls.cert_path, c.tls.key_path, c.tls.match) == (
        "/etc/ssl/c1",
        "/etc/ssl/k1",
        True,
    )


def _with(values: str, master: str = "smtp inet n - y - - smtpd\n", **files: str) -> dict[str, Result]:
    """POSTFIX with more main.cf settings, another master.cf, and files that ``cat`` reads."""
    table = {
        r"postconf -c /etc/pf -x": Result(0, POSTFIX[r"postconf -c /etc/pf -x"].stdout + values),
        r"postconf -c /etc/pf -M": Result(0, master),
    }
    table.update({re.escape(f"cat -- {path}"): Result(0, text) for path, text in files.items()})
    return {**table, **{k: v for k, v in POSTFIX.items() if k not in table}}


def test_chain_files_one_sequence_key_then_certificate() -> None:
    # (postconf(5): the files are one sequence, each key followed by its certificate: key1 cert1 key2 cert2)
    cert2, key2 = cert_pem(["mx1.example.com"])
    files = {"/k1": KEY.decode(), "/c1": CERT.decode(), "/k2": key2.decode(), "/c2": cert2.decode()}
    c = read_mta(
        FakeHost(_with("smtpd_tls_chain_files = /k1, /c1, /k2, /c2\n", **files)), "mx1", config="/etc/pf"
    )
    pairs = (c.tls, *c.more_tls)
    assert [(p.key_path, p.cert_path, p.match) for p in pairs if p] == [
        ("/k1", "/c1", True),
        ("/k2", "/c2", True),
    ]
    # (each file holds its key and its certificate)
    both = {"/a": KEY.decode() + CERT.decode(), "/b": key2.decode() + cert2.decode()}
    c = read_mta(FakeHost(_with("smtpd_tls_chain_files = /a /b\n", **both)), "mx1", config="/etc/pf")
    assert [(p.key_path, p.cert_path, p.match) for p in (c.tls, *c.more_tls) if p] == [
        ("/a", "/a", True),
        ("/b", "/b", True),
    ]
    # (a certificate ahead of its key, or a key with none after it, is said)
    c = read_mta(FakeHost(_with("smtpd_tls_chain_files = /c1 /k1\n", **files)), "mx1", config="/etc/pf")
    assert c.tls is not None and "no PEM" in (c.tls.cert_problem + c.tls.key_problem)


def test_tls_files_and_mynetworks_of_the_smtpd_behind_postscreen() -> None:
    master = (
        "smtp inet n - y - 1 postscreen\n"
        "smtpd pass - - y - - smtpd -o smtpd_tls_cert_file=/old.pem -o smtpd_tls_key_file=/old.key "
        "-o mynetworks=/etc/pf/nets\n"
    )
    old, old_key = cert_pem(["mx1.example.com"], days=-1)
    files = {"/old.pem": old.decode(), "/old.key": old_key.decode(), "/etc/pf/nets": "192.0.2.0/24\n"}
    c = read_mta(FakeHost(_with("", master, **files)), "mx1", config="/etc/pf")
    assert c.tls is not None and (c.tls.cert_path, c.tls.key_path, c.tls.match) == (
        "/old.pem",
        "/old.key",
        True,
    )
    assert c.networks == {"/etc/pf/nets": ("192.0.2.0/24",)}
    # (a lab port no service names: the real smtp service's smtpd, as the checks read it)
    c = read_mta(FakeHost(_with("", master, **files)), "mx1", config="/etc/pf", port=2525)
    assert c.tls is not None and c.tls.cert_path == "/old.pem"  # (no 2525 service: the smtp one)
    submission = (
        "smtp inet n - y - - smtpd\nsubmission inet n - y - - smtpd -o smtpd_tls_cert_file=/old.pem\n"
    )
    c = read_mta(FakeHost(_with("", submission, **files)), "mx1", config="/etc/pf")
    assert c.tls is not None and c.tls.cert_path == "/etc/ssl/mx.pem"


def test_local_transport_error_makes_local_mail_undeliverable() -> None:
    table = _with("local_transport = error:local mail delivery is disabled\n")
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf", domains=["example.com"])
    route = c.roles["postmaster@example.com"]  # (virtual -> postmaster, a local address: bounced)
    assert not route.deliverable and "local mail is disabled" in route.destination
    assert "local_transport = error:local mail delivery is disabled" in route.steps
    assert c.roles["abuse@example.com"].deliverable  # (the catch-all forwards off the host)


def test_access_tables_are_listed_by_postmap() -> None:
    listing = Result(0, "postmaster@example.com\tOK\nabuse@example.com\tOK\n")
    c = read_mta(
        FakeHost({r"postmap -c /etc/pf -s hash:/etc/pf/roles": listing, **POSTFIX}), "mx1", config="/etc/pf"
    )
    assert c.access_entries == {
        "hash:/etc/pf/roles": (("postmaster@example.com", "OK"), ("abuse@example.com", "OK"))
    }
    c = read_mta(FakeHost(POSTFIX), "mx1", config="/etc/pf")  # (postmap -s failed: no listing)
    assert c.access_entries == {}


def test_service_overrides_as_postconf_reads_them() -> None:
    # (postconf -P -x: braces removed, $names expanded; postconf -M keeps both)
    master = (
        "smtp inet n - y - 1 postscreen -o smtpd_service_name=smtpd2\n"
        "smtpd pass - - y - - smtpd\n"
        "smtpd2 pass - - y - - smtpd -o {mynetworks=127.0.0.0/8 0.0.0.0/0} "
        "-o smtpd_tls_cert_file=${config_directory}/old.pem\n"
    )
    params = Result(
        0,
        "smtp/inet/smtpd_service_name = smtpd2\nsmtpd2/pass/mynetworks = 127.0.0.0/8 0.0.0.0/0\n"
        "smtpd2/pass/smtpd_tls_cert_file = /etc/pf/old.pem\n",
    )
    table = _with("", master)
    table = {r"postconf -c /etc/pf -P -x": params, **table}
    c = read_mta(FakeHost(table), "mx1", config="/etc/pf")
    assert c.tls is not None and c.tls.cert_path == "/etc/pf/old.pem"  # (smtpd2's, the one postscreen names)
    smtpd2 = next(s for s in c.services if s.name == "smtpd2")
    assert smtpd2.option("mynetworks") == "127.0.0.0/8 0.0.0.0/0"
    # (without postconf -P, the -M text is read, braces and all)
    c = read_mta(FakeHost(_with("", master)), "mx1", config="/etc/pf")
    smtpd2 = next(s for s in c.services if s.name == "smtpd2")
    assert smtpd2.option("mynetworks") == "127.0.0.0/8 0.0.0.0/0"
    assert smtpd2.option("smtpd_tls_cert_file") == "${config_directory}/old.pem"


def test_mynetworks_style_override_is_unread() -> None:
    c = read_mta(
        FakeHost(_with("", "smtp inet n - y - - smtpd -o mynetworks_style=class\n")), "mx1", config="/etc/pf"
    )
    assert "mynetworks_style = class" in c.unread["mynetworks"]


def test_transport_maps_and_local_transport_decide_local_delivery() -> None:
    local = "local unix - n n - - local\nerror unix - - n - - error\nsmtp unix - - n - - smtp\n"
    lmtp = local + "lmtp unix - - n - - lmtp\n"
    master = "smtp inet n - y - - smtpd\n"
    # (local_transport = lmtp: local(8) never sees the mail: its aliases say nothing)
    c = read_mta(FakeHost(_with("local_transport = lmtp:unix:private/dovecot\n", master + lmtp)), "mx1",
                 config="/etc/pf", domains=["example.com"])  # fmt: skip
    route = c.roles["postmaster@example.com"]
    assert route.problem and "not delivered by local(8)" in route.problem
    # (transport_maps sends the domain's mail to a hub, ahead of local_transport = error:)
    hub = {
        r"postmap -c /etc/pf -q postmaster@mx1\.example\.com hash:/etc/pf/transport": Result(
            0, "smtp:[hub.example.com]\n"
        )
    }
    values = (
        "local_transport = error:off\ntransport_maps = hash:/etc/pf/transport\nmyorigin = mx1.example.com\n"
    )
    c = read_mta(FakeHost({**hub, **_with(values, master + local)}), "mx1", config="/etc/pf")
    assert c.roles["postmaster"].deliverable and "hub.example.com" in c.roles["postmaster"].destination
    c = read_mta(FakeHost(_with(values, master + local)), "mx1", config="/etc/pf")
    assert (
        not c.roles["postmaster"].deliverable
        and "local_transport bounces" in c.roles["postmaster"].destination
    )
