"""ICMP messages for IPv4 (RFC 792, RFC 1122 section 3.2.2).

Emulated: every message as type, code, the 32-bit word after the checksum
(`rest`) and the payload, with the checksum verified on parse and computed on
emit. Helpers cover what the virtual hosts answer: echo and echo reply,
timestamp and timestamp reply, and the errors that quote a datagram
(destination unreachable, time exceeded).

The quoted datagram of an error is kept as raw bytes, exactly as sent.
Operating systems differ in how much they quote and in what they change in
the quote, and nmap's UDP probe compares the quote byte by byte; keeping it
verbatim lets a personality build it the way its system does.

Left out, deliberately:
- RFC 4884 extension structures are not decoded; they stay in the payload.
- Types other than the ones named here parse generically and have no helper:
  no virtual host sends redirects, router advertisements or address masks.
"""

import struct
from typing import NamedTuple

from vnet.wire.errors import MalformedFrame
from vnet.wire.ipv4 import MIN_HEADER_LENGTH, PROTO_TCP, PROTO_UDP

ECHO_REPLY = 0
DEST_UNREACHABLE = 3
SOURCE_QUENCH = 4
REDIRECT = 5
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAMETER_PROBLEM = 12
TIMESTAMP = 13
TIMESTAMP_REPLY = 14

# Destination unreachable codes: 0-5 from RFC 792, 6-12 from RFC 1122
# 3.2.2.1, 13-15 from RFC 1812 5.2.7.1.
NET_UNREACHABLE = 0
HOST_UNREACHABLE = 1
PROTOCOL_UNREACHABLE = 2
PORT_UNREACHABLE = 3
FRAGMENTATION_NEEDED = 4
SOURCE_ROUTE_FAILED = 5
NET_UNKNOWN = 6
HOST_UNKNOWN = 7
SOURCE_HOST_ISOLATED = 8
NET_PROHIBITED = 9
HOST_PROHIBITED = 10
NET_UNREACHABLE_FOR_TOS = 11
HOST_UNREACHABLE_FOR_TOS = 12
COMMUNICATION_PROHIBITED = 13
HOST_PRECEDENCE_VIOLATION = 14
PRECEDENCE_CUTOFF = 15

# Time exceeded codes (RFC 792).
TTL_EXCEEDED = 0
REASSEMBLY_EXCEEDED = 1

HEADER_LENGTH = 8

# RFC 792: type, code, checksum, then one 32-bit word whose meaning depends
# on the type (identifier and sequence number, pointer, gateway, unused).
_HEADER = struct.Struct("!BBHI")
_TIMESTAMPS = struct.Struct("!III")
_FIRST_WORD_AND_SUM = struct.Struct("!BBH")
# The fields of a quoted IPv4 header that parse_quote reads: version and
# IHL, flags and fragment offset, protocol, source and destination.
_QUOTED_HEADER = struct.Struct("!B5xHxB2xII")
_PORTS = struct.Struct("!HH")
_QUOTE_MINIMUM = MIN_HEADER_LENGTH + 8
_ONES = 0xFFFF

# NamedTuple's own __new__ is Python code that calls this C constructor; the
# parser calls it directly, which halves the cost of building the value.
_new_value = tuple.__new__


class IcmpMessage(NamedTuple):
    type: int
    code: int
    rest: int = 0  # the 32-bit word after the checksum
    payload: bytes = b""

    @property
    def identifier(self) -> int:
        return self.rest >> 16

    @property
    def sequence(self) -> int:
        return self.rest & 0xFFFF


def parse(data: bytes) -> IcmpMessage:
    """Decode a message; data is the whole IPv4 payload."""
    if len(data) < HEADER_LENGTH:
        raise MalformedFrame("icmp", f"{len(data)} bytes, header needs 8")
    # RFC 792: the checksum covers the whole message, type byte to the end of
    # the data; a message that fails it is dropped, as every stack does. A
    # correct one sums to 0xffff: read as one integer it is a non-zero
    # multiple of 0xffff (see vnet.wire.checksum).
    total = int.from_bytes(data, "big")
    if len(data) & 1:
        total <<= 8
    if total % _ONES or not total:
        raise MalformedFrame("icmp", "bad checksum")
    message_type, code, _checksum, rest = _HEADER.unpack_from(data)
    return _new_value(IcmpMessage, (message_type, code, rest, data[HEADER_LENGTH:]))


def emit(message: IcmpMessage) -> bytes:
    """Encode a message, computing its checksum."""
    message_type, code, rest, payload = message
    # The header's words are summed from its fields (see vnet.wire.checksum);
    # a field out of range makes the sum wrong, but then pack refuses it.
    try:
        data = int.from_bytes(payload, "big")
        if len(payload) & 1:
            data <<= 8  # the odd last byte is the high half of a padded word
        total = (message_type << 8) + code + rest + data
        # An all-zero message sums to zero, whose complement is 0xffff.
        checksum = -total % _ONES if total else _ONES
        header = _HEADER.pack(message_type, code, checksum, rest)
    except (struct.error, TypeError) as error:
        raise ValueError(f"{message!r}: {error}") from None
    return header + payload


