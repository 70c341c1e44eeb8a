"""One direction of a virtual link: latency, jitter, loss and bandwidth.

A link is used both ways, and each way is a `Channel` with its own
settings, bandwidth state and counters, as a full-duplex line has.

- Latency is added to every packet; jitter moves it up or down by up to
  `jitter`, uniformly, and never below zero. The route a channel is on keeps
  its packets in order (see `routing`), so jitter does not reorder a flow,
  just as a queue on a real line does not.
- Loss drops each packet on its own with probability `loss`. A path of
  several lossy links drops what any of them drops, so losses compound.
- Bandwidth is a token bucket (the GCRA form of it, RFC 2697's single
  rate without the colours): a burst of `BURST_TIME` worth of bytes, and at
  least two full packets, passes at once; beyond that each packet waits for
  the bucket, in a queue of at most `queue` packets, and the next one is
  dropped, as a router's interface queue tail-drops.

Limitation: bandwidth counts IP packet bytes; Ethernet framing and the
inter-frame gap a real line also spends are not counted.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

BURST_TIME = 0.005
MIN_BURST = 3000


class TokenBucket:
    """A rate in bits per second, a burst, and a bounded queue of waiters."""

    __slots__ = ("rate", "tolerance", "limit", "_tat", "_leaving", "waited")

    def __init__(self, bits_per_second: float, queue: int) -> None:
        self.rate = bits_per_second / 8.0
        burst = max(MIN_BURST, self.rate * BURST_TIME)
        # GCRA: the bucket's "theoretical arrival time" may run at most this
        # far ahead of the clock; that is the burst, in seconds of the rate.
        self.tolerance = burst / self.rate
        self.limit = queue
        self._tat = 0.0
        self._leaving: deque[float] = deque()
        self.waited = 0.0

    def admit(self, size: int, arrival: float) -> float | None:
        """When `size` bytes arriving at `arrival` leave; None if the queue is full."""
        leaving = self._leaving
        while leaving and leaving[0] <= arrival:
            leaving.popleft()
        tat = self._tat if self._tat > arrival else arrival
        cost = size / self.rate
        # A packet needs its own size in tokens: it may leave once the
        # bucket, `tolerance` deep, has room for it.
        leave = tat - self.tolerance + cost
        if leave <= arrival:
            leave = arrival
        elif len(leaving) >= self.limit:
            return None
        else:
            leaving.append(leave)
            self.waited = max(self.waited, leave - arrival)
        self._tat = tat + cost
        return leave

    @property
    def waiting(self) -> int:
        return len(self._leaving)


class Channel:
    """One direction of a link, with its counters."""

    __slots__ = (
        "name",
        "latency",
        "jitter",
        "loss",
        "bucket",
        "packets",
        "bytes",
        "lost",
        "overflowed",
    )

    def __init__(
        self,
        name: str,
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
        bandwidth: float | None = None,
        queue: int = 64,
    ) -> None:
        self.name = name
        self.latency = latency
        self.jitter = jitter
        self.loss = loss
        self.bucket = TokenBucket(bandwidth, queue) if bandwidth else None
        self.packets = 0
        self.bytes = 0
        self.lost = 0
        self.overflowed = 0

    @classmethod
    def from_shape(cls, name: str, shape: Any) -> Channel:
        """A channel from a config LinkShape."""
        return cls(
            name,
            shape.latency,
            shape.jitter,
            shape.loss,
            shape.bandwidth,
            shape.queue,
        )

    def delay(self, rng: random.Random) -> float:
        """This packet's time on the link: latency, moved by jitter."""
        if not self.jitter:
            return self.latency
        delay = self.latency + rng.uniform(-self.jitter, self.jitter)
        return delay if delay > 0.0 else 0.0

    @property
    def idle(self) -> bool:
        """True when the channel has carried nothing and dropped nothing."""
        return not (self.packets or self.lost or self.overflowed)

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = {
            "packets": self.packets,
            "bytes": self.bytes,
            "lost": self.lost,
            "queue_full": self.overflowed,
        }
        if self.bucket is not None:
            counters["longest_wait_ms"] = round(self.bucket.waited * 1e3, 3)
        return counters
