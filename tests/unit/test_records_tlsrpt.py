"""TLS-RPT records (RFC 8460 §3)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.tlsrpt import TlsRptError, is_tlsrpt_record, parse_tlsrpt_record, tlsrpt_records


def test_mailto_record() -> None:
    r = parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:reports@example.com")
    assert [(u.scheme, u.host, u.address) for u in r.rua] == [
        ("mailto", "example.com", "reports@example.com")
    ]
    assert r.extensions == ()
    assert r.unsupported == ()


def test_several_uris_and_extensions() -> None:
    r = parse_tlsrpt_record(
        "v=TLSRPTv1;rua=mailto:a@example.com , https://reporting.example.net/v1/tlsrpt; ext.1=x:y;"
    )
    assert [u.scheme for u in r.rua] == ["mailto", "https"]
    assert r.rua[1].host == "reporting.example.net"
    assert r.extensions == (("ext.1", "x:y"),)


def test_strings_are_joined() -> None:
    assert parse_tlsrpt_record(["v=TLSRPTv1; rua=mai", "lto:a@example.com"]).rua[0].address == "a@example.com"


def test_an_unknown_scheme_next_to_a_supported_one_is_kept_apart() -> None:
    r = parse_tlsrpt_record("v=TLSRPTv1; rua=ftp://x.example.com/r,mailto:a@example.com")
    assert [u.scheme for u in r.unsupported] == ["ftp"]


def test_no_size_suffix_in_tlsrpt() -> None:
    with pytest.raises(TlsRptError, match="rua URI 1"):
        parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:a@example.com!10m")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("v=TLSRPTv1", "does not begin"),
        ("v=tlsrptv1; rua=mailto:a@example.com", "does not begin"),
        ("rua=mailto:a@example.com; v=TLSRPTv1;", "does not begin"),
        ("v=TLSRPTv1;", "no rua"),
        ("v=TLSRPTv1; x=1", "no rua"),
        ("v=TLSRPTv1; rua=", "rua= is empty"),
        ("v=TLSRPTv1; rua=ftp://x.example.com/r", "no mailto: or https: URI"),
        ("v=TLSRPTv1; rua=mailto:nobody", "rua URI 1: .*one address"),
        ("v=TLSRPTv1; rua=mailto:a@example.com,", "rua URI 2"),
        ("v=TLSRPTv1; rua=https:/path", "needs a host"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", "twice"),
        ("v=TLSRPTv1; rua = mailto:a@example.com", "not name=value"),
        ("v=TLSRPTv1;; rua=mailto:a@example.com", "empty"),
        ("v=TLSRPTv1; rua=mailto:a@example.com; x=a=b", "tlsrpt-ext-value"),
    ],
)
def test_bad_records(text: str, why: str) -> None:
    with pytest.raises(TlsRptError, match=why):
        parse_tlsrpt_record(text)


def test_selection() -> None:
    assert is_tlsrpt_record("v=TLSRPTv1; rua=mailto:a@example.com")
    assert not is_tlsrpt_record("v=TLSRPTv1")
    assert tlsrpt_records(["v=spf1 -all", ("v=TLSRPTv1;", "rua=mailto:a@example.com")]) == (
        "v=TLSRPTv1;rua=mailto:a@example.com",
    )


def test_a_10kb_record() -> None:
    text = "v=TLSRPTv1; rua=" + ",".join(f"mailto:r{i}@example.com" for i in range(600))
    assert len(text) > 10_000
    assert len(parse_tlsrpt_record(text).rua) == 600


_PIECES = st.sampled_from(
    [
        "v=TLSRPTv1",
        ";",
        " ",
        "rua=",
        "mailto:",
        "https://",
        "a@",
        "example.com",
        ",",
        "=",
        "!",
        "%",
        "\x00",
        "é",
    ]
)


@given(st.text())
def test_any_text_gives_a_record_or_a_tlsrpt_error(text: str) -> None:
    with contextlib.suppress(TlsRptError):
        parse_tlsrpt_record(text)


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_record_like_text_gives_a_record_or_a_tlsrpt_error(text: str) -> None:
    try:
        r = parse_tlsrpt_record(text)
    except TlsRptError:
        return
    assert r.rua
