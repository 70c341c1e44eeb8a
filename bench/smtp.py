"""Durable messages per second into the open relay, virtual stack and socket.

One SMTP client sends 200 messages, 20 per connection, to `smtp-relay`:
once through vnet's TCP in a namespace, once to the same service in socket
mode on the kernel's TCP. Every message is in the Maildir and fsync'd
before its 250, so the figure is what a spam run can push into the relay.
"""

from __future__ import annotations

import sys

from bench.common import (
    LOAD_CPU,
    Namespace,
    pinned,
    progress,
    socket_mode,
    start_vnet,
    stopped_summary,
    workdir,
)

TARGET = "192.0.2.25"
MESSAGES = 200
PER_CONNECTION = 20
OPTIONS = "{greeting_delay: [0, 0], probe: {first_per_source: false}}"

TOPOLOGY = f"""
version: 1
attach: {{tap: vnet0, host_address: 192.0.2.254/24}}
templates:
  relay:
    ports:
      tcp/25: {{service: smtp-relay, options: {OPTIONS}}}
hosts:
  - {{address: {TARGET}, name: relay.example.test, template: relay}}
"""

CLIENT = """
import smtplib, sys, time
host, port = sys.argv[1], int(sys.argv[2])
total, each = int(sys.argv[3]), int(sys.argv[4])
body = "Subject: offer\\n\\n" + "Buy now. " * 200
started = time.monotonic()
sent = 0
while sent < total:
    with smtplib.SMTP(host, port, timeout=30) as client:
        for _ in range(min(each, total - sent)):
            client.sendmail("spammer@spammer.example", ["victim@example.test"], body)
            sent += 1
print(sent / (time.monotonic() - started))
"""


def send(namespace: Namespace, host: str, port: int) -> float:
    result = namespace.run(
        *pinned(LOAD_CPU, sys.executable, "-c", CLIENT, host, str(port),
                str(MESSAGES), str(PER_CONNECTION)),
        timeout=600,
    )  # fmt: skip
    return float(result.stdout.strip())


def socket_mode_rate(namespace: Namespace) -> float:
    arguments = ("--options", OPTIONS, "--state-dir", str(workdir()))
    with socket_mode(namespace, "smtp-relay", "127.0.0.1:2525", *arguments):
        return send(namespace, "127.0.0.1", 2525)


def run() -> dict:
    namespace = Namespace.create("vnet-bench")
    try:
        progress("durable messages/s into smtp-relay in socket mode")
        kernel = socket_mode_rate(namespace)
        progress("durable messages/s into smtp-relay through vnet's TCP")
        process = start_vnet(namespace, TOPOLOGY, workdir())
        virtual = send(namespace, TARGET, 25)
        stopped_summary(process)
        stored = sum(1 for event in process.events("smtp.message.stored"))
    finally:
        namespace.delete()
    if stored != MESSAGES:
        raise RuntimeError(f"{stored} of {MESSAGES} messages were stored")
    return {
        "smtp_messages_per_s_socket_mode": round(kernel, 1),
        "smtp_messages_per_s_virtual": round(virtual, 1),
        "smtp_messages_virtual_to_socket_ratio": round(virtual / kernel, 3),
    }
