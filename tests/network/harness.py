"""A virtual network with routers, driven by a clock the test advances.

`Bench` loads a topology, builds the fabric and the network as the engine
does, with hosts made from the address plan, and a timer queue on a fake
loop. `send` puts a packet on the TAP link at the current time; `run_until`
moves the clock forward, firing every timer on the way at its own moment,
and `out` collects what left, with the time it left.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import vnet.config
from vnet.host import Host
from vnet.network.mac import host_mac
from vnet.network.plan import AddressPlan
from vnet.network.routing import build_fabric
from vnet.network.virtual import VirtualNetwork
from vnet.timers import TimerQueue
from vnet.wire import ethernet, icmp, ipv4, tcp, udp
from vnet.wire.ethernet import EthernetFrame
from vnet.wire.ipv4 import Ipv4Packet
from vnet.wire.tcp import TcpSegment
from vnet.wire.udp import UdpDatagram

PEER = ipv4.addr_from_str("192.0.2.254")
PEER_MAC = bytes.fromhex("0a0000000001")


def ip(text: str) -> int:
    return ipv4.addr_from_str(text)


class Events:
    """An event sink that keeps every event."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event_id: str, **fields: Any) -> None:
        self.records.append((event_id, fields))

    def named(self, event_id: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.records if name == event_id]


class FakeLoop:
    """call_at for the timer queue; the bench fires calls in time order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._calls: list[tuple[float, int, Any]] = []
        self._order = itertools.count()

    def call_at(self, when: float, callback: Any) -> Call:
        call = Call(callback)
        heapq.heappush(self._calls, (when, next(self._order), call))
        return call

    def run_until(self, until: float) -> None:
        while self._calls and self._calls[0][0] <= until:
            when, _, call = heapq.heappop(self._calls)
            if call.cancelled:
                continue
            self.now = max(self.now, when)
            call.callback()
        self.now = max(self.now, until)


class Call:
    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Bench:
    def __init__(self, text: str, seed: int = 0, events: Any = None) -> None:
        self.topology = vnet.config.loads(text, "bench.yaml")
        self.events = events if events is not None else Events()
        self.loop = FakeLoop()
        self.plan = AddressPlan(self.topology.hosts)
        self.out: list[tuple[float, bytes]] = []
        self.fabric = build_fabric(self.topology, self.events, seed)
        self.network = VirtualNetwork(
            self._make_host, self._transmit, fabric=self.fabric
        )
        self.timers = TimerQueue(self.loop.call_at)
        self.timers.bind_clock(lambda: self.loop.now)
        self.network.bind_timers(self.timers, lambda: self.loop.now)

    def _make_host(self, address: int) -> Host | None:
        spec = self.plan.lookup(address)
        if spec is None:
            return None
        mac = host_mac(address, None)
        return Host(address, mac, spec.template, self.network.send_packet)

    def _transmit(self, frame: bytes) -> None:
        self.out.append((self.loop.now, frame))

    # --- driving ---------------------------------------------------------------

    def send(self, packet: Ipv4Packet, dst_mac: bytes = b"\x02" * 6) -> None:
        frame = EthernetFrame(
            dst_mac, PEER_MAC, ethernet.ETHERTYPE_IPV4, ipv4.emit(packet)
        )
        self.network.handle_frame(ethernet.emit(frame), self.loop.now)

    def send_frame(self, frame: bytes) -> None:
        self.network.handle_frame(frame, self.loop.now)

    def run_until(self, until: float) -> None:
        self.loop.run_until(until)

    def run_for(self, seconds: float) -> None:
        self.run_until(self.loop.now + seconds)

    def take(self) -> list[tuple[float, Ipv4Packet]]:
        """Packets that left since the last take, with when they left."""
        packets = []
        for when, frame in self.out:
            parsed = ethernet.parse(frame)
            if parsed.ethertype == ethernet.ETHERTYPE_IPV4:
                packets.append((when, ipv4.parse(parsed.payload)))
        self.out.clear()
        return packets


def echo_request(dst: str, ttl: int = 64, sequence: int = 1, size: int = 56):
    message = icmp.echo(icmp.ECHO_REQUEST, 77, sequence, bytes(size))
    return Ipv4Packet(PEER, ip(dst), ipv4.PROTO_ICMP, icmp.emit(message), ttl, sequence)


def udp_probe(dst: str, ttl: int, port: int = 33434) -> Ipv4Packet:
    datagram = UdpDatagram(40000, port, b"probe")
    payload = udp.emit(datagram, PEER, ip(dst))
    return Ipv4Packet(PEER, ip(dst), ipv4.PROTO_UDP, payload, ttl, port)


def tcp_syn(dst: str, port: int, ttl: int = 64, src_port: int = 40000) -> Ipv4Packet:
    segment = TcpSegment(src_port, port, 1000, 0, tcp.SYN, 64240)
    payload = tcp.emit(segment, PEER, ip(dst))
    return Ipv4Packet(PEER, ip(dst), ipv4.PROTO_TCP, payload, ttl, 1)


def tcp_flags(dst: str, port: int, flags: int, src_port: int = 40000) -> Ipv4Packet:
    segment = TcpSegment(src_port, port, 1001, 1, flags, 64240)
    payload = tcp.emit(segment, PEER, ip(dst))
    return Ipv4Packet(PEER, ip(dst), ipv4.PROTO_TCP, payload, 64, 2)


def icmp_of(packet: Ipv4Packet) -> icmp.IcmpMessage:
    assert packet.protocol == ipv4.PROTO_ICMP
    return icmp.parse(packet.payload)
