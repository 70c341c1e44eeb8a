"""The maze without a socket: pages, links, routes, robots, addresses, Apache."""

from __future__ import annotations

import itertools
import random
import re
import urllib.robotparser
from collections import Counter
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.web_maze import apache, decode
from services.web_maze.maze import Maze, Request, Visitor, maze_hosts, name_prefix
from services.web_maze.options import Settings
from services.web_maze.robots import Robots
from services.web_maze.service import ProxyPages, WebMaze, maze_for
from services.web_maze.traps import is_valid_address, opaque_address
from vnet.config import loads
from vnet.service.api import Environment, ServiceError

NOW = 1_796_297_912.5
SECRET = bytes(range(32))
AGENT = "Mozilla/5.0 (compatible; Harvester/2.1)"
VISITOR = Visitor("203.0.113.50", AGENT)

TOPOLOGY = """\
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test, mail.example.test]
templates:
  web:
    personality: "Linux 2.6.32 - 3.10#1"
    ports: {tcp/80: {service: web-maze}}
  bsd:
    personality: "FreeBSD 6.2-RELEASE#1"
    ports: {tcp/8080: {service: web-maze}}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: web}
  - {address: 198.51.100.11, name: shop.example.test, template: web}
  - {address: 198.51.100.12, template: bsd}
"""


class Events:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict]] = []

    def emit(self, event_id: str, **fields) -> None:
        self.records.append((event_id, fields))

    def of(self, event_id: str) -> list[dict]:
        return [fields for found, fields in self.records if found == event_id]


@pytest.fixture
def environment(tmp_path):
    """A topology and a state dir whose secret is fixed, so that each run
    of a test sees the same sites."""
    state = tmp_path / "var"
    state.mkdir()
    (state / "web-maze.secret").write_text("5e" * 32 + "\n")
    return Environment(topology=loads(TOPOLOGY), state_dir=str(state))


def make_maze(environment, **options) -> Maze:
    return Maze(Settings.from_options(options), environment)


def request(path: str, host: str = "www.example.test", **fields) -> Request:
    fields.setdefault("personality", "Linux 2.6.32 - 3.10")
    return Request(method=fields.pop("method", "GET"), target=path,
                   authority=host, vhost=host, **fields)  # fmt: skip


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"])
        if tag == "meta" and "name" in values:
            self.meta[values["name"]] = values.get("content", "")


def parse(body: bytes) -> Links:
    parser = Links()
    parser.feed(body.decode("utf-8"))
    return parser


def maze_links(hrefs: list[str]) -> list[str]:
    return [href for href in hrefs if not href.startswith("mailto:")]


PATHS = [f"/news/item-{n}.html" for n in range(40)] + [
    f"/team/group-{n}/" for n in range(20)
]


# Hosts and links ------------------------------------------------------------


def test_maze_hosts_are_the_topologys_web_maze_ports(environment):
    hosts = maze_hosts(environment.topology)

    assert [host.authority("name") for host in hosts] == [
        "www.example.test", "shop.example.test", "198.51.100.12:8080",
    ]  # fmt: skip
    assert [host.authority("address") for host in hosts][0] == "198.51.100.10"


def test_links_stay_within_min_and_max(environment):
    maze = make_maze(environment, links={"min": 3, "max": 7})
    counts = []
    for path in PATHS:
        reply = maze.respond(request(path), VISITOR, Events(), NOW)
        if reply.status == 200:
            counts.append(len(maze_links(parse(reply.body).hrefs)))

    assert min(counts) >= 3 and max(counts) <= 7
    assert len(set(counts)) > 1


def test_links_wander_across_every_maze_host_by_name(environment):
    maze = make_maze(environment, links={"min": 10, "max": 20})
    targets = Counter()
    for path in PATHS:
        reply = maze.respond(request(path), VISITOR, Events(), NOW)
        if reply.status != 200:
            continue
        for href in maze_links(parse(reply.body).hrefs):
            found = re.match(r"http://([^/]+)/", href)
            targets[found.group(1) if found else "same host"] += 1

    assert set(targets) == {"same host", "shop.example.test", "198.51.100.12:8080"}


