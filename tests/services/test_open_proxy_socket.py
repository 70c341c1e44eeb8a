"""The open proxy in socket mode (`vnet serve`), with curl on 127.0.0.1.

This needs no root: the proxy and an smtp-relay run as two `vnet serve`
processes, and the proxy reaches the relay through its `relay` option over
a real socket. The hand-off cannot cross processes, so here the relay
greets with its own name (a documented limitation of socket mode).
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(name: str, port: int, options: dict, workdir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "vnet", "serve", name,
         "--listen", f"127.0.0.1:{port}", "--options", json.dumps(options),
         "--events", str(workdir / f"{name}.jsonl"), "--state-dir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert "ready" in process.stdout.readline()
    return process


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    workdir = tmp_path_factory.mktemp("open-proxy-socket")
    relay_port, proxy_port = free_port(), free_port()
    relay = serve(
        "smtp-relay",
        relay_port,
        {"dry_run": True, "greeting_delay": [0, 0.01], "hostname": "relay.test"},
        workdir,
    )
    options = {
        "relay": f"127.0.0.1:{relay_port}",
        "maze": "generated",
        "protocols": ["http", "socks4", "socks5"],
    }
    served = serve("open-proxy", proxy_port, options, workdir)
    try:
        yield proxy_port, workdir
    finally:
        for process in (served, relay):
            process.terminate()
            process.wait(10)
            process.stdout.close()


def curl(*arguments: str, stdin: str = "") -> subprocess.CompletedProcess:
    require_tool("curl")
    return subprocess.run(
        ["curl", "-s", "--max-time", "10", *arguments],
        input=stdin, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_curl_gets_a_generated_page_through_the_proxy(proxy):
    port, workdir = proxy
    result = curl("-i", "-x", f"http://127.0.0.1:{port}", "http://www.example.test/")

    assert result.stdout.startswith("HTTP/1.1 200 OK")
    assert "Via: 1.1 127.0.0.1 (squid/3.5.27)" in result.stdout
    assert "crawler-127.0.0.1_" in result.stdout


def test_curl_tunnels_smtp_over_http_connect_and_socks5(proxy):
    port, workdir = proxy
    over_http = curl(
        "-x", f"http://127.0.0.1:{port}", "--proxytunnel",
        "telnet://mx.example.test:25", stdin="QUIT\r\n",
    )  # fmt: skip
    over_socks = curl(
        "--socks5-hostname", f"127.0.0.1:{port}", "telnet://mx.example.test:25",
        stdin="QUIT\r\n",
    )  # fmt: skip

    for result in (over_http, over_socks):
        assert result.stdout.startswith("220 relay.test ESMTP Sendmail"), result
        assert "221 2.0.0 relay.test closing connection" in result.stdout


def test_curl_connect_to_443_gets_408(proxy):
    port, _ = proxy
    result = curl(
        "-o", "/dev/null", "-w", "%{http_connect}",
        "-x", f"http://127.0.0.1:{port}", "https://www.example.test/",
    )  # fmt: skip

    assert result.stdout == "408"
