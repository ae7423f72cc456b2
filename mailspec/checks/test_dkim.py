"""DKIM key records, per configured selector (`pytest --mail-checks` lists every check).

Selectors cannot be discovered (RFC 6376 §3.1): the key checks run once per ``--mail-dkim-selector``
and skip, saying how to name one, when none is configured. The key record is the TXT record at
``<selector>._domainkey.<domain>`` (a CNAME followed by the resolver), its strings joined with nothing
between (RFC 6376 §3.6.2.2), parsed by :mod:`mailspec.records.dkim`. A lookup that did not answer is
"could not test", never "no key".
"""

from __future__ import annotations

import pytest

from mailspec.catalog import check
from mailspec.checks.common import existing
from mailspec.errors import Indeterminate
from mailspec.facts import DomainDns
from mailspec.facts.auth import DkimSurvey
from mailspec.facts.dns import DnsAnswer, need
from mailspec.outcome import evidence, note, warn
from mailspec.records.dkim import DkimKey, DkimKeyError, parse_dkim_key
from mailspec.records.txt import txt_value

__all__ = [
    "test_dkim_key_ed25519",
    "test_dkim_key_no_sha1",
    "test_dkim_key_revoked",
    "test_dkim_key_rsa_min",
    "test_dkim_key_rsa_recommended",
    "test_dkim_key_syntax",
    "test_dkim_key_testing",
    "test_dkim_namespace",
    "test_dkim_selector_present",
    "test_dkim_selector_single",
]

#: RFC 8301 §3.2: signers MUST use at least 1024 bits, SHOULD use at least 2048; verifiers need
#: support no more than 4096
RSA_MIN_BITS = 1024
RSA_RECOMMENDED_BITS = 2048
RSA_MAX_VERIFIED_BITS = 4096


# ------------------------------------------------------------------------------------------ helpers
def _name(survey: DkimSurvey, selector: str) -> str:
    return f"{selector}._domainkey.{survey.domain}"


def _answer(survey: DkimSurvey, selector: str) -> DnsAnswer:
    """The selector's TXT answer; could not test when it was not asked or did not answer."""
    answer = survey.selector(selector)
    if answer is None:
        raise Indeterminate(f"could not test: {_name(survey, selector)} TXT was not asked")
    evidence(answer)
    need(answer)
    return answer


def _texts(answer: DnsAnswer) -> list[str]:
    return [txt_value(r.data) for r in answer.records]


def _record(survey: DkimSurvey, selector: str) -> str:
    """The selector's one TXT record; skip when there is none or several (the selector checks judge)."""
    texts = _texts(_answer(survey, selector))
    if not texts:
        pytest.skip(f"{_name(survey, selector)} has no TXT record (see dkim.selector.present)")
    if len(texts) > 1:
        pytest.skip(
            f"{_name(survey, selector)} has {len(texts)} TXT records, so which key applies is undefined "
            "(see dkim.selector.single)"
        )
    return texts[0]


def _key(survey: DkimSurvey, selector: str) -> DkimKey:
    """The selector's key; skip when it does not parse (dkim.key.syntax reports why)."""
    text = _record(survey, selector)
    try:
        return parse_dkim_key(text)
    except DkimKeyError as exc:
        pytest.skip(f"the key record at {_name(survey, selector)} is not usable: {exc} (see dkim.key.syntax)")


def _live(survey: DkimSurvey, selector: str) -> DkimKey:
    """The selector's key, unless revoked (dkim.key.revoked reports that)."""
    key = _key(survey, selector)
    if key.revoked:
        pytest.skip(f"the key at {_name(survey, selector)} is revoked (empty p=; see dkim.key.revoked)")
    return key


def _describe(key: DkimKey) -> str:
    if key.revoked:
        return "revoked (empty p=)"
    if key.key_type == "rsa":
        return f"RSA, {key.rsa_bits} bits ({key.key_format})"
    return "Ed25519"


