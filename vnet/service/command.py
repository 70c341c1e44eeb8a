"""honeyd-style command services: a connection piped to a program.

`tcp/23: {service: {command: [perl, scripts/router-telnet.pl]}}` starts the
program once per connection, copies what the peer sends to its stdin and
what it prints to the peer. Scripts written for honeyd run unchanged: they
find the connection in the environment variables honeyd sets
(HONEYD_IP_SRC, HONEYD_IP_DST, HONEYD_SRC_PORT, HONEYD_DST_PORT,
HONEYD_PERSONALITY), and the words `$ipsrc`, `$ipdst`, `$sport` and
`$dport` in the command line are replaced as honeyd replaces them.

The number of programs running at once is bounded (`max_processes`, per
binding); a connection beyond it is closed at once. Each program is killed
after `timeout` seconds. Its stderr goes to the diagnostics log.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from vnet.service.api import ConnectionContext, Environment, Service

log = logging.getLogger(__name__)


class CommandService(Service):
    name = "command"
    options_schema = {
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "max_processes": {"type": "integer", "minimum": 1, "default": 32},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 300},
        },
        "required": ["command"],
        "additionalProperties": False,
    }

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        self.command = list(options["command"])
        self.timeout = float(options.get("timeout", 300))
        self.slots = asyncio.BoundedSemaphore(int(options.get("max_processes", 32)))
        self.running = 0

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return CommandProtocol(self, context)

    def arguments(self, context: ConnectionContext) -> list[str]:
        words = {
            "$ipsrc": context.peer[0],
            "$sport": str(context.peer[1]),
            "$ipdst": context.local[0],
            "$dport": str(context.local[1]),
        }
        return [words.get(word, word) for word in self.command]

    def environment_for(self, context: ConnectionContext) -> dict[str, str]:
        variables = dict(os.environ)
        variables.update(
            HONEYD_IP_SRC=context.peer[0],
            HONEYD_SRC_PORT=str(context.peer[1]),
            HONEYD_IP_DST=context.local[0],
            HONEYD_DST_PORT=str(context.local[1]),
            HONEYD_PERSONALITY=context.host.personality or "",
        )
        return variables


class CommandProtocol(asyncio.Protocol):
    """Copies bytes between one connection and one child process."""

    def __init__(self, service: CommandService, context: ConnectionContext):
        self.service = service
        self.context = context
        self.transport: asyncio.Transport | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.pending: list[bytes] = []
        self.peer_done = False
        self.task: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.task = asyncio.ensure_future(self._run())

    def data_received(self, data: bytes) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.write(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool:
        self.peer_done = True
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()

    async def _run(self) -> None:
        assert self.transport is not None
        service = self.service
        if service.slots.locked():
            log.warning(
                "%s: command busy, %d running", self.context.peer[0], service.running
            )
            self.transport.close()
            return
        async with service.slots:
            service.running += 1
            try:
                await self._pipe()
            finally:
                service.running -= 1

    async def _pipe(self) -> None:
        assert self.transport is not None
        context = self.context
        self.process = await asyncio.create_subprocess_exec(
            *self.service.arguments(context),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.service.environment_for(context),
        )
        stdin = self.process.stdin
        assert stdin is not None
        for data in self.pending:
            stdin.write(data)
        self.pending.clear()
        if self.peer_done:
            stdin.close()
        try:
            await asyncio.wait_for(self._copy_output(), self.service.timeout)
        except TimeoutError:
            log.info(
                "%s: command timed out after %.0f s",
                context.peer[0],
                self.service.timeout,
            )
            self.process.kill()
        await self.process.wait()
        if not self.transport.is_closing():
            self.transport.close()

    async def _copy_output(self) -> None:
        assert self.process is not None and self.transport is not None
        stdout, stderr = self.process.stdout, self.process.stderr
        assert stdout is not None and stderr is not None
        errors = asyncio.ensure_future(stderr.read())
        while chunk := await stdout.read(65536):
            if self.transport.is_closing():
                break
            self.transport.write(chunk)
        message = (await errors).decode(errors="replace").strip()
        if message:
            log.info("%s: command stderr: %s", self.context.peer[0], message[:500])
