"""mailspec.hostside, Exim: what the reader makes of ``exim -bt`` routes and of Exim's TLS settings, on a
fake testinfra host that answers from a table. The outputs are Exim 4.96's (tests/realservers/
test_exim_hostchecks.py judges the same rules against a real Exim)."""

from __future__ import annotations

import shlex

from host_facts import FakeHost, Result, cert_pem

from mailspec.hostside import read_mta

CERT, KEY = cert_pem(["mx1.example.com"])
RSA_CERT, RSA_KEY = cert_pem(["mx1.example.com"])
ROUTED = "{a}@mx1.example.com\n    <-- {a}\n  router = local_user, transport = local_delivery\n"


def exim(bp: str, *, postmaster: Result | None = None, **more: Result) -> dict[str, Result]:
    """The table of an Exim host whose ``exim -bP`` prints ``bp`` (after primary_hostname)."""
    return {
        r"sh -c 'command -v exim'": Result(0, "/usr/sbin/exim\n"),
        r"exim -bP": Result(0, f"primary_hostname = mx1.example.com\nexim_user = Debian-exim\n{bp}"),
        r"exim -bt postmaster": postmaster or Result(0, ROUTED.format(a="postmaster")),
        r"exim -bt abuse": Result(0, ROUTED.format(a="abuse")),
        r"id -u Debian-exim": Result(0, "101\n"),
        r"id -G Debian-exim": Result(0, "103 110\n"),
        **more,
    }


def stat(*lines: str) -> Result:
    return Result(0, "".join(f"{line}\n" for line in lines))


def test_a_dev_null_alias_or_a_discard_is_not_deliverable() -> None:
    dev_null = Result(0, "postmaster@mx1.example.com -> /dev/null\n  transport = address_file\n")
    c = read_mta(FakeHost(exim("", postmaster=dev_null)), "mx1", mta="exim")
    route = c.roles["postmaster"]
    assert not route.deliverable and not route.problem and "/dev/null" in route.destination
    hole = Result(0, "mail to postmaster@mx1.example.com is discarded\n")
    route = read_mta(FakeHost(exim("", postmaster=hole)), "mx1", mta="exim").roles["postmaster"]
    assert not route.deliverable and "discarded" in route.destination
    assert read_mta(FakeHost(exim("")), "mx1", mta="exim").roles["abuse"].deliverable


def test_a_deferred_route_is_could_not_tell_with_its_reason() -> None:
    deferred = Result(
        1, "someone@example.org cannot be resolved at this time: host lookup did not complete\n"
        "    <-- postmaster@mx1.example.com\n",
    )  # fmt: skip
    route = read_mta(FakeHost(exim("", postmaster=deferred)), "mx1", mta="exim").roles["postmaster"]
    assert "host lookup did not complete" in route.problem  # (it used to say only "exit status 1")
    broken = Result(1, "", "Exim configuration error in line 3 of /etc/exim4/exim4.conf:\n")
    route = read_mta(FakeHost(exim("", postmaster=broken)), "mx1", mta="exim").roles["postmaster"]
    assert "Exim configuration error in line 3" in route.problem


def test_certificate_lists_are_paired_by_position() -> None:
    table = exim(
        "tls_certificate = /etc/exim4/ec.crt : /etc/exim4/rsa.crt\n"
        "tls_privatekey = /etc/exim4/ec.key : /etc/exim4/rsa.key\n",
        **{
            r"cat -- /etc/exim4/ec.crt": Result(0, CERT.decode()),
            r"cat -- /etc/exim4/ec.key": Result(0, KEY.decode()),
            r"cat -- /etc/exim4/rsa.crt": Result(0, RSA_CERT.decode()),
            r"cat -- /etc/exim4/rsa.key": Result(0, RSA_KEY.decode()),
            r"stat -L -c '%u %g %a %n' -- .*": stat(
                "0 0 755 /", "0 0 755 /etc", "0 0 755 /etc/exim4", "0 103 640 x"
            ),
        },
    )
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.tls is not None and len(c.more_tls) == 1  # (one path "ec.crt : rsa.crt" before)
    assert (c.tls.cert_path, c.tls.key_path, c.tls.match) == ("/etc/exim4/ec.crt", "/etc/exim4/ec.key", True)
    second = c.more_tls[0]
    assert (second.cert_path, second.key_path, second.match) == (
        "/etc/exim4/rsa.crt",
        "/etc/exim4/rsa.key",
        True,
    )
    assert not c.tls.cert_problem and not c.tls.key_problem and not c.tls.unreadable


