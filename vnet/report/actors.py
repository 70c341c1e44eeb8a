"""The people behind the addresses: harvesters, and the sources of spam.

A harvester is any visitor that was given a trap address. For each, the
report counts the pages it fetched from the maze (directly, and through
the open proxy), how long it stayed (first to last request), how many
addresses it took and how many of those received mail, what it called
itself, and what it made of robots.txt:

- `ignored`: it fetched a page that robots.txt forbids it
  (`web.robots.ignored`); `ignored-unread` when it never read the file;
- `obeyed`: it read robots.txt and was never seen on a forbidden page;
- `unread`: it never asked for robots.txt, and never strayed either.

A spam source is any address that used an open proxy or had a message
stored. For each: messages by the way they came (through the proxy to the
relay, to the relay, straight to a destination server), recipients and
how many were trap addresses, probes forwarded, proxy requests with the
next hops asked for, the proxy chains its requests revealed, and how
often it looked up a trap domain in the virtual DNS (`dns.query` with a
`trap_domain`: the MX lookup of a spammer holding a trap address).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from vnet.report.roles import RELAY_SERVICES, SINK_SERVICES


@dataclass
class Harvester:
    address: str
    first: int
    last: int
    pages: int = 0
    proxy_pages: int = 0
    addresses: int = 0
    spammed: int = 0
    robots: str = "unread"
    user_agents: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.last - self.first) / 1_000_000


@dataclass
class SpamSource:
    address: str
    first: int
    last: int
    messages: int = 0
    via_proxy: int = 0
    via_relay: int = 0
    direct: int = 0
    recipients: int = 0
    trap_recipients: int = 0
    probes: int = 0
    proxy_requests: int = 0
    next_hops: dict[str, int] = field(default_factory=dict)
    chains: list[list[str]] = field(default_factory=list)
    trap_lookups: int = 0

    def seen(self, first: int, last: int) -> None:
        self.first = min(self.first, first)
        self.last = max(self.last, last)


# --- harvesters ---------------------------------------------------------------


_ISSUED = """
    SELECT visitor, count(*), min(time), max(time)
    FROM traps WHERE visitor IS NOT NULL GROUP BY visitor
"""
_SPAMMED = """
    SELECT t.visitor, count(DISTINCT t.address)
    FROM traps t
    WHERE EXISTS (SELECT 1 FROM recipients r WHERE r.address = t.address)
    GROUP BY t.visitor
"""
_AGENTS = """
    SELECT visitor, user_agent, count(*) FROM traps GROUP BY 1, 2
"""
_PAGES = """
    SELECT peer, count(*), min(time), max(time)
    FROM events WHERE event = 'web.request' GROUP BY peer
"""
_PROXY_PAGES = """
    SELECT peer, count(*), min(time), max(time)
    FROM events
    WHERE event = 'proxy.request' AND fields ->> '$.outcome' = 'page'
    GROUP BY peer
"""
_ROBOTS_READ = """
    SELECT DISTINCT peer FROM events
    WHERE event = 'web.request' AND fields ->> '$.path' = '/robots.txt'
"""
_ROBOTS_IGNORED = """
    SELECT coalesce(fields ->> '$.visitor', peer), max(fields ->> '$.robots_fetched')
    FROM events WHERE event = 'web.robots.ignored' GROUP BY 1
