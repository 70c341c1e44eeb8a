"""`web-maze`: the HoneySpam web maze (issue 10).

An endless, plausible company web site on every virtual host that binds
it. Its pages carry trap addresses that name the visitor who harvested
them; its robots.txt keeps polite crawlers out, and records the rest; it
looks and answers like the Apache httpd the host's personality suggests.

Modules, in the order a request meets them:

- `connection`: one HTTP connection (h11 for parsing), Apache's limits,
  timeouts and keep-alive, the slow drip;
- `maze`: the sans-IO core, from request and visitor to reply; also what
  the open proxy calls: `maze_for(environment).page(host, path, visitor,
  events, now)`, or `proxy_pages(environment).page(request)` with the
  proxy's own PageRequest;
- `robots`, `pages` and `words` (with `markov`): robots.txt, the page
  generator and its vocabulary;
- `traps`: the trap-address codec, `decode(address, secret)`, and the
  `trace` behind `vnet trace address`;
- `apache`: banners, error pages, dates; `tarpit`: delays and drip;
  `options`: the options' schema and defaults.
"""

from services.web_maze.maze import Maze, Reply, Visitor
from services.web_maze.service import WebMaze, maze_for, proxy_pages
from services.web_maze.traps import Visit, decode

SERVICE = WebMaze

__all__ = [
    "SERVICE",
    "Maze",
    "Reply",
    "Visit",
    "Visitor",
    "WebMaze",
    "decode",
    "maze_for",
    "proxy_pages",
]
