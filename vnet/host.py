"""One virtual host: it answers the IPv4 packets addressed to it.

A host sends each packet to ICMP, UDP or TCP handling. Ports with no service
follow the host's policy, as a firewall would show them to a scanner:

- `closed`: TCP answers RST (RFC 9293 section 3.10.7.1), UDP answers ICMP
  port unreachable (RFC 1122 section 4.1.3.1);
- `filtered`: nothing is sent back;
- `open`: TCP completes the handshake and holds the connection; UDP stays
  silent, as an open port whose service ignores the datagram.

Every packet the host sends goes through `Host.send`, which stamps the IP
header (TTL, DF, IP ID) from the host's personality, so the stamp covers all
traffic and not only the replies to a scanner's probes.

Limitation: IPv4 fragments are dropped, not reassembled; nothing a scanner or
spammer sends to a virtual host needs fragmenting at the TAP's MTU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from types import NotImplementedType
from typing import NamedTuple, Protocol

from vnet.wire import icmp, ipv4, tcp, udp
from vnet.wire.errors import MalformedFrame
from vnet.wire.icmp import IcmpMessage
from vnet.wire.ipv4 import FLAG_DF, FLAG_MF, Ipv4Packet
from vnet.wire.tcp import TcpSegment
from vnet.wire.udp import UdpDatagram

log = logging.getLogger(__name__)

OPEN = "open"
CLOSED = "closed"
FILTERED = "filtered"

# RFC 1812 section 4.3.2.3: quote as much of the packet as fits in 576 bytes.
QUOTE_LIMIT = 576 - 20 - 8


class Reply(NamedTuple):
    """A personality's answer: the message, and the IP fields it insists on.

    `ttl`, `dont_fragment` and `ident` left None take the host's usual stamp
    for the kind of packet. `handshake` marks a SYN-ACK that the host's TCP
    carries on from: the TCP opens the connection, and this segment goes on
    the wire in place of the TCP's own first SYN-ACK.
    """

    message: IcmpMessage | TcpSegment
    ttl: int | None = None
    dont_fragment: bool | None = None
    ident: int | None = None
    handshake: bool = False


class Personality(Protocol):
    """Everything a host's operating system decides on its own.

    `header` stamps every packet the host sends: (TTL, IP ID, flags), flags
    being the 3-bit IPv4 flags field (DF is 0x2). `kind` says what the packet
    is: "tcp", "tcp-closed", "icmp-echo", "icmp-error" or "udp"; `peer` is
    the destination, for stacks that keep an IP ID counter per peer. It is
    called once per packet, on the hot path.

    The other methods answer what no service answers: an echo request, a
    datagram to a closed UDP port, a segment to a closed TCP port. Each
    returns the Reply to send, or None to stay silent.

    `echoes_verbatim` is True when every echo reply is the request itself
    with type 0 (same code, identifier, sequence and data) and the usual
    "icmp-echo" stamp: the host then answers from the request's bytes and
    does not call `echo_reply` at all.
    """

    echoes_verbatim: bool

    def header(self, kind: str, now: float, peer: int = 0) -> tuple[int, int, int]: ...

    def echo_reply(
        self, packet: Ipv4Packet, request: IcmpMessage, now: float
    ) -> Reply | None: ...

    def port_unreachable(self, packet: Ipv4Packet, now: float) -> Reply | None: ...

    def closed_port_reply(
        self, packet: Ipv4Packet, segment: TcpSegment, now: float
    ) -> Reply | None: ...

    def unmatched_segment_reply(
        self, packet: Ipv4Packet, segment: TcpSegment, now: float
    ) -> Reply | None | NotImplementedType:
        """A segment to an open port that finds no connection (a SYN too).

        NotImplemented leaves it to the TCP's own rules (RFC 9293 3.10.7.2);
        a Reply with `handshake` lets the TCP open the connection.
        """
        ...


# PlainPersonality's IP flags by kind of packet: DF on TCP and UDP.
_PLAIN_FLAGS = {"tcp": FLAG_DF, "tcp-closed": FLAG_DF, "udp": FLAG_DF}

# Echo data from this many bytes is answered by an incremental checksum
# update (RFC 1624); for less, summing it again is cheaper than comparing.
_INCREMENTAL_ECHO = 128

# NamedTuple's own __new__ is Python code that calls this C constructor; the
# hot paths call it directly, as the codecs in vnet.wire do.
_new_value = tuple.__new__


class PlainPersonality:
    """A Linux-like host for hosts configured with no personality.

    TTL 64, DF on TCP and UDP, one IP ID counter that steps by one, echo
    replies that return the request's data, port unreachable quoting as much
    of the datagram as RFC 1812 allows, and RFC 9293's resets.
    """

    __slots__ = ("_next_ident",)

    # True while `echo_reply` is this class's own; a subclass that answers
    # echoes its own way is answered through its `echo_reply`.
    echoes_verbatim = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.echoes_verbatim = cls.echo_reply is PlainPersonality.echo_reply

    def __init__(self, first_ident: int = 1) -> None:
        self._next_ident = first_ident

    def header(self, kind: str, now: float, peer: int = 0) -> tuple[int, int, int]:
        ident = self._next_ident
        self._next_ident = (ident + 1) & 0xFFFF
        return 64, ident, _PLAIN_FLAGS.get(kind, 0)

    def echo_reply(
        self, packet: Ipv4Packet, request: IcmpMessage, now: float
    ) -> Reply | None:
        # Built as tuples, as the codecs build their values: this runs for
        # every ping.
        message = _new_value(
            IcmpMessage, (icmp.ECHO_REPLY, 0, request.rest, request.payload)
        )
        return _new_value(Reply, (message, None, None, None, False))

    def port_unreachable(self, packet: Ipv4Packet, now: float) -> Reply | None:
        return Reply(unreachable(packet, icmp.PORT_UNREACHABLE))

    def closed_port_reply(
        self, packet: Ipv4Packet, segment: TcpSegment, now: float
    ) -> Reply | None:
        reset = reset_for(segment)
        return None if reset is None else Reply(reset)

    def unmatched_segment_reply(
        self, packet: Ipv4Packet, segment: TcpSegment, now: float
    ) -> Reply | None | NotImplementedType:
        return NotImplemented


# The names the routers' code knows these by.
IpStamp = Personality
PlainStamp = PlainPersonality


class PortSpec(Protocol):
    """One configured port: a bare policy, or a service (see vnet.config)."""

    policy: str | None
    service: object


class PortTable(Protocol):
    """The host's view of its configured ports (a config Template)."""

    tcp_policy: str
    udp_policy: str
    ports: Mapping[tuple[str, int], PortSpec]


