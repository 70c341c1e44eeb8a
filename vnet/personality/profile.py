"""One host's concrete reading of a fingerprint, chosen once.

A fingerprint says what an operating system may answer; a `Profile` says
what this host does answer. Every choice is made here, once, from the host's
seeded generator: which of the allowed windows, option lists, flags, TTLs
and ID classes it uses. The choices are made together where nmap would see
them together:

- the option lists O1-O6 and the TS class, since a SYN-ACK without a
  timestamp makes nmap report TS=U;
- the IP ID classes TI, CI, II and SS, since a shared counter must give
  each class and the SS relation at once;
- a test's T and TG, since both describe one initial TTL.

The profile is plain data; `behaviour` turns it into packets.
"""

from __future__ import annotations

import random
import zlib
from typing import NamedTuple

from vnet.personality.choice import pick_number, pick_text, written_texts
from vnet.personality.database import Fingerprint, Test, Tests
from vnet.personality.expression import expr_match, to_hex
from vnet.personality.options import PROBE_OFFERS, Letter, keep_offered, parse_letters
from vnet.personality.sequence import (
    ID_CLASSES,
    IdCounter,
    IsnPlan,
    TimestampClock,
    timestamp_classes,
    timestamp_hz,
)
from vnet.wire.tcp import ACK, ECE, FIN, PSH, RST, SYN, URG

# Until a plan is designed: a step of about 2**30 per SYN, which nmap reads
# like random ISNs.
RANDOM_ISNS = IsnPlan(False, 1, 2**33, (1.0,) * 5)

_FLAG_LETTERS = {"E": ECE, "U": URG, "A": ACK, "P": PSH, "R": RST, "S": SYN, "F": FIN}


def flags_from_letters(text: str) -> int:
    """nmap's F letters (E U A P R S F) as TCP control bits."""
    flags = 0
    for letter in text:
        flags |= _FLAG_LETTERS[letter]
    return flags


class TcpRule(NamedTuple):
    """How the host answers one kind of probe (a T1-T7 or ECN line).

    `seq` is nmap's S letter (Z: zero, A: the probe's ack, A+: that plus one,
    O: anything else), `ack` its A letter (Z, S: the probe's sequence number,
    S+: that plus one, O). `letters` None means the line does not say and the
    SYN-ACK rule decides. `congestion` is the ECN line's CC letter.
    """

    test: str
    respond: bool
    dont_fragment: bool
    ttl: int
    window: int | None
    seq: str
    ack: str
    flags: int
    letters: tuple[Letter, ...] | None
    rst_data: bytes
    quirks: str
    congestion: str = "N"


class SynAckTemplate(NamedTuple):
    """The reply to one of nmap's six sequence probes (W_i and O_i)."""

    window: int
    letters: tuple[Letter, ...]
    reset: bool


class UnreachableRule(NamedTuple):
    """The ICMP port unreachable for a closed UDP port (the U1 line).

    `length` is the outer packet's total length (IPL), which fixes how much
    of nmap's 328-byte probe is quoted. `quoted_length` and `quoted_id` are
    the values written into the quote, None to leave them (G). `checksum`
    is the quoted IP checksum's letter (G valid, Z zero, I invalid).
    `udp_checksum` None keeps the quoted UDP checksum. `data_intact` False
    spoils the quoted payload (RUD=I).
    """

    respond: bool
    dont_fragment: bool
    ttl: int
    length: int | None
    unused: int
    quoted_length: int | None
    quoted_id: int | None
    checksum: str
    udp_checksum: int | None
    data_intact: bool


class EchoRule(NamedTuple):
    """The ICMP echo reply (the IE line).

    `dont_fragment` is DFI's letter (Y, N, S: as the request, O: the
    opposite); `code` is CD's (Z, S: the request's, O: another, or a number).
    """

    respond: bool
    dont_fragment: str
    ttl: int
    code: str


