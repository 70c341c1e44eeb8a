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

The entries left behind when a deadline moves earlier wait for their own
time to be dropped; when they are over half the heap, and it is large, the
heap is rebuilt without them, so that many long-lived connections do not
each keep their old entries.
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


# A heap this long, half of it stale entries, is rebuilt without them.
COMPACT_AT = 1024


class TimerQueue:
    """A lazy heap of sleepers, woken through one loop callback."""

    def __init__(self, call_at: Callable[[float, Callable[[], None]], Handle]):
        self._call_at = call_at
        self._heap: list[tuple[float, int, Sleeper, After]] = []
        self._order = itertools.count()
        self._armed_for: float | None = None
        self._handle: Handle | None = None
        self._now: Callable[[], float] | None = None
        # Entries whose sleeper has been given an earlier one since.
        self._stale = 0

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
        if scheduled is not None:
            if scheduled <= deadline:
                return
            self._stale += 1
            if self._stale > len(self._heap) // 2 >= COMPACT_AT // 2:
                self._compact()
        self._push(deadline, sleeper, after)

    def _compact(self) -> None:
        """Drop every stale entry (the live one of each sleeper stays)."""
        self._heap = [entry for entry in self._heap if entry[2].scheduled == entry[0]]
        heapq.heapify(self._heap)
        self._stale = 0

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
        # self._heap, not a local: a sleeper's watch may rebuild it.
        while self._heap and self._heap[0][0] <= now:
            entry_deadline, _, sleeper, after = heapq.heappop(self._heap)
            if sleeper.scheduled != entry_deadline:
                self._stale -= 1
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
