"""Routers, links, networks and shaping: what they load into, and bad files."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest

import vnet.config
from tests.config.helpers import HEADER
from vnet.config import TopologyError

ROUTED = HEADER + textwrap.dedent("""\
    templates:
      web: {tcp: closed}
    routers:
      - {name: edge, address: 192.0.2.1, personality: "Cisco 7200 router"}
      - {name: core, address: [198.51.100.1, 198.51.100.101]}
      - {name: dist, address: 198.51.100.2}
      - {name: branch, address: 198.51.100.3}
    entry: {router: edge, latency: 1ms}
    links:
      - {from: edge, to: core, latency: 4ms, jitter: 250us, bandwidth: 100Mbit}
      - {from: dist, to: core, latency: 8ms, loss: 0.5%}
      - {from: core, to: branch, latency: 2ms, loss: 10, reverse: {loss: 0%}}
    networks:
      - {cidr: 203.0.113.0/26, router: dist, latency: 2ms, queue: 16}
      - {cidr: 203.0.113.64/26, router: branch, bandwidth: 2Mbit}
      - {cidr: 203.0.113.192/27, router: dist, unreachable: net}
    shaping:
      per_source:
        connections_per_minute: 20
        concurrent: 4
        bandwidth: 512kbit
        delay: {after: 3, step: 50ms, max: 1.5s, variation: 20%}
      per_subnet: {connections_per_minute: 100}
      forget_after: 30m
      max_sources: 1000
    hosts:
      - {address: 192.0.2.10, template: web}
      - {address: 203.0.113.10, template: web}
      - {address: 203.0.113.64/27, template: web}
    """)


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


@pytest.fixture(scope="module")
def routed():
    return vnet.config.loads(ROUTED, "routed.yaml")


def test_paths_run_from_the_entry_by_the_fewest_hops(routed):
    routing = routed.routing
    assert routing.entry == "edge"
    assert routing.paths == {
        "edge": ("edge",),
        "core": ("edge", "core"),
        "dist": ("edge", "core", "dist"),
        "branch": ("edge", "core", "branch"),
    }
    ends = [end for _, end in routing.hops("dist")]
    assert ends == ["edge", "core", "dist"]


def test_routers_keep_their_addresses_in_order_and_personality_as_a_name(routed):
    core = routed.routing.routers["core"]
    assert core.addresses == (ip("198.51.100.1"), ip("198.51.100.101"))
    assert core.address == ip("198.51.100.1")
    assert routed.routing.routers["edge"].personality == "Cisco 7200 router"
    assert core.personality is None


def test_link_properties_are_converted_to_seconds_fractions_and_bits(routed):
    links = routed.routing.links
    edge_core = links[("edge", "core")]
    assert edge_core is links[("core", "edge")]
    assert edge_core.forward.latency == pytest.approx(0.004)
    assert edge_core.forward.jitter == pytest.approx(250e-6)
    assert edge_core.forward.bandwidth == 100e6
    assert edge_core.reverse == edge_core.forward
    assert links[("dist", "core")].forward.loss == pytest.approx(0.005)
    assert routed.routing.entry_link.forward.latency == pytest.approx(0.001)


def test_reverse_overrides_only_what_it_names(routed):
    link = routed.routing.links[("core", "branch")]
    assert link.forward.loss == pytest.approx(0.10)
    assert link.reverse.loss == 0.0
    assert link.reverse.latency == link.forward.latency == pytest.approx(0.002)
    assert link.towards("branch") is link.forward
    assert link.away_from("branch") is link.reverse


def test_a_link_written_towards_the_entry_is_used_in_the_right_direction(routed):
    # `from: dist, to: core`: the way to dist is the link's reverse.
    link, end = routed.routing.hops("dist")[-1]
    assert end == "dist"
    assert link.towards(end) is link.reverse


def test_networks_span_their_whole_block_and_keep_their_fate(routed):
    first, second, dark = routed.routing.networks
    assert (first.first, first.last) == (ip("203.0.113.0"), ip("203.0.113.63"))
    assert first.link.forward.queue == 16
    assert second.link.forward.bandwidth == 2e6
    assert dark.unreachable == "net"
    assert routed.routing.network_of(ip("203.0.113.70")) is second
    assert routed.routing.network_of(ip("198.51.100.9")) is None


def test_shaping_limits(routed):
    shaping = routed.shaping
    assert shaping.forget_after == 1800.0
    assert shaping.max_sources == 1000
    source = shaping.per_source
    assert (source.connections_per_minute, source.concurrent) == (20, 4)
    assert source.bandwidth == 512e3
    assert source.delay.after == 3
    assert source.delay.step == pytest.approx(0.05)
    assert source.delay.max == 1.5
    assert source.delay.variation == pytest.approx(0.2)
    assert shaping.per_subnet.connections_per_minute == 100
    assert shaping.per_subnet.delay is None


def test_a_file_without_routers_has_no_routing():
    plain = vnet.config.load("topologies/examples/class-b.yaml")
    assert plain.routing is None
    assert plain.shaping is None


def test_summary_and_routes(routed):
    summary = vnet.config.summarize(routed).splitlines()
    assert "routers: 4 routers, entry edge (192.0.2.1)" in summary
    assert "networks: 2 behind the routers, 1 unreachable" in summary
    assert "shaping: per source, per /24" in summary

    routes = vnet.config.show_routes(routed).splitlines()
    assert routes[0] == "routed.yaml: from vnet0 (192.0.2.254/24)"
    assert routes[1].split() == [
        "192.0.2.0/24",
        "on",
        "the",
        "TAP",
        "link,",
        "no",
        "routers",
    ]
    assert routes[2] == (
        "  203.0.113.0/26     edge 192.0.2.1 > core 198.51.100.1 > "
        "dist 198.51.100.2; RTT 30ms, bandwidth 100Mbit, loss 0.5% in, 0.5% out"
    )
    assert routes[3].endswith("bandwidth 2Mbit, loss 10% in, 0% out")
    assert routes[4].endswith("dist 198.51.100.2; net unreachable from dist")
    assert routes[5] == "routers:"
    assert routes[6] == "  192.0.2.1          edge; RTT 2ms"


def test_routes_of_a_file_without_routers():
    text = vnet.config.show_routes(vnet.config.load("topologies/examples/class-b.yaml"))
    assert text.splitlines()[2].split()[:2] == ["other", "hosts"]


# --- broken files ---------------------------------------------------------------

ROUTERS = """\
templates: {web: {}}
routers:
  - {name: edge, address: 192.0.2.1}
  - {name: core, address: 198.51.100.1}
