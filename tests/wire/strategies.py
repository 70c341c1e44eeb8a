"""Hypothesis strategies for valid `vnet.wire` values, for any test to reuse.

Every strategy draws values that `emit` accepts and that `parse` gives back
unchanged, so `parse(emit(value)) == value` holds for all of them. Addresses
come from the documentation ranges only.
"""

from hypothesis import strategies as st

from vnet.wire import arp, ethernet, icmp, ipv4, tcp, udp
from vnet.wire.tcp import TcpOption

DOCUMENTATION_NETWORKS = (0xC0000200, 0xC6336400, 0xCB007100)

ports = st.integers(0, 0xFFFF)
uint8 = st.integers(0, 0xFF)
uint16 = st.integers(0, 0xFFFF)
uint32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)
payloads = st.binary(max_size=96)
# The 5-bit option numbers of IPv4 options that carry a length byte.
ipv4_option_numbers = st.integers(2, 31)


@st.composite
def addresses(draw: st.DrawFn) -> int:
    """An address in 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24."""
    network = draw(st.sampled_from(DOCUMENTATION_NETWORKS))
    return network | draw(uint8)


def ethernet_frames(payload: st.SearchStrategy[bytes] = payloads):
    return st.builds(ethernet.EthernetFrame, macs, macs, uint16, payload)


def arp_packets():
    return st.builds(
        arp.ArpPacket,
        st.one_of(st.sampled_from([arp.REQUEST, arp.REPLY]), uint16),
        macs,
        addresses(),
        macs,
        addresses(),
    )


@st.composite
def ipv4_options(
    draw: st.DrawFn, numbers: st.SearchStrategy[int] = ipv4_option_numbers
) -> bytes:
    """Well-formed IPv4 options (RFC 791 3.1), padded with EOL to 4n <= 40.

    The codec keeps options as bytes and would take any; well-formed ones are
    drawn so that scapy can dissect them too. numbers are the 5-bit option
    numbers of the options with a length byte.
    """
    room = ipv4.MAX_OPTIONS_LENGTH
    options = b""
    while room > 0 and draw(st.booleans()):
        if draw(st.booleans()) or room < 2:
            option = b"\x01"  # no operation
        else:
            copied_and_class = draw(st.integers(0, 7)) << 5
            kind = copied_and_class | draw(numbers)
            data = draw(st.binary(max_size=min(room - 2, 8)))
            option = bytes([kind, 2 + len(data)]) + data
        options += option
        room -= len(option)
    return options + b"\x00" * (-len(options) % 4)


def ipv4_packets(
    protocol: st.SearchStrategy[int] = uint8,
    payload: st.SearchStrategy[bytes] = payloads,
    options: st.SearchStrategy[bytes] | None = None,
):
    return st.builds(
        ipv4.Ipv4Packet,
        src=addresses(),
        dst=addresses(),
        protocol=protocol,
        payload=payload,
        ttl=uint8,
        ident=uint16,
        flags=st.integers(0, 7),
        fragment_offset=st.integers(0, 0x1FFF),
        tos=uint8,
        options=ipv4_options() if options is None else options,
    )


def icmp_messages():
    return st.builds(icmp.IcmpMessage, uint8, uint8, uint32, payloads)


def echo_messages():
    return st.builds(
        icmp.echo,
        st.sampled_from([icmp.ECHO_REQUEST, icmp.ECHO_REPLY]),
        uint16,
        uint16,
        payloads,
    )


@st.composite
def quoted_datagrams(draw: st.DrawFn) -> bytes:
    """The start of an IPv4 datagram carrying UDP or TCP, as errors quote it."""
    transport = draw(st.sampled_from([ipv4.PROTO_UDP, ipv4.PROTO_TCP]))
    src, dst = draw(addresses()), draw(addresses())
    if transport == ipv4.PROTO_UDP:
        datagram = udp.UdpDatagram(draw(ports), draw(ports), draw(payloads))
        inner = udp.emit(datagram, src, dst)
    else:
        inner = tcp.emit(draw(tcp_segments()), src, dst)
    packet = ipv4.Ipv4Packet(src, dst, transport, inner, draw(uint8), draw(uint16))
    quoted = ipv4.emit(packet)
    return quoted[: draw(st.integers(28, len(quoted)))]


