"""The DNSBL under `vnet run`, asked by dig inside a namespace.

The state directory holds an event store written by a synthetic campaign
(tests/report/scenario.py), which the service reads as it would the one a
run writes; the open proxy beside it keeps its blacklist there too, so a
request through the proxy during the test is listed while vnet runs.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.report.scenario import build
from vnet.report.roles import CODES

pytestmark = pytest.mark.netns

NAME_SERVER = "198.51.100.53"
PROXY = "198.51.100.20"
KERNEL = "192.0.2.254"

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test]
templates:
  ns:
    personality: "Linux 2.6.32 - 3.10#1"
    tcp: closed
    udp: closed
    ports:
      udp/53: {service: dnsbl, options: {zone: bl.example.test, refresh: 0}}
  proxy:
    personality: "FreeBSD 6.2-RELEASE#1"
    tcp: closed
    ports:
      tcp/3128: {service: open-proxy, options: {blacklist: {action: record}}}
hosts:
  - {address: 198.51.100.53, name: ns.example.test, template: ns}
  - {address: 198.51.100.20, name: proxy1.example.test, template: proxy}
"""


@pytest.fixture
def state_dir():
    # Not under pytest's tmp_path, which only root may enter: vnet runs
    # as nobody and is handed this directory.
    path = Path(tempfile.mkdtemp(prefix="vnet-dnsbl-"))
    build(path / "events.sqlite")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def dig(netns, name: str, kind: str = "A") -> tuple[str, list[str]]:
    """(status, answers) of one query to the DNSBL."""
    result = netns.run(
        "dig", "+tries=2", "+time=2", "+noall", "+comments", "+answer",
        f"@{NAME_SERVER}", name, kind,
    )  # fmt: skip
    status = result.stdout.split("status: ")[1].split(",")[0]
    answers = [
        line.split(None, 4)[-1].strip('"')
        for line in result.stdout.splitlines()
        if line and not line.startswith(";")
    ]
    return status, answers


def test_dig_gets_the_code_of_each_role(vnet, netns, state_dir):
    require_tool("dig")
    served = vnet(TOPOLOGY, "--state-dir", str(state_dir))

    assert dig(netns, "50.113.0.203.bl.example.test") == (
        "NOERROR", [CODES["proxy-user"], CODES["relay-user"]],
    )  # fmt: skip
    assert dig(netns, "66.113.0.203.bl.example.test") == (
        "NOERROR", [CODES["harvester"]],
    )  # fmt: skip
    assert dig(netns, "52.113.0.203.bl.example.test") == (
        "NOERROR", [CODES["sink-sender"]],
    )  # fmt: skip
    assert dig(netns, "88.113.0.203.bl.example.test") == ("NXDOMAIN", [])
    assert dig(netns, "2.0.0.127.bl.example.test") == ("NOERROR", ["127.0.0.2"])
    status, [text] = dig(netns, "66.113.0.203.bl.example.test", "TXT")
    assert "harvester" in text

    assert served.stop() == 0
    queries = served.events("dnsbl.query")
    assert len(queries) == 6
    assert {query["peer"] for query in queries} == {KERNEL}
    assert queries[0]["listed"] == ["proxy-user", "relay-user"]


def test_a_proxy_user_is_listed_while_vnet_runs(vnet, netns, state_dir):
    require_tool("dig")
    require_tool("curl")
    served = vnet(TOPOLOGY, "--state-dir", str(state_dir))
    name = ".".join(reversed(KERNEL.split("."))) + ".bl.example.test"
    assert dig(netns, name) == ("NXDOMAIN", [])

    netns.run(
        "curl", "-s", "-o", "/dev/null", "--max-time", "10",
        "-x", f"http://{PROXY}:3128", "http://www.example.test/",
    )  # fmt: skip
    deadline = time.monotonic() + 5
    while dig(netns, name)[0] == "NXDOMAIN" and time.monotonic() < deadline:
        time.sleep(0.2)

    assert dig(netns, name) == ("NOERROR", [CODES["proxy-user"]])
    assert served.stop() == 0
    assert served.events("proxy.blacklist.added")
