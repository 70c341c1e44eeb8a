import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnet.wire import MalformedFrame, ipv4
from vnet.wire.checksum import internet_checksum
from vnet.wire.ipv4 import Ipv4Packet, addr_from_str, addr_to_str

from . import frames
from .strategies import ipv4_packets

CLIENT = addr_from_str("192.0.2.10")
HOST = addr_from_str("192.0.2.1")


def test_golden_ping_packet() -> None:
    data = frames.PING[14:]

    packet = ipv4.parse(data)

    assert packet == Ipv4Packet(
        src=CLIENT,
        dst=HOST,
        protocol=ipv4.PROTO_ICMP,
        payload=data[20:],
        ttl=64,
        ident=0xD2A1,
        flags=ipv4.FLAG_DF,
        fragment_offset=0,
        tos=0,
        options=b"",
    )
    assert packet.dont_fragment
    assert not packet.is_fragment
    assert ipv4.emit(packet) == data


def test_golden_packet_with_record_route_option() -> None:
    data = frames.RECORD_ROUTE_PING[14:]

    packet = ipv4.parse(data)

    assert packet.options == frames.RECORD_ROUTE_OPTION
    assert len(packet.options) == 40
    assert packet.payload == data[60:]
    assert packet.protocol == ipv4.PROTO_ICMP
    assert ipv4.emit(packet) == data


def test_golden_last_fragment_is_recognised() -> None:
    data = frames.LAST_FRAGMENT[14:]

    packet = ipv4.parse(data)

    assert packet.is_fragment
    assert packet.flags == 0
    assert packet.fragment_offset == 185  # 1480 bytes
    assert packet.payload == frames.FRAGMENT_DATA
    assert ipv4.emit(packet) == data


def test_first_fragment_is_a_fragment() -> None:
    packet = Ipv4Packet(CLIENT, HOST, ipv4.PROTO_UDP, b"x" * 8, flags=ipv4.FLAG_MF)
    assert packet.is_fragment
    assert not packet.dont_fragment


def test_ethernet_padding_is_cut_by_total_length() -> None:
    data = frames.LAST_FRAGMENT[14:]

    packet = ipv4.parse(data + bytes(10))

    assert packet.payload == frames.FRAGMENT_DATA


def test_evil_bit_is_decoded() -> None:
    packet = Ipv4Packet(CLIENT, HOST, ipv4.PROTO_UDP, b"", flags=ipv4.FLAG_EVIL)
    assert ipv4.parse(ipv4.emit(packet)).flags == ipv4.FLAG_EVIL


@given(ipv4_packets())
def test_round_trip(packet: Ipv4Packet) -> None:
    assert ipv4.parse(ipv4.emit(packet)) == packet


@given(ipv4_packets(options=st.binary(max_size=10).map(lambda data: data * 4)))
def test_round_trip_with_options_of_any_content(packet: Ipv4Packet) -> None:
    assert ipv4.parse(ipv4.emit(packet)) == packet


@given(
    ipv4_packets(options=st.sampled_from([b"", b"\x01" * 4])),
    st.binary(max_size=20),
    st.binary(max_size=8),
)
def test_a_packet_is_read_in_place_as_if_cut_out(
    packet: Ipv4Packet, before: bytes, padding: bytes
) -> None:
    data = before + ipv4.emit(packet) + padding
    assert ipv4.parse(data, len(before)) == ipv4.parse(data[len(before) :]) == packet


@pytest.mark.parametrize("length", [0, 19, 83])
def test_a_packet_read_in_place_fails_as_one_cut_out(length: int) -> None:
    data = frames.PING[: 14 + length]
    with pytest.raises(MalformedFrame) as in_place:
        ipv4.parse(data, 14)
    with pytest.raises(MalformedFrame) as cut_out:
        ipv4.parse(data[14:])
    assert in_place.value.reason == cut_out.value.reason


