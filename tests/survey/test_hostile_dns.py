"""The survey against hostile and broken DNS servers, end to end: mailspec runs in a pytest subprocess
against :mod:`hostile` servers on loopback, and the JSON report's outcomes are checked.

Every server is on loopback (the resolver at 127.0.0.201, the zones' name servers on 127.0.x.y and
127.1.x.y, one port for all), and mailspec is always given that resolver explicitly. Nothing here
asserts a duration: every run is bounded generously (a run that does not end fails, never hangs), and
the assertions are on outcomes and on counts of questions.

``MAILSPEC_TEST_PYTHON=/path/to/python`` runs mailspec with another interpreter (another build of
mailspec, e.g. an older one to show that these cases failed there).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hostile import HostileDns, Rule, World

from mailspec.survey import DnsEndpoint, Survey

RESOLVER = "127.0.0.201"
PARENT_NS = "127.0.3.1"  #: ns.test, authoritative for the parent zone "test"
MAIL_IP = "127.0.3.250"  #: every MX host's address (never asked: no SMTP probe runs at --mail-probe=dns)
#: every server is on loopback: the checks that say so are waived, so that the servers are asked
LOOPBACK = ("--mail-waive=mx.target.public-address=loopback", "--mail-waive=dns.ns.public-address=loopback")
#: a generous bound on one mailspec run: a survey that does not end is a failure, never a hang
RUN_TIMEOUT = 120.0
#: the outcomes of a check that could not conclude "the server is broken" from a hostile answer
NS_AT_IP_CHECKS = ("dns.ns.authoritative", "dns.ns.no-recursion", "dns.ns.no-axfr")
#: glue records the parent gives per name server name, at most (a referral must fit a TCP frame)
GLUE = 4


def soa(domain: str, primary: str) -> str:
    return f"@ SOA {primary}. hostmaster.{domain}. 2024010101 14400 3600 1209600 3600"


class Net:
    """A world of zones under the parent zone ``test`` and the servers that answer for them."""

    def __init__(self) -> None:
        self.world = World()
        self.auth: dict[str, list[str]] = {PARENT_NS: ["test"]}
        self.delegations: list[str] = []
        self.server: HostileDns | None = None

    def zone(
        self,
        domain: str,
        nameservers: dict[str, list[str]],
        *,
        mx: str | None = "10 mail",
        mail: str | None = "mail",
        extra: str = "",
        serve: Iterable[str] | None = None,
    ) -> Net:
        """A mail domain's zone, delegated from ``test``: ``MX mx``, ``mail A MAIL_IP``, A records for
        in-zone name server names (glue at the parent: the first few). Its name servers' addresses
        serve it (only those of ``serve``, when given)."""
        lines = [soa(domain, next(iter(nameservers)))]
        for host, ips in nameservers.items():
            lines.append(f"@ NS {host}.")
            self.delegations.append(f"{domain}. NS {host}.")
            if host.endswith("." + domain):
                lines += [f"{host}. A {ip}" for ip in ips]
                self.delegations += [f"{host}. A {ip}" for ip in ips[:GLUE]]
        if mx is not None:
            lines.append(f"@ MX {mx}")
        if mail is not None:
            lines.append(f"{mail} A {MAIL_IP}")
        lines.append('@ TXT "v=spf1 mx -all"')
        self.world.add(domain, "\n".join(lines) + "\n" + extra)
        for ips in nameservers.values():
            for ip in ips:
                if ip.startswith("127.") and (serve is None or ip in serve):
                    self.auth.setdefault(ip, []).append(domain)
        return self

    def hosting(self, apex: str, hosts: dict[str, list[str]]) -> Net:
        """A zone that holds only the names of shared name servers (a DNS provider's)."""
        first = next(iter(hosts))
        lines = [soa(apex, first), f"@ NS {first}."]
        lines += [f"{host}. A {ip}" for host, ips in hosts.items() for ip in ips]
        self.world.add(apex, "\n".join(lines))
        self.delegations += [f"{apex}. NS {first}."] + [f"{first}. A {ip}" for ip in hosts[first]]
        for ip in hosts[first]:
            self.auth.setdefault(ip, []).append(apex)
        return self

    def serve(self, *rules: Rule) -> HostileDns:
        parent = [
            soa("test", "ns.test"),
            "@ NS ns.test.",
            f"ns A {PARENT_NS}",
            *dict.fromkeys(self.delegations),
        ]
        self.world.add("test", "\n".join(parent))
        self.server = HostileDns(self.world, resolver=RESOLVER, auth=self.auth, rules=rules).start()
        return self.server


@pytest.fixture
def net() -> Iterator[Net]:
    n = Net()
    yield n
    if n.server is not None:
        n.server.stop()
        assert not n.server.errors, n.server.errors  # the script itself must not have failed


@dataclass
class Run:
    ret: int
    report: dict[str, Any]
    junit: ET.Element
    output: str

    def results(self, check: str, domain: str) -> dict[str, str]:
        """subject -> outcome, for one check of one domain."""
        return {
            r["subject"]: r["outcome"]
            for r in self.report["results"]
            if r["check"] == check and r["domain"] == domain
        }

    def outcome(self, check: str, domain: str, subject: str | None = None) -> str:
        found = self.results(check, domain)
        key = domain if subject is None else subject
        assert key in found, f"no {check} result for {key} in {sorted(found)}\n{self.output}"
        return found[key]

    def message(self, check: str, domain: str, subject: str | None = None) -> str:
        key = domain if subject is None else subject
        for r in self.report["results"]:
            if r["check"] == check and r["domain"] == domain and r["subject"] == key:
                return str(r["message"])
        raise AssertionError(f"no {check} result for {key}")

    def by_domain(self, domain: str) -> list[dict[str, Any]]:
        return [r for r in self.report["results"] if r["domain"] == domain]


def mailspec(
    pytester: pytest.Pytester,
    server: HostileDns,
    *domains: str,
    waivers: Iterable[str] = LOOPBACK,
    timeout: float = RUN_TIMEOUT,
    mail_timeout: float = 1.0,
) -> Run:
    """Run the shipped DNS checks on ``domains`` in a subprocess; fail (never hang) past ``timeout``."""
    report, junit = pytester.path / "r.json", pytester.path / "j.xml"
    for old in (report, junit):
        old.unlink(missing_ok=True)
    args = [
        os.environ.get("MAILSPEC_TEST_PYTHON") or sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--pyargs",
        "mailspec.checks",
        *(f"--mail-domain={d}" for d in domains),
        f"--mail-resolver={RESOLVER}:{server.port}",
        f"--mail-dns-port={server.port}",
        f"--mail-timeout={mail_timeout:g}",
        "--mail-probe=dns",
        # the zone, NS and MX checks these servers are about (their resolver knows no reverse zone and
        # no blocklist: the outbound-identity checks would only say "could not test" of them)
        "-k",
        "test_dns_ or test_mx_ or test_sender_",
        f"--mail-report={report}",
        f"--junitxml={junit}",
        *waivers,
    ]
    try:
        result = pytester.run(*args, timeout=timeout)
    except pytester.TimeoutExpired:
        pytest.fail(f"mailspec did not finish within {timeout:g} s: the survey hangs")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), (
        f"mailspec exited {result.ret}, not 0 or 1 (a crash or a usage error)\n{output}"
    )
    assert report.exists(), f"no JSON report was written\n{output}"
    assert junit.exists(), f"no JUnit XML was written\n{output}"
    return Run(
        int(result.ret), json.loads(report.read_text(encoding="utf-8")), ET.parse(junit).getroot(), output
    )


