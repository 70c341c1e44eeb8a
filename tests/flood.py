"""A bounded flood of random and mutated frames, sent from a packet socket.

Run inside a namespace: `python -m tests.flood IFACE COUNT SEED`. It writes
COUNT frames out of IFACE (the kernel side of vnet's TAP, so every frame
reaches vnet), half of them random bytes and half valid frames with bytes
flipped, cut short or lengthened, and prints how many it sent.
"""

from __future__ import annotations

import random
import socket
import sys
import time

from vnet.wire import arp, ethernet, icmp, ipv4, tcp, udp
from vnet.wire.arp import ArpPacket
from vnet.wire.ethernet import EthernetFrame
from vnet.wire.ipv4 import Ipv4Packet
from vnet.wire.tcp import TcpOption, TcpSegment
from vnet.wire.udp import UdpDatagram

PEER = ipv4.addr_from_str("192.0.2.254")
TARGET = ipv4.addr_from_str("192.0.2.10")
PEER_MAC = bytes.fromhex("0a0000000001")


def valid_frames() -> list[bytes]:
    syn = TcpSegment(
        40000,
        80,
        1,
        0,
        tcp.SYN,
        1024,
        options=(
            TcpOption(tcp.MSS, 1460),
            TcpOption(tcp.NOP),
            TcpOption(tcp.NOP),
            TcpOption(tcp.SACK_PERMITTED),
        ),
    )
    payloads = [
        (ipv4.PROTO_TCP, tcp.emit(syn, PEER, TARGET)),
        (ipv4.PROTO_UDP, udp.emit(UdpDatagram(5, 53, b"q" * 30), PEER, TARGET)),
        (ipv4.PROTO_ICMP, icmp.emit(icmp.echo(icmp.ECHO_REQUEST, 1, 1, b"x" * 56))),
    ]
    frames = [
        ethernet.emit(
            EthernetFrame(
                b"\xff" * 6,
                PEER_MAC,
                ethernet.ETHERTYPE_IPV4,
                ipv4.emit(Ipv4Packet(PEER, TARGET, proto, data)),
            )
        )
        for proto, data in payloads
    ]
    request = ArpPacket(arp.REQUEST, PEER_MAC, PEER, bytes(6), TARGET)
    frames.append(
        ethernet.emit(
            EthernetFrame(
                ethernet.BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP, arp.emit(request)
            )
        )
    )
    return frames


def mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    choice = rng.randrange(3)
    if choice == 0:
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(14, len(data))] = rng.randrange(256)
    elif choice == 1:
        del data[rng.randrange(14, len(data)) :]
    else:
        data += rng.randbytes(rng.randrange(1, 64))
        data[rng.randrange(14, 40)] ^= 0xFF
    return bytes(data)


def random_frame(rng: random.Random) -> bytes:
    ethertype = rng.choice([b"\x08\x00", b"\x08\x06", rng.randbytes(2)])
    return PEER_MAC + PEER_MAC + ethertype + rng.randbytes(rng.randrange(0, 200))


def main() -> None:
    interface, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sender.bind((interface, 0))
    templates = valid_frames()
    sent = 0
    deadline = time.monotonic() + 60
    for index in range(count):
        frame = mutate(rng.choice(templates), rng) if index % 2 else random_frame(rng)
        try:
            sender.send(frame)
            sent += 1
        except OSError:
            pass
        if time.monotonic() > deadline:
            break
    print(sent)


if __name__ == "__main__":
    main()
