"""Prometheus metrics of a running vnet (`vnet run --metrics 127.0.0.1:9108`).

Two kinds of figures, in one registry of vnet's own (never the process-wide
default, so tests and embedders can make as many as they like):

- counted from events, by `MetricsSink`, which sits in the `Tee` beside
  the JSON lines and the store: events by id, connections by service,
  trap addresses issued, messages stored by service, probes forwarded,
  sources shaped;
- read from the engine when Prometheus scrapes, by `EngineCollector`:
  frames in, out, dropped and malformed, hosts contacted, connections
  open now.

`start_metrics` serves them over HTTP on the engine's own asyncio loop
(no thread): `GET /metrics` answers the text exposition format, anything
else 404. The exposition is built by prometheus-client, and labelled as
text format 0.0.4, which every Prometheus version reads (vnet's metric
names need none of format 1.0.0's escaping).

Limitation: the distinct shaped sources are counted over the last
`SHAPED_MEMORY` sources only, so that a flood of addresses cannot grow the
count's memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger(__name__)

SHAPED_MEMORY = 65_536
REQUEST_LIMIT = 8192
REQUEST_TIMEOUT = 5.0


class MetricsSink:
    """An event sink that counts events for Prometheus."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        registry = self.registry
        self.events = Counter(
            "vnet_events", "Events recorded, by id.", ["event"], registry=registry
        )
        self.connections = Counter(
            "vnet_connections",
            "TCP connections accepted, by service.",
            ["service"],
            registry=registry,
        )
        self.addresses = Counter(
            "vnet_trap_addresses_issued",
            "Trap addresses handed out to visitors.",
            registry=registry,
        )
        self.messages = Counter(
            "vnet_messages_stored",
            "Messages stored, by service.",
            ["service"],
            registry=registry,
        )
        self.probes = Counter(
            "vnet_probes_forwarded",
            "Probe messages the relays really delivered.",
            registry=registry,
        )
        self.shaped = Counter(
            "vnet_shaped", "Shaping decisions (net.shaped).", registry=registry
        )
        self.shaped_sources = Gauge(
            "vnet_shaped_sources",
            f"Distinct sources shaped, among the last {SHAPED_MEMORY}.",
            registry=registry,
        )
        self._shaped: OrderedDict[str, None] = OrderedDict()

    def emit(self, event_id: str, **fields: Any) -> None:
        self._count(event_id, fields)

    def write(self, record: Mapping[str, Any], line: str | None = None) -> None:
        self._count(record["event"], record)

    def _count(self, event_id: str, fields: Mapping[str, Any]) -> None:
        self.events.labels(event_id).inc()
        service = str(fields.get("service") or "")
        if event_id == "tcp.connection.open":
            self.connections.labels(service).inc()
        elif event_id == "web.address.issued":
            self.addresses.inc()
        elif event_id == "smtp.message.stored":
            self.messages.labels(service).inc()
        elif event_id == "smtp.probe.forwarded" and not fields.get("dry_run"):
            self.probes.inc()
        elif event_id == "net.shaped":
            self._note_shaped(fields)

    def _note_shaped(self, fields: Mapping[str, Any]) -> None:
        self.shaped.inc()
        source = str(fields.get("source") or fields.get("peer") or "")
        self._shaped[source] = None
        self._shaped.move_to_end(source)
        if len(self._shaped) > SHAPED_MEMORY:
            self._shaped.popitem(last=False)
        self.shaped_sources.set(len(self._shaped))


class EngineCollector:
    """The engine's counters, read at each scrape.

    `engine` is anything with `summary()` returning the keys of
    vnet.engine.Engine.summary.
    """

    COUNTERS = (
        ("frames_in", "vnet_frames_received", "Frames read from the link."),
        ("frames_out", "vnet_frames_sent", "Frames written to the link."),
        ("frames_dropped", "vnet_frames_dropped", "Frames the link refused."),
        ("malformed", "vnet_frames_malformed", "Frames dropped as malformed."),
        ("hosts_contacted", "vnet_hosts_contacted", "Virtual hosts brought up."),
    )

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        summary = self.engine.summary()
        for key, name, help_text in self.COUNTERS:
            yield CounterMetricFamily(name, help_text, value=summary.get(key, 0))
        yield GaugeMetricFamily(
            "vnet_connections_open",
            "TCP connections open now.",
            value=summary.get("connections", 0),
        )


def watch_engine(registry: CollectorRegistry, engine: Any) -> None:
    """Add the engine's counters to `registry`."""
    registry.register(EngineCollector(engine))


# --- serving ------------------------------------------------------------------


class ListenError(ValueError):
    """A --metrics address that is not HOST:PORT."""


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:9108` -> ("127.0.0.1", 9108); ListenError if malformed."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ListenError(f"found {text!r}; allowed: HOST:PORT with a port 1-65535")
    return host, int(port)


async def start_metrics(address: str, registry: CollectorRegistry) -> asyncio.Server:
    """Serve `registry` at http://ADDRESS/metrics on the running loop.

    OSError if the address cannot be bound. Close the returned server when
    vnet stops.
    """
    host, port = parse_listen(address)
    return await serve_registry(host, port, registry)


async def serve_registry(
    host: str, port: int, registry: CollectorRegistry
) -> asyncio.Server:
    """The server behind `start_metrics`; port 0 picks a free one."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            await _answer(reader, writer, registry)
        except (
            ConnectionError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=REQUEST_LIMIT)


async def _answer(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    registry: CollectorRegistry,
) -> None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
    method, _, rest = head.partition(b" ")
    target = rest.partition(b" ")[0].partition(b"?")[0]
    if method in (b"GET", b"HEAD") and target in (b"/metrics", b"/"):
        body = generate_latest(registry)
        status, kind = b"200 OK", CONTENT_TYPE_PLAIN_0_0_4.encode()
    else:
        body, status, kind = b"not found\n", b"404 Not Found", b"text/plain"
    writer.write(
        b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind
        + b"\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + (b"" if method == b"HEAD" else body)
    )  # fmt: skip
    await writer.drain()
