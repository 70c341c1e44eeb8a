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

- events are queued, and the store's writer thread commits the queue at
  most `interval` seconds (0.1 s) after its first event, in one
  transaction, or at once when `BATCH_LIMIT` records wait. A killed process
  loses at most the events of that last tenth of a second. Short batches
  also keep little memory waiting: thousands of connections held in a
  tarpit would otherwise leave a second's worth of queued records behind as
  holes in the interpreter's memory. The loop that answers packets never
  waits for a commit or for the fsync of a WAL checkpoint.
- `smtp.message.stored` is committed at once, by the caller, together with
  everything queued before it, and its commit is synced to disk
  (synchronous=FULL for that one transaction). A message the relay or the
  sink answered 250 for never loses its record, not even on a power failure.
- other commits use synchronous=NORMAL: they survive the process being
  killed (the data is in the kernel's page cache), and a power failure can
  lose only the last commits, never the database's consistency.

`import_jsonl(path, store)` rebuilds a store from a JSON-lines record:
importing the lines that a run wrote gives the store that run wrote.

Limitation: a store of another schema version is refused, not migrated;
rebuild it from the JSON lines with `vnet events import`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from vnet.events.jsonl import DURABLE, encode, timestamp
from vnet.events.times import iso_to_micros

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# A batch this long is committed without waiting for its timer.
BATCH_LIMIT = 10_000
# Seconds a record waits, at most, before its batch is committed.
INTERVAL = 0.1
# The writer's page cache, in KiB.
WRITER_CACHE_KIB = 256
# The events that are committed (and synced) as soon as they are written.
IMMEDIATE = DURABLE

# The fields every connection's events carry get columns of their own;
# everything else stays in `fields`, as JSON.
BOUND = ("connection", "peer", "peer_port", "host", "port", "service")
MAZE = "web-maze"

# A queued record: its row of `events` without the id, and the record
# itself when it also makes rows of other tables (see `queued`).
Queued = tuple[tuple, Mapping[str, Any] | None]

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
        # The writer thread and a commit made at once share the connection,
        # one at a time (EventStore._committing).
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
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

    Writing only queues the record. A writer thread commits the queue, so
    that neither the commits nor the checkpoints' fsync ever stall the loop
    that answers packets; SQLite runs without the interpreter lock while it
    works, and each batch is one statement.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        clock: Callable[[], float] = time.time,
        interval: float = INTERVAL,
        immediate: frozenset[str] = IMMEDIATE,
    ) -> None:
        self._db = db
        self._clock = clock
        self.interval = interval
        self.immediate = immediate
        self._queue: list[Queued] = []
        self._first_queued = 0.0
        # The queue, between the emitters and the writer thread.
        self._queued = threading.Condition()
        # The database, between the writer thread and a commit made at once.
        self._committing = threading.Lock()
        self._writer: threading.Thread | None = None
        self._closing = False
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

    def write(self, record: Mapping[str, Any], line: str | None = None) -> None:
        """Queue one record; commit now if it must not wait.

        `line` is the record's JSON line, when the caller has encoded it.
        """
        event = record["event"]
        self.counts[event] += 1
        if event in self.immediate:
            self._enqueue(queued(record, line))
            self.flush(durable=True)
            return
        if self._writer is None:
            self._start_writer()
        self._enqueue(queued(record, line))

    def _enqueue(self, entry: Queued) -> None:
        with self._queued:
            if not self._queue:
                self._first_queued = time.monotonic()
                self._queued.notify()
            self._queue.append(entry)
            if len(self._queue) == BATCH_LIMIT:
                self._queued.notify()

    def write_many(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add records in large transactions, then sync; returns how many.

        For rebuilding a store: a message's record is not committed on its
        own here, since nothing has been answered for it yet.
        """
        self.flush()
        count = 0
        batch: list[Queued] = []
        for record in records:
            self.counts[record["event"]] += 1
            batch.append(queued(record, None))
            if len(batch) >= BATCH_LIMIT:
                count += self._commit_batch(batch)
                batch = []
        count += self._commit_batch(batch)
        with self._committing:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    def _commit_batch(self, batch: list[Queued]) -> int:
        with self._committing:
            self._commit(batch, durable=True)
        return len(batch)

    # --- the writer thread -------------------------------------------------

    def _start_writer(self) -> None:
        self._writer = threading.Thread(
            target=self._write_behind, name="event-store", daemon=True
        )
        self._writer.start()

    def _write_behind(self) -> None:
        """Commit each batch once it is due, until the store closes."""
        while self._wait_until_due():
            with self._committing:
                batch = self._take()
                try:
                    self._commit(batch, durable=False)
                except sqlite3.Error:
                    log.exception("event store: %d events not stored", len(batch))

    def _wait_until_due(self) -> bool:
        """Wait for a batch `interval` old or full; False once closing."""
        with self._queued:
            while not self._closing:
                if not self._queue:
                    self._queued.wait()
                    continue
                due = self._first_queued + self.interval - time.monotonic()
                if due <= 0 or len(self._queue) >= BATCH_LIMIT:
                    return True
                self._queued.wait(due)
        return False

    def _take(self) -> list[Queued]:
        with self._queued:
            batch, self._queue = self._queue, []
        return batch

    # --- committing -------------------------------------------------------

    def flush(self, durable: bool = False) -> None:
        """Commit every queued record now, in one transaction."""
        with self._committing:
            self._commit(self._take(), durable)

    def _commit(self, batch: list[Queued], durable: bool) -> None:
        """(Holding `_committing`) one transaction; synced if `durable`."""
        if not batch:
            return
        db = self._db
        if durable:
            db.execute("PRAGMA synchronous = FULL")
        try:
            db.execute("BEGIN")
            insert_records(db, batch)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            if durable:
                db.execute("PRAGMA synchronous = NORMAL")
        self.commits += 1

    def close(self) -> None:
        """Commit what is queued and close the database."""
        with self._queued:
            self._closing = True
            self._queued.notify()
        if self._writer is not None:
            self._writer.join()
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
        # The writer appends, in time order, so a small page cache serves
        # it: the default 2 MiB would only sit in vnet's memory.
        db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.DatabaseError as error:
        db.close()
        raise StoreError(f"{path}: not an event store: {error}") from None


# --- rows ------------------------------------------------------------------

# The bound fields get columns; SQLite takes them out of the record's JSON
# line, and what is left is `fields`. A statement inserts up to `CHUNK`
# rows: SQLite works on them without the interpreter lock, which the
# writer thread would otherwise take back, from the loop, row by row.
CHUNK = 100
_REST = ", ".join(f"'$.{key}'" for key in ("event", "time", *BOUND))
_ROW = f"(?,?,?,?,?,?,?,?,?, json_remove(?, {_REST}))"
SPECIAL = frozenset({"web.address.issued", "smtp.message.stored"})


def queued(record: Mapping[str, Any], line: str | None) -> Queued:
    """What the queue keeps of a record: its row, and itself if special."""
    bound = list(map(record.get, BOUND))
    if not _SCALARS.issuperset(map(type, bound)):
        bound = [_scalar(value) for value in bound]
    row = (
        iso_to_micros(record["time"]),
        record["event"],
        *bound,
        encode(record) if line is None else line,
    )
    return row, record if record["event"] in SPECIAL else None


# A full chunk's statement, and one row's for what is left: two prepared
# statements, however the batches fall.
_INSERT_ONE = f"INSERT INTO events VALUES {_ROW}"
_INSERT_CHUNK = "INSERT INTO events VALUES " + ",".join([_ROW] * CHUNK)


def insert_records(db: sqlite3.Connection, batch: list[Queued]) -> None:
    """Insert queued records in the caller's transaction."""
    first_id = _next_id(db)
    _insert_events(db, first_id, batch)
    _insert_traps_and_messages(db, first_id, batch)


def _insert_events(db: sqlite3.Connection, first_id: int, batch: list[Queued]):
    rows = [(event_id, *row) for event_id, (row, _) in enumerate(batch, first_id)]
    whole = len(rows) - len(rows) % CHUNK
    for start in range(0, whole, CHUNK):
        chunk = rows[start : start + CHUNK]
        db.execute(_INSERT_CHUNK, [value for row in chunk for value in row])
    db.executemany(_INSERT_ONE, rows[whole:])


def _insert_traps_and_messages(
    db: sqlite3.Connection, first_id: int, batch: list[Queued]
) -> None:
    """The rows of the special records' own tables."""
    traps: list[tuple] = []
    messages: list[tuple] = []
    recipients: list[tuple] = []
    for event_id, (row, record) in enumerate(batch, first_id):
        if record is None:
            continue
        if record["event"] == "web.address.issued":
            traps.append(_trap_row(event_id, row[0], record))
        else:
            messages.append(_message_row(event_id, row[0], record))
            recipients.extend(_recipient_rows(event_id, record))
    db.executemany("INSERT INTO traps VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", traps)
    db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?)", messages)
    db.executemany("INSERT INTO recipients VALUES (?,?)", recipients)


