"""The interface every link offers to the engine."""

from __future__ import annotations

import os
from typing import Protocol


class LinkError(Exception):
    """A link could not be opened or configured (bad name, no permission...)."""


class Link(Protocol):
    """A source and sink of raw Ethernet frames on a non-blocking descriptor."""

    name: str
    # Frames written, and frames the link refused (see write_frame).
    frames_out: int
    frames_dropped: int

    def fileno(self) -> int: ...

    def read_frames(self, limit: int) -> list[bytes]:
        """Return up to `limit` frames that are waiting; [] when none is."""
        ...

    def write_frame(self, frame: bytes) -> bool:
        """Send one frame; False when the device queue is full and it was dropped.

        The link counts both outcomes, so that the engine can hand its frames
        straight to this method.
        """
        ...

    def close(self) -> None: ...


def read_waiting(fd: int, limit: int, size: int = 65536) -> list[bytes]:
    """Read frames from a non-blocking descriptor until it is empty or `limit`.

    Frames are taken as they arrive, never held back behind a timer: honeyd's
    libpcap buffering delayed replies by up to 30 ms.
    """
    frames: list[bytes] = []
    read = os.read
    try:
        while len(frames) < limit:
            frames.append(read(fd, size))
    except BlockingIOError:
        pass
    return frames