def test_an_unset_or_expanded_certificate() -> None:
    c = read_mta(FakeHost(exim("tls_certificate = \n")), "mx1", mta="exim")
    assert c.tls is not None and "tls_certificate is unset" in c.tls.cert_problem
    assert "self-signed" in c.tls.cert_problem
    expanded = "tls_certificate = /etc/exim4/${tls_in_sni}.crt\n"
    host = FakeHost(exim(expanded))
    c = read_mta(host, "mx1", mta="exim")
    assert c.tls is not None and "is expanded for each connection" in c.tls.cert_problem
    assert not any(a.startswith("cat ") for a in host.asked)  # (no file of that name is read)


def test_tls_files_the_exim_user_cannot_read() -> None:
    crt, key = "/etc/exim4/exim.crt", "/etc/exim4/exim.key"
    files = {f"cat -- {crt}": Result(0, CERT.decode()), f"cat -- {key}": Result(0, KEY.decode())}
    up = ("0 0 755 /", "0 0 755 /etc", "0 0 755 /etc/exim4")
    stat_crt, stat_key = (f"stat -L -c '%u %g %a %n' -- / /etc /etc/exim4 {p}" for p in (crt, key))
    bp = f"tls_certificate = {crt}\ntls_privatekey = {key}\n"
    table = exim(
        bp, **files, **{stat_crt: stat(*up, f"0 0 644 {crt}"), stat_key: stat(*up, f"0 0 600 {key}")}
    )
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.tls is not None and not c.tls.cert_problem and c.tls.unreadable == (key,)
    assert (
        "cannot be read by the Exim user Debian-exim" in c.tls.key_problem and "mode 600" in c.tls.key_problem
    )
    # root's, group ssl-cert (110, one of Debian-exim's groups), mode 640: readable
    table[stat_key] = stat(*up, f"0 110 640 {key}")
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.tls is not None and not c.tls.key_problem and not c.tls.unreadable
    # the Exim user's own file, mode 400: readable (the owner's bits); a folder it cannot enter: not
    table[stat_key] = stat(*up, f"101 0 400 {key}")
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.tls is not None and not c.tls.unreadable
    table[stat_key] = stat("0 0 755 /", "0 0 755 /etc", "0 0 700 /etc/exim4", f"0 103 640 {key}")
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.tls is not None and "the folder /etc/exim4" in c.tls.key_problem


def test_unknown_ownership_is_not_a_problem() -> None:
    files = {r"cat -- /etc/exim4/exim.pem": Result(0, (KEY + CERT).decode())}
    table = exim("tls_certificate = /etc/exim4/exim.pem\n", **files)  # (no stat answer: exit 127)
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.tls is not None and c.tls.match is True and not c.tls.unreadable and not c.tls.key_problem


# ------------------------------------------------------------------ exim -bP config, transports, -bh
CONFIG = """\
# Exim Configuration (4.96)
domainlist local_domains = @ : example.com
hostlist relay_from_hosts = <; 127.0.0.1 ; ::1
primary_hostname = mx1.example.com
acl_smtp_rcpt = acl_check_rcpt

begin acl

  acl_check_rcpt:
    accept local_parts = postmaster : abuse
    domains = +local_domains
    accept hosts = +relay_from_hosts
    require message = relay not permitted
    domains = +local_domains
    accept
"""
TRANSPORTS = "remote_smtp transport:\ndriver = smtp\nhelo_data = $primary_hostname\n"


