"""Helpers shared by the benchmarks: namespaces, pinned processes, vnet."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def socket_mode(
    namespace: Namespace, service: str, listen: str, *arguments: str
) -> Iterator[subprocess.Popen]:
    """`vnet serve SERVICE` on the responder core, ready, stopped on exit."""
    server = namespace.popen(
        *pinned(RESPONDER_CPU, sys.executable, "-m", "vnet", "serve", service,
                "--listen", listen, *arguments),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        server.stdout.readline()
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


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
