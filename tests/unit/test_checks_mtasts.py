"""The MTA-STS and TLS-RPT checks (mailspec/checks/test_mtasts.py) on hand-built facts: DNS answers,
policy fetches, and SMTP sessions with certificates made here with ``cryptography``."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailspec.checks import test_mtasts as checks
from mailspec.errors import Indeterminate, MailspecError
from mailspec.facts.auth import MtaStsSurvey
from mailspec.facts.dns import DnsAnswer, DomainDns, MxTarget, Record
from mailspec.facts.mtasts import MtaStsFetch, PeerCertificate, policy_host, policy_url
from mailspec.facts.published import published_tls
from mailspec.facts.smtp import Exchange, SmtpEndpoint, SmtpSession, TlsInfo
from mailspec.outcome import Finding, current, reset

D = "example.com"
MX1, MX2 = "mx1.example.com", "mx2.example.com"
IP1, IP2 = "192.0.2.1", "192.0.2.2"
VIOLATION = (AssertionError, pytest.fail.Exception)
SKIP = pytest.skip.Exception
TIMEOUT = "no answer in 3.0 s (timeout)"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
F = TypeVar("F")


# ------------------------------------------------------------------------------------------- DNS
def txt(text: str) -> str:
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


def ans(
    qname: str, rdtype: str, *records: Record, rcode: str = "NOERROR", error: str | None = None
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=None if error else rcode, error=error, answer=records)


def txts(qname: str, *texts: str, rcode: str = "NOERROR", error: str | None = None) -> DnsAnswer:
    return ans(qname, "TXT", *(Record(qname, 300, "TXT", txt(t)) for t in texts), rcode=rcode, error=error)


def target(name: str, pref: int, *ips: str) -> MxTarget:
    return MxTarget(
        D, name, pref, ans(name, "A", *(Record(name, 60, "A", ip) for ip in ips)), ans(name, "AAAA")
    )


def domain(*targets: MxTarget, mx: DnsAnswer | None = None) -> DomainDns:
    soa = Record(D, 3600, "SOA", "ns1.example.com. hostmaster.example.com. 1 14400 3600 1209600 3600")
    records = tuple(Record(D, 300, "MX", f"{t.preference} {t.name}.") for t in targets)
    return DomainDns(
        D, soa=ans(D, "SOA", soa), ns=ans(D, "NS"), mx=mx or ans(D, "MX", *records), a=ans(D, "A"),
        aaaa=ans(D, "AAAA"), txt=ans(D, "TXT"), zone=D, mx_targets=targets,
    )  # fmt: skip


T1, T2 = target(MX1, 10, IP1), target(MX2, 20, IP2)
DNS = domain(T1, T2)
RECORD = "v=STSv1; id=20261128"
TLSRPT = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"


def survey(
    *records: str, tlsrpt: tuple[str, ...] = (TLSRPT,), txt_answer: DnsAnswer | None = None,
    tlsrpt_answer: DnsAnswer | None = None, host_ips: tuple[str, ...] = ("192.0.2.80",),
    host_rcode: str = "NOERROR",
) -> MtaStsSurvey:  # fmt: skip
    host = policy_host(D)
    a = ans(host, "A", *(Record(host, 60, "A", ip) for ip in host_ips), rcode=host_rcode)
    return MtaStsSurvey(
        D,
        txt_answer or txts(f"_mta-sts.{D}", *records),
        tlsrpt_answer or txts(f"_smtp._tls.{D}", *tlsrpt),
        a,
        ans(host, "AAAA", rcode=host_rcode),
    )


DEPLOYED = survey(RECORD)
NOT_DEPLOYED = survey()


# ------------------------------------------------------------------------------------ the policy
def policy(mode: str = "enforce", max_age: int = 604800, mx: Iterable[str] = ("*.example.com",)) -> str:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), f"max_age: {max_age}"]
    return "".join(line + "\r\n" for line in lines)


def fetch(body: str | None = None, **kw: Any) -> MtaStsFetch:
    text = policy() if body is None else body
    fields: dict[str, Any] = {
        "status": 200, "reason": "OK", "content_type": "text/plain", "body": text,
        "body_bytes": len(text.encode()), "tls_version": "TLSv1.3",
    }  # fmt: skip
    fields.update(kw)
    return MtaStsFetch(D, policy_host(D), "192.0.2.80", 443, policy_url(D), 10.0, 69632, **fields)


GOOD = fetch()
EXPIRED_CERT = PeerCertificate(
    "mta-sts.example.com", "CA", ("mta-sts.example.com",), "2020-01-01", "2021-01-01", verified=False
)


# ---------------------------------------------------------------------------------- certificates
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


ROOT_KEY = ec.generate_private_key(ec.SECP256R1())
_CA_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip
ROOT = (
    x509.CertificateBuilder()
    .subject_name(_name("mailspec test root"))
    .issuer_name(_name("mailspec test root"))
    .public_key(ROOT_KEY.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - dt.timedelta(days=30))
    .not_valid_after(NOW + dt.timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .add_extension(_CA_USAGE, critical=True)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(ROOT_KEY.public_key()), critical=False)
    .sign(ROOT_KEY, hashes.SHA256())
)
TRUST = ROOT.public_bytes(serialization.Encoding.PEM)


def leaf(name: str, *, days: tuple[int, int] = (-10, 80), self_signed: bool = False) -> str:
    """A server certificate for ``name`` issued by ROOT (or by itself), base64 DER."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name) if self_signed else ROOT.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    if not self_signed:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ROOT_KEY.public_key()), critical=False
        )
    cert = builder.sign(key if self_signed else ROOT_KEY, hashes.SHA256())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