def bh(*replies: str) -> Result:
    """What exim -bh prints on its standard output: the preamble, then each reply."""
    preamble = "\n**** SMTP testing session as if from host 192.0.2.1\n**** This is not for real!\n\n"
    return Result(
        0, preamble + "".join(f"{r}\n" for r in replies), '>>> end of ACL "acl_check_rcpt": not OK\n'
    )


GREET, EHLO = "220 mx1.example.com ESMTP Exim 4.96", "250-mx1.example.com Hello\n250 HELP"
#: the relay probe as the reader runs it (no timeout(1) on the fake host: unbounded)
BH_ARGS = r"exim -bh 192\.0\.2\.1 -oMi [0-9.]+\.25"
PROBE = rf"sh -c 'printf .*EHLO client\.example.* \| {BH_ARGS}'"
LITERAL = rf"sh -c 'printf .*EHLO \[192\.0\.2\.1\].* \| {BH_ARGS}'"


def full(probe: Result, **more: Result) -> dict[str, Result]:
    return exim(
        "acl_smtp_rcpt = acl_check_rcpt\n",
        **{
            r"exim -bP config": Result(0, CONFIG),
            r"exim -bP transports": Result(0, TRANSPORTS),
            PROBE: probe,
        },
        **more,
    )


def test_the_configuration_transports_and_relay_probe_are_read() -> None:
    host = FakeHost(full(bh(GREET, EHLO, "250 OK", "550 relay not permitted", "221 bye")))
    c = read_mta(host, "mx1", mta="exim", domains=["example.com"])
    assert c.exim_config is not None and list(c.exim_config.acls) == ["acl_check_rcpt"]
    assert c.transports["remote_smtp"] == {"driver": "smtp", "helo_data": "$primary_hostname"}
    probe = c.relay_probe
    assert (
        probe is not None
        and probe.definite
        and (probe.rcpt_code, probe.rcpt) == (550, "550 relay not permitted")
    )
    assert (probe.client, probe.recipient, probe.sender) == ("192.0.2.1", "relaytest@example.net", "")
    assert probe.replies[3] == ("RCPT TO:<relaytest@example.net>", "550 relay not permitted")
    assert probe.trace == ('>>> end of ACL "acl_check_rcpt": not OK',)
    sent = next(a for a in host.asked if "-bh" in a)
    # the session, never DATA; the recipient at a domain the host does not serve
    assert "QUIT" in sent and "DATA" not in sent and "BDAT" not in sent
    assert "exim config" not in c.unread and "transports" not in c.unread


def test_the_relay_recipient_is_at_a_domain_the_host_does_not_serve() -> None:
    probe = bh(GREET, EHLO, "250 OK", "550 no", "221 bye")
    table = full(probe, **{rf"sh -c 'printf .* \| {BH_ARGS}'": probe})
    c = read_mta(FakeHost(table), "mx1", mta="exim", domains=["example.net"])
    assert c.relay_probe is not None and c.relay_probe.recipient == "relaytest@example.org"
    # (example.com is the host's own domain: its name is mx1.example.com)
    named = {**table, r"exim -bP config": Result(0, CONFIG.replace("@ :", "@ : example.org :"))}
    host = FakeHost(named)
    c = read_mta(host, "mx1", mta="exim", domains=["example.net"])
    assert c.relay_probe is not None and "no outside domain" in c.relay_probe.problem
    assert not any("-bh" in a for a in host.asked)


def test_a_refused_ehlo_is_tried_again_as_the_address_literal() -> None:
    refused = bh(GREET, "451 EHLO argument does not match calling host", "503 HELO or EHLO required", "503 x")
    literal = bh(GREET, EHLO, "250 OK", "550 relay not permitted", "221 bye")
    c = read_mta(FakeHost(full(refused, **{LITERAL: literal})), "mx1", mta="exim")
    assert (
        c.relay_probe is not None and c.relay_probe.rcpt_code == 550 and c.relay_probe.helo == "[192.0.2.1]"
    )
    c = read_mta(FakeHost(full(refused, **{LITERAL: refused})), "mx1", mta="exim")
    assert c.relay_probe is not None and "EHLO [192.0.2.1] was answered 451" in c.relay_probe.problem