def healthy(run: Run, domain: str) -> None:
    """Every result of ``domain`` is a pass, a waiver (loopback) or a skip: nothing failed or errored."""
    bad = [(r["check"], r["subject"], r["outcome"], r["message"]) for r in run.by_domain(domain)]
    bad = [b for b in bad if b[2] not in ("passed", "waived", "skipped")]
    assert run.by_domain(domain), f"no result for {domain}"
    assert not bad, bad


# ------------------------------------------------------------------------------------------------ 1
@pytest.mark.parametrize("tcp", ["tcp-close", "tcp-half"])
def test_a_server_that_truncates_then_breaks_tcp_does_not_kill_the_run(
    pytester: pytest.Pytester, net: Net, tcp: str
) -> None:
    net.zone("hostile.test", {"ns1.hostile.test": ["127.0.3.11"], "ns2.hostile.test": ["127.0.3.12"]})
    net.zone("good.test", {"ns1.good.test": ["127.0.3.21"], "ns2.good.test": ["127.0.3.22"]})
    server = net.serve(Rule(tcp, server="127.0.3.12"))
    run = mailspec(pytester, server, "hostile.test", "good.test")
    assert server.queries(server="127.0.3.12", transport="tcp"), "the hostile server was never asked over TCP"
    verdict = run.outcome("dns.ns.authoritative", "hostile.test", "ns2.hostile.test@127.0.3.12")
    assert verdict in {"error", "failed"}  # could not test, or a lame verdict: never a pass
    assert run.outcome("dns.ns.authoritative", "hostile.test", "ns1.hostile.test@127.0.3.11") == "passed"
    healthy(run, "good.test")
    cases = {c.get("name") for c in run.junit.iter("testcase")}
    assert "test_dns_ns_authoritative[good.test-ns1.good.test@127.0.3.21]" in cases


