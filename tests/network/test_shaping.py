"""Shaping abusive sources: connection limits, bandwidth, growing delay, state."""

from __future__ import annotations

import statistics
import textwrap
import tracemalloc

import pytest

from tests.config.helpers import HEADER
from tests.network.harness import (
    PEER,
    Bench,
    Events,
    echo_request,
    icmp_of,
    ip,
    tcp_flags,
    tcp_syn,
)
from vnet.config.model import DelayGrowth, Shaping, ShapingLimits
from vnet.events import NullSink
from vnet.network.shaping import FLOW_IDLE, Shaper
from vnet.wire import icmp, ipv4, tcp
from vnet.wire.ipv4 import Ipv4Packet


def shaper(per_source=None, per_subnet=None, **settings):
    events = Events()
    shaping = Shaping(per_source, per_subnet, **settings)
    return Shaper(shaping, events, seed=1), events


def syn(src="198.51.100.7", port=40000, dst="192.0.2.10"):
    return tcp_syn(dst, 80, src_port=port)._replace(src=ip(src))


def segment(flags, src="198.51.100.7", port=40000, dst="192.0.2.10"):
    return tcp_flags(dst, 80, flags, src_port=port)._replace(src=ip(src))


def test_connections_per_minute_refills_evenly():
    shaping, events = shaper(ShapingLimits(connections_per_minute=3))
    admitted = [shaping.inbound(syn(port=40000 + n), 0.0) for n in range(4)]
    assert admitted == [0.0, 0.0, 0.0, None]

    # Three a minute: one more every 20 seconds.
    assert shaping.inbound(syn(port=41000), 19.0) is None
    assert shaping.inbound(syn(port=41001), 20.5) == 0.0
    [first, *_] = events.named("net.shaped")
    assert first == {
        "count": 1,
        "peer": "198.51.100.7",
        "scope": "source",
        "limit": "connections_per_minute",
        "action": "SYN dropped",
        "visits": 3,
    }


def test_other_segments_are_not_connections():
    shaping, _ = shaper(ShapingLimits(connections_per_minute=1))
    assert shaping.inbound(syn(), 0.0) == 0.0
    for flags in (tcp.ACK, tcp.ACK | tcp.PSH, tcp.SYN | tcp.ACK, tcp.RST):
        assert shaping.inbound(segment(flags, port=40001), 0.1) == 0.0


def test_a_retransmitted_syn_of_an_admitted_connection_passes():
    shaping, _ = shaper(ShapingLimits(connections_per_minute=1))
    assert shaping.inbound(syn(), 0.0) == 0.0
    assert shaping.inbound(syn(), 1.0) == 0.0
    assert shaping.inbound(syn(port=40001), 1.0) is None


def test_concurrent_connections_close_with_fin_rst_or_idleness():
    shaping, _ = shaper(ShapingLimits(concurrent=2))
    assert shaping.inbound(syn(port=1), 0.0) == 0.0
    assert shaping.inbound(syn(port=2), 0.0) == 0.0
    assert shaping.inbound(syn(port=3), 0.0) is None

    shaping.inbound(segment(tcp.RST, port=1), 1.0)
    assert shaping.inbound(syn(port=3), 1.0) == 0.0
    shaping.inbound(segment(tcp.FIN | tcp.ACK, port=2), 2.0)
    assert shaping.inbound(syn(port=4), 2.0) == 0.0
    assert shaping.inbound(syn(port=5), 2.0) is None

    # Port 3 keeps talking; port 4 goes quiet and is counted closed.
    shaping.inbound(segment(tcp.ACK, port=3), FLOW_IDLE)
    assert shaping.inbound(syn(port=6), FLOW_IDLE + 2.5) == 0.0
    assert shaping.inbound(syn(port=7), FLOW_IDLE + 2.5) is None


def test_a_subnet_shares_its_limit_among_its_sources():
    shaping, events = shaper(None, ShapingLimits(connections_per_minute=2))
    assert shaping.inbound(syn("198.51.100.7"), 0.0) == 0.0
    assert shaping.inbound(syn("198.51.100.8"), 0.0) == 0.0
    assert shaping.inbound(syn("198.51.100.9"), 0.0) is None
    assert shaping.inbound(syn("198.51.101.9"), 0.0) == 0.0
    assert events.named("net.shaped")[0]["peer"] == "198.51.100.0/24"
    assert events.named("net.shaped")[0]["scope"] == "subnet"


