"""`echo`: sends back every byte it receives (RFC 862), then closes on EOF.

It is the smallest useful service: the tests and benchmarks use it to show
the transport carrying data both ways, and it is a template for new ones.
"""

from __future__ import annotations

import asyncio

from vnet.service.api import ConnectionContext, Service


class EchoProtocol(asyncio.Protocol):
    def __init__(self, context: ConnectionContext) -> None:
        self.context = context
        self.transport: asyncio.Transport | None = None
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.received += len(data)
        self.transport.write(data)

    def eof_received(self) -> bool:
        assert self.transport is not None
        self.transport.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.context.events.emit("echo.session.closed", bytes=self.received)


class Echo(Service):
    name = "echo"
    options_schema = {"type": "object", "additionalProperties": False}

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return EchoProtocol(context)
