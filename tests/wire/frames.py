"""Golden frames written out by hand, and a decoder that walks a whole frame.

Each frame is spelled field by field, so a reader can check it against the
RFC diagrams. Checksums were computed once with scapy, outside vnet, and are
written in as data. Addresses are from the documentation ranges.
"""

from vnet.wire import arp, ethernet, icmp, ipv4, tcp, udp


def _bytes(*fields: str) -> bytes:
    return bytes.fromhex("".join(fields))


CLIENT_MAC = "525400123456"
HOST_MAC = "02005e100001"

# A Linux SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
LINUX_SYN = _bytes(
    HOST_MAC,
    CLIENT_MAC,
    "0800",
    "4500 003c 1c46 4000 4006 3224",  # 60 bytes, DF, TTL 64, TCP
    "c000020a c6336414",  # 192.0.2.10 -> 198.51.100.20
    "a3c2 0050",  # 41922 -> 80
    "6d3f2a1b 00000000",  # seq, ack
    "a0 02 faf0 0877 0000",  # 40-byte header, SYN, window 64240
    "020405b4",  # MSS 1460
    "0402",  # SACK permitted
    "080a 009a1c3f 00000000",  # timestamps
    "01",  # NOP
    "030307",  # window scale 7
)

# The SYN/ACK a Linux host sends back to it.
LINUX_SYN_ACK = _bytes(
    CLIENT_MAC,
    HOST_MAC,
    "0800",
    "4500 003c 0000 4000 4006 4e6a",
    "c6336414 c000020a",
    "0050 a3c2",
    "2b1e0ff0 6d3f2a1c",
    "a0 12 fe88 3140 0000",  # SYN+ACK, window 65160
    "020405b4",
    "0402",
    "080a 5e0f3a70 009a1c3f",  # TSecr echoes the SYN's TSval
    "01",
    "030307",
)

# ping from Linux: 16 bytes of struct timeval, then 0x10..0x37.
PING_DATA = _bytes("b0a4f56500000000 5f2c0e0000000000") + bytes(range(0x10, 0x38))
PING = (
    _bytes(
        HOST_MAC,
        CLIENT_MAC,
        "0800",
        "4500 0054 d2a1 4000 4001 e3fb",  # 84 bytes, DF, ICMP
        "c000020a c0000201",  # 192.0.2.10 -> 192.0.2.1
        "08 00 0bca 1a2b 0001",  # echo request, id 0x1a2b, seq 1
    )
    + PING_DATA
)

PONG = (
    _bytes(
        CLIENT_MAC,
        HOST_MAC,
        "0800",
        "4500 0054 3e01 0000 4001 b89c",  # no DF this time
        "c0000201 c000020a",
        "00 00 13ca 1a2b 0001",  # echo reply
    )
    + PING_DATA
)

# "Who has 192.0.2.1? Tell 192.0.2.10", padded by the NIC to 60 bytes.
ARP_WHO_HAS = _bytes(
    "ffffffffffff",
    CLIENT_MAC,
    "0806",
    "0001 0800 06 04 0001",  # Ethernet, IPv4, request
    CLIENT_MAC,
    "c000020a",
    "000000000000",
    "c0000201",
    "00" * 18,  # Ethernet padding
)

ARP_IS_AT = _bytes(
    CLIENT_MAC,
    HOST_MAC,
    "0806",
    "0001 0800 06 04 0002",  # reply
    HOST_MAC,
    "c0000201",
    CLIENT_MAC,
    "c000020a",
)

# The UDP datagram a scanner sent to a closed port, as it left the scanner.
UDP_PROBE = _bytes(
    "4500 0026 8f3a 0000 4011 6781",
    "c000020a c0000201",
    "d431 829a 0012 52cf",  # 54321 -> 33434, 18 bytes
    "6e6d61702d70726f6265",  # "nmap-probe"
)

# Port unreachable quoting all of it, TOS 0xc0 as Linux sends errors.
PORT_UNREACHABLE = (
    _bytes(
        CLIENT_MAC,
        HOST_MAC,
        "0800",
        "45c0 0042 5a10 0000 4001 9bdf",
        "c0000201 c000020a",
        "03 03 812c 00000000",  # destination unreachable, port
    )
    + UDP_PROBE
)

