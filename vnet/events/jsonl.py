"""Writing events as JSON lines (`--events FILE`)."""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
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

    def close(self) -> None:
        """Nothing to release."""


# Records that are written, and stored, before the service answers for
# them: a message's record exists before its 250 reply.
DURABLE = frozenset({"smtp.message.stored"})

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
    """One JSON object per line.

    Within a turn of the asyncio loop the lines are gathered, and written
    in one go when the turn ends: a page of the web maze makes several
    records, and a write each would cost more than the page. A killed
    process loses at most the lines of the turn it was in. A record in
    `DURABLE` (a stored message's) is written at once, with every line
    before it; outside a loop every line is.
    """

    def __init__(self, stream: TextIO, clock=time.time) -> None:
        self._stream = stream
        self._clock = clock
        self._lines: list[str] = []
        self.counts: Counter[str] = Counter()

    @classmethod
    def open(cls, path: str) -> EventLog:
        return cls(open(path, "a", encoding="utf-8"))  # noqa: SIM115

    def emit(self, event_id: str, **fields: Any) -> None:
        record = {"event": event_id, "time": timestamp(self._clock()), **fields}
        self.write(record)

    def write(self, record: Mapping[str, Any], line: str | None = None) -> None:
        """Write a record that is already stamped (see vnet.events.tee).

        `line` is the record already encoded, when the caller has it.
        """
        event = record["event"]
        self.counts[event] += 1
        self._lines.append(encode(record) if line is None else line)
        if event in DURABLE:
            self.flush()
        elif len(self._lines) == 1 and not _at_end_of_turn(self.flush):
            self.flush()  # no loop: no turn to wait for

    def flush(self) -> None:
        """Write every gathered line now."""
        if self._lines:
            self._lines.append("")
            self._stream.write("\n".join(self._lines))
            self._stream.flush()
            self._lines = []

    def close(self) -> None:
        self.flush()
        self._stream.close()


def _at_end_of_turn(callback: Callable[[], None]) -> bool:
    """Run `callback` when the running loop's turn ends; False if no loop."""
    try:
        asyncio.get_running_loop().call_soon(callback)
    except RuntimeError:
        return False
    return True