def test_a_session_that_never_reaches_rcpt_gives_no_verdict() -> None:
    for probe, words in [
        (bh("554 go away"), "greets the test client 192.0.2.1 with 554 go away"),
        (
            bh(GREET, EHLO, "451 sender verify defer", "503 sender not yet given"),
            "MAIL FROM:<> was answered 451 sender verify defer",
        ),
        (bh(GREET, EHLO, "250 OK"), "said nothing to RCPT"),
        (Result(1, "", "exim: permission denied\n"), "gave no SMTP reply: exim: permission denied"),
    ]:
        c = read_mta(FakeHost(full(probe)), "mx1", mta="exim")
        assert c.relay_probe is not None and not c.relay_probe.definite and words in c.relay_probe.problem, (
            words
        )


def test_unread_configuration_and_transports() -> None:
    table = full(bh(GREET, EHLO, "250 OK", "550 no", "221 bye"))
    table[r"exim -bP config"] = Result(1, "", "exim: permission denied\n")
    table[r"exim -bP transports"] = Result(1, "", "exim: permission denied\n")
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.exim_config is None and c.transports == {}
    assert "permission denied" in c.unread["exim config"] and "permission denied" in c.unread["transports"]
    assert c.relay_probe is not None and c.relay_probe.definite  # (the probe needs neither)


def test_the_relay_probe_is_bounded_where_the_host_has_timeout() -> None:
    table = full(bh(GREET, EHLO, "250 OK", "550 no", "221 bye"))
    table[r"sh -c 'command -v timeout'"] = Result(0, "/usr/bin/timeout\n")
    table[r"timeout -k 2 30 sh -c .*-bh 192\.0\.2\.1 .*"] = Result(124)
    bounded = r"timeout -k 2 30 sh -c 'exim -bP"
    table = {
        k.replace(r"exim -bP", bounded) + ("'" if k.startswith("exim") else ""): v for k, v in table.items()
    }
    c = read_mta(FakeHost(table), "mx1", mta="exim", timeout=10)
    assert c.relay_probe is not None and "timed out after 30 s" in c.relay_probe.problem


def test_the_optional_files_of_the_acls_are_looked_for() -> None:
    optional = "${if exists{/etc/exim4/local_host_blacklist}{/etc/exim4/local_host_blacklist}{}}"
    more = (
        "    deny hosts = " + optional + "\n    deny senders = ${if exists{/etc/exim4/x}{/etc/exim4/x}{}}\n"
    )
    config = CONFIG.replace("  acl_check_rcpt:\n", "  acl_check_rcpt:\n" + more)
    table = full(bh(GREET, EHLO, "250 OK", "550 no", "221 bye"))
    table[r"exim -bP config"] = Result(0, config)
    table[r"stat -L -c %F -- /etc/exim4/local_host_blacklist"] = Result(
        1, "", "stat: cannot statx '/etc/exim4/local_host_blacklist': No such file or directory\n"
    )
    table[r"stat -L -c %F -- /etc/exim4/x"] = Result(
        1, "", "stat: cannot statx '/etc/exim4/x': Permission denied\n"
    )
    c = read_mta(FakeHost(table), "mx1", mta="exim")
    assert c.acl_files == {"/etc/exim4/local_host_blacklist": False}  # (the other could not be told)


def _session(command: str) -> list[str]:
    """The SMTP commands of the relay probe's shell text (``printf 'EHLO ...\\r\\n...' | exim -bh ...``)."""
    script = shlex.split(command)[2]  # (sh -c SCRIPT)
    printed = shlex.split(script.partition(" | ")[0])[1]
    return [line for line in printed.split("\\r\\n") if line]


