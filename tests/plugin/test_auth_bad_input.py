"""Hostile sender-authentication data, end to end: each gives a clear finding or "could not test".

An SPF record of 10 KB (of ip4 terms, and of a: terms that each cost a lookup), an include chain
50 deep, an include loop, a macro that expands past 253 characters, a DMARC record with every tag
twice, DKIM keys that are not base64 or not a key, an MTA-STS policy of a gigabyte and one that
never ends. Each is a lab scenario of its own (addresses in 127.0.15.0/24), served by one lab
process for the module, and surveyed by a run of the shipped checks of its area (``-k``) in a
subprocess, with ``--mail-timeout=2``. The check that judges it fails or warns with a message that
names what was seen and what was expected (or, for what cannot be judged in time, is an error:
could not test); the run ends within its bound and writes its report, prints no traceback
(``--tb=native``: any exception a check or fixture let through would show one) and no
INTERNALERROR, and its memory stays bounded.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from mailspec.testing import LabProcess, Scenario, parse_scenario

TIMEOUT = 2  #: --mail-timeout of every run
#: a run's bound, seconds: pytest's start-up and a few timeouts of survey (a hang fails the test)
RUN_SECONDS = 90
#: a run's peak memory, at most (about 70 MiB is usual): a gigabyte policy read whole would exceed it
MAX_RSS = 400 * 1024 * 1024
#: a run's JSON report, at most (the 10 KB record is in the evidence of each SPF check)
MAX_REPORT = 1024 * 1024

_WAIVE = """waive = [
    "mx.target.public-address=the embedded lab serves every MX on loopback",
    "dns.ns.public-address=the embedded lab serves every name server on loopback",
]"""
_SPF = '@ TXT "v=spf1 mx -all"'


def _strings(text: str) -> str:
    """``text`` as the character-strings of one TXT record, in zone-file syntax (255 octets each)."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


@dataclass(frozen=True)
class Case:
    """One hostile input: a scenario for ``<name>.test`` on 127.0.15.<base>+ (ns1 +1, ns2 +2, its MX
    and MTA +10, its MTA-STS policy host +12), and the checks its run collects (``-k``)."""

    name: str
    base: int
    records: Callable[[str], str]  #: the domain -> zone lines beyond the MX host's
    keyword: str
    expect: str  #: the scenario's [expect] table: what a correct survey says
    selectors: tuple[str, ...] = ()
    https_body: str = ""  #: an MTA-STS policy host with this body mode ("" for none)
    outbound: bool = False  #: pass the MX address as --mail-outbound (spf.authorizes-outbound)

    @property
    def domain(self) -> str:
        return f"{self.name}.test"

    def ip(self, offset: int) -> str:
        return f"127.0.15.{self.base + offset}"

    def toml(self) -> str:
        d = self.domain
        lines = [f'@ MX 10 mx1\nmx1 A {self.ip(10)}\nmx1 TXT "v=spf1 a -all"\n{self.records(d)}']
        https = ""
        if self.https_body:
            lines.append(f'_mta-sts TXT "v=STSv1; id=1"\nmta-sts A {self.ip(12)}')
            https = f'''
[[https]]
host = "mta-sts"
ip = "{self.ip(12)}"
policy = "version: STSv1\\nmode: enforce\\nmx: mx1.{d}\\nmax_age: 604800\\n"
body = "{self.https_body}"
'''
        records = "\n".join(lines)
        return f'''domain = "{d}"
description = "a hostile sender-authentication input (tests/plugin/test_auth_bad_input.py)"
dkim_selectors = {json.dumps(list(self.selectors))}
{_WAIVE}

[expect]
{self.expect}

[zone]
records = """
{records}
"""

[[zone.nameserver]]
host = "ns1"
ip = "{self.ip(1)}"

[[zone.nameserver]]
host = "ns2"
ip = "{self.ip(2)}"

[ptr]
"{self.ip(10)}" = "mx1.{d}"

[[mta]]
ip = "{self.ip(10)}"
hostname = "mx1.{d}"
{https}'''

    def scenario(self) -> Scenario:
        return parse_scenario(self.toml(), self.name)


# -------------------------------------------------------------------------------------------- inputs
def _spf_of_10_kb(domain: str) -> str:
    terms: list[str] = []
    while len(" ".join(terms)) < 10 * 1024:
        n = len(terms)
        terms.append(f"ip4:198.51.{n // 256}.{n % 256}")
    return f"@ TXT {_strings('v=spf1 ' + ' '.join(terms) + ' -all')}"


