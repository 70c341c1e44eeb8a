"""The dns Service as vnet drives it: datagrams, TCP streams, records, garbage."""

from __future__ import annotations

import asyncio
import functools
import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

import vnet.config
from services.dns import SERVICE, Dns
from services.dns.service import DnsStream
from tests.services.test_dns_zone import TOPOLOGY
from vnet.service.api import (
    ConnectionContext,
    DatagramContext,
    Environment,
    HostInfo,
    ServiceError,
)
from vnet.service.registry import find_service

SERVER = HostInfo("198.51.100.53", "ns.example.test")
CLIENT = ("192.0.2.254", 40000)

BIG_TXT = {
    "records": [
        {"name": "big.example.test", "type": "TXT", "value": ["x" * 250] * 2},
        {"name": "big.example.test", "type": "TXT", "value": ["y" * 250] * 2},
    ]
}


class Recorder:
    """An event sink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, event_id: str, **fields) -> None:
        self.events.append((event_id, fields))

    def of(self, event_id: str) -> list[dict]:
        return [fields for name, fields in self.events if name == event_id]


class Server:
    """The service with a fake UDP path: each datagram's replies are kept."""

    def __init__(self, options: dict | None = None) -> None:
        self.sink = Recorder()
        self.environment = Environment(
            events=self.sink,
            topology=vnet.config.loads(TOPOLOGY),
            clock=lambda: 1_780_000_000.0,
        )
        self.options = options or {}
        self.service = Dns(self.options, self.environment)

    def datagram(self, data: bytes) -> list[bytes]:
        replies: list[bytes] = []
        context = DatagramContext(
            service="dns",
            host=SERVER,
            peer=CLIENT,
            local=(SERVER.address, 53),
            options=self.options,
            environment=self.environment,
            reply=replies.append,
        )
        self.service.datagram_received(context, data)
        return replies

    def ask(self, name: str, qtype: str = "A", edns=None) -> DNSRecord:
        query = DNSRecord.question(name, qtype)
        if edns is not None:
            query.add_ar(edns)
        [reply] = self.datagram(query.pack())
        return DNSRecord.parse(reply)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def messages(self) -> list[DNSRecord]:
        found, data = [], bytes(self.written)
        while data:
            length = int.from_bytes(data[:2], "big")
            found.append(DNSRecord.parse(data[2 : 2 + length]))
            data = data[2 + length :]
        return found


