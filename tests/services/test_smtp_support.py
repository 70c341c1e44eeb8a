"""Helpers for the mail service tests (this module holds no tests itself).

- `Recorder`: an event sink that keeps every event, for assertions;
- `serving(...)`: a relay or sink on 127.0.0.1 in the test's own loop;
- `Client`: a line-level SMTP client that shows every reply line as sent,
  so that tests see exactly what a scanner would see;
- `Peer`: an aiosmtpd server that plays the destination of a probe;
- `vnet_serve(...)`: the same services as `python -m vnet serve` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mailbox
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

from vnet.service.api import Environment
from vnet.service.socket_mode import serve_on_socket

FAST = {"greeting_delay": [0, 0.01]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """Keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event_id: str, **fields: Any) -> None:
        self.events.append((event_id, fields))

    def of(self, event_id: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.events if name == event_id]

    def kinds(self) -> set[str]:
        return {fields["kind"] for fields in self.of("smtp.anomaly")}


@contextlib.asynccontextmanager
async def serving(
    service_class: type,
    options: dict[str, Any],
    state_dir: Path,
    topology: Any = None,
) -> AsyncIterator[tuple[int, Recorder]]:
    """Run the service on a free 127.0.0.1 port until the block ends."""
    recorder = Recorder()
    environment = Environment(events=recorder, state_dir=str(state_dir))
    environment.topology = topology
    port = free_port()
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(
        serve_on_socket(
            service_class, options, "127.0.0.1", port, environment, ready, stop
        )
    )
    waiting = asyncio.ensure_future(ready.wait())
    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiting.cancel()
        task.result()
    try:
        yield port, recorder
    finally:
        stop.set()
        await task


class Client:
    """An SMTP client that reads replies line by line, as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, greet: bool = True) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        client = cls(reader, writer)
        if greet:
            await client.reply()
        return client

    async def reply(self, timeout: float = 10) -> list[str]:
        """One whole reply, multi-line replies included."""
        lines = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), timeout)
            if not raw:
                raise ConnectionError(f"closed after {lines!r}")
            line = raw.decode("ascii").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, line: str) -> list[str]:
        await self.send(line.encode("ascii") + b"\r\n")
        return await self.reply()

    async def first(self, line: str) -> str:
        """The first line of the reply to `line`."""
        return (await self.command(line))[0]

    async def message(
        self, sender: str, recipients: list[str], body: bytes, helo: bool = True
    ) -> str:
        """A whole transaction; the reply to the final dot."""
        if helo:
            await self.command("EHLO client.example")
        assert (await self.first(f"MAIL FROM:<{sender}>")).startswith("250")
        for recipient in recipients:
            assert (await self.first(f"RCPT TO:<{recipient}>")).startswith("250")
        assert (await self.first("DATA")).startswith("354")
        await self.send(body + b"\r\n.\r\n")
        return (await self.reply())[0]

    async def closed(self, timeout: float = 10) -> bool:
        """Whether the server closes the connection (reading what is left)."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except (TimeoutError, ConnectionError):
            return False
        finally:
            await self.close()
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Collector:
    """aiosmtpd handler of the test's own destination server."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 OK queued"


@contextlib.asynccontextmanager
async def peer_server() -> AsyncIterator[tuple[int, Collector]]:
    """A plain aiosmtpd on 127.0.0.1 that keeps what it receives."""
    collector = Collector()
    loop = asyncio.get_running_loop()
    port = free_port()
    server = await loop.create_server(
        lambda: SMTP(collector, hostname="peer.example", loop=loop),
        "127.0.0.1",
        port,
    )
    try:
        yield port, collector
    finally:
        server.close()
        await server.wait_closed()


def messages_in(maildir: Path) -> list[bytes]:
    """Every message of a Maildir, as bytes, read by the stdlib."""
    box = mailbox.Maildir(str(maildir), factory=None, create=False)
    return [box.get_bytes(key) for key in box.iterkeys()]


@contextlib.contextmanager
def vnet_serve(
    service: str,
    options: dict[str, Any],
    state_dir: Path,
    events: Path,
    port: int | None = None,
) -> Iterator[tuple[subprocess.Popen, int]]:
    """`python -m vnet serve` in a process of its own."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vnet", "serve", service,
         "--listen", f"127.0.0.1:{port}", "--options", json.dumps(options),
         "--events", str(events), "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        if "ready" not in line:
            process.kill()
            raise RuntimeError(f"vnet serve did not start: {process.stderr.read()}")
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        process.stdout.close()
        process.stderr.close()


def read_events(path: Path, event_id: str | None = None) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [r for r in records if event_id is None or r["event"] == event_id]


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
