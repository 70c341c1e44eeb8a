"""TCP options in nmap's letter notation, and the SYN shapes nmap sends.

nmap writes the options of a reply as letters, one per option in wire order
(RFC 9293 section 3.1; RFC 7323 for window scale and timestamps; RFC 2018
for SACK-permitted): `L` for each zero byte from an end-of-list on, `N` for
a no-operation, `M` and the hex MSS, `W` and the hex shift, `S` for
SACK-permitted, and `T` with two digits saying whether TSval and TSecr are
non-zero. `M5B4ST11NW7` is Linux: MSS 1460, SACK-permitted, timestamps, a
no-operation, window scale 7. Every string in nmap-os-db adds up to a whole
number of 32-bit words, so each one can be sent exactly as written.

A reply's options depend on the SYN it answers, and nmap's six sequence
probes, its ECN probe and its T2-T7 probes each carry a distinctive list
(nmap-os-detection notes, section 2). `probe_of` recognises those lists by
kind, order and MSS and window-scale values; the window field is not
looked at, so SEQ3 and SEQ4, which share a window of 4, stay apart.

Left out: nmap 7.93 has no letter for SACK blocks or unknown kinds, and the
database never shows one, so neither is ever built from letters.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from vnet.wire.tcp import (
    EOL,
    MSS,
    NOP,
    SACK_PERMITTED,
    TIMESTAMP,
    WSCALE,
    TcpOption,
    encode_options,
)

_LETTER = re.compile(r"L|N|S|M[0-9A-F]{1,4}|W[0-9A-F]{1,2}|T[01][01]")

_SIZES = {"L": 1, "N": 1, "M": 4, "W": 3, "S": 2, "T": 10}

MAX_OPTIONS_LENGTH = 40


class Letter(NamedTuple):
    """One option of an nmap option string.

    `value` is the MSS or the shift for `M` and `W`; for `T` it holds two
    bits, 2 for a non-zero TSval and 1 for a non-zero TSecr; else 0.
    """

    code: str
    value: int = 0

    @property
    def size(self) -> int:
        return _SIZES[self.code]

    def __str__(self) -> str:
        if self.code in "MW":
            return f"{self.code}{self.value:X}"
        if self.code == "T":
            return f"T{self.value >> 1}{self.value & 1}"
        return self.code


def parse_letters(text: str) -> tuple[Letter, ...] | None:
    """Read an option string; None if it is not one nmap could print.

    A string that does not fill whole 32-bit words, or more than 40 bytes,
    is refused too: no segment could carry it.
    """
    letters = []
    at = 0
    for match in _LETTER.finditer(text):
        if match.start() != at:
            return None
        token = match.group()
        at = match.end()
        if token[0] in "MW":
            letters.append(Letter(token[0], int(token[1:], 16)))
        elif token[0] == "T":
            letters.append(Letter("T", int(token[1]) << 1 | int(token[2])))
        else:
            letters.append(Letter(token))
    if at != len(text):
        return None
    size = sum(letter.size for letter in letters)
    if size % 4 or size > MAX_OPTIONS_LENGTH:
        return None
    return tuple(letters)


def letters_to_text(letters: tuple[Letter, ...]) -> str:
    return "".join(str(letter) for letter in letters)


def build_options(
    letters: tuple[Letter, ...], tsval: int, tsecr: int
) -> tuple[TcpOption, ...]:
    """The options that nmap would read back as exactly these letters.

    `tsval` and `tsecr` fill a `T` whose digit asks for a non-zero value; a
    zero offered for one is replaced by 1 so the letter still reads true.
    """
    options: list[TcpOption] = []
    for position, letter in enumerate(letters):
        if letter.code == "L":
            # Everything after an end-of-list travels as its padding bytes.
            rest = letters[position + 1 :]
            options.append(TcpOption(EOL, _trailing_bytes(rest, tsval, tsecr)))
            break
        options.extend(_options_of((letter,), tsval, tsecr))
    return tuple(options)


def _trailing_bytes(letters: tuple[Letter, ...], tsval: int, tsecr: int) -> bytes:
    # After an end-of-list the bytes are padding to the TCP layer, but nmap
    # keeps reading them as options, so they are laid out as such.
    parts = []
    for letter in letters:
        if letter.code == "L":
            parts.append(b"\x00")
        else:
            parts.append(encode_options(_options_of((letter,), tsval, tsecr)))
    return b"".join(parts)


def _options_of(
    letters: tuple[Letter, ...], tsval: int, tsecr: int
) -> tuple[TcpOption, ...]:
    options = []
    for letter in letters:
        code = letter.code
        if code == "L":
            options.append(TcpOption(EOL))
        elif code == "N":
            options.append(TcpOption(NOP))
        elif code == "M":
            options.append(TcpOption(MSS, letter.value))
        elif code == "W":
            options.append(TcpOption(WSCALE, letter.value))
        elif code == "S":
            options.append(TcpOption(SACK_PERMITTED))
        else:
            value = (tsval or 1) if letter.value & 2 else 0
            echo = (tsecr or 1) if letter.value & 1 else 0
            options.append(TcpOption(TIMESTAMP, (value, echo)))
    return tuple(options)


def letters_of(options: tuple[TcpOption, ...]) -> str:
    """nmap's string for options we hold as values (for logs and checks)."""
    text = []
    for option in options:
        kind, value = option
        if kind == EOL:
            padding = value if isinstance(value, bytes) else b""
            text.append("L" + "".join("L" if byte == 0 else "?" for byte in padding))
        elif kind == NOP:
            text.append("N")
        elif kind == MSS and isinstance(value, int):
            text.append(f"M{value:X}")
        elif kind == WSCALE and isinstance(value, int):
            text.append(f"W{value:X}")
        elif kind == SACK_PERMITTED:
            text.append("S")
        elif kind == TIMESTAMP and isinstance(value, tuple):
            text.append(f"T{int(value[0] != 0)}{int(value[1] != 0)}")
        else:
            text.append("?")
    return "".join(text)


