"""Helpers shared by the benchmarks: namespaces, pinned processes, vnet."""

from __future__ import annotations

import json
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
