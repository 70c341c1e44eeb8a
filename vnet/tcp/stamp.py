"""The hooks where a personality stamps what a host's TCP puts on the wire.

An operating system shows itself in its TCP as much as in its IP header: the
initial sequence number (RFC 9293 section 3.4.1, RFC 6528), the SYN-ACK's
window and the exact list and order of its options (RFC 9293 section 3.1,
RFC 7323, RFC 2018), the rate of the timestamp clock (RFC 7323 section 5.4)
and the windows it advertises once connected. nmap and p0f read all of them.

`TcpPersonality` is that interface, kept small so that the personality layer
can implement it from a fingerprint. `Connection` calls it and nothing else:

- `initial_sequence` once per connection, for the ISN;
- `syn_ack` for every SYN-ACK sent, first and retransmitted; its window and
  options go on the wire verbatim, and the connection then negotiates from
  the SYN and this answer (MSS, window scale only if both sides sent it,
  SACK-permitted and timestamps likewise);
- `timestamp` for the TSval of every later segment;
- `receive_buffer` once, for the receive buffer that sets later windows.

`PlainPersonality` is the default: it answers like a Linux 5.x/6.x host.

Left out on purpose: ECN negotiation (RFC 3168) and TCP Fast Open; the
SYN-ACK never sets ECE, and data in a SYN is not queued, as in Linux without
TFO.
"""

from __future__ import annotations

import random
from typing import Protocol, cast

from vnet.wire.tcp import (
    MSS,
    NOP,
    SACK_PERMITTED,
    TIMESTAMP,
    WSCALE,
    TcpOption,
    TcpSegment,
)

SEQUENCE_MASK = 0xFFFFFFFF

# The RFC 9293 section 3.7.1 default for a peer that sends no MSS option.
DEFAULT_MSS = 536

Endpoint = tuple[int, int]
"""An IPv4 address (as an int) and a port."""

Options = tuple[TcpOption, ...]


class TcpPersonality(Protocol):
    """What a connection asks of the host's personality; pure, no I/O."""

    def initial_sequence(self, now: float, local: Endpoint, remote: Endpoint) -> int:
        """The ISN for a new connection, 0 <= ISN < 2**32."""
        ...

    def syn_ack(self, syn: TcpSegment, now: float) -> tuple[int, Options]:
        """The SYN-ACK's window (unscaled, as on the wire) and exact options.

        The options must encode to a multiple of 4 bytes. A TIMESTAMP option
        is sent with the values given here, so the personality decides them.
        """
        ...

    def timestamp(self, now: float) -> int:
        """The TSval clock at `now`, 0 <= TSval < 2**32."""
        ...

    def receive_buffer(self, syn: TcpSegment) -> int:
        """Receive buffer in bytes; windows after the handshake show its room."""
        ...


class PlainPersonality:
    """A Linux-like default: MSS 1460, window scale 7, SACK, 1000 Hz TSval.

    The ISN and the timestamp clock's offset come from one `random.Random`,
    seeded, so a test or a replay sees the same numbers each run.
    """

    __slots__ = (
        "mss",
        "window_scale",
        "buffer",
        "_random",
        "_clock_offset",
        "_layouts",
    )

    def __init__(
        self,
        seed: int | None = None,
        mss: int = 1460,
        window_scale: int = 7,
        buffer: int = 131072,
    ) -> None:
        self.mss = mss
        self.window_scale = window_scale
        self.buffer = buffer
        self._random = random.Random(seed)
        self._clock_offset = self._random.getrandbits(32)
        # SYN-ACK window and options around the timestamp, by what the SYN
        # offered: they repeat for every connection.
        self._layouts: dict[tuple, tuple[int, Options, Options]] = {}

    def initial_sequence(self, now: float, local: Endpoint, remote: Endpoint) -> int:
        return self._random.getrandbits(32)

    def syn_ack(self, syn: TcpSegment, now: float) -> tuple[int, Options]:
        offered = {option.kind for option in syn.options}
        echo = syn.option(TIMESTAMP)
        timestamps = isinstance(echo, tuple)
        key = (
            self.mss,
            self.window_scale,
            timestamps,
            SACK_PERMITTED in offered,
            WSCALE in offered,
        )
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = _layout(*key)
        window, before, after = layout
        if not timestamps:
            return window, before
        tsecr = cast(int, cast(tuple, echo)[0])
        stamp = TcpOption(TIMESTAMP, (self.timestamp(now), tsecr))
        return window, (*before, stamp, *after)

    def timestamp(self, now: float) -> int:
        return (int(now * 1000) + self._clock_offset) & SEQUENCE_MASK

    def receive_buffer(self, syn: TcpSegment) -> int:
        return self.buffer


def _layout(
    mss: int, window_scale: int, timestamps: bool, sack: bool, scale: bool
) -> tuple[int, Options, Options]:
    """Linux's SYN-ACK: window, then the options before and after TSval.

    Without timestamps, all the options are in the first tuple.
    """
    # Linux fills 65535 with whole segments of what it will receive.
    segment_room = mss - (12 if timestamps else 0)
    window = 65535 // segment_room * segment_room

    before = [TcpOption(MSS, mss)]
    after: list[TcpOption] = []
    if timestamps:
        if sack:
            before.append(TcpOption(SACK_PERMITTED))
        else:
            before += (TcpOption(NOP), TcpOption(NOP))
    elif sack:
        before += (TcpOption(NOP), TcpOption(NOP), TcpOption(SACK_PERMITTED))
    tail = after if timestamps else before
    if scale:
        tail += (TcpOption(NOP), TcpOption(WSCALE, window_scale))
    return window, tuple(before), tuple(after)
