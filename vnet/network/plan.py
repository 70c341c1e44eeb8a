"""The address plan: which configured host answers for an IPv4 address.

A topology names hosts one address at a time, or as ranges and CIDRs that may
hold a /16 or more. The plan keeps single addresses in a dict and ranges in a
sorted list searched by bisection, so a /16 costs one entry, not 65,536; a
range's hosts come into being only when something contacts them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Generic, Protocol, TypeVar


class Span(Protocol):
    """Anything with an inclusive first and last address (a config HostSpec)."""

    first: int
    last: int


S = TypeVar("S", bound=Span)


class AddressPlan(Generic[S]):
    """Finds the span that owns an address. Spans must not overlap."""

    def __init__(self, spans: Iterable[S]) -> None:
        self._singles: dict[int, S] = {}
        ranges: list[S] = []
        for span in spans:
            if span.first == span.last:
                self._singles[span.first] = span
            else:
                ranges.append(span)
        ranges.sort(key=lambda span: span.first)
        self._ranges = ranges
        self._firsts = [span.first for span in ranges]

    def lookup(self, address: int) -> S | None:
        span = self._singles.get(address)
        if span is not None:
            return span
        index = bisect.bisect_right(self._firsts, address) - 1
        if index >= 0 and address <= self._ranges[index].last:
            return self._ranges[index]
        return None

    def __iter__(self) -> Iterator[S]:
        yield from self._singles.values()
        yield from self._ranges

    @property
    def address_count(self) -> int:
        return sum(span.last - span.first + 1 for span in self)
