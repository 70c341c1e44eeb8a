"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vnet.netns import Namespace, VnetProcess


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A fresh network namespace, deleted after the test whatever happens."""
    needs_root()
    namespace = Namespace.create()
    try:
        yield namespace
    finally:
        namespace.delete()


@pytest.fixture
def vnet(netns: Namespace, tmp_path: Path) -> Iterator[Callable[..., VnetProcess]]:
    """Start `vnet run` in the test's namespace: vnet(topology_text, *args).

    The returned process is ready (it printed its `ready` line). The fixture
    kills anything still running at the end.
    """
    started: list[VnetProcess] = []

    def start(topology: str, *arguments: str, tap: str = "vnet0") -> VnetProcess:
        path = tmp_path / f"topology-{len(started)}.yaml"
        path.write_text(topology)
        process = VnetProcess(netns, path, tmp_path, tap, arguments)
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.kill()
        process.cleanup()


def require_tool(name: str) -> str:
    """The path of a Debian tool the Makefile installs; fail loudly if absent."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it")
    return path
