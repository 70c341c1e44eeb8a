"""TCP through the virtual stack, against the same service on the kernel's TCP.

- Transactions per second: wrk with `Connection: close` (a new connection
  per request) against `hello-http`, once through vnet and once in socket
  mode on the kernel's TCP, both inside one namespace; and the CPU time
  each server used per transaction meanwhile (/proc), which does not
  depend on how much of its core a shared machine left it.
- Bulk throughput: one 50 MB response through vnet, timed by curl.
- Idle connections: RSS of vnet before and after 10,000 connections are
  opened and left idle.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from bench.common import (
    LOAD_CPU,
    Namespace,
    cpu_seconds,
    pinned,
    progress,
    socket_mode,
    start_vnet,
    stopped_summary,
    workdir,
)
from bench.memory import rss_kib

TARGET = "192.0.2.10"
WRK_SECONDS = 5
IDLE_CONNECTIONS = 10_000
BULK_BYTES = 50_000_000

TOPOLOGY = f"""
version: 1
attach: {{tap: vnet0, host_address: 192.0.2.254/24}}
templates:
  web:
    ports:
      tcp/80: {{service: hello-http}}
      tcp/81: {{service: hello-http, options: {{size: {BULK_BYTES}}}}}
      tcp/7: {{service: echo}}
hosts:
  - {{address: {TARGET}, template: web}}
"""


def wrk(namespace: Namespace, url: str) -> float:
    result = namespace.run(
        *pinned(LOAD_CPU, "wrk", "-t1", "-c16", f"-d{WRK_SECONDS}s",
                "-H", "Connection: close", url),
        timeout=WRK_SECONDS + 30,
    )  # fmt: skip
    return float(re.search(r"Requests/sec:\s+([0-9.]+)", result.stdout).group(1))


def socket_mode_rate(namespace: Namespace) -> tuple[float, float]:
    """Transactions per second, and CPU microseconds each, in socket mode."""
    with socket_mode(namespace, "hello-http", "127.0.0.1:8080") as server:
        before = cpu_seconds(server.pid)
        rate = wrk(namespace, "http://127.0.0.1:8080/")
        return rate, cpu_per_transaction(cpu_seconds(server.pid) - before, rate)


def cpu_per_transaction(seconds: float, rate: float) -> float:
    """CPU microseconds per transaction over one wrk run at `rate`."""
    return seconds * 1e6 / max(rate * WRK_SECONDS, 1)


def bulk_megabytes_per_second(namespace: Namespace) -> float:
    result = namespace.run(
        "curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
        f"http://{TARGET}:81/", timeout=300,
    )  # fmt: skip
    size, seconds = result.stdout.split()
    return int(size) / float(seconds) / 1e6


IDLE_CLIENT = """
import resource, socket, sys, time
count = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (count + 100, count + 100))
held = [socket.create_connection(("192.0.2.10", 7)) for _ in range(count)]
print(len(held), flush=True)
sys.stdin.read()
"""


def idle_bytes_per_connection(namespace: Namespace, pid: int) -> float:
    before = rss_kib(pid)
    client = namespace.popen(
        sys.executable, "-c", IDLE_CLIENT, str(IDLE_CONNECTIONS),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert client.stdout is not None and client.stdin is not None
    opened = int(client.stdout.readline())
    time.sleep(2)  # let the last handshakes complete
    after = rss_kib(pid)
    client.stdin.close()
    client.wait(60)
    client.stdout.close()
    return (after - before) * 1024 / opened


def run() -> dict:
    namespace = Namespace.create("vnet-bench")
    try:
        progress("HTTP transactions/s in socket mode (kernel TCP)")
        kernel, kernel_cpu = socket_mode_rate(namespace)
        progress("HTTP transactions/s through vnet's TCP")
        process = start_vnet(namespace, TOPOLOGY, workdir())
        before = cpu_seconds(process.process.pid)
        virtual = wrk(namespace, f"http://{TARGET}/")
        used = cpu_seconds(process.process.pid) - before
        virtual_cpu = cpu_per_transaction(used, virtual)
        stopped_summary(process)
        progress(f"RSS of {IDLE_CONNECTIONS} idle connections")
        process = start_vnet(namespace, TOPOLOGY, workdir())
        idle = idle_bytes_per_connection(namespace, process.process.pid)
        progress("bulk transfer through vnet's TCP")
        bulk = bulk_megabytes_per_second(namespace)
        stopped_summary(process)
    finally:
        namespace.delete()
    return {
        "tcp_transactions_per_s_socket_mode": round(kernel),
        "tcp_transactions_per_s_virtual": round(virtual),
        "tcp_transactions_virtual_to_socket_ratio": round(virtual / kernel, 3),
        "tcp_cpu_us_per_transaction_socket_mode": round(kernel_cpu),
        "tcp_cpu_us_per_transaction_virtual": round(virtual_cpu),
        "tcp_bulk_megabytes_per_s_virtual": round(bulk, 2),
        "tcp_idle_connection_bytes": round(idle),
    }