def _spf_of_10_kb_of_lookups(domain: str) -> str:
    """10 KB of a: terms, each a lookup of a name that does not exist (the walk must stay bounded)."""
    terms: list[str] = []
    while len(" ".join(terms)) < 10 * 1024:
        terms.append(f"a:h{len(terms)}.{domain}")
    return f"@ TXT {_strings('v=spf1 ' + ' '.join(terms) + ' -all')}"


CHAIN = 50


def _chain(domain: str) -> str:
    lines = [f'@ TXT "v=spf1 include:inc1.{domain} -all"']
    lines += [f'inc{i} TXT "v=spf1 include:inc{i + 1}.{domain} -all"' for i in range(1, CHAIN)]
    return "\n".join([*lines, f'inc{CHAIN} TXT "v=spf1 -all"'])


def _loop(domain: str) -> str:
    return "\n".join(
        [
            f'@ TXT "v=spf1 include:a.{domain} -all"',
            f'a TXT "v=spf1 include:b.{domain} -all"',
            f'b TXT "v=spf1 include:a.{domain} -all"',
        ]
    )


#: %{i}.%{d} x 20: 12 + 20 x 15 characters for spf-macro.test, client 127.0.15.74 (RFC 7208 §7.3: cut
#: to 253 from the left)
MACRO = "exists:%{i}." + ".".join(["%{d}"] * 20)


def _every_dmarc_tag_twice(domain: str) -> str:
    tags = (
        "v=DMARC1", "p=reject", "sp=reject", "np=reject", "adkim=s", "aspf=s", "pct=100", "fo=1",
        "rf=afrf", "ri=86400", f"rua=mailto:dmarc@{domain}", f"ruf=mailto:dmarc@{domain}", "t=n", "psd=n",
    )  # fmt: skip
    return f"{_SPF}\n_dmarc TXT {_strings('; '.join(t for tag in tags for t in (tag, tag)))}"


def _dkim_garbage(domain: str) -> str:
    not_a_key = base64.b64encode(b"this is base64, but of no public key at all").decode()
    short_ed25519 = base64.b64encode(bytes(31)).decode()
    return "\n".join(
        [
            _SPF,
            'nb._domainkey TXT "v=DKIM1; k=rsa; p=this-is-not-a-key!"',
            f'nk._domainkey TXT "v=DKIM1; k=rsa; p={not_a_key}"',
            f'ed._domainkey TXT "v=DKIM1; k=ed25519; p={short_ed25519}"',
        ]
    )


CASES = {
    c.name: c
    for c in [
        Case("spf-10k", 16, _spf_of_10_kb, "spf_", 'warn = ["spf.size"]'),
        Case(
            "spf-10k-lookups", 144, _spf_of_10_kb_of_lookups, "spf_",
            'flag = ["spf.lookup-limit", "spf.void-limit", "spf.authorizes-outbound"]', outbound=True,
        ),
        Case("spf-chain", 32, _chain, "spf_", 'flag = ["spf.lookup-limit"]', outbound=True),
        Case("spf-loop", 48, _loop, "spf_", 'flag = ["spf.lookup-limit"]', outbound=True),
        Case(
            "spf-macro", 64, lambda d: f'@ TXT "v=spf1 {MACRO} -all"', "spf_",
            'warn = ["spf.lookup-limit"]\nflag = ["spf.authorizes-outbound"]', outbound=True,
        ),
        Case("dmarc-twice", 80, _every_dmarc_tag_twice, "dmarc_", 'flag = ["dmarc.syntax"]'),
        Case(
            "dkim-garbage", 96, _dkim_garbage, "dkim_", 'flag = ["dkim.key.syntax"]',
            selectors=("nb", "nk", "ed"),
        ),
        Case(
            "mtasts-gigabyte", 112, lambda d: _SPF, "mtasts_policy", 'warn = ["mtasts.policy.fetch"]',
            https_body="huge",
        ),
        Case(
            "mtasts-forever", 128, lambda d: _SPF, "mtasts_policy", 'not_passed = ["mtasts.policy.fetch"]',
            https_body="endless",
        ),
    ]
}  # fmt: skip


# ---------------------------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    """Every case's scenario, served by one lab process (away from the GIL of the runs it answers)."""
    folder = tmp_path_factory.mktemp("bad-input-scenarios")
    for case in CASES.values():
        case.scenario()  # (a broken scenario fails here, with parse_scenario's message)
        (folder / f"{case.name}.toml").write_text(case.toml(), encoding="utf-8")
    with LabProcess(files=[folder]) as started:
        yield started