# -------------------------------------------------------------------------------------- sessions
def x(sent: str, code: int, *lines: str, error: str = "") -> Exchange:
    return Exchange(sent, code, tuple(lines), error)


def smtp(
    host: str, ip: str, *, cert: str | None = None, offered: bool = True, handshake_error: str = "",
    connect_error: str = "",
) -> SmtpSession:  # fmt: skip
    if connect_error:
        return SmtpSession(host, ip, 25, connect_error=connect_error)
    keywords = ("PIPELINING", "STARTTLS") if offered else ("PIPELINING",)
    ehlo = x("EHLO probe.example.net", 250, host, *keywords)
    tls = None
    if offered:
        tls = TlsInfo(
            x("STARTTLS", 220, "2.0.0 ready"), host, handshake_error=handshake_error,
            version="" if handshake_error else "TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
            chain=() if handshake_error else (cert or leaf(host),), ehlo=ehlo,
        )  # fmt: skip
    return SmtpSession(host, ip, 25, greeting=x("", 220, f"{host} ESMTP"), ehlo=ehlo, tls=tls)


class Facts:
    """A stand-in for the run's survey (mail_survey): SMTP sessions by endpoint key."""

    def __init__(self, sessions: dict[str, SmtpSession] | None = None, fail: str = "") -> None:
        self.sessions = sessions or {}
        self.fail = fail
        self.prefetched: list[str] = []

    def prefetch(self, wanted: Iterable[tuple[type, str]]) -> None:
        self.prefetched += [key for _, key in wanted]

    def get(self, kind: type[F], key: str) -> F:
        if self.fail:
            raise MailspecError(self.fail)
        value: F = self.sessions[key]  # type: ignore[assignment]
        return value

    def wanted(self, kind: type, key: str) -> bool:
        return True


ENDPOINTS = [SmtpEndpoint(D, MX1, IP1, 25, 10), SmtpEndpoint(D, MX2, IP2, 25, 20)]


def facts(*sessions: SmtpSession) -> Facts:
    """The sessions of ENDPOINTS, in order."""
    return Facts({e.key: s for e, s in zip(ENDPOINTS, sessions, strict=True)})


GOOD_SMTP = facts(smtp(MX1, IP1), smtp(MX2, IP2))


@pytest.fixture(autouse=True)
def _fresh_recorder() -> None:
    reset()


