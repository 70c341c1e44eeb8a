"""IPv4 packets (RFC 791, with the host requirements of RFC 1122 section 3.2.1).

Emulated: the full 20-byte header, options carried as raw bytes, and the
fragment fields, so a fragment is recognised (`is_fragment`) and can be
answered or dropped the way a personality's operating system would.
`parse` applies RFC 1122's receive checks: version 4, a sane header length,
a total length that fits, and a correct header checksum. `emit` computes the
header length, total length and checksum.

Left out, deliberately:
- Options are not interpreted (no source route, record route or timestamp
  processing). A virtual host neither forwards by source route nor records
  its address, and keeping the bytes verbatim lets a personality echo or
  drop them exactly.
- Fragments are not reassembled here: that needs state and a clock, which
  belong to the network layer, not to a codec.
- IPv6 is not handled at all.
"""

import ipaddress
import struct
from typing import NamedTuple

from vnet.wire.errors import MalformedFrame

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

# The 3-bit flags field (RFC 791 section 3.1). Bit 0 is reserved and must be
# zero; RFC 3514 calls it the evil bit. It is decoded, not refused, so that a
# personality can react to it as its operating system does.
FLAG_EVIL = 0x4
FLAG_DF = 0x2
FLAG_MF = 0x1

MIN_HEADER_LENGTH = 20
MAX_OPTIONS_LENGTH = 40

# RFC 791 section 3.1, "Internet Header Format": version and IHL, type of
# service, total length, identification, flags and fragment offset, time to
# live, protocol, header checksum, source and destination address.
_HEADER = struct.Struct("!BBHHHBBHII")
_ONES = 0xFFFF

# NamedTuple's own __new__ is Python code that calls this C constructor; the
# parsers call it directly, which halves the cost of building each value.
_new_value = tuple.__new__


class Ipv4Packet(NamedTuple):
    src: int
    dst: int
    protocol: int
    payload: bytes
    ttl: int = 64
    ident: int = 0
    flags: int = 0
    fragment_offset: int = 0  # in 8-byte units, as on the wire
    tos: int = 0
    options: bytes = b""

    @property
    def dont_fragment(self) -> bool:
        return bool(self.flags & FLAG_DF)

    @property
    def is_fragment(self) -> bool:
        """True for any piece of a fragmented datagram, first one included."""
        return bool(self.flags & FLAG_MF) or self.fragment_offset != 0


def parse(data: bytes, start: int = 0) -> Ipv4Packet:
    """Decode and check a packet; Ethernet padding after total length is cut.

    The packet begins at `start` of `data`: a frame's payload is read in
    place, with no copy of it made first.
    """
    available = len(data) - start
    if available < MIN_HEADER_LENGTH:
        raise MalformedFrame("ipv4", f"{available} bytes, header needs 20")
    (
        version_ihl,
        tos,
        total_length,
        ident,
        flags_fragment,
        ttl,
        protocol,
        _checksum,
        src,
        dst,
    ) = _HEADER.unpack_from(data, start)
    if version_ihl == 0x45 and 20 <= total_length <= available:
        # The usual packet, with no options: the checks below, in short.
        if int.from_bytes(data[start : start + 20], "big") % _ONES:
            raise MalformedFrame("ipv4", "bad header checksum")
        return _new_value(
            Ipv4Packet,
            (
                src,
                dst,
                protocol,
                data[start + 20 : start + total_length],
                ttl,
                ident,
                flags_fragment >> 13,
                flags_fragment & 0x1FFF,
                tos,
                b"",
            ),
        )
    if start:
        return parse(data[start:])
    header_length = (version_ihl & 0xF) * 4
    # One chained test passes a good packet; _length_error names the fault.
    if version_ihl >> 4 != 4 or not 20 <= header_length <= total_length <= len(data):
        raise _length_error(version_ihl, total_length, len(data))

    # RFC 1122 3.2.1.2: a packet with a bad header checksum is discarded.
    # A correct header sums to 0xffff, so the header read as one integer is
    # a multiple of 0xffff (see vnet.wire.checksum); it is never zero, as
    # the version is 4.
    if int.from_bytes(data[:header_length], "big") % _ONES:
        raise MalformedFrame("ipv4", "bad header checksum")

    return _new_value(
        Ipv4Packet,
        (
            src,
            dst,
            protocol,
            data[header_length:total_length],
            ttl,
            ident,
            flags_fragment >> 13,
            flags_fragment & 0x1FFF,
            tos,
            data[MIN_HEADER_LENGTH:header_length],
        ),
    )


