"""The event store: every honeypot event in one SQLite database.

The store is written alongside the JSON lines and holds the same records,
in a form the report and the exports can join quickly. vnet/events/SCHEMA.md
documents the tables; `SCHEMA` below is the executable form.

One process writes: the engine, through `EventStore`, an event sink like
`EventLog`. Any number of readers (the report, the exports, the DNSBL
service) open the file with `open_reader` while it is being written. The
database runs in WAL mode, so readers see every committed transaction and
never block the writer.

Durability, and what a SIGKILL costs:

- events are batched, and a batch is committed at most `interval` seconds
  (1 s) after its first event, by a timer on the running asyncio loop. A
  killed process loses at most the events of that last second.
- `smtp.message.stored` is committed at once, together with everything
  before it, and its commit is synced to disk (synchronous=FULL for that
  one transaction). A message the relay or the sink answered 250 for never
  loses its record, not even on a power failure.
- other commits use synchronous=NORMAL: they survive the process being
  killed (the data is in the kernel's page cache), and a power failure can
  lose only the last commits, never the database's consistency.

Outside an asyncio loop (an import, a test) no timer can run; a batch is
then committed by the first write after `interval`, when it grows past
`BATCH_LIMIT`, or by `flush()` and `close()`.

`import_jsonl(path, store)` rebuilds a store from a JSON-lines record:
importing the lines that a run wrote gives the store that run wrote.

Limitation: a store of another schema version is refused, not migrated;
rebuild it from the JSON lines with `vnet events import`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from vnet.events.jsonl import timestamp
from vnet.events.times import iso_to_micros

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# A batch this long is committed without waiting for its timer.
BATCH_LIMIT = 10_000
# The events that are committed (and synced) as soon as they are written.
IMMEDIATE = frozenset({"smtp.message.stored"})

# The fields every connection's events carry get columns of their own;
# everything else stays in `fields`, as JSON.
BOUND = ("connection", "peer", "peer_port", "host", "port", "service")
MAZE = "web-maze"

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id         INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    event      TEXT NOT NULL,
    connection TEXT,
    peer       TEXT,
    peer_port  INTEGER,
    host       TEXT,
    port       INTEGER,
    service    TEXT,
    fields     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_event_time ON events (event, time);
CREATE INDEX IF NOT EXISTS events_event_peer ON events (event, peer, time);
CREATE INDEX IF NOT EXISTS events_connection ON events (connection)
    WHERE connection IS NOT NULL;

CREATE TABLE IF NOT EXISTS traps (
    event_id   INTEGER PRIMARY KEY REFERENCES events (id),
    address    TEXT NOT NULL,
    visitor    TEXT,
    time       INTEGER NOT NULL,
    connection TEXT,
    user_agent TEXT,
    url        TEXT,
    page       TEXT,
    vhost      TEXT,
    host       TEXT,
    service    TEXT,
    via        TEXT
);
CREATE INDEX IF NOT EXISTS traps_address ON traps (address);
CREATE INDEX IF NOT EXISTS traps_visitor ON traps (visitor, time);

CREATE TABLE IF NOT EXISTS messages (
    event_id   INTEGER PRIMARY KEY REFERENCES events (id),
    time       INTEGER NOT NULL,
    connection TEXT,
    source     TEXT,
    host       TEXT,
    service    TEXT,
    queue_id   TEXT,
    message_id TEXT,
    sender     TEXT,
    subject    TEXT
);
CREATE INDEX IF NOT EXISTS messages_connection ON messages (connection);
CREATE INDEX IF NOT EXISTS messages_source ON messages (source, time);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue_id);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);

CREATE TABLE IF NOT EXISTS recipients (
    message_id INTEGER NOT NULL REFERENCES messages (event_id),
    address    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recipients_address ON recipients (address);
CREATE INDEX IF NOT EXISTS recipients_message ON recipients (message_id);
"""


class StoreError(Exception):
    """The file is not an event store this version of vnet can read."""


