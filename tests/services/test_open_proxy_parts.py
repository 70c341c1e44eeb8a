"""The open proxy's pure parts: targets, chains, Squid's look, the blacklist."""

from __future__ import annotations

import json
import re

import pytest

from services.open_proxy import OpenProxy
from services.open_proxy.blacklist import Blacklist
from services.open_proxy.chain import read_chain
from services.open_proxy.errors import ProxyProtocolError
from services.open_proxy.maze import (
    GeneratedPages,
    WebMazePages,
    maze_options,
    maze_source,
)
from services.open_proxy.relay import TopologyRelay, greeting_name
from services.open_proxy.squid import ERRORS, Squid
from services.open_proxy.targets import (
    NextHop,
    parse_absolute_url,
    parse_authority,
)
from vnet.config import loads
from vnet.service.api import Environment, ServiceError
from vnet.service.options import OptionsError, check_options

# --- targets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hop"),
    [
        ("mx.example.test:25", NextHop("mx.example.test", 25)),
        ("MX.Example.TEST.:587", NextHop("mx.example.test", 587)),
        ("198.51.100.30:25", NextHop("198.51.100.30", 25, "ipv4")),
        ("[2001:db8::1]:443", NextHop("2001:db8::1", 443, "ipv6")),
        ("smtp_in.example.test:25", NextHop("smtp_in.example.test", 25)),
    ],
)
def test_authorities_that_a_proxy_accepts(text, hop):
    assert parse_authority(text) == hop


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("mx.example.test", "bad-port"),
        ("mx.example.test:0", "bad-port"),
        ("mx.example.test:65536", "bad-port"),
        ("mx.example.test:99999999", "bad-port"),
        ("mx.example.test:+25", "bad-port"),
        ("mx.example.test:2_5", "bad-port"),
        (":25", "bad-host"),
        ("999.1.1.1:25", "bad-host"),
        ("12345:25", "bad-host"),
        ("-bad.example.test:25", "bad-host"),
        ("a..b:25", "bad-host"),
        ("exa mple.test:25", "bad-host"),
        ("x" * 64 + ".test:25", "bad-host"),
        (".".join(["abcdefgh"] * 40) + ":25", "bad-host"),
        ("[2001:db8::zz]:25", "bad-host"),
        ("[2001:db8::1:25", "bad-host"),
        ("host.test.1:25", "bad-host"),
    ],
)
def test_absurd_authorities_are_refused(text, reason):
    with pytest.raises(ProxyProtocolError) as caught:
        parse_authority(text)

    assert caught.value.reason == reason


def test_absolute_urls_keep_path_and_query_and_drop_userinfo():
    url = parse_absolute_url("http://user:pw@WWW.Example.Test:8080/a/b?c=d#frag")

    assert url.scheme == "http"
    assert url.hop == NextHop("www.example.test", 8080)
    assert url.path == "/a/b?c=d"
    assert str(url) == "http://www.example.test:8080/a/b?c=d"


def test_default_ports_come_from_the_scheme():
    assert parse_absolute_url("http://www.example.test").hop.port == 80
    assert parse_absolute_url("https://www.example.test/").hop.port == 443
    assert str(parse_absolute_url("http://www.example.test")) == (
        "http://www.example.test/"
    )


@pytest.mark.parametrize("target", ["/", "*", "www.example.test/", "http:///x"])
def test_targets_that_are_not_absolute_urls(target):
    with pytest.raises(ProxyProtocolError):
        parse_absolute_url(target)


# --- chains ------------------------------------------------------------------


def test_no_chain_headers_is_no_chain():
    assert not read_chain([("Host", "www.example.test"), ("Accept", "*/*")])


def test_via_x_forwarded_for_and_forwarded_name_every_hop_once():
    chain = read_chain(
        [
            ("Via", "1.1 cache.example (squid/2.7, (nested)), 1.0 gw.example"),
            ("X-Forwarded-For", "203.0.113.5, 198.51.100.9"),
            ("Forwarded", 'for="[2001:db8::7]:4711";by=203.0.113.1, for=203.0.113.5'),
        ]
    )

    assert chain.via[0] == {
        "protocol": "1.1",
        "by": "cache.example",
        "comment": "squid/2.7, (nested)",
    }
    assert chain.via[1] == {"protocol": "1.0", "by": "gw.example"}
    assert chain.hops == [
        "[2001:db8::7]:4711",
        "203.0.113.1",
        "203.0.113.5",
        "198.51.100.9",
        "cache.example",
        "gw.example",
    ]
    assert set(chain.raw) == {"via", "x-forwarded-for", "forwarded"}


