"""A host's behaviour on the wire, as one fingerprint makes it behave.

`behaviour(fingerprint, seed, uptime)` makes every choice for one host (see
`profile`) and returns a `Behaviour` the host applies to what it sends. It
is pure: time comes in as `now`, packets as `vnet.wire` values, and answers
go out as values the host puts on the wire. For every kind of packet:

- `stamp(kind, now, peer)`: the TTL, DF bit and IP ID of any packet the
  host sends; kind is "tcp" (open ports), "closed_tcp", "icmp" or "udp".
- `initial_sequence`, `syn_ack`, `timestamp`, `receive_buffer`: the
  `vnet.tcp.stamp.TcpPersonality` hooks, so the host's TCP negotiates
  with the fingerprint's ISNs, SYN-ACK window and options and TS clock.
- `probe_reply(segment, port_state, now, peer)`: what to send back, if
  anything, for a segment that belongs to no connection: a SYN, or one of
  the unusual segments nmap's T2-T7 and ECN probes are. The plan is a
  whole segment plus its IP fields. A plan marked `handshake` is a SYN-ACK
  the host's TCP may carry on from (SYN-RECEIVED); `initial_sequence`
  then returns that plan's ISN for the same endpoints.
- `port_unreachable(packet, now)`: the ICMP error for a closed UDP port,
  quoting the datagram as the fingerprint's U1 line says.
- `echo_reply(packet, request, now)`: the ICMP echo reply (the IE line).

The initial TTLs given are those of the host itself. The virtual routers
on the way decrement them, and the quote in a port unreachable must carry
the datagram as it arrived, so nmap's hop count and its T values agree.

Left out: the TCP connection itself (vnet/tcp) and which ports are open
(the host's port table); ECN is answered in the SYN-ACK only (CC), and
later segments carry no ECN marks.
"""

from __future__ import annotations

import functools
import random
from typing import NamedTuple

from vnet.personality.database import Fingerprint
from vnet.personality.expression import expr_match
from vnet.personality.options import (
    PROBE_MSS,
    PROBE_OFFERS,
    Letter,
    build_options,
    keep_offered,
    offered,
    probe_of,
    repad,
)
from vnet.personality.profile import (
    Profile,
    SynAckTemplate,
    TcpRule,
    UnreachableRule,
    choose,
    syn_ack_probes,
)
from vnet.personality.sequence import IpIds, IsnPlan, IsnSequence, design_isn
from vnet.wire import icmp, ipv4
from vnet.wire.checksum import internet_checksum
from vnet.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    MSS,
    RST,
    SYN,
    TIMESTAMP,
    URG,
    TcpOption,
    TcpSegment,
)

Endpoint = tuple[int, int]

# An ISN reserved by a handshake plan is handed to the TCP stack if it asks
# for the same endpoints within this many seconds.
_RESERVATION = 5.0

# When nothing in the fingerprint describes a SYN-ACK at all.
_DEFAULT_LETTERS = (Letter("M", 1460),)
_DEFAULT_WINDOW = 8192

# nmap's U1 datagram is 328 bytes; an OS that quotes all of it quotes up to
# the 576 bytes every host must accept (RFC 1812 section 4.3.2.3).
_PROBE_DATAGRAM = 328
_LONGEST_ERROR = 576


class IpStamp(NamedTuple):
    """The IP header fields a personality sets on an outgoing packet."""

    ttl: int
    dont_fragment: bool
    ident: int


class ReplyPlan(NamedTuple):
    """One TCP segment to send back, with its IP fields.

    `test` names the fingerprint line that shaped it (T1, SEQ3, ECN, T5...),
    for logs. `handshake` marks a SYN-ACK to a plain SYN, which opens a
    connection; every other plan is sent as it is and leaves no state.
    """

    segment: TcpSegment
    ttl: int
    dont_fragment: bool
    ident: int
    handshake: bool
    test: str


class IcmpReply(NamedTuple):
    """One ICMP message to send back, with its IP fields."""

    message: icmp.IcmpMessage
    ttl: int
    dont_fragment: bool
    ident: int


