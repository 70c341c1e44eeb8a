"""Exports: who is listed for what, and that other tools accept each format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time

import pytest
import stix2

from tests.conftest import require_tool
from tests.export.zone_check import check_zone
from tests.report.scenario import build
from vnet.events.store import EventStore, open_reader
from vnet.events.times import seconds_to_micros
from vnet.export import KINDS, ExportError, export
from vnet.export.trace_csv import COLUMNS
from vnet.report.roles import CODES, ROLES, Listing, RoleError, offenders

HARVESTERS = {"203.0.113.66", "203.0.113.77", "192.0.2.99"}
PROXY_USERS = {"203.0.113.50", "192.0.2.99"}
RELAY_USERS = {"203.0.113.50", "203.0.113.51"}
SINK_SENDERS = {"203.0.113.52"}
EVERYONE = HARVESTERS | PROXY_USERS | RELAY_USERS | SINK_SENDERS


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return build(tmp_path_factory.mktemp("export") / "store.db")


@pytest.fixture
def db(scenario):
    connection = open_reader(scenario.path)
    yield connection
    connection.close()


def listed(db, roles=None, since=None, until=None) -> set[str]:
    return {item.address for item in offenders(db, roles, since, until)}


# --- roles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("harvester", HARVESTERS), ("proxy-user", PROXY_USERS),
     ("relay-user", RELAY_USERS), ("sink-sender", SINK_SENDERS)],
)  # fmt: skip
def test_each_role_lists_exactly_its_sources(db, role, expected):
    assert listed(db, [role]) == expected


def test_the_decoy_and_our_own_relay_are_never_listed(db):
    everyone = listed(db)
    assert everyone == EVERYONE
    assert "203.0.113.88" not in everyone  # crawled, never spammed
    assert "192.0.2.254" not in everyone  # delivered the forwarded probe


def test_time_windows_apply_to_each_role_s_own_activity(scenario, db):
    spam = seconds_to_micros(scenario.spam_start)
    # Harvests were all before the spam; the proxy page request too.
    assert listed(db, ["harvester"], since=spam) == set()
    assert listed(db, ["proxy-user"], since=spam) == {"203.0.113.50"}
    assert listed(db, ["proxy-user"], until=spam - 1) == {"192.0.2.99"}
    assert listed(db, ["harvester"], until=spam) == HARVESTERS
    assert listed(db, since=seconds_to_micros(scenario.end + 1)) == set()


def test_activity_counts_and_times(scenario, db):
    [user] = [item for item in offenders(db) if item.address == "203.0.113.50"]
    assert set(user.roles) == {"proxy-user", "relay-user"}
    assert user.roles["proxy-user"].count == 2
    assert user.roles["relay-user"].count == 2
    assert user.first >= seconds_to_micros(scenario.spam_start)
    assert user.last <= seconds_to_micros(scenario.end)


def test_unknown_roles_are_refused_with_the_allowed_ones(db):
    with pytest.raises(RoleError, match="allowed: harvester, proxy-user"):
        offenders(db, ["spammer"])


def test_the_live_listing_catches_up_in_steps(tmp_path):
    """What a growing store shows the DNSBL equals what an export shows."""
    from tests.events.campaign import Campaign

    path = tmp_path / "live.db"
    store = EventStore.open(path)
    campaign = Campaign(store.write)
    reader = open_reader(path)
    listing = Listing()

    issued = campaign.crawl("203.0.113.66", "EmailSiphon", pages=2)
    store.flush()
    assert listing.refresh(reader) == 0 and listing.entries == {}
    campaign.via_proxy("203.0.113.50", [issued[0].address])
    store.flush()
    listing.refresh(reader)
    now = seconds_to_micros(campaign.now)
    assert listing.lookup("203.0.113.50", now) == ["proxy-user", "relay-user"]
    assert listing.lookup("203.0.113.66", now) == ["harvester"]
    assert listing.refresh(reader) == 0  # nothing new
    campaign.advance(7200)
    campaign.direct_to_sink("203.0.113.52", [issued[1].address])
    store.close()
    listing.refresh(reader)
    by_listing = {address: sorted(roles) for address, roles in listing.entries.items()}
    by_export = {item.address: sorted(item.roles) for item in offenders(reader)}
    assert by_listing == by_export
    later = seconds_to_micros(campaign.now)
    # Past the expiry only the recent activity keeps an address listed.
    assert listing.lookup("203.0.113.50", later, expiry=3_600_000_000) == []
    assert listing.lookup("203.0.113.52", later, expiry=3_600_000_000) == [
        "sink-sender"
    ]


# --- formats -----------------------------------------------------------------------


def test_plain_list_is_one_address_per_line_in_numeric_order(db):
    text = export("list", db)
    assert text.splitlines() == [
        "192.0.2.99", "203.0.113.50", "203.0.113.51", "203.0.113.52",
        "203.0.113.66", "203.0.113.77",
    ]  # fmt: skip
    assert export("list", db, ["sink-sender"]) == "203.0.113.52\n"


def test_unknown_kinds_are_refused(db):
    with pytest.raises(ExportError, match="allowed: " + ", ".join(KINDS)):
        export("pdf", db)


@pytest.mark.netns
def test_nft_accepts_the_set(db, netns, tmp_path):
    require_tool("nft")
    for roles in (None, ["sink-sender"], ["harvester", "relay-user"]):
        text = export("nftables", db, roles)
        path = tmp_path / "set.nft"
        path.write_text(text)
        result = netns.run("nft", "-c", "-f", str(path), check=False)
        assert result.returncode == 0, result.stderr
        assert all(address in text for address in listed(db, roles))
    # And it really loads, twice (the second time replaces, not fails).
    path.write_text(export("nftables", db))
    netns.run("nft", "-f", str(path))
    netns.run("nft", "-f", str(path))
    listed_set = netns.run("nft", "list", "set", "inet", "vnet", "offenders_v4").stdout
    assert all(address in listed_set for address in EVERYONE)


@pytest.mark.netns
def test_nft_accepts_an_empty_export_too(tmp_path, netns):
    require_tool("nft")
    EventStore.open(tmp_path / "empty.db").close()
    text = export("nftables", open_reader(tmp_path / "empty.db"))
    (tmp_path / "set.nft").write_text(text)
    result = netns.run("nft", "-c", "-f", str(tmp_path / "set.nft"), check=False)
    assert result.returncode == 0, result.stderr


def test_the_zone_passes_the_syntax_check(db):
    text = export("rbldnsd", db, zone="bl.example.test")
    assert check_zone(text) == []


def test_the_syntax_check_finds_broken_zones():
    broken = "\n".join([
        "$SOA 300 ns.example.test hostmaster.example.test 0 600 300 86400",
        "198.51.100.7",
        "$DATASET ip4set:x x @",
        ":127.0.0.2:listed",
        "198.51.100.999",
        ":10.0.0.1:not a loopback answer",
        "$DATASET hash:y y",
    ])  # fmt: skip
    problems = check_zone(broken)
    assert [problem.split(":")[0] for problem in problems] == [
        "line 1", "line 2", "line 5", "line 6", "line 7",
    ]  # fmt: skip


def rbldnsd_dump(tmp_path, text: str) -> tuple[str, str]:
    require_tool("rbldnsd")
    path = tmp_path / "zone"
    path.write_text(text)
    result = subprocess.run(
        ["rbldnsd", "-d", "-n", f"bl.example.test:combined:{path}"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return result.stdout, result.stderr


def test_rbldnsd_reads_the_zone_without_a_complaint(db, tmp_path):
    dump, complaints = rbldnsd_dump(tmp_path, export("rbldnsd", db))
    assert complaints == ""
    for role, expected in (("harvester", HARVESTERS), ("sink-sender", SINK_SENDERS)):
        section = dump.split(f"$ORIGIN {role}.bl.example.test.")[1].split("$ORIGIN")[0]
        for address in expected:
            reverse = ".".join(reversed(address.split(".")))
            assert f"{reverse}\tA\t{CODES[role]}" in section


@pytest.mark.netns
def test_rbldnsd_serves_every_role_of_an_address(db, tmp_path, netns):
    require_tool("rbldnsd")
    require_tool("dig")
    zone = tmp_path / "zone"
    zone.write_text(export("rbldnsd", db))
    tmp_path.chmod(0o755)
    zone.chmod(0o644)
    server = netns.popen(
        "rbldnsd", "-n", "-q", "-b", "127.0.0.1/5353", "-r", str(tmp_path),
        "bl.example.test:combined:zone",
    )  # fmt: skip
    try:
        answers = _dig(netns, "50.113.0.203.bl.example.test")
        assert sorted(answers) == [CODES["proxy-user"], CODES["relay-user"]]
        assert _dig(netns, "50.113.0.203.relay-user.bl.example.test") == [
            CODES["relay-user"]
        ]
        assert _dig(netns, "88.113.0.203.bl.example.test") == []
    finally:
        server.kill()
        server.wait(10)


def _dig(netns, name: str) -> list[str]:
    for _ in range(50):
        result = netns.run(
            "dig", "+short", "+tries=1", "+time=1", "-p", "5353", "@127.0.0.1",
            name, "A", check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return result.stdout.split()
        time.sleep(0.1)
    raise AssertionError(f"rbldnsd did not answer: {result.stdout}{result.stderr}")


def test_csv_has_a_row_per_message_to_a_trap(scenario, db):
    rows = list(csv.DictReader(io.StringIO(export("csv", db))))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == sum(len(ways) for ways in scenario.spam.values())
    for row in rows:
        issued = scenario.harvests[row["address"]]
        assert (row["harvester"], row["harvested"], row["url"]) == (
            issued.visitor, issued.time, issued.url,
        )  # fmt: skip
    proxied = [row for row in rows if row["way"] == "proxy"]
    assert {row["proxy_client"] for row in proxied} == {"203.0.113.50"}
    assert {row["next_hop"] for row in proxied} == {"mx.example.test:25"}


def test_csv_rows_by_role_and_time(scenario, db):
    def ways(roles, **window):
        text = export("csv", db, roles, **window)
        return sorted(row["way"] for row in csv.DictReader(io.StringIO(text)))

    assert set(ways(["proxy-user"])) == {"proxy"}
    assert set(ways(["sink-sender"])) == {"sink"}
    assert set(ways(["relay-user"])) == {"proxy", "relay"}
    spam = seconds_to_micros(scenario.spam_start)
    assert ways(["harvester"], since=spam) == []
    assert len(ways(None, since=spam)) == len(ways(None))


def test_csv_defuses_formulas_from_peers(tmp_path):
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("web.address.issued", address="a@example.test",
                   visitor="203.0.113.9", user_agent="=HYPERLINK(\"x\")")  # fmt: skip
        store.emit(
            "smtp.message.stored",
            peer="203.0.113.50",
            service="smtp-sink",
            recipients=["a@example.test"],
            subject="+cmd|' /C calc'!A0",
        )
    [row] = csv.DictReader(io.StringIO(export("csv", open_reader(tmp_path / "s.db"))))
    assert row["user_agent"] == '\'=HYPERLINK("x")'
    assert row["subject"].startswith("'+cmd")


def test_stix_bundle_validates_with_the_stix2_package(db):
    text = export("stix", db, now=1_796_100_000)
    bundle = stix2.parse(text, allow_custom=False, version="2.1")
    kinds = [item.type for item in bundle.objects]
    assert kinds.count("identity") == 1
    indicators = {item.id: item for item in bundle.objects if item.type == "indicator"}
    sightings = [item for item in bundle.objects if item.type == "sighting"]
    patterns = {item.pattern for item in indicators.values()}
    assert patterns == {f"[ipv4-addr:value = '{address}']" for address in EVERYONE}
    pairs = sum(len(item.roles) for item in offenders(db))
    assert len(sightings) == pairs
    identity = bundle.objects[0].id
    for sighting in sightings:
        assert sighting.sighting_of_ref in indicators
        assert sighting.where_sighted_refs == [identity]
        assert sighting.first_seen <= sighting.last_seen


def test_stix_ids_stay_the_same_from_one_export_to_the_next(db):
    def ids(text):
        return [item["id"] for item in json.loads(text)["objects"]]

    first = export("stix", db, now=1_796_100_000)
    second = export("stix", db, now=1_796_200_000)
    assert ids(first) == ids(second)
    assert json.loads(first)["id"] != json.loads(second)["id"]


def test_stix_names_ipv6_sources_as_ipv6(tmp_path):
    with EventStore.open(tmp_path / "s.db") as store:
        store.emit("proxy.request", peer="2001:db8::7", service="open-proxy")
    text = export("stix", open_reader(tmp_path / "s.db"))
    bundle = stix2.parse(text, allow_custom=False, version="2.1")
    [indicator] = [item for item in bundle.objects if item.type == "indicator"]
    assert indicator.pattern == "[ipv6-addr:value = '2001:db8::7']"


def test_every_role_has_a_distinct_loopback_code():
    codes = [CODES[role] for role in ROLES]
    assert len(set(codes)) == len(codes)
    assert all(code.startswith("127.0.0.") and code != "127.0.0.1" for code in codes)
