"""The DKIM checks (mailspec/checks/test_dkim.py) on hand-built DNS answers, with real keys made here
with ``cryptography`` (RSA 512, 1024, 2048 and over 4096 bits, Ed25519)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailspec.checks import test_dkim as checks
from mailspec.errors import Indeterminate
from mailspec.facts.auth import DkimSurvey
from mailspec.facts.dns import DnsAnswer, DomainDns, Record
from mailspec.outcome import Finding, current, reset

D = "example.com"
VIOLATION = (AssertionError, pytest.fail.Exception)
SKIP = pytest.skip.Exception


# ------------------------------------------------------------------------------------------- keys
def _spki(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@cache
def rsa_p(bits: int) -> str:
    """The base64 SubjectPublicKeyInfo of an RSA key of ``bits`` bits. cryptography generates no key
    under 1024 bits, and big ones are slow: those are built from a modulus of the right size (a
    public key needs no factorisation to be encoded and parsed)."""
    if 1024 <= bits <= 2048:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        key = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 0xC3A5).public_key()
    return base64.b64encode(_spki(key)).decode()


@cache
def ed_p() -> str:
    return base64.b64encode(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


def txt(text: str) -> str:
    """TXT rdata in presentation form, split into 255-octet strings as a zone file would hold it."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255)) or '""'


def ans(qname: str, *texts: str, rcode: str = "NOERROR", error: str | None = None) -> DnsAnswer:
    records = tuple(Record(qname, 300, "TXT", txt(t)) for t in texts)
    return DnsAnswer(qname, "TXT", "test", rcode=None if error else rcode, error=error, answer=records)


def timeout(qname: str) -> DnsAnswer:
    return ans(qname, error="no answer in 3.0 s (timeout)")


def survey(
    selectors: dict[str, DnsAnswer | str | tuple[str, ...]], node: DnsAnswer | None = None
) -> DkimSurvey:
    """A DkimSurvey: each selector's answer, or its TXT record(s)."""
    out = []
    for sel, value in selectors.items():
        name = f"{sel}._domainkey.{D}"
        if isinstance(value, DnsAnswer):
            out.append((sel, value))
        elif isinstance(value, str):
            out.append((sel, ans(name, value)))
        else:
            out.append((sel, ans(name, *value)))
    return DkimSurvey(D, node or ans(f"_domainkey.{D}"), tuple(out))


def domain(rcode: str = "NOERROR", error: str | None = None) -> DomainDns:
    soa = DnsAnswer(
        D, "SOA", "test", rcode=None if error else rcode, error=error,
        answer=(Record(D, 3600, "SOA", "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300"),)
        if rcode == "NOERROR" else (),
    )  # fmt: skip
    empty = DnsAnswer(D, "NS", "test", rcode="NOERROR")
    return DomainDns(D, soa=soa, ns=empty, mx=empty, a=empty, aaaa=empty, txt=empty, zone=D)


DNS = domain()


def rsa_record(bits: int = 2048, extra: str = "") -> str:
    return f"v=DKIM1; k=rsa;{extra} p={rsa_p(bits)}"


def ed_record(extra: str = "") -> str:
    return f"v=DKIM1; k=ed25519;{extra} p={ed_p()}"


GOOD = survey({"s1": rsa_record()})


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


PER_SELECTOR = [
    checks.test_dkim_selector_present,
    checks.test_dkim_selector_single,
    checks.test_dkim_key_syntax,
    checks.test_dkim_key_revoked,
    checks.test_dkim_key_rsa_min,
    checks.test_dkim_key_rsa_recommended,
    checks.test_dkim_key_no_sha1,
    checks.test_dkim_key_testing,
]


# ------------------------------------------------------------------------------------ preconditions
@pytest.mark.parametrize("run", PER_SELECTOR, ids=lambda f: f.__name__)
def test_a_good_rsa_key_passes_every_selector_check(run: Callable[..., None]) -> None:
    passes(run, DNS, "s1", GOOD)
    assert any("s1._domainkey.example.com" in e for e in current().evidence)


@pytest.mark.parametrize("run", PER_SELECTOR, ids=lambda f: f.__name__)
def test_a_selector_lookup_that_timed_out_is_could_not_test(run: Callable[..., None]) -> None:
    s = survey({"s1": timeout(f"s1._domainkey.{D}")})
    with pytest.raises(Indeterminate, match=r"could not test: .*timeout"):
        run(DNS, "s1", s)


@pytest.mark.parametrize("run", [*PER_SELECTOR, checks.test_dkim_key_ed25519], ids=lambda f: f.__name__)
def test_a_domain_that_does_not_exist_skips(run: Callable[..., None]) -> None:
    with pytest.raises(SKIP, match="does not exist"):
        run(domain("NXDOMAIN"), "s1", GOOD)
    with pytest.raises(Indeterminate):
        run(domain(error="timeout (timeout)"), "s1", GOOD)


def test_a_selector_that_was_not_asked_is_could_not_test() -> None:
    with pytest.raises(Indeterminate, match="not asked"):
        checks.test_dkim_selector_present(DNS, "s2", GOOD)


