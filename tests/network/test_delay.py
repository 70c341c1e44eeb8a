"""The delay line: one sleeper, actions at their due time, lateness measured."""

from __future__ import annotations

import pytest

from tests.network.harness import FakeLoop
from vnet.network.delay import BUCKET, FOLD_AT, DelayLine, Lateness
from vnet.timers import TimerQueue


def make_line(limit=100):
    loop = FakeLoop()
    timers = TimerQueue(loop.call_at)
    timers.bind_clock(lambda: loop.now)
    line = DelayLine(lambda: loop.now, limit)
    line.bind(timers, lambda: loop.now)
    return loop, timers, line


def test_actions_run_at_their_due_time_in_due_order():
    loop, _, line = make_line()
    ran = []

    def action(item, due, now):
        ran.append((item, due, now))

    for due, item in ((0.030, "c"), (0.010, "a"), (0.020, "b"), (0.010, "a2")):
        line.push(due, action, item)
    loop.run_until(1.0)

    assert ran == [
        ("a", 0.010, 0.010),
        ("a2", 0.010, 0.010),
        ("b", 0.020, 0.020),
        ("c", 0.030, 0.030),
    ]
    assert line.lateness.total == 4
    assert line.lateness.largest == 0.0


def test_many_waiting_packets_cost_one_timer_entry():
    loop, timers, line = make_line(limit=10_000)
    for index in range(5000):
        line.push(1.0 + index * 1e-4, lambda item, due, now: None, index)
    assert len(timers) == 1
    assert len(line) == 5000


def test_actions_may_push_more_while_the_line_runs():
    loop, timers, line = make_line()
    ran = []

    def echo(item, due, now):
        ran.append((item, now))
        if item < 3:
            line.push(now + 0.005, echo, item + 1)

    line.push(0.001, echo, 0)
    loop.run_until(1.0)
    assert ran == [(0, 0.001), (1, 0.006), (2, 0.011), (3, pytest.approx(0.016))]


def test_a_full_line_refuses():
    _, _, line = make_line(limit=2)
    assert line.push(1.0, lambda *_: None, 1)
    assert line.push(1.0, lambda *_: None, 2)
    assert not line.push(1.0, lambda *_: None, 3)
    assert line.overflowed == 1


def test_lanes_and_the_heap_interleave_in_due_order():
    loop, timers, line = make_line()
    ran = []

    def action(item, due, now):
        ran.append((item, now))

    fast, slow = line.lane(action), line.lane(action)
    for index in range(3):
        fast.push(0.001 * (index + 1), f"fast{index}")
        slow.push(0.0016 * (index + 1), f"slow{index}")
    line.push(0.0025, action, "heap")
    assert len(line) == 7 and len(fast) == 3
    # A lane is one entry in the heap, however long it is.
    assert len(line._heap) == 3
    loop.run_until(1.0)

    order = [item for item, _ in ran]
    assert order == ["fast0", "slow0", "fast1", "heap", "fast2", "slow1", "slow2"]
    assert all(
        now == pytest.approx(due)
        for (_, now), due in zip(
            ran, (0.001, 0.0016, 0.002, 0.0025, 0.003, 0.0032, 0.0048), strict=True
        )
    )
    assert len(line) == 0 and line.lateness.total == 7


def test_a_lane_counts_against_the_line_limit_and_frees_as_it_runs():
    loop, _, line = make_line(limit=2)
    replies = []

    def answer(item, due, now):
        # Each item makes one more, as a request in makes a reply out.
        if item < 10:
            replies.append(lane.push(now + 0.001, item + 1))

    lane = line.lane(answer)
    assert lane.push(0.001, 0)
    assert lane.push(0.001, 5)
    assert not lane.push(0.002, 99)
    assert line.overflowed == 1
    loop.run_until(1.0)
    assert replies and all(replies)
    assert len(line) == 0


def test_lateness_is_measured_against_the_clock():
    clock = [0.0]
    line = DelayLine(lambda: clock[0])
    line.bind(
        type("Timers", (), {"watch": lambda self, sleeper: None})(), lambda: clock[0]
    )
    line.push(0.010, lambda *_: None, "late")
    clock[0] = 0.0123
    line.on_deadline(0.0123)
    assert line.lateness.largest == pytest.approx(0.0023)


def test_lateness_quantiles_in_10us_buckets():
    lateness = Lateness()
    for microseconds in range(1, 101):
        lateness.add(microseconds * 1e-6 * 10)  # 10 us .. 1000 us
    assert lateness.quantile(0.5) == pytest.approx(500e-6, abs=2 * BUCKET)
    assert lateness.quantile(0.99) == pytest.approx(990e-6, abs=2 * BUCKET)
    summary = lateness.summary()
    assert summary["count"] == 100
    assert summary["max_us"] == pytest.approx(1000.0)
    assert 490 <= summary["median_us"] <= 510


def test_very_late_work_lands_in_the_last_bucket():
    lateness = Lateness()
    lateness.add(5.0)
    lateness.add(-1e-9)
    assert lateness.counts[-1] == 1
    assert lateness.counts[0] == 1
    assert lateness.quantile(1.0) == 5.0


def test_an_untimed_lane_runs_its_action_on_the_item_alone():
    loop, _, line = make_line()
    sent = []
    lane = line.lane(sent.append, timed=False)

    lane.push(0.002, b"frame one")
    lane.push(0.003, b"frame two")
    loop.run_until(0.0025)
    assert sent == [b"frame one"]
    loop.run_until(1.0)

    assert sent == [b"frame one", b"frame two"]
    assert line.lateness.total == 2 and len(line) == 0


def test_lateness_counts_its_samples_into_buckets_as_they_pile_up():
    lateness = Lateness()
    # More than one batch of samples: 20 us each, then one at 3 ms.
    for _ in range(FOLD_AT + 10):
        lateness.add(20e-6)
    assert len(lateness.samples) == 10
    lateness.add(3e-3)

    assert lateness.total == FOLD_AT + 11
    assert lateness.counts[2] == FOLD_AT + 10 and lateness.counts[300] == 1
    assert lateness.samples == []
    assert lateness.largest == pytest.approx(3e-3)
    assert lateness.quantile(0.5) == pytest.approx(30e-6)
