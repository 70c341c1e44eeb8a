"""The command line's contracts: exit statuses, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from vnet import __version__


def vnet(*arguments: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vnet", *arguments],
        capture_output=True, text=True, timeout=60, **options,
    )  # fmt: skip


def test_version():
    result = vnet("--version")

    assert result.returncode == 0
    assert __version__ in result.stdout


def test_schema_prints_the_published_json_schema():
    result = vnet("schema")

    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"attach", "templates", "hosts"} <= set(schema["properties"])


def test_check_summarises_the_default_topology():
    result = vnet("check", "topologies/honeyspam.yaml")

    assert result.returncode == 0, result.stderr
    assert "www.example.test" in result.stdout


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_bad_topology_is_one_line_and_exit_2(tmp_path, command):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "version: 1\n"
        "attach: {tap: vnet0, host_address: 192.0.2.254/24}\n"
        "templates:\n"
        "  web: {tcp: closed}\n"
        "hosts:\n"
        "  - {address: 192.0.2.10, template: wbe}\n"
    )

    result = vnet(command, str(path))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"{path}:6:" in line and "template" in line and "'web'" in line


def test_a_missing_file_is_exit_2(tmp_path):
    result = vnet("check", str(tmp_path / "absent.yaml"))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_tap_the_kernel_refuses_is_exit_2(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "version: 1\n"
        "attach: {tap: vnet0, host_address: 192.0.2.254/24}\n"
        "templates: {plain: {}}\n"
        "hosts: [{address: 192.0.2.10, template: plain}]\n"
    )

    result = vnet("run", str(path), "--tap", "x" * 40)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "TAP" in result.stderr


@pytest.mark.netns
def test_run_drops_root_and_shows_a_status_line_on_a_terminal(netns, tmp_path):
    from tests.conftest import needs_root

    needs_root()
    path = tmp_path / "t.yaml"
    path.write_text(
        "version: 1\n"
        "attach: {tap: vnet0, host_address: 192.0.2.254/24}\n"
        "templates: {plain: {}}\n"
        "hosts: [{address: 192.0.2.10, template: plain}]\n"
    )
    # Not the default var/ of the checkout: nobody must reach the state
    # directory after the drop, wherever the checkout lies.
    state_dir = tempfile.mkdtemp(prefix="vnet-state-")
    controller, terminal = pty.openpty()
    process = netns.popen(
        sys.executable, "-m", "vnet", "run", str(path), "--state-dir", state_dir,
        stdout=subprocess.PIPE, stderr=terminal, text=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        assert "ready" in process.stdout.readline()
        netns.run("ping", "-c", "1", "-W", "2", "192.0.2.10", check=False)
        time.sleep(1.5)
        status = os.read(controller, 65536).decode()
        uid = read_uid(process.pid)
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
        os.close(controller)
        shutil.rmtree(state_dir, ignore_errors=True)

    assert "frames in" in status and "hosts 1" in status
    assert uid == 65534  # nobody
    assert process.returncode == 0


def read_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Uid:"):
                return int(line.split()[2])
    raise AssertionError("no Uid line")
