"""The web maze in socket mode (`vnet serve web-maze`), with real clients.

Each server is a `python -m vnet serve` process on 127.0.0.1, as a
developer runs it; curl, wget, nmap and raw sockets talk to it, and the
tests read its JSON-lines record and decode what was harvested with the
secret it wrote to its state dir.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path

import h11
import pytest

from services.web_maze import decode
from services.web_maze.traps import is_valid_address, read_secret
from vnet.events.store import open_reader

# What harvesters look for: anything shaped like user@host.tld.
HARVEST = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MazeServer:
    """`vnet serve web-maze` on a free port, with its record and secret."""

    def __init__(self, workdir: Path, options: dict, *arguments: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.events_path = workdir / "events.jsonl"
        self.state_dir = workdir / "var"
        # A fixed secret: each run of the suite sees the same site.
        self.state_dir.mkdir()
        (self.state_dir / "web-maze.secret").write_text("a7" * 32 + "\n")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vnet", "serve", "web-maze",
             "--listen", f"127.0.0.1:{self.port}", "--options", json.dumps(options),
             "--events", str(self.events_path), "--state-dir", str(self.state_dir),
             *arguments],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if "ready" not in line:
            self.stop()
            raise RuntimeError(f"web-maze did not start: {line!r}")
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def secret(self) -> bytes:
        return read_secret(self.state_dir / "web-maze.secret")

    def events(self, event_id: str | None = None) -> list[dict]:
        if not self.events_path.exists():
            return []
        records = [
            json.loads(line) for line in self.events_path.read_text().splitlines()
        ]
        return [r for r in records if event_id is None or r["event"] == event_id]

    def wait_for(self, event_id: str, match=None, count: int = 1) -> list[dict]:
        """The records of `event_id` that `match` accepts, once there are
        `count` of them: the server writes a record just after the bytes
        that a client may already have read."""
        deadline = time.monotonic() + 5
        while True:
            found = [r for r in self.events(event_id) if match is None or match(r)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(10)
        finally:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def maze(tmp_path_factory):
    server = MazeServer(
        tmp_path_factory.mktemp("maze"),
        {"links": {"min": 2, "max": 4}, "addresses": {"format": "mixed"}},
    )
    yield server
    assert server.stop() == 0


def curl(*arguments: str) -> str:
    result = subprocess.run(
        ["curl", "-s", "--max-time", "10", *arguments],
        capture_output=True, timeout=20, check=True,
    )  # fmt: skip
    return result.stdout.decode("latin-1")


def exchange(port: int, data: bytes, timeout: float = 5) -> tuple[bytes, bool]:
    """Sends `data`, reads until the server closes; (reply, closed by server)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(data)
        return read_until_closed(client, timeout)


