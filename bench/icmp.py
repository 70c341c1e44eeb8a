"""ICMP echo through the full engine, against the least Python that can echo.

Both responders run on one core inside a namespace while hping3 floods them
from the other core for a few seconds. Replies per second are counted by the
responders themselves. Then vnet is sent echo requests at half the ceiling
rate, and the kernel counts the replies it takes from the TAP.

The machine is shared, so what else runs on the responder core takes its
share from whichever responder is flooded then. The two take turns, several
times, and the ratio is the median of the turns' ratios. Each responder's
CPU time during its flood is read from /proc as well: replies per CPU
second, and their ratio, do not depend on how much of the core it got.
"""

from __future__ import annotations

import re
import signal
import statistics
import subprocess
import sys

from bench.common import (
    LOAD_CPU,
    RESPONDER_CPU,
    Namespace,
    cpu_seconds,
    pinned,
    progress,
    start_vnet,
    stopped_summary,
    wait,
    workdir,
)

TARGET = "192.0.2.10"
HOST_CIDR = "192.0.2.254/24"
FLOOD_SECONDS = 4
TURNS = 3

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


def ceiling_rate(namespace: Namespace) -> tuple[float, float]:
    """Replies per second, and per CPU second, of the minimal echo loop."""
    command = pinned(
        RESPONDER_CPU, sys.executable, "-m", "bench.tap_echo",
        "vnet0", HOST_CIDR, TARGET,
    )  # fmt: skip
    echo = namespace.popen(*command, stdout=subprocess.PIPE, text=True)
    assert echo.stdout is not None
    echo.stdout.readline()
    namespace.run("ping", "-c", "1", "-W", "2", TARGET, check=False)
    before = cpu_seconds(echo.pid)
    flood(namespace, FLOOD_SECONDS)
    used = cpu_seconds(echo.pid) - before
    echo.send_signal(signal.SIGTERM)
    replies = int(re.search(r'"replies": (\d+)', echo.stdout.read()).group(1))
    echo.wait(10)
    return replies / FLOOD_SECONDS, replies / max(used, 0.01)


def engine_rate(namespace: Namespace) -> tuple[float, float]:
    """Replies per second, and per CPU second, of `vnet run`."""
    process = start_vnet(namespace, TOPOLOGY, workdir())
    namespace.run("ping", "-c", "1", "-W", "2", TARGET, check=False)
    before = cpu_seconds(process.process.pid)
    flood(namespace, FLOOD_SECONDS)
    used = cpu_seconds(process.process.pid) - before
    summary = stopped_summary(process)
    replies = summary["frames_out"]
    return replies / FLOOD_SECONDS, replies / max(used, 0.01)


def frames_received(namespace: Namespace) -> int:
    """Frames the kernel took from the TAP: the replies vnet sent."""
    result = namespace.run("cat", "/sys/class/net/vnet0/statistics/rx_packets")
    return int(result.stdout)


def loss_at(namespace: Namespace, rate: float, count: int) -> float:
    """Percent of echo requests unanswered when sent at `rate` per second.

    The replies are counted by the kernel as it takes them from the TAP,
    not by hping3: above some 50,000 a second hping3 sends at the pace
    asked but no longer keeps up with counting what comes back, and
    reported near 100% loss while vnet had answered every request.
    """
    process = start_vnet(namespace, TOPOLOGY, workdir())
    namespace.run("ping", "-c", "1", "-W", "2", TARGET, check=False)
    before = frames_received(namespace)
    interval = max(1, int(1_000_000 / rate))
    result = namespace.run(
        *pinned(LOAD_CPU, "hping3", "--icmp", "-i", f"u{interval}", "-c",
                str(count), "-q", TARGET),
        check=False, timeout=120,
    )  # fmt: skip
    wait(0.2)  # the last replies
    replies = frames_received(namespace) - before
    stopped_summary(process)
    output = result.stdout + result.stderr
    sent = int(re.search(r"(\d+) packets transmitted", output).group(1))
    # An ARP exchange in the meantime would count as a reply: at most a
    # frame or two in a hundred thousand.
    return max(0.0, 100.0 * (sent - replies) / sent)


def run() -> dict:
    figures = {}
    ceilings, engines = [], []
    namespace = Namespace.create("vnet-bench")
    try:
        for turn in range(1, TURNS + 1):
            progress(f"turn {turn}/{TURNS}: minimal TAP echo loop under hping3 --flood")
            ceilings.append(ceiling_rate(namespace))
            progress(f"turn {turn}/{TURNS}: the engine under hping3 --flood")
            engines.append(engine_rate(namespace))
        ceiling = statistics.median(rate for rate, _ in ceilings)
        progress(f"ICMP loss at half the ceiling ({ceiling / 2:.0f}/s)")
        loss = loss_at(namespace, ceiling / 2, int(ceiling))
    finally:
        namespace.delete()
    engine = statistics.median(rate for rate, _ in engines)
    pairs = zip(engines, ceilings, strict=True)
    ratios = [mine[0] / theirs[0] for mine, theirs in pairs]
    ceiling_cpu = statistics.median(per_cpu for _, per_cpu in ceilings)
    engine_cpu = statistics.median(per_cpu for _, per_cpu in engines)
    figures["icmp_ceiling_replies_per_s"] = round(ceiling)
    figures["icmp_engine_replies_per_s"] = round(engine)
    figures["icmp_engine_to_ceiling_ratio"] = round(statistics.median(ratios), 3)
    figures["icmp_ceiling_replies_per_cpu_s"] = round(ceiling_cpu)
    figures["icmp_engine_replies_per_cpu_s"] = round(engine_cpu)
    figures["icmp_engine_to_ceiling_cpu_ratio"] = round(engine_cpu / ceiling_cpu, 3)
    figures["icmp_loss_percent_at_half_ceiling"] = round(loss, 3)
    return figures
