"""The open proxy under `vnet run`, used by real clients inside a namespace.

The topology is a small HoneySpam DMZ: a web-maze host, a proxy host (HTTP
on 3128, SOCKS on 1080, no options, so it finds the maze and the relay in
the topology) and the smtp-relay, in dry-run mode so that it forwards no
probe. The clients are curl, proxychains4 with swaks, nmap, and Python
scripts run in the namespace.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.conftest import require_tool

pytestmark = pytest.mark.netns

PROXY = "198.51.100.20"
KERNEL = "192.0.2.254"

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test, mail.example.test]
templates:
  web:
    personality: "Linux 2.6.32 - 3.10#1"
    tcp: closed
    ports:
      tcp/80: {service: web-maze}
  proxy:
    personality: "FreeBSD 6.2-RELEASE#1"
    tcp: closed
    ports:
      tcp/1080: {service: open-proxy}
      tcp/3128: {service: open-proxy}
  relay:
    personality: "Linux 3.2 - 4.9"
    tcp: closed
    ports:
      tcp/25:
        service: smtp-relay
        options: {dry_run: true, greeting_delay: [0, 0.05]}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: web}
  - {address: 198.51.100.20, name: proxy1.example.test, template: proxy}
  - {address: 198.51.100.25, name: relay1.example.test, template: relay}
"""


@pytest.fixture
def state_dir():
    # Not under pytest's tmp_path: vnet runs as nobody, and pytest's
    # directories are root's alone; vnet hands this one over.
    path = tempfile.mkdtemp(prefix="vnet-open-proxy-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(vnet, state_dir):
    return vnet(TOPOLOGY, "--state-dir", state_dir)


def python(netns, script: str, timeout: float = 30) -> str:
    """Run a Python script inside the namespace; its standard output."""
    result = netns.run(sys.executable, "-c", textwrap.dedent(script), timeout=timeout)
    return result.stdout


def stopped_cleanly(served) -> None:
    assert served.stop() == 0
    assert "Traceback" not in served.stderr(), served.stderr()


# --- HTTP ------------------------------------------------------------------


def test_curl_through_the_proxy_gets_a_page_with_trap_addresses(served, netns):
    result = netns.run(
        "curl", "-s", "-i", "--max-time", "10",
        "-x", f"http://{PROXY}:3128", "http://www.example.test/",
        "-H", "X-Forwarded-For: 203.0.113.66",
        "-H", "Via: 1.1 gw.example (squid/2.6.STABLE21)",
    )  # fmt: skip
    # Text mode has turned the CRLFs into newlines.
    head, _, body = result.stdout.partition("\n\n")

    assert head.startswith("HTTP/1.1 200 OK")
    assert "Via: 1.1 proxy1.example.test (squid/3.5.27)" in head
    assert "X-Cache: MISS from proxy1.example.test" in head
    assert "X-Cache-Lookup: MISS from proxy1.example.test:3128" in head
    traps = re.findall(r"crawler-[0-9.]+_\d+@[a-z.]+", body)
    assert traps and all(t.startswith(f"crawler-{KERNEL}_") for t in traps)

    stopped_cleanly(served)
    issued = served.events("web.address.issued")
    assert {event["address"] for event in issued} == set(traps)
    [request] = served.events("proxy.request")
    assert request["peer"] == KERNEL
    assert request["next_hop"] == "www.example.test:80"
    assert request["host"] == PROXY
    # Two enemy hops from one connection: the one we saw, and the earlier
    # proxy and client its headers admit to.
    [chain] = served.events("proxy.chain")
    assert (chain["peer"], chain["hops"]) == (KERNEL, ["203.0.113.66", "gw.example"])
    assert chain["connection"] == request["connection"]


def test_curl_connect_to_443_gets_408(served, netns):
    result = netns.run(
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_connect}", "--max-time", "10",
        "-x", f"http://{PROXY}:3128", "https://www.example.test/",
        check=False,
    )  # fmt: skip

    assert result.stdout == "408"
    stopped_cleanly(served)
    [request] = served.events("proxy.request")
    assert (request["method"], request["next_hop"]) == (
        "CONNECT",
        "www.example.test:443",
    )
    assert request["outcome"] == "408"


SMTP_THROUGH_CONNECT = """
    import smtplib, socket

    class Tunnelled(smtplib.SMTP):
        def _get_socket(self, host, port, timeout):
            sock = socket.create_connection(("198.51.100.20", 3128), 10)
            authority = f"{host}:{port}"
            request = f"CONNECT {authority} HTTP/1.1\\r\\nHost: {authority}\\r\\n\\r\\n"
            sock.sendall(request.encode())
            reply = b""
            while not reply.endswith(b"\\r\\n\\r\\n"):
                reply += sock.recv(1)
            print(reply.decode().strip())
            return sock

    smtp = Tunnelled(local_hostname="spam.example.test", timeout=10)
    code, banner = smtp.connect("mx.example.test", 25)
    print(code, banner.decode())
    code, ehlo = smtp.ehlo()
    print(code, ehlo.decode().splitlines()[0])
    smtp.sendmail(
        "spammer@example.test",
        ["victim@mail.example.test"],
        "Subject: probe\\r\\n\\r\\nIs this relay open?\\r\\n",
    )
    smtp.quit()
    print("sent")
"""


