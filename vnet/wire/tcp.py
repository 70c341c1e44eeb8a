"""TCP segments (RFC 9293) and their options (RFC 9293, 7323, 2018).

Emulated: the whole header, the checksum over the IPv4 pseudo header, and
every option a stack or a scanner sends: EOL, NOP, MSS, window scale,
SACK-permitted, SACK and timestamps. Options keep their original order, and
anything else survives verbatim: an unknown kind, or a known kind with a
length other than its standard one, keeps its data as bytes, and the bytes
after an EOL are kept too. So `emit(parse(data)) == data` for every
well-formed segment. That matters because a personality is known by its
options, in their order, down to the padding (nmap's O tests, p0f).

Left out, deliberately:
- No option is judged for meaning here: a window scale above 14 (RFC 7323
  2.3) or an MSS of 0 is decoded as sent, and it is for the TCP layer or the
  personality to react the way its operating system does.
- MD5 signatures (RFC 2385), TCP-AO (RFC 5925), Fast Open (RFC 7413) and
  multipath (RFC 8684) options are kept as raw bytes: no virtual host
  negotiates them.
"""

import struct
from typing import Any, NamedTuple

from vnet.wire.errors import MalformedFrame
from vnet.wire.ipv4 import PROTO_TCP

# Control bits, RFC 9293 3.1 (ECE and CWR from RFC 3168).
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80

# Option kinds.
EOL = 0
NOP = 1
MSS = 2
WSCALE = 3
SACK_PERMITTED = 4
SACK = 5
TIMESTAMP = 8

HEADER_LENGTH = 20
MAX_OPTIONS_LENGTH = 40

# RFC 9293 3.1, "Header Format": ports, sequence and acknowledgment numbers,
# data offset and reserved bits, control bits, window, checksum, urgent.
_HEADER = struct.Struct("!HHIIBBHHH")
_ONES = 0xFFFF

_MSS = struct.Struct("!BBH")
_WSCALE = struct.Struct("!BBB")
_TIMESTAMP = struct.Struct("!BBII")
_TIMESTAMP_VALUES = struct.Struct("!II")
_KIND_LENGTH = struct.Struct("!BB")
# NOP, NOP, then kind 8 and length 10: the first word of the option area
# whenever timestamps are on (RFC 7323 appendix A), and the header length
# that goes with it.
_NOP_NOP_TIMESTAMP = 0x0101080A
_NOP_NOP_TIMESTAMP_OPTION = struct.Struct("!III")
_TIMESTAMP_LAYOUT_END = HEADER_LENGTH + 12
_WORD = struct.Struct("!I")
# SACK blocks are pairs of 32-bit edges. Forty bytes of option space hold at
# most four blocks (RFC 2018 section 3).
_SACK_MAX_BLOCKS = 4
_SACK_EDGES = [struct.Struct(f"!{2 * count}I") for count in range(5)]

_FLAG_LETTERS = (
    (FIN, "F"),
    (SYN, "S"),
    (RST, "R"),
    (PSH, "P"),
    (ACK, "A"),
    (URG, "U"),
    (ECE, "E"),
    (CWR, "C"),
)

OptionValue = int | tuple[int, int] | tuple[tuple[int, int], ...] | bytes | None


class TcpOption(NamedTuple):
    """One option. The type of value follows the kind.

    - NOP, SACK_PERMITTED: None
    - MSS: int; WSCALE: int, the raw shift count
    - TIMESTAMP: (tsval, tsecr)
    - SACK: a tuple of (left, right) edge pairs
    - EOL: bytes, whatever follows the EOL byte to the end of the option
      area (usually zeros, b"" when EOL is the last byte). For emit, None
      means b"".
    - any other kind, or a known kind with a non-standard length: bytes, the
      data after kind and length, verbatim.
    """

    kind: int
    value: OptionValue = None


class TcpSegment(NamedTuple):
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes = b""
    options: tuple[TcpOption, ...] = ()
    urgent: int = 0
    reserved: int = 0  # the 4 bits between data offset and CWR

    def option(self, kind: int) -> OptionValue:
        """Return the value of the first option of this kind, or None.

        NOP and SACK_PERMITTED have the value None; use has_option for them.
        """
        for option in self.options:
            if option.kind == kind:
                return option.value
        return None

    def has_option(self, kind: int) -> bool:
        return any(option.kind == kind for option in self.options)


