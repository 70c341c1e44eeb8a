"""The `web-maze` service, and the maze it shares with the open proxy."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.web_maze.connection import MazeConnection
from services.web_maze.maze import SERVICE_NAME, Maze, Visitor
from services.web_maze.options import OPTIONS_SCHEMA, Settings
from services.web_maze.tarpit import Tarpit
from services.web_maze.traps import TraceError
from vnet.service.api import ConnectionContext, Environment, Service, ServiceError

# One maze per (environment, options): the web servers of a topology and
# its open proxy then share one site, one secret and one set of visitors.
_mazes: dict[tuple[int, str], tuple[weakref.ref[Environment], Maze]] = {}


def shared_maze(environment: Environment, options: Mapping[str, Any]) -> Maze:
    """The maze for these options in this environment, built on first use.

    ServiceError for options that cannot work (an unknown locale, an
    unreadable corpus or secret, links.min above links.max).
    """
    key = (id(environment), json.dumps(options, sort_keys=True, default=str))
    held = _mazes.get(key)
    if held is not None and held[0]() is environment:
        return held[1]
    try:
        maze = Maze(Settings.from_options(options), environment)
    except (OSError, ValueError, TraceError) as error:
        raise ServiceError(f"web-maze: {error}") from None
    _mazes[key] = (weakref.ref(environment), maze)
    return maze


def maze_for(environment: Environment) -> Maze:
    """The maze of the topology's first web-maze binding (its options), or a
    default maze when the topology has none."""
    return shared_maze(environment, _first_binding_options(environment.topology))


def _first_binding_options(topology: Any) -> Mapping[str, Any]:
    for host in getattr(topology, "hosts", ()):
        for port in host.template.ports.values():
            if port.protocol == "tcp" and port.service_name == SERVICE_NAME:
                return _plain(port.options)
    return {}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class ProxyPage:
    """An origin server's answer, for a proxy to relay with its own headers."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class ProxyPages:
    """The maze as the open proxy's page source: `page(request)`.

    `request` has `host`, `path`, `now`, `events` and a `visitor` with
    `address` and `user_agent` (services/open_proxy/maze.py PageRequest).
    """

    def __init__(self, maze: Maze) -> None:
        self.maze = maze

    def page(self, request: Any) -> ProxyPage:
        visitor = Visitor(request.visitor.address, request.visitor.user_agent)
        reply = self.maze.page(
            request.host, request.path, visitor, request.events, request.now
        )
        headers = list(reply.headers)
        if reply.content_type:
            headers.append(("Content-Type", reply.content_type))
        return ProxyPage(reply.status, reply.reason, headers, reply.body)


def proxy_pages(environment: Environment) -> ProxyPages:
    """What the open proxy serves a GET from when the topology has a maze."""
    return ProxyPages(maze_for(environment))


class WebMaze(Service):
    """Every path a generated page full of trap addresses; Apache's manners."""

    name = SERVICE_NAME
    options_schema = OPTIONS_SCHEMA

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        # The secret is created here, once, not on a first request: the
        # engine constructs services before it drops privileges.
        self.maze = shared_maze(environment, _plain(options))
        self.tarpit = Tarpit(self.maze.settings.slow)

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return MazeConnection(
            self.maze, self.tarpit, self.maze.settings.limits, context
        )