def test_a_visitor_that_came_by_address_gets_address_links(environment):
    maze = make_maze(environment, links={"min": 20, "max": 20})
    by_address = request("/news/x.html", host="198.51.100.10",
                         address="198.51.100.10")  # fmt: skip
    by_address.vhost = "www.example.test"

    hrefs = maze_links(
        parse(maze.respond(by_address, VISITOR, Events(), NOW).body).hrefs
    )

    absolute = [href for href in hrefs if href.startswith("http://")]
    assert absolute and all(
        re.match(r"http://198\.51\.100\.1[12](:8080)?/", href) for href in absolute
    )


def test_links_can_name_hosts_of_the_operators_choice(environment):
    links = {"min": 20, "max": 20, "hosts": ["www.example.test:8000"]}
    maze = make_maze(environment, links=links)

    body = maze.respond(request("/a.html"), VISITOR, Events(), NOW).body

    hrefs = maze_links(parse(body).hrefs)
    assert all(
        href.startswith(("/", "http://www.example.test:8000/")) for href in hrefs
    )


# Determinism and variety ------------------------------------------------------


def test_a_page_is_the_same_for_every_visitor_but_its_addresses(environment):
    maze = make_maze(environment)
    first = maze.respond(request("/about/history.html"), VISITOR, Events(), NOW)
    other = Visitor("198.51.100.99", "curl/8")
    second = maze.respond(request("/about/history.html"), other, Events(), NOW + 60)

    def without_addresses(body: bytes) -> bytes:
        return re.sub(rb"[A-Za-z0-9._-]+@[a-z.]+", b"@", body)

    assert without_addresses(first.body) == without_addresses(second.body)
    assert first.addresses != second.addresses
    assert dict(first.headers)["ETag"] == dict(second.headers)["ETag"]
    assert dict(first.headers)["Last-Modified"] == dict(second.headers)["Last-Modified"]


def test_a_page_survives_a_restart_with_the_same_secret(environment):
    body = make_maze(environment).respond(request("/x.html"), VISITOR, Events(), NOW)
    again = make_maze(environment).respond(request("/x.html"), VISITOR, Events(), NOW)

    assert parse(body.body).hrefs[:3] == parse(again.body).hrefs[:3]
    assert dict(body.headers)["ETag"] == dict(again.headers)["ETag"]


def test_another_secret_is_another_site(environment, tmp_path):
    ours = make_maze(environment).respond(request("/"), VISITOR, Events(), NOW)
    theirs_env = Environment(topology=environment.topology,
                             state_dir=str(tmp_path / "elsewhere"))  # fmt: skip
    theirs = make_maze(theirs_env).respond(request("/"), VISITOR, Events(), NOW)

    assert parse(ours.body).hrefs != parse(theirs.body).hrefs


def test_pages_vary_in_title_and_structure(environment):
    maze = make_maze(environment)
    titles, shapes, pages = set(), set(), 0
    for host in ("www.example.test", "shop.example.test"):
        for path in PATHS[:30]:
            reply = maze.respond(request(path, host), VISITOR, Events(), NOW)
            if reply.status != 200:
                continue
            pages += 1
            titles.add(re.search(rb"<title>(.*?)</title>", reply.body).group(1))
            # The shape: the sequence of tags, runs of one tag taken as one.
            tags = parse(reply.body).tags
            shapes.add(tuple(tag for tag, _ in itertools.groupby(tags)))

    assert len(titles) >= 0.8 * pages
    assert len(shapes) >= 0.6 * pages


def test_pages_carry_noindex_nofollow_and_the_front_page_noindex(environment):
    maze = make_maze(environment)
    page = maze.respond(request("/news/a.html"), VISITOR, Events(), NOW)
    front = maze.respond(request("/"), VISITOR, Events(), NOW)

    robots = parse(page.body).meta["robots"].lower().replace(" ", "")
    assert robots == "noindex,nofollow"
    assert parse(front.body).meta["robots"].lower() == "noindex"