def passes(run: Callable[..., None], *args: object) -> None:
    """Run a check that must pass: a warning, skip or could-not-test escaping a test would be
    reported by the mailspec plugin as xfailed or skipped, not as the failure it is here."""
    try:
        run(*args)
    except (Finding, Indeterminate, pytest.skip.Exception) as exc:
        pytest.fail(f"expected {run.__name__} to pass; it raised {type(exc).__name__}: {exc}")


POLICY_CHECKS: list[Callable[..., None]] = [
    checks.test_mtasts_policy_syntax,
    checks.test_mtasts_policy_max_age,
    checks.test_mtasts_mx_coverage,
    checks.test_mtasts_testing_needs_tlsrpt,
]


def mx_tls(m: MtaStsSurvey = DEPLOYED, f: MtaStsFetch = GOOD, source: Facts = GOOD_SMTP) -> None:
    checks.test_mtasts_mx_tls(DNS, m, f, ENDPOINTS, source, TRUST)


# ------------------------------------------------------------------------------------- mtasts.txt
def test_one_valid_record_passes_with_its_id() -> None:
    passes(checks.test_mtasts_txt, DNS, DEPLOYED)
    assert any("policy id 20261128" in n for n in current().notes)


def test_other_txt_records_are_discarded() -> None:
    passes(checks.test_mtasts_txt, DNS, survey("v=spf1 -all", RECORD, "google-site-verification=x"))


def test_no_record_skips_as_not_deployed() -> None:
    with pytest.raises(SKIP, match="MTA-STS not deployed"):
        checks.test_mtasts_txt(DNS, NOT_DEPLOYED)
    with pytest.raises(SKIP, match="MTA-STS not deployed"):
        checks.test_mtasts_txt(DNS, survey(txt_answer=txts(f"_mta-sts.{D}", rcode="NXDOMAIN")))


def test_two_records_fail() -> None:
    with pytest.raises(VIOLATION, match=r"2 v=STSv1 records.*RFC 8461 §3\.1"):
        checks.test_mtasts_txt(DNS, survey(RECORD, "v=STSv1; id=2"))


@pytest.mark.parametrize("record", ["v=STSv1; id=2026-11-28", "v=STSv1;", "v=STSv1; id=" + "a" * 33])
def test_an_invalid_record_fails(record: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"invalid.*RFC 8461 §3\.1"):
        checks.test_mtasts_txt(DNS, survey(record))


def test_a_record_lookup_that_timed_out_is_could_not_test_everywhere() -> None:
    m = survey(txt_answer=txts(f"_mta-sts.{D}", error=TIMEOUT))
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_mtasts_txt(DNS, m)
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_mtasts_policy_fetch(DNS, m, GOOD)
    for run in POLICY_CHECKS:
        with pytest.raises(Indeterminate, match="timeout"):
            run(DNS, m, GOOD)
    with pytest.raises(Indeterminate, match="timeout"):
        mx_tls(m)


@pytest.mark.parametrize("run", [checks.test_mtasts_policy_fetch, *POLICY_CHECKS], ids=lambda f: f.__name__)
def test_the_policy_checks_skip_without_a_record(run: Callable[..., None]) -> None:
    with pytest.raises(SKIP, match="MTA-STS not deployed"):
        run(DNS, NOT_DEPLOYED, GOOD)


@pytest.mark.parametrize("run", POLICY_CHECKS, ids=lambda f: f.__name__)
def test_the_policy_checks_skip_with_an_unusable_record(run: Callable[..., None]) -> None:
    with pytest.raises(SKIP, match=r"see mtasts\.txt"):
        run(DNS, survey("v=STSv1; id=bad-id"), GOOD)


# ---------------------------------------------------------------------------------- policy.fetch
def test_a_good_fetch_passes() -> None:
    passes(checks.test_mtasts_policy_fetch, DNS, DEPLOYED, GOOD)
    assert any("HTTP 200" in e for e in current().evidence)


