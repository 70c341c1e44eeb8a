"""The DNSBL: answers built from queries, and the service over a live store."""

from __future__ import annotations

import json
import struct

import pytest
from dnslib import QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from services.dnsbl.answer import QueryError, Zone, answer
from services.dnsbl.service import Dnsbl, default_zone
from tests.events.campaign import Campaign
from vnet.events.store import EventStore
from vnet.report.roles import CODES
from vnet.service.api import DatagramContext, Environment, HostInfo

ZONE = Zone("bl.example.test", ttl=120)
LISTED = {
    "198.51.100.7": ["proxy-user", "relay-user"],
    "203.0.113.66": ["harvester"],
}


def lookup(address: str) -> list[str]:
    return LISTED.get(address, [])


def ask(name: str, kind: str = "A", zone: Zone = ZONE) -> DNSRecord:
    query = DNSRecord.question(name, kind)
    return DNSRecord.parse(answer(query.pack(), zone, lookup).reply)


def values(reply: DNSRecord) -> list[str]:
    return [str(record.rdata) for record in reply.rr]


# --- answers -------------------------------------------------------------------


def test_a_listed_address_answers_a_code_per_role():
    reply = ask("7.100.51.198.bl.example.test")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa
    assert values(reply) == [CODES["proxy-user"], CODES["relay-user"]]
    assert all(record.ttl == 120 for record in reply.rr)


def test_txt_says_why():
    reply = ask("66.113.0.203.bl.example.test", "TXT")
    [text] = values(reply)
    assert "harvester" in text and "spam" in text


def test_an_address_that_is_not_listed_is_nxdomain_with_the_soa():
    reply = ask("8.100.51.198.bl.example.test")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.rr == []
    [soa] = reply.auth
    assert soa.rtype == QTYPE.SOA and soa.rdata.times[-1] == 120


def test_rfc_5782_test_entries():
    assert values(ask("2.0.0.127.bl.example.test")) == ["127.0.0.2"]
    assert "test" in values(ask("2.0.0.127.bl.example.test", "TXT"))[0]
    assert ask("1.0.0.127.bl.example.test").header.rcode == RCODE.NXDOMAIN


def test_a_role_subzone_answers_that_role_only():
    assert values(ask("7.100.51.198.relay-user.bl.example.test")) == [
        CODES["relay-user"]
    ]
    reply = ask("7.100.51.198.harvester.bl.example.test")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert ask("7.100.51.198.spammer.bl.example.test").header.rcode == RCODE.NXDOMAIN


def test_names_are_matched_without_regard_to_case():
    assert values(ask("7.100.51.198.BL.Example.TEST")) == [
        CODES["proxy-user"], CODES["relay-user"],
    ]  # fmt: skip


def test_other_types_of_a_listed_name_are_empty_answers():
    reply = ask("7.100.51.198.bl.example.test", "MX")
    assert reply.header.rcode == RCODE.NOERROR and reply.rr == []
    assert reply.auth[0].rtype == QTYPE.SOA


def test_the_apex_has_soa_and_ns():
    assert ask("bl.example.test", "SOA").rr[0].rtype == QTYPE.SOA
    assert ask("bl.example.test", "NS").rr[0].rtype == QTYPE.NS
    reply = ask("bl.example.test", "A")
    assert reply.header.rcode == RCODE.NOERROR and reply.rr == []


@pytest.mark.parametrize(
    "name",
    ["999.100.51.198.bl.example.test", "x.100.51.198.bl.example.test",
     "100.51.198.bl.example.test", "0007.100.51.198.bl.example.test",
     "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.test"],
)  # fmt: skip
def test_names_that_are_no_ipv4_address_are_nxdomain(name):
    assert ask(name).header.rcode == RCODE.NXDOMAIN


def test_other_zones_are_refused():
    reply = ask("7.100.51.198.zen.example.org")
    assert reply.header.rcode == RCODE.REFUSED and not reply.header.aa


def test_other_opcodes_are_not_implemented():
    query = DNSRecord(DNSHeader(id=7, opcode=4), q=DNSQuestion("bl.example.test"))
    reply = DNSRecord.parse(answer(query.pack(), ZONE, lookup).reply)
    assert reply.header.rcode == RCODE.NOTIMP and reply.header.id == 7


def test_a_query_without_a_question_is_formerr():
    header = struct.pack("!HHHHHH", 99, 0x0100, 0, 0, 0, 0)
    reply = DNSRecord.parse(answer(header, ZONE, lookup).reply)
    assert reply.header.rcode == RCODE.FORMERR and reply.header.id == 99


