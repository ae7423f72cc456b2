"""The lab's MTAs played by real Postfix: each instance behaves as its scenario says.

Without mailspec, with smtplib alone (its reply reader on a socket of our own for the two deliberate
violations): the greeting, the EHLO name and extensions, STARTTLS and the certificate's names, issuer
and validity, the RCPT answers for the role and unknown mailboxes, relaying, VRFY, pipelining after
HELO and an EHLO before the greeting, for every Postfix MTA of the good scenario and of each broken
scenario Postfix can play. Never DATA: the last test proves that not one message reached Postfix
(and ``postfix_lab`` checks it again at teardown).

For each behaviour the first packaged scenario that plays it is used; a behaviour that none plays
gets a stand-in scenario below (``postfix-*.test``, in 16-address blocks no packaged scenario uses),
so that every knob Postfix can play is proven whatever the packaged set holds;
``test_behaviour_is_played`` names the scenario that plays each one. ``test_fake_answers_like_postfix``
then holds the embedded lab's fake MTA to real Postfix, reply for reply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import secrets
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from mailspec.testing.lab import Lab
from mailspec.testing.scenario import Scenario, parse_scenario

from .servers import ServerError, lab_scenarios

try:  # without the SMTP side of mailspec.testing (MtaSpec, LabCA) this tier cannot run
    from cryptography import x509

    from mailspec.testing.pki import LabCA
    from mailspec.testing.scenario import MtaSpec

    from .postfix import (
        PROBE_HELO,
        PostfixInstance,
        PostfixLab,
        free_tcp_port,
        leftover_processes,
        postfix_messages,
        runtime_dir,
        unplayable,
    )
except ImportError as exc:
    if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        raise
    pytest.skip(f"the Postfix tier cannot import what it needs: {exc}", allow_module_level=True)

pytestmark = pytest.mark.realservers

#: Seconds for each socket operation: generous, for a loaded machine; no test asserts on time.
TIMEOUT = 10.0
#: Attempts at an EHLO before the greeting: a lax server must greet and answer every one.
EARLY_ATTEMPTS = 3
ROLES = ("postmaster", "abuse", "hostmaster")
RELAY_RECIPIENT = f"mailspec-relay-test@{PROBE_HELO}"


# ------------------------------------------------------------------------------------ the scenarios
def _free_blocks() -> Iterator[str]:
    """First addresses of the 16-address blocks of the scenario range that no packaged scenario uses,
    127.0.8.0/24 first (the range this tier was given; the packaged scenarios use some of it too)."""
    used = {ip for sc in lab_scenarios() for ip in sc.addresses}
    order = [8, 9, 2, 3, 4, 5, 6, 7]
    for third in order:
        for fourth in range(0, 256, 16):
            if not any(f"127.0.{third}.{fourth + i}" in used for i in range(16)):
                yield f"127.0.{third}.{fourth}"


def _stand_in(name: str, base: str, description: str, expect: str, mtas: list[str], *, ptr: str = "") -> str:
    """A complete scenario in the 16 addresses from *base*: name servers at +1/+2, MX hosts mx1, mx2...
    from +10, one ``[[mta]]`` each with its extra TOML lines (*mtas*); *ptr* replaces mx1's PTR name."""
    prefix, _, first = base.rpartition(".")

    def ip(offset: int) -> str:
        return f"{prefix}.{int(first) + offset}"

    domain = f"{name}.test"
    hosts = [f"mx{i + 1}" for i in range(len(mtas))]
    ips = [ip(10 + i) for i in range(len(mtas))]
    lines = [f"@ MX {10 * (i + 1)} {host}" for i, host in enumerate(hosts)]
    lines += [
        '@ TXT "v=spf1 mx -all"',
        f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"',
        f'_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"',
    ]
    lines += [f"{host} A {address}" for host, address in zip(hosts, ips, strict=True)]
    lines += [f'{host} TXT "v=spf1 a -all"' for host in hosts]
    if ptr:
        label = ptr.partition(".")[0]
        lines += [f"{label} A {ips[0]}", f'{label} TXT "v=spf1 a -all"']
    ptrs = [ptr or f"{hosts[0]}.{domain}", *(f"{host}.{domain}" for host in hosts[1:])]
    tables = ""
    for host, address, extra in zip(hosts, ips, mtas, strict=True):
        hostname = "" if "hostname =" in extra else f'hostname = "{host}.{domain}"\n'
        tables += f'\n[[mta]]\nip = "{address}"\n{hostname}{extra}\n'
    return "\n".join(
        [
            f'domain = "{domain}"',
            f'description = "{description}"',
            "waive = [",
            '    "mx.target.public-address=the lab serves every MX on loopback",',
            '    "dns.ns.public-address=the lab serves every name server on loopback",',
            "]",
            "[expect]",
            expect,
            "[zone]",
            'records = """',
            *lines,
            '"""',
            "[[zone.nameserver]]",
            'host = "ns1"',
            f'ip = "{ip(1)}"',
            "[[zone.nameserver]]",
            'host = "ns2"',
            f'ip = "{ip(2)}"',
            "[ptr]",
            *(f'"{address}" = "{host}"' for address, host in zip(ips, ptrs, strict=True)),
            tables,
        ]
    )


