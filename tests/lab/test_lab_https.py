"""The lab's MTA-STS policy hosts as scenario data: ``[[https]]`` and ``dkim_selectors`` read strictly,
served by Lab and LabProcess on the lab's HTTPS port, and the packaged scenarios of issue 8 in order."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rdatatype
import pytest

from mailspec.testing import Lab, LabProcess, ScenarioError, build_lab, load_scenarios, parse_scenario
from mailspec.testing.https import POLICY_PATH
from mailspec.testing.zones import parse_zone

WAIT = 30.0  # seconds: a bound, never an expectation of speed

MINIMAL = """
domain = "site.test"
[expect]
clean = true
[zone]
records = '''
@        MX  10 mx1
mx1      A   127.0.9.10
mta-sts  A   127.0.9.12
'''
[[zone.nameserver]]
host = "ns1"
ip = "127.0.9.1"
"""
SITE = """
[[https]]
host = "mta-sts"
ip = "127.0.9.12"
policy = "version: STSv1\\nmode: testing\\nmx: mx1.site.test\\nmax_age: 86400\\n"
"""
GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: mx1.good.test\nmx: mx2.good.test\nmax_age: 604800\n"


# --------------------------------------------------------------------------- the format


def test_https_table_is_read() -> None:
    sc = parse_scenario(MINIMAL + SITE, "site")
    [site] = sc.https
    assert site.host == "mta-sts.site.test" and site.ip == "127.0.9.12"
    assert site.policy.startswith("version: STSv1\n") and site.certificate == "valid"
    assert site.answer_status == 200 and site.certificate_names == ("mta-sts.site.test",)
    assert "127.0.9.12" in sc.addresses
    text = SITE.replace('host = "mta-sts"', 'host = "policy.elsewhere.test."')
    text += (
        'certificate = "expired"\ncert_names = ["*.site.test"]\nstatus = 302\nredirect = "https://x.test/"\n'
    )
    text += 'content_type = ""\nbody = "endless"\nsilence = "http"\n'
    [site] = parse_scenario(MINIMAL + text, "site").https
    assert (site.host, site.certificate, site.cert_names) == (
        "policy.elsewhere.test",
        "expired",
        ("*.site.test",),
    )
    assert (site.answer_status, site.redirect, site.content_type) == (302, "https://x.test/", "")
    assert (site.body, site.silence) == ("endless", "http")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('colour = "blue"\n', "unknown key"),
        ('certificate = "forged"\n', "certificate: expected one of"),
        ('body = "short"\n', "body: expected one of"),
        ('silence = "udp"\n', "silence: expected one of"),
        ("status = 42\n", "not an HTTP status"),
        ('status = "200"\n', "expected int"),
        ('status = 200\nredirect = "https://x.test/"\n', "a redirect needs a 3xx"),
        ('redirect = "https://x.test/\\nX-Evil: 1"\n', "one line"),
        ('content_type = "text/plain\\r\\nX: y"\n', "one line"),
        ('cert_names = ["bad name"]\n', "not a domain name"),
    ],
)
def test_https_table_is_strict(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(MINIMAL + SITE + extra, "site")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('ip = "127.0.9.12"', 'ip = "127.0.1.12"', "outside the scenario range"),
        ('ip = "127.0.9.12"', 'ip = "192.0.2.1"', "outside the scenario range"),
        ('host = "mta-sts"\n', "", "missing required key 'host'"),
        ('ip = "127.0.9.12"\n', "", "missing required key 'ip'"),
        ('host = "mta-sts"', 'host = "mta-sts.example.com."', "must be below test"),
    ],
)
def test_https_host_and_address_are_checked(old: str, new: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(MINIMAL + SITE.replace(old, new), "site")


def test_https_sites_are_checked_together() -> None:
    with pytest.raises(ScenarioError, match="already https"):
        parse_scenario(MINIMAL + SITE + SITE, "site")
    other = SITE.replace('host = "mta-sts"', 'host = "www"')
    assert len(parse_scenario(MINIMAL + SITE + other, "site").https) == 2  # two names, one address
    with pytest.raises(ScenarioError, match="silences every host name"):
        parse_scenario(MINIMAL + SITE + other + 'silence = "tcp"\n', "site")
    gone = MINIMAL[: MINIMAL.index("[zone]")]
    with pytest.raises(ScenarioError, match="need a \\[zone\\]"):
        parse_scenario(gone + SITE, "site")


def test_the_scenario_range_grew_and_keeps_the_users_block() -> None:
    from mailspec.testing.scenario import SCENARIO_LAST, USER_BLOCK

    assert str(SCENARIO_LAST) == "127.0.15.255" and str(USER_BLOCK) == "127.0.9.0/25"
    text = (MINIMAL + SITE).replace("127.0.9.", "127.0.15.")
    assert parse_scenario(text, "site").https[0].ip == "127.0.15.12"
    with pytest.raises(ScenarioError, match="outside the scenario range"):
        parse_scenario((MINIMAL + SITE).replace("127.0.9.", "127.0.16."), "site")


def test_dkim_selectors_are_read_strictly() -> None:
    sc = parse_scenario('dkim_selectors = ["s1", "2026-01._v2"]\n' + MINIMAL, "site")
    assert sc.dkim_selectors == ("s1", "2026-01._v2")
    assert sc.dkim_subjects == ("s1@site.test", "2026-01._v2@site.test")
    for bad in ('["s 1"]', '["s1@site.test"]', '["s1."]', '[""]', '["s1", "S1"]', '"s1"'):
        with pytest.raises(ScenarioError, match="dkim_selectors"):
            parse_scenario(f"dkim_selectors = {bad}\n" + MINIMAL, "site")


# --------------------------------------------------------------------------- the packaged scenarios


def test_every_packaged_site_has_its_address_in_dns() -> None:
    """Each [[https]] host name has an A record (in its scenario's zones) for the address it listens on."""
    scenarios = load_scenarios()
    plan = build_lab(scenarios)
    for sc in scenarios:
        for site in sc.https:
            zone = max((z for z in sc.zones if site.host.endswith("." + z.name)), key=lambda z: len(z.name))
            node = parse_zone(zone.name, plan.zones[zone.name]).get_rdataset(f"{site.host}.", "A")
            assert node is not None and site.ip in {r.address for r in node}, f"{sc.name}: {site.host}"


#: the ids of CATALOG.md sections 9 to 12, helo.spf and mx.null.spf-all
AUTH_IDS = [
    "spf.present", "spf.single", "spf.syntax", "spf.modifiers-once", "spf.lookup-limit",
    "spf.void-limit", "spf.mx-limit", "spf.include-targets", "spf.all", "spf.after-all",
    "spf.no-ptr", "spf.size", "spf.concatenation", "spf.rrtype99", "spf.authorizes-outbound",
    "dkim.namespace", "dkim.selector.present", "dkim.selector.single", "dkim.key.syntax",
    "dkim.key.revoked", "dkim.key.rsa-min", "dkim.key.rsa-recommended", "dkim.key.no-sha1",
    "dkim.key.testing", "dkim.key.ed25519",
    "dmarc.present", "dmarc.single", "dmarc.syntax", "dmarc.policy", "dmarc.subdomain-policy",
    "dmarc.pct", "dmarc.rua.present", "dmarc.rua.external-authorized", "dmarc.rua.deliverable",
    "dmarc.misplaced", "dmarc.alignment-feasible",
    "mtasts.txt", "mtasts.policy.fetch", "mtasts.policy.syntax", "mtasts.policy.max-age",
    "mtasts.mx-coverage", "mtasts.mx-tls", "mtasts.testing-needs-tlsrpt", "tlsrpt.record",
    "helo.spf", "mx.null.spf-all",
]  # fmt: skip
#: needs --mail-outbound, which the lab's canonical run does not give
NOT_IN_THE_LAB = {"spf.authorizes-outbound"}


def test_some_scenario_trips_each_sender_authentication_check() -> None:
    tripped = {
        c.partition("@")[0]
        for sc in load_scenarios()
        for c in sc.expect.flag + sc.expect.warned + sc.expect.failed + sc.expect.not_passed + sc.expect.error
    }
    assert set(AUTH_IDS) - NOT_IN_THE_LAB - tripped == set()


def test_the_good_domain_publishes_everything() -> None:
    [good] = [sc for sc in load_scenarios() if sc.name == "good"]
    assert good.dkim_selectors == ("s1",) and good.expect.clean
    [site] = good.https
    assert (site.host, site.ip, site.policy, site.certificate) == (
        "mta-sts.good.test",
        "127.0.2.12",
        GOOD_POLICY,
        "valid",
    )
    passed = set(good.expect.passed)
    vacuous = {"spf.include-targets", "dmarc.rua.external-authorized", "mtasts.testing-needs-tlsrpt"}
    skipped = {"spf.authorizes-outbound", "dkim.key.ed25519", "mx.null.spf-all"}
    assert set(AUTH_IDS) - passed == vacuous | skipped


# --------------------------------------------------------------------------- served


def _get(
    ip: str, port: int, host: str, ca_path: str, path: str = POLICY_PATH
) -> tuple[int, dict[str, str], str]:
    """GET https://HOST:PORT/PATH from IP, verifying against the lab CA; (status, headers, body)."""
    context = ssl.create_default_context(cafile=ca_path)
    raw = socket.create_connection((ip, port), timeout=WAIT)
    with raw, context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body.decode()


def _address(resolver: str, port: int, name: str) -> set[str]:
    answer = dns.query.udp(dns.message.make_query(name, "A"), resolver, port=port, timeout=WAIT)
    return {r.address for rrset in answer.answer if rrset.rdtype == dns.rdatatype.A for r in rrset}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab.from_names(["good", "mtasts-wrong-name", "mtasts-redirect"]) as running:
        yield running


def test_lab_serves_the_good_policy_over_https(lab: Lab) -> None:
    assert 0 < lab.https_port <= 65535 and lab.https_port not in (lab.smtp_port, lab.dns_port)
    assert _address(lab.resolver_ip, lab.dns_port, "mta-sts.good.test") == {"127.0.2.12"}
    status, headers, body = _get("127.0.2.12", lab.https_port, "mta-sts.good.test", lab.ca_path)
    assert (status, headers["content-type"], body) == (200, "text/plain", GOOD_POLICY)
    assert _get("127.0.2.12", lab.https_port, "mta-sts.good.test", lab.ca_path, "/")[0] == 404
    seen = lab.https_stats()["127.0.2.12"]
    assert seen["handshakes"] >= 2 and "mta-sts.good.test" in seen["server_names"]
    assert lab.https_errors == []


def test_lab_serves_the_broken_policy_hosts(lab: Lab) -> None:
    wrong = lab.scenario("mtasts-wrong-name").https[0]
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(wrong.ip, lab.https_port, wrong.host, lab.ca_path)
    redirect, www = lab.scenario("mtasts-redirect").https
    status, headers, _ = _get(redirect.ip, lab.https_port, redirect.host, lab.ca_path)
    assert (status, headers["location"]) == (301, "https://www.mtasts-redirect.test/.well-known/mta-sts.txt")
    status, _, body = _get(www.ip, lab.https_port, www.host, lab.ca_path)  # same address, other name
    assert status == 200 and body == www.policy and body.startswith("version: STSv1\n")


def test_lab_knows_its_dkim_selectors(lab: Lab) -> None:
    assert lab.dkim_selectors == ["s1@good.test", "s1@mtasts-redirect.test", "s1@mtasts-wrong-name.test"]


def test_lab_without_sites_has_no_https_port() -> None:
    with Lab.from_names(["no-ptr"]) as plain:
        assert plain.https_port == 0 and plain.https_stats() == {} and plain.dkim_selectors == []


def test_lab_keeps_https_stats_after_stop() -> None:
    lab = Lab.from_names(["good"], mtas=False)  # the policy hosts serve without the MTAs too
    with lab:
        assert lab.smtp_port == 0 and lab.https_port > 0
        assert _get("127.0.2.12", lab.https_port, "mta-sts.good.test", lab.ca_path)[0] == 200
    assert lab.https_port == 0 and lab.https_stats()["127.0.2.12"]["connections"] == 1


def test_lab_process_exposes_https_port_and_dkim_selectors() -> None:
    with LabProcess.from_names(["good"]) as lab:
        assert lab.dkim_selectors == ["s1@good.test"]
        assert 0 < lab.https_port <= 65535 and lab.https_port != lab.smtp_port
        status, _, body = _get("127.0.2.12", lab.https_port, "mta-sts.good.test", lab.ca_path)
        assert (status, body) == (200, GOOD_POLICY)
        stats = lab.https_stats()
        assert stats["127.0.2.12"]["handshakes"] == 1
        json.dumps(stats)  # JSON-ready
    assert lab.https_port == 0
