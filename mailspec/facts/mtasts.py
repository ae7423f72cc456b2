"""MTA-STS facts: the HTTPS fetch of a domain's policy file (RFC 8461 section 3.3), with its evidence.

:class:`MtaStsFetch` is one ``GET https://mta-sts.<domain>/.well-known/mta-sts.txt`` to one address of
the policy host: how far it got (TCP, TLS, the response's head, its body), what the server presented
(its certificate, the status, ``Location``, ``Content-Type``) and the body as read, at most a bounded
number of bytes. A failure is data, never an exception: what failed and why, in words.

Which failures are findings: a TLS certificate the verification rejected (wrong name, expired,
unknown CA), a status other than 200, a redirect, a malformed response, a body over the size limit:
the server said something, and it was wrong (:attr:`MtaStsFetch.definite`). Which are not: a refused
or unreachable connection, a timeout, a connection dropped before the answer was whole ("could not
test").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FAILURES",
    "POLICY_MAX_BYTES",
    "POLICY_PATH",
    "TLS_REASONS",
    "MtaStsFetch",
    "PeerCertificate",
    "policy_host",
    "policy_url",
]

#: Where the policy lives on the policy host (RFC 8461 section 3.2).
POLICY_PATH = "/.well-known/mta-sts.txt"
#: A policy file larger than this is over the catalog's limit (mtasts.policy.fetch: >64 KiB WARN;
#: RFC 8461 section 3.3 lets senders refuse bodies "larger than 64 KB").
POLICY_MAX_BYTES = 65536

#: :attr:`MtaStsFetch.failure` values: "" (an HTTP response was read) and why none was
#: (``connect``: refused or unreachable; ``timeout``; ``tls``: the TLS handshake failed, the
#: certificate rejected or the server's TLS broken; ``closed``: the connection ended before the
#: answer was whole; ``protocol``: the answer was not HTTP; ``setup``: the client could not be set
#: up, the CA bundle unreadable, say; ``unpublished``: not fetched, the domain publishes no
#: ``v=STSv1`` record, so senders fetch nothing either, RFC 8461 §3.3).
FAILURES = ("", "connect", "timeout", "tls", "closed", "protocol", "setup", "unpublished")
#: :attr:`MtaStsFetch.tls_reason` values, for ``failure == "tls"``.
TLS_REASONS = (
    "wrong-name",
    "expired",
    "not-yet-valid",
    "self-signed",
    "unknown-ca",
    "untrusted",
    "handshake",
)
_NOT_DEFINITE = frozenset({"connect", "timeout", "closed", "setup"})


def policy_host(domain: str) -> str:
    """The policy host of a mail domain: ``mta-sts.<domain>`` (no trailing dot, lower case)."""
    return "mta-sts." + domain.rstrip(".").lower()


def policy_url(domain: str) -> str:
    """The policy's URL (what the request asks for, whichever address it is sent to)."""
    return f"https://{policy_host(domain)}{POLICY_PATH}"


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The leaf certificate the policy host presented (verified or not: see :attr:`verified`)."""

    subject: str  #: the subject's common name ("" if it has none)
    issuer: str  #: the issuer's common name (or its whole name, RFC 4514, without a common name)
    names: tuple[str, ...]  #: the subjectAltName dNSNames, as written in the certificate
    not_before: str  #: ISO 8601, UTC
    not_after: str  #: ISO 8601, UTC
    #: whether it was read from a handshake that verified it (False: from a second, unverified
    #: handshake made only to show what a rejected certificate was)
    verified: bool
    der: str = ""  #: the certificate itself, base64 DER

    def describe(self) -> str:
        """One line: names, validity and issuer."""
        names = ", ".join(self.names) if self.names else f"no DNS names (CN {self.subject or '-'})"
        return (
            f"certificate for {names}; valid {self.not_before} to {self.not_after}; issued by {self.issuer}"
        )


@dataclass(frozen=True, slots=True)
class MtaStsFetch:
    """One fetch of a domain's MTA-STS policy file from one address of its policy host."""

    domain: str
    host: str  #: the policy host: the TLS server name (SNI), the name verified and the Host header
    ip: str  #: the address connected to (the survey's own resolution of :attr:`host`)
    port: int
    url: str
    timeout: float  #: the bound of the whole fetch (connect, TLS, head and body), seconds
    max_bytes: int  #: the body read, at most, in bytes
    #: why no (whole) HTTP response was read: one of :data:`FAILURES` ("" when one was)
    failure: str = ""
    error: str = ""  #: the failure in words ("connection refused", "certificate has expired", ...)
    #: for a TLS failure, which (one of :data:`TLS_REASONS`)
    tls_reason: str = ""
    tls_version: str = ""  #: "TLSv1.3" (when the handshake succeeded)
    tls_cipher: str = ""
    certificate: PeerCertificate | None = None
    status: int = 0  #: the HTTP status (0 when no response head was read)
    reason: str = ""  #: the status line's reason phrase
    location: str = ""  #: the Location header (a redirect's target: reported, never followed)
    content_type: str = ""  #: the Content-Type header as sent ("" when absent)
    content_length: int | None = None  #: the Content-Length header, when sent and a number
    content_encoding: str = ""  #: the Content-Encoding header ("" or "identity" means none)
    #: the body as read (at most :attr:`max_bytes`), decoded as UTF-8 (undecodable bytes replaced)
    body: str = ""
    body_bytes: int = 0  #: how many bytes of body were kept (at most :attr:`max_bytes`)
    body_utf8: bool = True  #: the body kept was valid UTF-8
    truncated: bool = False  #: the server sent more than :attr:`max_bytes`: reading stopped there
    elapsed: float = 0.0  #: seconds from the start of the fetch to its end

    # -- the Fact protocol -------------------------------------------------------------------------
    @property
    def definite(self) -> bool:
        """An answer (or a TLS/HTTP failure that is itself the finding) rather than "could not test"."""
        return self.failure not in _NOT_DEFINITE

    @property
    def problem(self) -> str:
        if self.definite:
            return ""
        return f"could not fetch {self.url} from {self._where}: {self.error or self.failure}"

    def evidence(self) -> list[str]:
        out = [f"GET {self.url} from {self._where} (SNI and Host {self.host})"]
        if self.certificate is not None:
            seen = "presented" if self.certificate.verified else "presented (read without verification)"
            out.append(f"   TLS {seen}: {self.certificate.describe()}")
        if self.tls_version:
            out.append(f"   TLS: {self.tls_version} {self.tls_cipher}, certificate verified for {self.host}")
        if self.status:
            out.append(f"   HTTP {self.status} {self.reason}".rstrip())
            out.append(f"   Content-Type: {self.content_type or '(none)'}")
            if self.location:
                out.append(f"   Location: {self.location} (not followed)")
            if self.content_encoding:
                out.append(f"   Content-Encoding: {self.content_encoding}")
            size = f"{self.body_bytes} bytes" + (" (stopped there: more was sent)" if self.truncated else "")
            out.append(f"   body: {size}" + ("" if self.body_utf8 else ", not valid UTF-8"))
            lines = self.body.splitlines()
            out += [f"   | {line[:200]}" for line in lines[:12]]
            if len(lines) > 12:
                out.append(f"   | ... ({len(lines) - 12} more lines)")
        if self.failure:
            what = f"TLS ({self.tls_reason})" if self.tls_reason else self.failure
            out.append(f"   failed: {what}: {self.error}")
        out.append(f"   ({self.elapsed:.2f} s)")
        return out

    # -- what the checks read ----------------------------------------------------------------------
    @property
    def responded(self) -> bool:
        """An HTTP response head was read (a status is known)."""
        return self.status != 0

    @property
    def ok(self) -> bool:
        """Status 200, the whole body read, within the size limit (RFC 8461 section 3.3)."""
        return self.status == 200 and not self.failure and not self.too_large

    @property
    def too_large(self) -> bool:
        """The body is larger than :data:`POLICY_MAX_BYTES` (as read, or cut off past the cap)."""
        return self.truncated or self.body_bytes > POLICY_MAX_BYTES

    @property
    def media_type(self) -> str:
        """The Content-Type's media type, lower case, without parameters ("text/plain")."""
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def redirected(self) -> bool:
        return 300 <= self.status < 400

    @property
    def _where(self) -> str:
        if not self.ip:  # (the policy host has no address: nothing was connected to)
            return self.host or "the policy host"
        where = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{where} port {self.port}"