# ---------------------------------------------------------------------------------------- the node
@check(
    "dkim.namespace",
    refs=["RFC 8020 §2, §5", "RFC 6376 §3.6.2.1"],
    fix="Make sure _domainkey.<domain> is an empty non-terminal (NOERROR) wherever keys are published "
    "below it; a name server that answers NXDOMAIN there does not follow RFC 8020.",
)
def test_dkim_namespace(dns_facts: DomainDns, dkim_survey: DkimSurvey) -> None:
    """The domain's _domainkey name exists, so DKIM keys can exist below it.

    ``_domainkey.<domain>`` NXDOMAIN says that no name exists below it (RFC 8020 §2), so no DKIM key
    can be published: a warning (some name servers answer NXDOMAIN for empty non-terminals, against
    RFC 8020, and resolvers that trust the cut then miss the keys). NOERROR passes with a note.
    """
    existing(dns_facts)
    node = dkim_survey.namespace
    evidence(node)
    need(node)
    name = f"_domainkey.{dkim_survey.domain}"
    if not node.nxdomain:
        note(f"{name} exists (NOERROR): DKIM keys may be published below it")
        return
    found = [s for s, a in dkim_survey.selectors if a.definite and a.records]
    also = (
        f" Yet the selector(s) {', '.join(found)} answer below it: the name server does not follow "
        "RFC 8020, and resolvers that trust the NXDOMAIN cut (RFC 8020 §2) will not find those keys."
        if found
        else ""
    )
    warn(
        f"{name} does not exist (NXDOMAIN): no name below it can exist (RFC 8020 §2), so no DKIM key "
        f"can be published for {dkim_survey.domain} (RFC 6376 §3.6.2.1).{also} If the domain signs "
        "with DKIM, publish its key records at <selector>._domainkey and make sure the name server "
        "answers NOERROR for the empty non-terminal."
    )


