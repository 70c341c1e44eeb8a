"""The relay delivers the spammer's probe and nothing else; the proxy hand-off.

Probes are delivered only to an aiosmtpd peer that the test starts on
127.0.0.1, through the `smarthost` or `routes` options.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from services.mail.handoff import Handoff, handing_off
from services.smtp_relay import SmtpRelay
from tests.services.test_smtp_support import (
    FAST,
    Client,
    Recorder,
    messages_in,
    peer_server,
    serving,
)
from vnet.service import pipe
from vnet.service.api import ConnectionContext, Environment, HostInfo


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, 60))


async def settle(recorder: Recorder, event_id: str, count: int) -> None:
    for _ in range(200):
        if len(recorder.of(event_id)) >= count:
            return
        await asyncio.sleep(0.02)


def test_only_the_first_message_from_a_source_is_delivered(tmp_path):
    async def scenario():
        async with peer_server() as (peer_port, collector):
            options = {**FAST, "smarthost": f"127.0.0.1:{peer_port}"}
            async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
                client = await Client.connect(port)
                await client.command("EHLO spammer.example")
                probe = b"Subject: test 198.51.100.25\r\n\r\nrelay works?"
                await client.message(
                    "me@spammer.example", ["me@drop.example"], probe, helo=False
                )
                for number in range(3):
                    body = b"Subject: offer %d\r\n\r\nbuy" % number
                    await client.message(
                        "me@spammer.example", ["v@victims.example"], body, helo=False
                    )
                await client.close()
                await settle(recorder, "smtp.probe.forwarded", 1)
                return collector.messages, recorder

    delivered, recorder = run(scenario())
    assert len(delivered) == 1
    sender, recipients, content = delivered[0]
    assert (sender, recipients) == ("me@spammer.example", ["me@drop.example"])
    assert content.startswith(b"Received: from spammer.example ([127.0.0.1])\r\n")
    assert b"X-Vnet" not in content and content.endswith(b"relay works?\r\n")
    [forwarded] = recorder.of("smtp.probe.forwarded")
    assert forwarded["reasons"] == ["first-from-source"]
    assert forwarded["accepted"] == ["me@drop.example"]
    held = recorder.of("smtp.message.held")
    assert [h["reason"] for h in held] == ["not-a-probe"] * 3
    assert len(messages_in(tmp_path / "mail" / "relay")) == 4


def test_dry_run_cap_allow_list_and_reserved_domains_hold_probes(tmp_path):
    async def one_probe(options, recipient, state):
        async with peer_server() as (peer_port, collector):
            options = {**FAST, **options}
            if options.pop("use_peer", False):
                options["smarthost"] = f"127.0.0.1:{peer_port}"
            async with serving(SmtpRelay, options, state) as (port, recorder):
                client = await Client.connect(port)
                await client.message("me@spammer.example", [recipient], b"probe")
                await client.close()
                await asyncio.sleep(0.1)
                return collector.messages, recorder

    dry, recorder = run(
        one_probe({"use_peer": True, "dry_run": True}, "a@b.example", tmp_path / "1")
    )
    assert dry == [] and recorder.of("smtp.probe.forwarded")[0]["dry_run"] is True

    capped, recorder = run(
        one_probe({"use_peer": True, "daily_cap": 0}, "a@b.example", tmp_path / "2")
    )
    assert capped == [] and recorder.of("smtp.message.held")[0]["reason"] == "daily-cap"

    allow = {"use_peer": True, "allow": ["*.allowed.example"]}
    refused, recorder = run(one_probe(allow, "a@b.example", tmp_path / "3"))
    assert (
        refused == [] and recorder.of("smtp.message.held")[0]["reason"] == "not-allowed"
    )
    allowed, _ = run(one_probe(allow, "a@mx.allowed.example", tmp_path / "4"))
    assert len(allowed) == 1

    reserved, recorder = run(one_probe({}, "me@spammer.example", tmp_path / "5"))
    assert reserved == []
    assert recorder.of("smtp.message.held")[0]["reason"] == "reserved-domain"


def test_a_restart_remembers_sources_already_seen(tmp_path):
    async def send_one(peer_port):
        options = {**FAST, "smarthost": f"127.0.0.1:{peer_port}"}
        async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.message("me@spammer.example", ["me@drop.example"], b"probe")
            await client.close()
            await asyncio.sleep(0.1)
            return recorder

    async def scenario():
        async with peer_server() as (peer_port, collector):
            first = await send_one(peer_port)
            second = await send_one(peer_port)
            return collector.messages, first, second

    delivered, first, second = run(scenario())
    assert len(delivered) == 1
    assert len(first.of("smtp.probe.forwarded")) == 1
    assert second.of("smtp.message.held")[0]["reason"] == "not-a-probe"


def test_optional_probe_rules_relay_address_and_header(tmp_path):
    async def scenario():
        async with peer_server() as (peer_port, collector):
            options = {
                **FAST,
                "routes": {"drop.example": f"127.0.0.1:{peer_port}"},
                "probe": {
                    "first_per_source": False,
                    "relay_address": True,
                    "headers": ["X-Proxy-Spec"],
                },
            }
            async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
                client = await Client.connect(port)
                await client.command("EHLO s.example")
                bodies = [
                    b"Subject: plain spam\r\n\r\nbuy now",
                    b"Subject: check\r\n\r\nrelay 7F000001 ok",
                    b"X-Proxy-Spec: 198.51.100.20:3128\r\n\r\nproxy test",
                ]
                for body in bodies:
                    await client.message(
                        "s@s.example", ["box@drop.example"], body, helo=False
                    )
                await client.close()
                await settle(recorder, "smtp.probe.forwarded", 2)
                return collector.messages, recorder

    delivered, recorder = run(scenario())
    assert [m[2].endswith(b"7F000001 ok\r\n") for m in delivered].count(True) == 1
    assert len(delivered) == 2
    reasons = sorted(r["reasons"][0] for r in recorder.of("smtp.probe.forwarded"))
    assert reasons == ["probe-header", "relay-address"]


def test_a_failed_delivery_is_recorded(tmp_path):
    from tests.services.test_smtp_support import free_port

    async def scenario():
        options = {
            **FAST,
            "smarthost": f"127.0.0.1:{free_port()}",
            "forward_timeout": 5,
        }
        async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.message("me@spammer.example", ["me@drop.example"], b"probe")
            await client.close()
            await settle(recorder, "smtp.probe.failed", 1)
            return recorder

    recorder = run(scenario())
    [failed] = recorder.of("smtp.probe.failed")
    assert "127.0.0.1" in failed["error"]


# --- the proxy hand-off ----------------------------------------------------------


def relay_context(service: SmtpRelay, environment: Environment) -> ConnectionContext:
    """What the engine's open_connection makes for the relay's side."""
    return ConnectionContext(
        service=service.name,
        host=HostInfo("198.51.100.25", "relay1.example.test", "Linux 3.2 - 4.9"),
        peer=("127.0.0.1", 0),
        local=("198.51.100.25", 25),
        options=service.options,
        environment=environment,
    )


def test_a_handed_off_session_greets_as_the_requested_host(tmp_path):
    topology = SimpleNamespace(
        trap_domains=(),
        hosts=(
            SimpleNamespace(
                name="proxy1.example.test", first=0xC6336414, last=0xC6336414
            ),
        ),
    )

    async def scenario():
        recorder = Recorder()
        environment = Environment(events=recorder, state_dir=str(tmp_path))
        environment.topology = topology
        options = {
            **FAST,
            "dry_run": True,
            "routes": {"victims.example": "127.0.0.1:9"},
        }
        relay = SmtpRelay(options, environment)
        handoff = Handoff(
            greeting_name="mx.example.test",
            proxy_connection="0001-000042",
            client=("203.0.113.99", 40000),
            via=("198.51.100.20", 3128),
        )
        with handing_off(handoff):
            protocol = relay.protocol(relay_context(relay, environment))
        plain = relay.protocol(relay_context(relay, environment))
        loop = asyncio.get_running_loop()
        reader, writer = pipe.connect(
            loop, protocol, ("127.0.0.1", 0), ("198.51.100.25", 25)
        )
        client = Client(reader, writer)
        banner = await client.reply()
        ehlo = await client.command("EHLO spammer.example")
        final = await client.message(
            "me@spammer.example", ["v@victims.example"], b"x", helo=False
        )
        await client.first("QUIT")
        await asyncio.sleep(0.05)
        relay.close()
        return banner, ehlo, final, recorder, plain

    banner, ehlo, final, recorder, plain = run(scenario())
    assert banner[0].startswith(
        "220 mx.example.test ESMTP Sendmail 8.14.4/8.14.4/Debian-4; "
    )
    assert ehlo[0] == (
        "250-mx.example.test Hello proxy1.example.test [198.51.100.20], "
        "pleased to meet you"
    )
    assert final.startswith("250 2.0.0")
    assert plain.setup.dialect.hostname == "relay1.example.test"

    stored = recorder.of("smtp.message.stored")[0]
    assert stored["connection"] == "0001-000042"
    assert stored["peer"] == "203.0.113.99" and stored["peer_port"] == 40000
    opened = recorder.of("smtp.session")[0]
    assert opened["relay_connection"] != "0001-000042"
    assert opened["greeting_name"] == "mx.example.test"
    assert opened["proxy"] == "198.51.100.20:3128"
    # The probe rule counts the proxy's client as the source.
    assert recorder.of("smtp.probe.forwarded")[0]["reasons"] == ["first-from-source"]
    [message] = messages_in(tmp_path / "mail" / "relay")
    assert b"X-Vnet-Client: 203.0.113.99:40000" in message
    assert b"Received: from spammer.example ([198.51.100.20])" in message