def test_the_relay_probe_sends_nothing_but_ehlo_mail_rcpt_quit() -> None:
    """-bh runs the ACLs for real: the session the reader builds is EHLO, MAIL from the null sender
    (as exim_checkaccess does), RCPT to the outside domain and QUIT; no DATA, BDAT, VRFY or anything
    else, whichever EHLO is tried."""
    refused = bh(GREET, "451 EHLO argument does not match calling host", "503 HELO or EHLO required", "503 x")
    literal = bh(GREET, EHLO, "250 OK", "550 relay not permitted", "221 bye")
    host = FakeHost(full(refused, **{LITERAL: literal}))
    read_mta(host, "mx1", mta="exim")
    sessions = [_session(a) for a in host.asked if " -bh " in a]
    assert sessions == [
        ["EHLO client.example", "MAIL FROM:<>", "RCPT TO:<relaytest@example.net>", "QUIT"],
        ["EHLO [192.0.2.1]", "MAIL FROM:<>", "RCPT TO:<relaytest@example.net>", "QUIT"],
    ]


def test_the_relay_probe_comes_in_on_the_smtp_listener() -> None:
    """-oMi ADDRESS.PORT: the address and port Exim's daemon takes SMTP on (without it, -bh has
    ``$received_port`` -1 and no ``$received_ip_address``, and ACL conditions on them differ)."""

    def interface(bp: str, port: int, addresses: str = "") -> str:
        probe = bh(GREET, EHLO, "250 OK", "550 no")
        table = exim(
            bp, **{r"exim -bP config": Result(0, CONFIG), r"exim -bP transports": Result(0, TRANSPORTS)}
        )
        table[r"sh -c 'printf .* \| exim -bh 192\.0\.2\.1 -oMi \S+'"] = probe
        if addresses:
            table[r"ip -o addr show"] = Result(0, addresses)
        host = FakeHost(table)
        c = read_mta(host, "mx1", mta="exim", port=port)
        assert c.relay_probe is not None and c.relay_probe.definite, c.relay_probe
        sent = next(a for a in host.asked if " -bh " in a)
        assert f"-oMi {c.relay_probe.interface}'" in sent
        return c.relay_probe.interface

    listed = "local_interfaces = <; ::1 ; 192.0.2.25 ; 192.0.2.26.2525\ndaemon_smtp_ports = 25 : 587\n"
    assert interface(listed, 25) == "192.0.2.25.25"
    assert interface(listed, 2525) == "192.0.2.26.2525"
    # (an IPv4 address is a dotted quad in range: 999.1.1.1 is none, and no IPv6 address takes a port so)
    assert interface("local_interfaces = <; 999.1.1.1 ; 2001:db8::25 ; 192.0.2.25\n", 25) == "192.0.2.25.25"
    ip = "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 198.51.100.7/24 brd x scope global eth0\n"
    assert interface("local_interfaces = <; 0.0.0.0 ; ::0\n", 25, ip) == "198.51.100.7.25"
    assert interface("", 25) == "127.0.0.1.25"


def test_the_rcpt_acls_trace_says_which_statement_decided() -> None:
    trace = (
        '>>> using ACL "acl_check_rcpt"\n>>> processing "accept" (/etc/exim4/exim4.conf 30)\n'
        ">>> check hosts = :\n"
        '>>> accept: condition test failed in ACL "acl_check_rcpt"\n'
        '>>> processing "deny" (/etc/exim4/exim4.conf 31)\n>>> check hosts = 192.0.2.0/24\n'
        '>>> host in "192.0.2.0/24"? yes (matched "192.0.2.0/24")\n'
        '>>> deny: condition test succeeded in ACL "acl_check_rcpt"\n>>> end of ACL "acl_check_rcpt": DENY\n'
    )
    out = bh(GREET, EHLO, "250 OK", "550 Administrative prohibition", "221 bye")
    c = read_mta(FakeHost(full(Result(0, out.stdout, trace))), "mx1", mta="exim")
    probe = c.relay_probe
    assert probe is not None and probe.decision == "DENY" and probe.where == "/etc/exim4/exim4.conf 31"
    assert probe.decided_by is not None and probe.decided_by.describe() == "deny  hosts = 192.0.2.0/24"