def read_until_closed(client: socket.socket, timeout: float) -> tuple[bytes, bool]:
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = client.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def responses(data: bytes, limit: int = 10) -> list[tuple[h11.Response, bytes]]:
    """Every complete response in `data`, parsed by h11 as a client would."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(data)
    found = []
    for _ in range(limit):
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        head, body = None, b""
        while True:
            event = client.next_event()
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return found
        found.append((head, body))
        if client.their_state is not h11.DONE or not client.trailing_data[0]:
            return found
        client.start_next_cycle()
    return found


def header_names(raw_head: str) -> list[str]:
    return [line.split(":", 1)[0] for line in raw_head.strip().splitlines()[1:]]


# What curl sees ----------------------------------------------------------------


def test_curl_sees_apache_headers_in_apaches_order(maze):
    head = curl("-D", "-", "-o", "/dev/null", f"{maze.url}/")

    assert head.startswith("HTTP/1.1 200 OK\r\n")
    assert re.search(r"^Server: Apache/2\.4\.62 \(Debian\)\r$", head, re.M)
    assert re.search(r"^Date: \w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT\r$", head, re.M)
    assert header_names(head) == [
        "Date", "Server", "Last-Modified", "ETag", "Accept-Ranges",
        "Content-Length", "Vary", "Keep-Alive", "Connection", "Content-Type",
    ]  # fmt: skip
    assert "Keep-Alive: timeout=5, max=100" in head


def test_a_missing_page_gets_apaches_404_page(maze):
    body = curl("-D", "-", f"{maze.url}/images/logo.png")

    assert body.startswith("HTTP/1.1 404 Not Found\r\n")
    assert "Content-Type: text/html; charset=iso-8859-1" in body
    assert f"Apache/2.4.62 (Debian) Server at 127.0.0.1 Port {maze.port}" in body


def test_conditional_get_returns_304(maze):
    head = curl("-D", "-", "-o", "/dev/null", f"{maze.url}/")
    etag = re.search(r"^ETag: (.*)\r$", head, re.M).group(1)
    modified = re.search(r"^Last-Modified: (.*)\r$", head, re.M).group(1)

    by_tag = curl("-D", "-", "-o", "/dev/null", "-H", f"If-None-Match: {etag}",
                  f"{maze.url}/")  # fmt: skip
    by_date = curl("-D", "-", "-o", "/dev/null", "-H", f"If-Modified-Since: {modified}",
                   f"{maze.url}/")  # fmt: skip

    assert by_tag.startswith("HTTP/1.1 304 Not Modified\r\n")
    assert by_date.startswith("HTTP/1.1 304 Not Modified\r\n")
    assert f"ETag: {etag}" in by_tag and "Content-Length" not in by_tag


def test_head_tells_the_length_of_the_get(strict):
    # The strict server issues crawler addresses, all of one length.
    head = curl("-I", f"{strict.url}/")
    body = curl(f"{strict.url}/")

    length = int(re.search(r"^Content-Length: (\d+)\r$", head, re.M).group(1))
    assert length == len(body.encode())


def test_keep_alive_and_pipelining_answer_in_order(maze):
    requests = b"".join(
        b"GET /p%d.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % n for n in range(3)
    )
    data, closed = exchange(maze.port, requests, timeout=1.5)

    found = responses(data)
    assert len(found) == 3
    maxima = [dict(response.headers)[b"keep-alive"] for response, _ in found]
    assert maxima == [b"timeout=5, max=100", b"timeout=5, max=99", b"timeout=5, max=98"]
    assert not closed


def test_a_connection_serves_101_requests_then_closes_as_apache_does(maze):
    pipeline = b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 150

    data, closed = exchange(maze.port, pipeline)

    found = responses(data, limit=200)
    assert len(found) == 101 and closed
    assert dict(found[99][0].headers)[b"keep-alive"] == b"timeout=5, max=1"
    assert dict(found[100][0].headers)[b"connection"] == b"close"


def test_http_1_0_gets_one_answer_and_a_close(maze):
    data, closed = exchange(maze.port, b"GET / HTTP/1.0\r\n\r\n")

    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n" in data
    assert closed


def test_options_and_absolute_uris(maze):
    close = b"Connection: close"
    options, _ = exchange(maze.port, head(b"OPTIONS * HTTP/1.1", HOST, close))
    absolute, _ = exchange(
        maze.port,
        head(b"GET http://127.0.0.1/team/ HTTP/1.1", b"Host: ignored.example", close),
    )

    assert options.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nAllow: GET,POST,OPTIONS,HEAD\r\n" in options
    assert absolute.startswith(b"HTTP/1.1 200 OK\r\n")


def test_every_request_is_recorded(maze):
    curl("-A", "Recorder/1.0", "-H", "X-Probe: 7", f"{maze.url}/records.html")

    [record] = maze.wait_for(
        "web.request", lambda r: r.get("user_agent") == "Recorder/1.0"
    )
    assert record["method"] == "GET" and record["path"] == "/records.html"
    assert ["X-Probe", "7"] in record["headers"]
    assert record["peer"] == "127.0.0.1" and record["status"] in (200, 301, 404)
    assert record["bytes"] > 200 and 0 <= record["duration"] < 1
    assert record["service"] == "web-maze" and record["connection"]


def test_socket_mode_keeps_the_same_records_in_a_store(tmp_path):
    store = tmp_path / "events.sqlite"
    server = MazeServer(tmp_path, {}, "--store", str(store))
    try:
        curl("-A", "Stored/1.0", f"{server.url}/stored.html")
        server.wait_for("web.request")
    finally:
        assert server.stop() == 0
    issued = [r["address"].lower() for r in server.events("web.address.issued")]
    db = open_reader(store)
    [(agent,)] = db.execute(
        "SELECT fields ->> '$.user_agent' FROM events WHERE event = 'web.request'"
    ).fetchall()
    assert agent == "Stored/1.0"
    traps = [row[0] for row in db.execute("SELECT address FROM traps ORDER BY 1")]
    assert issued and traps == sorted(issued)


def test_nmap_names_apache_httpd(maze):
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.fail("nmap is not installed: run `make test`, which installs it")
    result = subprocess.run(
        [nmap, "-sV", "-Pn", "-n", "-p", str(maze.port), "127.0.0.1"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip

    line = next(
        line for line in result.stdout.splitlines() if f"{maze.port}/tcp" in line
    )
    assert "open" in line and "Apache httpd 2.4.62" in line, result.stdout


# Crawlers and harvesters ---------------------------------------------------------


def run_wget(workdir: Path, url: str, *arguments: str) -> list[str]:
    """The files wget saved, as paths relative to its host directory."""
    workdir.mkdir()
    subprocess.run(
        ["wget", "-q", "-r", "-T", "5", "-t", "1", "-P", str(workdir), *arguments, url],
        timeout=120, check=False,
    )  # fmt: skip
    return sorted(
        "/" + str(path.relative_to(workdir).as_posix()).split("/", 1)[1]
        for path in workdir.rglob("*")
        if path.is_file()
    )


def test_wget_obeying_robots_does_not_enter_the_maze(maze, tmp_path):
    saved = run_wget(
        tmp_path / "polite", f"{maze.url}/", "-l", "3", "-U", "PoliteBot/1"
    )

    assert saved == ["/index.html", "/robots.txt"]
    polite = maze.wait_for(
        "web.request", lambda r: r.get("user_agent") == "PoliteBot/1", 2
    )
    paths = [r["path"] for r in polite]
    assert paths == ["/", "/robots.txt"]
    ignored = [r for r in maze.events("web.robots.ignored")
               if r["user_agent"] == "PoliteBot/1"]  # fmt: skip
    assert ignored == []


def test_wget_ignoring_robots_harvests_addresses_that_name_it(maze, tmp_path):
    started = time.time()
    saved = run_wget(tmp_path / "rude", f"{maze.url}/", "-l", "4", "-e", "robots=off",
                     "-U", "RudeBot/1")  # fmt: skip
    finished = time.time()

    assert len(saved) >= 15
    harvested = set()
    for path in (tmp_path / "rude").rglob("*"):
        if path.is_file():
            harvested |= {
                match.decode() for match in HARVEST.findall(path.read_bytes())
            }
    assert len(harvested) >= 30
    formats = set()
    for address in harvested:
        assert is_valid_address(address), address
        visit = decode(address, maze.secret)
        assert visit is not None, address
        assert visit.ip == "127.0.0.1"
        assert started - 1 <= visit.time <= finished + 1
        formats.add(visit.format)
    assert formats == {"crawler", "opaque"}
    ignored = [
        r for r in maze.events("web.robots.ignored") if r["user_agent"] == "RudeBot/1"
    ]
    assert len(ignored) == 1 and ignored[0]["robots_fetched"] is False


def harvest(start: str, pages: int, agent: str) -> dict[str, str]:
    """A harvester as real ones are written: fetch, regex for addresses,
    follow every link on the same host; address -> page it was on."""
    found: dict[str, str] = {}
    queue, seen = deque([start]), {start}
    host = urllib.parse.urlsplit(start).netloc
    while queue and pages:
        url = queue.popleft()
        request = urllib.request.Request(url, headers={"User-Agent": agent})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                body = response.read()
                url = response.geturl()
        except OSError:
            continue
        pages -= 1
        for address in HARVEST.findall(body):
            found.setdefault(address.decode(), url)
        for link in re.findall(rb'href="([^"]+)"', body):
            target = urllib.parse.urljoin(url, link.decode())
            if urllib.parse.urlsplit(target).netloc == host and target not in seen:
                seen.add(target)
                queue.append(target)
    return found


def test_a_regex_harvester_collects_addresses_whose_visits_are_recorded(maze):
    found = harvest(f"{maze.url}/", pages=25, agent="RegexHarvester/0.1")

    assert len(found) >= 40
    records = maze.wait_for(
        "web.address.issued", lambda r: r["address"] in found, count=len(found)
    )
    issued = {r["address"]: r for r in records}
    for address, page in found.items():
        record = issued[address]
        assert record["visitor"] == "127.0.0.1"
        assert record["user_agent"] == "RegexHarvester/0.1"
        assert record["url"] == page
        assert record["vhost"] == "127.0.0.1"


# Bad input -----------------------------------------------------------------------


def head(first: bytes, *fields: bytes) -> bytes:
    """A request head: its first line, its fields, the empty line."""
    return b"\r\n".join((first, *fields)) + b"\r\n\r\n"


GET = b"GET / HTTP/1.1"
HOST = b"Host: x"
TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40
MANY_FIELDS = [b"X-%d: 1" % n for n in range(101)]
BIG_HEAD = [b"X-Many: " + b"c" * 8000] + [b"X-More: 1"] * 8000

BAD_INPUTS = {
    "malformed request line": (head(b"GET/HTTP/1.1 nonsense"), 400),
    "binary garbage": (bytes(range(256)) + b"\r\n\r\n", 400),
    "a TLS hello": (TLS_HELLO + b"\r\n\r\n", 400),
    "no Host in HTTP/1.1": (head(GET), 400),
    "a bad Host": (head(GET, b"Host: bad host"), 400),
    "two Hosts": (head(GET, b"Host: a", b"Host: b"), 400),
    "an unknown method": (head(b"FROB / HTTP/1.1", HOST), 501),
    "a lower-case method": (head(b"get / HTTP/1.1", HOST), 501),
    "HTTP/2 in HTTP/1 clothes": (head(b"PRI * HTTP/2.0") + b"SM\r\n\r\n", 400),
    "a request line too long": (head(b"GET /" + b"a" * 9000 + b" HTTP/1.1", HOST), 414),
    "a line that never ends": (b"GET /" + b"a" * 70000, 414),
    "a header field too long": (head(GET, HOST, b"X-Big: " + b"b" * 9000), 400),
    "too many header fields": (head(GET, HOST, *MANY_FIELDS), 400),
    "a head too large": (head(GET, HOST, *BIG_HEAD), 400),
    "a body too large": (
        head(b"POST / HTTP/1.1", HOST, b"Content-Length: 99999999"),
        413,
    ),
    "an unknown transfer coding": (
        head(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: gzip"),
        501,
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_answered_as_apache_would_then_closed(maze, case):
    data, status = BAD_INPUTS[case]

    reply, closed = exchange(maze.port, data)

    assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:200]
    assert b"\r\nConnection: close\r\n" in reply
    assert b"Server: Apache/2.4.62 (Debian)" in reply
    assert closed
    assert maze.wait_for(
        "web.request", lambda r: r["status"] == status and r.get("error")
    )


def test_a_known_method_the_maze_does_not_serve_is_405(maze):
    reply, _ = exchange(maze.port, b"DELETE /x.html HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")  # fmt: skip

    assert reply.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert b"\r\nAllow: GET,POST,OPTIONS,HEAD\r\n" in reply
    assert b"The requested method DELETE is not allowed for this URL." in reply


def test_the_server_survives_all_of_it(maze):
    body = curl(f"{maze.url}/")

    assert "<html>" in body and maze.process.poll() is None


# Slow clients and slow answers ------------------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    server = MazeServer(tmp_path_factory.mktemp("strict"), {"limits": {
        "header_timeout": 1, "header_timeout_max": 2, "min_rate": 500,
        "keepalive_timeout": 0.5, "body_timeout": 1,
    }})  # fmt: skip
    yield server
    assert server.stop() == 0


def test_slowloris_is_cut_off_with_408(strict):
    """A header line every 0.25 s: cut off at 1 s plus 1 s per 500 bytes."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", strict.port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        reply = b""
        for number in range(40):
            client.settimeout(0.25)
            try:
                reply = client.recv(65536)
            except TimeoutError:
                client.sendall(b"X-Slow-%d: keep me waiting\r\n" % number)
                continue
            break
        cut_off = time.monotonic() - began
        client.shutdown(socket.SHUT_WR)
        rest, closed = read_until_closed(client, 3)

    assert (reply + rest).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert closed and 0.9 < cut_off < 2.5
    assert strict.wait_for("web.request", lambda r: r.get("error") == "head timeout")


