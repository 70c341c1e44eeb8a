"""The dns service under `vnet run`, asked by real resolvers in a namespace.

The topology is a name server on udp/53 and tcp/53 (one set of options for
both, through a YAML anchor), a web host, a mail sink for the trap domain,
and eight hosts whose addresses a pool name hands out. The clients are dig,
host, ping, swaks, nmap, and Python sending garbage from inside the
namespace; a second topology serves the web maze, which wget crawls by
name through a resolv.conf made by `resolv_conf`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import tempfile
import textwrap

import pytest

import vnet.config
from services.dns.resolver import install_resolv_conf, remove_resolv_conf
from tests.conftest import require_tool

pytestmark = pytest.mark.netns

SERVER = "198.51.100.53"
KERNEL = "192.0.2.254"

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test]
templates:
  server:
    personality: "Linux 2.6.32 - 3.10#1"
    tcp: closed
    udp: closed
    ports: {tcp/22: open}
  dns:
    inherits: server
    ports:
      udp/53: &dns
        service: dns
        options:
          pools:
            - {name: smtp.example.test, addresses: 198.51.100.64-198.51.100.71}
          records:
            - name: big.example.test
              type: TXT
              value: [LONG, LONG]
            - name: big.example.test
              type: TXT
              value: [LONG, LONG]
      tcp/53: *dns
  mail:
    inherits: server
    ports:
      tcp/25: {service: smtp-sink, options: {greeting_delay: [0, 0.05]}}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: server}
  - {address: 198.51.100.30, name: mx.example.test, template: mail}
  - {address: 198.51.100.53, name: ns.example.test, template: dns}
  - {address: 198.51.100.64-198.51.100.71, template: server}
""".replace("LONG", "x" * 200)


