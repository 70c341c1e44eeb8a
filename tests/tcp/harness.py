"""Test helpers for the sans-IO TCP: a clock, segment templates, a scripted peer.

A `ScriptedPeer` plays the client by hand: the test chooses every segment,
the peer keeps the sequence numbers straight and returns what the host
answers. Time moves only when the test says so (`Clock`, `ScriptedPeer.wait`),
so a 60-second timeout takes microseconds.
"""

from __future__ import annotations

from vnet.tcp import Connection, PlainPersonality, TcpConfig, TcpHost
from vnet.wire import tcp
from vnet.wire.ipv4 import addr_from_str
from vnet.wire.tcp import ACK, FIN, MSS, NOP, RST, SYN, TcpOption, TcpSegment

SERVER = addr_from_str("192.0.2.10")
CLIENT = addr_from_str("198.51.100.7")
OTHER_CLIENT = addr_from_str("203.0.113.9")
MASK = 0xFFFFFFFF


class Clock:
    """The time tests hand to the TCP; it moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


# --- segment templates -------------------------------------------------------


def linux_syn_options(tsval: int = 1, mss: int = 1460) -> tuple[TcpOption, ...]:
    """What a Linux client's SYN carries: MSS, SACK-permitted, TS, NOP, WS 7."""
    return (
        TcpOption(MSS, mss),
        TcpOption(tcp.SACK_PERMITTED),
        TcpOption(tcp.TIMESTAMP, (tsval, 0)),
        TcpOption(NOP),
        TcpOption(tcp.WSCALE, 7),
    )


def bare_syn_options(mss: int = 1460) -> tuple[TcpOption, ...]:
    """An old stack's SYN: MSS only, so no scaling, SACK or timestamps."""
    return (TcpOption(MSS, mss),)


def syn(
    port: int = 40000,
    seq: int = 1000,
    options: tuple[TcpOption, ...] | None = None,
    window: int = 64240,
    dst_port: int = 80,
) -> TcpSegment:
    options = linux_syn_options() if options is None else options
    return TcpSegment(port, dst_port, seq, 0, SYN, window, b"", options)


def timestamp_of(segment: TcpSegment) -> tuple[int, int] | None:
    value = segment.option(tcp.TIMESTAMP)
    return value if isinstance(value, tuple) else None  # type: ignore[return-value]


def round_trip(segment: TcpSegment, src: int, dst: int) -> TcpSegment:
    """Encode and decode, as the wire does: proves the segment is sendable."""
    return tcp.parse(tcp.emit(segment, src, dst), src, dst)


# --- a peer played by the test ------------------------------------------------


