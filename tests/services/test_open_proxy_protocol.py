"""The open proxy's connections, in process: a client stream joined to it.

Each test runs the service's Protocol on an in-memory pipe (the transport
`open_connection` gives services), with a stand-in relay behind it, and
speaks to it as a client would. Timers use small real delays.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from services.open_proxy import OpenProxy
from tests.services.test_open_proxy_standins import StandInRelay
from vnet.service import pipe
from vnet.service.api import ConnectionContext, Environment, HostInfo

PROXY = HostInfo("198.51.100.20", "proxy1.example.test", "FreeBSD 6.2-RELEASE")
RELAY = HostInfo("198.51.100.25", "relay1.example.test")
SPAMMER = ("203.0.113.9", 40321)


class Events(list):
    def emit(self, event_id: str, **fields: Any) -> None:
        json.dumps(fields, default=str)  # every record must be JSON
        self.append({"event": event_id, **fields})

    def of(self, event_id: str) -> list[dict]:
        return [event for event in self if event["event"] == event_id]


_made: list[Harness] = []
_state_dir: list[str] = []


@pytest.fixture(autouse=True)
def _state_and_cleanup(tmp_path):
    """Each test's state (the maze's secret) in its own directory."""
    _state_dir[:] = [str(tmp_path / "state")]
    yield
    while _made:
        _made.pop().proxy.close()


class Harness:
    """An OpenProxy with a stand-in relay behind it, and clients for it."""

    def __init__(
        self, options: Mapping[str, Any], relay: bool = True, maze: bool = False
    ) -> None:
        _made.append(self)
        self.events = Events()
        self.environment = Environment(events=self.events, state_dir=_state_dir[0])
        self.environment.open_connection = self._open if relay else self._refuse
        self.relay = StandInRelay({}, self.environment)
        # Most tests need pages, not the web maze's; generated ones are quicker.
        defaults = {"relay": "relay1.example.test:25"}
        if not maze:
            defaults["maze"] = "generated"
        self.proxy = OpenProxy({**defaults, **options}, self.environment)
        self.contexts: list[ConnectionContext] = []

    async def _open(self, host: str, port: int):
        if (host, port) != ("relay1.example.test", 25):
            raise ConnectionRefusedError(f"{host}:{port}")
        context = ConnectionContext(
            "stand-in-relay", RELAY, ("127.0.0.1", 0), (RELAY.address, 25), {},
            self.environment,
        )  # fmt: skip
        protocol = self.relay.protocol(context)
        return pipe.connect(
            asyncio.get_running_loop(), protocol, context.peer, (host, 25)
        )

    async def _refuse(self, host: str, port: int):
        raise ConnectionRefusedError(f"{host}:{port}: no service")

    def connect(self, port: int = 3128, peer=SPAMMER):
        context = ConnectionContext(
            "open-proxy", PROXY, peer, (PROXY.address, port), self.proxy.options,
            self.environment,
        )  # fmt: skip
        self.contexts.append(context)
        protocol = self.proxy.protocol(context)
        return pipe.connect(asyncio.get_running_loop(), protocol, peer, context.local)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


async def exchange(harness: Harness, data: bytes, port: int = 3128) -> bytes:
    """Send `data`, then half-close, and read everything until the close."""
    reader, writer = harness.connect(port)
    writer.write(data)
    writer.write_eof()
    answer = await reader.read()
    writer.close()
    await asyncio.sleep(0)
    return answer


def http(data: bytes, port: int = 3128, **options: Any) -> tuple[bytes, Events]:
    harness = Harness(options)
    answer = run(exchange(harness, data, port))
    return answer, harness.events


def head_and_body(answer: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


# --- GET ---------------------------------------------------------------------


GET = (
    b"GET http://www.example.test/staff/contact.html HTTP/1.1\r\n"
    b"Host: www.example.test\r\nUser-Agent: Harvester/1.0\r\nAccept: */*\r\n\r\n"
)


def test_get_with_an_absolute_uri_gets_a_page_with_traps_for_the_visitor():
    answer, events = http(GET)
    status, headers, body = head_and_body(answer)

    assert status == "HTTP/1.1 200 OK"
    assert headers["Via"] == "1.1 proxy1.example.test (squid/3.5.27)"
    assert headers["X-Cache"] == "MISS from proxy1.example.test"
    assert headers["X-Cache-Lookup"] == "MISS from proxy1.example.test:3128"
    assert headers["Server"].startswith("Apache/")
    assert int(headers["Content-Length"]) == len(body)

    issued = events.of("web.address.issued")
    assert issued and all(event["visitor"] == SPAMMER[0] for event in issued)
    for event in issued:
        assert event["address"].startswith("crawler-203.0.113.9_")
        assert event["address"].encode() in body
        assert event["url"] == "http://www.example.test/staff/contact.html"
        assert event["user_agent"] == "Harvester/1.0"


def test_the_request_record_keeps_headers_in_order_and_case():
    _, events = http(GET)
    [request] = events.of("proxy.request")

    assert request["protocol"] == "http"
    assert request["method"] == "GET"
    assert request["next_hop"] == "www.example.test:80"
    assert request["relay"] is False
    assert request["outcome"] == "page"
    assert request["headers"] == [
        ["Host", "www.example.test"],
        ["User-Agent", "Harvester/1.0"],
        ["Accept", "*/*"],
    ]


def test_a_generated_page_is_the_same_on_a_revisit_except_its_traps():
    first, _ = http(GET)
    second, _ = http(GET)

    assert head_and_body(first)[1]["ETag"] == head_and_body(second)[1]["ETag"]
    assert b"<title>" in head_and_body(first)[2]


MAZE_GET = b"GET http://www.example.test/ HTTP/1.1\r\nHost: www.example.test\r\n"
MAZE_GET += b"User-Agent: Harvester/1.0\r\n\r\n"


def test_with_the_web_maze_a_get_gets_the_mazes_page_for_the_visitor():
    harness = Harness({}, maze=True)
    first = run(exchange(harness, MAZE_GET))
    second = run(exchange(harness, MAZE_GET))
    status, headers, body = head_and_body(first)

    assert status == "HTTP/1.1 200 OK"
    assert headers["Server"].startswith("Apache/")
    assert "Date" in headers
    assert headers["Via"] == "1.1 proxy1.example.test (squid/3.5.27)"
    assert headers["ETag"] == head_and_body(second)[1]["ETag"]
    issued = harness.events.of("web.address.issued")
    assert issued and all(event["visitor"] == SPAMMER[0] for event in issued)
    for event in issued[: len(issued) // 2]:
        assert event["address"].encode() in body
        assert event["url"] == "http://www.example.test/"


def test_pages_of_different_sites_differ():
    google, _ = http(b"GET http://www.google.com/ HTTP/1.0\r\n\r\n")
    wikipedia, _ = http(b"GET http://www.wikipedia.org/ HTTP/1.0\r\n\r\n")

    assert head_and_body(google)[2] != head_and_body(wikipedia)[2]


def test_head_gets_the_headers_only():
    answer, _ = http(GET.replace(b"GET", b"HEAD", 1))
    status, headers, body = head_and_body(answer)

    assert status == "HTTP/1.1 200 OK"
    assert int(headers["Content-Length"]) > 0
    assert body == b""


def test_keep_alive_and_pipelined_requests_are_all_answered():
    answer, events = http(GET + GET.replace(b"contact", b"jobs") + GET)

    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert len(events.of("proxy.request")) == 3


def test_an_http_1_0_client_gets_its_page_and_a_close():
    answer, _ = http(b"GET http://www.example.test/ HTTP/1.0\r\n\r\n")

    assert head_and_body(answer)[1]["Connection"] == "close"


def test_basic_proxy_credentials_are_recorded():
    _, events = http(
        b"GET http://www.example.test/ HTTP/1.0\r\n"
        b"Proxy-Authorization: Basic c3BhbW1lcjpodW50ZXIy\r\n\r\n"
    )
    [request] = events.of("proxy.request")

    assert (request["user"], request["password"]) == ("spammer", "hunter2")


# --- Squid's errors ------------------------------------------------------------


def squid_error(answer: bytes) -> tuple[str, str]:
    status, headers, body = head_and_body(answer)
    assert headers["Server"] == "squid/3.5.27"
    assert b"ERROR: The requested URL could not be retrieved" in body
    return status, headers["X-Squid-Error"]


def test_an_origin_form_request_is_an_invalid_url_as_in_squid():
    answer, events = http(b"GET / HTTP/1.0\r\n\r\n")

    assert squid_error(answer) == ("HTTP/1.1 400 Bad Request", "ERR_INVALID_URL 0")
    assert events.of("proxy.request")[0]["outcome"] == "invalid"


@pytest.mark.parametrize(
    ("method", "status", "error"),
    [
        (b"POST", "HTTP/1.1 403 Forbidden", "ERR_ACCESS_DENIED 0"),
        (b"PUT", "HTTP/1.1 403 Forbidden", "ERR_ACCESS_DENIED 0"),
        (b"OPTIONS", "HTTP/1.1 403 Forbidden", "ERR_ACCESS_DENIED 0"),
        (b"BREW", "HTTP/1.1 501 Not Implemented", "ERR_UNSUP_REQ 0"),
    ],
)
def test_other_methods_get_squids_refusals(method, status, error):
    body = b"name=x&email=a%40example.test&message=buy+now"
    request = (
        method + b" http://www.example.test/cgi-bin/formmail.pl HTTP/1.1\r\n"
        b"Host: www.example.test\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    answer, events = http(request)
    [record] = events.of("proxy.request")

    assert squid_error(answer) == (status, error)
    assert record["outcome"] == "denied"
    assert record["next_hop"] == "www.example.test:80"
    assert record["body_bytes"] == len(body)
    assert record["body_sample"] == body.decode()


def test_a_scheme_the_proxy_does_not_carry():
    answer, _ = http(b"GET ftp://ftp.example.test/pub/ HTTP/1.0\r\n\r\n")

    assert squid_error(answer)[1] == "ERR_UNSUP_REQ 0"


# --- CONNECT -----------------------------------------------------------------


async def smtp_through(reader, writer, *, name: str) -> list[bytes]:
    """A whole SMTP transaction; returns the server's lines."""
    lines = [await reader.readline()]
    assert lines[0].startswith(b"220 " + name.encode() + b" ESMTP"), lines
    for command in (
        b"EHLO spam.example.test",
        b"MAIL FROM:<spammer@example.test>",
        b"RCPT TO:<victim@mail.example.test>",
        b"DATA",
    ):
        writer.write(command + b"\r\n")
        while True:
            line = await reader.readline()
            lines.append(line)
            if line[3:4] != b"-":
                break
    writer.write(b"Subject: probe\r\n\r\nIs this relay open?\r\n.\r\n")
    lines.append(await reader.readline())
    writer.write(b"QUIT\r\n")
    lines.append(await reader.readline())
    return lines


