"""Packet codecs: bytes from the wire into immutable values, and back.

One module per protocol, named for it: `ethernet`, `arp`, `ipv4`, `icmp`,
`tcp`, `udp`, plus the shared `checksum`. Each has `parse(bytes) -> value`
and `emit(value) -> bytes`. A peer's malformed bytes raise `MalformedFrame`
and nothing else; misuse of `emit` by our own code raises `ValueError`.
No other part of vnet packs or unpacks a header.
"""

from vnet.wire.errors import MalformedFrame

__all__ = ["MalformedFrame"]