def answer_echo(request: bytes, verify: bool = False) -> bytes | None:
    """The echo reply to the echo request `request`, both as bytes; else None.

    None unless `request` is an echo request, and for the rare checksum that
    the update below would make 0x0000. The reply keeps the request's code,
    identifier, sequence number and data, so only the type changes, from 8
    to 0, and the checksum is updated for that one word as RFC 1624 section 3
    does (eqn. 3), without summing the data again. With `verify`, a request
    whose checksum is wrong raises MalformedFrame, as `parse` does; without,
    the caller has checked it.
    """
    if len(request) < HEADER_LENGTH or request[0] != ECHO_REQUEST:
        return None
    if verify:
        total = int.from_bytes(request, "big")
        if len(request) & 1:
            total <<= 8
        if total % _ONES or not total:
            raise MalformedFrame("icmp", "bad checksum")
    # RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), with m the old first word
    # (type 8 and the code) and m' the new one (type 0, the same code),
    # comes to HC + 0x0800 in one's complement arithmetic.
    total = (request[2] << 8 | request[3]) + (ECHO_REQUEST << 8)
    updated = (total & _ONES) + (total >> 16)
    if updated == _ONES:
        # emit writes this sum's checksum as 0x0000; leave that case to it.
        return None
    return _FIRST_WORD_AND_SUM.pack(ECHO_REPLY, request[1], updated) + request[4:]


def echo(
    type: int, identifier: int, sequence: int, payload: bytes, code: int = 0
) -> IcmpMessage:
    """Build an echo request or reply (RFC 792 "Echo or Echo Reply Message")."""
    if identifier & ~0xFFFF or sequence & ~0xFFFF:
        raise ValueError(f"identifier {identifier!r}, sequence {sequence!r}")
    return IcmpMessage(type, code, identifier << 16 | sequence, payload)


def timestamps(message: IcmpMessage) -> tuple[int, int, int]:
    """Return originate, receive and transmit timestamps (RFC 792)."""
    if len(message.payload) < _TIMESTAMPS.size:
        raise MalformedFrame(
            "icmp", f"timestamp payload {len(message.payload)} bytes, needs 12"
        )
    originate, receive, transmit = _TIMESTAMPS.unpack_from(message.payload)
    return originate, receive, transmit


def timestamp_reply(request: IcmpMessage, receive: int, transmit: int) -> IcmpMessage:
    """Answer a timestamp request; identifier, sequence and originate are copied.

    RFC 792 "Timestamp or Timestamp Reply Message": timestamps count
    milliseconds since midnight UT; choosing them is the caller's business.
    """
    if request.type != TIMESTAMP:
        raise ValueError(f"not a timestamp request: {request!r}")
    originate, _, _ = timestamps(request)
    try:
        payload = _TIMESTAMPS.pack(originate, receive, transmit)
    except struct.error as error:
        raise ValueError(f"timestamps {receive!r}, {transmit!r}: {error}") from None
    return IcmpMessage(TIMESTAMP_REPLY, 0, request.rest, payload)


def parse_quote(message: IcmpMessage) -> tuple[int, int, int, int, int]:
    """Return (protocol, src, dst, src_port, dst_port) of a quoted datagram.

    An error message quotes the IPv4 header and at least the first 8 bytes of
    the datagram that caused it (RFC 792, RFC 1122 3.2.2). The reading is
    lenient: the quote's checksum and lengths are not checked, since routers
    and truncation legitimately change them. Ports are 0 for protocols other
    than TCP and UDP, for a fragment after the first, and when the quote
    stops before them.
    """
    quote = message.payload
    if len(quote) < _QUOTE_MINIMUM:
        raise MalformedFrame("icmp", f"quoted datagram {len(quote)} bytes, needs 28")
    version_ihl, flags_fragment, protocol, src, dst = _QUOTED_HEADER.unpack_from(quote)
    header_length = (version_ihl & 0xF) * 4
    if version_ihl >> 4 != 4 or header_length < MIN_HEADER_LENGTH:
        raise MalformedFrame("icmp", f"quoted header starts {version_ihl:#04x}")

    has_ports = protocol in (PROTO_TCP, PROTO_UDP) and not flags_fragment & 0x1FFF
    if not has_ports or len(quote) < header_length + _PORTS.size:
        return protocol, src, dst, 0, 0
    src_port, dst_port = _PORTS.unpack_from(quote, header_length)
    return protocol, src, dst, src_port, dst_port
