"""PlainPersonality: a Linux-like SYN-ACK for each shape of SYN."""

from __future__ import annotations

import pytest

from vnet.tcp import PlainPersonality
from vnet.wire import tcp
from vnet.wire.tcp import MSS, NOP, SACK_PERMITTED, TIMESTAMP, WSCALE, TcpOption

from .harness import CLIENT, SERVER, bare_syn_options, linux_syn_options, syn


def kinds(options: tuple[TcpOption, ...]) -> list[int]:
    return [option.kind for option in options]


def test_full_syn_gets_linux_order_and_window() -> None:
    window, options = PlainPersonality(seed=1).syn_ack(syn(), 5.0)
    # Linux: MSS, SACK_PERM, TS, NOP, WS, and 45 segments of 1448 bytes.
    assert kinds(options) == [MSS, SACK_PERMITTED, TIMESTAMP, NOP, WSCALE]
    assert options[0].value == 1460
    assert options[4].value == 7
    assert window == 65160


def test_timestamp_echoes_the_syn() -> None:
    personality = PlainPersonality(seed=1)
    _, options = personality.syn_ack(syn(options=linux_syn_options(tsval=4242)), 5.0)
    assert options[2].value == (personality.timestamp(5.0), 4242)


@pytest.mark.parametrize(
    ("offered", "expected", "window"),
    [
        (bare_syn_options(), [MSS], 64240),
        ((TcpOption(MSS, 1460), TcpOption(SACK_PERMITTED)), [MSS, NOP, NOP, 4], 64240),
        (
            (TcpOption(MSS, 1460), TcpOption(NOP), TcpOption(WSCALE, 2)),
            [MSS, NOP, WSCALE],
            64240,
        ),
        (
            (TcpOption(MSS, 1460), TcpOption(TIMESTAMP, (9, 0))),
            [MSS, NOP, NOP, TIMESTAMP],
            65160,
        ),
    ],
)
def test_answers_only_what_was_offered(
    offered: tuple[TcpOption, ...], expected: list[int], window: int
) -> None:
    answer_window, options = PlainPersonality().syn_ack(syn(options=offered), 0.0)
    assert kinds(options) == expected
    assert answer_window == window


def test_every_answer_encodes_to_whole_words() -> None:
    shapes = [linux_syn_options(), bare_syn_options(), ()]
    for offered in shapes:
        window, options = PlainPersonality().syn_ack(syn(options=offered), 0.0)
        segment = syn(options=options)._replace(window=window)
        encoded = tcp.emit(segment, SERVER, CLIENT)
        assert tcp.parse(encoded, SERVER, CLIENT).options == options


def test_timestamp_clock_ticks_at_1000_hz() -> None:
    personality = PlainPersonality(seed=3)
    first = personality.timestamp(10.0)
    assert (personality.timestamp(12.5) - first) & 0xFFFFFFFF == 2500


def test_seeded_isns_repeat_and_differ_by_seed() -> None:
    local, remote = (SERVER, 80), (CLIENT, 40000)

    def isns(seed: int) -> list[int]:
        personality = PlainPersonality(seed=seed)
        return [personality.initial_sequence(0.0, local, remote) for _ in range(3)]

    assert isns(1) == isns(1)
    assert isns(1) != isns(2)
    assert all(0 <= isn < 2**32 for isn in isns(1))
    assert len(set(isns(1))) == 3
