"""Network namespaces, and vnet running in them, for tests, demo and self-tests.

Everything that sends a packet on vnet's behalf (the test suite, `make demo`,
`vnet selftest`, the benchmarks) does so inside a namespace it made itself, so
no traffic can leave the machine: the namespace has only its loopback and the
TAP device that vnet creates in it. Namespaces are always deleted, even when
the caller fails or vnet dies.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_numbers = itertools.count(1)


class Namespace:
    """One network namespace, with its loopback up."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def create(cls, prefix: str = "vnet-test") -> Namespace:
        name = f"{prefix}-{os.getpid()}-{next(_numbers)}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        namespace = cls(name)
        namespace.run("ip", "link", "set", "lo", "up")
        return namespace

    def command(self, *arguments: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *arguments]

    def run(
        self, *arguments: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run a command inside the namespace and capture its output."""
        return subprocess.run(
            self.command(*arguments),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def popen(self, *arguments: str, **options) -> subprocess.Popen:
        return subprocess.Popen(self.command(*arguments), **options)

    def delete(self) -> None:
        # Kill whatever still runs in the namespace, then remove it.
        pids = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        # What `vnet run --resolver` left (it cannot remove the folder once it
        # is no longer root).
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)


class VnetProcess:
    """`vnet run` inside a namespace, started and stopped by a test."""

    def __init__(
        self,
        namespace: Namespace,
        topology: Path,
        workdir: Path,
        tap: str = "vnet0",
        arguments: tuple[str, ...] = (),
        prefix: tuple[str, ...] = (),
        state_dir: Path | None = None,
    ) -> None:
        self.namespace = namespace
        self.tap = tap
        self.events_path = workdir / "events.jsonl"
        # The state dir must stay reachable once vnet runs as nobody, and a
        # test's own directory often is not: give it one of its own.
        self.own_state_dir = state_dir is None
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="vnet-state-"))
        self.stderr_path = workdir / "vnet.stderr"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115
        command = [
            *prefix, sys.executable, "-m", "vnet", "run", str(topology),
            "--tap", tap, "--events", str(self.events_path),
            "--state-dir", str(self.state_dir), *arguments,
        ]  # fmt: skip
        self.process = namespace.popen(
            *command, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self.ready_line = ""

    def wait_ready(self, timeout: float = 30) -> str:
        """Wait for the line containing `ready`, or fail with vnet's stderr."""
        deadline = time.monotonic() + timeout
        stdout = self.process.stdout
        assert stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.2):
                if self.process.poll() is not None:
                    break
                continue
            line = stdout.readline()
            if not line:
                break
            if "ready" in line:
                self.ready_line = line
                return line
        raise RuntimeError(f"vnet did not get ready:\n{self.stderr()}")

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close()

    def cleanup(self) -> None:
        """Remove the state dir the harness made (after stop or kill)."""
        if self.own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def _close(self) -> None:
        self._stderr.close()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def events(self, event_id: str | None = None) -> list[dict]:
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line]
        if event_id is None:
            return records
        return [record for record in records if record["event"] == event_id]
