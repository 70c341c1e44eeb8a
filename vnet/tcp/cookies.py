"""SYN cookies: a handshake that holds no state until the client's ACK (RFC 4987).

When a host's half-open backlog is full, a SYN is answered with a SYN-ACK
whose ISN encodes the connection, and nothing is kept. The client's ACK
(or its first data segment, if the bare ACK was lost) proves the round trip
and rebuilds the connection. A flood then costs CPU but no memory, and a real
client gets in even if its ACK arrives long after a flood has cycled the
backlog many times over.

The ISN, as the usual layout has it:

    bits 31-27  time, in 64-second steps, modulo 32 (a cookie lives 64-128 s)
    bits 26-3   24 bits of a keyed hash of the 4-tuple, the client's ISN,
                the time and the MSS index
    bits 2-0    MSS index into `MSS_TABLE`

The other options live in the TSval's low 6 bits when timestamps are on
(the peer echoes them in TSecr): the peer's window shift, SACK-permitted,
and whether it offered a window shift at all. Without timestamps there is
nowhere to keep them, so the cookie SYN-ACK offers neither window scaling
nor SACK, as Linux's does.

What it costs the disguise: under a flood, the ISN is the cookie rather than
the personality's, and the TSval's low bits are the options. Both are
visible only while the backlog is full.
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple, cast

from vnet.wire.tcp import (
    ACK,
    MSS,
    NOP,
    SACK_PERMITTED,
    SYN,
    TIMESTAMP,
    WSCALE,
    TcpOption,
    TcpSegment,
)

MASK = 0xFFFFFFFF
MSS_TABLE = (536, 1024, 1220, 1300, 1380, 1440, 1452, 1460)
_STEP = 64.0
_FIELDS = struct.Struct("!IHIHIBB")
_NOP = TcpOption(NOP)


class CookieOptions(NamedTuple):
    """What a valid cookie says the SYN offered."""

    mss: int
    window_shift: int | None
    sack: bool
    timestamps: bool


class SynCookies:
    """Makes and checks cookies for one host, with one secret key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not 8 <= len(key) <= 64:
            raise ValueError("a SYN cookie key has 8 to 64 bytes")
        self._key = key

    def answer(
        self,
        syn: TcpSegment,
        client: int,
        server: int,
        now: float,
        window: int,
        options: tuple[TcpOption, ...],
    ) -> TcpSegment:
        """The stateless SYN-ACK, from the personality's window and options."""
        mss_index = _mss_index(syn.option(MSS))
        step = int(now // _STEP) & 0x1F
        client_isn = syn.seq
        digest = self._hash(syn, client, server, client_isn, step, mss_index)
        isn = (step << 27) | (digest << 3) | mss_index
        options = _encode_options(syn, options)
        ack = (client_isn + 1) & MASK
        return TcpSegment(
            syn.dst_port, syn.src_port, isn, ack, SYN | ACK, window, b"", options
        )

    def check(
        self, segment: TcpSegment, client: int, server: int, now: float
    ) -> CookieOptions | None:
        """Decode the cookie a client's ACK returns; None if it is not ours."""
        cookie = (segment.ack - 1) & MASK
        step = cookie >> 27
        age = (int(now // _STEP) - step) & 0x1F
        if age > 1:
            return None
        mss_index = cookie & 7
        client_isn = (segment.seq - 1) & MASK
        digest = self._hash(segment, client, server, client_isn, step, mss_index)
        if (cookie >> 3) & 0xFFFFFF != digest:
            return None
        return _decode_options(segment, MSS_TABLE[mss_index])

    def _hash(
        self,
        segment: TcpSegment,
        client: int,
        server: int,
        client_isn: int,
        step: int,
        mss_index: int,
    ) -> int:
        fields = _FIELDS.pack(
            client,
            segment.src_port,
            server,
            segment.dst_port,
            client_isn,
            step,
            mss_index,
        )
        digest = hashlib.blake2b(fields, key=self._key, digest_size=4).digest()
        return int.from_bytes(digest, "big") & 0xFFFFFF


def _mss_index(mss: object) -> int:
    """The largest table entry the client's MSS allows (536 without one)."""
    value = mss if isinstance(mss, int) else 536
    index = 0
    for position, entry in enumerate(MSS_TABLE):
        if entry <= value:
            index = position
    return index


def _encode_options(
    syn: TcpSegment, options: tuple[TcpOption, ...]
) -> tuple[TcpOption, ...]:
    """The personality's options, with the SYN's choices hidden in the TSval."""
    echo = syn.option(TIMESTAMP)
    ours = {option.kind for option in options}
    if isinstance(echo, tuple) and TIMESTAMP in ours:
        shift = syn.option(WSCALE)
        bits = 0
        if isinstance(shift, int) and WSCALE in ours:
            bits = 0x20 | min(shift, 14)
        if syn.has_option(SACK_PERMITTED) and SACK_PERMITTED in ours:
            bits |= 0x10
        return tuple(
            _with_bits(option, bits) if option.kind == TIMESTAMP else option
            for option in options
        )
    # No timestamps to carry them: drop scaling and SACK, keeping the length.
    kept: list[TcpOption] = []
    for option in options:
        if option.kind in (WSCALE, SACK_PERMITTED):
            kept += _nops(option)
        else:
            kept.append(option)
    return tuple(kept)


def _nops(option: TcpOption) -> tuple[TcpOption, ...]:
    return (_NOP,) * (3 if option.kind == WSCALE else 2)


def rebuilt_syn(segment: TcpSegment, options: CookieOptions) -> TcpSegment:
    """A SYN with the shape the cookie records, to open the connection from."""
    rebuilt = [TcpOption(MSS, options.mss)]
    if options.sack:
        rebuilt.append(TcpOption(SACK_PERMITTED))
    value = segment.option(TIMESTAMP)
    if options.timestamps and isinstance(value, tuple):
        rebuilt.append(TcpOption(TIMESTAMP, (cast(int, value[0]), 0)))
    if options.window_shift is not None:
        rebuilt.append(TcpOption(WSCALE, options.window_shift))
    client_isn = (segment.seq - 1) & MASK
    return TcpSegment(
        segment.src_port, segment.dst_port, client_isn, 0, SYN, 0, b"", tuple(rebuilt)
    )


def _with_bits(option: TcpOption, bits: int) -> TcpOption:
    tsval, tsecr = cast(tuple[int, int], option.value)
    return TcpOption(TIMESTAMP, ((tsval & ~0x3F & MASK) | bits, tsecr))


def _decode_options(segment: TcpSegment, mss: int) -> CookieOptions:
    value = segment.option(TIMESTAMP)
    if not isinstance(value, tuple):
        return CookieOptions(mss, None, False, False)
    bits = cast(tuple[int, int], value)[1] & 0x3F
    shift = bits & 0xF if bits & 0x20 else None
    return CookieOptions(mss, shift, bool(bits & 0x10), True)
