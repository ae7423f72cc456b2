"""SMTP, TLS, IDENT and outbound-identity facts: what the survey's probes saw, with the transcript.

Kinds, each fetched separately so that a run asks only what its checks read, and ordered on each
server by the survey (read-only session first, envelope next, intrusive last):

* :class:`SmtpSession` (``--mail-probe=connect``), per endpoint: the greeting, EHLO, STARTTLS, the
  TLS handshake and its certificate chain, EHLO again, QUIT; and a fresh session for HELO and an
  unknown command.
* :class:`SmtpEnvelope` (``envelope``), per domain and endpoint: ``MAIL FROM:<>``, the role and
  unknown recipients, the relay test, VRFY and EXPN; never DATA.
* :class:`SmtpIntrusive` (``intrusive``), per endpoint: early talking, unauthorised pipelining,
  STARTTLS injection, legacy TLS versions.
* :class:`ReportRcpts` (``envelope``), per domain: each mailto: report address of its DMARC record
  asked for at the report domain's MX (:class:`ReportRcpt`: EHLO, ``MAIL FROM:<>``, RCPT, RSET,
  QUIT; never DATA).
* :class:`IdentProbe` per address (port 113), :class:`ReverseDns` per address (PTR and forward
  confirmation), :class:`HostAddresses` per name, :class:`DnsblListing` per address and list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailspec.facts.dns import DnsAnswer

__all__ = [
    "DnsblListing",
    "DnsblZone",
    "Exchange",
    "HostAddresses",
    "IdentProbe",
    "LegacyTls",
    "OutboundIp",
    "Rcpt",
    "ReportRcpt",
    "ReportRcpts",
    "ReverseDns",
    "SmtpControl",
    "SmtpEndpoint",
    "SmtpEnvelope",
    "SmtpIntrusive",
    "SmtpSession",
    "TlsInfo",
    "endpoint_key",
    "split_endpoint_key",
]


def endpoint_key(host: str, ip: str, port: int) -> str:
    """The survey's key of one SMTP endpoint: ``host|ip|port`` (the host is the TLS server name)."""
    return f"{host}|{ip}|{port}"


def split_endpoint_key(key: str) -> tuple[str, str, int]:
    host, ip, port = key.split("|")
    return host, ip, int(port)


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    """One SMTP server under test: an address and port of an MX host (or a --mail-server), for one
    domain."""

    domain: str
    host: str  #: the MX host name (the TLS server name), or the address for a --mail-server by IP
    ip: str
    port: int
    preference: int | None = None  #: the MX preference (None for a --mail-server)

    @property
    def key(self) -> str:
        return endpoint_key(self.host, self.ip, self.port)

    @property
    def envelope_key(self) -> str:
        return f"{self.domain}|{self.key}"

    def __str__(self) -> str:
        # (the run-wide --mail-smtp-port is no part of the name: messages read the same on any port)
        where = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{self.host} ({where})" if self.host != self.ip else where


