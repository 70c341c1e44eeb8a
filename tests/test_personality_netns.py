"""Personalities on the wire, as hping3 and nmap see them in a namespace."""

from __future__ import annotations

import re

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.netns

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  windows: {personality: "Microsoft Windows XP SP2#1", ports: {tcp/80: open}}
  linux: {personality: "Linux 3.2 - 4.9", uptime: 12d, ports: {tcp/80: open}}
  openbsd: {personality: "OpenBSD 4.3#1", ports: {tcp/80: open}}
hosts:
  - {address: 192.0.2.10, template: windows}
  - {address: 192.0.2.11, template: linux}
  - {address: 192.0.2.12, template: openbsd}
"""


@pytest.fixture
def served(vnet):
    return vnet(TOPOLOGY)


def ip_ids(netns, address: str) -> list[int]:
    require_tool("hping3")
    result = netns.run(
        "hping3", "-S", "-p", "80", "-c", "6", "-i", "u200000", address, check=False
    )
    return [int(value) for value in re.findall(r"\bid=(\d+)", result.stdout)]


def test_hping_sees_each_personalitys_ip_id_sequence(served, netns):
    windows = ip_ids(netns, "192.0.2.10")  # TI=I: small steps up
    linux = ip_ids(netns, "192.0.2.11")  # TI=Z: always zero
    openbsd = ip_ids(netns, "192.0.2.12")  # TI=RD: random

    assert len(windows) >= 5 and len(linux) >= 5 and len(openbsd) >= 5
    steps = [(b - a) % 65536 for a, b in zip(windows, windows[1:], strict=False)]
    assert all(0 < step <= 10 for step in steps), windows
    assert set(linux) == {0}
    jumps = [(b - a) % 65536 for a, b in zip(openbsd, openbsd[1:], strict=False)]
    assert sum(jump > 20000 for jump in jumps) >= 2, openbsd


def test_nmap_reports_the_configured_uptime(served, netns):
    result = netns.run(
        "nmap", "-O", "-v", "-n", "-Pn", "-p", "80,81", "192.0.2.11", timeout=300
    )

    match = re.search(r"Uptime guess: ([0-9.]+) days", result.stdout)
    assert match, result.stdout
    assert abs(float(match.group(1)) - 12) <= 1.2
    assert "OS details: Linux 3.2 - 4.9" in result.stdout
