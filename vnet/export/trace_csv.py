"""The trace as CSV: one row per message sent to a trap address.

Each row repeats the harvest it goes back to, so a spreadsheet can sort
and filter without joins. Times are ISO 8601 UTC; `delay_seconds` is from
the harvest to the message. The roles a row shows are the ones
vnet.report.roles gives: the harvester's, and the sender's by the way the
message came (through the proxy: proxy-user and relay-user; to the relay:
relay-user; to a destination server: sink-sender).

Text that came from a peer (User-Agent, subject, sender...) and starts
with `=`, `+`, `-` or `@` gets a leading `'`, so that a spreadsheet shows
it instead of running it as a formula (CSV injection).

A role filter keeps the rows that show one of the roles; a time window
applies to the harvest for `harvester`, and to the message otherwise.
Without a role filter every row is a candidate, and the window applies to
the message.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from vnet.events.times import micros_to_iso
from vnet.report.roles import FOREVER, NEVER
from vnet.report.trace import Delivery, TrapTrace

COLUMNS = (
    "address", "harvester", "harvested", "user_agent", "url", "vhost",
    "harvest_host", "harvest_connection", "message_time", "source", "way",
    "proxy", "proxy_client", "next_hop", "proxy_chain", "server", "service",
    "queue_id", "message_id", "sender", "subject", "probe", "delay_seconds",
)  # fmt: skip


def sender_roles(message: Delivery) -> tuple[str, ...]:
    if message.path == "proxy":
        return ("proxy-user", "relay-user")
    if message.path == "relay":
        return ("relay-user",)
    if message.path == "sink":
        return ("sink-sender",)
    return ()


def _keep(
    item: TrapTrace, message: Delivery, roles: Iterable[str], since: int, until: int
) -> bool:
    for role in roles:
        if role == "harvester":
            moment = item.harvest.time if item.harvest else None
            shown = item.harvest is not None
        else:
            moment = message.time
            shown = role in sender_roles(message)
        if shown and moment is not None and since <= moment <= until:
            return True
    return False


def trace_csv(
    traces: list[TrapTrace],
    roles: tuple[str, ...] | None = None,
    since: int | None = None,
    until: int | None = None,
) -> str:
    """Rows for `roles` (None: every row, the window on the message)."""
    low = NEVER if since is None else since
    high = FOREVER if until is None else until
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for item in traces:
        for message in item.messages:
            if roles is None:
                keep = low <= message.time <= high
            else:
                keep = _keep(item, message, roles, low, high)
            if keep:
                writer.writerow(_row(item, message))
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PEER_TEXT = frozenset(
    ("user_agent", "url", "vhost", "next_hop", "proxy_chain", "message_id",
     "sender", "subject")
)  # fmt: skip


def _safe(column: str, value: object) -> object:
    if column in PEER_TEXT and isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def _row(item: TrapTrace, message: Delivery) -> list[object]:
    values = _values(item, message)
    return [_safe(column, value) for column, value in zip(COLUMNS, values, strict=True)]


def _values(item: TrapTrace, message: Delivery) -> list[object]:
    harvest = item.harvest
    hop = message.proxy
    return [
        item.address,
        harvest.visitor if harvest else "",
        micros_to_iso(harvest.time) if harvest else "",
        (harvest.user_agent or "") if harvest else "",
        (harvest.url or harvest.page or "") if harvest else "",
        (harvest.vhost or "") if harvest else "",
        (harvest.host or "") if harvest else "",
        (harvest.connection or "") if harvest else "",
        micros_to_iso(message.time),
        message.source or "",
        message.path,
        f"{hop.proxy}:{hop.port}" if hop else "",
        (hop.client or "") if hop else "",
        (hop.next_hop or "") if hop else "",
        " > ".join(hop.chain) if hop else "",
        message.host or "",
        message.service or "",
        message.queue_id or "",
        message.message_id or "",
        message.sender or "",
        message.subject or "",
        message.probe or "",
        "" if message.delay is None else f"{message.delay:.3f}",
    ]