"""
HOSTS = """\
hosts:
  - {address: 203.0.113.10, template: web}
"""
LINKED = "links:\n  - {from: edge, to: core}\n"
NETWORK = "networks:\n  - {cidr: 203.0.113.0/24, router: core}\n"


def broken(body, where, field, found, hint=None, *, id):
    return pytest.param(HEADER + body, where, field, found, hint, id=id)


CASES = [
    broken(
        ROUTERS + LINKED + NETWORK + HOSTS,
        "1:1",
        "entry",
        "nothing",
        "a file with routers needs entry",
        id="no-entry",
    ),
    broken(
        ROUTERS + "entry: egde\n" + LINKED + NETWORK + HOSTS,
        "7:8",
        "entry",
        "'egde'",
        "did you mean 'edge'?",
        id="entry-unknown",
    ),
    broken(
        ROUTERS
        + "entry: edge\nlinks:\n  - {from: edge, to: core2}\n"
        + NETWORK
        + HOSTS,
        "9:22",
        "links[0].to",
        "'core2'",
        "did you mean 'core'?",
        id="link-to-unknown-router",
    ),
    broken(
        ROUTERS + "entry: edge\nlinks:\n  - {from: core, to: core}\n" + NETWORK + HOSTS,
        "9:22",
        "links[0].to",
        "'core', the router at the other end too",
        id="link-to-itself",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + "  - {from: core, to: edge, latency: 1ms}\n"
        + NETWORK
        + HOSTS,
        "10:5",
        "links[1]",
        "a second link between 'core' and 'edge'",
        "links[0] is at line 9",
        id="link-twice",
    ),
    broken(
        ROUTERS + "  - {name: edge, address: 198.51.100.9}\nentry: edge\n" + HOSTS,
        "7:12",
        "routers[2].name",
        "'edge'",
        "routers[0].name is at line 5",
        id="router-name-twice",
    ),
    broken(
        ROUTERS + "  - {name: core2, address: [198.51.100.9, 198.51.100.1]}\n" + HOSTS,
        "7:43",
        "routers[2].address[1]",
        "'198.51.100.1'",
        "routers[1].address is at line 6",
        id="router-address-twice",
    ),
    broken(
        "templates: {web: {}}\nrouters:\n  - {name: edge, address: 192.0.2.254}\n"
        + HOSTS,
        "5:27",
        "routers[0].address",
        "'192.0.2.254', the attach host address",
        "attach.host_address is at line 2",
        id="router-on-attach-host-address",
    ),
    broken(
        ROUTERS.replace("198.51.100.1", "203.0.113.10") + HOSTS,
        "6:27",
        "routers[1].address",
        "'203.0.113.10', which hosts[0] covers ('203.0.113.10')",
        "hosts[0].address is at line 8",
        id="router-address-of-a-host",
    ),
    broken(
        ROUTERS.replace("192.0.2.1", "198.51.100.7")
        + "entry: edge\n"
        + LINKED
        + NETWORK
        + HOSTS,
        "5:27",
        "routers[0].address",
        "no address on the attach network 192.0.2.0/24",
        "the kernel reaches the routers through it: add '192.0.2.1'",
        id="entry-off-the-attach-network",
    ),
    broken(
        ROUTERS.replace("198.51.100.1", "192.0.2.2") + "entry: edge\n" + HOSTS,
        "6:27",
        "routers[1].address",
        "an address on the attach network 192.0.2.0/24",
        id="second-router-on-the-attach-network",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + NETWORK.replace("203.0.113.0/24", "192.0.2.128/25")
        + HOSTS,
        "11:12",
        "networks[0].cidr",
        "'192.0.2.128/25', which overlaps the attach network 192.0.2.0/24",
        "hosts on the attach network are reached without routers",
        id="network-on-the-attach-network",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + NETWORK
        + "  - {cidr: 203.0.113.128/25, router: edge}\n"
        + HOSTS,
        "12:12",
        "networks[1].cidr",
        "'203.0.113.128/25', which overlaps networks[0] ('203.0.113.0/24')",
        "an address in two networks would have two routes",
        id="networks-overlap",
    ),
    broken(
        ROUTERS + "entry: edge\n" + LINKED + NETWORK.replace(".0/24", ".1/24") + HOSTS,
        "11:12",
        "networks[0].cidr",
        "'203.0.113.1/24', which has host bits set",
        "did you mean '203.0.113.0/24'?",
        id="network-host-bits",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + NETWORK
        + "  - {address: 198.51.100.50, template: web}\n".replace("  -", "hosts:\n  -"),
        "13:15",
        "hosts[0].address",
        "'198.51.100.50', which no network covers",
        "add a network for it behind a router",
        id="host-outside-every-network",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + "networks:\n  - {cidr: 203.0.113.0/25, router: core}\n"
        + "hosts:\n  - {address: 203.0.113.0/24, template: web}\n",
        "13:15",
        "hosts[0].address",
        "'203.0.113.0/24', which runs past the network 203.0.113.0/25",
        "split the entry at the network's edge",
        id="host-past-its-network",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + NETWORK.replace("core}", "core, unreachable: host}")
        + HOSTS,
        "13:15",
        "hosts[0].address",
        "'203.0.113.10', in networks[0] (203.0.113.0/24), which is unreachable",
        "networks[0].unreachable is at line 11",
        id="host-in-unreachable-network",
    ),
    broken(
        ROUTERS
        + "  - {name: lost, address: 198.51.100.9}\nentry: edge\n"
        + LINKED
        + NETWORK
        + HOSTS,
        "7:12",
        "routers[2].name",
        "'lost', which no chain of links joins to the entry router 'edge'",
        "add a link to it, or remove it",
        id="router-not-joined",
    ),
    broken(
        ROUTERS
        + "  - {name: left, address: 198.51.100.8}\n"
        + "  - {name: right, address: 198.51.100.9}\n"
        + "entry: edge\nlinks:\n"
        + "  - {from: edge, to: left}\n  - {from: edge, to: right}\n"
        + "  - {from: left, to: core}\n  - {from: right, to: core}\n"
        + NETWORK
        + HOSTS,
        "6:12",
        "routers[1].name",
        "'core', which two paths of 2 hops reach: edge -> left -> core and "
        "edge -> right -> core",
        "remove one of the links, or lengthen one path",
        id="two-equal-paths",
    ),
    broken(
        "templates: {web: {}}\nentry: edge\n"
        + HOSTS.replace("203.0.113.10", "192.0.2.10"),
        "4:1",
        "entry",
        "entry without routers",
        "add a routers list, or remove this key",
        id="entry-without-routers",
    ),
    broken(
        ROUTERS
        + "entry: edge\nlinks:\n  - {from: edge, to: core, bandwidth: 10Mbps}\n"
        + NETWORK
        + HOSTS,
        "9:39",
        "links[0].bandwidth",
        "'10Mbps'",
        "rates are in bits: did you mean '10Mbit'? (tc's mbps is bytes)",
        id="bandwidth-in-bytes",
    ),
    broken(
        ROUTERS
        + "entry: edge\nlinks:\n  - {from: edge, to: core, latency: 10}\n"
        + NETWORK
        + HOSTS,
        "9:37",
        "links[0].latency",
        "10",
        id="latency-without-unit",
    ),
    broken(
        ROUTERS
        + "entry: edge\nlinks:\n  - {from: edge, to: core, latency: 11s}\n"
        + NETWORK
        + HOSTS,
        "9:37",
        "links[0].latency",
        "'11s'",
        id="latency-too-long",
    ),
    broken(
        ROUTERS
        + "entry: edge\nlinks:\n  - {from: edge, to: core, loss: 120%}\n"
        + NETWORK
        + HOSTS,
        "9:34",
        "links[0].loss",
        "'120%'",
        id="loss-over-100",
    ),
    broken(
        ROUTERS + "entry: {router: edge, latncy: 1ms}\n" + LINKED + NETWORK + HOSTS,
        "7:23",
        "entry.latncy",
        "the unknown key 'latncy'",
        "did you mean 'latency'?",
        id="entry-unknown-key",
    ),
    broken(
        ROUTERS
        + "entry: edge\n"
        + LINKED
        + NETWORK.replace("core}", "core, unreachable: nett}")
        + HOSTS,
        "11:55",
        "networks[0].unreachable",
        "'nett'",
        "did you mean 'net'?",
        id="unreachable-kind",
    ),
    broken(
        "templates: {web: {}}\nshaping:\n  forget_after: 500ms\n"
        + HOSTS.replace("203.0.113.10", "192.0.2.10"),
        "5:17",
        "shaping.forget_after",
        "'500ms'",
        id="shaping-forget-too-soon",
    ),
    broken(
        "templates: {web: {}}\nshaping:\n  per_source: {delay: {after: 2}}\n"
        + HOSTS.replace("203.0.113.10", "192.0.2.10"),
        "5:23",
        "shaping.per_source.delay.step",
        "nothing",
        id="shaping-delay-without-step",
    ),
    broken(
        "templates: {web: {}}\nshaping:\n  per_source: {bandwidth: 100bit}\n"
        + HOSTS.replace("203.0.113.10", "192.0.2.10"),
        "5:27",
        "shaping.per_source.bandwidth",
        "'100bit'",
        id="shaping-bandwidth-too-low",
    ),
]


@pytest.mark.parametrize("text, where, field, found, hint", CASES)
def test_broken_routed_file(text, where, field, found, hint):
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "broken.yaml")
    error = caught.value

    assert (f"{error.line}:{error.column}", error.field) == (where, field), str(error)
    assert error.found == found, str(error)
    assert error.hint == hint, str(error)


def test_a_minimal_routed_file_loads():
    text = HEADER + ROUTERS + "entry: edge\n" + LINKED + NETWORK + HOSTS
    topology = vnet.config.loads(text)
    assert topology.routing.paths["core"] == ("edge", "core")
    assert topology.routing.entry_link.forward.latency == 0.0
    assert topology.routing.entry_link.forward.queue == 64
