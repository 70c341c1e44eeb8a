"""An offline model of nmap 7.93's IPv4 OS detection, for testing personalities.

It plays one scan against a `Behaviour` as nmap would: the six SEQ probes
about 100 ms apart, then IE1, IE2, U1, ECN and T2-T7 (T1 and the OPS probes
again only for sequence probes that got nothing), each at nmap's send time,
arriving after a small random delay, through `hops` virtual routers that
decrement every TTL on the way. Every reply is put on the wire with
vnet.wire and then read back from the bytes the way nmap reads them
(osscan2.cc), and the observed fingerprint is computed as nmap computes it
(the nmap-os-detection notes, sections 1-3), independently of the code
under test.

Sending is simulated only: nothing leaves the process.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from typing import NamedTuple

from vnet.personality.behaviour import Behaviour, IcmpReply, ReplyPlan
from vnet.wire import icmp, ipv4, tcp, udp
from vnet.wire.tcp import (
    ACK,
    CWR,
    ECE,
    EOL,
    FIN,
    MSS,
    NOP,
    PSH,
    RST,
    SACK_PERMITTED,
    SYN,
    TIMESTAMP,
    URG,
    WSCALE,
    TcpOption,
    TcpSegment,
)

SCANNER = ipv4.addr_from_str("192.0.2.10")
TARGET = ipv4.addr_from_str("198.51.100.20")
OPEN_PORT = 80
CLOSED_PORT = 31337
CLOSED_UDP_PORT = 40125

_TS = TcpOption(TIMESTAMP, (0xFFFFFFFF, 0))
_N = TcpOption(NOP)
_S = TcpOption(SACK_PERMITTED)
_L = TcpOption(EOL)


def _w(shift: int) -> TcpOption:
    return TcpOption(WSCALE, shift)


def _m(size: int) -> TcpOption:
    return TcpOption(MSS, size)


# nmap 7.93's probes (the notes, section 2): window and options.
SEQ_PROBES = (
    (1, (_w(10), _N, _m(1460), _TS, _S)),
    (63, (_m(1400), _w(0), _S, _TS, _L)),
    (4, (_TS, _N, _N, _w(5), _N, _m(640))),
    (4, (_S, _TS, _w(10), _L)),
    (16, (_m(536), _S, _TS, _w(10), _L)),
    (512, (_m(265), _S, _TS)),
)
ECN_OPTIONS = (_w(10), _N, _m(1460), _S, _N, _N)
T_OPTIONS = (_w(10), _N, _m(265), _TS, _S)
T7_OPTIONS = (_w(15), _N, _m(265), _TS, _S)

# T2-T7: (port, DF, flags, window, options).
T_PROBES = {
    "T2": ("open", True, 0, 128, T_OPTIONS),
    "T3": ("open", False, SYN | FIN | URG | PSH, 256, T_OPTIONS),
    "T4": ("open", True, ACK, 1024, T_OPTIONS),
    "T5": ("closed", False, SYN, 31337, T_OPTIONS),
    "T6": ("closed", True, ACK, 32768, T_OPTIONS),
    "T7": ("closed", False, FIN | PSH | URG, 65535, T7_OPTIONS),
}


class Timing(NamedTuple):
    """Send spacing and arrival delay of the simulated scan, in seconds."""

    seq_gap: float = 0.100
    seq_spread: float = 0.010
    probe_gap: float = 0.025
    latency: float = 0.0002
    jitter: float = 0.0002


DEFAULT_TIMING = Timing()


class Reply(NamedTuple):
    """A reply as nmap reads it from the bytes."""

    ttl: int
    ident: int
    dont_fragment: bool
    protocol: int
    total_length: int
    header: bytes
    payload: bytes


# Sending and receiving --------------------------------------------------------


def _tcp_reply(plan: ReplyPlan | None, hops: int) -> Reply | None:
    if plan is None:
        return None
    segment = tcp.emit(plan.segment, TARGET, SCANNER)
    flags = ipv4.FLAG_DF if plan.dont_fragment else 0
    packet = ipv4.Ipv4Packet(
        TARGET, SCANNER, ipv4.PROTO_TCP, segment, plan.ttl - hops, plan.ident, flags
    )
    return _read(ipv4.emit(packet))


def _icmp_reply(reply: IcmpReply | None, hops: int) -> Reply | None:
    if reply is None:
        return None
    flags = ipv4.FLAG_DF if reply.dont_fragment else 0
    packet = ipv4.Ipv4Packet(
        TARGET,
        SCANNER,
        ipv4.PROTO_ICMP,
        icmp.emit(reply.message),
        reply.ttl - hops,
        reply.ident,
        flags,
    )
    return _read(ipv4.emit(packet))


_IP = struct.Struct("!BBHHHBBH4s4s")


def _read(data: bytes) -> Reply:
    """Split an IPv4 packet the way nmap's raw reader sees it."""
    version_ihl, _, total, ident, fragment, ttl, protocol, _, _, _ = _IP.unpack_from(
        data
    )
    header_length = (version_ihl & 0x0F) * 4
    dont_fragment = bool(fragment & 0x4000)
    return Reply(
        ttl,
        ident,
        dont_fragment,
        protocol,
        total,
        data[:header_length],
        data[header_length:total],
    )


