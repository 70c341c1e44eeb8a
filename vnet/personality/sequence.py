"""Initial sequence numbers, IP IDs and TCP timestamps that nmap reads right.

nmap's SEQ test sends six SYNs about 100 ms apart and reads, from the
SYN-ACKs, how the ISN grows (GCD, ISR, SP), how the IP ID grows (TI, with CI
from closed-port resets and II from echo replies, and SS for whether TCP and
ICMP share a counter) and how fast the TCP timestamp clock ticks (TS). Each
number below is generated so that nmap's own arithmetic, applied to what it
sees, lands inside the fingerprint's ranges even when packets arrive with
some jitter (nmap-os-detection notes, sections 3 and 5).

ISNs (RFC 9293 section 3.4.1 describes the clock; RFC 6528 the hash that
real stacks add). Each peer has its own sequence: the ISN grows by a whole
number of `unit` (the GCD) per SYN, at a rate that follows the time since
the previous SYN, scaled by a repeating pattern of five factors. nmap sees
five differences, so any five in a row hold each factor once, and the
standard deviation that gives SP is the pattern's own, whatever SYN nmap
starts on. Consecutive step counts are kept coprime, so the GCD is exactly
the unit. The step is capped so that no difference reaches 2**31, beyond
which nmap would read it backwards.

IP IDs (RFC 791, RFC 6864). Each peer gets its own counters, so unrelated
traffic from a busy host never widens the differences nmap measures. A
counter is moved back down to the start of its range only after a quiet
spell, never in the middle of a burst, because nmap reads any decrease
among three or more samples as random (RD).

Timestamps (RFC 7323 section 5.4). One clock per host, counting from the
configured boot time at the rate the TS class names: 2 Hz for class 1,
100 Hz for 7, 250 Hz for 8, 1000 Hz for A and 2**k Hz for any other k.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

from vnet.personality.expression import alternatives, expr_match, to_hex

SEQUENCE_SPACE = 1 << 32
HALF_SPACE = 1 << 31

# Peers remembered per host; the oldest is forgotten first.
# Limitation: a 65th peer restarts the oldest one's ISN and IP ID sequences,
# which only a scanner using more than 64 source addresses could notice.
_PEERS = 64


def modular_distance(a: int, b: int) -> int:
    """The shorter way round the 32-bit circle from a to b."""
    forward = (a - b) % SEQUENCE_SPACE
    return min(forward, SEQUENCE_SPACE - forward)


# TCP timestamps -------------------------------------------------------------

# nmap's class names and the real clock rates they stand for.
_TS_CLASS_HZ = {1: 2.0, 7: 100.0, 8: 250.0, 10: 1000.0}


class TimestampClock(NamedTuple):
    """The host's TSval clock: `hz` ticks a second since `boot`.

    `kind` is "clock", "zero" (TSval always 0, TS=0) or "none" (no timestamp
    option at all, TS=U).
    """

    kind: str
    hz: float
    boot: float

    def tsval(self, now: float) -> int:
        if self.kind != "clock":
            return 0
        ticks = int((now - self.boot) * self.hz) % SEQUENCE_SPACE
        # A zero TSval reads as "timestamps zeroed" (TS=0), so skip it.
        return ticks or 1


def timestamp_hz(ts_class: int) -> float:
    """The clock rate that nmap files under TS class `ts_class`."""
    if ts_class in _TS_CLASS_HZ:
        return _TS_CLASS_HZ[ts_class]
    return float(2**ts_class)


def timestamp_classes(expression: str) -> list[int]:
    """The TS rate classes an expression allows, as numbers.

    Class 2 is left out: nmap files every rate up to 5.66 Hz under 1.
    """
    classes = []
    for alternative in alternatives(expression):
        if alternative.low is None or alternative.high is None:
            continue
        low, high = alternative.low, min(alternative.high, 0x22)
        for ts_class in range(max(low, 1), high + 1):
            if ts_class != 2 and expr_match(expression, to_hex(ts_class)):
                classes.append(ts_class)
    return classes


# Initial sequence numbers --------------------------------------------------


class IsnPlan(NamedTuple):
    """How one host's ISNs grow.

    Each SYN adds `unit` times a step count: `rate` steps a second times the
    time since the previous SYN (held between `shortest` and `longest`),
    times the next factor of `pattern`. `constant` plans never move. A step
    is raised by one only when the last five would otherwise share a factor
    above `largest_factor`, so the GCD nmap reads stays the unit's.
    """

    constant: bool
    unit: int
    rate: float
    pattern: tuple[float, ...]
    shortest: float = 0.001
    longest: float = 1.0
    # The largest common factor of five step counts that the GCD expression
    # still accepts (6 for GCD=1-6); 0 when any is fine.
    largest_factor: int = 0


class IsnSequence:
    """Per-peer ISNs following one plan."""

    __slots__ = ("plan", "_random", "_peers")

    def __init__(self, plan: IsnPlan, generator: random.Random) -> None:
        self.plan = plan
        self._random = generator
        # peer -> [isn, time, pattern position, the last four step counts]
        self._peers: OrderedDict[int, list] = OrderedDict()

    def next(self, now: float, peer: int = 0) -> int:
        state = self._peers.get(peer)
        if state is None:
            return self._first(now, peer)
        self._peers.move_to_end(peer)
        isn, before, position, recent = state
        plan = self.plan
        if plan.constant:
            return isn

        elapsed = min(max(now - before, plan.shortest), plan.longest)
        steps = max(1, round(plan.rate * elapsed * plan.pattern[position]))
        others = len(plan.pattern) - 1
        if plan.largest_factor and len(recent) >= others:
            while (
                math.gcd(steps, *recent[len(recent) - others :]) > plan.largest_factor
            ):
                steps += 1

        value = (isn + plan.unit * steps) % SEQUENCE_SPACE
        recent = [*recent[max(len(recent) - others + 1, 0) :], steps]
        state[:] = [value, now, (position + 1) % len(plan.pattern), recent]
        return value

    def _first(self, now: float, peer: int) -> int:
        # An ISN of zero reads as "no reply" to nmap.
        value = self._random.randrange(1, SEQUENCE_SPACE)
        position = self._random.randrange(len(self.plan.pattern))
        self._peers[peer] = [value, now, position, []]
        if len(self._peers) > _PEERS:
            self._peers.popitem(last=False)
        return value


# nmap's readings of the ISNs (osscan2.cc makeTSeqFP), used here to choose a
# plan that gives the fingerprint's values.


def read_isns(isns: Sequence[int], sent: Sequence[float]) -> dict[str, str]:
    """SP, GCD and ISR as nmap computes them from replies and send times."""
    differences = [
        modular_distance(later, earlier)
        for earlier, later in zip(isns, isns[1:], strict=False)
    ]
    intervals = [
        max(later - earlier, 1e-6)
        for earlier, later in zip(sent, sent[1:], strict=False)
    ]
    rates = [d / t for d, t in zip(differences, intervals, strict=True)]
    divisor = 0
    for difference in differences:
        divisor = math.gcd(divisor, difference)
    if divisor == 0:
        return {"SP": "0", "GCD": "0", "ISR": "0"}

    mean = sum(rates) / len(rates)
    rate_index = int(8 * math.log2(mean) + 0.5) if mean > 0 else 0
    scale = divisor if divisor > 9 else 1
    spread = sum((rate / scale - mean / scale) ** 2 for rate in rates)
    deviation = math.sqrt(spread / (len(rates) - 1))
    predictability = 0 if deviation <= 1 else int(8 * math.log2(deviation) + 0.5)
    return {
        "SP": to_hex(predictability),
        "GCD": to_hex(divisor),
        "ISR": to_hex(max(rate_index, 0)),
    }


# The send-time patterns a plan must survive: nmap spaces its six SYNs by at
# least 100 ms, a little more when busy, and the SYNs reach us after some
# jitter. Each is (intervals between sends, arrival delays). The delays are
# those of a frame read from a TAP device as it arrives, a few hundred
# microseconds at most: a host that reads `now` later than that makes a
# clocked ISN look less regular than the fingerprint says (a higher SP).
_TIMINGS = (
    ((0.100,) * 5, (0.0001,) * 6),
    (
        (0.104, 0.101, 0.108, 0.100, 0.106),
        (0.0001, 0.0003, 0.0001, 0.0002, 0.0, 0.0003),
    ),
    ((0.110,) * 5, (0.0002, 0.0, 0.0003, 0.0001, 0.0002, 0.0)),
    ((0.100, 0.120, 0.100, 0.120, 0.100), (0.0001,) * 6),
    ((0.125,) * 5, (0.0003, 0.0001, 0.0003, 0.0001, 0.0003, 0.0001)),
)

# The interval a per-connection plan assumes between nmap's SYNs.
_NOMINAL_INTERVAL = 0.11
# A reading this far inside its range is good enough to stop looking.
_GOOD_MARGIN = 2
_MOST_TRIALS = 40


def _trial(
    plan: IsnPlan, seq: dict[str, str], samples: tuple[int, ...]
) -> float | None:
    """Run a plan through every timing and pattern start.

    `samples` are the sequence probes (0-5) that get SYN-ACKs. Returns the
    smallest margin between a reading and the edge of its range, or None if
    any reading misses its expression.
    """
    worst = math.inf
    for intervals, delays in _TIMINGS:
        sent = [0.0]
        for interval in intervals:
            sent.append(sent[-1] + interval)
        sent = [sent[index] for index in samples]
        arrivals = [10.0 + sent[n] + delays[index] for n, index in enumerate(samples)]
        for start in range(len(plan.pattern)):
            values = read_isns(_run(plan, start, arrivals), sent)
            for attribute, expression in seq.items():
                if not expr_match(expression, values[attribute]):
                    return None
                worst = min(worst, _margin(expression, values[attribute]))
    return worst


def _run(plan: IsnPlan, start: int, arrivals: list[float]) -> list[int]:
    sequence = IsnSequence(plan, random.Random(start))
    isns = [sequence.next(arrivals[0])]
    sequence._peers[0][2] = start % len(plan.pattern)
    isns += [sequence.next(arrival) for arrival in arrivals[1:]]
    return isns


def _margin(expression: str, value: str) -> float:
    """How far a matching numeric value sits from the edge of its range."""
    number = int(value, 16)
    best = 0.0
    for alternative in alternatives(expression):
        if alternative.low is None or alternative.high is None:
            continue
        if alternative.low <= number <= alternative.high:
            best = max(best, min(number - alternative.low, alternative.high - number))
    return best


def _units(expression: str, generator: random.Random) -> list[int]:
    """Candidate GCD units from a GCD expression, likeliest first."""
    units: list[int] = []
    for alternative in alternatives(expression):
        if alternative.low is None or alternative.high is None:
            continue
        if alternative.text.startswith(">"):
            units.append(alternative.low + generator.randrange(1, 1 << 16))
        elif alternative.low == alternative.high:
            units.append(alternative.low)
        else:
            units.append(max(alternative.low, 1))
    live = [unit for unit in units if unit and expr_match(expression, to_hex(unit))]
    live.sort()
    return live


def _targets(expression: str | None, default: float) -> list[float]:
    """Points inside a range to aim at, the middle first."""
    if expression is None:
        return [default]
    points: list[float] = []
    for alternative in alternatives(expression):
        if alternative.low is None or alternative.high is None:
            continue
        low, high = alternative.low, min(alternative.high, 0x120)
        for share in (0.5, 0.35, 0.65, 0.2, 0.8):
            points.append(low + (high - low) * share)
    return points or [default]


def _pattern(spread: float, highs: int, length: int) -> tuple[float, ...] | None:
    """`length` factors of mean 1 and sample deviation `spread`, `highs` high."""
    if spread < 1e-9:
        return (1.0,) * length
    if highs >= length:
        return None
    lows = length - highs
    lift = spread * math.sqrt((length - 1) * lows / (length * highs))
    low = 1 - highs * lift / lows
    if low < 0:
        return None
    return (1 + lift,) * highs + (low,) * lows


def _plans(seq: dict[str, str], unit: int, length: int) -> list[IsnPlan]:
    """Candidate plans for one unit, best-aimed first.

    Each aim comes twice: clocked, where the step follows the time since the
    previous SYN, which makes nmap's own send jitter irrelevant; and per
    connection, where every SYN adds the same steps whatever the time, which
    makes our arrival jitter irrelevant. Small deviations need the second.
    """
    largest = _largest_factor(seq.get("GCD"), unit)
    plans = []
    for isr in _targets(seq.get("ISR"), 0x10A):
        mean_rate = 2 ** (isr / 8)
        for sp in _targets(seq.get("SP"), max(isr - 6, 0)):
            # nmap divides the rates by a GCD above 9 before the deviation.
            scale = unit if unit > 9 else 1
            deviation = 0.0 if sp < 1 else 2 ** (sp / 8)
            # Rounding each step to a whole count adds its own deviation.
            rounding = _ROUNDING * unit / scale
            clocked = math.sqrt(max(deviation**2 - rounding**2, 0.0))
            for spread_of, clock in ((clocked, True), (deviation, False)):
                spread = spread_of * scale / mean_rate
                for highs in range(1, length):
                    plan = _plan(unit, mean_rate, spread, highs, length, clock, largest)
                    if plan is not None:
                        plans.append(plan)
                    if spread == 0:
                        break
    return plans


# The deviation, in steps a second, that rounding steps to whole numbers adds
# at nmap's 100 ms spacing: a uniform error of half a step.
_ROUNDING = 0.29 / 0.1


def _plan(
    unit: int,
    mean_rate: float,
    spread: float,
    highs: int,
    length: int,
    clock: bool,
    largest: int,
) -> IsnPlan | None:
    pattern = _pattern(spread, highs, length)
    if pattern is None:
        return None
    # Keep every difference below 2**31 (nmap reads it backwards).
    longest = min(1.0, 0.9 * HALF_SPACE / (mean_rate * max(pattern)))
    shortest = 0.001
    if not clock:
        shortest = longest = min(_NOMINAL_INTERVAL, longest)
    return IsnPlan(False, unit, mean_rate / unit, pattern, shortest, longest, largest)


def _largest_factor(expression: str | None, unit: int) -> int:
    """The largest k for which the GCD expression accepts k * unit."""
    if expression is None:
        return 0
    largest = 1
    for factor in range(2, 17):
        if expr_match(expression, to_hex(unit * factor)):
            largest = factor
        else:
            break
    return largest


ALL_PROBES = (0, 1, 2, 3, 4, 5)


def design_isn(
    seq: dict[str, str], generator: random.Random, samples: tuple[int, ...] = ALL_PROBES
) -> IsnPlan:
    """A plan whose ISNs nmap reads as the SEQ test's SP, GCD and ISR.

    `seq` holds the reference expressions for whichever of SP, GCD and ISR the
    fingerprint gives; `samples` are the sequence probes (0-5) the host
    answers with a SYN-ACK, so the ISNs nmap compares. The pattern has one
    factor per difference nmap sees, which keeps its deviation exact.
    Candidates are tried in an order the generator shuffles a little, so
    that hosts differ; the first that meets every
    expression under every timing in `_TIMINGS` with a margin wins, else
    the one with the widest margin, else the first candidate.
    """
    wanted: dict[str, str] = {k: seq[k] for k in ("SP", "GCD", "ISR") if k in seq}
    if len(samples) < 4:
        # nmap needs four ISNs; with fewer it reads none of the three.
        return IsnPlan(False, 1, 2**33, (1.0,) * 5)
    units = _units(wanted["GCD"], generator) if "GCD" in wanted else [1]
    constant = "GCD" in wanted and expr_match(wanted["GCD"], "0")
    if constant and (not units or generator.random() < 0.5):
        return IsnPlan(True, 0, 0.0, (1.0,))

    best: tuple[float, IsnPlan] | None = None
    first: IsnPlan | None = None
    tried = 0
    for unit in units or [1]:
        plans = _plans(wanted, unit, len(samples) - 1)
        _shuffle_near(plans, generator)
        for plan in plans:
            first = first or plan
            margin = _trial(plan, wanted, samples)
            tried += 1
            if margin is not None:
                if margin >= _GOOD_MARGIN:
                    return plan
                if best is None or margin > best[0]:
                    best = (margin, plan)
            if tried >= _MOST_TRIALS and best is not None:
                return best[1]
    # Limitation: a few SEQ lines no ISNs can give at nmap's spacing (ISR=0
    # with GCD=1, or an SP below what a millisecond of jitter adds to a fast
    # clock); they get the closest plan found.
    if best is not None:
        return best[1]
    return first or IsnPlan(False, 1, 2**33, (1.0,) * 5)


def _shuffle_near(items: list[IsnPlan], generator: random.Random) -> None:
    """Swap neighbours at random: hosts differ, the best-aimed stay early."""
    for index in range(0, len(items) - 1, 2):
        if generator.random() < 0.5:
            items[index], items[index + 1] = items[index + 1], items[index]


# IP IDs ---------------------------------------------------------------------


class IdClass(NamedTuple):
    """How one counter steps: nmap's class name and the step it draws."""

    name: str
    step: Callable[[random.Random], int]
    largest: int


