"""vnet.tcp alone on a TAP device, so that the kernel's TCP can be its peer.

Run inside a network namespace made for it:

    python -m tests.tcp.kernel_peer TAP [--loss P] [--seed N]

It brings TAP up with 192.0.2.1/24 on the kernel's side, answers ARP for
192.0.2.10 and serves plain HTTP/1.0 there on port 80 through one `TcpHost`:
`GET /N` returns N bytes of `stream(N)`, and a POST returns the SHA-256 of
its body in hex. `--loss` drops that share of frames each way, at random
(seeded), in front of the TCP. It prints `ready` once serving, and its
counters as JSON on stderr when SIGTERM or SIGINT stops it.

Nothing else of vnet runs: no engine, no personality layer, no transport,
so what the kernel meets is this package's TCP and the wire codecs.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import json
import random
import selectors
import signal
import sys
import time

from vnet.link.kernel import run_ip
from vnet.link.tap import TapLink
from vnet.tcp import Connection, PlainPersonality, TcpHost
from vnet.wire import arp, ethernet, ipv4, tcp
from vnet.wire.ethernet import EthernetFrame

ADDRESS = ipv4.addr_from_str("192.0.2.10")
KERNEL_SIDE = "192.0.2.1/24"
MAC = bytes.fromhex("02000000000a")


def stream(size: int) -> bytes:
    """What `GET /size` returns: the same bytes for every run."""
    return random.Random(size).randbytes(size)


class Exchange:
    """One HTTP/1.0 request and its response on one connection."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.body: hashlib._Hash | None = None
        self.body_left = 0
        self.response: memoryview | None = None

    def serve(self, connection: Connection, now: float) -> None:
        data = connection.read(now)
        if self.response is None:
            self._take(data)
        if self.response is not None and not connection.closed:
            if self.response:
                sent = connection.send(self.response, now)
                self.response = self.response[sent:]
            if not self.response:
                connection.shutdown(now)

    def _take(self, data: bytes) -> None:
        if self.body is not None:
            self.body.update(data[: self.body_left])
            self.body_left -= min(len(data), self.body_left)
        else:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, rest = bytes(self.head).partition(b"\r\n\r\n")
            self._start(head, rest)
        if self.body is not None and self.body_left == 0:
            self._respond(self.body.hexdigest().encode())

    def _start(self, head: bytes, rest: bytes) -> None:
        lines = head.split(b"\r\n")
        method, path, _ = lines[0].split(b" ")
        if method != b"POST":
            self._respond(stream(int(path[1:] or 0)))
            return
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        self.body = hashlib.sha256(rest[:length])
        self.body_left = length - min(len(rest), length)

    def _respond(self, body: bytes) -> None:
        head = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        self.response = memoryview(head + body)


class Server:
    """The TAP, ARP for one address, and the TCP host behind it."""

    def __init__(self, tap: TapLink, loss: float, seed: int) -> None:
        self.tap = tap
        self.tcp = TcpHost(ADDRESS, PlainPersonality(seed=seed), backlog=1024)
        self.loss = loss
        self.random = random.Random(seed)
        self.kernel_mac = ethernet.BROADCAST
        self.exchanges: dict[Connection, Exchange] = {}
        self.timers: list[tuple[float, int, Connection]] = []
        self.order = itertools.count()
        self.counters = {"frames in": 0, "frames out": 0, "dropped": 0}

    def frames_arrived(self, now: float) -> None:
        for frame in self.tap.read_frames(256):
            self.counters["frames in"] += 1
            if self.random.random() < self.loss:
                self.counters["dropped"] += 1
                continue
            self.handle(ethernet.parse(frame), now)

    def handle(self, frame: EthernetFrame, now: float) -> None:
        if frame.ethertype == ethernet.ETHERTYPE_ARP:
            self.answer_arp(arp.parse(frame.payload))
            return
        if frame.ethertype != ethernet.ETHERTYPE_IPV4:
            return
        packet = ipv4.parse(frame.payload)
        if packet.dst == ADDRESS and packet.protocol == ipv4.PROTO_TCP:
            self.kernel_mac = frame.src
            segment = tcp.parse(packet.payload, packet.src, packet.dst)
            self.tcp.receive(packet.src, segment, now)
            self.pump(now)

    def answer_arp(self, request: arp.ArpPacket) -> None:
        if request.operation != arp.REQUEST or request.target_ip != ADDRESS:
            return
        self.kernel_mac = request.sender_mac
        reply = arp.ArpPacket(
            arp.REPLY, MAC, ADDRESS, request.sender_mac, request.sender_ip
        )
        frame = EthernetFrame(
            request.sender_mac, MAC, ethernet.ETHERTYPE_ARP, arp.emit(reply)
        )
        self.tap.write_frame(ethernet.emit(frame))

    def pump(self, now: float) -> None:
        for connection in self.tcp.accept():
            self.exchanges[connection] = Exchange()
        while True:
            segments, changed = self.tcp.flush()
            for destination, segment in segments:
                self.transmit(destination, segment)
            if not changed:
                return
            for connection in changed:
                exchange = self.exchanges.get(connection)
                if exchange is not None:
                    exchange.serve(connection, now)
                if connection.state == "CLOSED":
                    self.exchanges.pop(connection, None)
                self.watch(connection)

    def transmit(self, destination: int, segment: tcp.TcpSegment) -> None:
        self.counters["frames out"] += 1
        if self.random.random() < self.loss:
            self.counters["dropped"] += 1
            return
        payload = tcp.emit(segment, ADDRESS, destination)
        packet = ipv4.Ipv4Packet(
            ADDRESS, destination, ipv4.PROTO_TCP, payload, 64, 0, ipv4.FLAG_DF
        )
        frame = EthernetFrame(
            self.kernel_mac, MAC, ethernet.ETHERTYPE_IPV4, ipv4.emit(packet)
        )
        self.tap.write_frame(ethernet.emit(frame))

    def watch(self, connection: Connection) -> None:
        deadline = connection.deadline
        scheduled = connection.scheduled
        if deadline is None or (scheduled is not None and scheduled <= deadline):
            return
        connection.scheduled = deadline
        heapq.heappush(self.timers, (deadline, next(self.order), connection))

    def run_timers(self, now: float) -> None:
        timers = self.timers
        while timers and timers[0][0] <= now:
            when, _, connection = heapq.heappop(timers)
            if connection.scheduled != when:
                continue
            connection.scheduled = None
            deadline = connection.deadline
            if deadline is not None and deadline <= now:
                connection.on_deadline(now)
                self.pump(now)
            self.watch(connection)

    def next_wake(self, now: float) -> float:
        return max(0.0, min(self.timers[0][0] - now, 1.0)) if self.timers else 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tap")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    tap = TapLink(arguments.tap)
    run_ip("link", "set", "dev", tap.name, "up")
    run_ip("addr", "replace", KERNEL_SIDE, "dev", tap.name)
    server = Server(tap, arguments.loss, arguments.seed)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    selector = selectors.DefaultSelector()
    selector.register(tap.fileno(), selectors.EVENT_READ)
    print("ready", flush=True)
    while not stopping:
        if selector.select(server.next_wake(time.monotonic())):
            server.frames_arrived(time.monotonic())
        server.run_timers(time.monotonic())
    counters = dict(server.counters, connections=len(server.tcp))
    print(json.dumps(counters), file=sys.stderr)


if __name__ == "__main__":
    main()
