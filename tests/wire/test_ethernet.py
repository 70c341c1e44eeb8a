import pytest
from hypothesis import given

from vnet.wire import MalformedFrame, ethernet
from vnet.wire.ethernet import EthernetFrame

from . import frames
from .strategies import ethernet_frames

CLIENT_MAC = bytes.fromhex(frames.CLIENT_MAC)
HOST_MAC = bytes.fromhex(frames.HOST_MAC)


def test_golden_arp_frame_keeps_its_padding() -> None:
    frame = ethernet.parse(frames.ARP_WHO_HAS)

    assert frame.dst == ethernet.BROADCAST
    assert frame.src == CLIENT_MAC
    assert frame.ethertype == ethernet.ETHERTYPE_ARP
    assert len(frame.payload) == 46  # 28 bytes of ARP, 18 of padding
    assert ethernet.emit(frame) == frames.ARP_WHO_HAS


def test_golden_ipv4_frame() -> None:
    frame = ethernet.parse(frames.PING)

    assert frame == EthernetFrame(
        HOST_MAC, CLIENT_MAC, ethernet.ETHERTYPE_IPV4, frames.PING[14:]
    )
    assert ethernet.emit(frame) == frames.PING


def test_a_tagged_frame_is_not_decoded_further() -> None:
    tagged = HOST_MAC + CLIENT_MAC + bytes.fromhex("8100 0064 0800") + b"data"

    frame = ethernet.parse(tagged)

    assert frame.ethertype == ethernet.ETHERTYPE_VLAN
    assert frame.payload == bytes.fromhex("0064 0800") + b"data"


@given(ethernet_frames())
def test_round_trip(frame: EthernetFrame) -> None:
    assert ethernet.parse(ethernet.emit(frame)) == frame


@pytest.mark.parametrize("length", range(14))
def test_short_frame_is_malformed(length: int) -> None:
    with pytest.raises(MalformedFrame) as error:
        ethernet.parse(frames.PING[:length])
    assert error.value.protocol == "ethernet"
    assert str(error.value) == f"ethernet: {length} bytes, header needs 14"


def test_header_alone_is_a_frame_with_empty_payload() -> None:
    assert ethernet.parse(frames.PING[:14]).payload == b""


@pytest.mark.parametrize(
    "frame",
    [
        EthernetFrame(HOST_MAC[:5], CLIENT_MAC, 0x0800, b""),
        EthernetFrame(HOST_MAC, CLIENT_MAC + b"\x00", 0x0800, b""),
        EthernetFrame(HOST_MAC, CLIENT_MAC, 0x10000, b""),
        EthernetFrame(HOST_MAC, CLIENT_MAC, -1, b""),
    ],
)
def test_emit_refuses_fields_out_of_range(frame: EthernetFrame) -> None:
    with pytest.raises(ValueError):
        ethernet.emit(frame)


def test_mac_text_forms() -> None:
    mac = bytes.fromhex("02005e000001")

    assert ethernet.mac_to_str(mac) == "02:00:5e:00:00:01"
    assert ethernet.mac_from_str("02:00:5e:00:00:01") == mac
    assert ethernet.mac_from_str("02-00-5E-00-00-01") == mac


@pytest.mark.parametrize(
    "text",
    [
        "",
        "02:00:5e:00:00",
        "02:00:5e:00:00:01:02",
        "2:00:5e:00:00:01",
        "02:00:5e:00:00:0g",
        "02:00-5e:00:00:01",
        "02005e000001",
        " 2:00:5e:00:00:01",
        "+2:00:5e:00:00:01",
    ],
)
def test_mac_from_str_refuses_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        ethernet.mac_from_str(text)
