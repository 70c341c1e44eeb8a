"""The three-way handshake, SYN options negotiation, and half-open timers."""

from __future__ import annotations

import pytest

from vnet.tcp import Connection, PlainPersonality, TcpConfig
from vnet.wire import tcp
from vnet.wire.tcp import ACK, MSS, NOP, RST, SYN, TIMESTAMP, WSCALE, TcpOption

from .harness import (
    CLIENT,
    SERVER,
    Clock,
    ScriptedPeer,
    bare_syn_options,
    linux_syn_options,
    make_host,
    syn,
)


class FixedPersonality(PlainPersonality):
    """A personality that stamps a fixed ISN and a recognisable SYN-ACK."""

    def initial_sequence(self, now, local, remote):  # type: ignore[no-untyped-def]
        return 0xFFFFFFF0  # wraps 16 bytes into the connection

    def syn_ack(self, syn, now):  # type: ignore[no-untyped-def]
        return 5840, (TcpOption(MSS, 1200), TcpOption(NOP), TcpOption(WSCALE, 3))


def open_connection(
    options: tuple[TcpOption, ...], personality: PlainPersonality | None = None
) -> Connection:
    return Connection(
        syn(options=options),
        0.0,
        local_ip=SERVER,
        remote_ip=CLIENT,
        personality=personality or PlainPersonality(seed=1),
    )


def test_syn_gets_syn_ack_stamped_by_the_personality() -> None:
    connection = open_connection(linux_syn_options(), FixedPersonality())
    [reply] = connection.outgoing()
    assert reply.flags == SYN | ACK
    assert (reply.src_port, reply.dst_port) == (80, 40000)
    assert reply.seq == 0xFFFFFFF0
    assert reply.ack == 1001
    assert reply.window == 5840
    assert [o.kind for o in reply.options] == [MSS, NOP, WSCALE]
    assert connection.state == "SYN-RECEIVED"


def test_negotiates_what_both_sides_sent() -> None:
    connection = open_connection(linux_syn_options())
    assert connection.options_in_use == (7, 7, True, True)
    assert connection.mss == 1460 - 12  # timestamps take 12 bytes a segment


def test_window_scale_needs_both_sides() -> None:
    # The personality answers WS but the SYN offered none: no scaling.
    connection = open_connection(bare_syn_options(), FixedPersonality())
    assert connection.options_in_use == (0, 0, False, False)
    # The SYN offered WS and timestamps, the personality only WS: no TS.
    connection = open_connection(linux_syn_options(), FixedPersonality())
    assert connection.options_in_use == (7, 3, False, False)


def test_mss_defaults_to_536_and_is_clamped() -> None:
    assert open_connection(()).mss == 536
    assert open_connection(bare_syn_options(mss=9000)).mss == 1460
    assert open_connection(bare_syn_options(mss=1)).mss == 64


def test_shift_above_14_is_taken_as_14() -> None:
    options = (TcpOption(MSS, 1460), TcpOption(NOP), TcpOption(WSCALE, 30))
    assert open_connection(options).options_in_use[0] == 14


def test_third_ack_establishes_and_is_accepted() -> None:
    clock = Clock()
    host = make_host()
    peer = ScriptedPeer(host, clock)
    [syn_ack] = peer.syn()
    assert host.accept() == []
    assert host.half_open == 1
    assert peer.send() == []
    [connection] = host.accept()
    assert connection.state == "ESTABLISHED"
    assert host.half_open == 0
    assert connection.established


def test_data_on_the_third_segment_is_delivered() -> None:
    clock = Clock()
    peer = ScriptedPeer(make_host(), clock)
    peer.syn()
    peer.send(b"EHLO client.example\r\n")
    [connection] = peer.host.accept()
    assert connection.read() == b"EHLO client.example\r\n"


def test_sequence_numbers_wrap_through_zero() -> None:
    clock = Clock()
    host = make_host()
    host.personality = FixedPersonality()
    peer = ScriptedPeer(host, clock, isn=0xFFFFFFFA)
    connection = peer.handshake()
    peer.send(b"x" * 20)  # crosses 2**32 on the peer's side
    assert connection.read() == b"x" * 20
    connection.send(b"y" * 40, clock.now)  # and on ours
    [data] = peer.collect()
    assert data.seq == 0xFFFFFFF1 and data.ack == (0xFFFFFFFB + 20) & 0xFFFFFFFF
    assert peer.send(ack=(data.seq + 40) & 0xFFFFFFFF) == []
    assert connection.send_buffered == 0
    assert connection.bytes_sent == 40


class ZeroWindowPersonality(PlainPersonality):
    def syn_ack(self, syn, now):  # type: ignore[no-untyped-def]
        return 0, super().syn_ack(syn, now)[1]