def error_messages():
    """Destination unreachable and time exceeded, quoting a datagram."""
    unreachable = st.builds(
        icmp.IcmpMessage,
        st.just(icmp.DEST_UNREACHABLE),
        st.integers(0, 15),
        uint16,  # unused, or the next-hop MTU for code 4 (RFC 1191)
        quoted_datagrams(),
    )
    exceeded = st.builds(
        icmp.IcmpMessage,
        st.just(icmp.TIME_EXCEEDED),
        st.sampled_from([icmp.TTL_EXCEEDED, icmp.REASSEMBLY_EXCEEDED]),
        st.just(0),
        quoted_datagrams(),
    )
    return unreachable | exceeded


def timestamp_messages():
    return st.builds(
        icmp.IcmpMessage,
        st.sampled_from([icmp.TIMESTAMP, icmp.TIMESTAMP_REPLY]),
        st.just(0),
        uint32,
        st.tuples(uint32, uint32, uint32).map(
            lambda stamps: b"".join(stamp.to_bytes(4, "big") for stamp in stamps)
        ),
    )


KNOWN_KINDS = frozenset(
    [tcp.EOL, tcp.NOP, tcp.MSS, tcp.WSCALE, tcp.SACK_PERMITTED, tcp.SACK, tcp.TIMESTAMP]
)
NON_STANDARD_KINDS = (tcp.MSS, tcp.WSCALE, tcp.SACK_PERMITTED, tcp.SACK, tcp.TIMESTAMP)


def _standard_data_length(kind: int, data_length: int) -> bool:
    if kind == tcp.SACK:
        return data_length % 8 == 0
    standard = {tcp.MSS: 2, tcp.WSCALE: 1, tcp.SACK_PERMITTED: 0, tcp.TIMESTAMP: 8}
    return standard[kind] == data_length


def _non_standard_options(kinds, room: int):
    """A known kind carrying data of a length that is not its standard one."""

    @st.composite
    def option(draw: st.DrawFn) -> TcpOption:
        kind = draw(st.sampled_from(kinds))
        data = draw(
            st.binary(max_size=room - 2).filter(
                lambda data: not _standard_data_length(kind, len(data))
            )
        )
        return TcpOption(kind, data)

    return option()


# RFC 2018 section 3: a block runs from its left edge up to its right edge,
# which lies ahead in sequence space.
sack_blocks = st.builds(
    lambda left, size: (left, (left + size) & 0xFFFFFFFF),
    uint32,
    st.integers(1, 0x7FFFFFFF),
)


def _options_that_fit(room: int, unknown_kinds, non_standard_kinds):
    """One option, other than EOL, that encodes into at most room bytes."""
    choices = [st.just(TcpOption(tcp.NOP))]
    if room >= 2:
        choices.append(st.just(TcpOption(tcp.SACK_PERMITTED)))
        choices.append(
            st.builds(TcpOption, unknown_kinds, st.binary(max_size=room - 2))
        )
    if room >= 3:
        choices.append(st.builds(TcpOption, st.just(tcp.WSCALE), uint8))
        if non_standard_kinds:
            choices.append(_non_standard_options(non_standard_kinds, room))
    if room >= 4:
        choices.append(st.builds(TcpOption, st.just(tcp.MSS), uint16))
    if room >= 10:
        choices.append(
            st.builds(TcpOption, st.just(tcp.TIMESTAMP), st.tuples(uint32, uint32))
        )
    blocks = (room - 2) // 8
    if room >= 2:
        sack = st.lists(sack_blocks, max_size=blocks).map(tuple)
        choices.append(st.builds(TcpOption, st.just(tcp.SACK), sack))
    return st.one_of(choices)


