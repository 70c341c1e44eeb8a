import pytest
from hypothesis import given

from vnet.wire import MalformedFrame, arp, ethernet
from vnet.wire.arp import ArpPacket
from vnet.wire.ipv4 import addr_from_str

from . import frames
from .strategies import arp_packets

CLIENT_MAC = bytes.fromhex(frames.CLIENT_MAC)
HOST_MAC = bytes.fromhex(frames.HOST_MAC)
CLIENT = addr_from_str("192.0.2.10")
HOST = addr_from_str("192.0.2.1")


def test_golden_who_has() -> None:
    payload = ethernet.parse(frames.ARP_WHO_HAS).payload

    packet = arp.parse(payload)

    assert packet == ArpPacket(arp.REQUEST, CLIENT_MAC, CLIENT, bytes(6), HOST)
    assert arp.emit(packet) == payload[:28]  # the padding is not ARP's


def test_golden_is_at_answers_who_has() -> None:
    request = arp.parse(ethernet.parse(frames.ARP_WHO_HAS).payload)

    reply = ArpPacket(
        arp.REPLY, HOST_MAC, request.target_ip, request.sender_mac, request.sender_ip
    )
    frame = ethernet.EthernetFrame(
        request.sender_mac, HOST_MAC, ethernet.ETHERTYPE_ARP, arp.emit(reply)
    )

    assert ethernet.emit(frame) == frames.ARP_IS_AT


@given(arp_packets())
def test_round_trip(packet: ArpPacket) -> None:
    data = arp.emit(packet)
    assert len(data) == 28
    assert arp.parse(data) == packet


@pytest.mark.parametrize("length", range(28))
def test_truncated_packet_is_malformed(length: int) -> None:
    payload = ethernet.parse(frames.ARP_WHO_HAS).payload
    with pytest.raises(MalformedFrame, match="^arp: "):
        arp.parse(payload[:length])


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        (1, 6),  # hardware type IEEE 802 instead of Ethernet
        (2, 0x86),  # protocol type 0x86dd, IPv6
        (4, 8),  # hardware address length
        (5, 16),  # protocol address length
    ],
)
def test_other_hardware_or_protocol_is_malformed(offset: int, value: int) -> None:
    payload = bytearray(ethernet.parse(frames.ARP_WHO_HAS).payload)
    payload[offset] = value
    with pytest.raises(MalformedFrame, match="not Ethernet and IPv4"):
        arp.parse(bytes(payload))


@pytest.mark.parametrize(
    "packet",
    [
        ArpPacket(3, HOST_MAC, HOST, CLIENT_MAC[:4], CLIENT),
        ArpPacket(0x10000, HOST_MAC, HOST, CLIENT_MAC, CLIENT),
        ArpPacket(arp.REPLY, HOST_MAC, 1 << 32, CLIENT_MAC, CLIENT),
    ],
)
def test_emit_refuses_fields_out_of_range(packet: ArpPacket) -> None:
    with pytest.raises(ValueError):
        arp.emit(packet)
