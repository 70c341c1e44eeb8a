"""`smtp-sink`: the mail server of the trap domains, which keeps everything.

It is the MX that the trap addresses handed out by the web maze point to.
Like a normal MX it takes mail for any local part at its domains and
refuses every other domain (`550 5.7.1 <addr>... Relaying denied`), so
relay checkers find it closed. Every message it takes goes into one Maildir
for analysis, with its original recipients kept as X-Original-To headers,
and is recorded as `smtp.message.stored`. It never sends anything.

Its domains are the `domains` option, or the topology's `trap_domains`.
The dialogue is sendmail's (services/mail/session.py), with the options of
services/mail/service.py.

Limitation: only the sendmail dialect is offered; a Postfix-like dialect
would need its own reply table in services/mail/dialect.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from services.mail.message import Arrival, stored_form
from services.mail.service import COMMON_OPTIONS, SendmailService, record_stored
from vnet.service.api import BoundEvents, Environment, ServiceError


class SmtpSink(SendmailService):
    name = "smtp-sink"
    default_maildir = os.path.join("mail", "sink")
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **COMMON_OPTIONS,
            "domains": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^[A-Za-z0-9.\-]+$"},
                "minItems": 1,
                "description": "Domains to accept; default: trap_domains.",
            },
        },
    }

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        domains = options.get("domains")
        if domains is None:
            domains = getattr(environment.topology, "trap_domains", None) or ()
        if not domains:
            raise ServiceError("smtp-sink: no domains: set `domains` or trap_domains")
        self.domains = frozenset(domain.lower().rstrip(".") for domain in domains)

    def recipient_refusal(self, address: str) -> str | None:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        return None if domain in self.domains else "relaying"

    def receive(self, arrival: Arrival, events: BoundEvents) -> None:
        data = stored_form(arrival, original_recipients=True)
        stored = self.store.deliver(data, arrival.now)
        record_stored(events, arrival, stored.path)


SERVICE = SmtpSink
