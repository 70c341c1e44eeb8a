"""`make demo`: the default HoneySpam topology, toured as a spammer would.

It starts `topologies/honeyspam.yaml` inside a network namespace of its own,
then plays the first moves of a spam campaign with real tools: a ping sweep
of the DMZ and a port scan. It prints each step as it goes and a summary of
what vnet recorded, and it always stops vnet and deletes the namespace.
"""

from __future__ import annotations

import collections
import re
import shutil
import sys
import time
from pathlib import Path

from vnet.netns import Namespace, VnetProcess

TOPOLOGY = Path("topologies/honeyspam.yaml")
# The demo keeps its records where `vnet run` keeps them by default, so that
# `vnet trace address` and `vnet report` find them with no arguments.
WORKDIR = Path("var")
DMZ = "198.51.100.10-31"
PORTS = "22,25,80,110,443,1080,3128,8080"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def show(output: str, pattern: str | None = None) -> None:
    for line in output.splitlines():
        if pattern is None or re.search(pattern, line):
            print(f"    {line}")


def tour(namespace: Namespace) -> None:
    step("ping sweep of the DMZ (nmap -sn)")
    result = namespace.run("nmap", "-n", "-sn", DMZ, timeout=120)
    show(result.stdout, r"Nmap scan report|Nmap done|MAC Address")

    step(f"port scan of the DMZ (nmap -sS -p {PORTS})")
    result = namespace.run("nmap", "-n", "-Pn", "-sS", "-p", PORTS, DMZ, timeout=300)
    show(result.stdout, r"Nmap scan report|/tcp|Nmap done")

    step("a workstation answers ping")
    result = namespace.run("ping", "-c", "3", "-i", "0.2", "203.0.113.77", check=False)
    show(result.stdout, r"packet loss|rtt")


def summarise(process: VnetProcess) -> None:
    step("what vnet recorded")
    counts = collections.Counter(event["event"] for event in process.events())
    for event_id, count in sorted(counts.items()):
        print(f"    {event_id:28} {count}")
    stopped = process.events("vnet.stopped")
    if stopped:
        summary = stopped[-1]
        print(
            f"    frames in {summary['frames_in']}, out {summary['frames_out']}, "
            f"malformed {summary['malformed']}, hosts {summary['hosts_contacted']}"
        )
    print(f"\n    events: {process.events_path}")


def main() -> int:
    for tool in ("nmap", "ping", "ip"):
        if shutil.which(tool) is None:
            print(f"demo: {tool} is missing; run `make demo`", file=sys.stderr)
            return 1
    WORKDIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    step(f"starting {TOPOLOGY} in a network namespace")
    namespace = Namespace.create("vnet-demo")
    workdir = WORKDIR.resolve()
    process = VnetProcess(namespace, TOPOLOGY.resolve(), workdir, state_dir=workdir)
    try:
        print(f"    {process.wait_ready().strip()}")
        tour(namespace)
        step("stopping vnet (SIGTERM)")
        status = process.stop()
        print(f"    exit status {status}")
        summarise(process)
    finally:
        process.kill()
        namespace.delete()
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