# ------------------------------------------------------------------------------------------------ 2
@pytest.mark.parametrize("stray", ["stray-id", "stray-junk"])
def test_a_stray_datagram_before_the_answer_does_not_make_a_server_lame(
    pytester: pytest.Pytester, net: Net, stray: str
) -> None:
    net.zone("stray.test", {"ns1.stray.test": ["127.0.3.31"], "ns2.stray.test": ["127.0.3.32"]})
    server = net.serve(Rule(stray, server="127.0.3.32"))
    run = mailspec(pytester, server, "stray.test")
    assert server.queries(server="127.0.3.32", transport="udp", qname="stray.test", qtype="SOA")
    assert run.outcome("dns.ns.authoritative", "stray.test", "ns2.stray.test@127.0.3.32") == "passed"
    healthy(run, "stray.test")


# ------------------------------------------------------------------------------------------------ 3
def test_a_server_without_edns_is_asked_again_without_it(pytester: pytest.Pytester, net: Net) -> None:
    net.zone("old.test", {"ns1.old.test": ["127.0.3.41"], "ns2.old.test": ["127.0.3.42"]})
    server = net.serve(Rule("no-edns", server="127.0.3.42"))
    run = mailspec(pytester, server, "old.test")
    asked = server.queries(server="127.0.3.42", qname="old.test", qtype="SOA")
    assert {q.edns for q in asked} == {True, False}  # with EDNS (FORMERR), then without
    assert run.outcome("dns.ns.authoritative", "old.test", "ns2.old.test@127.0.3.42") == "passed"
    healthy(run, "old.test")


# ------------------------------------------------------------------------------------------------ 4
def test_an_answer_truncated_even_over_tcp_is_not_a_missing_mx(pytester: pytest.Pytester, net: Net) -> None:
    net.zone("tc.test", {"ns1.tc.test": ["127.0.3.51"], "ns2.tc.test": ["127.0.3.52"]})
    server = net.serve(Rule("tc-always", server=RESOLVER, qname="tc.test", qtype="MX"))
    run = mailspec(pytester, server, "tc.test")
    assert server.queries(server=RESOLVER, transport="tcp", qname="tc.test", qtype="MX")
    assert run.outcome("mx.present", "tc.test") == "error"
    assert "truncated" in run.message("mx.present", "tc.test")
    mx_verdicts = {r["check"]: r["outcome"] for r in run.by_domain("tc.test") if r["check"].startswith("mx.")}
    assert "failed" not in mx_verdicts.values(), mx_verdicts
    assert run.outcome("sender.domain-resolvable", "tc.test") == "error"


# ------------------------------------------------------------------------------------------------ 5
def test_a_dangling_cname_chain_longer_than_eight_hops_is_not_no_address(
    pytester: pytest.Pytester, net: Net
) -> None:
    links = ["mail"] + [f"c{i}" for i in range(1, 13)]  # mail -> c1 -> ... -> c12, which has the address
    chain = "\n".join(f"{a} CNAME {b}" for a, b in itertools.pairwise(links))
    net.zone(
        "chain.test",
        {"ns1.chain.test": ["127.0.3.61"], "ns2.chain.test": ["127.0.3.62"]},
        mail="c12",
        extra=chain,
    )
    server = net.serve(Rule("dangling", server=RESOLVER))
    run = mailspec(pytester, server, "chain.test")
    assert run.outcome("mx.target.resolves", "chain.test", "mail.chain.test") == "error"
    assert "longer than 8" in run.message("mx.target.resolves", "chain.test", "mail.chain.test")
    # the chain is followed a bounded number of hops, each name asked once per type
    asked = server.queries(server=RESOLVER, qtype="A")
    assert len([q for q in asked if re.fullmatch(r"c\d+\.chain\.test", q.qname)]) <= 8