class Profile(NamedTuple):
    """Every choice one host makes from its fingerprint."""

    fingerprint: Fingerprint
    rules: dict[str, TcpRule]
    templates: dict[str, SynAckTemplate | None]
    isn: IsnPlan
    clock: TimestampClock
    counters: dict[str, IdCounter]
    counter_of: dict[str, str]
    unreachable: UnreachableRule
    echo: EchoRule
    # How much lower than received the port unreachable quotes the TTL: nmap
    # then counts that many more hops, and every T it reports is that much
    # above the initial TTL (T=100 from an initial 255).
    quote_ttl_drop: int = 0


def choose(
    fingerprint: Fingerprint,
    generator: random.Random,
    boot: float,
    isn: IsnPlan = RANDOM_ISNS,
) -> Profile:
    """Make every choice for one host; `boot` is when its TS clock started.

    The ISN plan is designed apart (`sequence.design_isn`, for the probes
    `syn_ack_probes` names), because hosts of one personality share it.
    """
    tests = fingerprint.tests
    drop = _ttl_drop(tests)
    rules = {
        name: _tcp_rule(name, tests.get(name), generator, drop) for name in _TCP_TESTS
    }
    templates, ts_event = _templates(tests, rules["T1"], generator)
    seq = dict(tests.get("SEQ", {}))
    counters, counter_of = _ip_ids(seq, generator)
    clock = _clock(seq.get("TS"), ts_event, templates, rules, generator, boot)
    unreachable = _unreachable(tests.get("U1"), generator, drop)
    echo = _echo(tests.get("IE"), generator, drop)
    return Profile(
        fingerprint,
        rules,
        templates,
        isn,
        clock,
        counters,
        counter_of,
        unreachable,
        echo,
        drop,
    )


def syn_ack_probes(profile: Profile) -> tuple[int, ...]:
    """The sequence probes (0-5) this host answers with a SYN-ACK."""
    t1 = profile.rules["T1"]
    if not t1.respond or t1.flags & (SYN | ACK | RST) != SYN | ACK:
        return ()
    answered = []
    for index in range(6):
        template = profile.templates.get(str(index + 1))
        if template is None or not template.reset:
            answered.append(index)
    return tuple(answered)


# TTL and DF -----------------------------------------------------------------

_TTL_GUESSES = (32, 64, 128, 255)


def ttl_guess(ttl: int) -> int:
    """nmap's TG: the initial TTL it guesses from a received one."""
    for guess in _TTL_GUESSES:
        if ttl <= guess:
            return guess
    return 255


