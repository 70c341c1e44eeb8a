"""The honeypot's record: events as JSON lines.

Events are data, not diagnostics. Each is one JSON object on one line with a
dotted id (`tcp.connection.open`, `net.host.contacted`), a UTC timestamp, and
the fields that identify who did what to which virtual host.
"""

from vnet.events.jsonl import EventLog, EventSink, NullSink

__all__ = ["EventLog", "EventSink", "NullSink"]
