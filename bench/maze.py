"""The web maze: pages per second, and what a connection in slow drip costs.

- Pages per second: wrk (keep-alive, 8 connections) fetches maze pages from
  `web-maze` through vnet's TCP, and from the same service in socket mode
  on the kernel's TCP, in one namespace; the figure is their ratio. Both
  keep the same records (the JSON lines and the event store), so that the
  ratio is that of the two TCP stacks.
- Slow drip: with the tarpit on for every visitor (first byte after 60 s),
  connections each ask for a page and are held: first `WARM` of them,
  which fill what vnet keeps once (the maze's page cache, the event
  store's cache and writer thread), then `HELD` more, so that
  `WARM + HELD` are held at once. The growth of vnet's RSS over the second
  group, divided by `HELD`, is the cost of one held connection.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from bench.common import (
    LOAD_CPU,
    Namespace,
    pinned,
    progress,
    socket_mode,
    start_vnet,
    stopped_summary,
    workdir,
)
from bench.memory import rss_kib

TARGET = "192.0.2.10"
SECONDS = 5
WARM = 1000
HELD = 2000
DRIP = {"slow": {"who": "all", "first_byte_ms": 60000, "per_source": 5000,
                 "total": 10000, "max_seconds": 120}}  # fmt: skip


def topology(options: dict) -> str:
    return f"""
version: 1
attach: {{tap: vnet0, host_address: 192.0.2.254/24}}
trap_domains: [example.test]
templates:
  web:
    ports:
      tcp/80: {{service: web-maze, options: {json.dumps(options)}}}
hosts:
  - {{address: {TARGET}, name: www.example.test, template: web}}
"""


def wrk(namespace: Namespace, url: str) -> float:
    result = namespace.run(
        *pinned(LOAD_CPU, "wrk", "-t1", "-c8", f"-d{SECONDS}s", url),
        timeout=SECONDS + 30,
    )
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", result.stdout).group(1))


def socket_mode_rate(namespace: Namespace) -> float:
    state = workdir()
    records = ("--events", str(state / "events.jsonl"),
               "--store", str(state / "events.sqlite"))  # fmt: skip
    with socket_mode(namespace, "web-maze", "127.0.0.1:8080",
                     "--state-dir", str(state), *records):  # fmt: skip
        return wrk(namespace, "http://127.0.0.1:8080/products/index.html")


# Opens each group of connections when told to by a line on stdin, and
# prints how many it holds.
HOLDER = """
import resource, socket, sys
groups = [int(count) for count in sys.argv[1:]]
limit = sum(groups) + 100
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
request = b"GET /page%d.html HTTP/1.1\\r\\nHost: www.example.test\\r\\n\\r\\n"
held = []
for count in groups:
    sys.stdin.readline()
    for _ in range(count):
        client = socket.create_connection(("192.0.2.10", 80))
        client.sendall(request % len(held))
        held.append(client)
    print(len(held), flush=True)
sys.stdin.read()
"""


def drip_bytes_per_connection(namespace: Namespace) -> float:
    process = start_vnet(namespace, topology(DRIP), workdir())
    holder = namespace.popen(
        sys.executable, "-c", HOLDER, str(WARM), str(HELD),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        warm = hold_more(holder, process.process.pid)
        after = hold_more(holder, process.process.pid)
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(60)
        holder.stdout.close()
    stopped_summary(process)
    return (after - warm) * 1024 / HELD


def hold_more(holder: subprocess.Popen, pid: int) -> int:
    """Let the holder open its next group; vnet's RSS in KiB once they wait."""
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    holder.stdout.readline()
    time.sleep(3)  # every request read and parked in the tarpit
    return rss_kib(pid)


def run() -> dict:
    namespace = Namespace.create("vnet-bench")
    try:
        progress("maze pages/s in socket mode (kernel TCP)")
        kernel = socket_mode_rate(namespace)
        progress("maze pages/s through vnet's TCP")
        process = start_vnet(namespace, topology({}), workdir())
        virtual = wrk(namespace, f"http://{TARGET}/products/index.html")
        stopped_summary(process)
        progress(f"RSS of {HELD} connections held in slow drip, after {WARM}")
        drip = drip_bytes_per_connection(namespace)
    finally:
        namespace.delete()
    return {
        "maze_pages_per_s_socket_mode": round(kernel),
        "maze_pages_per_s_virtual": round(virtual),
        "maze_pages_virtual_to_socket_ratio": round(virtual / kernel, 3),
        "maze_drip_connection_bytes": round(drip),
    }
