"""Helpers shared by the benchmarks: namespaces, pinned processes, vnet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vnet.netns import Namespace, VnetProcess

# The responder under test runs on one core, the load generator on the other.
RESPONDER_CPU = "1"
LOAD_CPU = "0"


def pinned(cpu: str, *command: str) -> tuple[str, ...]:
    return ("taskset", "-c", cpu, *command)


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def start_vnet(
    namespace: Namespace, topology: str, workdir: Path, *arguments: str
) -> VnetProcess:
    """`vnet run` on the responder core, ready to serve."""
    path = workdir / "topology.yaml"
    path.write_text(topology)
    process = VnetProcess(
        namespace,
        path,
        workdir,
        arguments=arguments,
        prefix=pinned(RESPONDER_CPU),
    )
    process.wait_ready()
    return process


def stopped_summary(process: VnetProcess) -> dict:
    """The counters vnet recorded when it stopped."""
    status = process.stop()
    if status != 0:
        raise RuntimeError(f"vnet exited {status}:\n{process.stderr()}")
    return process.events("vnet.stopped")[-1]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces; the fields after it do not.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workdir() -> Path:
    """A scratch folder that vnet can still reach once it runs as nobody."""
    path = Path(tempfile.mkdtemp(prefix="vnet-bench-"))
    path.chmod(0o755)
    return path


def wait(seconds: float) -> None:
    time.sleep(seconds)


def dump(figures: dict) -> str:
    return json.dumps(figures, indent=2)


__all__ = ["Namespace", "subprocess"]
