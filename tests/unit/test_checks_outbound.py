"""The outbound-identity checks (mailspec/checks/test_outbound.py) on hand-built facts: reverse DNS,
HELO names, dynamic-address heuristics, DNS blocklists and IDENT."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailspec.checks import test_outbound as checks
from mailspec.errors import Indeterminate
from mailspec.facts.dns import DnsAnswer, Record
from mailspec.facts.smtp import DnsblListing, DnsblZone, HostAddresses, IdentProbe, OutboundIp, ReverseDns
from mailspec.outcome import Finding, current, reset
from mailspec.settings import Settings

D = "example.com"
IP = "192.0.2.10"
IP6 = "2001:db8::10"
REV = "10.2.0.192.in-addr.arpa"
GIVEN = OutboundIp(D, IP)
ASSUMED = OutboundIp(D, IP, "mx1.example.com", assumed=True)
VIOLATION = (AssertionError, pytest.fail.Exception)
NO_HELO = Settings()  # the HELO names are assumed (the MX's banner and EHLO names)
HELO_GIVEN = Settings(helo_names=("mail.example.com",))


def ans(
    qname: str, rdtype: str, *answer: Record, rcode: str = "NOERROR", error: str | None = None
) -> DnsAnswer:
    return DnsAnswer(qname, rdtype, "test", rcode=None if error else rcode, error=error, answer=answer)


def servfail(qname: str, rdtype: str) -> DnsAnswer:
    return ans(qname, rdtype, rcode="SERVFAIL")


def host(name: str, *ips: str, cname: str = "", rcode: str = "NOERROR") -> HostAddresses:
    """A name's A and AAAA answers: ``ips`` (through the alias ``cname`` when given)."""
    owner = cname or name
    alias = (Record(name, 300, "CNAME", cname + "."),) if cname else ()
    v4 = tuple(Record(owner, 300, "A", i) for i in ips if ":" not in i)
    v6 = tuple(Record(owner, 300, "AAAA", i) for i in ips if ":" in i)
    return HostAddresses(
        name, ans(name, "A", *alias, *v4, rcode=rcode), ans(name, "AAAA", *alias, *v6, rcode=rcode)
    )


def rdns(
    *names: str, forward: tuple[HostAddresses, ...] | None = None, rcode: str = "NOERROR", ip: str = IP
) -> ReverseDns:
    qname = REV if ip == IP else "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    ptr = ans(qname, "PTR", *(Record(qname, 300, "PTR", n + ".") for n in names), rcode=rcode)
    if forward is None:
        forward = tuple(host(n, ip) for n in names)
    return ReverseDns(ip, ptr, forward)


GOOD = rdns("mail.example.com")
HELO = [("mail.example.com", host("mail.example.com", IP))]


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


# ------------------------------------------------------------------------------------ reverse DNS
def test_a_ptr_record_passes() -> None:
    passes(checks.test_rdns_ptr_exists, GIVEN, GOOD)
    assert any("PTR mail.example.com." in e for e in current().evidence)


@pytest.mark.parametrize(("rcode", "state"), [("NXDOMAIN", "does not exist"), ("NOERROR", "has no PTR")])
def test_no_ptr_fails_and_says_the_address_is_assumed(rcode: str, state: str) -> None:
    with pytest.raises(AssertionError, match=state) as info:
        checks.test_rdns_ptr_exists(ASSUMED, rdns(rcode=rcode))
    message = str(info.value)
    assert "192.0.2.10 (assumed: the address of MX mx1.example.com)" in message
    assert "RFC 1912 §2.1" in message
    assert "Google sender guidelines" in message


def test_a_failed_ptr_question_is_indeterminate() -> None:
    r = ReverseDns(IP, servfail(REV, "PTR"))
    for run in (checks.test_rdns_ptr_exists, checks.test_rdns_fcrdns, checks.test_rdns_single_ptr):
        with pytest.raises(Indeterminate, match="SERVFAIL"):
            run(GIVEN, r)


def test_fcrdns_passes_when_one_name_maps_back() -> None:
    r = rdns(
        "a.example.com",
        "mail.example.com",
        forward=(host("a.example.com", "192.0.2.99"), host("mail.example.com", IP)),
    )
    passes(checks.test_rdns_fcrdns, GIVEN, r)


