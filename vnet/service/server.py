"""Serving a host's open ports: TCP connections handed to services.

`HostServer` sits between one virtual host and its sans-IO TCP. Every
segment the host receives for an open port goes in; what the TCP wants to
send goes back out through the host, so the host's personality stamps it.
Each connection that completes its handshake gets a `VirtualTransport` and
the Protocol of the service bound to its port. A port that is `open` with no
service holds the connection and discards what arrives, as a listening
socket nobody reads from.

After every change (a segment, a timer, a write from the service) the
server drains the TCP: segments out, bytes and news into the transports, and
the connections' deadlines into the engine's timer queue. A transport's
Protocol may write while it is being fed; that only marks the connection
dirty, and the same drain loop picks it up.

An exception raised by a service's Protocol is a bug in that service: it is
logged with its traceback and that one connection is reset. Everything else
goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from vnet.events import EventSink
from vnet.host import Host
from vnet.service.api import ConnectionContext, Environment, HostInfo, Service
from vnet.service.transport import VirtualTransport
from vnet.tcp import SynBudget, TcpHost
from vnet.tcp.connection import Connection
from vnet.tcp.stamp import TcpPersonality
from vnet.timers import TimerQueue
from vnet.wire.ipv4 import Ipv4Packet, addr_to_str
from vnet.wire.tcp import ACK, FIN, RST, SYN, TcpSegment

# The flags that tell a bare SYN from everything else.
_HANDSHAKE = SYN | ACK | RST | FIN

log = logging.getLogger(__name__)

# Half-open connections per host. A burst of real clients (a thousand opened
# at once) must fit while their ACKs are in flight; a flood of spoofed SYNs
# churns through it, oldest first, and the engine's shared budget bounds the
# total across hosts.
BACKLOG = 1024


class Binding(Protocol):
    """A service bound to a port: its instance and its options."""

    service: Service
    options: Mapping[str, Any]


# Peers whose address text a server keeps, at most.
MAX_PEER_NAMES = 4096


class HoldProtocol(asyncio.Protocol):
    """An open port with no service: accept, read and discard, never answer."""

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False


class Session:
    """What the server keeps for one established connection."""

    __slots__ = ("transport", "context", "opened", "wall_opened")

    def __init__(self, transport, context, opened: float, wall_opened: float):
        self.transport = transport
        self.context = context
        self.opened = opened
        self.wall_opened = wall_opened


class HostServer:
    """One host's TCP, its connections' transports, and their services."""

    def __init__(
        self,
        host: Host,
        bindings: Mapping[int, Binding],
        personality: TcpPersonality,
        timers: TimerQueue,
        clock: Callable[[], float],
        environment: Environment,
        budget: SynBudget | None = None,
        host_info: HostInfo | None = None,
    ) -> None:
        self.host = host
        self.bindings = bindings
        self.timers = timers
        self.clock = clock
        self.environment = environment
        self.events: EventSink = environment.events
        self.host_info = host_info or HostInfo(addr_to_str(host.address), host.name)
        self.tcp = TcpHost(host.address, personality, backlog=BACKLOG, budget=budget)
        self.sessions: dict[Connection, Session] = {}
        # SYN-ACKs the personality planned, sent in place of the TCP's own.
        self._syn_acks: dict[tuple[int, int, int], Any] = {}
        self._draining = False
        # Bound once: the timer queue keeps one per entry.
        self._after_timer_call = self._after_timer
        self._local_address = addr_to_str(host.address)
        # Shared by the connections that have them in common: a held
        # connection should cost its own state, not copies of these.
        self._locals: dict[int, tuple[str, int]] = {}
        self._peer_names: dict[int, str] = {}
        host.tcp_handler = self.segment_received
        host.busy = self.busy

    def busy(self) -> bool:
        return len(self.tcp) > 0

    # --- in --------------------------------------------------------------

    def segment_received(self, packet: Ipv4Packet, segment: TcpSegment, now: float):
        if self._unmatched(packet, segment, now):
            return
        self.tcp.receive(packet.src, segment, now)
        self.drain(now)

    def _unmatched(self, packet: Ipv4Packet, segment: TcpSegment, now: float) -> bool:
        """Let the personality answer a segment that belongs to no connection.

        Operating systems differ most here (nmap's SEQ, T1-T4 and ECN
        probes): which SYN-ACK options, whether a NULL segment is answered,
        whether SYN|FIN counts as a SYN. True if the personality handled it.
        """
        found = self.tcp.find(packet.src, segment.src_port, segment.dst_port)
        if found is not None:
            return False
        reply = self.host.personality.unmatched_segment_reply(packet, segment, now)
        if reply is NotImplemented:
            return False
        if reply is not None and reply.handshake:
            key = (packet.src, segment.src_port, segment.dst_port)
            self._syn_acks[key] = reply
            if len(self._syn_acks) > BACKLOG:
                # A SYN the TCP dropped unanswered leaves its plan behind.
                self._syn_acks.pop(next(iter(self._syn_acks)))
            return False
        if reply is not None:
            self.host.send_reply(packet.src, reply, "tcp", now)
        return True

    def kick(self) -> None:
        """Something outside a drain changed a connection (a service wrote)."""
        if not self._draining:
            self.drain(self.clock())

    def drain(self, now: float) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            self._drain(now)
        finally:
            self._draining = False

    def _drain(self, now: float) -> None:
        tcp = self.tcp
        send = self.host.send_segment
        while tcp.pending:
            for connection in tcp.accept():
                self._open(connection, now)
            segments, changed = tcp.flush()
            for destination, segment in segments:
                if self._syn_acks and segment.flags & _HANDSHAKE == SYN | ACK:
                    key = (destination, segment.dst_port, segment.src_port)
                    planned = self._syn_acks.pop(key, None)
                    if planned is not None:
                        self.host.send_reply(destination, planned, "tcp", now)
                        continue
                send(destination, segment, now)
            for connection in changed:
                self._update(connection, now)

    def _update(self, connection: Connection, now: float) -> None:
        session = self.sessions.get(connection)
        if session is not None:
            self._pump(connection, session, now)
        if connection.state != "CLOSED":
            self.timers.watch(connection, self._after_timer_call)

    def _after_timer(self, now: float) -> None:
        self.drain(now)

    # --- sessions ----------------------------------------------------------

    def _open(self, connection: Connection, now: float) -> None:
        binding = self.bindings.get(connection.local_port)
        peer = (self._peer_name(connection.remote_ip), connection.remote_port)
        local = self._locals.get(connection.local_port)
        if local is None:
            local = self._locals[connection.local_port] = (
                self._local_address,
                connection.local_port,
            )
        service_name = binding.service.name if binding else "hold"
        context = ConnectionContext(
            service=service_name,
            host=self.host_info,
            peer=peer,
            local=local,
            options=binding.options if binding else {},
            environment=self.environment,
        )
        protocol = self._protocol_for(binding, context)
        extra = {"peername": peer, "sockname": local, "host": self.host_info}
        transport = VirtualTransport(connection, protocol, self.clock, self.kick, extra)
        self.sessions[connection] = Session(transport, context, now, time.time())
        context.events.emit("tcp.connection.open")
        self._call(connection, protocol.connection_made, transport)

    def _peer_name(self, address: int) -> str:
        """The peer's address as text, one string for all its connections."""
        name = self._peer_names.get(address)
        if name is None:
            if len(self._peer_names) >= MAX_PEER_NAMES:
                self._peer_names.clear()
            name = self._peer_names[address] = addr_to_str(address)
        return name

    def _protocol_for(self, binding: Binding | None, context: ConnectionContext):
        if binding is None:
            return HoldProtocol()
        try:
            return binding.service.protocol(context)
        except Exception:
            log.exception(
                "%s: service %s failed to start", context.peer[0], binding.service.name
            )
            return HoldProtocol()

    def _pump(self, connection: Connection, session: Session, now: float) -> None:
        try:
            session.transport.pump(now)
        except Exception:
            self._failed(connection)
        if connection.closed:
            self._close(connection, session, now)

    def _call(self, connection: Connection, function, *arguments) -> None:
        try:
            function(*arguments)
        except Exception:
            self._failed(connection)

    def _failed(self, connection: Connection) -> None:
        """The service raised: log its traceback, reset its connection."""
        session = self.sessions.get(connection)
        peer = session.context.peer[0] if session else "?"
        log.exception("%s: service raised; resetting %s", peer, connection)
        connection.abort(self.clock())

    def _close(self, connection: Connection, session: Session, now: float) -> None:
        del self.sessions[connection]
        session.context.events.emit(
            "tcp.connection.close",
            bytes_in=connection.bytes_received,
            bytes_out=connection.bytes_sent,
            duration=round(now - session.opened, 6),
            reason=connection.close_reason,
        )

    def close_all(self, now: float) -> None:
        """Reset every connection; vnet is stopping."""
        for connection in list(self.tcp.connections()):
            connection.abort(now)
        self.drain(now)
