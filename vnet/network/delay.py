"""The delay line: every packet that must wait, in one heap.

Packets held back by latency, bandwidth or shaping wait here as
(due, order, action, item). The line is one sleeper on the engine's timer
queue, whose deadline is the earliest due time, so any number of waiting
packets costs one timer: no thread, no task and no sleep per packet.

Most packets wait in a `Lane`: the packets of one route, which leave in
the order they came (a route never reorders), so they queue first-in,
first-out and only the first of them is in the heap. A packet in a lane
costs an append and a pop, where the heap costs a sift each way.

When the line is woken it runs every action that has come due, and measures
how late each one ran against its due time. That lateness is the scheduling
error an observer could see; honeyd's 10 ms timer steps were enough to tell
it apart from a real network, so `Lateness` keeps it as a histogram, fine
enough (10 microseconds) to show a median and a 99th percentile.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import operator
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Protocol

Action = Callable[[Any, float, float], None]

BUCKET = 10e-6
BUCKETS = 10_000  # up to 100 ms in 10 us steps; later than that is one bucket
MAX_WAITING = 262_144
# Lateness samples kept before they are counted into buckets. Counting
# takes about 60 ns a sample, and runs between two packets: 1,024 at a
# time holds the next packet back some 60 us, where 4,096 held it 250 us,
# and showed in the 99th percentile.
FOLD_AT = 1024
# Seconds, in buckets: times 100,000, which 1 / BUCKET is not quite in floats.
_IN_BUCKETS = functools.partial(operator.mul, 100_000.0)


class Watcher(Protocol):
    """The engine's timer queue, as the delay line uses it."""

    def watch(self, sleeper: Any) -> None: ...


