"""The `open-proxy` service: its options, and what its connections share.

One OpenProxy serves one binding of the topology (tcp/3128, tcp/1080...)
for every host that has it. Its connections share the rules (which ports
go to the relay, what other CONNECTs get), the relay and page sources, and
the blacklist, which is shared by every binding that names the same file.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.open_proxy.blacklist import Blacklist
from services.open_proxy.connection import ProxyProtocol
from services.open_proxy.maze import MazeSource, maze_source
from services.open_proxy.relay import RelayTarget, TopologyRelay
from services.open_proxy.squid import DEFAULT_VERSION
from vnet.service.api import ConnectionContext, Environment, Service

log = logging.getLogger(__name__)

PROTOCOLS = ("http", "socks4", "socks5")
# Where a `protocols` option is not given, these ports speak SOCKS and the
# rest HTTP, as the software that usually listens on them would.
SOCKS_PORTS = frozenset({1080, 1081, 1085, 1090, 9050})
CONNECT_OTHER = ("408", "timeout", "refuse")
BLACKLIST_ACTIONS = ("record", "refuse", "tarpit")


def _seconds(description: str) -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": 0,
        "maximum": 86400 * 365,
        "description": description,
    }


OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kind": {"enum": ["squid"], "description": "The proxy emulated."},
        "version": {
            "type": "string",
            "pattern": r"^[0-9][0-9A-Za-z._-]{0,31}$",
            "description": f"Squid's version (default {DEFAULT_VERSION}).",
        },
        "visible_hostname": {
            "type": "string",
            "minLength": 1,
            "maxLength": 253,
            "description": "The name in Via and X-Cache; default the host's.",
        },
        "protocols": {
            "type": "array",
            "items": {"enum": list(PROTOCOLS)},
            "minItems": 1,
            "uniqueItems": True,
            "description": "What the port speaks; default SOCKS on 1080, "
            "1081, 1085, 1090 and 9050, HTTP elsewhere.",
        },
        "relay": {
            "type": "string",
            "minLength": 1,
            "description": "host:port of the relay behind tunnels; default "
            "the topology's smtp-relay hosts.",
        },
        "relay_ports": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 65535},
            "uniqueItems": True,
            "description": "Tunnels to these ports go to the relay (25, 587).",
        },
        "maze": {
            "type": "string",
            "minLength": 1,
            "description": "The web-maze host whose site proxied GETs get, or "
            "`generated` for plain pages; default the topology's first.",
        },
        "connect_other": {
            "enum": list(CONNECT_OTHER),
            "description": "Tunnels to other ports: 408 (default), refuse, "
            "or timeout (say nothing, close after `hold`).",
        },
        "answer_delay": _seconds("Wait this long before a 408 or a refusal."),
        "hold": _seconds("How long `timeout` holds a connection (120)."),
        "request_timeout": _seconds(
            "Close a client whose request is not whole within this time (30)."
        ),
        "max_request": {
            "type": "integer",
            "minimum": 1024,
            "maximum": 1 << 24,
            "description": "Largest request line and headers (65536).",
        },
        "max_body": {
            "type": "integer",
            "minimum": 0,
            "maximum": 1 << 30,
            "description": "Largest request body read (1 MiB).",
        },
        "socks_auth": {
            "enum": ["prefer-password", "prefer-none"],
            "description": "The SOCKS 5 method chosen when both are offered.",
        },
        "trap_addresses": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "description": "Trap addresses on a generated page (3).",
        },
        "blacklist": {
            "type": "object",
            "description": "List every source that uses the proxy.",
            "properties": {
                "action": {
                    "enum": list(BLACKLIST_ACTIONS),
                    "description": "What a listed source gets: record (only "
                    "list it, the default), refuse, or tarpit.",
                },
                "expiry": _seconds("How long a listing lasts (86400)."),
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The list's file; default "
                    "<state dir>/open-proxy/blacklist.jsonl.",
                },
                "tarpit": _seconds("How long a tarpitted source is held (600)."),
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Settings:
    """The options, with their defaults filled in."""

    version: str = DEFAULT_VERSION
    visible_hostname: str | None = None
    protocols: tuple[str, ...] | None = None
    relay_ports: frozenset[int] = frozenset({25, 587})
    connect_other: str = "408"
    answer_delay: float = 0.0
    hold: float = 120.0
    request_timeout: float = 30.0
    max_request: int = 64 * 1024
    max_body: int = 1 << 20
    prefer_password: bool = True
    trap_addresses: int = 3
    blacklist_action: str | None = None
    blacklist_expiry: float = 86400.0
    blacklist_path: str | None = None
    tarpit: float = 600.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        blacklist = options.get("blacklist")
        values: dict[str, Any] = {
            key: options[key]
            for key in (
                "version",
                "visible_hostname",
                "connect_other",
                "answer_delay",
                "hold",
                "request_timeout",
                "max_request",
                "max_body",
                "trap_addresses",
            )
            if key in options
        }
        if "protocols" in options:
            values["protocols"] = tuple(options["protocols"])
        if "relay_ports" in options:
            values["relay_ports"] = frozenset(options["relay_ports"])
        if "socks_auth" in options:
            values["prefer_password"] = options["socks_auth"] == "prefer-password"
        if blacklist is not None:
            values["blacklist_action"] = blacklist.get("action", "record")
            values["blacklist_expiry"] = blacklist.get("expiry", 86400.0)
            values["blacklist_path"] = blacklist.get("path")
            values["tarpit"] = blacklist.get("tarpit", 600.0)
        return cls(**values)

    def protocols_for(self, port: int) -> tuple[str, ...]:
        if self.protocols is not None:
            return self.protocols
        return ("socks4", "socks5") if port in SOCKS_PORTS else ("http",)


# One list per file, shared by the bindings that name it (a proxy host has
# three ports, each its own service instance).
_blacklists: weakref.WeakValueDictionary[str, Blacklist] = weakref.WeakValueDictionary()


def shared_blacklist(path: Path, expiry: float, now: float) -> Blacklist:
    key = str(path.resolve())
    found = _blacklists.get(key)
    if found is None:
        found = Blacklist(path, expiry, now)
        _blacklists[key] = found
    return found


class OpenProxy(Service):
    """A fake open HTTP and SOCKS proxy (see the package's docstring)."""

    name = "open-proxy"
    options_schema = OPTIONS_SCHEMA

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        self.settings = Settings.from_options(options)
        topology = environment.topology
        self.relay: RelayTarget = TopologyRelay.from_options(
            options.get("relay"), topology
        )
        self.pages: MazeSource = maze_source(
            options.get("maze"), environment, self.settings.trap_addresses
        )
        self.blacklist = self._blacklist(environment)

    def _blacklist(self, environment: Environment) -> Blacklist | None:
        settings = self.settings
        if settings.blacklist_action is None:
            return None
        path = Path(
            settings.blacklist_path
            or Path(environment.state_dir) / "open-proxy" / "blacklist.jsonl"
        )
        return shared_blacklist(path, settings.blacklist_expiry, environment.clock())

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return ProxyProtocol(self, context)

    def close(self) -> None:
        if self.blacklist is not None:
            self.blacklist.close()