@dataclass(frozen=True, slots=True)
class OutboundIp:
    """An address the domain sends mail from: given (--mail-outbound), or assumed (an MX address)."""

    domain: str
    ip: str
    host: str = ""  #: the --mail-outbound host name, or the MX host whose address is assumed
    assumed: bool = False
    smtp_port: int = 25

    def __str__(self) -> str:
        if not self.assumed:
            return self.ip
        what = f"MX {self.host}" if self.host and self.host != self.ip else "the SMTP server under test"
        return f"{self.ip} (assumed: the address of {what})"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One command and the reply it got, or why none came (``error``)."""

    sent: str  #: the command as sent ("" for a greeting)
    code: int = 0  #: the reply code; 0 when no reply was read
    lines: tuple[str, ...] = ()  #: the reply's lines, without code and separator
    error: str = ""  #: why no (whole) reply came: "timeout ...", "connection closed", "line too long"
    #: the transient (4yz) reply that came first, when the command was retried after a pause
    first: str = ""
    #: the reply was not an SMTP reply (a code outside 2xx-5xx, a garbled line): what was wrong
    malformed: str = ""

    @property
    def replied(self) -> bool:
        return self.code != 0

    @property
    def kind(self) -> int:
        """2, 3, 4 or 5; 0 without a reply or for a code outside 2xx-5xx."""
        return self.code // 100 if 200 <= self.code < 600 else 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def reply(self) -> str:
        """The reply's first line as the server sent it (``550 5.1.1 unknown``), or the error."""
        if not self.code:
            return f"no reply ({self.error})" if self.error else "no reply"
        first = self.lines[0] if self.lines else ""
        more = f" (+{len(self.lines) - 1} lines)" if len(self.lines) > 1 else ""
        return f"{self.code} {first}".rstrip() + more

    def transcript(self) -> list[str]:
        out = [f"C: {self.sent}"] if self.sent else []
        if self.first:
            out.append(f"S: {self.first}  (transient; retried after a pause)")
            if self.sent:
                out.append(f"C: {self.sent}")
        n = len(self.lines)
        for i, line in enumerate(self.lines[:12]):
            out.append(f"S: {self.code}{'-' if i < n - 1 else ' '}{line}")
        if n > 12:
            out.append(f"S: ... ({n - 12} more lines)")
        if not self.lines and self.code:
            out.append(f"S: {self.code}")
        if self.error:
            out.append(f"   ({self.error})")
        if self.malformed:
            out.append(f"   (not an SMTP reply: {self.malformed})")
        return out


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """A STARTTLS attempt: the command's reply, the handshake and what the server presented."""

    starttls: Exchange
    server_name: str  #: the SNI sent (the MX host name)
    handshake_error: str = ""  #: "" when the handshake succeeded
    version: str = ""  #: "TLSv1.3"
    cipher: str = ""
    #: the certificates the server presented, leaf first, base64 DER
    chain: tuple[str, ...] = ()
    #: EHLO again, after the handshake
    ehlo: Exchange | None = None
    #: when the handshake failed: the version a second handshake agreed on that also offered every
    #: older version ("TLSv1.1"), or why that failed too ("" when not tried)
    fallback_version: str = ""
    fallback_error: str = ""

    @property
    def established(self) -> bool:
        return self.starttls.code == 220 and not self.handshake_error and bool(self.version)

    def evidence(self) -> list[str]:
        out = self.starttls.transcript()
        if self.handshake_error:
            out.append(f"   TLS handshake (SNI {self.server_name}) failed: {self.handshake_error}")
        elif self.version:
            out.append(f"   TLS: {self.version} {self.cipher} (SNI {self.server_name}), "
                       f"{len(self.chain)} certificate(s) presented")  # fmt: skip
        if self.ehlo is not None:
            out += self.ehlo.transcript()
        return out


@dataclass(frozen=True, slots=True)
class SmtpSession:
    """The read-only session with one endpoint: connect, greeting, EHLO, STARTTLS, EHLO, QUIT; then a
    fresh session for HELO and an unknown command (``XMAILSPEC``, then ``NOOP``)."""

    host: str
    ip: str
    port: int
    #: why the TCP connection failed ("connection refused", "timeout (no reply within 10 s)"); "" if it
    #: connected
    connect_error: str = ""
    greeting: Exchange | None = None
    #: the greeting's raw first line as received (at most 200 characters), for a greeting that is not
    #: an SMTP reply
    greeting_raw: str = ""
    ehlo: Exchange | None = None
    tls: TlsInfo | None = None
    #: the fresh session: its greeting's code, HELO, the unknown command and NOOP after it
    helo: Exchange | None = None
    unknown: Exchange | None = None
    noop: Exchange | None = None
    #: why the fresh session could not run ("" when it ran)
    helo_error: str = ""
    transcript: tuple[str, ...] = ()
    elapsed: float = 0.0
    #: the dependent round trips of its two connections (the read-only one, the fresh one), which run
    #: side by side
    round_trips: tuple[int, ...] = ()

    @property
    def endpoint(self) -> str:
        """The server as messages name it (its port is in the evidence)."""
        return f"{self.host} [{self.ip}]" if self.host != self.ip else f"[{self.ip}]"

    @property
    def connected(self) -> bool:
        return not self.connect_error

    @property
    def greeted(self) -> bool:
        """A 220 greeting came."""
        return self.greeting is not None and self.greeting.code == 220

    @property
    def definite(self) -> bool:
        return True  # a failed connection is itself the observation (smtp.connect judges it)

    @property
    def problem(self) -> str:
        return self.connect_error

    @property
    def keywords(self) -> dict[str, tuple[str, ...]]:
        """The EHLO keywords (upper case) and their parameters, from the first EHLO."""
        return _keywords(self.ehlo)

    @property
    def starttls_offered(self) -> bool:
        return "STARTTLS" in self.keywords

    def evidence(self) -> list[str]:
        head = f"SMTP session with {self.endpoint} port {self.port}"
        if self.connect_error:
            return [f"{head}: connect failed: {self.connect_error}"]
        return [f"{head}:", *self.transcript]


