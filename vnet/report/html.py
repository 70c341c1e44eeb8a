"""The report as one self-contained HTML page (`vnet report --html FILE`).

Everything is inline: the style sheet, and the timeline as SVG. The page
fetches nothing and runs no script, so it opens the same from a mail
attachment, an air-gapped laptop or a web server.

The timeline has two lanes, harvests above and spam below. Bars show how
many addresses were issued and messages stored in each bucket of the run;
each traced address is a dot in the harvest lane, joined by a line to a
dot per message it received, coloured by the way the message came. Past
`MAX_TRACED` traced addresses only the bars are drawn, with a note: a
million dots would say less than the bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from vnet.events.times import micros_to_text
from vnet.report.model import Report
from vnet.report.text import duration
from vnet.report.trace import Delivery, TrapTrace

MAX_TRACED = 2000
WIDTH = 960
LEFT = 90
RIGHT = 20
HARVEST_LANE = (40, 130)
SPAM_LANE = (170, 260)
HEIGHT = 300
ROW_STEP = 9
PATH_COLOURS = {
    "proxy": "#d9480f",
    "relay": "#c92a2a",
    "relay probe": "#868e96",
    "sink": "#6741d9",
}
OTHER_COLOUR = "#495057"

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #212529; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
table { font-size: 13px; }
th, td { border-bottom: 1px solid #dee2e6; padding: .2em .6em; text-align: left;
  vertical-align: top; max-width: 30em; overflow-wrap: break-word; }
th { background: #f1f3f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .95em; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: .8em; height: .8em; border-radius: 50%;
  margin-right: .3em; vertical-align: middle; }
.note { color: #868e96; }
svg text { font: 11px system-ui, sans-serif; fill: #495057; }
"""


