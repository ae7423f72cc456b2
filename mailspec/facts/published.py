"""What a domain publishes about TLS to one of its MX hosts, as a sender reads it (CATALOG.md §18.5).

Which certificate problems fail depends on what the domain publishes: with nothing published, TLS on
port 25 is opportunistic (RFC 7435) and a wrong name, an expired certificate or a broken chain is a
warning; an MTA-STS policy in ``enforce`` mode that covers the MX host makes them failures of a
``must`` (senders that apply the policy do not deliver to that host, RFC 8461 §4.2, §5).
:func:`published_tls` derives that from the survey's facts the way a sender does (RFC 8461 §3, §5):
one valid ``v=STSv1`` record at ``_mta-sts.<domain>``, a policy fetched with status 200 and parsed,
and the host matched against its ``mx`` patterns. Anything short of that is "no policy applies", as
it is for a sender with no cached policy; a lookup or fetch that got no answer says so in
:attr:`PublishedTls.why`, so that a verdict judged as "nothing published" shows it was not told.

DANE (TLSA records) is the other publication §18.5 names; it arrives with the DANE checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailspec.facts.auth import MtaStsSurvey
from mailspec.facts.mtasts import MtaStsFetch
from mailspec.records.mtasts import MtaStsError, parse_mtasts_policy, parse_mtasts_record

__all__ = ["PublishedTls", "published_tls"]


@dataclass(frozen=True)
class PublishedTls:
    """The TLS policy a sender applies to one MX host of a domain."""

    domain: str
    host: str
    #: the mode of the MTA-STS policy that covers :attr:`host` ("enforce", "testing" or "none"), or ""
    #: when no policy applies to it (none published, none usable, or the host not covered)
    mode: str = ""
    #: in words: which policy applies and how it was found, or why none does
    why: str = ""
    #: a lookup or the fetch got no answer: whether a policy applies could not be told
    unknown: bool = False

    @property
    def enforced(self) -> bool:
        """An MTA-STS policy in enforce mode covers the host: authenticated TLS is a must there."""
        return self.mode == "enforce"

    @property
    def authenticated(self) -> bool:
        """A policy in enforce or testing mode covers the host: senders authenticate its certificate
        (and, in testing mode, report the failures instead of refusing to deliver)."""
        return self.mode in ("enforce", "testing")

    def evidence(self) -> list[str]:
        return [f";; TLS policy for {self.host}: {self.why}"] if self.why else []


def published_tls(
    domain: str, host: str, survey: MtaStsSurvey, fetch: Callable[[], MtaStsFetch | None]
) -> PublishedTls:
    """The policy a sender applies to the MX host ``host`` of ``domain``: from the domain's MTA-STS
    facts (``survey``) and, only when a valid record is published, the policy fetch (``fetch()``,
    None when the run may not fetch it)."""

    def none(why: str, *, unknown: bool = False) -> PublishedTls:
        return PublishedTls(domain, host, "", why, unknown)

    if not survey.txt.definite:
        return none(
            f"the MTA-STS record could not be looked up ({survey.txt.problem}); judged as if nothing "
            "were published",
            unknown=True,
        )
    records = survey.sts_records
    if not records:
        return none(f"no MTA-STS record at _mta-sts.{domain}: opportunistic TLS (RFC 7435)")
    if len(records) > 1:
        return none(
            f"{len(records)} MTA-STS records at _mta-sts.{domain}: senders assume no policy (RFC 8461 §3.1)"
        )
    try:
        parse_mtasts_record(records[0])
    except MtaStsError as exc:
        return none(f"the MTA-STS record is invalid ({exc}): senders assume no policy (RFC 8461 §3.1)")
    if survey.host_a.definite and survey.host_aaaa.definite and not survey.host_ips:
        return none(
            f"the policy host mta-sts.{domain} has no address: senders find no policy (see "
            "mtasts.policy.fetch)"
        )
    got = fetch()
    if got is None:
        return none(
            "the MTA-STS policy was not fetched (it needs --mail-probe=connect or above); judged as "
            "if nothing were published",
            unknown=True,
        )
    if not got.definite:
        return none(
            f"the MTA-STS policy could not be fetched ({got.problem}); judged as if nothing were published",
            unknown=True,
        )
    if got.failure or got.status != 200 or got.too_large or not got.body_utf8:
        return none(
            f"no MTA-STS policy could be read from {got.url} (see mtasts.policy.fetch): senders apply none"
        )
    try:
        policy = parse_mtasts_policy(got.body)
    except MtaStsError as exc:
        return none(f"the MTA-STS policy at {got.url} is invalid ({exc}): senders apply none")
    if policy.mode == "none":
        return PublishedTls(domain, host, "none", f"the MTA-STS policy of {domain} has mode none")
    patterns = policy.matching_patterns(host)
    if not patterns:
        return none(
            f"the MTA-STS policy of {domain} (mode {policy.mode}) does not cover {host} (see "
            "mtasts.mx-coverage)"
        )
    return PublishedTls(
        domain,
        host,
        policy.mode,
        f"the MTA-STS policy of {domain} (mode {policy.mode}, {got.url}) covers {host} (mx: "
        f"{', '.join(patterns)})",
    )
