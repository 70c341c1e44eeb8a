"""The kernel's TCP as the peer: curl against vnet.tcp through a TAP device.

Linux brings what the test client does not: SACK blocks, its own window
moves, delayed ACKs, PAWS on our timestamps, BBR or CUBIC on its side. The
frames cross a namespace made for the test; `kernel_peer` drops a share of
them each way, so both directions need retransmissions.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vnet.netns import Namespace

from .kernel_peer import stream

pytestmark = [pytest.mark.netns, pytest.mark.slow]

URL = "http://192.0.2.10"


def start(netns: Namespace, loss: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.tcp.kernel_peer", "vtcp0"]
    process = netns.popen(
        *command,
        "--loss",
        str(loss),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", process.stderr.read() if process.stderr else ""
    return process


def stop(process: subprocess.Popen) -> dict:
    process.terminate()
    _, errors = process.communicate(timeout=10)
    return json.loads(errors.strip().splitlines()[-1])


@pytest.fixture
def lossless(netns: Namespace) -> Iterator[Namespace]:
    process = start(netns, 0.0)
    yield netns
    stop(process)


def curl(netns: Namespace, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        netns.command("curl", "-s", "-m", "60", *arguments),
        capture_output=True,
        timeout=90,
        check=True,
    )


def test_short_requests_one_after_another(lossless: Namespace) -> None:
    for index in range(30):
        assert curl(lossless, f"{URL}/{100 + index}").stdout == stream(100 + index)


def test_megabytes_each_way_through_two_percent_loss(netns: Namespace) -> None:
    process = start(netns, 0.02)
    size = 8 * 1024 * 1024
    download = curl(netns, f"{URL}/{size}").stdout
    upload = stream(size + 1)
    sent = subprocess.run(
        netns.command(
            "curl", "-s", "-m", "60", "-H", "Expect:", "--data-binary", "@-",
            f"{URL}/upload",
        ),
        input=upload,
        capture_output=True,
        timeout=90,
        check=True,
    )  # fmt: skip
    counters = stop(process)
    assert hashlib.sha256(download).digest() == hashlib.sha256(stream(size)).digest()
    assert sent.stdout.decode() == hashlib.sha256(upload).hexdigest()
    assert counters["dropped"] > 100  # the losses were real
