"""The lab's HTTPS server (MTA-STS policy hosts), knob by knob, seen with the standard library only.

ssl and sockets, never the survey's client (httpx), so that a bug shared by both cannot hide. One
server serves every host of this module on 127.0.14.1 (told apart by SNI), another address is
silent at the TCP level. Nothing is timed: every wait is a generous bound, except the few that show
that nothing arrives (a short wait suffices: a byte that should never come does not come later).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from mailspec.testing.https import (
    DRIBBLE_SECONDS,
    HUGE_BYTES,
    POLICY_PATH,
    HttpsSite,
    LabHttps,
    serving,
)
from mailspec.testing.pki import WRONG_NAME, LabCA

IP = "127.0.14.1"
QUIET_IP = "127.0.14.2"
WAIT = 30.0
#: how long a test waits to see that nothing arrives
QUIET = 0.5
POLICY = "version: STSv1\r\nmode: testing\r\nmx: *.lab.test\r\nmax_age: 86400\r\n"

SITES: dict[str, dict[str, Any]] = {
    "good": {},
    "other": {"policy": "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"},
    "names": {"cert_names": ("a.names.test", "b.names.test")},
    "wrongname": {"certificate": "wrong-name"},
    "expired": {"certificate": "expired"},
    "selfsigned": {"certificate": "self-signed"},
    "missing": {"status": 404},
    "teapot": {"status": 418},
    "moved": {"redirect": "https://elsewhere.test/policy"},
    "found": {"redirect": "https://elsewhere.test/policy", "status": 302},
    "html": {"content_type": "text/html"},
    "untyped": {"content_type": ""},
    "huge": {"body": "huge"},
    "endless": {"body": "endless"},
    "silent": {"silence": "http"},
}


def host(label: str) -> str:
    return f"mta-sts.{label}.test"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("lab-https"))


@pytest.fixture(scope="module")
def server(ca: LabCA) -> Iterator[LabHttps]:
    sites = [HttpsSite(host=host(label), ip=IP, policy=knobs.pop("policy", POLICY), **knobs)
             for label, knobs in ((k, dict(v)) for k, v in SITES.items())]  # fmt: skip
    sites.append(HttpsSite(host=host("quiet"), ip=QUIET_IP, silence="tcp"))
    with serving(sites, ca) as started:
        yield started
        assert not started.internal_errors


def trusting(ca: LabCA | None) -> ssl.SSLContext:
    """A client context that trusts the lab CA and checks names, or (None) checks nothing."""
    if ca is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=str(ca.ca_path))


def connect(server: LabHttps, sni: str | None, ca: LabCA | None, ip: str = IP) -> ssl.SSLSocket:
    raw = socket.create_connection((ip, server.port), timeout=WAIT)
    try:
        return trusting(ca).wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def read_response(tls: ssl.SSLSocket, limit: int = 1 << 20) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of a response with a Content-Length, or of the
    first *limit* bytes of one without."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        assert chunk, f"connection closed in the response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", limit))
    while len(body) < min(length, limit):
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def get(
    server: LabHttps,
    label: str,
    ca: LabCA | None,
    *,
    path: str = POLICY_PATH,
    host_header: str | None = None,
    method: str = "GET",
) -> tuple[int, dict[str, str], bytes]:
    name = host(label)
    with connect(server, name, ca) as tls:
        request = f"{method} {path} HTTP/1.1\r\nHost: {host_header or name}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        return read_response(tls)


def ended(sock: socket.socket) -> bool:
    """Whether the peer ends the connection (an EOF or a reset) within :data:`WAIT`."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:  # (ssl.SSLError too: a TLS connection dropped without its close_notify)
        return True
    return True


def leaf(tls: ssl.SSLSocket) -> x509.Certificate:
    der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def san(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )


# ---------------------------------------------------------------------------------------------- TLS


def test_valid_site_serves_its_policy(server: LabHttps, ca: LabCA) -> None:
    status, headers, body = get(server, "good", ca)
    assert status == 200 and body == POLICY.encode()
    assert headers["content-type"] == "text/plain"
    assert headers["content-length"] == str(len(POLICY))
    assert headers["connection"] == "close"


def test_sni_picks_the_certificate_and_the_site(server: LabHttps, ca: LabCA) -> None:
    for label in ("good", "other"):
        with connect(server, host(label), ca) as tls:
            assert san(leaf(tls)) == [host(label)]
    status, _, body = get(server, "other", ca)
    assert status == 200 and b"mode: none" in body


