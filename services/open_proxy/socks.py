"""SOCKS 4, 4a and 5, server side, without I/O.

The specifications:

- SOCKS 4: Ying-Da Lee, "SOCKS: A protocol for TCP proxy across
  firewalls". The client sends VN=4, CD, DSTPORT, DSTIP, USERID, NUL; the
  server answers VN=0 and CD=90 (granted) or 91 (rejected or failed).
- SOCKS 4a: Ying-Da Lee, "SOCKS 4A: A Simple Extension to SOCKS 4
  Protocol". DSTIP 0.0.0.x with x non-zero means a domain name follows the
  USERID's NUL, itself ended by NUL.
- SOCKS 5: RFC 1928 (method selection in section 3, requests in 4,
  addresses in 5, replies in 6), with the username/password
  sub-negotiation of RFC 1929 section 2.

What is emulated: the handshake up to the reply, for CONNECT. BIND and UDP
ASSOCIATE are parsed and then refused by the caller, since a honeypot that
never opens a real connection has nothing to bind. GSSAPI (RFC 1961) is not
offered: a client that offers nothing else is told that no method is
acceptable, which is what most deployed SOCKS servers say too.

When the client offers both "no authentication" and username/password,
`prefer_password` picks the latter, so that clients holding credentials
give them to us; every credential is accepted. The caller records them as
data; they are never logged.

`SocksServer` is fed bytes and returns a `SocksRequest` once one is whole.
Replies the handshake needs (the chosen method, the sub-negotiation status)
are queued and taken with `outgoing()`; so is the error reply queued before
a ProxyProtocolError is raised, so the caller sends it, then closes.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from dataclasses import dataclass

from services.open_proxy.errors import ProxyProtocolError
from services.open_proxy.targets import NextHop, next_hop

log = logging.getLogger(__name__)

# Nothing in a handshake needs more: SOCKS 5 names are at most 255 octets,
# and SOCKS 4 user ids have no limit in the protocol, so we set one.
MAX_FIELD = 255
MAX_BUFFER = 1024

SOCKS4_GRANTED = 90
SOCKS4_REJECTED = 91

METHOD_NONE = 0x00
METHOD_PASSWORD = 0x02
METHOD_UNACCEPTABLE = 0xFF

# RFC 1928 section 6, REP values.
SUCCEEDED = 0x00
GENERAL_FAILURE = 0x01
NOT_ALLOWED = 0x02
NETWORK_UNREACHABLE = 0x03
HOST_UNREACHABLE = 0x04
CONNECTION_REFUSED = 0x05
TTL_EXPIRED = 0x06
COMMAND_NOT_SUPPORTED = 0x07
ADDRESS_TYPE_NOT_SUPPORTED = 0x08

COMMANDS = {1: "connect", 2: "bind", 3: "udp-associate"}
SOCKS4_COMMANDS = {1: "connect", 2: "bind"}

# Where each state may go. Every change goes through SocksServer._change,
# which checks this table and logs the transition.
TRANSITIONS = {
    "VERSION": {"SOCKS4-REQUEST", "METHOD-SELECTION", "CLOSED"},
    "SOCKS4-REQUEST": {"REPLY", "CLOSED"},
    "METHOD-SELECTION": {"SUBNEGOTIATION", "REQUEST", "CLOSED"},
    "SUBNEGOTIATION": {"REQUEST", "CLOSED"},
    "REQUEST": {"REPLY", "CLOSED"},
    "REPLY": {"ESTABLISHED", "CLOSED"},
    "ESTABLISHED": {"CLOSED"},
    "CLOSED": set(),
}


@dataclass(frozen=True)
class SocksRequest:
    """A whole request: `version` is "4", "4a" or "5"."""

    version: str
    command: str
    hop: NextHop
    method: str = "none"
    user: str | None = None
    password: str | None = None


class SocksServer:
    """One client's SOCKS handshake, from its first byte to our reply."""

    def __init__(self, prefer_password: bool = True) -> None:
        self.prefer_password = prefer_password
        self.state = "VERSION"
        self.version: str | None = None
        self.method = "none"
        self.user: str | None = None
        self.password: str | None = None
        self._buffer = bytearray()
        self._out = bytearray()
        self._request: SocksRequest | None = None

    # --- in ------------------------------------------------------------

    def receive(self, data: bytes) -> SocksRequest | None:
        """Take bytes; the request once it is whole, else None."""
        if self.state in ("REPLY", "ESTABLISHED", "CLOSED"):
            self._buffer += data
            return None
        self._buffer += data
        try:
            return self._advance()
        except ProxyProtocolError:
            self._change("CLOSED")
            raise

    @property
    def trailing(self) -> bytes:
        """Bytes the client sent after its request, before our reply."""
        return bytes(self._buffer)

    def _advance(self) -> SocksRequest | None:
        while self._request is None:
            step = self._steps[self.state]
            if not step(self):
                if len(self._buffer) > MAX_BUFFER:
                    raise ProxyProtocolError("oversized", f"{len(self._buffer)}")
                return None
        return self._request

    def _version(self) -> bool:
        if not self._buffer:
            return False
        first = self._buffer[0]
        if first == 4:
            self._change("SOCKS4-REQUEST")
        elif first == 5:
            self.version = "5"
            self._change("METHOD-SELECTION")
        else:
            raise ProxyProtocolError("socks-version", f"{first}")
        return True

    def _socks4_request(self) -> bool:
        try:
            parsed = parse_socks4(self._buffer)
        except ProxyProtocolError:
            self._out += socks4_reply(SOCKS4_REJECTED)
            raise
        if parsed is None:
            return False
        request, used = parsed
        del self._buffer[:used]
        self.version = request.version
        self.user = request.user
        self._request = request
        self._change("REPLY")
        return True

    def _method_selection(self) -> bool:
        methods = parse_greeting(self._buffer)
        if methods is None:
            return False
        del self._buffer[: 2 + len(methods)]
        chosen = self._choose(methods)
        self._out += bytes((5, chosen))
        if chosen == METHOD_UNACCEPTABLE:
            raise ProxyProtocolError("no-acceptable-method", methods.hex())
        if chosen == METHOD_PASSWORD:
            self.method = "password"
            self._change("SUBNEGOTIATION")
        else:
            self._change("REQUEST")
        return True

    def _choose(self, methods: bytes) -> int:
        if METHOD_PASSWORD in methods and self.prefer_password:
            return METHOD_PASSWORD
        if METHOD_NONE in methods:
            return METHOD_NONE
        if METHOD_PASSWORD in methods:
            return METHOD_PASSWORD
        return METHOD_UNACCEPTABLE

    def _subnegotiation(self) -> bool:
        try:
            parsed = parse_password_auth(self._buffer)
        except ProxyProtocolError:
            self._out += b"\x01\x01"
            raise
        if parsed is None:
            return False
        self.user, self.password, used = parsed
        del self._buffer[:used]
        # RFC 1929 section 2: STATUS 0 is success; every credential is.
        self._out += b"\x01\x00"
        self._change("REQUEST")
        return True

    def _socks5_request(self) -> bool:
        try:
            parsed = parse_socks5_request(self._buffer)
        except ProxyProtocolError as error:
            self._out += socks5_reply(_failure_code(error))
            raise
        if parsed is None:
            return False
        command, hop, used = parsed
        del self._buffer[:used]
        self._request = SocksRequest(
            "5", command, hop, self.method, self.user, self.password
        )
        self._change("REPLY")
        return True

    _steps = {
        "VERSION": _version,
        "SOCKS4-REQUEST": _socks4_request,
        "METHOD-SELECTION": _method_selection,
        "SUBNEGOTIATION": _subnegotiation,
        "REQUEST": _socks5_request,
    }

    # --- out -----------------------------------------------------------

    def outgoing(self) -> bytes:
        """What to send the client now."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def grant(self, bound: tuple[str, int]) -> None:
        """Queue the success reply; the tunnel starts after it."""
        if self.version == "5":
            self._out += socks5_reply(SUCCEEDED, bound)
        else:
            self._out += socks4_reply(SOCKS4_GRANTED, bound)
        self._change("ESTABLISHED")

    def refuse(self, code: int = CONNECTION_REFUSED) -> None:
        """Queue a refusal (an RFC 1928 REP code; SOCKS 4 has only one)."""
        if self.version == "5":
            self._out += socks5_reply(code)
        else:
            self._out += socks4_reply(SOCKS4_REJECTED)
        self._change("CLOSED")

    def _change(self, state: str) -> None:
        if state == self.state:
            return
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"SOCKS: no transition {self.state} -> {state}")
        log.debug("SOCKS %s -> %s", self.state, state)
        self.state = state


# --- messages ------------------------------------------------------------


def parse_socks4(buffer: bytes | bytearray) -> tuple[SocksRequest, int] | None:
    """A SOCKS 4 or 4a request and its length, or None if incomplete."""
    if len(buffer) < 9:
        return None
    version, code, port = struct.unpack_from("!BBH", buffer)
    if version != 4:
        raise ProxyProtocolError("socks-version", f"{version}")
    address = bytes(buffer[4:8])
    user_end = _nul(buffer, 8)
    if user_end is None:
        return None
    user = _text(buffer[8:user_end])
    end = user_end + 1

    host = str(ipaddress.IPv4Address(address))
    version_name = "4"
    if address[:3] == b"\0\0\0" and address[3]:
        name_end = _nul(buffer, end)
        if name_end is None:
            return None
        host = _text(buffer[end:name_end])
        end = name_end + 1
        version_name = "4a"

    command = SOCKS4_COMMANDS.get(code)
    if command is None:
        raise ProxyProtocolError("socks-command", f"{code}")
    hop = next_hop(host, port)
    return SocksRequest(version_name, command, hop, user=user), end


def parse_greeting(buffer: bytes | bytearray) -> bytes | None:
    """The methods a SOCKS 5 client offers (RFC 1928 section 3)."""
    if len(buffer) < 2:
        return None
    version, count = buffer[0], buffer[1]
    if version != 5:
        raise ProxyProtocolError("socks-version", f"{version}")
    if count == 0:
        raise ProxyProtocolError("no-acceptable-method", "none offered")
    if len(buffer) < 2 + count:
        return None
    return bytes(buffer[2 : 2 + count])


def parse_password_auth(
    buffer: bytes | bytearray,
) -> tuple[str, str, int] | None:
    """RFC 1929 section 2: VER=1, ULEN, UNAME, PLEN, PASSWD."""
    if len(buffer) < 2:
        return None
    if buffer[0] != 1:
        raise ProxyProtocolError("auth-version", f"{buffer[0]}")
    user_length = buffer[1]
    if len(buffer) < 3 + user_length:
        return None
    password_length = buffer[2 + user_length]
    end = 3 + user_length + password_length
    if len(buffer) < end:
        return None
    user = _text(buffer[2 : 2 + user_length])
    password = _text(buffer[3 + user_length : end])
    return user, password, end


def parse_socks5_request(
    buffer: bytes | bytearray,
) -> tuple[str, NextHop, int] | None:
    """RFC 1928 sections 4 and 5: the command and its destination."""
    if len(buffer) < 5:
        if buffer and buffer[0] != 5:
            raise ProxyProtocolError("socks-version", f"{buffer[0]}")
        return None
    version, code, _reserved, address_type = struct.unpack_from("!BBBB", buffer)
    if version != 5:
        raise ProxyProtocolError("socks-version", f"{version}")
    if address_type == 1:
        end = 4 + 4
        host = _ipv4_text(buffer, 4, end)
    elif address_type == 3:
        end = 5 + buffer[4]
        host = _text(buffer[5:end]) if len(buffer) >= end else ""
    elif address_type == 4:
        end = 4 + 16
        host = _ipv6_text(buffer, 4, end)
    else:
        raise ProxyProtocolError("socks-address-type", f"{address_type}")
    if len(buffer) < end + 2:
        return None
    command = COMMANDS.get(code)
    if command is None:
        raise ProxyProtocolError("socks-command", f"{code}")
    (port,) = struct.unpack_from("!H", buffer, end)
    if command == "udp-associate" and address_type != 3:
        # RFC 1928 section 7: a client that does not know the address it
        # will send from gives zeros; there is no next hop to check.
        kind = "ipv4" if address_type == 1 else "ipv6"
        return command, NextHop(host, port, kind), end + 2
    return command, next_hop(host, port), end + 2


def socks4_reply(code: int, bound: tuple[str, int] = ("0.0.0.0", 0)) -> bytes:
    address = ipaddress.IPv4Address(bound[0]).packed
    return struct.pack("!BBH", 0, code, bound[1]) + address


def socks5_reply(code: int, bound: tuple[str, int] = ("0.0.0.0", 0)) -> bytes:
    address = ipaddress.ip_address(bound[0])
    address_type = 1 if address.version == 4 else 4
    header = struct.pack("!BBBB", 5, code, 0, address_type)
    return header + address.packed + struct.pack("!H", bound[1])


def _failure_code(error: ProxyProtocolError) -> int:
    return {
        "socks-command": COMMAND_NOT_SUPPORTED,
        "socks-address-type": ADDRESS_TYPE_NOT_SUPPORTED,
        "bad-host": HOST_UNREACHABLE,
    }.get(error.reason, GENERAL_FAILURE)


def _nul(buffer: bytes | bytearray, start: int) -> int | None:
    end = buffer.find(b"\0", start)
    if end < 0:
        _check_field_bound(buffer, start)
        return None
    if end - start > MAX_FIELD:
        raise ProxyProtocolError("oversized", f"field of {end - start} octets")
    return end


def _check_field_bound(buffer: bytes | bytearray, start: int) -> None:
    if len(buffer) - start > MAX_FIELD:
        raise ProxyProtocolError("oversized", f"field of {len(buffer) - start}+")


def _text(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", "backslashreplace")


def _ipv4_text(buffer: bytes | bytearray, start: int, end: int) -> str:
    if len(buffer) < end:
        return ""
    return str(ipaddress.IPv4Address(bytes(buffer[start:end])))


def _ipv6_text(buffer: bytes | bytearray, start: int, end: int) -> str:
    if len(buffer) < end:
        return ""
    return str(ipaddress.IPv6Address(bytes(buffer[start:end])))
