"""smtp-relay and smtp-sink under `vnet serve`, against real clients.

swaks and nmap talk to them on 127.0.0.1; a spammer script and a burst
under SIGKILL check what is delivered and what is kept. The only mail
really delivered goes to an aiosmtpd peer that the test starts on
127.0.0.1, named as the relay's smarthost.
"""

from __future__ import annotations

import contextlib
import signal
import smtplib
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import require_tool
from tests.services.test_smtp_support import (
    FAST,
    Collector,
    free_port,
    messages_in,
    read_events,
    vnet_serve,
    wait_for,
)

RELAY = {**FAST, "hostname": "relay1.example.test"}
SINK = {**FAST, "hostname": "mx.example.test", "domains": ["example.test"]}


@contextlib.contextmanager
def peer() -> Iterator[tuple[int, Collector]]:
    """The test's own destination server (aiosmtpd in a thread)."""
    collector = Collector()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="peer.example",
    )
    controller.start()
    try:
        yield controller.port, collector
    finally:
        controller.stop()


def swaks(port: int, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require_tool("swaks"), "--server", f"127.0.0.1:{port}",
         "--from", "spammer@spammer.example", "--helo", "spammer.example",
         "--timeout", "20", *arguments],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def nmap(port: int, *arguments: str) -> str:
    result = subprocess.run(
        [require_tool("nmap"), "-Pn", "-n", "-sV", "-p", str(port), *arguments,
         "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_swaks_relays_through_the_relay_and_it_is_stored(tmp_path):
    events = tmp_path / "events.jsonl"
    with vnet_serve("smtp-relay", {**RELAY, "dry_run": True}, tmp_path, events) as (
        _,
        port,
    ):
        result = swaks(port, "--to", "victim@elsewhere.example", "--header",
                       "Subject: swaks relayed")  # fmt: skip

    assert result.returncode == 0, result.stdout
    assert "<-  250 2.1.5 <victim@elsewhere.example>... Recipient ok" in result.stdout
    assert "Message accepted for delivery" in result.stdout
    [message] = messages_in(tmp_path / "mail" / "relay")
    assert b"Subject: swaks relayed" in message
    [stored] = read_events(events, "smtp.message.stored")
    assert stored["subject"] == "swaks relayed"
    assert stored["recipients"] == ["victim@elsewhere.example"]


def test_swaks_is_refused_by_the_sink_for_other_domains_and_stored_for_its_own(
    tmp_path,
):
    events = tmp_path / "events.jsonl"
    with vnet_serve("smtp-sink", SINK, tmp_path, events) as (_, port):
        refused = swaks(port, "--to", "victim@elsewhere.example")
        taken = swaks(port, "--to", "trap.1a2b@example.test")

    assert refused.returncode != 0
    assert "550 5.7.1 <victim@elsewhere.example>... Relaying denied" in refused.stdout
    assert taken.returncode == 0, taken.stdout
    [message] = messages_in(tmp_path / "mail" / "sink")
    assert b"X-Original-To: trap.1a2b@example.test\r\n" in message
    assert len(read_events(events, "smtp.message.stored")) == 1


def test_nmap_names_sendmail_and_its_commands(tmp_path):
    options = {**RELAY, "version": "8.14.3/8.14.3"}
    with vnet_serve("smtp-relay", options, tmp_path, tmp_path / "e.jsonl") as (_, port):
        output = nmap(port, "--script", "smtp-commands")

    assert f"{port}/tcp open  smtp    Sendmail 8.14.3/8.14.3" in output
    assert "Host: relay1.example.test" in output
    commands = next(line for line in output.splitlines() if "smtp-commands:" in line)
    extensions = "ENHANCEDSTATUSCODES PIPELINING 8BITMIME SIZE DSN ETRN DELIVERBY HELP"
    for extension in [*extensions.split(), "AUTH LOGIN PLAIN"]:
        assert extension in commands
    assert "This is sendmail version 8.14.3" in output


def test_nmap_finds_the_relay_open_and_the_sink_closed(tmp_path):
    relay_state, sink_state = tmp_path / "relay", tmp_path / "sink"
    relay_options = {**RELAY, "dry_run": True}
    with (
        vnet_serve("smtp-relay", relay_options, relay_state, tmp_path / "r.jsonl") as (
            _,
            relay_port,
        ),
        vnet_serve("smtp-sink", SINK, sink_state, tmp_path / "s.jsonl") as (
            _,
            sink_port,
        ),
    ):
        relay = nmap(relay_port, "--script", "smtp-open-relay")
        sink = nmap(sink_port, "--script", "smtp-open-relay")

    assert "smtp-open-relay: Server is an open relay" in relay
    assert "smtp-open-relay: Server doesn't seem to be an open relay" in sink
    assert messages_in(sink_state / "mail" / "sink") == []


def test_a_spammer_gets_exactly_his_probe_delivered(tmp_path):
    events = tmp_path / "events.jsonl"
    with peer() as (peer_port, collector):
        options = {**RELAY, "smarthost": f"127.0.0.1:{peer_port}"}
        with vnet_serve("smtp-relay", options, tmp_path, events) as (_, port):
            with smtplib.SMTP("127.0.0.1", port, local_hostname="bulk.example") as s:
                s.sendmail("bulk@spammer.example", ["me@spammer-box.example"],
                           b"Subject: relay test\r\n\r\nrelay 1 ok?\r\n")  # fmt: skip
            with smtplib.SMTP("127.0.0.1", port, local_hostname="bulk.example") as s:
                for number in range(100):
                    body = b"Subject: offer %d\r\n\r\nbuy now\r\n" % number
                    s.sendmail(
                        "bulk@spammer.example", [f"v{number}@victims.example"], body
                    )
            assert wait_for(lambda: read_events(events, "smtp.probe.forwarded"))
            wait_for(lambda: len(collector.messages) > 1, timeout=1.0)
            delivered = list(collector.messages)

    assert len(delivered) == 1
    sender, recipients, content = delivered[0]
    assert recipients == ["me@spammer-box.example"]
    assert content.endswith(b"relay 1 ok?\r\n")
    assert len(messages_in(tmp_path / "mail" / "relay")) == 101
    assert len(read_events(events, "smtp.message.stored")) == 101
    held = read_events(events, "smtp.message.held")
    assert len(held) == 100 and {h["reason"] for h in held} == {"not-a-probe"}


def test_every_message_acknowledged_before_sigkill_is_kept_intact(tmp_path):
    events = tmp_path / "events.jsonl"
    acknowledged: list[tuple[str, bytes]] = []
    stop = threading.Event()

    def burst(port: int) -> None:
        client = smtplib.SMTP("127.0.0.1", port, local_hostname="burst.example")
        with contextlib.suppress(smtplib.SMTPException, OSError), client:
            client.ehlo()
            for number in range(500):
                if stop.is_set():
                    break
                token = f"message-{number:03d}-".encode() * 8
                body = b"Subject: burst %d\r\n\r\n" % number + token + b"\r\n"
                client.mail("bulk@spammer.example")
                client.rcpt(f"v{number}@victims.example")
                code, reply = client.data(body)
                if code == 250:
                    acknowledged.append((reply.split()[1].decode(), body))

    options = {**RELAY, "dry_run": True}
    with vnet_serve("smtp-relay", options, tmp_path, events) as (process, port):
        sender = threading.Thread(target=burst, args=(port,))
        sender.start()
        assert wait_for(lambda: len(acknowledged) >= 150, timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        stop.set()
        sender.join(30)

    assert process.returncode == -signal.SIGKILL
    assert 150 <= len(acknowledged) < 500
    kept = {}
    for message in messages_in(tmp_path / "mail" / "relay"):
        queue = message.split(b"X-Vnet-Queue-Id: ", 1)[1].split(b"\r\n", 1)[0]
        kept[queue.decode()] = message
    for queue, body in acknowledged:
        assert queue in kept, queue
        assert kept[queue].endswith(body)


@pytest.mark.parametrize("service", ["smtp-relay", "smtp-sink"])
def test_bad_options_are_refused_with_exit_2(service):
    result = subprocess.run(
        [sys.executable, "-m", "vnet", "serve", service,
         "--options", '{"max_recipients": 0}'],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "max_recipients" in result.stderr and "Traceback" not in result.stderr
