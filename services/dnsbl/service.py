"""The `dnsbl` service: the honeynet's findings as a DNS blocklist on UDP/53.

A topology binds it on a virtual host:

    ports:
      udp/53: {service: dnsbl, options: {zone: bl.example.test}}

and a mail server then asks `7.100.51.198.bl.example.test` before taking
mail from 198.51.100.7. Answers come from the live listing (sources.py)
as answer.py builds them; every query is a `dnsbl.query` record with the
name, type, rcode and the roles listed.

Options:

- `zone`: the blocklist's zone (default `bl.` + the first trap domain, or
  `bl.example.test`);
- `store`: the event store to read (default STATE_DIR/events.sqlite);
- `proxy_blacklist`: the open proxy's blacklist file (default
  STATE_DIR/open-proxy/blacklist.jsonl);
- `roles`: the roles to list (default all four);
- `ttl`: of every answer, and the negative-caching TTL (default 300 s);
- `expiry`: seconds after its last activity that an address stays listed
  from the store (default 30 days; 0 for never);
- `refresh`: the longest a query waits for new records to be read (1 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dnslib import DNSRecord

from services.dnsbl.answer import Outcome, QueryError, Zone, answer
from services.dnsbl.sources import BlacklistSource, StoreSource
from vnet.report.roles import ROLES
from vnet.service.api import DatagramContext, Environment, Service

log = logging.getLogger(__name__)

# A DNS name of letters, digits and inner hyphens (RFC 1123 2.1), at most 253.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = rf"^(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}$"
DEFAULT_EXPIRY = 30 * 86400.0
FALLBACK_ZONE = "bl.example.test"

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "zone": {"type": "string", "pattern": DOMAIN},
        "store": {"type": "string", "minLength": 1},
        "proxy_blacklist": {"type": "string", "minLength": 1},
        "roles": {
            "type": "array",
            "items": {"enum": list(ROLES)},
            "minItems": 1,
            "uniqueItems": True,
        },
        "ttl": {"type": "integer", "minimum": 0, "maximum": 86400},
        "expiry": {"type": "number", "minimum": 0},
        "refresh": {"type": "number", "minimum": 0, "maximum": 3600},
    },
}


def default_zone(topology: Any) -> str:
    domains = tuple(getattr(topology, "trap_domains", ()) or ())
    return f"bl.{domains[0]}" if domains else FALLBACK_ZONE


class Dnsbl(Service):
    name = "dnsbl"
    options_schema = OPTIONS_SCHEMA
    handles_udp = True

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        state = Path(environment.state_dir)
        self.zone = Zone(
            name=options.get("zone") or default_zone(environment.topology),
            ttl=options.get("ttl", 300),
            serial=int(time.time()),
        )
        roles = tuple(options.get("roles") or ROLES)
        expiry = options.get("expiry", DEFAULT_EXPIRY) or None
        store = Path(options.get("store") or state / "events.sqlite")
        blacklist = options.get("proxy_blacklist")
        blacklist_path = Path(blacklist or state / "open-proxy" / "blacklist.jsonl")
        self.sources: list[StoreSource | BlacklistSource] = [
            StoreSource(store, roles, expiry)
        ]
        if "proxy-user" in roles:
            self.sources.append(BlacklistSource(blacklist_path))
        self.roles = roles
        self.refresh_every = options.get("refresh", 1.0)
        self._looked = float("-inf")
        self._warm_up()

    def _warm_up(self) -> None:
        """Answer one query and open the sources now, while vnet is root.

        dnslib imports the idna codec on first use; after the privileges
        are dropped the interpreter's own files may be out of reach.
        """
        query = DNSRecord.question(f"2.0.0.127.{self.zone.name}", "TXT")
        DNSRecord.parse(answer(query.pack(), self.zone, lambda address: []).reply)
        # Opening the store now, as root, keeps it readable after the drop
        # even where its files stay root's.
        self._refresh(time.monotonic())

    def lookup(self, address: str) -> list[str]:
        """The roles `address` is listed for, in ROLES order."""
        now = self.environment.clock()
        self._refresh(time.monotonic())
        found = {role for source in self.sources for role in source.roles(address, now)}
        return [role for role in self.roles if role in found]

    def _refresh(self, moment: float) -> None:
        if moment - self._looked < self.refresh_every:
            return
        self._looked = moment
        for source in self.sources:
            source.refresh()

    def datagram_received(self, context: DatagramContext, data: bytes) -> None:
        try:
            outcome = answer(data, self.zone, self.lookup)
        except QueryError as error:
            log.debug("%s:%d: dnsbl: dropped: %s", *context.peer, error)
            self._record(context, "dnsbl.malformed", reason=str(error), size=len(data))
            return
        self._record_query(context, outcome)
        context.reply(outcome.reply)

    def _record_query(self, context: DatagramContext, outcome: Outcome) -> None:
        self._record(
            context,
            "dnsbl.query",
            name=outcome.name,
            type=outcome.type,
            rcode=outcome.rcode,
            address=outcome.address,
            listed=outcome.listed,
        )

    def _record(self, context: DatagramContext, event: str, **fields: Any) -> None:
        context.environment.events.emit(
            event,
            peer=context.peer[0],
            peer_port=context.peer[1],
            host=context.host.address,
            port=context.local[1],
            service=self.name,
            **fields,
        )

    def close(self) -> None:
        for source in self.sources:
            source.close()