def in_loop(test):
    """Run an async test in a fresh event loop (the stream's timers need one)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def framed(record: DNSRecord) -> bytes:
    data = record.pack()
    return len(data).to_bytes(2, "big") + data


@pytest.fixture(scope="module")
def server() -> Server:
    return Server(BIG_TXT)


def test_the_registry_finds_the_service_by_its_topology_name():
    assert find_service("dns") is Dns is SERVICE
    assert Dns.handles_udp


def test_a_datagram_is_answered_and_recorded_with_the_client(server):
    before = len(server.sink.of("dns.query"))

    reply = server.ask("www.example.test")

    assert [record.rdata.toZone() for record in reply.rr] == ["198.51.100.10"]
    event = server.sink.of("dns.query")[before]
    assert (event["peer"], event["peer_port"]) == CLIENT
    assert (event["host"], event["port"], event["service"]) == (
        SERVER.address,
        53,
        "dns",
    )
    assert event["name"] == "www.example.test."
    assert (event["type"], event["rcode"]) == ("A", "NOERROR")
    assert event["answer"] == ["198.51.100.10"]
    assert event["transport"] == "udp"


def test_a_large_answer_is_truncated_over_udp_without_edns(server):
    plain = server.ask("big.example.test", "TXT")
    roomy = server.ask("big.example.test", "TXT", edns=EDNS0(udp_len=4096))

    assert plain.header.tc == 1 and plain.rr == []
    assert roomy.header.tc == 0 and len(roomy.rr) == 2
    assert server.sink.of("dns.query")[-2]["truncated"] is True


@pytest.mark.parametrize(
    ("data", "reason", "answered"),
    [
        (b"", "short", False),
        (b"\x12\x34\x01", "short", False),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\0\1\0\1",
         "compression-loop", True),
        (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x3f" + b"a" * 63,
         "truncated", True),
        (b"\x12\x34\x81\x80" + b"\x00" * 8, "response", False),
        (b"\x12\x34\x01\x00\xff\xff\xff\xff\xff\xff\xff\xff", "truncated", True),
    ],
)  # fmt: skip
def test_garbage_is_recorded_and_answered_formerr_or_dropped(data, reason, answered):
    server = Server()

    replies = server.datagram(data)

    [event] = server.sink.of("dns.query.malformed")
    assert event["reason"] == reason
    assert event["size"] == len(data)
    assert event["data"] == data[:64].hex()
    assert event["peer"] == CLIENT[0]
    if answered:
        [reply] = replies
        header = DNSRecord.parse(reply).header
        assert (header.id, header.qr, header.rcode) == (0x1234, 1, RCODE.FORMERR)
        assert event["rcode"] == "FORMERR"
    else:
        assert replies == []
        assert event["rcode"] is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_escape_as_an_exception(data):
    server = _fuzz_server()

    replies = server.datagram(data)

    assert len(replies) <= 1
    for reply in replies:
        assert DNSRecord.parse(reply).header.qr == 1


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_queries_are_answered_or_recorded_never_raised(data):
    query = DNSRecord.question("www.example.test", "MX")
    query.add_ar(EDNS0(udp_len=1232))
    packet = bytearray(query.pack())
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(packet) - 1))
        packet[index] = data.draw(st.integers(0, 255))
    server = _fuzz_server()
    before = len(server.sink.events)

    replies = server.datagram(bytes(packet))

    assert len(server.sink.events) == before + 1
    assert len(replies) <= 1


_shared_fuzz_server: list[Server] = []


def _fuzz_server() -> Server:
    if not _shared_fuzz_server:
        _shared_fuzz_server.append(Server())
    return _shared_fuzz_server[0]


def test_a_pool_outside_the_topology_stops_the_service_with_a_service_error():
    options = {"pools": [{"name": "p.example.test", "addresses": "198.51.100.200"}]}

    with pytest.raises(ServiceError, match="198.51.100.200 is not a host"):
        Server(options)


def test_the_udp_and_tcp_bindings_with_the_same_options_share_one_responder():
    environment = Environment(topology=vnet.config.loads(TOPOLOGY))

    udp = Dns({}, environment)
    tcp = Dns({}, environment)
    other = Dns({"ttl": 60}, environment)

    assert udp.responder is tcp.responder
    assert other.responder is not udp.responder


# --- TCP ----------------------------------------------------------------------------


def stream(server: Server, timeout: float = 30.0) -> tuple[DnsStream, FakeTransport]:
    context = ConnectionContext(
        service="dns",
        host=SERVER,
        peer=CLIENT,
        local=(SERVER.address, 53),
        options=server.options,
        environment=server.environment,
    )
    protocol = DnsStream(context, server.service.responder, timeout)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


@in_loop
async def test_tcp_answers_pipelined_queries_split_anyhow(server):
    protocol, transport = stream(server)
    data = framed(DNSRecord.question("www.example.test")) + framed(
        DNSRecord.question("big.example.test", "TXT")
    )

    for offset in range(0, len(data), 7):
        protocol.data_received(data[offset : offset + 7])

    first, second = transport.messages()
    assert [record.rdata.toZone() for record in first.rr] == ["198.51.100.10"]
    assert second.header.tc == 0 and len(second.rr) == 2
    assert not transport.closed
    event = server.sink.of("dns.query")[-1]
    assert event["transport"] == "tcp" and "connection" in event
    protocol.connection_lost(None)


@in_loop
async def test_tcp_closes_after_a_message_too_short_for_a_header(server):
    protocol, transport = stream(server)

    protocol.data_received(b"\x00\x03abc" + framed(DNSRecord.question("x.test")))

    assert transport.closed
    assert transport.written == b""
    assert server.sink.of("dns.query.malformed")[-1]["transport"] == "tcp"
    protocol.connection_lost(None)


@in_loop
async def test_tcp_closes_an_idle_connection():
    protocol, transport = stream(Server(), timeout=0.05)

    await asyncio.sleep(0.15)

    assert transport.closed
    protocol.connection_lost(None)


@in_loop
async def test_tcp_closes_when_the_client_is_done(server):
    protocol, transport = stream(server)

    protocol.data_received(framed(DNSRecord.question("www.example.test")))
    keep_open = protocol.eof_received()

    assert transport.closed and keep_open
    assert len(transport.messages()) == 1
    protocol.connection_lost(None)


@in_loop
async def test_a_query_over_tcp_may_be_formerr_and_the_stream_goes_on(server):
    protocol, transport = stream(server)
    loop = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\0\1\0\1"

    protocol.data_received(struct.pack("!H", len(loop)) + loop)
    protocol.data_received(framed(DNSRecord.question("example.test", "NS")))

    formerr, answer = transport.messages()
    assert formerr.header.rcode == RCODE.FORMERR
    assert answer.rr[0].rtype == QTYPE.NS
    assert not transport.closed
    protocol.connection_lost(None)
