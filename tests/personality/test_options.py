"""Option letters: every option string of the database goes on the wire exactly."""

from __future__ import annotations

import pytest

from tests.personality.nmap_model import (
    ECN_OPTIONS,
    SEQ_PROBES,
    T_OPTIONS,
    option_letters,
)
from vnet.personality import Database
from vnet.personality.expression import alternatives
from vnet.personality.options import (
    Letter,
    build_options,
    keep_offered,
    letters_of,
    letters_to_text,
    parse_letters,
    probe_of,
    repad,
)
from vnet.wire import tcp
from vnet.wire.tcp import MSS, SACK_PERMITTED, TIMESTAMP, WSCALE, TcpOption, TcpSegment

SOURCE = 0xC000020A
DESTINATION = 0xC6336414


def _on_the_wire(options: tuple[TcpOption, ...]) -> str:
    """nmap's letters for a SYN-ACK carrying these options, read from bytes."""
    segment = TcpSegment(80, 40000, 1, 2, tcp.SYN | tcp.ACK, 1000, b"", options)
    data = tcp.emit(segment, SOURCE, DESTINATION)
    header_length = (data[12] >> 4) * 4
    return option_letters(data[20:header_length])


def _option_strings(database: Database) -> set[str]:
    strings = set()
    for fingerprint in database:
        for test in fingerprint.tests.values():
            for attribute, expression in test.items():
                if attribute in ("O", "O1", "O2", "O3", "O4", "O5", "O6"):
                    strings |= {alt.text for alt in alternatives(expression)}
    return strings


def test_every_option_string_in_the_database_is_sent_exactly(
    database: Database,
) -> None:
    strings = _option_strings(database)
    assert len(strings) > 1500
    for text in strings:
        letters = parse_letters(text)
        assert letters is not None, text
        assert letters_to_text(letters) == text
        options = build_options(letters, tsval=0x01020304, tsecr=0xFFFFFFFF)
        assert _on_the_wire(options) == text


def test_timestamp_letters_decide_the_values() -> None:
    letters = parse_letters("T11T10T01T00")
    assert letters is not None
    stamps = build_options(letters, tsval=0, tsecr=0)
    # Asked-for non-zero values stay non-zero even from a zero source.
    assert [option.value for option in stamps] == [(1, 1), (1, 0), (0, 1), (0, 0)]


def test_letters_after_an_end_of_list_travel_as_its_padding() -> None:
    letters = parse_letters("M5B4LLW1NT11")
    assert letters is not None
    options = build_options(letters, 5, 6)
    assert options[0] == TcpOption(MSS, 0x5B4)
    assert options[1].kind == tcp.EOL
    assert _on_the_wire(options) == "M5B4LLW1NT11"


@pytest.mark.parametrize("text", ["M5B4N", "M5B4X", "T2", "MZ", "W" + "N" * 40])
def test_strings_no_segment_could_carry_are_refused(text: str) -> None:
    assert parse_letters(text) is None


def test_nmaps_probes_are_recognised_by_their_options() -> None:
    for index, (_, options) in enumerate(SEQ_PROBES, start=1):
        assert probe_of(options) == str(index)
    assert probe_of(ECN_OPTIONS) == "ECN"
    assert probe_of(T_OPTIONS) == "T"
    # A browser's SYN is none of them.
    linux = (
        TcpOption(MSS, 1460),
        TcpOption(SACK_PERMITTED),
        TcpOption(TIMESTAMP, (12345, 0)),
        TcpOption(tcp.NOP),
        TcpOption(WSCALE, 7),
    )
    assert probe_of(linux) is None
    # SEQ3 and SEQ4 share a window; their options tell them apart.
    assert probe_of(SEQ_PROBES[2][1]) != probe_of(SEQ_PROBES[3][1])


def test_dropping_unoffered_options_keeps_whole_words() -> None:
    letters = parse_letters("M5B4ST11NW7")
    assert letters is not None
    without_timestamps = keep_offered(letters, frozenset({MSS, SACK_PERMITTED, WSCALE}))
    assert letters_to_text(without_timestamps) == "M5B4NNSNW7"
    mss_only = keep_offered(letters, frozenset({MSS}))
    assert letters_to_text(mss_only) == "M5B4"
    assert keep_offered(
        letters, frozenset({MSS, SACK_PERMITTED, WSCALE, TIMESTAMP})
    ) == (letters)


def test_repad_fills_to_a_word() -> None:
    laid = repad((Letter("M", 1460), Letter("W", 8)))
    assert letters_to_text(laid) == "M5B4NW8"
    assert sum(letter.size for letter in laid) % 4 == 0


def test_letters_of_values() -> None:
    options = (
        TcpOption(MSS, 1460),
        TcpOption(tcp.NOP),
        TcpOption(WSCALE, 7),
        TcpOption(TIMESTAMP, (1, 0)),
        TcpOption(tcp.EOL, b"\x00"),
    )
    assert letters_of(options) == "M5B4NW7T10LL"
