"""Per-service totals over time, and the count of each event id.

The run is cut into buckets of a round width (a minute, five, fifteen, an
hour...) chosen so that the whole span fits in at most `MAX_BUCKETS`. Each
service gets its event count per bucket; events that belong to no service
(hosts contacted, the engine's summary) are counted under `engine`. A
second series counts the moments the report is about (addresses issued,
messages stored) per bucket, for the timeline.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

MAX_BUCKETS = 48
WIDTHS = (
    1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600,
    12 * 3600, 86400, 7 * 86400, 30 * 86400,
)  # fmt: skip
ENGINE = "engine"
TIMELINE_EVENTS = ("web.address.issued", "smtp.message.stored")


@dataclass
class Totals:
    start: int
    end: int
    width: int
    buckets: int
    services: dict[str, list[int]] = field(default_factory=dict)
    moments: dict[str, list[int]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)


def bucket_width(span_seconds: float) -> int:
    """The smallest round width that cuts `span_seconds` in MAX_BUCKETS."""
    for width in WIDTHS:
        if span_seconds / width <= MAX_BUCKETS:
            return width
    return int(span_seconds // MAX_BUCKETS) + 1


def totals(db: sqlite3.Connection) -> Totals:
    """Counts per service and bucket, per event id, and the timeline's."""
    start, end = db.execute("SELECT min(time), max(time) FROM events").fetchone()
    if start is None:
        return Totals(0, 0, 1, 0)
    width = bucket_width((end - start) / 1_000_000)
    micros = width * 1_000_000
    # Buckets start at a multiple of their width, as a clock shows them.
    origin = start - start % micros
    count = (end - origin) // micros + 1
    result = Totals(origin, end, width, count)
    per_service = """
        SELECT coalesce(service, ?), (time - ?) / ?, count(*)
        FROM events GROUP BY 1, 2
    """
    _fill(result, result.services, db.execute(per_service, (ENGINE, origin, micros)))
    marks = ",".join("?" * len(TIMELINE_EVENTS))
    per_moment = f"""
        SELECT event, (time - ?) / ?, count(*)
        FROM events WHERE event IN ({marks}) GROUP BY 1, 2
    """
    rows = db.execute(per_moment, (origin, micros, *TIMELINE_EVENTS))
    _fill(result, result.moments, rows)
    for moment in TIMELINE_EVENTS:
        result.moments.setdefault(moment, [0] * count)
    by_event = "SELECT event, count(*) FROM events GROUP BY event ORDER BY event"
    result.events = dict(db.execute(by_event))
    return result


def _fill(result: Totals, into: dict[str, list[int]], rows) -> None:
    for name, index, count in rows:
        series = into.setdefault(name, [0] * result.buckets)
        series[index] += count