# NamedTuple's own __new__ is Python code that calls this C constructor; the
# parser calls it directly, which halves the cost of building each value.
_new_value = tuple.__new__

_NOP_OPTION = TcpOption(NOP)
_SACK_PERMITTED_OPTION = TcpOption(SACK_PERMITTED)


def parse(data: bytes, src: int, dst: int, verify: bool = True) -> TcpSegment:
    """Decode a segment; data is the whole IPv4 payload, src and dst its addresses.

    With verify, the checksum over the pseudo header must be correct.
    """
    if len(data) < HEADER_LENGTH:
        raise MalformedFrame("tcp", f"{len(data)} bytes, header needs 20")
    (
        src_port,
        dst_port,
        seq,
        ack,
        offset_reserved,
        flags,
        window,
        _checksum,
        urgent,
    ) = _HEADER.unpack_from(data)
    header_length = (offset_reserved >> 4) * 4
    if not HEADER_LENGTH <= header_length <= len(data):
        raise MalformedFrame(
            "tcp", f"data offset {header_length} bytes in a {len(data)}-byte segment"
        )

    # RFC 9293 3.1: the checksum covers pseudo header, header and data. A
    # correct segment sums to 0xffff, so the whole, read as one integer and
    # added to the pseudo header's fields, is a multiple of 0xffff (see
    # vnet.wire.checksum); the protocol number keeps that sum from zero.
    if verify:
        total = int.from_bytes(data, "big")
        if len(data) & 1:
            total <<= 8
        if (total + src + dst + PROTO_TCP + len(data)) % _ONES:
            raise MalformedFrame("tcp", "bad checksum")

    options: tuple[TcpOption, ...] = ()
    if header_length == _TIMESTAMP_LAYOUT_END and (
        _WORD.unpack_from(data, HEADER_LENGTH)[0] == _NOP_NOP_TIMESTAMP
    ):
        # The layout of nearly every segment once timestamps are on (RFC
        # 7323 appendix A), decoded as _parse_options would, in one step.
        stamp = _TIMESTAMP_VALUES.unpack_from(data, HEADER_LENGTH + 4)
        options = (_NOP_OPTION, _NOP_OPTION, _new_value(TcpOption, (TIMESTAMP, stamp)))
    elif header_length > HEADER_LENGTH:
        options = _parse_options(data[HEADER_LENGTH:header_length])
    return _new_value(
        TcpSegment,
        (
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            data[header_length:],
            options,
            urgent,
            offset_reserved & 0xF,
        ),
    )


def _parse_options(area: bytes) -> tuple[TcpOption, ...]:
    """Walk the option area (RFC 9293 3.1 "Options").

    Options need not start on a word boundary, so the walk goes byte by
    byte. An illegal length, such as
    zero, must not crash the receiver (RFC 9293 MUST-7): here it makes the
    segment malformed, and the caller drops it.
    """
    options = []
    position = 0
    end = len(area)
    while position < end:
        kind = area[position]
        if kind == NOP:
            options.append(_NOP_OPTION)
            position += 1
            continue
        if kind == EOL:
            # The walk stops at EOL; what follows is padding, kept verbatim.
            options.append(_new_value(TcpOption, (EOL, area[position + 1 :])))
            break

        if position + 1 == end:
            raise MalformedFrame("tcp", f"option {kind} has no length byte")
        length = area[position + 1]
        if length < 2 or position + length > end:
            raise MalformedFrame(
                "tcp", f"option {kind} length {length} at {position} of {end}"
            )
        options.append(_decode_option(kind, area, position, length))
        position += length
    return tuple(options)