# ------------------------------------------------------------------------------------------------ 6
def test_a_cname_loop_in_one_answer_is_an_error_naming_the_loop(pytester: pytest.Pytester, net: Net) -> None:
    net.zone(
        "loop.test",
        {"ns1.loop.test": ["127.0.3.71"], "ns2.loop.test": ["127.0.3.72"]},
        mx="10 a",
        mail=None,
        extra="a CNAME b\nb CNAME a\n",
    )
    server = net.serve()
    run = mailspec(pytester, server, "loop.test")
    assert run.outcome("mx.target.resolves", "loop.test", "a.loop.test") == "error"
    message = run.message("mx.target.resolves", "loop.test", "a.loop.test")
    assert "CNAME loop" in message and "a.loop.test -> b.loop.test -> a.loop.test" in message


# ------------------------------------------------------------------------------------------------ 7
@pytest.mark.parametrize("what", ["mx", "everything"])
def test_an_upward_referral_from_the_resolver_is_not_an_answer(
    pytester: pytest.Pytester, net: Net, what: str
) -> None:
    net.zone("referral.test", {"ns1.referral.test": ["127.0.3.81"], "ns2.referral.test": ["127.0.3.82"]})
    if what == "mx":
        server = net.serve(Rule("referral", server=RESOLVER, qname="referral.test", qtype="MX"))
    else:
        server = net.serve(Rule("referral", server=RESOLVER))
    run = mailspec(pytester, server, "referral.test")
    assert run.outcome("mx.present", "referral.test") == "error"
    assert "referral" in run.message("mx.present", "referral.test")
    if what == "everything":
        assert run.outcome("dns.domain.exists", "referral.test") == "error"
        verdicts = {r["outcome"] for r in run.by_domain("referral.test")}
        assert verdicts == {"error"}, run.by_domain("referral.test")


# ------------------------------------------------------------------------------------------------ 8
def test_a_non_public_name_server_is_never_asked_without_consent(pytester: pytest.Pytester, net: Net) -> None:
    net.zone("private.test", {"ns1.private.test": ["127.0.3.91"], "ns2.private.test": ["127.0.3.92"]})
    server = net.serve()
    run = mailspec(pytester, server, "private.test", waivers=LOOPBACK[:1])
    for ip in ("127.0.3.91", "127.0.3.92", PARENT_NS):
        assert server.queries(server=ip) == [], f"{ip} was asked without consent"
    assert run.results("dns.ns.public-address", "private.test") == {
        "ns1.private.test": "failed",
        "ns2.private.test": "failed",
    }
    for check in NS_AT_IP_CHECKS:
        assert set(run.results(check, "private.test").values()) == {"skipped"}, check

    # consent for one name (a waiver of dns.ns.public-address for it): that one is asked, and only it
    server.clear()
    run = mailspec(
        pytester,
        server,
        "private.test",
        waivers=[*LOOPBACK[:1], "--mail-waive=dns.ns.public-address@ns1.private.test=lab"],
    )
    assert server.queries(server="127.0.3.91", qname="private.test", qtype="SOA")
    assert server.queries(server="127.0.3.92") == []
    assert run.outcome("dns.ns.authoritative", "private.test", "ns1.private.test@127.0.3.91") == "passed"
    assert run.outcome("dns.ns.authoritative", "private.test", "ns2.private.test@127.0.3.92") == "skipped"
    assert run.results("dns.ns.public-address", "private.test") == {
        "ns1.private.test": "waived",
        "ns2.private.test": "failed",
    }


