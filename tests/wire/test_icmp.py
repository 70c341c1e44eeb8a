import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnet.wire import MalformedFrame, ethernet, icmp, ipv4
from vnet.wire.icmp import IcmpMessage
from vnet.wire.ipv4 import Ipv4Packet, addr_from_str

from . import frames
from .strategies import (
    echo_messages,
    error_messages,
    icmp_messages,
    payloads,
    quoted_datagrams,
    timestamp_messages,
    uint16,
)

CLIENT = addr_from_str("192.0.2.10")
HOST = addr_from_str("192.0.2.1")


def _icmp_bytes(frame: bytes) -> bytes:
    return ipv4.parse(ethernet.parse(frame).payload).payload


def test_golden_echo_request() -> None:
    data = _icmp_bytes(frames.PING)

    message = icmp.parse(data)

    assert message == IcmpMessage(icmp.ECHO_REQUEST, 0, 0x1A2B0001, frames.PING_DATA)
    assert (message.identifier, message.sequence) == (0x1A2B, 1)
    assert icmp.emit(message) == data


def test_echo_reply_to_golden_ping_is_golden_pong() -> None:
    frame = ethernet.parse(frames.PING)
    packet = ipv4.parse(frame.payload)
    request = icmp.parse(packet.payload)

    reply = icmp.echo(
        icmp.ECHO_REPLY, request.identifier, request.sequence, request.payload
    )
    reply_packet = Ipv4Packet(
        packet.dst, packet.src, ipv4.PROTO_ICMP, icmp.emit(reply), ident=0x3E01
    )
    reply_frame = ethernet.EthernetFrame(
        frame.src, frame.dst, ethernet.ETHERTYPE_IPV4, ipv4.emit(reply_packet)
    )

    assert ethernet.emit(reply_frame) == frames.PONG


def test_golden_port_unreachable_quotes_the_udp_datagram() -> None:
    data = _icmp_bytes(frames.PORT_UNREACHABLE)

    message = icmp.parse(data)

    assert message == IcmpMessage(
        icmp.DEST_UNREACHABLE, icmp.PORT_UNREACHABLE, 0, frames.UDP_PROBE
    )
    assert icmp.parse_quote(message) == (ipv4.PROTO_UDP, CLIENT, HOST, 54321, 33434)
    assert icmp.emit(message) == data


def test_golden_timestamp_request_and_reply() -> None:
    request = icmp.parse(ipv4.parse(frames.TIMESTAMP_REQUEST).payload)
    assert icmp.timestamps(request) == (50_000_000, 0, 0)
    assert (request.identifier, request.sequence) == (0x3039, 1)

    reply = icmp.timestamp_reply(request, 50_000_050, 50_000_050)

    assert reply.type == icmp.TIMESTAMP_REPLY
    assert icmp.timestamps(reply) == (50_000_000, 50_000_050, 50_000_050)
    packet = Ipv4Packet(HOST, CLIENT, ipv4.PROTO_ICMP, icmp.emit(reply), ident=0x1E61)
    assert ipv4.emit(packet) == frames.TIMESTAMP_REPLY


@given(icmp_messages() | echo_messages() | error_messages() | timestamp_messages())
def test_round_trip(message: IcmpMessage) -> None:
    assert icmp.parse(icmp.emit(message)) == message


@given(quoted_datagrams())
def test_parse_quote_reads_any_quoted_udp_or_tcp_datagram(quote: bytes) -> None:
    message = IcmpMessage(icmp.TIME_EXCEEDED, icmp.TTL_EXCEEDED, 0, quote)

    # The strategy quotes a 20-byte header, so the ports follow at 20.
    expected = (
        quote[9],
        int.from_bytes(quote[12:16], "big"),
        int.from_bytes(quote[16:20], "big"),
        int.from_bytes(quote[20:22], "big"),
        int.from_bytes(quote[22:24], "big"),
    )
    assert icmp.parse_quote(message) == expected


def test_parse_quote_of_icmp_has_no_ports() -> None:
    quoted = frames.PING[14:42]
    message = IcmpMessage(icmp.TIME_EXCEEDED, icmp.TTL_EXCEEDED, 0, quoted)
    assert icmp.parse_quote(message) == (ipv4.PROTO_ICMP, CLIENT, HOST, 0, 0)


def test_parse_quote_of_later_fragment_has_no_ports() -> None:
    quoted = frames.LAST_FRAGMENT[14:]
    message = IcmpMessage(icmp.TIME_EXCEEDED, icmp.REASSEMBLY_EXCEEDED, 0, quoted)
    assert icmp.parse_quote(message) == (ipv4.PROTO_UDP, CLIENT, HOST, 0, 0)


def test_parse_quote_with_options_cut_before_the_ports_has_no_ports() -> None:
    header = bytearray(frames.UDP_PROBE[:20])
    header[0] = 0x47  # 28-byte header: the quote ends inside the options
    message = IcmpMessage(icmp.DEST_UNREACHABLE, 3, 0, bytes(header) + bytes(8))
    assert icmp.parse_quote(message)[3:] == (0, 0)