def test_a_silent_connection_is_closed_without_a_word(strict):
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", strict.port), timeout=5) as client:
        reply, closed = read_until_closed(client, 4)

    assert reply == b"" and closed
    assert 0.9 < time.monotonic() - began < 2


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(strict):
    with socket.create_connection(("127.0.0.1", strict.port), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        began = time.monotonic()
        reply, closed = read_until_closed(client, 4)

    assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and closed
    assert 0.4 < time.monotonic() - began < 1.5


def test_a_slow_body_is_cut_off_too(strict):
    with socket.create_connection(("127.0.0.1", strict.port), timeout=5) as client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        reply, closed = read_until_closed(client, 4)

    assert reply.startswith(b"HTTP/1.1 408 ") and closed


@pytest.fixture(scope="module")
def tarpit(tmp_path_factory):
    server = MazeServer(tmp_path_factory.mktemp("tarpit"), {"slow": {
        "who": "all", "first_byte_ms": 400, "bytes_per_second": 4000,
        "chunk_bytes": 500, "max_seconds": 30, "per_source": 2,
    }})  # fmt: skip
    yield server
    assert server.stop() == 0


def timed_get(port: int, path: str) -> tuple[float, float, bytes]:
    """(seconds to the first byte, seconds to the close, the bytes)."""
    began = time.monotonic()
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    with client:
        client.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                       % path.encode())  # fmt: skip
        first = client.recv(65536)
        first_at = time.monotonic() - began
        rest, _ = read_until_closed(client, 10)
    return first_at, time.monotonic() - began, first + rest