def _keywords(ehlo: Exchange | None) -> dict[str, tuple[str, ...]]:
    if ehlo is None or ehlo.code != 250:
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for line in ehlo.lines[1:]:
        words = line.split()
        if words:
            out.setdefault(words[0].upper(), tuple(words[1:]))
    return out


@dataclass(frozen=True, slots=True)
class Rcpt:
    """One envelope: ``MAIL FROM:<sender>``, then ``RCPT TO:<mailbox>`` (then RSET)."""

    mailbox: str
    sender: str  #: "" for the null sender
    mail: Exchange
    rcpt: Exchange | None = None  #: None when MAIL FROM was not accepted
    tls: bool = False  #: sent inside a STARTTLS session

    @property
    def code(self) -> int:
        return self.rcpt.code if self.rcpt is not None else 0

    @property
    def kind(self) -> int:
        return self.rcpt.kind if self.rcpt is not None else 0

    def describe(self) -> str:
        via = " (after STARTTLS)" if self.tls else ""
        if self.rcpt is None:
            return f"MAIL FROM:<{self.sender}> got {self.mail.reply}{via}"
        return f"RCPT TO:<{self.mailbox}> (MAIL FROM:<{self.sender}>) got {self.rcpt.reply}{via}"


@dataclass(frozen=True, slots=True)
class SmtpEnvelope:
    """The envelope probes of one domain on one endpoint (never DATA)."""

    domain: str
    host: str
    ip: str
    port: int
    #: why the probes could not run (no connection, no greeting, the session ended); "" if they ran
    error: str = ""
    #: why they have nothing to say (a 554 greeting: the server refuses this probe)
    refused: str = ""
    null_mail: Exchange | None = None  #: ``MAIL FROM:<>`` on its own
    #: by probe: postmaster, abuse, hostmaster, rname, unqualified, mixed-case, unknown, relay,
    #: postmaster-sender (a normal sender), and any ``<name>@tls`` redone after STARTTLS
    rcpts: dict[str, Rcpt] = field(default_factory=dict)
    vrfy_unknown: Exchange | None = None
    vrfy_postmaster: Exchange | None = None
    expn_postmaster: Exchange | None = None
    #: the EHLO keywords of the envelope session (EXPN's advertisement is judged on them)
    keywords: tuple[str, ...] = ()
    transcript: tuple[str, ...] = ()
    #: the dependent round trips of its connection
    round_trips: tuple[int, ...] = ()

    @property
    def definite(self) -> bool:
        return not self.error

    @property
    def problem(self) -> str:
        return self.error

    def evidence(self) -> list[str]:
        where = f"{self.host} [{self.ip}]:{self.port}"
        head = f"envelope probes of {self.domain} at {where}"
        if self.error:
            return [f"{head}: {self.error}", *self.transcript]
        return [f"{head}:", *self.transcript]


@dataclass(frozen=True, slots=True)
class ReportRcpt:
    """One report address asked for at its domain's MX: EHLO, ``MAIL FROM:<>``, ``RCPT TO:<address>``
    (once more after a pause when the reply is 4yz, once more inside TLS when it says STARTTLS is
    needed first, and once more with the probe's own sender when the null sender is refused), RSET,
    QUIT. Never DATA."""

    address: str  #: the mailbox, as the URI names it (percent-decoded)
    tag: str  #: rua | ruf
    host: str = ""  #: the MX host asked (the report domain itself for its implicit MX), "" if none
    ip: str = ""
    port: int = 0
    #: why no RCPT reply was had (no MX address, an address not probed, no connection, a refused
    #: greeting or MAIL, a timeout); "" when the RCPT was answered
    untried: str = ""
    #: the envelope the verdict rests on (MAIL and RCPT, with the first 4yz reply when retried): the
    #: null sender's, or, when that was refused (5yz), the probe's own sender's; None without MAIL
    rcpt: Rcpt | None = None
    #: the null sender's envelope, when it was refused and the probe's own sender was tried after it
    null_refused: Rcpt | None = None
    transcript: tuple[str, ...] = ()

    @property
    def reply(self) -> Exchange | None:
        """The reply to RCPT (None when there was none)."""
        return None if self.untried or self.rcpt is None else self.rcpt.rcpt

    @property
    def where(self) -> str:
        return f"{self.host} [{self.ip}]" if self.host and self.host != self.ip else f"[{self.ip}]"

    def evidence(self) -> list[str]:
        head = f"RCPT probe of the {self.tag} address {self.address}"
        if self.ip:
            head += f" at {self.where}:{self.port}"
        return [f"{head}: {self.untried}" if self.untried else f"{head}:", *self.transcript]


