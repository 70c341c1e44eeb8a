"""One client connection to the open proxy, from accept to close.

The first byte decides what the client speaks: 4 or 5 is a SOCKS version,
anything else is HTTP (RFC 1928 and the SOCKS 4 specification start with
the version octet; an HTTP request starts with a method token). A port
speaks the protocols its `protocols` option names; without one, the usual
SOCKS ports (1080...) speak SOCKS 4 and 5, and every other port HTTP, so
that nmap and proxy checkers find on each port what they expect there.
Multi-protocol proxies exist, and `protocols: [http, socks4, socks5]`
makes one.

`ProxyProtocol` owns the transport, the one timer of the connection (the
request timeout, a silent hold, a tarpit), the records, and the tunnel to
the relay once one is granted; a session object (HTTP, SOCKS, the tunnel,
a tarpit) handles the bytes. A blacklisted source is refused or tarpitted
before it is read at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from services.open_proxy.http_proxy import HttpSession
from services.open_proxy.socks_session import SocksSession
from services.open_proxy.squid import Squid
from services.open_proxy.targets import NextHop
from services.open_proxy.tunnel import Tunnel
from vnet.service.api import ConnectionContext

if TYPE_CHECKING:
    from services.open_proxy.service import OpenProxy

log = logging.getLogger(__name__)

SAMPLE = 128


class Session(Protocol):
    @property
    def protocol_name(self) -> str: ...

    def data_received(self, data: bytes) -> None: ...

    def incomplete(self) -> bool:
        """Whether a request has begun and not yet ended."""
        ...

    def eof_received(self) -> bool: ...

    def connection_lost(self) -> None: ...


class Tarpit:
    """A blacklisted source: never read, never answered, closed late."""

    protocol_name = "tarpit"

    def incomplete(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return True

    def connection_lost(self) -> None:
        pass


class ProxyProtocol(asyncio.Protocol):
    """The asyncio side of one proxy connection."""

    def __init__(self, proxy: OpenProxy, context: ConnectionContext) -> None:
        self.proxy = proxy
        self.settings = proxy.settings
        self.context = context
        hostname = self.settings.visible_hostname or context.host.name
        self.squid = Squid(
            hostname or context.local[0], context.local[1], self.settings.version
        )
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.received = 0
        self.sample = bytearray()
        self.requests = 0
        self._timer: asyncio.TimerHandle | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._opening: asyncio.Task[None] | None = None
        self._lost = False

    # --- asyncio ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._turned_away():
            return
        self.start_timer(self.settings.request_timeout, self.request_timeout)

    def data_received(self, data: bytes) -> None:
        if self.closing or not data:
            return
        self.received += len(data)
        if len(self.sample) < SAMPLE:
            self.sample += data[: SAMPLE - len(self.sample)]
        if self.session is None:
            self.session = self._session_for(data[0])
            if self.session is None:
                self.fail("unknown", "garbage", f"first octet {data[0]}")
                self.close()
                return
        self.session.data_received(data)

    def eof_received(self) -> bool:
        if self.closing:
            return False
        if self.session is None:
            self.fail("unknown", "idle", "closed before sending anything")
            return False
        return self.session.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.cancel_timer()
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        if self.session is not None:
            self.session.connection_lost()
        self._writable.set()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- what sessions use -----------------------------------------------

    @property
    def peer(self) -> str:
        return self.context.peer[0]

    @property
    def closing(self) -> bool:
        return self._lost or self.transport is None or self.transport.is_closing()

    def now(self) -> float:
        """Wall-clock time, for dates and the blacklist."""
        return self.proxy.environment.clock()

    def write(self, data: bytes) -> None:
        if data and not self.closing:
            assert self.transport is not None
            self.transport.write(data)

    def limit_reading(self, buffered: int) -> None:
        """Stop reading once `buffered` bytes wait for an answer we owe."""
        if buffered > self.settings.max_request and self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    async def drained(self) -> None:
        await self._writable.wait()

    def close(self) -> None:
        self.cancel_timer()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def start_timer(self, delay: float, callback: Callable[[], None]) -> None:
        """Replace the connection's timer."""
        self.cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, callback)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def hold(self) -> None:
        """Say nothing more; close when the hold time is up."""
        self.start_timer(self.settings.hold, self.close)

    def record(self, event_id: str, **fields: Any) -> None:
        self.context.events.emit(event_id, **fields)

    def record_request(
        self,
        protocol: str,
        method: str,
        hop: NextHop | None,
        relay: bool,
        outcome: str,
        **fields: Any,
    ) -> None:
        """`proxy.request`, and the source onto the blacklist."""
        self.requests += 1
        self.record(
            "proxy.request",
            protocol=protocol,
            method=method,
            next_hop=str(hop) if hop is not None else None,
            relay=relay,
            outcome=outcome,
            **fields,
        )
        self._blacklist(protocol)

    def fail(self, protocol: str, reason: str, detail: str = "") -> None:
        """`proxy.error`: the peer's mistake, what it sent, and how much."""
        log.debug("%s: %s %s: %s", self.peer, protocol, reason, detail)
        self.record(
            "proxy.error",
            protocol=protocol,
            reason=reason,
            detail=detail,
            bytes_received=self.received,
            sample=bytes(self.sample).decode("latin-1"),
        )

    def start_tunnel(
        self,
        hop: NextHop,
        granted: Callable[[], bytes],
        failed: Callable[[OSError], None],
    ) -> None:
        """Open the relay, then let the session tell the client.

        `granted` sends the success reply and returns the bytes the client
        sent after its request; `failed` answers as a proxy whose
        connection failed.
        """
        self.cancel_timer()
        tunnel = Tunnel(self, hop)
        self._opening = self.spawn(self._open(tunnel, granted, failed))

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` for this connection; a bug in it resets the connection."""
        task = asyncio.get_running_loop().create_task(work)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        log.error("%s: open-proxy task failed", self.peer, exc_info=error)
        if self.transport is not None:
            self.transport.abort()

    async def _open(
        self,
        tunnel: Tunnel,
        granted: Callable[[], bytes],
        failed: Callable[[OSError], None],
    ) -> None:
        try:
            await tunnel.open()
        except OSError as error:
            log.info("%s: relay for %s unreachable: %s", self.peer, tunnel.hop, error)
            self.record(
                "proxy.relay.failed", next_hop=str(tunnel.hop), error=str(error)
            )
            failed(error)
            return
        if self.closing:
            assert tunnel.writer is not None
            tunnel.writer.close()
            return
        early = granted()
        self.session = tunnel
        tunnel.start(early)

    # --- inside ------------------------------------------------------------

    def _session_for(self, first: int) -> Session | None:
        protocols = self.settings.protocols_for(self.context.local[1])
        if (first == 4 and "socks4" in protocols) or (
            first == 5 and "socks5" in protocols
        ):
            return SocksSession(self)
        if "http" in protocols:
            return HttpSession(self)
        return None

    def request_timeout(self) -> None:
        """No whole request came in time: close, and say what was left."""
        self._timer = None
        session = self.session
        if session is None:
            self.fail("unknown", "idle", "request timeout")
        elif session.incomplete():
            self.fail(session.protocol_name, "truncated", "request timeout")
        self.close()

    def _turned_away(self) -> bool:
        """Refuse or tarpit a blacklisted source; True if it was."""
        blacklist = self.proxy.blacklist
        action = self.settings.blacklist_action
        if blacklist is None or action == "record":
            return False
        if not blacklist.listed(self.peer, self.now()):
            return False
        self.record("proxy.blacklist.hit", action=action)
        assert self.transport is not None
        if action == "refuse":
            self.transport.abort()
        else:
            self.session = Tarpit()
            self.transport.pause_reading()
            self.start_timer(self.settings.tarpit, self.close)
        return True

    def _blacklist(self, reason: str) -> None:
        blacklist = self.proxy.blacklist
        if blacklist is None:
            return
        if blacklist.add(self.peer, self.now(), reason):
            entry = blacklist.entry(self.peer)
            assert entry is not None
            self.record("proxy.blacklist.added", expires=round(entry.expires, 3))