def test_garbage_and_responses_are_dropped():
    with pytest.raises(QueryError):
        answer(b"\x12\x34\x01", ZONE, lookup)
    response = DNSRecord.question("7.100.51.198.bl.example.test").reply()
    with pytest.raises(QueryError, match="response"):
        answer(response.pack(), ZONE, lookup)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_datagrams_are_answered_or_dropped_never_a_crash(data):
    try:
        outcome = answer(data, ZONE, lookup)
    except QueryError:
        return
    DNSRecord.parse(outcome.reply)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 11), st.binary(min_size=1, max_size=8))
def test_mutated_queries_are_answered_or_dropped(offset, junk):
    data = bytearray(DNSRecord.question("7.100.51.198.bl.example.test").pack())
    data[12 + offset : 12 + offset + len(junk)] = junk
    try:
        outcome = answer(bytes(data), ZONE, lookup)
    except QueryError:
        return
    assert DNSRecord.parse(outcome.reply).header.id == data[0] << 8 | data[1]


# --- the service over a live store ---------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict]] = []

    def emit(self, event_id: str, **fields) -> None:
        self.records.append((event_id, fields))


def query(service: Dnsbl, name: str, kind: str = "A") -> list[str]:
    replies: list[bytes] = []
    context = DatagramContext(
        service="dnsbl",
        host=HostInfo("198.51.100.53", "ns.example.test"),
        peer=("192.0.2.254", 53001),
        local=("198.51.100.53", 53),
        options={},
        environment=service.environment,
        reply=replies.append,
    )
    service.datagram_received(context, DNSRecord.question(name, kind).pack())
    [reply] = replies
    return values(DNSRecord.parse(reply))


def test_the_service_follows_the_store_and_the_proxy_blacklist(tmp_path):
    store = EventStore.open(tmp_path / "events.sqlite")
    campaign = Campaign(store.write)
    clock = [campaign.now]
    recorder = Recorder()
    environment = Environment(
        events=recorder, state_dir=str(tmp_path), clock=lambda: clock[0]
    )
    service = Dnsbl({"zone": "bl.example.test", "refresh": 0}, environment)

    name = "50.113.0.203.bl.example.test"
    assert query(service, name) == []  # the store is still empty
    issued = campaign.crawl("203.0.113.66", "EmailSiphon", pages=1)
    campaign.via_proxy("203.0.113.50", [issued[0].address])
    store.flush()
    assert query(service, name) == [CODES["proxy-user"], CODES["relay-user"]]
    assert query(service, "66.113.0.203.bl.example.test") == [CODES["harvester"]]

    blacklist = tmp_path / "open-proxy" / "blacklist.jsonl"
    blacklist.parent.mkdir()
    entry = {"source": "198.51.100.77", "listed": clock[0], "expires": clock[0] + 60}
    blacklist.write_text(json.dumps(entry) + "\n" + '{"source": "half')
    assert query(service, "77.100.51.198.bl.example.test") == [CODES["proxy-user"]]
    clock[0] += 61
    assert query(service, "77.100.51.198.bl.example.test") == []
    store.close()

    event, fields = recorder.records[1]
    assert event == "dnsbl.query"
    assert fields["peer"] == "192.0.2.254" and fields["host"] == "198.51.100.53"
    assert fields["listed"] == ["proxy-user", "relay-user"]
    assert fields["address"] == "203.0.113.50" and fields["rcode"] == "NOERROR"
    service.close()


def test_the_service_expires_old_listings_and_limits_roles(tmp_path):
    with EventStore.open(tmp_path / "events.sqlite") as store:
        campaign = Campaign(store.write)
        campaign.via_relay("203.0.113.51", ["a@example.test"])
    late = campaign.now + 2 * 86400
    environment = Environment(state_dir=str(tmp_path), clock=lambda: late)
    expiring = Dnsbl({"expiry": 86400}, environment)
    assert query(expiring, "51.113.0.203.bl.example.test") == []
    forever = Dnsbl({"expiry": 0, "roles": ["relay-user"]}, environment)
    assert query(forever, "51.113.0.203.bl.example.test") == [CODES["relay-user"]]
    assert [source.__class__.__name__ for source in forever.sources] == ["StoreSource"]


def test_garbage_is_recorded_and_not_answered(tmp_path):
    recorder = Recorder()
    service = Dnsbl({}, Environment(events=recorder, state_dir=str(tmp_path)))
    replies: list[bytes] = []
    context = DatagramContext(
        "dnsbl", HostInfo("198.51.100.53"), ("192.0.2.254", 5300),
        ("198.51.100.53", 53), {}, service.environment, replies.append,
    )  # fmt: skip
    service.datagram_received(context, b"\xff" * 5)
    assert replies == []
    assert recorder.records[0][0] == "dnsbl.malformed"


def test_the_zone_defaults_to_the_first_trap_domain():
    class Topology:
        trap_domains = ("mail.example.test", "example.test")

    assert default_zone(Topology()) == "bl.mail.example.test"
    assert default_zone(None) == "bl.example.test"