@pytest.mark.parametrize("consent", ["other-name", "every-name"])
def test_a_name_server_at_the_unspecified_address_is_never_asked(
    pytester: pytest.Pytester, net: Net, consent: str
) -> None:
    # a question to 0.0.0.0 reaches this very machine (127.0.0.1, where a sentinel counts it): no
    # waiver may make mailspec send one
    net.zone("zero.test", {"ns1.zero.test": ["127.0.3.101"], "ns2.zero.test": ["0.0.0.0"]})
    server = net.serve()
    waivers = (
        [*LOOPBACK]
        if consent == "every-name"
        else [LOOPBACK[0], "--mail-waive=dns.ns.public-address@ns1.zero.test=lab"]
    )
    run = mailspec(pytester, server, "zero.test", waivers=waivers)
    assert server.queries(server="127.0.3.101"), "the other name server was not asked"
    assert server.queries(server="127.0.0.1") == [], "a question sent to 0.0.0.0 reached this machine"
    subject = "ns2.zero.test@0.0.0.0"
    assert run.outcome("dns.ns.no-axfr", "zero.test", subject) != "passed"
    assert run.outcome("dns.ns.authoritative", "zero.test", subject) != "passed"
    expected = "failed" if consent == "other-name" else "waived"
    assert run.outcome("dns.ns.public-address", "zero.test", "ns2.zero.test") == expected


# ------------------------------------------------------------------------------------------------ 9
def wide(names: int = 20, per_name: int = 250) -> dict[str, list[str]]:
    """``names`` name servers of ``per_name`` addresses each, in 127.1.0.0/16."""
    return {
        f"ns{i:02}.wide.test": [f"127.1.{i}.{j}" for j in range(1, per_name + 1)] for i in range(1, names + 1)
    }


def direct(server: HostileDns) -> list[str]:
    """The addresses in 127.1.0.0/16 that received anything, one entry per message."""
    return [q.server for q in server.queries(server=lambda ip: ip.startswith("127.1."))]


@pytest.mark.parametrize("servers", ["answering", "silent"])
def test_a_zone_with_thousands_of_name_server_addresses_is_probed_within_the_caps(
    pytester: pytest.Pytester, net: Net, servers: str
) -> None:
    nameservers = wide()
    net.zone("wide.test", nameservers)
    server = net.serve(*([Rule("silent", server="127.1.0.0/16")] if servers == "silent" else []))
    # 6 s: the resolver's 40 address answers for 20 names (250 addresses each: over TCP) must come in
    # time on a loaded machine (at 1 s, some did not, and the names without an address gave subjects
    # of their own; at 3 s, one run of the whole suite beside two busy loops and a real-Exim tier
    # failed here once)
    run = mailspec(pytester, server, "wide.test", mail_timeout=6.0)
    asked = Counter(direct(server))
    owner = {ip: name for name, ips in nameservers.items() for ip in ips}
    seen = f"asked {dict(asked)}\n{run.output[-3000:]}"
    assert 0 < len(asked) <= 32, seen  # PER_ZONE addresses at most
    per_name = Counter(owner[ip] for ip in asked)
    assert max(per_name.values()) <= 8, seen  # PER_NAME addresses of one name at most
    # each asked address: an SOA question, the recursion probe and an AXFR, each sent at most twice
    assert sum(asked.values()) <= 32 * 3 * 2, seen
    verdicts = run.results("dns.ns.authoritative", "wide.test")
    assert len(verdicts) == 32, f"{sorted(verdicts.items())}\n{seen}"
    expected = {"passed"} if servers == "answering" else {"error"}
    assert set(verdicts.values()) == expected, f"{sorted(verdicts.items())}\n{seen}"
    # dns.ns.public-address warns about the addresses beyond the caps only for public ones; these are
    # loopback (so it fails on that first, and is waived here): the facts it reads name them all
    assert set(run.results("dns.ns.public-address", "wide.test").values()) == {"waived"}
    if servers == "answering":
        with Survey([DnsEndpoint(RESOLVER, server.port)], timeout=5, dns_port=server.port) as survey:
            chosen, beyond = survey.dns("wide.test").probed_addresses()
        assert len(chosen) == 32
        assert len(beyond) == 20 * 250 - 32


