"""The `dns` Service: UDP datagrams, and TCP streams of length-prefixed messages.

The zones are built once per topology binding. A topology binds the
service twice, on udp/53 and tcp/53; both bindings with the same options
share one responder, so a name's pool and the records are the same
whichever way a client asks.

Over TCP (RFC 7766 section 8), each message is preceded by its length in
two octets, and a client may send several on one connection. The stream
answers each as it completes, closes a connection idle for `tcp_timeout`
seconds (BIND's is 30), and closes at once on a message too short to hold
a header, after recording it, as BIND does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import weakref
from collections.abc import Mapping
from typing import Any

from services.dns.generate import ZoneError, build_catalog, topology_trap_domains
from services.dns.message import HEADER_SIZE
from services.dns.options import OPTIONS_SCHEMA, Settings
from services.dns.responder import Outcome, Responder
from vnet.service.api import (
    ConnectionContext,
    DatagramContext,
    Environment,
    HostInfo,
    Service,
    ServiceError,
)

log = logging.getLogger(__name__)

SERVICE_NAME = "dns"

_responders: dict[tuple[int, str], tuple[weakref.ref[Environment], Responder]] = {}


def shared_responder(environment: Environment, options: Mapping[str, Any]) -> Responder:
    """The responder for these options in this environment, built on first use.

    ServiceError for options the topology cannot satisfy.
    """
    key = (id(environment), json.dumps(options, sort_keys=True, default=str))
    held = _responders.get(key)
    if held is not None and held[0]() is environment:
        return held[1]
    settings = Settings.from_options(options)
    topology = environment.topology
    try:
        catalog = build_catalog(topology, settings, environment.clock())
    except ZoneError as error:
        raise ServiceError(f"dns: {error}") from None
    rng = random.Random(settings.seed)
    responder = Responder(catalog, settings, topology_trap_domains(topology), rng)
    _responders[key] = (weakref.ref(environment), responder)
    return responder


def server_name(host: HostInfo) -> str:
    return host.name or host.address


class Dns(Service):
    name = SERVICE_NAME
    options_schema = OPTIONS_SCHEMA
    handles_udp = True

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        self.responder = shared_responder(environment, options)
        self.settings = self.responder.settings

    # Limitation: no response rate limiting (BIND's RRL, off by default in
    # 9.9 too): queries with a forged source address make the server send
    # answers, several times their size, to a third party.
    def datagram_received(self, context: DatagramContext, data: bytes) -> None:
        outcome = self.responder.respond(data, "udp", server_name(context.host))
        context.environment.events.emit(
            outcome.event,
            peer=context.peer[0],
            peer_port=context.peer[1],
            host=context.host.address,
            port=context.local[1],
            service=self.name,
            **outcome.fields,
        )
        _log(outcome, context.peer)
        if outcome.reply is not None:
            context.reply(outcome.reply)

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return DnsStream(context, self.responder, self.settings.tcp_timeout)


def _log(outcome: Outcome, peer: tuple[str, int]) -> None:
    # The record keeps every malformed message; the log only notes them at
    # debug, so a flood of garbage does not flood the diagnostics too.
    if outcome.fields.get("reason"):
        log.debug(
            "%s:%d: malformed DNS message (%s), %s",
            peer[0],
            peer[1],
            outcome.fields["reason"],
            outcome.fields["rcode"] or "dropped",
        )


class DnsStream(asyncio.Protocol):
    """One TCP connection to the name server."""

    def __init__(
        self, context: ConnectionContext, responder: Responder, timeout: float
    ) -> None:
        self.context = context
        self.responder = responder
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._arm()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._arm()
        while self.transport is not None and len(self.buffer) >= 2:
            length = int.from_bytes(self.buffer[:2], "big")
            if len(self.buffer) < 2 + length:
                return
            message = bytes(self.buffer[2 : 2 + length])
            del self.buffer[: 2 + length]
            self._answer(message)

    def _answer(self, message: bytes) -> None:
        assert self.transport is not None
        outcome = self.responder.respond(message, "tcp", server_name(self.context.host))
        self.context.events.emit(outcome.event, **outcome.fields)
        _log(outcome, self.context.peer)
        if outcome.reply is not None:
            self.transport.write(len(outcome.reply).to_bytes(2, "big") + outcome.reply)
        if len(message) < HEADER_SIZE:
            self._close()

    def eof_received(self) -> bool:
        self._close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.transport = None

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(self.timeout, self._close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.idle is not None:
            self.idle.cancel()