def _ttl(test: Test, generator: random.Random, drop: int = 0) -> int:
    """An initial TTL that both T and TG of the test accept.

    nmap reads T as the received TTL plus the hop count, so T is the
    initial TTL itself when the virtual routers decrement it on the way
    (plus `drop`, see Profile). Where T's range holds a common initial TTL
    (one of TG's guesses), that is taken; otherwise the middle of the range.
    """
    t_expression, tg_expression = test.get("T"), test.get("TG")
    guesses = [
        guess
        for guess in _TTL_GUESSES
        if tg_expression is None or expr_match(tg_expression, to_hex(guess))
    ]
    if t_expression is None:
        return generator.choice(guesses) if guesses else 64
    preferred, others = [], []
    for first, last in _ttl_spans(t_expression, drop):
        inside = [guess for guess in guesses if first <= guess <= last]
        if inside:
            preferred += inside
        else:
            others.append((first + last) // 2)
    pool = preferred or [ttl for ttl in others if ttl_guess(ttl) in guesses] or others
    return generator.choice(pool) if pool else 64


def _ttl_spans(expression: str, drop: int) -> list[tuple[int, int]]:
    """Initial TTLs (1-255) that nmap would report inside the expression."""
    spans = []
    for text in written_texts(expression):
        low, _, high = text.partition("-")
        if not low or not all(c in "0123456789ABCDEF" for c in low + high):
            continue
        first = int(low, 16) - drop
        last = min((int(high, 16) if high else int(low, 16)) - drop, 255)
        if max(first, 1) <= last:
            spans.append((max(first, 1), last))
    return spans


def _ttl_drop(tests: Tests) -> int:
    """The smallest quote TTL drop that lets every test's T be reached."""
    expressions = [test["T"] for test in tests.values() if "T" in test]
    for drop in range(_MOST_DROP):
        if all(_ttl_spans(expression, drop) for expression in expressions):
            return drop
    return 0


# Some printers quote a TTL tens below the one received (T=130-13A).
# Limitation: a quoted TTL stops at zero, so a drop larger than the TTL that
# reaches the host comes out short (T=134 with an nmap TTL of 51), and a
# quote above nmap's own TTL (negative hops, T=FF80) is never made.
_MOST_DROP = 96


def _yes(test: Test, attribute: str, generator: random.Random, default: str) -> bool:
    return pick_text(test.get(attribute), ("Y", "N"), generator) == "Y" or (
        attribute not in test and default == "Y"
    )


# TCP probes -----------------------------------------------------------------

_TCP_TESTS = ("T1", "T2", "T3", "T4", "T5", "T6", "T7", "ECN")

_FLAG_SETS = ("AS", "AR", "R", "A", "ARF", "APR", "RF", "AS")


# Limitation: nmap 7.93 prints G for a quoted ID of 0x1042 and files every
# slow timestamp clock under 1, so the few prints that expect RID=1042 or
# TS=2 cannot be matched exactly. Prints whose T1 is R=N beside six OPS
# replies recorded a lost packet; this host answers every copy alike.
def _responds(test: Test | None) -> bool:
    if test is None:
        return False
    if "R" in test:
        return test["R"] != "N" and expr_match(test["R"], "Y")
    return bool(test)


def _tcp_rule(
    name: str, test: Test | None, generator: random.Random, drop: int = 0
) -> TcpRule:
    if not _responds(test):
        return TcpRule(name, False, False, 64, None, "O", "O", 0, None, b"", "")
    assert test is not None
    dont_fragment = _yes(test, "DF", generator, "N")
    ttl = _ttl(test, generator, drop)
    window = pick_number(test.get("W"), generator, 0, 0xFFFF)

    flags_text = _flags_text(name, test, generator)
    flags = flags_from_letters(flags_text)
    seq = pick_text(test.get("S"), ("O", "Z", "A", "A+"), generator) or "O"
    # ECN records no S or A: its reply acknowledges the SYN as any SYN-ACK.
    default_ack = "S+" if flags & SYN else "Z"
    ack = pick_text(test.get("A"), ("S+", "S", "Z", "O"), generator) or default_ack
    letters = _letters(test.get("O"), generator)
    rst_data = _rst_data(test.get("RD"), flags, generator)
    quirks = pick_text(test.get("Q"), ("", "R", "U", "RU"), generator) or ""
    congestion = pick_text(test.get("CC"), ("N", "Y", "S", "O"), generator) or "N"
    return TcpRule(
        name,
        True,
        dont_fragment,
        ttl,
        window,
        seq,
        ack,
        flags,
        letters,
        rst_data,
        quirks,
        congestion,
    )


def _flags_text(name: str, test: Test, generator: random.Random) -> str:
    expression = test.get("F")
    if expression is None:
        # ECN's reply is a SYN-ACK unless the OS resets SYNs; others say.
        return "AS"
    texts = [text for text in written_texts(expression) if set(text) <= set("EUAPRSF")]
    if name == "T1" and any(text in ("AS", "SA") for text in texts):
        # A SYN-ACK where the line allows one: the SEQ, OPS and WIN tests
        # are measured only on SYN-ACKs, so nothing of them is lost.
        texts = [text for text in texts if text in ("AS", "SA")]
    if not texts:
        texts = [text for text in _FLAG_SETS if expr_match(expression, text)]
    return generator.choice(texts) if texts else "AR"


def _letters(
    expression: str | None, generator: random.Random, prefer_options: bool = False
) -> tuple[Letter, ...] | None:
    if expression is None:
        return None
    usable = [
        text for text in written_texts(expression) if parse_letters(text) is not None
    ]
    if prefer_options and any(usable):
        usable = [text for text in usable if text]
    if not usable:
        return ()
    letters = parse_letters(generator.choice(usable))
    assert letters is not None
    return letters


def _rst_data(expression: str | None, flags: int, generator: random.Random) -> bytes:
    """Reset data whose CRC-32 is the fingerprint's RD value.

    nmap only hashes data that comes with a RST. The OS's own text is not
    in the database, only its CRC, so four bytes are chosen to give it.
    """
    if expression is None or not flags & RST:
        return b""
    texts = written_texts(expression)
    if "0" in texts or not texts:
        return b""
    target = int(generator.choice(texts), 16)
    return forge_crc32(b"", target)


def _make_crc_tables() -> tuple[list[int], dict[int, int]]:
    table = []
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ (0xEDB88320 if value & 1 else 0)
        table.append(value)
    # Each entry's top byte is unique, which is what lets the CRC run back.
    top_index = {value >> 24: index for index, value in enumerate(table)}
    return table, top_index


_CRC_TABLE, _CRC_TOP = _make_crc_tables()


def forge_crc32(prefix: bytes, target: int) -> bytes:
    """`prefix` plus four bytes whose CRC-32 (zlib.crc32) is `target`.

    CRC-32 forgets its register after four bytes, so walking back from the
    target through the table picks the four table rows, and the register
    left by the prefix then gives the bytes that select them.
    """
    register = zlib.crc32(prefix) ^ 0xFFFFFFFF
    wanted = target ^ 0xFFFFFFFF
    rows = []
    for _ in range(4):
        row = _CRC_TOP[wanted >> 24]
        rows.append(row)
        wanted = ((wanted ^ _CRC_TABLE[row]) << 8) & 0xFFFFFFFF
    tail = bytearray()
    for row in reversed(rows):
        tail.append((register ^ row) & 0xFF)
        register = (register >> 8) ^ _CRC_TABLE[row]
    return prefix + bytes(tail)


# The sequence probes' replies and the TS class ------------------------------


def _templates(
    tests: Tests, t1: TcpRule, generator: random.Random
) -> tuple[dict[str, SynAckTemplate | None], str | None]:
    """Choose W1-W6 and O1-O6 with a TS class nmap would read from them.

    Returns the templates and the TS event the replies cause ("U", "0", or
    None for a rate). Draws again while the TS expression rejects it.
    """
    ops = tests.get("OPS", {})
    win = tests.get("WIN", {})
    seq = tests.get("SEQ", {})
    ts_expression = seq.get("TS")
    best: tuple[dict[str, SynAckTemplate | None], str | None] | None = None
    for _ in range(64):
        templates = {
            str(index): _template(index, ops, win, t1, generator)
            for index in range(1, 7)
        }
        templates = _fill_gaps(templates, ops, win)
        event = _ts_event(templates)
        best = best or (templates, event)
        if _ts_allowed(ts_expression, event):
            return templates, event
    assert best is not None
    return best


def _template(
    index: int,
    ops: Test,
    win: Test,
    t1: TcpRule,
    generator: random.Random,
) -> SynAckTemplate | None:
    if f"W{index}" not in win and f"O{index}" not in ops:
        return None
    # Where the line allows both a SYN-ACK and a bare reset (O6=|M109...,
    # W6=0|10CD), take the SYN-ACK: every reset costs the SEQ test a sample.
    letters = _letters(ops.get(f"O{index}"), generator, prefer_options=True)
    window = _window(win.get(f"W{index}"), generator, nonzero=bool(letters))
    others = [ops.get(f"O{other}", "") for other in range(1, 7) if other != index]
    # nmap records O and W even from a reset; a bare zero window with no
    # options, where the other replies carry timestamps, is one.
    reset = not t1.flags & SYN or (
        window == 0 and letters == () and any("T" in text for text in others)
    )
    return SynAckTemplate(window or 0, letters if letters is not None else (), reset)


def _fill_gaps(
    templates: dict[str, SynAckTemplate | None], ops: Test, win: Test
) -> dict[str, SynAckTemplate | None]:
    """Give a probe whose O or W the database left out another's answer.

    An absent attribute is simply not compared, but the reply still needs
    options; a reply without a timestamp would turn TS into U.
    """
    donors = [
        (index, template)
        for index, template in templates.items()
        if template is not None and not template.reset and template.letters
    ]
    if not donors:
        return templates
    filled = dict(templates)
    for index, template in templates.items():
        missing_options = f"O{index}" not in ops
        missing_window = f"W{index}" not in win
        if not (missing_options or missing_window) or (template and template.reset):
            continue
        same = [d for d in donors if PROBE_OFFERS[d[0]] == PROBE_OFFERS[index]]
        _, donor = (same or donors)[0]
        letters = template.letters if template and not missing_options else ()
        if missing_options:
            letters = keep_offered(donor.letters, PROBE_OFFERS[index])
        window = template.window if template and not missing_window else donor.window
        filled[index] = SynAckTemplate(window, letters, False)
    return filled


def _window(expression: str | None, generator: random.Random, nonzero: bool) -> int:
    if expression is None:
        return 0
    if nonzero:
        window = pick_number(expression, generator, 1, 0xFFFF)
        if window is not None:
            return window
    return pick_number(expression, generator, 0, 0xFFFF) or 0


def _ts_event(templates: dict[str, SynAckTemplate | None]) -> str | None:
    """What nmap's TS flag says after these SYN-ACKs, in order."""
    event = None
    for index in "123456":
        template = templates.get(index)
        if template is None or template.reset:
            continue
        stamps = [letter for letter in template.letters if letter.code == "T"]
        if not stamps:
            event = "U"
        elif not stamps[0].value & 2:
            event = "0"
    return event


def _ts_allowed(expression: str | None, event: str | None) -> bool:
    if expression is None:
        return True
    if event is not None:
        return expr_match(expression, event)
    return bool(timestamp_classes(expression))


def _clock(
    expression: str | None,
    event: str | None,
    templates: dict[str, SynAckTemplate | None],
    rules: dict[str, TcpRule],
    generator: random.Random,
    boot: float,
) -> TimestampClock:
    """The TS clock, and whether the host sends timestamps at all.

    With no OPS line to copy, the TS class alone says whether SYN-ACKs carry
    timestamps, and with what TSval.
    """
    classes = timestamp_classes(expression) if expression else []
    hz = timestamp_hz(generator.choice(classes)) if classes else 1000.0
    letters = [t.letters for t in templates.values() if t is not None]
    letters += [rule.letters for rule in rules.values() if rule.letters]
    stamps = any(letter.code == "T" for group in letters for letter in group)
    if event == "0":
        kind = "zero"
    elif stamps:
        kind = "clock"
    elif event == "U" or any(templates.values()):
        kind = "none"
    elif classes:
        kind = "clock"
    elif expression is not None and expr_match(expression, "0"):
        kind = "zero"
    else:
        kind = "none"
    return TimestampClock(kind, hz, boot)


# IP IDs -----------------------------------------------------------------------

_ID_NAMES = ("Z", "I", "RI", "BI", "RD")
_MOVING = ("I", "RI", "BI")


def _id_class(expression: str | None, generator: random.Random, default: str) -> str:
    if expression is None:
        return default
    candidates = list(_ID_NAMES)
    candidates += [text for text in written_texts(expression) if text not in _ID_NAMES]
    return pick_text(expression, candidates, generator) or default


def _counter(name: str, low: int = 0, high: int = 0xFFFF) -> IdCounter:
    if name == "Z":
        return IdCounter(None, 0)
    if name in ID_CLASSES:
        return IdCounter(ID_CLASSES[name], None, low, high)
    return IdCounter(None, int(name, 16) & 0xFFFF)


def _ip_ids(
    seq: dict[str, str], generator: random.Random
) -> tuple[dict[str, IdCounter], dict[str, str]]:
    """Counters for TI (open-port TCP), CI (closed ports) and II (ICMP).

    Returns the counters by name and, for each kind of packet, the name of
    the counter it takes its ID from.
    """
    tcp = _id_class(seq.get("TI"), generator, "I")
    closed = _id_class(seq.get("CI"), generator, tcp)
    icmp = _id_class(seq.get("II"), generator, "I")
    shared = pick_text(seq.get("SS"), ("S", "O"), generator) if "SS" in seq else None

    counters: dict[str, IdCounter] = {}
    counter_of = {"tcp": "tcp", "closed_tcp": "closed", "icmp": "icmp"}
    if shared == "O" and tcp in _MOVING and icmp in _MOVING:
        # nmap says "other" when the echo reply's ID lies well above the
        # last SYN-ACK's, so keep the two counters in separate halves.
        counters["tcp"] = _counter(tcp, 0, 0x6FFF)
        counters["icmp"] = _counter(icmp, 0x9000, 0xFFFF)
    elif shared == "S" and tcp in _MOVING and icmp in _MOVING:
        counters["tcp"] = _shared_counter(tcp, icmp)
        counter_of["icmp"] = "tcp"
    else:
        counters["tcp"] = _counter(tcp)
        counters["icmp"] = _counter(icmp)

    if closed == tcp and tcp in _MOVING:
        counter_of["closed_tcp"] = "tcp"
    else:
        counters["closed"] = _counter(closed)
    return counters, counter_of


def _shared_counter(tcp: str, icmp: str) -> IdCounter:
    """One counter for TCP and ICMP that nmap still reads as two classes.

    When the echo replies must read as random positive but the SYN-ACKs as
    incremental, each echo reply takes the next ID and then pushes the
    counter on by a random step: the first reply stays close to the last
    SYN-ACK (SS=S) and the second lands far from the first (II=RI). When
    only the SYN-ACKs step widely, echo replies step by one.
    """
    counter = _counter(tcp)
    if icmp == tcp:
        return counter
    if icmp == "RI":
        return counter._replace(icmp_step=ID_CLASSES["I"], icmp_jump=ID_CLASSES["RI"])
    return counter._replace(icmp_step=ID_CLASSES[icmp])


# ICMP -------------------------------------------------------------------------


def _unreachable(
    test: Test | None, generator: random.Random, drop: int = 0
) -> UnreachableRule:
    if not _responds(test):
        return UnreachableRule(False, False, 64, None, 0, None, None, "G", None, True)
    assert test is not None
    length = pick_number(test.get("IPL"), generator, 28 + 28, 0xFFFF)
    unused = pick_number(test.get("UN"), generator, 0, 0xFFFF, default=0) or 0
    quoted_length = _quoted(test.get("RIPL"), generator)
    quoted_id = _quoted(test.get("RID"), generator, avoid=0x1042)
    checksum = pick_text(test.get("RIPCK"), ("G", "Z", "I"), generator) or "G"
    udp_checksum = _quoted(test.get("RUCK"), generator)
    intact = pick_text(test.get("RUD"), ("G", "I"), generator) != "I"
    return UnreachableRule(
        True,
        _yes(test, "DF", generator, "N"),
        _ttl(test, generator, drop),
        length,
        unused,
        quoted_length,
        quoted_id,
        checksum,
        udp_checksum,
        intact,
    )


def _quoted(
    expression: str | None, generator: random.Random, avoid: int | None = None
) -> int | None:
    """None for G (leave the quoted field), else a value to write into it."""
    if expression is None or pick_text(expression, ("G",), generator) == "G":
        return None
    for _ in range(8):
        value = pick_number(expression, generator, 0, 0xFFFF)
        if value is not None and value != avoid:
            return value
    return None


def _echo(test: Test | None, generator: random.Random, drop: int = 0) -> EchoRule:
    if not _responds(test):
        return EchoRule(False, "N", 64, "Z")
    assert test is not None
    dont_fragment = pick_text(test.get("DFI"), ("N", "S", "Y", "O"), generator) or "N"
    code_expression = test.get("CD")
    code = pick_text(code_expression, ("Z", "S", "O"), generator)
    if code is None and code_expression is not None:
        number = pick_number(code_expression, generator, 1, 0xFF)
        code = to_hex(number) if number is not None else "Z"
    return EchoRule(True, dont_fragment, _ttl(test, generator, drop), code or "Z")
