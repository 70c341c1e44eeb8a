"""Routers, links and shaping under `vnet run`, seen by real tools in a namespace.

The topology is a chain of three routers with a branch off the middle one:

    TAP -1ms- edge -4ms- core -8ms- dist -2ms- 203.0.113.0/26    (web host)
                          |            \\----- 203.0.113.192/27 (unreachable: net)
                          +-2ms- branch ----- 203.0.113.64/26   (10% loss inwards)
                                        \\---- 203.0.113.128/26  (2 Mbit/s)
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.netns

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  web:
    tcp: closed
    udp: closed
    ports:
      tcp/80: {service: hello-http, options: {size: 1000000}}
routers:
  - {name: edge, address: 192.0.2.1}
  - {name: core, address: 198.51.100.1}
  - {name: dist, address: 198.51.100.2}
  - {name: branch, address: 198.51.100.3}
entry: {router: edge, latency: 1ms}
links:
  - {from: edge, to: core, latency: 4ms}
  - {from: core, to: dist, latency: 8ms}
  - {from: core, to: branch, latency: 2ms}
networks:
  - {cidr: 203.0.113.0/26, router: dist, latency: 2ms}
  - {cidr: 203.0.113.64/26, router: branch, loss: 10%, reverse: {loss: 0%}}
  - {cidr: 203.0.113.128/26, router: branch, bandwidth: 2Mbit}
  - {cidr: 203.0.113.192/27, router: dist, unreachable: net}
hosts:
  - {address: 203.0.113.10, template: web}
  - {address: 203.0.113.70, template: web}
  - {address: 203.0.113.130, template: web}
"""

HOST = "203.0.113.10"
EXAMPLE = Path(__file__).parents[1] / "topologies" / "examples" / "routed.yaml"
# Each hop's address and its configured round trip from the TAP, in ms.
HOPS = [("192.0.2.1", 2.0), ("198.51.100.1", 10.0), ("198.51.100.2", 26.0)]
HOST_RTT = 30.0


@pytest.fixture
def served(vnet):
    return vnet(TOPOLOGY)


def traceroute_hops(output: str) -> list[tuple[str, list[float], str]]:
    """(address, RTTs in ms, the rest of the line) for each hop line."""
    hops = []
    for line in output.splitlines()[1:]:
        match = re.match(r"\s*\d+\s+(\S+)\s+(.*)$", line)
        assert match, line
        address, rest = match.groups()
        times = [float(value) for value in re.findall(r"([0-9.]+) ms", rest)]
        hops.append((address, times, rest))
    return hops


@pytest.mark.parametrize(
    "method",
    [["-n"], ["-n", "-I"], ["-n", "-T", "-p", "80"]],
    ids=["udp", "icmp", "tcp"],
)
def test_traceroute_lists_the_routers_in_order_then_the_host(served, netns, method):
    require_tool("traceroute")
    expected = [address for address, _ in HOPS] + [HOST]
    rtts = [rtt for _, rtt in HOPS] + [HOST_RTT]
    times: list[list[float]] = [[] for _ in expected]
    # Two runs of three probes per hop. On a shared machine one run can be
    # held up a few milliseconds as a whole; the median of six probes is the
    # hop's RTT as the network gives it.
    for _ in range(2):
        result = netns.run("traceroute", *method, "-q", "3", "-w", "2", HOST)
        hops = traceroute_hops(result.stdout)
        assert [address for address, _, _ in hops] == expected, result.stdout
        for index, (_, probes, rest) in enumerate(hops):
            assert "*" not in rest and len(probes) == 3, result.stdout
            times[index] += probes

    for address, probes, rtt in zip(expected, times, rtts, strict=True):
        assert abs(statistics.median(probes) - rtt) <= 0.2 * rtt + 2.0, (
            address,
            probes,
        )
        assert min(probes) >= rtt - 0.5, (address, probes)


def test_ping_through_a_lossy_link(served, netns):
    result = netns.run(
        "ping", "-q", "-c", "200", "-i", "0.01", "-W", "1", "203.0.113.70", timeout=60
    )
    lost = float(re.search(r"([0-9.]+)% packet loss", result.stdout).group(1))

    assert 4.0 <= lost <= 18.0, result.stdout


def test_a_download_through_a_2_mbit_link(served, netns):
    require_tool("curl")
    result = netns.run(
        "curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{speed_download}",
        "--max-time", "30", "http://203.0.113.130/",
        timeout=60,
    )  # fmt: skip
    size, speed = (float(value) for value in result.stdout.split())

    assert size == 1_000_000
    assert speed * 8 == pytest.approx(2_000_000, rel=0.15)


def test_a_download_from_a_host_behind_plain_routes(served, netns):
    """The host is folded (vnet.network.routing): handed packets at once, it
    sends the round trip later, so the kernel's TCP sees the configured one."""
    require_tool("curl")
    result = netns.run(
        "curl", "-s", "-o", "/dev/null", "--max-time", "30",
        "-w", "%{size_download} %{time_connect} %{time_starttransfer}",
        f"http://{HOST}/",
        timeout=60,
    )  # fmt: skip
    size, connect, first_byte = (float(value) for value in result.stdout.split())

    assert size == 1_000_000
    # The handshake takes one round trip; the request and its answer another.
    assert abs(connect * 1000 - HOST_RTT) <= 0.2 * HOST_RTT + 2.0, result.stdout
    assert first_byte * 1000 >= 2 * HOST_RTT - 0.5, result.stdout


