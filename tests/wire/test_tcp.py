import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnet.wire import MalformedFrame, ethernet, ipv4, tcp
from vnet.wire.checksum import internet_checksum, pseudo_header_sum
from vnet.wire.ipv4 import Ipv4Packet, addr_from_str
from vnet.wire.tcp import TcpOption, TcpSegment

from . import frames
from .strategies import tcp_option_areas, tcp_segments

CLIENT = addr_from_str("192.0.2.10")
SERVER = addr_from_str("198.51.100.20")

LINUX_SYN_OPTIONS = (
    TcpOption(tcp.MSS, 1460),
    TcpOption(tcp.SACK_PERMITTED),
    TcpOption(tcp.TIMESTAMP, (0x009A1C3F, 0)),
    TcpOption(tcp.NOP),
    TcpOption(tcp.WSCALE, 7),
)


def _segment_bytes(frame: bytes) -> bytes:
    return ipv4.parse(ethernet.parse(frame).payload).payload


def with_checksum(segment: bytes, src: int = CLIENT, dst: int = SERVER) -> bytes:
    """Write a correct checksum into raw segment bytes."""
    zeroed = segment[:16] + b"\x00\x00" + segment[18:]
    initial = pseudo_header_sum(src, dst, ipv4.PROTO_TCP, len(zeroed))
    checksum = internet_checksum(zeroed, initial)
    return zeroed[:16] + checksum.to_bytes(2, "big") + zeroed[18:]


def raw_segment(option_area: bytes, payload: bytes = b"", offset: int = -1) -> bytes:
    """A SYN with the given option area bytes and a correct checksum."""
    if offset < 0:
        offset = 5 + len(option_area) // 4
    header = struct.pack(
        "!HHIIBBHHH", 41922, 80, 1, 0, offset << 4, tcp.SYN, 1024, 0, 0
    )
    return with_checksum(header + option_area + payload)


def test_golden_linux_syn() -> None:
    data = _segment_bytes(frames.LINUX_SYN)

    segment = tcp.parse(data, CLIENT, SERVER)

    assert segment == TcpSegment(
        src_port=41922,
        dst_port=80,
        seq=0x6D3F2A1B,
        ack=0,
        flags=tcp.SYN,
        window=64240,
        payload=b"",
        options=LINUX_SYN_OPTIONS,
        urgent=0,
        reserved=0,
    )
    assert tcp.emit(segment, CLIENT, SERVER) == data


def test_syn_ack_built_from_golden_syn_is_golden_syn_ack() -> None:
    packet = ipv4.parse(ethernet.parse(frames.LINUX_SYN).payload)
    syn = tcp.parse(packet.payload, packet.src, packet.dst)
    tsval = syn.option(tcp.TIMESTAMP)
    assert isinstance(tsval, tuple)

    options = (
        TcpOption(tcp.MSS, 1460),
        TcpOption(tcp.SACK_PERMITTED),
        TcpOption(tcp.TIMESTAMP, (0x5E0F3A70, tsval[0])),
        TcpOption(tcp.NOP),
        TcpOption(tcp.WSCALE, 7),
    )
    reply = TcpSegment(
        syn.dst_port, syn.src_port, 0x2B1E0FF0, syn.seq + 1, tcp.SYN | tcp.ACK, 65160
    )
    reply = reply._replace(options=options)
    segment = tcp.emit(reply, packet.dst, packet.src)
    reply_packet = Ipv4Packet(
        packet.dst, packet.src, ipv4.PROTO_TCP, segment, flags=ipv4.FLAG_DF
    )

    assert ipv4.emit(reply_packet) == frames.LINUX_SYN_ACK[14:]


def test_option_lookup() -> None:
    segment = tcp.parse(_segment_bytes(frames.LINUX_SYN), CLIENT, SERVER)

    assert segment.option(tcp.MSS) == 1460
    assert segment.option(tcp.WSCALE) == 7
    assert segment.option(tcp.SACK) is None
    assert segment.has_option(tcp.SACK_PERMITTED)
    assert not segment.has_option(tcp.SACK)


def test_unknown_and_odd_options_are_kept_verbatim_in_order() -> None:
    area = bytes.fromhex(
        "01"  # NOP
        "fe 06 f989 0102"  # experimental kind 254 (RFC 6994), 4 data bytes
        "02 03 05"  # MSS with length 3: not the standard 4
        "1e 04 0001"  # kind 30, multipath
        "05 0a 00000001 00000002"  # SACK, one block
        "08 0a 00000003 00000004"  # timestamps
        "00 abcd 000000"  # EOL followed by non-zero bytes
    )
    data = raw_segment(area, b"payload")

    segment = tcp.parse(data, CLIENT, SERVER)

    assert segment.options == (
        TcpOption(tcp.NOP),
        TcpOption(254, bytes.fromhex("f9890102")),
        TcpOption(tcp.MSS, b"\x05"),
        TcpOption(30, b"\x00\x01"),
        TcpOption(tcp.SACK, ((1, 2),)),
        TcpOption(tcp.TIMESTAMP, (3, 4)),
        TcpOption(tcp.EOL, b"\xab\xcd\x00\x00\x00"),
    )
    assert segment.payload == b"payload"
    assert tcp.emit(segment, CLIENT, SERVER) == data


