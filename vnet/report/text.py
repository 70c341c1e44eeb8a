"""The report as text tables, for a terminal (`vnet report`).

Long tables are cut at `limit` rows, with a line that says how many were
left out; `--json` and `--html` always carry every row.
"""

from __future__ import annotations

from collections.abc import Sequence

from vnet.events.times import micros_to_text
from vnet.report.model import Report
from vnet.report.trace import Delivery, Harvest, TrapTrace


def duration(seconds: float | None) -> str:
    """4s, 4m37s, 2h05m, 3d04h: two units at most."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{sign}{abs(seconds):.1f}s" if whole < 10 else f"{sign}{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{sign}{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d{hours:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns padded to their widest cell; numbers to the right."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    numeric = [
        all(isinstance(row[index], int | float) for row in rows) and bool(rows)
        for index in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(list(headers)), *(line(row) for row in cells)]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _cut(rows: list, limit: int) -> tuple[list, list[str]]:
    if limit <= 0 or len(rows) <= limit:
        return rows, []
    return rows[:limit], [f"... and {len(rows) - limit} more (see --json)"]


# --- sections -------------------------------------------------------------------


def render_text(report: Report, limit: int = 50) -> str:
    lines = [_heading(report), ""]
    lines += _trace_section(report.trace, limit)
    lines += _harvester_section(report, limit)
    lines += _source_section(report, limit)
    lines += _totals_section(report)
    return "\n".join(lines).rstrip() + "\n"


def _heading(report: Report) -> str:
    totals = report.totals
    span = ""
    if report.events:
        span = f", {micros_to_text(totals.start)} to {micros_to_text(totals.end)} UTC"
    return f"vnet report: {report.store or 'store'}: {report.events:,} events{span}"


def _trace_section(traces: list[TrapTrace], limit: int) -> list[str]:
    count = len(traces)
    lines = [f"Trace: {count} trap address{'' if count == 1 else 'es'} received mail"]
    shown, more = _cut(traces, limit)
    for item in shown:
        lines.append(f"  {item.address}")
        if item.harvest is not None:
            lines.append("    harvested " + _harvest_text(item.harvest, item))
        for message in item.messages:
            lines.append("    mail      " + _delivery_text(message))
    return [*lines, *("  " + line for line in more), ""]


def _harvest_text(harvest: Harvest, item: TrapTrace) -> str:
    where = harvest.url or harvest.page or ""
    if harvest.vhost:
        where += f" (vhost {harvest.vhost})"
    parts = [micros_to_text(harvest.time), f"by {harvest.visitor}"]
    if harvest.user_agent:
        parts.append(f'"{harvest.user_agent}"')
    if where:
        parts.append(where)
    if harvest.via:
        parts.append(f"via {harvest.via}")
    if harvest.decoded:
        parts.append("(decoded from the address; no issue record)")
    if item.issued_times > 1:
        parts.append(f"(issued {item.issued_times} times; first shown)")
    return "  ".join(parts)


def _delivery_text(message: Delivery) -> str:
    parts = [micros_to_text(message.time), f"from {message.source}"]
    hop = message.proxy
    if hop is not None:
        via = f"via proxy {hop.proxy}:{hop.port}"
        if hop.protocol:
            via += f" ({hop.protocol})"
        parts.append(via)
        if hop.next_hop:
            parts.append(f"asked {hop.next_hop}")
        if hop.chain:
            parts.append("chain " + " > ".join(hop.chain))
        parts.append(f"-> relay {message.host}")
    elif message.path == "relay":
        parts.append(f"via relay {message.host}")
    elif message.path == "relay probe":
        parts.append(f"probe forwarded by relay (queue {message.forwarded_from})")
        parts.append(f"-> sink {message.host}")
    elif message.path == "sink":
        parts.append(f"direct to sink {message.host}")
    else:
        parts.append(f"to {message.service} {message.host}")
    if message.probe:
        parts.append(f"[{message.probe}]")
    parts.append(f"after {duration(message.delay)}")
    return "  ".join(parts)


def _harvester_section(report: Report, limit: int) -> list[str]:
    rows = [
        [
            item.address,
            item.pages + item.proxy_pages,
            duration(item.seconds),
            item.addresses,
            item.spammed,
            item.robots,
            (item.user_agents[0] if item.user_agents else "-")[:40],
        ]
        for item in report.harvesters
    ]
    rows, more = _cut(rows, limit)
    headers = ["HARVESTER", "PAGES", "IN MAZE", "TAKEN", "SPAMMED", "ROBOTS.TXT"]
    lines = [f"Harvesters: {len(report.harvesters)}"]
    lines += ["  " + line for line in table([*headers, "USER-AGENT"], rows)]
    return [*lines, *("  " + line for line in more), ""]


def _source_section(report: Report, limit: int) -> list[str]:
    rows = [
        [
            item.address,
            item.messages,
            item.via_proxy,
            item.via_relay,
            item.direct,
            item.trap_recipients,
            item.probes,
            item.proxy_requests,
            ", ".join(sorted(item.next_hops))[:40] or "-",
            len(item.chains),
        ]
        for item in report.sources
    ]
    rows, more = _cut(rows, limit)
    headers = [
        "SOURCE", "MESSAGES", "PROXY", "RELAY", "DIRECT", "TRAP RCPT",
        "PROBES", "PROXY REQ", "NEXT HOPS", "CHAINS",
    ]  # fmt: skip
    lines = [f"Spam sources: {len(report.sources)}"]
    lines += ["  " + line for line in table(headers, rows)]
    return [*lines, *("  " + line for line in more), ""]


def _totals_section(report: Report) -> list[str]:
    totals = report.totals
    services = sorted(totals.services)
    width = duration(totals.width)
    lines = [f"Events per service, per {width}:"]
    micros = totals.width * 1_000_000
    rows = [
        [micros_to_text(totals.start + index * micros)]
        + [totals.services[name][index] for name in services]
        for index in range(totals.buckets)
        if any(totals.services[name][index] for name in services)
    ]
    lines += ["  " + line for line in table(["FROM (UTC)", *services], rows)]
    lines += ["", "Events by id:"]
    rows = [[name, count] for name, count in totals.events.items()]
    lines += ["  " + line for line in table(["EVENT", "COUNT"], rows)]
    return [*lines, ""]
