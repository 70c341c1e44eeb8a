"""Data both ways: ordering, trimming, ACK timing, SACK, flow control."""

from __future__ import annotations

import pytest

from vnet.tcp import Connection, TcpConfig, TcpStateError
from vnet.wire import tcp
from vnet.wire.tcp import ACK, FIN, PSH, SACK, TcpOption

from .harness import Clock, ScriptedPeer, bare_syn_options, make_host, relative

MASK = 0xFFFFFFFF


def established(
    config: TcpConfig | None = None,
    options: tuple[TcpOption, ...] | None = None,
) -> tuple[ScriptedPeer, Connection, Clock]:
    clock = Clock()
    peer = ScriptedPeer(make_host(config), clock, options=options)
    connection = peer.handshake()
    return peer, connection, clock


def test_in_order_data_is_read_once() -> None:
    peer, connection, _ = established()
    peer.send(b"hello ")
    peer.send(b"world")
    assert connection.readable == 11
    assert connection.read() == b"hello world"
    assert connection.read() == b""
    assert connection.bytes_received == 11


def test_one_segment_is_acked_after_the_delay() -> None:
    peer, connection, clock = established()
    assert peer.send(b"x" * 100) == []
    assert connection.deadline == pytest.approx(clock.now + 0.04)
    [ack] = peer.wait(0.04)
    assert ack.flags == ACK and ack.ack == peer.seq


def test_every_second_segment_is_acked_at_once() -> None:
    peer, _, _ = established()
    assert peer.send(b"a" * 1448) == []
    [ack] = peer.send(b"b" * 1448)
    assert ack.ack == peer.seq


def test_reply_carries_the_pending_ack() -> None:
    peer, connection, clock = established()
    peer.send(b"GET / HTTP/1.0\r\n\r\n")
    assert connection.read() == b"GET / HTTP/1.0\r\n\r\n"
    connection.send(b"HTTP/1.0 200 OK\r\n\r\n", clock.now)
    [reply] = peer.collect()
    assert reply.flags == ACK | PSH and reply.ack == peer.seq
    assert peer.wait(0.1) == []  # no separate delayed ACK follows


def test_out_of_order_data_waits_for_the_gap_with_sack() -> None:
    peer, connection, _ = established()
    start = peer.seq
    [dup] = peer.send(b"BBBB", seq=(start + 4) & MASK, advance=False)
    assert dup.ack == start  # a duplicate ACK, at once
    blocks = dup.option(SACK)
    assert blocks == (((start + 4) & MASK, (start + 8) & MASK),)
    assert connection.read() == b""
    [ack] = peer.send(b"AAAA", seq=start, advance=False)
    assert ack.ack == (start + 8) & MASK  # the gap filled: ACK at once
    assert ack.option(SACK) is None
    assert connection.read() == b"AAAABBBB"


def test_sack_lists_three_blocks_newest_first() -> None:
    peer, _, _ = established()
    start = peer.seq
    for offset in (10, 30, 20, 40):
        [dup] = peer.send(b"zz", seq=(start + offset) & MASK, advance=False)
    lefts = [(left - start) & MASK for left, _ in dup.option(SACK)]  # type: ignore[union-attr]
    assert lefts == [40, 10, 20]  # three fit beside timestamps


def test_duplicates_and_overlaps_are_trimmed() -> None:
    peer, connection, _ = established()
    start = peer.seq
    peer.send(b"0123456789", seq=start, advance=False)
    [dup] = peer.send(b"0123456789", seq=start, advance=False)
    assert dup.ack == (start + 10) & MASK
    peer.send(b"56789abcde", seq=(start + 5) & MASK, advance=False)
    peer.send(b"cdefgh", seq=(start + 12) & MASK, advance=False)
    assert connection.read() == b"0123456789abcdefgh"


def test_data_beyond_the_window_is_cut() -> None:
    peer, connection, _ = established(options=bare_syn_options())
    # The SYN-ACK offered 64240 bytes: a segment running past that window
    # loses its tail.
    [ack] = peer.send(b"q" * 70000, advance=False) or peer.wait(0.04)
    assert connection.readable == 64240
    assert ack.ack == (peer.seq + 64240) & MASK
    # The 1295 bytes left of the 65535-byte buffer are less than an MSS, too
    # little to offer (receiver SWS avoidance): the window shows 0.
    assert ack.window == 0
    peer.seq = ack.ack
    [ack] = peer.send(b"r" * 5000, advance=False)
    assert connection.readable == 64240
    assert ack.ack == peer.seq and ack.window == 0
    assert connection.read() == b"q" * 64240


def fill_window(peer: ScriptedPeer) -> None:
    """Send exactly the SYN-ACK's 64240-byte window."""
    peer.send(b"q" * 32120)
    peer.send(b"q" * 32120)


def test_zero_window_still_takes_acks() -> None:
    peer, connection, clock = established(options=bare_syn_options())
    fill_window(peer)
    connection.send(b"reply", clock.now)
    [data] = peer.collect()
    assert data.window == 0
    # An ACK at RCV.NXT gets in through a shut window; its data would not.
    peer.send(b"more", ack=(data.seq + 5) & MASK, advance=False)
    assert connection.send_buffered == 0
    assert connection.readable == 64240


