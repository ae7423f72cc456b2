"""The survey's MTA-STS policy fetch against the lab's HTTPS server, knob by knob, on loopback.

One lab server serves every policy host of this module on one address (127.0.15.1), told apart by
SNI; a refused connection is a port nobody listens on. Nothing asserts how fast the machine is: the
timeouts are generous where the verdict is not about them, and where it is (a server that never
finishes, or never answers), only loose bounds on the fetch's duration are asserted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mailspec.survey.https as survey_https
from mailspec.facts.base import Fact, decode, encode
from mailspec.facts.mtasts import POLICY_MAX_BYTES, MtaStsFetch
from mailspec.survey.https import MAX_BYTES, fetch_mta_sts_policy
from mailspec.testing.https import HttpsSite, LabHttps, serving
from mailspec.testing.pki import WRONG_NAME, LabCA

IP = "127.0.15.1"
#: the bound of fetches whose verdict is not about time: never reached on a working server
WAIT = 30.0
#: the bound of fetches that must end by it (silence, an endless body)
SHORT = 1.5
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx1.fetch.test\r\nmax_age: 604800\r\n"

#: domain label -> the knobs of its policy host mta-sts.<label>.test
SITES: dict[str, dict[str, Any]] = {
    "good": {},
    "wrongname": {"certificate": "wrong-name"},
    "expired": {"certificate": "expired"},
    "selfsigned": {"certificate": "self-signed"},
    "missing": {"status": 404},
    "moved": {"redirect": "https://mta-sts.good.test/.well-known/mta-sts.txt"},
    "html": {"content_type": "text/html; charset=utf-8"},
    "untyped": {"content_type": ""},
    "endless": {"body": "endless"},
    "huge": {"body": "huge"},
    "silent": {"silence": "http"},
    "broken": {"status": 500},
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("https-ca"))


@pytest.fixture(scope="module")
def server(ca: LabCA) -> Iterator[LabHttps]:
    sites = [
        HttpsSite(host=f"mta-sts.{label}.test", ip=IP, policy=POLICY, **knobs)
        for label, knobs in SITES.items()
    ]
    with serving(sites, ca) as started:
        yield started
        assert not started.internal_errors


def fetch(
    server: LabHttps, ca: LabCA | None, label: str, timeout: float = WAIT, **kwargs: Any
) -> MtaStsFetch:
    ca_path = str(ca.ca_path) if ca is not None else None
    coro = fetch_mta_sts_policy(
        f"{label}.test", IP, port=server.port, ca_path=ca_path, timeout=timeout, **kwargs
    )
    return asyncio.run(coro)


def requests_for(server: LabHttps, host: str) -> int:
    counts: dict[str, int] = server.stats()[IP]["per_host"]
    return counts.get(host, 0)


def round_trips(result: MtaStsFetch) -> None:
    assert isinstance(result, Fact)
    assert decode(MtaStsFetch, encode(result)) == result
    assert result.evidence()


# ---------------------------------------------------------------------------------------------- 200


def test_valid_policy_is_fetched(server: LabHttps, ca: LabCA) -> None:
    result = fetch(server, ca, "good")
    assert result.definite and result.problem == ""
    assert result.failure == "" and result.status == 200 and result.ok
    assert result.body == POLICY and result.body_bytes == len(POLICY) and not result.truncated
    assert result.media_type == "text/plain" and result.content_length == len(POLICY)
    assert (
        result.host == "mta-sts.good.test"
        and result.url == "https://mta-sts.good.test/.well-known/mta-sts.txt"
    )
    assert result.tls_version in ("TLSv1.2", "TLSv1.3")
    assert result.certificate is not None and result.certificate.verified
    assert result.certificate.names == ("mta-sts.good.test",)
    assert result.certificate.issuer == "mailspec lab CA"
    round_trips(result)


def test_request_carries_sni_host_and_no_compression(server: LabHttps, ca: LabCA) -> None:
    before = len(server.stats()[IP]["requests"])
    fetch(server, ca, "good")
    stats = server.stats()[IP]
    (request,) = stats["requests"][before:]
    assert request["sni"] == "mta-sts.good.test"
    assert request["host"] == f"mta-sts.good.test:{server.port}"  # (not the default port: it is named)
    assert request["method"] == "GET" and request["target"] == "/.well-known/mta-sts.txt"
    assert request["headers"]["accept-encoding"] == "identity"
    assert request["headers"]["cache-control"] == "no-cache"
    assert "mailspec" in request["headers"]["user-agent"]


def test_no_name_is_resolved(server: LabHttps, ca: LabCA, monkeypatch: pytest.MonkeyPatch) -> None:
    """The address is the survey's: neither httpx nor getaddrinfo resolves the policy host."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def only_literals(host: Any, *args: Any, **kwargs: Any) -> Any:
        text = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(text)
        ipaddress.ip_address(text)  # raises (and fails the fetch) for a name
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_literals)
    result = fetch(server, ca, "good")
    assert result.status == 200, result.evidence()
    assert all(ipaddress.ip_address(h) for h in asked)


