"""Prometheus metrics: counted from events, read from the engine, served."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.events.campaign import Campaign
from vnet.events.metrics import (
    SHAPED_MEMORY,
    ListenError,
    MetricsSink,
    parse_listen,
    serve_registry,
    start_metrics,
    watch_engine,
)
from vnet.events.tee import Tee


class FakeEngine:
    def __init__(self) -> None:
        self.figures = {
            "hosts_contacted": 3, "frames_in": 120, "frames_out": 118,
            "frames_dropped": 1, "malformed": 2, "connections": 4,
        }  # fmt: skip

    def summary(self) -> dict:
        return dict(self.figures)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(port: int, target: str = "/metrics") -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    response = (await reader.read()).decode()
    writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return head, body


def serve_and_scrape(registry: CollectorRegistry, *targets: str) -> list[tuple]:
    async def scenario():
        server = await serve_registry("127.0.0.1", 0, registry)
        port = server.sockets[0].getsockname()[1]
        try:
            return [await scrape(port, target) for target in targets]
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(scenario())


def test_a_campaign_is_counted_by_event_and_by_what_it_means():
    sink = MetricsSink()
    campaign = Campaign(Tee(sink).write)
    issued = campaign.crawl("203.0.113.66", "EmailSiphon", pages=3, per_page=2)
    campaign.via_relay("203.0.113.51", [issued[0].address], probe=True)
    campaign.direct_to_sink("203.0.113.52", [issued[1].address])
    sink.emit("smtp.probe.forwarded", service="smtp-relay", dry_run=True)

    [(head, body)] = serve_and_scrape(sink.registry, "/metrics")
    figures = samples(body)

    assert head.startswith("HTTP/1.1 200 OK")
    assert "text/plain; version=0.0.4" in head
    assert figures[("vnet_trap_addresses_issued_total", ())] == 6
    assert figures[("vnet_messages_stored_total", (("service", "smtp-relay"),))] == 1
    assert figures[("vnet_messages_stored_total", (("service", "smtp-sink"),))] == 1
    # The dry run's record is counted as an event, not as a delivery.
    assert figures[("vnet_probes_forwarded_total", ())] == 1
    assert figures[("vnet_events_total", (("event", "web.request"),))] == 3
    assert figures[("vnet_connections_total", (("service", "web-maze"),))] == 1


def test_the_engine_is_read_at_each_scrape():
    sink = MetricsSink()
    engine = FakeEngine()
    watch_engine(sink.registry, engine)

    async def scenario():
        server = await serve_registry("127.0.0.1", 0, sink.registry)
        port = server.sockets[0].getsockname()[1]
        first = samples((await scrape(port))[1])
        engine.figures["frames_in"] = 500
        engine.figures["connections"] = 0
        second = samples((await scrape(port))[1])
        server.close()
        await server.wait_closed()
        return first, second

    first, second = asyncio.run(scenario())
    assert first[("vnet_frames_received_total", ())] == 120
    assert first[("vnet_frames_malformed_total", ())] == 2
    assert first[("vnet_connections_open", ())] == 4
    assert second[("vnet_frames_received_total", ())] == 500
    assert second[("vnet_connections_open", ())] == 0


def test_shaped_sources_are_counted_once_each_within_a_bound():
    sink = MetricsSink()
    for source in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
        sink.emit("net.shaped", source=source, reason="rate")
    assert sink.registry.get_sample_value("vnet_shaped_sources") == 2
    for number in range(SHAPED_MEMORY + 10):
        sink.emit("net.shaped", source=f"10.{number >> 16}.{number >> 8 & 255}.x")
    assert sink.registry.get_sample_value("vnet_shaped_sources") <= SHAPED_MEMORY


def test_other_paths_are_not_found_and_garbage_is_dropped():
    sink = MetricsSink()

    async def scenario():
        server = await serve_registry("127.0.0.1", 0, sink.registry)
        port = server.sockets[0].getsockname()[1]
        missing = await scrape(port, "/secret")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00" * 9000)
        dropped = await reader.read()
        writer.close()
        still = await scrape(port)
        server.close()
        await server.wait_closed()
        return missing, dropped, still

    missing, dropped, still = asyncio.run(scenario())
    assert missing[0].startswith("HTTP/1.1 404")
    assert dropped == b""
    assert still[0].startswith("HTTP/1.1 200")


def test_start_metrics_binds_the_address_it_is_given():
    async def scenario():
        probe = await serve_registry("127.0.0.1", 0, CollectorRegistry())
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        server = await start_metrics(f"127.0.0.1:{port}", MetricsSink().registry)
        head, body = await scrape(port)
        server.close()
        await server.wait_closed()
        return head, body

    head, body = asyncio.run(scenario())
    assert head.startswith("HTTP/1.1 200") and "vnet_events_total" in body


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9108", ("127.0.0.1", 9108)), ("[::1]:9108", ("::1", 9108))],
)
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9108", "127.0.0.1:", "127.0.0.1:0", "host:99999"])
def test_bad_listen_addresses(text):
    with pytest.raises(ListenError, match="HOST:PORT"):
        parse_listen(text)