def render_html(report: Report) -> str:
    """The whole page, as text."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>vnet report: {escape(report.store or 'store')}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>vnet report: {escape(report.store or 'store')}</h1>",
        f"<p>{report.events:,} events{_span(report)}. Generated "
        f"{escape(micros_to_text(report.generated))} UTC.</p>",
        "<h2>Timeline</h2>",
        Timeline(report).svg(),
        _legend(),
        _trace_table(report.trace),
        _source_table(report),
        _harvester_table(report),
        _totals_table(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _span(report: Report) -> str:
    if not report.events:
        return ""
    totals = report.totals
    start, end = micros_to_text(totals.start), micros_to_text(totals.end)
    return f", {escape(start)} to {escape(end)} UTC"


def _legend() -> str:
    items = "".join(
        f'<span><i style="background:{colour}"></i>{escape(path)}</span>'
        for path, colour in PATH_COLOURS.items()
    )
    return f'<p class="legend">Messages by the way they came: {items}</p>'


class Timeline:
    """The SVG: bars per bucket, a dot per harvest and message, and links."""

    def __init__(self, report: Report) -> None:
        self.report = report
        totals = report.totals
        times = [totals.start, totals.start + totals.buckets * totals.width * 10**6]
        for item in report.trace[:MAX_TRACED]:
            if item.harvest is not None:
                times.append(item.harvest.time)
            times.extend(message.time for message in item.messages)
        self.low = min(times)
        self.high = max(max(times), self.low + 1)

    def x(self, micros: int) -> float:
        span = WIDTH - LEFT - RIGHT
        return LEFT + span * (micros - self.low) / (self.high - self.low)

    def svg(self) -> str:
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            'aria-label="harvests and spam over time">',
            f'<text x="4" y="{HARVEST_LANE[0] + 12}">harvests</text>',
            f'<text x="4" y="{SPAM_LANE[0] + 12}">spam</text>',
            *self._bars("web.address.issued", HARVEST_LANE, "#a5d8ff"),
            *self._bars("smtp.message.stored", SPAM_LANE, "#ffc9c9"),
            *self._axis(),
            *self._traces(),
            "</svg>",
        ]
        return "\n".join(parts)

    def _bars(self, moment: str, lane: tuple[int, int], colour: str) -> list[str]:
        totals = self.report.totals
        series = totals.moments.get(moment, [])
        peak = max(series, default=0)
        if not peak:
            return []
        top, bottom = lane
        micros = totals.width * 1_000_000
        bars = []
        for index, count in enumerate(series):
            if not count:
                continue
            left = self.x(totals.start + index * micros)
            right = self.x(totals.start + (index + 1) * micros)
            height = (bottom - top) * count / peak
            bars.append(
                f'<rect x="{left:.1f}" y="{bottom - height:.1f}" '
                f'width="{max(right - left - 1, 1):.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>{count} {escape(moment)}</title></rect>'
            )
        return bars

    def _axis(self) -> list[str]:
        bottom = SPAM_LANE[1]
        parts = [
            f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
            'stroke="#adb5bd"/>'
        ]
        ticks = 6
        for step in range(ticks + 1):
            micros = self.low + (self.high - self.low) * step // ticks
            x = self.x(micros)
            label = escape(micros_to_text(micros)[5:16])
            anchor = "start" if step == 0 else "end" if step == ticks else "middle"
            parts.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
                'stroke="#adb5bd"/>'
                f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="{anchor}">'
                f"{label}</text>"
            )
        return parts

    def _traces(self) -> list[str]:
        traced = self.report.trace
        if len(traced) > MAX_TRACED:
            return [
                f'<text x="{LEFT}" y="{HEIGHT - 6}">{len(traced):,} traced '
                "addresses: too many to draw one by one; the bars count them."
                "</text>"
            ]
        parts: list[str] = []
        for index, item in enumerate(traced):
            parts.extend(self._trace(index, item))
        return parts

    def _trace(self, index: int, item: TrapTrace) -> list[str]:
        y = _row_y(HARVEST_LANE, index)
        parts = []
        if item.harvest is not None:
            x = self.x(item.harvest.time)
            for message in item.messages:
                parts.append(self._link(x, y, message, index))
            title = f"{item.address} harvested by {item.harvest.visitor}"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y}" r="4" fill="#1971c2">'
                f"<title>{escape(title)}</title></circle>"
            )
        for message in item.messages:
            parts.append(self._message_dot(message, index, item.address))
        return parts

    def _message_y(self, index: int) -> int:
        return _row_y(SPAM_LANE, index)

    def _link(self, x: float, y: int, message: Delivery, index: int) -> str:
        return (
            f'<line x1="{x:.1f}" y1="{y}" x2="{self.x(message.time):.1f}" '
            f'y2="{self._message_y(index)}" stroke="#ced4da" stroke-width="1"/>'
        )

    def _message_dot(self, message: Delivery, index: int, address: str) -> str:
        colour = PATH_COLOURS.get(message.path, OTHER_COLOUR)
        title = (
            f"{address}: {message.path} from {message.source} "
            f"after {duration(message.delay)}"
        )
        return (
            f'<circle cx="{self.x(message.time):.1f}" cy="{self._message_y(index)}" '
            f'r="4" fill="{colour}"><title>{escape(title)}</title></circle>'
        )


def _row_y(lane: tuple[int, int], index: int) -> int:
    """The height of the index-th trace in a lane: each trace has its own
    row (cycling), so harvests of one moment stay apart and its links read."""
    top, bottom = lane
    rows = (bottom - top - 16) // ROW_STEP + 1
    return top + 8 + (index % rows) * ROW_STEP


# --- tables -----------------------------------------------------------------------


def _table(headers: list[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(_td(value) for value in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{escape('-' if value is None else str(value))}</td>"


def _trace_table(traces: list[TrapTrace]) -> str:
    rows = []
    for item in traces:
        harvest = item.harvest
        for message in item.messages:
            rows.append(
                [
                    item.address,
                    harvest.visitor if harvest else None,
                    micros_to_text(harvest.time) if harvest else None,
                    (harvest.url or harvest.page) if harvest else None,
                    harvest.user_agent if harvest else None,
                    micros_to_text(message.time),
                    message.source,
                    _way(message),
                    duration(message.delay),
                ]
            )
    headers = [
        "Trap address", "Harvested by", "At", "Page", "User-Agent",
        "Mail at", "From", "Way", "Delay",
    ]  # fmt: skip
    count = len(traces)
    return (
        f"<h2>Trace: {count} trap address{'' if count == 1 else 'es'} "
        f"received mail</h2>{_table(headers, rows)}"
    )


def _way(message: Delivery) -> str:
    hop = message.proxy
    if hop is not None:
        way = f"proxy {hop.proxy}:{hop.port}"
        if hop.next_hop:
            way += f" asked {hop.next_hop}"
        if hop.chain:
            way += " chain " + " > ".join(hop.chain)
        way += f" -> relay {message.host}"
    elif message.path == "relay":
        way = f"relay {message.host}"
    elif message.path == "sink":
        way = f"direct to {message.host}"
    else:
        way = f"{message.path} {message.host}"
    return f"{way} [{message.probe}]" if message.probe else way


def _source_table(report: Report) -> str:
    rows = [
        [
            item.address,
            micros_to_text(item.first),
            micros_to_text(item.last),
            item.messages,
            item.via_proxy,
            item.via_relay,
            item.direct,
            item.trap_recipients,
            item.probes,
            item.proxy_requests,
            ", ".join(f"{hop} ({count})" for hop, count in item.next_hops.items()),
            "; ".join(" > ".join(chain) for chain in item.chains),
            item.trap_lookups,
        ]
        for item in report.sources
    ]
    headers = [
        "Source", "First seen", "Last seen", "Messages", "Via proxy",
        "Via relay", "Direct", "Trap recipients", "Probes", "Proxy requests",
        "Next hops", "Proxy chains", "Trap-domain lookups",
    ]  # fmt: skip
    return f"<h2>Spam sources: {len(rows)}</h2>{_table(headers, rows)}"


def _harvester_table(report: Report) -> str:
    rows = [
        [
            item.address,
            micros_to_text(item.first),
            item.pages,
            item.proxy_pages,
            duration(item.seconds),
            item.addresses,
            item.spammed,
            item.robots,
            "; ".join(item.user_agents),
        ]
        for item in report.harvesters
    ]
    headers = [
        "Harvester", "First seen", "Pages", "Pages via proxy", "In maze",
        "Addresses", "Spammed", "robots.txt", "User-Agents",
    ]  # fmt: skip
    return f"<h2>Harvesters: {len(rows)}</h2>{_table(headers, rows)}"


def _totals_table(report: Report) -> str:
    totals = report.totals
    services = sorted(totals.services)
    micros = totals.width * 1_000_000
    rows = [
        [micros_to_text(totals.start + index * micros)]
        + [totals.services[name][index] for name in services]
        for index in range(totals.buckets)
        if any(totals.services[name][index] for name in services)
    ]
    by_event = [[name, count] for name, count in totals.events.items()]
    return (
        f"<h2>Events per service, per {escape(duration(totals.width))}</h2>"
        f"{_table(['From (UTC)', *services], rows)}"
        f"<h2>Events by id</h2>{_table(['Event', 'Count'], by_event)}"
    )
