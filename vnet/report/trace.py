"""The trace: each spammed trap address, back to the visit that harvested it.

HoneySpam's three moments meet here:

1. the harvest: `web.address.issued`, when the web maze (or a page the
   open proxy made) gave the address to a visitor; the record names the
   visitor, its User-Agent, the page and the virtual host;
2. the spam: `smtp.message.stored`, each message that named the address
   as a recipient, at a relay or at a destination mail server;
3. the hops: when the relay was reached through the open proxy, the
   relay records the session under the proxy connection's id and the
   proxy's client as the peer, so the `proxy.request` of that connection
   gives the proxy, the next hop the client asked for, and its
   `proxy.chain` the earlier proxies it showed.

A relay message may have been forwarded as a probe (`smtp.probe.*` on the
same connection, by queue id); when that copy lands on one of our own
destination servers it is the same message (by Message-ID), and the
trace shows it as the relay's delivery, not as new spam.

Addresses are compared in lower case. A recipient that no record says was
issued can still be traced when a `decoder` is given (the web maze's
trap-address codec): the address itself names the visitor and the time,
with no page or User-Agent.

Limitation: the open proxy's generated pages name addresses by the second
(`crawler-IP_SECONDS`), so two pages in one second issue one address
twice; the earliest record is shown, and `issued_times` says how many.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vnet.events.times import seconds_to_micros
from vnet.report.roles import RELAY_SERVICES, SINK_SERVICES

# A decoder turns an address into (visitor address, issue time in seconds).
Decoder = Callable[[str], "tuple[str, float] | None"]

PROBE_EVENTS = ("smtp.probe.forwarded", "smtp.probe.failed", "smtp.message.held")


@dataclass
class Harvest:
    """The visit that was given a trap address."""

    time: int
    visitor: str | None
    user_agent: str | None = None
    url: str | None = None
    page: str | None = None
    vhost: str | None = None
    host: str | None = None
    service: str | None = None
    connection: str | None = None
    via: str | None = None
    event_id: int | None = None
    decoded: bool = False


@dataclass
class ProxyHop:
    """The open proxy a message came through."""

    client: str | None
    proxy: str | None
    port: int | None
    next_hop: str | None
    protocol: str | None
    chain: list[str] = field(default_factory=list)


@dataclass
class Delivery:
    """One message sent to a trap address, and the way it came."""

    time: int
    source: str | None
    path: str
    service: str | None
    host: str | None
    connection: str | None
    queue_id: str | None
    message_id: str | None
    sender: str | None
    subject: str | None
    event_id: int
    proxy: ProxyHop | None = None
    probe: str | None = None
    forwarded_from: str | None = None
    delay: float | None = None


@dataclass
class TrapTrace:
    address: str
    harvest: Harvest | None
    messages: list[Delivery]
    issued_times: int = 1


def path_of(service: str | None, proxied: bool) -> str:
    """How a message came: `proxy` (then the relay), `relay`, or `sink`."""
    if proxied:
        return "proxy"
    if service in RELAY_SERVICES:
        return "relay"
    if service in SINK_SERVICES:
        return "sink"
    return service or "unknown"


def trace(db: sqlite3.Connection, decoder: Decoder | None = None) -> list[TrapTrace]:
    """Every trap address that received mail, oldest harvest first."""
    # Without a decoder, only recipients that were issued can be traced.
    deliveries = _deliveries(db, issued_only=decoder is None)
    harvests = _harvests(db, set(deliveries))
    if decoder is not None:
        _decode_missing(deliveries, harvests, decoder)
    traces = []
    for address, messages in deliveries.items():
        found = harvests.get(address)
        if not found:
            continue
        first = found[0]
        # A message to several traps is one Delivery; each trace gets its
        # own copy, with the delay from its own harvest.
        own = [_with_delay(message, first.time) for message in messages]
        traces.append(TrapTrace(address, first, own, len(found)))
    traces.sort(key=_by_harvest)
    return traces


def _with_delay(message: Delivery, harvested: int) -> Delivery:
    # A plain copy of the instance's fields: copy.copy costs three times more.
    mine = Delivery.__new__(Delivery)
    mine.__dict__.update(message.__dict__)
    mine.delay = (message.time - harvested) / 1e6
    return mine


def _by_harvest(item: TrapTrace) -> tuple[int, str]:
    return (item.harvest.time if item.harvest else 0, item.address)


# --- the messages -------------------------------------------------------------


_MESSAGES = """
    SELECT r.address, m.event_id, m.time, m.source, m.host, m.service,
           m.connection, m.queue_id, m.message_id, m.sender, m.subject
    FROM recipients r
    JOIN messages m ON m.event_id = r.message_id
    {where}
    ORDER BY m.time, m.event_id
"""
_ISSUED_ONLY = "WHERE EXISTS (SELECT 1 FROM traps t WHERE t.address = r.address)"

_PROXIED = """
    SELECT m.event_id, p.peer, p.host, p.port, p.fields ->> '$.next_hop',
           p.fields ->> '$.protocol', p.fields ->> '$.relay'
    FROM messages m JOIN events p ON p.connection = m.connection
    WHERE p.event = 'proxy.request'
    ORDER BY p.id
"""

_CHAINS = """
    SELECT m.event_id, p.fields
    FROM messages m JOIN events p ON p.connection = m.connection
    WHERE p.event = 'proxy.chain'
