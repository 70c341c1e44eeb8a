"""Token buckets and link channels on their own."""

from __future__ import annotations

import random

import pytest

from vnet.network.links import Channel, TokenBucket


def test_a_rested_bucket_passes_its_burst_at_once():
    bucket = TokenBucket(1e6, queue=10)  # 125,000 bytes/s, 3,000-byte burst
    assert [bucket.admit(1000, 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.admit(1000, 0.0) == pytest.approx(0.008)


def test_a_busy_bucket_runs_at_its_rate():
    bucket = TokenBucket(8e6, queue=1000)  # 1,000,000 bytes/s
    leaving = [bucket.admit(1250, 0.0) for _ in range(400)]
    # The burst is 5 ms of the rate, 5,000 bytes: four packets leave at once,
    # then one every 1.25 ms.
    assert leaving[:5] == [0.0, 0.0, 0.0, 0.0, pytest.approx(0.00125)]
    gaps = [
        later - earlier
        for earlier, later in zip(leaving[4:], leaving[5:], strict=False)
    ]
    assert gaps == pytest.approx([0.00125] * len(gaps))
    assert leaving[-1] == pytest.approx((400 * 1250 - 5000) / 1e6)


def test_the_queue_is_bounded_and_drains_with_time():
    bucket = TokenBucket(1.2e6, queue=2)  # a 1500-byte packet every 10 ms
    results = [bucket.admit(1500, 0.0) for _ in range(5)]
    assert results == [0.0, 0.0, pytest.approx(0.01), pytest.approx(0.02), None]
    assert bucket.waiting == 2
    assert bucket.admit(1500, 0.0101) == pytest.approx(0.03)
    assert bucket.waited == pytest.approx(0.02)


def test_a_bucket_recovers_its_burst_when_idle():
    bucket = TokenBucket(1.2e6, queue=5)
    for _ in range(4):
        bucket.admit(1500, 0.0)
    assert bucket.admit(1500, 1.0) == 1.0
    assert bucket.admit(1500, 1.0) == 1.0


def test_a_channel_without_jitter_adds_its_latency_exactly():
    channel = Channel("a->b", latency=0.004)
    assert channel.delay(random.Random(1)) == 0.004
    assert channel.bucket is None


def test_jitter_stays_within_its_bounds_and_above_zero():
    rng = random.Random(2)
    channel = Channel("a->b", latency=0.001, jitter=0.003)
    delays = [channel.delay(rng) for _ in range(2000)]
    assert min(delays) == 0.0
    assert max(delays) <= 0.004
    assert 0.001 < sum(delays) / len(delays) < 0.002


def test_counters():
    channel = Channel("a->b", bandwidth=1e6, queue=3)
    assert channel.idle
    channel.packets, channel.bytes = 2, 3000
    assert channel.counters() == {
        "packets": 2,
        "bytes": 3000,
        "lost": 0,
        "queue_full": 0,
        "longest_wait_ms": 0.0,
    }
    assert not channel.idle
