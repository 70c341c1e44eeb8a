"""Writing events as JSON lines (`--events FILE`)."""

from __future__ import annotations

import datetime
import functools
import json
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol, TextIO


class EventSink(Protocol):
    """Anything that takes events: the JSON-lines log, a store, a test list."""

    def emit(self, event_id: str, **fields: Any) -> None: ...


class NullSink:
    """Takes events and keeps only their counts."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def emit(self, event_id: str, **fields: Any) -> None:
        self.counts[event_id] += 1


# Compact, and anything JSON has no form for (an address, a path) as text.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def encode(record: Mapping[str, Any]) -> str:
    """A record as its JSON line, without the newline."""
    return _ENCODER.encode(record)


def timestamp(now: float) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2026-12-03T11:04:33.123456Z."""
    whole, micros = divmod(round(now * 1_000_000), 1_000_000)
    return f"{_second(whole)}.{micros:06d}Z"


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    """The text of one second; events come many to a second, so it is kept."""
    moment = datetime.datetime.fromtimestamp(whole, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class EventLog:
    """One JSON object per line, flushed as each line is written.

    Events come per connection or per message, not per frame, so a flush per
    line costs little and leaves nothing behind when the process is killed.
    """

    def __init__(self, stream: TextIO, clock=time.time) -> None:
        self._stream = stream
        self._clock = clock
        self.counts: Counter[str] = Counter()

    @classmethod
    def open(cls, path: str) -> EventLog:
        return cls(open(path, "a", encoding="utf-8"))  # noqa: SIM115

    def emit(self, event_id: str, **fields: Any) -> None:
        record = {"event": event_id, "time": timestamp(self._clock()), **fields}
        self.write(record)

    def write(self, record: dict[str, Any], line: str | None = None) -> None:
        """Write a record that is already stamped (see vnet.events.tee).

        `line` is the record already encoded, when the caller has it.
        """
        if line is None:
            line = encode(record)
        self._stream.write(line + "\n")
        self._stream.flush()
        self.counts[record["event"]] += 1

    def close(self) -> None:
        self._stream.close()