def test_a_corpus_gives_the_text_its_voice(environment, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "The lighthouse keepers of Quillon Bay maintain every lamp by hand. "
        "Every lamp on Quillon Bay burns whale oil from the northern coast. "
        "The keepers of the northern coast trade oil for barley each winter. "
    )
    maze = make_maze(environment, corpus=[str(corpus)])

    body = maze.respond(request("/about/"), VISITOR, Events(), NOW).body

    assert b"Quillon Bay" in body or b"northern coast" in body


def test_another_locale_writes_its_language(environment):
    maze = make_maze(environment, locale="de_DE")

    body = "".join(
        maze.respond(request(path), VISITOR, Events(), NOW).body.decode()
        for path in PATHS[:5]
    )

    assert sum(body.count(letter) for letter in "äöüß") >= 20
    assert "helps customers" not in body


def test_bad_options_are_service_errors(environment):
    with pytest.raises(ServiceError, match="min"):
        WebMaze({"links": {"min": 9, "max": 2}}, environment)
    with pytest.raises(ServiceError, match="locale"):
        WebMaze({"locale": "xx_NOPE"}, environment)
    with pytest.raises(ServiceError, match="corpus"):
        WebMaze({"corpus": ["/nonexistent/corpus.txt"]}, environment)


# Routes ------------------------------------------------------------------------


def test_some_paths_are_missing_and_a_few_redirect(environment):
    maze = make_maze(environment)
    statuses = Counter(
        maze.respond(request(f"/news/n{n}.html"), VISITOR, Events(), NOW).status
        for n in range(600)
    )

    assert 5 <= statuses[404] <= 40
    assert 3 <= statuses[301] <= 30
    assert statuses[200] > 500


def test_a_directory_without_its_slash_is_redirected_like_mod_dir(environment):
    reply = make_maze(environment).respond(
        request("/products/widgets?page=2", host="www.example.test"),
        VISITOR,
        Events(),
        NOW,
    )

    assert reply.status == 301
    assert (
        dict(reply.headers)["Location"]
        == "http://www.example.test/products/widgets/?page=2"
    )
    assert b"The document has moved" in reply.body


def test_files_that_are_not_pages_are_not_found(environment):
    maze = make_maze(environment)
    for path in ("/favicon.ico", "/logo.png", "/wp-login.php"):
        reply = maze.respond(request(path), VISITOR, Events(), NOW)
        assert reply.status == 404, path
        assert reply.content_type == apache.ERROR_TYPE


def test_bad_paths_get_apaches_verdict(environment):
    maze = make_maze(environment)

    def status(path):
        return maze.respond(request(path), VISITOR, Events(), NOW).status

    assert status("/a%zz.html") == 400
    assert status("/../etc/passwd") == 400
    assert status("/a%2fb.html") == 404
    assert status("*") == 400


# Conditional GET ----------------------------------------------------------------


def test_conditional_get_answers_304_without_addresses(environment):
    maze = make_maze(environment)
    first = maze.respond(request("/about/"), VISITOR, Events(), NOW)
    etag = dict(first.headers)["ETag"]
    modified = dict(first.headers)["Last-Modified"]

    events = Events()
    by_tag = maze.respond(request("/about/", headers={"if-none-match": etag}),
                          VISITOR, events, NOW)  # fmt: skip
    by_date = maze.respond(request("/about/", headers={"if-modified-since": modified}),
                           VISITOR, events, NOW)  # fmt: skip
    stale = maze.respond(request("/about/", headers={"if-none-match": '"other"'}),
                         VISITOR, Events(), NOW)  # fmt: skip

    assert (by_tag.status, by_date.status, stale.status) == (304, 304, 200)
    assert by_tag.body == b"" and events.of("web.address.issued") == []


# Addresses and robots ----------------------------------------------------------


def test_each_address_issued_is_recorded_and_decodes_to_the_visit(environment):
    maze = make_maze(environment, addresses={"count": 6, "format": "mixed"})
    events = Events()

    reply = maze.respond(request("/team/"), VISITOR, events, NOW)

    issued = events.of("web.address.issued")
    assert [record["address"] for record in issued] == list(reply.addresses)
    assert len(set(reply.addresses)) == 6
    for record in issued:
        assert record["visitor"] == VISITOR.ip and record["user_agent"] == AGENT
        assert record["url"] == "http://www.example.test/team/"
        assert record["vhost"] == "www.example.test"
        assert record["address"].split("@")[1] in ("example.test", "mail.example.test")
        assert is_valid_address(record["address"])
        visit = decode(record["address"], maze.secret)
        assert visit.ip == VISITOR.ip and abs(visit.time - NOW) < 1
        assert record["address"].encode() in reply.body


