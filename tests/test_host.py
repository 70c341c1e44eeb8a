"""A virtual host's answers, packet by packet, without any network."""

from typing import NamedTuple

import pytest

from vnet.host import Host, PlainPersonality, Reply, reset_for
from vnet.wire import icmp, ipv4, tcp, udp
from vnet.wire.errors import MalformedFrame
from vnet.wire.icmp import IcmpMessage
from vnet.wire.ipv4 import FLAG_DF, FLAG_MF, Ipv4Packet
from vnet.wire.tcp import TcpSegment
from vnet.wire.udp import UdpDatagram

HOST = ipv4.addr_from_str("192.0.2.10")
PEER = ipv4.addr_from_str("192.0.2.254")
MAC = bytes.fromhex("02005e000010")


class Port(NamedTuple):
    policy: str | None
    service: object = None


class Ports(NamedTuple):
    tcp_policy: str = "closed"
    udp_policy: str = "closed"
    ports: dict = {}


def make_host(**ports):
    sent = []
    host = Host(HOST, MAC, Ports(**ports), lambda _, packet: sent.append(packet))
    return host, sent


def receive(host, protocol, payload, **fields):
    packet = Ipv4Packet(PEER, HOST, protocol, payload, **fields)
    host.receive(ipv4.parse(ipv4.emit(packet)), now=1.0)
    return packet


def test_echo_request_gets_an_echo_reply_with_the_same_id_and_data():
    host, sent = make_host()
    request = icmp.echo(icmp.ECHO_REQUEST, 0x1234, 7, b"abc" * 20)

    receive(host, ipv4.PROTO_ICMP, icmp.emit(request))

    [packet] = sent
    reply = icmp.parse(packet.payload)
    assert (packet.src, packet.dst) == (HOST, PEER)
    assert reply.type == icmp.ECHO_REPLY
    assert (reply.identifier, reply.sequence) == (0x1234, 7)
    assert reply.payload == b"abc" * 20


def test_an_echo_reply_is_the_request_with_type_0_stamped_as_an_echo():
    host, sent = make_host()
    host.personality = Stamped()
    request = icmp.echo(icmp.ECHO_REQUEST, 0x1234, 7, b"abc" * 20, code=9)

    receive(host, ipv4.PROTO_ICMP, icmp.emit(request))

    [packet] = sent
    expected = icmp.echo(icmp.ECHO_REPLY, 0x1234, 7, b"abc" * 20, code=9)
    assert packet.payload == icmp.emit(expected)
    assert (packet.ttl, packet.ident, packet.flags) == (99, 0x4321, FLAG_DF)
    assert host.personality.kinds == ["icmp-echo"]


def test_an_echo_with_a_bad_checksum_is_the_peers_mistake():
    host, sent = make_host()
    request = bytearray(icmp.emit(icmp.echo(icmp.ECHO_REQUEST, 1, 1, b"data")))
    request[9] ^= 0x10

    with pytest.raises(MalformedFrame, match="bad checksum"):
        receive(host, ipv4.PROTO_ICMP, bytes(request))
    assert sent == []


def test_a_personality_that_answers_echoes_its_own_way_is_asked():
    host, sent = make_host()
    host.personality = CodeZero()
    request = icmp.echo(icmp.ECHO_REQUEST, 1, 2, b"data", code=9)

    receive(host, ipv4.PROTO_ICMP, icmp.emit(request))

    [packet] = sent
    assert icmp.parse(packet.payload) == icmp.echo(icmp.ECHO_REPLY, 1, 2, b"data")
    assert not CodeZero.echoes_verbatim and PlainPersonality.echoes_verbatim


class Stamped(PlainPersonality):
    """Echoes as PlainPersonality does, with a stamp of its own."""

    __slots__ = ("kinds",)

    def __init__(self):
        super().__init__()
        self.kinds = []

    def header(self, kind, now, peer=0):
        self.kinds.append(kind)
        return 99, 0x4321, FLAG_DF


class CodeZero(PlainPersonality):
    """Answers every echo with code 0, whatever the request's code."""

    def echo_reply(self, packet, request, now):
        message = IcmpMessage(icmp.ECHO_REPLY, 0, request.rest, request.payload)
        return Reply(message)


def test_every_packet_sent_gets_a_fresh_ip_id():
    host, sent = make_host()
    request = icmp.emit(icmp.echo(icmp.ECHO_REQUEST, 1, 1, b""))

    for _ in range(3):
        receive(host, ipv4.PROTO_ICMP, request)

    assert len({packet.ident for packet in sent}) == 3