def test_repeated_headers_are_joined_and_unknown_is_skipped():
    chain = read_chain(
        [("x-forwarded-for", "unknown"), ("X-Forwarded-For", "203.0.113.8")]
    )

    assert chain.raw["x-forwarded-for"] == "unknown, 203.0.113.8"
    assert chain.hops == ["203.0.113.8"]


def test_a_forged_chain_is_bounded():
    chain = read_chain([("X-Forwarded-For", ", ".join(["203.0.113.1"] * 1000))])

    assert len(chain.forwarded_for) == 32
    assert chain.hops == ["203.0.113.1"]


# --- Squid's look -----------------------------------------------------------


SQUID = Squid("proxy1.example.test", 3128, "3.5.27")


def test_passed_on_headers_add_squids_marks_after_the_origins():
    date = ("Date", "Tue, 14 Nov 2023 22:13:20 GMT")
    headers = SQUID.passed_on(
        [date, ("Server", "Apache"), ("Connection", "close"), ("Via", "1.0 origin")],
        0.0,
    )

    assert headers == [
        date,
        ("Server", "Apache"),
        ("X-Cache", "MISS from proxy1.example.test"),
        ("X-Cache-Lookup", "MISS from proxy1.example.test:3128"),
        ("Via", "1.0 origin, 1.1 proxy1.example.test (squid/3.5.27)"),
        ("Connection", "keep-alive"),
    ]


def test_a_response_without_date_gets_one():
    headers = SQUID.passed_on([("Content-Length", "0")], 1_700_000_000.0)

    assert headers[0] == ("Date", "Tue, 14 Nov 2023 22:13:20 GMT")


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_page_says_what_squid_says_of_itself(name):
    response = SQUID.error(name, "http://x.test/<script>", 1_700_000_000.0)
    headers = dict(response.headers)
    body = response.body.decode()

    assert response.status == ERRORS[name].status
    assert headers["Server"] == "squid/3.5.27"
    assert headers["X-Squid-Error"].startswith(name + " ")
    assert headers["Content-Length"] == str(len(response.body))
    assert "<title>ERROR: The requested URL could not be retrieved</title>" in body
    assert f"<!-- {name} -->" in body
    assert "by proxy1.example.test (squid/3.5.27)" in body
    assert "<script>" not in body


def test_nmap_recognises_the_error_as_squid():
    # The match line of nmap 7.93's nmap-service-probes for Squid errors.
    pattern = re.compile(
        rb"^HTTP/1\.[01] \d\d\d (?:[^\r\n]*\r\n(?!\r\n))*?"
        rb"Server: [sS]quid/([-.\w+]+)\r\n",
        re.S,
    )
    response = SQUID.error("ERR_INVALID_URL", "/", 0.0)
    head = f"HTTP/1.1 {response.status} {response.reason}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in response.headers)

    match = pattern.match(head.encode() + b"\r\n")
    assert match and match.group(1) == b"3.5.27"


# --- the blacklist -----------------------------------------------------------


def test_entries_expire(tmp_path):
    blacklist = Blacklist(None, period=60, now=1000)

    assert blacklist.add("203.0.113.7", 1000, "http")
    assert blacklist.listed("203.0.113.7", 1059.9)
    assert not blacklist.listed("203.0.113.7", 1060)
    assert len(blacklist) == 0


def test_renewals_extend_and_are_written_sparingly(tmp_path):
    path = tmp_path / "bl.jsonl"
    blacklist = Blacklist(path, period=100, now=0)
    assert blacklist.add("203.0.113.7", 0, "http")
    for second in range(1, 10):
        assert not blacklist.add("203.0.113.7", second, "http")
    blacklist.add("203.0.113.7", 11, "socks5")
    blacklist.close()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["expires"] for line in lines] == [100, 111]
    assert lines[1] == {
        "source": "203.0.113.7",
        "listed": 0,
        "expires": 111,
        "reason": "socks5",
    }


