"""What a service author sees: the Service class and its connection context.

A service is a Python class that makes one asyncio Protocol per accepted TCP
connection, and optionally answers UDP datagrams. vnet runs the protocol on a
transport that behaves like a socket's, so any asyncio Protocol works
unchanged, including aiosmtpd's SMTP server and h11-based HTTP code.

    class Echo(Service):
        name = "echo"
        options_schema = {"type": "object", "properties": {...}}

        def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
            return EchoProtocol(context)

One instance serves one binding in the topology (a template's or host's
`tcp/80: {service: echo, options: {...}}`) for every host that has it; the
context of each connection says which host, peer and port it is for.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vnet.events import EventSink, NullSink

_connection_numbers = itertools.count(1)
# The process's part of each id, read once: getpid is a system call.
_process_part = f"{os.getpid() % 10000:04d}"


def _after_fork() -> None:
    global _process_part
    _process_part = f"{os.getpid() % 10000:04d}"


os.register_at_fork(after_in_child=_after_fork)


def new_connection_id() -> str:
    """A short id that is unique within a run and unlikely across runs."""
    return f"{_process_part}-{next(_connection_numbers):06d}"


@dataclass(frozen=True)
class HostInfo:
    """The virtual host a connection reached."""

    address: str
    name: str | None = None
    personality: str | None = None
    template: str | None = None


OpenConnection = Callable[
    [str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
]


@dataclass
class Environment:
    """What every service of a run shares: records, topology, state, peers.

    `open_connection(host, port)` connects to another virtual service of the
    same topology without touching any real network (the open proxy hands
    CONNECT to port 25 to the relay this way). In socket mode it connects to
    a real socket instead.
    """

    events: EventSink = field(default_factory=NullSink)
    topology: Any = None
    state_dir: str = "var"
    open_connection: OpenConnection | None = None
    clock: Callable[[], float] = time.time


class BoundEvents:
    """An event emitter that adds the fields identifying one connection."""

    __slots__ = ("_sink", "_bound")

    def __init__(self, sink: EventSink, **bound: Any) -> None:
        self._sink = sink
        self._bound = bound

    def emit(self, event_id: str, **fields: Any) -> None:
        self._sink.emit(event_id, **self._bound, **fields)

    def bind(self, **more: Any) -> BoundEvents:
        return BoundEvents(self._sink, **self._bound, **more)


class ConnectionEvents(BoundEvents):
    """BoundEvents for the fields of one connection, held without a dict:
    thousands of connections may wait in a tarpit at once."""

    __slots__ = ("_connection", "_peer", "_peer_port", "_host", "_port", "_service")

    def __init__(self, sink: EventSink, context: ConnectionContext) -> None:
        self._sink = sink
        self._connection = context.connection_id
        self._peer, self._peer_port = context.peer
        self._host = context.host.address
        self._port = context.local[1]
        self._service = context.service

    def bind(self, **more: Any) -> BoundEvents:
        return BoundEvents(self._sink, **self.fields(), **more)

    def fields(self) -> dict[str, Any]:
        """The fields every event of the connection carries."""
        return {
            "connection": self._connection,
            "peer": self._peer,
            "peer_port": self._peer_port,
            "host": self._host,
            "port": self._port,
            "service": self._service,
        }

    def emit(self, event_id: str, **fields: Any) -> None:
        self._sink.emit(event_id, **self.fields(), **fields)


@dataclass(slots=True)
class ConnectionContext:
    """One accepted connection, as its service sees it."""

    service: str
    host: HostInfo
    peer: tuple[str, int]
    local: tuple[str, int]
    options: Mapping[str, Any]
    environment: Environment
    connection_id: str = field(default_factory=new_connection_id)
    events: BoundEvents = field(init=False)

    def __post_init__(self) -> None:
        self.events = ConnectionEvents(self.environment.events, self)

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to another service of the topology (see Environment)."""
        opener = self.environment.open_connection
        if opener is None:
            raise ConnectionRefusedError(f"no virtual network to reach {host}:{port}")
        return await opener(host, port)


@dataclass
class DatagramContext:
    """One UDP datagram, with a way to answer it."""

    service: str
    host: HostInfo
    peer: tuple[str, int]
    local: tuple[str, int]
    options: Mapping[str, Any]
    environment: Environment
    reply: Callable[[bytes], None]


class ServiceError(Exception):
    """A service cannot start with the options it was given."""


class Service:
    """Base class of vnet services. Subclasses set `name` and `protocol`."""

    name: ClassVar[str] = ""
    options_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    handles_udp: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        self.options = options
        self.environment = environment

    def protocol(self, context: ConnectionContext) -> asyncio.BaseProtocol:
        """The Protocol that serves one accepted TCP connection."""
        raise ServiceError(f"service {self.name!r} does not serve TCP")

    def datagram_received(self, context: DatagramContext, data: bytes) -> None:
        """Answer one UDP datagram (services with `handles_udp`)."""
        raise ServiceError(f"service {self.name!r} does not serve UDP")

    def close(self) -> None:
        """Release what the service holds; called once when vnet stops."""