def test_connect_to_port_25_reaches_the_relay_under_the_requested_name():
    harness = Harness({})

    async def client():
        reader, writer = harness.connect()
        writer.write(
            b"CONNECT mx.example.test:25 HTTP/1.1\r\nHost: mx.example.test\r\n\r\n"
        )
        assert await reader.readuntil(b"\r\n\r\n") == (
            b"HTTP/1.1 200 Connection established\r\n\r\n"
        )
        lines = await smtp_through(reader, writer, name="mx.example.test")
        writer.close()
        return lines

    lines = run(client())

    assert lines[1].startswith(b"250-mx.example.test")
    assert lines[-2].startswith(b"250 ")
    [message] = harness.events.of("test.smtp.message")
    assert message["connection"] == harness.contexts[0].connection_id
    assert message["client"] == list(SPAMMER)
    assert message["recipients"] == ["victim@mail.example.test"]
    [request] = harness.events.of("proxy.request")
    assert (request["method"], request["relay"], request["outcome"]) == (
        "CONNECT",
        True,
        "relay",
    )
    [closed] = harness.events.of("proxy.tunnel.closed")
    assert closed["bytes_up"] > 0 and closed["bytes_down"] > 0


def test_smtp_sent_with_the_connect_request_reaches_the_relay():
    harness = Harness({})

    async def client():
        reader, writer = harness.connect()
        writer.write(
            b"CONNECT 198.51.100.30:587 HTTP/1.0\r\n\r\nEHLO eager.example.test\r\n"
        )
        established = await reader.readuntil(b"\r\n\r\n")
        greeting = await reader.readline()
        ehlo = await reader.readline()
        writer.close()
        return established, greeting, ehlo

    established, greeting, ehlo = run(client())

    # Squid's bare status line, for an HTTP/1.0 client too.
    assert established == b"HTTP/1.1 200 Connection established\r\n\r\n"

    assert greeting.startswith(b"220 [198.51.100.30] ESMTP")
    assert ehlo.startswith(b"250-[198.51.100.30]")


