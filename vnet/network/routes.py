"""Routers, routes and places: what a fabric is built from.

A `Route` is one way through the routers between the TAP link and a place,
with the links it crosses; a `Place` is where an address is, with its
routes both ways. `routing.Fabric` builds them from the topology and walks
packets along them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vnet.host import Host
from vnet.host import Personality as RouterPersonality
from vnet.network.delay import Lane
from vnet.network.links import Channel
from vnet.wire import icmp, ipv4
from vnet.wire.errors import MalformedFrame
from vnet.wire.ipv4 import Ipv4Packet, addr_to_str

# Packets are built as the wire layer builds them: tuple.__new__ skips the
# NamedTuple constructor, which costs several times more.
_new_value = tuple.__new__

# RFC 1812 section 4.3.2.3: as much of the packet as fits in 576 bytes.
QUOTE_LIMIT = 576 - 20 - 8
_ICMP_ERRORS = frozenset(
    (
        icmp.DEST_UNREACHABLE,
        icmp.SOURCE_QUENCH,
        icmp.REDIRECT,
        icmp.TIME_EXCEEDED,
        icmp.PARAMETER_PROBLEM,
    )
)


class RouterPorts:
    """A router's own ports: all closed, as `ip route` boxes answer."""

    tcp_policy = "closed"
    udp_policy = "closed"
    ports: Mapping[tuple[str, int], Any] = {}


class Router:
    """A virtual router: its addresses, its MAC and its personality."""

    def __init__(
        self,
        name: str,
        addresses: tuple[int, ...],
        personality: RouterPersonality,
        mac: bytes,
    ) -> None:
        self.name = name
        self.addresses = addresses
        self.address = addresses[0]
        self.personality = personality
        self.mac = mac
        self.hosts: dict[int, Host] = {}
        self.outbound: Route | None = None

    def quote(self, packet: Ipv4Packet) -> bytes:
        """What an ICMP error from this router quotes of `packet`."""
        data = ipv4.emit(packet)
        quote = getattr(self.personality, "quote", None)
        if quote is not None:
            return bytes(quote(data))
        return data[:QUOTE_LIMIT]

    def __repr__(self) -> str:
        return f"Router({self.name!r}, {addr_to_str(self.address)})"


class Route:
    """One way through the routers: its links, and the router after each.

    `routers[i]` is the router a packet reaches over `links[i]`, which
    forwards it; the last entry is None, the end of the route. `last_due`
    keeps the route first-in, first-out.

    A plain route, whose links only add latency, is walked in one step
    (`carry`): its packets and bytes are counted on the route (`carried`),
    and added to its links' counters when a summary is made. Its packets
    wait in a lane of the delay line of their own (`lane`), in order.
    `express` marks a plain route with a latency: a packet whose TTL lasts
    goes straight from the host into the lane, and the place the route
    leads to may be folded (see Place).
    """

    __slots__ = (
        "lane",
        "links",
        "routers",
        "inbound",
        "last_due",
        "plain",
        "latency",
        "forwarders",
        "carried",
        "carried_bytes",
        "express",
    )

    def __init__(
        self,
        links: tuple[Channel, ...],
        routers: tuple[Router | None, ...],
        inbound: bool,
        lane: Lane,
    ) -> None:
        # Its action is given once the route's place, or the link, is known.
        self.lane = lane
        self.links = links
        self.routers = routers
        self.inbound = inbound
        self.last_due = 0.0
        self.plain = all(
            link.bucket is None and not link.loss and not link.jitter for link in links
        )
        self.latency = sum(link.latency for link in links)
        self.forwarders = sum(router is not None for router in routers)
        self.carried = 0
        self.carried_bytes = 0
        self.express = self.plain and self.latency > 0

    def carry(self, packet: Ipv4Packet, start: float) -> float:
        """When `packet`, on this plain route from `start`, reaches its end."""
        self.carried += 1
        self.carried_bytes += 20 + len(packet.options) + len(packet.payload)
        due = start + self.latency
        if due < self.last_due:
            due = self.last_due
        self.last_due = due
        return due


class Place:
    """Where an address is: its routes both ways, its router, its fate.

    `inbound` is None for an address on the TAP link. `router` is set for a
    router's own address, and for an unreachable network (the router that
    answers for it); `code` is the ICMP unreachable code then.

    `fold` is the latency of an express inbound route, when nothing else
    (shaping, an unreachable code) delays packets on their way in: the
    place's host gets its packets at once, and everything it sends leaves
    `fold` seconds later. Otherwise it is 0.
    """

    __slots__ = ("inbound", "outbound", "router", "code", "fold")

    def __init__(
        self,
        inbound: Route | None = None,
        outbound: Route | None = None,
        router: Router | None = None,
        code: int | None = None,
    ) -> None:
        self.inbound = inbound
        self.outbound = outbound
        self.router = router
        self.code = code
        self.fold = 0.0


ON_LINK = Place()


def with_ttl(packet: Ipv4Packet, ttl: int) -> Ipv4Packet:
    """`packet` with another TTL; NamedTuple._replace costs several times more."""
    src, dst, protocol, payload, _, ident, flags, offset, tos, options = packet
    fields = (src, dst, protocol, payload, ttl, ident, flags, offset, tos, options)
    return _new_value(Ipv4Packet, fields)


def may_answer_with_error(packet: Ipv4Packet) -> bool:
    """RFC 1122 section 3.2.2: no ICMP error about an ICMP error or a later fragment."""
    if packet.fragment_offset:
        return False
    if packet.protocol != ipv4.PROTO_ICMP:
        return True
    try:
        return icmp.parse(packet.payload).type not in _ICMP_ERRORS
    except MalformedFrame:
        return False
