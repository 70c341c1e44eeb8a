"""What address ranges cost: load time, and RSS before and after contact.

A /16 of workstations is served by `vnet run` inside a namespace (from the
RFC 2544 benchmarking block 198.18.0.0/15, never routed), next to a topology
of one host; the difference in RSS is what the range costs while nobody has
touched it. Then 1,024 random addresses of the range are pinged, and the RSS
growth per contacted host is reported. The /12 figure is measured in this
process without any link or packet: the plan for a /12 is built from a span
in memory and its allocations are counted with tracemalloc.
"""

from __future__ import annotations

import random
import time
import tracemalloc

from bench.common import Namespace, progress, start_vnet, stopped_summary, workdir
from vnet import config
from vnet.network.plan import AddressPlan

ONE_HOST = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  workstation: {tcp: closed}
hosts:
  - {address: 192.0.2.10, template: workstation}
"""

SLASH_16 = ONE_HOST.replace("192.0.2.10,", "198.18.0.0/16,")
CONTACTED = 1024


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def served_rss(namespace: Namespace, topology: str) -> int:
    process = start_vnet(namespace, topology, workdir())
    try:
        return rss_kib(process.process.pid)
    finally:
        stopped_summary(process)


def contacted_growth(namespace: Namespace) -> tuple[int, int, int]:
    """RSS before and after pinging CONTACTED addresses of the /16."""
    process = start_vnet(namespace, SLASH_16, workdir())
    before = rss_kib(process.process.pid)
    rng = random.Random(12)
    targets = {
        f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(CONTACTED)
    }
    listing = workdir() / "targets"
    listing.write_text("\n".join(sorted(targets)))
    namespace.run(
        "nmap",
        "-n",
        "-sn",
        "--min-rate",
        "2000",
        "-iL",
        str(listing),
        timeout=300,
        check=False,
    )
    after = rss_kib(process.process.pid)
    summary = stopped_summary(process)
    return before, after, summary["hosts_contacted"]


def load_seconds(text: str) -> float:
    started = time.perf_counter()
    topology = config.loads(text)
    AddressPlan(topology.hosts)
    return time.perf_counter() - started


class Span:
    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last


def slash_12_plan_bytes() -> int:
    tracemalloc.start()
    plan = AddressPlan([Span(0xC6100000, 0xC61FFFFF)])
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert plan.address_count == 1 << 20
    return size


def run() -> dict:
    namespace = Namespace.create("vnet-bench")
    try:
        progress("RSS of one host and of an untouched /16")
        single = served_rss(namespace, ONE_HOST)
        slash_16 = served_rss(namespace, SLASH_16)
        progress(f"RSS after {CONTACTED} random addresses of the /16 are pinged")
        before, after, contacted = contacted_growth(namespace)
    finally:
        namespace.delete()
    return {
        "rss_one_host_kib": single,
        "rss_slash16_untouched_kib": slash_16,
        "rss_slash16_over_one_host_ratio": round(slash_16 / single, 3),
        "slash16_load_seconds": round(load_seconds(SLASH_16), 4),
        "slash12_plan_bytes": slash_12_plan_bytes(),
        "hosts_contacted": contacted,
        "rss_bytes_per_contacted_host": round((after - before) * 1024 / contacted),
    }