# ---------------------------------------------------------------------------------------- namespace
def test_namespace_noerror_passes_with_a_note() -> None:
    passes(checks.test_dkim_namespace, DNS, GOOD)
    assert any("NOERROR" in n for n in current().notes)


def test_namespace_nxdomain_warns() -> None:
    s = survey({}, ans(f"_domainkey.{D}", rcode="NXDOMAIN"))
    with pytest.raises(Finding, match=r"NXDOMAIN.*RFC 8020"):
        checks.test_dkim_namespace(DNS, s)


def test_namespace_nxdomain_above_a_published_key_says_the_server_is_wrong() -> None:
    s = survey({"s1": rsa_record()}, ans(f"_domainkey.{D}", rcode="NXDOMAIN"))
    with pytest.raises(Finding, match="does not follow RFC 8020"):
        checks.test_dkim_namespace(DNS, s)


def test_namespace_timeout_is_could_not_test() -> None:
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dkim_namespace(DNS, survey({}, timeout(f"_domainkey.{D}")))


# ---------------------------------------------------------------------------------------- selectors
@pytest.mark.parametrize("rcode", ["NXDOMAIN", "NOERROR"])
def test_a_missing_selector_fails(rcode: str) -> None:
    s = survey({"s1": ans(f"s1._domainkey.{D}", rcode=rcode)})
    with pytest.raises(VIOLATION, match=r"s1\._domainkey\.example\.com .*RFC 6376 §3\.6\.2\.1"):
        checks.test_dkim_selector_present(DNS, "s1", s)
    for run in PER_SELECTOR[1:]:
        with pytest.raises(SKIP, match=r"dkim\.selector\.present"):
            run(DNS, "s1", s)


def test_a_selector_reached_through_a_cname_passes() -> None:
    alias = f"s1._domainkey.{D}"
    target = "s1.dkim.provider.example"
    answer = DnsAnswer(
        alias, "TXT", "test", rcode="NOERROR",
        answer=(Record(alias, 300, "CNAME", target + "."), Record(target, 300, "TXT", txt(rsa_record()))),
    )  # fmt: skip
    s = survey({"s1": answer})
    passes(checks.test_dkim_selector_present, DNS, "s1", s)
    passes(checks.test_dkim_key_rsa_min, DNS, "s1", s)


def test_two_records_at_a_selector_fail_single() -> None:
    s = survey({"s1": (rsa_record(), rsa_record(1024))})
    passes(checks.test_dkim_selector_present, DNS, "s1", s)
    with pytest.raises(VIOLATION, match=r"2 TXT records.*RFC 6376 §3\.6\.2\.2"):
        checks.test_dkim_selector_single(DNS, "s1", s)
    with pytest.raises(SKIP, match=r"dkim\.selector\.single"):
        checks.test_dkim_key_syntax(DNS, "s1", s)


# ------------------------------------------------------------------------------------------- syntax
def test_a_long_key_split_into_strings_is_joined_without_spaces() -> None:
    s = survey({"s1": rsa_record(2048)})
    assert len(rsa_record(2048)) > 255  # (so that the record is two strings)
    passes(checks.test_dkim_key_syntax, DNS, "s1", s)
    assert any("RSA, 2048 bits" in n for n in current().notes)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ("v=DKIM2; p=" + "AAAA", "DKIM1"),
        ("k=rsa; v=DKIM1; p=AAAA", "first"),
        ("v=DKIM1; k=rsa", "no p= tag"),
        ("v=DKIM1; k=dsa; p=AAAA", "key types"),
        ("v=DKIM1; s=tlsrpt; p=AAAA", "not for email"),
        ("v=DKIM1; p=!!!!", "not base64"),
        ("v=DKIM1; p=AAAA", "no RSA public key"),
        ("v=DKIM1; k=ed25519; p=" + rsa_p(1024), "32 raw octets"),
    ],
    ids=["version", "v-not-first", "no-p", "key-type", "service", "base64", "not-rsa", "ed25519-spki"],
)
def test_a_malformed_key_fails_syntax_and_skips_the_key_checks(record: str, match: str) -> None:
    s = survey({"s1": record})
    with pytest.raises(pytest.fail.Exception, match=match) as info:
        checks.test_dkim_key_syntax(DNS, "s1", s)
    assert "RFC 6376" in str(info.value)
    for run in PER_SELECTOR[3:]:
        with pytest.raises(SKIP, match=r"dkim\.key\.syntax"):
            run(DNS, "s1", s)


# ------------------------------------------------------------------------------------------ revoked
def test_a_revoked_key_warns_and_skips_the_key_checks() -> None:
    s = survey({"s1": "v=DKIM1; k=rsa; p="})
    passes(checks.test_dkim_key_syntax, DNS, "s1", s)
    with pytest.raises(Finding, match=r"revoked.*RFC 6376 §3\.6\.1"):
        checks.test_dkim_key_revoked(DNS, "s1", s)
    for run in (checks.test_dkim_key_rsa_min, checks.test_dkim_key_no_sha1, checks.test_dkim_key_testing):
        with pytest.raises(SKIP, match=r"dkim\.key\.revoked"):
            run(DNS, "s1", s)