def _with_header(data: bytes, offset: int, value: bytes) -> bytes:
    """Replace header bytes at offset and fix the header checksum."""
    header_length = (data[0] & 0xF) * 4
    changed = bytearray(data[:offset] + value + data[offset + len(value) :])
    changed[10:12] = b"\x00\x00"
    if header_length >= 20:
        checksum = internet_checksum(bytes(changed[:header_length]))
        changed[10:12] = checksum.to_bytes(2, "big")
    return bytes(changed)


@pytest.mark.parametrize("length", range(len(frames.PING) - 14))
def test_truncated_packet_is_malformed(length: int) -> None:
    with pytest.raises(MalformedFrame, match="^ipv4: "):
        ipv4.parse(frames.PING[14 : 14 + length])


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (0, b"\x65", "version 6"),
        (0, b"\x44", "header length 16 below 20"),
        (0, b"\x40", "header length 0 below 20"),
        (2, b"\x00\x13", "total length 19 below header length 20"),
        (2, b"\x00\x55", "total length 85 but 84 bytes received"),
        (2, b"\xff\xff", "total length 65535 but 84 bytes received"),
    ],
)
def test_bad_lengths_are_malformed(offset: int, value: bytes, reason: str) -> None:
    data = _with_header(frames.PING[14:], offset, value)
    with pytest.raises(MalformedFrame) as error:
        ipv4.parse(data)
    assert error.value.reason == reason


def test_header_longer_than_total_length_is_malformed() -> None:
    data = _with_header(frames.PING[14:], 0, b"\x4f")  # 60-byte header
    with pytest.raises(MalformedFrame):
        ipv4.parse(data[:40])


@pytest.mark.parametrize("offset", range(20))
def test_any_flipped_header_bit_fails_the_checksum(offset: int) -> None:
    data = bytearray(frames.PING[14:])
    data[offset] ^= 0x01
    with pytest.raises(MalformedFrame):
        ipv4.parse(bytes(data))


def test_bad_checksum_is_malformed() -> None:
    data = bytearray(frames.PING[14:])
    data[10:12] = b"\x00\x00"
    with pytest.raises(MalformedFrame) as error:
        ipv4.parse(bytes(data))
    assert error.value.reason == "bad header checksum"


@pytest.mark.parametrize(
    "changes",
    [
        {"options": b"\x01\x01\x01"},
        {"options": b"\x01" * 44},
        {"flags": 8},
        {"flags": -1},
        {"fragment_offset": 0x2000},
        {"ttl": 256},
        {"tos": -1},
        {"ident": 0x10000},
        {"protocol": 256},
        {"src": 1 << 32},
        {"payload": bytes(65516)},
    ],
)
def test_emit_refuses_fields_out_of_range(changes: dict[str, object]) -> None:
    packet = Ipv4Packet(CLIENT, HOST, ipv4.PROTO_UDP, b"")._replace(**changes)
    with pytest.raises(ValueError):
        ipv4.emit(packet)


def test_largest_packet_is_emitted() -> None:
    packet = Ipv4Packet(CLIENT, HOST, ipv4.PROTO_UDP, bytes(65515))
    assert len(ipv4.emit(packet)) == 65535


def test_address_text_forms() -> None:
    assert addr_to_str(0xC0000201) == "192.0.2.1"
    assert addr_to_str(0xCB0071FF) == "203.0.113.255"
    assert addr_from_str("198.51.100.7") == 0xC6336407


@pytest.mark.parametrize(
    "text", ["", "192.0.2", "192.0.2.1.5", "192.0.2.256", "192.0.2.01", "a.b.c.d"]
)
def test_addr_from_str_refuses_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        addr_from_str(text)


@pytest.mark.parametrize("addr", [-1, 1 << 32])
def test_addr_to_str_refuses_out_of_range(addr: int) -> None:
    with pytest.raises(ValueError):
        addr_to_str(addr)