def test_fcrdns_fails_when_no_name_maps_back() -> None:
    r = rdns("mail.example.com", forward=(host("mail.example.com", "192.0.2.99"),))
    with pytest.raises(
        pytest.fail.Exception, match=r"mail\.example\.com has A 192\.0\.2\.99.*RFC 1912 §2\.1"
    ):
        checks.test_rdns_fcrdns(GIVEN, r)


def test_fcrdns_compares_within_the_address_family() -> None:
    name = "mail.example.com"
    passes(checks.test_rdns_fcrdns, OutboundIp(D, IP6), rdns(name, ip=IP6, forward=(host(name, IP6),)))
    with pytest.raises(pytest.fail.Exception, match="has AAAA none"):
        checks.test_rdns_fcrdns(OutboundIp(D, IP6), rdns(name, ip=IP6, forward=(host(name, IP),)))


def test_fcrdns_undecided_forward_lookup_is_indeterminate() -> None:
    name = "mail.example.com"
    forward = HostAddresses(name, servfail(name, "A"), ans(name, "AAAA"))
    with pytest.raises(Indeterminate, match="SERVFAIL"):
        checks.test_rdns_fcrdns(GIVEN, rdns(name, forward=(forward,)))


def test_fcrdns_skips_without_ptr() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"rdns\.ptr-exists"):
        checks.test_rdns_fcrdns(GIVEN, rdns(rcode="NXDOMAIN"))


def test_a_ptr_target_with_its_own_address_passes() -> None:
    passes(checks.test_rdns_ptr_target_not_cname, GIVEN, GOOD)


def test_a_ptr_target_that_is_an_alias_fails() -> None:
    r = rdns("mail.example.com", forward=(host("mail.example.com", IP, cname="real.example.net"),))
    with pytest.raises(
        pytest.fail.Exception, match=r"CNAME for real\.example\.net.*Point the PTR at real\.example\.net"
    ):
        checks.test_rdns_ptr_target_not_cname(GIVEN, r)


def test_a_ptr_target_without_address_fails() -> None:
    r = rdns("gone.example.com", forward=(host("gone.example.com", rcode="NXDOMAIN"),))
    with pytest.raises(AssertionError, match="has no A or AAAA record"):
        checks.test_rdns_ptr_target_not_cname(GIVEN, r)


def test_a_ptr_target_lookup_that_failed_is_indeterminate() -> None:
    name = "mail.example.com"
    r = rdns(name, forward=(HostAddresses(name, servfail(name, "A"), ans(name, "AAAA")),))
    with pytest.raises(Indeterminate):
        checks.test_rdns_ptr_target_not_cname(GIVEN, r)
    with pytest.raises(pytest.skip.Exception):
        checks.test_rdns_ptr_target_not_cname(GIVEN, rdns())


def test_one_ptr_passes_and_two_warn() -> None:
    passes(
        checks.test_rdns_single_ptr, GIVEN, rdns("mail.example.com", "MAIL.example.com")
    )  # one name, twice
    with pytest.raises(Finding, match="2 PTR records"):
        checks.test_rdns_single_ptr(GIVEN, rdns("a.example.com", "b.example.com"))
    with pytest.raises(pytest.skip.Exception):
        checks.test_rdns_single_ptr(GIVEN, rdns())


# ---------------------------------------------------------------------------------------- HELO name
def test_a_fully_qualified_helo_name_passes() -> None:
    passes(checks.test_helo_fqdn, GIVEN, HELO, GOOD, HELO_GIVEN)
    passes(checks.test_helo_fqdn, GIVEN, [("mail.example.com.", HELO[0][1])], GOOD, HELO_GIVEN)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("mail", "single label"),
        (".", "empty"),
        ("localhost", "localhost"),
        ("localhost.localdomain", "localhost"),
        ("192.0.2.10", "without brackets"),
        ("mail!.example.com", "not letters, digits"),
        ("mail.example.123", "all-numeric"),
        ("[192.0.2.300]", "not a valid address literal"),
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com", "octets long"),
    ],
)
def test_helo_names_that_are_not_fqdns_fail(name: str, match: str) -> None:
    with pytest.raises(AssertionError, match=match) as info:
        checks.test_helo_fqdn(GIVEN, [(name, host(name))], GOOD, HELO_GIVEN)
    assert "RFC 5321 §2.3.5" in str(info.value)
    # a name only assumed (read off the MX's banner: often an internal name behind a load balancer)
    with pytest.raises(Finding, match=match) as warned:
        checks.test_helo_fqdn(ASSUMED, [(name, host(name))], GOOD, NO_HELO)
    message = str(warned.value)
    assert "assumed: a name MX mx1.example.com gives" in message
    assert "(assumed: the address of MX mx1.example.com)" in message
    assert "--mail-helo-name" in message


