"""Services that exist only for the tests, bound by dotted path.

`vnet run` inside a namespace imports them as `tests.service.fixtures:NAME`,
since it runs from the repository root.
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP

from vnet.service.api import ConnectionContext, DatagramContext, Service


class Explode(Service):
    """Raises on the first byte a peer sends: a bug in a service."""

    name = "explode"

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        class Exploding(asyncio.Protocol):
            def connection_made(self, transport):
                transport.write(b"ready\n")

            def data_received(self, data):
                raise RuntimeError("a bug in the service")

        return Exploding()


class UdpEcho(Service):
    """Sends every datagram back, upper-cased."""

    name = "udp-echo"
    handles_udp = True

    def datagram_received(self, context: DatagramContext, data: bytes) -> None:
        context.environment.events.emit("udp.echoed", peer=context.peer[0])
        context.reply(data.upper())


class Forward(Service):
    """Connects to `target` (host, port) through open_connection and relays."""

    name = "forward"
    options_schema = {
        "type": "object",
        "properties": {"host": {"type": "string"}, "port": {"type": "integer"}},
        "required": ["host", "port"],
    }

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return Forwarding(context)


class Forwarding(asyncio.Protocol):
    def __init__(self, context: ConnectionContext) -> None:
        self.context = context
        self.writer: asyncio.StreamWriter | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        options = self.context.options
        reader, self.writer = await self.context.open_connection(
            options["host"], options["port"]
        )
        for data in self.early:
            self.writer.write(data)
        while data := await reader.read(65536):
            self.transport.write(data)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.writer is None:
            self.early.append(data)
        else:
            self.writer.write(data)

    def eof_received(self) -> bool:
        if self.writer is not None:
            self.writer.write_eof()
        return True


class MailCatcher:
    """An aiosmtpd handler that records each message as an event."""

    def __init__(self, context: ConnectionContext) -> None:
        self.context = context

    async def handle_DATA(self, server, session, envelope):
        self.context.events.emit(
            "test.mail",
            sender=envelope.mail_from,
            recipients=envelope.rcpt_tos,
            size=len(envelope.content),
        )
        return "250 OK"


class Smtp(Service):
    """aiosmtpd's SMTP protocol, unchanged, over a virtual connection."""

    name = "aiosmtpd"

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return SMTP(MailCatcher(context), hostname="mx.example.test")
