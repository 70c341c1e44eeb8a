"""FIN and RST in every state, simultaneous close, TIME-WAIT and timeouts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vnet.tcp import Connection, TcpConfig
from vnet.wire import tcp
from vnet.wire.tcp import ACK, FIN, RST, SYN, TIMESTAMP, TcpOption

from .harness import Clock, ScriptedPeer, make_host, relative

MASK = 0xFFFFFFFF


def peer_and_clock(config: TcpConfig | None = None) -> tuple[ScriptedPeer, Clock]:
    clock = Clock(0.0)
    return ScriptedPeer(make_host(config), clock), clock


def our_fin(peer: ScriptedPeer) -> int:
    """The sequence number of the server's FIN, from what the peer saw."""
    return next(s for s in peer.received if s.flags & FIN).seq


# Each setup drives a fresh connection into one state.


def syn_received(peer: ScriptedPeer) -> None:
    peer.syn()
    peer.connection = next(peer.host.connections())


def established(peer: ScriptedPeer) -> None:
    peer.handshake()


def fin_wait_1(peer: ScriptedPeer) -> None:
    connection = peer.handshake()
    connection.shutdown(peer.clock.now)
    peer.collect()
    peer.ack = our_fin(peer)  # the peer has not seen our FIN


def fin_wait_2(peer: ScriptedPeer) -> None:
    fin_wait_1(peer)
    peer.ack = (our_fin(peer) + 1) & MASK
    peer.send()


def close_wait(peer: ScriptedPeer) -> None:
    peer.handshake()
    peer.send(flags=FIN | ACK)


def closing(peer: ScriptedPeer) -> None:
    fin_wait_1(peer)
    peer.send(flags=FIN | ACK)  # crosses our FIN


def last_ack(peer: ScriptedPeer) -> None:
    close_wait(peer)
    assert peer.connection is not None
    peer.connection.shutdown(peer.clock.now)
    peer.collect()
    peer.ack = our_fin(peer)


def time_wait(peer: ScriptedPeer) -> None:
    fin_wait_2(peer)
    peer.send(flags=FIN | ACK)


SETUPS: dict[str, Callable[[ScriptedPeer], None]] = {
    "SYN-RECEIVED": syn_received,
    "ESTABLISHED": established,
    "FIN-WAIT-1": fin_wait_1,
    "FIN-WAIT-2": fin_wait_2,
    "CLOSE-WAIT": close_wait,
    "CLOSING": closing,
    "LAST-ACK": last_ack,
    "TIME-WAIT": time_wait,
}


def connection_in(state: str) -> tuple[ScriptedPeer, Connection]:
    peer, _ = peer_and_clock()
    SETUPS[state](peer)
    connection = peer.connection
    assert connection is not None
    assert connection.state == state
    return peer, connection


# What a FIN from the peer does, and what retransmitted FINs do once it has
# been received (they carry the FIN's old sequence number).
FIN_RESULTS = {
    "SYN-RECEIVED": "CLOSE-WAIT",  # with the ACK of our SYN
    "ESTABLISHED": "CLOSE-WAIT",
    "FIN-WAIT-1": "CLOSING",
    "FIN-WAIT-2": "TIME-WAIT",
}
FIN_AGAIN = ["CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"]


@pytest.mark.parametrize(("state", "after"), FIN_RESULTS.items())
def test_fin_moves_to_the_next_state_and_is_acked(state: str, after: str) -> None:
    peer, connection = connection_in(state)
    replies = peer.send(flags=FIN | ACK)
    assert connection.state == after
    assert connection.eof_received
    assert replies and replies[-1].ack == peer.seq  # the FIN is acknowledged


@pytest.mark.parametrize("state", FIN_AGAIN)
def test_retransmitted_fin_is_acked_again(state: str) -> None:
    peer, connection = connection_in(state)
    [reply] = peer.send(flags=FIN | ACK, seq=(peer.seq - 1) & MASK)
    assert reply.flags & ACK and reply.ack == peer.seq
    assert connection.state == state


@pytest.mark.parametrize("state", SETUPS)
def test_exact_reset_closes_every_state(state: str) -> None:
    peer, connection = connection_in(state)
    assert peer.send(flags=RST, advance=False) == []
    assert connection.state == "CLOSED"
    # TIME-WAIT was an orderly close already; everything else was reset.
    expected = "fin" if state == "TIME-WAIT" else "reset"
    assert connection.close_reason == expected
    assert len(peer.host) == 0


@pytest.mark.parametrize("state", [s for s in SETUPS if s != "TIME-WAIT"])
def test_inexact_reset_draws_a_challenge_ack(state: str) -> None:
    peer, connection = connection_in(state)
    [challenge] = peer.send(flags=RST, seq=(peer.seq + 100) & MASK)
    assert challenge.flags == ACK and challenge.ack == peer.seq  # RFC 5961 3.2
    assert connection.state == state


def test_reset_outside_the_window_is_ignored() -> None:
    peer, connection = connection_in("ESTABLISHED")
    assert peer.send(flags=RST, seq=(peer.seq + 10**6) & MASK) == []
    assert connection.state == "ESTABLISHED"


