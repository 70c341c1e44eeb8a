"""Stand-ins for the services the open proxy hands traffic to, for its tests.

`StandInRelay` is aiosmtpd's SMTP server that claims the proxy's hand-off
(services/mail/handoff.py) the way the real relay does: it greets with the
requested name and records each message under the proxy's connection id
and the client's real address. The namespace tests bind it by dotted path
(`tests.services.test_open_proxy_standins:StandInRelay`), since `vnet run`
starts from the repository root. The module holds no tests.
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP

from vnet.service.api import ConnectionContext, Service

try:
    from services.mail.handoff import claim
except ImportError:  # a tree without the mail services: nothing to claim

    def claim():  # type: ignore[misc]
        return None


IDENT = "ESMTP Sendmail 8.14.4/8.14.4"


class Recorder:
    """An aiosmtpd handler that records each message as `test.smtp.message`."""

    def __init__(self, context: ConnectionContext, connection: str, client) -> None:
        self.context = context
        self.connection = connection
        self.client = client

    async def handle_DATA(self, server, session, envelope):
        self.context.environment.events.emit(
            "test.smtp.message",
            connection=self.connection,
            client=list(self.client),
            greeting_name=server.hostname,
            helo=session.host_name,
            sender=envelope.mail_from,
            recipients=envelope.rcpt_tos,
            size=len(envelope.content),
        )
        return "250 2.0.0 Message accepted for delivery"


class StandInRelay(Service):
    name = "stand-in-relay"

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        handoff = claim()
        if handoff is not None:
            name = handoff.greeting_name
            connection, client = handoff.proxy_connection, handoff.client
        else:
            name = context.host.name or context.host.address
            connection, client = context.connection_id, context.peer
        handler = Recorder(context, connection, client)
        return SMTP(handler, hostname=name, ident=IDENT)
