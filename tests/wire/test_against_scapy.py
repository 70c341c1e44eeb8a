"""Cross-check every codec against scapy, the reference dissector.

Both ways: scapy builds the bytes and our parse must read the same fields;
our emit builds the bytes and scapy must dissect the same fields and compute
the same checksums. scapy is a test dependency only; vnet never imports it.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.inet import (
    ICMP,
    IP,
    TCP,
    UDP,
    IPerror,
    IPOption,
    TCPerror,
    TCPOptions,
    UDPerror,
)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.utils import checksum

from vnet.wire import arp, ethernet, icmp, ipv4, tcp, udp
from vnet.wire.arp import ArpPacket
from vnet.wire.icmp import IcmpMessage
from vnet.wire.ipv4 import Ipv4Packet, addr_to_str
from vnet.wire.tcp import TcpOption, TcpSegment
from vnet.wire.udp import UdpDatagram

from . import strategies

scapy_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Option numbers scapy dissects into its own classes are left out of the
# random IPv4 options, and TCP kinds scapy decodes are left out of the random
# unknown kinds: scapy reads them its own way, not as raw bytes.
SCAPY_IP_OPTION_NUMBERS = set(IPOption.registered_ip_options)
SCAPY_TCP_KINDS = set(TCPOptions[0])

scapy_ipv4_options = strategies.ipv4_options(
    numbers=st.integers(2, 31).filter(
        lambda number: number not in SCAPY_IP_OPTION_NUMBERS
    )
)
scapy_tcp_options = strategies.tcp_options(
    unknown_kinds=st.integers(2, 255).filter(
        lambda kind: kind not in SCAPY_TCP_KINDS | strategies.KNOWN_KINDS
    ),
    # scapy reads a SACK of odd length as numbers, not bytes.
    non_standard_kinds=(tcp.MSS, tcp.WSCALE, tcp.SACK_PERMITTED, tcp.TIMESTAMP),
    # scapy stops at EOL and pads with zeros itself.
    zero_padding=True,
)
scapy_ipv4_fragments = strategies.ipv4_packets(options=scapy_ipv4_options).map(
    lambda packet: packet._replace(flags=packet.flags | ipv4.FLAG_MF)
)
# scapy dissects a transport header only in a packet that is no fragment.
scapy_ipv4_headers = strategies.ipv4_packets(
    payload=st.just(b""), options=scapy_ipv4_options
).map(
    lambda packet: packet._replace(
        flags=packet.flags & ~ipv4.FLAG_MF, fragment_offset=0
    )
)


def mac(address: bytes) -> str:
    return ethernet.mac_to_str(address)


def payload_bytes(layer: Packet) -> bytes:
    """The bytes scapy took as this layer's payload, before any dissection."""
    return getattr(layer.payload, "original", b"") or b""


def recomputed_checksum(packet: Packet, layer: type[Packet]) -> int:
    """The checksum scapy computes for layer when it builds packet itself."""
    copy = packet.copy()
    del copy[layer].chksum
    return packet.__class__(raw(copy))[layer].chksum


def scapy_ip(header: Ipv4Packet, protocol: int) -> IP:
    return IP(
        src=addr_to_str(header.src),
        dst=addr_to_str(header.dst),
        ttl=header.ttl,
        id=header.ident,
        flags=header.flags,
        frag=header.fragment_offset,
        tos=header.tos,
        proto=protocol,
        options=[IPOption(header.options)] if header.options else [],
    )


def assert_same_ip(scapy_packet: IP, packet: Ipv4Packet) -> None:
    assert scapy_packet.version == 4
    assert scapy_packet.src == addr_to_str(packet.src)
    assert scapy_packet.dst == addr_to_str(packet.dst)
    assert scapy_packet.proto == packet.protocol
    assert scapy_packet.ttl == packet.ttl
    assert scapy_packet.id == packet.ident
    assert int(scapy_packet.flags) == packet.flags
    assert scapy_packet.frag == packet.fragment_offset
    assert scapy_packet.tos == packet.tos
    assert scapy_packet.ihl == 5 + len(packet.options) // 4
    assert scapy_packet.len == scapy_packet.ihl * 4 + len(packet.payload)
    assert b"".join(raw(option) for option in scapy_packet.options) == packet.options


