from typing import NamedTuple

from vnet.network.plan import AddressPlan

BASE = 0xC6336400  # 198.51.100.0


class Span(NamedTuple):
    first: int
    last: int
    label: str


def test_single_addresses_and_ranges_are_found():
    plan = AddressPlan(
        [
            Span(BASE + 10, BASE + 10, "web"),
            Span(BASE + 100, BASE + 199, "workstations"),
            Span(BASE + 200, BASE + 200, "relay"),
        ]
    )

    assert plan.lookup(BASE + 10).label == "web"
    assert plan.lookup(BASE + 100).label == "workstations"
    assert plan.lookup(BASE + 150).label == "workstations"
    assert plan.lookup(BASE + 199).label == "workstations"
    assert plan.lookup(BASE + 200).label == "relay"


def test_addresses_between_spans_belong_to_nobody():
    plan = AddressPlan(
        [Span(BASE + 20, BASE + 29, "a"), Span(BASE + 40, BASE + 49, "b")]
    )

    for address in (BASE, BASE + 19, BASE + 30, BASE + 39, BASE + 50, BASE + 255):
        assert plan.lookup(address) is None


def test_a_large_range_costs_one_entry():
    plan = AddressPlan([Span(0xC6120000, 0xC613FFFF, "benchmark /15")])

    assert plan.address_count == 2**17
    assert plan.lookup(0xC6120000 + 77_777).label == "benchmark /15"
    assert len(list(plan)) == 1