def test_a_refused_syn_costs_no_token_at_the_other_level():
    shaping, _ = shaper(
        ShapingLimits(connections_per_minute=1), ShapingLimits(connections_per_minute=2)
    )
    assert shaping.inbound(syn("198.51.100.7", 1), 0.0) == 0.0
    assert shaping.inbound(syn("198.51.100.7", 2), 0.0) is None
    assert shaping.inbound(syn("198.51.100.8", 3), 0.0) == 0.0


def test_the_delay_grows_with_visits_up_to_its_maximum():
    growth = DelayGrowth(after=2, step=0.1, max=0.35, variation=0.0)
    shaping, events = shaper(ShapingLimits(delay=growth))
    delays = []
    for visit in range(6):
        shaping.inbound(syn(port=visit), visit * 10.0)
        delays.append(shaping.inbound(echo_from("198.51.100.7"), visit * 10.0 + 5))
    assert delays == pytest.approx([0, 0, 0.1, 0.2, 0.3, 0.35])
    shaped = events.named("net.shaped")
    assert shaped[0]["limit"] == "delay"
    assert shaped[0]["delay_ms"] == 100.0


def test_the_delay_applies_both_ways():
    growth = DelayGrowth(after=0, step=0.05, max=1.0, variation=0.0)
    shaping, _ = shaper(ShapingLimits(delay=growth))
    shaping.inbound(syn(), 0.0)
    reply = Ipv4Packet(ip("192.0.2.10"), ip("198.51.100.7"), ipv4.PROTO_ICMP, b"x" * 8)
    assert shaping.outbound(reply, 1.0) == pytest.approx(0.05)
    other = reply._replace(dst=ip("198.51.100.99"))
    assert shaping.outbound(other, 1.0) == 0.0


def echo_from(source, sequence=1):
    return echo_request("192.0.2.10", sequence=sequence)._replace(src=ip(source))


def test_the_delay_wanders_smoothly_around_its_nominal_value():
    growth = DelayGrowth(after=0, step=0.2, max=0.2, variation=0.3)
    shaping, _ = shaper(ShapingLimits(delay=growth))
    shaping.inbound(syn(), 0.0)
    # Sample well apart for the spread, and close together for smoothness.
    apart = [shaping._delay(*shaping_state(shaping), t * 5.0) for t in range(1, 400)]
    close = [
        shaping._delay(*shaping_state(shaping), 3000 + t * 0.001) for t in range(50)
    ]

    assert statistics.mean(apart) == pytest.approx(0.2, rel=0.1)
    assert 0.03 < statistics.pstdev(apart) < 0.1
    assert min(apart) > 0
    steps = [abs(b - a) for a, b in zip(close, close[1:], strict=False)]
    assert max(steps) < 0.02


def shaping_state(shaping):
    level = shaping.levels[0]
    return level, level.accounts[ip("198.51.100.7")]


def test_packets_of_one_source_stay_in_order_while_the_delay_wanders():
    growth = DelayGrowth(after=0, step=0.5, max=0.5, variation=0.5)
    shaping, _ = shaper(ShapingLimits(delay=growth))
    shaping.inbound(syn(), 0.0)
    leaving = [
        t * 1e-4 + shaping.inbound(echo_from("198.51.100.7", t), t * 1e-4)
        for t in range(1, 3000)
    ]
    assert all(b >= a - 1e-12 for a, b in zip(leaving, leaving[1:], strict=False))
    assert max(leaving) - min(leaving) > 0.2


def test_bandwidth_per_source_queues_then_drops():
    limits = ShapingLimits(bandwidth=1.2e6, queue=2)  # 1,500 bytes in 10 ms
    shaping, events = shaper(limits)
    big = Ipv4Packet(ip("198.51.100.7"), ip("192.0.2.10"), ipv4.PROTO_UDP, bytes(1480))
    waits = [shaping.inbound(big, 0.0) for _ in range(5)]
    assert waits == [0.0, 0.0, pytest.approx(0.01), pytest.approx(0.02), None]
    actions = {event["action"] for event in events.named("net.shaped")}
    assert actions == {"queued", "packet dropped"}
    other = big._replace(src=ip("198.51.100.8"))
    assert shaping.inbound(other, 0.0) == 0.0