def _next_id(db: sqlite3.Connection) -> int:
    last = db.execute("SELECT max(id) FROM events").fetchone()[0]
    return (last or 0) + 1


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _scalar(value: Any) -> Any:
    """A field as SQLite can hold it; anything unusual as text."""
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def _trap_row(event_id: int, micros: int, record: Mapping[str, Any]) -> tuple:
    address = str(record.get("address", "")).strip().lower()
    visitor = record.get("visitor") or record.get("peer")
    # The whole visit is kept here, so that the trace needs no other table.
    visit = [record.get(key) for key in ("user_agent", "url", "page", "vhost")]
    service = _scalar(record.get("service"))
    # A maze page the open proxy served carries the proxy's identity.
    via = record.get("via") or (service if service not in (None, MAZE) else None)
    return (
        event_id, address, _scalar(visitor), micros,
        _scalar(record.get("connection")),
        *(_scalar(value) for value in visit),
        _scalar(record.get("host")), service, _scalar(via),
    )  # fmt: skip


def _message_row(event_id: int, micros: int, record: Mapping[str, Any]) -> tuple:
    fields = ("connection", "peer", "host", "service", "queue_id", "message_id",
              "sender", "subject")  # fmt: skip
    return (event_id, micros, *(_scalar(record.get(key)) for key in fields))


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
