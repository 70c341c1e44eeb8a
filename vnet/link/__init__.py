"""Links: where raw Ethernet frames enter and leave vnet.

A link knows nothing about IP. It reads whole frames as they arrive and writes
whole frames back; the engine decides what they mean.
"""

from vnet.link.base import Link, LinkError

__all__ = ["Link", "LinkError"]
