"""`vnet run` on a TAP device, probed by real tools inside a namespace."""

from __future__ import annotations

import random
import re
import subprocess

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.netns

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  server:
    mac_vendor: Dell
    tcp: closed
    udp: closed
    ports:
      tcp/81: filtered
      udp/162: filtered
  dark: {tcp: filtered, udp: filtered}
hosts:
  - {address: 192.0.2.10, template: server, name: www.example.test}
  - {address: 192.0.2.11, template: server, mac: "02:00:5e:00:02:0b"}
  - {address: 198.51.100.0/24, template: dark}
"""


@pytest.fixture
def served(vnet):
    return vnet(TOPOLOGY)


def arping_mac(netns, address: str) -> str:
    result = netns.run(
        "arping", "-c", "1", "-w", "3", "-i", "vnet0", address, check=False
    )
    match = re.search(r"from ([0-9a-f:]{17}) \(" + re.escape(address), result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def test_ping_reaches_hosts_on_the_tap_and_behind_it(served, netns):
    for address in ("192.0.2.10", "192.0.2.11", "198.51.100.77"):
        result = netns.run(
            "ping", "-c", "2", "-i", "0.2", "-W", "2", address, check=False
        )
        assert " 0% packet loss" in result.stdout, result.stdout


def test_each_host_answers_arp_with_its_own_mac(served, netns):
    require_tool("arping")
    dell = arping_mac(netns, "192.0.2.10")
    explicit = arping_mac(netns, "192.0.2.11")

    assert explicit == "02:00:5e:00:02:0b"
    assert dell != explicit
    assert not int(dell[:2], 16) & 0x02  # a vendor OUI, not locally administered


def test_hping_syn_to_a_closed_port_gets_rst(served, netns):
    require_tool("hping3")
    result = netns.run("hping3", "-S", "-p", "23", "-c", "2", "192.0.2.10", check=False)

    assert "flags=RA" in result.stdout, result.stdout + result.stderr


def test_a_filtered_port_gets_nothing(served, netns):
    result = netns.run("hping3", "-S", "-p", "81", "-c", "2", "192.0.2.10", check=False)

    assert "100% packet loss" in result.stdout + result.stderr
    assert "flags=" not in result.stdout


def test_nmap_sees_closed_udp_ports_by_port_unreachable(served, netns):
    require_tool("nmap")
    result = netns.run("nmap", "-n", "-Pn", "-sU", "-p", "53,162", "192.0.2.10")

    assert re.search(r"53/udp\s+closed", result.stdout), result.stdout
    assert re.search(r"162/udp\s+open\|filtered", result.stdout), result.stdout


def test_the_kernel_hands_complete_checksums_to_the_tap(served, netns):
    # A TAP device that negotiates no offloads gets finished checksums from
    # the kernel's own TCP; a dropped SYN would show up as a malformed frame.
    for _ in range(3):
        netns.run("nc", "-z", "-w", "1", "192.0.2.10", "23", check=False)

    assert served.stop() == 0
    [stopped] = served.events("vnet.stopped")
    assert stopped["malformed"] == 0
    assert stopped["frames_in"] > 0


def test_sigterm_exits_zero_with_a_summary_and_events(served, netns):
    netns.run("ping", "-c", "3", "-i", "0.2", "-W", "2", "192.0.2.10", check=False)

    assert served.stop() == 0
    [stopped] = served.events("vnet.stopped")
    # Three echo replies and an ARP reply, at least; the kernel may ARP again.
    assert 4 <= stopped["frames_out"] <= 6 and stopped["frames_dropped"] == 0
    contacted = served.events("net.host.contacted")
    assert any(event["host"] == "192.0.2.10" for event in contacted)
    assert "stopped:" in served.stderr()


def test_pcap_records_frames_that_tcpdump_reads(vnet, netns, tmp_path):
    pcap = tmp_path / "capture.pcap"
    served = vnet(TOPOLOGY, "--pcap", str(pcap))
    netns.run("ping", "-c", "3", "-i", "0.2", "192.0.2.10", check=False)
    assert served.stop() == 0

    result = subprocess.run(
        ["tcpdump", "-n", "-r", str(pcap)], capture_output=True, text=True
    )
    assert result.stdout.count("ICMP echo request") == 3, result.stdout
    assert result.stdout.count("ICMP echo reply") == 3
    [stopped] = served.events("vnet.stopped")
    assert 4 <= stopped["frames_out"] <= 6


LARGE = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  workstation: {tcp: closed}
hosts:
  - {address: 198.18.0.0/16, template: workstation}
"""


def test_a_slash_16_answers_ping_at_random_addresses(vnet, netns):
    vnet(LARGE)
    rng = random.Random(16)
    addresses = [
        f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(12)
    ]

    for address in addresses:
        result = netns.run("ping", "-c", "1", "-W", "2", address, check=False)
        assert " 0% packet loss" in result.stdout, address


def test_a_flood_of_malformed_frames_is_counted_and_survived(served, netns):
    import sys

    result = netns.run(
        sys.executable, "-m", "tests.flood", "vnet0", "100000", "7", timeout=120
    )
    assert int(result.stdout) >= 100_000

    ping = netns.run(
        "ping", "-c", "2", "-i", "0.2", "-W", "2", "192.0.2.10", check=False
    )
    assert " 0% packet loss" in ping.stdout
    assert served.stop() == 0
    [stopped] = served.events("vnet.stopped")
    assert stopped["malformed"] > 10_000
    assert stopped["malformed_reasons"]


def test_metrics_are_served_while_vnet_runs(vnet, netns):
    vnet(TOPOLOGY, "--metrics", "127.0.0.1:9108")
    netns.run("ping", "-c", "2", "-i", "0.2", "-W", "2", "192.0.2.10", check=False)

    page = netns.run("curl", "-s", "http://127.0.0.1:9108/metrics").stdout

    assert 'vnet_events_total{event="net.host.contacted"}' in page
    frames = re.search(r"^vnet_frames_received_total (\d+(\.\d+)?)", page, re.MULTILINE)
    assert frames and float(frames.group(1)) >= 2, page[:2000]


def test_a_bad_metrics_address_is_exit_2(tmp_path):
    import sys

    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY)
    result = subprocess.run(
        [sys.executable, "-m", "vnet", "run", str(path), "--metrics", "nowhere"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert "--metrics" in result.stderr and "Traceback" not in result.stderr