def as_packet(header: Ipv4Packet, protocol: int, payload: bytes) -> Ipv4Packet:
    return header._replace(protocol=protocol, payload=payload)


# IPv4 fragments, whose payload no one dissects


@scapy_settings
@given(scapy_ipv4_fragments)
def test_fragment_built_by_scapy_parses_the_same(packet: Ipv4Packet) -> None:
    built = scapy_ip(packet, packet.protocol) / Raw(packet.payload)

    parsed = ipv4.parse(raw(built))

    assert parsed == packet
    assert parsed.is_fragment


@scapy_settings
@given(scapy_ipv4_fragments)
def test_fragment_emitted_dissects_the_same_in_scapy(packet: Ipv4Packet) -> None:
    dissected = IP(ipv4.emit(packet))

    assert_same_ip(dissected, packet)
    assert payload_bytes(dissected) == packet.payload
    assert recomputed_checksum(dissected, IP) == dissected.chksum


# Ethernet and ARP


@scapy_settings
@given(strategies.macs, strategies.macs, strategies.arp_packets())
def test_arp_built_by_scapy_parses_the_same(
    dst: bytes, src: bytes, packet: ArpPacket
) -> None:
    built = Ether(dst=mac(dst), src=mac(src)) / ARP(
        op=packet.operation,
        hwsrc=mac(packet.sender_mac),
        psrc=addr_to_str(packet.sender_ip),
        hwdst=mac(packet.target_mac),
        pdst=addr_to_str(packet.target_ip),
    )

    frame = ethernet.parse(raw(built))

    assert (frame.dst, frame.src, frame.ethertype) == (dst, src, 0x0806)
    assert arp.parse(frame.payload) == packet


@scapy_settings
@given(strategies.macs, strategies.macs, strategies.arp_packets())
def test_arp_emitted_dissects_the_same_in_scapy(
    dst: bytes, src: bytes, packet: ArpPacket
) -> None:
    frame = ethernet.EthernetFrame(dst, src, ethernet.ETHERTYPE_ARP, arp.emit(packet))

    dissected = Ether(ethernet.emit(frame))

    assert (dissected.dst, dissected.src, dissected.type) == (
        mac(dst),
        mac(src),
        0x0806,
    )
    request = dissected[ARP]
    assert (request.hwtype, request.ptype, request.hwlen, request.plen) == (
        1,
        0x0800,
        6,
        4,
    )
    assert request.op == packet.operation
    assert request.hwsrc == mac(packet.sender_mac)
    assert request.psrc == addr_to_str(packet.sender_ip)
    assert request.hwdst == mac(packet.target_mac)
    assert request.pdst == addr_to_str(packet.target_ip)


# TCP


def scapy_options(options: tuple[TcpOption, ...]) -> list[tuple[object, object]]:
    """Our options in scapy's spelling, for building and for comparing."""
    spelled: list[tuple[object, object]] = []
    for kind, value in options:
        if isinstance(value, bytes) and kind != tcp.EOL:
            spelled.append((kind, value))
        elif kind == tcp.SACK:
            assert isinstance(value, tuple)
            spelled.append(("SAck", tuple(edge for block in value for edge in block)))
        elif kind == tcp.SACK_PERMITTED:
            spelled.append(("SAckOK", b""))
        else:
            spelled.append((TCPOptions[0][kind][0], value if kind != tcp.EOL else None))
    return spelled


def by_kind(options: list[tuple[object, object]]) -> list[tuple[object, object]]:
    """Name scapy's options by kind number, so that both spellings compare."""
    return [(TCPOptions[1].get(name, name), value) for name, value in options]


