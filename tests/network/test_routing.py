"""Forwarding through routers: TTLs, ICMP errors, delays, loss and bandwidth."""

from __future__ import annotations

import functools
import ipaddress
import textwrap

import pytest

import vnet.config
from tests.config.helpers import HEADER
from tests.network.harness import (
    PEER,
    PEER_MAC,
    Bench,
    echo_request,
    icmp_of,
    ip,
    tcp_syn,
    udp_probe,
)
from vnet.host import PlainPersonality
from vnet.network import routing
from vnet.network.routes import ON_LINK
from vnet.network.routing import build_fabric, tap_routes
from vnet.network.virtual import VirtualNetwork
from vnet.wire import arp, ethernet, icmp, ipv4, tcp
from vnet.wire.arp import ArpPacket
from vnet.wire.ethernet import BROADCAST, EthernetFrame
from vnet.wire.ipv4 import Ipv4Packet
from vnet.wire.tcp import TcpSegment

CHAIN = HEADER + textwrap.dedent("""\
    templates:
      web: {tcp: closed, udp: closed, ports: {tcp/80: open}}
    routers:
      - {name: edge, address: 192.0.2.1}
      - {name: core, address: [198.51.100.1, 198.51.100.101]}
      - {name: dist, address: 198.51.100.2}
      - {name: branch, address: 198.51.100.3}
    entry: {router: edge, latency: 1ms}
    links:
      - {from: edge, to: core, latency: 4ms}
      - {from: core, to: dist, latency: 8ms}
      - {from: core, to: branch, latency: 2ms}
    networks:
      - {cidr: 203.0.113.0/26, router: dist, latency: 2ms}
      - {cidr: 203.0.113.64/26, router: branch}
      - {cidr: 203.0.113.192/27, router: dist, unreachable: host}
      - {cidr: 203.0.113.224/27, router: branch, unreachable: admin}
    hosts:
      - {address: 192.0.2.10, template: web}
      - {address: 203.0.113.10, template: web}
      - {address: 203.0.113.70, template: web}
    """)

# Round trips from the TAP, in milliseconds, as configured above.
RTT = {"edge": 2, "core": 10, "dist": 26, "203.0.113.10": 30, "203.0.113.70": 14}
ROUTER_ADDRESSES = ["192.0.2.1", "198.51.100.1", "198.51.100.2"]


@pytest.fixture
def bench():
    return Bench(CHAIN)


def replies(bench, until=1.0):
    bench.run_for(until)
    return [(round(when * 1e3, 6), packet) for when, packet in bench.take()]


def source(packet) -> str:
    return ipv4.addr_to_str(packet.src)


def test_traceroute_sees_every_router_in_order_then_the_host(bench):
    for ttl in range(1, 6):
        bench.send(udp_probe("203.0.113.10", ttl, port=33434 + ttl))
    answers = replies(bench)

    kinds = [(source(p), icmp_of(p).type, icmp_of(p).code) for _, p in answers]
    assert kinds == [
        ("192.0.2.1", icmp.TIME_EXCEEDED, icmp.TTL_EXCEEDED),
        ("198.51.100.1", icmp.TIME_EXCEEDED, icmp.TTL_EXCEEDED),
        ("198.51.100.2", icmp.TIME_EXCEEDED, icmp.TTL_EXCEEDED),
        ("203.0.113.10", icmp.DEST_UNREACHABLE, icmp.PORT_UNREACHABLE),
        ("203.0.113.10", icmp.DEST_UNREACHABLE, icmp.PORT_UNREACHABLE),
    ]
    times = [when for when, _ in answers]
    assert times == pytest.approx([2, 10, 26, 30, 30])


def test_ttl_goes_down_by_one_per_router_both_ways(bench):
    bench.send(echo_request("203.0.113.10", ttl=64))
    bench.send(echo_request("198.51.100.2", ttl=64))
    bench.send(echo_request("192.0.2.10", ttl=64))
    answers = {source(p): p.ttl for _, p in replies(bench)}

    # The hosts and routers stamp 64; each router on the way back takes one.
    assert answers == {"203.0.113.10": 61, "198.51.100.2": 62, "192.0.2.10": 64}