def test_an_underscore_is_not_helo_fqdn_s_to_report() -> None:
    passes(
        checks.test_helo_fqdn,
        GIVEN,
        [("mail_1.example.com", host("mail_1.example.com", IP))],
        GOOD,
        HELO_GIVEN,
    )


def test_an_address_literal_is_only_for_a_host_without_a_name() -> None:
    literal = [("[192.0.2.10]", host("[192.0.2.10]"))]
    passes(checks.test_helo_fqdn, GIVEN, literal, rdns(rcode="NXDOMAIN"), HELO_GIVEN)
    with pytest.raises(AssertionError, match=r"the host has a name \(mail\.example\.com"):
        checks.test_helo_fqdn(GIVEN, literal, GOOD, HELO_GIVEN)
    passes(checks.test_helo_fqdn, GIVEN, [("[192.0.2.99]", host("x"))], GOOD, HELO_GIVEN)  # another host's
    passes(
        checks.test_helo_fqdn,
        OutboundIp(D, IP6),
        [("[IPv6:2001:db8::10]", host("x"))],
        rdns(ip=IP6),
        HELO_GIVEN,
    )
    with pytest.raises(Indeterminate):
        checks.test_helo_fqdn(GIVEN, literal, ReverseDns(IP, servfail(REV, "PTR")), HELO_GIVEN)


def test_no_helo_name_skips() -> None:
    with pytest.raises(pytest.skip.Exception, match="--mail-helo-name"):
        checks.test_helo_fqdn(GIVEN, [], GOOD, HELO_GIVEN)


def test_helo_underscore() -> None:
    passes(checks.test_helo_no_underscore, GIVEN, HELO, HELO_GIVEN)
    with pytest.raises(
        AssertionError, match=r"mail_1\.example\.com, contains '_'.*RFC 5321 §4\.1\.2"
    ) as info:
        checks.test_helo_no_underscore(GIVEN, [("mail_1.example.com", host("x"))], HELO_GIVEN)
    assert "assumed" not in str(info.value)


def test_a_helo_name_with_the_outbound_address_resolves() -> None:
    passes(checks.test_helo_resolves, GIVEN, HELO, HELO_GIVEN)
    two = [("a.example.com", host("a.example.com", "192.0.2.99")), HELO[0]]
    passes(checks.test_helo_resolves, GIVEN, two, HELO_GIVEN)  # one of several names is enough
    passes(checks.test_helo_resolves, GIVEN, [("[192.0.2.10]", host("x"))], HELO_GIVEN)
    with pytest.raises(Finding, match="not-an-address"):  # an A record whose data is no address
        checks.test_helo_resolves(
            GIVEN, [("odd.example.com", host("odd.example.com", "not-an-address"))], HELO_GIVEN
        )


def test_a_helo_name_that_resolves_elsewhere_warns() -> None:
    with pytest.raises(Finding, match=r"resolves elsewhere: mail\.example\.com \(192\.0\.2\.99\).*§4\.1\.4"):
        checks.test_helo_resolves(
            GIVEN, [("mail.example.com", host("mail.example.com", "192.0.2.99"))], HELO_GIVEN
        )
    with pytest.raises(Finding, match="an address literal"):
        checks.test_helo_resolves(GIVEN, [("[192.0.2.99]", host("x"))], HELO_GIVEN)


@pytest.mark.parametrize(("rcode", "state"), [("NXDOMAIN", "NXDOMAIN"), ("NOERROR", "no A or AAAA")])
def test_a_helo_name_that_does_not_resolve_fails(rcode: str, state: str) -> None:
    names = [
        ("mail.example.com", host("mail.example.com", rcode=rcode)),
        ("ok.example.com", host("ok.example.com", IP)),
    ]
    with pytest.raises(AssertionError, match=rf"does not resolve: mail\.example\.com \({state}"):
        checks.test_helo_resolves(ASSUMED, names, NO_HELO)


