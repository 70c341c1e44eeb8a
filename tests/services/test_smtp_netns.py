"""smtp-relay and smtp-sink under `vnet run`, through the virtual TCP stack.

Everything happens in a namespace the test makes: swaks, nmap and Python
clients talk to the virtual hosts over the TAP device, and the one mail
server that really receives a probe is an aiosmtpd that the test starts
inside the same namespace, named as the relay's smarthost.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.services.test_smtp_support import messages_in

pytestmark = pytest.mark.netns

RELAY = "198.51.100.25"
SINK = "198.51.100.30"
PEER_PORT = 2525

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test, mail.example.test]
templates:
  relay:
    personality: "Linux 3.2 - 4.9"
    tcp: closed
    ports:
      tcp/25:
        service: smtp-relay
        options:
          smarthost: "127.0.0.1:%(peer)d"
          greeting_delay: [0.05, 0.2]
          timeout: %(timeout)s
  mail:
    personality: "OpenBSD 4.3#1"
    tcp: closed
    ports:
      tcp/25: {service: smtp-sink, options: {greeting_delay: [0.05, 0.2]}}
hosts:
  - {address: 198.51.100.25, name: relay1.example.test, template: relay}
  - {address: 198.51.100.30, name: mx.example.test, template: mail}
"""


@pytest.fixture
def state_dir():
    # vnet runs as nobody, and pytest's own directories are root's alone.
    path = Path(tempfile.mkdtemp(prefix="vnet-smtp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def peer(netns, tmp_path):
    """aiosmtpd inside the namespace, keeping what it gets in a Maildir."""
    maildir = tmp_path / "peer"
    process = netns.popen(
        sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{PEER_PORT}",
        "-c", "aiosmtpd.handlers.Mailbox", str(maildir),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        probe = netns.run("sh", "-c", f"echo QUIT | nc -w 1 127.0.0.1 {PEER_PORT}",
                          check=False)  # fmt: skip
        if probe.stdout.startswith("220"):
            break
        time.sleep(0.1)
    yield maildir
    process.kill()
    process.wait(10)


def start(vnet, state_dir: Path, timeout: float = 300):
    topology = TOPOLOGY % {"peer": PEER_PORT, "timeout": timeout}
    return vnet(topology, "--state-dir", str(state_dir))


def python(netns, script: str, timeout: float = 120) -> str:
    result = netns.run(sys.executable, "-c", textwrap.dedent(script), timeout=timeout)
    return result.stdout


def swaks(netns, server: str, *arguments: str):
    return netns.run(
        require_tool("swaks"), "--server", server, "--from", "spammer@spammer.example",
        "--helo", "spammer.example", "--timeout", "30", *arguments,
        check=False, timeout=90,
    )  # fmt: skip


def test_swaks_relays_is_refused_and_is_stored(vnet, netns, peer, state_dir):
    served = start(vnet, state_dir)
    relayed = swaks(netns, RELAY, "--to", "victim@elsewhere.example")
    refused = swaks(netns, SINK, "--to", "victim@elsewhere.example")
    taken = swaks(netns, SINK, "--to", "trap.77@mail.example.test")
    assert served.stop() == 0

    assert relayed.returncode == 0, relayed.stdout
    assert re.search(r"<-  220 relay1\.example\.test ESMTP Sendmail 8\.14\.4/8\.14\.4/"
                     r"Debian-4; ", relayed.stdout)  # fmt: skip
    assert "Recipient ok" in relayed.stdout
    assert "550 5.7.1 <victim@elsewhere.example>... Relaying denied" in refused.stdout
    assert taken.returncode == 0, taken.stdout
    assert len(messages_in(state_dir / "mail" / "relay")) == 1
    [kept] = messages_in(state_dir / "mail" / "sink")
    assert b"X-Original-To: trap.77@mail.example.test" in kept
    stored = served.events("smtp.message.stored")
    assert {s["host"] for s in stored} == {RELAY, SINK}
    assert "Traceback" not in served.stderr(), served.stderr()


def test_nmap_sees_sendmail_an_open_relay_and_a_closed_sink(
    vnet, netns, peer, state_dir
):
    served = start(vnet, state_dir)
    result = netns.run(
        require_tool("nmap"), "-Pn", "-n", "-sV", "-p", "25",
        "--script", "smtp-open-relay,smtp-commands", RELAY, SINK, timeout=240,
    )  # fmt: skip
    assert served.stop() == 0

    reports = result.stdout.split("Nmap scan report for ")
    relay = next(r for r in reports if r.startswith(RELAY))
    sink = next(r for r in reports if r.startswith(SINK))
    assert "25/tcp open  smtp    Sendmail 8.14.4/8.14.4/Debian-4" in relay
    assert "25/tcp open  smtp    Sendmail 8.14.3/8.14.3" in sink
    assert "Server is an open relay" in relay
    assert "Server doesn't seem to be an open relay" in sink
    for report in (relay, sink):
        assert "ENHANCEDSTATUSCODES, PIPELINING, 8BITMIME, SIZE 10485760, DSN" in report
    # nmap's relay test mail is never delivered: it has no DATA.
    assert not (peer / "new").exists() or list((peer / "new").iterdir()) == []


def test_a_spammer_gets_only_his_probe_through(vnet, netns, peer, state_dir):
    served = start(vnet, state_dir)
    python(
        netns,
        f"""
        import smtplib
        with smtplib.SMTP("{RELAY}", 25, local_hostname="bulk.example") as s:
            s.sendmail("bulk@spammer.example", ["me@spammer-box.example"],
                       b"Subject: relay test\\r\\n\\r\\nrelay {RELAY} ok?\\r\\n")
        with smtplib.SMTP("{RELAY}", 25, local_hostname="bulk.example") as s:
            for n in range(100):
                s.sendmail("bulk@spammer.example", [f"v{{n}}@victims.example"],
                           b"Subject: offer\\r\\n\\r\\nbuy now\\r\\n")
        """,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not served.events("smtp.probe.forwarded"):
        time.sleep(0.1)
    time.sleep(0.5)
    assert served.stop() == 0

    delivered = messages_in(peer)
    assert len(delivered) == 1
    assert delivered[0].rstrip().endswith(f"relay {RELAY} ok?".encode())
    assert len(messages_in(state_dir / "mail" / "relay")) == 101
    assert len(served.events("smtp.message.held")) == 100
    [forwarded] = served.events("smtp.probe.forwarded")
    assert forwarded["accepted"] == ["me@spammer-box.example"]


def test_sigkill_during_a_burst_loses_no_acknowledged_message(
    vnet, netns, peer, state_dir
):
    served = start(vnet, state_dir)
    script = textwrap.dedent(
        f"""
        import smtplib
        # Once vnet is killed its TAP is gone: no RST comes, so time out.
        client = smtplib.SMTP("{RELAY}", 25, local_hostname="burst.example", timeout=5)
        client.ehlo()
        for n in range(500):
            token = b"token-%03d " % n * 8
            body = b"Subject: burst %d\\r\\n\\r\\n" % n + token + b"\\r\\n"
            try:
                client.mail("bulk@spammer.example")
                client.rcpt(f"v{{n}}@victims.example")
                code, reply = client.data(body)
            except (smtplib.SMTPException, OSError):
                break
            if code == 250:
                print(reply.split()[1].decode(), n, flush=True)
        """
    )
    client = netns.popen(sys.executable, "-c", script, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    acknowledged = []
    for line in client.stdout:
        acknowledged.append(line.split())
        if len(acknowledged) >= 100:
            break
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(10)
    acknowledged += [line.split() for line in client.stdout]
    client.wait(30)
    client.stdout.close()
    served.kill()

    assert 100 <= len(acknowledged) < 500
    kept = {}
    for message in messages_in(state_dir / "mail" / "relay"):
        queue = message.split(b"X-Vnet-Queue-Id: ", 1)[1].split(b"\r\n", 1)[0]
        kept[queue.decode()] = message
    for queue, number in acknowledged:
        token = b"token-%03d " % int(number) * 8
        assert kept[queue].endswith(b"\r\n\r\n" + token + b"\r\n"), queue


def test_bad_input_over_the_virtual_stack(vnet, netns, peer, state_dir):
    served = start(vnet, state_dir, timeout=1.5)
    output = python(
        netns,
        f"""
        import socket, time

        def session():
            s = socket.create_connection(("{RELAY}", 25), timeout=30)
            f = s.makefile("rb")
            f.readline()
            return s, f

        s, f = session()
        s.sendall(b"EHLO x.example\\r\\n")
        while not f.readline().startswith(b"250 "):
            pass
        s.sendall(b"MAIL FROM:<a@b.example>\\r\\nRCPT TO:<c@d.example>\\r\\nDATA\\r\\n")
        print(f.readline().decode().strip())
        print(f.readline().decode().strip())
        print(f.readline().decode().strip())
        smuggled = b"x\\n.\\nMAIL FROM:<evil@x.example>\\r\\n"
        s.sendall(b"Subject: s\\r\\n\\r\\n" + smuggled + b".\\r\\n")
        print(f.readline().decode().strip())
        chunk = b"A" * 65536
        for _ in range(160):
            s.sendall(chunk)
        s.sendall(b"\\r\\n")
        print(f.readline().decode().strip())
        s.close()

        s, f = session()
        started = time.monotonic()
        print(f.readline().decode().strip())
        print(round(time.monotonic() - started))
        """,
        timeout=180,
    ).splitlines()
    assert served.stop() == 0

    assert output[0].startswith("250 2.1.0") and output[1].startswith("250 2.1.5")
    assert output[2].startswith("354 ")
    assert output[3].startswith("250 2.0.0")
    assert output[4].startswith("421 4.7.0 relay1.example.test Command too long")
    assert output[5].startswith("451 4.4.1 timeout waiting for input")
    assert int(output[6]) <= 3
    kinds = {a["kind"] for a in served.events("smtp.anomaly")}
    assert {"smuggling", "command-too-long", "bare-lf"} <= kinds
    assert [
        s["reason"] for s in served.events("smtp.session") if s["state"] == "close"
    ][-1] == "timeout"
    assert "Traceback" not in served.stderr(), served.stderr()
