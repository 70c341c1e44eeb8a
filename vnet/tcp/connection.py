"""One TCP connection, server side, as a sans-IO state machine.

RFCs: 9293 (the protocol, its states and the segment-arrival rules of
section 3.10.7), 6298 (RTO), 5681 and 6582 (slow start, congestion
avoidance, fast retransmit and NewReno recovery), 7323 (window scale,
timestamps, PAWS), 2018 (SACK blocks we send), 5961 (challenge ACKs),
6928 (initial window), 6191 (TIME-WAIT reuse, in the listener).

Segments and the current time go in (`receive`, `send`, `on_deadline`);
segments to transmit (`outgoing`), delivered bytes (`read`) and the next
deadline (`deadline`) come out. Nothing here reads a clock or does I/O.

Sequence numbers are kept as stream offsets: 0 is the initial sequence
number of each side, so the SYN is at 0 and the first byte of data at 1.
Offsets are unbounded Python ints; they are wrapped to 32 bits only on the
way out and unwrapped, relative to the nearest expected value, on the way
in. Comparisons are then plain `<`, and the send buffer is indexed by them.

States and transitions (RFC 9293 section 3.3.2), as `TRANSITIONS` holds
them; "ack" means our SYN or FIN is acknowledged:

    LISTEN        syn   -> SYN-RECEIVED
    SYN-RECEIVED  ack   -> ESTABLISHED
    ESTABLISHED   close -> FIN-WAIT-1     fin -> CLOSE-WAIT
    FIN-WAIT-1    ack   -> FIN-WAIT-2     fin -> CLOSING
    FIN-WAIT-2    fin   -> TIME-WAIT
    CLOSE-WAIT    close -> LAST-ACK
    CLOSING       ack   -> TIME-WAIT
    LAST-ACK      ack   -> CLOSED
    TIME-WAIT     timeout -> CLOSED
    any state     reset | aborted | timeout | retries | evicted -> CLOSED

Only passive opens exist: a `Connection` is born from a SYN to a listening
port, in SYN-RECEIVED. The states are plain strings, compared by identity.

Left out, on purpose:
- active open (SYN-SENT): a virtual host only answers;
- urgent data: the URG bit and pointer are ignored and the bytes are
  delivered inline, as RFC 6093 recommends applications expect;
- Nagle's algorithm: `send` transmits at once, as asyncio sockets do with
  TCP_NODELAY, which it sets by default;
- keep-alives: the idle timeout ends a silent connection instead;
- ECN (RFC 3168): never negotiated, so ECE and CWR are never set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

from vnet.tcp.config import DEFAULT_CONFIG, TcpConfig
from vnet.tcp.reassembly import Reassembly
from vnet.tcp.scoreboard import Scoreboard
from vnet.tcp.stamp import DEFAULT_MSS, TcpPersonality
from vnet.wire.ipv4 import addr_to_str
from vnet.wire.tcp import (
    ACK,
    FIN,
    MSS,
    NOP,
    PSH,
    RST,
    SACK,
    SACK_PERMITTED,
    SYN,
    TIMESTAMP,
    WSCALE,
    TcpOption,
    TcpSegment,
)

log = logging.getLogger(__name__)

LISTEN = "LISTEN"
SYN_RECEIVED = "SYN-RECEIVED"
ESTABLISHED = "ESTABLISHED"
FIN_WAIT_1 = "FIN-WAIT-1"
FIN_WAIT_2 = "FIN-WAIT-2"
CLOSE_WAIT = "CLOSE-WAIT"
CLOSING = "CLOSING"
LAST_ACK = "LAST-ACK"
TIME_WAIT = "TIME-WAIT"
CLOSED = "CLOSED"

STATES = (
    LISTEN,
    SYN_RECEIVED,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    CLOSE_WAIT,
    CLOSING,
    LAST_ACK,
    TIME_WAIT,
    CLOSED,
)

# Why a connection ended; `close_reason` holds one of these.
CLOSE_REASONS = ("fin", "reset", "aborted", "timeout", "retries", "evicted")

TRANSITIONS: dict[tuple[str, str], str] = {
    (LISTEN, "syn"): SYN_RECEIVED,
    (SYN_RECEIVED, "ack"): ESTABLISHED,
    (ESTABLISHED, "close"): FIN_WAIT_1,
    (ESTABLISHED, "fin"): CLOSE_WAIT,
    (FIN_WAIT_1, "ack"): FIN_WAIT_2,
    (FIN_WAIT_1, "fin"): CLOSING,
    (FIN_WAIT_2, "fin"): TIME_WAIT,
    (CLOSE_WAIT, "close"): LAST_ACK,
    (CLOSING, "ack"): TIME_WAIT,
    (LAST_ACK, "ack"): CLOSED,
    (TIME_WAIT, "timeout"): CLOSED,
}
for _state in STATES[1:-1]:
    for _reason in CLOSE_REASONS[1:]:
        TRANSITIONS.setdefault((_state, _reason), CLOSED)

# States in which the peer's data is accepted, and ours is sent.
_RECEIVING = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})
_SENDING = frozenset({ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, CLOSING, LAST_ACK})

MASK = 0xFFFFFFFF
HALF = 0x80000000

# RFC 5681 section 3.1: ssthresh starts "arbitrarily high". One shared int
# object, so that it costs a connection nothing.
_UNBOUNDED = 1 << 30

_NOP = TcpOption(NOP)
_new_value = tuple.__new__
_TIMESTAMP_ROOM = 12  # NOP, NOP, kind, length, TSval, TSecr


class TcpStateError(RuntimeError):
    """Our own caller's mistake, such as `send` after `shutdown`."""


