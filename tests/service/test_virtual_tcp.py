"""Services over vnet's TCP, against the Linux kernel's TCP in a namespace."""

from __future__ import annotations

import sys
import time

import pytest

pytestmark = pytest.mark.netns

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
templates:
  server:
    ports:
      tcp/7: {service: echo}
      tcp/80: {service: hello-http}
      tcp/22: open
      tcp/25: {service: "tests.service.fixtures:Smtp"}
      tcp/666: {service: "tests.service.fixtures:Explode"}
      tcp/2323: {service: {command: [sh, -c, 'echo "$HONEYD_IP_SRC $HONEYD_DST_PORT $1"; exec tr a-z A-Z', sh, $sport]}}
      udp/7: {service: "tests.service.fixtures:UdpEcho"}
  front:
    ports:
      tcp/7: {service: "tests.service.fixtures:Forward", options: {host: back.example.test, port: 7}}
hosts:
  - {address: 192.0.2.10, template: server, name: back.example.test}
  - {address: 192.0.2.11, template: front}
"""  # noqa: E501


@pytest.fixture
def served(vnet):
    return vnet(TOPOLOGY)


def python_in(netns, module: str, *arguments: str, timeout: float = 180):
    result = netns.run(sys.executable, "-m", module, *arguments, timeout=timeout)
    return result.stdout.split()


def test_curl_gets_a_page_from_an_h11_service(served, netns):
    result = netns.run("curl", "-s", "-i", "http://192.0.2.10/")

    assert result.stdout.startswith("HTTP/1.1 200")
    assert result.stdout.endswith("hello\n")


def test_curl_keeps_one_connection_alive_for_several_requests(served, netns):
    url = "http://192.0.2.10/"
    result = netns.run("curl", "-s", "-v", url, url, url)

    assert result.stdout == "hello\n" * 3
    assert result.stderr.count("Connected to") == 1


def test_nc_talks_to_the_echo_service(served, netns):
    result = netns.run("sh", "-c", "printf 'one\\ntwo\\n' | nc -N -w 3 192.0.2.10 7")

    assert result.stdout == "one\ntwo\n"


def test_twenty_megabytes_each_way_arrive_intact(served, netns):
    sent, received, count = python_in(
        netns, "tests.service.bulk_client", "192.0.2.10", "7", "20"
    )

    assert int(count) == 20_000_000
    assert sent == received


def test_bulk_transfer_survives_loss_reordering_and_delay(vnet, netns):
    # This kernel has no netem qdisc, so vnet's own fault injector disturbs
    # what the kernel sends, as `tc qdisc add dev vnet0 root netem loss 5%
    # reorder 10% delay 20ms` would.
    vnet(TOPOLOGY, "--faults", "loss=5%,reorder=10%,delay=20ms")
    sent, received, count = python_in(
        netns, "tests.service.bulk_client", "192.0.2.10", "7", "20", timeout=400
    )

    assert int(count) == 20_000_000
    assert sent == received


def test_a_thousand_concurrent_connections_each_get_their_echo(served, netns):
    [echoed] = python_in(netns, "tests.service.many_client", "192.0.2.10", "7", "1000")

    assert int(echoed) == 1000


def test_aiosmtpd_serves_smtp_over_a_virtual_connection(served, netns):
    script = (
        "import smtplib; s = smtplib.SMTP('192.0.2.10', 25, timeout=10);"
        "s.sendmail('a@example.test', ['b@example.test'], 'Subject: hi\\n\\nbody');"
        "s.quit()"
    )
    netns.run(sys.executable, "-c", script)

    assert served.stop() == 0
    [mail] = served.events("test.mail")
    assert mail["recipients"] == ["b@example.test"]
    assert mail["peer"] == "192.0.2.254"


def test_a_failing_service_resets_only_its_own_connection(served, netns):
    script = (
        "import socket; s = socket.create_connection(('192.0.2.10', 666), 5);"
        "s.recv(10); s.sendall(b'x');"
        "import time; time.sleep(0.5)\n"
        "try:\n  print(s.recv(10))\nexcept ConnectionResetError:\n  print('reset')"
    )
    result = netns.run(sys.executable, "-c", script)
    assert result.stdout.strip() == "reset"

    assert netns.run("curl", "-s", "http://192.0.2.10/").stdout == "hello\n"
    assert served.stop() == 0
    assert "a bug in the service" in served.stderr()
    assert "Traceback" in served.stderr()


def test_a_honeyd_style_command_gets_the_connection_in_its_environment(served, netns):
    result = netns.run("sh", "-c", "echo hello | nc -N -w 3 192.0.2.10 2323")

    first, second = result.stdout.splitlines()
    source, port, source_port = first.split()
    assert (source, port) == ("192.0.2.254", "2323")
    assert source_port.isdigit()
    assert second == "HELLO"


def test_udp_services_answer_datagrams(served, netns):
    result = netns.run("sh", "-c", "echo ping | nc -u -w 1 192.0.2.10 7")

    assert result.stdout == "PING\n"


def test_a_service_reaches_another_through_open_connection(served, netns):
    result = netns.run("sh", "-c", "echo through | nc -N -w 3 192.0.2.11 7")

    assert result.stdout == "through\n"


def test_an_open_port_without_service_holds_the_connection(served, netns):
    started = time.monotonic()
    result = netns.run("sh", "-c", "echo hi | nc -w 2 192.0.2.10 22", check=False)

    assert result.stdout == ""
    assert time.monotonic() - started >= 1.5  # held until nc gave up


def test_connections_are_recorded_with_bytes_duration_and_ending(served, netns):
    netns.run("sh", "-c", "printf 'abcd' | nc -N -w 3 192.0.2.10 7")

    assert served.stop() == 0
    [opened] = [e for e in served.events("tcp.connection.open") if e["port"] == 7]
    [closed] = [e for e in served.events("tcp.connection.close") if e["port"] == 7]
    assert opened["connection"] == closed["connection"]
    assert (closed["bytes_in"], closed["bytes_out"]) == (4, 4)
    assert closed["reason"] == "fin"
    assert closed["duration"] >= 0
    assert closed["peer"] == "192.0.2.254" and closed["host"] == "192.0.2.10"
