"""One timer queue for the whole engine.

Sans-IO machines (TCP connections, delayed links) report when they next want
to be woken. The queue keeps them in a heap keyed by that deadline and asks
the asyncio loop for one wake-up, at the earliest. An entry is never
cancelled: when it comes due, the queue asks its owner for its deadline again,
and an owner whose deadline moved later is simply pushed back. An idle
connection therefore costs nothing until its deadline, and rescheduling on
every ACK costs one heap push at most.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


class Sleeper(Protocol):
    """Something with a deadline (loop time, seconds) and work to do then."""

    @property
    def deadline(self) -> float | None: ...

    def on_deadline(self, now: float) -> None: ...


class TimerQueue:
    """A lazy heap of sleepers, woken through one loop callback."""

    def __init__(self, call_at: Callable[[float, Callable[[], None]], Handle]):
        self._call_at = call_at
        self._heap: list[tuple[float, int, Sleeper]] = []
        self._order = itertools.count()
        self._armed_for: float | None = None
        self._handle: Handle | None = None
        self._now: Callable[[], float] | None = None

    def bind_clock(self, now: Callable[[], float]) -> None:
        self._now = now

    def watch(self, sleeper: Sleeper) -> None:
        """(Re)consider `sleeper`'s deadline; call after anything changes it."""
        deadline = sleeper.deadline
        if deadline is None:
            return
        heapq.heappush(self._heap, (deadline, next(self._order), sleeper))
        if self._armed_for is None or deadline < self._armed_for:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_for = deadline
        self._handle = self._call_at(deadline, self._fire)

    def _fire(self) -> None:
        assert self._now is not None
        self._armed_for = None
        self._handle = None
        self.run_due(self._now())
        if self._heap:
            self._arm(self._heap[0][0])

    def run_due(self, now: float) -> None:
        """Wake every sleeper whose deadline has come."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, sleeper = heapq.heappop(heap)
            deadline = sleeper.deadline
            if deadline is None:
                continue
            if deadline > now:
                heapq.heappush(heap, (deadline, next(self._order), sleeper))
                continue
            sleeper.on_deadline(now)
            self._rewatch(sleeper, now)

    def _rewatch(self, sleeper: Sleeper, now: float) -> None:
        deadline = sleeper.deadline
        if deadline is not None:
            heapq.heappush(self._heap, (deadline, next(self._order), sleeper))

    def __len__(self) -> int:
        return len(self._heap)
