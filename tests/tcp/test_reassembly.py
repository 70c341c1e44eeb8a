"""The out-of-order queue: merging, overlaps, its bound, SACK order."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from vnet.tcp.reassembly import Reassembly


def blocks(queue: Reassembly) -> list[tuple[int, bytes]]:
    return list(zip(queue.starts, queue.blocks, strict=True))


def test_adjacent_and_overlapping_segments_merge() -> None:
    queue = Reassembly()
    queue.add(10, b"abc", 8)
    queue.add(20, b"xyz", 8)
    assert blocks(queue) == [(10, b"abc"), (20, b"xyz")]
    queue.add(13, b"defghij", 8)  # fills 13..19 exactly: one block
    assert blocks(queue) == [(10, b"abcdefghijxyz")]


def test_bytes_received_first_win_an_overlap() -> None:
    queue = Reassembly()
    queue.add(10, b"AAAA", 8)
    queue.add(8, b"bbbbbbbb", 8)  # covers 8..15, overlapping 10..13
    assert blocks(queue) == [(8, b"bbAAAAbb")]


def test_limit_refuses_a_new_block_but_still_merges() -> None:
    queue = Reassembly()
    queue.add(10, b"a", 2)
    queue.add(20, b"b", 2)
    assert not queue.add(30, b"c", 2)
    assert queue.add(21, b"c", 2)  # touches an existing block
    assert blocks(queue) == [(10, b"a"), (20, b"bc")]


def test_pop_from_takes_what_is_now_in_order() -> None:
    queue = Reassembly()
    queue.add(10, b"klm", 8)
    queue.add(20, b"uv", 8)
    end, taken = queue.pop_from(11)  # byte 10 already delivered
    assert (end, taken) == (13, [b"lm"])
    assert blocks(queue) == [(20, b"uv")]
    assert queue.pop_from(15) == (15, [])


def test_sack_blocks_report_the_newest_first() -> None:
    queue = Reassembly()
    for start in (100, 300, 200):
        queue.add(start, b"x" * 10, 8)
    assert queue.sack_blocks(3) == [(200, 210), (100, 110), (300, 310)]
    assert queue.sack_blocks(2) == [(200, 210), (100, 110)]


@given(
    st.binary(min_size=1, max_size=300),
    st.lists(st.tuples(st.integers(0, 299), st.integers(1, 40)), max_size=60),
    st.randoms(use_true_random=False),
)
def test_any_order_of_pieces_rebuilds_the_stream(
    data: bytes, pieces: list[tuple[int, int]], rng: random.Random
) -> None:
    # Cover the whole stream, then add random overlapping pieces, shuffled.
    cuts = [(i, 7) for i in range(0, len(data), 7)] + pieces
    rng.shuffle(cuts)
    queue = Reassembly()
    for start, size in cuts:
        piece = data[start : start + size]
        if piece and start > 0:
            queue.add(start, piece, 1000)
    end, taken = queue.pop_from(min(7, len(data)))
    rebuilt = data[:7] + b"".join(taken)
    assert end == len(data)
    assert rebuilt == data
    assert len(queue) == 0