#: stand-in scenario -> (description, [expect] lines, the extra lines of each [[mta]], PTR of mx1)
STAND_INS: dict[str, tuple[str, str, list[str], str]] = {
    "postfix-good": (
        "Everything right, as good.test, with two Postfix MX hosts.",
        'pass = ["role.postmaster", "role.abuse", "smtp.relay.denied", "tls.starttls.offered"]\nclean = true',
        ["", ""],
        "",
    ),
    "postfix-no-postmaster": (
        "postmaster@ and abuse@ get 550 user unknown.",
        'flag = ["role.postmaster", "role.abuse"]',
        ['accept = ["hostmaster", "dmarc", "tlsrpt"]'],
        "",
    ),
    "postfix-open-relay": (
        "mynetworks covers 127.0.0.0/8: the MTA relays for any lab client.",
        'flag = ["smtp.relay.denied"]\npass = ["role.postmaster", "smtp.rcpt.unknown-rejected"]',
        ['relay = "open"'],
        "",
    ),
    "postfix-under-score": (
        "The MTA calls itself mail_gw.postfix-under-score.test in its greeting and EHLO reply.",
        'flag = ["smtp.banner.no-underscore", "smtp.ehlo.no-underscore"]',
        ['hostname = "mail_gw.postfix-under-score.test"\ncert_names = ["mx1.postfix-under-score.test"]'],
        "mail_gw.postfix-under-score.test",
    ),
    "postfix-no-starttls": (
        "The MTA offers no STARTTLS.",
        'flag = ["tls.starttls.offered"]',
        ['tls = "none"'],
        "",
    ),
    "postfix-lax": (
        "smtpd_forbid_unauth_pipelining = no: unauthorised pipelining and an early talker get through.",
        'flag = ["smtp.pipelining.unauth", "smtp.early-talker"]',
        ['pipelining = "lax"'],
        "",
    ),
    "postfix-picky-backup": (
        "mx2 was never told about the domain: 554 relay access denied for its recipients.",
        'flag = ["mx2.accepts-domain"]',
        ["", 'role = "unlisted"'],
        "",
    ),
    "postfix-open-backup": (
        "mx2 relays the domain without a recipient list: it accepts unknown recipients.",
        'flag = ["smtp.rcpt.unknown-rejected"]',
        ["", 'role = "backup"\naccept = ["*"]'],
        "",
    ),
    "postfix-no-vrfy": (
        "disable_vrfy_command = yes: VRFY gets 502 (and EHLO does not list it).",
        'flag = ["smtp.vrfy.implemented"]',
        ['vrfy = "disabled"'],
        "",
    ),
    "postfix-ehlo": (
        "EHLO says relay.postfix-ehlo.test (the greeting mx1) and leaves VRFY, SMTPUTF8, CHUNKING out.",
        'pass = ["smtp.ehlo.ok"]',
        [
            'ehlo_name = "relay.postfix-ehlo.test"\nextensions = ["PIPELINING", "SIZE 10240000", "ETRN", '
            '"STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN"]'
        ],
        "",
    ),
    "postfix-bad-certs": (
        "Three MX hosts, one certificate flaw each: wrong name, expired, self-signed.",
        'flag = ["tls.cert.name", "tls.cert.validity", "tls.cert.chain"]',
        ['tls = "wrong-name"', 'tls = "expired"', 'tls = "self-signed"'],
        "",
    ),
}

Judge = Callable[[Scenario, MtaSpec], bool]
#: behaviour -> (what plays it, its stand-in); the first packaged scenario that plays it is used
BEHAVIOURS: dict[str, tuple[Judge, str]] = {
    "good": (lambda sc, m: sc.name in ("good", "postfix-good"), "postfix-good"),
    "no-postmaster": (
        lambda sc, m: m.role == "final" and not m.catch_all and "postmaster" not in m.accept,
        "postfix-no-postmaster",
    ),
    "open-relay": (lambda sc, m: m.relay == "open", "postfix-open-relay"),
    "underscore-greeting": (lambda sc, m: "_" in m.hostname, "postfix-under-score"),
    "no-starttls": (lambda sc, m: not m.offers_tls, "postfix-no-starttls"),
    "lax-pipelining-and-early-talk": (lambda sc, m: m.pipelining == "lax", "postfix-lax"),
    "backup-refuses-domain": (lambda sc, m: m.role == "unlisted", "postfix-picky-backup"),
    "backup-accepts-unknown": (lambda sc, m: m.role == "backup" and m.catch_all, "postfix-open-backup"),
    "vrfy-disabled": (lambda sc, m: m.vrfy == "disabled", "postfix-no-vrfy"),
    "vrfy-enabled": (lambda sc, m: m.vrfy == "honest", "postfix-good"),
    "ehlo-name-apart": (lambda sc, m: m.ehlo_hostname != m.hostname, "postfix-ehlo"),
    "fewer-extensions": (lambda sc, m: m.extensions is not None, "postfix-ehlo"),
    "cert-wrong-name": (lambda sc, m: "wrong-name" in m.tls, "postfix-bad-certs"),
    "cert-expired": (lambda sc, m: "expired" in m.tls, "postfix-bad-certs"),
    "cert-self-signed": (lambda sc, m: "self-signed" in m.tls, "postfix-bad-certs"),
}


