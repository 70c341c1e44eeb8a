"""Where a tunnel to port 25 really goes: the topology's emulated open relay.

A spammer who asks the proxy for `CONNECT mx.example.test:25`, or the SOCKS
equivalent, must reach an SMTP server that greets him as mx.example.test,
although vnet opens no real connection. The proxy joins him, in memory, to
the relay of its own topology (`context.open_connection`) and hands the
relay three facts with the connection (`services.mail.handoff`): the name
to greet with, the proxy's connection id, under which the relay records
its session, and the client's real address.

The relay is the `relay` option (`host:port`), or else a host of the
topology whose port 25 runs `smtp-relay`. With several, each requested
host always goes to the same one, as a name always resolves to the same
mail exchanger.

`RelayTarget` is the interface the proxy codes against, so that tests and
other topologies can put something else behind the tunnel.

Limitation: in socket mode (`vnet serve`), `open_connection` is a real
socket to another process, which the hand-off cannot reach; that relay
greets with its own name and records its own connection id.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from services.open_proxy.targets import NextHop, parse_authority
from vnet.config.model import format_address
from vnet.service.api import ConnectionContext

RELAY_SERVICE = "smtp-relay"

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RelayTarget(Protocol):
    """Opens the SMTP session behind a tunnel to `hop`."""

    async def open(self, hop: NextHop, context: ConnectionContext) -> Streams: ...


class NoRelay(ConnectionRefusedError):
    """The topology has no relay, and no `relay` option names one."""


class TopologyRelay:
    """The relay of the topology (or the `relay` option), with a hand-off."""

    def __init__(self, relays: Sequence[tuple[str, int]]) -> None:
        self.relays = tuple(relays)

    @classmethod
    def from_options(cls, option: str | None, topology: Any) -> TopologyRelay:
        if option:
            hop = parse_authority(option, 25)
            return cls([(hop.host, hop.port)])
        return cls([(host, 25) for host in relay_hosts(topology)])

    def choose(self, hop: NextHop) -> tuple[str, int]:
        if not self.relays:
            raise NoRelay("no smtp-relay in the topology and no relay option")
        index = zlib.crc32(hop.host.encode()) % len(self.relays)
        return self.relays[index]

    async def open(self, hop: NextHop, context: ConnectionContext) -> Streams:
        host, port = self.choose(hop)
        with _handing_off(hop, context):
            return await context.open_connection(host, port)


def relay_hosts(topology: Any) -> list[str]:
    """The names (or first addresses) of hosts whose tcp/25 is smtp-relay."""
    if topology is None:
        return []
    found = []
    for spec in topology.hosts:
        port = spec.template.ports.get(("tcp", 25))
        if port is not None and port.service_name == RELAY_SERVICE:
            found.append(spec.name or format_address(spec.first))
    return found


def greeting_name(hop: NextHop, topology: Any) -> str:
    """The name an SMTP server at `hop` would greet with.

    A name is used as asked. An address that is a named host of the
    topology takes that name; any other address is written as an address
    literal (RFC 5321 section 4.1.3), which is what a mail server that
    cannot resolve its own name puts in its greeting.
    """
    if hop.kind == "name":
        return hop.host
    if hop.kind == "ipv4" and topology is not None:
        for spec in topology.hosts:
            if spec.name and format_address(spec.first) == hop.host:
                return spec.name
    prefix = "IPv6:" if hop.kind == "ipv6" else ""
    return f"[{prefix}{hop.host}]"


@contextlib.contextmanager
def _handing_off(hop: NextHop, context: ConnectionContext) -> Iterator[None]:
    try:
        from services.mail.handoff import Handoff, handing_off
    except ImportError:
        # A vnet without the mail services: the relay greets as itself.
        yield
        return
    handoff = Handoff(
        greeting_name=greeting_name(hop, context.environment.topology),
        proxy_connection=context.connection_id,
        client=context.peer,
        via=context.local,
    )
    with handing_off(handoff):
        yield