@dataclass
class Run:
    result: pytest.RunResult
    rows: list[dict[str, Any]]
    report_bytes: int
    max_rss: int  #: the run's peak resident memory, bytes

    def row(self, check: str, subject: str | None = None) -> dict[str, Any]:
        """The one result of ``check`` (for ``subject``)."""
        rows = [r for r in self.rows if r["check"] == check and subject in (None, r["subject"])]
        assert len(rows) == 1, f"{check} {subject or ''}: {len(rows)} results: {rows}"
        return rows[0]


def survey(pytester: pytest.Pytester, lab: LabProcess, name: str) -> Run:
    """The shipped checks of the case's area against its domain: a bounded run that ends with its
    report, no traceback and no INTERNALERROR."""
    case = CASES[name]
    out = pytester.path / "report.json"
    rss = pytester.path / "maxrss"
    pytester.makeconftest(
        f"""
        import resource

        def pytest_unconfigure():  # the run's own peak memory (ru_maxrss: KiB on Linux)
            with open({str(rss)!r}, "w") as f:
                f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
        """
    )
    sc = lab.scenario(name)
    outbound = (f"--mail-outbound={case.ip(10)}",) if case.outbound else ()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tb=native", "--pyargs", "mailspec.checks",
        f"--mail-domain={case.domain}", f"--mail-resolver={lab.resolver}", f"--mail-dns-port={lab.dns_port}",
        f"--mail-smtp-port={lab.smtp_port}", f"--mail-https-port={lab.https_port}",
        f"--mail-ca={lab.ca_path}", *(f"--mail-dkim-selector={s}" for s in sc.dkim_subjects),
        *(f"--mail-waive={w}" for w in sc.waivers), *outbound, f"--mail-timeout={TIMEOUT}",
        f"--mail-report={out}", "-k", case.keyword,
        timeout=RUN_SECONDS,
    )  # fmt: skip
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text, text
    assert "INTERNALERROR" not in text, text
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), text
    result.stdout.fnmatch_lines([f"{case.domain}: *", "mailspec: verdict *"])
    assert out.exists(), text
    run = Run(result, json.loads(out.read_text())["results"], out.stat().st_size, int(rss.read_text()))
    assert run.max_rss < MAX_RSS, f"the run took {run.max_rss / 2**20:.0f} MiB"
    assert run.report_bytes < MAX_REPORT
    return run


# --------------------------------------------------------------------------------------------- cases
def test_an_spf_record_of_10_kb(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "spf-10k")
    size = run.row("spf.size")
    assert size["outcome"] == "warned"
    assert "the SPF answer of spf-10k.test is too large" in size["message"]
    assert re.search(r"take 10\d{3} octets, more than 450", size["message"]), size["message"]
    # the record itself is valid, ip4 terms cost no lookup, and it ends in -all
    for check in ("spf.syntax", "spf.lookup-limit", "spf.all"):
        assert run.row(check)["outcome"] == "passed", run.row(check)


def test_an_spf_record_of_10_kb_of_lookups(pytester: pytest.Pytester, lab: LabProcess) -> None:
    """Hundreds of DNS-querying terms: the walk looks up a bounded number of them, and says so."""
    run = survey(pytester, lab, "spf-10k-lookups")
    limit = run.row("spf.lookup-limit")
    assert limit["outcome"] == "failed"
    assert re.search(r"takes (at least )?\d{3} DNS-querying terms", limit["message"]), limit["message"]
    assert run.row("spf.void-limit")["outcome"] == "failed"
    sent = run.row("spf.authorizes-outbound")
    assert sent["outcome"] == "failed"
    assert "= permerror" in sent["message"], sent["message"]


def test_a_record_without_mx_terms_is_judged_by_spf_mx_limit(
    pytester: pytest.Pytester, lab: LabProcess
) -> None:
    row = survey(pytester, lab, "spf-10k-lookups").row("spf.mx-limit")
    assert row["outcome"] in ("passed", "skipped"), row


def test_an_include_chain_50_deep(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "spf-chain")
    limit = run.row("spf.lookup-limit")
    assert limit["outcome"] == "failed"
    assert "inc12.spf-chain.test: nested more than 11 deep" in limit["message"]
    sent = run.row("spf.authorizes-outbound")
    assert sent["outcome"] == "failed"
    assert (
        "= permerror (more than 10 DNS-querying terms (the 11th: include:inc11.spf-chain.test in "
        "inc10.spf-chain.test's record" in sent["message"]
    )


def test_an_include_chain_is_not_called_a_loop(pytester: pytest.Pytester, lab: LabProcess) -> None:
    message = survey(pytester, lab, "spf-chain").row("spf.lookup-limit")["message"]
    assert "loop" not in message and "never ends" not in message, message