@pytest.mark.parametrize(
    ("f", "match"),
    [
        (fetch(status=404, reason="Not Found", body="", body_bytes=0), r"404 Not Found.*only 200"),
        (
            fetch(status=301, location="https://example.com/", body=""),
            r"301 \(a redirect to https://example.com/\).*MUST NOT",
        ),
        (
            fetch(
                status=0, failure="tls", tls_reason="expired", error="certificate has expired",
                tls_version="", certificate=EXPIRED_CERT,
            ),
            r"expired: certificate has expired.*valid 2020-01-01 to 2021-01-01",
        ),
        (fetch(status=0, failure="tls", tls_reason="wrong-name", error="hostname mismatch"), "wrong-name"),
        (fetch(status=0, failure="protocol", error="not HTTP"), "does not answer in HTTP"),
    ],
    ids=["404", "redirect", "expired", "wrong-name", "not-http"],
)  # fmt: skip
def test_a_failed_fetch_fails_and_the_policy_checks_skip(f: MtaStsFetch, match: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=match) as info:
        checks.test_mtasts_policy_fetch(DNS, DEPLOYED, f)
    assert "RFC 8461 §3.3" in str(info.value)
    for run in POLICY_CHECKS:
        with pytest.raises(SKIP, match=r"see mtasts\.policy\.fetch"):
            run(DNS, DEPLOYED, f)


@pytest.mark.parametrize(
    ("f", "match"),
    [
        (fetch(content_type="text/html"), "not text/plain"),
        (fetch(content_type=""), r"Content-Type is \(none\)"),
        (fetch(body_bytes=70000), "over 64 KiB"),
        (fetch(truncated=True, body_bytes=69632), "more than 69632 bytes"),
        (fetch(elapsed=61.0), "took 61 s"),
    ],
    ids=["html", "no-type", "large", "truncated", "slow"],
)
def test_a_served_policy_with_flaws_warns(f: MtaStsFetch, match: str) -> None:
    with pytest.raises(Finding, match=match):
        checks.test_mtasts_policy_fetch(DNS, DEPLOYED, f)


def test_text_plain_with_a_charset_passes() -> None:
    passes(checks.test_mtasts_policy_fetch, DNS, DEPLOYED, fetch(content_type="text/plain; charset=utf-8"))


def test_a_policy_host_without_an_address_fails() -> None:
    m = survey(RECORD, host_ips=(), host_rcode="NXDOMAIN")
    f = fetch(status=0, failure="connect", error="mta-sts.example.com has no address", body="")
    with pytest.raises(pytest.fail.Exception, match=r"no A or AAAA record.*RFC 8461 §3\.3"):
        checks.test_mtasts_policy_fetch(DNS, m, f)
    for run in POLICY_CHECKS:
        with pytest.raises(SKIP, match=r"see mtasts\.policy\.fetch"):
            run(DNS, m, f)


@pytest.mark.parametrize("failure", ["timeout", "connect", "closed"])
def test_a_fetch_that_got_no_answer_is_could_not_test(failure: str) -> None:
    f = fetch(status=0, failure=failure, error=f"{failure} (reading the body)", body="")
    with pytest.raises(Indeterminate, match=f"could not test: could not fetch .*{failure}"):
        checks.test_mtasts_policy_fetch(DNS, DEPLOYED, f)
    for run in POLICY_CHECKS:  # (said once, by mtasts.policy.fetch)
        with pytest.raises(SKIP, match=r"could not be fetched.*see mtasts\.policy\.fetch"):
            run(DNS, DEPLOYED, f)


# --------------------------------------------------------------------------------- policy.syntax
def test_a_valid_policy_passes_with_a_note() -> None:
    passes(checks.test_mtasts_policy_syntax, DNS, DEPLOYED, GOOD)
    assert any("mode enforce, max_age 604800, mx *.example.com" in n for n in current().notes)