# nmap's probes ------------------------------------------------------------

Shape = tuple[tuple[int, int], ...]
"""The kinds of a SYN's options in order, with the MSS and shift values."""


def shape_of(options: tuple[TcpOption, ...]) -> Shape:
    shape = []
    for kind, value in options:
        number = value if kind in (MSS, WSCALE) and isinstance(value, int) else -1
        shape.append((kind, number))
    return tuple(shape)


def _shape(*parts: tuple[int, int] | int) -> Shape:
    return tuple(part if isinstance(part, tuple) else (part, -1) for part in parts)


_T_PROBE = _shape((WSCALE, 10), NOP, (MSS, 265), TIMESTAMP, SACK_PERMITTED)

# The option lists of nmap 7.93's probes (osscan2.cc prbOpts), by the test
# whose reply they produce.
PROBE_SHAPES: dict[Shape, str] = {
    _shape((WSCALE, 10), NOP, (MSS, 1460), TIMESTAMP, SACK_PERMITTED): "1",
    _shape((MSS, 1400), (WSCALE, 0), SACK_PERMITTED, TIMESTAMP, EOL): "2",
    _shape(TIMESTAMP, NOP, NOP, (WSCALE, 5), NOP, (MSS, 640)): "3",
    _shape(SACK_PERMITTED, TIMESTAMP, (WSCALE, 10), EOL): "4",
    _shape((MSS, 536), SACK_PERMITTED, TIMESTAMP, (WSCALE, 10), EOL): "5",
    _shape((MSS, 265), SACK_PERMITTED, TIMESTAMP): "6",
    _shape((WSCALE, 10), NOP, (MSS, 1460), SACK_PERMITTED, NOP, NOP): "ECN",
    _T_PROBE: "T",
    _shape((WSCALE, 15), NOP, (MSS, 265), TIMESTAMP, SACK_PERMITTED): "T",
}

# The MSS each sequence probe offers, to tell an MSS that answers the peer's
# from a fixed one.
PROBE_MSS = {"1": 1460, "2": 1400, "3": 640, "4": None, "5": 536, "6": 265}

# Which option kinds each sequence probe offers.
PROBE_OFFERS: dict[str, frozenset[int]] = {
    "1": frozenset({MSS, WSCALE, TIMESTAMP, SACK_PERMITTED}),
    "2": frozenset({MSS, WSCALE, TIMESTAMP, SACK_PERMITTED}),
    "3": frozenset({MSS, WSCALE, TIMESTAMP}),
    "4": frozenset({WSCALE, TIMESTAMP, SACK_PERMITTED}),
    "5": frozenset({MSS, WSCALE, TIMESTAMP, SACK_PERMITTED}),
    "6": frozenset({MSS, TIMESTAMP, SACK_PERMITTED}),
}


def probe_of(options: tuple[TcpOption, ...]) -> str | None:
    """Which nmap probe sent these SYN options: "1"-"6", "ECN", "T" or None."""
    return PROBE_SHAPES.get(shape_of(options))


def offered(options: tuple[TcpOption, ...]) -> frozenset[int]:
    """The negotiable kinds a SYN offers (RFC 7323 and 2018 negotiation)."""
    kinds = {MSS, WSCALE, TIMESTAMP, SACK_PERMITTED}
    return frozenset(option.kind for option in options if option.kind in kinds)


def keep_offered(
    letters: tuple[Letter, ...], offers: frozenset[int]
) -> tuple[Letter, ...]:
    """Drop the options a SYN did not offer, and lay out the rest again.

    The MSS stays: a host sends its own even to a SYN without one. Options
    that all stay keep their layout as recorded.
    """
    kind_of = {"W": WSCALE, "S": SACK_PERMITTED, "T": TIMESTAMP}

    def wanted(letter: Letter) -> bool:
        return letter.code not in kind_of or kind_of[letter.code] in offers

    if all(wanted(letter) for letter in letters):
        return letters
    return repad(tuple(letter for letter in letters if wanted(letter)))


def repad(letters: tuple[Letter, ...]) -> tuple[Letter, ...]:
    """Lay out options with no-operations the way most stacks align them.

    Used only for an answer built for a SYN unlike any of nmap's, after
    options it did not offer were taken out: SACK-permitted rides with a
    following timestamp, or gets two no-operations; a lone timestamp gets
    two, a window scale one; the end is padded with end-of-list bytes.
    """
    kept = [letter for letter in letters if letter.code not in "NL"]
    laid: list[Letter] = []
    for position, letter in enumerate(kept):
        following = kept[position + 1].code if position + 1 < len(kept) else ""
        previous = kept[position - 1].code if position else ""
        lone_sack = letter.code == "S" and following != "T"
        lone_stamp = letter.code == "T" and previous != "S"
        if lone_sack or lone_stamp:
            laid += [Letter("N"), Letter("N")]
        elif letter.code == "W":
            laid.append(Letter("N"))
        laid.append(letter)
    size = sum(letter.size for letter in laid)
    laid += [Letter("L")] * (-size % 4)
    return tuple(laid)