def test_the_file_survives_a_restart_and_is_compacted(tmp_path):
    path = tmp_path / "state" / "bl.jsonl"
    first = Blacklist(path, period=100, now=0)
    first.add("203.0.113.1", 0, "http")
    first.add("203.0.113.2", 50, "socks4")
    first.close()
    with open(path, "a") as stream:
        stream.write('{"source": "203.0.113.3", "expi')  # cut short by a crash

    second = Blacklist(path, period=100, now=120)

    assert not second.listed("203.0.113.1", 120)
    assert second.listed("203.0.113.2", 120)
    assert len(second) == 1
    second.close()
    assert [json.loads(line)["source"] for line in path.read_text().splitlines()] == [
        "203.0.113.2"
    ]


def test_capacity_drops_the_soonest_expiry():
    blacklist = Blacklist(None, period=100, now=0, capacity=2)
    blacklist.add("203.0.113.1", 0, "http")
    blacklist.add("203.0.113.2", 1, "http")
    blacklist.add("203.0.113.3", 2, "http")

    assert len(blacklist) == 2
    assert not blacklist.listed("203.0.113.1", 3)


def test_an_unwritable_place_keeps_the_list_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    blacklist = Blacklist(blocked / "bl.jsonl", period=10, now=0)

    assert blacklist.add("203.0.113.1", 0, "http")
    assert blacklist.listed("203.0.113.1", 1)


# --- finding the relay and the maze ------------------------------------------

DMZ = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  web: {ports: {tcp/80: {service: web-maze, options: {links: {min: 3, max: 4}}}}}
  relay: {ports: {tcp/25: {service: smtp-relay}}}
  mail: {ports: {tcp/25: {service: smtp-sink}}}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: web}
  - {address: 198.51.100.25, name: relay1.example.test, template: relay}
  - {address: 198.51.100.26, template: relay}
  - {address: 198.51.100.30, name: mx.example.test, template: mail}
"""


def test_the_relays_are_the_smtp_relay_hosts_and_each_name_keeps_its_own():
    relay = TopologyRelay.from_options(None, loads(DMZ))

    assert relay.relays == (("relay1.example.test", 25), ("198.51.100.26", 25))
    chosen = {relay.choose(NextHop(f"mx{n}.example.test", 25)) for n in range(20)}
    assert chosen == set(relay.relays)
    hop = NextHop("mx.example.test", 25)
    assert relay.choose(hop) == relay.choose(hop)


def test_the_relay_option_overrides_the_topology():
    relay = TopologyRelay.from_options("192.0.2.254:2525", loads(DMZ))

    assert relay.relays == (("192.0.2.254", 2525),)


def test_no_relay_at_all_refuses_the_tunnel():
    with pytest.raises(ConnectionRefusedError):
        TopologyRelay.from_options(None, None).choose(NextHop("mx.example.test", 25))


@pytest.mark.parametrize(
    ("hop", "name"),
    [
        (NextHop("mx.example.test", 25), "mx.example.test"),
        (NextHop("198.51.100.30", 25, "ipv4"), "mx.example.test"),
        (NextHop("203.0.113.77", 25, "ipv4"), "[203.0.113.77]"),
        (NextHop("2001:db8::25", 25, "ipv6"), "[IPv6:2001:db8::25]"),
    ],
)
def test_the_greeting_name_for_a_requested_host(hop, name):
    assert greeting_name(hop, loads(DMZ)) == name


def test_the_maze_option_names_a_maze_host(tmp_path):
    environment = Environment(topology=loads(DMZ), state_dir=str(tmp_path))

    assert maze_options(environment.topology, "198.51.100.10") == {
        "links": {"min": 3, "max": 4}
    }
    assert isinstance(maze_source("www.example.test", environment, 3), WebMazePages)
    assert isinstance(maze_source("generated", environment, 3), GeneratedPages)
    with pytest.raises(ServiceError):
        OpenProxy({"maze": "relay1.example.test"}, environment)


@pytest.mark.parametrize(
    "options",
    [
        {"connect_other": "drop"},
        {"relay_ports": [0]},
        {"protocols": []},
        {"blacklist": {"action": "ban"}},
        {"version": "3.5; rm -rf"},
        {"max_request": 10},
        {"colour": "red"},
    ],
)
def test_options_the_schema_refuses(options):
    with pytest.raises(OptionsError):
        check_options(OpenProxy, options)


def test_the_default_topologys_bindings_need_no_options():
    assert check_options(OpenProxy, {}) == {}
