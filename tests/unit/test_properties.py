"""Properties of the name and record helpers, over generated input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailspec.errors import SettingError
from mailspec.records.hostname import hostname_problem, normalise_domain, split_labels
from mailspec.records.spf import authorises_hosts, is_spf
from mailspec.records.txt import txt_value

LDH = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
TLD = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
HOSTNAMES = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(LDH, min_size=1, max_size=4), TLD
)


@given(HOSTNAMES)
def test_valid_host_names_have_no_problem(name: str) -> None:
    assert hostname_problem(name) is None
    assert hostname_problem(name + ".") is None


@given(st.text() | st.text(alphabet="ab.\\0125"))  # the second, dense in escapes and dots
def test_split_labels_never_raises(text: str) -> None:
    labels = split_labels(text)
    assert isinstance(labels, list)
    assert all(isinstance(label, str) for label in labels)


@given(HOSTNAMES)
def test_split_labels_round_trips_plain_names(name: str) -> None:
    assert split_labels(name) == name.split(".")
    assert split_labels(name + ".") == name.split(".")
    assert ".".join(split_labels(name)) == name


@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=6))
def test_split_labels_reads_what_dnspython_writes(labels: list[bytes]) -> None:
    import dns.name

    text = dns.name.Name([*labels, b""]).to_text()  # escapes '.', '\\', '"' ... and \DDD the rest
    assert split_labels(text) == [label.decode("latin-1") for label in labels]


@given(HOSTNAMES)
def test_normalisation_is_idempotent_and_case_blind(name: str) -> None:
    once = normalise_domain(name.upper() + ".")
    assert once == name
    assert normalise_domain(once) == once


@given(st.text(max_size=40))
def test_normalisation_accepts_or_names_the_value(text: str) -> None:
    try:
        normalise_domain(text)
    except SettingError as exc:
        message = str(exc)
    else:
        return
    assert "expected" in message


@given(
    st.lists(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        min_size=1,
        max_size=4,
    )
)
def test_txt_strings_are_joined_without_spaces(parts: list[str]) -> None:
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    rdata = dns.rdata.from_wire(
        dns.rdataclass.IN,
        dns.rdatatype.TXT,
        b"".join(bytes([len(p)]) + p.encode() for p in parts),
        0,
        sum(len(p) + 1 for p in parts),
    )
    assert txt_value(rdata.to_text()) == "".join(parts)


@pytest.mark.parametrize(
    ("record", "spf", "senders"),
    [
        ("v=spf1 -all", True, False),
        ("v=spf1 ~all", True, False),
        ("v=spf1", True, False),
        ("v=spf1 mx -all", True, True),
        ("v=spf1 redirect=_spf.example.net", True, True),
        ("v=spf10 -all", False, False),
        ("V=SPF1 ip4:192.0.2.0/24 -all", True, True),
    ],
)
def test_spf_helpers(record: str, spf: bool, senders: bool) -> None:
    assert is_spf(record) is spf
    if spf:
        assert authorises_hosts(record) is senders
