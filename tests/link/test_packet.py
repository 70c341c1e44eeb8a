"""The ARP-proxy mode: vnet shares a LAN with real hosts and claims only free
addresses. Three namespaces on one bridge: the client (the test's namespace,
which holds the bridge), a real host, and vnet on its own veth."""

from __future__ import annotations

import re
import time

import pytest

from vnet.netns import Namespace, VnetProcess

pytestmark = pytest.mark.netns

TOPOLOGY = """
version: 1
attach: {tap: unused0, host_address: 192.0.2.254/24}
templates:
  decoy: {tcp: closed, udp: closed}
hosts:
  - {address: 192.0.2.16-192.0.2.31, template: decoy}
"""


def plug(lan: Namespace, other: Namespace, name: str, address: str | None):
    """A veth from the LAN's bridge to `other`, up, with an optional address."""
    lan.run("ip", "link", "add", f"br-{name}", "type", "veth", "peer", "name", name)
    lan.run("ip", "link", "set", name, "netns", other.name)
    lan.run("ip", "link", "set", f"br-{name}", "master", "br0", "up")
    other.run("ip", "link", "set", name, "up")
    if address:
        other.run("ip", "addr", "add", address, "dev", name)


@pytest.fixture
def lan(netns, tmp_path):
    netns.run("ip", "link", "add", "br0", "type", "bridge")
    netns.run("ip", "addr", "add", "192.0.2.254/24", "dev", "br0")
    netns.run("ip", "link", "set", "br0", "up")
    real = Namespace.create("vnet-real")
    side = Namespace.create("vnet-side")
    process = None
    try:
        plug(netns, real, "real0", "192.0.2.20/24")
        plug(netns, side, "vnet0", None)
        path = tmp_path / "lan.yaml"
        path.write_text(TOPOLOGY)
        process = VnetProcess(side, path, tmp_path, arguments=("--interface", "vnet0"))
        process.wait_ready()
        yield netns, real, process
    finally:
        if process is not None:
            process.kill()
        real.delete()
        side.delete()


def arp_macs(client: Namespace, address: str) -> set[str]:
    result = client.run(
        "arping", "-c", "3", "-w", "4", "-i", "br0", address, check=False
    )
    return set(re.findall(r"from ([0-9a-f:]{17}) \(", result.stdout))


def test_a_free_address_is_claimed_and_answers(lan):
    client, _, _ = lan

    result = client.run(
        "ping", "-c", "4", "-i", "0.5", "-W", "2", "192.0.2.21", check=False
    )

    replies = int(re.search(r"(\d+) received", result.stdout).group(1))
    assert replies >= 2, result.stdout


def test_a_real_hosts_address_is_never_claimed(lan):
    client, real, _ = lan
    real_mac = real.run("cat", "/sys/class/net/real0/address").stdout.strip()

    assert arp_macs(client, "192.0.2.20") == {real_mac}
    time.sleep(1)
    assert arp_macs(client, "192.0.2.20") == {real_mac}


def test_a_claimed_address_is_given_up_when_a_real_host_appears(lan):
    client, real, process = lan
    claimed = arp_macs(client, "192.0.2.22")
    assert len(claimed) == 1

    real.run("ip", "addr", "add", "192.0.2.22/24", "dev", "real0")
    real.run(
        "arping",
        "-U",
        "-c",
        "2",
        "-i",
        "real0",
        "-S",
        "192.0.2.22",
        "192.0.2.22",
        check=False,
    )
    real_mac = real.run("cat", "/sys/class/net/real0/address").stdout.strip()
    client.run("ip", "neigh", "flush", "dev", "br0")

    assert arp_macs(client, "192.0.2.22") == {real_mac}
    assert process.stop() == 0


def test_kernel_tcp_with_offloaded_checksums_gets_its_rst(lan):
    # The client's kernel hands veth frames with partial TCP checksums; vnet
    # must still answer them, so its SYN to a closed port is refused at once.
    client, _, process = lan
    client.run("ping", "-c", "2", "-i", "0.5", "192.0.2.23", check=False)

    started = time.monotonic()
    result = client.run("nc", "-z", "-w", "3", "192.0.2.23", "23", check=False)

    assert result.returncode != 0 and time.monotonic() - started < 2
    hping = client.run("hping3", "-S", "-p", "23", "-c", "2", "192.0.2.23", check=False)
    assert "flags=RA" in hping.stdout
    assert process.stop() == 0
    [stopped] = process.events("vnet.stopped")
    assert stopped["malformed"] == 0
