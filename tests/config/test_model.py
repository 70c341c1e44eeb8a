"""What a valid topology loads into: resolved templates, hosts, positions."""

from __future__ import annotations

import ipaddress

import pytest

import vnet.config
from tests.config.helpers import HEADER, VALID, topology
from vnet.config import FrozenMap, PortSpec, TopologyError, freeze, thaw


def ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


INHERITING = topology("""\
    defaults: {template: desktop}
    templates:
      base:
        personality: "Linux 2.6.32 - 3.10"
        mac_vendor: Dell
        uptime: 1d12h
        ports:
          tcp/22: open
          tcp/80: {service: web-maze, options: {links: {min: 2, max: 20}}}
      web:
        inherits: base
        tcp: filtered
        ports:
          tcp/22: closed
          udp/53: {service: {command: [/usr/bin/cat, "-u"]}}
      desktop: {personality: "Microsoft Windows XP SP3", udp: filtered}
    hosts:
      - address: 192.0.2.10
        name: www.example.test
        template: web
        mac: "02:00:5E:10:00:01"
      - {address: 198.51.100.0/24}
      - address: 203.0.113.10-203.0.113.40
        template: web
        uptime: 90m
        personality: "FreeBSD 6.2-RELEASE"
        ports: {tcp/81: {policy: filtered}, tcp/80: open}
      - {address: 203.0.113.100/31, template: base}
      - {address: 203.0.113.200/32, template: base}
    """)


@pytest.fixture(scope="module")
def loaded():
    return vnet.config.loads(INHERITING, "inherit.yaml")


def test_attach(loaded):
    attach = loaded.attach
    assert (attach.tap, attach.host_address, attach.prefix_length) == (
        "vnet0",
        ip("192.0.2.254"),
        24,
    )
    assert attach.network == ip("192.0.2.0")
    assert attach.broadcast == ip("192.0.2.255")
    assert str(attach) == "192.0.2.254/24"


def test_tap_defaults_to_vnet0():
    text = (
        "version: 1\nattach: {host_address: 192.0.2.254/24}\n" + VALID.split("\n", 2)[2]
    )
    assert vnet.config.loads(text).attach.tap == "vnet0"


def test_a_template_takes_what_it_does_not_set_from_its_parent(loaded):
    web = loaded.templates["web"]
    assert web.name == "web"
    assert web.personality == "Linux 2.6.32 - 3.10"
    assert web.mac_vendor == "Dell"
    assert web.uptime == 36 * 3600.0
    assert (web.tcp_policy, web.udp_policy) == ("filtered", "closed")


def test_ports_merge_port_by_port(loaded):
    web = loaded.templates["web"]
    assert list(web.ports) == [("tcp", 22), ("tcp", 80), ("udp", 53)]
    assert web.ports[("tcp", 22)].policy == "closed"
    maze = web.ports[("tcp", 80)]
    assert (maze.service, maze.policy) == ("web-maze", None)
    assert thaw(maze.options) == {"links": {"min": 2, "max": 20}}
    program = web.ports[("udp", 53)]
    assert program.service == {"command": ("/usr/bin/cat", "-u")}
    assert program.service_name == "command"


def test_an_unlisted_port_takes_the_protocol_policy(loaded):
    web = loaded.templates["web"]
    assert web.port("tcp", 8080) == PortSpec("tcp", 8080, "filtered", None)
    assert web.port("udp", 9) == PortSpec("udp", 9, "closed", None)
    assert web.port("tcp", 80) is web.ports[("tcp", 80)]


def test_builtin_defaults_fill_what_no_template_sets(loaded):
    desktop = loaded.templates["desktop"]
    assert desktop.mac_vendor is None
    assert desktop.tcp_policy == "closed"
    assert desktop.uptime == 0.0
    assert desktop.ports == {}
    assert "mac_vendor" not in desktop.origins


def test_origins_name_the_field_that_set_each_setting(loaded):
    web = loaded.templates["web"]
    assert web.origins["personality"] == ("templates", "base", "personality")
    assert web.origins["tcp_policy"] == ("templates", "web", "tcp")
    assert web.ports[("tcp", 22)].origin == ("templates", "web", "ports", "tcp/22")
    assert web.ports[("tcp", 80)].origin == ("templates", "base", "ports", "tcp/80")


def test_hosts_in_file_order_with_inclusive_spans(loaded):
    spans = [(host.first, host.last) for host in loaded.hosts]
    assert spans == [
        (ip("192.0.2.10"), ip("192.0.2.10")),
        # A CIDR block up to /30 leaves out network and broadcast.
        (ip("198.51.100.1"), ip("198.51.100.254")),
        # A range is taken as written.
        (ip("203.0.113.10"), ip("203.0.113.40")),
        # /31 and /32 cover every address.
        (ip("203.0.113.100"), ip("203.0.113.101")),
        (ip("203.0.113.200"), ip("203.0.113.200")),
    ]
    assert [host.index for host in loaded.hosts] == [0, 1, 2, 3, 4]
    assert loaded.host_count == 5
    assert loaded.address_count == 1 + 254 + 31 + 2 + 1