# ping -R: a record route option with nine empty slots, then EOL.
RECORD_ROUTE_OPTION = _bytes("07 27 04", "00" * 36, "00")
RECORD_ROUTE_PING = (
    _bytes(
        HOST_MAC,
        CLIENT_MAC,
        "0800",
        "4f00 0054 7b1c 4000 4001 265a",  # IHL 15: 40 bytes of options
        "c000020a c0000201",
    )
    + RECORD_ROUTE_OPTION
    + _bytes(
        "08 00 218f 1a2c 0001",
        "00112233445566778899aabbccddeeff",
    )
)

# The last fragment of a UDP datagram: offset 185 * 8 = 1480, MF clear.
FRAGMENT_DATA = bytes(range(0x40, 0x50))
LAST_FRAGMENT = (
    _bytes(
        HOST_MAC,
        CLIENT_MAC,
        "0800",
        "4500 0024 b00b 00b9 4011 45f9",
        "c000020a c0000201",
    )
    + FRAGMENT_DATA
)

# A DNS query for host.example.
DNS_QUERY_DATA = _bytes(
    "beef 0100 0001 0000 0000 0000",
    "04 686f7374 07 6578616d706c65 00",
    "0001 0001",
)
DNS_QUERY = (
    _bytes(
        HOST_MAC,
        CLIENT_MAC,
        "0800",
        "4500 003a 1111 0000 4011 e562",
        "c000020a c0000235",  # to 192.0.2.53
        "e1f0 0035 0026 5514",  # 57840 -> 53, 38 bytes
    )
    + DNS_QUERY_DATA
)

# ICMP timestamp request and reply, as IPv4 packets (no Ethernet header).
TIMESTAMP_REQUEST = _bytes(
    "4500 0028 04d2 0000 4001 f1f7",
    "c000020a c0000201",
    "0d 00 cf4a 3039 0001",
    "02faf080 00000000 00000000",  # originate 50,000,000 ms after midnight
)
TIMESTAMP_REPLY = _bytes(
    "4500 0028 1e61 0000 4001 d868",
    "c0000201 c000020a",
    "0e 00 e6f0 3039 0001",
    "02faf080 02faf0b2 02faf0b2",
)

GOLDEN_FRAMES = {
    "linux_syn": LINUX_SYN,
    "linux_syn_ack": LINUX_SYN_ACK,
    "ping": PING,
    "pong": PONG,
    "arp_who_has": ARP_WHO_HAS,
    "arp_is_at": ARP_IS_AT,
    "port_unreachable": PORT_UNREACHABLE,
    "record_route_ping": RECORD_ROUTE_PING,
    "last_fragment": LAST_FRAGMENT,
    "dns_query": DNS_QUERY,
}


def decode_frame(data: bytes, verify: bool = True) -> list[object]:
    """Decode a frame as far down as it goes, the way the network layer will.

    Returns the values from Ethernet down; raises only what the parsers raise.
    """
    frame = ethernet.parse(data)
    values: list[object] = [frame]
    if frame.ethertype == ethernet.ETHERTYPE_ARP:
        values.append(arp.parse(frame.payload))
    elif frame.ethertype == ethernet.ETHERTYPE_IPV4:
        values.extend(decode_packet(frame.payload, verify))
    return values


def decode_packet(data: bytes, verify: bool = True) -> list[object]:
    """Decode an IPv4 packet and, unless it is a fragment, its transport."""
    packet = ipv4.parse(data)
    values: list[object] = [packet]
    if packet.is_fragment:
        return values
    if packet.protocol == ipv4.PROTO_TCP:
        values.append(tcp.parse(packet.payload, packet.src, packet.dst, verify))
    elif packet.protocol == ipv4.PROTO_UDP:
        values.append(udp.parse(packet.payload, packet.src, packet.dst, verify))
    elif packet.protocol == ipv4.PROTO_ICMP:
        values.extend(decode_icmp(packet.payload))
    return values


def decode_icmp(data: bytes) -> list[object]:
    message = icmp.parse(data)
    values: list[object] = [message]
    if message.type in (icmp.DEST_UNREACHABLE, icmp.TIME_EXCEEDED):
        values.append(icmp.parse_quote(message))
    elif message.type in (icmp.TIMESTAMP, icmp.TIMESTAMP_REPLY):
        values.append(icmp.timestamps(message))
    return values
