"""A granted tunnel: the client's bytes to the relay's session and back.

After `200 Connection established` (or a SOCKS grant) the proxy is a pipe:
what the client sends goes to the relay, what the relay answers goes to the
client, each side's end of data is passed on, and the first side to close
ends the tunnel. The relay's writes wait for the client's transport to
drain, so a slow client cannot make the proxy hold a whole message.

The tunnel is opened before the client is told it is granted, as a real
proxy connects before it answers; bytes the client sends early wait here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from services.open_proxy.targets import NextHop

if TYPE_CHECKING:
    from services.open_proxy.connection import ProxyProtocol

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024


class Tunnel:
    """Both directions of one tunnel; the session of its connection."""

    protocol_name = "tunnel"

    def __init__(self, owner: ProxyProtocol, hop: NextHop) -> None:
        self.owner = owner
        self.hop = hop
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending = bytearray()
        self.client_eof = False
        self.bytes_up = 0
        self.bytes_down = 0
        self.opened_at = 0.0
        self._pump: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect to the relay; raises OSError if it cannot be reached."""
        self.reader, self.writer = await self.owner.proxy.relay.open(
            self.hop, self.owner.context
        )
        self.opened_at = asyncio.get_running_loop().time()

    def start(self, early: bytes) -> None:
        """The client has been told; pass bytes both ways from now on."""
        assert self.writer is not None
        self.bytes_up += len(early)
        self.writer.write(early + bytes(self.pending))
        self.pending.clear()
        if self.client_eof:
            self.writer.write_eof()
        self._pump = self.owner.spawn(self._down())
        self.owner.resume_reading()

    def incomplete(self) -> bool:
        return False

    # --- client -> relay -------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not data:
            return
        self.bytes_up += len(data)
        if self._pump is None:
            self.pending += data
        else:
            assert self.writer is not None
            self.writer.write(data)

    def eof_received(self) -> bool:
        self.client_eof = True
        if self._pump is not None and self.writer is not None:
            self.writer.write_eof()
        # Keep our side open: the relay may still be answering.
        return True

    # --- relay -> client -------------------------------------------------

    async def _down(self) -> None:
        owner = self.owner
        assert self.reader is not None
        try:
            while data := await self.reader.read(READ_SIZE):
                self.bytes_down += len(data)
                owner.write(data)
                await owner.drained()
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            log.debug("%s: relay side ended: %s", owner.context.peer[0], error)
        owner.close()

    def connection_lost(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        if self.writer is not None:
            self.writer.close()
        loop = asyncio.get_running_loop()
        duration = loop.time() - self.opened_at if self.opened_at else 0.0
        self.owner.record(
            "proxy.tunnel.closed",
            next_hop=str(self.hop),
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            duration=round(duration, 3),
        )