def test_a_python_client_completes_smtp_through_connect(served, netns):
    lines = python(netns, SMTP_THROUGH_CONNECT).splitlines()

    assert lines[0] == "HTTP/1.1 200 Connection established"
    assert re.match(r"220 mx\.example\.test ESMTP Sendmail", lines[1]), lines
    assert lines[2].startswith("250 mx.example.test")
    assert lines[-1] == "sent"

    stopped_cleanly(served)
    [request] = served.events("proxy.request")
    [stored] = served.events("smtp.message.stored")
    assert request["relay"] is True
    # The relay records the message under the proxy's connection, with the
    # address that connected to the proxy.
    assert stored["connection"] == request["connection"]
    assert stored["peer"] == KERNEL
    assert stored["recipients"] == ["victim@mail.example.test"]
    assert stored["helo"] == "spam.example.test"


def test_curl_proxytunnel_telnet_sees_the_banner_of_the_asked_host(served, netns):
    result = subprocess.run(
        netns.command(
            "curl", "-s", "--max-time", "5", "-x", f"http://{PROXY}:3128",
            "--proxytunnel", "telnet://mx.mail.example.test:25",
        ),
        input="QUIT\r\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert result.stdout.startswith("220 mx.mail.example.test ESMTP")
    assert "221" in result.stdout


# --- SOCKS and proxychains ----------------------------------------------------


PROXYCHAINS = """\
strict_chain
proxy_dns
remote_dns_subnet 224
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
{entry}
"""


@pytest.mark.parametrize(
    ("entry", "protocol"),
    [
        (f"socks5 {PROXY} 1080 harvester s3cret", "socks5"),
        (f"socks4 {PROXY} 1080", "socks4a"),
        (f"http {PROXY} 3128", "http"),
    ],
)
def test_swaks_through_proxychains_delivers_into_the_relay(
    served, netns, tmp_path, entry, protocol
):
    require_tool("proxychains4")
    require_tool("swaks")
    config = tmp_path / "proxychains.conf"
    config.write_text(PROXYCHAINS.format(entry=entry))

    result = netns.run(
        "proxychains4", "-q", "-f", str(config),
        "swaks", "--server", "mx.example.test", "--port", "25",
        "--from", "spammer@example.test", "--to", "victim@mail.example.test",
        "--helo", "spam.example.test", "--timeout", "10",
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "<-  220 mx.example.test ESMTP Sendmail" in result.stdout
    assert re.search(
        r"<-  250 2\.0\.0 \S+ Message accepted for delivery", result.stdout
    )

    stopped_cleanly(served)
    [request] = served.events("proxy.request")
    assert request["protocol"] == protocol
    assert request["next_hop"] == "mx.example.test:25"
    if protocol == "socks5":
        assert (request["user"], request["password"]) == ("harvester", "s3cret")
    [stored] = served.events("smtp.message.stored")
    assert (stored["connection"], stored["peer"]) == (request["connection"], KERNEL)


def test_curl_socks5_to_port_80_is_refused(served, netns):
    result = netns.run(
        "curl", "-s", "--max-time", "10", "--socks5-hostname", f"{PROXY}:1080",
        "http://www.example.test/", check=False,
    )  # fmt: skip

    assert result.returncode == 97  # curl: the proxy handshake failed
    stopped_cleanly(served)
    [request] = served.events("proxy.request")
    assert (request["protocol"], request["relay"]) == ("socks5", False)


# --- nmap ------------------------------------------------------------------


def test_nmap_service_detection_names_squid_and_socks(served, netns):
    result = netns.run(
        "nmap", "-n", "-Pn", "-sV", "-p", "3128,1080", PROXY, timeout=120
    )

    assert re.search(
        r"3128/tcp\s+open\s+http-proxy\s+Squid http proxy 3\.5\.27", result.stdout
    ), result.stdout
    assert re.search(
        r"1080/tcp\s+open\s+socks5\s+\(Username/password authentication required\)",
        result.stdout,
    ), result.stdout


def nmap_proxy_scripts(netns, *arguments: str) -> str:
    result = netns.run(
        "nmap", "-n", "-Pn", "-p", "3128,1080",
        "--script", "http-open-proxy,socks-open-proxy", *arguments,
        PROXY, timeout=120,
    )  # fmt: skip
    return result.stdout


def test_nmap_open_proxy_scripts(served, netns):
    # With a test page of the proxy's own network, nmap finds GET and HEAD
    # open; CONNECT to port 80 gets 408, so it does not list CONNECTION.
    named = nmap_proxy_scripts(
        netns, "--script-args", "proxy.url=http://www.example.test/"
    )
    # By default it wants Google's `Server: gws` from www.google.com, and
    # resolves the SOCKS test host by DNS, which the namespace has none of:
    # both scripts stay silent, as they would for a real Squid here.
    default = nmap_proxy_scripts(netns)

    assert "| http-open-proxy: Potentially OPEN proxy." in named
    assert re.search(r"\|_Methods supported: ?GET HEAD\n", named), named
    assert "socks-open-proxy" not in named
    assert "open-proxy" not in default, default
    stopped_cleanly(served)
    requests = served.events("proxy.request")
    assert {(event["method"], event["outcome"]) for event in requests} >= {
        ("GET", "page"),
        ("HEAD", "page"),
        ("CONNECT", "408"),
    }
    hops = {event["next_hop"] for event in requests}
    assert {"www.example.test:80", "www.google.com:80"} <= hops


# --- bad input ---------------------------------------------------------------


BAD_INPUT = """
    import socket

    def send(port, data, close=True):
        sock = socket.create_connection(("198.51.100.20", port), 10)
        sock.sendall(data)
        if close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        return answer

    cases = [
        (3128, b"GET\\r\\n\\r\\n"),
        (3128, b"\\x16\\x03\\x01\\x00\\xff" + bytes(100)),
        (3128, b"GET http://x.test/ HTTP/1.1\\r\\nX: " + b"a" * 100000),
        (3128, b"CONNECT mx.example.test:70000 HTTP/1.0\\r\\n\\r\\n"),
        (1080, b"\\x05\\x01\\x00\\x04\\x01\\x00\\x01" + bytes(6)),
        (1080, b"\\x05\\x01\\x00\\x05\\x01"),
        (1080, bytes(range(256)) * 8),
    ]
    for port, data in cases:
        answer = send(port, data)
        print(port, answer.split(b"\\r\\n")[0][:40])
"""


def test_bad_input_gets_errors_or_a_close_and_is_recorded(served, netns):
    lines = python(netns, BAD_INPUT).splitlines()

    assert lines[0] == "3128 b'HTTP/1.1 400 Bad Request'"
    assert lines[1] == "3128 b'HTTP/1.1 400 Bad Request'"
    assert lines[2] == "3128 b'HTTP/1.1 400 Bad Request'"
    assert lines[3] == "3128 b'HTTP/1.1 400 Bad Request'"
    # A version mismatch after the greeting gets a general failure (REP 1).
    assert lines[4] == "1080 b'\\x05\\x00\\x05\\x01\\x00\\x01" + "\\x00" * 6 + "'"
    assert lines[5] == "1080 b'\\x05\\x00'"
    # A SOCKS port closes on anything that is not SOCKS.
    assert lines[6] == "1080 b''"

    after = netns.run(
        "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
        "-x", f"http://{PROXY}:3128", "http://www.example.test/",
    )  # fmt: skip
    assert after.stdout == "200"

    stopped_cleanly(served)
    reasons = [event["reason"] for event in served.events("proxy.error")]
    assert reasons == [
        "malformed-request",
        "garbage",
        "oversized",
        "bad-port",
        "socks-version",
        "truncated",
        "garbage",
    ]


# --- the shipped topology -----------------------------------------------------


HONEYSPAM_BANNER = """
    import socket

    sock = socket.create_connection(("198.51.100.21", 8080), 10)
    sock.sendall(b"CONNECT mx.example.test:25 HTTP/1.0\\r\\n\\r\\n")
    stream = sock.makefile("rb")
    print(stream.readline().decode().strip())
    print(repr(stream.readline()))
    print(stream.readline().decode().strip())
    sock.sendall(b"QUIT\\r\\n")
    print(stream.readline().decode().strip())
"""


def test_the_default_topologys_proxies_work_without_options(vnet, netns, state_dir):
    text = Path("topologies/honeyspam.yaml").read_text()
    served = vnet(text, "--state-dir", state_dir)

    page = netns.run(
        "curl", "-s", "-i", "--max-time", "10",
        "-x", "http://198.51.100.20:3128", "http://shop.example.test/",
    )  # fmt: skip
    lines = python(netns, HONEYSPAM_BANNER).splitlines()
    socks = subprocess.run(
        netns.command(
            "curl", "-s", "--max-time", "10", "--socks5-hostname",
            "198.51.100.22:1080", "telnet://mx.mail.example.test:25",
        ),
        input="QUIT\r\n", capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert page.stdout.startswith("HTTP/1.1 200 OK")
    assert "Via: 1.1 proxy1.example.test (squid/3.5.27)" in page.stdout
    assert "crawler-192.0.2.254_" in page.stdout
    assert lines[:2] == ["HTTP/1.1 200 Connection established", "b'\\r\\n'"]
    assert lines[2].startswith("220 mx.example.test ESMTP Sendmail")
    assert lines[3].startswith("221 2.0.0 mx.example.test closing connection")
    assert socks.stdout.startswith("220 mx.mail.example.test ESMTP Sendmail")
    stopped_cleanly(served)
    sessions = served.events("smtp.session")
    assert {event.get("greeting_name") for event in sessions} >= {
        "mx.example.test",
        "mx.mail.example.test",
    }
