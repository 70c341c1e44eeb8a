"""The virtual network: it takes frames from the link and gives them to hosts.

It answers ARP for the addresses it owns (RFC 826), learns which MAC address
each peer speaks from, and hands every IPv4 packet addressed to one of its
hosts to that host. Hosts are made on first contact from their span of the
address plan, so an unvisited /16 costs nothing; a bounded number of them is
kept, and the idle ones contacted longest ago are let go first.

With routers or shaping, packets pass through a `routing.Fabric` both ways,
which delays, drops and forwards them; ARP then answers only for addresses
on the TAP link (the entry router and the hosts there), since the kernel
reaches everything behind the routers through the entry router.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from vnet.host import Host
from vnet.network.routing import Fabric
from vnet.wire import arp, ethernet, ipv4
from vnet.wire.arp import ArpPacket
from vnet.wire.errors import MalformedFrame
from vnet.wire.ethernet import (
    BROADCAST,
    ETHERTYPE_ARP,
    ETHERTYPE_IPV4,
)
from vnet.wire.ipv4 import Ipv4Packet

log = logging.getLogger(__name__)

MAX_HOSTS = 65_536
_IPV4_TYPE = ETHERTYPE_IPV4.to_bytes(2, "big")
_ARP_TYPE = ETHERTYPE_ARP.to_bytes(2, "big")
MAX_NEIGHBOURS = 4_096


class Ownership(Protocol):
    """Decides which addresses this network answers for."""

    def owns(self, address: int, now: float) -> bool: ...

    def observe(self, sender_ip: int, sender_mac: bytes, now: float) -> None: ...


class VirtualNetwork:
    """Hosts behind one link."""

    def __init__(
        self,
        make_host: Callable[[int], Host | None],
        transmit: Callable[[bytes], object],
        ownership: Ownership | None = None,
        max_hosts: int = MAX_HOSTS,
        fabric: Fabric | None = None,
    ) -> None:
        self._make_host = make_host
        self._transmit = transmit
        self._ownership = ownership
        self._max_hosts = max_hosts
        self._hosts: OrderedDict[int, Host] = OrderedDict()
        self._neighbours: dict[int, bytes] = {}
        self._macs: set[bytes] = set()
        self._peer_mac = BROADCAST
        self.counters: Counter[str] = Counter()
        self.fabric = fabric
        if fabric is not None:
            fabric.connect(
                self._routed_host, self._frame_packet, transmit, self._hosts.get
            )

    # --- frames in ---------------------------------------------------------

    def handle_frame(self, data: bytes, now: float) -> None:
        """Deliver one frame. A malformed one raises MalformedFrame."""
        # ethernet.header, inline: this runs for every frame, and a packet
        # is read in place, with no copy of its payload out of the frame.
        if len(data) < ethernet.HEADER_LENGTH:
            ethernet.header(data)  # raises, naming the fault
        ethertype = data[12:14]
        if ethertype == _IPV4_TYPE:
            packet = ipv4.parse(data, ethernet.HEADER_LENGTH)
        elif ethertype == _ARP_TYPE:
            self._handle_arp(arp.parse(data[ethernet.HEADER_LENGTH :]), now)
            return
        else:
            self.counters["ignored ethertype"] += 1
            return

        # The sender is learnt (_learn, inline) from its frame's source MAC.
        address = packet.src
        mac = self._peer_mac = data[6:12]
        neighbours = self._neighbours
        if address not in neighbours and len(neighbours) >= MAX_NEIGHBOURS:
            neighbours.clear()  # as in _learn
        neighbours[address] = mac

        if self.fabric is not None:
            if not self.fabric.receive(packet, now):
                self.counters["not ours"] += 1
            return
        # The host is nearly always known already; `host` makes it if not.
        host = self._hosts.get(packet.dst) or self.host(packet.dst, now)
        if host is None:
            self.counters["not ours"] += 1
            return
        host.receive(packet, now)

    def _handle_arp(self, request: ArpPacket, now: float):
        self._learn(request.sender_ip, request.sender_mac)
        if self._ownership is not None:
            self._ownership.observe(request.sender_ip, request.sender_mac, now)
            if not self._ownership.owns(request.sender_ip, now):
                self._hosts.pop(request.sender_ip, None)
        if request.operation != arp.REQUEST:
            return
        host = self._arp_host(request.target_ip, now)
        if host is None:
            return
        reply = ArpPacket(
            arp.REPLY,
            host.mac,
            host.address,
            request.sender_mac,
            request.sender_ip,
        )
        self._send_frame(request.sender_mac, host.mac, ETHERTYPE_ARP, arp.emit(reply))

    def _arp_host(self, address: int, now: float) -> Host | None:
        fabric = self.fabric
        if fabric is None or not fabric.routed:
            return self.host(address, now)
        if not fabric.on_link(address):
            return None
        # Limitation: on a shared interface the entry router's address is
        # answered without the ARP probe that claims a host's address first;
        # it is the operator's to give, like the attach host address.
        return fabric.router_host(address) or self.host(address, now)

    def send_probe(self, address: int, mac: bytes) -> None:
        """An RFC 5227 ARP probe for `address`, from `mac`."""
        probe = ArpPacket(arp.REQUEST, mac, 0, bytes(6), address)
        self._send_frame(BROADCAST, mac, ETHERTYPE_ARP, arp.emit(probe))

    def _learn(self, address: int, mac: bytes) -> None:
        self._peer_mac = mac
        neighbours = self._neighbours
        if address not in neighbours and len(neighbours) >= MAX_NEIGHBOURS:
            # A spoofed-source flood must not grow this table without bound.
            neighbours.clear()
        neighbours[address] = mac

    # --- hosts -------------------------------------------------------------

    def host(self, address: int, now: float, claim: bool = True) -> Host | None:
        """The host at `address`, made on first contact; None if not ours.

        On a shared interface an address on the link must be claimed first;
        `claim=False` skips that for hosts behind routers, which no ARP reaches.
        """
        host = self._hosts.get(address)
        if host is not None:
            return host
        if claim and self._ownership and not self._ownership.owns(address, now):
            return None
        host = self._make_host(address)
        if host is None:
            return None
        self._hosts[address] = host
        self._macs.add(host.mac)
        self.counters["hosts contacted"] += 1
        if len(self._hosts) > self._max_hosts:
            self._forget_idle_host()
        return host

    def _forget_idle_host(self) -> None:
        for _ in range(len(self._hosts)):
            address, host = self._hosts.popitem(last=False)
            if host.idle():
                self._macs.discard(host.mac)
                return
            self._hosts[address] = host

    def knows_mac(self, mac: bytes) -> bool:
        """True if one of the hosts made so far, or a router, has this MAC."""
        if mac in self._macs:
            return True
        return self.fabric is not None and mac in self.fabric.router_macs

    @property
    def host_count(self) -> int:
        return len(self._hosts)

    # --- packets out -------------------------------------------------------

    def _routed_host(self, address: int, now: float) -> Host | None:
        assert self.fabric is not None
        return self.host(address, now, claim=self.fabric.on_link(address))

    def send_packet(self, host: Host, packet: Ipv4Packet) -> None:
        """Frame and transmit a packet that `host` sends."""
        if self.fabric is not None:
            self.fabric.send(host, packet)
            return
        mac = self._neighbours.get(packet.dst, self._peer_mac)
        # ethernet.encode without its checks: both MACs are six bytes, one
        # a host's own, the other read from a frame.
        self._transmit(b"".join((mac, host.mac, _IPV4_TYPE, ipv4.emit(packet))))

    def _frame_packet(
        self, src_mac: bytes, packet: Ipv4Packet, ttl: int | None = None
    ) -> bytes:
        """The frame of `packet` from `src_mac`, sent with `ttl` if given."""
        mac = self._neighbours.get(packet.dst, self._peer_mac)
        # ethernet.encode without its checks, as in send_packet.
        return b"".join((mac, src_mac, _IPV4_TYPE, ipv4.emit(packet, ttl)))

    # --- timers and records ------------------------------------------------

    def bind_timers(self, timers: Any, clock: Callable[[], float]) -> None:
        """Give the fabric the engine's timer queue and clock (a no-op without)."""
        if self.fabric is not None:
            self.fabric.bind(timers, clock)

    def summary(self) -> dict[str, Any]:
        """Network counters for the run summary: empty without a fabric."""
        if self.fabric is None:
            return {}
        return {"network": self.fabric.summary()}

    def _send_frame(self, dst: bytes, src: bytes, ethertype: int, payload: bytes):
        self._transmit(ethernet.encode(dst, src, ethertype, payload))


__all__ = ["VirtualNetwork", "MalformedFrame"]
