"""A Linux TAP device, through python-pytun.

vnet opens the device with IFF_TAP | IFF_NO_PI, so each read is exactly one
Ethernet frame. It does not ask for IFF_VNET_HDR, so the kernel negotiates no
offloads: every frame it hands us carries a complete checksum, and it expects
the same of us. Opening a name that already exists attaches to that device
(for a persistent TAP made with `ip tuntap add`).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os

import pytun

from vnet.link.base import LinkError, read_waiting

log = logging.getLogger(__name__)


class TapLink:
    """One TAP device in non-blocking mode."""

    def __init__(self, name: str) -> None:
        try:
            self._device = pytun.TunTapDevice(
                name=name, flags=pytun.IFF_TAP | pytun.IFF_NO_PI
            )
        except pytun.Error as error:
            raise LinkError(f"cannot open TAP device {name!r}: {error}") from error
        self.name = self._device.name
        self._fd = self._device.fileno()
        self.frames_out = 0
        self.frames_dropped = 0
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        log.info("opened TAP device %s", self.name)

    @property
    def mtu(self) -> int:
        return int(self._device.mtu)

    def fileno(self) -> int:
        return self._fd

    def read_frames(self, limit: int) -> list[bytes]:
        return read_waiting(self._fd, limit)

    def write_frame(self, frame: bytes) -> bool:
        try:
            os.write(self._fd, frame)
        except BlockingIOError:
            self.frames_dropped += 1
            return False
        except OSError as error:
            # The kernel refuses frames while the interface is down (EIO).
            if error.errno in (errno.EIO, errno.ENOBUFS):
                self.frames_dropped += 1
                return False
            raise
        self.frames_out += 1
        return True

    def close(self) -> None:
        self._device.close()
