"""ICMP echo through the full engine, against the least Python that can echo.

Both responders run on one core inside a namespace while hping3 floods them
from the other core for a few seconds. Replies per second are counted by the
responders themselves. Then vnet is sent echo requests at half the ceiling
rate, and hping3 counts how many came back.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys

from bench.common import (
    LOAD_CPU,
    RESPONDER_CPU,
    Namespace,
    pinned,
    progress,
    start_vnet,
    stopped_summary,
    workdir,
)

TARGET = "192.0.2.10"
HOST_CIDR = "192.0.2.254/24"
FLOOD_SECONDS = 4

TOPOLOGY = f"""
version: 1
attach: {{tap: vnet0, host_address: {HOST_CIDR}}}
templates:
  plain: {{}}
hosts:
  - {{address: {TARGET}, template: plain}}
"""


def flood(namespace: Namespace, seconds: float) -> None:
    command = pinned(
        LOAD_CPU, "timeout", "-s", "INT", str(seconds),
        "hping3", "--icmp", "--flood", "-q", TARGET,
    )  # fmt: skip
    namespace.run(*command, check=False, timeout=seconds + 10)


def ceiling_rate(namespace: Namespace) -> float:
    command = pinned(
        RESPONDER_CPU, sys.executable, "-m", "bench.tap_echo",
        "vnet0", HOST_CIDR, TARGET,
    )  # fmt: skip
    echo = namespace.popen(*command, stdout=subprocess.PIPE, text=True)
    assert echo.stdout is not None
    echo.stdout.readline()
    namespace.run("ping", "-c", "1", "-W", "2", TARGET, check=False)
    flood(namespace, FLOOD_SECONDS)
    echo.send_signal(signal.SIGTERM)
    replies = int(re.search(r'"replies": (\d+)', echo.stdout.read()).group(1))
    echo.wait(10)
    return replies / FLOOD_SECONDS


def engine_rate(namespace: Namespace) -> float:
    process = start_vnet(namespace, TOPOLOGY, workdir())
    namespace.run("ping", "-c", "1", "-W", "2", TARGET, check=False)
    flood(namespace, FLOOD_SECONDS)
    summary = stopped_summary(process)
    return summary["frames_out"] / FLOOD_SECONDS


def loss_at(namespace: Namespace, rate: float, count: int) -> float:
    """Percent of echo requests unanswered when sent at `rate` per second."""
    process = start_vnet(namespace, TOPOLOGY, workdir())
    interval = max(1, int(1_000_000 / rate))
    result = namespace.run(
        *pinned(LOAD_CPU, "hping3", "--icmp", "-i", f"u{interval}", "-c",
                str(count), TARGET),
        check=False, timeout=120,
    )  # fmt: skip
    stopped_summary(process)
    output = result.stdout + result.stderr
    sent, received = map(int, re.search(
        r"(\d+) packets transmitted, (\d+) packets received", output
    ).groups())  # fmt: skip
    return 100.0 * (sent - received) / sent


def run() -> dict:
    figures = {}
    namespace = Namespace.create("vnet-bench")
    try:
        progress("ICMP ceiling: minimal TAP echo loop under hping3 --flood")
        ceiling = ceiling_rate(namespace)
        progress("ICMP through the engine under hping3 --flood")
        engine = engine_rate(namespace)
        progress(f"ICMP loss at half the ceiling ({ceiling / 2:.0f}/s)")
        loss = loss_at(namespace, ceiling / 2, int(ceiling))
    finally:
        namespace.delete()
    figures["icmp_ceiling_replies_per_s"] = round(ceiling)
    figures["icmp_engine_replies_per_s"] = round(engine)
    figures["icmp_engine_to_ceiling_ratio"] = round(engine / ceiling, 3)
    figures["icmp_loss_percent_at_half_ceiling"] = round(loss, 3)
    return figures