def test_relay_ports_are_configurable():
    answer, events = http(
        b"CONNECT mx.example.test:25 HTTP/1.0\r\n\r\n", relay_ports=[2525]
    )

    assert head_and_body(answer)[0] == "HTTP/1.1 408 Request Timeout"
    assert events.of("proxy.request")[0]["relay"] is False


def test_connect_to_another_port_gets_408():
    answer, events = http(b"CONNECT www.example.test:443 HTTP/1.1\r\nHost: x\r\n\r\n")

    assert squid_error(answer) == (
        "HTTP/1.1 408 Request Timeout",
        "ERR_READ_TIMEOUT 110",
    )
    assert events.of("proxy.request")[0]["outcome"] == "408"


def test_connect_other_refuse_answers_connection_failed():
    answer, _ = http(
        b"CONNECT www.example.test:443 HTTP/1.0\r\n\r\n", connect_other="refuse"
    )

    assert squid_error(answer) == (
        "HTTP/1.1 503 Service Unavailable",
        "ERR_CONNECT_FAIL 111",
    )


def test_connect_other_timeout_says_nothing_and_closes_after_the_hold():
    harness = Harness({"connect_other": "timeout", "hold": 0.2})

    async def client():
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await exchange(
            harness, b"CONNECT www.example.test:443 HTTP/1.0\r\n\r\n"
        )
        return answer, loop.time() - started

    answer, waited = run(client())

    assert answer == b""
    assert waited >= 0.2
    assert harness.events.of("proxy.request")[0]["outcome"] == "timeout"


