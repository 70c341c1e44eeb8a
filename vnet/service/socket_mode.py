"""Socket mode: one service on a real kernel socket (`vnet serve`).

It is for developing a service without a TAP device or root, and it is the
reference that benchmarks compare the virtual stack against. The service
gets the same context as under `vnet run`, with the listening address as its
host; `open_connection` reaches real sockets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from vnet.service.api import ConnectionContext, Environment, HostInfo, Service

log = logging.getLogger(__name__)


class SocketConnection(asyncio.Protocol):
    """Builds the service's protocol once the socket's addresses are known,
    then passes every call on to it."""

    def __init__(self, service: Service, options: Mapping[str, Any]) -> None:
        self.service = service
        self.options = options
        self.inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")[:2]
        local = transport.get_extra_info("sockname")[:2]
        context = ConnectionContext(
            service=self.service.name,
            host=HostInfo(address=local[0]),
            peer=peer,
            local=local,
            options=self.options,
            environment=self.service.environment,
        )
        self.inner = self.service.protocol(context)  # type: ignore[assignment]
        assert self.inner is not None
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        assert self.inner is not None
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        assert self.inner is not None
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


async def real_open_connection(host: str, port: int):
    return await asyncio.open_connection(host, port)


async def serve_on_socket(
    service_class: type[Service],
    options: Mapping[str, Any],
    host: str,
    port: int,
    environment: Environment,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (forever without one)."""
    if environment.open_connection is None:
        environment.open_connection = real_open_connection
    service = service_class(options, environment)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SocketConnection(service, options), host, port, reuse_address=True
    )
    bound = server.sockets[0].getsockname()
    log.info("%s listening on %s:%d", service.name, bound[0], bound[1])
    print(f"vnet ready: {service.name} on {bound[0]}:{bound[1]}", flush=True)
    if ready is not None:
        ready.set()
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        server.close()
        await server.wait_closed()
        service.close()