def test_a_zero_window_syn_ack_is_opened_once_established() -> None:
    clock = Clock()
    host = make_host()
    host.personality = ZeroWindowPersonality(seed=1)
    peer = ScriptedPeer(host, clock)
    [syn_ack] = peer.syn()
    assert syn_ack.window == 0
    [update] = peer.send()
    assert update.flags == ACK and update.window == 131072 >> 7


def test_a_normal_syn_ack_needs_no_update() -> None:
    peer = ScriptedPeer(make_host(), Clock())
    peer.syn()
    assert peer.send() == []


def test_repeated_syn_gets_the_syn_ack_again() -> None:
    clock = Clock()
    peer = ScriptedPeer(make_host(), clock)
    [first] = peer.syn()
    [again] = peer.syn()
    assert again.seq == first.seq and again.flags == SYN | ACK
    assert peer.host.half_open == 1


def test_default_half_open_connection_is_gone_after_30_seconds() -> None:
    clock = Clock(0.0)
    host = make_host()
    peer = ScriptedPeer(host, clock)
    peer.syn()
    [connection] = host.connections()
    moments = [0.0]
    for _ in range(10):
        moments += [clock.now for _ in peer.wait(0.5)]
    while len(host):
        moments += [clock.now for _ in peer.wait(0.5)]
    # Linux's RTO doubling from 1 s; four retries fit in the 30 s bound.
    assert moments == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert clock.now == 30.0
    assert connection.close_reason == "timeout"


def test_syn_ack_retransmission_times_double() -> None:
    clock = Clock(0.0)
    host = make_host(TcpConfig(handshake_timeout=1000.0, synack_retries=5))
    peer = ScriptedPeer(host, clock)
    peer.syn()
    [connection] = host.connections()
    moments = []
    while not connection.closed:
        deadline = connection.deadline
        assert deadline is not None
        clock.now = deadline
        connection.on_deadline(deadline)
        if connection.outgoing():
            moments.append(deadline)
    assert moments == [1.0, 3.0, 7.0, 15.0, 31.0]
    assert connection.close_reason == "retries"


def test_handshake_timeout_drops_the_half_open_connection() -> None:
    clock = Clock(0.0)
    host = make_host(TcpConfig(handshake_timeout=5.0))
    peer = ScriptedPeer(host, clock)
    peer.syn()
    [connection] = host.connections()
    peer.wait(5.0)
    assert connection.close_reason == "timeout"
    assert len(host) == 0 and host.half_open == 0


def test_bad_ack_in_syn_received_gets_a_reset_and_changes_nothing() -> None:
    clock = Clock()
    peer = ScriptedPeer(make_host(), clock)
    peer.syn()
    [reset] = peer.send(ack=12345)
    assert reset.flags == RST and reset.seq == 12345
    assert peer.host.half_open == 1
    assert peer.send() == []  # the right ACK still completes it
    assert len(peer.host.accept()) == 1


def test_reset_in_syn_received_closes() -> None:
    clock = Clock()
    peer = ScriptedPeer(make_host(), clock)
    peer.syn()
    assert peer.send(flags=RST, advance=False) == []
    assert len(peer.host) == 0
    assert peer.host.accept() == []


def test_new_syn_on_a_half_open_tuple_starts_afresh() -> None:
    clock = Clock()
    peer = ScriptedPeer(make_host(), clock)
    peer.syn()
    [old] = peer.host.connections()
    # The client restarted with another ISN, inside our window.
    [reply] = peer.syn(seq=1000 + 500)
    assert reply.flags == SYN | ACK and reply.ack == 1501
    assert old.closed
    [new] = peer.host.connections()
    assert new is not old and new.state == "SYN-RECEIVED"


@pytest.mark.parametrize("flags", [SYN | tcp.FIN, 0, tcp.FIN, tcp.PSH | tcp.URG])
def test_listener_ignores_segments_without_a_lone_syn(flags: int) -> None:
    clock = Clock()
    host = make_host()
    host.receive(CLIENT, syn()._replace(flags=flags), clock.now)
    assert host.flush() == ([], [])
    assert len(host) == 0


def test_syn_ack_options_encode_with_timestamps_refreshed() -> None:
    clock = Clock(0.0)
    peer = ScriptedPeer(make_host(), clock)
    [first] = peer.syn()
    [second] = peer.wait(1.0)
    first_ts = first.option(TIMESTAMP)
    second_ts = second.option(TIMESTAMP)
    assert isinstance(first_ts, tuple) and isinstance(second_ts, tuple)
    assert second_ts[0] - first_ts[0] == 1000  # asked again, at 1000 Hz
