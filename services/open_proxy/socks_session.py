"""The SOCKS side of the proxy: the handshake of socks.py, and its answer.

The rules are the HTTP side's: a CONNECT to a relay port (25 and 587 by
default) opens the relay and is granted; any other port follows
`connect_other`. SOCKS has no status line to say "timed out", so `408`
answers "host unreachable" (RFC 1928 REP 4), `refuse` answers "connection
refused" (REP 5), and `timeout` says nothing until `hold` has passed. SOCKS
4 has one refusal code (91) for all of them. BIND and UDP ASSOCIATE get
"command not supported" (REP 7; 91 in SOCKS 4).

Each request is recorded as `proxy.request`, with the user id or the
username and password the client gave: those are the spammer's, recorded
as data, and never written to the diagnostic log.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from services.open_proxy import socks
from services.open_proxy.errors import ProxyProtocolError
from services.open_proxy.socks import SocksRequest, SocksServer

if TYPE_CHECKING:
    from services.open_proxy.connection import ProxyProtocol

# FreeBSD's and Linux's default ephemeral ranges overlap here.
EPHEMERAL = (49152, 60999)


class SocksSession:
    """One SOCKS client: its handshake, then a tunnel or a refusal."""

    def __init__(self, owner: ProxyProtocol) -> None:
        self.owner = owner
        self.settings = owner.settings
        self.socks = SocksServer(prefer_password=self.settings.prefer_password)
        self.request: SocksRequest | None = None

    @property
    def protocol_name(self) -> str:
        version = self.socks.version
        return f"socks{version}" if version else "socks"

    def incomplete(self) -> bool:
        return self.request is None

    def data_received(self, data: bytes) -> None:
        try:
            request = self.socks.receive(data)
        except ProxyProtocolError as error:
            self._flush()
            self.owner.fail(self.protocol_name, error.reason, error.detail)
            self.owner.close()
            return
        self._flush()
        if request is not None and self.request is None:
            self.request = request
            self._decide(request)
        elif self.request is not None:
            self.owner.limit_reading(len(self.socks.trailing))

    def eof_received(self) -> bool:
        if self.request is None:
            self.owner.fail(self.protocol_name, "truncated", self.socks.state)
            return False
        return True

    def connection_lost(self) -> None:
        pass

    # --- deciding ------------------------------------------------------------

    def _decide(self, request: SocksRequest) -> None:
        settings = self.settings
        connect = request.command == "connect"
        relay = connect and request.hop.port in settings.relay_ports
        if not connect:
            outcome = "unsupported"
        else:
            outcome = "relay" if relay else settings.connect_other
        self.owner.record_request(
            self.protocol_name,
            request.command.upper(),
            request.hop,
            relay,
            outcome,
            auth=request.method,
            user=request.user,
            password=request.password,
        )
        if not connect:
            self._refuse(socks.COMMAND_NOT_SUPPORTED)
        elif relay:
            self.owner.start_tunnel(request.hop, self._granted, self._failed)
        elif outcome == "timeout":
            self.owner.hold()
        else:
            self.owner.start_timer(settings.answer_delay, self._answer_other)

    def _answer_other(self) -> None:
        if self.settings.connect_other == "refuse":
            self._refuse(socks.CONNECTION_REFUSED)
        else:
            self._refuse(socks.HOST_UNREACHABLE)

    def _granted(self) -> bytes:
        self.socks.grant(self._bound())
        self._flush()
        return self.socks.trailing

    def _failed(self, error: OSError) -> None:
        self._refuse(socks.CONNECTION_REFUSED)

    def _refuse(self, code: int) -> None:
        self.socks.refuse(code)
        self._flush()
        self.owner.close()

    def _bound(self) -> tuple[str, int]:
        """The address and port our side of the connection would have."""
        context = self.owner.context
        port = random.Random(context.connection_id).randint(*EPHEMERAL)
        address = context.local[0]
        if ":" in address:
            return "0.0.0.0", port
        return address, port

    def _flush(self) -> None:
        self.owner.write(self.socks.outgoing())
