"""A fault injector for incoming frames: loss, duplication, delay, reordering.

It does for vnet what `tc qdisc ... netem` does on the kernel side of a TAP,
for kernels built without netem: each frame read from the link is dropped,
passed on at once, duplicated, or held for the configured delay. As with
netem, `reorder` is the share of frames that skip the delay, so they overtake
the frames held before them.

    --faults loss=5%,reorder=10%,delay=20ms,duplicate=1%

It is a test aid: the engine applies it before any parsing, so the stack
above sees exactly what a lossy, reordering link would deliver.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_PART = re.compile(r"^(loss|reorder|duplicate|delay)=([0-9.]+)(%|ms|s)?$")


class FaultSpecError(ValueError):
    """A --faults value that does not parse."""


@dataclass(frozen=True)
class FaultPlan:
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.0

    def fates(self, rng: random.Random) -> list[float]:
        """Delays after which to deliver one frame: [] drops it, two duplicate."""
        if rng.random() < self.loss:
            return []
        delay = self.delay
        if delay and rng.random() < self.reorder:
            delay = 0.0
        fates = [delay]
        if rng.random() < self.duplicate:
            fates.append(delay)
        return fates


def parse_faults(text: str) -> FaultPlan:
    """`loss=5%,reorder=10%,delay=20ms` -> FaultPlan, or FaultSpecError."""
    values: dict[str, float] = {}
    for part in filter(None, text.replace(" ", "").split(",")):
        match = _PART.match(part)
        if match is None:
            raise FaultSpecError(
                f"{part!r}: allowed loss=P%, duplicate=P%, reorder=P%, delay=Nms"
            )
        name, number, unit = match.groups()
        value = float(number)
        if name == "delay":
            value = value / 1000 if unit in (None, "ms") else value
        else:
            if unit not in (None, "%") or not 0 <= value <= 100:
                raise FaultSpecError(f"{part!r}: a percentage from 0 to 100")
            value /= 100
        values[name] = value
    return FaultPlan(**values)