def test_lf_only_lines_are_tolerated_with_a_note() -> None:
    passes(checks.test_mtasts_policy_syntax, DNS, DEPLOYED, fetch(policy().replace("\r\n", "\n")))
    assert any("LF" in n for n in current().notes)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("version: STSv1\r\nmode: enforce\r\nmax_age: 604800\r\n", "no mx line"),
        (policy(mode="strict"), "mode 'strict'"),
        (policy(max_age=99999999999), "max_age"),
        ("<html>hello</html>\r\n", "not 'key: value'"),
        (policy().replace("version: STSv1", "version: STSv2"), "STSv1"),
        (policy(mx=["mx_1.example.com"]), "no domain label"),
    ],
    ids=["no-mx", "mode", "max-age", "html", "version", "mx-label"],
)
def test_an_invalid_policy_fails_and_the_later_checks_skip(body: str, match: str) -> None:
    f = fetch(body)
    with pytest.raises(pytest.fail.Exception, match=match) as info:
        checks.test_mtasts_policy_syntax(DNS, DEPLOYED, f)
    assert "RFC 8461 §3.2" in str(info.value)
    for run in POLICY_CHECKS[1:]:
        with pytest.raises(SKIP, match=r"see mtasts\.policy\.syntax"):
            run(DNS, DEPLOYED, f)


def test_a_repeated_field_warns() -> None:
    body = policy() + "mode: none\r\n"
    with pytest.raises(Finding, match="the first is used"):
        checks.test_mtasts_policy_syntax(DNS, DEPLOYED, fetch(body))


def test_an_mx_in_upper_case_warns() -> None:
    with pytest.raises(Finding, match="upper case"):
        checks.test_mtasts_policy_syntax(DNS, DEPLOYED, fetch(policy(mx=["MX1.example.com"])))


def test_a_body_that_is_not_utf8_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="not UTF-8"):
        checks.test_mtasts_policy_syntax(DNS, DEPLOYED, fetch(body_utf8=False))


def test_a_body_that_is_not_utf8_is_no_policy_for_the_other_checks() -> None:
    """As a sender reads it (and published_tls): mtasts.policy.syntax fails it, the rest skip."""
    with pytest.raises(pytest.skip.Exception, match="not valid UTF-8"):
        checks.test_mtasts_policy_max_age(DNS, DEPLOYED, fetch(policy(), body_utf8=False))


# -------------------------------------------------------------------------------- policy.max-age
def test_a_week_passes_quietly() -> None:
    passes(checks.test_mtasts_policy_max_age, DNS, DEPLOYED, GOOD)
    assert not current().notes


def test_under_a_week_is_noted() -> None:
    passes(checks.test_mtasts_policy_max_age, DNS, DEPLOYED, fetch(policy(max_age=86400)))
    assert any("less than a week" in n for n in current().notes)


def test_under_a_day_warns() -> None:
    with pytest.raises(Finding, match=r"max_age 3600, less than a day.*RFC 8461 §3\.2"):
        checks.test_mtasts_policy_max_age(DNS, DEPLOYED, fetch(policy(max_age=3600)))


def test_a_short_max_age_with_mode_none_passes() -> None:
    passes(checks.test_mtasts_policy_max_age, DNS, DEPLOYED, fetch(policy(mode="none", max_age=60, mx=[])))


# ----------------------------------------------------------------------------------- mx-coverage
def test_every_mx_covered_passes() -> None:
    passes(checks.test_mtasts_mx_coverage, DNS, DEPLOYED, GOOD)
    assert any("mx2.example.com matches *.example.com" in n for n in current().notes)


def test_an_uncovered_backup_fails_under_enforce() -> None:
    f = fetch(policy(mx=[MX1]))
    with pytest.raises(pytest.fail.Exception, match=r"mx2\.example\.com .*match no mx pattern.*§8\.4"):
        checks.test_mtasts_mx_coverage(DNS, DEPLOYED, f)


def test_an_uncovered_mx_warns_under_testing() -> None:
    with pytest.raises(Finding, match="testing mode"):
        checks.test_mtasts_mx_coverage(DNS, DEPLOYED, fetch(policy(mode="testing", mx=[MX1])))


