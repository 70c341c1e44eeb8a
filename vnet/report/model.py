"""The whole report as one value, and its JSON form.

`build_report(db)` runs every part against one read transaction, so the
trace, the tables and the totals describe the same moment of a store that
may still be growing. `to_json` turns it into plain data: times become ISO
8601 text, delays stay seconds.

Limitation: the report covers the whole store; only the exports take a
time window.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from vnet.events.times import micros_to_iso, seconds_to_micros
from vnet.report.actors import Harvester, SpamSource, harvesters, spam_sources
from vnet.report.totals import Totals, totals
from vnet.report.trace import Decoder, TrapTrace, trace

TIME_KEYS = frozenset({"time", "first", "last", "start", "end", "generated"})


@dataclass
class Report:
    store: str
    generated: int
    events: int
    trace: list[TrapTrace]
    harvesters: list[Harvester]
    sources: list[SpamSource]
    totals: Totals


def build_report(
    db: sqlite3.Connection,
    decoder: Decoder | None = None,
    store: str = "",
    now: float | None = None,
) -> Report:
    """Every part of the report, from one snapshot of the store."""
    generated = seconds_to_micros(time.time() if now is None else now)
    db.execute("BEGIN")
    try:
        count = db.execute("SELECT count(*) FROM events").fetchone()[0]
        report = Report(
            store=store,
            generated=generated,
            events=count,
            trace=trace(db, decoder),
            harvesters=harvesters(db),
            sources=spam_sources(db),
            totals=totals(db),
        )
    finally:
        db.execute("COMMIT")
    return report


def to_json(report: Report) -> dict[str, Any]:
    data = _plain(report)
    for harvester, entry in zip(report.harvesters, data["harvesters"], strict=True):
        entry["seconds"] = round(harvester.seconds, 3)
    data["totals"]["width_seconds"] = data["totals"].pop("width")
    return data


def _plain(value: Any, key: str = "") -> Any:
    # Walks the instances' own fields; dataclasses.asdict deep-copies every
    # value first, which costs seconds on a large trace.
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(item, name) for name, item in vars(value).items()}
    if isinstance(value, dict):
        return {name: _plain(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if key in TIME_KEYS and isinstance(value, int):
        return micros_to_iso(value)
    return value
