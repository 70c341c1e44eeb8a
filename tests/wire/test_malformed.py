"""Garbage from the network raises MalformedFrame, and never anything else.

pytest.raises(MalformedFrame) lets any other exception through as an error,
and the fuzz tests call the parsers bare, so an IndexError, struct.error or
ValueError escaping a parser fails these tests.
"""

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vnet.wire import MalformedFrame, arp, ethernet, icmp, ipv4, tcp, udp
from vnet.wire.checksum import internet_checksum, pseudo_header_sum

from . import frames
from .frames import GOLDEN_FRAMES, decode_frame
from .strategies import frames as valid_frames
from .strategies import tcp_option_areas

fuzz_settings = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])

IPV4_FRAMES = {
    name: frame for name, frame in GOLDEN_FRAMES.items() if frame[12:14] == b"\x08\x00"
}


def _transport_offset(frame: bytes) -> int:
    return 14 + (frame[14] & 0xF) * 4


@pytest.mark.parametrize("name", sorted(GOLDEN_FRAMES))
def test_golden_frames_decode(name: str) -> None:
    values = decode_frame(GOLDEN_FRAMES[name])
    assert len(values) >= 2


@pytest.mark.parametrize("name", sorted(GOLDEN_FRAMES))
def test_golden_frame_truncated_at_every_length_is_malformed(name: str) -> None:
    frame = GOLDEN_FRAMES[name]
    # ARP ignores the Ethernet padding after its 28 bytes.
    complete = 14 + arp.PACKET_LENGTH if name == "arp_who_has" else len(frame)
    for length in range(complete):
        with pytest.raises(MalformedFrame):
            decode_frame(frame[:length])


@pytest.mark.parametrize("name", sorted(set(IPV4_FRAMES) - {"last_fragment"}))
def test_transport_truncated_at_every_length_is_malformed(name: str) -> None:
    # The IPv4 packet is rebuilt around the shortened transport, so that only
    # the transport's own checks can catch the cut.
    packet = ipv4.parse(ethernet.parse(IPV4_FRAMES[name]).payload)
    for length in range(len(packet.payload)):
        shorter = ipv4.emit(packet._replace(payload=packet.payload[:length]))
        with pytest.raises(MalformedFrame) as error:
            frames.decode_packet(shorter)
        assert error.value.protocol in ("icmp", "tcp", "udp")


CHECKSUM_FIELDS = [
    ("ping", "ipv4", 14 + 10),
    ("ping", "icmp", 34 + 2),
    ("record_route_ping", "icmp", 74 + 2),
    ("port_unreachable", "icmp", 34 + 2),
    ("linux_syn", "ipv4", 14 + 10),
    ("linux_syn", "tcp", 34 + 16),
    ("linux_syn_ack", "tcp", 34 + 16),
    ("dns_query", "udp", 34 + 6),
    ("last_fragment", "ipv4", 14 + 10),
]


@pytest.mark.parametrize(("name", "protocol", "offset"), CHECKSUM_FIELDS)
@pytest.mark.parametrize("flip", [0x0001, 0x8000, 0xFFFF])
def test_bad_checksum_is_malformed(
    name: str, protocol: str, offset: int, flip: int
) -> None:
    frame = bytearray(GOLDEN_FRAMES[name])
    value = int.from_bytes(frame[offset : offset + 2], "big") ^ flip
    if protocol == "udp" and value == 0:
        value = 0x0001  # zero would mean "no checksum"
    frame[offset : offset + 2] = value.to_bytes(2, "big")
    with pytest.raises(MalformedFrame) as error:
        decode_frame(bytes(frame))
    assert error.value.protocol == protocol
    assert error.value.reason.startswith("bad")


@pytest.mark.parametrize(
    ("name", "offset", "value", "protocol"),
    [
        ("ping", 14, 0x44, "ipv4"),  # header length 16
        ("ping", 14 + 2, 0x0013, "ipv4"),  # total length below the header
        ("ping", 14 + 2, 0x0055, "ipv4"),  # total length past the frame
        ("dns_query", 34 + 4, 0x0007, "udp"),
        ("dns_query", 34 + 4, 0x0027, "udp"),
        ("linux_syn", 34 + 12, 0x4002, "tcp"),
        ("linux_syn", 34 + 12, 0xF002, "tcp"),
    ],
)
def test_bad_lengths_are_malformed(
    name: str, offset: int, value: int, protocol: str
) -> None:
    frame = bytearray(GOLDEN_FRAMES[name])
    width = 1 if value <= 0xFF else 2
    frame[offset : offset + width] = value.to_bytes(width, "big")
    with pytest.raises(MalformedFrame) as error:
        decode_frame(bytes(frame), verify=False)
    assert error.value.protocol == protocol