def scapy_tcp(segment: TcpSegment) -> TCP:
    # scapy counts NS (our lowest reserved bit) among the flags.
    return TCP(
        sport=segment.src_port,
        dport=segment.dst_port,
        seq=segment.seq,
        ack=segment.ack,
        reserved=segment.reserved >> 1,
        flags=segment.flags | (segment.reserved & 1) << 8,
        window=segment.window,
        urgptr=segment.urgent,
        options=scapy_options(segment.options),
    ) / Raw(segment.payload)


@scapy_settings
@given(scapy_ipv4_headers, strategies.tcp_segments(scapy_tcp_options))
def test_tcp_built_by_scapy_parses_the_same(
    header: Ipv4Packet, segment: TcpSegment
) -> None:
    built = raw(scapy_ip(header, ipv4.PROTO_TCP) / scapy_tcp(segment))

    packet = ipv4.parse(built)
    parsed = tcp.parse(packet.payload, packet.src, packet.dst)

    assert packet == as_packet(header, ipv4.PROTO_TCP, packet.payload)
    assert parsed == segment
    assert tcp.emit(parsed, packet.src, packet.dst) == packet.payload


@scapy_settings
@given(scapy_ipv4_headers, strategies.tcp_segments(scapy_tcp_options))
def test_tcp_emitted_dissects_the_same_in_scapy(
    header: Ipv4Packet, segment: TcpSegment
) -> None:
    data = tcp.emit(segment, header.src, header.dst)
    packet = as_packet(header, ipv4.PROTO_TCP, data)

    dissected = IP(ipv4.emit(packet))

    assert_same_ip(dissected, packet)
    found = dissected[TCP]
    assert (found.sport, found.dport) == (segment.src_port, segment.dst_port)
    assert (found.seq, found.ack) == (segment.seq, segment.ack)
    assert int(found.flags) & 0xFF == segment.flags
    assert found.reserved << 1 | int(found.flags) >> 8 == segment.reserved
    assert (found.window, found.urgptr) == (segment.window, segment.urgent)
    assert found.dataofs == 5 + tcp.options_length(segment.options) // 4
    assert by_kind(found.options) == by_kind(scapy_options(segment.options))
    assert payload_bytes(found) == segment.payload
    assert recomputed_checksum(dissected, IP) == dissected[IP].chksum
    assert recomputed_checksum(dissected, TCP) == found.chksum


# UDP


@scapy_settings
@given(scapy_ipv4_headers, strategies.udp_datagrams())
def test_udp_built_by_scapy_parses_the_same(
    header: Ipv4Packet, datagram: UdpDatagram
) -> None:
    built = (
        scapy_ip(header, ipv4.PROTO_UDP)
        / UDP(sport=datagram.src_port, dport=datagram.dst_port)
        / Raw(datagram.payload)
    )

    packet = ipv4.parse(raw(built))

    assert packet == as_packet(header, ipv4.PROTO_UDP, packet.payload)
    assert udp.parse(packet.payload, packet.src, packet.dst) == datagram
    assert udp.emit(datagram, packet.src, packet.dst) == packet.payload


@scapy_settings
@given(scapy_ipv4_headers, strategies.udp_datagrams())
def test_udp_emitted_dissects_the_same_in_scapy(
    header: Ipv4Packet, datagram: UdpDatagram
) -> None:
    packet = as_packet(
        header, ipv4.PROTO_UDP, udp.emit(datagram, header.src, header.dst)
    )

    dissected = IP(ipv4.emit(packet))

    assert_same_ip(dissected, packet)
    found = dissected[UDP]
    assert (found.sport, found.dport) == (datagram.src_port, datagram.dst_port)
    assert found.len == 8 + len(datagram.payload)
    assert payload_bytes(found) == datagram.payload
    assert recomputed_checksum(dissected, IP) == dissected[IP].chksum
    assert recomputed_checksum(dissected, UDP) == found.chksum


# ICMP


