"""A fault-injecting virtual wire between test clients and one `TcpHost`.

Each direction is a `Path`: a delay, random loss, duplication and
reordering from one seeded `random.Random`, an optional bottleneck (a rate
and a tail-drop queue, so that a sender that ignores congestion loses more),
a scripted `drop` filter and a `cut` switch for a peer that vanishes. Every
segment is encoded and decoded on the way (`vnet.wire.tcp`), so what the
TCP produces must be sendable, checksums and all.

`Network` runs the whole thing as a discrete-event simulation on a `Clock`:
deliveries, the server connections' deadlines (kept in one heap, the way the
engine's timer queue does) and the clients' timers, in time order. Time
jumps from event to event, so a transfer that takes minutes of simulated
time runs in the time its segments take to process.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vnet.tcp import Connection, TcpHost
from vnet.wire import tcp
from vnet.wire.tcp import TcpSegment

from .client import Client
from .harness import SERVER, Clock


@dataclass
class Path:
    """One direction of the wire, with its faults and what they did."""

    delay: float = 0.005
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.015
    rate: float | None = None  # bytes per second through the bottleneck
    queue: int = 64  # segments the bottleneck holds before it drops
    drop: Callable[[TcpSegment], bool] | None = None
    cut: bool = False

    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    queue_drops: int = 0
    _busy_until: float = 0.0
    _queued: deque[float] = field(default_factory=deque)

    def arrivals(
        self, segment: TcpSegment, now: float, rng: random.Random
    ) -> list[float]:
        """When copies of `segment` arrive: none, one, or two."""
        self.sent += 1
        chance = rng.random()
        if self.cut or (self.drop is not None and self.drop(segment)):
            self.lost += 1
            return []
        if chance < self.loss:
            self.lost += 1
            return []
        depart = self._through_bottleneck(segment, now)
        if depart is None:
            self.queue_drops += 1
            return []
        arrival = depart + self.delay
        if rng.random() < self.reorder:
            self.reordered += 1
            arrival += self.reorder_delay * (0.5 + rng.random())
        times = [arrival]
        if rng.random() < self.duplicate:
            self.duplicated += 1
            times.append(arrival + self.delay * rng.random())
        return times

    def _through_bottleneck(self, segment: TcpSegment, now: float) -> float | None:
        if self.rate is None:
            return now
        queued = self._queued
        while queued and queued[0] <= now:
            queued.popleft()
        if len(queued) >= self.queue:
            return None
        size = 40 + len(segment.payload)
        depart = max(now, self._busy_until) + size / self.rate
        self._busy_until = depart
        queued.append(depart)
        return depart


class ServerApp(Protocol):
    """What runs on the server's connections during a simulation."""

    def accepted(self, connection: Connection, now: float) -> None: ...

    def serve(self, connection: Connection, now: float) -> None: ...


class Stalled(AssertionError):
    """The simulation ran out of events, or of time, before it was done."""


