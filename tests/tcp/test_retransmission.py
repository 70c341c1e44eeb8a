"""Retransmission (RFC 6298) and congestion control (RFC 5681, RFC 6582)."""

from __future__ import annotations

import pytest

from vnet.tcp import Connection, TcpConfig
from vnet.wire.tcp import NOP, SACK, TIMESTAMP, TcpOption

from .harness import Clock, ScriptedPeer, bare_syn_options, make_host, relative

MASK = 0xFFFFFFFF
MSS = 1460


def established(
    rtt: float = 0.1, config: TcpConfig | None = None
) -> tuple[ScriptedPeer, Connection, Clock]:
    """A connection whose handshake took `rtt`; no options but MSS 1460."""
    clock = Clock(0.0)
    peer = ScriptedPeer(make_host(config), clock, options=bare_syn_options())
    peer.window = 65535
    peer.syn()
    clock.advance(rtt)
    peer.send()
    [connection] = peer.host.accept()
    return peer, connection, clock


def ack(peer: ScriptedPeer, offset: int, window: int = 65535) -> list:
    """ACK the server's stream up to `offset` (relative to its ISN)."""
    assert peer.server_isn is not None
    return peer.send(ack=(peer.server_isn + offset) & MASK, window=window)


def test_first_rto_after_a_measured_handshake() -> None:
    peer, connection, clock = established(rtt=0.1)
    connection.send(b"x" * 100, clock.now)
    peer.collect()
    # RFC 6298: SRTT 0.1, RTTVAR 0.05, RTO = 0.1 + 4 * 0.05 = 0.3.
    assert connection.deadline == pytest.approx(clock.now + 0.3)


def test_rto_floor_is_200_ms() -> None:
    peer, connection, clock = established(rtt=0.001)
    connection.send(b"x" * 100, clock.now)
    assert connection.deadline == pytest.approx(clock.now + 0.2)


def test_unmeasured_handshake_starts_at_3_seconds() -> None:
    clock = Clock(0.0)
    peer = ScriptedPeer(make_host(), clock, options=bare_syn_options())
    peer.syn()
    peer.wait(1.0)  # the SYN-ACK went again: no RTT sample (Karn)
    peer.send()
    [connection] = peer.host.accept()
    connection.send(b"x", clock.now)
    assert connection.deadline == pytest.approx(clock.now + 3.0)  # RFC 6298 5.7


def test_timeouts_double_until_the_retry_limit_then_close() -> None:
    peer, connection, clock = established(rtt=0.1)
    start = clock.now
    connection.send(b"x" * 100, start)
    peer.collect()
    moments = []
    while not connection.closed:
        deadline = connection.deadline
        assert deadline is not None
        clock.now = deadline
        connection.on_deadline(deadline)
        for segment in peer.collect():
            assert relative(segment, peer) == 1 and len(segment.payload) == 100
            moments.append(round(clock.now - start, 6))
    # 0.3 s doubling: 0.3, 0.9, 2.1, 4.5 ... eight retransmissions.
    gaps = [round(b - a, 6) for a, b in zip([0.0] + moments, moments, strict=False)]
    assert gaps == [0.3, 0.6, 1.2, 2.4, 4.8, 9.6, 19.2, 38.4]
    assert connection.close_reason == "retries"
    assert connection.retransmits == 8
    # The give-up itself is the ninth timeout, after another backoff.
    assert round(clock.now - start, 6) == round(moments[-1] + 60.0, 6)


def test_rto_max_caps_the_backoff() -> None:
    config = TcpConfig(rto_max=2.0, max_retries=5)
    peer, connection, clock = established(rtt=0.1, config=config)
    start = clock.now
    connection.send(b"x", start)
    peer.collect()
    moments = []
    while not connection.closed:
        clock.now = connection.deadline  # type: ignore[assignment]
        connection.on_deadline(clock.now)
        moments += [round(clock.now - start, 6) for _ in peer.collect()]
    assert moments == [0.3, 0.9, 2.1, 4.1, 6.1]


def flights(peer: ScriptedPeer, connection: Connection, count: int) -> list[int]:
    """Segments per round trip when every segment is ACKed one by one."""
    sizes = []
    pending = peer.collect()
    for _ in range(count):
        sizes.append(len(pending))
        peer.clock.advance(0.1)
        nxt = []
        for segment in pending:
            end = relative(segment, peer) + len(segment.payload)
            nxt += ack(peer, end)
        pending = nxt
    return sizes


def test_slow_start_grows_one_segment_per_ack() -> None:
    peer, connection, clock = established()
    connection.send(b"s" * 300 * MSS, clock.now)
    # IW10 (RFC 6928), then each ACK of a full segment adds one (RFC 5681).
    assert flights(peer, connection, 3) == [10, 20, 40]


def test_congestion_avoidance_grows_one_segment_per_round() -> None:
    config = TcpConfig(initial_window=4)
    peer, connection, clock = established(config=config)
    connection._ssthresh = 4 * MSS  # start in congestion avoidance
    connection.send(b"c" * 100 * MSS, clock.now)
    assert flights(peer, connection, 4) == [4, 5, 6, 7]