def test_the_answer_to_another_port_can_be_delayed():
    harness = Harness({"answer_delay": 0.2})

    async def client():
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await exchange(
            harness, b"CONNECT www.example.test:443 HTTP/1.0\r\n\r\n"
        )
        return answer, loop.time() - started

    answer, waited = run(client())

    assert b"408" in answer.split(b"\r\n")[0]
    assert waited >= 0.2


def test_no_reachable_relay_answers_connection_failed():
    harness = Harness({}, relay=False)
    answer = run(exchange(harness, b"CONNECT mx.example.test:25 HTTP/1.0\r\n\r\n"))

    assert squid_error(answer)[1] == "ERR_CONNECT_FAIL 111"
    assert harness.events.of("proxy.relay.failed")


class BrokenRelay:
    async def open(self, hop, context):
        raise RuntimeError("a bug behind the tunnel")


def test_a_bug_behind_the_tunnel_resets_that_connection_only(caplog):
    harness = Harness({})
    harness.proxy.relay = BrokenRelay()

    broken = run(exchange(harness, b"CONNECT mx.example.test:25 HTTP/1.0\r\n\r\n"))
    page = run(exchange(harness, GET))

    assert broken == b""
    assert "open-proxy task failed" in caplog.text
    assert page.startswith(b"HTTP/1.1 200 OK")