def test_the_host_receives_the_packet_with_its_ttl_lowered(bench):
    received = []
    host = bench.network.host(ip("203.0.113.10"), 0.0)
    real_receive = host.receive
    host.receive = lambda packet, now: (
        received.append(packet),
        real_receive(packet, now),
    )
    bench.send(echo_request("203.0.113.10", ttl=10))
    bench.run_for(1)

    assert [packet.ttl for packet in received] == [7]


def test_a_packet_that_reaches_its_last_router_with_ttl_1_expires_there(bench):
    bench.send(echo_request("203.0.113.10", ttl=3))
    [(when, answer)] = replies(bench)
    assert (source(answer), icmp_of(answer).type) == ("198.51.100.2", 11)
    assert when == pytest.approx(RTT["dist"])


def test_time_exceeded_quotes_the_packet_as_it_arrived(bench):
    probe = udp_probe("203.0.113.10", ttl=2)
    bench.send(probe)
    [(_, answer)] = replies(bench)

    quoted = ipv4.parse(icmp_of(answer).payload)
    assert quoted == probe._replace(ttl=1)
    assert answer.dst == PEER


def test_an_error_quotes_no_more_than_fits_in_576_bytes(bench):
    bench.send(echo_request("203.0.113.10", ttl=1, size=1400))
    [(_, answer)] = replies(bench)
    assert len(answer.payload) == 8 + 548
    assert 20 + len(answer.payload) == 576


def test_no_icmp_error_answers_an_icmp_error(bench):
    error = icmp.emit(icmp.IcmpMessage(icmp.DEST_UNREACHABLE, 3, 0, bytes(28)))
    bench.send(Ipv4Packet(PEER, ip("203.0.113.10"), ipv4.PROTO_ICMP, error, 1))
    assert replies(bench) == []
    assert bench.fabric.dropped["ttl-exceeded"] == 1


def test_no_icmp_error_answers_a_later_fragment(bench):
    fragment = Ipv4Packet(
        PEER, ip("203.0.113.10"), ipv4.PROTO_UDP, bytes(16), 1, 9, 0, 185
    )
    bench.send(fragment)
    assert replies(bench) == []


def test_unreachable_networks_answer_from_their_last_router(bench):
    bench.send(echo_request("203.0.113.200"))
    bench.send(echo_request("203.0.113.230"))
    answers = replies(bench)

    found = [(when, source(p), icmp_of(p).type, icmp_of(p).code) for when, p in answers]
    assert found == [
        (
            pytest.approx(RTT["core"] + 4),
            "198.51.100.3",
            3,
            icmp.COMMUNICATION_PROHIBITED,
        ),
        (pytest.approx(RTT["dist"]), "198.51.100.2", 3, icmp.HOST_UNREACHABLE),
    ]
    quoted = ipv4.parse(icmp_of(answers[1][1]).payload)
    assert ipv4.addr_to_str(quoted.dst) == "203.0.113.200"


def test_ttl_runs_out_before_an_unreachable_network(bench):
    bench.send(echo_request("203.0.113.200", ttl=2))
    [(_, answer)] = replies(bench)
    assert (source(answer), icmp_of(answer).type) == ("198.51.100.1", 11)


def test_routers_answer_ping_on_every_address(bench):
    for address in ("192.0.2.1", "198.51.100.1", "198.51.100.101", "198.51.100.3"):
        bench.send(echo_request(address))
    answers = replies(bench)

    assert [(when, source(p)) for when, p in answers] == [
        (pytest.approx(2), "192.0.2.1"),
        (pytest.approx(10), "198.51.100.1"),
        (pytest.approx(10), "198.51.100.101"),
        (pytest.approx(14), "198.51.100.3"),
    ]
    assert all(icmp_of(p).type == icmp.ECHO_REPLY for _, p in answers)


def test_routers_refuse_tcp_and_udp_to_themselves(bench):
    bench.send(tcp_syn("198.51.100.1", 22))
    bench.send(udp_probe("198.51.100.1", 64))
    answers = [packet for _, packet in replies(bench)]
    assert [packet.protocol for packet in answers] == [ipv4.PROTO_TCP, ipv4.PROTO_ICMP]
    assert icmp_of(answers[1]).code == icmp.PORT_UNREACHABLE


