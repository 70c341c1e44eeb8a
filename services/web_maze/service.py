"""The `web-maze` service: the maze behind an Apache-like HTTP server."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

from services.web_maze.connection import MazeConnection
from services.web_maze.maze import Maze
from services.web_maze.options import OPTIONS_SCHEMA, Settings
from services.web_maze.tarpit import Tarpit
from services.web_maze.traps import TraceError
from vnet.service.api import ConnectionContext, Environment, Service, ServiceError

# The maze of each environment, so the open proxy serves the same site and
# addresses as the web servers of its topology (see `maze_for`).
_mazes: dict[int, tuple[weakref.ref[Environment], Maze]] = {}


def build_maze(options: Mapping[str, Any], environment: Environment) -> Maze:
    """A Maze for these options; ServiceError for options that cannot work."""
    try:
        return Maze(Settings.from_options(options), environment)
    except (OSError, ValueError, TraceError) as error:
        raise ServiceError(f"web-maze: {error}") from None


def maze_for(
    environment: Environment, options: Mapping[str, Any] | None = None
) -> Maze:
    """The environment's maze: the first web-maze service's, or a new one
    built from `options` (defaults when None) if no web maze runs."""
    held = _mazes.get(id(environment))
    if held is not None and held[0]() is environment:
        return held[1]
    maze = build_maze(options or {}, environment)
    _remember(environment, maze)
    return maze


def _remember(environment: Environment, maze: Maze) -> None:
    held = _mazes.get(id(environment))
    if held is None or held[0]() is not environment:
        _mazes[id(environment)] = (weakref.ref(environment), maze)


class WebMaze(Service):
    """Every path a generated page full of trap addresses; Apache's manners."""

    name = "web-maze"
    options_schema = OPTIONS_SCHEMA

    def __init__(self, options: Mapping[str, Any], environment: Environment):
        super().__init__(options, environment)
        # The secret is created here, once, not on a first request: the
        # engine constructs services before it drops privileges.
        self.maze = build_maze(options, environment)
        self.tarpit = Tarpit(self.maze.settings.slow)
        _remember(environment, self.maze)

    def protocol(self, context: ConnectionContext) -> asyncio.Protocol:
        return MazeConnection(
            self.maze, self.tarpit, self.maze.settings.limits, context
        )