def _connect(path: str | Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{Path(path).resolve()}?mode=ro"
        if not Path(path).exists():
            raise StoreError(f"{path}: no event store there")
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
    else:
        db = sqlite3.connect(str(path), isolation_level=None)
    # Readers wait for a checkpoint rather than fail on a busy database.
    db.execute("PRAGMA busy_timeout = 5000")
    return db


def open_reader(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the store at `path` (StoreError if none)."""
    db = _connect(path, readonly=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute("SELECT 1 FROM events LIMIT 1").fetchall()
    except sqlite3.DatabaseError as error:
        db.close()
        raise StoreError(f"{path}: not an event store: {error}") from None
    if version != SCHEMA_VERSION:
        db.close()
        raise StoreError(f"{path}: store schema {version}, expected {SCHEMA_VERSION}")
    return db


class EventStore:
    """The writing end of the store: an event sink for the engine.

    `emit(event_id, **fields)` stamps the time as `EventLog` does; `write`
    takes a record that is already stamped (from `Tee`, or from a JSON
    line), so that the store and the JSON lines agree to the microsecond.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        clock: Callable[[], float] = time.time,
        interval: float = 1.0,
        immediate: frozenset[str] = IMMEDIATE,
    ) -> None:
        self._db = db
        self._clock = clock
        self.interval = interval
        self.immediate = immediate
        self._pending: list[Mapping[str, Any]] = []
        self._first_pending = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.counts: Counter[str] = Counter()
        self.commits = 0

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> EventStore:
        """Open (creating if needed) the store at `path` for writing."""
        db = _connect(path, readonly=False)
        _prepare(db, path)
        return cls(db, **options)

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer's own connection, for reading what it has committed."""
        return self._db

    # --- taking events ---------------------------------------------------

    def emit(self, event_id: str, **fields: Any) -> None:
        record = {"event": event_id, "time": timestamp(self._clock()), **fields}
        self.write(record)

    def write(self, record: Mapping[str, Any]) -> None:
        """Queue one record; commit now if it must not wait."""
        if not self._pending:
            self._first_pending = time.monotonic()
        self._pending.append(record)
        self.counts[record["event"]] += 1
        if record["event"] in self.immediate:
            self.flush(durable=True)
        elif self._due():
            self.flush()
        elif self._timer is None:
            self._arm_timer()

    def write_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add records in large transactions, then sync; returns how many.

        For rebuilding a store: a message's record is not committed on its
        own here, since nothing has been answered for it yet.
        """
        self.flush()
        count = 0
        batch: list[Mapping[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) >= BATCH_LIMIT:
                count += self._commit_batch(batch)
                batch = []
        count += self._commit_batch(batch)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    def _commit_batch(self, batch: list[Mapping[str, Any]]) -> int:
        if batch:
            self._pending = batch
            self.counts.update(record["event"] for record in batch)
            self.flush(durable=True)
        return len(batch)

    def _due(self) -> bool:
        waited = time.monotonic() - self._first_pending
        return len(self._pending) >= BATCH_LIMIT or waited >= self.interval

    def _arm_timer(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.interval, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    # --- committing -------------------------------------------------------

    def flush(self, durable: bool = False) -> None:
        """Commit every queued record in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        db = self._db
        if durable:
            db.execute("PRAGMA synchronous = FULL")
        try:
            db.execute("BEGIN")
            insert_records(db, batch)
            db.execute("COMMIT")
        finally:
            if durable:
                db.execute("PRAGMA synchronous = NORMAL")
        self.commits += 1

    def close(self) -> None:
        """Commit what is queued and close the database."""
        self.flush(durable=True)
        self._db.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _prepare(db: sqlite3.Connection, path: str | Path) -> None:
    """WAL mode, and the schema of this version (StoreError for another)."""
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise StoreError(
                f"{path}: store schema {version}, expected {SCHEMA_VERSION}"
            )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as error:
        db.close()
        raise StoreError(f"{path}: not an event store: {error}") from None


# --- rows ------------------------------------------------------------------


def insert_records(
    db: sqlite3.Connection, records: Iterable[Mapping[str, Any]]
) -> None:
    """Insert records inside the caller's transaction."""
    events: list[tuple] = []
    traps: list[tuple] = []
    messages: list[tuple] = []
    recipients: list[tuple] = []
    next_id = _next_id(db)
    for record in records:
        row = _event_row(next_id, record)
        events.append(row)
        kind = row[2]
        if kind == "web.address.issued":
            traps.append(_trap_row(row, record))
        elif kind == "smtp.message.stored":
            messages.append(_message_row(row, record))
            recipients.extend(_recipient_rows(next_id, record))
        next_id += 1
    db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)", events)
    db.executemany("INSERT INTO traps VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", traps)
    db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?)", messages)
    db.executemany("INSERT INTO recipients VALUES (?,?)", recipients)