def _playable(spec: MtaSpec) -> bool:
    # At collection Postfix may be missing (the fixture then skips): no postconf-based check here.
    return unplayable(spec, overrides=False) is None


@functools.cache
def chosen() -> tuple[tuple[Scenario, ...], dict[str, str]]:
    """The scenarios of this module (for each behaviour, the first packaged scenario that plays it,
    else its stand-in), and behaviour -> the scenario that plays it."""
    packaged = [sc for sc in lab_scenarios() if any(_playable(m) for m in sc.mtas)]
    blocks = _free_blocks()
    scenarios: dict[str, Scenario] = {}
    played_by: dict[str, str] = {}
    for behaviour, (judge, stand_in) in BEHAVIOURS.items():
        # One already chosen if it plays the behaviour, else the first packaged one, else the stand-in.
        candidates = [*scenarios.values(), *packaged]
        hit = next((sc for sc in candidates for m in sc.mtas if _playable(m) and judge(sc, m)), None)
        if hit is None:
            description, expect, mtas, ptr = STAND_INS[stand_in]
            text = _stand_in(stand_in, next(blocks), description, expect, mtas, ptr=ptr)
            hit = parse_scenario(text, stand_in, f"{__name__}.STAND_INS[{stand_in!r}]")
        scenarios.setdefault(hit.name, hit)
        played_by[behaviour] = hit.name
    return tuple(scenarios.values()), played_by


