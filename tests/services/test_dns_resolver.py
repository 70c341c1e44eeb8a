"""The resolv.conf text that `vnet run --resolver` writes for a namespace."""

from __future__ import annotations

import pytest

import vnet.config
from services.dns import nameserver_addresses, resolv_conf
from services.dns.resolver import NoNameServer
from tests.services.test_dns_zone import TOPOLOGY


def test_the_name_server_and_the_zones_make_the_resolv_conf():
    text = resolv_conf(vnet.config.loads(TOPOLOGY))

    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "search example.test",
        "nameserver 198.51.100.53",
        "options timeout:1 attempts:2",
    ]
    assert text.endswith("\n")


def test_several_servers_are_listed_in_file_order_at_most_three():
    hosts = "".join(
        f"  - {{address: 198.51.100.{last}, template: dns}}\n" for last in (5, 6, 7, 8)
    )
    topology = vnet.config.loads(TOPOLOGY + hosts)

    text = resolv_conf(topology)

    assert nameserver_addresses(topology) == [
        "198.51.100.53",
        "198.51.100.5",
        "198.51.100.6",
        "198.51.100.7",
        "198.51.100.8",
    ]
    servers = [line for line in text.splitlines() if line.startswith("nameserver")]
    assert servers == [
        "nameserver 198.51.100.53",
        "nameserver 198.51.100.5",
        "nameserver 198.51.100.6",
    ]


def test_the_zones_option_of_the_udp_binding_joins_the_search_list():
    topology = vnet.config.loads(
        TOPOLOGY.replace(
            "udp/53: {service: dns}",
            "udp/53: {service: dns, options: {zones: [corp.example]}}",
        )
    )

    assert "search corp.example example.test\n" in resolv_conf(topology)


def test_a_topology_without_dns_on_udp_53_has_no_resolver():
    topology = vnet.config.loads(TOPOLOGY.replace("udp/53: {service: dns}", ""))

    assert nameserver_addresses(topology) == []
    with pytest.raises(NoNameServer, match="udp/53"):
        resolv_conf(topology)
