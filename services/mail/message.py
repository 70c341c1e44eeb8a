"""A received message as it is kept and as it is passed on.

What is kept is the client's message, byte for byte, after trace headers
that record everything the analysis needs: the envelope (RFC 5321 section
4.4 Return-Path, and one X-Original-To per recipient as Postfix writes it),
the peer, the HELO name, the time, the connection id and the queue id, in
`X-Vnet-*` fields, then the Received line that sendmail itself would add.

What is passed on, for the one probe that is really delivered, is the
client's message with only that Received line in front: the spammer sees
what a real relay would have added, and nothing that names the honeypot.

Header values that came from the client are written with control and
non-ASCII characters escaped, so that a hostile HELO cannot inject header
lines into the stored message.
"""

from __future__ import annotations

import email.errors
import email.header
import email.parser
import email.policy
from dataclasses import dataclass, field

from services.mail.dialect import rfc5322_date

# Enough of the message to find its headers; a header block larger than this
# is not parsed further (sendmail itself stops at 32 KiB of headers).
HEADER_SCAN = 64 * 1024


@dataclass
class Arrival:
    """Everything known about one message when its DATA ends."""

    queue_id: str
    sender: str
    recipients: list[str]
    content: bytes
    peer: tuple[str, int]
    source: tuple[str, int]
    helo: str | None
    esmtp: bool
    connection: str
    host_name: str
    host_address: str
    version: str
    now: float
    utc_offset_minutes: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def header_safe(text: str) -> str:
    """A client's text made safe for one header line."""
    out = []
    for character in text:
        code = ord(character)
        if 32 <= code < 127:
            out.append(character)
        else:
            out.append(f"\\x{code & 0xFF:02x}" if code < 256 else f"\\u{code:04x}")
    return "".join(out)


def received_line(arrival: Arrival) -> bytes:
    """The Received field sendmail adds, folded as sendmail folds it."""
    helo = header_safe(arrival.helo or arrival.peer[0])
    protocol = "ESMTP" if arrival.esmtp else "SMTP"
    date = rfc5322_date(arrival.now, arrival.utc_offset_minutes)
    text = (
        f"Received: from {helo} ([{arrival.peer[0]}])\r\n"
        f"\tby {arrival.host_name} ({arrival.version}) with {protocol}"
        f" id {arrival.queue_id}"
    )
    if len(arrival.recipients) == 1:
        text += f"\r\n\tfor <{header_safe(arrival.recipients[0])}>"
    return f"{text}; {date}\r\n".encode("ascii")


def stored_form(arrival: Arrival, original_recipients: bool = False) -> bytes:
    """The bytes that go into the Maildir."""
    lines = [f"Return-Path: <{header_safe(arrival.sender)}>"]
    if original_recipients:
        lines += [f"X-Original-To: {header_safe(r)}" for r in arrival.recipients]
    peer = f"{arrival.peer[0]}:{arrival.peer[1]}"
    lines += [
        f"X-Vnet-Queue-Id: {arrival.queue_id}",
        f"X-Vnet-Connection: {arrival.connection}",
        f"X-Vnet-Peer: {peer}",
        f"X-Vnet-Helo: {header_safe(arrival.helo or '')}",
        f"X-Vnet-Host: {arrival.host_address} {arrival.host_name}",
        f"X-Vnet-Envelope-From: <{header_safe(arrival.sender)}>",
    ]
    lines += [f"X-Vnet-Envelope-To: <{header_safe(r)}>" for r in arrival.recipients]
    lines += [
        f"X-Vnet-{name}: {header_safe(value)}" for name, value in arrival.extra.items()
    ]
    lines.append(f"X-Vnet-Received-At: {arrival.now:.6f}")
    head = "".join(line + "\r\n" for line in lines).encode("ascii")
    return head + received_line(arrival) + arrival.content


def forwarded_form(arrival: Arrival) -> bytes:
    """The bytes that a forwarded probe carries."""
    return received_line(arrival) + arrival.content


@dataclass(frozen=True)
class Summary:
    """What the record says about a message's own headers."""

    subject: str | None
    message_id: str | None


def summarize(content: bytes) -> Summary:
    """Subject and Message-ID, decoded where they are MIME-encoded."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    headers = parser.parsebytes(content[:HEADER_SCAN])
    return Summary(
        _decoded(headers.get("Subject")), _decoded(headers.get("Message-ID"))
    )


def _decoded(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return text
