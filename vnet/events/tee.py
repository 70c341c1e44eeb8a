"""One event, one timestamp, every record: the JSON lines, the store, metrics.

The engine has one event sink. When it keeps more than one record, `Tee`
stamps each event once and hands the same record to every sink, so the
JSON lines and the store agree to the microsecond, and a store rebuilt
from the lines (`vnet events import`) equals the one written live.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from vnet.events.jsonl import encode, timestamp


class Tee:
    """An event sink that writes each stamped record to several sinks.

    A sink with a `write(record, line)` method gets the stamped record and
    its JSON line, encoded once for all of them; one with only `emit` gets
    the event id and fields, and stamps it itself.
    """

    def __init__(self, *sinks: Any, clock: Callable[[], float] = time.time) -> None:
        self.sinks = sinks
        self._clock = clock
        self._writers = [getattr(sink, "write", None) for sink in sinks]
        self.counts: Counter[str] = Counter()

    def emit(self, event_id: str, **fields: Any) -> None:
        record = {"event": event_id, "time": timestamp(self._clock()), **fields}
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        """Hand a stamped record to every sink."""
        self.counts[record["event"]] += 1
        line = encode(record)
        for sink, write in zip(self.sinks, self._writers, strict=True):
            if write is not None:
                write(record, line)
            else:
                fields = {k: v for k, v in record.items() if k not in ("event", "time")}
                sink.emit(record["event"], **fields)

    def close(self) -> None:
        """Close every sink that can be closed, in order."""
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                close()
