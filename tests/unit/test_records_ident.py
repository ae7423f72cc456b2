"""IDENT replies (RFC 1413)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.records.ident import ERROR_TYPES, IdentError, IdentReply, parse_ident_reply


def test_the_rfcs_examples() -> None:
    assert parse_ident_reply(b"6193, 23 : USERID : UNIX : stjohns\r\n") == IdentReply(
        6193, 23, "USERID", opsys="UNIX", charset="US-ASCII", user_id="stjohns"
    )
    assert parse_ident_reply(b"6195, 23 : ERROR : NO-USER\r\n") == IdentReply(
        6195, 23, "ERROR", error="NO-USER"
    )


@pytest.mark.parametrize(
    "line",
    [
        b"6193,23:USERID:UNIX:stjohns",
        b"  6193 ,\t23  :  USERID :UNIX : stjohns",
        b"6193, 23 : userid : UNIX : stjohns\n",
    ],
)
def test_white_space_and_case_around_tokens_do_not_matter(line: bytes) -> None:
    reply = parse_ident_reply(line)
    assert (reply.server_port, reply.client_port, reply.kind, reply.opsys, reply.user_id) == (
        6193, 23, "USERID", "UNIX", "stjohns",
    )  # fmt: skip


def test_the_user_id_is_everything_after_the_third_colon() -> None:
    reply = parse_ident_reply(b"1, 2 : USERID : OTHER : a : b , c  ")
    assert reply.user_id == "a : b , c  "  # (colons, commas and trailing space are part of it)


def test_a_character_set_is_read_and_used() -> None:
    reply = parse_ident_reply(b"25, 40000 : USERID : UNIX , UTF-8 : j\xc3\xb6rg")
    assert (reply.charset, reply.user_id) == ("UTF-8", "jörg")


def test_an_unknown_character_set_keeps_the_octets() -> None:
    reply = parse_ident_reply(b"25, 40000 : USERID : OTHER, OCTET : \xff\x00\x01".replace(b"\x00", b"\x02"))
    assert reply.charset == "OCTET"
    assert reply.user_id.encode("latin-1") == b"\xff\x02\x01"


@pytest.mark.parametrize("charset", [b"hex", b"rot13", b"base64", b"encodings.idna", b"../../x"])
def test_a_charset_that_is_no_text_encoding_keeps_the_octets(charset: bytes) -> None:
    reply = parse_ident_reply(b"1,2:USERID:UNIX," + charset + b":abc\xff")
    assert reply.user_id == "abc\xff"


def test_8bit_octets_in_a_us_ascii_user_id_are_replaced() -> None:
    assert parse_ident_reply(b"1,2:USERID:UNIX:ab\xffc").user_id == "ab\ufffdc"


@pytest.mark.parametrize("error", [*ERROR_TYPES, "X-MAILSPEC", "XY", "no-user"])
def test_error_types(error: str) -> None:
    reply = parse_ident_reply(f"113, 25 : ERROR : {error}".encode())
    assert reply.is_error
    assert reply.error == error
    assert reply.user_id == ""


def test_answers_matches_the_port_pair_as_asked() -> None:
    reply = parse_ident_reply(b"25, 41234 : ERROR : HIDDEN-USER")
    assert reply.answers(25, 41234)
    assert not reply.answers(41234, 25)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"", "no ':'"),
        (b"HTTP/1.1 400 Bad Request", "no ':'"),
        (b"SSH-2.0-OpenSSH_9.2p1 Debian", "no ':'"),
        (b"6193 23 : USERID : UNIX : x", "no ','"),
        (b"6193, : USERID : UNIX : x", "client port ''"),
        (b"0, 23 : USERID : UNIX : x", "server port '0'"),
        (b"65536, 23 : USERID : UNIX : x", "server port '65536'"),
        (b"123456, 23 : USERID : UNIX : x", "server port"),
        (b"-1, 23 : USERID : UNIX : x", "server port"),
        (b"1\xff, 23 : USERID : UNIX : x", "8-bit"),
        (b"1, 2 : USERID", "not followed by ':'"),
        (b"1, 2 : WHATEVER : x", "neither USERID nor ERROR"),
        (b"1, 2 : ERROR : BOGUS", "does not begin with 'X'"),
        (b"1, 2 : ERROR : X", "does not begin with 'X'"),  # "X" 1*63 token characters
        (b"1, 2 : ERROR : NO USER", "not a token"),
        (b"1, 2 : ERROR :", "not a token"),
        (b"1, 2 : ERROR : " + b"X" * 65, "not a token"),
        (b"1, 2 : ERROR : NO-\xc3\x9cSER", "8-bit"),
        (b"1, 2 : USERID : UNIX", "no ':' between"),
        (b"1, 2 : USERID : : x", "operating system ''"),
        (b"1, 2 : USERID : UN IX : x", "not a token"),
        (b"1, 2 : USERID : UNIX, : x", "character set ''"),
        (b"1, 2 : USERID : \xc3\x9cNIX : x", "8-bit"),
        (b"1, 2 : USERID : UNIX :", "empty user id"),
        (b"1, 2 : USERID : UNIX :   ", "empty user id"),
        (b"1, 2 : USERID : UNIX : a\x00b", "NUL"),
        (b"1, 2 : USERID : UNIX : a\rb", "CR"),
        (b"1, 2 : USERID : UNIX : a\nb\r\n", "LF"),
    ],
)
def test_garbage_raises_ident_error_saying_why(line: bytes, fragment: str) -> None:
    with pytest.raises(IdentError) as info:
        parse_ident_reply(line)
    assert fragment in str(info.value)


def test_ident_error_is_a_value_error() -> None:
    assert issubclass(IdentError, ValueError)


PIECES = st.sampled_from(
    [b"25", b"113", b",", b":", b" ", b"USERID", b"ERROR", b"UNIX", b"NO-USER", b"\xff", b"X"]
)


@given(st.binary(max_size=60) | st.lists(PIECES, max_size=12).map(b"".join))
def test_parse_ident_reply_raises_nothing_but_ident_error(line: bytes) -> None:
    try:
        reply = parse_ident_reply(line)
    except IdentError:
        return
    assert 1 <= reply.server_port <= 65535
    assert 1 <= reply.client_port <= 65535
    assert reply.kind in ("USERID", "ERROR")
    assert (reply.kind == "ERROR") is bool(reply.error)


@given(
    st.integers(1, 65535),
    st.integers(1, 65535),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
)
def test_userid_replies_round_trip(server: int, client: int, user: str) -> None:
    reply = parse_ident_reply(f"{server} , {client} : USERID : UNIX : {user}\r\n".encode())
    assert (reply.server_port, reply.client_port, reply.user_id) == (server, client, user)