@dataclass(frozen=True, slots=True)
class ReportRcpts:
    """The RCPT probes of one domain's DMARC report addresses (the mailto: ``rua`` and ``ruf`` URIs of
    the records that either reading of its policy applies, at most ten)."""

    domain: str
    probes: tuple[ReportRcpt, ...] = ()
    #: why none was made at all (the DMARC records were not known, the probe level is below envelope)
    error: str = ""

    def get(self, address: str) -> ReportRcpt | None:
        """The probe of one address (compared without case: the domain part has none, and no
        receiver's report mailbox is told from another by case alone)."""
        want = address.lower()
        return next((p for p in self.probes if p.address.lower() == want), None)

    @property
    def definite(self) -> bool:
        return True  # (a probe that could not be made leaves the DNS verdict standing: no "could not test")

    @property
    def problem(self) -> str:
        return self.error

    def evidence(self) -> list[str]:
        return [line for p in self.probes for line in p.evidence()]


@dataclass(frozen=True, slots=True)
class LegacyTls:
    """A handshake offered only one old TLS version."""

    version: str  #: "TLSv1.1", "TLSv1"
    accepted: bool = False
    error: str = ""  #: the handshake's failure, or why it could not be tried ("" if accepted)
    #: the client side could not offer this version (the local OpenSSL refuses it): not tried
    untested: str = ""


@dataclass(frozen=True, slots=True)
class SmtpIntrusive:
    """The deliberate violations sent to one endpoint, after every other probe of it."""

    host: str
    ip: str
    port: int
    error: str = ""  #: why none could be sent (no connection)
    #: early talking: one line per attempt ("rejected: 554 ...", "accepted: 220 then 250",
    #: "greeted first"); ``early_verdict`` is rejected | accepted | untestable
    early: tuple[str, ...] = ()
    early_verdict: str = ""
    #: unauthorised pipelining after HELO: the three replies (or how the session ended)
    pipelining: tuple[str, ...] = ()
    pipelining_verdict: str = ""  #: rejected | accepted | untestable
    #: STARTTLS injection: what arrived before the client spoke after the handshake
    injection: tuple[str, ...] = ()
    injection_verdict: str = ""  #: vulnerable | safe | untestable
    legacy: tuple[LegacyTls, ...] = ()
    transcript: tuple[str, ...] = ()
    #: the dependent round trips of each probe (early talk, pipelining, injection, each legacy
    #: version), which run side by side, two connections at a time
    round_trips: tuple[int, ...] = ()

    @property
    def definite(self) -> bool:
        return not self.error

    @property
    def problem(self) -> str:
        return self.error

    def evidence(self) -> list[str]:
        head = f"intrusive probes of {self.host} [{self.ip}]:{self.port}"
        return [f"{head}: {self.error}" if self.error else f"{head}:", *self.transcript]


@dataclass(frozen=True, slots=True)
class SmtpControl:
    """A control server (``--mail-smtp-control``): an SMTP server known to take connections from
    here, tried when no server under test took one, to tell a port blocked on this side (every SMTP
    check could not test) from servers that are down (their checks fail). Connect, read the
    greeting, QUIT: nothing else is sent to it."""

    host: str
    port: int
    ip: str = ""
    #: why no TCP connection was made ("" when one was: the port is not blocked from here)
    error: str = ""
    greeting: str = ""  #: the first line of its greeting, if one came

    @property
    def reached(self) -> bool:
        return bool(self.ip) and not self.error

    @property
    def endpoint(self) -> str:
        where = self.host if self.host == self.ip or not self.ip else f"{self.host} [{self.ip}]"
        return f"{where}:{self.port}"

    def evidence(self) -> list[str]:
        state = f"connected, greeting {self.greeting!r}" if self.reached else f"no connection ({self.error})"
        return [f"control server {self.endpoint}: {state}"]


