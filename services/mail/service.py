"""What the relay and the sink share: options, the Maildir, one session each.

A `SendmailService` is a vnet Service. It is made once per topology
binding, opens its Maildir (and, with STARTTLS, its certificate) at start,
and makes a `SendmailSession` for each connection. The host name a session
greets with is, in order: the name a proxy handed over (see handoff.py),
the `hostname` option, the virtual host's name, `localhost.localdomain`.
The version is the `version` option, or the one the host's personality
would ship (dialect.version_for).

Each session's events carry the connection id; a session handed over by
the proxy carries the proxy's connection id instead, with the relay's own
as `relay_connection`, and the proxy client as the peer.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from services.mail import handoff as handoffs
from services.mail.dialect import SendmailDialect, queue_id, version_for
from services.mail.handoff import Handoff
from services.mail.message import Arrival, summarize
from services.mail.session import MailService, SendmailSession, SessionSetup
from services.mail.store import MaildirStore
from vnet.service.api import (
    BoundEvents,
    ConnectionContext,
    Environment,
    Service,
    ServiceError,
)

DEFAULT_HOSTNAME = "localhost.localdomain"

COMMON_OPTIONS: dict[str, Any] = {
    "hostname": {
        "type": "string",
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9.-]*$",
        "description": "The name in the greeting; default: the host's name.",
    },
    "version": {
        "type": "string",
        "pattern": r"^8\.[0-9]+\.[0-9]+/8\.[0-9]+\.[0-9]+(/[!-~]+)?$",
        "description": "e.g. 8.14.4/8.14.4/Debian-4; default: by personality.",
    },
    "utc_offset": {"type": "integer", "minimum": -720, "maximum": 840},
    "greeting_delay": {
        "type": "array",
        "items": {"type": "number", "minimum": 0, "maximum": 30},
        "minItems": 2,
        "maxItems": 2,
        "description": "[low, high] seconds; each greeting waits a random time.",
    },
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
    "max_message_size": {"type": "integer", "minimum": 1024},
    "max_recipients": {"type": "integer", "minimum": 1, "maximum": 10000},
    "maildir": {
        "type": "string",
        "minLength": 1,
        "description": "The Maildir; relative paths are under the state dir.",
    },
    "starttls": {"type": "boolean"},
    "auth": {
        "type": "array",
        "items": {"enum": ["LOGIN", "PLAIN", "CRAM-MD5"]},
        "uniqueItems": True,
    },
    "auth_accept": {"type": "boolean"},
    "reject_early_talkers": {"type": "boolean"},
}


class SendmailService(Service, MailService):
    """A mail server in sendmail's dialect; subclasses decide what to accept."""

    default_maildir: ClassVar[str] = "mail"
    default_auth: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        self.maildir = os.path.join(
            environment.state_dir, options.get("maildir", self.default_maildir)
        )
        try:
            self.store = MaildirStore(self.maildir)
        except OSError as error:
            raise ServiceError(
                f"{self.name}: Maildir {self.maildir}: {error}"
            ) from None
        self._tls_context = self._make_tls() if options.get("starttls") else None
        self._queue_numbers = itertools.count()
        self._random = random.Random()
        self._names = _host_names(environment.topology)
        self.tasks: set[asyncio.Task] = set()

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return self.protocol_for(context, handoffs.claim())

    def protocol_for(
        self, context: ConnectionContext, handoff: Handoff | None = None
    ) -> asyncio.Protocol:
        """The session for `context`, as handed over by a proxy if given."""
        return SendmailSession(self.setup_for(context, handoff))

    def setup_for(
        self, context: ConnectionContext, handoff: Handoff | None
    ) -> SessionSetup:
        options = self.options
        hostname = (
            (handoff.greeting_name if handoff else None)
            or options.get("hostname")
            or context.host.name
            or DEFAULT_HOSTNAME
        )
        dialect = SendmailDialect(
            hostname=hostname,
            version=options.get("version") or version_for(context.host.personality),
            utc_offset_minutes=options.get("utc_offset", 0),
        )
        peer = handoff.via if handoff else context.peer
        events, extra, open_fields = self._identity(context, handoff)
        return SessionSetup(
            dialect=dialect,
            mail=self,
            events=events,
            connection_id=extra["Connection"],
            peer=peer,
            source=handoff.client if handoff else context.peer,
            client_name=self._client_name(peer[0]),
            host_address=context.host.address,
            size_limit=options.get("max_message_size", 10 * 1024 * 1024),
            max_recipients=options.get("max_recipients", 100),
            timeout=options.get("timeout", 300.0),
            greeting_delay=tuple(options.get("greeting_delay", (0.2, 1.0))),
            reject_early_talkers=options.get("reject_early_talkers", False),
            auth_mechanisms=tuple(options.get("auth", self.default_auth)),
            auth_accept=options.get("auth_accept", True),
            tls_context=self._tls_context,
            queue_id=self._next_queue_id,
            clock=self.environment.clock,
            random=self._random,
            extra_fields={k: v for k, v in extra.items() if k != "Connection"},
            open_fields=open_fields,
        )

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.store.close()

    # --- MailService, for subclasses ------------------------------------------

    def recipient_refusal(self, address: str) -> str | None:
        raise NotImplementedError

    def receive(self, arrival: Arrival, events: BoundEvents) -> None:
        raise NotImplementedError

    # --- helpers ----------------------------------------------------------------

    def _identity(
        self, context: ConnectionContext, handoff: Handoff | None
    ) -> tuple[BoundEvents, dict[str, str], dict[str, Any]]:
        """The session's events emitter, its X-Vnet headers, its open fields."""
        if handoff is None:
            return context.events, {"Connection": context.connection_id}, {}
        events = BoundEvents(
            self.environment.events,
            connection=handoff.proxy_connection,
            peer=handoff.client[0],
            peer_port=handoff.client[1],
            host=context.host.address,
            port=context.local[1],
            service=context.service,
        )
        client = f"{handoff.client[0]}:{handoff.client[1]}"
        proxy = f"{handoff.via[0]}:{handoff.via[1]}"
        extra = {
            "Connection": handoff.proxy_connection,
            "Relay-Connection": context.connection_id,
            "Client": client,
            "Proxy": proxy,
        }
        fields = {
            "relay_connection": context.connection_id,
            "proxy": proxy,
            "greeting_name": handoff.greeting_name,
        }
        return events, extra, fields

    def _client_name(self, address: str) -> str:
        """How sendmail names a client: its host name, if known, and [ip]."""
        name = self._names.get(address)
        return f"{name} [{address}]" if name else f"[{address}]"

    def _next_queue_id(self, now: float) -> str:
        return queue_id(now, next(self._queue_numbers), os.getpid())

    def _make_tls(self) -> Any:
        from services.mail.tls import server_context

        hostname = self.options.get("hostname") or "localhost.localdomain"
        directory = os.path.join(self.maildir, "..", "tls")
        try:
            return server_context(os.path.normpath(directory), hostname)
        except ImportError as error:
            raise ServiceError(f"{self.name}: STARTTLS needs {error.name}") from None
        except OSError as error:
            raise ServiceError(f"{self.name}: certificate: {error}") from None


def _host_names(topology: Any) -> dict[str, str]:
    """Address -> name for the topology's named single hosts."""
    names: dict[str, str] = {}
    for host in getattr(topology, "hosts", ()):
        if host.name and host.first == host.last:
            names[_dotted(host.first)] = host.name
    return names


def _dotted(address: int) -> str:
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def record_stored(events: BoundEvents, arrival: Arrival, path: str) -> None:
    """`smtp.message.stored`: what was kept, and where, for the report."""
    summary = summarize(arrival.content)
    events.emit(
        "smtp.message.stored",
        queue_id=arrival.queue_id,
        message_id=summary.message_id,
        size=len(arrival.content),
        sender=arrival.sender,
        recipients=arrival.recipients,
        subject=summary.subject,
        helo=arrival.helo,
        path=path,
    )