def test_cert_names_knob(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("names"), None) as tls:
        assert san(leaf(tls)) == ["a.names.test", "b.names.test"]
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(server, host("names"), ca)


def test_wrong_name_certificate(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("wrongname"), None) as tls:
        assert san(leaf(tls)) == [WRONG_NAME]
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        connect(server, host("wrongname"), ca)
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH


def test_expired_certificate(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("expired"), None) as tls:
        cert = leaf(tls)
    assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
    assert san(cert) == [host("expired")]
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        connect(server, host("expired"), ca)
    assert info.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED


def test_self_signed_certificate(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("selfsigned"), None) as tls:
        cert = leaf(tls)
    assert cert.issuer == cert.subject
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        connect(server, host("selfsigned"), ca)
    assert info.value.verify_code == 18  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT


def test_unknown_or_missing_sni_gets_the_first_site(server: LabHttps, ca: LabCA) -> None:
    for sni in (None, "nobody.test"):
        with connect(server, sni, None) as tls:
            assert san(leaf(tls)) == [host("good")]
            tls.sendall(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: nobody.test\r\n\r\n")
            status, _, body = read_response(tls)
        assert status == 200 and body == POLICY.encode()


def test_host_header_picks_the_site(server: LabHttps, ca: LabCA) -> None:
    status, _, body = get(server, "good", ca, host_header=f"{host('other')}:{server.port}")
    assert status == 200 and b"mode: none" in body


def test_a_rejected_handshake_is_counted(server: LabHttps, ca: LabCA) -> None:
    before = server.stats()[IP]["handshake_failures"]
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(server, host("expired"), ca)
    deadline = time.monotonic() + WAIT
    while server.stats()[IP]["handshake_failures"] == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stats()[IP]["handshake_failures"] == before + 1


# ---------------------------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize(("label", "status"), [("missing", 404), ("teapot", 418)])
def test_status_knob(server: LabHttps, ca: LabCA, label: str, status: int) -> None:
    got, _, body = get(server, label, ca)
    assert got == status and POLICY.encode() not in body


@pytest.mark.parametrize(("label", "status"), [("moved", 301), ("found", 302)])
def test_redirect_knob(server: LabHttps, ca: LabCA, label: str, status: int) -> None:
    got, headers, body = get(server, label, ca)
    assert got == status and headers["location"] == "https://elsewhere.test/policy"
    assert POLICY.encode() not in body


@pytest.mark.parametrize(("label", "sent"), [("html", "text/html"), ("untyped", None)])
def test_content_type_knob(server: LabHttps, ca: LabCA, label: str, sent: str | None) -> None:
    status, headers, body = get(server, label, ca)
    assert status == 200 and body == POLICY.encode()
    assert headers.get("content-type") == sent


def test_other_paths_and_methods(server: LabHttps, ca: LabCA) -> None:
    assert get(server, "good", ca, path="/")[0] == 404
    assert get(server, "good", ca, path="/.well-known/mta-sts.txt?x=1")[0] == 200
    assert get(server, "good", ca, method="POST")[0] == 405


def test_bad_request_gets_400(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("good"), ca) as tls:
        tls.sendall(b"this is not HTTP\r\n\r\n")
        assert read_response(tls)[0] == 400


def test_requests_are_recorded(server: LabHttps, ca: LabCA) -> None:
    before = len(server.stats()[IP]["requests"])
    get(server, "other", ca)
    stats = server.stats()[IP]
    (request,) = stats["requests"][before:]
    assert request["sni"] == host("other") and request["site"] == host("other")
    assert request["target"] == POLICY_PATH and request["headers"]["connection"] == "close"
    assert stats["per_host"][host("other")] >= 1
    assert host("other") in stats["server_names"]
    assert stats["peers"] == ["127.0.0.1"]


# ---------------------------------------------------------------------------------------------- bodies


def test_huge_body(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("huge"), ca) as tls:
        tls.sendall(f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host('huge')}\r\n\r\n".encode())
        status, headers, body = read_response(tls, limit=1 << 20)
    assert status == 200 and headers["content-length"] == str(HUGE_BYTES)
    assert body.startswith(POLICY.encode()) and len(body) >= 1 << 20
    # the client left after a megabyte: the server stops writing, far short of a gigabyte
    deadline = time.monotonic() + WAIT
    while server.stats()[IP]["open"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stats()[IP]["body_bytes"] < HUGE_BYTES // 8


def test_endless_body_dribbles(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("endless"), ca) as tls:
        tls.sendall(f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host('endless')}\r\n\r\n".encode())
        status, headers, first = read_response(tls, limit=len(POLICY))
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert POLICY.encode() in first
        # more keeps coming, a chunk at a time, and the response never ends
        more = b""
        deadline = time.monotonic() + WAIT
        while more.count(b"# and more") < 3 and time.monotonic() < deadline:
            chunk = tls.recv(4096)
            assert chunk, "the endless body ended"
            more += chunk
        assert b"0\r\n\r\n" not in more
    assert DRIBBLE_SECONDS > 0


def test_http_silence(server: LabHttps, ca: LabCA) -> None:
    with connect(server, host("silent"), ca) as tls:  # the handshake is answered...
        tls.sendall(f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host('silent')}\r\n\r\n".encode())
        tls.settimeout(QUIET)
        with pytest.raises(TimeoutError):  # ... the request never is
            tls.recv(1)


def test_tcp_silence(server: LabHttps) -> None:
    with socket.create_connection((QUIET_IP, server.port), timeout=WAIT) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello")  # something like a ClientHello: no answer either
        raw.settimeout(QUIET)
        with pytest.raises(TimeoutError):
            raw.recv(1)
    deadline = time.monotonic() + WAIT
    while server.stats()[QUIET_IP]["connections"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stats()[QUIET_IP]["connections"] >= 1


# ---------------------------------------------------------------------------------------------- lifecycle


def test_stop_ends_every_session_and_frees_the_port(ca: LabCA) -> None:
    sites = [
        HttpsSite(host=host("endless"), ip="127.0.14.3", policy=POLICY, body="endless"),
        HttpsSite(host=host("silent"), ip="127.0.14.3", silence="http"),
        HttpsSite(host=host("quiet"), ip="127.0.14.4", silence="tcp"),
    ]
    with serving(sites, ca) as lab:
        port = lab.port
        assert lab.running and sorted(lab.addresses) == ["127.0.14.3", "127.0.14.4"]
        quiet = socket.create_connection(("127.0.14.4", port), timeout=WAIT)
        endless = connect(lab, host("endless"), ca, ip="127.0.14.3")
        endless.sendall(f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host('endless')}\r\n\r\n".encode())
        assert endless.recv(1)
        deadline = time.monotonic() + WAIT
        while lab.sessions < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (lab.sessions, lab.stats()["127.0.14.3"]["open"]) == (2, 1)
    assert (lab.running, lab.sessions, lab.port) == (False, 0, 0)
    assert not lab.internal_errors
    # the clients see their connections end
    assert ended(endless) and ended(quiet)
    endless.close()
    quiet.close()
    with socket.socket() as again:  # the port is free again
        again.bind(("127.0.14.3", port))


def test_start_twice_and_an_empty_server(ca: LabCA) -> None:
    async def run() -> None:
        lab = LabHttps([HttpsSite(host=host("good"), ip="127.0.14.5", policy=POLICY)], ca)
        await lab.start()
        try:
            with pytest.raises(RuntimeError):
                await lab.start()
        finally:
            await lab.stop()
        empty = LabHttps([], ca)
        await empty.start()
        assert not empty.running and empty.port == 0
        await empty.stop()

    asyncio.run(run())


def test_several_addresses_share_one_port(ca: LabCA) -> None:
    sites = [HttpsSite(host=host("good"), ip=ip, policy=POLICY) for ip in ("127.0.14.6", "127.0.14.7")]
    with serving(sites, ca) as lab:
        for ip in ("127.0.14.6", "127.0.14.7"):
            with connect(lab, host("good"), ca, ip=ip) as tls:
                tls.sendall(f"GET {POLICY_PATH} HTTP/1.1\r\nHost: {host('good')}\r\n\r\n".encode())
                assert read_response(tls)[0] == 200
        assert all(s["requests"] for s in lab.stats().values())


@pytest.mark.parametrize(
    "knobs",
    [
        {"certificate": "forged"},
        {"body": "infinite"},
        {"silence": "loud"},
        {"status": 99},
        {"redirect": "https://x.test/", "status": 200},
        {"host": ""},
    ],
)
def test_bad_knobs_are_refused(knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        HttpsSite(**{"host": host("good"), "ip": IP, **knobs})


def test_tcp_silence_is_per_address(ca: LabCA) -> None:
    sites = [
        HttpsSite(host=host("a"), ip="127.0.14.8", silence="tcp"),
        HttpsSite(host=host("b"), ip="127.0.14.8"),
    ]
    with pytest.raises(ValueError, match="every host name"):
        LabHttps(sites, ca)
