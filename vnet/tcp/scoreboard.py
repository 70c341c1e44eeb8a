"""What the peer's SACK blocks say it holds beyond the cumulative ACK.

RFC 2018 blocks are advisory, and RFC 6675 uses them two ways, both taken
here in a simplified form: an ACK that SACKs bytes not SACKed before counts
as a duplicate ACK even if its window changed (Linux's receive window moves
as out-of-order data fills its buffer, which would otherwise hide every
duplicate), and during recovery the holes that look lost (enough SACKed above them)
are retransmitted one per ACK instead of one per round trip.

Ranges are stream offsets (see `Connection`), sorted, disjoint, non-adjacent.
"""

from __future__ import annotations


class Scoreboard:
    """SACKed ranges above the peer's cumulative acknowledgment."""

    __slots__ = ("ranges",)

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def add(self, left: int, right: int) -> bool:
        """Record [left, right); True if any of it was not SACKed yet."""
        ranges = self.ranges
        new = True
        merged_left, merged_right = left, right
        keep: list[tuple[int, int]] = []
        for start, end in ranges:
            if end < left or start > right:
                keep.append((start, end))
                continue
            if start <= left and right <= end:
                new = False
            merged_left = min(merged_left, start)
            merged_right = max(merged_right, end)
        keep.append((merged_left, merged_right))
        keep.sort()
        self.ranges = keep
        return new

    def prune(self, una: int) -> None:
        """Forget what the cumulative ACK now covers."""
        ranges = self.ranges
        while ranges and ranges[0][1] <= una:
            ranges.pop(0)
        if ranges and ranges[0][0] < una:
            ranges[0] = (una, ranges[0][1])

    def next_hole(self, start: int, evidence: int) -> tuple[int, int] | None:
        """The first un-SACKed run at or after `start` that looks lost.

        RFC 6675's IsLost: a hole counts as lost once at least `evidence`
        bytes above it are SACKed (DupThresh segments' worth); a hole with
        less above it may only be reordered.
        """
        ranges = self.ranges
        for index, (left, right) in enumerate(ranges):
            if start < left:
                above = sum(end - begin for begin, end in ranges[index:])
                return (start, left) if above >= evidence else None
            start = max(start, right)
        return None