def test_helo_resolves_undecided_is_indeterminate() -> None:
    name = "mail.example.com"
    with pytest.raises(Indeterminate, match="SERVFAIL"):
        checks.test_helo_resolves(
            GIVEN, [(name, HostAddresses(name, servfail(name, "A"), ans(name, "AAAA")))], HELO_GIVEN
        )
    checks.test_helo_resolves(
        GIVEN, [("[x]", host("x")), *HELO], HELO_GIVEN
    )  # a broken literal is helo.fqdn's


def test_the_helo_name_matches_a_confirmed_ptr_name() -> None:
    passes(checks.test_helo_matches_ptr, GIVEN, [("MAIL.example.com.", host("x"))], GOOD, HELO_GIVEN)


def test_a_helo_name_that_is_not_the_ptr_name_warns() -> None:
    with pytest.raises(
        Finding, match=r"other\.example\.com, is not its forward-confirmed PTR name \(mail\.example\.com"
    ):
        checks.test_helo_matches_ptr(ASSUMED, [("other.example.com", host("x"))], GOOD, NO_HELO)


def test_helo_matches_ptr_needs_a_confirmed_ptr_name() -> None:
    with pytest.raises(pytest.skip.Exception, match=r"rdns\.ptr-exists"):
        checks.test_helo_matches_ptr(GIVEN, HELO, rdns(rcode="NXDOMAIN"), HELO_GIVEN)
    unconfirmed = rdns("mail.example.com", forward=(host("mail.example.com", "192.0.2.99"),))
    with pytest.raises(pytest.skip.Exception, match=r"rdns\.fcrdns"):
        checks.test_helo_matches_ptr(GIVEN, HELO, unconfirmed, HELO_GIVEN)
    name = "mail.example.com"
    undecided = rdns(name, forward=(HostAddresses(name, servfail(name, "A"), ans(name, "AAAA")),))
    with pytest.raises(Indeterminate):
        checks.test_helo_matches_ptr(GIVEN, HELO, undecided, HELO_GIVEN)


# ------------------------------------------------------------------------------------ dynamic ranges
@pytest.mark.parametrize("name", ["mail.example.com", "static-67-168-174-61.example.net"])
def test_a_plain_ptr_name_is_not_generic(name: str) -> None:
    passes(checks.test_dynip_rdns_generic, GIVEN, rdns(name))


def test_a_generic_ptr_name_warns() -> None:
    with pytest.raises(Finding, match=r"looks generic \(__RDNS_DYNAMIC_IPADDR.*SpamAssassin"):
        checks.test_dynip_rdns_generic(ASSUMED, rdns("c-67-168-174-61.client.comcast.net"))
    with pytest.raises(Finding, match="may look generic"):
        checks.test_dynip_rdns_generic(GIVEN, rdns("pool.example.net"))
    with pytest.raises(pytest.skip.Exception):
        checks.test_dynip_rdns_generic(GIVEN, rdns())


# ------------------------------------------------------------------------------------------ DNSBLs
ZEN = "zen.spamhaus.org"
SPAMCOP = "bl.spamcop.net"
QNAME = "10.2.0.192"


def zone(
    name: str,
    *,
    listed: tuple[str, ...] = ("127.0.0.2",),
    unlisted: tuple[str, ...] = (),
    rcode2: str = "NXDOMAIN",
    error: str | None = None,
) -> DnsblZone:
    q2, q1 = f"2.0.0.127.{name}", f"1.0.0.127.{name}"
    listed_test = ans(
        q2,
        "A",
        *(Record(q2, 300, "A", a) for a in listed),
        rcode="NOERROR" if listed else "NXDOMAIN",
        error=error,
    )
    unlisted_test = ans(
        q1, "A", *(Record(q1, 300, "A", a) for a in unlisted), rcode="NOERROR" if unlisted else rcode2
    )
    return DnsblZone(name, listed_test, unlisted_test)


def listing(name: str, *codes: str, txt: str = "", error: str | None = None) -> DnsblListing:
    q = f"{QNAME}.{name}"
    a = ans(
        q,
        "A",
        *(Record(q, 300, "A", c) for c in codes),
        rcode="NOERROR" if codes else "NXDOMAIN",
        error=error,
    )
    t = ans(q, "TXT", Record(q, 300, "TXT", f'"{txt}"')) if txt else None
    return DnsblListing(IP, name, a, t)


SANE = {ZEN: zone(ZEN), SPAMCOP: zone(SPAMCOP)}
CLEAN = {ZEN: listing(ZEN), SPAMCOP: listing(SPAMCOP)}