def behaviour(
    fingerprint: Fingerprint,
    seed: int | str | bytes,
    uptime: float,
    now: float = 0.0,
) -> Behaviour:
    """Choose one host's behaviour; it has been up `uptime` seconds at `now`.

    The same fingerprint and seed always give the same behaviour.
    """
    generator = random.Random(seed)
    profile = choose(fingerprint, generator, now - uptime)
    seq = tuple(sorted(fingerprint.tests.get("SEQ", {}).items()))
    plans = _isn_plans(seq, syn_ack_probes(profile))
    return Behaviour(profile._replace(isn=generator.choice(plans)), generator)


@functools.lru_cache(maxsize=1024)
def _isn_plans(
    seq: tuple[tuple[str, str], ...], samples: tuple[int, ...]
) -> tuple[IsnPlan, ...]:
    """A few ISN plans for one SEQ line, designed once and shared by hosts.

    Designing takes milliseconds, so hosts of one personality draw from a
    small pool rather than each designing its own.
    """
    wanted = dict(seq)
    plans = {
        design_isn(wanted, random.Random(f"{seq}/{index}"), samples)
        for index in range(3)
    }
    return tuple(sorted(plans))


class Behaviour:
    """One host's behaviour; see the module description."""

    def __init__(self, profile: Profile, generator: random.Random) -> None:
        self.profile = profile
        self._random = generator
        self._isns = IsnSequence(profile.isn, generator)
        self._ids = IpIds(profile.counters, profile.counter_of, generator)
        # (local port, remote endpoint) -> (ISN, when it was promised)
        self._reserved: dict[tuple[int, Endpoint], tuple[int, float]] = {}
        self._mss, self._clamps = _mss_policy(profile.templates)
        gcd = profile.fingerprint.tests.get("SEQ", {}).get("GCD")
        self._isns_move = gcd is None or not expr_match(gcd, "0")

    @property
    def fingerprint(self) -> Fingerprint:
        return self.profile.fingerprint

    # Numbers ----------------------------------------------------------------

    def isn(self, now: float, peer: int = 0) -> int:
        """The next initial sequence number for a connection with `peer`."""
        return self._isns.next(now, peer)

    def ip_id(self, kind: str, now: float, peer: int = 0) -> int:
        """The IP ID of the next packet of this kind to `peer`."""
        return self._ids.next(_counter_kind(kind), now, peer)

    def tsval(self, now: float) -> int:
        return self.profile.clock.tsval(now)

    def stamp(self, kind: str, now: float, peer: int = 0) -> IpStamp:
        """TTL, DF and IP ID for a packet of `kind` that no plan covers."""
        ttl, dont_fragment = self._ip_fields(kind)
        return IpStamp(ttl, dont_fragment, self.ip_id(kind, now, peer))

    def _ip_fields(self, kind: str) -> tuple[int, bool]:
        rules = self.profile.rules
        if kind == "closed_tcp":
            rule = _first_responding(rules, ("T5", "T6", "T7", "T1", "T4"))
        elif kind == "icmp":
            unreachable = self.profile.unreachable
            return unreachable.ttl, unreachable.dont_fragment
        else:
            rule = _first_responding(rules, ("T1", "ECN", "T3", "T4", "T5"))
        if rule is None:
            return 64, False
        # Limitation: the database has no UDP line; datagrams from services
        # take the TCP TTL and never set DF.
        return rule.ttl, rule.dont_fragment and kind != "udp"

    # The TcpPersonality hooks -----------------------------------------------

    def initial_sequence(self, now: float, local: Endpoint, remote: Endpoint) -> int:
        reserved = self._reserved.pop((local[1], remote), None)
        if reserved is not None and now - reserved[1] <= _RESERVATION:
            return reserved[0]
        return self.isn(now, remote[0])

    def syn_ack(self, syn: TcpSegment, now: float) -> tuple[int, tuple[TcpOption, ...]]:
        window, letters, _ = self._answer_shape(syn)
        return window, self._options(letters, syn, now)

    def timestamp(self, now: float) -> int:
        return self.tsval(now)

    def receive_buffer(self, syn: TcpSegment) -> int:
        # Limitation: the buffer is the SYN-ACK's window (at least two full
        # segments); how an OS grows its window later is not emulated.
        window, _, _ = self._answer_shape(syn)
        return max(window, 2 * 1460)

    # TCP segments outside any connection --------------------------------------

    def probe_reply(
        self, segment: TcpSegment, port_state: str, now: float, peer: int = 0
    ) -> ReplyPlan | None:
        """The reply to a segment that belongs to no connection, or None.

        `port_state` is "open" (something listens) or "closed". A RST is
        never answered (RFC 9293 section 3.10.7.1).
        """
        flags = segment.flags
        if flags & RST:
            return None
        if port_state == "open":
            return self._open_port(segment, now, peer)
        if flags & SYN and not flags & ACK:
            name = "T5"
        elif flags & ACK:
            name = "T6"
        else:
            name = "T7"
        return self._segment_plan(self.profile.rules[name], segment, now, peer, name)

    def _open_port(
        self, segment: TcpSegment, now: float, peer: int
    ) -> ReplyPlan | None:
        flags = segment.flags
        rules = self.profile.rules
        if flags & ACK:
            return self._segment_plan(rules["T4"], segment, now, peer, "T4")
        if not flags & SYN:
            return self._segment_plan(rules["T2"], segment, now, peer, "T2")
        if flags & FIN:
            return self._segment_plan(rules["T3"], segment, now, peer, "T3")
        if flags & (ECE | CWR) == ECE | CWR:
            return self._syn_plan(rules["ECN"], segment, now, peer, "ECN")
        return self._syn_plan(rules["T1"], segment, now, peer, "T1")

    def _syn_plan(
        self, rule: TcpRule, syn: TcpSegment, now: float, peer: int, name: str
    ) -> ReplyPlan | None:
        """A SYN to an open port: the fingerprint's answer, or a handshake.

        nmap's own sequence and ECN probes get exactly what the fingerprint
        recorded, even a reset or silence. Any other SYN is a client that
        wants to connect, and gets a SYN-ACK built by the same rule.
        """
        probe = probe_of(syn.options)
        if name == "T1" and probe in PROBE_OFFERS:
            template = self.profile.templates.get(probe)
            if template is not None and template.reset:
                return self._reset_for(template, rule, syn, now, peer, f"SEQ{probe}")
            if not rule.respond:
                return None
            if probe != "1" and rule.seq in ("A", "A+") and self._isns_move:
                # T1 describes the first probe's reply only; where the SEQ
                # test saw the ISN move, the others carry real ISNs.
                rule = rule._replace(seq="O")
            return self._segment_plan(rule, syn, now, peer, f"SEQ{probe}")
        if name == "ECN" and probe == "ECN":
            if not rule.respond:
                return None
            return self._segment_plan(rule, syn, now, peer, name)
        clean = rule.flags == SYN | ACK and (rule.seq, rule.ack) == ("O", "S+")
        if not rule.respond or not clean:
            # A client must get a SYN-ACK it can complete, whatever quirk
            # the OS showed nmap's probe.
            rule = self._handshake_rule(rule)
        return self._segment_plan(rule, syn, now, peer, name)

    def _handshake_rule(self, rule: TcpRule) -> TcpRule:
        """A plain SYN-ACK with the IP fields of whichever line has them."""
        source = _first_responding(self.profile.rules, ("T1", "ECN", "T3")) or rule
        return source._replace(
            test=rule.test,
            respond=True,
            window=None,
            seq="O",
            ack="S+",
            flags=SYN | ACK,
            letters=None,
            rst_data=b"",
            quirks="",
            congestion=rule.congestion if rule.respond else "N",
        )

    def _reset_for(
        self,
        template: SynAckTemplate,
        rule: TcpRule,
        syn: TcpSegment,
        now: float,
        peer: int,
        name: str,
    ) -> ReplyPlan | None:
        if rule.respond and not rule.flags & SYN:
            reset = rule
        else:
            reset = rule._replace(respond=True, seq="Z", ack="S+", flags=RST | ACK)
        reset = reset._replace(window=template.window, letters=template.letters)
        plan = self._segment_plan(reset, syn, now, peer, name, count_id=False)
        return plan

    def _segment_plan(
        self,
        rule: TcpRule,
        segment: TcpSegment,
        now: float,
        peer: int,
        name: str,
        count_id: bool = True,
    ) -> ReplyPlan | None:
        if not rule.respond:
            return None
        window, letters = self._window_and_letters(rule, segment, name)
        flags = rule.flags | _congestion_flags(rule)
        seq = self._sequence(rule.seq, segment, now, peer, flags)
        ack = _acknowledgment(rule.ack, segment, seq)
        reserved, urgent = _quirks(rule.quirks, segment, flags)
        reply = TcpSegment(
            segment.dst_port,
            segment.src_port,
            seq,
            ack,
            flags,
            window,
            rule.rst_data if flags & RST else b"",
            self._options(letters, segment, now),
            urgent,
            reserved,
        )
        kind = "closed_tcp" if name in ("T5", "T6", "T7") else "tcp"
        # Only a plain SYN opens a connection: a SYN-ACK to SYN|FIN (T3) is
        # sent and forgotten, as a TCP would drop such a SYN.
        handshake = flags & (SYN | ACK | RST | FIN) == SYN | ACK
        handshake = handshake and segment.flags & (SYN | ACK | RST | FIN) == SYN
        if handshake and ack == (segment.seq + 1) & 0xFFFFFFFF:
            endpoints = (segment.dst_port, (peer, segment.src_port))
            self._reserved[endpoints] = (seq, now)
            if len(self._reserved) > 256:
                self._reserved.pop(next(iter(self._reserved)))
        else:
            handshake = False
        # A reset among SYN-ACKs (a sequence probe the OS refuses) takes no
        # ID from the counter: one would widen the gaps nmap measures for TI
        # and SS between the SYN-ACKs and the echo replies.
        ident = self.ip_id(kind, now, peer) if count_id else 0
        return ReplyPlan(reply, rule.ttl, rule.dont_fragment, ident, handshake, name)

    def _window_and_letters(
        self, rule: TcpRule, segment: TcpSegment, name: str
    ) -> tuple[int, tuple[Letter, ...]]:
        """The reply's window and options: the line's own, or the SYN-ACK rule's.

        T1 and the sequence probes' lines carry none (WIN and OPS do), and
        an ECN-setup SYN from a real client is not nmap's ECN probe.
        """
        window, letters = rule.window, rule.letters
        real_ecn = name == "ECN" and probe_of(segment.options) != "ECN"
        if name.startswith("SEQ") or name == "T1" or real_ecn:
            if window is not None and letters is not None and not real_ecn:
                return window, letters
            window, letters, _ = self._answer_shape(segment)
            return window, letters
        if window is None or letters is None:
            shaped_window = 0
            shaped_letters: tuple[Letter, ...] = ()
            if rule.flags & SYN:
                shaped_window, shaped_letters, _ = self._answer_shape(segment)
            window = shaped_window if window is None else window
            letters = shaped_letters if letters is None else letters
        return window, letters

    def _sequence(
        self, letter: str, segment: TcpSegment, now: float, peer: int, flags: int
    ) -> int:
        if letter == "Z":
            return 0
        if letter == "A":
            return segment.ack
        if letter == "A+":
            return (segment.ack + 1) & 0xFFFFFFFF
        if flags & SYN:
            return self.isn(now, peer)
        while True:
            # "Other": anything but zero, the probe's ack, or that plus one.
            value = self._random.getrandbits(32)
            if (value - segment.ack) & 0xFFFFFFFF > 1 and value:
                return value

    # The SYN-ACK rule ---------------------------------------------------------

    def _answer_shape(self, syn: TcpSegment) -> tuple[int, tuple[Letter, ...], str]:
        """Window and option letters for a SYN-ACK to this SYN, and their source.

        nmap's six sequence probes get W1-W6 and O1-O6 as recorded, its ECN
        probe the ECN line's, its T3 probe the T3 line's. Any other SYN gets
        the recorded answer to the probe that offered the same options, or
        one made from the fullest answer by dropping what was not offered.
        """
        probe = probe_of(syn.options)
        templates = self.profile.templates
        if probe in PROBE_OFFERS:
            template = templates.get(probe)
            if template is not None and not template.reset:
                return template.window, template.letters, f"SEQ{probe}"
        rules = self.profile.rules
        if probe in ("ECN", "T"):
            rule = rules["ECN" if probe == "ECN" else "T3"]
            if rule.respond and rule.letters is not None and rule.window is not None:
                return rule.window, rule.letters, rule.test
        return self._generic_answer(syn)

    def _generic_answer(self, syn: TcpSegment) -> tuple[int, tuple[Letter, ...], str]:
        offers = offered(syn.options)
        same = [index for index, kinds in PROBE_OFFERS.items() if kinds == offers]
        order = same + [index for index in "152346" if index not in same]
        usable = [
            (index, template)
            for index in order
            if (template := self.profile.templates.get(index)) is not None
            and not template.reset
            and template.letters
        ]
        if usable and usable[0][0] in same:
            window, letters = usable[0][1].window, usable[0][1].letters
        else:
            if usable:
                window, letters = usable[0][1].window, usable[0][1].letters
            else:
                letters, window = self._fallback()
            letters = keep_offered(letters, offers)
        letters = self._client_mss(letters, syn)
        if window == 0:
            window = self._nonzero_window()
        return window, letters, "generic"

    def _fallback(self) -> tuple[tuple[Letter, ...], int]:
        """Options for a fingerprint that recorded no SYN-ACK options at all.

        The ECN or T3 reply's options, else an MSS, with a timestamp added
        when the TS class says the host sends them.
        """
        letters: tuple[Letter, ...] = _DEFAULT_LETTERS
        window = _DEFAULT_WINDOW
        for name in ("ECN", "T3"):
            rule = self.profile.rules[name]
            if rule.respond and rule.letters and rule.window:
                letters, window = rule.letters, rule.window
                break
        kind = self.profile.clock.kind
        if kind != "none" and not any(letter.code == "T" for letter in letters):
            value = 3 if kind == "clock" else 1
            letters = (*letters, Letter("T", value))
        return repad(letters), window

    def _nonzero_window(self) -> int:
        """A window for a real client: a zero one would stall it."""
        windows = [t.window for t in self.profile.templates.values() if t and t.window]
        windows += [r.window for r in self.profile.rules.values() if r.window]
        return max(windows) if windows else _DEFAULT_WINDOW

    def _client_mss(
        self, letters: tuple[Letter, ...], syn: TcpSegment
    ) -> tuple[Letter, ...]:
        """Answer the client's MSS the way the OS answered nmap's."""
        theirs = syn.option(MSS)
        if not self._clamps or not isinstance(theirs, int):
            return letters
        mine = min(self._mss, theirs)
        return tuple(
            Letter("M", mine) if letter.code == "M" else letter for letter in letters
        )

    def _options(
        self, letters: tuple[Letter, ...], segment: TcpSegment, now: float
    ) -> tuple[TcpOption, ...]:
        stamp = segment.option(TIMESTAMP)
        echo = stamp[0] if isinstance(stamp, tuple) else 0
        assert isinstance(echo, int)
        return build_options(letters, self.tsval(now), echo)

    # ICMP -----------------------------------------------------------------

    def port_unreachable(self, packet: ipv4.Ipv4Packet, now: float) -> IcmpReply | None:
        """The ICMP port unreachable for a UDP datagram to a closed port.

        `packet` is the datagram's IP packet as it arrived, TTL included.
        """
        rule = self.profile.unreachable
        if not rule.respond:
            return None
        quote = _quote(ipv4.emit(packet), rule, self.profile.quote_ttl_drop)
        message = icmp.IcmpMessage(
            icmp.DEST_UNREACHABLE, icmp.PORT_UNREACHABLE, rule.unused, quote
        )
        ident = self.ip_id("icmp", now, packet.src)
        return IcmpReply(message, rule.ttl, rule.dont_fragment, ident)

    def echo_reply(
        self, packet: ipv4.Ipv4Packet, request: icmp.IcmpMessage, now: float
    ) -> IcmpReply | None:
        """The reply to an echo request, or None if this OS ignores pings."""
        rule = self.profile.echo
        if not rule.respond:
            return None
        dont_fragment = {
            "Y": True,
            "N": False,
            "S": packet.dont_fragment,
            "O": not packet.dont_fragment,
        }[rule.dont_fragment]
        code = _echo_code(rule.code, request.code)
        message = icmp.IcmpMessage(icmp.ECHO_REPLY, code, request.rest, request.payload)
        ident = self.ip_id("icmp", now, packet.src)
        return IcmpReply(message, rule.ttl, dont_fragment, ident)


