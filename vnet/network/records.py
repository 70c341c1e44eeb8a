"""Events from the virtual network, at a rate the record can bear.

A lossy link under a ping flood drops thousands of packets a second, and a
shaped spammer trips its limits on every connection. Each becomes a
`net.dropped` or `net.shaped` event, but at most one per `interval` seconds
for the same (what, where, peer); the event that goes out carries `count`,
how many happened since the last one for that key. The first always goes out
at once, so the record shows when something started. The table of keys is
bounded: under a flood of spoofed sources the key seen longest ago is
forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Protocol

INTERVAL = 10.0
MAX_KEYS = 4096


class EventSink(Protocol):
    def emit(self, event_id: str, **fields: Any) -> None: ...


class Throttle:
    """One event per key per interval, each with the count it stands for."""

    def __init__(
        self, events: EventSink, interval: float = INTERVAL, limit: int = MAX_KEYS
    ) -> None:
        self._events = events
        self.interval = interval
        self.limit = limit
        # key -> [time of the last event, occurrences held back since]
        self._keys: OrderedDict[Hashable, list[float]] = OrderedDict()

    def due(self, key: Hashable, now: float) -> int:
        """How many occurrences the next event reports, or 0 to hold it back.

        Callers build the event only when this is non-zero, so a held-back
        occurrence costs one lookup.
        """
        keys = self._keys
        entry = keys.get(key)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return 0
        count = 1 + int(entry[1]) if entry is not None else 1
        keys[key] = [now, 0]
        keys.move_to_end(key)
        if len(keys) > self.limit:
            keys.popitem(last=False)
        return count

    def emit(self, event_id: str, count: int, **fields: Any) -> None:
        self._events.emit(event_id, count=count, **fields)
