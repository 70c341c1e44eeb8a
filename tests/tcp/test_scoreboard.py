"""The SACK scoreboard: merging blocks, pruning, and which holes look lost."""

from __future__ import annotations

from vnet.tcp.scoreboard import Scoreboard


def test_blocks_merge_and_report_news() -> None:
    board = Scoreboard()
    assert board.add(100, 200)
    assert not board.add(120, 180)  # nothing new
    assert board.add(200, 300)  # adjacent: merges
    assert board.add(400, 500)
    assert board.ranges == [(100, 300), (400, 500)]


def test_prune_drops_what_the_cumulative_ack_covers() -> None:
    board = Scoreboard()
    board.add(100, 200)
    board.add(300, 400)
    board.prune(150)
    assert board.ranges == [(150, 200), (300, 400)]
    board.prune(400)
    assert not board


def test_a_hole_is_lost_only_with_enough_sacked_above_it() -> None:
    board = Scoreboard()
    board.add(10, 20)
    board.add(30, 60)
    assert board.next_hole(0, evidence=40) == (0, 10)
    assert board.next_hole(15, evidence=30) == (20, 30)
    assert board.next_hole(15, evidence=31) is None  # only 30 bytes above
    assert board.next_hole(60, evidence=1) is None  # nothing known above