def test_a_host_names_its_template_or_takes_the_default(loaded):
    www, desktops = loaded.hosts[0], loaded.hosts[1]
    assert (www.template_name, www.name) == ("web", "www.example.test")
    assert www.mac == bytes.fromhex("02005e100001")
    assert desktops.template_name == "desktop"
    assert desktops.template == loaded.templates["desktop"]
    assert (desktops.name, desktops.mac) == (None, None)
    assert loaded.default_template == "desktop"


def test_host_overrides_are_merged_into_its_template(loaded):
    host = loaded.hosts[2]
    template = host.template
    assert template.name == "web"
    assert template.personality == "FreeBSD 6.2-RELEASE"
    assert template.uptime == 5400.0
    assert template.mac_vendor == "Dell"
    assert template.ports[("tcp", 81)].policy == "filtered"
    assert template.ports[("tcp", 80)].policy == "open"
    assert template.ports[("udp", 53)].service_name == "command"
    assert template.origins["personality"] == ("hosts", 2, "personality")
    # The template itself is untouched.
    assert loaded.templates["web"].personality == "Linux 2.6.32 - 3.10"


def test_the_model_is_immutable(loaded):
    with pytest.raises(AttributeError):
        loaded.hosts[0].first = 0
    with pytest.raises(TypeError):
        loaded.templates["extra"] = loaded.templates["web"]
    with pytest.raises(TypeError):
        loaded.raw["hosts"][0]["address"] = "192.0.2.11"
    # Frozen values hash, so hosts and templates can be set members.
    assert len({*loaded.hosts, *loaded.hosts}) == 5


def test_raw_keeps_the_file_as_written(loaded):
    assert loaded.raw["hosts"][2]["uptime"] == "90m"
    assert thaw(loaded.raw)["templates"]["base"]["ports"]["tcp/22"] == "open"


def test_freeze_and_thaw_round_trip():
    data = {"a": [1, {"b": None}], "c": "d"}
    frozen = freeze(data)
    assert isinstance(frozen, FrozenMap)
    assert frozen["a"] == (1, FrozenMap({"b": None}))
    assert thaw(frozen) == data


def test_locate_gives_line_and_column_of_a_field(loaded):
    # INHERITING starts after the two header lines.
    assert loaded.locate(("attach", "host_address")) == (2, 36)
    assert loaded.locate(("hosts", 0, "mac")) == (23, 10)
    assert loaded.locate(("hosts", 2, "personality")) == (28, 18)
    assert loaded.locate(("templates", "web", "ports", "tcp/22")) == (16, 15)
    assert loaded.locate_key(("templates", "web", "ports", "tcp/22")) == (16, 7)


def test_locate_an_absent_field_at_the_mapping_that_would_hold_it(loaded):
    assert loaded.locate(("hosts", 1, "mac")) == loaded.locate(("hosts", 1))
    assert loaded.locate(("hosts", 1)) == (24, 5)


def test_later_layers_raise_errors_in_the_same_form(loaded):
    # As the engine would, for a personality nmap-os-db does not list.
    where = loaded.hosts[2].template.origins["personality"]
    error = TopologyError.at(
        loaded,
        where,
        "FreeBSD 6.2-RELEASE",
        "a fingerprint name from nmap-os-db",
        hint="did you mean 'FreeBSD 6.2-RELEASE (x86)'?",
    )
    assert str(error) == (
        "inherit.yaml:28:18: hosts[2].personality: found 'FreeBSD 6.2-RELEASE'; "
        "allowed: a fingerprint name from nmap-os-db; "
        "did you mean 'FreeBSD 6.2-RELEASE (x86)'?"
    )


def test_yaml_1_2_scalars():
    # YAML 1.1 would read these as false, base-60 numbers or dates.
    text = topology("""\
        templates:
          "no": {personality: 12:30:00, mac_vendor: 2024-01-01}
        hosts:
          - {address: 198.51.100.10, template: "no", mac: 10:20:30:40:50:59}
        """)
    loaded = vnet.config.loads(text)
    template = loaded.templates["no"]
    assert (template.personality, template.mac_vendor) == ("12:30:00", "2024-01-01")
    assert loaded.hosts[0].mac == bytes.fromhex("102030405059")


def test_anchors_and_aliases_work():
    text = HEADER + (
        "templates:\n"
        "  base: &common {tcp: filtered, uptime: 3600}\n"
        "  copy: *common\n"
        "hosts:\n"
        "  - {address: 198.51.100.10, template: copy}\n"
    )
    loaded = vnet.config.loads(text)
    assert loaded.templates["copy"].tcp_policy == "filtered"
    assert loaded.templates["copy"].uptime == 3600.0


def test_numbers_as_seconds_and_every_duration_unit():
    for uptime, seconds in [
        ("0", 0.0),
        ("1.5", 1.5),
        ("45s", 45.0),
        ("90m", 5400.0),
        ("12h", 43200.0),
        ("3d", 259200.0),
        ("1d2h3m4s", 93784.0),
        ("3650d", 315360000.0),
    ]:
        text = HEADER + "hosts:\n  - {address: 198.51.100.10, template: t}\n"
        text += f"templates: {{t: {{uptime: {uptime}}}}}\n"
        assert vnet.config.loads(text).templates["t"].uptime == seconds, uptime