# --- chains ------------------------------------------------------------------


def test_a_request_through_an_earlier_proxy_is_a_chain_record():
    _, events = http(
        b"GET http://www.example.test/ HTTP/1.1\r\nHost: www.example.test\r\n"
        b"Via: 1.1 gw.example (squid/2.6.STABLE13)\r\n"
        b"X-Forwarded-For: 198.51.100.99\r\n\r\n"
    )
    [chain] = events.of("proxy.chain")

    assert chain["hops"] == ["198.51.100.99", "gw.example"]
    assert chain["seen_from"] == SPAMMER[0]
    assert chain["peer"] == SPAMMER[0]
    assert chain["headers"]["via"] == "1.1 gw.example (squid/2.6.STABLE13)"


def test_a_plain_request_is_no_chain():
    _, events = http(GET)

    assert events.of("proxy.chain") == []


# --- bad input -----------------------------------------------------------------


INVALID_REQ = "ERR_INVALID_REQ 0"
INVALID_URL = "ERR_INVALID_URL 0"
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40)


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (b"GET\r\n\r\n", INVALID_REQ, "malformed-request"),
        (b"GET http://x.test/ HTTP/1.1 x\r\n\r\n", INVALID_REQ, "malformed-request"),
        (TLS_HELLO, INVALID_REQ, "garbage"),
        (b"\x00\xff\xfe garbage\r\n\r\n", INVALID_REQ, "garbage"),
        (b"GET http://x.test/ HTTP/1.1\r\nBad Header\r\n\r\n", INVALID_REQ,
         "malformed-request"),
        (b"CONNECT mx.example.test:99999 HTTP/1.0\r\n\r\n", INVALID_URL, "bad-port"),
        (b"CONNECT mx.example.test HTTP/1.0\r\n\r\n", INVALID_URL, "bad-port"),
        (b"CONNECT 999.999.1.1:25 HTTP/1.0\r\n\r\n", INVALID_URL, "bad-host"),
        (b"CONNECT " + b"a" * 300 + b".test:25 HTTP/1.0\r\n\r\n", INVALID_URL,
         "bad-host"),
        (b"GET http://exa_mple..test/ HTTP/1.0\r\n\r\n", INVALID_URL, "bad-host"),
    ],
)  # fmt: skip
def test_bad_requests_get_squids_error_and_a_record(data, error, reason):
    answer, events = http(data)

    assert squid_error(answer)[1] == error
    assert [event["reason"] for event in events.of("proxy.error")] == [reason]


def test_an_oversized_request_gets_too_big():
    request = b"GET http://x.test/ HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 5000
    answer, events = http(request, max_request=4096)

    assert squid_error(answer)[1] == "ERR_TOO_BIG 0"
    assert events.of("proxy.error")[0]["reason"] == "oversized"


def test_an_oversized_body_gets_too_big_and_a_close():
    request = (
        b"POST http://x.test/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
        + b"a" * 5000
    )
    answer, events = http(request, max_body=1000)

    assert squid_error(answer)[1] == "ERR_TOO_BIG 0"
    assert events.of("proxy.error")[0]["reason"] == "oversized"


def test_a_request_cut_short_by_the_client_is_recorded_and_not_answered():
    answer, events = http(b"GET http://www.example.test/ HTTP/1.1\r\nHost: ww")

    assert answer == b""
    [error] = events.of("proxy.error")
    assert error["reason"] == "truncated"
    assert error["sample"].startswith("GET http://www.example.test/")


def test_a_request_that_never_ends_times_out():
    harness = Harness({"request_timeout": 0.1})

    async def client():
        reader, writer = harness.connect()
        writer.write(b"GET http://www.example.test/ HTTP/1.1\r\n")
        answer = await reader.read()
        writer.close()
        return answer

    assert run(client()) == b""
    [error] = harness.events.of("proxy.error")
    assert (error["reason"], error["detail"]) == ("truncated", "request timeout")


