"""The dns service in socket mode (`vnet serve dns`), asked by dig over TCP.

Socket mode serves TCP only, and has no topology: the zones come from the
options alone. This needs no root and no namespace.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool

OPTIONS = {
    "zones": ["example.test"],
    "records": [
        {"name": "www.example.test", "type": "A", "value": "198.51.100.10"},
        {"name": "example.test", "type": "MX", "value": "10 mx.example.test"},
        {"name": "mx.example.test", "type": "A", "value": "198.51.100.30"},
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    workdir = tmp_path_factory.mktemp("dns-socket")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vnet", "serve", "dns",
         "--listen", f"127.0.0.1:{port}", "--options", json.dumps(OPTIONS),
         "--events", str(workdir / "events.jsonl"), "--state-dir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert "ready" in process.stdout.readline()
        yield port, workdir
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def dig(port: int, *arguments: str) -> str:
    require_tool("dig")
    command = ["dig", "+tcp", "+time=2", "+tries=1", "-p", str(port), "@127.0.0.1"]
    result = subprocess.run(
        [*command, *arguments], capture_output=True, text=True, timeout=30
    )
    return result.stdout


def test_dig_over_tcp_gets_the_records_of_the_options(server):
    port, workdir = server

    address = dig(port, "+short", "www.example.test")
    mx = dig(port, "example.test", "MX")

    assert address == "198.51.100.10\n"
    assert "10 mx.example.test." in mx
    assert "mx.example.test.\t3600\tIN\tA\t198.51.100.30" in mx
    records = [
        json.loads(line) for line in (workdir / "events.jsonl").read_text().splitlines()
    ]
    queries = [record for record in records if record["event"] == "dns.query"]
    assert queries[0]["peer"] == "127.0.0.1"
    assert queries[0]["name"] == "www.example.test."
    assert {query["transport"] for query in queries} == {"tcp"}


def test_names_outside_the_options_zones_are_refused(server):
    port, _ = server

    assert "status: REFUSED" in dig(port, "www.other.example")