def _length_error(
    version_ihl: int, total_length: int, available: int
) -> MalformedFrame:
    """Explain which of RFC 1122 3.2.1.1 and RFC 791 3.1's length rules failed."""
    header_length = (version_ihl & 0xF) * 4
    if version_ihl >> 4 != 4:
        reason = f"version {version_ihl >> 4}"
    elif header_length < MIN_HEADER_LENGTH:
        reason = f"header length {header_length} below 20"
    elif total_length < header_length:
        reason = f"total length {total_length} below header length {header_length}"
    else:
        reason = f"total length {total_length} but {available} bytes received"
    return MalformedFrame("ipv4", reason)


def emit(packet: Ipv4Packet, ttl: int | None = None) -> bytes:
    """Encode a packet, computing header length, total length and checksum.

    `ttl`, if given, is sent in place of the packet's own (a router's
    forwarding takes its share without making a new packet).
    """
    (
        src,
        dst,
        protocol,
        payload,
        own_ttl,
        ident,
        flags,
        fragment_offset,
        tos,
        options,
    ) = packet
    if ttl is None:
        ttl = own_ttl
    header_length = MIN_HEADER_LENGTH
    if options:
        # RFC 791 3.1: the header is a whole number of 32-bit words, at most 15.
        if len(options) & 3 or len(options) > MAX_OPTIONS_LENGTH:
            raise ValueError(f"options are {len(options)} bytes, need 4n <= 40")
        header_length += len(options)
    if flags & ~0x7 or fragment_offset & ~0x1FFF:
        raise ValueError(
            f"flags {flags!r} or fragment offset {fragment_offset!r} out of range"
        )

    try:
        version_ihl = 0x40 | header_length >> 2
        total_length = header_length + len(payload)
        flags_fragment = flags << 13 | fragment_offset
        # The checksum comes from the fields' sum, with no first packing:
        # a 32-bit address adds like its two 16-bit words, modulo 0xffff
        # (see vnet.wire.checksum). A field out of range makes the sum
        # wrong, but then pack refuses it.
        total = (
            (version_ihl << 8)
            + tos
            + total_length
            + ident
            + flags_fragment
            + (ttl << 8)
            + protocol
            + src
            + dst
        )
        if options:
            total += int.from_bytes(options, "big")
        header = _HEADER.pack(
            version_ihl,
            tos,
            total_length,
            ident,
            flags_fragment,
            ttl,
            protocol,
            -total % _ONES,  # the sum is positive: the version is 4
            src,
            dst,
        )
    except (struct.error, TypeError) as error:
        raise ValueError(f"{packet!r}: {error}") from None
    if options:
        return header + options + payload
    return header + payload


def addr_to_str(addr: int) -> str:
    """Format an address as a dotted quad, "192.0.2.1"."""
    if not 0 <= addr <= 0xFFFFFFFF:
        raise ValueError(f"not an IPv4 address: {addr!r}")
    return f"{addr >> 24}.{addr >> 16 & 0xFF}.{addr >> 8 & 0xFF}.{addr & 0xFF}"


def addr_from_str(text: str) -> int:
    """Read a strict dotted quad; ValueError for anything else."""
    return int(ipaddress.IPv4Address(text))
