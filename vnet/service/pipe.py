"""In-memory connections between virtual services (`open_connection`).

When one service connects to another of the same topology (the open proxy
handing `CONNECT host:25` to the relay), no packet is made: the two
Protocols are joined by a pair of transports that pass bytes to each other
on the event loop, in order. The caller gets asyncio streams, as
`asyncio.open_connection` would give it.

Limitation: a pipe has no flow control; each side's writes are delivered as
fast as the loop runs, which is fine for the line-oriented protocols that
services speak to each other.
"""

from __future__ import annotations

import asyncio
from typing import Any


class PipeTransport(asyncio.Transport):
    """One end of a pipe; what it is given is delivered to the other end."""

    def __init__(self, loop: asyncio.AbstractEventLoop, extra: dict[str, Any]):
        super().__init__(extra)
        self._loop = loop
        self._protocol: asyncio.Protocol | None = None
        self.other: PipeTransport | None = None
        self._closing = False
        self._eof_sent = False
        self._lost = False
        self._reading = True
        self._held: list[bytes] = []

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data and not self._eof_sent and self.other is not None:
            self._loop.call_soon(self.other._deliver, bytes(data))

    def write_eof(self) -> None:
        if not self._eof_sent and self.other is not None:
            self._eof_sent = True
            self._loop.call_soon(self.other._deliver_eof)

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self.write_eof()
        self._loop.call_soon(self._lose)
        if self.other is not None:
            self._loop.call_soon(self.other._lose)

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True
        held, self._held = self._held, []
        for data in held:
            self._deliver(data)

    def is_reading(self) -> bool:
        return self._reading

    def get_write_buffer_size(self) -> int:
        return 0

    def _deliver(self, data: bytes) -> None:
        if self._lost or self._protocol is None:
            return
        if not self._reading:
            self._held.append(data)
            return
        self._protocol.data_received(data)

    def _deliver_eof(self) -> None:
        if self._lost or self._protocol is None:
            return
        if not self._protocol.eof_received():
            self.close()

    def _lose(self) -> None:
        if self._lost or self._protocol is None:
            return
        self._lost = True
        self._closing = True
        self._protocol.connection_lost(None)


def connect(
    loop: asyncio.AbstractEventLoop,
    server_protocol: asyncio.Protocol,
    client_address: tuple[str, int],
    server_address: tuple[str, int],
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Join a client's streams to `server_protocol`; both start at once."""
    client_end = PipeTransport(
        loop, {"peername": server_address, "sockname": client_address}
    )
    server_end = PipeTransport(
        loop, {"peername": client_address, "sockname": server_address}
    )
    client_end.other, server_end.other = server_end, client_end

    reader = asyncio.StreamReader(loop=loop)
    client_protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    client_end.set_protocol(client_protocol)
    server_end.set_protocol(server_protocol)
    client_protocol.connection_made(client_end)
    server_protocol.connection_made(server_end)
    writer = asyncio.StreamWriter(client_end, client_protocol, reader, loop)
    return reader, writer