def test_tcp_syn_to_an_open_port_behind_routers_gets_syn_ack(bench):
    bench.network.host(ip("203.0.113.10"), 0.0).tcp_handler = None
    bench.send(tcp_syn("203.0.113.10", 23, ttl=4))
    [(when, answer)] = replies(bench)
    assert answer.protocol == ipv4.PROTO_TCP
    assert when == pytest.approx(RTT["203.0.113.10"])


def test_frames_from_behind_routers_come_from_the_entry_router(bench):
    bench.send(echo_request("203.0.113.70"))
    bench.send(echo_request("192.0.2.10"))
    bench.run_for(1)
    sources = [ethernet.parse(frame).src for _, frame in bench.out]

    entry_mac = bench.fabric.routers["edge"].mac
    on_link_mac = bench.network.host(ip("192.0.2.10"), 0.0).mac
    assert sources == [on_link_mac, entry_mac]
    assert all(ethernet.parse(frame).dst == PEER_MAC for _, frame in bench.out)


def arp_request(target: str) -> bytes:
    request = ArpPacket(arp.REQUEST, PEER_MAC, PEER, bytes(6), ip(target))
    frame = EthernetFrame(
        BROADCAST, PEER_MAC, ethernet.ETHERTYPE_ARP, arp.emit(request)
    )
    return ethernet.emit(frame)


def test_arp_answers_only_for_the_entry_router_and_hosts_on_the_link(bench):
    for target in ("192.0.2.1", "192.0.2.10", "203.0.113.10", "198.51.100.1"):
        bench.send_frame(arp_request(target))
    answered = [
        ipv4.addr_to_str(arp.parse(ethernet.parse(frame).payload).sender_ip)
        for _, frame in bench.out
    ]
    assert answered == ["192.0.2.1", "192.0.2.10"]
    entry_reply = arp.parse(ethernet.parse(bench.out[0][1]).payload)
    assert entry_reply.sender_mac == bench.fabric.routers["edge"].mac


def test_addresses_no_route_leads_to_are_not_ours(bench):
    bench.send(echo_request("198.51.100.77"))
    assert replies(bench) == []
    assert bench.network.counters["not ours"] == 1


def test_an_empty_address_in_a_network_is_silent(bench):
    bench.send(echo_request("203.0.113.20"))
    assert replies(bench) == []
    assert bench.fabric.dropped["no host"] == 1


def test_a_host_ttl_running_out_on_the_way_out_is_dropped(bench):
    host = bench.network.host(ip("203.0.113.10"), 0.0)
    host.personality = ShortLived()
    bench.send(echo_request("203.0.113.10"))
    assert replies(bench) == []
    assert bench.fabric.dropped["ttl-exceeded"] == 1


class ShortLived(PlainPersonality):
    def header(self, kind, now, peer=0):
        return 2, 1, 0


def test_drops_are_recorded_as_throttled_events(bench):
    for _ in range(5):
        bench.send(echo_request("203.0.113.10", ttl=1))
    bench.run_for(1)
    dropped = bench.events.named("net.dropped")
    assert dropped == [
        {
            "count": 1,
            "peer": "192.0.2.254",
            "host": "203.0.113.10",
            "reason": "ttl-exceeded",
            "at": "edge",
        }
    ]
    bench.run_for(11)
    bench.send(echo_request("203.0.113.10", ttl=1))
    assert bench.events.named("net.dropped")[-1]["count"] == 5


def test_the_summary_counts_each_direction_of_each_link(bench):
    bench.send(echo_request("203.0.113.10"))
    bench.run_for(1)
    summary = bench.fabric.summary()

    links = summary["links"]
    for name in ("tap->edge", "edge->core", "core->dist", "dist->203.0.113.0/26"):
        assert links[name]["packets"] == 1
        assert links[name]["bytes"] == 84
    assert links["203.0.113.0/26->dist"]["packets"] == 1
    assert links["core->branch"]["packets"] == 0
    # The host is folded: the echo waits once, on its way back (see Place).
    assert summary["delay_error_us"]["count"] == 1
    assert summary["waiting"] == 0


