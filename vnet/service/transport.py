"""A virtual TCP connection presented as an `asyncio.Transport`.

The service's Protocol sees what it would see on a socket: `data_received`
as bytes arrive in order, `eof_received` on the peer's FIN, `connection_lost`
once, and `pause_writing` / `resume_writing` around its write buffer's high
and low water marks. `pause_reading` stops delivery; the bytes then stay in
the TCP receive buffer, whose window closes, so the peer slows down as it
would against a real host.

What `write` cannot put into the connection's bounded send buffer waits in
the transport's own buffer, which the high-water mark keeps bounded as long
as the Protocol honours `pause_writing`, as asyncio's own transports do.

Writes made while the Protocol handles one delivery (`data_received`,
`eof_received`) are corked until it returns: they leave in as few segments
as they fit, with the FIN when the Protocol closes too. Linux's autocorking
coalesces such back-to-back writes in the same way; without it an HTTP
response written as head, body and close would cost three segments and
three ACKs. Writes at any other time go out at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from vnet.tcp.connection import Connection

log = logging.getLogger(__name__)

HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024


class VirtualTransport(asyncio.Transport):
    """The transport of one virtual connection; driven by its server."""

    # One per connection, thousands held idle: no __dict__.
    __slots__ = (
        "connection",
        "_protocol",
        "_now",
        "_kick",
        "_overflow",
        "_reading",
        "_closing",
        "_eof_wanted",
        "_shut",
        "_eof_delivered",
        "_lost",
        "_writing_paused",
        "_high",
        "_low",
        "_corked",
        "_held",
    )

    def __init__(
        self,
        connection: Connection,
        protocol: asyncio.Protocol,
        now: Callable[[], float],
        kick: Callable[[], None],
        extra: dict[str, Any],
    ) -> None:
        super().__init__(extra)
        self.connection = connection
        self._protocol = protocol
        self._now = now
        self._kick = kick
        self._overflow = bytearray()
        self._reading = True
        self._closing = False
        self._eof_wanted = False
        self._shut = False
        self._eof_delivered = False
        self._lost = False
        self._writing_paused = False
        self._high = HIGH_WATER
        self._low = LOW_WATER
        # While the Protocol handles a delivery, and whether it wrote since.
        self._corked = False
        self._held = False

    # --- asyncio.Transport ---------------------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._eof_wanted or self._lost:
            return
        if self._overflow:
            self._overflow += data
        else:
            corked = self._corked
            accepted = self.connection.send(data, self._now(), corked)
            self._held = corked
            if accepted < len(data):
                self._overflow += memoryview(data)[accepted:]
        self._check_high_water()
        self._kick()

    def writelines(
        self, list_of_data: Iterable[bytes | bytearray | memoryview]
    ) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        if self._eof_wanted or self._lost:
            return
        self._eof_wanted = True
        self._shutdown_when_drained()
        self._kick()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if self._closing or self._lost:
            return
        self._closing = True
        self._reading = False
        self.write_eof()

    def abort(self) -> None:
        if self._lost:
            return
        self._closing = True
        self._overflow.clear()
        self.connection.abort(self._now())
        self._kick()

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._kick()

    def is_reading(self) -> bool:
        return self._reading

    def get_write_buffer_size(self) -> int:
        return len(self._overflow) + self.connection.send_buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(
        self, high: int | None = None, low: int | None = None
    ) -> None:
        if high is None:
            high = HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) >= 0")
        self._high, self._low = high, low
        self._check_high_water()

    # --- driven by the server after every change ------------------------------

    def pump(self, now: float) -> None:
        """Move bytes and news between the connection and the Protocol."""
        connection = self.connection
        protocol = self._protocol
        if self._overflow and connection.send_space:
            accepted = connection.send(self._overflow, now)
            del self._overflow[:accepted]
        self._shutdown_when_drained()

        self._corked = True
        try:
            if self._reading and connection.readable:
                protocol.data_received(connection.read(now))
            if (
                self._reading
                and connection.eof_received
                and not connection.readable
                and not self._eof_delivered
            ):
                self._eof_delivered = True
                if not protocol.eof_received():
                    self.close()
        finally:
            self._corked = False
            if self._held:
                # Written and not yet carried out by a shutdown: send now.
                self._held = False
                if not connection.closed:
                    connection.push(now)

        self._check_low_water()
        if connection.closed and not self._lost:
            self._lose(connection.close_reason)

    def _shutdown_when_drained(self) -> None:
        if self._eof_wanted and not self._overflow and not self._shut:
            self._shut = True
            if not self.connection.closed:
                self.connection.shutdown(self._now())

    def _check_high_water(self) -> None:
        if not self._writing_paused and self.get_write_buffer_size() > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def _check_low_water(self) -> None:
        if self._writing_paused and self.get_write_buffer_size() <= self._low:
            self._writing_paused = False
            self._protocol.resume_writing()

    def _lose(self, reason: str | None) -> None:
        self._lost = True
        self._closing = True
        self._overflow.clear()
        error: Exception | None = None
        if reason == "reset":
            error = ConnectionResetError("connection reset by peer")
        elif reason in ("timeout", "retries"):
            error = TimeoutError(f"connection ended: {reason}")
        self._protocol.connection_lost(error)
