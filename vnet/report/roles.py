"""Who did what: the roles that put a source address on a blocklist.

Four roles, each proved by the store's records, never guessed:

- `harvester`: was given a trap address (`web.address.issued`, by the web
  maze or by the open proxy's pages) that later received mail. A crawler
  whose addresses have not been used yet is not listed: until the spam
  arrives, nothing tells it from a search engine that ignores robots.txt.
- `proxy-user`: sent any request to an open proxy (`proxy.request`).
  Nobody has a reason to use a proxy that was never announced.
- `relay-user`: had a message stored by an open relay, directly or through
  the proxy (the relay records the proxy's client as the source).
- `sink-sender`: had a message stored by a destination mail server of the
  trap domains, except a probe our own relay forwarded there.

Each role has its own 127.0.0.x answer in the DNSBL and its own dataset in
the rbldnsd zone. An address may have several roles.

`offenders()` answers the exports (all roles at once, limited by role and
time); `Listing` keeps the DNSBL's view up to date by reading only what
was added to the store since its last look.

Limitation: relays and sinks are told apart by their service names
(`RELAY_SERVICES`, `SINK_SERVICES`); a mail service bound under another
name is counted in neither role.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ROLES = ("harvester", "proxy-user", "relay-user", "sink-sender")
# RFC 5782 section 2.3: the A record of a listing is in 127.0.0.0/8, and
# 127.0.0.2 is also the test entry every list must carry.
CODES = {
    "harvester": "127.0.0.2",
    "proxy-user": "127.0.0.3",
    "relay-user": "127.0.0.4",
    "sink-sender": "127.0.0.5",
}
DESCRIPTIONS = {
    "harvester": "harvested trap addresses that later received spam",
    "proxy-user": "used an open proxy",
    "relay-user": "sent mail through an open relay",
    "sink-sender": "sent mail to trap addresses",
}
RELAY_SERVICES = ("smtp-relay",)
SINK_SERVICES = ("smtp-sink",)

NEVER = -(1 << 62)
FOREVER = 1 << 62


class RoleError(ValueError):
    """A role name that is not one of ROLES."""


def check_roles(names: Iterable[str] | None) -> tuple[str, ...]:
    """The roles named, in ROLES order; all of them for None or empty."""
    wanted = tuple(names or ())
    for name in wanted:
        if name not in ROLES:
            raise RoleError(f"found role {name!r}; allowed: {', '.join(ROLES)}")
    return tuple(role for role in ROLES if role in wanted) or ROLES


@dataclass
class Activity:
    """One role of one address: when it was first and last seen, how often."""

    first: int
    last: int
    count: int


@dataclass
class Offender:
    address: str
    roles: dict[str, Activity] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return min(activity.first for activity in self.roles.values())

    @property
    def last(self) -> int:
        return max(activity.last for activity in self.roles.values())


def _services(names: tuple[str, ...]) -> str:
    return ",".join(f"'{name}'" for name in names)


# The queries take (since, until) in microseconds and an event id after
# which to look; each yields (address, first, last, count).
_QUERIES = {
    "harvester": """
        SELECT t.visitor, min(t.time), max(t.time), count(DISTINCT t.address)
        FROM traps t
        WHERE t.time BETWEEN ? AND ? AND t.event_id > ?
          AND EXISTS (SELECT 1 FROM recipients r WHERE r.address = t.address)
        GROUP BY t.visitor
    """,
    "proxy-user": """
        SELECT peer, min(time), max(time), count(*)
        FROM events
        WHERE event = 'proxy.request' AND time BETWEEN ? AND ? AND id > ?
        GROUP BY peer
    """,
    "relay-user": f"""
        SELECT source, min(time), max(time), count(*)
        FROM messages
        WHERE service IN ({_services(RELAY_SERVICES)})
          AND time BETWEEN ? AND ? AND event_id > ?
        GROUP BY source
    """,
    "sink-sender": f"""
        SELECT m.source, min(m.time), max(m.time), count(*)
        FROM messages m
        WHERE m.service IN ({_services(SINK_SERVICES)})
          AND m.time BETWEEN ? AND ? AND m.event_id > ?
          AND NOT EXISTS (
            SELECT 1 FROM messages relayed
            WHERE relayed.message_id = m.message_id
              AND relayed.service IN ({_services(RELAY_SERVICES)})
              AND relayed.event_id < m.event_id
              AND relayed.source IS NOT m.source)
        GROUP BY m.source
    """,
}

# A trap issued long ago can be spammed now: the listing also looks at
# recipients added since its last look, whatever the trap's own id.
# CROSS JOIN keeps SQLite from scanning every trap: the new recipients
# are few, and lead.
_NEW_SPAM = """
    SELECT t.visitor, min(t.time), max(t.time), count(DISTINCT t.address)
    FROM recipients r CROSS JOIN traps t ON t.address = r.address
    WHERE r.message_id > ?
    GROUP BY t.visitor
