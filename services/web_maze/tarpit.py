"""Slowing harvesters down, at almost no cost to the honeypot.

Two brakes, both off by default:

- a per-visitor delay before each answer, which can grow with every page
  the visitor has taken (`delay_ms + delay_step_ms * pages`, at most
  `delay_max_ms`);
- a slow drip: the first byte after `first_byte_ms`, then `chunk_bytes`
  at a time at `bytes_per_second`, but never longer than `max_seconds`
  for one answer.

By default they apply only to visitors that ignored robots.txt. A held
connection costs one timer and a list of references to the page's shared
parts, no thread and no copy of the page. The number of connections held
at once is bounded per source address (`per_source`) and in all (`total`);
beyond either bound a connection is answered at full speed, so a
harvester cannot make the honeypot hold an unbounded number of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.web_maze.options import Slow


@dataclass(frozen=True)
class Plan:
    """How to answer one request: wait `delay` seconds, then drip at
    `rate` bytes per second (0: all at once)."""

    delay: float = 0.0
    rate: int = 0

    @property
    def slowed(self) -> bool:
        return self.delay > 0 or self.rate > 0


FULL_SPEED = Plan()


class Tarpit:
    """Counts held connections and plans each answer."""

    def __init__(self, slow: Slow) -> None:
        self.slow = slow
        self.held: dict[str, int] = {}
        self.total = 0

    def plan(self, source: str, ignored_robots: bool, pages: int) -> Plan:
        """The plan for a source; a slowed plan holds a slot until `release`."""
        slow = self.slow
        if not slow.enabled or (slow.who == "robots-ignored" and not ignored_robots):
            return FULL_SPEED
        if self.held.get(source, 0) >= slow.per_source or self.total >= slow.total:
            return FULL_SPEED
        self.held[source] = self.held.get(source, 0) + 1
        self.total += 1
        delay_ms = min(slow.delay_ms + slow.delay_step_ms * pages, slow.delay_max_ms)
        if slow.bytes_per_second:
            delay_ms += slow.first_byte_ms
        return Plan(delay_ms / 1000, slow.bytes_per_second)

    def release(self, source: str) -> None:
        count = self.held.get(source, 0) - 1
        if count < 0:
            raise RuntimeError(f"tarpit slot of {source} released twice")
        if count:
            self.held[source] = count
        else:
            del self.held[source]
        self.total -= 1

    def interval(self, rate: int, remaining: int) -> float:
        """Seconds between chunks, so the drip ends within `max_seconds`."""
        chunk = self.slow.chunk_bytes
        chunks = max(1, -(-remaining // chunk))
        return min(chunk / rate, self.slow.max_seconds / chunks)


class Drip:
    """The bytes still to send, as references to shared segments."""

    __slots__ = ("segments", "index", "offset", "remaining")

    def __init__(self, segments: list[bytes]) -> None:
        self.segments = [segment for segment in segments if segment]
        self.index = 0
        self.offset = 0
        self.remaining = sum(len(segment) for segment in self.segments)

    def take(self, count: int) -> bytes:
        pieces = []
        while count > 0 and self.index < len(self.segments):
            segment = self.segments[self.index]
            piece = segment[self.offset : self.offset + count]
            pieces.append(piece)
            count -= len(piece)
            self.offset += len(piece)
            if self.offset >= len(segment):
                self.index += 1
                self.offset = 0
        data = b"".join(pieces)
        self.remaining -= len(data)
        return data
