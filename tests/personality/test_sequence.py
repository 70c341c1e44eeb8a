"""ISNs, IP IDs and the TS clock, measured the way nmap measures them."""

from __future__ import annotations

import random

import pytest

from tests.personality.nmap_model import ip_id_class, isn_values
from vnet.personality.expression import expr_match
from vnet.personality.sequence import (
    ID_CLASSES,
    IdCounter,
    IpIds,
    IsnSequence,
    TimestampClock,
    design_isn,
    timestamp_classes,
    timestamp_hz,
)

# --- TCP timestamps -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts_class", "hz"),
    [(1, 2.0), (7, 100.0), (8, 250.0), (10, 1000.0), (3, 8.0), (0x21, 2.0**33)],
)
def test_each_ts_class_has_the_rate_nmap_files_under_it(
    ts_class: int, hz: float
) -> None:
    assert timestamp_hz(ts_class) == hz


def test_ts_classes_of_an_expression() -> None:
    assert timestamp_classes("7|8") == [7, 8]
    assert timestamp_classes("20-22") == [0x20, 0x21, 0x22]
    assert timestamp_classes("U") == []
    # nmap never prints 2: every rate up to 5.66 Hz reads as 1.
    assert timestamp_classes("1|2") == [1]


def test_the_clock_counts_from_boot() -> None:
    clock = TimestampClock("clock", 1000.0, boot=-86400.0)
    assert clock.tsval(0.0) == 86400 * 1000
    assert clock.tsval(1.5) == 86400 * 1000 + 1500
    # Wraps as a 32-bit counter does, and never reads zero.
    wrapped = TimestampClock("clock", 1000.0, boot=-(2**32) / 1000)
    assert wrapped.tsval(0.0) == 1
    assert TimestampClock("zero", 1000.0, 0.0).tsval(5.0) == 0


# --- IP IDs -------------------------------------------------------------------


def _ids(
    counters: dict[str, IdCounter], kinds: list[str], gap: float = 0.1
) -> list[int]:
    ids = IpIds(
        counters,
        {"tcp": "a", "icmp": "b" if "b" in counters else "a"},
        random.Random(3),
    )
    return [
        ids.next(kind, 100.0 + index * gap, peer=7) for index, kind in enumerate(kinds)
    ]


@pytest.mark.parametrize("name", ["I", "BI", "RI", "RD"])
def test_each_moving_class_reads_as_itself(name: str) -> None:
    counter = IdCounter(ID_CLASSES[name], None)
    for seed in range(200):
        ids = IpIds({"a": counter}, {"tcp": "a"}, random.Random(seed))
        # Six SYN-ACKs 100 ms apart, as nmap's SEQ probes get them.
        samples = [ids.next("tcp", 50.0 + 0.1 * n) for n in range(6)]
        assert ip_id_class(samples) == name, (seed, samples)


def test_fixed_ids() -> None:
    zero = IpIds({"a": IdCounter(None, 0)}, {"tcp": "a"}, random.Random(1))
    assert ip_id_class([zero.next("tcp", t) for t in range(4)]) == "Z"
    constant = IpIds({"a": IdCounter(None, 0xFFE1)}, {"tcp": "a"}, random.Random(1))
    assert ip_id_class([constant.next("tcp", t) for t in range(4)]) == "FFE1"


def test_a_counter_wraps_only_between_bursts() -> None:
    counter = IdCounter(ID_CLASSES["RI"], None)
    ids = IpIds({"a": counter}, {"tcp": "a"}, random.Random(5))
    now = 0.0
    for burst in range(300):
        samples = [ids.next("tcp", now + 0.1 * n) for n in range(6)]
        assert ip_id_class(samples) == "RI", (burst, samples)
        now += 2.0


def test_peers_have_their_own_counters() -> None:
    ids = IpIds({"a": IdCounter(ID_CLASSES["I"], None)}, {"tcp": "a"}, random.Random(2))
    first = [ids.next("tcp", 1.0 + n * 0.01, peer=1) for n in range(3)]
    for n in range(50):
        ids.next("tcp", 1.05 + n * 0.001, peer=2)
    assert ids.next("tcp", 1.2, peer=1) == first[-1] + 1


def _shared_sequence(counter: IdCounter, shared: bool, seed: int) -> tuple[list, list]:
    counters = {"a": counter} if shared else {"a": counter, "b": counter}
    kinds = {"tcp": "a", "icmp": "a" if shared else "b"}
    ids = IpIds(counters, kinds, random.Random(seed))
    tcp = [ids.next("tcp", 10.0 + 0.1 * n) for n in range(6)]
    icmp = [ids.next("icmp", 11.0 + 0.03 * n) for n in range(2)]
    return tcp, icmp