class Connection:
    """A passively opened connection, from the SYN that created it.

    `notify`, when given, is called with the connection after every call
    that may have queued segments or moved the deadline; `TcpHost` uses it
    to find the connections it must drain and reschedule.

    `cookie` is the ISN of a SYN-ACK already sent from a SYN cookie: the
    connection takes it and sends no SYN-ACK of its own (see cookies.py).
    """

    __slots__ = (
        # Who, and with what.
        "local_ip",
        "local_port",
        "remote_ip",
        "remote_port",
        "_personality",
        "_config",
        "_notify",
        "_state",
        "close_reason",
        "retransmits",
        # Send side: offsets from our ISN.
        "_iss",
        "_snd_una",
        "_snd_nxt",
        "_snd_max",
        "_snd_wnd",
        "_snd_wl1",
        "_snd_wl2",
        "_max_snd_wnd",
        "_snd_wscale",
        "_mss",
        "_send_buffer",
        "_send_base",
        "_fin_offset",
        # Congestion control and retransmission.
        "_cwnd",
        "_cwnd_acked",
        "_ssthresh",
        "_dup_acks",
        "_recover",
        "_sacked",
        "_rexmit_next",
        "_srtt",
        "_rttvar",
        "_rto",
        "_rtt_seq",
        "_rtt_time",
        "_retries",
        # Receive side: offsets from the peer's ISN.
        "_irs",
        "_rcv_nxt",
        "_rcv_adv",
        "_rcv_wscale",
        "_rcv_buffer",
        "_received",
        "_received_len",
        "_reassembly",
        "_rcv_fin",
        "_ack_pending",
        # Options in use.
        "_sack_ok",
        "_ts_ok",
        "_ts_recent",
        "_last_ack_sent",
        # Timers: each is an absolute time or None.
        "_timer_at",
        "_ack_at",
        "_expire_at",
        "_last_activity",
        "_now",
        # Segments waiting for `outgoing`, and the SYN while half-open.
        "_outbox",
        "_syn",
        # Free for the caller's timer queue; TCP never reads it.
        "scheduled",
    )

    def __init__(
        self,
        syn: TcpSegment,
        now: float,
        *,
        local_ip: int,
        remote_ip: int,
        personality: TcpPersonality,
        config: TcpConfig = DEFAULT_CONFIG,
        notify: Callable[[Connection], object] | None = None,
        cookie: int | None = None,
    ) -> None:
        self.local_ip = local_ip
        self.local_port = syn.dst_port
        self.remote_ip = remote_ip
        self.remote_port = syn.src_port
        self._personality = personality
        self._config = config
        self._notify = notify
        self._state = LISTEN
        self.close_reason: str | None = None
        self.retransmits = 0
        self._outbox: list[TcpSegment] | None = None
        self._syn: TcpSegment | None = syn
        self._now = now
        self._last_activity = now
        self.scheduled: float | None = None

        local = (local_ip, self.local_port)
        remote = (remote_ip, self.remote_port)
        if cookie is None:
            self._iss = personality.initial_sequence(now, local, remote) & MASK
        else:
            self._iss = cookie & MASK
        self._irs = syn.seq
        window, options = personality.syn_ack(syn, now)
        self._negotiate(syn, options)
        self._start_send_side(syn)
        self._start_receive_side(syn, window)
        self._start_timers(now, timed=cookie is None)

        self._transition("syn", now)
        if cookie is None:
            self._send_syn_ack(now, (window, options))

    def _negotiate(self, syn: TcpSegment, answer: tuple[TcpOption, ...]) -> None:
        """Options in force: those both the SYN and our SYN-ACK carry."""
        ours = TcpSegment(0, 0, 0, 0, 0, 0, b"", answer)
        peer_tsval = _tsval(syn)
        self._ts_ok = peer_tsval is not None and _tsval(ours) is not None
        self._ts_recent = peer_tsval or 0
        both = {o.kind for o in syn.options} & {o.kind for o in answer}
        self._sack_ok = SACK_PERMITTED in both

        # RFC 7323 section 2.3: scaling only if both sides sent the option,
        # and never a shift above 14.
        peer_shift = _int_option(syn, WSCALE)
        our_shift = _int_option(ours, WSCALE)
        if peer_shift is not None and our_shift is not None:
            self._snd_wscale = min(peer_shift, 14)
            self._rcv_wscale = min(our_shift, 14)
        else:
            self._snd_wscale = self._rcv_wscale = 0

        # RFC 9293 section 3.7.1 and RFC 6691: the MSS counts no options, so
        # timestamps take their room from every segment's payload.
        config = self._config
        peer_mss = _int_option(syn, MSS)
        mss = DEFAULT_MSS if peer_mss is None else peer_mss
        mss = max(min(mss, config.max_segment), config.min_segment)
        self._mss = mss - (_TIMESTAMP_ROOM if self._ts_ok else 0)

    def _start_send_side(self, syn: TcpSegment) -> None:
        # Our SYN is offset 0; data starts at 1.
        self._snd_una = 0
        self._snd_nxt = self._snd_max = 1
        self._snd_wnd = self._max_snd_wnd = syn.window  # never scaled in a SYN
        self._snd_wl1 = self._snd_wl2 = 0
        self._send_buffer: bytearray | None = None
        self._send_base = 1
        self._fin_offset: int | None = None
        self._cwnd = self._config.initial_window * self._mss
        self._cwnd_acked = 0
        self._ssthresh = _UNBOUNDED
        self._dup_acks = 0
        self._recover: int | None = None
        self._sacked: Scoreboard | None = None
        self._rexmit_next = 0

    def _start_receive_side(self, syn: TcpSegment, window: int) -> None:
        self._rcv_nxt = 1
        self._rcv_adv = 1 + window
        buffer = self._personality.receive_buffer(syn)
        self._rcv_buffer = min(buffer, 0xFFFF << self._rcv_wscale)
        self._received: list[bytes] | None = None
        self._received_len = 0
        self._reassembly: Reassembly | None = None
        self._rcv_fin: int | None = None
        self._ack_pending = 0
        self._last_ack_sent = 1

    def _start_timers(self, now: float, timed: bool) -> None:
        config = self._config
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._rto = config.rto_initial
        self._retries = 0
        # The SYN-ACK is timed, unless a SYN cookie sent it at a time unknown.
        self._rtt_seq: int | None = 1 if timed else None
        self._rtt_time = now
        self._timer_at: float | None = now + config.rto_initial
        self._ack_at: float | None = None
        self._expire_at: float | None = now + config.handshake_timeout

    # --- what the user and the engine see -----------------------------------

    @property
    def state(self) -> str:
        """The RFC 9293 state name, such as "ESTABLISHED"."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once nothing more can be sent or received (TIME-WAIT or CLOSED).

        `close_reason` is set from then on. Bytes delivered before the close
        can still be `read`.
        """
        return self._state is CLOSED or self._state is TIME_WAIT

    @property
    def established(self) -> bool:
        """True once the handshake is complete and until the connection is closed."""
        return self._state is not SYN_RECEIVED and not self.closed

    @property
    def eof_received(self) -> bool:
        """True once the peer's FIN has arrived in order, after all its data."""
        fin = self._rcv_fin
        return fin is not None and self._rcv_nxt > fin

    @property
    def deadline(self) -> float | None:
        """When `on_deadline` must next be called, or None if never."""
        best = self._timer_at
        ack_at = self._ack_at
        if ack_at is not None and (best is None or ack_at < best):
            best = ack_at
        expire = self._expire_at
        if expire is None:
            # States with no timer of their own end when idle too long.
            idle = self._config.idle_timeout
            if idle is not None and self._state is not CLOSED:
                expire = self._last_activity + idle
        if expire is not None and (best is None or expire < best):
            best = expire
        return best

    @property
    def send_space(self) -> int:
        """Bytes `send` would accept now."""
        if self._fin_offset is not None or self._state is CLOSED:
            return 0
        buffered = len(self._send_buffer) if self._send_buffer is not None else 0
        return self._config.send_buffer - buffered

    @property
    def send_buffered(self) -> int:
        """Bytes accepted by `send` and not yet acknowledged by the peer."""
        return len(self._send_buffer) if self._send_buffer is not None else 0

    @property
    def readable(self) -> int:
        """Bytes delivered in order and waiting for `read`."""
        return self._received_len

    @property
    def bytes_received(self) -> int:
        """Payload bytes delivered in order so far (read or not)."""
        return self._rcv_nxt - 1 - self.eof_received

    @property
    def bytes_sent(self) -> int:
        """Payload bytes the peer has acknowledged."""
        acked = self._snd_una - 1
        fin = self._fin_offset
        if fin is not None and self._snd_una > fin:
            acked -= 1
        return max(acked, 0)

    @property
    def mss(self) -> int:
        """The most payload we put in one segment."""
        return self._mss

    @property
    def options_in_use(self) -> tuple[int, int, bool, bool]:
        """(send shift, receive shift, SACK, timestamps) as negotiated."""
        return self._snd_wscale, self._rcv_wscale, self._sack_ok, self._ts_ok

    def reusable_by(self, syn: TcpSegment) -> bool:
        """May a new SYN take over this TIME-WAIT 4-tuple? (RFC 6191)

        With timestamps on, the SYN's TSval must be newer than the last one
        seen; without, its sequence number must be beyond what was received.
        """
        if self._state is not TIME_WAIT:
            return False
        tsval = _tsval(syn)
        if self._ts_ok and tsval is not None:
            return 0 < (tsval - self._ts_recent) & MASK < HALF
        beyond = (syn.seq - self._irs - self._rcv_nxt) & MASK
        return 0 < beyond < HALF

    def outgoing(self) -> list[TcpSegment]:
        """Segments to transmit, oldest first; each call drains them."""
        out = self._outbox
        if out is None:
            return []
        self._outbox = None
        return out

    def read(self, now: float | None = None) -> bytes:
        """Bytes delivered in order since the last read; b"" if none.

        Reading makes room in the receive buffer; when that reopens a
        window the peer is waiting on, a window update is queued. `now`
        stamps it; without it the time of the last call is used.
        """
        chunks = self._received
        if chunks is None:
            return b""
        self._received = None
        self._received_len = 0
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self._state in _RECEIVING and self._window_update_due():
            self._send_ack(self._now if now is None else now)
            self._changed()
        return data

    def send(
        self, data: bytes | bytearray | memoryview, now: float, more: bool = False
    ) -> int:
        """Queue bytes to send; returns how many fit in the send buffer.

        Raises TcpStateError after our own `shutdown` or `abort`. After the
        peer reset the connection or it timed out, it accepts nothing and
        returns 0: `closed` and `close_reason` say why.

        With `more`, as with MSG_MORE, the caller says that more bytes or
        a `shutdown` follow at once: the bytes wait for them, so that they
        share segments, until the next `send` without it, `shutdown` or
        `push`. The caller must make one of those calls.
        """
        if self._fin_offset is not None or self.close_reason == "aborted":
            raise TcpStateError(f"{self}: send after shutdown or abort")
        if self._state is CLOSED:
            return 0
        self._now = now
        buffer = self._send_buffer
        room = self._config.send_buffer - (len(buffer) if buffer is not None else 0)
        count = min(len(data), room)
        if count <= 0:
            return 0

        chunk = data if count == len(data) else memoryview(data)[:count]
        if buffer is None:
            self._send_buffer = bytearray(chunk)
        else:
            buffer += chunk
        self._last_activity = now
        if not more:
            self._transmit(now)
        self._changed()
        return count

    def push(self, now: float) -> None:
        """Transmit what `send(..., more=True)` left waiting."""
        self._now = now
        self._transmit(now)
        self._changed()

    def shutdown(self, now: float) -> None:
        """Send a FIN after the queued data (RFC 9293 3.10.4, CLOSE).

        The connection still receives until the peer closes too. Calling it
        again, or on a closed connection, does nothing.
        """
        if self._fin_offset is not None or self.closed:
            return
        self._now = now
        self._fin_offset = self._data_end()
        # Before the handshake completes, the FIN waits for ESTABLISHED.
        if self._state is not SYN_RECEIVED:
            self._transition("close", now)
        self._transmit(now)
        self._changed()

    def abort(self, now: float) -> None:
        """Reset the connection (RFC 9293 3.10.5, ABORT) and drop its state."""
        if self.closed:
            if self._state is TIME_WAIT:
                self._close("aborted", now)
                self._changed()
            return
        self._now = now
        self._make(self._snd_nxt, RST | ACK, b"", now)
        self._close("aborted", now)
        self._changed()

    def forget(self, now: float) -> None:
        """Drop all state without a word to the peer (SYN-flood eviction)."""
        if self._state is not CLOSED:
            self._now = now
            self._outbox = None
            self._close("evicted", now)
            self._changed()

    def on_deadline(self, now: float) -> None:
        """Run the timers that are due; harmless if none is."""
        if self._state is CLOSED:
            return
        self._now = now
        expire = self._expire_at
        if expire is not None:
            if now >= expire:
                self._expire(now)
        elif self._idle_expired(now):
            log.debug("%s idle for %.0f s, abort", self, now - self._last_activity)
            self._make(self._snd_nxt, RST | ACK, b"", now)
            self._close("timeout", now)

        if self._timer_at is not None and now >= self._timer_at:
            self._on_timer(now)
        if self._ack_at is not None and now >= self._ack_at and not self.closed:
            self._send_ack(now)
        self._changed()

    def receive(self, segment: TcpSegment, now: float) -> None:
        """Process one segment from the peer (RFC 9293 section 3.10.7.4)."""
        if self._state is CLOSED:
            return
        self._now = now
        if self._state is TIME_WAIT:
            self._receive_in_time_wait(segment, now)
        else:
            self._process(segment, now)
            self._transmit(now)
        ack_at = self._ack_at
        if ack_at is not None and ack_at <= now and self._state is not CLOSED:
            self._send_ack(now)
        self._changed()

    def __str__(self) -> str:
        peer = addr_to_str(self.remote_ip)
        return f"{peer}:{self.remote_port}>{self.local_port}"

    def __repr__(self) -> str:
        return f"<Connection {self} {self._state}>"

    # --- state changes, in one place ------------------------------------------

    def _transition(self, event: str, now: float) -> None:
        old = self._state
        new = TRANSITIONS[old, event]
        self._state = new
        log.debug("%s %s -> %s", self, old, new)

        if new is ESTABLISHED:
            self._expire_at = None
            if self._fin_offset is not None:
                self._transition("close", now)
        elif new is FIN_WAIT_2:
            self._expire_at = now + self._config.fin_wait_2_timeout
        elif new is TIME_WAIT:
            self.close_reason = "fin"
            self._expire_at = now + self._config.time_wait
            self._release()
        elif new is CLOSED:
            if self.close_reason is None:
                self.close_reason = "fin" if event == "ack" else event
            self._expire_at = None
            self._ack_at = None
            self._release()

    def _release(self) -> None:
        """Free what a finished connection no longer needs; unread data stays."""
        self._timer_at = None
        self._send_buffer = None
        self._reassembly = None
        self._syn = None

    def _close(self, reason: str, now: float) -> None:
        self._transition(reason, now)

    def _idle_expired(self, now: float) -> bool:
        idle = self._config.idle_timeout
        return idle is not None and now >= self._last_activity + idle

    def _expire(self, now: float) -> None:
        state = self._state
        if state is TIME_WAIT:
            self._transition("timeout", now)
        else:
            # A half-open connection, or a FIN-WAIT-2 peer that never closes.
            log.debug("%s %s timed out", self, state)
            self._close("timeout", now)

    # --- segment arrival ---------------------------------------------------

    def _process(self, segment: TcpSegment, now: float) -> None:
        flags = segment.flags
        nxt = self._rcv_nxt
        seq = nxt + ((segment.seq - self._irs - nxt + HALF) & MASK) - HALF

        if seq == 0 and flags & (SYN | ACK) == SYN and self._state is SYN_RECEIVED:
            # The peer missed our SYN-ACK and sent its SYN again.
            self._send_syn_ack(now)
            return

        # Linux accepts a segment without the timestamp option; so do we.
        # Limitation: PAWS has no 24-day idle rule (RFC 7323 5.5); the idle
        # timeout ends connections long before the TSval clock can wrap.
        tsval = _tsval(segment) if self._ts_ok else None
        stale = tsval is not None and (tsval - self._ts_recent) & MASK >= HALF
        if stale and not flags & RST:
            self._answer(now, "PAWS: old timestamp")  # RFC 7323 section 5.3
            return

        # First check, sequence number (RFC 9293 3.10.7.4). SYN and FIN each
        # take one number: SYN is 0x02, FIN 0x01.
        length = len(segment.payload) + ((flags & SYN) >> 1) + (flags & FIN)
        if not _acceptable(seq, length, nxt, self._rcv_adv - nxt):
            if not flags & RST:
                self._answer(now, "outside the window")
            return

        # Second check, RST; RFC 5961 section 3.2 answers an inexact one
        # with a challenge ACK rather than believing it.
        if flags & RST:
            if seq == nxt:
                self._close("reset", now)
            else:
                self._answer(now, "challenge ACK for an inexact RST")
            return

        # Fourth check, SYN: RFC 5961 section 4.2 in synchronized states; a
        # passive open in SYN-RECEIVED goes back to LISTEN instead.
        if flags & SYN:
            if self._state is SYN_RECEIVED:
                self._close("reset", now)
            else:
                self._answer(now, "challenge ACK for a SYN")
            return

        # Fifth check, ACK.
        if not flags & ACK or not self._process_ack(segment, seq, now):
            return
        if tsval is not None and seq <= self._last_ack_sent:
            # RFC 7323 section 4.3: echo the oldest unacknowledged TSval.
            self._ts_recent = tsval
        self._last_activity = now
        if self._fin_acknowledged(now):
            return

        # Seventh and eighth: the text and the FIN.
        if self._state in _RECEIVING and (segment.payload or flags & FIN):
            self._process_text(segment, seq, now)

    # Limitation: these ACKs, RFC 5961's challenge ACKs among them, are not
    # rate-limited (RFC 5961 section 7): each costs one ACK.
    def _answer(self, now: float, why: str) -> None:
        """Drop the segment, answering it with an ACK of where we are."""
        log.debug("%s drop segment: %s", self, why)
        self._ack_at = now

    def _receive_in_time_wait(self, segment: TcpSegment, now: float) -> None:
        """RFC 9293: only a retransmitted FIN is expected; ACK it, restart."""
        flags = segment.flags
        nxt = self._rcv_nxt
        seq = nxt + ((segment.seq - self._irs - nxt + HALF) & MASK) - HALF
        if flags & RST:
            # Linux's default: an exact RST ends TIME-WAIT (RFC 1337 would not).
            if seq == nxt:
                self._transition("timeout", now)
            return
        if flags & (FIN | SYN) or segment.payload:
            self._ack_at = now
        if flags & FIN:
            self._expire_at = now + self._config.time_wait

    def _process_ack(self, segment: TcpSegment, seq: int, now: float) -> bool:
        """Apply the acknowledgment; False if the segment is to be dropped."""
        una = self._snd_una
        ack = una + ((segment.ack - self._iss - una + HALF) & MASK) - HALF
        if self._state is SYN_RECEIVED:
            if not una < ack <= self._snd_max:
                # RFC 9293: <SEQ=SEG.ACK><CTL=RST>, and stay half-open.
                reset = TcpSegment(
                    self.local_port, self.remote_port, segment.ack, 0, RST, 0
                )
                self._queue(reset)
                return False
            self._establish(segment, seq, ack, now)
            return True

        # Acknowledges what was never sent, or far too old (RFC 5961 5.2).
        if ack > self._snd_max or ack < una - self._max_snd_wnd:
            self._answer(now, "unacceptable ACK")
            return False

        window = segment.window << self._snd_wscale
        fresh_sack = self._sack_ok and self._note_sack(segment, una)
        if ack > una:
            self._acknowledged(ack, now)
        elif (
            ack == una
            and self._snd_max > una
            and not segment.payload
            and not segment.flags & FIN
            and (fresh_sack or (window and window == self._snd_wnd))
        ):
            # RFC 5681 section 2's duplicate ACK; with SACK, RFC 6675's,
            # which does not ask for an unchanged window.
            self._duplicate_ack(now)

        # Take the window only from a segment newer than the last one used.
        wl1 = self._snd_wl1
        if wl1 < seq or (wl1 == seq and self._snd_wl2 <= ack):
            self._update_window(window, seq, ack)
        return True

    def _update_window(self, window: int, seq: int, ack: int) -> None:
        was_shut = self._snd_wnd == 0
        self._snd_wnd = window
        self._snd_wl1 = seq
        self._snd_wl2 = ack
        if window > self._max_snd_wnd:
            self._max_snd_wnd = window
        if window == 0:
            # The peer answers our probes: RFC 1122 4.2.2.17 says to keep
            # probing as long as it does.
            self._retries = 0
        elif was_shut:
            # Probing is over: what is sent now gets a fresh RTO, not the
            # persist timer's backed-off one.
            self._timer_at = None
            self._rto = self._computed_rto()
            self._retries = 0

    def _note_sack(self, segment: TcpSegment, una: int) -> bool:
        """Add the segment's SACK blocks; True if they report new bytes."""
        blocks = segment.option(SACK)
        if type(blocks) is not tuple:
            return False
        iss, high = self._iss, self._snd_max
        fresh = False
        for edges in cast(tuple[tuple[int, int], ...], blocks):
            left = una + ((edges[0] - iss - una + HALF) & MASK) - HALF
            right = una + ((edges[1] - iss - una + HALF) & MASK) - HALF
            # D-SACK blocks (RFC 2883) lie below SND.UNA: they are ignored,
            # as is anything beyond what was sent.
            if una < left < right <= high:
                board = self._sacked
                if board is None:
                    board = self._sacked = Scoreboard()
                fresh = board.add(left, right) or fresh
        return fresh

    def _establish(self, segment: TcpSegment, seq: int, ack: int, now: float) -> None:
        self._syn = None
        self._snd_una = ack
        if self._rtt_seq is not None:
            self._sample_rtt(now - self._rtt_time)
            self._rtt_seq = None
            self._rto = self._computed_rto()
        elif self._retries:
            # RFC 6298 5.7: after a retransmitted SYN-ACK, start from 3 s.
            self._rto = min(max(self._config.rto_initial, 3.0), self._config.rto_max)
        self._retries = 0
        self._timer_at = None
        window = segment.window << self._snd_wscale
        self._snd_wnd = self._max_snd_wnd = window
        self._snd_wl1 = seq
        self._snd_wl2 = ack
        self._transition("ack", now)
        if self._window_update_due():
            # The personality's SYN-ACK offered (almost) no window: open it
            # now rather than leave the client to probe for it.
            self._ack_at = now

    def _fin_acknowledged(self, now: float) -> bool:
        """Move on once our FIN is acknowledged; True if now CLOSED."""
        fin = self._fin_offset
        if fin is None or self._snd_una <= fin:
            return False
        state = self._state
        if state is FIN_WAIT_1 or state is CLOSING:
            self._transition("ack", now)
        elif state is LAST_ACK:
            self._transition("ack", now)
            return True
        return False

    def _process_text(self, segment: TcpSegment, seq: int, now: float) -> None:
        """Deliver in-order data, hold out-of-order data, act on a FIN."""
        payload = segment.payload
        fin = segment.flags & FIN
        nxt = self._rcv_nxt

        # Trim to the window (RFC 9293 3.10.7.4), and to a FIN seen earlier.
        right = self._rcv_adv
        if self._rcv_fin is not None and self._rcv_fin < right:
            right = self._rcv_fin
        end = seq + len(payload)
        if end > right:
            payload = payload[: max(right - seq, 0)]
            end = seq + len(payload)
            fin = 0
        if seq < nxt:
            payload = payload[nxt - seq :]
            seq = nxt
        if fin and end >= nxt and self._rcv_fin is None:
            self._rcv_fin = end

        if seq > nxt:
            self._hold(seq, payload, now)
            return

        filled = False
        if payload:
            self._deliver(payload)
            filled = self._reassembly is not None and self._drain_reassembly()
        if self._rcv_fin is not None and self._rcv_nxt == self._rcv_fin:
            self._receive_fin(now)
        elif not payload or filled:
            # A duplicate, or a segment that fills a gap: ACK at once
            # (RFC 5681 section 4.2).
            self._ack_at = now
        else:
            self._ack_later(now)

    def _hold(self, seq: int, payload: bytes, now: float) -> None:
        """Keep out-of-order data and send a duplicate ACK (RFC 5681 4.2)."""
        if payload:
            reassembly = self._reassembly
            if reassembly is None:
                reassembly = self._reassembly = Reassembly()
            if not reassembly.add(seq, payload, self._config.reassembly_blocks):
                log.debug("%s reassembly full, drop %d bytes", self, len(payload))
        self._ack_at = now

    def _deliver(self, payload: bytes) -> None:
        chunks = self._received
        if chunks is None:
            self._received = [payload]
        else:
            chunks.append(payload)
        self._received_len += len(payload)
        self._rcv_nxt += len(payload)

    def _drain_reassembly(self) -> bool:
        """Deliver held blocks that are now in order; True if any was taken."""
        reassembly = self._reassembly
        assert reassembly is not None
        count = len(reassembly)
        _, taken = reassembly.pop_from(self._rcv_nxt)
        for block in taken:
            self._deliver(block)
        if not reassembly:
            self._reassembly = None
        return len(reassembly) != count

    def _receive_fin(self, now: float) -> None:
        # In FIN-WAIT-1 our FIN is not acknowledged yet (else we would be in
        # FIN-WAIT-2 by now), so this is a simultaneous close: CLOSING.
        self._rcv_nxt += 1
        self._ack_at = now
        self._transition("fin", now)

    def _ack_later(self, now: float) -> None:
        """RFC 5681 4.2: ACK every second segment, else within ack_delay."""
        self._ack_pending += 1
        if self._ack_pending >= 2:
            self._ack_at = now
        elif self._ack_at is None:
            self._ack_at = now + self._config.ack_delay

    # --- acknowledgments of our data ----------------------------------------

    def _acknowledged(self, ack: int, now: float) -> None:
        una = self._snd_una
        self._snd_una = ack
        if self._snd_nxt < ack:
            self._snd_nxt = ack
        self._drop_acknowledged(ack)
        board = self._sacked
        if board is not None:
            board.prune(ack)
            if not board:
                self._sacked = None

        # Karn's algorithm (RFC 6298 section 3): time only what went once.
        if self._rtt_seq is not None and ack >= self._rtt_seq:
            self._sample_rtt(now - self._rtt_time)
            self._rtt_seq = None
        self._rto = self._computed_rto()
        self._retries = 0

        self._grow_window(ack, ack - una, now)
        self._dup_acks = 0
        # RFC 6298 5.2 and 5.3: stop the timer, or restart it.
        self._timer_at = now + self._rto if ack < self._snd_max else None

    def _drop_acknowledged(self, ack: int) -> None:
        buffer = self._send_buffer
        if buffer is None:
            return
        count = min(ack - self._send_base, len(buffer))
        if count <= 0:
            return
        if count == len(buffer):
            self._send_buffer = None
        else:
            del buffer[:count]
        self._send_base += count

    def _grow_window(self, ack: int, acked: int, now: float) -> None:
        mss = self._mss
        if self._recover is not None:
            if ack >= self._recover:
                # RFC 6582 3.2 step 3: a full acknowledgment ends recovery.
                # Its option (2), cwnd = ssthresh, as Linux ends it: option
                # (1) leaves one segment when nothing is in flight, and the
                # loss of that one segment could only end in a timeout.
                self._cwnd = self._ssthresh
                self._recover = None
            else:
                # A partial acknowledgment: the next segment was lost too,
                # unless it went again already on the strength of SACKs.
                if ack >= self._rexmit_next:
                    self._retransmit_first(now)
                else:
                    self._retransmit_hole(now)
                self._cwnd = max(self._cwnd - acked + mss, mss)
            return
        if self._cwnd < self._ssthresh:
            self._cwnd += min(acked, mss)  # slow start, RFC 5681 3.1
        else:
            # Congestion avoidance, counting bytes as RFC 5681 3.1
            # recommends: one MSS more per cwnd's worth acknowledged.
            self._cwnd_acked += acked
            if self._cwnd_acked >= self._cwnd:
                self._cwnd_acked -= self._cwnd
                self._cwnd += mss
        # More window than the peer ever offered would only allow a burst.
        limit = max(self._max_snd_wnd, 2 * mss)
        if self._cwnd > limit:
            self._cwnd = limit

    # Limitation: SACK blocks serve only to count duplicates and pick holes
    # (see scoreboard.py); there is no RFC 6675 pipe estimate, no RACK or
    # tail-loss probe, and a timeout goes back to SND.UNA and resends all.
    def _duplicate_ack(self, now: float) -> None:
        self._dup_acks += 1
        mss = self._mss
        if self._recover is not None:
            self._cwnd += mss  # RFC 5681 3.2 step 4: inflate
            self._retransmit_hole(now)
        elif self._dup_acks == 3:
            # RFC 5681 3.2 steps 2-3: fast retransmit, then NewReno recovery
            # until everything sent so far is acknowledged (RFC 6582).
            flight = self._snd_max - self._snd_una
            self._ssthresh = max(flight // 2, 2 * mss)
            self._recover = self._snd_max
            self._retransmit_first(now)
            self._cwnd = self._ssthresh + 3 * mss
            self._cwnd_acked = 0

    def _sample_rtt(self, rtt: float) -> None:
        """RFC 6298 section 2, with alpha 1/8 and beta 1/4."""
        srtt = self._srtt
        if srtt is None:
            self._srtt = rtt
            self._rttvar = rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(srtt - rtt)
            self._srtt = 0.875 * srtt + 0.125 * rtt

    def _computed_rto(self) -> float:
        config = self._config
        if self._srtt is None:
            return config.rto_initial
        rto = self._srtt + 4 * self._rttvar
        return min(max(rto, config.rto_min), config.rto_max)

    # --- timers ------------------------------------------------------------

    def _on_timer(self, now: float) -> None:
        """The retransmission or persist timer fired (RFC 6298 section 5)."""
        self._timer_at = None
        config = self._config
        if self._state is SYN_RECEIVED:
            if self._give_up(config.synack_retries, now):
                return
            self._send_syn_ack(now)
        elif self._snd_wnd == 0 and self._unacknowledged():
            if self._give_up(config.max_retries, now):
                return
            self._probe(now)
        elif self._snd_max > self._snd_una:
            if self._give_up(config.max_retries, now):
                return
            self._go_back(now)
        else:
            # The window reopened since the persist timer was set.
            self._transmit(now)
            return
        self._timer_at = now + self._rto

    def _give_up(self, limit: int, now: float) -> bool:
        """Count one more retransmission, or close if that is one too many."""
        if self._retries >= limit:
            log.debug("%s %s: %d retries, give up", self, self._state, self._retries)
            self._close("retries", now)
            return True
        self._retries += 1
        self._rto = min(self._rto * 2, self._config.rto_max)  # RFC 6298 5.5
        self._rtt_seq = None
        self.retransmits += 1
        return False

    def _unacknowledged(self) -> bool:
        """Is any data, or our FIN, queued or in flight and not acknowledged?"""
        fin = self._fin_offset
        return self._data_end() > self._snd_una or (
            fin is not None and self._snd_una <= fin
        )

    def _go_back(self, now: float) -> None:
        """Resend from the oldest unacknowledged byte, in slow start."""
        mss = self._mss
        if self._retries == 1:
            # RFC 5681 eq. 4, once per loss: a repeat timeout keeps ssthresh.
            self._ssthresh = max((self._snd_max - self._snd_una) // 2, 2 * mss)
        self._cwnd = mss
        self._cwnd_acked = 0
        self._recover = None
        self._dup_acks = 0
        # The peer may renege on what it SACKed (RFC 2018 section 8): after
        # a timeout everything unacknowledged goes again.
        self._sacked = None
        self._snd_nxt = self._snd_una
        self._transmit(now)

    def _probe(self, now: float) -> None:
        """Zero-window probe: one byte past the window (RFC 9293 3.8.6.1)."""
        una = self._snd_una
        size = 1 if self._data_end() > una else 0
        fin = self._fin_offset is not None and una + size == self._fin_offset
        if size or fin:
            self._send_data(una, size, fin, now)
            sent = una + size + fin
            self._snd_nxt = max(self._snd_nxt, sent)
            self._snd_max = max(self._snd_max, sent)

    # --- sending -----------------------------------------------------------

    def _data_end(self) -> int:
        buffer = self._send_buffer
        return self._send_base + (len(buffer) if buffer is not None else 0)

    def _transmit(self, now: float) -> None:
        """Send what the peer's window and the congestion window allow."""
        if self._send_buffer is None and self._fin_offset is None:
            return
        if self._state not in _SENDING:
            return
        data_end = self._data_end()
        fin = self._fin_offset
        end = data_end + 1 if fin is not None else data_end
        nxt = self._snd_nxt
        if nxt >= end:
            return

        una = self._snd_una
        cwnd = self._cwnd
        if 0 < self._dup_acks < 3:
            # RFC 3042, limited transmit: a new segment for each of the first
            # two duplicate ACKs, so a small window still draws three.
            cwnd += self._dup_acks * self._mss
        limit = una + min(self._snd_wnd, cwnd)
        mss = self._mss - self._sack_room()
        while nxt < end:
            size = data_end - nxt
            if size > mss:
                size = mss
            room = limit - nxt
            if size > room:
                # RFC 9293 3.8.6.2.1, sender SWS avoidance: a window-limited
                # runt waits for an ACK unless nothing is in flight.
                if room <= 0 or (nxt > una and room < self._max_snd_wnd >> 1):
                    break
                size = room
            with_fin = fin is not None and nxt + size == data_end
            self._send_data(nxt, size, with_fin, now)
            nxt += size + with_fin

        if nxt > self._snd_max:
            if self._rtt_seq is None:
                self._rtt_seq = nxt
                self._rtt_time = now
            self._snd_max = nxt
        self._snd_nxt = nxt
        if self._timer_at is None and (nxt > una or nxt < end):
            # The retransmission timer, or the persist timer if the window
            # is shut with data waiting.
            self._timer_at = now + self._rto

    def _retransmit_first(self, now: float) -> None:
        una = self._snd_una
        data_end = self._data_end()
        size = min(self._mss - self._sack_room(), data_end - una)
        size = max(size, 0)
        fin = self._fin_offset
        with_fin = fin is not None and una + size == fin and self._snd_max > fin
        if size or with_fin:
            self._send_data(una, size, with_fin, now)
            self.retransmits += 1
            self._rtt_seq = None
            self._rexmit_next = una + size + with_fin

    def _retransmit_hole(self, now: float) -> None:
        """In recovery, resend the next hole the SACKs reveal (RFC 6675)."""
        board = self._sacked
        if board is None:
            return
        start = max(self._rexmit_next, self._snd_una)
        hole = board.next_hole(start, 3 * self._mss)
        if hole is None:
            return
        start, end = hole
        size = min(self._mss - self._sack_room(), end - start)
        self._send_data(start, size, False, now)
        self.retransmits += 1
        self._rtt_seq = None
        self._rexmit_next = start + size

    def _send_data(self, offset: int, size: int, fin: bool, now: float) -> None:
        flags = ACK
        payload = b""
        if size:
            buffer = self._send_buffer
            assert buffer is not None
            start = offset - self._send_base
            payload = bytes(buffer[start : start + size])
            if start + size == len(buffer):
                flags |= PSH
        if fin:
            flags |= FIN
        self._make(offset, flags, payload, now)

    def _send_ack(self, now: float) -> None:
        self._make(self._snd_nxt, ACK, b"", now)

    def _send_syn_ack(
        self, now: float, answer: tuple[int, tuple[TcpOption, ...]] | None = None
    ) -> None:
        """Send the SYN-ACK; a retransmission asks the personality again."""
        syn = self._syn
        assert syn is not None
        window, options = answer or self._personality.syn_ack(syn, now)
        ack = (self._irs + 1) & MASK
        segment = TcpSegment(
            self.local_port,
            self.remote_port,
            self._iss,
            ack,
            SYN | ACK,
            window,
            b"",
            options,
        )
        self._last_ack_sent = 1
        self._queue(segment)

    # Limitation: after the SYN-ACK the option layout is Linux's (NOP, NOP,
    # TS, then NOP, NOP, SACK); the personality chooses only the TSval.
    # No D-SACK (RFC 2883) is sent for duplicate data.
    def _make(self, offset: int, flags: int, payload: bytes, now: float) -> None:
        """Queue a segment at `offset` that acknowledges all we have."""
        options: tuple[TcpOption, ...] = ()
        if self._ts_ok:
            tsval = self._personality.timestamp(now)
            stamp = _new_value(TcpOption, (TIMESTAMP, (tsval, self._ts_recent)))
            options = (_NOP, _NOP, stamp)
        if self._reassembly is not None and self._sack_ok:
            options += self._sack_option()
        window = self._window_field()
        nxt = self._rcv_nxt
        self._last_ack_sent = nxt
        self._ack_at = None
        self._ack_pending = 0
        # Built as a tuple, as vnet.wire's parsers build theirs: this runs
        # for every segment sent.
        segment = _new_value(
            TcpSegment,
            (
                self.local_port,
                self.remote_port,
                (self._iss + offset) & MASK,
                (self._irs + nxt) & MASK,
                flags,
                window,
                payload,
                options,
                0,
                0,
            ),
        )
        self._queue(segment)

    def _queue(self, segment: TcpSegment) -> None:
        out = self._outbox
        if out is None:
            self._outbox = [segment]
        else:
            out.append(segment)

    def _sack_room(self) -> int:
        """Option bytes the SACK blocks take from a data segment's payload."""
        reassembly = self._reassembly
        if reassembly is None or not self._sack_ok:
            return 0
        return 4 + 8 * min(len(reassembly), 3 if self._ts_ok else 4)

    def _sack_option(self) -> tuple[TcpOption, ...]:
        """RFC 2018 section 4: the held blocks, the newest first."""
        reassembly = self._reassembly
        assert reassembly is not None
        irs = self._irs
        blocks = reassembly.sack_blocks(3 if self._ts_ok else 4)
        edges = tuple(((irs + left) & MASK, (irs + end) & MASK) for left, end in blocks)
        return (_NOP, _NOP, TcpOption(SACK, edges))

    # Limitation: the receive buffer is fixed at the personality's size (no
    # autotuning), and the SWS and ACK rules use the send MSS as an estimate
    # of the peer's segment size.
    def _window_field(self) -> int:
        """The window to advertise, never shrinking the right edge."""
        nxt = self._rcv_nxt
        buffer = self._rcv_buffer
        right = nxt + buffer - self._received_len
        # RFC 9293 3.8.6.2.2, receiver SWS avoidance: move the right edge
        # only by a useful amount.
        if right - self._rcv_adv >= min(buffer >> 1, self._mss):
            self._rcv_adv = right
        window = (self._rcv_adv - nxt) >> self._rcv_wscale
        return window if window < 0xFFFF else 0xFFFF

    def _window_update_due(self) -> bool:
        """After a read: is the peer stalled on a window worth reopening?

        Only a window too small for two segments stalls a sender; a wider
        one is refreshed by the ACKs that its data draws anyway.
        """
        mss = self._mss
        current = self._rcv_adv - self._rcv_nxt
        grown = self._rcv_buffer - self._received_len - current
        return current < 2 * mss and grown >= min(self._rcv_buffer >> 1, mss)

    def _changed(self) -> None:
        notify = self._notify
        if notify is not None:
            notify(self)


def _tsval(segment: TcpSegment) -> int | None:
    value = segment.option(TIMESTAMP)
    if type(value) is tuple:
        return cast(int, value[0])
    return None


def _int_option(segment: TcpSegment, kind: int) -> int | None:
    value = segment.option(kind)
    return value if isinstance(value, int) else None


def _acceptable(seq: int, length: int, nxt: int, window: int) -> bool:
    """RFC 9293 3.10.7.4's acceptance test, with its zero-window allowance."""
    if window <= 0:
        # Only the next expected sequence number gets in, so that ACKs (and
        # RSTs) still arrive while our window is shut; any data is trimmed.
        return seq == nxt
    if length == 0:
        return nxt <= seq < nxt + window
    return seq < nxt + window and seq + length > nxt