def test_state_stays_bounded_however_many_sources_come():
    limits = ShapingLimits(connections_per_minute=5, concurrent=2)
    shaping = Shaper(Shaping(limits, limits, max_sources=50), NullSink())
    shaping.events.limit = 64  # the event throttle's table is bounded too
    first = syn(port=1)

    def flood(start, count):
        for number in range(start, start + count):
            source = (198 << 24) + (18 << 16) + number
            shaping.inbound(first._replace(src=source), number * 1e-6)

    # Every table fills and turns over (a /24 per 256 sources) before the
    # first measurement; after that, more sources cost no more memory.
    tracemalloc.start()
    flood(0, 30_000)
    before = tracemalloc.get_traced_memory()[0]
    flood(30_000, 30_000)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    assert len(shaping.levels[0].accounts) == 50
    assert len(shaping.levels[1].accounts) == 50
    assert after - before < 20_000


def test_idle_sources_are_forgotten():
    limits = ShapingLimits(connections_per_minute=1)
    shaping, _ = shaper(limits, forget_after=60.0)
    assert shaping.inbound(syn(port=1), 0.0) == 0.0
    assert shaping.inbound(syn(port=2), 1.0) is None
    shaping.inbound(syn("198.51.100.8"), 62.0)
    assert ip("198.51.100.7") not in shaping.levels[0].accounts
    assert shaping.inbound(syn(port=3), 62.5) == 0.0


def test_summary_counts_what_was_shaped():
    shaping, _ = shaper(ShapingLimits(connections_per_minute=1))
    shaping.inbound(syn(port=1), 0.0)
    shaping.inbound(syn(port=2), 0.0)
    assert shaping.summary() == {
        "sources_tracked": 1,
        "shaped": {"source connections_per_minute: SYN dropped": 1},
    }


# --- through the network -----------------------------------------------------------

SHAPED = HEADER + textwrap.dedent("""\
    templates:
      web: {tcp: closed, ports: {tcp/80: open}}
    routers:
      - {name: edge, address: 192.0.2.1}
    entry: {router: edge, latency: 5ms}
    networks:
      - {cidr: 203.0.113.0/24, router: edge}
    shaping:
      per_source:
        connections_per_minute: 4
        delay: {after: 1, step: 100ms, variation: 0%}
    hosts:
      - {address: 203.0.113.10, template: web}
      - {address: 192.0.2.10, template: web}
    """)


def test_a_source_over_its_limits_is_slowed_and_recorded():
    bench = Bench(SHAPED)
    rtts = []
    for visit in range(4):
        bench.send(tcp_syn("192.0.2.10", 81, src_port=50000 + visit))
        bench.run_for(1)
        bench.take()
        start = bench.loop.now
        bench.send(echo_request("203.0.113.10", sequence=visit))
        bench.run_for(1)
        [(when, reply)] = bench.take()
        assert icmp_of(reply).type == icmp.ECHO_REPLY
        rtts.append(round((when - start) * 1e3, 6))

    # One free visit, then 100 ms more per visit, each way.
    assert rtts == pytest.approx([10, 210, 410, 610])
    bench.send(tcp_syn("192.0.2.10", 81, src_port=50009))
    bench.run_for(1)
    assert bench.take() == []
    assert bench.fabric.dropped["shaped"] == 1
    limits = {event["limit"] for event in bench.events.named("net.shaped")}
    assert limits == {"delay", "connections_per_minute"}
    assert all(e["peer"] == "192.0.2.254" for e in bench.events.named("net.shaped"))


def test_shaping_without_routers_delays_hosts_on_the_link():
    text = textwrap.dedent("""\
        version: 1
        attach: {host_address: 192.0.2.254/24}
        templates: {web: {tcp: closed}}
        shaping:
          per_source: {delay: {after: 0, step: 50ms, variation: 0}}
        hosts:
          - {address: 192.0.2.10, template: web}
        """)
    bench = Bench(text)
    assert not bench.fabric.routed
    bench.send(tcp_syn("192.0.2.10", 23))
    bench.run_for(1)
    [(when, reset)] = bench.take()
    assert reset.protocol == ipv4.PROTO_TCP
    assert when == pytest.approx(0.1)
    assert reset.dst == PEER
