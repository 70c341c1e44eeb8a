"""A small campaign against the real services under `vnet run`, then the report.

Inside a namespace, with real tools and one source address per part:

- 192.0.2.66 harvests the web maze with wget, ignoring robots.txt;
- 192.0.2.254 (the namespace's own address; proxychains cannot choose
  another) mails one harvested address through the open proxy (HTTP
  CONNECT) to the open relay, with swaks;
- 192.0.2.51 mails another address to the relay directly;
- 192.0.2.52 mails a third straight to the destination server.

vnet writes JSON lines; the test rebuilds a store from them with
`import_jsonl`, as `vnet events import` does, and checks that the report
links each address to the exact page view that issued it and names each
hop's source.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import require_tool
from vnet.events.store import EventStore, import_jsonl, open_reader
from vnet.report import build_report
from vnet.report.roles import offenders

pytestmark = pytest.mark.netns

WEB, PROXY, RELAY, SINK = (
    "198.51.100.10",
    "198.51.100.20",
    "198.51.100.25",
    "198.51.100.30",
)
HARVESTER, PROXY_USER, RELAY_USER, SINK_SENDER = (
    "192.0.2.66", "192.0.2.254", "192.0.2.51", "192.0.2.52",
)  # fmt: skip
ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@(?:mail\.)?example\.test\b")

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test, mail.example.test]
templates:
  web:
    personality: "Linux 2.6.32 - 3.10#1"
    tcp: closed
    ports:
      tcp/80:
        service: web-maze
        options: {links: {min: 2, max: 3}, addresses: {count: 2, format: mixed}}
  proxy:
    personality: "FreeBSD 6.2-RELEASE#1"
    tcp: closed
    ports:
      tcp/3128: {service: open-proxy}
  relay:
    personality: "Linux 3.2 - 4.9"
    tcp: closed
    ports:
      tcp/25:
        service: smtp-relay
        options: {dry_run: true, greeting_delay: [0, 0.05]}
  mail:
    personality: "OpenBSD 4.3#1"
    tcp: closed
    ports:
      tcp/25: {service: smtp-sink, options: {greeting_delay: [0, 0.05]}}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: web}
  - {address: 198.51.100.20, name: proxy1.example.test, template: proxy}
  - {address: 198.51.100.25, name: relay1.example.test, template: relay}
  - {address: 198.51.100.30, name: mx.example.test, template: mail}
"""

PROXYCHAINS = f"""\
strict_chain
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
http {PROXY} 3128
"""


@pytest.fixture
def state_dir():
    path = Path(tempfile.mkdtemp(prefix="vnet-campaign-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def harvest(netns, workdir: Path) -> list[str]:
    netns.run(
        "wget", "-r", "-l", "1", "-e", "robots=off", "-q", "-P", str(workdir),
        "--bind-address", HARVESTER, "--timeout", "10", "--tries", "1",
        f"http://{WEB}/", timeout=120, check=False,
    )  # fmt: skip
    found: dict[str, None] = {}
    for path in sorted(workdir.rglob("*")):
        if path.is_file():
            for address in ADDRESS.findall(path.read_text(errors="replace")):
                found.setdefault(address.lower())
    return list(found)


def swaks(netns, *arguments: str, proxychains: Path | None = None) -> None:
    command = [
        "swaks", "--from", "bulk@spammer.example", "--helo", "spammer.example",
        "--timeout", "15", "--header", "Subject: Cheap watches", *arguments,
    ]  # fmt: skip
    if proxychains is not None:
        command = ["proxychains4", "-q", "-f", str(proxychains), *command]
    result = netns.run(*command, timeout=90, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<-  250 2.0.0" in result.stdout, result.stdout


def test_the_report_links_each_spam_to_its_harvest_and_its_hops(
    vnet, netns, state_dir, tmp_path
):
    for tool in ("wget", "swaks", "proxychains4"):
        require_tool(tool)
    served = vnet(TOPOLOGY, "--state-dir", str(state_dir))
    for address in (HARVESTER, RELAY_USER, SINK_SENDER):
        netns.run("ip", "addr", "add", f"{address}/24", "dev", "vnet0")

    harvested = harvest(netns, tmp_path / "crawl")
    assert len(harvested) >= 3, harvested
    via_proxy, via_relay, direct = harvested[:3]
    chains = tmp_path / "proxychains.conf"
    chains.write_text(PROXYCHAINS)
    swaks(netns, "--server", RELAY, "--to", via_proxy, proxychains=chains)
    swaks(netns, "--server", RELAY, "--to", via_relay, "-li", RELAY_USER)
    swaks(netns, "--server", SINK, "--to", direct, "-li", SINK_SENDER)
    assert served.stop() == 0, served.stderr()

    with EventStore.open(tmp_path / "rebuilt.sqlite") as store:
        import_jsonl(served.events_path, store)
    db = open_reader(tmp_path / "rebuilt.sqlite")
    report = build_report(db)
    traced = {item.address: item for item in report.trace}
    assert set(traced) == {via_proxy, via_relay, direct}

    visits = _page_views(served)
    for address, item in traced.items():
        [issued] = [
            record for record in served.events("web.address.issued")
            if record["address"].lower() == address
        ]  # fmt: skip
        harvest_ = item.harvest
        assert harvest_.visitor == HARVESTER
        assert (harvest_.connection, harvest_.page) == (
            issued["connection"], issued["page"],
        )  # fmt: skip
        # The issuing page view is one of the harvester's own requests.
        assert (issued["connection"], issued["page"]) in visits

    [proxied] = traced[via_proxy].messages
    assert proxied.path == "proxy" and proxied.source == PROXY_USER
    assert (proxied.proxy.proxy, proxied.proxy.port) == (PROXY, 3128)
    assert proxied.proxy.next_hop == f"{RELAY}:25"
    assert proxied.host == RELAY
    [relayed] = traced[via_relay].messages
    assert (relayed.path, relayed.source, relayed.host) == ("relay", RELAY_USER, RELAY)
    [sunk] = traced[direct].messages
    assert (sunk.path, sunk.source, sunk.host) == ("sink", SINK_SENDER, SINK)

    roles = {item.address: set(item.roles) for item in offenders(db)}
    assert roles == {
        HARVESTER: {"harvester"},
        PROXY_USER: {"proxy-user", "relay-user"},
        RELAY_USER: {"relay-user"},
        SINK_SENDER: {"sink-sender"},
    }


def _page_views(served) -> set[tuple[str, str]]:
    return {
        (record["connection"], record["path"])
        for record in served.events("web.request")
        if record["peer"] == HARVESTER
    }