@pytest.fixture
def state_dir():
    # Not under pytest's tmp_path: vnet runs as nobody, and pytest's
    # directories are root's alone; vnet hands this one over.
    path = tempfile.mkdtemp(prefix="vnet-dns-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(vnet, state_dir):
    require_tool("dig")
    return vnet(TOPOLOGY, "--state-dir", state_dir)


def dig(netns, *arguments: str) -> str:
    command = ["dig", f"@{SERVER}", "+time=2", "+tries=2", *arguments]
    return netns.run(*command, timeout=30).stdout


def short(netns, *arguments: str) -> list[str]:
    return dig(netns, "+short", *arguments).split("\n")[:-1]


def stopped_cleanly(served) -> None:
    assert served.stop() == 0
    assert "Traceback" not in served.stderr(), served.stderr()


def test_dig_gets_a_mx_ptr_soa_and_ns_over_udp_and_tcp(served, netns):
    for transport in ("+notcp", "+tcp"):
        assert short(netns, transport, "www.example.test") == ["198.51.100.10"]
        assert short(netns, transport, "example.test", "MX") == ["10 mx.example.test."]
        assert short(netns, transport, "-x", "198.51.100.10") == ["www.example.test."]
        [soa] = short(netns, transport, "example.test", "SOA")
        assert soa.startswith("ns.example.test. hostmaster.example.test. ")
        assert short(netns, transport, "example.test", "NS") == ["ns.example.test."]

    stopped_cleanly(served)
    queries = served.events("dns.query")
    assert len(queries) == 10
    assert {event["transport"] for event in queries} == {"udp", "tcp"}
    assert all(event["peer"] == KERNEL for event in queries)
    [mx, _] = [event for event in queries if event["type"] == "MX"]
    assert mx["trap_domain"] == "example.test"
    assert mx["answer"] == ["10 mx.example.test."]


def test_dig_shows_an_authoritative_nxdomain_and_a_refusal(served, netns):
    missing = dig(netns, "nothing.example.test")
    other = dig(netns, "www.other.example")

    assert "status: NXDOMAIN" in missing
    assert re.search(r"flags: qr aa rd;", missing)
    assert "example.test.\t\t300\tIN\tSOA" in missing
    assert "status: REFUSED" in other
    assert "recursion requested but not available" in other
    stopped_cleanly(served)


def test_a_truncated_udp_answer_makes_dig_retry_over_tcp(served, netns):
    flags = dig(netns, "+noedns", "+ignore", "big.example.test", "TXT")
    retried = dig(netns, "+noedns", "big.example.test", "TXT")

    assert re.search(r"flags: qr aa tc rd;", flags)
    assert "Truncated, retrying in TCP mode" in retried
    answers = re.findall(r"^big\.example\.test\.\s+\d+\s+IN\s+TXT", retried, re.M)
    assert len(answers) == 2
    stopped_cleanly(served)
    truncated = [event["truncated"] for event in served.events("dns.query")]
    transports = [event["transport"] for event in served.events("dns.query")]
    assert truncated == [True, True, False]
    assert transports == ["udp", "udp", "tcp"]


def test_host_finds_the_mail_server_of_the_trap_domain(served, netns):
    result = netns.run("host", "-t", "mx", "example.test", SERVER, timeout=30)

    assert "example.test mail is handled by 10 mx.example.test." in result.stdout
    stopped_cleanly(served)


def test_a_pool_name_resolves_to_several_addresses_that_each_answer_ping(served, netns):
    seen = set()
    for _ in range(12):
        [address] = short(netns, "smtp.example.test")
        seen.add(address)
    answer = dig(netns, "smtp.example.test")

    assert len(seen) >= 3
    assert seen <= {f"198.51.100.{last}" for last in range(64, 72)}
    assert re.search(r"smtp\.example\.test\.\t+30\tIN\tA", answer)
    for address in sorted(seen):
        netns.run("ping", "-c", "1", "-W", "2", address, timeout=10)
        assert short(netns, "-x", address) == ["smtp.example.test."]
    stopped_cleanly(served)


GARBAGE = r"""
import socket, struct

def query(name, flags=0x0100, extra=b""):
    return struct.pack("!HHHHHH", 0x4242, flags, 1, 0, 0, 0) + name + extra

loop = query(b"\x01a\xc0\x0c", extra=b"\x00\x01\x00\x01")
long = query((b"\x3f" + b"a" * 63) * 4 + b"\x00", extra=b"\x00\x01\x00\x01")
cut = query(b"\x03www\x07exa")
other = query(b"\x03www\x05other\x07example\x00", extra=b"\x00\x01\x00\x01")
messages = [b"", b"\xff" * 5, loop, long, cut, b"\x00" * 12, other,
            bytes(range(256)) * 2]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(1.0)
for message in messages:
    sock.sendto(message, ("198.51.100.53", 53))
    try:
        reply = sock.recv(4096)
        flags = struct.unpack("!H", reply[2:4])[0]
        print(len(message), "rcode", flags & 0xF)
    except socket.timeout:
        print(len(message), "none")
"""


def test_garbage_gets_formerr_or_silence_and_is_recorded(served, netns):
    script = textwrap.dedent(GARBAGE)
    result = netns.run(sys.executable, "-c", script, timeout=60)
    after = short(netns, "www.example.test")

    lines = result.stdout.splitlines()
    assert lines == [
        "0 none",  # too short to answer
        "5 none",
        "20 rcode 1",  # compression loop: FORMERR
        "273 rcode 1",  # a name of 257 octets
        "20 rcode 1",  # cut short
        "12 rcode 1",  # no question
        "35 rcode 5",  # another zone: REFUSED
        "512 rcode 1",
    ]
    assert after == ["198.51.100.10"]
    stopped_cleanly(served)
    reasons = [event["reason"] for event in served.events("dns.query.malformed")]
    assert reasons == [
        "short",
        "short",
        "compression-loop",
        "name-too-long",
        "truncated",
        "question-count",
        "bad-label-type",  # 0x00..0xff counting up meets 0x40 as a label
    ]


def test_nmap_names_the_server_bind_over_udp_and_tcp(served, netns):
    require_tool("nmap")
    result = netns.run(
        "nmap", "-n", "-sU", "-sS", "-sV", "-p", "U:53,T:53", SERVER, timeout=120
    )  # fmt: skip

    for transport in ("udp", "tcp"):
        pattern = rf"53/{transport}\s+open\s+domain\s+ISC BIND 9\.9\.5 \(Debian"
        assert re.search(pattern, result.stdout), result.stdout
    stopped_cleanly(served)
    versions = [
        event
        for event in served.events("dns.query")
        if event.get("name") == "version.bind."
    ]
    assert {event["transport"] for event in versions} == {"udp", "tcp"}
    assert all(event["class"] == "CH" for event in versions)


@contextlib.contextmanager
def resolver(netns, topology_text: str):
    """What `vnet run --resolver` is to do: put resolv_conf(topology) where
    `ip netns exec` mounts it over /etc/resolv.conf, and take it away."""
    path = install_resolv_conf(vnet.config.loads(topology_text), netns.name)
    try:
        yield
    finally:
        remove_resolv_conf(path)
    assert not path.parent.exists()


def test_tools_resolve_through_the_written_resolv_conf(served, netns):
    with resolver(netns, TOPOLOGY):
        mx = netns.run("host", "-t", "mx", "example.test", timeout=30)
        short_name = netns.run("getent", "hosts", "www", timeout=30)
        mail = netns.run(
            "swaks", "--to", "someone@example.test", "--from", "me@example.test",
            "--timeout", "20", timeout=60, check=False,
        )  # fmt: skip

    assert "mail is handled by 10 mx.example.test." in mx.stdout
    assert short_name.stdout.split() == ["198.51.100.10", "www.example.test"]
    assert "250 2.0.0" in mail.stdout, mail.stdout + mail.stderr
    stopped_cleanly(served)
    [stored] = served.events("smtp.message.stored")
    assert stored["recipients"] == ["someone@example.test"]
    assert stored["host"] == "198.51.100.30"
    mx_lookups = [e for e in served.events("dns.query") if e["type"] == "MX"]
    assert {e["trap_domain"] for e in mx_lookups} == {"example.test"}


MAZE = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test]
templates:
  web:
    personality: "Linux 2.6.32 - 3.10#1"
    tcp: closed
    ports:
      tcp/80: {service: web-maze, options: {links: {min: 2, max: 3}}}
  dns:
    ports:
      udp/53: {service: dns}
      tcp/53: {service: dns}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: web}
  - {address: 198.51.100.11, name: shop.example.test, template: web}
  - {address: 198.51.100.53, name: ns.example.test, template: dns}
"""


def test_wget_crawls_the_maze_across_servers_by_name(vnet, netns, state_dir, tmp_path):
    require_tool("wget")
    served = vnet(MAZE, "--state-dir", state_dir)
    hosts = "www.example.test,shop.example.test"

    with resolver(netns, MAZE):
        netns.run(
            "wget", "-q", "-r", "-l", "3", "-e", "robots=off", "-H", "-D", hosts,
            "-T", "5", "-t", "1", "-P", str(tmp_path / "crawl"),
            "http://www.example.test/", timeout=120, check=False,
        )  # fmt: skip

    saved = {path.name for path in (tmp_path / "crawl").iterdir()}
    assert saved == {"www.example.test", "shop.example.test"}
    stopped_cleanly(served)
    asked = {e["name"] for e in served.events("dns.query") if e["type"] == "A"}
    assert {"www.example.test.", "shop.example.test."} <= asked
    vhosts = {e["vhost"] for e in served.events("web.request")}
    assert vhosts == {"www.example.test", "shop.example.test"}