# ------------------------------------------------------------------------------------------ RSA size
def test_a_512_bit_key_fails_rsa_min_and_leaves_rsa_recommended_to_it() -> None:
    s = survey({"s1": rsa_record(512)})
    with pytest.raises(AssertionError, match=r"512 bits.*RFC 8301 §3\.2"):
        checks.test_dkim_key_rsa_min(DNS, "s1", s)
    with pytest.raises(SKIP, match=r"512 bits.*dkim\.key\.rsa-min"):
        checks.test_dkim_key_rsa_recommended(DNS, "s1", s)


def test_a_1024_bit_key_passes_rsa_min_and_warns_rsa_recommended() -> None:
    s = survey({"s1": rsa_record(1024)})
    passes(checks.test_dkim_key_rsa_min, DNS, "s1", s)
    with pytest.raises(Finding, match=r"1024 bits.*at least 2048.*RFC 8301 §3\.2"):
        checks.test_dkim_key_rsa_recommended(DNS, "s1", s)


def test_a_2048_bit_key_passes_both() -> None:
    passes(checks.test_dkim_key_rsa_min, DNS, "s1", GOOD)
    passes(checks.test_dkim_key_rsa_recommended, DNS, "s1", GOOD)


def test_a_key_over_4096_bits_warns() -> None:
    s = survey({"s1": rsa_record(8192)})
    passes(checks.test_dkim_key_rsa_min, DNS, "s1", s)
    with pytest.raises(Finding, match="up to 4096"):
        checks.test_dkim_key_rsa_recommended(DNS, "s1", s)


def test_the_rsa_checks_skip_an_ed25519_key() -> None:
    s = survey({"s1": ed_record()})
    for run in (checks.test_dkim_key_rsa_min, checks.test_dkim_key_rsa_recommended):
        with pytest.raises(SKIP, match="not RSA"):
            run(DNS, "s1", s)


# -------------------------------------------------------------------------------------- hash, flags
def test_h_sha1_alone_fails() -> None:
    s = survey({"s1": rsa_record(extra=" h=sha1;")})
    with pytest.raises(AssertionError, match=r"h=sha1.*RFC 8301 §3\.1"):
        checks.test_dkim_key_no_sha1(DNS, "s1", s)


@pytest.mark.parametrize("h", ["sha256", "sha1:sha256", "SHA256"])
def test_h_with_sha256_passes(h: str) -> None:
    passes(checks.test_dkim_key_no_sha1, DNS, "s1", survey({"s1": rsa_record(extra=f" h={h};")}))


@pytest.mark.parametrize("t", ["y", "y:s", "s:y"])
def test_testing_flag_warns(t: str) -> None:
    with pytest.raises(Finding, match=r"testing DKIM.*RFC 6376 §3\.6\.1"):
        checks.test_dkim_key_testing(DNS, "s1", survey({"s1": rsa_record(extra=f" t={t};")}))


def test_t_s_alone_passes() -> None:
    passes(checks.test_dkim_key_testing, DNS, "s1", survey({"s1": rsa_record(extra=" t=s;")}))


# ------------------------------------------------------------------------------------------ Ed25519
def test_ed25519_with_an_rsa_selector_passes() -> None:
    s = survey({"ed": ed_record(), "rsa": rsa_record()})
    passes(checks.test_dkim_key_ed25519, DNS, "ed", s)
    assert any("rsa (RSA, 2048 bits" in n for n in current().notes)


def test_ed25519_alone_warns() -> None:
    with pytest.raises(Finding, match=r"Ed25519.*RFC 8463"):
        checks.test_dkim_key_ed25519(DNS, "ed", survey({"ed": ed_record()}))


def test_ed25519_beside_a_revoked_rsa_selector_warns() -> None:
    s = survey({"ed": ed_record(), "old": "v=DKIM1; k=rsa; p="})
    with pytest.raises(Finding, match=r"other configured selectors, old, have no usable RSA key"):
        checks.test_dkim_key_ed25519(DNS, "ed", s)


def test_ed25519_beside_a_selector_that_timed_out_is_could_not_test() -> None:
    s = survey({"ed": ed_record(), "rsa": timeout(f"rsa._domainkey.{D}")})
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dkim_key_ed25519(DNS, "ed", s)


def test_ed25519_check_passes_an_rsa_key() -> None:
    passes(checks.test_dkim_key_ed25519, DNS, "s1", GOOD)
    assert any("about Ed25519 keys" in n for n in current().notes)


def test_an_ed25519_key_passes_the_other_key_checks() -> None:
    s = survey({"ed": ed_record(), "rsa": rsa_record()})
    for run in (checks.test_dkim_key_syntax, checks.test_dkim_key_no_sha1, checks.test_dkim_key_testing):
        passes(run, DNS, "ed", s)