def test_sane_zones_pass() -> None:
    passes(checks.test_dnsbl_zone_sane, SANE)
    passes(checks.test_dnsbl_zone_sane, {ZEN: zone(ZEN, rcode2="NOERROR")})  # NODATA: not listed either
    passes(checks.test_dnsbl_resolver_usable, SANE)


def test_a_dead_list_cannot_test() -> None:
    with pytest.raises(
        Indeterminate,
        match=r"does not list its test entry 127\.0\.0\.2.*RFC 5782 §5.*answer correctly.*Remove",
    ):
        checks.test_dnsbl_zone_sane({"dead.example": zone("dead.example", listed=()), ZEN: zone(ZEN)})


def test_a_wildcarded_list_cannot_test() -> None:
    with pytest.raises(Indeterminate, match=r"lists 127\.0\.0\.1"):
        checks.test_dnsbl_zone_sane({"wild.example": zone("wild.example", unlisted=("127.0.0.2",))})
    passes(checks.test_dnsbl_resolver_usable, {"wild.example": zone("wild.example", unlisted=("127.0.0.2",))})


def test_a_refusing_resolver_cannot_test() -> None:
    refused = {ZEN: zone(ZEN, listed=("127.255.255.254",), unlisted=("127.255.255.254",))}
    with pytest.raises(Indeterminate, match=r"public or open resolver.*resolver of your own"):
        checks.test_dnsbl_resolver_usable(refused)
    with pytest.raises(Indeterminate, match=r"dnsbl\.resolver-usable"):
        checks.test_dnsbl_zone_sane(refused)
    parked = {"parked.example": zone("parked.example", listed=("198.51.100.7",), unlisted=("198.51.100.7",))}
    with pytest.raises(Indeterminate, match=r"outside 127\.0\.0\.0/8"):
        checks.test_dnsbl_resolver_usable(parked)


def test_unanswered_test_entries_cannot_test() -> None:
    silent = {ZEN: zone(ZEN, error="timeout (no reply within 10 s) (timeout)")}
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dnsbl_zone_sane(silent)
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dnsbl_resolver_usable(silent)


def test_no_configured_list_skips() -> None:
    for run in (checks.test_dnsbl_zone_sane, checks.test_dnsbl_resolver_usable):
        with pytest.raises(pytest.skip.Exception, match="--mail-dnsbl"):
            run({})
    with pytest.raises(pytest.skip.Exception):
        checks.test_dnsbl_listed(GIVEN, {}, {})


def test_an_unlisted_address_passes() -> None:
    passes(checks.test_dnsbl_listed, GIVEN, CLEAN, SANE)
    passes(checks.test_dynip_pbl, GIVEN, CLEAN, SANE)


def test_a_spam_listing_fails_with_its_txt() -> None:
    listings = {
        ZEN: listing(ZEN),
        SPAMCOP: listing(
            SPAMCOP, "127.0.0.2", txt="Blocked - see https://www.spamcop.net/bl.shtml?192.0.2.10"
        ),
    }
    with pytest.raises(
        AssertionError, match=r"listed as a spam source: bl\.spamcop\.net.*TXT: Blocked - see"
    ) as info:
        checks.test_dnsbl_listed(ASSUMED, listings, SANE)
    assert "(assumed: the address of MX mx1.example.com)" in str(info.value)


def test_spamhaus_sbl_is_a_spam_listing_and_pbl_a_policy_one() -> None:
    with pytest.raises(AssertionError, match=r"SBL"):
        checks.test_dnsbl_listed(GIVEN, {ZEN: listing(ZEN, "127.0.0.2", "127.0.0.10")}, SANE)
    with pytest.raises(Finding, match=r"policy list: zen\.spamhaus\.org: 127\.0\.0\.10 \(PBL.*dynip\.pbl"):
        checks.test_dnsbl_listed(GIVEN, {ZEN: listing(ZEN, "127.0.0.10")}, SANE)