# ---------------------------------------------------------------------------------------- selectors
@check(
    "dkim.selector.present",
    refs=["RFC 6376 §3.6.2.1"],
    fix="Publish the selector's key record: TXT at <selector>._domainkey.<domain> (v=DKIM1; k=...; p=...).",
)
def test_dkim_selector_present(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """Each configured DKIM selector publishes a key record.

    The TXT record at ``<selector>._domainkey.<domain>`` (a CNAME followed) must exist: verifiers of
    mail signed with the selector find no key otherwise, and the signature fails (RFC 6376 §3.6.2.1).
    """
    existing(dns_facts)
    answer = _answer(dkim_survey, dkim_selector)
    name = _name(dkim_survey, dkim_selector)
    state = "does not exist (NXDOMAIN)" if answer.nxdomain else "has no TXT record"
    assert answer.records, (
        f"{name} {state}: verifiers of mail signed with the selector {dkim_selector} find no key, "
        "and the signature fails (RFC 6376 §3.6.2.1, §6.1.2). Publish the selector's key record as TXT "
        f"at {name}, or remove {dkim_selector} from --mail-dkim-selector if it is no longer used."
    )


@check(
    "dkim.selector.single",
    refs=['RFC 6376 §3.6.2.2 ("TXT RRs MUST be unique for a particular selector name")'],
    fix="Keep one TXT record at the selector name; publish a new key under a new selector.",
)
def test_dkim_selector_single(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """Each DKIM selector name has exactly one TXT record.

    Several TXT records at one selector name make the verification result undefined (RFC 6376
    §3.6.2.2): a verifier may pick either. A selector without a record is dkim.selector.present's.
    """
    existing(dns_facts)
    texts = _texts(_answer(dkim_survey, dkim_selector))
    name = _name(dkim_survey, dkim_selector)
    if not texts:
        pytest.skip(f"{name} has no TXT record (see dkim.selector.present)")
    assert len(texts) == 1, (
        f"{name} has {len(texts)} TXT records; TXT records MUST be unique for a selector name, and "
        "with several the verification results are undefined (RFC 6376 §3.6.2.2). Keep one record "
        "at the selector; to rotate keys, publish the new key under a new selector."
    )


# ------------------------------------------------------------------------------------------- keys
@check(
    "dkim.key.syntax",
    refs=["RFC 6376 §3.2, §3.6.1, §3.6.2.2", "RFC 8463 §4.2"],
    fix="Publish the key record as 'v=DKIM1; k=rsa; p=<base64 of the public key>' (or k=ed25519 with "
    "the 32 raw key octets), as the signing software prints it.",
)
def test_dkim_key_syntax(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """The DKIM key record is syntactically valid.

    The TXT strings joined with nothing between; a tag-list without duplicates; ``v=``, if present,
    first and ``DKIM1``; ``p=`` present; ``k`` rsa or ed25519; ``s`` containing email or ``*``; ``p``
    the base64 of an RSA key (SubjectPublicKeyInfo or RSAPublicKey) or of 32 raw Ed25519 octets. An
    empty ``p=`` (a revoked key) is well formed (see dkim.key.revoked).
    """
    existing(dns_facts)
    text = _record(dkim_survey, dkim_selector)
    name = _name(dkim_survey, dkim_selector)
    try:
        key = parse_dkim_key(text)
    except DkimKeyError as exc:
        pytest.fail(
            f"the key record at {name} cannot be used by a verifier: {exc}. Mail signed with the selector "
            f"{dkim_selector} fails verification (RFC 6376 §3.6.1, §6.1.2). Publish the record as the "
            "signing software prints it: 'v=DKIM1; k=rsa; p=<base64 public key>' (or k=ed25519 with the "
            "32 raw key octets, RFC 8463 §4.2)."
        )
    note(f"{name}: {_describe(key)}")


@check(
    "dkim.key.revoked",
    refs=["RFC 6376 §3.6.1 (an empty p= means the key has been revoked)"],
    fix="Sign with a selector whose key is published, and drop the revoked selector from the "
    "signer's configuration (and from --mail-dkim-selector).",
)
def test_dkim_key_revoked(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """The DKIM key is not revoked (empty p=).

    An empty ``p=`` says the key has been revoked (RFC 6376 §3.6.1): every signature made with it
    fails. A warning: revoking a retired selector is good practice, signing with one is not.
    """
    existing(dns_facts)
    key = _key(dkim_survey, dkim_selector)
    if key.revoked:
        warn(
            f"the key at {_name(dkim_survey, dkim_selector)} is revoked (p= is empty): signatures "
            f"made with the selector {dkim_selector} fail (RFC 6376 §3.6.1). If mail is still signed "
            "with it, publish the key again or move the signer to a selector with a published key; if "
            "the selector is retired, stop checking it."
        )


@check(
    "dkim.key.rsa-min",
    refs=['RFC 8301 §3.2 ("Signers MUST use RSA keys of at least 1024 bits")'],
    fix="Generate a new RSA key of 2048 bits, publish it under a new selector and sign with it.",
)
def test_dkim_key_rsa_min(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """The DKIM RSA key has at least 1024 bits.

    RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits, and verifiers MUST NOT accept
    signatures made with shorter ones. An Ed25519 key is not concerned (skipped).
    """
    existing(dns_facts)
    key = _live(dkim_survey, dkim_selector)
    name = _name(dkim_survey, dkim_selector)
    if key.key_type != "rsa" or key.rsa_bits is None:
        pytest.skip(f"the key at {name} is {_describe(key)}, not RSA")
    assert key.rsa_bits >= RSA_MIN_BITS, (
        f"the RSA key at {name} has {key.rsa_bits} bits; signers MUST use at least {RSA_MIN_BITS} and "
        "verifiers MUST NOT accept signatures made with shorter keys (RFC 8301 §3.2), so mail signed "
        f"with {dkim_selector} counts as unsigned. Generate a 2048-bit key, publish it under a new "
        "selector and sign with it."
    )


@check(
    "dkim.key.rsa-recommended",
    refs=['RFC 8301 §3.2 ("Signers SHOULD use RSA keys of at least 2048 bits"; verifiers 1024–4096)'],
    fix="Generate a new RSA key of 2048 bits (at most 4096), publish it under a new selector and sign "
    "with it.",
)
def test_dkim_key_rsa_recommended(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """The DKIM RSA key has 2048 to 4096 bits.

    1024 to 2047 bits warns (RFC 8301 §3.2: signers SHOULD use at least 2048); more than 4096 warns
    too, as verifiers need only support keys up to 4096 bits. Under 1024 bits is dkim.key.rsa-min's
    failure (skipped here), and an Ed25519 key is not concerned (skipped).
    """
    existing(dns_facts)
    key = _live(dkim_survey, dkim_selector)
    name = _name(dkim_survey, dkim_selector)
    if key.key_type != "rsa" or key.rsa_bits is None:
        pytest.skip(f"the key at {name} is {_describe(key)}, not RSA")
    bits = key.rsa_bits
    if bits < RSA_MIN_BITS:
        pytest.skip(f"the RSA key at {name} has {bits} bits, under the minimum (see dkim.key.rsa-min)")
    if bits < RSA_RECOMMENDED_BITS:
        warn(
            f"the RSA key at {name} has {bits} bits; signers SHOULD use keys of at least "
            f"{RSA_RECOMMENDED_BITS} bits (RFC 8301 §3.2). Generate a 2048-bit key, publish it under a "
            "new selector and sign with it."
        )
    if bits > RSA_MAX_VERIFIED_BITS:
        warn(
            f"the RSA key at {name} has {bits} bits; verifiers need only support keys of up to "
            f"{RSA_MAX_VERIFIED_BITS} bits (RFC 8301 §3.2), so some may fail its signatures. Use a "
            "2048-bit (up to 4096-bit) key under a new selector."
        )
    note(f"{name}: RSA, {bits} bits")


@check(
    "dkim.key.no-sha1",
    refs=['RFC 8301 §3.1 ("rsa-sha1 MUST NOT be used for signing or verifying")'],
    fix="Remove h=sha1 from the key record (or write h=sha256) and sign with rsa-sha256.",
)
def test_dkim_key_no_sha1(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """The DKIM key does not restrict signing to SHA-1.

    A key record with ``h=sha1`` alone allows only rsa-sha1 signatures, which MUST NOT be used for
    signing or verifying (RFC 8301 §3.1): every signature with the key fails. No ``h=`` (every
    algorithm) or one that lists sha256 passes.
    """
    existing(dns_facts)
    key = _live(dkim_survey, dkim_selector)
    name = _name(dkim_survey, dkim_selector)
    if key.hash_algorithms is not None:
        evidence(f"{name}: h={':'.join(key.hash_algorithms)}")
    assert not key.sha1_only, (
        f"the key record at {name} has h=sha1: it allows only SHA-1 signatures, and rsa-sha1 MUST NOT be "
        "used for signing or verifying (RFC 8301 §3.1), so verifiers reject every signature made with "
        f"{dkim_selector}. Remove the h= tag (or write h=sha256) and sign with rsa-sha256."
    )


@check(
    "dkim.key.testing",
    refs=["RFC 6376 §3.6.1 (t=y: verifiers MUST NOT treat messages differently from unsigned ones)"],
    fix="Remove the y flag from t= (or the t= tag) once the DKIM deployment works.",
)
def test_dkim_key_testing(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """The DKIM key is not in testing mode (t=y).

    With ``t=y`` the domain says it is testing DKIM: verifiers treat its signed mail as unsigned
    (RFC 6376 §3.6.1), so the signatures protect nothing. A warning.
    """
    existing(dns_facts)
    key = _live(dkim_survey, dkim_selector)
    if key.testing:
        warn(
            f"the key record at {_name(dkim_survey, dkim_selector)} has t={':'.join(key.flags)}: the y "
            "flag says the domain is testing DKIM, and verifiers MUST NOT treat its signed mail "
            "differently from unsigned mail (RFC 6376 §3.6.1). Once signing works, remove the y flag."
        )


@check(
    "dkim.key.ed25519",
    refs=["RFC 8463 §5, §6", "RFC 6376 §4.2 (several signatures)"],
    fix="Sign with an RSA key too (a second selector, 2048 bits) until Ed25519 verification is universal.",
)
def test_dkim_key_ed25519(dns_facts: DomainDns, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """An Ed25519 DKIM key is paired with an RSA selector.

    Verifiers that do not yet implement Ed25519 (RFC 8463 §5 says they MUST) see a message signed only
    with it as unsigned: during the transition a domain signs twice, with an Ed25519 and an RSA
    selector (RFC 8463 §6). An Ed25519 selector without a usable RSA selector among the configured
    ones warns. An RSA key passes (the rule concerns Ed25519 keys).
    """
    existing(dns_facts)
    key = _live(dkim_survey, dkim_selector)
    name = _name(dkim_survey, dkim_selector)
    if key.key_type != "ed25519":
        note(f"the key at {name} is {_describe(key)}: the pairing rule is about Ed25519 keys")
        return
    rsa: list[str] = []
    others: list[str] = []
    for selector, answer in dkim_survey.selectors:
        if selector == dkim_selector:
            continue
        evidence(answer)
        need(answer)
        texts = _texts(answer)
        try:
            other = parse_dkim_key(texts[0]) if len(texts) == 1 else None
        except DkimKeyError:
            other = None
        if other is not None and other.key_type == "rsa" and not other.revoked:
            rsa.append(f"{selector} ({_describe(other)})")
        else:
            others.append(selector)
    if rsa:
        note(f"{name} is Ed25519; the RSA selector(s) {', '.join(rsa)} sign beside it")
        return
    considered = (
        f" (the other configured selectors, {', '.join(others)}, have no usable RSA key)" if others else ""
    )
    warn(
        f"the key at {name} is Ed25519, and no configured selector of {dkim_survey.domain} has an RSA "
        f"key{considered}: verifiers that do not implement Ed25519 yet see mail signed with it alone as "
        "unsigned (RFC 8463 §5, §6). Sign with an RSA key as well, under a second selector (and name it "
        "with --mail-dkim-selector if it exists already)."
    )