def _next_id(db: sqlite3.Connection) -> int:
    last = db.execute("SELECT max(id) FROM events").fetchone()[0]
    return (last or 0) + 1


def _event_row(event_id: int, record: Mapping[str, Any]) -> tuple:
    rest = {
        key: value
        for key, value in record.items()
        if key not in BOUND and key not in ("event", "time")
    }
    return (
        event_id,
        iso_to_micros(record["time"]),
        record["event"],
        *(_scalar(record.get(key)) for key in BOUND),
        json.dumps(rest, separators=(",", ":"), default=str, ensure_ascii=False),
    )


def _scalar(value: Any) -> Any:
    """A bound field as SQLite can hold it; anything unusual as text."""
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def _trap_row(row: tuple, record: Mapping[str, Any]) -> tuple:
    address = str(record.get("address", "")).strip().lower()
    visitor = record.get("visitor") or record.get("peer")
    # The whole visit is kept here, so that the trace needs no other table.
    visit = [record.get(key) for key in ("user_agent", "url", "page", "vhost")]
    service = row[8]
    # A maze page the open proxy served carries the proxy's identity.
    via = record.get("via") or (service if service not in (None, MAZE) else None)
    return (
        row[0], address, _scalar(visitor), row[1], row[3],
        *(_scalar(value) for value in visit),
        row[6], service, _scalar(via),
    )  # fmt: skip


def _message_row(row: tuple, record: Mapping[str, Any]) -> tuple:
    event_id, micros, _, connection, peer, _, host, _, service, _ = row
    return (
        event_id,
        micros,
        connection,
        peer,
        host,
        service,
        _scalar(record.get("queue_id")),
        _scalar(record.get("message_id")),
        _scalar(record.get("sender")),
        _scalar(record.get("subject")),
    )


def _recipient_rows(event_id: int, record: Mapping[str, Any]) -> Iterator[tuple]:
    recipients = record.get("recipients") or ()
    if isinstance(recipients, str):
        recipients = [recipients]
    for address in dict.fromkeys(str(item).strip().lower() for item in recipients):
        yield (event_id, address)


# --- rebuilding -------------------------------------------------------------


def parse_record(line: str) -> dict[str, Any]:
    """One JSON line as a record; ValueError unless it has an event and time."""
    try:
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not an object")
        iso_to_micros(record["time"])
        str(record["event"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"no valid {error}") from None
    return record


def read_jsonl(stream: IO[str], source: str = "-") -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines stream, skipping lines that do not parse.

    A line cut short by a crash is the usual reason; each skipped line is
    logged with its number.
    """
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield parse_record(line)
        except ValueError as error:
            log.warning("%s:%d: skipped, not an event record: %s",
                        source, number, error)  # fmt: skip


def import_jsonl(path: str | Path, store: EventStore) -> int:
    """Add every record of the JSON-lines file at `path` to `store`.

    Returns the number of records imported. The store is committed in
    batches and once more at the end.
    """
    with open(path, encoding="utf-8", errors="replace") as stream:
        return store.write_many(read_jsonl(stream, str(path)))