@pytest.mark.parametrize("pattern", ["*.mx.example.com", "example.com", "*.com"])
def test_a_wildcard_matches_exactly_one_label(pattern: str) -> None:
    with pytest.raises(pytest.fail.Exception):
        checks.test_mtasts_mx_coverage(DNS, DEPLOYED, fetch(policy(mx=[pattern])))


def test_mode_none_skips_coverage() -> None:
    with pytest.raises(SKIP, match="mode none"):
        checks.test_mtasts_mx_coverage(DNS, DEPLOYED, fetch(policy(mode="none", mx=[])))


def test_an_mx_lookup_that_timed_out_is_could_not_test() -> None:
    d = domain(mx=ans(D, "MX", error=TIMEOUT))
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_mtasts_mx_coverage(d, DEPLOYED, GOOD)


# ---------------------------------------------------------------------------------------- mx-tls
def test_authenticated_tls_at_every_mx_passes() -> None:
    passes(mx_tls)
    assert GOOD_SMTP.prefetched == [e.key for e in ENDPOINTS]
    assert any("192.0.2.2" in n for n in current().notes)


@pytest.mark.parametrize(
    ("second", "match"),
    [
        (smtp(MX2, IP2, offered=False), "does not offer STARTTLS"),
        (smtp(MX2, IP2, handshake_error="sslv3 alert handshake failure"), "handshake failed"),
        (smtp(MX2, IP2, cert=leaf("other.example.net")), "names other.example.net, not mx2.example.com"),
        (smtp(MX2, IP2, cert=leaf(MX2, days=(-100, -1))), "expired"),
        (smtp(MX2, IP2, cert=leaf(MX2, self_signed=True)), "self-signed|not trusted|issuer"),
    ],
    ids=["no-starttls", "handshake", "name", "expired", "self-signed"],
)
def test_a_tls_problem_at_a_covered_mx_fails_under_enforce(second: SmtpSession, match: str) -> None:
    source = facts(smtp(MX1, IP1), second)
    with pytest.raises(pytest.fail.Exception, match=match) as info:
        mx_tls(source=source)
    assert "RFC 8461 §4.2" in str(info.value)
    reset()
    with pytest.raises(Finding, match=match):
        mx_tls(f=fetch(policy(mode="testing")), source=source)


def test_an_mx_expiring_soon_still_passes() -> None:
    passes(mx_tls, DEPLOYED, GOOD, facts(smtp(MX1, IP1), smtp(MX2, IP2, cert=leaf(MX2, days=(-80, 5)))))


def test_an_uncovered_mx_is_left_to_coverage() -> None:
    source = facts(smtp(MX1, IP1), smtp(MX2, IP2, offered=False))
    passes(mx_tls, DEPLOYED, fetch(policy(mx=[MX1])), source)


def test_a_refused_connection_is_left_out_with_a_note() -> None:
    passes(mx_tls, DEPLOYED, GOOD, facts(smtp(MX1, IP1), smtp(MX2, IP2, connect_error="connection refused")))
    assert any("not judged" in n and "connection refused" in n for n in current().notes)


def test_a_session_that_timed_out_is_could_not_test() -> None:
    source = facts(smtp(MX1, IP1), smtp(MX2, IP2, connect_error="timeout (no connection within 10 s)"))
    with pytest.raises(Indeterminate, match="could not test"):
        mx_tls(source=source)


def test_a_failure_beats_a_timeout() -> None:
    source = facts(smtp(MX1, IP1, offered=False), smtp(MX2, IP2, connect_error="timeout (no connection)"))
    with pytest.raises(pytest.fail.Exception, match="does not offer STARTTLS"):
        mx_tls(source=source)


def test_a_survey_that_ran_out_of_time_is_could_not_test() -> None:
    with pytest.raises(Indeterminate, match="budget"):
        mx_tls(source=Facts(fail="the budget ran out"))


def test_mode_none_skips_mx_tls() -> None:
    with pytest.raises(SKIP, match="mode none"):
        mx_tls(f=fetch(policy(mode="none", mx=[])))


