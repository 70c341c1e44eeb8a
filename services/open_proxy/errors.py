"""The one error type for a peer's mistakes.

Everything a client can get wrong (a garbled request line, an absurd port,
a SOCKS greeting of the wrong version) raises `ProxyProtocolError` with a
short `reason` that goes into the `proxy.error` record. The connection
counts it, answers as the emulated proxy would, and closes. Any other
exception is a bug in this package.
"""

from __future__ import annotations


class ProxyProtocolError(Exception):
    """The peer sent something a proxy cannot accept."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