def test_timestamp_request_gets_a_timestamp_reply():
    host, sent = make_host()
    request = IcmpMessage(icmp.TIMESTAMP, 0, 0x00050001, bytes(12))

    receive(host, ipv4.PROTO_ICMP, icmp.emit(request))

    reply = icmp.parse(sent[0].payload)
    assert reply.type == icmp.TIMESTAMP_REPLY
    assert reply.rest == 0x00050001


def test_udp_to_a_closed_port_gets_port_unreachable_quoting_the_datagram():
    host, sent = make_host()
    datagram = udp.emit(UdpDatagram(40000, 33434, b"C" * 300), PEER, HOST)

    original = receive(host, ipv4.PROTO_UDP, datagram, ident=0x1042)

    message = icmp.parse(sent[0].payload)
    assert (message.type, message.code) == (3, icmp.PORT_UNREACHABLE)
    assert message.payload == ipv4.emit(original)
    assert icmp.parse_quote(message)[3:] == (40000, 33434)


def test_filtered_ports_send_nothing():
    host, sent = make_host(tcp_policy="filtered", udp_policy="filtered")
    syn = TcpSegment(40000, 80, 1000, 0, tcp.SYN, 1024)

    receive(host, ipv4.PROTO_TCP, tcp.emit(syn, PEER, HOST))
    receive(host, ipv4.PROTO_UDP, udp.emit(UdpDatagram(1, 2, b""), PEER, HOST))

    assert sent == []


def test_a_listed_port_overrides_the_default_policy():
    ports = {("tcp", 81): Port("filtered"), ("udp", 53): Port("closed")}
    host, sent = make_host(tcp_policy="closed", udp_policy="filtered", ports=ports)

    syn = TcpSegment(40000, 81, 1000, 0, tcp.SYN, 1024)
    receive(host, ipv4.PROTO_TCP, tcp.emit(syn, PEER, HOST))
    assert sent == []

    receive(host, ipv4.PROTO_UDP, udp.emit(UdpDatagram(5, 53, b"q"), PEER, HOST))
    assert icmp.parse(sent[0].payload).code == icmp.PORT_UNREACHABLE


def test_syn_to_a_closed_port_gets_rst_ack_acknowledging_the_syn():
    host, sent = make_host()
    syn = TcpSegment(40000, 23, 5000, 0, tcp.SYN, 1024)

    receive(host, ipv4.PROTO_TCP, tcp.emit(syn, PEER, HOST))

    reset = tcp.parse(sent[0].payload, HOST, PEER)
    assert reset.flags == tcp.RST | tcp.ACK
    assert (reset.seq, reset.ack) == (0, 5001)
    assert (reset.src_port, reset.dst_port) == (23, 40000)


def test_rst_answers_follow_rfc_9293():
    ack = TcpSegment(1, 2, 100, 777, tcp.ACK, 10)
    fin_data = TcpSegment(1, 2, 100, 0, tcp.FIN | tcp.PSH, 10, b"xyz")

    assert reset_for(ack)[2:5] == (777, 0, tcp.RST)
    assert reset_for(fin_data)[2:5] == (0, 104, tcp.RST | tcp.ACK)
    assert reset_for(TcpSegment(1, 2, 100, 0, tcp.RST, 10)) is None


def test_an_open_port_hands_segments_to_the_tcp_layer():
    host, sent = make_host(ports={("tcp", 80): Port(None, "web")})
    seen = []
    host.tcp_handler = lambda packet, segment, now: seen.append(segment.dst_port)

    syn = TcpSegment(40000, 80, 1, 0, tcp.SYN, 1024)
    receive(host, ipv4.PROTO_TCP, tcp.emit(syn, PEER, HOST))

    assert seen == [80] and sent == []


def test_an_unknown_protocol_gets_protocol_unreachable():
    host, sent = make_host()

    receive(host, 47, b"\x00" * 8)

    assert icmp.parse(sent[0].payload).code == icmp.PROTOCOL_UNREACHABLE


def test_fragments_are_dropped():
    host, sent = make_host()
    request = icmp.emit(icmp.echo(icmp.ECHO_REQUEST, 1, 1, b"x" * 8))

    receive(host, ipv4.PROTO_ICMP, request, flags=FLAG_MF)

    assert sent == []


def test_a_bad_tcp_checksum_is_the_peers_mistake():
    host, _ = make_host()
    segment = bytearray(tcp.emit(TcpSegment(1, 80, 1, 0, tcp.SYN, 1), PEER, HOST))
    segment[16] ^= 0xFF

    with pytest.raises(MalformedFrame):
        receive(host, ipv4.PROTO_TCP, bytes(segment))