"""


def role_activity(
    db: sqlite3.Connection,
    role: str,
    since: int = NEVER,
    until: int = FOREVER,
    after: int = 0,
) -> Iterator[tuple[str, int, int, int]]:
    """(address, first, last, count) for each address with `role`."""
    for address, first, last, count in db.execute(
        _QUERIES[role], (since, until, after)
    ):
        if _is_address(address):
            yield address, first, last, count


def _is_address(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def offenders(
    db: sqlite3.Connection,
    roles: Iterable[str] | None = None,
    since: int | None = None,
    until: int | None = None,
) -> list[Offender]:
    """Every address with one of `roles`, active between since and until.

    Sorted by address (numerically, IPv4 before IPv6).
    """
    found: dict[str, Offender] = {}
    low = NEVER if since is None else since
    high = FOREVER if until is None else until
    for role in check_roles(roles):
        for address, first, last, count in role_activity(db, role, low, high):
            offender = found.setdefault(address, Offender(address))
            offender.roles[role] = Activity(first, last, count)
    return sorted(found.values(), key=lambda item: _sort_key(item.address))


def _sort_key(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return parsed.version, int(parsed)


class Listing:
    """The live blocklist: address -> role -> last activity (microseconds).

    `refresh(db)` reads what the store gained since the last call, by
    event id, so a listing kept next to a growing store costs little.
    """

    def __init__(self, roles: Iterable[str] | None = None) -> None:
        self.roles = check_roles(roles)
        self.entries: dict[str, dict[str, int]] = {}
        self._seen_event = 0
        self._seen_message = 0

    def refresh(self, db: sqlite3.Connection) -> int:
        """Take in new records; returns how many (address, role) changed."""
        # The marks are read first: rows committed while the queries run
        # are read again next time, which is harmless, never skipped.
        top_event = db.execute("SELECT max(id) FROM events").fetchone()[0] or 0
        if top_event == self._seen_event:
            return 0
        top_message = db.execute("SELECT max(event_id) FROM messages").fetchone()[0]
        changed = 0
        for role in self.roles:
            for address, _, last, _ in role_activity(db, role, after=self._seen_event):
                changed += self._note(address, role, last)
        if "harvester" in self.roles:
            for address, _, last, _ in db.execute(_NEW_SPAM, (self._seen_message,)):
                if _is_address(address):
                    changed += self._note(address, "harvester", last)
        self._seen_event = top_event
        self._seen_message = top_message or 0
        return changed

    def _note(self, address: str, role: str, last: int) -> int:
        roles = self.entries.setdefault(address, {})
        if roles.get(role, NEVER) >= last:
            return 0
        roles[role] = last
        return 1

    def lookup(self, address: str, now: int, expiry: int | None = None) -> list[str]:
        """The roles of `address` whose last activity is within `expiry`."""
        roles = self.entries.get(address)
        if not roles:
            return []
        oldest = NEVER if expiry is None else now - expiry
        return [role for role in self.roles if roles.get(role, oldest - 1) >= oldest]