class Tcp(NamedTuple):
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int
    reserved: int
    options: bytes
    data: bytes


def _tcp(reply: Reply) -> Tcp:
    payload = reply.payload
    _, _, seq, ack, offset, flags, window, _, urgent = struct.unpack_from(
        "!HHIIBBHHH", payload
    )
    header_length = (offset >> 4) * 4
    return Tcp(
        seq,
        ack,
        flags,
        window,
        urgent,
        offset & 0x0F,
        payload[20:header_length],
        payload[header_length:],
    )


def option_letters(area: bytes) -> str:
    """nmap's get_tcpopt_string over the raw option bytes."""
    letters = []
    at, length = 0, len(area)
    while length > 0:
        kind = area[at]
        at += 1
        if kind == 0:
            letters.append("L")
            length -= 1
        elif kind == 1:
            letters.append("N")
            length -= 1
        elif kind == 2:
            if length < 4:
                break
            letters.append(f"M{struct.unpack_from('!H', area, at + 1)[0]:X}")
            at += 3
            length -= 4
        elif kind == 3:
            if length < 3:
                break
            letters.append(f"W{area[at + 1]:X}")
            at += 2
            length -= 3
        elif kind == 4:
            if length < 2:
                break
            letters.append("S")
            at += 1
            length -= 2
        elif kind == 8:
            if length < 10:
                break
            value, echo = struct.unpack_from("!II", area, at + 1)
            letters.append(f"T{int(value != 0)}{int(echo != 0)}")
            at += 9
            length -= 10
        else:
            # nmap does not consume an unknown kind: it reads on from the
            # next byte, never reaching the end cleanly.
            return ""
    return "".join(letters) if length <= 0 else ""


def _timestamp(area: bytes) -> int | None:
    """The TSval of the first timestamp option (nmap's gettcpopt_ts)."""
    at = 0
    while at < len(area):
        kind = area[at]
        if kind == 0:
            return None
        if kind == 1:
            at += 1
            continue
        if at + 1 >= len(area) or area[at + 1] < 2:
            return None
        if kind == 8 and area[at + 1] == 10:
            return struct.unpack_from("!I", area, at + 2)[0]
        at += area[at + 1]
    return None


# The tests ----------------------------------------------------------------------


def _flags_letters(flags: int) -> str:
    order = ((ECE, "E"), (URG, "U"), (ACK, "A"), (PSH, "P"), (RST, "R"))
    order += ((SYN, "S"), (FIN, "F"))
    return "".join(letter for bit, letter in order if flags & bit)


def _quirks(segment: Tcp) -> str:
    quirks = "R" if segment.reserved else ""
    if not segment.flags & URG and segment.urgent:
        quirks += "U"
    return quirks


