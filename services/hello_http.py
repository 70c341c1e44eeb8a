"""`hello-http`: the smallest HTTP/1.1 server, parsed with h11.

It answers every request with a short page (or `size` bytes of it) and
honours keep-alive and `Connection: close`. Tests use it to show that an
h11-based service runs unchanged over a virtual connection, and the
benchmarks use it to compare transactions per second through vnet's TCP with
the same service on the kernel's.
"""

from __future__ import annotations

import asyncio

import h11

from vnet.service.api import ConnectionContext, Service

MAX_REQUEST = 16 * 1024


class HelloProtocol(asyncio.Protocol):
    def __init__(self, context: ConnectionContext, body: bytes) -> None:
        self.context = context
        self.body = body
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.http.receive_data(data)
        self._serve()

    def eof_received(self) -> bool:
        self.http.receive_data(b"")
        self._serve()
        return False

    def _serve(self) -> None:
        assert self.transport is not None
        while not self.transport.is_closing():
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as error:
                self._answer(error.error_status_hint, b"bad request\n")
                self.transport.close()
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.Request):
                self._answer(200, self.body)
            elif isinstance(event, h11.ConnectionClosed):
                self.transport.close()
        self._next_cycle()

    def _answer(self, status: int, body: bytes) -> None:
        assert self.transport is not None
        if self.http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        # One write for the whole response, as a server would with writev.
        response = [
            self.http.send(event)
            for event in (
                h11.Response(status_code=status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            )
        ]
        self.transport.write(b"".join(response))

    def _next_cycle(self) -> None:
        assert self.transport is not None
        if self.http.our_state is h11.MUST_CLOSE:
            self.transport.close()
        elif self.http.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            self.http.start_next_cycle()
            if not self.transport.is_closing():
                self._serve()


class HelloHttp(Service):
    name = "hello-http"
    options_schema = {
        "type": "object",
        "properties": {"size": {"type": "integer", "minimum": 0, "maximum": 1 << 26}},
        "additionalProperties": False,
    }

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        size = int(self.options.get("size", 0))
        body = (b"hello from vnet\n" * (size // 16 + 1))[:size] if size else b"hello\n"
        return HelloProtocol(context, body)