class Network:
    """Clients, one host, and the two paths between them."""

    def __init__(
        self,
        host: TcpHost,
        app: ServerApp,
        *,
        clock: Clock | None = None,
        to_server: Path | None = None,
        to_client: Path | None = None,
        seed: int = 1,
        trace: bool = False,
    ) -> None:
        self.host = host
        self.app = app
        self.clock = clock or Clock()
        self.to_server = to_server or Path()
        self.to_client = to_client or Path()
        self.random = random.Random(seed)
        self.clients: dict[tuple[int, int], Client] = {}
        self.trace: list[tuple[float, str, TcpSegment]] | None = [] if trace else None
        self.server_wakeups = 0
        self._events: list[tuple[float, int, Client | None, int, TcpSegment]] = []
        self._timers: list[tuple[float, int, Connection]] = []
        self._order = itertools.count()

    def add(self, client: Client) -> Client:
        self.clients[client.ip, client.port] = client
        return client

    def connect(self, client: Client) -> Client:
        self.add(client)
        client.connect(self.clock.now)
        self._send_from(client, self.clock.now)
        return client

    def run(self, until: Callable[[], bool], limit: float = 3600.0) -> float:
        """Run events until `until()` holds; returns the simulated seconds."""
        start = self.clock.now
        while not until():
            when = self._next_event()
            if when is None:
                raise Stalled("nothing left to happen")
            if when - start > limit:
                raise Stalled(f"not done after {limit} simulated seconds")
            self.clock.now = max(self.clock.now, when)
            self._step(self.clock.now)
        return self.clock.now - start

    def run_for(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while True:
            when = self._next_event()
            if when is None or when > end:
                break
            self.clock.now = max(self.clock.now, when)
            self._step(self.clock.now)
        self.clock.now = end

    # --- the event loop --------------------------------------------------------

    def _next_event(self) -> float | None:
        times = [deadline for deadline in self._client_deadlines()]
        if self._events:
            times.append(self._events[0][0])
        if self._timers:
            times.append(self._timers[0][0])
        return min(times, default=None)

    def _client_deadlines(self) -> list[float]:
        return [c.deadline for c in self.clients.values() if c.deadline is not None]

    def _step(self, now: float) -> None:
        events = self._events
        while events and events[0][0] <= now:
            _, _, client, src, segment = heapq.heappop(events)
            if client is None:
                self._to_host(src, segment, now)
            else:
                client.receive(segment, now)
                self._send_from(client, now)
        self._run_timers(now)
        for client in list(self.clients.values()):
            if client.deadline is not None and client.deadline <= now:
                client.on_deadline(now)
                self._send_from(client, now)

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, connection = heapq.heappop(timers)
            if connection.scheduled != when:
                continue  # an entry superseded by an earlier one
            connection.scheduled = None
            deadline = connection.deadline
            if deadline is None:
                continue
            if deadline > now:
                self._watch(connection)
                continue
            self.server_wakeups += 1
            connection.on_deadline(now)
            self._pump(now)

    def _watch(self, connection: Connection) -> None:
        """One heap entry per connection, at its earliest known deadline."""
        deadline = connection.deadline
        if deadline is None:
            return
        scheduled = connection.scheduled
        if scheduled is not None and scheduled <= deadline:
            return
        connection.scheduled = deadline
        heapq.heappush(self._timers, (deadline, next(self._order), connection))

    def _to_host(self, src: int, segment: TcpSegment, now: float) -> None:
        segment = tcp.parse(tcp.emit(segment, src, SERVER), src, SERVER)
        if self.trace is not None:
            self.trace.append((now, "in", segment))
        self.host.receive(src, segment, now)
        self._pump(now)

    def _pump(self, now: float) -> None:
        """Start services, let them work, and send what the host made."""
        for connection in self.host.accept():
            self.app.accepted(connection, now)
        for _ in range(16):
            segments, changed = self.host.flush()
            for dst, segment in segments:
                self._to_client(dst, segment, now)
            if not changed:
                return
            for connection in changed:
                self.app.serve(connection, now)
            for connection in changed:
                self._watch(connection)
        raise AssertionError("the application keeps touching its connections")

    def _to_client(self, dst: int, segment: TcpSegment, now: float) -> None:
        segment = tcp.parse(tcp.emit(segment, SERVER, dst), SERVER, dst)
        if self.trace is not None:
            self.trace.append((now, "out", segment))
        client = self.clients.get((dst, segment.dst_port))
        if client is None:
            return
        for when in self.to_client.arrivals(segment, now, self.random):
            heapq.heappush(
                self._events, (when, next(self._order), client, dst, segment)
            )

    def _send_from(self, client: Client, now: float) -> None:
        for segment in client.outgoing():
            for when in self.to_server.arrivals(segment, now, self.random):
                event = (when, next(self._order), None, client.ip, segment)
                heapq.heappush(self._events, event)


# --- server applications -----------------------------------------------------


class Sink:
    """Reads everything; answers EOF with its own FIN (and `reply`, if any)."""

    def __init__(self, reply: bytes = b"", read: bool = True) -> None:
        self.reply = reply
        self.read = read
        self.data: dict[Connection, bytearray] = {}
        self.closed: dict[Connection, str | None] = {}
        self._pending: dict[Connection, memoryview] = {}

    def accepted(self, connection: Connection, now: float) -> None:
        self.data[connection] = bytearray()

    def serve(self, connection: Connection, now: float) -> None:
        if connection not in self.data:
            return
        if self.read:
            self.data[connection] += connection.read(now)
        if connection.closed:
            self.closed.setdefault(connection, connection.close_reason)
            return
        if connection.eof_received and connection not in self._pending:
            self._pending[connection] = memoryview(self.reply)
        self._write(connection, now)

    def _write(self, connection: Connection, now: float) -> None:
        pending = self._pending.get(connection)
        if pending is None:
            return
        if pending:
            sent = connection.send(pending, now)
            pending = self._pending[connection] = pending[sent:]
        if not pending:
            connection.shutdown(now)


class Bulk(Sink):
    """Sends `payload` on accept and reads all; closes when both are done."""

    def __init__(self, payload: bytes, read: bool = True) -> None:
        super().__init__(payload, read)

    def accepted(self, connection: Connection, now: float) -> None:
        super().accepted(connection, now)
        self._pending[connection] = memoryview(self.reply)
        self._write(connection, now)

    def serve(self, connection: Connection, now: float) -> None:
        if connection not in self.data:
            return
        if self.read:
            self.data[connection] += connection.read(now)
        if connection.closed:
            self.closed.setdefault(connection, connection.close_reason)
            return
        self._write(connection, now)

    def _write(self, connection: Connection, now: float) -> None:
        pending = self._pending[connection]
        if pending:
            sent = connection.send(pending, now)
            pending = self._pending[connection] = pending[sent:]
        if not pending and connection.eof_received:
            connection.shutdown(now)
