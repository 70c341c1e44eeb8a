"""Quantities written with units: durations, percentages, bit rates.

The schema has already checked each value's form, so these only convert.
Rates use powers of 1000 (10Mbit is 10,000,000 bits per second), as tc and
link vendors do. A rate in bytes (tc's `mbps`) is refused by the schema,
because the two are too easily confused; the hint below says what to write.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([kKmMgG]?)bit")
_RATE_PREFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
_LOOSE_RATE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG]?)([a-zA-Z/]*)\s*")


def seconds(text: str) -> float:
    """`10ms` -> 0.01."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    number, unit = match.groups()
    return float(number) * _DURATION_UNITS[unit]


def fraction(value: int | float | str) -> float:
    """A percentage, `0.5%` or 0.5, as a fraction: 0.005."""
    if isinstance(value, str):
        value = float(value.removesuffix("%"))
    return float(value) / 100.0


def bits_per_second(text: str) -> float:
    """`10Mbit` -> 10,000,000.0."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a bit rate: {text!r}")
    number, prefix = match.groups()
    return float(number) * _RATE_PREFIXES[prefix.lower()]


def rate_hint(value: object) -> str | None:
    """Suggest a rate for `10Mbps`, `10M` or `10 mbit`."""
    if not isinstance(value, str):
        return None
    match = _LOOSE_RATE.fullmatch(value)
    if match is None:
        return None
    number, prefix, unit = match.groups()
    fixed = f"{number}{prefix.upper() if prefix else ''}bit".replace("Kbit", "kbit")
    if unit.lower() in ("bps", "b/s", "byte", "bytes"):
        return f"rates are in bits: did you mean {fixed!r}? (tc's mbps is bytes)"
    if unit.lower() in ("", "b", "bit", "bits", "bit/s"):
        return f"did you mean {fixed!r}?"
    return None


def format_seconds(value: float) -> str:
    """0.01 -> `10ms`, 1.5 -> `1.5s`, 0.00025 -> `250us`."""
    if value == 0:
        return "0ms"
    if value >= 1:
        return f"{value:g}s"
    if value >= 1e-3:
        return f"{value * 1e3:g}ms"
    return f"{value * 1e6:g}us"


def format_rate(value: float) -> str:
    """10e6 -> `10Mbit`."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:g}{prefix}bit"
    return f"{value:g}bit"