def _ss(tcp: list[int], icmp: list[int]) -> str:
    average = ((tcp[-1] - tcp[0]) & 0xFFFFFFFF) // (len(tcp) - 1)
    return "S" if icmp[0] < tcp[-1] + 3 * average else "O"


def test_a_shared_counter_reads_as_shared() -> None:
    for seed in range(100):
        tcp, icmp = _shared_sequence(IdCounter(ID_CLASSES["I"], None), True, seed)
        assert _ss(tcp, icmp) == "S"


def test_shared_counter_with_random_positive_echo_replies() -> None:
    counter = IdCounter(
        ID_CLASSES["I"], None, icmp_step=ID_CLASSES["I"], icmp_jump=ID_CLASSES["RI"]
    )
    for seed in range(100):
        tcp, icmp = _shared_sequence(counter, True, seed)
        assert (ip_id_class(tcp), ip_id_class(icmp), _ss(tcp, icmp)) == ("I", "RI", "S")


def test_counters_in_separate_halves_read_as_other() -> None:
    low = IdCounter(ID_CLASSES["I"], None, 0, 0x6FFF)
    high = IdCounter(ID_CLASSES["I"], None, 0x9000, 0xFFFF)
    for seed in range(100):
        ids = IpIds(
            {"a": low, "b": high}, {"tcp": "a", "icmp": "b"}, random.Random(seed)
        )
        tcp = [ids.next("tcp", 10.0 + 0.1 * n) for n in range(6)]
        icmp = [ids.next("icmp", 11.0 + 0.03 * n) for n in range(2)]
        assert _ss(tcp, icmp) == "O"


# --- ISNs ---------------------------------------------------------------------

SEQ_LINES = [
    # Random-looking ISNs (Linux, Windows).
    {"SP": "FF-109", "GCD": "1-6", "ISR": "107-111"},
    {"SP": "FA-104", "GCD": "1-6", "ISR": "108-112"},
    # A clock with per-connection jitter.
    {"SP": "C3-D1", "GCD": "1-6", "ISR": "C0-DA"},
    {"SP": "6A-BE", "GCD": "1-6", "ISR": "96-A0"},
    # Steps of 64000 (old BSD) and 62466.
    {"SP": "14-1E", "GCD": "FA00|1F400|2EE00|3E800|4E200", "ISR": "99-A3"},
    {"SP": "C-16", "GCD": "F402|1E804|2DC06|3D008|4C40A", "ISR": "97-A1"},
    # Fixed increments per connection.
    {"SP": "0-5", "GCD": "64|C8|12C|190|1F4", "ISR": "4B-55"},
    {"SP": "0-5", "GCD": "51E80C|A3D018|F5B824|147A030|199883C", "ISR": "C8-D2"},
    # Even steps.
    {"SP": "101-10B", "GCD": "2|4|6|8|A", "ISR": "105-10F"},
    # A constant ISN.
    {"SP": "0-5", "GCD": "0", "ISR": "0-5"},
]


@pytest.mark.parametrize("seq", SEQ_LINES, ids=lambda seq: "/".join(seq.values()))
def test_isns_read_as_the_seq_line(seq: dict[str, str]) -> None:
    plan = design_isn(seq, random.Random(4))
    for trial in range(40):
        timing = random.Random(trial)
        sequence = IsnSequence(plan, random.Random(trial))
        sent, samples = 100.0, []
        for _ in range(6):
            arrival = sent + 0.0002 + timing.uniform(0, 0.0002)
            samples.append((sent, sequence.next(arrival, peer=9), 0, None))
            sent += 0.1 + timing.uniform(0, 0.01)
        values = isn_values(samples)
        for attribute, expression in seq.items():
            assert expr_match(expression, values[attribute]), (trial, values)


def test_isns_differ_between_peers_and_never_start_at_zero() -> None:
    plan = design_isn(SEQ_LINES[0], random.Random(1))
    sequence = IsnSequence(plan, random.Random(1))
    starts = {sequence.next(1.0, peer) for peer in range(100)}
    assert len(starts) == 100
    assert 0 not in starts


def test_fewer_samples_change_the_pattern() -> None:
    # Two of the six probes answered with resets: nmap sees three differences.
    seq = SEQ_LINES[2]
    plan = design_isn(seq, random.Random(2), samples=(0, 1, 2, 3))
    assert len(plan.pattern) == 3
