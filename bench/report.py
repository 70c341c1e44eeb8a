"""The report and the exports on a store of 1,000,000 events.

The store is filled by the synthetic campaign of the tests
(tests/events/campaign.py), which writes the records the services write:
thousands of harvesters crawling the maze, and spam to their addresses
through the proxy and the relay, to the relay, and straight to the sink,
mixed with mail to addresses that were never issued. The figures:

- how fast the store takes events (one writer, batched commits);
- how long the report takes to build, and to render as text, JSON and
  HTML;
- how long each export takes;
- how long the DNSBL's listing takes to read the whole store, and to catch
  up with one more batch.

Nothing here touches a network.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.events.campaign import Campaign
from vnet.events.store import EventStore, open_reader
from vnet.export import KINDS, export
from vnet.report import build_report, render_html, render_text, to_json
from vnet.report.roles import Listing

TARGET = 1_000_000
SEED = 2026


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def fill(path: Path, target: int = TARGET, seed: int = SEED) -> tuple[int, float]:
    """Write a campaign of about `target` events; (events, seconds)."""
    rng = random.Random(seed)
    store = EventStore.open(path, interval=3600.0, immediate=frozenset())
    campaign = Campaign(store.write, seed=seed)
    issued: list[str] = []
    started = time.perf_counter()
    while sum(store.counts.values()) < target:
        _round(campaign, rng, issued)
    store.close()
    return sum(store.counts.values()), time.perf_counter() - started


def _round(campaign: Campaign, rng: random.Random, issued: list[str]) -> None:
    """Ten crawls, then a burst of spam to what was harvested so far."""
    for _ in range(10):
        visitor = f"203.0.{rng.randrange(113, 115)}.{rng.randrange(1, 255)}"
        pages = rng.randrange(5, 60)
        for item in campaign.crawl(visitor, "EmailSiphon", pages, gap=0.5):
            issued.append(item.address)
        campaign.advance(rng.uniform(1, 30))
    for _ in range(40):
        source = f"198.18.{rng.randrange(0, 4)}.{rng.randrange(1, 255)}"
        recipients = rng.sample(issued, 2) + [f"user{rng.randrange(10**6)}@example.org"]
        way = rng.random()
        if way < 0.4:
            campaign.via_proxy(source, recipients, chain=["198.18.9.1"])
        elif way < 0.7:
            campaign.via_relay(source, recipients, probe=rng.random() < 0.02)
        else:
            campaign.direct_to_sink(source, recipients[:2])
        campaign.advance(rng.uniform(0.5, 5))


T = TypeVar("T")


def timed(function: Callable[..., T], *arguments: Any) -> tuple[T, float]:
    started = time.perf_counter()
    result = function(*arguments)
    return result, round(time.perf_counter() - started, 3)


def run() -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="vnet-bench-report-"))
    try:
        return _measure(workdir / "events.sqlite")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(path: Path) -> dict:
    progress(f"writing a campaign of {TARGET:,} events into {path}")
    events, seconds = fill(path)
    figures: dict[str, object] = {
        "report.events": events,
        "report.store_events_per_s": round(events / seconds),
        "report.store_mb": round(path.stat().st_size / 2**20, 1),
    }
    db = open_reader(path)
    progress("building the report")
    report, figures["report.build_s"] = timed(build_report, db)
    figures["report.traced_addresses"] = len(report.trace)
    figures["report.harvesters"] = len(report.harvesters)
    figures["report.sources"] = len(report.sources)
    _, figures["report.text_s"] = timed(render_text, report)
    _, figures["report.json_s"] = timed(lambda: json.dumps(to_json(report)))
    _, figures["report.html_s"] = timed(render_html, report)
    for kind in KINDS:
        progress(f"export {kind}")
        _, figures[f"report.export_{kind}_s"] = timed(export, kind, db)
    listing = Listing()
    _, figures["report.listing_first_s"] = timed(listing.refresh, db)
    _measure_catch_up(path, db, listing, figures)
    db.close()
    return figures


def _measure_catch_up(path: Path, db, listing: Listing, figures: dict) -> None:
    """The DNSBL's second look, after one more round of the campaign."""
    store = EventStore.open(path, interval=3600.0, immediate=frozenset())
    campaign = Campaign(store.write, seed=SEED + 1, now=time.time())
    _round(
        campaign, random.Random(SEED + 1), [f"late{n}@example.test" for n in range(9)]
    )
    store.close()
    _, figures["report.listing_catch_up_s"] = timed(listing.refresh, db)


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value}")
