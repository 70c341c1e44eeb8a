"""The report on a synthetic campaign: the trace, the tables, the totals."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser

import pytest

from tests.report.scenario import EMAIL_SIPHON, OUTSIDE, WGET, build
from vnet.events.store import EventStore, open_reader
from vnet.events.times import iso_to_micros
from vnet.report import build_report, render_html, render_text, to_json
from vnet.report.text import duration


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return build(tmp_path_factory.mktemp("report") / "store.db")


@pytest.fixture(scope="module")
def report(scenario):
    return build_report(open_reader(scenario.path), store="store.db")


def traced(report) -> dict:
    return {item.address: item for item in report.trace}


# --- the trace ----------------------------------------------------------------


def test_exactly_the_spammed_trap_addresses_are_traced(scenario, report):
    assert set(traced(report)) == set(scenario.spam)
    assert OUTSIDE not in traced(report)
    assert not set(traced(report)) & {item.address for item in scenario.decoys}


def test_each_address_goes_back_to_the_exact_visit_that_harvested_it(scenario, report):
    for address, item in traced(report).items():
        issued = scenario.harvests[address]
        harvest = item.harvest
        assert harvest.visitor == issued.visitor
        assert harvest.time == iso_to_micros(issued.time)
        assert harvest.url == issued.url
        assert harvest.vhost == issued.vhost
        assert harvest.user_agent == issued.user_agent
        assert harvest.connection == issued.connection
        assert not harvest.decoded and item.issued_times == 1


def test_the_harvest_record_is_the_one_with_that_address(scenario, report):
    db = open_reader(scenario.path)
    for address, item in traced(report).items():
        fields = db.execute(
            "SELECT fields ->> '$.address' FROM events WHERE id = ?",
            (item.harvest.event_id,),
        ).fetchone()[0]
        assert fields == address


def test_each_message_has_its_source_and_its_way(scenario, report):
    for address, item in traced(report).items():
        ways = [(message.source, message.path) for message in item.messages]
        assert ways == scenario.spam[address]


def test_proxy_hops_name_the_client_the_proxy_the_next_hop_and_the_chain(
    scenario, report
):
    proxied = [
        message
        for item in report.trace
        for message in item.messages
        if message.path == "proxy"
    ]
    assert {message.connection for message in proxied} == set(
        scenario.proxy_connections
    )
    for message in proxied:
        assert message.proxy.client == "203.0.113.50" == message.source
        assert message.proxy.proxy == "198.51.100.20"
        assert message.proxy.port == 3128
        assert message.proxy.next_hop == "mx.example.test:25"
        assert message.host == "198.51.100.25" and message.service == "smtp-relay"
    chains = sorted(tuple(message.proxy.chain) for message in proxied)
    assert chains == [(), ("192.0.2.1",), ("192.0.2.1",)]


def test_the_forwarded_probe_and_its_copy_on_the_sink(report):
    relay, copy = [
        message
        for item in report.trace
        for message in item.messages
        if message.source == "203.0.113.51"
    ]
    assert relay.probe == "probe forwarded"
    assert copy.path == "relay probe" and copy.forwarded_from == relay.queue_id
    assert copy.message_id == relay.message_id


def test_the_delay_is_from_harvest_to_message(report):
    for item in report.trace:
        for message in item.messages:
            assert message.delay == (message.time - item.harvest.time) / 1e6
            assert message.delay > 3 * 3600


def test_a_decoder_traces_an_address_with_no_issue_record(tmp_path):
    from services.web_maze import traps

    secret = bytes(range(32))
    address = traps.opaque_address(
        secret, "kwagner_", "203.0.113.44", 1_795_990_000_123, "example.test"
    )
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit(
            "smtp.message.stored",
            peer="203.0.113.52",
            service="smtp-sink",
            recipients=[address, "forged_aaaaaaaaaaaaaaaaaaaaa@example.test"],
        )

    def decode(text):
        visit = traps.decode(text, secret)
        return None if visit is None else (visit.ip, visit.time)

    db = open_reader(tmp_path / "s.db")
    assert build_report(db).trace == []
    [item] = build_report(db, decode).trace
    assert item.address == address
    assert item.harvest.decoded and item.harvest.visitor == "203.0.113.44"
    assert item.harvest.time == 1_795_990_000_123_000


# --- harvesters and sources ------------------------------------------------------


def test_harvesters(report):
    found = {item.address: item for item in report.harvesters}
    assert set(found) == {"203.0.113.66", "203.0.113.77", "203.0.113.88", "192.0.2.99"}

    siphon = found["203.0.113.66"]
    assert (siphon.pages, siphon.addresses, siphon.spammed) == (4, 8, 3)
    assert siphon.robots == "ignored-unread"
    assert siphon.user_agents == [EMAIL_SIPHON]
    assert siphon.seconds == 6.0  # four pages, two seconds apart

    wget = found["203.0.113.77"]
    assert (wget.pages, wget.spammed, wget.robots) == (4, 1, "obeyed")
    assert wget.user_agents == [WGET]

    assert found["203.0.113.88"].spammed == 0
    proxied = found["192.0.2.99"]
    assert (proxied.pages, proxied.proxy_pages, proxied.robots) == (0, 1, "unread")


def test_spam_sources(report):
    found = {item.address: item for item in report.sources}
    assert set(found) == {"203.0.113.50", "203.0.113.51", "203.0.113.52", "192.0.2.99"}

    proxy_user = found["203.0.113.50"]
    assert (proxy_user.messages, proxy_user.via_proxy, proxy_user.via_relay) == (
        2,
        2,
        0,
    )
    assert proxy_user.proxy_requests == 2
    assert proxy_user.next_hops == {"mx.example.test:25": 2}
    assert proxy_user.chains == [["192.0.2.1"]]
    assert (proxy_user.recipients, proxy_user.trap_recipients) == (4, 3)

    relay_user = found["203.0.113.51"]
    assert (relay_user.via_relay, relay_user.probes, relay_user.direct) == (1, 1, 0)
    assert found["203.0.113.52"].direct == 1
    assert proxy_user.trap_lookups == 0
    # 192.0.2.99 only fetched a page through the proxy.
    assert (found["192.0.2.99"].messages, found["192.0.2.99"].proxy_requests) == (0, 1)


# --- totals -------------------------------------------------------------------------


def test_totals_add_up_to_every_event(scenario, report):
    totals = report.totals
    assert sum(map(sum, totals.services.values())) == report.events
    assert sum(totals.events.values()) == report.events
    assert totals.events["smtp.message.stored"] == sum(
        totals.moments["smtp.message.stored"]
    )
    assert totals.buckets <= 48
    assert totals.start <= iso_to_micros("2026-11-30T00:53:20Z")
    # The crawls and the spam, three hours apart, fall in different buckets.
    web = totals.services["web-maze"]
    relay = totals.services["smtp-relay"]
    assert web.index(max(web)) < relay.index(max(relay))


def test_an_empty_store_reports_nothing_and_does_not_fail(tmp_path):
    EventStore.open(tmp_path / "empty.db").close()
    report = build_report(open_reader(tmp_path / "empty.db"))
    assert report.events == 0 and report.trace == []
    assert "0 events" in render_text(report)
    assert "<svg" in render_html(report)


# --- renderings -----------------------------------------------------------------------


def test_text_names_every_address_and_way(report):
    text = render_text(report)
    for item in report.trace:
        assert item.address in text
    assert "via proxy 198.51.100.20:3128 (http)  asked mx.example.test:25" in text
    assert "chain 192.0.2.1" in text
    assert "direct to sink 198.51.100.30" in text
    assert "probe forwarded by relay" in text
    assert re.search(r"203\.0\.113\.66 +4 +6\.0s +8 +3 +ignored-unread", text)


def test_text_tables_are_cut_at_the_limit(report):
    text = render_text(report, limit=1)
    assert "... and 3 more (see --json)" in text


def test_json_carries_times_as_iso_text(report):
    data = json.loads(json.dumps(to_json(report)))
    first = data["trace"][0]
    assert first["harvest"]["time"].endswith("Z")
    assert isinstance(first["messages"][0]["delay"], float)
    assert data["totals"]["width_seconds"] == report.totals.width
    assert {entry["address"] for entry in data["harvesters"]} >= {"203.0.113.66"}
    assert data["harvesters"][0]["seconds"] == report.harvesters[0].seconds


class Tags(HTMLParser):
    """Counts what a self-contained page must not have, and its tags."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "col"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.fetching: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action") and value:
                self.fetching.append(f"{tag} {name}={value}")
        if tag not in self.VOID and not tag.startswith(("circle", "line", "rect")):
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.fetching.append(f"{tag} {name}={value}")

    def handle_endtag(self, tag):
        if tag in ("circle", "line", "rect"):
            return
        assert self.open and self.open[-1] == tag, (self.open[-5:], tag)
        self.open.pop()