# ---------------------------------------------------------------------------------------------- TLS


@pytest.mark.parametrize(
    ("label", "reason", "words"),
    [
        ("wrongname", "wrong-name", "hostname mismatch"),
        ("expired", "expired", "expired"),
        ("selfsigned", "self-signed", "self-signed"),
    ],
)
def test_bad_certificate_is_a_definite_tls_failure(
    server: LabHttps, ca: LabCA, label: str, reason: str, words: str
) -> None:
    result = fetch(server, ca, label)
    assert result.definite and result.problem == ""
    assert result.failure == "tls" and result.tls_reason == reason
    assert words in result.error.lower()
    assert result.status == 0 and not result.ok
    assert requests_for(server, f"mta-sts.{label}.test") == 0  # nothing was sent over a rejected TLS
    # the rejected certificate is read again, unverified, for the evidence
    assert result.certificate is not None and not result.certificate.verified
    if reason == "wrong-name":
        assert result.certificate.names == (WRONG_NAME,)
    round_trips(result)
    assert any(reason in line for line in result.evidence())


def test_unknown_ca_without_the_lab_bundle(server: LabHttps) -> None:
    """Without --mail-ca, the system's store is trusted: the lab CA is unknown to it."""
    result = fetch(server, None, "good")
    assert result.definite and result.failure == "tls" and result.tls_reason == "unknown-ca"


def test_unreadable_ca_bundle_is_not_a_finding(server: LabHttps, tmp_path: Path) -> None:
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("no certificate here\n")
    result = asyncio.run(
        fetch_mta_sts_policy("good.test", IP, port=server.port, ca_path=str(bundle), timeout=WAIT)
    )
    assert not result.definite and result.failure == "setup" and str(bundle) in result.problem


# ---------------------------------------------------------------------------------------------- HTTP


def test_404_is_a_finding(server: LabHttps, ca: LabCA) -> None:
    result = fetch(server, ca, "missing")
    assert result.definite and result.failure == "" and result.status == 404 and not result.ok
    round_trips(result)


def test_500_is_a_finding(server: LabHttps, ca: LabCA) -> None:
    result = fetch(server, ca, "broken")
    assert result.definite and result.status == 500 and not result.ok


def test_redirect_is_reported_not_followed(server: LabHttps, ca: LabCA) -> None:
    good_before = requests_for(server, "mta-sts.good.test")
    result = fetch(server, ca, "moved")
    assert result.definite and result.status == 301 and result.redirected and not result.ok
    assert result.location == "https://mta-sts.good.test/.well-known/mta-sts.txt"
    assert requests_for(server, "mta-sts.moved.test") >= 1
    assert requests_for(server, "mta-sts.good.test") == good_before  # the target was not asked
    assert any("not followed" in line for line in result.evidence())


@pytest.mark.parametrize(("label", "sent"), [("html", "text/html; charset=utf-8"), ("untyped", "")])
def test_content_type_is_recorded(server: LabHttps, ca: LabCA, label: str, sent: str) -> None:
    result = fetch(server, ca, label)
    assert result.status == 200 and result.body == POLICY
    assert result.content_type == sent and result.media_type == sent.split(";", maxsplit=1)[0]


