"""A minimal TCP client endpoint, written apart from vnet.tcp to drive it.

It shares no code with the server side, so a mistake there is not mirrored
here: sequence numbers stay 32-bit and are compared modulo 2**32, the sender
is go-back-N with a fixed window and a doubling RTO, and every segment with
data or a FIN is acknowledged at once. It buffers out-of-order data, and
offers MSS, SACK-permitted, timestamps and window scale in its SYN; it
reports what it holds out of order in SACK blocks when the server agreed,
and ignores the SACK blocks it receives.

Enough to move megabytes through a lossy wire and to check the server's
behaviour; no attempt at congestion control of its own beyond the fixed
window.
"""

from __future__ import annotations

from vnet.wire import tcp
from vnet.wire.tcp import ACK, FIN, MSS, NOP, RST, SYN, TcpOption, TcpSegment

MASK = 0xFFFFFFFF


def diff(a: int, b: int) -> int:
    """a - b in sequence space: negative if a is before b."""
    return ((a - b + 0x80000000) & MASK) - 0x80000000


class Client:
    """One active-open connection to a server port."""

    def __init__(
        self,
        ip: int,
        port: int,
        server_ip: int,
        server_port: int = 80,
        *,
        isn: int = 0x7FFFFF00,
        mss: int = 1460,
        window_scale: int | None = 7,
        sack: bool = True,
        timestamps: bool = True,
        buffer: int = 262144,
        window_segments: int = 32,
        rto: float = 0.2,
        auto_read: bool = True,
    ) -> None:
        self.ip = ip
        self.port = port
        self.server_ip = server_ip
        self.server_port = server_port
        self.iss = isn
        self.mss = mss
        self.window_scale = window_scale
        self.sack = sack
        self.timestamps = timestamps
        self.buffer = buffer
        self.window_limit = window_segments * mss
        self.base_rto = rto
        self.auto_read = auto_read

        self.state = "CLOSED"
        self.reset_received = False
        self.eof = False
        self.snd_una = self.snd_nxt = self.snd_max = isn
        self.unacked = bytearray()  # from snd_una: sent and unsent data
        self.fin_wanted = False
        self.fin_seq: int | None = None
        self.peer_window = 0
        self.peer_shift = 0
        self.peer_mss = 536
        self.ts_on = False
        self.sack_on = False
        self.last_out_of_order = 0
        self.ts_recent = 0
        self.rcv_nxt = 0
        self.out_of_order: dict[int, bytes] = {}
        self.unread = bytearray()
        self.received = bytearray()
        self.rto = rto
        self.timer: float | None = None
        self.dup_acks = 0
        self.retransmits = 0
        self.segments_sent = 0
        self.windows_seen: list[int] = []
        self._out: list[TcpSegment] = []

    # --- the user's side -----------------------------------------------------

    def connect(self, now: float) -> None:
        self.state = "SYN-SENT"
        self._send_syn(now)

    def write(self, data: bytes, now: float) -> None:
        self.unacked += data
        self._transmit(now)

    def close(self, now: float) -> None:
        self.fin_wanted = True
        self._transmit(now)

    def abort(self, now: float) -> None:
        self._emit(self.snd_nxt, RST | ACK, b"", now)
        self.state = "CLOSED"
        self.timer = None

    def read(self, now: float) -> bytes:
        """Take what was delivered (with auto_read off); may open the window."""
        data = bytes(self.unread)
        was_shut = self._free() < self.mss
        self.unread.clear()
        if was_shut and self.state != "CLOSED":
            self._ack(now)
        return data

    @property
    def done(self) -> bool:
        """Both FINs sent and acknowledged, or reset."""
        return self.reset_received or (self.fin_acked and self.eof)

    @property
    def fin_acked(self) -> bool:
        fin = self.fin_seq
        return fin is not None and self.snd_una == (fin + 1) & MASK

    @property
    def deadline(self) -> float | None:
        return self.timer

    def outgoing(self) -> list[TcpSegment]:
        out, self._out = self._out, []
        return out

    # --- segments in ---------------------------------------------------------

    def receive(self, segment: TcpSegment, now: float) -> None:
        if self.state == "CLOSED":
            return
        if segment.flags & RST:
            if self.state == "SYN-SENT" or diff(segment.seq, self.rcv_nxt) >= 0:
                self.reset_received = True
                self.state = "CLOSED"
                self.timer = None
            return
        if self.state == "SYN-SENT":
            self._receive_syn_ack(segment, now)
            return
        if segment.flags & SYN:
            # Our ACK of the SYN-ACK was lost: it comes again.
            self._ack(now)
            return
        self._note_timestamp(segment)
        if segment.flags & ACK:
            self._process_ack(segment, now)
        self._process_data(segment, now)
        self._transmit(now)

    def _receive_syn_ack(self, segment: TcpSegment, now: float) -> None:
        flags_ok = segment.flags & (SYN | ACK) == SYN | ACK
        if not flags_ok or segment.ack != (self.iss + 1) & MASK:
            return
        self.state = "ESTABLISHED"
        self.rcv_nxt = (segment.seq + 1) & MASK
        self.snd_una = self.snd_nxt = self.snd_max = (self.iss + 1) & MASK
        self.timer = None
        self.rto = self.base_rto
        mss = segment.option(MSS)
        self.peer_mss = mss if isinstance(mss, int) else 536
        shift = segment.option(tcp.WSCALE)
        if isinstance(shift, int) and self.window_scale is not None:
            self.peer_shift = shift
        else:
            self.window_scale = None
        self.ts_on = self.timestamps and isinstance(
            segment.option(tcp.TIMESTAMP), tuple
        )
        self._note_timestamp(segment)
        self.sack_on = self.sack and any(
            option.kind == tcp.SACK_PERMITTED for option in segment.options
        )
        self.peer_window = segment.window  # never scaled in a SYN
        self._ack(now)
        self._transmit(now)

    def _note_timestamp(self, segment: TcpSegment) -> None:
        value = segment.option(tcp.TIMESTAMP)
        if isinstance(value, tuple) and diff(segment.seq, self.rcv_nxt) <= 0:
            self.ts_recent = value[0]  # type: ignore[assignment]

    def _process_ack(self, segment: TcpSegment, now: float) -> None:
        ack = segment.ack
        window = segment.window << self.peer_shift
        advanced = diff(ack, self.snd_una)
        in_flight = diff(self.snd_max, self.snd_una)
        if 0 < advanced <= in_flight:
            data_acked = min(advanced, len(self.unacked))
            del self.unacked[:data_acked]
            self.snd_una = ack
            if diff(self.snd_nxt, ack) < 0:
                self.snd_nxt = ack
            self.dup_acks = 0
            self.rto = self.base_rto
            self.timer = now + self.rto if diff(self.snd_max, ack) > 0 else None
        elif advanced == 0 and in_flight > 0 and not segment.payload:
            self.dup_acks += 1
            if self.dup_acks == 3:
                self._resend_first(now)
        self.peer_window = window
        self.windows_seen.append(window)

    def _process_data(self, segment: TcpSegment, now: float) -> None:
        payload = segment.payload
        has_fin = bool(segment.flags & FIN)
        if not payload and not has_fin:
            return
        offset = diff(segment.seq, self.rcv_nxt)
        room = self._free()
        if offset < 0:
            payload = payload[-offset:]
            offset = 0
            if not payload and not has_fin:
                self._ack(now)
                return
        if offset + len(payload) > room:
            payload = payload[: max(room - offset, 0)]
            has_fin = False
        if offset > 0:
            if payload:
                seq = (self.rcv_nxt + offset) & MASK
                self.out_of_order[seq] = payload
                self.last_out_of_order = seq
            self._ack(now)
            return
        self._deliver(payload)
        self._drain_out_of_order()
        fin_at = (segment.seq + len(segment.payload)) & MASK
        if has_fin and fin_at == self.rcv_nxt:
            self.rcv_nxt = (self.rcv_nxt + 1) & MASK
            self.eof = True
        self._ack(now)

    def _deliver(self, data: bytes) -> None:
        if self.auto_read:
            self.received += data
        else:
            self.unread += data
        self.rcv_nxt = (self.rcv_nxt + len(data)) & MASK

    def _drain_out_of_order(self) -> None:
        progress = True
        while progress and self.out_of_order:
            progress = False
            for seq, data in list(self.out_of_order.items()):
                offset = diff(self.rcv_nxt, seq)
                if offset < 0:
                    continue
                del self.out_of_order[seq]
                if offset < len(data):
                    self._deliver(data[offset:])
                    progress = True

    def _free(self) -> int:
        return self.buffer - len(self.unread)

    # --- segments out --------------------------------------------------------

    def on_deadline(self, now: float) -> None:
        if self.timer is None or now < self.timer or self.state == "CLOSED":
            return
        self.timer = None
        self.retransmits += 1
        self.rto = min(self.rto * 2, 3.0)
        if self.state == "SYN-SENT":
            self._send_syn(now)
            return
        if self.peer_window == 0 and self.unacked:
            self._probe(now)
            return
        self.snd_nxt = self.snd_una
        self._transmit(now)

    def _send_syn(self, now: float) -> None:
        options = [TcpOption(MSS, self.mss)]
        if self.sack:
            options.append(TcpOption(tcp.SACK_PERMITTED))
        if self.timestamps:
            options.append(TcpOption(tcp.TIMESTAMP, (self._tsval(now), 0)))
        if self.window_scale is not None:
            options += (TcpOption(NOP), TcpOption(tcp.WSCALE, self.window_scale))
        options = list(tcp.pad_options(tuple(options)))
        window = min(self.buffer, 65535)
        segment = TcpSegment(
            self.port, self.server_port, self.iss, 0, SYN, window, b"", tuple(options)
        )
        self._out.append(segment)
        self.snd_nxt = (self.iss + 1) & MASK
        self.timer = now + self.rto

    def _transmit(self, now: float) -> None:
        if self.state != "ESTABLISHED":
            return
        mss = min(self.mss, self.peer_mss) - (12 if self.ts_on else 0)
        window = min(self.peer_window, self.window_limit)
        while True:
            offset = diff(self.snd_nxt, self.snd_una)
            remaining = len(self.unacked) - offset
            if remaining > 0:
                size = min(mss, remaining, window - offset)
                if size <= 0:
                    break
                payload = bytes(self.unacked[offset : offset + size])
                self._emit(self.snd_nxt, ACK, payload, now)
                self.snd_nxt = (self.snd_nxt + size) & MASK
            elif remaining == 0 and self.fin_wanted and not self.fin_acked:
                self.fin_seq = self.snd_nxt
                self._emit(self.snd_nxt, FIN | ACK, b"", now)
                self.snd_nxt = (self.snd_nxt + 1) & MASK
                break
            else:
                break
        outstanding = diff(self.snd_nxt, self.snd_una) > 0
        waiting = len(self.unacked) > diff(self.snd_nxt, self.snd_una)
        if self.timer is None and (outstanding or waiting):
            self.timer = now + self.rto

    def _resend_first(self, now: float) -> None:
        mss = min(self.mss, self.peer_mss) - (12 if self.ts_on else 0)
        payload = bytes(self.unacked[:mss])
        flags = ACK
        if not payload and self.fin_seq is not None:
            flags |= FIN
        self.retransmits += 1
        self._emit(self.snd_una, flags, payload, now)

    def _probe(self, now: float) -> None:
        payload = bytes(self.unacked[:1])
        if payload:
            self._emit(self.snd_una, ACK, payload, now)
            self.snd_nxt = (self.snd_una + 1) & MASK
        self.timer = now + self.rto

    def _ack(self, now: float) -> None:
        self._emit(self.snd_nxt, ACK, b"", now)

    def _emit(self, seq: int, flags: int, payload: bytes, now: float) -> None:
        options: tuple[TcpOption, ...] = ()
        if self.ts_on:
            stamp = TcpOption(tcp.TIMESTAMP, (self._tsval(now), self.ts_recent))
            options = (TcpOption(NOP), TcpOption(NOP), stamp)
        if self.sack_on and self.out_of_order:
            options += (TcpOption(NOP), TcpOption(NOP), self._sack_option())
        shift = self.window_scale or 0
        window = min(self._free() >> shift, 0xFFFF)
        segment = TcpSegment(
            self.port,
            self.server_port,
            seq & MASK,
            self.rcv_nxt,
            flags,
            window,
            payload,
            options,
        )
        self.segments_sent += 1
        self._out.append(segment)
        end = (seq + len(payload) + bool(flags & FIN)) & MASK
        if self.state != "SYN-SENT" and diff(end, self.snd_max) > 0:
            self.snd_max = end

    def _sack_option(self) -> TcpOption:
        """The held ranges, merged, the one holding the latest arrival first."""
        spans = sorted(
            (diff(seq, self.rcv_nxt), diff(seq, self.rcv_nxt) + len(data))
            for seq, data in self.out_of_order.items()
        )
        merged: list[list[int]] = []
        for left, right in spans:
            if merged and left <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], right)
            else:
                merged.append([left, right])
        latest = diff(self.last_out_of_order, self.rcv_nxt)
        merged.sort(key=lambda span: not span[0] <= latest < span[1])
        room = 3 if self.ts_on else 4
        blocks = tuple(
            ((self.rcv_nxt + left) & MASK, (self.rcv_nxt + right) & MASK)
            for left, right in merged[:room]
        )
        return TcpOption(tcp.SACK, blocks)

    def _tsval(self, now: float) -> int:
        return (int(now * 1000) + 12345) & MASK