def test_locate(bench):
    fabric = bench.fabric
    assert fabric.locate(ip("192.0.2.77")) is ON_LINK
    assert fabric.locate(ip("198.51.100.101")).router is fabric.routers["core"]
    assert fabric.locate(ip("203.0.113.63")).inbound is not None
    assert fabric.locate(ip("203.0.113.64")).outbound is not None
    assert fabric.locate(ip("203.0.113.200")).code == icmp.HOST_UNREACHABLE
    assert fabric.locate(ip("198.51.100.9")) is None


def test_the_places_remembered_stay_bounded(bench, monkeypatch):
    monkeypatch.setattr(routing, "MAX_REMEMBERED", 8)
    fabric = bench.fabric
    on_link = [ip(f"192.0.2.{n}") for n in range(20, 40)]
    behind = [ip(f"203.0.113.{n}") for n in range(1, 21)]
    for address in on_link + behind:
        fabric.locate(address)
        assert len(fabric._addresses) <= 8

    assert fabric.locate(on_link[0]) is ON_LINK
    assert fabric.locate(behind[0]).inbound is not None
    assert fabric.locate(ip("198.51.100.2")).router is fabric.routers["dist"]


# --- folded places -----------------------------------------------------------------

# CHAIN, with shaping that limits nothing: no place is folded then.
UNFOLDED = CHAIN + "shaping: {per_source: {concurrent: 1000}}\n"


def test_places_behind_plain_routes_fold_their_inbound_latency(bench):
    fabric = bench.fabric
    assert fabric.locate(ip("203.0.113.10")).fold == pytest.approx(0.015)
    assert fabric.locate(ip("198.51.100.2")).fold == pytest.approx(0.013)
    assert fabric.locate(ip("192.0.2.1")).fold == pytest.approx(0.001)
    assert fabric.locate(ip("203.0.113.200")).fold == 0.0
    assert fabric.locate(ip("192.0.2.10")).fold == 0.0

    assert Bench(JITTERY).fabric.locate(ip("203.0.113.10")).fold == 0.0
    assert Bench(JITTERY_BACK).fabric.locate(ip("203.0.113.10")).fold == 0.010

    shaped = Bench(UNFOLDED).fabric
    assert shaped.locate(ip("203.0.113.10")).fold == 0.0
    assert shaped.locate(ip("192.0.2.1")).fold == 0.0


def test_a_folded_host_gets_packets_at_once_and_sends_the_round_trip_later(bench):
    arrivals = []
    host = bench.network.host(ip("203.0.113.10"), 0.0)
    host.tcp_handler = lambda packet, segment, now: arrivals.append(now)
    bench.send(tcp_syn("203.0.113.10", 80))
    bench.run_for(1)
    assert arrivals == [0.0]

    bench.send(echo_request("203.0.113.10"))
    [(when, _)] = replies(bench)
    assert when == pytest.approx(1000 + RTT["203.0.113.10"])


@pytest.mark.parametrize("text", [CHAIN, UNFOLDED], ids=["folded", "unfolded"])
def test_what_a_host_sends_later_leaves_as_if_it_had_waited(text):
    """A reply from a timer, set when a SYN came, leaves at the same moment
    whether the host was handed the SYN at once or after the latency."""
    bench = Bench(text)
    host = bench.network.host(ip("203.0.113.10"), 0.0)

    def answer_later(packet, segment, now):
        reply = TcpSegment(80, segment.src_port, 5000, segment.seq + 1, tcp.RST, 0)
        send = functools.partial(host.send_segment, packet.src, reply)
        bench.loop.call_at(now + 0.5, lambda: send(bench.loop.now))

    host.tcp_handler = answer_later
    bench.send(tcp_syn("203.0.113.10", 80))
    [(when, answer)] = replies(bench)
    assert when == pytest.approx(500 + RTT["203.0.113.10"])
    assert answer.ttl == 64 - 3


# --- link behaviour along a path ---------------------------------------------------