def port_policy(table: PortTable, protocol: str, port: int) -> str:
    """`open`, `closed` or `filtered`; a port with a service counts as open."""
    spec = table.ports.get((protocol, port))
    if spec is None:
        return table.tcp_policy if protocol == "tcp" else table.udp_policy
    return spec.policy or OPEN


class Host:
    """A virtual host at one address, with its MAC and its port policies."""

    def __init__(
        self,
        address: int,
        mac: bytes,
        ports: PortTable,
        send_packet: Callable[[Host, Ipv4Packet], None],
        personality: Personality | None = None,
        name: str | None = None,
    ) -> None:
        self.address = address
        self.mac = mac
        self.name = name
        self.ports = ports
        self.personality: Personality = personality or PlainPersonality()
        self._send_packet = send_packet
        # Whether TCP and UDP checksums are checked; off on links whose frames
        # may carry offloaded, partial checksums.
        self.verify = True
        # Set by the transport layers that serve this host's open ports.
        self.tcp_handler: Callable[[Ipv4Packet, TcpSegment, float], None] | None
        self.tcp_handler = None
        self.udp_handler: Callable[[Ipv4Packet, UdpDatagram, float], None] | None
        self.udp_handler = None
        # Set by layers that keep state for this host (TCP connections), so the
        # network does not let the host go while that state lives.
        self.busy: Callable[[], bool] | None = None

    # --- receiving ---------------------------------------------------------

    def receive(self, packet: Ipv4Packet, now: float) -> None:
        """Handle one packet addressed to this host. MalformedFrame propagates."""
        if packet.flags & FLAG_MF or packet.fragment_offset:
            log.debug("%s: drop fragment to %s", ipv4.addr_to_str(packet.src), self)
            return
        protocol = packet.protocol
        if protocol == ipv4.PROTO_ICMP:
            self._receive_icmp(packet, now)
        elif protocol == ipv4.PROTO_TCP:
            self._receive_tcp(packet, now)
        elif protocol == ipv4.PROTO_UDP:
            self._receive_udp(packet, now)
        else:
            self._send_unreachable(packet, icmp.PROTOCOL_UNREACHABLE, now)

    def _receive_icmp(self, packet: Ipv4Packet, now: float) -> None:
        personality = self.personality
        if personality.echoes_verbatim:
            # The usual ping, answered from its own bytes: this runs for
            # every echo request, so it builds no message and no Reply.
            payload = icmp.answer_echo(packet.payload, verify=True)
            if payload is not None:
                peer = packet.src
                ttl, ident, flags = personality.header("icmp-echo", now, peer)
                fields = (
                    self.address, peer, ipv4.PROTO_ICMP, payload,
                    ttl, ident, flags, 0, 0, b"",
                )  # fmt: skip
                self._send_packet(self, _new_value(Ipv4Packet, fields))
                return
        message = icmp.parse(packet.payload)
        if message.type == icmp.ECHO_REQUEST:
            reply = self.personality.echo_reply(packet, message, now)
            if reply is not None:
                self._send_echo_reply(packet, message, reply, now)
        elif message.type == icmp.TIMESTAMP:
            stamp = milliseconds_since_midnight()
            answer = icmp.timestamp_reply(message, stamp, stamp)
            self.send(packet.src, ipv4.PROTO_ICMP, icmp.emit(answer), "icmp-echo", now)

    def _receive_udp(self, packet: Ipv4Packet, now: float) -> None:
        datagram = udp.parse(packet.payload, packet.src, packet.dst, self.verify)
        policy = port_policy(self.ports, "udp", datagram.dst_port)
        if policy == OPEN:
            if self.udp_handler is not None:
                self.udp_handler(packet, datagram, now)
        elif policy == CLOSED:
            reply = self.personality.port_unreachable(packet, now)
            if reply is not None:
                self.send_reply(packet.src, reply, "icmp-error", now)

    def _receive_tcp(self, packet: Ipv4Packet, now: float) -> None:
        segment = tcp.parse(packet.payload, packet.src, packet.dst, self.verify)
        policy = port_policy(self.ports, "tcp", segment.dst_port)
        if policy == OPEN and self.tcp_handler is not None:
            self.tcp_handler(packet, segment, now)
        elif policy == CLOSED:
            reply = self.personality.closed_port_reply(packet, segment, now)
            if reply is not None:
                self.send_reply(packet.src, reply, "tcp-closed", now)

    # --- sending -----------------------------------------------------------

    def send(
        self, dst: int, protocol: int, payload: bytes, kind: str, now: float
    ) -> None:
        """Send one IPv4 packet from this host, stamped by its personality."""
        ttl, ident, flags = self.personality.header(kind, now, dst)
        packet = _new_value(
            Ipv4Packet,
            (self.address, dst, protocol, payload, ttl, ident, flags, 0, 0, b""),
        )
        self._send_packet(self, packet)

    def send_reply(self, dst: int, reply: Reply, kind: str, now: float) -> None:
        """Send a personality's Reply, with the IP fields it asks for."""
        message = reply.message
        if isinstance(message, TcpSegment):
            protocol, payload = ipv4.PROTO_TCP, tcp.emit(message, self.address, dst)
        else:
            protocol, payload = ipv4.PROTO_ICMP, icmp.emit(message)
        self._send_stamped(dst, protocol, payload, reply, kind, now)

    def _send_echo_reply(
        self, packet: Ipv4Packet, request: IcmpMessage, reply: Reply, now: float
    ) -> None:
        """Send the Reply to an echo request; the same as send_reply, faster.

        A large reply that differs from its request only in its type (the
        usual one) is made from the request's bytes by an incremental
        checksum update, without summing the data again; below about a
        hundred bytes the full emit costs less than the comparisons.
        """
        message = reply.message
        if type(message) is not IcmpMessage:
            self.send_reply(packet.src, reply, "icmp-echo", now)
            return
        payload = None
        if (
            len(message.payload) >= _INCREMENTAL_ECHO
            and message.type == icmp.ECHO_REPLY
            and message.code == request.code
            and message.rest == request.rest
            and message.payload == request.payload
        ):
            payload = icmp.answer_echo(packet.payload)
        if payload is None:
            payload = icmp.emit(message)
        self._send_stamped(
            packet.src, ipv4.PROTO_ICMP, payload, reply, "icmp-echo", now
        )

    def _send_stamped(
        self,
        dst: int,
        protocol: int,
        payload: bytes,
        reply: Reply,
        kind: str,
        now: float,
    ) -> None:
        """Send a payload with the IP fields a Reply asks for, else the stamp's."""
        if reply.ident is None:
            ttl, ident, flags = self.personality.header(kind, now, dst)
        else:
            ttl, ident, flags = 64, reply.ident, 0
        if reply.ttl is not None:
            ttl = reply.ttl
        if reply.dont_fragment is not None:
            flags = flags | FLAG_DF if reply.dont_fragment else flags & ~FLAG_DF
        packet = _new_value(
            Ipv4Packet,
            (self.address, dst, protocol, payload, ttl, ident, flags, 0, 0, b""),
        )
        self._send_packet(self, packet)

    def send_segment(self, dst: int, segment: TcpSegment, now: float) -> None:
        """Send one segment of this host's TCP; `send` with the step inline."""
        address = self.address
        payload = tcp.emit(segment, address, dst)
        ttl, ident, flags = self.personality.header("tcp", now, dst)
        packet = _new_value(
            Ipv4Packet,
            (address, dst, ipv4.PROTO_TCP, payload, ttl, ident, flags, 0, 0, b""),
        )
        self._send_packet(self, packet)

    def _send_unreachable(self, packet: Ipv4Packet, code: int, now: float) -> None:
        message = unreachable(packet, code)
        self.send(packet.src, ipv4.PROTO_ICMP, icmp.emit(message), "icmp-error", now)

    def idle(self) -> bool:
        """True when nothing but the host's address and MAC would be lost."""
        return self.busy is None or not self.busy()

    def __str__(self) -> str:
        return self.name or ipv4.addr_to_str(self.address)