# --------------------------------------------------------------------------- testing-needs-tlsrpt
def test_testing_mode_with_tlsrpt_passes() -> None:
    passes(checks.test_mtasts_testing_needs_tlsrpt, DNS, DEPLOYED, fetch(policy(mode="testing")))


def test_testing_mode_without_tlsrpt_warns() -> None:
    m = survey(RECORD, tlsrpt=())
    with pytest.raises(Finding, match=r"testing mode.*0 v=TLSRPTv1 records.*RFC 8461 §5"):
        checks.test_mtasts_testing_needs_tlsrpt(DNS, m, fetch(policy(mode="testing")))


def test_testing_mode_with_an_invalid_tlsrpt_warns() -> None:
    m = survey(RECORD, tlsrpt=("v=TLSRPTv1; rua=ftp://example.com",))
    with pytest.raises(Finding, match="no valid TLS-RPT record"):
        checks.test_mtasts_testing_needs_tlsrpt(DNS, m, fetch(policy(mode="testing")))


def test_enforce_mode_passes_without_tlsrpt() -> None:
    passes(checks.test_mtasts_testing_needs_tlsrpt, DNS, survey(RECORD, tlsrpt=()), GOOD)


def test_testing_mode_with_a_tlsrpt_timeout_is_could_not_test() -> None:
    m = survey(RECORD, tlsrpt_answer=txts(f"_smtp._tls.{D}", error=TIMEOUT))
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_mtasts_testing_needs_tlsrpt(DNS, m, fetch(policy(mode="testing")))


# ------------------------------------------------------------------------------------ tlsrpt.record
def test_a_valid_tlsrpt_record_passes() -> None:
    passes(checks.test_tlsrpt_record, DNS, DEPLOYED)
    assert any("mailto:tlsrpt@example.com" in n for n in current().notes)


def test_an_https_rua_passes() -> None:
    passes(
        checks.test_tlsrpt_record, DNS, survey(tlsrpt=("v=TLSRPTv1; rua=https://reports.example.net/tls",))
    )


def test_no_tlsrpt_warns_with_mta_sts() -> None:
    with pytest.raises(Finding, match=r"publishes MTA-STS.*RFC 8460 §3"):
        checks.test_tlsrpt_record(DNS, survey(RECORD, tlsrpt=()))


def test_no_tlsrpt_without_mta_sts_passes_with_a_note() -> None:
    passes(checks.test_tlsrpt_record, DNS, survey(tlsrpt=()))
    assert any("no TLS-RPT record" in n for n in current().notes)


def test_two_tlsrpt_records_fail() -> None:
    with pytest.raises(AssertionError, match=r"2 v=TLSRPTv1 records.*RFC 8460 §3"):
        checks.test_tlsrpt_record(DNS, survey(tlsrpt=(TLSRPT, "v=TLSRPTv1; rua=mailto:b@example.com")))


@pytest.mark.parametrize("record", ["v=TLSRPTv1; rua=", "v=TLSRPTv1;", "v=TLSRPTv1; rua=ftp://x.example"])
def test_an_invalid_tlsrpt_record_fails(record: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"invalid.*RFC 8460 §3"):
        checks.test_tlsrpt_record(DNS, survey(tlsrpt=(record,)))


def test_a_tlsrpt_timeout_is_could_not_test() -> None:
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_tlsrpt_record(DNS, survey(RECORD, tlsrpt_answer=txts(f"_smtp._tls.{D}", error=TIMEOUT)))


def test_no_tlsrpt_and_an_mta_sts_timeout_is_could_not_test() -> None:
    m = survey(tlsrpt=(), txt_answer=txts(f"_mta-sts.{D}", error=TIMEOUT))
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_tlsrpt_record(DNS, m)


def test_a_domain_that_does_not_exist_skips() -> None:
    d = dataclasses.replace(DNS, soa=ans(D, "SOA", rcode="NXDOMAIN"))
    for run in (checks.test_mtasts_txt, checks.test_tlsrpt_record):
        with pytest.raises(SKIP, match="does not exist"):
            run(d, DEPLOYED)


