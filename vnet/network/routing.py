"""Routers and the paths between the TAP link and the hosts behind them.

The fabric sits between the frames of `VirtualNetwork` and the hosts. For
each IPv4 packet it finds where the destination is (`Place`): on the TAP
link, in a network behind routers, one of the routers' own addresses, or a
network that is unreachable. It then walks the packet along its route, one
link and one router at a time:

- each link (`links.Channel`) adds its latency and jitter, may lose the
  packet, and holds it for bandwidth;
- each router on the way forwards it as RFC 1812 section 5.3.1 says: a
  packet that arrives with a TTL of 1 or less is not forwarded, and the
  router answers ICMP time exceeded (RFC 792), quoting the packet as it
  arrived, from the router's first address. Otherwise the TTL goes down by
  one. This holds both ways: replies from the hosts lose one per router too;
- the last router of an unreachable network answers ICMP destination
  unreachable (net, host, or communication administratively prohibited,
  RFC 1812 section 5.2.7.1) instead of forwarding.

No ICMP error answers an ICMP error or a fragment other than the first
(RFC 1122 section 3.2.2). An error quotes as much of the packet as fits in
576 bytes (RFC 1812 section 4.3.2.3), unless the router's personality says
otherwise through a `quote` method on its personality.

The walk is computed ahead, in virtual time, when the packet arrives, and
the packet then waits once, in the delay line, for the moment it leaves the
last link. Only a link with bandwidth needs its own moment, since its queue
depends on what else arrives before: the walk stops there, waits until the
packet reaches that link, and goes on from it. Each route keeps its packets
in order, so jitter never reorders a flow.

A host behind plain routes (latency only, and no shaping) is folded: it is
handed each packet as the packet reaches the fabric, and what it sends
waits the whole round trip on the way back, its inbound latency added to
the outbound route's. Every packet reaches such a host early by the same
time, and its timers run from those moments, so seen from the TAP link it
answers exactly as if it had waited. A request and its reply then wait once
in the delay line instead of twice.

Limitations:
- a packet that a router cannot forward on the way out (a host's TTL runs
  out) is dropped without an ICMP error to the host: virtual hosts ignore
  ICMP errors anyway;
- there is no MTU: nothing is fragmented and no router sends "fragmentation
  needed";
- a router answers from its first address whatever the link a packet came
  in on;
- the events of a folded host are stamped when it handles a packet, up to
  its inbound latency before the packet would have reached it.
"""

from __future__ import annotations

import bisect
import functools
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from vnet.host import Host, PlainPersonality
from vnet.host import Personality as RouterPersonality
from vnet.network.delay import DelayLine, Lane
from vnet.network.links import Channel
from vnet.network.mac import host_mac
from vnet.network.records import Throttle
from vnet.network.routes import (
    ON_LINK,
    Place,
    Route,
    Router,
    RouterPorts,
    may_answer_with_error,
    with_ttl,
)
from vnet.wire import icmp, ipv4
from vnet.wire.errors import MalformedFrame
from vnet.wire.icmp import IcmpMessage
from vnet.wire.ipv4 import Ipv4Packet, addr_to_str

log = logging.getLogger(__name__)

TAP_SIDE = "tap"
# Packets taken from a batch of frames between two looks at the delay line.
CATCH_UP_EVERY = 32
# Addresses behind routers whose place is remembered, at most.
MAX_REMEMBERED = 65_536
UNREACHABLE_CODES = {
    "net": icmp.NET_UNREACHABLE,
    "host": icmp.HOST_UNREACHABLE,
    "admin": icmp.COMMUNICATION_PROHIBITED,
}

Deliver = Callable[[int, float], Host | None]
Frame = Callable[[bytes, Ipv4Packet, int | None], bytes]
Transmit = Callable[[bytes], object]
MakePersonality = Callable[[Any], RouterPersonality]


