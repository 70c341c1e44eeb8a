"""Socket mode and the service registry, over the loopback interface."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from vnet.service.registry import UnknownService, find_service


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_builtin_services_are_found_by_name():
    from services.echo import Echo

    assert find_service("echo") is Echo
    assert find_service("services.echo:Echo") is Echo
    assert find_service("services.echo.Echo") is Echo


def test_an_unknown_service_suggests_a_close_name():
    with pytest.raises(UnknownService) as caught:
        find_service("ecoh")

    assert caught.value.suggestions == ["echo"]


def test_vnet_serve_runs_a_service_on_a_real_socket(tmp_path):
    port = free_port()
    events = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "vnet", "serve", "echo", "--listen",
         f"127.0.0.1:{port}", "--events", str(events)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "ready" in process.stdout.readline()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"hello, vnet")
            client.shutdown(socket.SHUT_WR)
            assert client.recv(100) == b"hello, vnet"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()

    assert process.returncode == 0
    assert '"echo.session.closed"' in events.read_text()


def test_vnet_serve_rejects_bad_options_with_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "vnet", "serve", "echo", "--options", "{size: 3}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert result.returncode == 2
    assert "options" in result.stderr and "Traceback" not in result.stderr