def test_addresses_appear_as_mailto_links_and_as_plain_text(environment):
    maze = make_maze(environment, addresses={"count": 3})
    for path in PATHS[:20]:
        reply = maze.respond(request(path), VISITOR, Events(), NOW)
        if reply.status != 200:
            continue
        text = reply.body.decode()
        for address in reply.addresses:
            assert f"mailto:{address}" in text or f">{address}<" not in text
        assert any(f"mailto:{address}" in text for address in reply.addresses)
        visible = re.sub(r'href="mailto:[^"]*"', "", text)
        assert any(address in visible for address in reply.addresses)


def test_opaque_addresses_take_the_name_shown_beside_them(environment):
    maze = make_maze(environment, addresses={"count": 12, "format": "opaque"})
    reply = maze.respond(request("/staff/"), VISITOR, Events(), NOW)
    text = reply.body.decode()

    named = 0
    for address in reply.addresses:
        local = address.split("@")[0][: -len("a" * 21)]
        parts = [part for part in re.split(r"[._-]", local) if len(part) > 2]
        named += any(part in text.lower().replace(address, "") for part in parts)
    assert named >= len(reply.addresses) // 2


@given(hint=st.text(max_size=60))
def test_any_name_beside_an_address_makes_a_valid_one(hint):
    prefix = name_prefix(hint, random.Random(7))
    address = opaque_address(SECRET, prefix, "192.0.2.1", 1_796_297_912_000, "x.test")

    assert is_valid_address(address)
    assert decode(address, SECRET).ip == "192.0.2.1"


def test_head_issues_no_address_but_tells_the_length(environment):
    maze = make_maze(environment)
    events = Events()

    reply = maze.respond(request("/about/", method="HEAD"), VISITOR, events, NOW)

    assert reply.status == 200 and events.of("web.address.issued") == []
    assert int(dict(reply.headers)["Content-Length"]) == reply.length


def test_the_first_disallowed_fetch_is_recorded_once(environment):
    maze = make_maze(environment)
    events = Events()

    for path in ("/", "/robots.txt", "/news/a.html", "/news/b.html"):
        maze.respond(request(path), VISITOR, events, NOW)

    ignored = events.of("web.robots.ignored")
    assert len(ignored) == 1
    assert ignored[0]["path"] == "/news/a.html" and ignored[0]["robots_fetched"]
    assert maze.visitor(VISITOR.ip).ignored


def test_each_crawler_behind_an_address_is_recorded_apart(environment):
    maze = make_maze(environment)
    events = Events()
    maze.respond(request("/robots.txt"), VISITOR, events, NOW)

    maze.respond(request("/a.html"), VISITOR, events, NOW)
    maze.respond(request("/b.html"), Visitor(VISITOR.ip, "Other/1"), events, NOW)

    ignored = events.of("web.robots.ignored")
    assert [(r["user_agent"], r["robots_fetched"]) for r in ignored] == [
        (AGENT, True), ("Other/1", False),
    ]  # fmt: skip


def test_robots_txt_is_served_as_configured(environment):
    maze = make_maze(environment, robots=[
        {"agents": ["*"], "disallow": ["/private/"]},
        {"agents": ["BadBot"], "disallow": ["/"]},
    ])  # fmt: skip

    reply = maze.respond(request("/robots.txt"), VISITOR, Events(), NOW)

    assert reply.content_type == "text/plain"
    assert reply.body == (
        b"User-agent: *\nDisallow: /private/\n\nUser-agent: BadBot\nDisallow: /\n"
    )