@pytest.mark.parametrize("length", range(28))
def test_parse_quote_of_short_quote_is_malformed(length: int) -> None:
    message = IcmpMessage(icmp.DEST_UNREACHABLE, 3, 0, frames.UDP_PROBE[:length])
    with pytest.raises(MalformedFrame, match="^icmp: quoted datagram"):
        icmp.parse_quote(message)


@pytest.mark.parametrize("first_byte", [0x65, 0x44, 0x00])
def test_parse_quote_of_non_ipv4_header_is_malformed(first_byte: int) -> None:
    quote = bytes([first_byte]) + frames.UDP_PROBE[1:]
    message = IcmpMessage(icmp.DEST_UNREACHABLE, 3, 0, quote)
    with pytest.raises(MalformedFrame):
        icmp.parse_quote(message)


@pytest.mark.parametrize("length", range(12))
def test_short_timestamp_payload_is_malformed(length: int) -> None:
    message = IcmpMessage(icmp.TIMESTAMP, 0, 0, bytes(length))
    with pytest.raises(MalformedFrame):
        icmp.timestamps(message)
    with pytest.raises(MalformedFrame):
        icmp.timestamp_reply(message, 1, 2)


def test_timestamp_reply_refuses_other_messages() -> None:
    with pytest.raises(ValueError):
        icmp.timestamp_reply(icmp.echo(icmp.ECHO_REQUEST, 1, 1, bytes(12)), 1, 2)


def test_timestamp_reply_refuses_timestamps_out_of_range() -> None:
    request = icmp.parse(ipv4.parse(frames.TIMESTAMP_REQUEST).payload)
    with pytest.raises(ValueError):
        icmp.timestamp_reply(request, 1 << 32, 0)


@pytest.mark.parametrize("length", range(8))
def test_short_message_is_malformed(length: int) -> None:
    with pytest.raises(MalformedFrame, match="header needs 8"):
        icmp.parse(_icmp_bytes(frames.PING)[:length])


@pytest.mark.parametrize("length", range(8, 64))
def test_truncated_message_fails_the_checksum(length: int) -> None:
    with pytest.raises(MalformedFrame, match="bad checksum"):
        icmp.parse(_icmp_bytes(frames.PING)[:length])


@pytest.mark.parametrize("offset", range(64))
def test_any_flipped_bit_fails_the_checksum(offset: int) -> None:
    data = bytearray(_icmp_bytes(frames.PING))
    data[offset] ^= 0x80
    with pytest.raises(MalformedFrame, match="bad checksum"):
        icmp.parse(bytes(data))


@pytest.mark.parametrize(
    "message",
    [
        IcmpMessage(256, 0),
        IcmpMessage(0, -1),
        IcmpMessage(0, 0, 1 << 32),
    ],
)
def test_emit_refuses_fields_out_of_range(message: IcmpMessage) -> None:
    with pytest.raises(ValueError):
        icmp.emit(message)


@pytest.mark.parametrize(("identifier", "sequence"), [(0x10000, 0), (0, 0x10000)])
def test_echo_refuses_fields_out_of_range(identifier: int, sequence: int) -> None:
    with pytest.raises(ValueError):
        icmp.echo(icmp.ECHO_REQUEST, identifier, sequence, b"")


@given(uint16, uint16, payloads, st.integers(0, 255))
def test_answer_echo_makes_the_bytes_emit_makes(
    identifier: int, sequence: int, data: bytes, code: int
) -> None:
    request = icmp.emit(icmp.echo(icmp.ECHO_REQUEST, identifier, sequence, data, code))
    expected = icmp.emit(icmp.echo(icmp.ECHO_REPLY, identifier, sequence, data, code))

    answer = icmp.answer_echo(request, verify=True)

    # None only for the one checksum whose answer emit must choose.
    assert answer == expected or (answer is None and request[2:4] == b"\xf7\xff")


@pytest.mark.parametrize(
    ("sequence", "checksum"), [(0, b"\xff\xff"), (0xFFFF, b"\x00\x00")]
)
def test_answer_echo_leaves_the_zero_checksums_to_emit(
    sequence: int, checksum: bytes
) -> None:
    # Both requests have checksum 0xf7ff. Their replies sum to zero, which
    # emit writes as 0xffff for the all-zero message and 0x0000 otherwise.
    request = icmp.emit(icmp.echo(icmp.ECHO_REQUEST, 0, sequence, b""))
    reply = icmp.emit(icmp.echo(icmp.ECHO_REPLY, 0, sequence, b""))

    assert request[2:4] == b"\xf7\xff"
    assert icmp.answer_echo(request, verify=True) is None
    assert reply[2:4] == checksum


def test_answer_echo_is_none_for_other_messages() -> None:
    reply = icmp.emit(icmp.echo(icmp.ECHO_REPLY, 1, 1, b"data"))

    assert icmp.answer_echo(reply, verify=True) is None
    assert icmp.answer_echo(b"\x08\x00\xf7", verify=True) is None


# From 1: a flipped bit in the type makes it no echo request at all.
@pytest.mark.parametrize("offset", range(1, 64))
def test_answer_echo_with_verify_refuses_a_flipped_bit(offset: int) -> None:
    data = bytearray(_icmp_bytes(frames.PING))
    data[offset] ^= 0x01
    with pytest.raises(MalformedFrame, match="bad checksum"):
        icmp.answer_echo(bytes(data), verify=True)