def test_html_is_self_contained_with_an_svg_timeline(report):
    page = render_html(report)
    tags = Tags()
    tags.feed(page)
    assert tags.fetching == [] and tags.scripts == 0 and tags.open == []
    assert "url(" not in page and "@import" not in page
    svg = ElementTree.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    circles = svg.findall("{http://www.w3.org/2000/svg}circle")
    # A dot per harvest and per message of every traced address.
    assert len(circles) == sum(1 + len(item.messages) for item in report.trace)
    assert "<h2>Spam sources: 4</h2>" in page
    for item in report.trace:
        assert item.address in page


def test_peer_text_is_escaped_in_html(tmp_path):
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("web.address.issued", address="a@example.test",
                   visitor="203.0.113.9", user_agent="<script>alert(1)</script>",
                   url="http://x.test/<b>")  # fmt: skip
        store.emit(
            "smtp.message.stored",
            peer="203.0.113.50",
            service="smtp-sink",
            recipients=["a@example.test"],
            subject="<img src=x>",
        )
    page = render_html(build_report(open_reader(tmp_path / "s.db")))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (4.25, "4.2s"), (42, "42s"), (277, "4m37s"), (7500, "2h05m"),
     (3 * 86400 + 4 * 3600, "3d04h"), (-90, "-1m30s")],
)  # fmt: skip
def test_durations(seconds, text):
    assert duration(seconds) == text


def test_the_schema_documents_a_join_that_runs(scenario):
    from pathlib import Path

    import vnet.events

    doc = (Path(vnet.events.__file__).parent / "SCHEMA.md").read_text()
    query = doc.split("```sql")[1].split("```")[0]
    rows = open_reader(scenario.path).execute(query).fetchall()
    spammed = {address for address, *_ in rows}
    assert spammed == set(scenario.spam)


def test_trap_domain_lookups_are_counted_for_spam_sources(tmp_path):
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("smtp.message.stored", peer="203.0.113.52", service="smtp-sink",
                   recipients=["a@example.test"])  # fmt: skip
        for name, trap in (
            ("example.test.", "example.test"),
            ("www.example.test.", None),
        ):
            store.emit("dns.query", peer="203.0.113.52", service="dns", name=name,
                       type="MX", trap_domain=trap)  # fmt: skip
        store.emit(
            "dns.query",
            peer="203.0.113.99",
            service="dns",
            name="example.test.",
            type="MX",
            trap_domain="example.test",
        )
    [source] = build_report(open_reader(tmp_path / "s.db")).sources
    assert (source.address, source.trap_lookups) == ("203.0.113.52", 1)