class Fabric:
    """Routes, links, shaping and the delay line between the TAP and hosts."""

    def __init__(
        self,
        topology: Any,
        events: Any,
        seed: int = 0,
        make_personality: MakePersonality | None = None,
        shaper: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.events = Throttle(events)
        self.shaper = shaper
        self.rng = random.Random(seed ^ 0x7E7)
        self.line = DelayLine(clock or _no_clock)
        self.dropped: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._clock = clock or _no_clock
        self._sending_at: float | None = None
        self._received = 0
        self._deliver: Deliver = _nowhere
        self._frame: Frame = _unframed
        self._transmit: Transmit = _nowhere_out
        self._known: Callable[[int], Host | None] = _unknown
        attach = topology.attach
        self._attach_network = attach.network
        self._attach_mask = attach.netmask
        self.channels: dict[str, Channel] = {}
        self.routes: list[Route] = []
        self.routers: dict[str, Router] = {}
        self._router_places: dict[int, Place] = {}
        self._addresses: dict[int, Place] = {}
        self._network_starts: list[int] = []
        self._network_ends: list[int] = []
        self._network_places: list[Place] = []
        self.routed = topology.routing is not None
        self.entry_mac = b""
        self.router_macs: frozenset[bytes] = frozenset()
        if topology.routing is not None:
            self._build(topology.routing, make_personality or _plain, seed)

    # --- building -----------------------------------------------------------

    def _build(self, routing: Any, make: MakePersonality, seed: int) -> None:
        for spec in routing.routers.values():
            mac = host_mac(spec.address, None, seed)
            router = Router(spec.name, spec.addresses, make(spec), mac)
            for address in spec.addresses:
                router.hosts[address] = Host(
                    address,
                    mac,
                    RouterPorts(),
                    self.send,
                    router.personality,
                    spec.name,
                )
            self.routers[spec.name] = router
        self.entry_mac = self.routers[routing.entry].mac
        self.router_macs = frozenset(router.mac for router in self.routers.values())

        for name, router in self.routers.items():
            nodes = [TAP_SIDE, *routing.paths[name]]
            inbound = self._route(routing, nodes, inbound=True)
            router.outbound = self._route(routing, nodes[::-1], inbound=False)
            place = self._place(inbound, router.outbound, router)
            for address in router.addresses:
                self._router_places[address] = place
        self._addresses = dict(self._router_places)

        for network in sorted(routing.networks, key=lambda spec: spec.first):
            self._network_starts.append(network.first)
            self._network_ends.append(network.last)
            self._network_places.append(self._network_place(routing, network))

    def _network_place(self, routing: Any, network: Any) -> Place:
        router = self.routers[network.router]
        nodes = [TAP_SIDE, *routing.paths[network.router]]
        if network.unreachable:
            inbound = self._route(routing, nodes, inbound=True)
            code = UNREACHABLE_CODES[network.unreachable]
            return self._place(inbound, None, router, code)
        links = {(network.router, network.cidr): network.link}
        links[(network.cidr, network.router)] = network.link
        nodes.append(network.cidr)
        inbound = self._route(routing, nodes, inbound=True, extra=links)
        outbound = self._route(routing, nodes[::-1], inbound=False, extra=links)
        return self._place(inbound, outbound)

    def _place(
        self,
        inbound: Route,
        outbound: Route | None,
        router: Router | None = None,
        code: int | None = None,
    ) -> Place:
        """A place, and the lane where packets wait to reach it."""
        place = Place(inbound, outbound, router, code)
        inbound.lane.action = functools.partial(self._hand_over, place)
        if inbound.express and code is None and self.shaper is None:
            place.fold = inbound.latency
        return place

    def _route(
        self,
        routing: Any,
        nodes: list[str],
        inbound: bool,
        extra: Mapping[tuple[str, str], Any] | None = None,
    ) -> Route:
        """The route through `nodes`: the first and last are its two ends."""
        links = []
        for near, far in zip(nodes, nodes[1:], strict=False):
            spec = (extra or {}).get((near, far)) or routing.links[(near, far)]
            links.append(self._channel(spec, near, far))
        routers = [self.routers[name] for name in nodes[1:-1]]
        # An inbound lane hands packets to its place (see _place); an
        # outbound one gives frames straight to the link (see connect).
        if inbound:
            lane = self.line.lane(_nowhere_in)
        else:
            lane = self.line.lane(_nowhere_out, timed=False)
        route = Route(tuple(links), (*routers, None), inbound, lane)
        self.routes.append(route)
        return route

    def _channel(self, spec: Any, near: str, far: str) -> Channel:
        name = f"{near}->{far}"
        channel = self.channels.get(name)
        if channel is None:
            channel = Channel.from_shape(name, spec.towards(far))
            self.channels[name] = channel
        return channel

    # --- wiring -------------------------------------------------------------

    def connect(
        self,
        deliver: Deliver,
        frame: Frame,
        transmit: Transmit,
        known: Callable[[int], Host | None] | None = None,
    ) -> None:
        """Where packets go: hosts by address, and frames out to the link.

        `known` finds a host already made, without the checks of `deliver`
        that only its first packet needs.
        """
        self._deliver = deliver
        self._frame = frame
        self._transmit = transmit
        self._known = known or _unknown
        for route in self.routes:
            if not route.inbound:
                route.lane.action = transmit

    def bind(self, timers: Any, clock: Callable[[], float]) -> None:
        """Use the engine's timer queue, and its clock for packets hosts send."""
        self._clock = clock
        self.line.bind(timers, clock)

    def locate(self, address: int) -> Place | None:
        """Where `address` is, or None if no route leads there."""
        place = self._addresses.get(address)
        if place is not None:
            return place
        place = self._find(address)
        if place is not None:
            # Hosts in use are looked up on every packet: remember them.
            if len(self._addresses) >= MAX_REMEMBERED:
                self._addresses = dict(self._router_places)
            self._addresses[address] = place
        return place

    def _find(self, address: int) -> Place | None:
        """locate, for an address not remembered: the link, then the networks."""
        if not self.routed or address & self._attach_mask == self._attach_network:
            return ON_LINK
        index = bisect.bisect_right(self._network_starts, address) - 1
        if index >= 0 and address <= self._network_ends[index]:
            return self._network_places[index]
        return None

    def on_link(self, address: int) -> bool:
        """True for an address the TAP link's ARP should answer for."""
        return address & self._attach_mask == self._attach_network

    def router_host(self, address: int) -> Host | None:
        """The host that answers for a router address, for ARP on the TAP link."""
        place = self._router_places.get(address)
        if place is None or place.router is None:
            return None
        return place.router.hosts.get(address)

    # --- packets in ---------------------------------------------------------

    def receive(self, packet: Ipv4Packet, now: float) -> bool:
        """Take a packet from the TAP link; False if nothing here owns its address."""
        self._received += 1
        if not self._received & CATCH_UP_EVERY - 1:
            self._catch_up()
        # locate's first step, inline: a host in use is nearly always known.
        place = self._addresses.get(packet.dst) or self.locate(packet.dst)
        if place is None:
            return False
        start = now
        if self.shaper is not None:
            extra = self.shaper.inbound(packet, now)
            if extra is None:
                self.dropped["shaped"] += 1
                return True
            start += extra
        route = place.inbound
        if route is None:
            self._arrive(place, packet, start, now)
        elif place.fold and packet.ttl > route.forwarders:
            # The usual packet, to a folded place: counted on its way and
            # handed over now; what the host sends waits the round trip.
            route.carry(packet, start)
            if route.forwarders:
                packet = with_ttl(packet, packet.ttl - route.forwarders)
            self._hand_over(place, packet, now, now)
        else:
            self._walk(packet, route, 0, start, now, place)
        return True

    def _catch_up(self) -> None:
        """Run what has come due while a long batch of frames is handled.

        The engine hands over every frame it read at once, all with the time
        of the read; under a flood that batch takes milliseconds, and packets
        due meanwhile would wait behind it. The timer queue still wakes the
        line as before: it finds the deadline moved and sleeps again.
        """
        deadline = self.line.deadline
        if deadline is not None:
            now = self._clock()
            if deadline <= now:
                self.line.on_deadline(now)

    def _arrive(
        self,
        place: Place,
        packet: Ipv4Packet,
        due: float,
        now: float,
        lane: Lane | None = None,
    ) -> None:
        """`packet` reaches its place at `due`; it waits in `lane` till then."""
        if place.code is not None:
            assert place.router is not None
            self._unreachable(place.router, packet, place.code, due, now)
        elif due <= now:
            self._hand_over(place, packet, due, now)
        elif lane is not None:
            if not lane.push(due, packet):
                self._drop("delay-line-full", "delay line", packet, now, inbound=True)
        elif not self.line.push(due, self._hand_over_waited, (place, packet)):
            self._drop("delay-line-full", "delay line", packet, now, inbound=True)

    def _hand_over(self, place: Place, packet: Ipv4Packet, due: float, now: float):
        """Give `packet` to its host, at `due`, from the line or at once.

        A malformed payload, found as the host reads it, is counted here,
        whether or not the packet waited: the engine adds these counts to
        its own (see `malformed`).
        """
        if place.router is not None:
            host = place.router.hosts.get(packet.dst)
        else:
            host = self._known(packet.dst) or self._deliver(packet.dst, now)
        if host is None:
            self.dropped["no host"] += 1
            return
        # Replies leave as if the packet had arrived on time, so lateness in
        # this line does not add up over a round trip.
        self._sending_at = due
        try:
            host.receive(packet, now)
        except MalformedFrame as error:
            self.malformed[str(error)] += 1
        finally:
            self._sending_at = None

    def _hand_over_waited(self, item: tuple[Place, Ipv4Packet], due: float, now: float):
        """A packet that waited in the line itself (shaped on the TAP link)."""
        self._hand_over(*item, due, now)

    # --- packets out --------------------------------------------------------

    def send(self, host: Host, packet: Ipv4Packet) -> None:
        """Send a packet from a host or router towards the TAP link."""
        now = self._sending_at
        if now is None:
            now = self._clock()
        # A source no route leads from leaves onto the TAP link as it is.
        place = self._addresses.get(packet.src) or self.locate(packet.src) or ON_LINK
        # A folded host is handed its packets early: its own leave later.
        start = now + place.fold
        if self.shaper is not None:
            extra = self.shaper.outbound(packet, now)
            if extra is None:
                self.dropped["shaped"] += 1
                return
            start += extra
        route = place.outbound
        if route is None:
            self._leave(packet, start, now, host.mac)
        elif route.express and packet.ttl > route.forwarders:
            # The usual packet: _walk and _leave in short, as in receive.
            due = route.carry(packet, start)
            # Framed with the TTL it leaves with: no new packet for that.
            frame = self._frame(self.entry_mac, packet, packet.ttl - route.forwarders)
            if not route.lane.push(due, frame):
                self._drop("delay-line-full", "delay line", packet, now, inbound=False)
        else:
            self._walk(packet, route, 0, start, now, None)

    def _leave(
        self,
        packet: Ipv4Packet,
        due: float,
        now: float,
        mac: bytes,
        lane: Lane | None = None,
        ttl: int | None = None,
    ) -> None:
        """`packet` leaves onto the TAP link at `due`, from `mac`; with `ttl`
        in place of its own, when routers took their share on the way."""
        frame = self._frame(mac, packet, ttl)
        if due <= now:
            self._transmit(frame)
        elif lane is not None:
            if not lane.push(due, frame):
                self._drop("delay-line-full", "delay line", packet, now, inbound=False)
        elif not self.line.push(due, self._transmit_late, frame):
            self._drop("delay-line-full", "delay line", packet, now, inbound=False)

    def _transmit_late(self, frame: bytes, due: float, now: float) -> None:
        """A frame that waited in the line itself (shaped on the TAP link)."""
        self._transmit(frame)

    # --- the walk -----------------------------------------------------------

    def _walk(
        self,
        packet: Ipv4Packet,
        route: Route,
        index: int,
        t: float,
        now: float,
        place: Place | None,
    ) -> None:
        """Carry `packet` from `route.links[index]`, reached at time `t`."""
        ttl = packet.ttl
        if route.plain and not index and ttl > route.forwarders:
            # Only latency, and the TTL lasts: the whole route in one step.
            t = route.carry(packet, t)
            ttl -= route.forwarders
        else:
            walked = self._hop_by_hop(packet, route, index, t, now, place)
            if walked is None:
                return
            t, ttl = walked
            if t < route.last_due:
                t = route.last_due
            route.last_due = t
        if not route.inbound:
            # Framed with the TTL it leaves with: no new packet for that.
            self._leave(packet, t, now, self.entry_mac, route.lane, ttl)
            return
        assert place is not None
        if ttl != packet.ttl:
            packet = with_ttl(packet, ttl)
        self._arrive(place, packet, t, now, route.lane)

    def _hop_by_hop(
        self,
        packet: Ipv4Packet,
        route: Route,
        index: int,
        t: float,
        now: float,
        place: Place | None,
    ) -> tuple[float, int] | None:
        """Each link and router in turn: (arrival time, TTL), or None if it ends."""
        links = route.links
        routers = route.routers
        ttl = packet.ttl
        size = 20 + len(packet.options) + len(packet.payload)
        for i in range(index, len(links)):
            link = links[i]
            bucket = link.bucket
            if bucket is not None:
                if t > now:
                    # Its queue depends on what reaches it first: wait until then.
                    held = with_ttl(packet, ttl) if ttl != packet.ttl else packet
                    item = (held, route, i, place)
                    if not self.line.push(t, self._resume, item):
                        self._drop(
                            "delay-line-full", link.name, packet, now, route.inbound
                        )
                    return None
                leave = bucket.admit(size, t)
                if leave is None:
                    link.overflowed += 1
                    self._drop("queue-full", link.name, packet, now, route.inbound)
                    return None
                t = leave
            if link.loss and self.rng.random() < link.loss:
                link.lost += 1
                self._drop("loss", link.name, packet, now, route.inbound)
                return None
            link.packets += 1
            link.bytes += size
            t += link.delay(self.rng) if link.jitter else link.latency
            router = routers[i]
            if router is not None:
                if ttl <= 1:
                    self._expired(router, with_ttl(packet, ttl), t, now, route)
                    return None
                ttl -= 1
        return t, ttl

    def _resume(self, item: tuple[Any, ...], due: float, now: float) -> None:
        packet, route, index, place = item
        self._walk(packet, route, index, due, now, place)

    # --- router messages ----------------------------------------------------

    def _expired(
        self, router: Router, packet: Ipv4Packet, t: float, now: float, route: Route
    ) -> None:
        self._drop("ttl-exceeded", router.name, packet, now, route.inbound)
        # Limitation: a host's packet that runs out of TTL on the way out is
        # dropped with no ICMP error back to the host; hosts ignore them.
        if route.inbound:
            message = IcmpMessage(
                icmp.TIME_EXCEEDED, icmp.TTL_EXCEEDED, 0, router.quote(packet)
            )
            self._originate(router, packet, message, t, now)

    def _unreachable(
        self, router: Router, packet: Ipv4Packet, code: int, t: float, now: float
    ) -> None:
        self._drop("unreachable", router.name, packet, now, inbound=True)
        message = IcmpMessage(icmp.DEST_UNREACHABLE, code, 0, router.quote(packet))
        self._originate(router, packet, message, t, now)

    def _originate(
        self,
        router: Router,
        cause: Ipv4Packet,
        message: IcmpMessage,
        t: float,
        now: float,
    ) -> None:
        """Send an ICMP error about `cause` from `router`, at time `t`."""
        if not may_answer_with_error(cause):
            return
        # Limitation: the router's first address, whatever link the packet
        # came in on; real routers use the incoming interface's address.
        ttl, ident, flags = router.personality.header("icmp-error", t, cause.src)
        error = Ipv4Packet(
            router.address,
            cause.src,
            ipv4.PROTO_ICMP,
            icmp.emit(message),
            ttl,
            ident,
            flags,
        )
        assert router.outbound is not None
        self._walk(error, router.outbound, 0, t, now, None)

    # --- records ------------------------------------------------------------

    def _drop(
        self, reason: str, where: str, packet: Ipv4Packet, now: float, inbound: bool
    ) -> None:
        self.dropped[reason] += 1
        peer, host = (packet.src, packet.dst) if inbound else (packet.dst, packet.src)
        count = self.events.due((reason, where, peer), now)
        if count:
            self.events.emit(
                "net.dropped",
                count,
                peer=addr_to_str(peer),
                host=addr_to_str(host),
                reason=reason,
                at=where,
            )

    def summary(self) -> dict[str, Any]:
        """Counters for the run summary: links, drops, lateness, shaping."""
        links = {name: channel.counters() for name, channel in self.channels.items()}
        for route in self.routes:
            for channel in route.links:
                links[channel.name]["packets"] += route.carried
                links[channel.name]["bytes"] += route.carried_bytes
        summary: dict[str, Any] = {
            "links": links,
            "dropped": dict(self.dropped),
            "waiting": len(self.line),
            "delay_error_us": self.line.lateness.summary(),
            "delay_line_wakeups": self.line.wakeups,
        }
        if self.malformed:
            summary["malformed"] = sum(self.malformed.values())
        if self.shaper is not None:
            summary["shaping"] = self.shaper.summary()
        return summary


def build_fabric(
    topology: Any,
    events: Any,
    seed: int = 0,
    make_personality: MakePersonality | None = None,
) -> Fabric | None:
    """The fabric a topology needs, or None when it has neither routers nor shaping.

    `make_personality(router_spec)` gives each router the personality that
    stamps its packets and answers for its addresses; without it, routers
    behave as vnet's plain Linux-like host.
    """
    if topology.routing is None and topology.shaping is None:
        return None
    shaper = None
    if topology.shaping is not None:
        from vnet.network.shaping import Shaper

        shaper = Shaper(topology.shaping, events, seed)
    return Fabric(topology, events, seed, make_personality, shaper)


def tap_routes(topology: Any) -> tuple[list[Any], str | None]:
    """The kernel's routes into the virtual network, and their gateway.

    Without routers, every host block is routed straight onto the TAP link
    (the kernel ARPs for each host). With routers, the networks and the
    routers' other addresses are routed via the entry router's address on
    the attach network, so the kernel ARPs only for that one.
    """
    from vnet.link.kernel import covering_networks

    routing = topology.routing
    if routing is None:
        spans = [(host.first, host.last) for host in topology.hosts]
        return covering_networks(spans), None
    attach = topology.attach
    entry = routing.routers[routing.entry]
    gateway = next(
        address
        for address in entry.addresses
        if address & attach.netmask == attach.network
    )
    spans = [(network.first, network.last) for network in routing.networks]
    spans += [
        (address, address)
        for router in routing.routers.values()
        for address in router.addresses
        if address & attach.netmask != attach.network
    ]
    return covering_networks(spans), addr_to_str(gateway)


def _plain(spec: Any) -> RouterPersonality:
    return PlainPersonality()


def _no_clock() -> float:
    raise RuntimeError("the fabric has no clock: call bind() first")


def _nowhere(address: int, now: float) -> Host | None:
    return None


def _unknown(address: int) -> Host | None:
    return None


def _unframed(mac: bytes, packet: Ipv4Packet, ttl: int | None) -> bytes:
    raise RuntimeError("the fabric is not connected to a network")


def _nowhere_out(frame: bytes) -> None:
    raise RuntimeError("the fabric is not connected to a network")


def _nowhere_in(packet: Ipv4Packet, due: float, now: float) -> None:
    raise RuntimeError("the route has no place yet")
