"""SYN cookies: what the ISN and TSval carry, and what a check accepts."""

from __future__ import annotations

import pytest

from vnet.tcp import PlainPersonality
from vnet.tcp.cookies import MSS_TABLE, CookieOptions, SynCookies, rebuilt_syn
from vnet.wire.tcp import ACK, NOP, TIMESTAMP, TcpOption, TcpSegment

from .harness import CLIENT, SERVER, bare_syn_options, linux_syn_options, syn

MASK = 0xFFFFFFFF
COOKIES = SynCookies(b"sixteen byte key")


def answer(segment: TcpSegment, now: float = 100.0) -> TcpSegment:
    window, options = PlainPersonality(seed=1).syn_ack(segment, now)
    return COOKIES.answer(segment, CLIENT, SERVER, now, window, options)


def ack_for(segment: TcpSegment, syn_ack: TcpSegment) -> TcpSegment:
    options: tuple[TcpOption, ...] = ()
    stamp = syn_ack.option(TIMESTAMP)
    if isinstance(stamp, tuple):
        options = (TcpOption(NOP), TcpOption(NOP), TcpOption(TIMESTAMP, (9, stamp[0])))
    return TcpSegment(
        segment.src_port,
        segment.dst_port,
        (segment.seq + 1) & MASK,
        (syn_ack.seq + 1) & MASK,
        ACK,
        502,
        b"",
        options,
    )


def test_a_linux_syn_round_trips_through_isn_and_tsval() -> None:
    first = syn(seq=0xFFFFFFFF, options=linux_syn_options(mss=1400))
    syn_ack = answer(first)
    options = COOKIES.check(ack_for(first, syn_ack), CLIENT, SERVER, 130.0)
    assert options == CookieOptions(1380, 7, True, True)
    rebuilt = rebuilt_syn(ack_for(first, syn_ack), options)
    assert rebuilt.seq == 0xFFFFFFFF and rebuilt.src_port == first.src_port


@pytest.mark.parametrize(("mss", "expected"), [(None, 536), (1460, 1460), (1450, 1440)])
def test_mss_rounds_down_to_the_table(mss: int | None, expected: int) -> None:
    options = bare_syn_options(mss) if mss else ()
    first = syn(options=options)
    decoded = COOKIES.check(ack_for(first, answer(first)), CLIENT, SERVER, 100.0)
    assert decoded is not None and decoded.mss == expected
    assert expected in MSS_TABLE


def test_another_tuple_or_key_or_isn_fails() -> None:
    first = syn()
    ack = ack_for(first, answer(first))
    assert COOKIES.check(ack, CLIENT + 1, SERVER, 100.0) is None
    assert COOKIES.check(ack._replace(src_port=1), CLIENT, SERVER, 100.0) is None
    assert COOKIES.check(ack._replace(seq=5), CLIENT, SERVER, 100.0) is None
    other = SynCookies(b"another key here")
    assert other.check(ack, CLIENT, SERVER, 100.0) is None


def test_a_cookie_lives_one_to_two_64_second_steps() -> None:
    first = syn()
    # Made at the start of the step from 64 s: good through the next one.
    ack = ack_for(first, answer(first, now=64.0))
    assert COOKIES.check(ack, CLIENT, SERVER, 191.9) is not None
    assert COOKIES.check(ack, CLIENT, SERVER, 192.0) is None
    # Made at the end of that step: 64 s later it is one step old still.
    ack = ack_for(first, answer(first, now=127.9))
    assert COOKIES.check(ack, CLIENT, SERVER, 191.9) is not None
    assert COOKIES.check(ack, CLIENT, SERVER, 192.0) is None


def test_the_syn_ack_keeps_the_personalitys_window_and_layout() -> None:
    first = syn()
    window, options = PlainPersonality(seed=1).syn_ack(first, 100.0)
    syn_ack = answer(first)
    assert syn_ack.window == window
    assert [o.kind for o in syn_ack.options] == [o.kind for o in options]
