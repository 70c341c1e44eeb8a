"""ARP for IPv4 over Ethernet (RFC 826).

Emulated: the request and reply packets that resolve an IPv4 address to a MAC
address on one Ethernet segment. Any operation code is decoded, so the
network layer can count and ignore the ones it does not answer.

Left out, deliberately: other hardware and protocol types (RFC 826 allows
any). The virtual network is IPv4 over Ethernet only, so a packet with
another hardware type, protocol type or address length is malformed for us.
RARP (RFC 903) uses its own EtherType and is not handled.
"""

import struct
from typing import NamedTuple

from vnet.wire.errors import MalformedFrame

REQUEST = 1
REPLY = 2

PACKET_LENGTH = 28

# RFC 826 "Packet format": hardware type, protocol type, hardware address
# length, protocol address length, operation, then the four addresses.
_PACKET = struct.Struct("!HHBBH6sI6sI")
_HARDWARE_ETHERNET = 1
_PROTOCOL_IPV4 = 0x0800
# The fixed leading fields for Ethernet and IPv4, checked in one comparison.
_ETHERNET_IPV4 = (_HARDWARE_ETHERNET, _PROTOCOL_IPV4, 6, 4)


class ArpPacket(NamedTuple):
    operation: int
    sender_mac: bytes
    sender_ip: int
    target_mac: bytes
    target_ip: int


def parse(data: bytes) -> ArpPacket:
    """Decode an ARP packet; bytes after the 28 of the packet are padding."""
    if len(data) < PACKET_LENGTH:
        raise MalformedFrame("arp", f"{len(data)} bytes, packet needs 28")
    fields = _PACKET.unpack_from(data)
    if fields[:4] != _ETHERNET_IPV4:
        hardware, protocol, hardware_length, protocol_length = fields[:4]
        raise MalformedFrame(
            "arp",
            f"hardware type {hardware} length {hardware_length}, protocol type"
            f" {protocol:#06x} length {protocol_length}: not Ethernet and IPv4",
        )
    return ArpPacket(*fields[4:])


def emit(packet: ArpPacket) -> bytes:
    """Encode the 28-byte ARP packet for Ethernet and IPv4."""
    if len(packet.sender_mac) != 6 or len(packet.target_mac) != 6:
        raise ValueError(f"MAC addresses must be 6 bytes: {packet!r}")
    try:
        return _PACKET.pack(*_ETHERNET_IPV4, *packet)
    except struct.error as error:
        raise ValueError(f"{packet!r}: {error}") from None
