"""TcpHost: demultiplexing, RSTs for strays, the SYN backlog, TIME-WAIT reuse."""

from __future__ import annotations

import tracemalloc

import pytest

from vnet.tcp import SynBudget, TcpHost, reset_for
from vnet.wire.tcp import (
    ACK,
    FIN,
    MSS,
    NOP,
    RST,
    SACK_PERMITTED,
    SYN,
    WSCALE,
    TcpOption,
    TcpSegment,
)

from .harness import (
    CLIENT,
    OTHER_CLIENT,
    SERVER,
    Clock,
    ScriptedPeer,
    bare_syn_options,
    make_host,
    syn,
)

MASK = 0xFFFFFFFF


def flood(host: TcpHost, count: int, now: float, first_port: int = 1024) -> None:
    for index in range(count):
        source = (CLIENT & ~0xFF) | (index % 250 + 1)
        host.receive(source, syn(port=first_port + index // 250, seq=index), now)
    host.flush()


def test_ack_to_a_listening_port_with_no_connection_is_reset() -> None:
    host = make_host()
    stray = TcpSegment(40000, 80, 5, 777, ACK, 100, b"late data")
    assert host.receive(CLIENT, stray, 0.0) is None
    segments, _ = host.flush()
    assert segments == [(CLIENT, TcpSegment(80, 40000, 777, 0, RST, 0))]
    assert host.resets_sent == 1


def test_reset_to_a_listening_port_is_never_answered() -> None:
    host = make_host()
    host.receive(CLIENT, TcpSegment(40000, 80, 5, 0, RST, 0), 0.0)
    assert host.flush() == ([], [])


def test_closed_ports_answer_like_rfc_9293() -> None:
    host = make_host(ports={80})
    host.receive(CLIENT, syn(dst_port=23, seq=100), 0.0)
    [(dst, reset)] = host.flush()[0]
    assert reset == TcpSegment(23, 40000, 0, 101, RST | ACK, 0)
    assert reset_for(TcpSegment(1, 2, 10, 0, FIN, 0, b"abc")).ack == 14


def test_connections_are_told_apart_by_address_and_ports() -> None:
    clock = Clock()
    host = make_host()
    first = ScriptedPeer(host, clock, port=40000).handshake()
    second = ScriptedPeer(host, clock, port=40001).handshake()
    third = ScriptedPeer(host, clock, port=40000, ip=OTHER_CLIENT).handshake()
    fourth = ScriptedPeer(host, clock, port=40000, server_port=25).handshake()
    assert len({id(c) for c in (first, second, third, fourth)}) == 4
    assert len(host) == 4
    assert host.find(OTHER_CLIENT, 40000, 80) is third


def test_flush_reports_every_touched_connection_once() -> None:
    clock = Clock()
    host = make_host()
    peer = ScriptedPeer(host, clock)
    connection = peer.handshake()
    host.flush()
    connection.send(b"a", clock.now)
    connection.send(b"b", clock.now)
    segments, changed = host.flush()
    assert changed == [connection]
    assert [segment.payload for _, segment in segments] == [b"a", b"b"]
    assert host.flush() == ([], [])


def test_closed_connections_leave_the_table_at_flush() -> None:
    clock = Clock()
    host = make_host()
    connection = ScriptedPeer(host, clock).handshake()
    connection.abort(clock.now)
    _, changed = host.flush()
    assert changed == [connection] and len(host) == 0


def test_without_cookies_the_backlog_drops_the_oldest() -> None:
    host = make_host(backlog=8, syn_cookies=False)
    flood(host, 20, 0.0)
    assert host.half_open == 8
    assert len(host) == 8
    assert host.evicted == 12
    # The survivors are the newest SYNs.
    kept = sorted(c._irs for c in host.connections())
    assert kept == list(range(12, 20))


def test_without_cookies_a_real_client_gets_in_after_a_flood() -> None:
    clock = Clock()
    host = make_host(backlog=16, syn_cookies=False)
    flood(host, 1000, clock.now)
    connection = ScriptedPeer(host, clock, ip=OTHER_CLIENT).handshake()
    assert connection.state == "ESTABLISHED"
    assert host.half_open == 15


def test_a_full_backlog_answers_with_syn_cookies() -> None:
    host = make_host(backlog=8)
    flood(host, 20, 0.0)
    assert host.half_open == 8  # the first eight, kept
    assert host.cookies_sent == 12
    assert host.evicted == 0
    kept = sorted(c._irs for c in host.connections())
    assert kept == list(range(8))


def test_a_real_client_gets_in_by_cookie_during_a_flood() -> None:
    clock = Clock()
    host = make_host(backlog=16)
    flood(host, 1000, clock.now)
    peer = ScriptedPeer(host, clock, ip=OTHER_CLIENT)
    [syn_ack] = peer.syn()
    assert host.find(OTHER_CLIENT, peer.port, 80) is None  # nothing kept
    flood(host, 5000, clock.now, first_port=5000)  # the flood goes on
    clock.advance(3.0)
    peer.send(b"GET / HTTP/1.0\r\n\r\n")
    [connection] = host.accept()
    assert connection.state == "ESTABLISHED"
    assert connection.read() == b"GET / HTTP/1.0\r\n\r\n"
    assert host.cookies_accepted == 1
    assert connection.options_in_use == (7, 7, True, True)  # kept in the TSval
    assert connection.mss == 1460 - 12
    connection.send(b"HTTP/1.0 200 OK\r\n\r\n", clock.now)
    [reply] = peer.collect()
    assert reply.seq == (syn_ack.seq + 1) & MASK
    assert reply.window == 131072 >> 7


def test_cookie_without_timestamps_offers_no_scaling_or_sack() -> None:
    clock = Clock()
    host = make_host(backlog=1)
    flood(host, 1, clock.now)
    options = (
        TcpOption(MSS, 1400),
        TcpOption(NOP),
        TcpOption(WSCALE, 7),
        TcpOption(SACK_PERMITTED),
        TcpOption(NOP),
        TcpOption(NOP),
    )
    peer = ScriptedPeer(host, clock, options=options)
    [syn_ack] = peer.syn()
    assert {o.kind for o in syn_ack.options} == {MSS, NOP}
    assert syn_ack.option(MSS) == 1460
    connection = peer.handshake_done()
    assert connection.options_in_use == (0, 0, False, False)
    assert connection.mss == 1380  # the table's step at or below 1400


def test_a_forged_or_stale_cookie_ack_gets_a_reset() -> None:
    clock = Clock()
    host = make_host(backlog=1)
    flood(host, 1, clock.now)
    peer = ScriptedPeer(host, clock)
    [syn_ack] = peer.syn()
    [reset] = peer.send(ack=(syn_ack.seq + 2) & MASK, advance=False)
    assert reset.flags == RST
    clock.advance(200.0)  # cookies last 64 to 128 s
    [reset] = peer.send()
    assert reset.flags == RST
    assert host.accept() == []


def test_first_data_segment_opens_a_cookie_connection_if_the_ack_was_lost() -> None:
    clock = Clock()
    host = make_host(backlog=1)
    flood(host, 1, clock.now)
    peer = ScriptedPeer(host, clock)
    peer.syn()
    peer.send(b"EHLO relay.example\r\n")  # the bare ACK never came
    [connection] = host.accept()
    assert connection.read() == b"EHLO relay.example\r\n"


def test_without_a_full_backlog_acks_are_not_taken_as_cookies() -> None:
    host = make_host()
    stray = TcpSegment(40000, 80, 5, 777, ACK, 100)
    host.receive(CLIENT, stray, 0.0)
    assert host.flush()[0] == [(CLIENT, TcpSegment(80, 40000, 777, 0, RST, 0))]


@pytest.mark.parametrize(("cookies", "kept"), [(True, [8, 2, 0]), (False, [0, 2, 8])])
def test_budget_bounds_half_open_connections_across_hosts(
    cookies: bool, kept: list[int]
) -> None:
    budget = SynBudget(total=10)
    hosts = [
        TcpHost(SERVER + index, backlog=8, budget=budget, syn_cookies=cookies)
        for index in range(3)
    ]
    for host in hosts:
        flood(host, 8, 0.0)
    assert len(budget) == 10
    assert sum(host.half_open for host in hosts) == 10
    # With cookies the first come keep their places, and the rest get
    # cookies; without, the oldest are dropped, whichever host holds them.
    assert [host.half_open for host in hosts] == kept
    assert budget.evicted == (0 if cookies else 14)


def test_established_connections_leave_the_budget() -> None:
    budget = SynBudget(total=2)
    clock = Clock()
    host = TcpHost(SERVER, budget=budget)
    ScriptedPeer(host, clock, port=1).handshake()
    ScriptedPeer(host, clock, port=2).handshake()
    ScriptedPeer(host, clock, port=3).handshake()
    assert len(budget) == 0 and len(host) == 3


@pytest.mark.parametrize("cookies", [True, False])
def test_flood_memory_stays_bounded(cookies: bool) -> None:
    host = make_host(backlog=256, syn_cookies=cookies)
    tracemalloc.start()
    flood(host, 2000, 0.0)
    during = tracemalloc.get_traced_memory()[0]
    flood(host, 16000, 1.0, first_port=2000)
    later = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert host.half_open == 256
    # 16000 more SYNs: a leak of 16 bytes each would show. What does show is
    # the interpreter's free lists filling up, a few hundred KB at most.
    assert later - during < 256 * 1024


def time_wait_peer(
    isn: int = 1000, timestamps: bool = True
) -> tuple[ScriptedPeer, TcpHost]:
    clock = Clock()
    host = make_host()
    options = None if timestamps else bare_syn_options()
    peer = ScriptedPeer(host, clock, isn=isn, options=options)
    connection = peer.handshake()
    connection.shutdown(clock.now)
    [fin] = peer.collect()
    peer.ack = (fin.seq + 1) & MASK
    peer.send(flags=FIN | ACK)
    assert connection.state == "TIME-WAIT"
    return peer, host


def test_new_syn_with_a_higher_sequence_reuses_time_wait() -> None:
    peer, host = time_wait_peer(timestamps=False)
    [old] = host.connections()
    [reply] = peer.syn(seq=(peer.seq + 100000) & MASK)
    assert reply.flags == SYN | ACK
    [new] = host.connections()
    assert new is not old and new.state == "SYN-RECEIVED"
    assert old.state == "CLOSED"


def test_new_syn_with_a_newer_timestamp_reuses_time_wait() -> None:
    peer, host = time_wait_peer(timestamps=True)
    peer.clock.advance(0.5)
    # An ISN below the old one, but a later timestamp: RFC 6191 accepts.
    [reply] = peer.syn(seq=(peer.seq - 5000) & MASK)
    assert reply.flags == SYN | ACK


def test_old_syn_on_time_wait_gets_an_ack_not_a_connection() -> None:
    peer, host = time_wait_peer(timestamps=False)
    [reply] = peer.syn(seq=(peer.seq - 5000) & MASK)
    assert reply.flags == ACK
    [connection] = host.connections()
    assert connection.state == "TIME-WAIT"


def open_idle(host: TcpHost, port: int, now: float) -> None:
    """Handshake, one request byte, read: then the connection sits idle."""
    host.receive(CLIENT, syn(port=port, seq=1000, options=None), now)
    [(_, syn_ack)] = host.flush()[0]
    ack = TcpSegment(port, 80, 1001, (syn_ack.seq + 1) & MASK, ACK, 502, b"x")
    host.receive(CLIENT, ack, now)
    [connection] = host.accept()
    connection.read()
    host.flush()


def test_idle_established_connection_is_small() -> None:
    clock = Clock()
    host = make_host()
    for port in range(1000, 1100):
        open_idle(host, port, clock.now)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for port in range(2000, 4000):
        open_idle(host, port, clock.now)
    clock.advance(1.0)
    for connection in host.connections():
        connection.on_deadline(clock.now)  # the delayed ACKs go
    host.flush()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # Connection, its numbers and the host's table entry: well under the
    # 3 KB budget for a whole idle connection, transport included.
    per_connection = (after - before) / 2000
    assert per_connection < 1200, per_connection