def test_a_list_that_cannot_say_is_never_listed_nor_passed() -> None:
    dead = {ZEN: zone(ZEN), SPAMCOP: zone(SPAMCOP, listed=())}
    with pytest.raises(Indeterminate, match=r"dnsbl\.zone-sane"):
        checks.test_dnsbl_listed(GIVEN, {ZEN: listing(ZEN), SPAMCOP: listing(SPAMCOP, "127.0.0.2")}, dead)
    refused = {ZEN: listing(ZEN, "127.255.255.255"), SPAMCOP: listing(SPAMCOP)}
    with pytest.raises(Indeterminate, match=r"excessive number of queries.*dnsbl\.resolver-usable"):
        checks.test_dnsbl_listed(GIVEN, refused, SANE)
    failed = {ZEN: listing(ZEN, error="timeout (no reply within 10 s) (timeout)")}
    with pytest.raises(Indeterminate, match="timeout"):
        checks.test_dnsbl_listed(GIVEN, failed, SANE)
    policy = {ZEN: listing(ZEN, "127.0.0.11"), SPAMCOP: listing(SPAMCOP, error="timeout (timeout)")}
    with pytest.raises(Indeterminate, match=r"also listed: .*dynip\.pbl"):
        checks.test_dnsbl_listed(GIVEN, policy, SANE)


def test_a_definite_spam_listing_fails_even_when_another_list_cannot_say() -> None:
    listings = {ZEN: listing(ZEN, "127.0.0.4"), SPAMCOP: listing(SPAMCOP, error="timeout (timeout)")}
    with pytest.raises(AssertionError, match=r"XBL.*and could not test: "):
        checks.test_dnsbl_listed(GIVEN, listings, SANE)


@pytest.mark.parametrize(("zone_name", "code"), [(ZEN, "127.0.0.10"), ("pbl.spamhaus.org", "127.0.0.11")])
def test_a_pbl_listing_fails(zone_name: str, code: str) -> None:
    with pytest.raises(AssertionError, match=r"Spamhaus PBL.*end-user") as info:
        checks.test_dynip_pbl(ASSUMED, {zone_name: listing(zone_name, code)}, {zone_name: zone(zone_name)})
    assert "assumed" in str(info.value)


def test_pbl_ignores_other_listings_and_lists() -> None:
    checks.test_dynip_pbl(
        GIVEN, {ZEN: listing(ZEN, "127.0.0.2"), SPAMCOP: listing(SPAMCOP, "127.0.0.2")}, SANE
    )
    for zones in ({SPAMCOP: listing(SPAMCOP)}, {"sbl.spamhaus.org": listing("sbl.spamhaus.org")}):
        with pytest.raises(pytest.skip.Exception, match="no Spamhaus zone that carries the PBL"):
            checks.test_dynip_pbl(GIVEN, zones, SANE)


def test_pbl_that_cannot_say_is_indeterminate() -> None:
    with pytest.raises(Indeterminate, match="public or open resolver"):
        checks.test_dynip_pbl(GIVEN, {ZEN: listing(ZEN, "127.255.255.254")}, SANE)


# ------------------------------------------------------------------------------------------- IDENT
def ident(state: str, detail: str = "") -> IdentProbe:
    return IdentProbe(IP, 113, state, detail, 0.2)


@pytest.mark.parametrize(
    ("probe", "said"),
    [
        (ident("open", "65535 , 25 : ERROR : INVALID-PORT"), "answers IDENT (ERROR)"),
        (ident("open", "hello"), "not an RFC 1413 reply"),
        (ident("open", "(closed without a reply)"), "is open (closed"),
        (ident("refused", "connection refused"), "REJECT"),
    ],
    ids=["open-reply", "open-garbage", "open-closed", "refused"],
)
def test_ident_open_or_refused_passes(probe: IdentProbe, said: str) -> None:
    passes(checks.test_ident_port113, GIVEN, probe)
    assert any(said in n for n in current().notes)
    assert current().evidence


def test_ident_dropped_warns() -> None:
    with pytest.raises(Finding, match=r"silently drops.*RFC 1413 §2") as info:
        checks.test_ident_port113(ASSUMED, ident("timeout", "no answer to the TCP handshake within 10 s"))
    assert "assumed" in str(info.value)


def test_an_ident_black_hole_warns_like_a_drop() -> None:
    with pytest.raises(Finding, match=r"never answers a query.*RFC 1413 §2"):
        checks.test_ident_port113(GIVEN, ident("open", "(accepted the connection, no reply to a query)"))


@pytest.mark.parametrize("state", ["unreachable", "error"])
def test_ident_unreachable_is_indeterminate(state: str) -> None:
    with pytest.raises(Indeterminate, match="no route to host"):
        checks.test_ident_port113(GIVEN, ident(state, "no route to host"))
