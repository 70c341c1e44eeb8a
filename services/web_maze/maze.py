"""The maze itself: from a request and its visitor to the reply, sans-IO.

This is what both the web server and the open proxy use. It owns the
site's secret, the page generator, robots.txt, the visitors it has seen,
and the trap addresses it hands out; it records `web.address.issued` and
`web.robots.ignored`. It reads no socket and no clock: the caller passes
`now`, and the events emitter of its connection.

    maze = Maze(Settings.from_options({}), environment)
    reply = maze.page("www.example.test", "/about/", Visitor(ip, agent),
                      context.events, now=time.time())
    reply.status, reply.headers, reply.body, reply.addresses

Status, headers and error pages are Apache's (see `apache`), since a
proxy relays the origin server's answer as it is.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import secrets
import urllib.parse
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.web_maze import apache, traps
from services.web_maze.options import Settings
from services.web_maze.pages import Generator, PageTemplate, Route, seed_of
from services.web_maze.robots import Robots
from services.web_maze.words import Prose, ascii_fold, load_corpus, vocabulary

log = logging.getLogger(__name__)

SERVICE_NAME = "web-maze"
FALLBACK_DOMAIN = "example.test"
MAX_VISITORS = 65536
MAX_CACHED_PAGES = 512
MAX_AGENTS = 32


class Emitter(Protocol):
    def emit(self, event_id: str, **fields: Any) -> None: ...


@dataclass(frozen=True)
class Visitor:
    """Who asks: the peer's address and the User-Agent it sent."""

    ip: str
    user_agent: str = ""


@dataclass(frozen=True)
class MazeHost:
    """A host of the topology that serves the maze, and how links name it."""

    address: str
    name: str | None
    port: int
    personality: str | None = None

    def authority(self, by: str) -> str:
        host = self.name if by == "name" and self.name else self.address
        return host if self.port == 80 else f"{host}:{self.port}"


@dataclass
class Request:
    """An HTTP request as the maze needs it.

    `target` is the origin-form path and query as sent; `authority` the
    Host header (or the absolute URI's host), empty if none; `vhost` the
    virtual host the connection reached, by name when it has one.
    """

    method: str
    target: str
    authority: str
    vhost: str
    port: int = 80
    headers: Mapping[str, str] = field(default_factory=dict)
    personality: str | None = None
    address: str = ""


