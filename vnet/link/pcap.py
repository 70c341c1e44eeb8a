"""A pcap file of every frame in and out (`--pcap FILE`).

The classic libpcap format (magic 0xa1b2c3d4, microsecond stamps, link type 1
for Ethernet) is what tcpdump, tshark and Wireshark all read. Records are
buffered and flushed at least once a second, and on close.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
SNAPLEN = 65535

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")


class PcapWriter:
    """Appends Ethernet frames to a pcap file."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._last_flush = 0.0
        header = _FILE_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
        stream.write(header)

    @classmethod
    def open(cls, path: str) -> PcapWriter:
        return cls(open(path, "wb"))  # noqa: SIM115 - closed by close()

    def write(self, frame: bytes, now: float) -> None:
        """Record one frame seen at wall-clock time `now`."""
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        length = len(frame)
        kept = frame[:SNAPLEN]
        self._stream.write(_RECORD_HEADER.pack(seconds, micros, len(kept), length))
        self._stream.write(kept)
        if now - self._last_flush >= 1.0:
            self._stream.flush()
            self._last_flush = now

    def close(self) -> None:
        self._stream.flush()
        self._stream.close()