# ---------------------------------------------------------------------------------------------- bounds


def test_huge_body_is_capped(server: LabHttps, ca: LabCA) -> None:
    result = fetch(server, ca, "huge")
    assert result.definite and result.status == 200
    assert result.content_length == 1 << 30
    assert result.truncated and result.too_large and not result.ok
    assert result.body_bytes == MAX_BYTES and len(result.body.encode()) == MAX_BYTES
    assert result.body.startswith(POLICY)


def test_smaller_cap(server: LabHttps, ca: LabCA) -> None:
    result = fetch(server, ca, "huge", max_bytes=1000)
    assert result.truncated and result.body_bytes == 1000 and result.too_large


def test_body_just_under_the_cap_is_whole(server: LabHttps, ca: LabCA) -> None:
    result = fetch(server, ca, "good", max_bytes=len(POLICY))
    assert not result.truncated and result.ok and result.body == POLICY


def test_endless_body_ends_at_the_timeout(server: LabHttps, ca: LabCA) -> None:
    """The lab's endless body trickles far slower than the cap could be reached in SHORT seconds."""
    started = time.monotonic()
    result = fetch(server, ca, "endless", timeout=SHORT)
    took = time.monotonic() - started
    assert took < SHORT + 1.0
    assert not result.definite and result.failure == "timeout" and "timeout" in result.problem
    assert result.status == 200 and result.body.startswith(POLICY)  # what came is kept, as evidence
    assert result.body_bytes < POLICY_MAX_BYTES
    assert SHORT - 0.1 <= result.elapsed < SHORT + 1.0
    round_trips(result)


def test_endless_body_ends_at_the_cap(server: LabHttps, ca: LabCA) -> None:
    """With a cap below what trickles in within the timeout, the cap ends it first."""
    result = fetch(server, ca, "endless", max_bytes=len(POLICY) + 10)
    assert result.definite and result.truncated and result.status == 200
    assert result.elapsed < WAIT


def test_silent_server_is_not_definite(server: LabHttps, ca: LabCA) -> None:
    started = time.monotonic()
    result = fetch(server, ca, "silent", timeout=SHORT)
    assert time.monotonic() - started < SHORT + 1.0
    assert not result.definite and result.failure == "timeout" and result.status == 0
    assert "waiting for the response" in result.error
    round_trips(result)


def test_refused_connection_is_not_definite(ca: LabCA) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind((IP, 0))
        port = sock.getsockname()[1]
    result = asyncio.run(
        fetch_mta_sts_policy("good.test", IP, port=port, ca_path=str(ca.ca_path), timeout=WAIT)
    )
    assert not result.definite and result.failure == "connect"
    assert result.error == "connection refused" and "connection refused" in result.problem
    assert result.elapsed < WAIT
    round_trips(result)


def test_slot_serialises_fetches_to_one_server(server: LabHttps, ca: LabCA) -> None:
    """Three fetches that each last their timeout, sharing the host's slot: one after the other."""
    each = 0.5

    async def three() -> list[MtaStsFetch]:
        slot = asyncio.Semaphore(survey_https.PER_HOST)
        return list(
            await asyncio.gather(
                *(
                    fetch_mta_sts_policy(
                        "silent.test", IP, port=server.port, ca_path=str(ca.ca_path), timeout=each, slot=slot
                    )
                    for _ in range(3)
                )
            )
        )

    started = time.monotonic()
    results = asyncio.run(three())
    assert all(r.failure == "timeout" for r in results)
    assert time.monotonic() - started >= 3 * each - 0.05  # (a lower bound: a slow machine only adds)


def test_ipv6_literal(ca: LabCA) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    site = HttpsSite(host="mta-sts.six.test", ip="::1", policy=POLICY)
    with serving([site], ca) as six:
        result = asyncio.run(
            fetch_mta_sts_policy("six.test", "::1", port=six.port, ca_path=str(ca.ca_path), timeout=WAIT)
        )
    assert result.status == 200 and result.body == POLICY
    assert "[::1]" in result.evidence()[0]