"""

_PROBES = f"""
    SELECT m.event_id, p.event, p.fields ->> '$.queue_id',
           p.fields ->> '$.reason', p.fields ->> '$.dry_run'
    FROM messages m JOIN events p ON p.connection = m.connection
    WHERE p.event IN ({",".join(f"'{name}'" for name in PROBE_EVENTS)})
"""


def _deliveries(db: sqlite3.Connection, issued_only: bool) -> dict[str, list[Delivery]]:
    """Recipient address -> its messages, for every stored message."""
    proxies = _proxy_hops(db)
    probes = _probe_outcomes(db)
    by_address: dict[str, list[Delivery]] = defaultdict(list)
    made: dict[int, Delivery] = {}
    query = _MESSAGES.format(where=_ISSUED_ONLY if issued_only else "")
    for row in db.execute(query):
        address, event_id = row[0], row[1]
        delivery = made.get(event_id)
        if delivery is None:
            delivery = made[event_id] = _delivery(row, proxies, probes)
        by_address[address].append(delivery)
    _mark_forwarded(made.values())
    return by_address


def _delivery(row: tuple, proxies: dict, probes: dict) -> Delivery:
    _, event_id, micros, source, host, service, connection, queue_id, mid = row[:9]
    sender, subject = row[9:]
    hop = proxies.get(event_id)
    return Delivery(
        time=micros,
        source=hop.client if hop and hop.client else source,
        path=path_of(service, hop is not None),
        service=service,
        host=host,
        connection=connection,
        queue_id=queue_id,
        message_id=mid,
        sender=_text(sender),
        subject=_text(subject),
        event_id=event_id,
        proxy=hop,
        probe=probes.get((event_id, queue_id)),
    )


def _proxy_hops(db: sqlite3.Connection) -> dict[int, ProxyHop]:
    """Message event id -> the proxy request that handed it to the relay."""
    hops: dict[int, ProxyHop] = {}
    for event_id, peer, host, port, next_hop, protocol, relay in db.execute(_PROXIED):
        # The CONNECT (or SOCKS request) that reached the relay wins over
        # any earlier request on the same connection.
        if event_id in hops and not relay:
            continue
        hops[event_id] = ProxyHop(
            client=peer,
            proxy=host,
            port=port,
            next_hop=_text(next_hop),
            protocol=_text(protocol),
        )
    for event_id, text in db.execute(_CHAINS):
        hop = hops.get(event_id)
        hops_seen = _fields(text).get("hops")
        if hop is not None and isinstance(hops_seen, list):
            hop.chain.extend(str(item) for item in hops_seen)
    return hops


def _probe_outcomes(db: sqlite3.Connection) -> dict[tuple[int, str], str]:
    """(message event id, queue id) -> forwarded, failed, dry-run or held."""
    outcomes: dict[tuple[int, str], str] = {}
    for event_id, event, queue_id, reason, dry_run in db.execute(_PROBES):
        if not isinstance(queue_id, str):
            continue
        if event == "smtp.message.held":
            outcome = f"held: {reason or ''}".rstrip(": ")
        elif event == "smtp.probe.failed":
            outcome = "probe failed"
        else:
            outcome = "probe (dry run)" if dry_run else "probe forwarded"
        outcomes[(event_id, queue_id)] = outcome
    return outcomes


def _mark_forwarded(deliveries) -> None:
    """A sink's copy of a probe our relay forwarded is that probe."""
    forwarded: dict[str, Delivery] = {}
    for delivery in sorted(deliveries, key=lambda item: item.event_id):
        if delivery.message_id is None:
            continue
        if delivery.service in RELAY_SERVICES and delivery.probe == "probe forwarded":
            forwarded.setdefault(delivery.message_id, delivery)
            continue
        relayed = forwarded.get(delivery.message_id)
        if relayed is not None and delivery.service in SINK_SERVICES:
            delivery.forwarded_from = relayed.queue_id or str(relayed.event_id)
            delivery.source = relayed.source
            delivery.path = "relay probe"


# --- the harvests -------------------------------------------------------------


_HARVESTS = """
    SELECT t.address, t.event_id, t.time, t.visitor, t.host, t.service,
           t.connection, t.user_agent, t.url, t.page, t.vhost, t.via
    FROM (SELECT DISTINCT address FROM recipients) r
    JOIN traps t ON t.address = r.address
    ORDER BY t.time, t.event_id
"""


def _harvests(db: sqlite3.Connection, addresses: set[str]) -> dict[str, list[Harvest]]:
    """Address -> the issue records of it, oldest first (those in `addresses`)."""
    found: dict[str, list[Harvest]] = defaultdict(list)
    for row in db.execute(_HARVESTS):
        if row[0] not in addresses:
            continue
        address, event_id, micros, visitor, host, service, connection = row[:7]
        user_agent, url, page, vhost, via = (_text(value) for value in row[7:])
        found[address].append(
            Harvest(
                time=micros,
                visitor=visitor,
                user_agent=user_agent,
                url=url,
                page=page,
                vhost=vhost,
                host=host,
                service=service,
                connection=connection,
                via=via,
                event_id=event_id,
            )
        )
    return found


def _decode_missing(
    deliveries: dict[str, list[Delivery]],
    harvests: dict[str, list[Harvest]],
    decoder: Decoder,
) -> None:
    for address in deliveries:
        if address in harvests:
            continue
        visit = decoder(address)
        if visit is not None:
            visitor, seconds = visit
            harvests[address] = [
                Harvest(time=seconds_to_micros(seconds), visitor=visitor, decoded=True)
            ]


def _fields(text: str | None) -> dict[str, Any]:
    try:
        fields = json.loads(text) if text else {}
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