# ------------------------------------------------------- the policy a sender applies (CATALOG.md §18.5)
def test_an_enforce_policy_that_covers_the_host_is_enforced() -> None:
    p = published_tls(D, MX1, DEPLOYED, lambda: GOOD)
    assert (p.mode, p.enforced, p.authenticated, p.unknown) == ("enforce", True, True, False)
    assert "covers mx1.example.com (mx: *.example.com)" in p.why
    assert p.evidence() == [f";; TLS policy for {MX1}: {p.why}"]


def test_testing_and_none_modes() -> None:
    testing = published_tls(D, MX1, DEPLOYED, lambda: fetch(policy("testing")))
    assert (testing.mode, testing.enforced, testing.authenticated) == ("testing", False, True)
    none = published_tls(D, MX1, DEPLOYED, lambda: fetch(policy("none", mx=())))
    assert (none.mode, none.enforced, none.authenticated) == ("none", False, False)


@pytest.mark.parametrize(
    ("s", "f", "host", "words", "unknown"),
    [
        (NOT_DEPLOYED, GOOD, MX1, "no MTA-STS record", False),
        (survey(RECORD, RECORD), GOOD, MX1, "2 MTA-STS records", False),
        (survey("v=STSv1; id=not valid!"), GOOD, MX1, "invalid", False),
        (survey(txt_answer=txts(f"_mta-sts.{D}", error=TIMEOUT)), GOOD, MX1, "could not be looked up", True),
        (DEPLOYED, None, MX1, "not fetched", True),
        (DEPLOYED, fetch(failure="timeout", error="timeout", status=0), MX1, "could not be fetched", True),
        (DEPLOYED, fetch(status=404, reason="Not Found"), MX1, "no MTA-STS policy could be read", False),
        (DEPLOYED, fetch("version: STSv1\r\nmode: sometimes\r\n"), MX1, "invalid", False),
        (DEPLOYED, GOOD, "mx.example.net", "does not cover mx.example.net", False),
    ],
    ids=["none", "two", "bad-record", "lookup-timeout", "not-fetched", "fetch-timeout", "404", "bad-policy",
         "uncovered"],
)  # fmt: skip
def test_anything_short_of_a_covering_policy_is_none(
    s: MtaStsSurvey, f: MtaStsFetch | None, host: str, words: str, unknown: bool
) -> None:
    p = published_tls(D, host, s, lambda: f)
    assert (p.mode, p.enforced, p.unknown) == ("", False, unknown)
    assert words in p.why


def test_no_fetch_without_a_record() -> None:
    asked: list[str] = []

    def fetched() -> MtaStsFetch | None:
        asked.append("fetch")
        return GOOD

    published_tls(D, MX1, NOT_DEPLOYED, fetched)
    assert asked == []
    published_tls(D, MX1, DEPLOYED, fetched)
    assert asked == ["fetch"]


def test_a_policy_senders_cannot_read_applies_no_constraint() -> None:
    # (not UTF-8, or over the size limit: mtasts.policy.* fail it; senders apply no policy)
    latin = published_tls(
        D, MX1, DEPLOYED, lambda: fetch(policy() + "comment: caf\ufffd\r\n", body_utf8=False)
    )
    assert (latin.mode, latin.enforced, latin.unknown) == ("", False, False)
    big = published_tls(D, MX1, DEPLOYED, lambda: fetch(body_bytes=70000))
    assert (big.mode, big.unknown) == ("", False)


def test_a_policy_host_without_an_address_is_no_policy_not_unknown() -> None:
    asked: list[str] = []

    def fetched() -> MtaStsFetch | None:
        asked.append("fetch")
        return GOOD

    p = published_tls(D, MX1, survey(RECORD, host_ips=()), fetched)
    assert (p.mode, p.unknown, asked) == ("", False, [])
    assert "has no address" in p.why
