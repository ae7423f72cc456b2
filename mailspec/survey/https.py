"""The HTTPS client of the survey: the MTA-STS policy fetch (RFC 8461 section 3.3), on httpx.

:func:`fetch_mta_sts_policy` sends ``GET https://mta-sts.<domain>/.well-known/mta-sts.txt`` to one
address of the policy host, which the survey resolved with its own DNS client: the URL httpx is given
names the address, never the host, so that neither httpx nor ``getaddrinfo`` resolves anything (the
system's resolver may point off the machine, and the survey's answers are the evidence). The policy
host's name goes where TLS and HTTP need it: the SNI, the name the certificate is verified against
(httpx's ``sni_hostname`` extension: the stdlib's hostname check uses the server name sent), and the
Host header.

What RFC 8461 asks of the fetch, and the catalog's bounds (mtasts.policy.fetch):

* the certificate verified against ``--mail-ca`` (a PEM bundle, instead of the system's store) or the
  system's store, never certifi's copy, and no proxy or certificate file from the environment;
* redirects not followed (section 3.3: "3xx MUST NOT be followed"): a 3xx is reported with its
  ``Location``; no HTTP cache (httpx has none, and ``Cache-Control: no-cache`` asks intermediaries
  for none);
* the whole fetch (connect, TLS, the response's head and its body) bounded by one timeout, and the
  body read streamed, at most ``max_bytes`` of it: a server that dribbles an endless body, or sends a
  gigabyte, costs the timeout or the cap, whichever comes first, and a bounded amount of memory;
* ``Accept-Encoding: identity``, and the raw body read: a compressed answer is never inflated (no
  decompression bomb), and is reported with its ``Content-Encoding``.

Every failure is data (:class:`~mailspec.facts.mtasts.MtaStsFetch`), never an exception. A TLS
verification failure says why (wrong name, expired, unknown CA, self-signed); after one, a second,
unverifying handshake on a fresh connection (after the first is closed, within what is left of the
timeout) reads the certificate that was rejected, for the evidence.

Politeness: one connection at a time per server. The survey passes the host's slot
(``engine.host(ip).slot("https", PER_HOST)``); the fetch's clock starts once the slot is held.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpcore
import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from mailspec import __version__
from mailspec.facts.mtasts import (
    POLICY_MAX_BYTES,
    POLICY_PATH,
    MtaStsFetch,
    PeerCertificate,
    policy_host,
    policy_url,
)
from mailspec.survey.dns import os_reason

__all__ = ["MAX_BYTES", "PER_HOST", "USER_AGENT", "client_context", "fetch_mta_sts_policy"]

#: connections to one policy host address at once, at most (the engine's slot "https")
PER_HOST = 1
#: the body read, at most, by default: a little more than the catalog's limit, so that a policy just
#: over it is read whole and reported with its size, and anything longer is cut off there
MAX_BYTES = POLICY_MAX_BYTES + 4096
USER_AGENT = f"mailspec/{__version__} (MTA-STS policy fetch; RFC 8461)"
#: the least time worth a second handshake that only reads a rejected certificate, seconds
PEEK_AT_LEAST = 0.05

#: OpenSSL's verification error codes (X509_V_ERR_*) -> MtaStsFetch.tls_reason
_VERIFY_REASONS = {
    2: "unknown-ca",  # unable to get issuer certificate
    9: "not-yet-valid",
    10: "expired",
    18: "self-signed",  # the leaf is its own issuer
    19: "unknown-ca",  # a self-signed root in the chain that nobody trusts
    20: "unknown-ca",  # unable to get local issuer certificate
    21: "unknown-ca",  # unable to verify the first certificate
    62: "wrong-name",  # hostname mismatch
}

#: httpcore's own errors. httpx maps them to its own classes through a table it builds once, from the
#: httpcore module it first saw; httpcore is imported here, eagerly, so that it is that module (httpx
#: imports it lazily, and a host that re-imports it, as pytester's in-process runs do when they restore
#: sys.modules, leaves httpx's table naming classes that are no longer raised). Caught as well, in
#: case an httpcore error still arrives unmapped: no exception from a server may escape the fetch.
_HTTPCORE_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol)

_contexts: dict[tuple[str | None, int], ssl.SSLContext] = {}


def client_context(ca_path: str | None) -> ssl.SSLContext:
    """The verifying TLS client context of the fetch: trusting the PEM bundle ``ca_path`` alone, or
    (None) the system's store. Made once per bundle (and again if the file changes)."""
    stamp = os.stat(ca_path).st_mtime_ns if ca_path else 0
    key = (ca_path, stamp)
    context = _contexts.get(key)
    if context is None:
        # (with a cafile, create_default_context loads that alone: the bundle replaces the store)
        context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
        context.set_alpn_protocols(["http/1.1"])
        _contexts[key] = context
    return context


