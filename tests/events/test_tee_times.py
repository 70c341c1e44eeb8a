"""Tee's one timestamp for every sink, and the conversions of event times."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnet.events import EventLog, NullSink
from vnet.events.tee import Tee
from vnet.events.times import (
    MomentError,
    iso_to_micros,
    micros_to_iso,
    parse_moment,
)

NOW = 1_796_000_000.0


class Closing(NullSink):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_every_sink_gets_the_same_record_or_the_same_event():
    lines, other = io.StringIO(), io.StringIO()
    counting = Closing()
    tee = Tee(EventLog(lines), counting, EventLog(other), clock=lambda: NOW + 0.5)
    tee.emit("web.request", peer="203.0.113.9", path="/")
    tee.emit("web.request", peer="203.0.113.9", path="/a")

    assert lines.getvalue() == other.getvalue()
    first = json.loads(lines.getvalue().splitlines()[0])
    assert first == {"event": "web.request", "time": "2026-11-30T00:53:20.500000Z",
                     "peer": "203.0.113.9", "path": "/"}  # fmt: skip
    assert counting.counts["web.request"] == 2
    assert tee.counts["web.request"] == 2
    tee.close()
    assert counting.closed


@given(st.integers(0, 4_102_444_800 * 10**6))
def test_iso_text_and_micros_convert_both_ways_exactly(micros):
    assert iso_to_micros(micros_to_iso(micros)) == micros


def test_naive_times_are_utc_and_zones_are_honoured():
    assert iso_to_micros("2026-11-30T00:53:20") == 1_796_000_000_000_000
    assert iso_to_micros("2026-11-30T01:53:20+01:00") == 1_796_000_000_000_000


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2026-11-30T00:53:20Z", 1_796_000_000_000_000),
        ("2026-11-30", 1_795_996_800_000_000),
        ("1796000000", 1_796_000_000_000_000),
        ("90m", 1_796_000_000_000_000 - 5_400_000_000),
        ("2d", 1_796_000_000_000_000 - 172_800_000_000),
        ("1w", 1_796_000_000_000_000 - 604_800_000_000),
    ],
)
def test_user_times(text, micros):
    assert parse_moment(text, NOW) == micros


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "5 parsecs", ""])
def test_user_times_that_no_form_reads(text):
    with pytest.raises(MomentError, match="allowed: an ISO 8601 time"):
        parse_moment(text, NOW)