@pytest.mark.parametrize(
    ("area", "options"),
    [
        ("00000000", (TcpOption(tcp.EOL, b"\x00\x00\x00"),)),
        ("01010100", (TcpOption(tcp.NOP),) * 3 + (TcpOption(tcp.EOL, b""),)),
        ("05020000", (TcpOption(tcp.SACK, ()), TcpOption(tcp.EOL, b"\x00"))),
        (
            "0101 0522" + "00000001 00000002" * 4,
            (TcpOption(tcp.NOP),) * 2
            + (TcpOption(tcp.SACK, ((1, 2), (1, 2), (1, 2), (1, 2))),),
        ),
        ("0404 0301", (TcpOption(tcp.SACK_PERMITTED, b"\x03\x01"),)),
        ("0403 ff 00", (TcpOption(4, b"\xff"), TcpOption(tcp.EOL, b""))),
        ("0302 0000", (TcpOption(tcp.WSCALE, b""), TcpOption(tcp.EOL, b"\x00"))),
        ("0803 01 00", (TcpOption(tcp.TIMESTAMP, b"\x01"), TcpOption(tcp.EOL, b""))),
        (
            "0506 01020304 0000",
            (TcpOption(tcp.SACK, b"\x01\x02\x03\x04"), TcpOption(tcp.EOL, b"\x00")),
        ),
        (
            "ff02 0204 0000 0000",
            (TcpOption(255, b""), TcpOption(tcp.MSS, 0), TcpOption(tcp.EOL, b"\x00")),
        ),
    ],
)
def test_option_areas(area: str, options: tuple[TcpOption, ...]) -> None:
    data = raw_segment(bytes.fromhex(area))

    segment = tcp.parse(data, CLIENT, SERVER)

    assert segment.options == options
    assert tcp.emit(segment, CLIENT, SERVER) == data


def test_reserved_bits_and_every_flag_survive() -> None:
    segment = TcpSegment(1, 2, 3, 4, 0xFF, 5, b"", (), urgent=6, reserved=0xF)
    data = tcp.emit(segment, CLIENT, SERVER)
    assert data[12] == 0x5F
    assert data[13] == 0xFF
    assert tcp.parse(data, CLIENT, SERVER) == segment


@given(tcp_segments())
def test_round_trip(segment: TcpSegment) -> None:
    data = tcp.emit(segment, CLIENT, SERVER)
    assert tcp.parse(data, CLIENT, SERVER) == segment
    assert len(data) == 20 + tcp.options_length(segment.options) + len(segment.payload)


@given(tcp_option_areas(), st.binary(max_size=20))
def test_every_well_formed_segment_is_emitted_back_byte_for_byte(
    area: bytes, payload: bytes
) -> None:
    data = raw_segment(area, payload)
    try:
        segment = tcp.parse(data, CLIENT, SERVER)
    except MalformedFrame:
        return
    assert tcp.emit(segment, CLIENT, SERVER) == data


@pytest.mark.parametrize("length", range(40))
def test_truncated_segment_is_malformed(length: int) -> None:
    data = _segment_bytes(frames.LINUX_SYN)
    with pytest.raises(MalformedFrame, match="^tcp: "):
        tcp.parse(data[:length], CLIENT, SERVER)


@pytest.mark.parametrize("offset", [0, 1, 4])
def test_data_offset_below_five_is_malformed(offset: int) -> None:
    with pytest.raises(MalformedFrame, match="data offset"):
        tcp.parse(raw_segment(b"", offset=offset), CLIENT, SERVER)


def test_data_offset_past_the_segment_is_malformed() -> None:
    with pytest.raises(MalformedFrame, match="data offset 28 bytes in a 24-byte"):
        tcp.parse(raw_segment(b"\x01" * 4, offset=7), CLIENT, SERVER)


@pytest.mark.parametrize(
    ("area", "reason"),
    [
        ("02000000", "option 2 length 0 at 0 of 4"),
        ("01020100", "option 2 length 1 at 1 of 4"),
        ("fe050000", "option 254 length 5 at 0 of 4"),
        ("01010101 080a 00000001 0000", "option 8 length 10 at 4 of 12"),
        ("01010102", "option 2 has no length byte"),
        ("010101fe", "option 254 has no length byte"),
    ],
)
def test_bad_option_lengths_are_malformed(area: str, reason: str) -> None:
    with pytest.raises(MalformedFrame) as error:
        tcp.parse(raw_segment(bytes.fromhex(area)), CLIENT, SERVER)
    assert error.value.reason == reason


def test_bad_checksum_is_malformed_unless_not_verified() -> None:
    data = bytearray(_segment_bytes(frames.LINUX_SYN))
    data[16] ^= 0x01
    with pytest.raises(MalformedFrame, match="bad checksum"):
        tcp.parse(bytes(data), CLIENT, SERVER)
    assert tcp.parse(bytes(data), CLIENT, SERVER, verify=False).window == 64240


