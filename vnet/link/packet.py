"""An existing interface, through an AF_PACKET socket (the ARP-proxy mode).

vnet then shares a real segment with real hosts. It sees every frame on the
interface and answers only for the addresses it has claimed (see
`vnet.network.claims`). Frames that this machine itself sends out are skipped,
so vnet never answers its own transmissions.

Frames read from a packet socket may carry partial checksums when the
interface offloads them; the engine is told so and does not verify TCP and
UDP checksums on this link (`verifies_checksums` is False).
"""

from __future__ import annotations

import logging
import socket

from vnet.link.base import LinkError

log = logging.getLogger(__name__)

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class PacketLink:
    """A raw socket bound to one interface."""

    verifies_checksums = False

    def __init__(self, name: str) -> None:
        try:
            self._socket = socket.socket(
                socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)
            )
            self._socket.bind((name, 0))
        except OSError as error:
            raise LinkError(f"cannot open interface {name!r}: {error}") from error
        self._socket.setblocking(False)
        self.name = name
        self.mac = self._socket.getsockname()[4]
        self.frames_out = 0
        self.frames_dropped = 0
        log.info("attached to interface %s", name)

    def fileno(self) -> int:
        return self._socket.fileno()

    def read_frames(self, limit: int) -> list[bytes]:
        frames: list[bytes] = []
        receive = self._socket.recvfrom
        try:
            while len(frames) < limit:
                frame, address = receive(65536)
                if address[2] != PACKET_OUTGOING:
                    frames.append(frame)
        except BlockingIOError:
            pass
        return frames

    def write_frame(self, frame: bytes) -> bool:
        try:
            self._socket.send(frame)
        except (BlockingIOError, OSError):
            self.frames_dropped += 1
            return False
        self.frames_out += 1
        return True

    def close(self) -> None:
        self._socket.close()