def test_three_duplicate_acks_retransmit_and_halve() -> None:
    peer, connection, clock = established()
    connection.send(b"f" * 30 * MSS, clock.now)
    first = peer.collect()
    assert len(first) == 10
    clock.advance(0.1)
    # Segment 1 is lost: the ones after it draw duplicate ACKs. The first
    # two each let one new segment out (RFC 3042, limited transmit).
    [new_1] = ack(peer, 1)
    [new_2] = ack(peer, 1)
    assert [relative(new_1, peer), relative(new_2, peer)] == [
        1 + 10 * MSS,
        1 + 11 * MSS,
    ]
    [retransmit] = ack(peer, 1)
    assert relative(retransmit, peer) == 1 and len(retransmit.payload) == MSS
    assert connection.retransmits == 1
    # ssthresh = flight / 2 = 6 MSS; cwnd = ssthresh + 3 MSS = 9, inflated
    # by one MSS per further duplicate: past the 12 in flight, new data.
    assert connection._ssthresh == 6 * MSS and connection._cwnd == 9 * MSS
    news = []
    for _ in range(6):
        news += ack(peer, 1)
    assert [relative(s, peer) for s in news] == [1 + k * MSS for k in (12, 13, 14)]
    # The retransmission repaired the hole: a full ACK ends recovery, and
    # cwnd drops to ssthresh (RFC 6582 3.2 step 3, option 2).
    more = ack(peer, 1 + 15 * MSS)
    assert connection._recover is None
    assert connection._cwnd == 6 * MSS
    assert len(more) == 6


def test_sacks_count_as_duplicates_even_when_the_window_moves() -> None:
    clock = Clock(0.0)
    peer = ScriptedPeer(make_host(), clock)  # a Linux SYN: SACK and TS
    connection = peer.handshake()
    connection.send(b"w" * 20 * connection.mss, clock.now)
    flight = peer.collect()
    mss = connection.mss

    def sack(count: int, window: int) -> list:
        edges = ((flight[1].seq, (flight[1].seq + count * mss) & MASK),)
        options = (
            TcpOption(NOP),
            TcpOption(NOP),
            TcpOption(TIMESTAMP, (peer.tsval(), peer.ts_recent)),
            TcpOption(NOP),
            TcpOption(NOP),
            TcpOption(SACK, edges),
        )
        return peer.send(ack=flight[0].seq, window=window, options=options)

    # Linux's window shrinks as its out-of-order queue fills: RFC 5681's
    # rule would not count these, RFC 6675's does.
    sack(1, 500)
    sack(2, 499)
    [retransmit, *_] = sack(3, 498)
    assert retransmit.seq == flight[0].seq
    assert connection._recover is not None


def test_sack_holes_go_again_one_per_ack_in_recovery() -> None:
    clock = Clock(0.0)
    peer = ScriptedPeer(make_host(), clock)
    connection = peer.handshake()
    connection.send(b"h" * 10 * connection.mss, clock.now)
    flight = peer.collect()
    assert len(flight) == 10

    def sack(*blocks: tuple[int, int]) -> list:
        edges = tuple(
            (flight[a].seq, (flight[b].seq + len(flight[b].payload)) & MASK)
            for a, b in blocks
        )
        options = (
            TcpOption(NOP),
            TcpOption(NOP),
            TcpOption(TIMESTAMP, (peer.tsval(), peer.ts_recent)),
            TcpOption(NOP),
            TcpOption(NOP),
            TcpOption(SACK, edges),
        )
        return peer.send(ack=flight[0].seq, options=options)

    # Segments 0, 3 and 6 are lost; the rest arrive and are SACKed.
    sack((1, 2))
    sack((4, 5), (1, 2))
    resent = sack((7, 9), (4, 5), (1, 2))
    resent += sack((7, 9), (4, 5), (1, 2))
    resent += sack((7, 9), (4, 5), (1, 2))
    starts = [s.seq for s in resent if s.seq in {f.seq for f in flight}]
    assert starts == [flight[0].seq, flight[3].seq, flight[6].seq]


def test_newreno_partial_ack_retransmits_the_next_hole() -> None:
    peer, connection, clock = established()
    connection.send(b"n" * 10 * MSS, clock.now)
    peer.collect()
    for _ in range(3):
        ack(peer, 1)  # segments 1 and 3 were lost
    [partial] = ack(peer, 1 + 2 * MSS)  # the retransmitted 1 arrived, and 2
    assert relative(partial, peer) == 1 + 2 * MSS
    assert connection.retransmits == 2
    assert connection._recover is not None
    ack(peer, 1 + 10 * MSS)
    assert connection._recover is None


def test_timeout_resets_cwnd_to_one_segment_and_goes_back() -> None:
    peer, connection, clock = established()
    connection.send(b"t" * 20 * MSS, clock.now)
    assert len(peer.collect()) == 10
    [resend] = peer.wait(0.3)
    assert relative(resend, peer) == 1
    assert connection._cwnd == MSS
    assert connection._ssthresh == 5 * MSS
    # The peer had everything after the first segment: one ACK catches up,
    # slow start resumes from there.
    more = ack(peer, 1 + 10 * MSS)
    assert [relative(s, peer) for s in more] == [1 + 10 * MSS, 1 + 11 * MSS]


def test_retransmitted_data_is_not_timed() -> None:
    peer, connection, clock = established(rtt=0.1)
    connection.send(b"k" * 100, clock.now)
    peer.collect()
    peer.wait(0.3)  # timeout, retransmit
    clock.advance(5.0)  # a very late ACK of the first copy
    ack(peer, 101)
    assert connection._srtt == pytest.approx(0.1)  # Karn: no 5 s sample