# Helpers ------------------------------------------------------------------------


def _counter_kind(kind: str) -> str:
    return "tcp" if kind == "udp" else kind


def _first_responding(
    rules: dict[str, TcpRule], names: tuple[str, ...]
) -> TcpRule | None:
    for name in names:
        if rules[name].respond:
            return rules[name]
    return None


def _congestion_flags(rule: TcpRule) -> int:
    if rule.test != "ECN":
        return 0
    return {"Y": ECE, "S": ECE | CWR, "O": CWR}.get(rule.congestion, 0)


def _acknowledgment(letter: str, segment: TcpSegment, seq: int) -> int:
    if letter == "Z":
        return 0
    if letter == "S":
        return segment.seq
    if letter == "S+":
        return (segment.seq + 1) & 0xFFFFFFFF
    # "Other": two past the probe's sequence number, as a stack that counts
    # both SYN and FIN would; never 0, S or S+.
    return (segment.seq + 2) & 0xFFFFFFFF


def _quirks(letters: str, segment: TcpSegment, flags: int) -> tuple[int, int]:
    """The reserved bits and urgent pointer of a reply with nmap's Q quirks."""
    reserved = (segment.reserved or 0x8) if "R" in letters else 0
    urgent = 0
    if "U" in letters and not flags & URG:
        urgent = segment.urgent or 0x7F00
    return reserved, urgent