def _t_line(reply: Reply, name: str, base: int, ack: int) -> dict[str, str]:
    segment = _tcp(reply)
    values = {"R": "Y", "DF": "Y" if reply.dont_fragment else "N", "T": str(reply.ttl)}
    if name != "T1":
        values["W"] = f"{segment.window:X}"
    if segment.seq == 0:
        values["S"] = "Z"
    elif segment.seq == ack:
        values["S"] = "A"
    elif segment.seq == (ack + 1) & 0xFFFFFFFF:
        values["S"] = "A+"
    else:
        values["S"] = "O"
    if segment.ack == 0:
        values["A"] = "Z"
    elif segment.ack == base:
        values["A"] = "S"
    elif segment.ack == (base + 1) & 0xFFFFFFFF:
        values["A"] = "S+"
    else:
        values["A"] = "O"
    values["F"] = _flags_letters(segment.flags)
    if name != "T1":
        values["O"] = option_letters(segment.options)
    data_length = reply.total_length - len(reply.header) - 20 - len(segment.options)
    if segment.flags & RST and data_length > 0:
        values["RD"] = f"{zlib.crc32(segment.data[:data_length]):08X}"
    else:
        values["RD"] = "0"
    values["Q"] = _quirks(segment)
    return values


def _ecn_line(reply: Reply) -> dict[str, str]:
    segment = _tcp(reply)
    flags = segment.flags
    if flags & ECE and flags & CWR:
        congestion = "S"
    elif flags & ECE:
        congestion = "Y"
    elif not flags & CWR:
        congestion = "N"
    else:
        congestion = "O"
    return {
        "R": "Y",
        "DF": "Y" if reply.dont_fragment else "N",
        "T": str(reply.ttl),
        "W": f"{segment.window:X}",
        "O": option_letters(segment.options),
        "CC": congestion,
        "Q": _quirks(segment),
    }


def _in_cksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _u1_line(reply: Reply, sent_udp_checksum: int) -> tuple[dict[str, str], int] | None:
    """U1 and the quoted TTL, or None if nmap would not accept the reply."""
    message = reply.payload
    if len(message) < 8 + 28 or message[0] != 3 or message[1] != 3:
        return None
    unused = struct.unpack_from("!I", message, 4)[0]
    quote = message[8:]
    quoted_header = (quote[0] & 0x0F) * 4
    if len(quote) < quoted_header + 8:
        return None
    quoted_length, quoted_id = struct.unpack_from("!HH", quote, 2)
    quoted_ttl = quote[8]
    checksum = struct.unpack_from("!H", quote, 10)[0]
    if checksum == 0:
        ripck = "Z"
    else:
        zeroed = quote[:10] + b"\0\0" + quote[12:20]
        ripck = "G" if _in_cksum(zeroed) == checksum else "I"
    udp_checksum = struct.unpack_from("!H", quote, quoted_header + 6)[0]
    data = reply.header + message
    data = data[len(reply.header) + 8 + quoted_header + 8 : reply.total_length]
    values = {
        "R": "Y",
        "DF": "Y" if reply.dont_fragment else "N",
        "T": str(reply.ttl),
        "IPL": f"{reply.total_length:X}",
        "UN": f"{unused & 0xFFFF:X}",
        "RIPL": "G" if quoted_length == 328 else f"{quoted_length:X}",
        "RID": "G" if quoted_id == 0x1042 else f"{quoted_id:X}",
        "RIPCK": ripck,
        "RUCK": "G" if udp_checksum == sent_udp_checksum else f"{udp_checksum:X}",
        "RUD": "G" if all(byte == 0x43 for byte in data) else "I",
    }
    return values, quoted_ttl


def _ie_line(first: Reply, second: Reply) -> dict[str, str]:
    one, two = first.dont_fragment, second.dont_fragment
    if one and two:
        dfi = "Y"
    elif one:
        dfi = "S"
    elif not two:
        dfi = "N"
    else:
        dfi = "O"
    code_one, code_two = first.payload[1], second.payload[1]
    if code_one == code_two:
        code = "Z" if code_one == 0 else f"{code_one:X}"
    elif code_one == 9 and code_two == 0:
        code = "S"
    else:
        code = "O"
    return {"R": "Y", "DFI": dfi, "T": str(first.ttl), "CD": code}


def ip_id_class(ids: list[int]) -> str | None:
    """nmap 7.93's IP ID sequence class of the samples (notes, section 3)."""
    raw = [
        (later - earlier) & 0xFFFFFFFF
        for earlier, later in zip(ids, ids[1:], strict=False)
    ]
    if len(ids) > 2 and any(difference > 20000 for difference in raw):
        return "RD"
    if all(ident == 0 for ident in ids):
        return "Z"
    differences = [difference & 0xFFFF for difference in raw]
    if all(difference == 0 for difference in differences):
        return f"{ids[0]:X}"
    for difference in differences:
        if difference > 1000 and (difference % 256 or difference >= 25600):
            return "RI"
    if all(d % 256 == 0 and d <= 5120 for d in differences):
        return "BI"
    if all(difference % 2 == 0 for difference in differences):
        return "I"
    if all(difference <= 9 for difference in differences):
        return "I"
    return None


