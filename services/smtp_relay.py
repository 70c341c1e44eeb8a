"""`smtp-relay`: an open relay that looks like sendmail and delivers nothing.

HoneySpam's relays are bait: a spammer who finds one relays through it, and
everything he sends is kept. The relay accepts any recipient at any domain
(`250 2.1.5 <addr>... Recipient ok`), stores every message in its Maildir
before it answers 250, and records it as `smtp.message.stored`. Of all
that, it really delivers only probes (services/mail/delivery.py): by
default the first message from each source, since that is the spammer's
test message to himself. Every decision is recorded, as
`smtp.probe.forwarded`, `smtp.probe.failed` or `smtp.message.held`.

The dialogue is services/mail/session.py's; the options are those of
services/mail/service.py plus the forwarding ones below. A topology line:

    tcp/25: {service: smtp-relay, options: {smarthost: "192.0.2.254:2525"}}

Limitation: probes go out as they are decided, one attempt each; a probe
whose destination is down is recorded as failed, not queued for a retry.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from services.mail.delivery import (
    Decision,
    ForwardPolicy,
    Ledger,
    ProbeRules,
    deliver,
    parse_route,
)
from services.mail.message import Arrival, forwarded_form, stored_form
from services.mail.service import COMMON_OPTIONS, SendmailService, record_stored
from vnet.service.api import BoundEvents, Environment

log = logging.getLogger(__name__)

ROUTE = {"type": "string", "pattern": r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$"}


class SmtpRelay(SendmailService):
    name = "smtp-relay"
    default_maildir = os.path.join("mail", "relay")
    default_auth = ("LOGIN", "PLAIN")
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **COMMON_OPTIONS,
            "smarthost": {**ROUTE, "description": "Deliver every probe here."},
            "routes": {
                "type": "object",
                "additionalProperties": ROUTE,
                "description": "Recipient domain -> host:port, before MX.",
            },
            "dry_run": {"type": "boolean"},
            "daily_cap": {"type": "integer", "minimum": 0},
            "allow": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "Domains or addresses (fnmatch) probes may reach.",
            },
            "probe_max_recipients": {"type": "integer", "minimum": 1},
            "forward_timeout": {"type": "number", "exclusiveMinimum": 0},
            "probe": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "first_per_source": {"type": "boolean"},
                    "relay_address": {"type": "boolean"},
                    "headers": {"type": "array", "items": {"type": "string"}},
                    "drop_box_sources": {"type": "integer", "minimum": 0},
                },
            },
        },
    }

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        self.rules = ProbeRules.from_options(options.get("probe", {}))
        smarthost = options.get("smarthost")
        self.policy = ForwardPolicy(
            cap_per_day=options.get("daily_cap", 20),
            dry_run=options.get("dry_run", False),
            allow=tuple(options.get("allow", ())),
            smarthost=parse_route(smarthost) if smarthost else None,
            routes={
                domain.lower(): parse_route(route)
                for domain, route in options.get("routes", {}).items()
            },
            max_recipients=options.get("probe_max_recipients", 5),
        )
        self.forward_timeout = options.get("forward_timeout", 60.0)
        # Beside the Maildir: mail/relay -> mail/relay-ledger.jsonl.
        self.ledger = Ledger(self.maildir.rstrip(os.sep) + "-ledger.jsonl")

    def recipient_refusal(self, address: str) -> str | None:
        return None

    def receive(self, arrival: Arrival, events: BoundEvents) -> None:
        stored = self.store.deliver(stored_form(arrival), arrival.now)
        record_stored(events, arrival, stored.path)
        self._consider(arrival, events)

    def close(self) -> None:
        super().close()
        self.ledger.close()

    # --- probes -----------------------------------------------------------------

    def _consider(self, arrival: Arrival, events: BoundEvents) -> None:
        source = arrival.source[0]
        reasons = self.rules.reasons(
            source,
            arrival.content,
            arrival.recipients,
            arrival.host_address,
            self.ledger,
        )
        drop_boxes = self.rules.drop_box_sources > 0
        self.ledger.note_message(source, arrival.recipients, arrival.now, drop_boxes)
        if not reasons:
            self._held(events, arrival, "not-a-probe", arrival.recipients)
            return
        for decision in self.policy.decide(
            arrival.recipients, self.ledger, arrival.now
        ):
            self._act(decision, arrival, events, reasons)

    def _act(
        self,
        decision: Decision,
        arrival: Arrival,
        events: BoundEvents,
        reasons: list[str],
    ) -> None:
        if decision.reason == "dry-run":
            events.emit(
                "smtp.probe.forwarded",
                queue_id=arrival.queue_id,
                recipients=list(decision.recipients),
                route=str(decision.route) if decision.route else "mx",
                reasons=reasons,
                dry_run=True,
            )
            return
        if not decision.forward:
            self._held(events, arrival, decision.reason, decision.recipients)
            return
        # Counted before it is sent, so that a crash cannot exceed the cap.
        self.ledger.note_forward(arrival.now)
        task = asyncio.ensure_future(self._forward(decision, arrival, events, reasons))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _forward(
        self,
        decision: Decision,
        arrival: Arrival,
        events: BoundEvents,
        reasons: list[str],
    ) -> None:
        outcome = await deliver(
            decision,
            arrival.sender,
            forwarded_form(arrival),
            arrival.host_name,
            self.forward_timeout,
        )
        fields = {
            "queue_id": arrival.queue_id,
            "recipients": list(decision.recipients),
            "route": str(decision.route) if decision.route else "mx",
            "reasons": reasons,
        }
        if outcome.error is None:
            events.emit(
                "smtp.probe.forwarded", accepted=list(outcome.accepted), **fields
            )
        else:
            log.info("%s: probe %s not delivered: %s", arrival.source[0],
                     arrival.queue_id, outcome.error)  # fmt: skip
            events.emit("smtp.probe.failed", error=outcome.error, **fields)

    def _held(self, events, arrival: Arrival, reason: str, recipients) -> None:
        events.emit(
            "smtp.message.held",
            queue_id=arrival.queue_id,
            reason=reason,
            source=arrival.source[0],
            recipients=list(recipients),
        )


SERVICE = SmtpRelay
