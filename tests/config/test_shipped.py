"""The topologies that ship with vnet load, and say what they should."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

import vnet.config

ROOT = Path(__file__).parents[2]
TOPOLOGIES = ROOT / "topologies"
SHIPPED = sorted(TOPOLOGIES.glob("**/*.yaml"))
NMAP_OS_DB = Path("/usr/share/nmap/nmap-os-db")
NMAP_MAC_PREFIXES = Path("/usr/share/nmap/nmap-mac-prefixes")
DOCUMENTATION = [
    ipaddress.IPv4Network(block)
    for block in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]


def test_the_default_and_two_examples_ship():
    names = {path.relative_to(TOPOLOGIES).as_posix() for path in SHIPPED}
    assert {
        "honeyspam.yaml",
        "examples/single-host.yaml",
        "examples/class-b.yaml",
    } <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_topology_loads(path):
    topology = vnet.config.load(path)
    assert topology.host_count >= 1
    assert topology.path == str(path)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_topology_uses_documentation_addresses_only(path):
    topology = vnet.config.load(path)
    spans = [(host.first, host.last) for host in topology.hosts]
    spans.append((topology.attach.host_address,) * 2)
    for first, last in spans:
        assert any(
            int(block.network_address) <= first and last <= int(block.broadcast_address)
            for block in DOCUMENTATION
        ), (first, last)
    names = [host.name for host in topology.hosts if host.name]
    names += topology.trap_domains
    assert all(name.endswith((".test", ".example")) for name in names)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_personalities_select_exactly_one_fingerprint(path):
    from vnet.personalities import resolve

    if not NMAP_OS_DB.exists():
        pytest.skip("nmap-os-db is not installed")
    topology = vnet.config.load(path)
    routers = topology.routing.routers.values() if topology.routing else ()
    names = [template.personality for template in topology.templates.values()]
    names += [router.personality for router in routers]
    for name in filter(None, names):
        fingerprint, _ = resolve(name)
        assert fingerprint.name == name.partition("#")[0]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_mac_vendors_are_in_nmap_prefixes(path):
    if not NMAP_MAC_PREFIXES.exists():
        pytest.skip("nmap-mac-prefixes is not installed")
    vendors = set()
    for line in NMAP_MAC_PREFIXES.read_text(
        encoding="utf-8", errors="replace"
    ).splitlines():
        if line and not line.startswith("#"):
            vendors.add(line.partition(" ")[2].strip())
    topology = vnet.config.load(path)
    for template in topology.templates.values():
        assert template.mac_vendor is None or template.mac_vendor in vendors


def test_honeyspam_is_the_dmz_of_the_issue():
    topology = vnet.config.load(TOPOLOGIES / "honeyspam.yaml")
    attach = topology.attach
    assert (attach.tap, str(attach)) == ("vnet0", "192.0.2.254/24")
    assert "example.test" in topology.trap_domains

    by_name = {host.name: host for host in topology.hosts if host.name}
    assert by_name["www.example.test"].template.ports[("tcp", 80)].service == "web-maze"
    assert (
        by_name["shop.example.test"].template.ports[("tcp", 80)].service == "web-maze"
    )
    proxy_ports = {
        spec.port
        for host in topology.hosts
        for spec in host.template.services
        if spec.service == "open-proxy"
    }
    assert proxy_ports == {3128, 8080, 1080}
    services = {
        spec.service for host in topology.hosts for spec in host.template.services
    }
    assert services == {"web-maze", "open-proxy", "smtp-relay", "smtp-sink", "dns"}
    for host in topology.hosts:
        if host.first != host.last:
            continue
        assert int(ipaddress.IPv4Address("198.51.100.0")) < host.first
        assert host.first < int(ipaddress.IPv4Address("198.51.100.255"))


def test_honeyspam_has_a_slash_24_of_windows_workstations():
    topology = vnet.config.load(TOPOLOGIES / "honeyspam.yaml")
    (workstations,) = [
        host
        for host in topology.hosts
        if host.count > 1 and host.template_name == "workstation"
    ]
    assert workstations.address == "203.0.113.0/24"
    assert workstations.count == 254
    assert workstations.template.personality.startswith("Microsoft Windows 7")


def test_the_readme_example_loads():
    text = (TOPOLOGIES / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert example is not None
    topology = vnet.config.loads(example.group(1), "README.md")
    assert topology.host_count == 3


def test_summary_of_honeyspam():
    summary = vnet.config.summarize(vnet.config.load(TOPOLOGIES / "honeyspam.yaml"))
    lines = summary.splitlines()
    assert lines[0].endswith("honeyspam.yaml: 280 addresses in 12 host entries")
    assert "attach: tap vnet0, host address 192.0.2.254/24" in lines
    assert "trap domains: example.test, mail.example.test" in lines
    assert "  open-proxy on tcp/1080, tcp/3128, tcp/8080: 3 addresses" in lines
    assert "  web-maze on tcp/80: 2 addresses" in lines
    assert "  FreeBSD 6.2-RELEASE#1: 3 addresses" in lines
    assert any("www.example.test" in line for line in lines)


def test_summary_shortens_a_long_host_list():
    hosts = "".join(
        f"  - {{address: 198.51.100.{number}, template: t}}\n"
        for number in range(1, 31)
    )
    text = (
        "version: 1\nattach: {host_address: 192.0.2.254/24}\n"
        "templates: {t: {}}\nhosts:\n" + hosts
    )
    summary = vnet.config.summarize(vnet.config.loads(text, "many.yaml"))
    assert summary.splitlines()[0] == "many.yaml: 30 addresses in 30 host entries"
    assert summary.splitlines()[-1] == "  ... and 10 more entries"
    assert "services: none" in summary
    assert "  (vnet's default): 30 addresses" in summary