def _float32(number: float) -> float:
    return struct.unpack("f", struct.pack("f", number))[0]


def _mod_diff(a: int, b: int) -> int:
    forward = (a - b) & 0xFFFFFFFF
    return min(forward, 0x100000000 - forward)


def _seq_line(
    samples: list[tuple[float, int, int, int | None]],
    closed_ids: list[int],
    icmp_ids: list[int],
) -> dict[str, str]:
    """makeTSeqFP: samples are (send time, ISN, IP ID, TSval) of SYN-ACKs."""
    values: dict[str, str] = {}
    good = [sample for sample in samples if sample[1] != 0]
    if len(good) >= 4:
        values.update(isn_values(good))
    tcp_class = ip_id_class([s[2] for s in samples]) if len(samples) >= 3 else None
    closed_class = ip_id_class(closed_ids) if len(closed_ids) >= 2 else None
    icmp_class = ip_id_class(icmp_ids) if len(icmp_ids) >= 2 else None
    for name, value in (("TI", tcp_class), ("CI", closed_class), ("II", icmp_class)):
        if value is not None:
            values[name] = value
    incremental = ("I", "BI", "RI")
    if tcp_class in incremental and icmp_class in incremental:
        ids = [s[2] for s in samples]
        average = ((ids[-1] - ids[0]) & 0xFFFFFFFF) // (len(ids) - 1)
        values["SS"] = "S" if icmp_ids[0] < ids[-1] + 3 * average else "O"
    ts = _ts_value(samples, good)
    if ts is not None:
        values["TS"] = ts
    return values


def isn_values(good: list[tuple[float, int, int, int | None]]) -> dict[str, str]:
    differences, rates = [], []
    for earlier, later in zip(good, good[1:], strict=False):
        difference = _mod_diff(later[1], earlier[1])
        microseconds = max(round((later[0] - earlier[0]) * 1e6), 1)
        differences.append(difference)
        rates.append(_float32(difference * 1000000.0 / microseconds))
    average = sum(rates) / len(rates)
    divisor = 0
    for difference in differences:
        divisor = math.gcd(divisor, difference)
    if divisor == 0:
        return {"SP": "0", "GCD": "0", "ISR": "0"}
    rate = int(math.log2(average) * 8 + 0.5) if average > 0 else 0
    scale = divisor if divisor > 9 else 1
    deviation = math.sqrt(
        sum((r / scale - average / scale) ** 2 for r in rates) / (len(good) - 2)
    )
    index = 0 if deviation <= 1 else int(math.log2(deviation) * 8 + 0.5)
    return {"SP": f"{index:X}", "GCD": f"{divisor:X}", "ISR": f"{rate:X}"}


def _ts_value(
    samples: list[tuple[float, int, int, int | None]],
    good: list[tuple[float, int, int, int | None]],
) -> str | None:
    flag = None
    for sample in samples:
        if sample[3] is None:
            flag = "U"
        elif sample[3] == 0:
            flag = "0"
    if flag is not None:
        return flag
    if len(good) < 2:
        return None
    hertz = 0.0
    for earlier, later in zip(good, good[1:], strict=False):
        assert earlier[3] is not None and later[3] is not None
        microseconds = max(round((later[0] - earlier[0]) * 1e6), 1)
        ticks = _mod_diff(later[3], earlier[3])
        hertz += ticks / (microseconds / 1e6) / (len(good) - 1)
    if hertz <= 0:
        return None
    if hertz <= 5.66:
        return "1"
    if 70 < hertz <= 150:
        return "7"
    if 150 < hertz <= 350:
        return "8"
    return f"{int(0.5 + math.log2(hertz)):X}"


# The scan -----------------------------------------------------------------------


