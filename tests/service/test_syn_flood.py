"""A SYN flood against a virtual host: memory stays bounded, clients get in."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.service.test_virtual_tcp import TOPOLOGY

pytestmark = pytest.mark.netns


@pytest.fixture
def served(vnet):
    return vnet(TOPOLOGY)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))


@pytest.mark.slow
def test_a_syn_flood_leaves_memory_bounded_and_clients_served(served, netns):
    netns.run("curl", "-s", "http://192.0.2.10/")
    before = rss_kib(served.process.pid)
    flood = netns.popen(
        "timeout", "-s", "INT", "20", "hping3", "-S", "--flood", "--rand-source",
        "-p", "80", "192.0.2.10",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    attempts = served_during = 0
    peak = before
    try:
        deadline = time.monotonic() + 16
        while time.monotonic() < deadline:
            # A client that waits as long as the kernel's SYN retries allow.
            result = netns.run(
                "curl", "-s", "-m", "8", "http://192.0.2.10/", check=False
            )
            attempts += 1
            served_during += result.stdout == "hello\n"
            peak = max(peak, rss_kib(served.process.pid))
    finally:
        flood.wait(30)

    print(f"served {served_during} of {attempts} during the flood")
    assert served_during >= attempts / 2
    assert peak - before < 64 * 1024, f"RSS grew from {before} to {peak} KiB"
    assert netns.run("curl", "-s", "http://192.0.2.10/").stdout == "hello\n"
