"""Choosing one concrete value that a fingerprint expression accepts.

A reference fingerprint allows a set of values for each attribute; a host
needs one. The choice is random (from the host's seeded generator) among the
values the expression accepts under nmap 7.93's rules (`expr_match`), so two
hosts with the same personality differ where the database allows them to.

Where the expression names a value outright it is preferred over one that
only matches through a 7.93 quirk: `Q=|U` accepts every quirk string, but
`""` and `U` are what the operating system actually sent, and they also
match under nmap's later, stricter rules.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from vnet.personality.expression import alternatives, expr_match, to_hex


def pick_text(
    expression: str | None, candidates: Iterable[str], generator: random.Random
) -> str | None:
    """One of `candidates` that the expression accepts, or None.

    None also when there is no expression (the attribute is absent): the
    caller then uses what the operating system would do by default.
    """
    pool = list(candidates)
    if expression is None:
        return None
    written = {alternative.text for alternative in alternatives(expression)}
    literal = [
        text for text in pool if text in written and expr_match(expression, text)
    ]
    if literal:
        return generator.choice(literal)
    allowed = [text for text in pool if expr_match(expression, text)]
    return generator.choice(allowed) if allowed else None


def written_texts(expression: str) -> list[str]:
    """The alternatives as written that the expression itself accepts."""
    return [
        alternative.text
        for alternative in alternatives(expression)
        if expr_match(expression, alternative.text)
    ]


def pick_number(
    expression: str | None,
    generator: random.Random,
    low: int = 0,
    high: int = 0xFFFFFFFF,
    default: int | None = None,
) -> int | None:
    """A number in [low, high] whose hex form the expression accepts.

    Ranges give a uniform choice inside them. None when nothing fits.
    """
    if expression is None:
        return default
    spans = []
    for alternative in alternatives(expression):
        if alternative.low is None or alternative.high is None:
            continue
        first, last = max(alternative.low, low), min(alternative.high, high)
        if first <= last:
            spans.append((first, last))
    generator.shuffle(spans)
    for first, last in spans:
        for number in (generator.randint(first, last), first, last):
            if expr_match(expression, to_hex(number)):
                return number
    return None


def pick_inside(
    expression: str, generator: random.Random, low: int = 0, high: int = 0xFFFFFFFF
) -> int | None:
    """Like `pick_number`, but keep away from the ends of a wide range.

    For values nmap measures rather than copies, a little room on each side
    absorbs what the measurement adds.
    """
    spans = []
    for alternative in alternatives(expression):
        if alternative.low is None or alternative.high is None:
            continue
        first, last = max(alternative.low, low), min(alternative.high, high)
        if first > last:
            continue
        room = (last - first) // 4
        spans.append((first + room, last - room))
    generator.shuffle(spans)
    for first, last in spans:
        number = generator.randint(first, last)
        if expr_match(expression, to_hex(number)):
            return number
    return pick_number(expression, generator, low, high)
