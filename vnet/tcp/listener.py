"""A host's TCP: listening ports, the connection table and the SYN backlog.

RFCs: 9293 sections 3.10.7.1-3.10.7.2 (segments for no connection: RST or
a new connection), 6191 (a SYN may reuse a 4-tuple in TIME-WAIT), 4987
(SYN flooding: a bounded backlog, then SYN cookies or dropping the oldest).

`TcpHost` is sans-IO like `Connection`. The engine uses it in this order:

    connection = tcp.receive(src_ip, segment, now)   # None: handled here
    for new in tcp.accept(): ...                     # start a service
    ... the service reads, writes, closes ...
    segments, changed = tcp.flush()                  # (dst_ip, segment)s
    for connection in changed: timers.watch(connection)

and, when a connection's deadline comes, `connection.on_deadline(now)`
followed by `tcp.flush()` again. A service may call `Connection.send`,
`shutdown` or `abort` at any time; the host learns of it through the
connection's notify hook, and the next `flush` returns what that produced.

Half-open connections (SYN-RECEIVED) are bounded per host by `backlog` and
across hosts by a shared `SynBudget`. When either is full, a new SYN gets a
SYN cookie (cookies.py): a stateless SYN-ACK, the connection rebuilt from
the client's ACK. Memory stays bounded, and a real client gets in however
fast a flood churns, since nothing of its handshake can be pushed out. The
price is that a cookie's ISN is not the personality's while the backlog is
full. With `syn_cookies=False` the oldest half-open connection is dropped
instead, silently, as a flood's spoofed SYNs are the likeliest to be old;
under a fast flood that can also drop a real client's before its ACK comes.

The RSTs sent here for segments that match nothing have window 0 and no
options, as RFC 9293 builds them; a personality that answers otherwise
(nmap's T5-T7 probes) restamps them, or answers before the segment gets
here.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from vnet.tcp.config import DEFAULT_CONFIG, TcpConfig
from vnet.tcp.connection import CLOSED, SYN_RECEIVED, TIME_WAIT, Connection
from vnet.tcp.cookies import SynCookies, rebuilt_syn
from vnet.tcp.stamp import PlainPersonality, TcpPersonality
from vnet.wire.ipv4 import addr_to_str
from vnet.wire.tcp import ACK, FIN, RST, SYN, TcpSegment

log = logging.getLogger(__name__)

Output = list[tuple[int, TcpSegment]]


class SynBudget:
    """A bound on half-open connections shared by many hosts.

    When it is full, admitting one more drops the oldest, whichever host
    holds it.
    """

    __slots__ = ("total", "evicted", "_entries")

    def __init__(self, total: int = 4096) -> None:
        if total < 1:
            raise ValueError(f"SYN budget must be positive, not {total}")
        self.total = total
        self.evicted = 0
        self._entries: OrderedDict[Connection, TcpHost] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def full(self) -> bool:
        return len(self._entries) >= self.total

    def _admit(self, connection: Connection, host: TcpHost, now: float) -> None:
        entries = self._entries
        while len(entries) >= self.total:
            oldest, owner = entries.popitem(last=False)
            self.evicted += 1
            owner._evict(oldest, now, "total")
        entries[connection] = host

    def _release(self, connection: Connection) -> None:
        self._entries.pop(connection, None)


class TcpHost:
    """The TCP of one virtual host at `address`.

    `ports` are the listening ports; None means every segment handed in is
    for a listening port (the caller has already applied its port policy).
    A segment for any other port is answered as RFC 9293 3.10.7.1 says.

    `cookie_key` keys the SYN cookies (random unless given, for tests);
    `syn_cookies=False` drops the oldest half-open connection instead.
    """

    def __init__(
        self,
        address: int,
        personality: TcpPersonality | None = None,
        *,
        ports: Iterable[int] | None = None,
        backlog: int = 128,
        budget: SynBudget | None = None,
        config: TcpConfig = DEFAULT_CONFIG,
        syn_cookies: bool = True,
        cookie_key: bytes | None = None,
    ) -> None:
        if backlog < 1:
            raise ValueError(f"backlog must be positive, not {backlog}")
        self.address = address
        self.personality: TcpPersonality = personality or PlainPersonality()
        self.ports: set[int] | None = None if ports is None else set(ports)
        self.backlog = backlog
        self.budget = budget
        self.config = config
        self._connections: dict[int, Connection] = {}
        self._half_open: OrderedDict[Connection, None] = OrderedDict()
        self._accepted: list[Connection] = []
        self._replies: Output = []
        # Connections touched since the last flush, in order; every
        # connection's notify hook is this one bound method.
        self._dirty: dict[Connection, None] = {}
        self._notify = self._dirty.setdefault
        key = cookie_key or os.urandom(16)
        self._cookies = SynCookies(key) if syn_cookies else None
        # Cookies are checked only while they may be in use: up to 128 s
        # after the last one went out.
        self._cookies_until = float("-inf")
        self.syns_received = 0
        self.evicted = 0
        self.resets_sent = 0
        self.cookies_sent = 0
        self.cookies_accepted = 0

    def __len__(self) -> int:
        """Connections held, in any state but CLOSED."""
        return len(self._connections)

    @property
    def half_open(self) -> int:
        return len(self._half_open)

    def connections(self) -> Iterator[Connection]:
        return iter(list(self._connections.values()))

    def find(self, remote_ip: int, remote_port: int, port: int) -> Connection | None:
        return self._connections.get(_key(remote_ip, remote_port, port))

    # --- the engine's calls -------------------------------------------------

    def receive(
        self, src_ip: int, segment: TcpSegment, now: float
    ) -> Connection | None:
        """Hand in a segment from `src_ip` to this host.

        Returns the connection it went to, a new half-open one for a SYN,
        or None if the host answered (or dropped) it itself.
        """
        key = (src_ip << 32) | (segment.src_port << 16) | segment.dst_port
        connection = self._connections.get(key)
        if connection is not None:
            connection = self._existing(connection, segment, now)
        if connection is None:
            return self._listen(key, src_ip, segment, now)

        was_half_open = connection.state is SYN_RECEIVED
        connection.receive(segment, now)
        if not was_half_open or connection.state is SYN_RECEIVED:
            return connection

        self._leave_half_open(connection)
        if connection.established:
            self._accepted.append(connection)
        elif connection.state is CLOSED and _is_bare_syn(segment):
            # RFC 9293 3.10.7.4: a new SYN returned the half-open connection
            # to LISTEN; it now opens a connection of its own.
            self._forget(connection)
            return self._listen(key, src_ip, segment, now)
        return connection

    @property
    def pending(self) -> bool:
        """Is there anything for `accept` or `flush` to return?"""
        return bool(self._accepted or self._dirty or self._replies)

    def accept(self) -> list[Connection]:
        """Connections that completed the handshake since the last call."""
        accepted = self._accepted
        self._accepted = []
        return accepted

    def flush(self) -> tuple[Output, list[Connection]]:
        """Drain what to send, and which connections' deadlines may have moved.

        The segments are (destination address, segment), in the order they
        were made; the source address is `address`. The connections include
        those just closed, which the host has already forgotten.
        """
        out = self._replies
        self._replies = []
        changed = list(self._dirty)
        self._dirty.clear()
        for connection in changed:
            segments = connection.outgoing()
            if segments:
                remote = connection.remote_ip
                out.extend([(remote, segment) for segment in segments])
            if connection.state is CLOSED:
                self._forget(connection)
        return out, changed

    # --- segments that match no connection ----------------------------------

    def _existing(
        self, connection: Connection, segment: TcpSegment, now: float
    ) -> Connection | None:
        """The connection to hand `segment` to, or None to treat it as new."""
        state = connection.state
        if state is CLOSED:
            self._forget(connection)
            return None
        reuse = state is TIME_WAIT and _is_bare_syn(segment)
        if reuse and connection.reusable_by(segment):
            log.debug("%s new SYN ends TIME-WAIT", connection)
            connection.forget(now)
            self._forget(connection)
            return None
        return connection

    def _listen(
        self, key: int, src_ip: int, segment: TcpSegment, now: float
    ) -> Connection | None:
        """RFC 9293 3.10.7.2, LISTEN (or 3.10.7.1, CLOSED, for other ports)."""
        flags = segment.flags
        if self.ports is not None and segment.dst_port not in self.ports:
            self._reset(src_ip, segment)
            return None
        if flags & RST:
            return None
        if flags & ACK:
            if flags & SYN == 0 and now < self._cookies_until:
                opened = self._open_from_cookie(key, src_ip, segment, now)
                if opened is not None:
                    return opened
            self._reset(src_ip, segment)
            return None
        # A SYN with FIN is dropped, as Linux does; anything else without
        # SYN has no business with a listener.
        if flags & (SYN | FIN) != SYN:
            return None
        return self._open(key, src_ip, segment, now)

    def _open(
        self, key: int, src_ip: int, syn: TcpSegment, now: float
    ) -> Connection | None:
        """A half-open connection for a SYN, or a SYN cookie if there is no room."""
        self.syns_received += 1
        half_open = self._half_open
        full = len(half_open) >= self.backlog
        if self._cookies is not None and (full or self.budget and self.budget.full):
            self._send_cookie(src_ip, syn, now)
            return None
        while len(half_open) >= self.backlog:
            oldest = next(iter(half_open))
            self._evict(oldest, now, "host")

        connection = Connection(
            syn,
            now,
            local_ip=self.address,
            remote_ip=src_ip,
            personality=self.personality,
            config=self.config,
            notify=self._notify,
        )
        if self.budget is not None:
            self.budget._admit(connection, self, now)
        self._connections[key] = connection
        half_open[connection] = None
        self._notify(connection)
        return connection

    def _send_cookie(self, src_ip: int, syn: TcpSegment, now: float) -> None:
        assert self._cookies is not None
        window, options = self.personality.syn_ack(syn, now)
        answer = self._cookies.answer(syn, src_ip, self.address, now, window, options)
        self.cookies_sent += 1
        self._cookies_until = now + 128.0
        self._replies.append((src_ip, answer))

    def _open_from_cookie(
        self, key: int, src_ip: int, segment: TcpSegment, now: float
    ) -> Connection | None:
        """A connection from the client's ACK of a cookie SYN-ACK, or None."""
        assert self._cookies is not None
        options = self._cookies.check(segment, src_ip, self.address, now)
        if options is None:
            return None
        self.cookies_accepted += 1
        connection = Connection(
            rebuilt_syn(segment, options),
            now,
            local_ip=self.address,
            remote_ip=src_ip,
            personality=self.personality,
            config=self.config,
            notify=self._notify,
            cookie=(segment.ack - 1) & 0xFFFFFFFF,
        )
        self._connections[key] = connection
        connection.receive(segment, now)
        if connection.established:
            self._accepted.append(connection)
        return connection

    def _reset(self, src_ip: int, segment: TcpSegment) -> None:
        reset = reset_for(segment)
        if reset is not None:
            self.resets_sent += 1
            self._replies.append((src_ip, reset))

    # --- bookkeeping ---------------------------------------------------------

    def _evict(self, connection: Connection, now: float, full: str) -> None:
        log.debug(
            "%s drop half-open connection: %s backlog full (%d here, %d per host)",
            connection,
            full,
            len(self._half_open),
            self.backlog,
        )
        self.evicted += 1
        connection.forget(now)
        self._forget(connection)

    def _leave_half_open(self, connection: Connection) -> None:
        self._half_open.pop(connection, None)
        if self.budget is not None:
            self.budget._release(connection)

    def _forget(self, connection: Connection) -> None:
        self._leave_half_open(connection)
        key = _key(connection.remote_ip, connection.remote_port, connection.local_port)
        if self._connections.get(key) is connection:
            del self._connections[key]

    def __str__(self) -> str:
        return addr_to_str(self.address)


def reset_for(segment: TcpSegment) -> TcpSegment | None:
    """The RST answering a segment that matches no connection (RFC 9293 3.10.7.1).

    None for a RST, which is never answered.
    """
    flags = segment.flags
    if flags & RST:
        return None
    if flags & ACK:
        return TcpSegment(segment.dst_port, segment.src_port, segment.ack, 0, RST, 0)
    length = len(segment.payload) + ((flags & SYN) >> 1) + (flags & FIN)
    ack = (segment.seq + length) & 0xFFFFFFFF
    return TcpSegment(segment.dst_port, segment.src_port, 0, ack, RST | ACK, 0)


def _key(remote_ip: int, remote_port: int, port: int) -> int:
    return (remote_ip << 32) | (remote_port << 16) | port


def _is_bare_syn(segment: TcpSegment) -> bool:
    return segment.flags & (SYN | ACK | RST | FIN) == SYN