class ScriptedPeer:
    """A client whose every segment the test writes; it tracks the numbers.

    `seq` is the next sequence number it sends, `ack` the next it expects
    from the server. Segments it sends carry timestamps when its SYN
    offered them and the server agreed.
    """

    def __init__(
        self,
        host: TcpHost,
        clock: Clock,
        port: int = 40000,
        isn: int = 1000,
        options: tuple[TcpOption, ...] | None = None,
        ip: int = CLIENT,
        server_port: int = 80,
    ) -> None:
        self.host = host
        self.clock = clock
        self.port = port
        self.ip = ip
        self.server_port = server_port
        self.isn = isn
        self.seq = isn
        self.ack = 0
        self.server_isn: int | None = None
        self.options = linux_syn_options() if options is None else options
        self.window = 64240
        self.window_shift = 0
        self.timestamps = False
        self.ts_recent = 0
        self.received: list[TcpSegment] = []
        self.connection: Connection | None = None

    # The tests' verbs.

    def syn(self, seq: int | None = None) -> list[TcpSegment]:
        """Send the SYN; return the server's answers."""
        options = tuple(
            TcpOption(tcp.TIMESTAMP, (self.tsval(), 0))
            if option.kind == tcp.TIMESTAMP
            else option
            for option in self.options
        )
        segment = syn(self.port, self.isn if seq is None else seq, options)
        segment = segment._replace(dst_port=self.server_port)
        self.seq = (segment.seq + 1) & MASK
        replies = self.deliver(segment)
        for reply in replies:
            if reply.flags & (SYN | ACK) == SYN | ACK:
                self.server_isn = reply.seq
                self.ack = (reply.seq + 1) & MASK
                self.timestamps = timestamp_of(reply) is not None and any(
                    option.kind == tcp.TIMESTAMP for option in self.options
                )
                shift = reply.option(tcp.WSCALE)
                ours = segment.option(tcp.WSCALE)
                if isinstance(shift, int) and isinstance(ours, int):
                    self.window_shift = ours
        return replies

    def handshake(self) -> Connection:
        """SYN, SYN-ACK, ACK: return the accepted connection."""
        self.syn()
        self.send()
        accepted = self.host.accept()
        assert len(accepted) == 1, accepted
        self.connection = accepted[0]
        return self.connection

    def handshake_done(self) -> Connection:
        """The ACK that completes a handshake begun with `syn`."""
        self.send()
        [self.connection] = self.host.accept()
        return self.connection

    def send(
        self,
        payload: bytes = b"",
        flags: int = ACK,
        *,
        seq: int | None = None,
        ack: int | None = None,
        window: int | None = None,
        options: tuple[TcpOption, ...] | None = None,
        advance: bool = True,
    ) -> list[TcpSegment]:
        """Send one segment (an ACK by default); return the server's answers."""
        segment = self.segment(payload, flags, seq=seq, ack=ack, window=window)
        if options is not None:
            segment = segment._replace(options=options)
        if advance and seq is None:
            length = len(payload) + bool(flags & SYN) + bool(flags & FIN)
            self.seq = (self.seq + length) & MASK
        return self.deliver(segment)

    def segment(
        self,
        payload: bytes = b"",
        flags: int = ACK,
        *,
        seq: int | None = None,
        ack: int | None = None,
        window: int | None = None,
    ) -> TcpSegment:
        options: tuple[TcpOption, ...] = ()
        if self.timestamps:
            options = (
                TcpOption(NOP),
                TcpOption(NOP),
                TcpOption(tcp.TIMESTAMP, (self.tsval(), self.ts_recent)),
            )
        window = self.window >> self.window_shift if window is None else window
        return TcpSegment(
            self.port,
            self.server_port,
            self.seq if seq is None else seq,
            self.ack if ack is None else ack,
            flags,
            window,
            payload,
            options,
        )

    def tsval(self) -> int:
        """The peer's timestamp clock: 1000 Hz, from an offset."""
        return (int(self.clock.now * 1000) + 1_000_000) & MASK

    def deliver(self, segment: TcpSegment) -> list[TcpSegment]:
        """Hand `segment` to the host now; return and note what it sends us."""
        segment = round_trip(segment, self.ip, SERVER)
        self.host.receive(self.ip, segment, self.clock.now)
        return self.collect()

    def collect(self) -> list[TcpSegment]:
        """Segments the host has for this peer, as the wire would deliver them."""
        segments, _ = self.host.flush()
        mine = []
        for dst, segment in segments:
            segment = round_trip(segment, SERVER, dst)
            if dst == self.ip and segment.dst_port == self.port:
                mine.append(segment)
                self._note(segment)
        self.received += mine
        return mine

    def _note(self, segment: TcpSegment) -> None:
        stamp = timestamp_of(segment)
        if stamp is not None:
            self.ts_recent = stamp[0]
        if self.server_isn is None or segment.flags & RST:
            return
        length = len(segment.payload) + bool(segment.flags & FIN)
        if segment.seq == self.ack and length:
            self.ack = (self.ack + length) & MASK

    def wait(self, seconds: float) -> list[TcpSegment]:
        """Let time pass, firing the host's deadlines on the way."""
        end = self.clock.now + seconds
        out = []
        while True:
            pending = [
                (connection.deadline, connection)
                for connection in self.host.connections()
                if connection.deadline is not None
            ]
            soonest = min((deadline for deadline, _ in pending), default=None)
            if soonest is None or soonest > end:
                break
            self.clock.now = max(self.clock.now, soonest)
            for deadline, connection in pending:
                if deadline <= self.clock.now:
                    connection.on_deadline(self.clock.now)
            out += self.collect()
        self.clock.now = end
        return out


def make_host(
    config: TcpConfig | None = None,
    seed: int = 7,
    **kwargs: object,
) -> TcpHost:
    """A host at SERVER with a seeded Linux-like personality and cookie key."""
    kwargs.setdefault("cookie_key", b"a test cookie key")
    if config is not None:
        kwargs["config"] = config
    personality = PlainPersonality(seed=seed)
    return TcpHost(SERVER, personality, **kwargs)  # type: ignore[arg-type]


def relative(segment: TcpSegment, peer: ScriptedPeer) -> int:
    """A server segment's sequence number as an offset from the server's ISN."""
    assert peer.server_isn is not None
    return (segment.seq - peer.server_isn) & MASK
