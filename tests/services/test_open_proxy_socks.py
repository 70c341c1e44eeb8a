"""The sans-IO SOCKS 4, 4a and 5 server of the open proxy."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.open_proxy import socks
from services.open_proxy.errors import ProxyProtocolError
from services.open_proxy.socks import SocksServer
from services.open_proxy.targets import NextHop

# Built by hand from the specifications, not by the code under test.
SOCKS4_CONNECT = b"\x04\x01\x00\x19\xc6\x33\x64\x1e" + b"spammer\x00"
SOCKS4A_CONNECT = b"\x04\x01\x00\x19\x00\x00\x00\x01" + b"\x00" + b"mx.example.test\x00"
SOCKS5_NONE = b"\x05\x01\x00"
SOCKS5_BOTH = b"\x05\x02\x00\x02"
SOCKS5_AUTH = b"\x01\x04user\x06secret"
SOCKS5_DOMAIN = b"\x05\x01\x00\x03\x0fmx.example.test\x00\x19"
SOCKS5_IPV4 = b"\x05\x01\x00\x01\xc6\x33\x64\x1e\x01\xbb"
SOCKS5_IPV6 = b"\x05\x01\x00\x04" + bytes(15) + b"\x01" + b"\x00\x19"


def feed(server: SocksServer, *messages: bytes):
    request = None
    for message in messages:
        request = server.receive(message)
    return request


def test_socks4_connect_with_a_user_id():
    server = SocksServer()
    request = feed(server, SOCKS4_CONNECT)

    assert request.version == "4"
    assert request.command == "connect"
    assert request.hop == NextHop("198.51.100.30", 25, "ipv4")
    assert request.user == "spammer"
    assert server.state == "REPLY"
    assert server.outgoing() == b""


def test_socks4a_carries_the_name_after_the_user_id():
    request = feed(SocksServer(), SOCKS4A_CONNECT)

    assert request.version == "4a"
    assert request.hop == NextHop("mx.example.test", 25, "name")
    assert request.user == ""


def test_socks4_grant_and_refusal_replies():
    server = SocksServer()
    feed(server, SOCKS4_CONNECT)
    server.grant(("198.51.100.20", 50000))

    assert server.outgoing() == b"\x00\x5a\xc3\x50\xc6\x33\x64\x14"
    assert server.state == "ESTABLISHED"

    refused = SocksServer()
    feed(refused, SOCKS4_CONNECT)
    refused.refuse()
    assert refused.outgoing() == b"\x00\x5b" + bytes(6)


def test_socks5_without_authentication():
    server = SocksServer()
    assert feed(server, SOCKS5_NONE) is None
    assert server.outgoing() == b"\x05\x00"
    assert server.state == "REQUEST"

    request = feed(server, SOCKS5_DOMAIN)
    assert request.version == "5"
    assert request.method == "none"
    assert request.hop == NextHop("mx.example.test", 25)


def test_socks5_prefers_password_so_credentials_are_given():
    server = SocksServer(prefer_password=True)
    feed(server, SOCKS5_BOTH)
    assert server.outgoing() == b"\x05\x02"
    assert server.state == "SUBNEGOTIATION"

    feed(server, SOCKS5_AUTH)
    assert server.outgoing() == b"\x01\x00"  # RFC 1929: success
    request = feed(server, SOCKS5_IPV4)

    assert (request.method, request.user, request.password) == (
        "password",
        "user",
        "secret",
    )
    assert request.hop == NextHop("198.51.100.30", 443, "ipv4")


def test_socks5_can_prefer_no_authentication():
    server = SocksServer(prefer_password=False)
    feed(server, SOCKS5_BOTH)

    assert server.outgoing() == b"\x05\x00"


def test_socks5_password_only_client_gets_password():
    server = SocksServer(prefer_password=False)
    feed(server, b"\x05\x01\x02")

    assert server.outgoing() == b"\x05\x02"


def test_socks5_ipv6_destination():
    request = feed(SocksServer(), SOCKS5_NONE, SOCKS5_IPV6)

    assert request.hop == NextHop("::1", 25, "ipv6")


def test_socks5_grant_names_the_bound_address():
    server = SocksServer()
    feed(server, SOCKS5_NONE, SOCKS5_DOMAIN)
    server.outgoing()
    server.grant(("198.51.100.20", 50000))

    assert server.outgoing() == b"\x05\x00\x00\x01\xc6\x33\x64\x14\xc3\x50"


@pytest.mark.parametrize(
    ("code", "reply"),
    [
        (socks.CONNECTION_REFUSED, b"\x05\x05"),
        (socks.HOST_UNREACHABLE, b"\x05\x04"),
        (socks.COMMAND_NOT_SUPPORTED, b"\x05\x07"),
    ],
)
def test_socks5_refusals(code, reply):
    server = SocksServer()
    feed(server, SOCKS5_NONE, SOCKS5_DOMAIN)
    server.outgoing()
    server.refuse(code)

    assert server.outgoing() == reply + b"\x00\x01" + bytes(6)
    assert server.state == "CLOSED"


def test_bind_and_udp_are_parsed_for_the_caller_to_refuse():
    bind = feed(
        SocksServer(), SOCKS5_NONE, b"\x05\x02\x00\x01" + bytes(4) + b"\x00\x19"
    )
    udp_zero = feed(SocksServer(), SOCKS5_NONE, b"\x05\x03\x00\x01" + bytes(6))
    udp = feed(SocksServer(), SOCKS5_NONE, b"\x05\x03\x00\x01\x01\x02\x03\x04\x00\x35")

    assert bind.command == "bind"
    assert udp.command == "udp-associate"
    assert udp_zero.hop == NextHop("0.0.0.0", 0, "ipv4")


def test_bytes_after_the_request_are_kept_for_the_tunnel():
    server = SocksServer()
    feed(server, SOCKS5_NONE, SOCKS5_DOMAIN + b"EHLO early\r\n")
    server.receive(b"MAIL FROM:<a@example.test>\r\n")

    assert server.trailing == b"EHLO early\r\nMAIL FROM:<a@example.test>\r\n"


# --- the peer's mistakes ---------------------------------------------------


def refused_with(messages, reason, reply=None):
    server = SocksServer()
    with pytest.raises(ProxyProtocolError) as caught:
        feed(server, *messages)
    assert caught.value.reason == reason
    assert server.state == "CLOSED"
    if reply is not None:
        assert server.outgoing().endswith(reply)


def test_an_unknown_version_is_refused():
    refused_with([b"\x06\x01\x00"], "socks-version")


def test_a_socks5_request_of_another_version_is_a_mismatch():
    refused_with([SOCKS5_NONE, b"\x04\x01\x00\x01" + bytes(6)], "socks-version")


def test_no_acceptable_method_gets_ff():
    refused_with([b"\x05\x01\x01"], "no-acceptable-method", b"\x05\xff")


def test_an_empty_method_list_is_refused():
    refused_with([b"\x05\x00"], "no-acceptable-method")


def test_a_bad_subnegotiation_version_fails_the_authentication():
    refused_with([SOCKS5_BOTH, b"\x05\x04user\x00"], "auth-version", b"\x01\x01")


def test_an_unknown_command_gets_command_not_supported():
    request = b"\x05\x09\x00\x01" + bytes(6)
    refused_with(
        [SOCKS5_NONE, request], "socks-command", b"\x05\x07\x00\x01" + bytes(6)
    )


def test_an_unknown_address_type_gets_address_type_not_supported():
    refused_with(
        [SOCKS5_NONE, b"\x05\x01\x00\x07abcdef"],
        "socks-address-type",
        b"\x05\x08\x00\x01" + bytes(6),
    )


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"\x05\x01\x00\x01\x01\x02\x03\x04\x00\x00", "bad-port"),
        (b"\x05\x01\x00\x03\x00\x00\x19", "bad-host"),
        (b"\x05\x01\x00\x03\x05a..b!\x00\x19", "bad-host"),
    ],
)
def test_absurd_socks5_destinations(request_bytes, reason):
    refused_with([SOCKS5_NONE, request_bytes], reason)


def test_socks4_port_zero_is_rejected_with_91():
    request = b"\x04\x01\x00\x00\xc6\x33\x64\x1e\x00"
    refused_with([request], "bad-port", b"\x00\x5b" + bytes(6))


def test_an_endless_socks4_user_id_is_cut_off():
    refused_with([b"\x04\x01\x00\x19\x01\x02\x03\x04" + b"u" * 300], "oversized")


def test_an_endless_socks4a_name_is_cut_off():
    refused_with([b"\x04\x01\x00\x19\x00\x00\x00\x01\x00" + b"n" * 300], "oversized")


def test_a_truncated_handshake_waits_for_more():
    server = SocksServer()
    for part in (b"\x05", b"\x01", b"\x00", b"\x05\x01\x00\x03\x0fmx.exa"):
        assert server.receive(part) is None
    assert server.state == "REQUEST"


# --- properties --------------------------------------------------------------


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({point % (len(data) + 1) for point in points})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_any_split_of_a_handshake_gives_the_same_request(points):
    handshake = SOCKS5_BOTH + SOCKS5_AUTH + SOCKS5_DOMAIN
    server = SocksServer()
    requests = [server.receive(part) for part in cut(handshake, points)]
    found = [request for request in requests if request is not None]

    assert len(found) == 1
    assert found[0].hop == NextHop("mx.example.test", 25)
    assert found[0].password == "secret"
    assert server.outgoing() == b"\x05\x02\x01\x00"


@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_but_the_peer_error(data):
    server = SocksServer()
    try:
        server.receive(data)
    except ProxyProtocolError:
        assert server.state == "CLOSED"


@given(
    st.sampled_from(["mx.example.test", "relay1.example.test", "a.test"]),
    st.integers(min_value=1, max_value=65535),
    st.text(alphabet="abcdefgh", max_size=20),
)
def test_socks4a_round_trip(host, port, user):
    message = struct.pack("!BBH", 4, 1, port) + b"\x00\x00\x00\x07"
    message += user.encode() + b"\x00" + host.encode() + b"\x00"
    request = feed(SocksServer(), message)

    assert (request.hop, request.user) == (NextHop(host, port), user)