"""


def harvesters(db: sqlite3.Connection) -> list[Harvester]:
    """Every visitor that took a trap address, most addresses first."""
    found: dict[str, Harvester] = {}
    for visitor, count, first, last in db.execute(_ISSUED):
        found[visitor] = Harvester(visitor, first, last, addresses=count)
    for visitor, count in db.execute(_SPAMMED):
        if visitor in found:
            found[visitor].spammed = count
    _add_pages(db, found)
    _add_agents(db, found)
    _add_robots(db, found)
    return sorted(found.values(), key=lambda item: (-item.addresses, item.first))


def _add_pages(db: sqlite3.Connection, found: dict[str, Harvester]) -> None:
    for query, attribute in ((_PAGES, "pages"), (_PROXY_PAGES, "proxy_pages")):
        for peer, count, first, last in db.execute(query):
            harvester = found.get(peer)
            if harvester is None:
                continue
            setattr(harvester, attribute, count)
            harvester.first = min(harvester.first, first)
            harvester.last = max(harvester.last, last)


def _add_agents(db: sqlite3.Connection, found: dict[str, Harvester]) -> None:
    agents: dict[str, Counter[str]] = defaultdict(Counter)
    for visitor, agent, count in db.execute(_AGENTS):
        if visitor in found and agent:
            agents[visitor][agent] += count
    for visitor, counts in agents.items():
        found[visitor].user_agents = [agent for agent, _ in counts.most_common()]


def _add_robots(db: sqlite3.Connection, found: dict[str, Harvester]) -> None:
    read = {peer for (peer,) in db.execute(_ROBOTS_READ)}
    for visitor, harvester in found.items():
        if visitor in read:
            harvester.robots = "obeyed"
    for visitor, fetched in db.execute(_ROBOTS_IGNORED):
        ignoring = found.get(visitor)
        if ignoring is not None:
            unread = not fetched and visitor not in read
            ignoring.robots = "ignored-unread" if unread else "ignored"


# --- spam sources ---------------------------------------------------------------


_RELAYS = ",".join(f"'{name}'" for name in RELAY_SERVICES)
_SINKS = ",".join(f"'{name}'" for name in SINK_SERVICES)
# A probe our relay forwarded to our own sink is not the sink's spam.
_MESSAGES = f"""
    SELECT m.source, m.service, count(*), min(m.time), max(m.time),
           sum(EXISTS (
               SELECT 1 FROM events p
               WHERE p.connection = m.connection AND p.event = 'proxy.request'))
    FROM messages m
    WHERE NOT (m.service IN ({_SINKS}) AND EXISTS (
        SELECT 1 FROM messages relayed
        WHERE relayed.message_id = m.message_id
          AND relayed.service IN ({_RELAYS})
          AND relayed.event_id < m.event_id
          AND relayed.source IS NOT m.source))
    GROUP BY 1, 2
"""
_RECIPIENTS = """
    SELECT m.source, count(*),
           sum(EXISTS (SELECT 1 FROM traps t WHERE t.address = r.address))
    FROM recipients r JOIN messages m ON m.event_id = r.message_id
    GROUP BY 1
"""
_REQUESTS = """
    SELECT peer, fields ->> '$.next_hop', count(*), min(time), max(time)
    FROM events WHERE event = 'proxy.request' GROUP BY 1, 2
"""
_CHAINS = """
    SELECT DISTINCT peer, fields ->> '$.hops'
    FROM events WHERE event = 'proxy.chain'
"""
_TRAP_LOOKUPS = """
    SELECT peer, count(*) FROM events
    WHERE event = 'dns.query' AND fields ->> '$.trap_domain' IS NOT NULL
    GROUP BY peer
"""
_PROBES = """
    SELECT peer, count(*) FROM events
    WHERE event = 'smtp.probe.forwarded' GROUP BY peer
"""


def spam_sources(db: sqlite3.Connection) -> list[SpamSource]:
    """Every address that used a proxy or sent mail, most messages first."""
    found: dict[str, SpamSource] = {}

    def source(address: str, first: int, last: int) -> SpamSource:
        entry = found.get(address)
        if entry is None:
            entry = found[address] = SpamSource(address, first, last)
        entry.seen(first, last)
        return entry

    for address, service, count, first, last, proxied in db.execute(_MESSAGES):
        if address is None:
            continue
        entry = source(address, first, last)
        _count_messages(entry, service, count, proxied or 0)
    for address, next_hop, count, first, last in db.execute(_REQUESTS):
        if address is None:
            continue
        entry = source(address, first, last)
        entry.proxy_requests += count
        if next_hop:
            entry.next_hops[next_hop] = entry.next_hops.get(next_hop, 0) + count
    _add_recipients(db, found)
    _add_chains(db, found)
    for address, count in db.execute(_PROBES):
        if address in found:
            found[address].probes = count
    for address, count in db.execute(_TRAP_LOOKUPS):
        if address in found:
            found[address].trap_lookups = count
    return sorted(found.values(), key=lambda item: (-item.messages, item.first))


def _count_messages(entry: SpamSource, service: str, count: int, proxied: int):
    entry.messages += count
    entry.via_proxy += proxied
    if service in RELAY_SERVICES:
        entry.via_relay += count - proxied
    elif service in SINK_SERVICES:
        entry.direct += count - proxied


def _add_recipients(db: sqlite3.Connection, found: dict[str, SpamSource]) -> None:
    for address, count, traps in db.execute(_RECIPIENTS):
        entry = found.get(address)
        if entry is not None:
            entry.recipients = count
            entry.trap_recipients = traps or 0


def _add_chains(db: sqlite3.Connection, found: dict[str, SpamSource]) -> None:
    for address, text in db.execute(_CHAINS):
        entry = found.get(address)
        try:
            hops = json.loads(text) if text else None
        except ValueError:
            hops = None
        if entry is not None and isinstance(hops, list):
            chain = [str(hop) for hop in hops]
            if chain not in entry.chains:
                entry.chains.append(chain)