def test_robots_matching_follows_rfc_9309():
    robots = Robots([
        {"agents": ["*"], "allow": ["/$", "/public/*.html$"], "disallow": ["/"]},
        {"agents": ["wget"], "disallow": ["/deep/"]},
    ])  # fmt: skip

    assert robots.allowed("Mozilla/5.0", "/")
    assert not robots.allowed("Mozilla/5.0", "/news/")
    assert robots.allowed("Mozilla/5.0", "/public/a/b.html")
    assert not robots.allowed("Mozilla/5.0", "/public/a/b.html?x=1")
    assert robots.allowed("Wget/1.21.3", "/news/")
    assert not robots.allowed("Wget/1.21.3", "/deep/x.html")
    assert robots.allowed("anyone", "/robots.txt")


def test_python_robotparser_reads_our_robots_txt_the_same_way():
    robots = Robots()
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(robots.text.decode().splitlines())

    for path in ("/news/a.html", "/team/", "/x"):
        assert parser.can_fetch("SomeBot", path) == robots.allowed("SomeBot", path)


# Apache -------------------------------------------------------------------------


def test_the_banner_follows_the_personality():
    assert apache.server_for("Linux 2.6.32 - 3.10").banner == "Apache/2.2.22 (Debian)"
    assert apache.server_for("Linux 3.2 - 4.9").banner == "Apache/2.4.25 (Debian)"
    assert apache.server_for("FreeBSD 6.2-RELEASE").banner == "Apache/2.2.4 (FreeBSD)"
    assert "Win32" in apache.server_for("Microsoft Windows 7 SP0 - SP1").banner
    assert apache.server_for(None).banner == apache.DEFAULT_BANNER
    assert apache.server_for(None, "Apache").version == (2, 4, 62)


def test_versions_differ_as_apaches_do():
    old = apache.server_for("Linux 2.6.32 - 3.10")
    new = apache.server_for(None)

    assert (
        old.reason(408) == "Request Time-out" and new.reason(408) == "Request Timeout"
    )
    assert old.etag(10, 1.5, 7).count("-") == 2 and new.etag(10, 1.5, 7).count("-") == 1
    assert b"/gone.html" in old.error_page(404, "h", 80, path="/gone.html")
    assert b"/gone.html" not in new.error_page(404, "h", 80, path="/gone.html")


def test_an_error_page_names_the_server_host_and_port():
    page = apache.server_for(None).error_page(404, "www.example.test", 80, path="/x")

    assert page.startswith(b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">')
    assert b"<title>404 Not Found</title>" in page
    assert b"Apache/2.4.62 (Debian) Server at www.example.test Port 80" in page


def test_http_dates_round_trip():
    text = apache.http_date(NOW)

    assert re.fullmatch(
        r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", text
    )
    assert apache.parse_http_date(text) == int(NOW)
    assert apache.parse_http_date("yesterday") is None


# The open proxy's view ------------------------------------------------------------


def test_the_proxy_gets_the_maze_of_its_topology(environment):
    maze = maze_for(environment)
    events = Events()

    reply = maze.page("shop.example.test", "/news/", VISITOR, events, NOW)

    assert maze_for(environment) is maze
    assert WebMaze({}, environment).maze is maze
    assert reply.status == 200 and reply.addresses
    assert events.of("web.address.issued")[0]["vhost"] == "shop.example.test"


def test_the_proxy_can_render_any_host(environment):
    reply = maze_for(environment).page(
        "www.search.example", "/", VISITOR, Events(), NOW
    )

    hrefs = maze_links(parse(reply.body).hrefs)
    assert reply.status == 200
    assert all(href.startswith("http://") for href in hrefs if "://" in href)


def test_proxy_pages_speak_the_proxys_page_request(environment):
    class Seen:
        address, port, user_agent, connection = "203.0.113.5", 4000, "spam/1", "c-1"

    class PageRequest:
        host, url, path, now = (
            "www.example.test",
            "http://www.example.test/a/",
            "/a/",
            NOW,
        )
        visitor, events = Seen(), Events()

    page = ProxyPages(maze_for(environment)).page(PageRequest())

    assert page.status == 200 and page.reason == "OK"
    assert ("Content-Type", "text/html") in page.headers
    assert b"crawler-203.0.113.5_" in page.body