@st.composite
def tcp_options(
    draw: st.DrawFn,
    unknown_kinds: st.SearchStrategy[int] | None = None,
    non_standard_kinds: tuple[int, ...] = NON_STANDARD_KINDS,
    zero_padding: bool = False,
) -> tuple[TcpOption, ...]:
    """Options in any order that fill whole 32-bit words, at most 40 bytes.

    An EOL, if any, is last and carries the bytes that fill the last word
    (random ones unless zero_padding).
    """
    if unknown_kinds is None:
        unknown_kinds = st.integers(2, 255).filter(lambda kind: kind not in KNOWN_KINDS)
    options: list[TcpOption] = []
    room = tcp.MAX_OPTIONS_LENGTH
    for _ in range(draw(st.integers(0, 12))):
        if room == 0:
            break
        option = draw(_options_that_fit(room, unknown_kinds, non_standard_kinds))
        options.append(option)
        room -= tcp.options_length((option,))

    used = tcp.MAX_OPTIONS_LENGTH - room
    missing = -used % 4
    if missing or (room and draw(st.booleans())):
        tail_length = missing - 1 if missing else 3
        if zero_padding:
            tail = b"\x00" * tail_length
        else:
            tail = draw(st.binary(min_size=tail_length, max_size=tail_length))
        options.append(TcpOption(tcp.EOL, tail))
    return tuple(options)


@st.composite
def tcp_option_areas(draw: st.DrawFn) -> bytes:
    """Raw option area bytes, 4n <= 40 long, mostly but not always well formed.

    Pieces of kind, length and data with any kind and any length, NOPs, and
    an EOL with any bytes after it: what a fuzzer or an odd stack may send.
    """
    area = b""
    while len(area) < tcp.MAX_OPTIONS_LENGTH and draw(st.booleans()):
        piece = draw(
            st.one_of(
                st.just(b"\x01"),
                st.builds(
                    lambda kind, data: bytes([kind, 2 + len(data)]) + data,
                    uint8.filter(lambda kind: kind > tcp.NOP),
                    st.binary(max_size=12),
                ),
                st.binary(min_size=1, max_size=4),
            )
        )
        area += piece
    area = area[: tcp.MAX_OPTIONS_LENGTH]
    missing = -len(area) % 4
    return area + draw(st.binary(min_size=missing, max_size=missing))


def tcp_segments(options: st.SearchStrategy[tuple[TcpOption, ...]] | None = None):
    return st.builds(
        tcp.TcpSegment,
        src_port=ports,
        dst_port=ports,
        seq=uint32,
        ack=uint32,
        flags=uint8,
        window=uint16,
        payload=payloads,
        options=tcp_options() if options is None else options,
        urgent=uint16,
        reserved=st.integers(0, 15),
    )


def udp_datagrams():
    return st.builds(udp.UdpDatagram, ports, ports, payloads)


_SHAPED = (
    icmp.DEST_UNREACHABLE,
    icmp.TIME_EXCEEDED,
    icmp.TIMESTAMP,
    icmp.TIMESTAMP_REPLY,
)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """A valid Ethernet frame carrying ARP, or IPv4 with ICMP, TCP or UDP."""
    kind = draw(st.sampled_from(["arp", "icmp", "tcp", "udp", "fragment"]))
    if kind == "arp":
        return ethernet.emit(
            ethernet.EthernetFrame(
                draw(macs),
                draw(macs),
                ethernet.ETHERTYPE_ARP,
                arp.emit(draw(arp_packets())),
            )
        )
    packet = draw(ipv4_packets(payload=st.just(b"")))
    if kind == "fragment":
        payload = draw(payloads)
    elif kind == "icmp":
        # Other messages only: errors and timestamps must carry their payload.
        others = icmp_messages().filter(lambda message: message.type not in _SHAPED)
        messages = others | error_messages() | timestamp_messages()
        payload = icmp.emit(draw(messages))
    elif kind == "tcp":
        payload = tcp.emit(draw(tcp_segments()), packet.src, packet.dst)
    else:
        payload = udp.emit(draw(udp_datagrams()), packet.src, packet.dst)
    protocol = {
        "icmp": ipv4.PROTO_ICMP,
        "tcp": ipv4.PROTO_TCP,
        "udp": ipv4.PROTO_UDP,
    }.get(kind, packet.protocol)
    flags = packet.flags & ~ipv4.FLAG_MF
    offset = 0
    if kind == "fragment":
        flags, offset = packet.flags | ipv4.FLAG_MF, packet.fragment_offset
    packet = packet._replace(
        protocol=protocol, payload=payload, flags=flags, fragment_offset=offset
    )
    return ethernet.emit(
        ethernet.EthernetFrame(
            draw(macs), draw(macs), ethernet.ETHERTYPE_IPV4, ipv4.emit(packet)
        )
    )