LOSSY = HEADER + textwrap.dedent("""\
    templates: {web: {}}
    routers:
      - {name: edge, address: 192.0.2.1}
      - {name: far, address: 198.51.100.1}
    entry: {router: edge, loss: 50%, reverse: {loss: 0}}
    links:
      - {from: edge, to: far, loss: 50%, reverse: {loss: 0}}
    networks:
      - {cidr: 203.0.113.0/24, router: far, loss: 20%}
    hosts:
      - {address: 203.0.113.10, template: web}
    """)


def test_losses_compound_along_the_path():
    bench = Bench(LOSSY, seed=3)
    for sequence in range(4000):
        bench.send(echo_request("203.0.113.10", sequence=sequence))
    answered = len(replies(bench))

    # 0.5 * 0.5 * 0.8 of requests arrive, then 0.8 of replies come back.
    assert answered / 4000 == pytest.approx(0.5 * 0.5 * 0.8 * 0.8, abs=0.02)
    links = bench.fabric.summary()["links"]
    assert links["tap->edge"]["lost"] == pytest.approx(2000, abs=150)
    assert links["edge->tap"]["lost"] == 0


JITTERY = HEADER + textwrap.dedent("""\
    templates: {web: {}}
    routers:
      - {name: edge, address: 192.0.2.1}
    entry: {router: edge, latency: 10ms, jitter: 8ms, reverse: {jitter: 0ms}}
    networks:
      - {cidr: 203.0.113.0/24, router: edge}
    hosts:
      - {address: 203.0.113.10, template: web}
    """)
# The jitter on the way back only: the host is folded, its replies walked.
JITTERY_BACK = JITTERY.replace(
    "jitter: 8ms, reverse: {jitter: 0ms}", "reverse: {jitter: 8ms}"
)


@pytest.mark.parametrize("text", [JITTERY, JITTERY_BACK], ids=["in", "back"])
def test_jitter_varies_the_delay_but_keeps_packets_in_order(text):
    bench = Bench(text, seed=5)
    sent = []
    for sequence in range(200):
        sent.append(bench.loop.now)
        bench.send(echo_request("203.0.113.10", sequence=sequence))
        bench.run_for(0.001)
    answers = replies(bench)

    sequences = [icmp_of(packet).sequence for _, packet in answers]
    assert sequences == list(range(200))
    rtts = [when - start * 1e3 for (when, _), start in zip(answers, sent, strict=True)]
    assert min(rtts) >= 12 - 1e-6
    assert max(rtts) <= 28 + 1e-6
    assert max(rtts) - min(rtts) > 8


NARROW = HEADER + textwrap.dedent("""\
    templates: {web: {}}
    routers:
      - {name: edge, address: 192.0.2.1}
      - {name: near, address: 198.51.100.1}
      - {name: far, address: 198.51.100.2}
    entry: {router: edge, bandwidth: 1Mbit, queue: 4}
    links:
      - {from: edge, to: near, latency: 1ms}
      - {from: edge, to: far, latency: 20ms}
    networks:
      - {cidr: 203.0.113.0/25, router: near}
      - {cidr: 203.0.113.128/25, router: far}
    hosts:
      - {address: 203.0.113.10, template: web}
      - {address: 203.0.113.200, template: web}
    """)


def test_bandwidth_spaces_packets_after_a_burst_and_drops_past_the_queue():
    bench = Bench(NARROW)
    for sequence in range(10):
        bench.send(echo_request("203.0.113.10", sequence=sequence, size=1472))
    answers = replies(bench)

    # 1500-byte packets: the 3,000-byte burst lets two through at once, four
    # wait 12 ms apart on a 1 Mbit line, and the other four are dropped.
    times = [when for when, _ in answers]
    assert times == pytest.approx([2, 2, 14, 26, 38, 50])
    link = bench.fabric.summary()["links"]["tap->edge"]
    assert (link["packets"], link["queue_full"]) == (6, 4)
    assert link["longest_wait_ms"] == pytest.approx(48)
    assert bench.fabric.dropped["queue-full"] == 4