# ----------------------------------------------------------------------------------------------- 10
def test_an_mx_of_preference_ten_at_the_root_is_not_a_null_mx(pytester: pytest.Pytester, net: Net) -> None:
    net.zone("dotmx.test", {"ns1.dotmx.test": ["127.0.3.111"], "ns2.dotmx.test": ["127.0.3.112"]}, mx="10 .")
    server = net.serve()
    run = mailspec(pytester, server, "dotmx.test")
    # RFC 7505: a null MX is preference 0; `MX 10 .` is an MX that names no host
    for check in ("mx.null.exclusive", "mx.null.not-sender", "mx.null.spf-all"):
        assert run.outcome(check, "dotmx.test") == "skipped", check
    hosts = {
        r["check"]: r["outcome"] for r in run.by_domain("dotmx.test") if r["check"].startswith("mx.target.")
    }
    assert hosts.get("mx.target.resolves") == "failed", hosts
    assert hosts.get("mx.target.hostname-syntax") == "failed", hosts
    assert run.outcome("mx.ipv4-reachable", "dotmx.test") != "passed"
    assert run.outcome("sender.domain-resolvable", "dotmx.test") == "failed"  # no usable MX, no address


# ----------------------------------------------------------------------------------------------- 11
#: what the shared broken servers do, and the verdicts every zone must get for them
SHARED = {
    # silent: lame (the third server answered), and the other checks could not test
    "silent": {"dns.ns.authoritative": "failed", "dns.ns.no-recursion": "error", "dns.ns.no-axfr": "error"},
    # answers UDP, holds every TCP connection open: each AXFR waits a whole timeout, and the zones queued
    # behind must neither have their SOA question starved nor an AXFR read as refused
    "tcp-silent": {
        "dns.ns.authoritative": "passed",
        "dns.ns.no-recursion": "passed",
        "dns.ns.no-axfr": "error",
    },
}


@pytest.mark.parametrize("behaviour", sorted(SHARED))
def test_a_silent_server_shared_by_many_zones_gets_one_verdict_in_every_zone(
    pytester: pytest.Pytester, net: Net, behaviour: str
) -> None:
    silent = {"a.dnshost.test": "127.0.3.121", "b.dnshost.test": "127.0.3.122"}
    hosts = {"c.dnshost.test": ["127.0.3.123"], **{h: [ip] for h, ip in silent.items()}}
    net.hosting("dnshost.test", hosts)
    domains = [f"d{i:02}.test" for i in range(1, 31)]
    for d in domains:
        net.zone(d, dict(sorted(hosts.items())))
    server = net.serve(*(Rule(behaviour, server=ip) for ip in silent.values()))
    run = mailspec(pytester, server, *domains)
    for host, ip in silent.items():
        for check, expected in SHARED[behaviour].items():
            verdicts = Counter(run.outcome(check, d, f"{host}@{ip}") for d in domains)
            assert verdicts == {expected: len(domains)}, (check, host, verdicts)
    for d in domains:
        assert run.outcome("dns.ns.authoritative", d, "c.dnshost.test@127.0.3.123") == "passed"


# ----------------------------------------------------------------------------------- admission
def test_a_black_holed_domain_does_not_hold_up_the_others(net: Net) -> None:
    # one fact at a time, and the resolver silent for quiet.test: its survey waits the whole timeout;
    # fine.test, asked after it, used to wait for that too (a hundred black-holed domains of a
    # thousand stalled the whole survey for a timeout per 64 of them)
    import asyncio

    from mailspec.facts import DomainDns

    net.zone("quiet.test", {"ns1.quiet.test": ["127.0.3.11"]})
    net.zone("fine.test", {"ns1.fine.test": ["127.0.3.12"]})
    server = net.serve(Rule("silent", qname="quiet.test"))
    with Survey(
        [DnsEndpoint(RESOLVER, server.port)], timeout=5, dns_port=server.port, concurrency=1
    ) as survey:
        done: list[str] = []

        async def one(domain: str) -> None:
            await survey.fact(DomainDns, domain)
            done.append(domain)

        async def both() -> None:
            await asyncio.gather(one("quiet.test"), one("fine.test"))

        survey.engine.run(both(), timeout=60)
        assert done == ["fine.test", "quiet.test"]
        assert survey.dns("fine.test").soa.definite
        assert not survey.dns("quiet.test").soa.definite