def test_an_include_loop(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "spf-loop")
    limit = run.row("spf.lookup-limit")
    assert limit["outcome"] == "failed"
    assert (
        "include/redirect loop: spf-loop.test -> a.spf-loop.test -> b.spf-loop.test -> a.spf-loop.test"
        in limit["message"]
    )
    sent = run.row("spf.authorizes-outbound")
    assert sent["outcome"] == "failed"
    assert "check_host(127.0.15.58, spf-loop.test, postmaster@spf-loop.test) = permerror" in sent["message"]


def test_a_macro_that_expands_past_253_characters(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "spf-macro")
    limit = run.row("spf.lookup-limit")
    assert limit["outcome"] == "warned"
    assert f"not fully evaluable: spf-macro.test: {MACRO}" in limit["message"]
    # evaluated for the outbound address: the name is cut to 253 characters (RFC 7208 §7.3), does not
    # exist, and -all decides
    sent = run.row("spf.authorizes-outbound")
    assert sent["outcome"] == "failed"
    assert "check_host(127.0.15.74, spf-macro.test, postmaster@spf-macro.test) = fail" in sent["message"]
    cut = [line for line in sent["evidence"] if "expansion longer than 253 characters, cut to" in line]
    assert len(cut) == 1, sent["evidence"]
    name = cut[0].rsplit("cut to ", 1)[1].rstrip(")")
    assert len(name) <= 253 and name.endswith(".spf-macro.test"), name


def test_a_dmarc_record_with_every_tag_twice(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "dmarc-twice")
    syntax = run.row("dmarc.syntax")
    assert syntax["outcome"] == "failed"
    assert "the DMARC record at _dmarc.dmarc-twice.test ('v=DMARC1; v=DMARC1; p=reject;" in syntax["message"]
    assert "is invalid as a whole: the tag 'v' appears twice" in syntax["message"]
    assert "Give each tag once" in syntax["message"]
    policy = run.row("dmarc.policy")
    assert policy["outcome"] == "skipped"
    assert "no DMARC record applies to dmarc-twice.test" in policy["message"]


def test_dkim_keys_that_are_not_base64_or_not_a_key(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "dkim-garbage")
    expected = {
        "nb": "p= is not base64: it contains '-'",
        "nk": "p= decodes to 43 octets that are no RSA public key",
        "ed": "k=ed25519, but p= decodes to 31 octets: an Ed25519 key is its 32 raw octets",
    }
    for selector, why in expected.items():
        row = run.row("dkim.key.syntax", selector)
        assert row["outcome"] == "failed", row
        assert f"the key record at {selector}._domainkey.dkim-garbage.test cannot be used" in row["message"]
        assert why in row["message"], row["message"]
        # the checks that need a usable key skip, pointing at dkim.key.syntax
        rsa = run.row("dkim.key.rsa-min", selector)
        assert rsa["outcome"] == "skipped" and "(see dkim.key.syntax)" in rsa["message"]


def test_an_mta_sts_policy_of_a_gigabyte(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "mtasts-gigabyte")
    fetch = run.row("mtasts.policy.fetch")
    assert fetch["outcome"] == "warned"
    assert "https://mta-sts.mtasts-gigabyte.test/.well-known/mta-sts.txt is served" in fetch["message"]
    assert re.search(r"it is more than \d+ bytes, over 64 KiB", fetch["message"]), fetch["message"]
    assert run.row("mtasts.policy.syntax")["outcome"] == "skipped"
    # reading stopped near the cap: the server got rid of a few MiB (socket buffers), not a gigabyte
    sent = lab.https_stats()[CASES["mtasts-gigabyte"].ip(12)]["body_bytes"]
    assert sent < 64 * 2**20, sent


def test_an_mta_sts_policy_that_never_ends(pytester: pytest.Pytester, lab: LabProcess) -> None:
    run = survey(pytester, lab, "mtasts-forever")
    fetch = run.row("mtasts.policy.fetch")
    assert fetch["outcome"] == "error"
    assert fetch["message"].startswith(
        "could not test: could not fetch https://mta-sts.mtasts-forever.test/.well-known/mta-sts.txt"
    )
    # the whole fetch (connect, TLS, head and body) is bounded by --mail-timeout
    within = re.search(r"timeout \(reading the body: no complete answer within (\d+) s", fetch["message"])
    assert within is not None and int(within.group(1)) <= TIMEOUT, fetch["message"]
    assert run.row("mtasts.policy.syntax")["outcome"] == "skipped"
