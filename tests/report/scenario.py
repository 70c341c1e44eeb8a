"""One campaign that every report and export test reads.

Three harvesters, one decoy crawler whose addresses are never used, and
three spammers who use every way in:

- 203.0.113.66 crawls www with EmailSiphon, ignores robots.txt unread;
- 203.0.113.77 crawls shop with Wget, reads robots.txt and obeys it;
- 203.0.113.88 crawls www too; nobody ever mails its addresses;
- 192.0.2.99 harvests through the open proxy's pages;
- 203.0.113.50 spams through the proxy (showing an earlier proxy
  192.0.2.1) to the relay, twice;
- 203.0.113.51 sends to the relay directly; its first message is a probe
  the relay forwards, and the copy lands on our own sink from 192.0.2.254;
- 203.0.113.52 sends straight to the sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.events.campaign import SHOP, Campaign, Issued
from vnet.events.store import EventStore

EMAIL_SIPHON = "Mozilla/4.0 (compatible; EmailSiphon)"
WGET = "Wget/1.21.3"
OUTSIDE = "someone@example.org"


@dataclass
class Scenario:
    path: Path
    harvests: dict[str, Issued] = field(default_factory=dict)
    # address -> [(source, path, proxy client or None)], in time order
    spam: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    decoys: list[Issued] = field(default_factory=list)
    proxy_connections: list[str] = field(default_factory=list)
    start: float = 0.0
    spam_start: float = 0.0
    end: float = 0.0


def build(path: Path) -> Scenario:
    store = EventStore.open(path)
    campaign = Campaign(store.write, seed=8)
    scenario = Scenario(path, start=campaign.now)
    siphon = campaign.crawl("203.0.113.66", EMAIL_SIPHON, pages=4, per_page=2)
    campaign.advance(30)
    wget = campaign.crawl(
        "203.0.113.77", WGET, pages=3, site=SHOP, read_robots=True,
        ignore_robots=False,
    )  # fmt: skip
    scenario.decoys = campaign.crawl("203.0.113.88", EMAIL_SIPHON, pages=2)
    through_proxy = campaign.proxy_page(
        "192.0.2.99", "libwww-perl/6.05", "http://www.example.test/staff.html"
    )
    for item in [*siphon, *wget, *scenario.decoys, through_proxy]:
        scenario.harvests[item.address] = item

    campaign.advance(3 * 3600)
    scenario.spam_start = campaign.now
    _spam(campaign, scenario, siphon, wget, through_proxy)
    scenario.end = campaign.now
    store.close()
    return scenario


def _spam(campaign, scenario, siphon, wget, through_proxy) -> None:
    def sent(addresses, source, path):
        for address in addresses:
            scenario.spam.setdefault(address, []).append((source, path))

    first = [siphon[0].address, wget[1].address, OUTSIDE]
    connection, _ = campaign.via_proxy("203.0.113.50", first, chain=["192.0.2.1"])
    scenario.proxy_connections.append(connection)
    sent(first[:2], "203.0.113.50", "proxy")
    campaign.advance(60)

    probe = [siphon[3].address]
    campaign.via_relay("203.0.113.51", probe, probe=True)
    sent(probe, "203.0.113.51", "relay")
    # The forwarded probe reaches our own sink from the relay's side.
    campaign.direct_to_sink("192.0.2.254", probe, message_id=campaign.last_message_id)
    sent(probe, "203.0.113.51", "relay probe")
    campaign.advance(60)

    direct = [siphon[5].address, through_proxy.address]
    campaign.direct_to_sink("203.0.113.52", direct)
    sent(direct, "203.0.113.52", "sink")
    campaign.advance(600)

    again = [siphon[0].address]
    connection, _ = campaign.via_proxy("203.0.113.50", again)
    scenario.proxy_connections.append(connection)
    sent(again, "203.0.113.50", "proxy")
