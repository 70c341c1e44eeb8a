"""Event times: ISO 8601 text in the records, integer microseconds in the store.

A JSON line carries its time as `2026-12-03T11:04:33.123456Z`. The store
keeps the same instant as an integer count of microseconds since the Unix
epoch, which converts back to exactly that text: a float of seconds would
not (a 2026 time in seconds has 16 significant digits, one more than a
double keeps reliably). Both forms sort in time order.

`parse_moment` reads the `--since` and `--until` of the command line: an
ISO 8601 time or date, a Unix time in seconds, or an age such as `90m`.
"""

from __future__ import annotations

import datetime
import functools
import re

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MICROSECOND = datetime.timedelta(microseconds=1)

_AGE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d|w)")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class MomentError(ValueError):
    """A time given by a user that none of the accepted forms reads."""


def iso_to_micros(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 time; naive means UTC."""
    # The records' own form, read many times a second: each second once.
    fraction = text[20:26]
    if len(text) == 27 and text[19] == "." and fraction.isdigit() and text[26] == "Z":
        return _second_micros(text[:19]) + int(fraction)
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return (moment - EPOCH) // MICROSECOND


@functools.lru_cache(maxsize=4)
def _second_micros(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)
    return (moment - EPOCH) // MICROSECOND


def micros_to_iso(micros: int) -> str:
    """The record's form of a time: UTC, microseconds, a trailing Z."""
    moment = EPOCH + datetime.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def micros_to_text(micros: int) -> str:
    """A time for people: to the second, in UTC."""
    moment = EPOCH + datetime.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds_to_micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def parse_moment(text: str, now: float) -> int:
    """A user's time, in microseconds since the epoch.

    Accepted: `2026-12-03T11:04:33Z` (or any ISO 8601 time; without a zone
    it is UTC), `2026-12-03`, a Unix time such as `1733220000`, or an age
    before `now` such as `30m`, `6h`, `2d` or `1w`.
    """
    text = text.strip()
    age = _AGE.fullmatch(text)
    if age is not None:
        seconds = float(age.group(1)) * _AGE_UNITS[age.group(2)]
        return seconds_to_micros(now - seconds)
    try:
        return seconds_to_micros(float(text))
    except ValueError:
        pass
    try:
        return iso_to_micros(text)
    except ValueError:
        raise MomentError(
            f"found {text!r}; allowed: an ISO 8601 time (2026-12-03T11:04:33Z),"
            " a date, a Unix time, or an age such as 30m, 6h, 2d"
        ) from None