def _decode_option(kind: int, area: bytes, start: int, length: int) -> TcpOption:
    data_start = start + 2
    value: OptionValue
    # RFC 9293 3.2: kind 2, length 4, a 16-bit maximum segment size.
    if kind == MSS and length == 4:
        value = area[data_start] << 8 | area[data_start + 1]
    # RFC 7323 2.2: kind 3, length 3, the shift count.
    elif kind == WSCALE and length == 3:
        value = area[data_start]
    # RFC 2018 section 2: kind 4, length 2.
    elif kind == SACK_PERMITTED and length == 2:
        return _SACK_PERMITTED_OPTION
    # RFC 7323 3.2: kind 8, length 10, TSval and TSecr.
    elif kind == TIMESTAMP and length == 10:
        value = _TIMESTAMP_VALUES.unpack_from(area, data_start)
    # RFC 2018 section 3: kind 5, length 8n + 2, n pairs of 32-bit edges.
    elif kind == SACK and length % 8 == 2:
        value = _sack_blocks(area, data_start, length // 8)
    else:
        value = area[data_start : start + length]
    return _new_value(TcpOption, (kind, value))


def _sack_blocks(area: bytes, start: int, count: int) -> tuple[tuple[int, int], ...]:
    edges = _SACK_EDGES[count].unpack_from(area, start)
    return tuple(zip(edges[0::2], edges[1::2], strict=True))


def emit(segment: TcpSegment, src: int, dst: int) -> bytes:
    """Encode a segment, computing data offset and checksum."""
    (
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window,
        payload,
        options,
        urgent,
        reserved,
    ) = segment
    encoded = encode_options(options) if options else b""
    if len(encoded) & 3 or len(encoded) > MAX_OPTIONS_LENGTH:
        raise ValueError(f"options encode to {len(encoded)} bytes, need 4n <= 40")
    if reserved & ~0xF:
        raise ValueError(f"reserved bits {reserved!r} out of range")

    header_length = HEADER_LENGTH + len(encoded)
    try:
        body = encoded + payload if encoded else payload
        data = int.from_bytes(body, "big")
        if len(body) & 1:
            data <<= 8  # the odd last byte is the high half of a padded word
        offset_reserved = header_length << 2 | reserved  # offset in words
        # The checksum comes from the fields' sum, with no first packing: a
        # 32-bit field adds like its two 16-bit words, modulo 0xffff (see
        # vnet.wire.checksum). A field out of range makes the sum wrong, but
        # then pack refuses it. The protocol number keeps the sum positive.
        total = (
            src
            + dst
            + PROTO_TCP
            + header_length
            + len(payload)
            + src_port
            + dst_port
            + seq
            + ack
            + (offset_reserved << 8)
            + flags
            + window
            + urgent
            + data
        )
        header = _HEADER.pack(
            src_port,
            dst_port,
            seq,
            ack,
            offset_reserved,
            flags,
            window,
            -total % _ONES,
            urgent,
        )
    except (struct.error, TypeError) as error:
        raise ValueError(f"{segment!r}: {error}") from None
    return header + body


def encode_options(options: tuple[TcpOption, ...]) -> bytes:
    """Encode options in order, without padding; ValueError for a bad option."""
    try:
        if (
            len(options) == 3
            and options[0] == _NOP_OPTION
            and options[1] == _NOP_OPTION
        ):
            # Every segment after a handshake with timestamps: one pack.
            kind, value = options[2]
            if kind == TIMESTAMP and type(value) is tuple:
                return _NOP_NOP_TIMESTAMP_OPTION.pack(_NOP_NOP_TIMESTAMP, *value)
    except (struct.error, TypeError, ValueError):
        pass  # the walk below names the fault
    for option in options[:-1]:
        if option.kind == EOL:
            # parse stops at EOL, so nothing may follow it.
            raise ValueError(f"EOL must be the last option: {options!r}")
    try:
        return b"".join([_encode_option(option) for option in options])
    except (struct.error, TypeError) as error:
        raise ValueError(f"{options!r}: {error}") from None


def _encode_option(option: TcpOption) -> bytes:
    # Options whose value is None or an int repeat in every SYN-ACK; their
    # bytes are kept, up to a bound. The exact type is checked so that a
    # float equal to a cached int is still refused.
    kind, value = option
    if value is not None and type(value) is not int or kind not in _CACHED_KINDS:
        return _encode_one(option)
    encoded = _ENCODED.get(option)
    if encoded is None:
        encoded = _encode_one(option)
        if len(_ENCODED) < _CACHE_LIMIT:
            _ENCODED[option] = encoded
    return encoded


def _encode_one(option: TcpOption) -> bytes:
    kind, value = option
    if kind == NOP and value is None:
        return b"\x01"
    if kind == EOL:
        return b"\x00" + _eol_padding(value)
    if isinstance(value, bytes):
        return _encode_raw(kind, value)
    if kind == MSS:
        return _MSS.pack(MSS, 4, value)
    if kind == WSCALE:
        return _WSCALE.pack(WSCALE, 3, value)
    if kind == SACK_PERMITTED and value is None:
        return b"\x04\x02"
    if kind == TIMESTAMP and isinstance(value, tuple):
        return _TIMESTAMP.pack(TIMESTAMP, 10, *value)
    if kind == SACK and isinstance(value, tuple):
        return _encode_sack(value)
    raise ValueError(f"option kind {kind!r} with value {value!r}")


def _eol_padding(value: OptionValue) -> bytes:
    """Return the bytes after an EOL; None stands for none."""
    if value is None:
        return b""
    if not isinstance(value, bytes):
        raise ValueError(f"EOL takes the bytes that follow it, not {value!r}")
    return value


def _encode_raw(kind: int, data: bytes) -> bytes:
    """Encode an option from its raw data, as parse keeps unknown ones."""
    length = 2 + len(data)
    if kind == NOP or _has_standard_length(kind, length):
        # parse would decode these bytes into a value, not bytes; refusing
        # them keeps one encoding per option and parse(emit(v)) == v.
        raise ValueError(f"option kind {kind} needs a decoded value, not {data!r}")
    return _KIND_LENGTH.pack(kind, length) + data


def _has_standard_length(kind: int, length: int) -> bool:
    if kind == SACK:
        return length % 8 == 2
    return _STANDARD_LENGTHS.get(kind) == length


_STANDARD_LENGTHS = {MSS: 4, WSCALE: 3, SACK_PERMITTED: 2, TIMESTAMP: 10}

# Encoded options by value, for the kinds whose values are few: NOP and
# SACK_PERMITTED (None), MSS (16 bits) and WSCALE (8 bits).
_CACHED_KINDS = frozenset({NOP, MSS, WSCALE, SACK_PERMITTED})
_ENCODED: dict[TcpOption, bytes] = {}
_CACHE_LIMIT = 4096


def _encode_sack(blocks: tuple[Any, ...]) -> bytes:
    if len(blocks) > _SACK_MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} SACK blocks, at most 4 fit")
    if not all(isinstance(block, tuple) and len(block) == 2 for block in blocks):
        raise ValueError(f"SACK blocks must be (left, right) pairs: {blocks!r}")
    edges = [edge for block in blocks for edge in block]
    header = _KIND_LENGTH.pack(SACK, 2 + 8 * len(blocks))
    return header + _SACK_EDGES[len(blocks)].pack(*edges)


def options_length(options: tuple[TcpOption, ...]) -> int:
    """Return the encoded length of options, in bytes, without padding."""
    return len(encode_options(options))


def pad_options(options: tuple[TcpOption, ...]) -> tuple[TcpOption, ...]:
    """Pad options to a multiple of 4 bytes with EOL and zero bytes.

    RFC 9293 3.1 ends the option list with EOL and fills the header with
    zeros. A trailing EOL already present is extended; otherwise one is
    appended. Options that already fill whole words are returned unchanged.
    """
    options = tuple(options)
    missing = -options_length(options) % 4
    if missing == 0:
        return options
    if options and options[-1].kind == EOL:
        padding = _eol_padding(options[-1].value) + b"\x00" * missing
        return (*options[:-1], TcpOption(EOL, padding))
    return (*options, TcpOption(EOL, b"\x00" * (missing - 1)))


def flags_to_str(flags: int) -> str:
    """Name the control bits for logs, FIN first: "SA", "R", "FPU"; "" for none."""
    return "".join([letter for bit, letter in _FLAG_LETTERS if flags & bit])