def _mss_policy(templates: dict[str, SynAckTemplate | None]) -> tuple[int, bool]:
    """The OS's own MSS, and whether it answers a smaller one with the peer's.

    nmap's probes offer MSS 1460, 1400, 640, 536 and 265; an OS whose
    answers follow the smaller ones clamps to the peer's MSS.
    """
    own = 0
    follows = False
    for index, template in templates.items():
        if template is None or template.reset:
            continue
        for letter in template.letters:
            if letter.code != "M":
                continue
            own = max(own, letter.value)
            offered_mss = PROBE_MSS.get(index)
            if (
                offered_mss is not None
                and offered_mss < 1460
                and letter.value == offered_mss
            ):
                follows = True
    return own or 1460, follows


def _echo_code(letter: str, request_code: int) -> int:
    if letter == "Z":
        return 0
    if letter == "S":
        return request_code
    if letter == "O":
        # Not the request's, and IE1's 9 with IE2's 0 would read as S.
        return (request_code + 1) & 0xFF
    return int(letter, 16)


def _quote(datagram: bytes, rule: UnreachableRule, ttl_drop: int) -> bytes:
    """The quoted datagram, spoiled the way the fingerprint's U1 line says.

    The quote is the datagram's own bytes, copied verbatim (vnet.wire made
    them), not a header this layer packs: only the fields the emulated OS
    is known to rewrite are written over, and the quoted IP checksum is then
    made valid, zero or wrong as RIPCK asks.
    """
    # Limitation: only what nmap's U1 test reads is rewritten (length, ID,
    # TTL, both checksums, the payload); other corruptions go unemulated.
    header_length = (datagram[0] & 0x0F) * 4
    room = (rule.length - 28) if rule.length is not None else _PROBE_DATAGRAM
    if room == _PROBE_DATAGRAM:
        # It quoted all of nmap's datagram: it quotes any up to 576 bytes.
        quote = bytearray(datagram[: _LONGEST_ERROR - 28])
    else:
        quote = bytearray(datagram[: max(room, 0)])
        if len(quote) < room:
            # An OS that sent more than it received: pad with the last byte.
            quote += quote[-1:] * (room - len(quote))

    def put(offset: int, value: int) -> None:
        if offset + 2 <= len(quote):
            quote[offset : offset + 2] = value.to_bytes(2, "big")

    if ttl_drop and len(quote) > 8:
        # Some stacks decrement the TTL before they quote the datagram.
        quote[8] = max(quote[8] - ttl_drop, 0)
    if rule.quoted_length is not None:
        put(2, rule.quoted_length)
    if rule.quoted_id is not None:
        put(4, rule.quoted_id)
    if rule.udp_checksum is not None:
        put(header_length + 6, rule.udp_checksum)
    if not rule.data_intact:
        start = header_length + 8
        quote[start:] = bytes(byte ^ 0xFF for byte in quote[start:])
    if len(quote) >= header_length:
        put(10, 0)
        valid = internet_checksum(bytes(quote[:header_length]))
        checksum = {"G": valid, "Z": 0, "I": valid ^ 0x5A5A or 1}[rule.checksum]
        put(10, checksum)
    return bytes(quote)