async def fetch_mta_sts_policy(
    domain: str,
    ip: str,
    *,
    port: int = 443,
    ca_path: str | None,
    timeout: float,
    max_bytes: int = MAX_BYTES,
    slot: asyncio.Semaphore | None = None,
) -> MtaStsFetch:
    """Fetch ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` from the address ``ip``.

    ``ca_path`` is the PEM bundle to trust instead of the system's store; ``timeout`` bounds the whole
    fetch (seconds); at most ``max_bytes`` of the body are read. With ``slot`` (the host's politeness
    slot), the fetch waits for it first, and its clock starts once it holds it. Never raises for
    anything the network or the server does: the result says what happened.
    """
    if slot is None:
        return await _Fetch(domain, ip, port, ca_path, timeout, max_bytes).run()
    async with slot:
        return await _Fetch(domain, ip, port, ca_path, timeout, max_bytes).run()


@dataclass
class _Fetch:
    """One fetch in progress: where it has got, and what it has seen so far."""

    domain: str
    ip: str
    port: int
    ca_path: str | None
    timeout: float
    max_bytes: int
    phase: str = "connecting"
    failure: str = ""
    error: str = ""
    tls_reason: str = ""
    tls_version: str = ""
    tls_cipher: str = ""
    certificate: PeerCertificate | None = None
    status: int = 0
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    truncated: bool = False
    started: float = 0.0

    @property
    def host(self) -> str:
        return policy_host(self.domain)

    @property
    def target(self) -> str:
        """The URL httpx is given: the address, not the name (nothing to resolve)."""
        literal = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"https://{literal}:{self.port}{POLICY_PATH}"

    def left(self) -> float:
        return self.timeout - (time.monotonic() - self.started)

    async def run(self) -> MtaStsFetch:
        self.started = time.monotonic()
        try:
            context = client_context(self.ca_path)
        except (OSError, ssl.SSLError) as exc:
            self.fail("setup", f"cannot load the CA bundle {self.ca_path}: {exc}")
            return self.fact()
        try:
            async with asyncio.timeout(self.timeout):
                await self._get(context)
        except (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException):
            self.fail("timeout", self._timeout_words())
        except (httpx.HTTPError, httpx.InvalidURL, *_HTTPCORE_ERRORS, OSError, ValueError) as exc:
            self.fail(*_classify(exc, self.phase))
        if self.failure == "tls" and self.tls_reason != "handshake" and self.left() > PEEK_AT_LEAST:
            self.certificate = await _peek_certificate(self.ip, self.port, self.host, self.left())
        return self.fact()

    async def _get(self, context: ssl.SSLContext) -> None:
        host_header = self.host if self.port == 443 else f"{self.host}:{self.port}"
        headers = {
            "Host": host_header,
            "User-Agent": USER_AGENT,
            "Accept": "text/plain, */*;q=0.1",
            "Accept-Encoding": "identity",
            "Cache-Control": "no-cache",
            "Connection": "close",
        }
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            verify=context,
            trust_env=False,  # no proxy, no SSL_CERT_FILE, no .netrc from the environment
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout),
            limits=limits,
        ) as client:
            extensions = {"sni_hostname": self.host, "trace": self._trace}
            async with client.stream("GET", self.target, headers=headers, extensions=extensions) as response:
                self._head(response)
                self.phase = "reading the body"
                async for chunk in response.aiter_raw():
                    if self._take(chunk):
                        break

    async def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's progress events: where a timeout or an error struck."""
        if event == "connection.connect_tcp.complete":
            self.phase = "TLS handshake"
        elif event == "connection.start_tls.complete":
            self.phase = "waiting for the response"

    def _head(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        stream = response.extensions.get("network_stream")
        obj = stream.get_extra_info("ssl_object") if stream is not None else None
        if isinstance(obj, ssl.SSLObject):
            self.tls_version = obj.version() or ""
            cipher = obj.cipher()
            self.tls_cipher = cipher[0] if cipher else ""
            der = obj.getpeercert(binary_form=True)
            self.certificate = _certificate(der, verified=True) if der else None

    def _take(self, chunk: bytes) -> bool:
        """Keep a piece of the body; True when the cap is reached and reading should stop."""
        room = self.max_bytes - self.size
        if len(chunk) > room:
            self.chunks.append(chunk[:room])
            self.size = self.max_bytes
            self.truncated = True
            return True
        self.chunks.append(chunk)
        self.size += len(chunk)
        return False

    def fail(self, failure: str, error: str, tls_reason: str = "") -> None:
        self.failure, self.error, self.tls_reason = failure, error, tls_reason

    def _timeout_words(self) -> str:
        words = f"timeout ({self.phase}: no complete answer within {self.timeout:g} s"
        if self.status:
            words += f"; {self.size} bytes of body so far"
        return words + ")"

    def fact(self) -> MtaStsFetch:
        raw = b"".join(self.chunks)
        try:
            body, utf8 = raw.decode("utf-8"), True
        except UnicodeDecodeError:
            body, utf8 = raw.decode("utf-8", "replace"), False
        length = self.headers.get("content-length", "").strip()
        fact = MtaStsFetch(
            domain=self.domain,
            host=self.host,
            ip=self.ip,
            port=self.port,
            url=policy_url(self.domain),
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            failure=self.failure,
            error=self.error,
            tls_reason=self.tls_reason,
            tls_version=self.tls_version,
            tls_cipher=self.tls_cipher,
            certificate=self.certificate,
            status=self.status,
            reason=self.reason,
            location=self.headers.get("location", ""),
            content_type=self.headers.get("content-type", ""),
            content_length=int(length) if length.isdigit() else None,
            content_encoding=self.headers.get("content-encoding", ""),
            body=body,
            body_bytes=self.size,
            body_utf8=utf8,
            truncated=self.truncated,
        )
        return replace(fact, elapsed=round(time.monotonic() - self.started, 3))


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first (httpx wraps httpcore's, which wraps the cause)."""
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _classify(exc: BaseException, phase: str) -> tuple[str, str, str]:
    """(failure, error, tls_reason) of an exception that ended the fetch."""
    chain = _chain(exc)
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            code = cause.verify_code
            reason = _VERIFY_REASONS.get(code, "untrusted")
            message = cause.verify_message or str(cause)
            return "tls", f"certificate verification failed: {message}", reason
    for cause in chain:
        if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return "closed", f"connection closed during the {phase}", ""
        if isinstance(cause, ssl.SSLError):
            return "tls", f"TLS failed ({phase}): {cause.reason or cause}", "handshake"
    text = str(exc)
    if isinstance(exc, (httpx.RemoteProtocolError, httpcore.RemoteProtocolError)):
        if text.startswith(("Server disconnected", "peer closed")):
            return "closed", f"connection closed ({phase}): {text}", ""
        return "protocol", f"not an HTTP response: {text}", ""
    errors = [c for c in chain if isinstance(c, OSError) and c.errno is not None]
    if errors:
        reason = os_reason(errors[-1])
        if phase == "connecting":
            return "connect", reason, ""
        return "closed", f"{reason} ({phase})", ""
    if phase == "connecting" and isinstance(exc, (httpx.ConnectError, httpcore.ConnectError)):
        return "connect", text or "connection failed", ""
    if isinstance(exc, (httpx.NetworkError, httpcore.NetworkError)):
        return "closed", f"connection lost ({phase}): {text or type(exc).__name__}", ""
    if isinstance(exc, (httpx.InvalidURL, ValueError, httpx.LocalProtocolError)):
        return "setup", f"the request could not be made: {text}", ""
    return "protocol", f"{type(exc).__name__}: {text}", ""


async def _peek_certificate(ip: str, port: int, host: str, seconds: float) -> PeerCertificate | None:
    """The certificate the server presents, read with an unverifying handshake (for the evidence of
    a rejected one); None if that fails too. The connection is dropped right after the handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(seconds):
            # (an address literal: asyncio resolves nothing)
            _, writer = await asyncio.open_connection(ip, port, ssl=context, server_hostname=host)
            obj = writer.get_extra_info("ssl_object")
            der = obj.getpeercert(binary_form=True) if isinstance(obj, ssl.SSLObject) else None
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.transport.abort()
    return _certificate(der, verified=False) if der else None


def _certificate(der: bytes, *, verified: bool) -> PeerCertificate | None:
    """The facts of a DER certificate (None if it does not parse)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        issuer_cn = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        return PeerCertificate(
            subject=str(cn[0].value) if cn else "",
            issuer=str(issuer_cn[0].value) if issuer_cn else cert.issuer.rfc4514_string(),
            names=names,
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            verified=verified,
            der=base64.b64encode(der).decode("ascii"),
        )
    except ValueError:
        return None