def _mtas() -> list[tuple[Scenario, MtaSpec]]:
    return [(sc, m) for sc in chosen()[0] for m in sc.mtas if _playable(m)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mta" in metafunc.fixturenames:
        # "scenario/IP": the conftest's report hook adds that instance's logs to a failure.
        pairs = _mtas()
        metafunc.parametrize(
            "mta",
            [f"{sc.name}/{m.ip}" for sc, m in pairs],
            ids=[f"{sc.name}-{m.hostname}" for sc, m in pairs],
        )
    if "behaviour" in metafunc.fixturenames:
        metafunc.parametrize("behaviour", list(BEHAVIOURS))


@pytest.fixture(scope="module")
def postfix_scenarios() -> list[Scenario]:
    return list(chosen()[0])


def _instance(postfix_lab: PostfixLab, mta: str) -> PostfixInstance:
    return postfix_lab.instance(mta.rpartition("/")[2])


# ------------------------------------------------------------------------------------ SMTP helpers
class _Client(smtplib.SMTP):
    """smtplib's client, told the name starttls() sends as SNI (smtplib takes it from the constructor's
    host, which would connect at once and swallow the greeting): the MTA's, as a sender would."""

    def __init__(self, server_name: str) -> None:
        super().__init__(timeout=TIMEOUT)
        self._host = server_name


@contextlib.contextmanager
def smtp(inst: PostfixInstance) -> Iterator[tuple[smtplib.SMTP, tuple[int, bytes]]]:
    """A session with *inst* and its greeting; QUIT (or a plain close) at the end."""
    client = _Client(inst.spec.hostname)
    try:
        greeting = client.connect(*inst.address)
        yield client, greeting
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


def _reply(code: int, text: bytes) -> str:
    return f"{code} {text.decode('utf-8', 'replace')}".replace("\n", " / ")


def _verdict(code: int, text: bytes) -> str:
    """accepted | unknown (550 5.1.1) | relay-denied (554 5.7.1) | the reply itself."""
    message = text.decode("utf-8", "replace")
    if 200 <= code < 300:
        return "accepted"
    if code == 550 and message.startswith("5.1.1"):
        return "unknown"
    if code == 554 and "Relay access denied" in message:
        return "relay-denied"
    if code == 504 and "need fully-qualified address" in message:
        return "not-qualified"
    return _reply(code, text)


def expected_rcpt(spec: MtaSpec, local: str) -> str:
    """What the scenario says ``RCPT TO:<local@domain>`` gets (after ``MAIL FROM:<>``)."""
    if spec.role == "unlisted":
        return "accepted" if spec.relay == "open" else "relay-denied"
    return "accepted" if spec.catch_all or local in spec.accept else "unknown"


def _unknown_local() -> str:
    return "no-such-user-" + secrets.token_hex(6)


def _early_ehlo(inst: PostfixInstance) -> smtplib.SMTP:
    """A session whose EHLO is in the server's socket before the server can greet: the instance's
    processes (master and whatever it forked, one process group) are stopped while the client
    connects and sends, and continued once the EHLO is sent. The kernel completes the handshake
    and queues the EHLO without them, so the smtpd that takes the connection finds it waiting,
    however late this process is scheduled on a loaded machine (without the stop, the client could
    be woken after the handshake only once the server had greeted: a run under load saw three such
    crossings in a row)."""
    sock = socket.socket(socket.AF_INET6 if ":" in inst.ip else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    pgid = inst.pgid
    assert pgid is not None, "the instance is not running"
    os.killpg(pgid, signal.SIGSTOP)
    try:
        sock.connect(inst.address)
        sock.sendall(f"EHLO {PROBE_HELO}\r\n".encode())
    except OSError:
        sock.close()
        raise
    finally:
        os.killpg(pgid, signal.SIGCONT)
    client = smtplib.SMTP(timeout=TIMEOUT)
    client.sock = sock
    return client


# ------------------------------------------------------------------------------------ what each MTA does
def test_greeting(mta: str, postfix_lab: PostfixLab) -> None:
    """The greeting is ``220 <banner>``, the banner the scenario gives (default ``<hostname> ESMTP``)."""
    inst = _instance(postfix_lab, mta)
    with smtp(inst) as (_, (code, text)):
        assert _reply(code, text) == inst.greeting


def test_ehlo(mta: str, postfix_lab: PostfixLab) -> None:
    """EHLO names the MTA (its ``ehlo_name``, by default its hostname) and lists exactly the keywords
    the scenario says: Postfix's own (the fake MTA's DEFAULT_EXTENSIONS), STARTTLS unless
    ``tls = "none"``, VRFY unless disabled, fewer when ``extensions`` leaves some out."""
    inst = _instance(postfix_lab, mta)
    with smtp(inst) as (client, _):
        code, text = client.ehlo(PROBE_HELO)
    lines = text.decode("utf-8", "replace").splitlines()
    assert code == 250, _reply(code, text)
    assert lines[0] == inst.spec.ehlo_hostname
    assert lines[1:] == inst.spec.ehlo_keywords()


def test_starttls_certificate(mta: str, postfix_lab: PostfixLab) -> None:
    """STARTTLS (TLS 1.2 or 1.3) shows the certificate the scenario's ``tls`` and ``cert_names`` say:
    the lab CA's for the names given, or one for another name, expired or self-signed."""
    inst = _instance(postfix_lab, mta)
    spec = inst.spec
    if not spec.offers_tls:
        with smtp(inst) as (client, _):
            client.ehlo(PROBE_HELO)
            code, text = client.docmd("STARTTLS")
        assert code >= 500, f"STARTTLS without TLS: {_reply(code, text)}"
        return
    inspect = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    inspect.check_hostname = False
    inspect.verify_mode = ssl.CERT_NONE
    with smtp(inst) as (client, _):
        client.ehlo(PROBE_HELO)
        client.starttls(context=inspect)
        tls = client.sock
        assert isinstance(tls, ssl.SSLSocket)
        version, der = tls.version(), tls.getpeercert(binary_form=True)
        code, text = client.ehlo(PROBE_HELO)
        assert code == 250
        assert text.decode().splitlines()[1:] == spec.ehlo_keywords(after_tls=True)
    assert version in ("TLSv1.2", "TLSv1.3")
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    names = set(
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    )
    expected = set(spec.certificate_names)
    if "wrong-name" in spec.tls:
        assert not names & (expected | {spec.hostname}), f"a wrong-name certificate names {names}"
    else:
        assert names == expected
    now = dt.datetime.now(dt.UTC)
    assert (cert.not_valid_after_utc < now) == ("expired" in spec.tls)
    assert (cert.issuer == cert.subject) == ("self-signed" in spec.tls)
    # The chain against the lab CA (names aside): it holds unless expired or self-signed.
    verify = ssl.create_default_context(cafile=str(postfix_lab.ca_path))
    verify.check_hostname = False
    try:
        with smtp(inst) as (client, _):
            client.ehlo(PROBE_HELO)
            client.starttls(context=verify)
        verified = ""
    except ssl.SSLCertVerificationError as exc:
        verified = exc.verify_message
    assert (verified == "") == (not {"expired", "self-signed"} & set(spec.tls)), verified or "verified"


def test_rcpt_answers(mta: str, postfix_lab: PostfixLab) -> None:
    """After ``MAIL FROM:<>``: the role mailboxes (in any case, and at a name below the domain) and an
    unknown one are accepted, refused as unknown (550 5.1.1) or refused as relaying (554 5.7.1) as the
    MTA's role and ``accept`` list say; an unqualified ``<Postmaster>`` is always accepted (RFC 5321
    section 4.5.1), any other unqualified recipient gets 504 5.5.2 (where it is not refused as
    relaying first)."""
    inst = _instance(postfix_lab, mta)
    unknown = _unknown_local()
    addresses = {f"{local}@{inst.domain}": local for local in (*ROLES, unknown)}
    addresses[f"PoStMaStEr@{inst.domain.upper()}"] = "postmaster"
    addresses[f"hostmaster@ops.{inst.domain}"] = "hostmaster"  # served: the domain and names below it
    with smtp(inst) as (client, _):
        client.ehlo(PROBE_HELO)
        code, text = client.mail("<>")
        assert code == 250, _reply(code, text)
        seen = {address: _verdict(*client.rcpt(f"<{address}>")) for address in addresses}
        seen["Postmaster"] = _verdict(*client.rcpt("<Postmaster>"))
        seen[unknown] = _verdict(*client.rcpt(f"<{unknown}>"))
    want = {address: expected_rcpt(inst.spec, local) for address, local in addresses.items()}
    want["Postmaster"] = "accepted"
    # <unknown> is <unknown@domain> to the relay check, which comes first (smtpd_relay_restrictions)
    want[unknown] = "relay-denied" if expected_rcpt(inst.spec, unknown) == "relay-denied" else "not-qualified"
    assert seen == want


def test_relay(mta: str, postfix_lab: PostfixLab) -> None:
    """A recipient in a foreign domain is relayed only by an open relay (``relay = "open"``)."""
    inst = _instance(postfix_lab, mta)
    with smtp(inst) as (client, _):
        client.ehlo(PROBE_HELO)
        client.mail(f"<probe@{PROBE_HELO}>")
        verdict = _verdict(*client.rcpt(f"<{RELAY_RECIPIENT}>"))
    assert verdict == ("accepted" if inst.spec.relay == "open" else "relay-denied")


def test_vrfy(mta: str, postfix_lab: PostfixLab) -> None:
    """VRFY is disabled (502) or tells the truth about the domain's mailboxes: 252 for one RCPT
    accepts, 550 for one it refuses as unknown."""
    inst = _instance(postfix_lab, mta)
    locals_ = [*ROLES, _unknown_local()]
    with smtp(inst) as (client, _):
        client.ehlo(PROBE_HELO)
        seen = {local: client.verify(f"{local}@{inst.domain}") for local in locals_}
    if inst.spec.vrfy == "disabled":
        assert {local: code for local, (code, _) in seen.items()} == dict.fromkeys(locals_, 502), seen
        return
    codes = {local: code for local, (code, _) in seen.items()}
    if inst.spec.role == "unlisted":
        # A domain it does not serve: it cannot verify anyone there, and must not pretend to (250).
        assert set(codes.values()) <= {252, 550, 554}, seen
        return
    want = {local: {"accepted": 252, "unknown": 550}[expected_rcpt(inst.spec, local)] for local in locals_}
    assert codes == want, seen


def test_unauthorised_pipelining(mta: str, postfix_lab: PostfixLab) -> None:
    """After HELO (so PIPELINING was never offered), MAIL + RCPT + NOOP in one write: a strict MTA
    answers 554 5.5.0 and hangs up, a lax one answers each command in turn."""
    inst = _instance(postfix_lab, mta)
    replies: list[tuple[int, bytes]] = []
    with smtp(inst) as (client, _):
        code, text = client.helo(PROBE_HELO)
        assert code == 250, _reply(code, text)
        client.send(f"MAIL FROM:<>\r\nRCPT TO:<postmaster@{inst.domain}>\r\nNOOP\r\n")
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            for _ in range(3):
                replies.append(client.getreply())
        alive = bool(replies) and client.noop()[0] == 250 if len(replies) == 3 else False
    shown = [_reply(*r) for r in replies]
    if inst.spec.pipelining == "strict":
        assert shown[:1] == ["554 5.5.0 Error: SMTP protocol synchronization"], shown
        assert len(replies) == 1, shown
    else:
        assert len(replies) == 3, shown
        assert replies[0][0] == 250 and replies[2][0] == 250, shown
        assert not any(code == 554 for code, _ in replies), shown
        assert alive, shown


def test_early_talker(mta: str, postfix_lab: PostfixLab) -> None:
    """An EHLO sent before the greeting: a strict MTA answers 554 5.5.0 instead of greeting, a lax one
    greets and answers the EHLO."""
    inst = _instance(postfix_lab, mta)
    outcomes: list[str] = []
    for _ in range(EARLY_ATTEMPTS):
        client = _early_ehlo(inst)
        try:
            first = client.getreply()
            second = client.getreply() if first[0] == 220 else None
        except smtplib.SMTPServerDisconnected:
            outcomes.append("hung up")
            continue
        finally:
            client.close()
        outcomes.append(_reply(*first) + ("" if second is None else f" then {second[0]}"))
        if inst.spec.pipelining == "strict" and first[0] != 220:
            break  # rejected: that is all there is to see
    if inst.spec.pipelining == "strict":
        # (the EHLO is always there before the server can greet: the first attempt is refused)
        assert outcomes == ["554 5.5.0 Error: SMTP protocol synchronization"], outcomes
    else:
        assert outcomes == [f"{inst.greeting} then 250"] * EARLY_ATTEMPTS


# ------------------------------------------------------------------------------------ the lab as a whole
def test_behaviour_is_played(behaviour: str, postfix_lab: PostfixLab) -> None:
    """Every knob Postfix can play is played by some running instance (a packaged scenario or the
    module's stand-in), so that the tests above cover it."""
    judge, _ = BEHAVIOURS[behaviour]
    name = chosen()[1][behaviour]
    players = [
        inst.spec.hostname
        for owner, inst in postfix_lab.played
        if owner == name and _judge_of(owner, inst, judge)
    ]
    assert players, (
        f"{behaviour}: scenario {name} has no running Postfix that plays it ({postfix_lab.unplayed})"
    )


def _judge_of(owner: str, inst: PostfixInstance, judge: Judge) -> bool:
    scenario = next(sc for sc in chosen()[0] if sc.name == owner)
    return judge(scenario, inst.spec)


def test_mx_hosts_answer_through_the_lab(postfix_lab: PostfixLab) -> None:
    """What mailspec is given (``mailspec_args``) leads to the instances: each scenario's MX hosts,
    resolved through the lab's resolver, greet on ``--mail-smtp-port``."""
    resolver_ip, _, port = postfix_lab.resolver.rpartition(":")
    wrong: list[str] = []
    for sc in postfix_lab.scenarios:
        ips = {inst.ip for inst in postfix_lab.instances_of(sc)}
        if not ips:
            continue
        answer = dns.query.udp(
            dns.message.make_query(sc.domain, "MX"), resolver_ip, port=int(port), timeout=TIMEOUT
        )
        hosts = [
            str(rr.exchange).rstrip(".")
            for rrset in answer.answer
            if rrset.rdtype == dns.rdatatype.MX
            for rr in rrset
        ]
        found: set[str] = set()
        for host in hosts:
            reply = dns.query.udp(
                dns.message.make_query(host, "A"), resolver_ip, port=int(port), timeout=TIMEOUT
            )
            found |= {rr.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset}
        for ip in sorted(ips):
            if ip not in found:
                wrong.append(
                    f"{sc.domain}: no MX host resolves to {ip} (MX {hosts}, addresses {sorted(found)})"
                )
                continue
            with smtp(postfix_lab.instance(ip)) as (_, (code, _text)):
                if code != 220:
                    wrong.append(f"{sc.domain}: {ip}:{postfix_lab.smtp_port} answered {code}")
    assert not wrong, "\n".join(wrong)


def test_mailspec_args_are_mailspec_options(postfix_lab: PostfixLab) -> None:
    """``mailspec_args()`` are options mailspec knows, with values its settings accept, pointing at
    this lab."""
    from mailspec.settings import OPTIONS, Settings

    by_flag = {opt.flag: opt for opt in OPTIONS}
    values: dict[str, object] = {opt.dest: None for opt in OPTIONS}
    many: dict[str, list[str]] = {}
    first = postfix_lab.scenarios[0]
    for arg in postfix_lab.mailspec_args([first.name]):
        flag, _, value = arg.partition("=")
        assert flag in by_flag, f"{flag} is not a mailspec option"
        opt = by_flag[flag]
        if opt.multiple:
            many.setdefault(opt.dest, []).append(value)
        else:
            values[opt.dest] = value
    settings = Settings.parse({**values, **many})
    assert settings.domains == (first.domain,)
    assert settings.smtp_port == postfix_lab.smtp_port
    assert settings.dns_port == postfix_lab.dns_port
    assert [str(r) for r in settings.resolvers] == [postfix_lab.resolver]
    assert settings.ca == Path(postfix_lab.ca_path)
    assert len(settings.waivers) == len(first.waivers)


# ------------------------------------------------------------------------------------ the fake, compared
def transcript(address: tuple[str, int], server_name: str, domain: str, unknown: str) -> list[str]:
    """The replies of one session that goes through what the lab's checks ask an MTA (never DATA),
    each as ``COMMAND -> CODE TEXT``."""
    commands = [
        f"EHLO {PROBE_HELO}",
        "MAIL FROM:<>",
        *(f"RCPT TO:<{local}@{domain}>" for local in (*ROLES, unknown)),
        f"RCPT TO:<PoStMaStEr@{domain}>",
        f"RCPT TO:<hostmaster@ops.{domain}>",
        "RCPT TO:<Postmaster>",
        f"RCPT TO:<{unknown}>",
        f"RCPT TO:<{RELAY_RECIPIENT}>",
        f"VRFY postmaster@{domain}",
        f"VRFY {unknown}@{domain}",
        "VRFY postmaster",
        "EXPN postmaster",
        "XMAILSPEC",
        "NOOP",
        "RSET",
        f"HELO {PROBE_HELO}",
        f"MAIL FROM:<probe@{PROBE_HELO}>",
        f"RCPT TO:<{RELAY_RECIPIENT}>",
    ]
    client = _Client(server_name)
    try:
        code, text = client.connect(*address)
        lines = [f"(greeting) -> {_reply(code, text)}"]
        for command in commands:
            lines.append(f"{command} -> {_reply(*client.docmd(command))}")
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()
    return lines


#: How the embedded lab's fake MTA answers otherwise than Postfix 3.7 does today, each with what tells
#: it (a predicate over the command, the fake's reply and Postfix's): the fake claims Postfix's replies,
#: so each is a fake bug to fix (then its entry goes), or a Postfix version difference to document.
KNOWN_DIFFERENCES: dict[str, Callable[[str, str, str], bool]] = {
    "VRFY user@domain: the fake puts the address in angle brackets (252 2.0.0 <a@b>), Postfix does "
    "not (252 2.0.0 a@b)": lambda cmd, fake, real: (
        cmd.startswith("VRFY") and "@" in cmd and fake.replace("<", "").replace(">", "") == real
    ),
    "VRFY of a bare name: the fake qualifies it with the domain and judges that address (252 <a@b>, "
    "550 or 554), Postfix answers 252 with the name as given": lambda cmd, fake, real: (
        cmd.startswith("VRFY") and "@" not in cmd and real == f"252 2.0.0 {cmd.split()[1]}"
    ),
    "VRFY of an unknown user on a backup MX: the fake names the virtual mailbox table, Postfix the "
    "relay recipient table": lambda cmd, fake, real: (
        cmd.startswith("VRFY") and fake.replace("virtual mailbox table", "relay recipient table") == real
    ),
    "EXPN and unknown commands: the fake answers 502, Postfix 500 (same text)": lambda cmd, fake, real: (
        fake.replace("502 5.5.2", "500 5.5.2", 1) == real
    ),
    "RCPT TO:<bare-name> on an MTA that does not serve the domain (unlisted): the fake refuses it as "
    "not qualified (504), Postfix as relaying (554: the relay check comes first)": lambda cmd, fake, real: (
        cmd.startswith("RCPT TO:<") and "@" not in cmd and fake.startswith("504") and real.startswith("554")
    ),
}


@pytest.fixture(scope="module")
def fake_lab(postfix_lab: PostfixLab) -> Iterator[Lab]:
    """The embedded lab playing the same scenarios with its fake MTAs (on its own ports)."""
    with Lab(postfix_lab.scenarios) as lab:
        yield lab


def test_fake_answers_like_postfix(postfix_lab: PostfixLab, fake_lab: Lab) -> None:
    """The embedded lab's fake MTA gives, command for command, the replies real Postfix gives for the
    same scenario; the differences known today are listed in KNOWN_DIFFERENCES, and an entry that no
    longer shows (fixed) must go."""
    unknown = _unknown_local()
    new: list[str] = []
    seen: set[str] = set()
    for owner, inst in postfix_lab.played:
        label = f"{owner} {inst.spec.hostname}"
        fake = transcript((inst.ip, fake_lab.smtp_port), inst.spec.hostname, inst.domain, unknown)
        real = transcript(inst.address, inst.spec.hostname, inst.domain, unknown)
        for theirs, ours in zip(fake, real, strict=True):
            if theirs == ours:
                continue
            command, _, fake_reply = theirs.partition(" -> ")
            real_reply = ours.partition(" -> ")[2]
            known = [
                why for why, match in KNOWN_DIFFERENCES.items() if match(command, fake_reply, real_reply)
            ]
            if known:
                seen.update(known)
            else:
                new.append(f"{label}: {command}: fake {fake_reply!r}, Postfix {real_reply!r}")
    stale = [why for why in KNOWN_DIFFERENCES if why not in seen]
    assert not new, "the fake MTA answers otherwise than Postfix:\n  - " + "\n  - ".join(new)
    assert not stale, "known differences that no longer show (remove them):\n  - " + "\n  - ".join(stale)


# ------------------------------------------------------------------------------------ life cycle
@functools.cache
def lifecycle_scenarios() -> tuple[Scenario, Scenario]:
    """Two MX hosts of their own (addresses no other scenario uses), and the same with an mx2 whose
    smtpd cannot start (a time value it cannot parse)."""
    blocks = _free_blocks()
    for _ in chosen()[0]:  # past the stand-ins' blocks (there are fewer stand-ins than scenarios)
        next(blocks)
    base = next(blocks)
    good = _stand_in("postfix-lifecycle", base, "Two MX hosts to start and stop.", "clean = true", ["", ""])
    broken = good.replace(
        'hostname = "mx2.postfix-lifecycle.test"',
        'hostname = "mx2.postfix-lifecycle.test"\npostfix = { smtpd_timeout = "whenever" }',
    )
    return parse_scenario(good, "postfix-lifecycle"), parse_scenario(broken, "postfix-lifecycle")


def _port_closed(inst: PostfixInstance) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        return sock.connect_ex(inst.address) != 0


def _gone(inst: PostfixInstance) -> list[str]:
    """What is left of a stopped instance: live processes, an open port."""
    left = leftover_processes(inst)
    return left + ([] if _port_closed(inst) else [f"{inst.endpoint} still accepts connections"])


def test_stop_leaves_nothing_behind(postfix_installed: None, tmp_path: Path) -> None:
    """A lab that fails to start stops what it started, and one left by an exception stops too: no
    Postfix process (``pgrep``) and no listening port remain, the logs are kept and the message count
    taken at the stop remembers what each instance received."""
    good_scenario, broken_scenario = lifecycle_scenarios()
    broken = PostfixLab([broken_scenario], tmp_path / "broken")
    try:
        with pytest.raises(ServerError, match=r"fatal: .*smtpd_timeout"):
            broken.start()
    finally:
        broken.stop()  # a no-op after the failed start; should it have started, this test cleans up
    assert len(broken.instances) == 2
    assert {inst.spec.hostname: _gone(inst) for inst in broken.instances} == {
        "mx1.postfix-lifecycle.test": [],
        "mx2.postfix-lifecycle.test": [],
    }
    started: list[PostfixInstance] = []
    good = PostfixLab([good_scenario], tmp_path / "good")
    with pytest.raises(RuntimeError, match="a failing test"), good:  # noqa: PT012
        started = list(good.instances)
        assert all(inst.running for inst in started)
        _sendmail(started[0])  # the count taken at stop() must remember it
        _wait_done(started[0])
        raise RuntimeError("a failing test")
    assert len(started) == 2
    assert {inst.spec.hostname: _gone(inst) for inst in started} == {
        "mx1.postfix-lifecycle.test": [],
        "mx2.postfix-lifecycle.test": [],
    }
    assert good.messages_by_instance() == {started[0].name: 1, started[1].name: 0}
    assert good.rundir is None
    assert (tmp_path / "good" / started[0].workdir.name / "maillog").is_file()  # the logs are kept


def _text(path: Path) -> str:
    """A file's text, empty while it does not exist."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _wait_done(inst: PostfixInstance) -> None:
    """Until qmgr is done with a submitted message (the discard transport: nothing leaves)."""
    deadline = time.monotonic() + TIMEOUT
    # (the log is written by postlogd, which creates it with its first line: it may not be there yet)
    while ": removed" not in _text(inst.log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "status=sent" in _text(inst.log), inst.logs()


def _sendmail(inst: PostfixInstance) -> None:
    """A local submission (no SMTP): sendmail -> postdrop -> maildrop. As root with the postdrop group,
    so that the set-gid postdrop accepts a configuration directory Postfix's own main.cf does not list."""
    proc = subprocess.run(
        ["/usr/sbin/sendmail", "-C", str(inst.etc), "-f", "<>", "-i", f"postmaster@{inst.domain}"],
        input=b"Subject: the counter's control message\n\nDiscarded, never delivered.\n",
        capture_output=True,
        group="postdrop",
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")


def test_message_counter_counts(postfix_installed: None) -> None:
    """The safety counter is not blind: a message submitted locally (never by SMTP DATA) counts once
    Postfix has queued it (log), and one waiting in a stopped instance's maildrop counts (queue)."""
    scenario = lifecycle_scenarios()[0]
    spec = scenario.mtas[0]
    rundir = runtime_dir()
    try:
        ca = LabCA(rundir)
        inst = PostfixInstance(spec, scenario.domain, free_tcp_port([spec.ip]), rundir / "postfix", ca)
        assert postfix_messages(inst) == 0
        with inst:
            _sendmail(inst)
            _wait_done(inst)  # out of the queue: only the log remembers it
            assert postfix_messages(inst) == 1, inst.logs()
        assert leftover_processes(inst) == []
        _sendmail(inst)  # nobody picks it up: it stays in maildrop
        assert postfix_messages(inst) == 2, inst.logs()
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


# ------------------------------------------------------------------------------------ safety, last
def test_no_message_reached_postfix(postfix_lab: PostfixLab) -> None:
    """Every probe above stopped before DATA: no instance ever received or queued a message."""
    counts = postfix_lab.messages_by_instance()
    assert sum(counts.values()) == 0, {name: n for name, n in counts.items() if n}
