"""The virtual network: ARP, delivery to hosts, and the bounded host cache."""

from typing import NamedTuple

import pytest

from vnet.host import Host
from vnet.network.virtual import VirtualNetwork
from vnet.wire import arp, ethernet, icmp, ipv4
from vnet.wire.arp import ArpPacket
from vnet.wire.errors import MalformedFrame
from vnet.wire.ethernet import BROADCAST, EthernetFrame
from vnet.wire.ipv4 import Ipv4Packet

BASE = ipv4.addr_from_str("198.51.100.0")
PEER = ipv4.addr_from_str("198.51.100.254")
PEER_MAC = bytes.fromhex("0a0000000001")


class Ports(NamedTuple):
    tcp_policy: str = "closed"
    udp_policy: str = "closed"
    ports: dict = {}


def make_network(max_hosts=100):
    frames = []

    def make_host(address):
        if not BASE + 1 <= address <= BASE + 200:
            return None
        mac = bytes([2, 0, 0, 0, 0, address & 0xFF])
        return Host(address, mac, Ports(), network.send_packet)

    network = VirtualNetwork(make_host, frames.append, max_hosts=max_hosts)
    return network, frames


def arp_request(target):
    request = ArpPacket(arp.REQUEST, PEER_MAC, PEER, bytes(6), target)
    frame = EthernetFrame(
        BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP, arp.emit(request)
    )
    return ethernet.emit(frame)


def test_each_host_answers_arp_with_its_own_mac():
    network, frames = make_network()

    network.handle_frame(arp_request(BASE + 7), 0.0)
    network.handle_frame(arp_request(BASE + 8), 0.0)

    replies = [arp.parse(ethernet.parse(frame).payload) for frame in frames]
    assert [reply.sender_ip for reply in replies] == [BASE + 7, BASE + 8]
    assert replies[0].sender_mac != replies[1].sender_mac
    assert all(reply.operation == arp.REPLY for reply in replies)
    assert all(reply.target_mac == PEER_MAC for reply in replies)


def test_addresses_outside_the_plan_get_no_arp_reply():
    network, frames = make_network()

    network.handle_frame(arp_request(BASE + 250), 0.0)

    assert frames == []


def test_a_ping_is_answered_to_the_mac_it_came_from():
    network, frames = make_network()
    request = icmp.emit(icmp.echo(icmp.ECHO_REQUEST, 9, 1, b"ping"))
    packet = ipv4.emit(Ipv4Packet(PEER, BASE + 5, ipv4.PROTO_ICMP, request))
    host_mac = bytes([2, 0, 0, 0, 0, 5])
    frame = EthernetFrame(host_mac, PEER_MAC, ethernet.ETHERTYPE_IPV4, packet)

    network.handle_frame(ethernet.emit(frame), 0.0)

    reply = ethernet.parse(frames[0])
    assert (reply.dst, reply.src) == (PEER_MAC, host_mac)
    assert icmp.parse(ipv4.parse(reply.payload).payload).type == icmp.ECHO_REPLY


def test_malformed_frames_raise_the_one_error_type():
    network, _ = make_network()

    for junk in (
        b"",
        b"\x00" * 13,
        ethernet.emit(
            EthernetFrame(BROADCAST, PEER_MAC, ethernet.ETHERTYPE_IPV4, b"\x45" * 30)
        ),
    ):
        with pytest.raises(MalformedFrame):
            network.handle_frame(junk, 0.0)


def test_the_host_cache_is_bounded_and_keeps_busy_hosts():
    network, _ = make_network(max_hosts=10)
    busy = network.host(BASE + 1, 0.0)
    busy.busy = lambda: True

    for offset in range(2, 100):
        network.host(BASE + offset, 0.0)

    assert network.host_count <= 11
    assert network.host(BASE + 1, 0.0) is busy
