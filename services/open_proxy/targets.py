"""The next hop a client asks the proxy for, checked before anything uses it.

An HTTP client names it as an authority (`CONNECT mx.example.test:25`, RFC
9110 section 9.3.6 and RFC 3986 section 3.2) or inside an absolute URI
(`GET http://www.example.test/ HTTP/1.1`, RFC 9112 section 3.2.2); a SOCKS
client names it as an address or a domain name and a port. Either way it
becomes a `NextHop`: a lower-case host name (RFC 1123 section 2.1 labels),
a dotted IPv4 address, or an IPv6 address, and a port from 1 to 65535.

Anything else is an absurd target and raises ProxyProtocolError: an empty
host, a label over 63 octets, a name over 253, a number that is not a
dotted quad, port 0 or 65536 and up. Underscores are let through in names,
because real resolvers and proxies pass them and spammers' lists have them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.open_proxy.errors import ProxyProtocolError

MAX_NAME = 253
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


@dataclass(frozen=True)
class NextHop:
    """Where the client wants to go: `kind` is name, ipv4 or ipv6."""

    host: str
    port: int
    kind: str = "name"

    def __str__(self) -> str:
        if self.kind == "ipv6":
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class AbsoluteUrl:
    """An absolute URI split into what the proxy needs."""

    scheme: str
    hop: NextHop
    path: str

    @property
    def authority(self) -> str:
        """`host[:port]`, the port only where it is not the scheme's own."""
        default = DEFAULT_PORTS.get(self.scheme)
        host = f"[{self.hop.host}]" if self.hop.kind == "ipv6" else self.hop.host
        return host if self.hop.port == default else f"{host}:{self.hop.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}"


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ProxyProtocolError("bad-port", str(port))
    return port


def parse_port(text: str) -> int:
    # int() would take "+25", " 25" and "2_5"; a port is plain digits.
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise ProxyProtocolError("bad-port", text[:32])
    return check_port(int(text))


def parse_host(text: str) -> tuple[str, str]:
    """A checked host and its kind; raises ProxyProtocolError."""
    if text.startswith("[") and text.endswith("]"):
        return _ipv6(text[1:-1]), "ipv6"
    host = text.lower().removesuffix(".")
    if not host:
        raise ProxyProtocolError("bad-host", "empty")
    if all(part.isdigit() for part in host.split(".")):
        return _ipv4(host), "ipv4"
    if len(host) > MAX_NAME:
        raise ProxyProtocolError("bad-host", f"{len(host)} octets")
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ProxyProtocolError("bad-host", text[:64])
    if labels[-1].isdigit():
        raise ProxyProtocolError("bad-host", text[:64])
    return host, "name"


def next_hop(host: str, port: int) -> NextHop:
    """A NextHop from a host as SOCKS gives it (no brackets) and a port."""
    if ":" in host:
        return NextHop(_ipv6(host), check_port(port), "ipv6")
    checked, kind = parse_host(host)
    return NextHop(checked, check_port(port), kind)


def parse_authority(text: str, default_port: int | None = None) -> NextHop:
    """`host:port` or `[v6]:port`, as in a CONNECT request line."""
    if text.startswith("["):
        closing = text.find("]")
        if closing < 0:
            raise ProxyProtocolError("bad-host", text[:64])
        host_text, rest = text[: closing + 1], text[closing + 1 :]
        if rest and not rest.startswith(":"):
            raise ProxyProtocolError("bad-host", text[:64])
        port_text = rest[1:] if rest else ""
    else:
        host_text, colon, port_text = text.rpartition(":")
        if not colon:
            host_text, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ProxyProtocolError("bad-port", "missing")
        port = default_port
    else:
        port = parse_port(port_text)
    host, kind = parse_host(host_text)
    return NextHop(host, port, kind)


def parse_absolute_url(target: str) -> AbsoluteUrl:
    """An absolute URI as an HTTP proxy receives it."""
    try:
        parts = urlsplit(target)
    except ValueError as error:
        raise ProxyProtocolError("bad-url", str(error)) from None
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc:
        raise ProxyProtocolError("relative-url", target[:64])
    authority = parts.netloc.rpartition("@")[2]
    hop = parse_authority(authority, DEFAULT_PORTS.get(scheme, 80))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return AbsoluteUrl(scheme, hop, path)


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise ProxyProtocolError("bad-host", text[:64]) from None


def _ipv6(text: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise ProxyProtocolError("bad-host", text[:64]) from None