def _step_one(generator: random.Random) -> int:
    return 1


def _step_broken(generator: random.Random) -> int:
    # A byte-swapped counter moves by 256 per packet.
    return 256


def _step_random_positive(generator: random.Random) -> int:
    # Above 1000 and never a multiple of 256: nmap's "random positive". Not
    # one short of a multiple either, so a step of one more stays random.
    while True:
        step = generator.randint(1001, 1300)
        if step % 256 not in (0, 255):
            return step


def _step_random(generator: random.Random) -> int:
    # Either above 20000 or, after a wrap, a decrease: "random" either way.
    return generator.randint(20001, 45535)


ID_CLASSES = {
    "I": IdClass("I", _step_one, 1),
    "BI": IdClass("BI", _step_broken, 256),
    "RI": IdClass("RI", _step_random_positive, 1300),
    "RD": IdClass("RD", _step_random, 0),
}

# A counter must be able to send this many packets without wrapping, and it
# wraps only after this long without sending.
_ROOM = 16
_QUIET = 0.25


class IdCounter(NamedTuple):
    """One counter's rule: its class, its range, and fixed values.

    `fixed` is the ID every packet carries for class Z (0) or a constant
    class; None for a moving counter. A counter that TCP and ICMP share may
    step differently for ICMP (`icmp_step`), or push itself on after each
    ICMP packet (`icmp_jump`), so that nmap reads the shared sequence (SS=S)
    and still two different classes for TI and II.
    """

    id_class: IdClass | None
    fixed: int | None
    low: int = 0
    high: int = 0xFFFF
    icmp_step: IdClass | None = None
    icmp_jump: IdClass | None = None


