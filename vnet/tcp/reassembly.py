"""Out-of-order data held until the gap before it fills (RFC 9293 section 3.10.7.4).

Blocks are kept sorted and merged, so each is a run of contiguous bytes,
and they double as the SACK blocks a receiver reports (RFC 2018 section 4).
Where a new segment overlaps what is already held, the bytes received first
are kept: a peer cannot rewrite data it already sent by resending it
differently, and duplicates cost nothing more.

Positions are stream offsets (unwrapped sequence numbers, see `Connection`),
so plain integer comparison orders them.
"""

from __future__ import annotations

import bisect


class Reassembly:
    """Sorted, disjoint, non-adjacent blocks of bytes, created only when needed."""

    __slots__ = ("starts", "blocks", "recent")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.blocks: list[bytes] = []
        # Where the most recently stored segment began: RFC 2018 section 4
        # asks that its block be reported first.
        self.recent = 0

    def __len__(self) -> int:
        return len(self.blocks)

    def add(self, start: int, data: bytes, limit: int) -> bool:
        """Hold `data` at `start`; False if it would need a block beyond `limit`."""
        starts, blocks = self.starts, self.blocks
        end = start + len(data)

        # Every block that overlaps or touches [start, end) merges into one.
        first = bisect.bisect_left(starts, start)
        if first and starts[first - 1] + len(blocks[first - 1]) >= start:
            first -= 1
        last = first
        while last < len(starts) and starts[last] <= end:
            last += 1
        if first == last and len(blocks) >= limit:
            return False

        if first < last:
            start, data = _merge(start, data, starts[first:last], blocks[first:last])
        starts[first:last] = [start]
        blocks[first:last] = [data]
        self.recent = start
        return True

    def pop_from(self, position: int) -> tuple[int, list[bytes]]:
        """Remove the blocks that begin at or before `position`.

        Returns the new end of contiguous data and the bytes beyond
        `position` that the removed blocks add, in order.
        """
        starts, blocks = self.starts, self.blocks
        taken: list[bytes] = []
        while starts and starts[0] <= position:
            start = starts.pop(0)
            block = blocks.pop(0)
            end = start + len(block)
            if end > position:
                taken.append(block[position - start :])
                position = end
        return position, taken

    def sack_blocks(self, count: int) -> list[tuple[int, int]]:
        """Up to `count` (left, right) edges, the most recent block first."""
        edges = [(s, s + len(b)) for s, b in zip(self.starts, self.blocks, strict=True)]
        recent = next((e for e in edges if e[0] == self.recent), None)
        if recent is not None:
            edges.remove(recent)
            edges.insert(0, recent)
        return edges[:count]


def _merge(
    start: int, data: bytes, starts: list[int], blocks: list[bytes]
) -> tuple[int, bytes]:
    """One block from `data` and the held blocks it touches; held bytes win."""
    low = min(start, starts[0])
    high = max(start + len(data), starts[-1] + len(blocks[-1]))
    merged = bytearray(high - low)
    merged[start - low : start - low + len(data)] = data
    for held_start, held in zip(starts, blocks, strict=True):
        merged[held_start - low : held_start - low + len(held)] = held
    return low, bytes(merged)