@dataclass(frozen=True, slots=True)
class IdentProbe:
    """A TCP connection to port 113 of one address: open, refused (REJECT) or unanswered (DROP)."""

    ip: str
    port: int
    state: str  #: open | refused | timeout | unreachable | error
    detail: str = ""  #: the OS's reason, or the reply to the query
    elapsed: float = 0.0

    @property
    def definite(self) -> bool:
        return self.state in ("open", "refused", "timeout")

    @property
    def problem(self) -> str:
        return "" if self.definite else f"port {self.port} on {self.ip}: {self.detail or self.state}"

    def evidence(self) -> list[str]:
        return [f"ident: TCP {self.ip}:{self.port} {self.state}{': ' + self.detail if self.detail else ''}"
                f" ({self.elapsed:.1f} s)"]  # fmt: skip


@dataclass(frozen=True, slots=True)
class HostAddresses:
    """A name's A and AAAA answers (a PTR target, a HELO name)."""

    name: str
    a: DnsAnswer
    aaaa: DnsAnswer

    @property
    def definite(self) -> bool:
        return self.a.definite and self.aaaa.definite

    @property
    def problem(self) -> str:
        return self.a.problem or self.aaaa.problem

    @property
    def ips(self) -> tuple[str, ...]:
        return tuple(r.data for x in (self.a, self.aaaa) for r in x.records)

    @property
    def cname(self) -> str:
        """The alias target when the name is a CNAME ("" if it is not)."""
        for x in (self.a, self.aaaa):
            for r in x.answer:
                if r.rdtype == "CNAME" and r.name.lower() == self.name.lower():
                    return r.target
        return ""

    def evidence(self) -> list[str]:
        return self.a.evidence() + self.aaaa.evidence()


@dataclass(frozen=True, slots=True)
class ReverseDns:
    """An address's PTR names, and each name's own addresses (forward confirmation)."""

    ip: str
    ptr: DnsAnswer
    forward: tuple[HostAddresses, ...] = ()

    @property
    def definite(self) -> bool:
        return self.ptr.definite

    @property
    def problem(self) -> str:
        return self.ptr.problem

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.target for r in self.ptr.records)

    def confirmed(self) -> tuple[str, ...]:
        """The PTR names whose addresses include this one (FCrDNS-valid)."""
        return tuple(f.name for f in self.forward if _same_ip(self.ip, f.ips))

    def evidence(self) -> list[str]:
        return self.ptr.evidence() + [line for f in self.forward for line in f.evidence()]


def _same_ip(ip: str, ips: tuple[str, ...]) -> bool:
    import ipaddress

    try:
        want = ipaddress.ip_address(ip)
        return any(ipaddress.ip_address(x) == want for x in ips)
    except ValueError:
        return ip in ips


@dataclass(frozen=True, slots=True)
class DnsblZone:
    """A blocklist's RFC 5782 test entries: ``2.0.0.127`` listed, ``1.0.0.127`` not."""

    zone: str
    listed_test: DnsAnswer
    unlisted_test: DnsAnswer

    @property
    def definite(self) -> bool:
        return self.listed_test.definite and self.unlisted_test.definite

    @property
    def problem(self) -> str:
        return self.listed_test.problem or self.unlisted_test.problem

    def evidence(self) -> list[str]:
        return self.listed_test.evidence() + self.unlisted_test.evidence()


@dataclass(frozen=True, slots=True)
class DnsblListing:
    """One address looked up in one blocklist: its A answer and, when listed, its TXT."""

    ip: str
    zone: str
    a: DnsAnswer
    txt: DnsAnswer | None = None

    @property
    def definite(self) -> bool:
        return self.a.definite

    @property
    def problem(self) -> str:
        return self.a.problem

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.data for r in self.a.records)

    def evidence(self) -> list[str]:
        return self.a.evidence() + (self.txt.evidence() if self.txt is not None else [])
