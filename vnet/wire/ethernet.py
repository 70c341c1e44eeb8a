"""Ethernet II frames (RFC 894 for IPv4 over Ethernet).

A frame is destination MAC, source MAC, a 16-bit EtherType and the payload.
The link layer hands us frames without the preamble and without the frame
check sequence, which the NIC or the TAP driver owns, so neither is parsed or
emitted here.

Emulated: the plain DIX header that carries IPv4 (0x0800) and ARP (0x0806).

Left out, deliberately:
- 802.1Q tags are not decoded: a tagged frame parses with EtherType 0x8100
  and the tag at the front of its payload. The virtual network sits on one
  untagged segment, so a tagged frame is not for us.
- 802.3 frames, whose type field is a length below 0x0600, are not told
  apart, so IPv4 in LLC/SNAP framing (RFC 1042) is not decoded: hosts on
  Ethernet send RFC 894 framing.
- No padding is added on emit. RFC 894 asks for a 46-byte minimum payload on
  the wire, but the NIC pads short frames and a TAP device takes them as they
  are. Received padding stays in the payload; IPv4 cuts it by total length.
"""

import string
import struct
from typing import NamedTuple

from vnet.wire.errors import MalformedFrame

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100

BROADCAST = b"\xff" * 6

HEADER_LENGTH = 14

# RFC 894 "Frame Format": destination address, source address, type.
_HEADER = struct.Struct("!6s6sH")
_TYPE = struct.Struct("!H")
# The EtherTypes vnet sends, packed once.
_TYPE_BYTES = {ETHERTYPE_IPV4: b"\x08\x00", ETHERTYPE_ARP: b"\x08\x06"}
_HEX_DIGITS = frozenset(string.hexdigits)

# NamedTuple's own __new__ is Python code that calls this C constructor; the
# parser calls it directly, which halves the cost of building the value.
_new_value = tuple.__new__


class EthernetFrame(NamedTuple):
    dst: bytes
    src: bytes
    ethertype: int
    payload: bytes


def parse(data: bytes) -> EthernetFrame:
    """Decode a frame; the payload keeps any trailing padding."""
    if len(data) < HEADER_LENGTH:
        raise MalformedFrame("ethernet", f"{len(data)} bytes, header needs 14")
    dst, src, ethertype = _HEADER.unpack_from(data)
    return _new_value(EthernetFrame, (dst, src, ethertype, data[HEADER_LENGTH:]))


def header(data: bytes) -> tuple[bytes, bytes, int]:
    """A frame's destination, source and EtherType, without its payload."""
    if len(data) < HEADER_LENGTH:
        raise MalformedFrame("ethernet", f"{len(data)} bytes, header needs 14")
    return _HEADER.unpack_from(data)


def emit(frame: EthernetFrame) -> bytes:
    """Encode a frame, without padding and without FCS."""
    return encode(*frame)


def encode(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    """Encode a frame from its fields, as `emit` does, with no value to build."""
    # struct's "6s" would silently pad or cut a wrong-sized address.
    if len(dst) != 6 or len(src) != 6:
        raise ValueError(f"MAC addresses must be 6 bytes: {dst!r} {src!r}")
    type_bytes = _TYPE_BYTES.get(ethertype) if type(ethertype) is int else None
    if type_bytes is None:
        try:
            type_bytes = _TYPE.pack(ethertype)
        except struct.error as error:
            raise ValueError(f"ethertype {ethertype!r}: {error}") from None
    return b"".join((dst, src, type_bytes, payload))


def mac_to_str(mac: bytes) -> str:
    """Format a MAC address as six colon-separated lower-case hex pairs."""
    return mac.hex(":")


def mac_from_str(text: str) -> bytes:
    """Read "02:00:5e:00:00:01" or "02-00-5E-00-00-01"; ValueError if bad."""
    separator = "-" if "-" in text else ":"
    groups = text.split(separator)
    if len(groups) != 6 or not all(_is_hex_pair(group) for group in groups):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(group, 16) for group in groups)


def _is_hex_pair(group: str) -> bool:
    return len(group) == 2 and group[0] in _HEX_DIGITS and group[1] in _HEX_DIGITS
