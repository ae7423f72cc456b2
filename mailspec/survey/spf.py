"""SPF over the survey's DNS: check_host() as RFC 7208 §4 defines it, and the static worst-case walk.

Both take a *lookup*, ``async (qname, rdtype) -> DnsAnswer``: in a survey, :meth:`DnsClient.query
<mailspec.survey.dns.DnsClient.query>`, whose memo makes a name asked by two evaluations (or two
checks) asked once; in tests, anything that answers the same way. Nothing here raises for anything the
DNS does: a timeout or SERVFAIL is a temperror (check_host) or an indeterminate term (the walk),
never "no record".

* :func:`check_host` evaluates one (ip, domain, sender) to a :class:`~mailspec.facts.spf.SpfResult`,
  stopping at the first match as a receiver does, with the limits of §4.6.4 (10 DNS-querying terms,
  2 void lookups, 10 names per mx and ptr) and the explanation of §6.2.
* :func:`spf_tree` walks every branch of the domain's include/redirect tree without a client address,
  to a :class:`~mailspec.facts.spf.SpfTree`: each term's cost, the total, the void lookups and which
  terms made them, and the targets, loops and depths the catalog's spf.* rules ask about.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import dns.exception
import dns.name

from mailspec.facts.dns import DnsAnswer
from mailspec.facts.spf import NOT_WALKED, SpfNode, SpfResult, SpfStep, SpfTerm, SpfTree
from mailspec.records.spf import (
    MAX_DNS_TERMS,
    MAX_NAMES,
    MAX_VOID_LOOKUPS,
    Directive,
    MacroContext,
    MacroString,
    Modifier,
    SpfRecord,
    SpfSyntaxError,
    domain_problem,
    expand,
    expand_domain,
    is_spf,
    parse_explain_string,
    parse_record,
)
from mailspec.records.txt import txt_value

__all__ = [
    "CHECK_TIMEOUT",
    "MAX_WALK_DEPTH",
    "MAX_WALK_TERMS",
    "Lookup",
    "check_host",
    "check_mailfrom",
    "spf_tree",
]

#: RFC 7208 §4.6.4: receivers SHOULD bound an evaluation in time, allowing at least 20 seconds
CHECK_TIMEOUT = 20.0
#: include/redirect nesting the walk follows: one more level than the lookup limit allows, since a
#: chain that deep exceeds the limit on its own path
MAX_WALK_DEPTH = MAX_DNS_TERMS + 1
#: DNS-querying terms the walk looks up in all (beyond it they are counted from the text only): a
#: diamond of includes would otherwise cost exponentially many lookups
MAX_WALK_TERMS = 60
#: steps kept in an evaluation's trail
_MAX_TRAIL = 400


class Lookup(Protocol):
    """Ask the DNS one question: ``await lookup("example.com", "TXT")`` (a DnsClient's ``query``)."""

    def __call__(self, qname: str, rdtype: str) -> Awaitable[DnsAnswer]: ...


def _presentation(name: str) -> str:
    """A name as the DNS writes it (RFC 1035 §5.1): the labels an SPF expansion produced, with
    spaces, quotes and other special characters escaped (``\\032``), as the answers' owner names are
    written, so that the two compare equal. Split on dots only: a dot is a label separator in SPF."""
    if all((c.isalnum() and c.isascii()) or c in "-_." for c in name):
        return name
    labels = [label.encode("utf-8") for label in name.rstrip(".").split(".")]
    try:
        return dns.name.Name([*labels, b""]).to_text(omit_final_dot=True)
    except dns.exception.DNSException:
        return name  # (a label too long: the lookup says why)


class _Asker:
    """A lookup bounded by a deadline: past it, a question is answered "timeout" without waiting."""

    def __init__(self, lookup: Lookup, timeout: float | None) -> None:
        self.lookup = lookup
        self.timeout = timeout
        loop = asyncio.get_running_loop()
        self.deadline = None if timeout is None else loop.time() + timeout

    async def __call__(self, qname: str, rdtype: str) -> DnsAnswer:
        qname = _presentation(qname)
        if self.deadline is None:
            return await self.lookup(qname, rdtype)
        left = self.deadline - asyncio.get_running_loop().time()
        try:
            if left <= 0:
                raise TimeoutError
            return await asyncio.wait_for(self.lookup(qname, rdtype), left)
        except TimeoutError:
            return DnsAnswer(
                qname,
                rdtype,
                "spf",
                error=f"not answered within the SPF evaluation's bound of {self.timeout:g} s (timeout)",
            )


def _records(ans: DnsAnswer) -> list[str]:
    return [r.data for r in ans.records]


def _txt(ans: DnsAnswer) -> list[str]:
    """The texts of a TXT answer, each record's character-strings joined without spaces (§3.3)."""
    return [txt_value(r.data) for r in ans.records]


def _void(ans: DnsAnswer) -> bool:
    """§4.6.4: a void lookup is NXDOMAIN, or NOERROR with no answer records."""
    return ans.definite and (ans.nxdomain or not ans.records)


def _normalised_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The client address; an IPv4-mapped IPv6 address is its IPv4 address (RFC 7208 §5: A records
    are fetched for it)."""
    address = ipaddress.ip_address(ip.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# -- check_host --------------------------------------------------------------------------------------


class _Stop(Exception):
    """A temperror or permerror: evaluation ends at once, through every include (§5.2's table)."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass
class _Outcome:
    """A result other than an error, and the record that decided it (its ``exp`` explains a fail)."""

    result: str
    domain: str
    record: SpfRecord | None = None
    mechanism: str = ""


@dataclass
class _Evaluation:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    receiver: str
    ask: _Asker
    void_limit: int
    timestamp: int
    dns_terms: int = 0
    void: int = 0
    trail: list[SpfStep] = field(default_factory=list)
    _validated: list[str] | None = None
    _ptr: DnsAnswer | None = None

    @property
    def family(self) -> str:
        return "A" if self.ip.version == 4 else "AAAA"

    def note(self, domain: str, term: str, outcome: str, detail: str = "", depth: int = 0) -> None:
        if len(self.trail) < _MAX_TRAIL:
            self.trail.append(SpfStep(domain, term, outcome, detail, depth))

    def context(self, domain: str, validated: str = "unknown") -> MacroContext:
        return MacroContext(
            self.sender, domain, str(self.ip), self.helo, self.receiver, validated, self.timestamp
        )

    def count(self, domain: str, term: str) -> None:
        """One more DNS-querying term (§4.6.4): the 11th is a permerror."""
        self.dns_terms += 1
        if self.dns_terms > MAX_DNS_TERMS:
            raise _Stop(
                "permerror",
                f"more than {MAX_DNS_TERMS} DNS-querying terms (the 11th: {term} in {domain}'s record; "
                "RFC 7208 §4.6.4)",
            )

    def voided(self, domain: str, term: str, depth: int) -> None:
        self.void += 1
        self.note(domain, term, "void", f"void lookup {self.void}", depth)
        if self.void > self.void_limit:
            raise _Stop(
                "permerror",
                f"more than {self.void_limit} void lookups (the last: {term} in {domain}'s record; "
                "RFC 7208 §4.6.4)",
            )

    async def answer(self, qname: str, rdtype: str, what: str) -> DnsAnswer:
        """A lookup whose failure is a temperror (§4.4, §5: RCODE other than 0 or 3, or a timeout)."""
        ans = await self.ask(qname, rdtype)
        if not ans.definite:
            raise _Stop("temperror", f"{what}: {ans.problem}")
        return ans

    # -- names --------------------------------------------------------------------------------
    async def validated_names(self) -> list[str]:
        """§5.5: the PTR names of <ip> (the first 10) whose addresses include <ip>; a DNS error on
        the PTR lookup gives none, one on a name's address lookup skips that name."""
        if self._validated is not None:
            return self._validated
        ptr = self._ptr = await self.ask(self.ip.reverse_pointer, "PTR")
        # (the names beyond the first 10 are ignored, §4.6.4)
        names = [r.target for r in ptr.records][:MAX_NAMES] if ptr.definite else []

        async def confirmed(name: str) -> bool:
            if domain_problem(name):
                return False
            ans = await self.ask(name, self.family)
            return ans.definite and any(_same_ip(a, self.ip) for a in _records(ans))

        flags = await asyncio.gather(*(confirmed(n) for n in names))
        self._validated = [n for n, ok in zip(names, flags, strict=True) if ok]
        return self._validated

    async def p_value(self, domain: str) -> str:
        """%{p} (§7.3): <domain> if validated, else a validated subdomain of it, else any, else
        "unknown"."""
        names = await self.validated_names()
        d = domain.lower().rstrip(".")
        for name in names:
            if name.lower() == d:
                return name
        for name in names:
            if name.lower().endswith("." + d):
                return name
        return names[0] if names else "unknown"

    async def expand(self, spec: MacroString, domain: str) -> MacroContext:
        validated = await self.p_value(domain) if "p" in spec.letters else "unknown"
        return self.context(domain, validated)

    async def target(self, spec: MacroString | None, domain: str, term: str, depth: int) -> str:
        """The name a term looks up: its domain-spec expanded, or the current domain."""
        if spec is None:
            return domain
        ctx = await self.expand(spec, domain)
        name, cut = expand_domain(spec, ctx)
        if cut:
            self.note(domain, term, "note", f"expansion longer than 253 characters, cut to {name}", depth)
        if why := domain_problem(name):
            raise _Stop("permerror", f"{term} in {domain}'s record names {name!r}: {why}")
        return name

    # -- records ------------------------------------------------------------------------------
    async def record(self, domain: str, depth: int) -> SpfRecord | None:
        """§4.4, §4.5: the domain's one SPF record, None when it has none."""
        ans = await self.answer(domain, "TXT", f"the TXT lookup of {domain}")
        texts = [t for t in _txt(ans) if is_spf(t)]
        if not texts:
            self.note(domain, "", "none", "NXDOMAIN" if ans.nxdomain else "no SPF record", depth)
            return None
        if len(texts) > 1:
            raise _Stop("permerror", f"{domain} has {len(texts)} SPF records (RFC 7208 §4.5)")
        self.note(domain, "", "record", texts[0][:300], depth)
        try:
            return parse_record(texts[0])
        except SpfSyntaxError as exc:
            raise _Stop("permerror", f"{domain}'s record: {exc}") from None

    async def check(self, domain: str, depth: int) -> _Outcome:
        record = await self.record(domain, depth)
        if record is None:
            return _Outcome("none", domain)
        for d in record.directives:
            if await self.mechanism(d, domain, depth):
                self.note(domain, d.text, "match", d.result, depth)
                return _Outcome(d.result, domain, record, d.text)
            self.note(domain, d.text, "no match", "", depth)
        redirect = record.redirect  # (reached only without ``all``: §6.1)
        if redirect is not None:
            self.count(domain, redirect.text)
            name = await self.target(redirect.value, domain, redirect.text, depth)
            inner = await self.check(name, depth + 1)
            if inner.result == "none":
                raise _Stop("permerror", f"{redirect.text}: {name} has no SPF record (RFC 7208 §6.1)")
            return inner
        self.note(domain, "", "no match", "default result neutral", depth)
        return _Outcome("neutral", domain, record)

    async def mechanism(self, d: Directive, domain: str, depth: int) -> bool:
        """Whether one mechanism matches <ip> (§5); _Stop for its errors."""
        kind = d.mechanism
        if kind == "all":
            return True
        if kind in ("ip4", "ip6"):
            return self.ip in ipaddress.ip_network(d.network)
        self.count(domain, d.text)
        if kind == "include":
            name = await self.target(d.domain_spec, domain, d.text, depth)
            inner = await self.check(name, depth + 1)
            # §5.2's table: pass matches; fail, softfail, neutral do not; none is a permerror
            if inner.result == "none":
                raise _Stop("permerror", f"{d.text}: {name} has no SPF record (RFC 7208 §5.2)")
            return inner.result == "pass"
        if kind == "exists":
            name = await self.target(d.domain_spec, domain, d.text, depth)
            # §5.7: an A lookup whatever the connection's family
            ans = await self.answer(name, "A", f"{d.text} (A {name})")
            if _void(ans):
                self.voided(domain, d.text, depth)
                return False
            return True
        if kind == "ptr":
            name = (await self.target(d.domain_spec, domain, d.text, depth)).lower()
            names = await self.validated_names()
            if self._ptr is not None and _void(self._ptr):
                self.voided(domain, d.text, depth)
            return any(n.lower() == name or n.lower().endswith("." + name) for n in names)
        name = await self.target(d.domain_spec, domain, d.text, depth)
        prefix = (d.cidr4 if d.cidr4 is not None else 32) if self.ip.version == 4 else d.cidr6
        prefix = 128 if prefix is None else prefix
        if kind == "a":
            ans = await self.answer(name, self.family, f"{d.text} ({self.family} {name})")
            if _void(ans):
                self.voided(domain, d.text, depth)
                return False
            return self.within(_records(ans), prefix)
        # mx (§5.4): at most 10 MX names, or permerror (§4.6.4)
        mx = await self.answer(name, "MX", f"{d.text} (MX {name})")
        if _void(mx):
            self.voided(domain, d.text, depth)
            return False
        hosts = [r.target for r in mx.records]
        if len(hosts) > MAX_NAMES:
            raise _Stop(
                "permerror", f"{d.text}: {name} has {len(hosts)} MX records, more than {MAX_NAMES} (§4.6.4)"
            )
        hosts = [h for h in hosts if h and not domain_problem(h)]  # (a null MX names no host)
        answers = await asyncio.gather(*(self.ask(h, self.family) for h in hosts))
        for host, ans in zip(hosts, answers, strict=True):
            if not ans.definite:
                raise _Stop("temperror", f"{d.text} ({self.family} {host}): {ans.problem}")
            if self.within(_records(ans), prefix):
                return True
        return False

    def within(self, addresses: Sequence[str], prefix: int) -> bool:
        for text in addresses:
            try:
                net = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
            except ValueError:
                continue  # (an A record with an AAAA's prefix cannot happen; garbage is skipped)
            if net.version == self.ip.version and self.ip in net:
                return True
        return False

    async def explain(self, outcome: _Outcome) -> str:
        """§6.2: the ``exp`` text of the record that gave the fail, or "" (no exp, a DNS error, no or
        several TXT records, a syntax error in the text). Not counted against any limit."""
        exp = outcome.record.exp if outcome.record is not None else None
        if exp is None:
            return ""
        ctx = await self.expand(exp.value, outcome.domain)
        name, _ = expand_domain(exp.value, ctx)
        if domain_problem(name):
            return ""
        ans = await self.ask(name, "TXT")
        texts = _txt(ans) if ans.definite else []
        if len(texts) != 1:
            return ""
        try:
            text = parse_explain_string(texts[0])
        except SpfSyntaxError:
            return ""
        return expand(text, await self.expand(text, outcome.domain))


def _same_ip(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


async def check_host(
    ip: str,
    domain: str,
    sender: str,
    lookup: Lookup,
    *,
    helo: str | None = None,
    receiver: str = "unknown",
    timeout: float | None = CHECK_TIMEOUT,
    void_limit: int = MAX_VOID_LOOKUPS,
    timestamp: int | None = None,
) -> SpfResult:
    """RFC 7208 §4's check_host(<ip>, <domain>, <sender>): none, neutral, pass, fail, softfail,
    temperror or permerror, with the explanation of a fail (§6.2) and the trail of terms.

    ``sender`` is the MAIL FROM address (``postmaster@<domain>`` when "", postmaster as local-part when
    it has none); ``helo`` the HELO/EHLO name (%{h}); ``receiver`` the receiving host (%{r}).
    ``timeout`` bounds the whole evaluation (§4.6.4; past it, temperror). Raises ValueError only for
    an ``ip`` that is no IP address (the caller's bug); nothing the DNS does raises.
    """
    address = _normalised_ip(ip)
    name = domain.strip().rstrip(".")
    if not sender:
        sender = f"postmaster@{name}"
    elif "@" not in sender:
        sender = f"postmaster@{sender}"
    elif sender.startswith("@"):
        sender = "postmaster" + sender
    ev = _Evaluation(
        address,
        sender,
        helo or "unknown",
        receiver,
        _Asker(lookup, timeout),
        void_limit,
        int(time.time()) if timestamp is None else timestamp,
    )

    def result(result: str, reason: str, explanation: str = "", mechanism: str = "") -> SpfResult:
        return SpfResult(
            str(address),
            name,
            sender,
            result,
            reason,
            explanation,
            mechanism,
            ev.dns_terms,
            ev.void,
            tuple(ev.trail),
        )

    # §4.3: a malformed domain, or one of a single label, is "none" before any lookup
    why = "a domain literal is no domain" if name.startswith("[") else domain_problem(name, multi_label=True)
    if why:
        return result("none", f"{domain!r} is not a domain SPF can check: {why} (RFC 7208 §4.3)")
    try:
        outcome = await ev.check(name, 0)
    except _Stop as stop:
        return result(stop.result, stop.reason)
    if outcome.result == "none":
        return result("none", f"{name} has no SPF record")
    if outcome.mechanism:
        reason = f"{outcome.mechanism} in {outcome.domain}'s record matched"
    else:
        reason = f"no mechanism of {outcome.domain}'s record matched (default neutral)"
    explanation = await ev.explain(outcome) if outcome.result == "fail" else ""
    return result(outcome.result, reason, explanation, outcome.mechanism)


async def check_mailfrom(
    ip: str,
    mailfrom: str,
    helo: str,
    lookup: Lookup,
    *,
    receiver: str = "unknown",
    timeout: float | None = CHECK_TIMEOUT,
    void_limit: int = MAX_VOID_LOOKUPS,
    timestamp: int | None = None,
) -> SpfResult:
    """check_host() for an SMTP client's MAIL FROM, as receivers call it (RFC 7208 §2.4): the domain
    of the address; with a null reverse-path (``""`` or ``<>``), the HELO identity, as
    ``postmaster@<helo>`` (§2.3). The options are :func:`check_host`'s."""
    sender = mailfrom.strip().removeprefix("<").removesuffix(">")
    if not sender:
        domain, sender = helo, f"postmaster@{helo}"
    else:
        domain = sender.rpartition("@")[2]
    return await check_host(
        ip,
        domain,
        sender,
        lookup,
        helo=helo,
        receiver=receiver,
        timeout=timeout,
        void_limit=void_limit,
        timestamp=timestamp,
    )


# -- the static walk ---------------------------------------------------------------------------------


@dataclass
class _Walk:
    ask: _Asker
    budget: int = MAX_WALK_TERMS
    stopped: str = ""

    def spend(self) -> bool:
        """One DNS-querying term's lookups, if the walk's bound allows them."""
        if self.budget <= 0:
            self.stopped = (
                f"the walk looked up {MAX_WALK_TERMS} DNS-querying terms; the rest are counted only"
            )
            return False
        self.budget -= 1
        return True

    async def node(self, domain: str, path: tuple[str, ...]) -> SpfNode:
        domain = domain.lower()
        depth = len(path)
        if domain in path:
            loop = " -> ".join([*path, domain])
            return SpfNode(domain, "loop", problem=f"include/redirect loop: {loop}")
        if depth > MAX_WALK_DEPTH:
            return SpfNode(
                domain,
                "too-deep",
                problem=f"nested more than {MAX_WALK_DEPTH} deep: not followed (this path alone exceeds "
                f"the limit of {MAX_DNS_TERMS} lookups)",
            )
        if why := domain_problem(domain):
            return SpfNode(domain, "invalid", problem=why)
        ans = await self.ask(domain, "TXT")
        if not ans.definite:
            return SpfNode(domain, "indeterminate", problem=ans.problem, answer=ans)
        texts = [t for t in _txt(ans) if is_spf(t)]
        if ans.nxdomain:
            return SpfNode(domain, "nxdomain", problem="no such domain (NXDOMAIN)", answer=ans)
        if not texts:
            return SpfNode(domain, "none", problem="no SPF record", answer=ans)
        if len(texts) > 1:
            return SpfNode(
                domain,
                "multiple",
                texts[0],
                problem=f"{len(texts)} SPF records: permerror (RFC 7208 §4.5)",
                answer=ans,
            )
        try:
            record = parse_record(texts[0])
        except SpfSyntaxError as exc:
            return SpfNode(domain, "syntax", texts[0], problem=str(exc), answer=ans)
        terms = await self.terms(record, domain, (*path, domain))
        return SpfNode(domain, "record", texts[0], terms=terms, answer=ans)

    async def terms(self, record: SpfRecord, domain: str, path: tuple[str, ...]) -> tuple[SpfTerm, ...]:
        reachable = {t.position for t in record.evaluated}
        plan: list[tuple[Directive | Modifier, str]] = []  # (term, what to do: "", "lookup", "child")
        for t in record.terms:
            ptr = isinstance(t, Directive) and t.mechanism == "ptr"  # (its lookups depend on the client)
            if t.position not in reachable or not t.queries_dns or t.has_macros or ptr:
                plan.append((t, ""))
            elif not self.spend():
                plan.append((t, "skip"))
            elif isinstance(t, Modifier) or t.mechanism == "include":
                plan.append((t, "child"))
            else:
                plan.append((t, "lookup"))
        # the lookups of one record at once; then its includes, in order, depth first
        looked = await asyncio.gather(
            *(self.lookup_term(t, domain) for t, how in plan if how == "lookup" and isinstance(t, Directive))
        )
        done = iter(looked)
        out: list[SpfTerm] = []
        for t, how in plan:
            kind = t.mechanism if isinstance(t, Directive) else t.name
            if t.position not in reachable:
                why = (
                    "after 'all': never evaluated (§5.1)"
                    if isinstance(t, Directive)
                    else ("beside 'all': never used (§6.1)")
                )
                out.append(SpfTerm(t.text, kind, 0, ignored=True, finding=why))
            elif not t.queries_dns:
                out.append(SpfTerm(t.text, kind, 0, macros=t.has_macros))
            elif t.has_macros:
                out.append(
                    SpfTerm(
                        t.text,
                        kind,
                        1,
                        macros=True,
                        finding="has macros: counted 1, not fully evaluable without a client",
                    )
                )
            elif isinstance(t, Directive) and t.mechanism == "ptr":
                target = _spec_text(t.domain_spec) or domain
                out.append(SpfTerm(t.text, kind, 1, target=target, finding="ptr: SHOULD NOT be used (§5.5)"))
            elif how == "skip":
                out.append(SpfTerm(t.text, kind, 1, finding=NOT_WALKED))
            elif how == "lookup":
                out.append(next(done))
            else:
                spec = t.value if isinstance(t, Modifier) else t.domain_spec
                target = _spec_text(spec)
                child = await self.node(target, path)
                finding = ""
                if child.state in ("none", "nxdomain", "multiple"):
                    finding = f"target {target} has no single SPF record: permerror (§5.2, §6.1)"
                out.append(
                    SpfTerm(
                        t.text,
                        kind,
                        1,
                        target=target,
                        void=child.state == "nxdomain" or (child.state == "none" and _void_node(child)),
                        problem=child.problem if child.state == "indeterminate" else "",
                        finding=finding,
                        child=child,
                    )
                )
        return tuple(out)

    async def lookup_term(self, t: Directive, domain: str) -> SpfTerm:
        """a, mx, exists without macros: their lookups, and whether they were void."""
        target = _spec_text(t.domain_spec) or domain
        if why := domain_problem(target):
            return SpfTerm(t.text, t.mechanism, 1, target=target, finding=f"names no valid domain: {why}")
        if t.mechanism == "mx":
            mx = await self.ask(target, "MX")
            if not mx.definite:
                return SpfTerm(t.text, "mx", 1, target=target, problem=mx.problem)
            n = len(mx.records)
            finding = f"{n} MX records, more than {MAX_NAMES}: permerror (§4.6.4)" if n > MAX_NAMES else ""
            return SpfTerm(t.text, "mx", 1, target=target, void=_void(mx), mx_names=n, finding=finding)
        rdtypes = ("A",) if t.mechanism == "exists" else ("A", "AAAA")
        answers = await asyncio.gather(*(self.ask(target, r) for r in rdtypes))
        bad = next((a for a in answers if not a.definite), None)
        if bad is not None:
            return SpfTerm(t.text, t.mechanism, 1, target=target, problem=bad.problem)
        # an ``a`` term is void when its name has no address of either family
        return SpfTerm(t.text, t.mechanism, 1, target=target, void=all(_void(a) for a in answers))


def _void_node(node: SpfNode) -> bool:
    return node.answer is not None and _void(node.answer)


def _spec_text(spec: MacroString | None) -> str:
    """A domain-spec without macros as a name (escapes such as ``%_`` expanded)."""
    if spec is None:
        return ""
    name = expand(spec, MacroContext("postmaster@invalid", "invalid", "0.0.0.0"))
    return name[:-1] if name.endswith(".") else name


def _summary(domain: str, root: SpfNode, stopped: str, rr99: DnsAnswer | None = None) -> SpfTree:
    void_terms: list[str] = []
    mx_over: list[str] = []
    bad: list[str] = []
    macros: list[str] = []
    ptrs: list[str] = []
    loops: list[str] = []
    deep: list[str] = []
    syntax: list[str] = []
    unknown: list[str] = []

    def visit(node: SpfNode) -> None:
        if node.state == "indeterminate":
            unknown.append(f"{node.domain}: {node.problem}")
        elif node.state == "syntax":
            syntax.append(f"{node.domain}: {node.problem}")
        elif node.state == "loop":
            loops.append(f"{node.domain}: {node.problem}")
        elif node.state == "too-deep":
            deep.append(f"{node.domain}: {node.problem}")
        for t in node.terms:
            where = f"{node.domain}: {t.text}"
            if t.ignored:
                continue
            if t.void:
                void_terms.append(where)
            if t.problem and t.child is None:
                unknown.append(f"{where}: {t.problem}")
            if t.mx_names > MAX_NAMES:
                mx_over.append(f"{where}: {t.mx_names} MX records")
            if t.macros and t.cost:
                macros.append(f"{where}: not fully evaluable")
            if t.kind == "ptr":
                ptrs.append(where)
            if t.child is not None:
                if t.child.state in ("none", "nxdomain", "multiple"):
                    bad.append(f"{where}: {t.child.problem}")
                visit(t.child)

    visit(root)
    return SpfTree(
        domain,
        root,
        root.total,
        len(void_terms),
        tuple(void_terms),
        tuple(mx_over),
        tuple(bad),
        tuple(macros),
        tuple(ptrs),
        tuple(loops),
        tuple(deep),
        tuple(syntax),
        tuple(unknown),
        stopped,
        rr99,
    )


async def spf_tree(
    domain: str, lookup: Lookup, *, timeout: float | None = None, rr99: bool = False
) -> SpfTree:
    """The static worst case of ``domain``'s SPF (the catalog's spf.lookup-limit, void-limit,
    mx-limit, include-targets): every include and redirect followed, every branch, each term's cost.

    Bounded: loops and nesting deeper than :data:`MAX_WALK_DEPTH` are findings, not recursion; at most
    :data:`MAX_WALK_TERMS` terms are looked up; ``timeout`` bounds the whole walk (what is asked after
    it is "indeterminate", never "no record"). ``rr99`` also asks the obsolete SPF (type 99) RRset
    of the domain, kept as :attr:`SpfTree.rr99 <mailspec.facts.spf.SpfTree.rr99>` (spf.rrtype99).
    """
    ask = _Asker(lookup, timeout)
    walk = _Walk(ask)
    name = domain.strip().rstrip(".").lower()
    if not rr99 or domain_problem(name):
        root = await walk.node(name, ())
        return _summary(domain, root, walk.stopped)
    # the obsolete type 99 beside the TXT (spf.rrtype99): asked at the root only, as no receiver
    # reads it anywhere (RFC 7208 §3.1, §14.1)
    root, answer = await asyncio.gather(walk.node(name, ()), ask(name, "SPF"))
    return _summary(domain, root, walk.stopped, answer)