def test_syn_on_an_established_connection_draws_a_challenge_ack() -> None:
    peer, connection = connection_in("ESTABLISHED")
    [challenge] = peer.send(flags=SYN, seq=(peer.seq + 5) & MASK)
    assert challenge.flags == ACK and challenge.ack == peer.seq  # RFC 5961 4.2
    assert connection.state == "ESTABLISHED"


def test_ack_of_unsent_data_is_answered_and_dropped() -> None:
    peer, connection = connection_in("ESTABLISHED")
    assert peer.server_isn is not None
    [reply] = peer.send(b"data", ack=(peer.server_isn + 5000) & MASK, advance=False)
    assert reply.ack == peer.seq  # the data was not taken
    assert connection.read() == b""


def test_old_timestamp_is_rejected_by_paws() -> None:
    peer, connection = connection_in("ESTABLISHED")
    peer.send(b"new")
    old = (TcpOption(tcp.NOP), TcpOption(tcp.NOP), TcpOption(TIMESTAMP, (1, 0)))
    [reply] = peer.send(b"old", options=old, advance=False)
    assert reply.ack == peer.seq
    assert connection.read() == b"new"


def test_simultaneous_close_ends_in_time_wait() -> None:
    peer, connection = connection_in("ESTABLISHED")
    connection.shutdown(peer.clock.now)
    [fin] = peer.collect()
    # The peer's FIN was sent before ours arrived: it does not ACK ours.
    peer.ack = fin.seq
    [ack_of_theirs] = peer.send(flags=FIN | ACK)
    assert connection.state == "CLOSING"
    assert ack_of_theirs.ack == peer.seq
    peer.ack = (fin.seq + 1) & MASK
    peer.send()
    assert connection.state == "TIME-WAIT"
    assert connection.closed and connection.close_reason == "fin"


def test_time_wait_is_short_and_then_forgotten() -> None:
    peer, connection = connection_in("TIME-WAIT")
    start = peer.clock.now
    assert connection.deadline == start + 2.0
    peer.wait(1.9)
    assert len(peer.host) == 1
    peer.wait(0.1)
    assert connection.state == "CLOSED" and len(peer.host) == 0


def test_retransmitted_fin_restarts_time_wait() -> None:
    peer, connection = connection_in("TIME-WAIT")
    peer.wait(1.5)
    peer.send(flags=FIN | ACK, seq=(peer.seq - 1) & MASK)
    assert connection.deadline == peer.clock.now + 2.0


def test_our_fin_is_retransmitted_until_acked() -> None:
    peer, connection = connection_in("FIN-WAIT-1")
    # The handshake took no time here, so the RTO is its 200 ms floor.
    [again] = peer.wait(0.2)
    assert again.flags & FIN and again.seq == our_fin(peer)
    peer.ack = (again.seq + 1) & MASK
    peer.send()
    assert connection.state == "FIN-WAIT-2"


def test_fin_waits_for_queued_data() -> None:
    peer, connection = connection_in("ESTABLISHED")
    peer.send(window=0)
    connection.send(b"last words", peer.clock.now)
    connection.shutdown(peer.clock.now)
    assert peer.collect() == []  # the window is shut: neither goes
    replies = peer.send(window=65535 >> 7)
    assert b"".join(s.payload for s in replies) == b"last words"
    assert replies[-1].flags & FIN
    assert relative(replies[-1], peer) + len(replies[-1].payload) == 11


def test_fin_wait_2_gives_up_on_a_silent_peer() -> None:
    peer, clock = peer_and_clock(TcpConfig(fin_wait_2_timeout=60.0))
    fin_wait_2(peer)
    connection = peer.connection
    assert connection is not None
    peer.wait(59.9)
    assert connection.state == "FIN-WAIT-2"
    peer.wait(0.1)
    assert connection.close_reason == "timeout"


def test_sixty_second_idle_timeout_runs_in_no_time() -> None:
    peer, clock = peer_and_clock(TcpConfig(idle_timeout=60.0))
    connection = peer.handshake()
    peer.send(b"hello")
    peer.wait(1.0)  # the delayed ACK
    quiet_since = clock.now - 1.0
    # Nothing happens for a minute: one deadline, no ticks in between.
    assert connection.deadline == pytest.approx(quiet_since + 60.0)
    assert peer.wait(58.9) == []
    [reset] = peer.wait(0.2)
    assert reset.flags & RST
    assert connection.close_reason == "timeout"
    assert len(peer.host) == 0


def test_abort_sends_reset_and_forgets() -> None:
    peer, connection = connection_in("ESTABLISHED")
    connection.abort(peer.clock.now)
    [reset] = peer.collect()
    assert reset.flags & RST and reset.seq == (peer.server_isn + 1) & MASK  # type: ignore[operator]
    assert connection.close_reason == "aborted"
    assert len(peer.host) == 0


def test_segments_after_close_are_answered_by_the_listener() -> None:
    peer, connection = connection_in("ESTABLISHED")
    connection.abort(peer.clock.now)
    peer.collect()
    [reset] = peer.send(b"anyone?")
    assert reset.flags == RST