def test_a_client_that_sends_nothing_is_closed_as_idle():
    harness = Harness({"request_timeout": 0.1})

    async def client():
        reader, _ = harness.connect()
        return await reader.read()

    assert run(client()) == b""
    assert harness.events.of("proxy.error")[0]["reason"] == "idle"


def test_an_http_port_answers_socks_bytes_as_bad_http():
    answer, events = http(b"\x05\x01\x00")

    assert squid_error(answer)[1] == "ERR_INVALID_REQ 0"
    assert events.of("proxy.error")[0]["reason"] == "garbage"


def test_a_socks_port_closes_on_http():
    answer, events = http(GET, 1080)

    assert answer == b""
    assert events.of("proxy.error")[0]["reason"] == "garbage"


def test_one_port_can_speak_every_protocol():
    protocols = ["http", "socks4", "socks5"]
    page, _ = http(GET, 1080, protocols=protocols)
    refused, _ = http(
        b"\x04\x01\x00\x50\xc6\x33\x64\x0a\x00", 3128, protocols=protocols
    )

    assert page.startswith(b"HTTP/1.1 200 OK")
    assert refused == b"\x00\x5b" + bytes(6)


# --- SOCKS ---------------------------------------------------------------------


def socks5_connect(host: bytes, port: int) -> bytes:
    return b"\x05\x01\x00\x03" + bytes([len(host)]) + host + port.to_bytes(2, "big")


def test_socks5_to_port_25_reaches_the_relay(caplog):
    caplog.set_level(logging.DEBUG)
    harness = Harness({})

    async def client():
        reader, writer = harness.connect(1080)
        writer.write(b"\x05\x02\x00\x02")
        assert await reader.readexactly(2) == b"\x05\x02"
        writer.write(b"\x01\x07spammer\x06hunter")
        assert await reader.readexactly(2) == b"\x01\x00"
        writer.write(socks5_connect(b"mx.example.test", 25))
        reply = await reader.readexactly(10)
        lines = await smtp_through(reader, writer, name="mx.example.test")
        writer.close()
        return reply, lines

    reply, lines = run(client())

    assert reply[:4] == b"\x05\x00\x00\x01"
    assert reply[4:8] == bytes([198, 51, 100, 20])
    assert lines[-2].startswith(b"250 ")
    [request] = harness.events.of("proxy.request")
    assert request["protocol"] == "socks5"
    assert (request["user"], request["password"]) == ("spammer", "hunter")
    assert request["relay"] is True
    [message] = harness.events.of("test.smtp.message")
    assert message["connection"] == harness.contexts[0].connection_id
    # The spammer's password is data for the record, never for the log.
    assert "SUBNEGOTIATION -> REQUEST" in caplog.text
    assert "hunter" not in caplog.text


def test_socks4a_to_port_25_reaches_the_relay():
    harness = Harness({})

    async def client():
        reader, writer = harness.connect(1080)
        writer.write(b"\x04\x01\x00\x19\x00\x00\x00\x01bot\x00mx.example.test\x00")
        reply = await reader.readexactly(8)
        greeting = await reader.readline()
        writer.close()
        return reply, greeting

    reply, greeting = run(client())

    assert reply[:2] == b"\x00\x5a"
    assert greeting.startswith(b"220 mx.example.test ")
    assert harness.events.of("proxy.request")[0]["protocol"] == "socks4a"


@pytest.mark.parametrize(
    ("options", "reply"),
    [({}, b"\x05\x04"), ({"connect_other": "refuse"}, b"\x05\x05")],
)
def test_socks5_to_another_port_is_refused(options, reply):
    harness = Harness(options)
    answer = run(
        exchange(
            harness, b"\x05\x01\x00" + socks5_connect(b"www.example.test", 80), 1080
        )
    )

    assert answer == b"\x05\x00" + reply + b"\x00\x01" + bytes(6)
    assert harness.events.of("proxy.request")[0]["relay"] is False