def test_wrong_pseudo_header_fails_the_checksum() -> None:
    data = _segment_bytes(frames.LINUX_SYN)
    with pytest.raises(MalformedFrame, match="bad checksum"):
        tcp.parse(data, CLIENT, SERVER + 1)


@pytest.mark.parametrize(
    "options",
    [
        (TcpOption(tcp.NOP), TcpOption(tcp.MSS, 1460)),  # 5 bytes
        (TcpOption(tcp.NOP),) * 41,
        (TcpOption(tcp.EOL), TcpOption(tcp.NOP), TcpOption(tcp.NOP)),
        (TcpOption(tcp.NOP, b""),),
        (TcpOption(tcp.MSS, b"\x05\xb4"),),
        (TcpOption(tcp.SACK, b"\x00" * 8),),
        (TcpOption(tcp.SACK_PERMITTED, b""),),
        (TcpOption(tcp.MSS, 0x10000),),
        (TcpOption(tcp.WSCALE, -1),),
        (TcpOption(tcp.TIMESTAMP, (1, 2, 3)),),
        (TcpOption(tcp.TIMESTAMP, 5),),
        (TcpOption(tcp.SACK, ((1, 2, 3),)),),
        (TcpOption(tcp.SACK, ((1, 2),) * 5),),
        (TcpOption(tcp.EOL, 5),),
        (TcpOption(99, 5),),
        (TcpOption(256, b"ab"),),
        (TcpOption(99, b"x" * 254),),
    ],
)
def test_emit_refuses_bad_options(options: tuple[TcpOption, ...]) -> None:
    segment = TcpSegment(1, 2, 3, 4, tcp.SYN, 5, options=options)
    with pytest.raises(ValueError):
        tcp.emit(segment, CLIENT, SERVER)


@pytest.mark.parametrize(
    "changes",
    [
        {"src_port": 0x10000},
        {"seq": 1 << 32},
        {"ack": -1},
        {"flags": 0x100},
        {"window": 0x10000},
        {"urgent": -1},
        {"reserved": 16},
        {"payload": "text"},
    ],
)
def test_emit_refuses_fields_out_of_range(changes: dict[str, object]) -> None:
    segment = TcpSegment(1, 2, 3, 4, tcp.ACK, 5)._replace(**changes)
    with pytest.raises((ValueError, TypeError)):
        tcp.emit(segment, CLIENT, SERVER)


def test_eol_without_value_encodes_as_one_byte() -> None:
    options = (TcpOption(tcp.NOP),) * 3 + (TcpOption(tcp.EOL),)
    assert tcp.encode_options(options) == b"\x01\x01\x01\x00"


def test_options_length() -> None:
    assert tcp.options_length(LINUX_SYN_OPTIONS) == 20
    assert tcp.options_length(()) == 0
    assert tcp.options_length((TcpOption(tcp.SACK, ((1, 2), (3, 4))),)) == 18
    assert tcp.options_length((TcpOption(254, b"abc"),)) == 5


@pytest.mark.parametrize(
    ("options", "padded"),
    [
        ((), ()),
        (LINUX_SYN_OPTIONS, LINUX_SYN_OPTIONS),
        ((TcpOption(tcp.NOP),), (TcpOption(tcp.NOP), TcpOption(tcp.EOL, b"\0\0"))),
        ((TcpOption(tcp.WSCALE, 7),), (TcpOption(tcp.WSCALE, 7), TcpOption(tcp.EOL))),
        (
            (TcpOption(tcp.MSS, 1460), TcpOption(tcp.EOL, b"")),
            (TcpOption(tcp.MSS, 1460), TcpOption(tcp.EOL, b"\0\0\0")),
        ),
        (
            (TcpOption(tcp.MSS, 1460), TcpOption(tcp.NOP), TcpOption(tcp.EOL)),
            (TcpOption(tcp.MSS, 1460), TcpOption(tcp.NOP), TcpOption(tcp.EOL, b"\0\0")),
        ),
    ],
)
def test_pad_options_appends_eol_and_zeros(
    options: tuple[TcpOption, ...], padded: tuple[TcpOption, ...]
) -> None:
    # TcpOption(EOL) and TcpOption(EOL, b"") encode alike; compare encodings.
    result = tcp.pad_options(options)
    assert tcp.encode_options(result) == tcp.encode_options(padded)
    assert tcp.options_length(result) % 4 == 0
    assert [option.kind for option in result] == [option.kind for option in padded]


def test_flags_to_str() -> None:
    assert tcp.flags_to_str(tcp.SYN | tcp.ACK) == "SA"
    assert tcp.flags_to_str(tcp.RST) == "R"
    assert tcp.flags_to_str(tcp.FIN | tcp.PSH | tcp.URG) == "FPU"
    assert tcp.flags_to_str(0xFF) == "FSRPAUEC"
    assert tcp.flags_to_str(0) == ""
