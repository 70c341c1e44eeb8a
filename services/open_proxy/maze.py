"""The pages a proxied GET gets: the web maze's, or generated ones.

A harvester that goes through the proxy must meet the same trap as one that
comes straight in: pages whose addresses say who fetched them. `MazeSource`
is what the proxy asks for a page, for a host, a path and a visitor (the
address that connected to the proxy, not the proxy itself).

The web maze offers one (`services.web_maze.proxy_pages`): the same site,
secret and visitor records as the topology's web servers, so an address
harvested through the proxy traces back like any other. `maze_source`
takes it whenever the web maze is installed and can start: with the
options of the `maze` option's host, or of the topology's first web-maze
binding, or its defaults. Without it (or with `maze: generated`),
`GeneratedPages` writes plain pages here.

`GeneratedPages` makes a page that is the same for every visit to a host and
path (its text and links are seeded by them), except its trap addresses.
Those are in the HoneySpam paper's form, `crawler-<IP>_<timestamp>@domain`,
at the topology's trap domains, and each is recorded as `web.address.issued`
so that the report links a spam to the harvest that produced it. Links stay
on the requested host, so a harvester keeps asking the proxy for more.

Limitation: the generated pages are one plain layout with Faker text; the
maze's pages vary their structure and voice, and spread links across every
maze host. A topology with a web maze uses the maze's pages.
"""

from __future__ import annotations

import hashlib
import html
import logging
import random
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Protocol

from faker import Faker

from vnet.config.model import format_address, thaw
from vnet.service.api import BoundEvents, Environment, ServiceError

log = logging.getLogger(__name__)

DEFAULT_TRAP_DOMAINS = ("example.test",)
# A fixed date the generated site was last changed, so pages look static.
SITE_MODIFIED = 1_262_304_000.0


@dataclass(frozen=True)
class Visitor:
    """Who asked for the page, through which proxy connection."""

    address: str
    port: int
    user_agent: str
    connection: str


@dataclass(frozen=True)
class PageRequest:
    """One proxied GET: `host` is the URI's authority (`name[:port]`), and
    `events` records against the proxy's connection."""

    host: str
    url: str
    path: str
    visitor: Visitor
    now: float
    events: BoundEvents


@dataclass(frozen=True)
class Page:
    """An origin server's response: the proxy adds its own headers."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class MazeSource(Protocol):
    """Renders the page a proxied GET asks for."""

    def page(self, request: PageRequest) -> Page: ...


class GeneratedPages:
    """Pages written here when no web maze is reachable."""

    def __init__(
        self,
        trap_domains: tuple[str, ...] = DEFAULT_TRAP_DOMAINS,
        addresses: int = 3,
        server: str = "Apache/2.2.22 (Debian)",
    ) -> None:
        self.trap_domains = trap_domains or DEFAULT_TRAP_DOMAINS
        self.addresses = addresses
        self.server = server
        self._faker = Faker("en_US")

    def page(self, request: PageRequest) -> Page:
        key = f"{request.host}\0{request.path}".encode()
        seed = int.from_bytes(hashlib.sha256(key).digest()[:8])
        rng = random.Random(seed)
        self._faker.seed_instance(seed)
        # The paper's form has only the visitor and the second in it, so a
        # page carries one address per trap domain, up to `addresses`.
        count = min(self.addresses, len(self.trap_domains))
        domains = rng.sample(self.trap_domains, count)
        traps = [self._trap(domain, request) for domain in domains]
        body = self._body(request.host, rng, traps).encode()
        headers = [
            ("Date", formatdate(request.now, usegmt=True)),
            ("Server", self.server),
            ("Last-Modified", formatdate(SITE_MODIFIED, usegmt=True)),
            ("ETag", f'"{seed & 0xFFFFF:x}-{len(body):x}"'),
            ("Accept-Ranges", "bytes"),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Encoding"),
            ("Content-Type", "text/html"),
        ]
        return Page(200, "OK", headers, body)

    def _trap(self, domain: str, request: PageRequest) -> str:
        visitor = request.visitor.address
        address = f"crawler-{visitor.replace(':', '-')}_{int(request.now)}@{domain}"
        request.events.emit(
            "web.address.issued",
            address=address,
            visitor=visitor,
            user_agent=request.visitor.user_agent,
            url=request.url,
            vhost=request.host,
            page=request.path,
            issued=request.now,
            format="crawler",
        )
        return address

    def _body(self, host: str, rng: random.Random, traps: list[str]) -> str:
        faker = self._faker
        company = html.escape(faker.company())
        title = html.escape(faker.catch_phrase().title())
        paragraphs = "".join(
            f"<p>{html.escape(faker.paragraph(nb_sentences=rng.randint(3, 7)))}</p>\n"
            for _ in range(rng.randint(2, 5))
        )
        links = "".join(
            f'<li><a href="http://{host}/{faker.uri_path()}.html">'
            f"{html.escape(faker.bs().title())}</a></li>\n"
            for _ in range(rng.randint(3, 8))
        )
        contacts = "".join(
            f'<li>{html.escape(faker.name())}: <a href="mailto:{address}">'
            f"{address}</a></li>\n"
            for address in traps
        )
        return (
            "<!DOCTYPE html>\n<html><head>\n"
            f"<title>{title} - {company}</title>\n"
            '<meta name="robots" content="noindex, nofollow">\n'
            f"</head><body>\n<h1>{title}</h1>\n{paragraphs}"
            f"<h2>Contact</h2>\n<ul>\n{contacts}</ul>\n"
            f"<h2>See also</h2>\n<ul>\n{links}</ul>\n"
            f"<address>{company}</address>\n</body></html>\n"
        )


def maze_source(
    option: str | None, environment: Environment, trap_addresses: int
) -> MazeSource:
    """The web maze's pages when it can serve, else generated ones."""
    if option != "generated":
        found = _web_maze(option, environment)
        if found is not None:
            return found
    topology = environment.topology
    domains = tuple(getattr(topology, "trap_domains", ()) or ())
    return GeneratedPages(domains, trap_addresses)