def test_socks4_to_another_port_is_rejected():
    answer, _ = http(b"\x04\x01\x00\x50\xc6\x33\x64\x0a\x00", 1080)

    assert answer == b"\x00\x5b" + bytes(6)


def test_socks_timeout_mode_says_nothing():
    harness = Harness({"connect_other": "timeout", "hold": 0.1})
    answer = run(
        exchange(harness, b"\x05\x01\x00" + socks5_connect(b"x.test", 80), 1080)
    )

    assert answer == b"\x05\x00"


def test_socks_bind_is_not_supported():
    answer, events = http(b"\x05\x01\x00\x05\x02\x00\x01\xc6\x33\x64\x0a\x00\x19", 1080)

    assert answer == b"\x05\x00\x05\x07\x00\x01" + bytes(6)
    assert events.of("proxy.request")[0]["outcome"] == "unsupported"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x05\x01\x00\x04\x01\x00\x01" + bytes(6), "socks-version"),
        (b"\x05\x01\x00", "truncated"),
        (b"\x04\x01\x00\x19\x01\x02", "truncated"),
        (b"\x05\x01\x01", "no-acceptable-method"),
        (b"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x19", "bad-host"),
    ],
)
def test_bad_socks_handshakes_are_recorded_and_closed(data, reason):
    answer, events = http(data, 1080)

    assert [event["reason"] for event in events.of("proxy.error")] == [reason]
    assert events.of("proxy.request") == []


# --- the blacklist -------------------------------------------------------------


def blacklisted(tmp_path, action: str, **more):
    path = tmp_path / "blacklist.jsonl"
    options = {"blacklist": {"action": action, "path": str(path), **more}}
    harness = Harness(options)
    first = run(exchange(harness, GET))
    assert first.startswith(b"HTTP/1.1 200 OK")
    return harness, path


def test_a_source_that_used_the_proxy_is_listed_on_disk(tmp_path):
    harness, path = blacklisted(tmp_path, "record", expiry=3600)

    [added] = harness.events.of("proxy.blacklist.added")
    [line] = [json.loads(text) for text in path.read_text().splitlines()]
    assert line["source"] == SPAMMER[0]
    assert line["reason"] == "http"
    assert line["expires"] == pytest.approx(added["expires"], abs=0.01)
    assert run(exchange(harness, GET)).startswith(b"HTTP/1.1 200 OK")


def test_a_listed_source_is_refused_at_once(tmp_path):
    harness, _ = blacklisted(tmp_path, "refuse")

    assert run(exchange(harness, GET)) == b""
    assert harness.events.of("proxy.blacklist.hit")[0]["action"] == "refuse"
    assert len(harness.events.of("proxy.request")) == 1


def test_a_listed_source_is_tarpitted(tmp_path):
    harness, _ = blacklisted(tmp_path, "tarpit", tarpit=0.2)

    async def client():
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await exchange(harness, GET)
        return answer, loop.time() - started

    answer, waited = run(client())
    assert answer == b""
    assert waited >= 0.2
    assert harness.events.of("proxy.blacklist.hit")[0]["action"] == "tarpit"


def test_an_expired_listing_lets_the_source_back(tmp_path):
    harness, _ = blacklisted(tmp_path, "refuse", expiry=0.05)

    async def later():
        await asyncio.sleep(0.1)
        return await exchange(harness, GET)

    assert run(later()).startswith(b"HTTP/1.1 200 OK")


def test_a_client_that_floods_a_silent_hold_is_no_longer_read():
    harness = Harness({"connect_other": "timeout", "hold": 0.2, "max_request": 4096})

    async def client():
        reader, writer = harness.connect()
        writer.write(b"CONNECT www.example.test:443 HTTP/1.0\r\n\r\n")
        for _ in range(64):
            writer.write(b"x" * 1024)
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        transport = writer.transport.other
        paused = not transport.is_reading()
        answer = await reader.read()
        return paused, answer

    paused, answer = run(client())

    assert paused
    assert answer == b""