def test_reading_reopens_a_shut_window_with_an_update() -> None:
    peer, connection, clock = established(options=bare_syn_options())
    fill_window(peer)
    [ack] = peer.received[-1:]
    assert ack.window == 0  # 1295 bytes free is too little to announce
    connection.read(clock.now)
    [update] = peer.collect()
    assert update.flags == ACK and update.window == 65535


def test_small_read_sends_no_update_while_the_window_is_wide() -> None:
    peer, connection, clock = established()
    peer.send(b"q" * 1000)
    connection.read(clock.now)
    assert peer.collect() == []


def test_we_never_send_beyond_the_peers_window() -> None:
    peer, connection, clock = established()
    peer.send(window=1000 >> 7)  # 896 bytes after scaling
    connection.send(b"d" * 5000, clock.now)
    segments = peer.collect()
    assert sum(len(s.payload) for s in segments) == 896
    # The window opens: the rest follows, up to the new edge.
    rest = peer.send(ack=(segments[-1].seq + 896) & MASK, window=65535 >> 7)
    assert sum(len(s.payload) for s in rest) == 5000 - 896


def test_segments_respect_the_peers_mss() -> None:
    peer, connection, clock = established(options=bare_syn_options(mss=500))
    connection.send(b"m" * 2000, clock.now)
    sizes = [len(s.payload) for s in peer.collect()]
    assert sizes == [500, 500, 500, 500]
    assert [s.flags & PSH for s in peer.received[-4:]] == [0, 0, 0, PSH]


def test_initial_window_is_ten_segments() -> None:
    peer, connection, clock = established(options=bare_syn_options())
    peer.window = 65535
    connection.send(b"i" * 100000, clock.now)
    assert len(peer.collect()) == 10


def test_send_buffer_is_bounded() -> None:
    peer, connection, clock = established(TcpConfig(send_buffer=10000))
    assert connection.send(b"s" * 25000, clock.now) == 10000
    assert connection.send_space == 0
    assert connection.send(b"more", clock.now) == 0
    [first, *_] = peer.collect()
    peer.send(ack=(first.seq + 4000) & MASK)
    assert connection.send_space == 4000


def test_send_after_shutdown_is_our_bug() -> None:
    _, connection, clock = established()
    connection.shutdown(clock.now)
    with pytest.raises(TcpStateError):
        connection.send(b"late", clock.now)


def test_send_after_the_peer_reset_accepts_nothing() -> None:
    peer, connection, clock = established()
    peer.send(flags=tcp.RST, advance=False)
    assert connection.close_reason == "reset"
    assert connection.send(b"late", clock.now) == 0


def probe_times(
    peer: ScriptedPeer, connection: Connection, count: int, answer: bool
) -> list[float]:
    """Step through `count` probes; the peer answers each with window 0."""
    clock = peer.clock
    start = clock.now
    times = []
    while len(times) < count and not connection.closed:
        deadline = connection.deadline
        assert deadline is not None
        clock.now = deadline
        connection.on_deadline(deadline)
        for probe in peer.collect():
            assert len(probe.payload) == 1 and relative(probe, peer) == 1
            times.append(round(clock.now - start, 3))
            if answer:
                peer.send(ack=probe.seq, window=0)  # not taken
    return times


def test_zero_window_probes_back_off_while_the_peer_answers() -> None:
    peer, connection, clock = established()
    peer.send(window=0)
    connection.send(b"p" * 3000, clock.now)
    assert peer.collect() == []
    # The handshake took no time, so the RTO is its 200 ms floor.
    times = probe_times(peer, connection, 12, answer=True)
    assert times[:5] == [0.2, 0.6, 1.4, 3.0, 6.2]
    assert len(times) == 12  # more than max_retries: answered probes go on
    assert connection.state == "ESTABLISHED"
    rest = peer.send(window=65535 >> 7)  # and it takes the probe's byte
    assert sum(len(s.payload) for s in rest) == 2999


def test_an_opened_window_gets_a_fresh_rto() -> None:
    peer, connection, clock = established()
    peer.send(window=0)
    connection.send(b"p" * 3000, clock.now)
    probe_times(peer, connection, 6, answer=True)  # the persist timer at 12.8 s
    last_probe = peer.received[-1]
    # A window update that takes nothing new: only the window changes.
    sent = peer.send(ack=last_probe.seq, window=65535 >> 7)
    assert sum(len(s.payload) for s in sent) == 2999
    assert connection.deadline == pytest.approx(clock.now + 0.2)


def test_unanswered_probes_give_up() -> None:
    peer, connection, clock = established()
    peer.send(window=0)
    connection.send(b"p" * 3000, clock.now)
    times = probe_times(peer, connection, 20, answer=False)
    assert len(times) == 8  # max_retries
    assert connection.close_reason == "retries"


def test_fin_after_data_is_delivered_after_the_data() -> None:
    peer, connection, _ = established()
    start = peer.seq
    peer.send(b"tail", flags=ACK | FIN, seq=(start + 4) & MASK, advance=False)
    assert not connection.eof_received
    peer.send(b"head", seq=start, advance=False)
    assert connection.eof_received
    assert connection.read() == b"headtail"
    assert connection.state == "CLOSE-WAIT"
