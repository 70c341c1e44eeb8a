"""The honeypot's record: events as JSON lines, and in an SQLite store.

Events are data, not diagnostics. Each is one JSON object on one line with a
dotted id (`tcp.connection.open`, `net.host.contacted`), a UTC timestamp, and
the fields that identify who did what to which virtual host.

- `jsonl`: the JSON lines (`EventLog`);
- `store`: the same records in SQLite, for the report (`EventStore`;
  SCHEMA.md describes its tables);
- `tee`: one timestamp for several sinks (`Tee`);
- `metrics`: Prometheus counters (imported on its own, as it needs
  prometheus-client);
- `times`: event times as text and as microseconds.
"""

from vnet.events.jsonl import EventLog, EventSink, NullSink
from vnet.events.store import EventStore, StoreError
from vnet.events.tee import Tee

__all__ = ["EventLog", "EventSink", "EventStore", "NullSink", "StoreError", "Tee"]
