import pytest
from hypothesis import given

from vnet.wire import MalformedFrame, ethernet, ipv4, udp
from vnet.wire.ipv4 import addr_from_str
from vnet.wire.udp import UdpDatagram

from . import frames
from .strategies import addresses, udp_datagrams

CLIENT = addr_from_str("192.0.2.10")
RESOLVER = addr_from_str("192.0.2.53")


def _datagram_bytes(frame: bytes) -> bytes:
    return ipv4.parse(ethernet.parse(frame).payload).payload


def test_golden_dns_query() -> None:
    data = _datagram_bytes(frames.DNS_QUERY)

    datagram = udp.parse(data, CLIENT, RESOLVER)

    assert datagram == UdpDatagram(57840, 53, frames.DNS_QUERY_DATA)
    assert udp.emit(datagram, CLIENT, RESOLVER) == data


def test_golden_quoted_probe() -> None:
    packet = ipv4.parse(frames.UDP_PROBE)

    datagram = udp.parse(packet.payload, packet.src, packet.dst)

    assert datagram == UdpDatagram(54321, 33434, b"nmap-probe")
    assert udp.emit(datagram, packet.src, packet.dst) == packet.payload


def test_zero_checksum_means_none_and_is_accepted() -> None:
    data = bytearray(_datagram_bytes(frames.DNS_QUERY))
    data[6:8] = b"\x00\x00"
    assert udp.parse(bytes(data), CLIENT, RESOLVER).payload == frames.DNS_QUERY_DATA


def test_computed_zero_checksum_is_sent_as_all_ones() -> None:
    # With a zero payload word the sum is S and the checksum ~S. Putting ~S
    # in the payload makes the sum 0xffff, whose complement 0 RFC 768 sends
    # as 0xffff.
    src, dst = CLIENT, RESOLVER
    probe = udp.emit(UdpDatagram(0x1234, 53, b"\x00\x00"), src, dst)
    datagram = UdpDatagram(0x1234, 53, probe[6:8])

    data = udp.emit(datagram, src, dst)

    assert data[6:8] == b"\xff\xff"
    assert udp.parse(data, src, dst) == datagram


def test_bytes_after_the_udp_length_are_dropped() -> None:
    data = _datagram_bytes(frames.DNS_QUERY)
    datagram = udp.parse(data + b"trailer", CLIENT, RESOLVER)
    assert datagram.payload == frames.DNS_QUERY_DATA


@given(udp_datagrams(), addresses(), addresses())
def test_round_trip(datagram: UdpDatagram, src: int, dst: int) -> None:
    assert udp.parse(udp.emit(datagram, src, dst), src, dst) == datagram


@pytest.mark.parametrize("length", range(38))
def test_truncated_datagram_is_malformed(length: int) -> None:
    data = _datagram_bytes(frames.DNS_QUERY)
    with pytest.raises(MalformedFrame, match="^udp: "):
        udp.parse(data[:length], CLIENT, RESOLVER)


@pytest.mark.parametrize("length", [0, 7, 39, 0xFFFF])
def test_bad_length_field_is_malformed(length: int) -> None:
    data = bytearray(_datagram_bytes(frames.DNS_QUERY))
    data[4:6] = length.to_bytes(2, "big")
    with pytest.raises(MalformedFrame, match=f"length {length} in 38 bytes"):
        udp.parse(bytes(data), CLIENT, RESOLVER, verify=False)


def test_bad_checksum_is_malformed_unless_not_verified() -> None:
    data = bytearray(_datagram_bytes(frames.DNS_QUERY))
    data[-1] ^= 0x01
    with pytest.raises(MalformedFrame, match="bad checksum"):
        udp.parse(bytes(data), CLIENT, RESOLVER)
    assert udp.parse(bytes(data), CLIENT, RESOLVER, verify=False).dst_port == 53


def test_wrong_pseudo_header_fails_the_checksum() -> None:
    data = _datagram_bytes(frames.DNS_QUERY)
    with pytest.raises(MalformedFrame, match="bad checksum"):
        udp.parse(data, CLIENT + 1, RESOLVER)


@pytest.mark.parametrize(
    "datagram",
    [
        UdpDatagram(0x10000, 53),
        UdpDatagram(-1, 53),
        UdpDatagram(1, 53, bytes(65528)),
    ],
)
def test_emit_refuses_fields_out_of_range(datagram: UdpDatagram) -> None:
    with pytest.raises(ValueError):
        udp.emit(datagram, CLIENT, RESOLVER)
