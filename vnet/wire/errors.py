"""The one error type for bytes from the network that do not decode.

A peer's garbage is not our bug: every parser in `vnet.wire` raises
`MalformedFrame` for it, and nothing else, so the caller can count the frame
and drop it. Misuse of an encoder by our own code raises `ValueError`.
"""


class MalformedFrame(Exception):
    """Bytes from a peer that are not a valid frame, packet, segment or datagram."""

    def __init__(self, protocol: str, reason: str) -> None:
        # Both parts go to Exception so that the error pickles and copies intact.
        super().__init__(protocol, reason)
        self.protocol = protocol
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.protocol}: {self.reason}"