def test_the_drip_sends_the_first_byte_late_then_at_its_rate(tarpit):
    first_at, done_at, data = timed_get(tarpit.port, "/drip.html")

    assert data.startswith(b"HTTP/1.1 ") and data.endswith(b"</html>\n")
    assert first_at >= 0.35
    expected = 0.4 + len(data) / 4000
    assert expected * 0.7 < done_at < expected + 1.0
    [record] = tarpit.wait_for("web.request", lambda r: r["path"] == "/drip.html")
    assert record["slowed"] and record["bytes"] == len(data)


def test_the_drip_holds_at_most_per_source_connections(tarpit):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda n: timed_get(tarpit.port, f"/c{n}.html"), range(4))
        )

    firsts = sorted(first for first, _, _ in results)
    assert firsts[0] < 0.3 and firsts[1] < 0.3
    assert firsts[2] >= 0.35 and firsts[3] >= 0.35


@pytest.fixture(scope="module")
def harvesters_only(tmp_path_factory):
    server = MazeServer(tmp_path_factory.mktemp("harvesters"), {"slow": {
        "delay_ms": 300, "delay_step_ms": 100, "delay_max_ms": 600,
    }})  # fmt: skip
    yield server
    assert server.stop() == 0


def test_delays_grow_for_visitors_that_ignored_robots_txt(harvesters_only):
    port = harvesters_only.port
    home, _, _ = timed_get(port, "/")
    entered, _, _ = timed_get(port, "/maze.html")
    second, _, _ = timed_get(port, "/maze2.html")
    later = [timed_get(port, f"/maze{n}.html")[0] for n in range(3, 7)]

    assert home < 0.25 and entered < 0.25
    assert 0.35 < second < 0.9
    assert all(0.55 < first < 1.0 for first in later[2:])