class Lateness:
    """A histogram of how late scheduled work ran, in 10 us buckets.

    The delay line appends each lateness to `samples`, which costs one call
    per packet. They are counted into the buckets FOLD_AT at a time, by
    loops that run in C (`fold`), and before anything reads the figures.
    """

    __slots__ = ("samples", "_counts", "_folded", "_largest")

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._counts = [0] * (BUCKETS + 1)
        self._folded = 0
        self._largest = 0.0

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        self.fold_when_full()

    def fold_when_full(self) -> None:
        """Fold once FOLD_AT samples wait: called after samples are appended."""
        if len(self.samples) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Count the samples waiting into their buckets."""
        samples = self.samples
        if not samples:
            return
        self._largest = max(self._largest, max(samples))
        counts = self._counts
        # Each sample's bucket: seconds / BUCKET, truncated; int() rounds a
        # negative one towards 0, and the bucket is at least 0 anyway.
        buckets = Counter(map(int, map(_IN_BUCKETS, samples)))
        for bucket, count in buckets.items():
            counts[min(max(bucket, 0), BUCKETS)] += count
        self._folded += len(samples)
        samples.clear()

    @property
    def counts(self) -> list[int]:
        """Samples per bucket; the last bucket holds everything later."""
        self.fold()
        return self._counts

    @property
    def total(self) -> int:
        return self._folded + len(self.samples)

    @property
    def largest(self) -> float:
        self.fold()
        return self._largest

    def quantile(self, share: float) -> float:
        """The lateness (seconds, upper edge of its bucket) below which `share` lies."""
        self.fold()
        if not self._folded:
            return 0.0
        rank = share * self._folded
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank and count:
                if index == BUCKETS:
                    break
                return min((index + 1) * BUCKET, self._largest)
        return self._largest

    def summary(self) -> dict[str, float | int]:
        return {
            "count": self.total,
            "median_us": round(self.quantile(0.5) * 1e6, 1),
            "p99_us": round(self.quantile(0.99) * 1e6, 1),
            "max_us": round(self.largest * 1e6, 1),
        }


class Lane:
    """Items due in the order they are pushed: `push` never goes back in time.

    Every item of a lane has the same action, run as `action(item, due, now)`;
    a lane made with `timed=False` runs it as `action(item)`, for actions
    that need no times (a frame's transmission).
    """

    __slots__ = ("line", "action", "timed", "waiting", "queued")

    def __init__(self, line: DelayLine, action: Callable, timed: bool = True) -> None:
        self.line = line
        self.action = action
        self.timed = timed
        self.waiting: deque[tuple[float, Any]] = deque()
        # Whether the first item waiting has its entry in the line's heap.
        self.queued = False

    def push(self, due: float, item: Any) -> bool:
        """Run the lane's action on `item` at `due`; False if the line is full.

        `due` is not before that of any item pushed before it.
        """
        line = self.line
        if line.count >= line.limit:
            line.overflowed += 1
            return False
        line.count += 1
        self.waiting.append((due, item))
        if not self.queued:
            self.queued = True
            line.enter(due, _LANE, self)
        return True

    def __len__(self) -> int:
        return len(self.waiting)


def _LANE(item: Any, due: float, now: float) -> None:
    """The action of a lane's entry in the heap (run by `DelayLine` itself)."""
    raise AssertionError("a lane entry is run by its line")


class DelayLine:
    """Waiting packets and what to do with each when its time comes.

    A sleeper in the sense of vnet.timers: `deadline`, `scheduled` and
    `on_deadline(now)`. `clock` is read only to measure lateness.
    """

    def __init__(self, clock: Callable[[], float], limit: int = MAX_WAITING) -> None:
        self.scheduled: float | None = None
        self.lateness = Lateness()
        self.limit = limit
        self.overflowed = 0
        self.wakeups = 0
        # Items waiting, in the heap and in every lane.
        self.count = 0
        self._clock = clock
        self._heap: list[tuple[float, int, Action, Any]] = []
        self._order = itertools.count()
        self._timers: Watcher | None = None
        self._running = False

    def bind(self, timers: Watcher, clock: Callable[[], float]) -> None:
        self._timers = timers
        self._clock = clock

    def lane(self, action: Callable, timed: bool = True) -> Lane:
        """A first-in, first-out lane of this line, for one route's packets."""
        return Lane(self, action, timed)

    def push(self, due: float, action: Action, item: Any) -> bool:
        """Run `action(item, due, now)` at `due`; False if the line is full."""
        if self.count >= self.limit:
            self.overflowed += 1
            return False
        self.count += 1
        self.enter(due, action, item)
        return True

    def enter(self, due: float, action: Action, item: Any) -> None:
        """Put one entry in the heap, and make sure the line is woken for it."""
        heapq.heappush(self._heap, (due, next(self._order), action, item))
        scheduled = self.scheduled
        # While the line runs, the timer queue asks for the deadline afterwards.
        if not self._running and (scheduled is None or due < scheduled):
            assert self._timers is not None, "delay line used before bind()"
            self._timers.watch(self)

    @property
    def deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def on_deadline(self, now: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        self.wakeups += 1
        self._running = True
        try:
            while heap and heap[0][0] <= now:
                due, _, action, item = pop(heap)
                if action is _LANE:
                    self._run_lane(item, now)
                else:
                    self.count -= 1
                    self.lateness.add(self._clock() - due)
                    action(item, due, now)
        finally:
            self._running = False

    def _run_lane(self, lane: Lane, now: float) -> None:
        """Run what has come due in `lane`, then queue its next item."""
        waiting = lane.waiting
        action = lane.action
        lane.queued = False
        clock = self._clock
        # Each item's lateness: Lateness.add, without its call per packet.
        record = self.lateness.samples.append
        try:
            if lane.timed:
                while waiting and waiting[0][0] <= now:
                    due, item = waiting.popleft()
                    self.count -= 1
                    record(clock() - due)
                    action(item, due, now)
            else:
                while waiting and waiting[0][0] <= now:
                    due, item = waiting.popleft()
                    self.count -= 1
                    record(clock() - due)
                    action(item)
        finally:
            self.lateness.fold_when_full()
            if waiting and not lane.queued:
                lane.queued = True
                self.enter(waiting[0][0], _LANE, lane)

    def __len__(self) -> int:
        return self.count
