"""Domain names as the zones keep them, and the reverse (in-addr.arpa) tree.

A name is a tuple of its labels as bytes, lowercased, leftmost first, with
the root left implicit: `www.example.test` is (b"www", b"example", b"test").
That is the form dnslib's DNSLabel holds, so a question's name converts by
lowering each label, and comparisons are case-insensitive as RFC 1035
section 2.3.3 requires, without touching the case a client asked in.
"""

from __future__ import annotations

import ipaddress

from dnslib import DNSLabel

Name = tuple[bytes, ...]

ROOT: Name = ()
REVERSE: Name = (b"in-addr", b"arpa")

# RFC 1035 section 2.3.4: 63 octets a label, 255 a name on the wire.
MAX_LABEL = 63
MAX_NAME = 255


def name(text: str | DNSLabel) -> Name:
    """The name `text` (`www.example.test`, trailing dot optional)."""
    label = text if isinstance(text, DNSLabel) else DNSLabel(text)
    return tuple(part.lower() for part in label.label)


def text(labels: Name | DNSLabel) -> str:
    """A name in presentation form, escaping what is not printable.

    A dot or backslash inside a label is escaped too, so a name built to
    confuse a log reader (`a.b` as one label) reads as what it is.
    """
    if isinstance(labels, DNSLabel):
        labels = labels.label
    return ".".join(_label_text(label) for label in labels) + "."


def _label_text(label: bytes) -> str:
    parts = []
    for byte in label:
        if byte in (0x2E, 0x5C):
            parts.append("\\" + chr(byte))
        elif 0x21 <= byte <= 0x7E:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03d}")
    return "".join(parts)


def is_under(labels: Name, origin: Name) -> bool:
    """True if `labels` is `origin` or a name below it."""
    if len(labels) < len(origin):
        return False
    return labels[len(labels) - len(origin) :] == origin


def parent(labels: Name) -> Name:
    return labels[1:]


def ancestors(labels: Name, origin: Name) -> list[Name]:
    """The names strictly between `labels` and `origin`, nearest first."""
    found = []
    current = labels[1:]
    while len(current) > len(origin):
        found.append(current)
        current = current[1:]
    return found


def reverse_name(address: int) -> Name:
    """`198.51.100.7` -> 7.100.51.198.in-addr.arpa (RFC 1035 section 3.5)."""
    octets = address.to_bytes(4, "big")
    return tuple(str(octet).encode() for octet in reversed(octets)) + REVERSE


def reverse_zone(network: int, prefix_length: int) -> Name:
    """The in-addr.arpa zone of an octet-aligned network (/8, /16, /24)."""
    count = prefix_length // 8
    octets = network.to_bytes(4, "big")[:count]
    return tuple(str(octet).encode() for octet in reversed(octets)) + REVERSE


def reverse_prefix(labels: Name) -> tuple[int, int] | None:
    """The octets a reverse name spells: (value, count), or None.

    `100.51.198.in-addr.arpa` is (198.51.100.0 as an int, 3). Labels that
    are not decimal octets in 0..255, written without leading zeros, make
    it None: such a name cannot exist in the reverse tree.
    """
    if not is_under(labels, REVERSE):
        return None
    octets = labels[: len(labels) - len(REVERSE)]
    if len(octets) > 4:
        return None
    value = 0
    for label in reversed(octets):
        if not label.isdigit() or (len(label) > 1 and label[0:1] == b"0"):
            return None
        octet = int(label)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value << 8 * (4 - len(octets)), len(octets)


def format_address(address: int) -> str:
    return str(ipaddress.IPv4Address(address))


def parse_address(text: str) -> int:
    return int(ipaddress.IPv4Address(text))