@dataclass
class Reply:
    """An answer: headers go between Server and Keep-Alive (Apache's order)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    content_type: str | None
    segments: list[bytes]
    addresses: tuple[str, ...] = ()

    @property
    def body(self) -> bytes:
        return b"".join(self.segments)

    @property
    def length(self) -> int:
        return sum(len(segment) for segment in self.segments)


_EMPTY: frozenset = frozenset()


class VisitorState:
    """What the maze remembers of one source address.

    robots.txt is per crawler, so its fetches and violations are kept per
    (virtual host, User-Agent) and per User-Agent; a few dozen of each are
    enough to tell the crawlers behind one address apart. Both stay
    the shared empty frozenset until used: most visitors never need a set.
    """

    __slots__ = ("robots_read", "ignoring", "pages")

    def __init__(self) -> None:
        self.robots_read: frozenset[tuple[str, str]] = _EMPTY
        self.ignoring: frozenset[str] = _EMPTY
        self.pages = 0

    @property
    def ignored(self) -> bool:
        """Whether any crawler from this address ignored robots.txt."""
        return bool(self.ignoring)


def maze_hosts(topology: Any) -> list[MazeHost]:
    """Every host of the topology with a TCP port served by the web maze.

    Limitation: a host entry that spans a range contributes only its first
    256 addresses: enough to wander, without a link list of a /16.
    """
    if topology is None:
        return []
    found = []
    for spec in topology.hosts:
        for port in spec.template.ports.values():
            if port.protocol != "tcp" or port.service_name != SERVICE_NAME:
                continue
            for number in range(spec.first, min(spec.last, spec.first + 255) + 1):
                address = str(ipaddress.IPv4Address(number))
                name = spec.name if spec.count == 1 else None
                found.append(
                    MazeHost(address, name, port.port, spec.template.personality)
                )
    return found


class Maze:
    """One site secret's maze, for every virtual host that serves it."""

    def __init__(self, settings: Settings, environment: Any) -> None:
        self.settings = settings
        self.environment = environment
        path = traps.secret_path(environment.state_dir, settings.secret_file)
        self.secret = traps.ensure_secret(path)
        anchor = path.stat().st_mtime
        self.hosts = maze_hosts(environment.topology)
        self.personalities = {
            key: host.personality
            for host in self.hosts
            for key in (host.address, host.name)
            if key
        }
        self.domains = settings.domains or _trap_domains(environment.topology)
        self.robots = Robots(settings.robots)
        words = vocabulary(settings.locale, seed_of(self.secret, "words"))
        chain = load_corpus(list(settings.corpus)) if settings.corpus else None
        self.generator = Generator(
            words,
            Prose(words, chain),
            self.secret,
            links=(settings.links_min, settings.links_max),
            addresses=settings.address_count,
            errors=(settings.not_found_percent, settings.redirect_percent),
            anchor=anchor,
        )
        self.visitors: OrderedDict[str, VisitorState] = OrderedDict()
        self._pages: OrderedDict[tuple[str, str, str], PageTemplate] = OrderedDict()
        # Address names need no secrecy, only variety between visitors.
        self._names = random.Random(secrets.randbits(64))
        self._last_millis = 0

    # The two entry points -----------------------------------------------

    def page(
        self,
        host: str,
        path: str,
        visitor: Visitor,
        events: Emitter,
        now: float,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """The maze's answer for http://host/path, without a connection.

        For the open proxy: `host` is the absolute URI's authority, and
        may be any name; a host of the maze gets its own site and Apache,
        any other host gets a site of its own all the same.
        """
        name, port = _split_authority(host)
        request = Request(
            method=method,
            target=path or "/",
            authority=host,
            vhost=name,
            port=port,
            headers=headers or {},
            personality=self.personalities.get(name),
        )
        return self.respond(request, visitor, events, now)

    def respond(
        self, request: Request, visitor: Visitor, events: Emitter, now: float
    ) -> Reply:
        """The reply to a GET, HEAD or POST that reached `request.vhost`."""
        server = apache.server_for(request.personality, self.settings.server)
        state = self.visitor(visitor.ip)
        path = request.target.split("?", 1)[0]
        problem = _path_problem(path)
        if problem:
            return self.error(server, request, problem)
        if path == "/robots.txt":
            if len(state.robots_read) < MAX_AGENTS:
                state.robots_read |= {(request.vhost, visitor.user_agent)}
            return self._robots(server, request)
        self._check_robots(request, visitor, state, events)
        route = self.generator.route(request.vhost, path)
        return self._routed(route, server, request, visitor, state, events, now)

    # Replies ------------------------------------------------------------

    def _routed(
        self,
        route: Route,
        server: apache.Apache,
        request: Request,
        visitor: Visitor,
        state: VisitorState,
        events: Emitter,
        now: float,
    ) -> Reply:
        path = request.target.split("?", 1)[0]
        if route.kind == "not_found":
            return self.error(server, request, 404)
        if route.kind == "redirect":
            return self._redirect(server, request, route.location)
        template = self.template(request, path)
        mtime = self.generator.last_modified(request.vhost, path)
        size = template.size + 32 * len(template.hints)
        etag = server.etag(size, mtime, seed_of(self.secret, "inode", path) >> 40)
        if _not_modified(request, etag, mtime):
            return Reply(304, server.reason(304), [("ETag", etag)], None, [])
        state.pages += 1
        # Limitation: opaque addresses vary in length with their names, so
        # two visits (or a HEAD and a GET) may see Content-Lengths a few
        # bytes apart, where a static file would keep one.
        issued = self._issue(template, request, visitor, events, now)
        segments = template.segments([address.encode("ascii") for address in issued])
        reply = Reply(200, "OK", [], "text/html", segments, tuple(issued))
        reply.headers = [
            ("Last-Modified", apache.http_date(mtime)),
            ("ETag", etag),
            ("Accept-Ranges", "bytes"),
            ("Content-Length", str(reply.length)),
            ("Vary", "Accept-Encoding"),
        ]
        return reply

    def error(
        self, server: apache.Apache, request: Request, status: int, **detail: str
    ) -> Reply:
        """Apache's error page for `status`, about this request."""
        host = _split_authority(request.authority)[0] or request.vhost
        path = request.target.split("?", 1)[0]
        details = {"path": path, "method": request.method, **detail}
        body = server.error_page(status, host, request.port, **details)
        headers = [("Content-Length", str(len(body)))]
        return Reply(status, server.reason(status), headers, apache.ERROR_TYPE, [body])

    def _redirect(
        self, server: apache.Apache, request: Request, location: str
    ) -> Reply:
        authority = request.authority or _authority(request.vhost, request.port)
        query = request.target.partition("?")[2]
        url = f"http://{authority}{location}" + (f"?{query}" if query else "")
        reply = self.error(server, request, 301, location=url)
        reply.headers.insert(0, ("Location", url))
        return reply

    def _robots(self, server: apache.Apache, request: Request) -> Reply:
        body = self.robots.text
        mtime = self.generator.anchor - 2 * 86400
        etag = server.etag(len(body), mtime, seed_of(self.secret, "inode") >> 40)
        if _not_modified(request, etag, mtime):
            return Reply(304, server.reason(304), [("ETag", etag)], None, [])
        headers = [
            ("Last-Modified", apache.http_date(mtime)),
            ("ETag", etag),
            ("Accept-Ranges", "bytes"),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Encoding"),
        ]
        return Reply(200, "OK", headers, "text/plain", [body])

    # Pages and addresses --------------------------------------------------

    def template(self, request: Request, path: str) -> PageTemplate:
        """The page's template, from a small cache of recent pages."""
        by = self._links_by(request.authority)
        key = (request.vhost, path, by)
        template = self._pages.get(key)
        if template is not None:
            self._pages.move_to_end(key)
            return template
        hosts, here = self._link_hosts(request, by)
        template = self.generator.page(request.vhost, path, hosts, here)
        self._pages[key] = template
        if len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        return template

    def _links_by(self, authority: str) -> str:
        by = self.settings.links_by
        if self.settings.link_hosts:
            return "fixed"
        if by != "auto":
            return by
        # A visitor that came by address has no names to resolve.
        host = _split_authority(authority)[0]
        return "address" if not host or _is_address(host) else "name"

    def _link_hosts(self, request: Request, by: str) -> tuple[list[str], str]:
        if by == "fixed":
            hosts = list(self.settings.link_hosts)
        else:
            hosts = [host.authority(by) for host in self.hosts]
        here = self._here(request, by)
        return (hosts or [here]), here

    def _here(self, request: Request, by: str) -> str:
        for host in self.hosts:
            if request.vhost in (host.name, host.address) and host.port == request.port:
                return host.authority("address" if by == "fixed" else by)
        if request.address and by == "address":
            return _authority(request.address, request.port)
        return _authority(request.vhost, request.port)

    def _issue(
        self,
        template: PageTemplate,
        request: Request,
        visitor: Visitor,
        events: Emitter,
        now: float,
    ) -> list[str]:
        stamps = [self._millis(now) for _ in template.hints]
        issued = [
            self._address(hint, visitor.ip, millis)
            for hint, millis in zip(template.hints, stamps, strict=True)
        ]
        if request.method == "HEAD":
            return issued
        url = f"http://{request.authority or request.vhost}{request.target}"
        for address, millis in zip(issued, stamps, strict=True):
            events.emit(
                "web.address.issued",
                address=address,
                format="crawler" if address.startswith("crawler-") else "opaque",
                visitor=visitor.ip,
                user_agent=visitor.user_agent,
                issued=millis / 1000,
                url=url,
                vhost=request.vhost,
                page=request.target,
            )
        return issued

    def _millis(self, now: float) -> int:
        """Milliseconds, never the same twice: each address names one view."""
        self._last_millis = max(int(now * 1000), self._last_millis + 1)
        return self._last_millis

    def _address(self, hint: str, ip: str, when: int) -> str:
        domain = self._names.choice(self.domains)
        style = self.settings.address_format
        if style == "mixed":
            style = self._names.choice(("crawler", "opaque"))
        if style == "crawler" or ":" in ip:
            return traps.crawler_address(ip, when, domain)
        prefix = name_prefix(hint, self._names)
        return traps.opaque_address(self.secret, prefix, ip, when, domain)

    # Visitors -------------------------------------------------------------

    def visitor(self, ip: str) -> VisitorState:
        """The state of a source address, kept for the most recent 65,536."""
        state = self.visitors.get(ip)
        if state is None:
            state = self.visitors[ip] = VisitorState()
            if len(self.visitors) > MAX_VISITORS:
                self.visitors.popitem(last=False)
        else:
            self.visitors.move_to_end(ip)
        return state

    def _check_robots(
        self, request: Request, visitor: Visitor, state: VisitorState, events: Emitter
    ) -> None:
        agent = visitor.user_agent
        if agent in state.ignoring or self.robots.allowed(agent, request.target):
            return
        if len(state.ignoring) >= MAX_AGENTS:
            return
        state.ignoring |= {agent}
        log.info("%s ignores robots.txt: %s", visitor.ip, request.target)
        events.emit(
            "web.robots.ignored",
            visitor=visitor.ip,
            user_agent=visitor.user_agent,
            vhost=request.vhost,
            path=request.target,
            robots_fetched=(request.vhost, agent) in state.robots_read,
        )


def _trap_domains(topology: Any) -> tuple[str, ...]:
    domains = tuple(getattr(topology, "trap_domains", ()) or ())
    return domains or (FALLBACK_DOMAIN,)


def _path_problem(path: str) -> int:
    """Apache's verdict on a path before any file is looked up: 400 for a
    bad escape, a path not starting with `/` or climbing above the root;
    404 for an escaped slash or NUL (AllowEncodedSlashes Off); else 0."""
    if not path.startswith("/"):
        return 400
    for piece in path.split("%")[1:]:
        if len(piece) < 2 or not all(c in _HEX for c in piece[:2]):
            return 400
    decoded = urllib.parse.unquote(path)
    if "%2f" in path.lower() or "\x00" in decoded:
        return 404
    depth = 0
    for segment in decoded.split("/")[1:]:
        depth += -1 if segment == ".." else 0 if segment in ("", ".") else 1
        if depth < 0:
            return 400
    return 0


_HEX = frozenset("0123456789abcdefABCDEF")


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match first, then If-Modified-Since,
    for GET and HEAD only."""
    if request.method not in ("GET", "HEAD"):
        return False
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in match.split(",")]
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    moment = apache.parse_http_date(since)
    return moment is not None and mtime <= moment


def _split_authority(authority: str) -> tuple[str, int]:
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and "]" not in port:
        return host.strip("[]").lower(), int(port)
    return authority.strip("[]").lower(), 80


def _authority(host: str, port: int) -> str:
    return host if port == 80 else f"{host}:{port}"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


_PREFIX_SHAPES = (
    "{first}.{last}.", "{f}{last}.", "{first}_{last}_", "{last}.{first}.",
    "{first}{l}.", "{f}.{last}-", "{first}-{last}.", "{last}{f}_",
)  # fmt: skip


def name_prefix(hint: str, rng: random.Random) -> str:
    """A prefix like a person's or a desk's address: `anna.schmidt.`."""
    names = [ascii_fold(part) for part in hint.split()]
    names = [name for name in names if name]
    if len(names) < 2:
        role = names[0] if names else "info"
        return role + rng.choice((".", "-", "_"))
    first, last = names[0], names[-1]
    shape = rng.choice(_PREFIX_SHAPES)
    prefix = shape.format(first=first, last=last, f=first[0], l=last[0])
    return prefix[: traps.PREFIX_LIMIT]
