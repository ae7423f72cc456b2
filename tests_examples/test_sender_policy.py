"""Your own sender-authentication policy, on the public fixtures, a few lines a rule.

The shipped SPF, DKIM, DMARC and MTA-STS checks judge what the RFCs ask; a policy of yours is
stricter ("every domain we own has p=reject"). Each rule below reads facts the survey already has
(``dmarc_record``, ``spf_tree``, ``dkim_selector`` and ``dkim_survey``, ``mtasts_survey`` and
``mtasts_policy``: no DNS or HTTPS traffic of its own) and is reported like a shipped check: its id,
severity, message and evidence are in the terminal, JUnit and the JSON report, it follows
``--mail-fail-on`` and it can be waived by its id. A fact that could not be fetched (a timeout,
SERVFAIL) makes the rule "could not test", never a failure.

    pytest tests_examples/test_sender_policy.py --mail-domain=example.com --mail-dkim-selector=s1
"""

from __future__ import annotations

import pytest

from mailspec import Indeterminate, check, evidence
from mailspec.facts import need
from mailspec.facts.auth import DkimSurvey, DmarcFound, MtaStsSurvey
from mailspec.facts.mtasts import MtaStsFetch
from mailspec.facts.spf import SpfTree
from mailspec.records.dkim import DkimKeyError, parse_dkim_key
from mailspec.records.mtasts import MtaStsError, mtasts_records, parse_mtasts_policy
from mailspec.records.txt import txt_value

#: ACME mail policy §5: the smallest DKIM key we sign with
MIN_DKIM_BITS = 2048


def known(fact: SpfTree | MtaStsSurvey | MtaStsFetch) -> None:
    """A fact the survey could not fetch (a timeout, SERVFAIL) makes the rule "could not test"."""
    if not fact.definite:
        raise Indeterminate(f"could not test: {fact.problem}")


@check("acme.dmarc.reject", severity="must", refs=["ACME mail policy §5.1"], fix="Set p=reject.")
def test_acme_dmarc_reject(mail_domain: str, dmarc_record: DmarcFound) -> None:
    """Every domain we own publishes DMARC p=reject."""
    evidence(dmarc_record)
    policy = dmarc_record.record.p if dmarc_record.record is not None else None
    assert policy == "reject", (
        f"{mail_domain}: DMARC p={policy or '(no record applies)'} at {dmarc_record.name}, expected "
        "p=reject (ACME mail policy §5.1)"
    )


@check("acme.spf.strict", severity="must", refs=["ACME mail policy §5.2"], fix="End SPF in -all.")
def test_acme_spf_strict(mail_domain: str, spf_tree: SpfTree) -> None:
    """Our SPF record ends in -all and stays within 10 DNS lookups."""
    known(spf_tree)
    evidence(spf_tree)
    root = spf_tree.root
    assert root.state == "record", f"{mail_domain}: no usable SPF record ({root.state}: {root.problem})"
    assert root.record.split()[-1:] == ["-all"], f"{mail_domain}: SPF {root.record!r} does not end in -all"
    assert spf_tree.total <= 10, f"{mail_domain}: SPF takes {spf_tree.total} DNS lookups, expected 10 at most"


@check("acme.dkim.2048", severity="must", refs=["ACME mail policy §5.3"], fix="Publish a 2048-bit key.")
def test_acme_dkim_2048(mail_domain: str, dkim_selector: str, dkim_survey: DkimSurvey) -> None:
    """Each of our DKIM selectors publishes an RSA key of 2048 bits or more."""
    name = f"{dkim_selector}._domainkey.{mail_domain}"
    answer = dkim_survey.selector(dkim_selector)
    assert answer is not None, f"{name}: not asked"
    need(answer)
    evidence(answer)
    assert answer.records, f"{name}: no key record"
    try:
        key = parse_dkim_key(txt_value(answer.records[0].data))
    except DkimKeyError as exc:
        pytest.fail(f"{name}: the key record is not usable: {exc}")
    bits = key.rsa_bits or 0  # (0: an Ed25519 or a revoked key)
    assert bits >= MIN_DKIM_BITS, (
        f"{name}: k={key.key_type}, {bits} bits; expected RSA, {MIN_DKIM_BITS} bits or more"
    )


@check("acme.mtasts.enforce", severity="should", refs=["ACME mail policy §5.4"], fix="Set mode: enforce.")
def test_acme_mtasts_enforce(
    mail_domain: str, mtasts_survey: MtaStsSurvey, mtasts_policy: MtaStsFetch
) -> None:
    """We publish MTA-STS, in enforce mode."""
    known(mtasts_survey)
    published = mtasts_records(txt_value(r.data) for r in mtasts_survey.txt.records)
    assert published, f"{mail_domain}: no MTA-STS record at _mta-sts.{mail_domain}"
    known(mtasts_policy)
    evidence(mtasts_policy)
    got = mtasts_policy.status or mtasts_policy.error
    assert mtasts_policy.ok, f"{mail_domain}: no MTA-STS policy at {mtasts_policy.url} ({got})"
    try:
        mode = parse_mtasts_policy(mtasts_policy.body).mode
    except MtaStsError as exc:
        pytest.fail(f"{mail_domain}: the MTA-STS policy does not parse: {exc}")
    assert mode == "enforce", f"{mail_domain}: MTA-STS mode {mode!r}, expected 'enforce'"