def test_a_bandwidth_link_serves_packets_in_the_order_they_reach_it():
    # The far host's replies are made first but reach the narrow TAP link
    # 40 ms after their requests; the near host's reply gets there before
    # them and must not wait behind them.
    bench = Bench(NARROW)
    for sequence in range(3):
        bench.send(echo_request("203.0.113.200", sequence=sequence, size=1400))
    bench.run_for(0.001)
    bench.send(echo_request("203.0.113.10", sequence=9, size=1400))
    answers = [(when, source(packet)) for when, packet in replies(bench)]

    # 1,428-byte packets take 11.424 ms of a 1 Mbit line; the burst is 24 ms.
    # Requests leave the TAP link at 0, 0, 10.272 and 21.696 ms.
    assert answers == [
        (pytest.approx(23.696), "203.0.113.10"),
        (pytest.approx(40), "203.0.113.200"),
        (pytest.approx(40), "203.0.113.200"),
        (pytest.approx(50.272), "203.0.113.200"),
    ]


def test_a_full_delay_line_drops_instead_of_growing(bench):
    bench.fabric.line.limit = 3
    for sequence in range(5):
        bench.send(echo_request("203.0.113.10", sequence=sequence))
    assert len(replies(bench)) == 3
    assert bench.fabric.dropped["delay-line-full"] == 2


@pytest.mark.parametrize("address", ["203.0.113.10", "192.0.2.10"])
def test_malformed_packets_handed_to_hosts_are_counted_not_raised(bench, address):
    payload = bytearray(ipv4.emit(udp_probe(address, 64)))
    payload[-1] ^= 0xFF  # the UDP checksum no longer matches
    bench.send(ipv4.parse(bytes(payload)))
    bench.run_for(1)
    assert bench.fabric.summary()["malformed"] == 1
    assert bench.fabric.malformed == {"udp: bad checksum": 1}


def test_a_bad_router_reference_is_caught_at_load_time():
    with pytest.raises(vnet.config.TopologyError):
        Bench(CHAIN.replace("router: branch}", "router: brnch}"))


def test_the_kernel_routes_networks_and_router_addresses_via_the_entry():
    topology = vnet.config.loads(CHAIN)
    routes, gateway = tap_routes(topology)
    assert gateway == "192.0.2.1"
    assert [str(route) for route in routes] == [
        "198.51.100.1/32",
        "198.51.100.2/31",
        "198.51.100.101/32",
        "203.0.113.0/25",
        "203.0.113.192/26",
    ]


def test_without_routers_the_kernel_routes_host_blocks_onto_the_link():
    routes, gateway = tap_routes(vnet.config.load("topologies/examples/class-b.yaml"))
    assert gateway is None
    for address in ("198.51.100.10", "203.0.113.7"):
        assert any(ipaddress.IPv4Address(address) in route for route in routes)


def test_router_macs_are_ours_for_address_claims(bench):
    assert bench.network.knows_mac(bench.fabric.routers["core"].mac)
    assert not bench.network.knows_mac(bytes.fromhex("0a0000000009"))


class CiscoLike(PlainPersonality):
    """TTL 255 on everything, and a quote of the header and 8 bytes."""

    def header(self, kind, now, peer=0):
        return 255, 7, 0

    def quote(self, packet: bytes) -> bytes:
        return packet[:28]


def test_routers_take_ttl_and_quoting_from_their_personality():
    topology = vnet.config.loads(CHAIN)
    named = []

    def make_personality(spec):
        named.append(spec.name)
        return CiscoLike() if spec.name == "core" else PlainPersonality()

    bench = Bench(CHAIN)
    fabric = build_fabric(topology, bench.events, 0, make_personality)
    bench.network = VirtualNetwork(bench._make_host, bench._transmit, fabric=fabric)
    bench.network.bind_timers(bench.timers, lambda: bench.loop.now)
    bench.send(udp_probe("203.0.113.10", ttl=2))
    bench.send(echo_request("198.51.100.1"))
    answers = [packet for _, packet in replies(bench)]

    assert named == ["edge", "core", "dist", "branch"]
    expired, echo = answers
    # 255 from core, less one for edge on the way back.
    assert (expired.ttl, expired.ident) == (254, 7)
    assert len(icmp_of(expired).payload) == 28
    assert echo.ttl == 254
