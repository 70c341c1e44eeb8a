"""Timers and limits of the sans-IO TCP, one frozen value shared by many hosts.

The defaults follow Linux where RFC 6298 and RFC 9293 leave a choice (a
200 ms minimum RTO, ten-segment initial window, 40 ms delayed ACK), because a
virtual host should behave like a real one. They differ from Linux where a
honeypot holding thousands of connections needs it: TIME-WAIT lasts seconds,
not a minute, and idle or half-open connections are dropped after a bound.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TcpConfig:
    """Every duration is in seconds; `None` switches that timeout off."""

    # RFC 6298 section 2: the first RTO, and the bounds RFC 6298 (2.4, 2.5)
    # allows; Linux uses 200 ms as the floor, RFC 6298 suggests 1 s.
    rto_initial: float = 1.0
    rto_min: float = 0.2
    rto_max: float = 60.0

    # Retransmissions of one segment before the connection is given up
    # (RFC 9293 section 3.8.3, R2); Linux's 15 would hold a dead peer for
    # 15 minutes.
    max_retries: int = 8
    synack_retries: int = 4

    # A half-open connection is dropped after this, whatever the retries.
    handshake_timeout: float = 30.0
    # No segment from the peer and nothing written for this long: abort.
    idle_timeout: float | None = 300.0
    # After our FIN is acknowledged, how long to wait for the peer's.
    fin_wait_2_timeout: float = 60.0
    # RFC 9293 asks for 2 MSL (4 minutes). A short, bounded TIME-WAIT keeps
    # closed connections from piling up; a new SYN may reuse the 4-tuple
    # earlier still (RFC 6191).
    time_wait: float = 2.0

    # RFC 9293 section 3.8.6.3 / RFC 5681 section 4.2: ACK at least every
    # second segment, and no later than this.
    ack_delay: float = 0.04

    # RFC 6928: initial congestion window, in segments.
    initial_window: int = 10
    # The largest payload we send in one segment (an Ethernet MTU's worth);
    # the peer's MSS option lowers it.
    max_segment: int = 1460
    # A peer MSS below this is raised to it, as Linux's tcp_min_snd_mss does,
    # so a peer cannot make us send a segment per handful of bytes.
    min_segment: int = 64

    # Bytes `Connection.send` accepts before the peer acknowledges them.
    send_buffer: int = 131072
    # Separate blocks of out-of-order data kept at most; a new block beyond
    # this is dropped, and the peer sends it again.
    reassembly_blocks: int = 64


DEFAULT_CONFIG = TcpConfig()
