"""The event store: rows and joins, batching, SIGKILL, rebuilding from lines."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.events.campaign import Campaign
from tests.events.killed_writer import MESSAGE_EVERY
from vnet.events import EventLog
from vnet.events.store import (
    BATCH_LIMIT,
    EventStore,
    StoreError,
    import_jsonl,
    open_reader,
    read_jsonl,
)
from vnet.events.tee import Tee

REPOSITORY = Path(__file__).resolve().parents[2]


def count(path: Path, table: str = "events") -> int:
    db = open_reader(path)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    db = open_reader(path)
    try:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("events", "traps", "messages", "recipients")
        }
    finally:
        db.close()


# --- rows ---------------------------------------------------------------------


def test_bound_fields_get_columns_and_the_rest_stays_json(tmp_path):
    with EventStore.open(tmp_path / "s.db", clock=lambda: 1_796_000_000.25) as store:
        store.emit(
            "web.request", connection="0001-000001", peer="203.0.113.9",
            peer_port=40001, host="198.51.100.10", port=80, service="web-maze",
            path="/", status=200,
        )  # fmt: skip
    db = open_reader(tmp_path / "s.db")
    row = db.execute("SELECT * FROM events").fetchone()
    assert row[:9] == (
        1, 1_796_000_000_250_000, "web.request", "0001-000001", "203.0.113.9",
        40001, "198.51.100.10", 80, "web-maze",
    )  # fmt: skip
    assert json.loads(row[9]) == {"path": "/", "status": 200}


def test_issued_addresses_and_recipients_are_indexed_in_lower_case(tmp_path):
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("web.address.issued", address="Anna.X@Example.test",
                   visitor="203.0.113.9", peer="203.0.113.9")  # fmt: skip
        store.emit(
            "smtp.message.stored",
            peer="203.0.113.50",
            service="smtp-sink",
            queue_id="q1",
            message_id="<m@x>",
            recipients=["ANNA.x@example.TEST", "anna.x@example.test", "b@y"],
        )
    db = open_reader(tmp_path / "s.db")
    assert db.execute("SELECT address, visitor FROM traps").fetchall() == [
        ("anna.x@example.test", "203.0.113.9")
    ]
    assert db.execute("SELECT source, service, queue_id FROM messages").fetchall() == [
        ("203.0.113.50", "smtp-sink", "q1")
    ]
    # One row per distinct recipient, whatever its case.
    assert db.execute("SELECT address FROM recipients ORDER BY 1").fetchall() == [
        ("anna.x@example.test",),
        ("b@y",),
    ]
    joined = db.execute(
        "SELECT count(*) FROM recipients r JOIN traps t ON t.address = r.address"
    ).fetchone()[0]
    assert joined == 1


def test_the_joins_use_their_indexes(tmp_path):
    EventStore.open(tmp_path / "s.db").close()
    db = open_reader(tmp_path / "s.db")
    plans = {
        "SELECT * FROM traps WHERE address = 'a'": "traps_address",
        "SELECT * FROM recipients WHERE address = 'a'": "recipients_address",
        "SELECT * FROM events WHERE connection = 'c'": "events_connection",
        "SELECT peer, count(*) FROM events WHERE event = 'web.request' GROUP BY peer":
            "events_event_peer",
    }  # fmt: skip
    for query, index in plans.items():
        plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + query))
        assert index in plan, (query, plan)


def test_wal_mode_and_a_reader_beside_the_writer(tmp_path):
    store = EventStore.open(tmp_path / "s.db")
    store.emit("smtp.message.stored", recipients=[])
    reader = open_reader(tmp_path / "s.db")
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.emit("smtp.message.stored", recipients=[])
    assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("INSERT INTO events (time, event, fields) VALUES (0, 'x', '')")
    store.close()


def test_a_file_that_is_no_store_is_refused(tmp_path):
    (tmp_path / "junk").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not an event store"):
        open_reader(tmp_path / "junk")
    with pytest.raises(StoreError, match="not an event store"):
        EventStore.open(tmp_path / "junk")
    with pytest.raises(StoreError, match="no event store"):
        open_reader(tmp_path / "missing.db")
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("PRAGMA user_version = 7")
    other.close()
    with pytest.raises(StoreError, match="schema 7"):
        EventStore.open(tmp_path / "other.db")


# --- batching -------------------------------------------------------------------


def test_events_wait_for_the_timer_and_messages_do_not(tmp_path):
    path = tmp_path / "s.db"

    async def scenario() -> list[int]:
        seen = []
        store = EventStore.open(path, interval=0.3)
        store.emit("tcp.connection.open")
        store.emit("web.request")
        seen.append(count(path))  # nothing committed yet
        await asyncio.sleep(0.45)
        seen.append(count(path))  # the timer committed both
        store.emit("tcp.connection.open")
        store.emit("smtp.message.stored", recipients=["a@example.test"])
        seen.append(count(path))  # the message took the one before it along
        store.close()
        return seen

    assert asyncio.run(scenario()) == [0, 2, 4]


def test_one_commit_per_batch_in_a_busy_second(tmp_path):
    async def scenario() -> EventStore:
        store = EventStore.open(tmp_path / "s.db", interval=0.2)
        for _ in range(500):
            store.emit("web.request")
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        return store

    store = asyncio.run(scenario())
    assert store.commits == 1
    assert count(tmp_path / "s.db") == 500
    store.close()


def test_the_writer_thread_commits_without_a_loop(tmp_path):
    path = tmp_path / "s.db"
    store = EventStore.open(path, interval=0.2)
    store.emit("a")
    store.emit("b")
    assert count(path) == 0
    time.sleep(0.4)
    assert count(path) == 2
    store.emit("c")
    store.close()
    assert count(path) == 3
    assert store.commits == 2


def wait_for_rows(path: Path, wanted: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while (found := count(path)) < wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def test_a_full_batch_commits_without_waiting_for_its_interval(tmp_path):
    path = tmp_path / "s.db"
    store = EventStore.open(path, interval=60)
    for _ in range(BATCH_LIMIT):
        store.emit("web.request")
    assert wait_for_rows(path, BATCH_LIMIT, seconds=10) == BATCH_LIMIT
    store.close()


def test_records_keep_their_order_across_the_writer_and_a_message(tmp_path):
    path = tmp_path / "s.db"
    store = EventStore.open(path, interval=0.001)
    for sequence in range(2_000):
        event = "smtp.message.stored" if sequence % 97 == 0 else "web.request"
        store.emit(event, sequence=sequence, recipients=[])
    store.close()
    db = open_reader(path)
    stored = [row[0] for row in db.execute(
        "SELECT fields ->> '$.sequence' FROM events ORDER BY id")]  # fmt: skip
    assert stored == list(range(2_000))


# --- SIGKILL ----------------------------------------------------------------------


def test_a_killed_writer_loses_at_most_the_last_second(tmp_path):
    path = tmp_path / "s.db"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.events.killed_writer", str(path)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    printed = []
    # Killed long after the last message, whose commit took everything
    # before it along: what survives past it is the timer's doing.
    kill_at = 2 * MESSAGE_EVERY - 20
    while not printed or int(printed[-1][0]) < kill_at:
        line = writer.stdout.readline()
        assert line, "the writer died by itself"
        printed.append(line.split())
    killed = time.monotonic()
    writer.send_signal(signal.SIGKILL)
    printed += [line.split() for line in writer.stdout.read().splitlines()]
    writer.wait(10)
    writer.stdout.close()

    db = open_reader(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {
        row[0] for row in db.execute("SELECT fields ->> '$.sequence' FROM events")
    }
    messages = [int(seq) for seq, event, _ in printed if event == "smtp.message.stored"]
    assert messages and all(seq in stored for seq in messages)
    lost = [float(at) for seq, _, at in printed if int(seq) not in stored]
    assert len(stored) > MESSAGE_EVERY
    # Whatever was lost was written in the last second (and a little more
    # for the scheduler of a loaded machine) before the kill.
    assert all(killed - at < 1.3 for at in lost), max(killed - at for at in lost)


# --- rebuilding from the lines -------------------------------------------------------


def test_import_rebuilds_the_store_the_run_wrote(tmp_path):
    lines = io.StringIO()
    live = EventStore.open(tmp_path / "live.db")
    tee = Tee(EventLog(lines), live, clock=lambda: 1_796_000_000.123456)
    tee.emit("net.host.contacted", host="198.51.100.10", name="www.example.test")
    tee.emit(
        "tcp.connection.open",
        connection="1-1",
        peer="203.0.113.9",
        peer_port=5,
        host="198.51.100.10",
        port=80,
        service="web-maze",
    )
    tee.emit("odd.types", values=(1, 2), nested={"k": [1.5, None]}, blob=b"\x00")
    campaign = Campaign(tee.write)
    issued = campaign.crawl("203.0.113.66", "EmailSiphon", pages=3)
    campaign.via_proxy("203.0.113.50", [issued[0].address], chain=["192.0.2.1"])
    campaign.direct_to_sink("203.0.113.52", [issued[1].address, "x@example.org"])
    live.close()

    (tmp_path / "events.jsonl").write_text(lines.getvalue())
    with EventStore.open(tmp_path / "rebuilt.db") as rebuilt:
        imported = import_jsonl(tmp_path / "events.jsonl", rebuilt)
    assert imported == len(lines.getvalue().splitlines())
    assert dump(tmp_path / "rebuilt.db") == dump(tmp_path / "live.db")
    assert count(tmp_path / "rebuilt.db", "traps") == len(issued)


def test_import_skips_a_line_cut_short_by_a_crash(tmp_path, caplog):
    good = json.dumps({"event": "a", "time": "2026-11-30T00:53:20.000001Z"})
    text = "\n".join([good, "", '{"event": "b", "time": 3}', good[:20]]) + "\n"
    records = list(read_jsonl(io.StringIO(text), "events.jsonl"))
    assert [record["event"] for record in records] == ["a"]
    assert "events.jsonl:3" in caplog.text and "events.jsonl:4" in caplog.text


def test_import_appends_to_an_existing_store(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog.open(str(path))
    for number in range(5):
        log.emit("web.request", number=number)
    log.close()
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("vnet.started")
        assert import_jsonl(path, store) == 5
    db = open_reader(tmp_path / "s.db")
    ids = [row[0] for row in db.execute("SELECT id FROM events ORDER BY id")]
    assert ids == [1, 2, 3, 4, 5, 6]


def test_a_maze_page_served_by_the_proxy_is_marked_as_through_it(tmp_path):
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("web.address.issued", address="a@example.test", peer="192.0.2.9",
                   visitor="192.0.2.9", service="open-proxy")  # fmt: skip
        store.emit("web.address.issued", address="b@example.test", peer="192.0.2.9",
                   visitor="192.0.2.9", service="web-maze")  # fmt: skip
    db = open_reader(tmp_path / "s.db")
    rows = db.execute("SELECT address, service, via FROM traps ORDER BY 1").fetchall()
    assert rows == [
        ("a@example.test", "open-proxy", "open-proxy"),
        ("b@example.test", "web-maze", None),
    ]