class IpIds:
    """The IP IDs one host puts on its packets, per peer and kind."""

    __slots__ = ("_counters", "_kinds", "_random", "_peers")

    def __init__(
        self,
        counters: dict[str, IdCounter],
        kinds: dict[str, str],
        generator: random.Random,
    ) -> None:
        self._counters = counters
        self._kinds = kinds
        self._random = generator
        # peer -> counter name -> [value, time of the last packet]
        self._peers: OrderedDict[int, dict[str, list[float]]] = OrderedDict()

    def next(self, kind: str, now: float, peer: int = 0) -> int:
        name = self._kinds[kind]
        counter = self._counters[name]
        if counter.fixed is not None:
            return counter.fixed
        assert counter.id_class is not None
        state = self._state(peer, name, counter, now)

        value, before = state
        if counter.id_class.largest and now - before >= _QUIET:
            value = self._make_room(value, counter)
        icmp = kind == "icmp"
        id_class = counter.icmp_step if icmp and counter.icmp_step else counter.id_class
        value = (int(value) + id_class.step(self._random)) & 0xFFFF
        if counter.id_class.largest and value > counter.high:
            value = counter.low + (value - counter.low) % (counter.high - counter.low)

        state[:] = [value, now]
        if icmp and counter.icmp_jump is not None:
            state[0] = value + counter.icmp_jump.step(self._random)
        return int(value)

    def _state(
        self, peer: int, name: str, counter: IdCounter, now: float
    ) -> list[float]:
        counters = self._peers.get(peer)
        if counters is None:
            counters = self._peers[peer] = {}
            if len(self._peers) > _PEERS:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
        state = counters.get(name)
        if state is None:
            state = counters[name] = [self._start(counter), now]
        return state

    def _start(self, counter: IdCounter) -> int:
        assert counter.id_class is not None
        top = counter.high - _ROOM * 2 * max(counter.id_class.largest, 1)
        return self._random.randint(counter.low, max(counter.low, top))

    def _make_room(self, value: float, counter: IdCounter) -> float:
        """Start over low in the range if the next burst might wrap."""
        assert counter.id_class is not None
        jump = counter.icmp_jump.largest if counter.icmp_jump else 0
        need = _ROOM * (counter.id_class.largest + jump)
        if value + need <= counter.high:
            return value
        if counter.id_class.name == "BI":
            # A swapped counter's low byte is the real counter's high byte.
            return (int(value) & 0xFF) + 1 & 0xFF
        span = max((counter.high - counter.low) // 8, 1)
        return counter.low + self._random.randrange(span)
