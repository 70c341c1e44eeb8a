"""The ceiling for ICMP echo: the least Python that can answer pings on a TAP.

It reads a frame, and if it is an echo request it swaps the addresses, turns
the type into an echo reply, patches the checksum and writes it back. It also
answers ARP for one address, so the kernel can reach it. No parsing, no
objects: whatever the engine does beyond this is overhead.

Run inside a namespace: `python -m bench.tap_echo TAP HOST_CIDR TARGET`. On
SIGTERM it prints the number of replies as JSON.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys

import pytun

from vnet.link.kernel import run_ip

MAC = b"\x02\x00\x5e\x00\x00\x01"


def main() -> None:
    tap_name, host_cidr, target = sys.argv[1:4]
    device = pytun.TunTapDevice(name=tap_name, flags=pytun.IFF_TAP | pytun.IFF_NO_PI)
    run_ip("link", "set", "dev", tap_name, "up")
    run_ip("addr", "replace", host_cidr, "dev", tap_name)
    fd = device.fileno()
    os.set_blocking(fd, False)
    target_bytes = socket.inet_aton(target)
    replies = 0
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    print("tap_echo ready", flush=True)
    while running:
        try:
            select.select([fd], [], [], 0.2)
        except InterruptedError:
            continue
        while True:
            try:
                frame = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                break
            reply = answer(frame, target_bytes)
            if reply is not None:
                try:
                    os.write(fd, reply)
                    replies += 1
                except BlockingIOError:
                    pass
    print(json.dumps({"replies": replies}), flush=True)


def answer(frame: bytes, target: bytes) -> bytes | None:
    ethertype = frame[12:14]
    if ethertype == b"\x08\x00" and frame[23] == 1 and frame[34] == 8:
        header_length = (frame[14] & 0x0F) * 4
        icmp_start = 14 + header_length
        checksum = int.from_bytes(frame[icmp_start + 2 : icmp_start + 4], "big")
        checksum += 0x0800
        checksum = (checksum & 0xFFFF) + (checksum >> 16)
        return b"".join(
            (
                frame[6:12], frame[0:6], frame[12:26],
                frame[30:34], frame[26:30], frame[34:icmp_start],
                b"\x00", frame[icmp_start + 1 : icmp_start + 2],
                checksum.to_bytes(2, "big"), frame[icmp_start + 4 :],
            )
        )  # fmt: skip
    if ethertype == b"\x08\x06" and frame[21] == 1 and frame[38:42] == target:
        return b"".join(
            (
                frame[6:12], MAC, frame[12:20], b"\x00\x02",
                MAC, target, frame[22:28], frame[28:32],
            )
        )  # fmt: skip
    return None


if __name__ == "__main__":
    main()