@pytest.mark.parametrize(
    "area",
    [
        "0200 0000",  # length 0
        "0201 0000",  # length 1
        "0205 b400",  # MSS of length 5 runs past the area
        "0101 0102",  # the last option has no length byte
        "080a 0000 0000 0000",  # timestamps cut by the data offset
    ],
)
def test_bad_option_lengths_in_a_frame_are_malformed(area: str) -> None:
    packet = ipv4.parse(ethernet.parse(frames.LINUX_SYN).payload)
    options = bytes.fromhex(area)
    header = bytearray(packet.payload[:20])
    header[12] = (5 + len(options) // 4) << 4
    segment = _with_tcp_checksum(bytes(header) + options, packet.src, packet.dst)
    with pytest.raises(MalformedFrame, match="^tcp: option"):
        frames.decode_packet(ipv4.emit(packet._replace(payload=segment)))


def _with_tcp_checksum(segment: bytes, src: int, dst: int) -> bytes:
    zeroed = segment[:16] + b"\x00\x00" + segment[18:]
    initial = pseudo_header_sum(src, dst, ipv4.PROTO_TCP, len(zeroed))
    checksum = internet_checksum(zeroed, initial).to_bytes(2, "big")
    return zeroed[:16] + checksum + zeroed[18:]


# Fuzzing


def parse_everything(data: bytes) -> None:
    """Feed data to every parser as whatever it could be."""
    for verify in (True, False):
        _try(decode_frame, data, verify)
        _try(frames.decode_packet, data, verify)
        _try(tcp.parse, data, 0xC0000201, 0xC000020A, verify)
        _try(udp.parse, data, 0xC0000201, 0xC000020A, verify)
    _try(arp.parse, data)
    _try(icmp.parse, data)
    message = icmp.IcmpMessage(icmp.DEST_UNREACHABLE, 3, 0, data)
    _try(icmp.parse_quote, message)
    _try(icmp.timestamps, message)
    _try(icmp.timestamp_reply, message._replace(type=icmp.TIMESTAMP), 1, 2)


def _try(parser: Callable[..., object], *arguments: object) -> None:
    with contextlib.suppress(MalformedFrame):
        parser(*arguments)


@fuzz_settings
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_malformed_frame(data: bytes) -> None:
    parse_everything(data)


@fuzz_settings
@given(tcp_option_areas(), st.binary(max_size=8))
def test_random_option_areas_raise_only_malformed_frame(
    area: bytes, payload: bytes
) -> None:
    header = bytearray(20)
    header[12] = (5 + len(area) // 4) << 4
    parse_everything(bytes(header) + area + payload)


def repair_checksums(frame: bytes) -> bytes:
    """Fix the IPv4 header and ICMP checksums of a mutated frame, if it has them.

    A mutation nearly always breaks a checksum, and the parser would stop
    there; repairing them lets the mutated fields reach the deeper checks.
    """
    data = bytearray(frame)
    header_length = (data[14] & 0xF) * 4 if len(data) > 14 else 0
    if len(data) < 14 + max(header_length, 20) or header_length < 20:
        return frame
    data[24:26] = b"\x00\x00"
    checksum = internet_checksum(bytes(data[14 : 14 + header_length]))
    data[24:26] = checksum.to_bytes(2, "big")

    icmp_at = 14 + header_length
    if data[23] == ipv4.PROTO_ICMP and len(data) >= icmp_at + 8:
        total_length = int.from_bytes(data[16:18], "big")
        end = min(14 + total_length, len(data))
        data[icmp_at + 2 : icmp_at + 4] = b"\x00\x00"
        checksum = internet_checksum(bytes(data[icmp_at:end]))
        data[icmp_at + 2 : icmp_at + 4] = checksum.to_bytes(2, "big")
    return bytes(data)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(valid_frames()))
    for _ in range(draw(st.integers(1, 4))):
        mutation = draw(st.sampled_from(["set", "cut", "grow"]))
        if mutation == "set" and frame:
            position = draw(st.integers(0, len(frame) - 1))
            frame[position] = draw(st.integers(0, 255))
        elif mutation == "cut":
            del frame[draw(st.integers(0, len(frame))) :]
        else:
            frame += draw(st.binary(min_size=1, max_size=8))
    if draw(st.booleans()):
        return repair_checksums(bytes(frame))
    return bytes(frame)


@fuzz_settings
@given(mutated_frames())
def test_mutated_valid_frames_raise_only_malformed_frame(frame: bytes) -> None:
    parse_everything(frame)
    parse_everything(frame[14:])


@fuzz_settings
@given(valid_frames())
def test_valid_frames_decode_fully(frame: bytes) -> None:
    values = decode_frame(frame)
    assert len(values) >= 2
