"""One timer queue for the whole engine.

Sans-IO machines (TCP connections, delayed links) report when they next want
to be woken. The queue keeps them in a heap keyed by that deadline and asks
the asyncio loop for one wake-up, at the earliest.

Entries are never cancelled. Each sleeper remembers in `scheduled` the
deadline of its live entry; `watch` adds an entry only when the new deadline
is earlier than that one, and an entry that comes due asks its sleeper for
its deadline again, and is pushed back if it moved later. A connection that
resets its retransmission timer on every ACK therefore costs nothing here
until the timer really expires, and an idle connection costs nothing at all.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


class Sleeper(Protocol):
    """Something with a deadline (loop time, seconds) and work to do then.

    `scheduled` belongs to the queue: it is the deadline of the sleeper's
    entry in the heap, or None.
    """

    scheduled: float | None

    @property
    def deadline(self) -> float | None: ...

    def on_deadline(self, now: float) -> None: ...


After = Callable[[float], None]


def _nothing(now: float) -> None:
    pass


class TimerQueue:
    """A lazy heap of sleepers, woken through one loop callback."""

    def __init__(self, call_at: Callable[[float, Callable[[], None]], Handle]):
        self._call_at = call_at
        self._heap: list[tuple[float, int, Sleeper, After]] = []
        self._order = itertools.count()
        self._armed_for: float | None = None
        self._handle: Handle | None = None
        self._now: Callable[[], float] | None = None

    def bind_clock(self, now: Callable[[], float]) -> None:
        self._now = now

    def watch(self, sleeper: Sleeper, after: After = _nothing) -> None:
        """(Re)consider `sleeper`'s deadline; call after anything changes it.

        `after(now)` runs right after each `on_deadline`, for the owner's
        follow-up work (sending what the timer produced).
        """
        deadline = sleeper.deadline
        if deadline is None:
            return
        scheduled = sleeper.scheduled
        if scheduled is not None and scheduled <= deadline:
            return
        self._push(deadline, sleeper, after)

    def _push(self, deadline: float, sleeper: Sleeper, after: After) -> None:
        sleeper.scheduled = deadline
        heapq.heappush(self._heap, (deadline, next(self._order), sleeper, after))
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
        if self._heap and self._armed_for is None:
            self._arm(self._heap[0][0])

    def run_due(self, now: float) -> None:
        """Wake every sleeper whose deadline has come."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry_deadline, _, sleeper, after = heapq.heappop(heap)
            if sleeper.scheduled != entry_deadline:
                continue  # replaced by an earlier entry
            sleeper.scheduled = None
            deadline = sleeper.deadline
            if deadline is None:
                continue
            if deadline > now:
                self._push(deadline, sleeper, after)
                continue
            sleeper.on_deadline(now)
            after(now)
            self.watch(sleeper, after)

    def __len__(self) -> int:
        return len(self._heap)