def scapy_icmp(message: IcmpMessage) -> Packet:
    """Spell a message the way scapy lays out its type's fields."""
    if message.type in (icmp.TIMESTAMP, icmp.TIMESTAMP_REPLY):
        originate, receive, transmit = icmp.timestamps(message)
        return ICMP(
            type=message.type,
            code=message.code,
            id=message.identifier,
            seq=message.sequence,
            ts_ori=originate,
            ts_rx=receive,
            ts_tx=transmit,
        ) / Raw(message.payload[12:])
    fields = {"type": message.type, "code": message.code}
    if message.type in (icmp.ECHO_REQUEST, icmp.ECHO_REPLY):
        fields.update(id=message.identifier, seq=message.sequence)
    elif message.type == icmp.DEST_UNREACHABLE:
        fields.update(nexthopmtu=message.rest & 0xFFFF)
    else:
        fields.update(unused=message.rest & 0xFFFF)
    return ICMP(**fields) / Raw(message.payload)


icmp_messages = (
    strategies.echo_messages()
    | strategies.timestamp_messages()
    | strategies.error_messages()
)


@scapy_settings
@given(scapy_ipv4_headers, icmp_messages)
def test_icmp_built_by_scapy_parses_the_same(
    header: Ipv4Packet, message: IcmpMessage
) -> None:
    built = raw(scapy_ip(header, ipv4.PROTO_ICMP) / scapy_icmp(message))

    packet = ipv4.parse(built)

    assert packet == as_packet(header, ipv4.PROTO_ICMP, packet.payload)
    assert icmp.parse(packet.payload) == message
    assert icmp.emit(message) == packet.payload


@scapy_settings
@given(scapy_ipv4_headers, icmp_messages)
def test_icmp_emitted_dissects_the_same_in_scapy(
    header: Ipv4Packet, message: IcmpMessage
) -> None:
    data = icmp.emit(message)
    packet = as_packet(header, ipv4.PROTO_ICMP, data)

    dissected = IP(ipv4.emit(packet))

    assert_same_ip(dissected, packet)
    found = dissected[ICMP]
    assert (found.type, found.code) == (message.type, message.code)
    # scapy's checksum over the whole message, checksum field included.
    assert checksum(data) == 0
    assert recomputed_checksum(dissected, IP) == dissected[IP].chksum
    if message.type in (icmp.DEST_UNREACHABLE, icmp.TIME_EXCEEDED):
        assert_same_quote(found, message)
    else:
        assert_same_query(dissected, found, message)


def assert_same_query(dissected: IP, found: ICMP, message: IcmpMessage) -> None:
    assert (found.id, found.seq) == (message.identifier, message.sequence)
    if message.type in (icmp.TIMESTAMP, icmp.TIMESTAMP_REPLY):
        stamps = (found.ts_ori, found.ts_rx, found.ts_tx)
        assert stamps == icmp.timestamps(message)
    else:
        assert payload_bytes(found) == message.payload
    assert recomputed_checksum(dissected, ICMP) == found.chksum


def assert_same_quote(found: ICMP, message: IcmpMessage) -> None:
    """scapy reads the quote as IPerror and UDPerror or TCPerror."""
    if message.type == icmp.DEST_UNREACHABLE:
        assert found.nexthopmtu == message.rest & 0xFFFF
    quoted = found[IPerror]
    protocol, src, dst, src_port, dst_port = icmp.parse_quote(message)
    assert (quoted.proto, quoted.src, quoted.dst) == (
        protocol,
        addr_to_str(src),
        addr_to_str(dst),
    )
    transport_layer = UDPerror if protocol == ipv4.PROTO_UDP else TCPerror
    if transport_layer in quoted:
        transport = quoted[transport_layer]
        assert (transport.sport, transport.dport) == (src_port, dst_port)
    else:
        # A TCP header cut short stays raw bytes in scapy; read its ports.
        ports = payload_bytes(quoted)[:4]
        assert ports == src_port.to_bytes(2, "big") + dst_port.to_bytes(2, "big")
