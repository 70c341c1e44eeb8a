"""The resolv.conf text that `vnet run --resolver` writes for a namespace."""

from __future__ import annotations

import os

import pytest

import vnet.config
from services.dns import nameserver_addresses, resolv_conf
from services.dns.resolver import (
    NoNameServer,
    install_resolv_conf,
    remove_resolv_conf,
)
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


def test_install_writes_the_file_and_remove_takes_it_and_its_directory(tmp_path):
    topology = vnet.config.loads(TOPOLOGY)

    path = install_resolv_conf(topology, "vnet-demo", root=tmp_path)

    assert path == tmp_path / "vnet-demo" / "resolv.conf"
    assert path.read_text() == resolv_conf(topology)
    remove_resolv_conf(path)
    assert not (tmp_path / "vnet-demo").exists()
    remove_resolv_conf(path)  # twice is harmless


def test_a_resolv_conf_already_there_is_left_alone(tmp_path):
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "resolv.conf").write_text("nameserver 192.0.2.1\n")

    with pytest.raises(FileExistsError):
        install_resolv_conf(vnet.config.loads(TOPOLOGY), "ns", root=tmp_path)

    assert (tmp_path / "ns" / "resolv.conf").read_text() == "nameserver 192.0.2.1\n"


@pytest.mark.parametrize("name", ["", "..", "a/b"])
def test_names_that_would_leave_the_directory_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="not a namespace name"):
        install_resolv_conf(vnet.config.loads(TOPOLOGY), name, root=tmp_path)


def test_the_unprivileged_owner_can_remove_the_file_after_the_drop(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("changing owners needs root")
    nobody = (65534, 65534)

    path = install_resolv_conf(
        vnet.config.loads(TOPOLOGY), "ns", owner=nobody, root=tmp_path
    )

    for item in (path, path.parent):
        assert (item.stat().st_uid, item.stat().st_gid) == nobody