def _web_maze(host: str | None, environment: Environment) -> MazeSource | None:
    try:
        from services.web_maze.service import ProxyPages, maze_for, shared_maze
    except ImportError:
        return None
    # A `maze` option naming no maze host is the operator's mistake: it
    # stops vnet at start. A maze that cannot start falls back to pages.
    options = None if host is None else maze_options(environment.topology, host)
    try:
        if options is None:
            maze = maze_for(environment)
        else:
            maze = shared_maze(environment, options)
    except ServiceError as error:
        log.warning("open-proxy: web maze unavailable, generating pages: %s", error)
        return None
    return WebMazePages(ProxyPages(maze), environment.topology)


class WebMazePages:
    """The web maze's proxy pages, with the origin's Date and Server.

    The maze's proxy entry point gives the page's own headers only; an
    Apache origin also sends Date and Server, and a proxy passes them on.
    They are added here when missing: the Server banner the web maze gives
    a host of that personality, so a page seen through the proxy and the
    same page fetched directly name the same Apache.
    """

    def __init__(self, pages: Any, topology: object) -> None:
        self.pages = pages
        self.personalities = {
            spec.name: spec.template.personality
            for spec in getattr(topology, "hosts", ())
            if spec.name
        }

    def page(self, request: PageRequest) -> Page:
        from services.web_maze.apache import http_date, server_for

        page = self.pages.page(request)
        headers = list(page.headers)
        names = {name.lower() for name, _ in headers}
        top = []
        if "date" not in names:
            top.append(("Date", http_date(request.now)))
        if "server" not in names:
            name = request.host.rpartition(":")[0] or request.host
            personality = self.personalities.get(name)
            override = self.pages.maze.settings.server
            top.append(("Server", server_for(personality, override).banner))
        return Page(page.status, page.reason, top + headers, page.body)


def maze_options(topology: object, host: str) -> dict:
    """The options of `host`'s web-maze binding; ServiceError if it has none."""
    for spec in getattr(topology, "hosts", ()):
        if host not in (spec.name, format_address(spec.first)):
            continue
        for port in spec.template.ports.values():
            if port.protocol == "tcp" and port.service_name == "web-maze":
                return thaw(port.options)
    raise ServiceError(f"maze: {host} is no web-maze host of the topology")
