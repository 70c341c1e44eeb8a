"""The web maze under `vnet run`, through the virtual stack, in a namespace.

Two virtual web servers serve one maze; the clients are wget, curl, nmap
and a Python harvester run inside the namespace, reaching the servers by
address (the namespace has no resolver), so the maze links by address.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from services.web_maze import decode
from services.web_maze.traps import is_valid_address, read_secret
from tests.conftest import require_tool

pytestmark = pytest.mark.netns

WWW, SHOP = "198.51.100.10", "198.51.100.11"
KERNEL = "192.0.2.254"
HARVEST = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test, mail.example.test]
templates:
  web:
    personality: "Linux 2.6.32 - 3.10#1"
    tcp: closed
    ports:
      tcp/80:
        service: web-maze
        options:
          # Enough links that every random site holds eight pages by depth 4.
          links: {min: 4, max: 6}
          addresses: {count: 3, format: mixed}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: web}
  - {address: 198.51.100.11, name: shop.example.test, template: web}
"""


@pytest.fixture
def state_dir():
    # Not under pytest's tmp_path: vnet runs as nobody, and pytest's
    # directories are root's alone; vnet hands this one over.
    path = tempfile.mkdtemp(prefix="vnet-web-maze-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(vnet, state_dir):
    return vnet(TOPOLOGY, "--state-dir", str(state_dir))


def wget(netns, workdir: Path, *arguments: str) -> dict[str, list[str]]:
    """Runs wget in the namespace; host directory -> the paths it saved."""
    workdir.mkdir()
    netns.run(
        "wget", "-q", "-r", "-T", "5", "-t", "1", "-P", str(workdir), *arguments,
        timeout=120, check=False,
    )  # fmt: skip
    saved: dict[str, list[str]] = {}
    for path in workdir.rglob("*"):
        if path.is_file():
            host, _, rest = path.relative_to(workdir).as_posix().partition("/")
            saved.setdefault(host, []).append("/" + rest)
    return saved


def stopped_cleanly(served) -> None:
    assert served.stop() == 0
    assert "Traceback" not in served.stderr(), served.stderr()


def test_wget_obeying_robots_stays_out_of_the_maze(served, netns, tmp_path):
    require_tool("wget")

    saved = wget(netns, tmp_path / "polite", "-l", "3", f"http://{WWW}/")

    assert {host: sorted(paths) for host, paths in saved.items()} == {
        WWW: ["/index.html", "/robots.txt"]
    }
    stopped_cleanly(served)
    paths = [r["path"] for r in served.events("web.request")]
    assert paths == ["/", "/robots.txt"]
    assert served.events("web.robots.ignored") == []


def test_wget_ignoring_robots_wanders_across_both_servers(
    served, netns, tmp_path, state_dir
):
    require_tool("wget")
    started = time.time()

    saved = wget(netns, tmp_path / "rude", "-l", "4", "-e", "robots=off", "-H",
                 "-D", f"{WWW},{SHOP}", f"http://{WWW}/")  # fmt: skip
    finished = time.time()

    assert set(saved) == {WWW, SHOP}
    assert sum(len(paths) for paths in saved.values()) >= 8
    harvested = set()
    for path in (tmp_path / "rude").rglob("*"):
        if path.is_file():
            harvested |= {m.decode() for m in HARVEST.findall(path.read_bytes())}
    assert len(harvested) >= 20
    secret = read_secret(state_dir / "web-maze.secret")
    for address in harvested:
        assert is_valid_address(address), address
        visit = decode(address, secret)
        assert visit is not None and visit.ip == KERNEL, address
        assert started - 1 <= visit.time <= finished + 1
    stopped_cleanly(served)
    vhosts = {r["vhost"] for r in served.events("web.address.issued")}
    assert vhosts == {"www.example.test", "shop.example.test"}
    assert len(served.events("web.robots.ignored")) == 1


def test_a_harvester_in_the_namespace_collects_recorded_addresses(served, netns):
    script = f"""
        import re, urllib.parse, urllib.request
        ADDRESS = rb"[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+"
        seen, queue, found = set(), ["http://{WWW}/"], set()
        while queue and len(seen) < 12:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            try:
                body = urllib.request.urlopen(url, timeout=5).read()
            except OSError:
                continue
            found |= set(re.findall(ADDRESS, body))
            for link in re.findall(rb'href="([^"]+)"', body):
                if not link.startswith(b"mailto:"):
                    queue.append(urllib.parse.urljoin(url, link.decode()))
        print("\\n".join(sorted(a.decode() for a in found)))
    """
    result = netns.run(sys.executable, "-c", textwrap.dedent(script), timeout=60)
    found = set(result.stdout.split())

    assert len(found) >= 10
    stopped_cleanly(served)
    issued = {r["address"]: r for r in served.events("web.address.issued")}
    for address in found:
        assert issued[address]["visitor"] == KERNEL
        assert issued[address]["user_agent"].startswith("Python-urllib/")


def test_curl_sees_apache_and_a_conditional_get_is_304(served, netns):
    first = netns.run("curl", "-s", "-D", "-", "-o", "/dev/null", f"http://{WWW}/")
    etag = re.search(r"^ETag: (.*)$", first.stdout, re.M).group(1).strip()
    again = netns.run("curl", "-s", "-D", "-", "-o", "/dev/null",
                      "-H", f"If-None-Match: {etag}", f"http://{WWW}/")  # fmt: skip

    assert first.stdout.startswith("HTTP/1.1 200 OK")
    assert "Server: Apache/2.2.22 (Debian)" in first.stdout
    assert again.stdout.startswith("HTTP/1.1 304 Not Modified")
    stopped_cleanly(served)


def test_nmap_names_apache_httpd_on_port_80(served, netns):
    require_tool("nmap")

    result = netns.run("nmap", "-sV", "-Pn", "-n", "-p", "80", WWW, timeout=120)

    line = next(line for line in result.stdout.splitlines() if "80/tcp" in line)
    assert "open" in line and "Apache httpd 2.2.22" in line, result.stdout
    stopped_cleanly(served)


def test_bad_input_through_the_stack_is_answered_and_closed(served, netns):
    script = f"""
        import socket
        garbage = b"\\x16\\x03\\x01garbage\\r\\n\\r\\n"
        unknown = b"FROB / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
        for data in (garbage, unknown):
            with socket.create_connection(("{WWW}", 80), timeout=5) as client:
                client.sendall(data)
                reply = b""
                while chunk := client.recv(65536):
                    reply += chunk
                print(reply.split(b"\\r\\n", 1)[0].decode())
    """
    result = netns.run(sys.executable, "-c", textwrap.dedent(script), timeout=30)

    assert result.stdout.split("\n")[:2] == [
        "HTTP/1.1 400 Bad Request", "HTTP/1.1 501 Not Implemented",
    ]  # fmt: skip
    stopped_cleanly(served)
    statuses = sorted(r["status"] for r in served.events("web.request"))
    assert statuses == [400, 501]
