"""UDP datagrams (RFC 768, with RFC 1122 section 4.1).

Emulated: the 8-byte header and the checksum over the IPv4 pseudo header.
A received checksum of zero means the sender computed none (RFC 768), and is
accepted; emit always computes one, as RFC 1122 4.1.3.4 asks of a sender by
default.

Left out, deliberately: bytes after the UDP length but inside the IPv4
payload are dropped, not reported; no stack sends them on purpose, and
nothing in vnet looks at them. UDP-Lite (RFC 3828) is not handled.
"""

import struct
from typing import NamedTuple

from vnet.wire.checksum import internet_checksum, pseudo_header_sum
from vnet.wire.errors import MalformedFrame
from vnet.wire.ipv4 import PROTO_UDP

HEADER_LENGTH = 8

# RFC 768 "Format": source port, destination port, length, checksum.
_HEADER = struct.Struct("!HHHH")

# NamedTuple's own __new__ is Python code that calls this C constructor; the
# parser calls it directly, which halves the cost of building the value.
_new_value = tuple.__new__


class UdpDatagram(NamedTuple):
    src_port: int
    dst_port: int
    payload: bytes = b""


def parse(data: bytes, src: int, dst: int, verify: bool = True) -> UdpDatagram:
    """Decode a datagram; data is the whole IPv4 payload, src and dst its addresses.

    With verify, a non-zero checksum must be correct (RFC 1122 4.1.3.4).
    """
    if len(data) < HEADER_LENGTH:
        raise MalformedFrame("udp", f"{len(data)} bytes, header needs 8")
    src_port, dst_port, length, checksum = _HEADER.unpack_from(data)
    if length < HEADER_LENGTH or length > len(data):
        raise MalformedFrame("udp", f"length {length} in {len(data)} bytes")

    if verify and checksum:
        datagram = data if length == len(data) else data[:length]
        pseudo_sum = pseudo_header_sum(src, dst, PROTO_UDP, length)
        if internet_checksum(datagram, pseudo_sum) != 0:
            raise MalformedFrame("udp", "bad checksum")
    return _new_value(UdpDatagram, (src_port, dst_port, data[HEADER_LENGTH:length]))


def emit(datagram: UdpDatagram, src: int, dst: int) -> bytes:
    """Encode a datagram, always with a checksum."""
    length = HEADER_LENGTH + len(datagram.payload)
    try:
        header = _HEADER.pack(datagram.src_port, datagram.dst_port, length, 0)
    except struct.error as error:
        raise ValueError(f"{datagram!r}: {error}") from None

    # The header, as one integer, adds to the sum like its four words.
    initial = pseudo_header_sum(src, dst, PROTO_UDP, length)
    checksum = internet_checksum(
        datagram.payload, initial + int.from_bytes(header, "big")
    )
    # RFC 768: a computed zero is sent as all ones; zero means "no checksum".
    if checksum == 0:
        checksum = 0xFFFF
    return header[:6] + checksum.to_bytes(2, "big") + datagram.payload