def reset_for(segment: TcpSegment) -> TcpSegment | None:
    """The RST that answers `segment` when no connection exists for it."""
    if segment.flags & tcp.RST:
        return None
    if segment.flags & tcp.ACK:
        return TcpSegment(
            segment.dst_port, segment.src_port, segment.ack, 0, tcp.RST, 0
        )
    length = len(segment.payload)
    length += 1 if segment.flags & tcp.SYN else 0
    length += 1 if segment.flags & tcp.FIN else 0
    ack = (segment.seq + length) & 0xFFFFFFFF
    return TcpSegment(segment.dst_port, segment.src_port, 0, ack, tcp.RST | tcp.ACK, 0)


def unreachable(packet: Ipv4Packet, code: int) -> IcmpMessage:
    """Destination unreachable quoting `packet` as RFC 1812 4.3.2.3 allows."""
    quote = ipv4.emit(packet)[:QUOTE_LIMIT]
    return IcmpMessage(icmp.DEST_UNREACHABLE, code, 0, quote)


def milliseconds_since_midnight() -> int:
    """RFC 792's timestamp: milliseconds since midnight UT."""
    return int(time.time() * 1000) % 86_400_000


__all__ = [
    "Host",
    "IpStamp",
    "MalformedFrame",
    "PlainStamp",
    "Personality",
    "PlainPersonality",
    "Reply",
    "reset_for",
    "unreachable",
]