class Scan:
    """One round of nmap's OS detection against one behaviour."""

    def __init__(
        self,
        behaviour: Behaviour,
        generator: random.Random,
        start: float,
        hops: int = 0,
        timing: Timing = DEFAULT_TIMING,
    ) -> None:
        self.behaviour = behaviour
        self.random = generator
        self.clock = start
        self.hops = hops
        self.timing = timing
        self.base = generator.getrandbits(32)
        self.ack = generator.getrandbits(32)
        self.echo_id = generator.randrange(0xFFFF)
        self.udp_ttl = generator.randint(51, 64)
        self.port = generator.randint(33000, 63999) + generator.randint(0, 255)

    def _arrival(self) -> float:
        timing = self.timing
        return self.clock + timing.latency + self.random.uniform(0, timing.jitter)

    def _tcp(
        self,
        offset: int,
        port_state: str,
        flags: int,
        window: int,
        options: tuple[TcpOption, ...],
        seq: int,
        ack: int,
        reserved: int = 0,
        urgent: int = 0,
    ) -> Reply | None:
        port = OPEN_PORT if port_state == "open" else CLOSED_PORT
        segment = TcpSegment(
            (self.port + offset) & 0xFFFF,
            port,
            seq & 0xFFFFFFFF,
            ack,
            flags,
            window,
            b"",
            options,
            urgent,
            reserved,
        )
        # Through the wire and back, as the host would receive it.
        received = tcp.parse(tcp.emit(segment, SCANNER, TARGET), SCANNER, TARGET)
        plan = self.behaviour.probe_reply(
            received, port_state, self._arrival(), SCANNER
        )
        return _tcp_reply(plan, self.hops)

    def run(self) -> dict[str, dict[str, str]]:
        """The fingerprint nmap computes from this round."""
        observed: dict[str, dict[str, str]] = {}
        seq_replies, sent_times = self._sequence_probes()
        ie_first, ie_second, icmp_ids = self._echo_probes()
        u1 = self._udp_probe()
        resent = self._resend_missing(seq_replies)
        ecn = self._tcp(
            12, "open", SYN | ECE | CWR, 3, ECN_OPTIONS, self.base, 0, 8, 63477
        )
        self._step()
        t1_resent = None
        if seq_replies[0] is None:
            window, options = SEQ_PROBES[0]
            t1_resent = self._tcp(13, "open", SYN, window, options, self.base, self.ack)
            self._step()
        t_replies = {}
        for number, name in enumerate(T_PROBES, start=2):
            port_state, _, flags, window, options = T_PROBES[name]
            t_replies[name] = self._tcp(
                12 + number, port_state, flags, window, options, self.base, self.ack
            )
            self._step()

        samples, ops, win = self._read_sequence(seq_replies, resent, sent_times)
        first = seq_replies[0] or t1_resent
        t1 = _t_line(first, "T1", self.base, self.ack) if first is not None else None
        closed_ids = [t_replies[n].ident for n in ("T5", "T6", "T7") if t_replies[n]]
        observed["SEQ"] = _seq_line(samples, closed_ids, icmp_ids)
        if ops is not None:
            observed["OPS"] = ops
            observed["WIN"] = win
        observed["ECN"] = _ecn_line(ecn) if ecn else {"R": "N"}
        observed["T1"] = t1 if t1 is not None else {"R": "N"}
        for name, reply in t_replies.items():
            observed[name] = (
                _t_line(reply, name, self.base, self.ack) if reply else {"R": "N"}
            )
        distance = None
        if u1 is not None:
            observed["U1"], quoted_ttl = u1
            distance = self.udp_ttl - quoted_ttl + 1
        else:
            observed["U1"] = {"R": "N"}
        if ie_first is not None and ie_second is not None:
            observed["IE"] = _ie_line(ie_first, ie_second)
        else:
            observed["IE"] = {"R": "N"}
        _initial_ttls(observed, distance)
        if not observed["SEQ"]:
            del observed["SEQ"]
        return observed

    def _step(self) -> None:
        self.clock += self.timing.probe_gap + self.random.uniform(0, 0.005)

    def _sequence_probes(self) -> tuple[list[Reply | None], list[float]]:
        replies, sent = [], []
        for index, (window, options) in enumerate(SEQ_PROBES):
            sent.append(self.clock)
            replies.append(
                self._tcp(
                    index, "open", SYN, window, options, self.base + index, self.ack
                )
            )
            spread = self.random.uniform(0, self.timing.seq_spread)
            self.clock += self.timing.seq_gap + spread
        return replies, sent

    def _resend_missing(self, replies: list[Reply | None]) -> list[Reply | None]:
        """OPS probes (and T1) again for sequence probes that got nothing."""
        resent = list(replies)
        for index, reply in enumerate(replies):
            if reply is None:
                window, options = SEQ_PROBES[index]
                resent[index] = self._tcp(
                    6 + index, "open", SYN, window, options, self.base, self.ack
                )
                self._step()
        return resent

    def _echo_probes(self) -> tuple[Reply | None, Reply | None, list[int]]:
        replies = []
        for offset, code, sequence, size, tos, dont_fragment in (
            (0, 9, 295, 120, 0, True),
            (1, 0, 296, 150, 4, False),
        ):
            message = icmp.echo(
                icmp.ECHO_REQUEST,
                (self.echo_id + offset) & 0xFFFF,
                sequence,
                bytes(size),
                code,
            )
            packet = ipv4.Ipv4Packet(
                SCANNER,
                TARGET,
                ipv4.PROTO_ICMP,
                icmp.emit(message),
                self.random.randint(37, 59) - self.hops,
                self.random.getrandbits(16),
                ipv4.FLAG_DF if dont_fragment else 0,
                tos=tos,
            )
            received = ipv4.parse(ipv4.emit(packet))
            request = icmp.parse(received.payload)
            reply = self.behaviour.echo_reply(received, request, self._arrival())
            replies.append(_icmp_reply(reply, self.hops))
            self._step()
        ids = [reply.ident for reply in replies if reply is not None]
        return replies[0], replies[1], ids if len(ids) == 2 else []

    def _udp_probe(self) -> tuple[dict[str, str], int] | None:
        datagram = udp.UdpDatagram(self.port & 0xFFFF, CLOSED_UDP_PORT, b"\x43" * 300)
        data = udp.emit(datagram, SCANNER, TARGET)
        sent_checksum = struct.unpack_from("!H", data, 6)[0]
        packet = ipv4.Ipv4Packet(
            SCANNER, TARGET, ipv4.PROTO_UDP, data, self.udp_ttl - self.hops, 0x1042, 0
        )
        received = ipv4.parse(ipv4.emit(packet))
        reply = self.behaviour.port_unreachable(received, self._arrival())
        self._step()
        read = _icmp_reply(reply, self.hops)
        if read is None:
            return None
        return _u1_line(read, sent_checksum)

    def _read_sequence(
        self, replies: list[Reply | None], resent: list[Reply | None], sent: list[float]
    ) -> tuple[
        list[tuple[float, int, int, int | None]],
        dict[str, str] | None,
        dict[str, str] | None,
    ]:
        """processTSeqResp over the SEQ replies; O and W also from resends."""
        samples = []
        last_ident = 0
        for index, reply in enumerate(replies):
            if reply is None:
                continue
            segment = _tcp(reply)
            if last_ident and reply.ident == last_ident:
                continue
            last_ident = reply.ident
            if segment.flags & RST or segment.flags & (SYN | ACK) != SYN | ACK:
                continue
            stamp = _timestamp(segment.options)
            samples.append((sent[index], segment.seq, reply.ident, stamp))
        ops: dict[str, str] = {}
        win: dict[str, str] = {}
        for index, reply in enumerate(resent):
            if reply is not None:
                segment = _tcp(reply)
                ops[f"O{index + 1}"] = option_letters(segment.options)
                win[f"W{index + 1}"] = f"{segment.window:X}"
        if len(ops) < 6:
            return samples, None, None
        return samples, ops, win


def _initial_ttls(observed: dict[str, dict[str, str]], distance: int | None) -> None:
    """makeFP: received TTLs become initial ones, T with a distance, else TG."""
    for values in observed.values():
        if "T" not in values:
            continue
        received = int(values.pop("T"))
        if distance is not None:
            values["T"] = f"{received + distance - 1:X}"
        else:
            guess = 32 if received <= 32 else 64 if received <= 64 else 128
            values["TG"] = f"{guess if received <= 128 else 255:X}"


def observe(
    behaviour: Behaviour,
    seed: int,
    start: float = 1000.0,
    hops: int = 0,
    timing: Timing = DEFAULT_TIMING,
) -> dict[str, dict[str, str]]:
    """One simulated nmap round against `behaviour`, as nmap would print it."""
    return Scan(behaviour, random.Random(seed), start, hops, timing).run()