def test_an_unreachable_network_answers_net_unreachable(served, netns):
    ping = netns.run(
        "ping", "-c", "2", "-i", "0.2", "-W", "1", "203.0.113.200", check=False
    )
    assert "From 198.51.100.2 icmp_seq=1 Destination Net Unreachable" in ping.stdout

    trace = netns.run("traceroute", "-n", "-q", "1", "-w", "2", "203.0.113.200")
    hops = traceroute_hops(trace.stdout)
    assert [address for address, _, _ in hops] == [address for address, _ in HOPS]
    assert hops[-1][2].endswith("!N"), trace.stdout


def test_the_kernel_reaches_the_routed_networks_through_the_entry_router(served, netns):
    routes = netns.run("ip", "route").stdout
    assert "203.0.113.0/25 via 192.0.2.1 dev vnet0" in routes
    assert "198.51.100.2/31 via 192.0.2.1 dev vnet0" in routes

    netns.run("ping", "-c", "1", "-W", "2", HOST)
    neighbours = netns.run("ip", "neigh", "show", "dev", "vnet0").stdout
    assert "192.0.2.1 " in neighbours
    assert HOST not in neighbours
    arping = netns.run("arping", "-c", "1", "-w", "2", "-i", "vnet0", HOST, check=False)
    assert "bytes from" not in arping.stdout


def test_the_run_summary_counts_each_link(served, netns):
    netns.run("ping", "-c", "3", "-i", "0.2", "-W", "2", HOST)
    netns.run("ping", "-c", "2", "-i", "0.2", "-W", "1", "203.0.113.200", check=False)
    assert served.stop() == 0

    [stopped] = served.events("vnet.stopped")
    network = stopped["network"]
    assert network["links"]["core->dist"]["packets"] >= 5
    assert network["links"]["dist->203.0.113.0/26"]["packets"] == 3
    assert network["links"]["core->branch"]["packets"] == 0
    assert network["dropped"]["unreachable"] == 2
    # Each reply and each error waited once: the host behind plain routes is
    # folded, its inbound latency added on the way back.
    assert network["delay_error_us"]["count"] >= 5
    [dropped] = served.events("net.dropped")
    assert dropped["reason"] == "unreachable"
    assert dropped["at"] == "dist"
    assert dropped["peer"] == "192.0.2.254"


def test_malformed_datagrams_behind_routers_count_in_the_summary(served, netns):
    require_tool("hping3")
    # -b: a wrong UDP checksum, which the host finds after the routers.
    command = ("hping3", "--udp", "-b", "-c", "3", "-i", "u20000", "-p", "53", HOST)
    # hping3 exits 1 when nothing answers, as nothing should.
    netns.run(*command, check=False)
    assert served.stop() == 0

    [stopped] = served.events("vnet.stopped")
    assert stopped["malformed"] == 3
    assert stopped["malformed_reasons"] == {"udp: bad checksum": 3}
    assert stopped["network"]["malformed"] == 3


SHAPED = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  web:
    tcp: closed
    ports:
      tcp/80: {service: hello-http}
routers:
  - {name: edge, address: 192.0.2.1}
entry: {router: edge, latency: 1ms}
networks:
  - {cidr: 203.0.113.0/24, router: edge}
shaping:
  per_source:
    connections_per_minute: 3
    delay: {after: 2, step: 200ms, variation: 0%}
hosts:
  - {address: 203.0.113.10, template: web}
"""


def test_a_source_over_its_shaping_limits_is_slowed_and_recorded(vnet, netns):
    require_tool("curl")
    served = vnet(SHAPED)
    times = []
    for _ in range(4):
        result = netns.run(
            "curl", "-s", "-o", "/dev/null", "-w", "%{time_total}",
            "--connect-timeout", "2.5", "http://203.0.113.10/",
            check=False, timeout=30,
        )  # fmt: skip
        times.append((result.returncode, float(result.stdout or 0)))

    # Two visits free; the third waits 200 ms each way on every packet (four
    # legs before the page arrives); the fourth is over 3 a minute, so its
    # SYNs are dropped and curl gives up.
    assert [code for code, _ in times] == [0, 0, 0, 28]
    assert times[0][1] < 0.3
    assert times[1][1] < 0.3
    assert times[2][1] > 0.75
    assert served.stop() == 0

    shaped = served.events("net.shaped")
    assert {event["limit"] for event in shaped} == {"delay", "connections_per_minute"}
    assert all(event["peer"] == "192.0.2.254" for event in shaped)
    [stopped] = served.events("vnet.stopped")
    counts = stopped["network"]["shaping"]["shaped"]
    assert counts["source connections_per_minute: SYN dropped"] >= 2


def test_the_routed_example_serves_its_paths(vnet, netns):
    served = vnet(EXAMPLE.read_text())
    result = netns.run("traceroute", "-n", "-I", "-q", "1", "-w", "2", "203.0.113.10")
    hops = [address for address, _, _ in traceroute_hops(result.stdout)]
    assert hops == ["192.0.2.1", "198.51.100.1", "198.51.100.2", "203.0.113.10"]

    ping = netns.run("ping", "-c", "1", "-W", "2", "203.0.113.200", check=False)
    assert "From 198.51.100.2 icmp_seq=1 Destination Net Unreachable" in ping.stdout
    # hq answers ping on its address inside the network it serves, too.
    netns.run("ping", "-c", "1", "-W", "2", "203.0.113.1")
    assert served.stop() == 0
