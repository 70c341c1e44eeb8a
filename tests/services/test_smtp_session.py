"""The sendmail dialogue of smtp-relay and smtp-sink, over 127.0.0.1.

Each test runs the service in its own event loop (socket mode, in-process)
and talks to it line by line, as a scanner or a spammer's tool would.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from types import SimpleNamespace

import pytest

from services.smtp_relay import SmtpRelay
from services.smtp_sink import SmtpSink
from tests.services.test_smtp_support import (
    FAST,
    Client,
    messages_in,
    serving,
)

GREETING = re.compile(
    r"^220 (?P<host>\S+) ESMTP Sendmail (?P<version>8\.\d+\.\d+/8\.\d+\.\d+\S*); "
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} "
    r"\d\d:\d\d:\d\d [+-]\d{4}$"
)
RELAY = {**FAST, "dry_run": True, "hostname": "relay1.example.test"}
SINK = {**FAST, "domains": ["example.test"], "hostname": "mx.example.test"}


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, 60))


# --- greeting and EHLO ---------------------------------------------------------


def test_greeting_names_sendmail_with_version_and_date(tmp_path):
    async def scenario():
        options = {**RELAY, "version": "8.14.3/8.14.3/Debian-9.4"}
        async with serving(SmtpRelay, options, tmp_path) as (port, _):
            client = await Client.connect(port, greet=False)
            banner = await client.reply()
            await client.close()
            return banner

    banner = run(scenario())
    assert len(banner) == 1
    match = GREETING.match(banner[0])
    assert match, banner
    assert match["host"] == "relay1.example.test"
    assert match["version"] == "8.14.3/8.14.3/Debian-9.4"


def test_greeting_waits_a_random_moment(tmp_path):
    async def scenario():
        options = {**RELAY, "greeting_delay": [0.25, 0.35]}
        async with serving(SmtpRelay, options, tmp_path) as (port, _):
            waits = []
            for _ in range(3):
                started = time.monotonic()
                client = await Client.connect(port)
                waits.append(time.monotonic() - started)
                await client.close()
            return waits

    waits = run(scenario())
    assert all(0.24 <= wait < 1.0 for wait in waits), waits


def test_ehlo_lists_sendmails_extensions_in_its_order(tmp_path):
    async def scenario():
        options = {**RELAY, "auth": ["LOGIN", "PLAIN"], "max_message_size": 20000000}
        async with serving(SmtpRelay, options, tmp_path) as (port, _):
            client = await Client.connect(port)
            lines = await client.command("EHLO spammer.example")
            await client.close()
            return lines

    lines = run(scenario())
    assert lines[0] == "250-relay1.example.test Hello [127.0.0.1], pleased to meet you"
    assert [line[4:] for line in lines[1:]] == [
        "ENHANCEDSTATUSCODES",
        "PIPELINING",
        "8BITMIME",
        "SIZE 20000000",
        "DSN",
        "ETRN",
        "AUTH LOGIN PLAIN",
        "DELIVERBY",
        "HELP",
    ]
    assert lines[-1].startswith("250 ") and all(x[3] == "-" for x in lines[:-1])


def test_small_commands_answer_as_sendmail(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, _):
            client = await Client.connect(port)
            replies = {
                "HELO": await client.first("HELO spammer.example"),
                "NOOP": await client.first("NOOP"),
                "RSET": await client.first("RSET"),
                "VRFY": await client.first("VRFY root"),
                "EXPN": await client.first("EXPN staff"),
                "ETRN": await client.first("ETRN example.test"),
                "VERB": await client.first("VERB"),
                "TURN": await client.first("TURN"),
                "HELP": await client.command("HELP"),
                "HELP RCPT": await client.command("HELP RCPT"),
                "QUIT": await client.first("QUIT"),
            }
            await client.close()
            return replies

    replies = run(scenario())
    assert replies["HELO"] == (
        "250 relay1.example.test Hello [127.0.0.1], pleased to meet you"
    )
    assert replies["NOOP"] == "250 2.0.0 OK"
    assert replies["RSET"] == "250 2.0.0 Reset state"
    assert replies["VRFY"].startswith("252 2.5.2 Cannot VRFY user")
    assert replies["EXPN"] == "502 5.7.0 Sorry, we do not allow this operation"
    assert replies["ETRN"] == "250 2.0.0 Queuing for node example.test started"
    assert replies["VERB"] == "502 5.7.0 Verbose unavailable"
    assert replies["TURN"] == '502 5.5.1 Command not implemented: "TURN"'
    assert replies["HELP"][0] == "214-2.0.0 This is sendmail version 8.14.4"
    assert replies["HELP"][-1] == "214 2.0.0 End of HELP info"
    assert replies["HELP RCPT"][0] == "214-2.0.0 RCPT To:<recipient> [ <parameters> ]"
    assert replies["QUIT"] == "221 2.0.0 relay1.example.test closing connection"


def test_the_version_follows_the_personality_when_not_given(tmp_path):
    from services.mail.dialect import version_for

    assert version_for("OpenBSD 4.3").startswith("8.14")
    assert version_for("FreeBSD 6.2-RELEASE") == "8.13.8/8.13.8"
    assert version_for("Linux 3.2 - 4.9").endswith("/Debian-4")
    assert version_for(None) == "8.14.4/8.14.4"


# --- relaying, refusing, storing -----------------------------------------------


def test_relay_accepts_any_recipient_and_stores_before_250(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("EHLO spammer.example")
            sender = await client.first("MAIL FROM:<boss@spammer.example> SIZE=100")
            rcpt = await client.first("RCPT TO:<anyone@elsewhere.example>")
            rcpt2 = await client.first("RCPT TO:<victim@example.test> NOTIFY=NEVER")
            await client.first("DATA")
            await client.send(
                b"Subject: Cheap pills\r\nMessage-ID: <1@x>\r\n\r\nbuy\r\n.\r\n"
            )
            final = (await client.reply())[0]
            stored_now = messages_in(tmp_path / "mail" / "relay")
            await client.first("QUIT")
            await client.close()
            return sender, rcpt, rcpt2, final, stored_now, recorder

    sender, rcpt, rcpt2, final, stored, recorder = run(scenario())
    assert sender == "250 2.1.0 <boss@spammer.example>... Sender ok"
    assert rcpt == "250 2.1.5 <anyone@elsewhere.example>... Recipient ok"
    assert rcpt2 == "250 2.1.5 <victim@example.test>... Recipient ok"
    assert re.fullmatch(r"250 2\.0\.0 \w{14} Message accepted for delivery", final)
    assert len(stored) == 1
    message = stored[0]
    queue = final.split()[2]
    assert b"Return-Path: <boss@spammer.example>" in message
    assert f"X-Vnet-Queue-Id: {queue}".encode() in message
    assert b"X-Vnet-Helo: spammer.example" in message
    assert b"X-Vnet-Envelope-To: <anyone@elsewhere.example>" in message
    assert b"Received: from spammer.example ([127.0.0.1])" in message
    assert message.endswith(b"Subject: Cheap pills\r\nMessage-ID: <1@x>\r\n\r\nbuy\r\n")

    [record] = recorder.of("smtp.message.stored")
    assert record["queue_id"] == queue
    assert record["subject"] == "Cheap pills"
    assert record["message_id"] == "<1@x>"
    assert record["sender"] == "boss@spammer.example"
    assert record["recipients"] == ["anyone@elsewhere.example", "victim@example.test"]
    assert record["size"] == len(
        b"Subject: Cheap pills\r\nMessage-ID: <1@x>\r\n\r\nbuy\r\n"
    )
    assert record["path"].startswith(str(tmp_path / "mail" / "relay" / "new"))
    connection = record["connection"]
    assert f"X-Vnet-Connection: {connection}".encode() in message


def test_every_command_and_reply_is_recorded_with_the_session(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.message("a@spammer.example", ["b@example.test"], b"hi")
            await client.first("QUIT")
            await client.closed()
            await asyncio.sleep(0.05)
            return recorder

    recorder = run(scenario())
    sessions = recorder.of("smtp.session")
    assert [s["state"] for s in sessions] == ["open", "close"]
    assert GREETING.match(sessions[0]["banner"])
    assert sessions[1]["reason"] == "quit" and sessions[1]["messages"] == 1
    commands = recorder.of("smtp.command")
    assert [c["command"] for c in commands] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    data = commands[3]
    assert data["reply"][0].startswith("354 ") and data["reply"][1].startswith("250 ")
    assert {c["connection"] for c in commands} == {sessions[0]["connection"]}


def test_sink_takes_its_domains_and_denies_relaying(tmp_path):
    async def scenario():
        async with serving(SmtpSink, SINK, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("EHLO spammer.example")
            await client.first("MAIL FROM:<x@spammer.example>")
            denied = await client.first("RCPT TO:<someone@elsewhere.example>")
            ok = await client.first("RCPT TO:<trap.4711@EXAMPLE.test>")
            local = await client.first("RCPT TO:<root>")
            postmaster = await client.first("RCPT TO:<Postmaster>")
            await client.first("DATA")
            await client.send(b"Subject: x\r\n\r\nspam\r\n.\r\n")
            final = (await client.reply())[0]
            await client.close()
            return denied, ok, local, postmaster, final, recorder

    denied, ok, local, postmaster, final, recorder = run(scenario())
    assert denied == "550 5.7.1 <someone@elsewhere.example>... Relaying denied"
    assert ok == "250 2.1.5 <trap.4711@EXAMPLE.test>... Recipient ok"
    assert local == "550 5.1.1 <root>... User unknown"
    assert postmaster == "250 2.1.5 <Postmaster>... Recipient ok"
    assert final.startswith("250 2.0.0 ")
    [message] = messages_in(tmp_path / "mail" / "sink")
    assert b"X-Original-To: trap.4711@EXAMPLE.test\r\n" in message
    assert b"X-Original-To: Postmaster\r\n" in message
    assert recorder.of("smtp.message.stored")[0]["recipients"] == [
        "trap.4711@EXAMPLE.test",
        "Postmaster",
    ]


def test_sink_domains_default_to_the_topologys_trap_domains(tmp_path):
    topology = SimpleNamespace(trap_domains=("mail.example.test",), hosts=())

    async def scenario():
        async with serving(SmtpSink, FAST, tmp_path, topology) as (port, _):
            client = await Client.connect(port)
            await client.command("HELO spammer.example")
            await client.first("MAIL FROM:<x@spammer.example>")
            ok = await client.first("RCPT TO:<a@mail.example.test>")
            denied = await client.first("RCPT TO:<a@example.test>")
            await client.close()
            return ok, denied

    ok, denied = run(scenario())
    assert ok.startswith("250 2.1.5")
    assert denied.startswith("550 5.7.1")


def test_sink_without_domains_refuses_to_start(tmp_path):
    from vnet.service.api import Environment, ServiceError

    with pytest.raises(ServiceError, match="no domains"):
        SmtpSink({}, Environment(state_dir=str(tmp_path)))


def test_null_sender_and_dsn_parameters_are_accepted(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, _):
            client = await Client.connect(port)
            await client.command("EHLO bounce.example")
            null = await client.first(
                "MAIL FROM:<> RET=HDRS ENVID=QQ314159 BODY=8BITMIME"
            )
            rcpt = await client.first(
                "RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.example"
            )
            await client.close()
            return null, rcpt

    null, rcpt = run(scenario())
    assert null == "250 2.1.0 <>... Sender ok"
    assert rcpt == "250 2.1.5 <a@b.example>... Recipient ok"


# --- bad input -----------------------------------------------------------------


def test_commands_out_of_order_each_get_their_own_error(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, _):
            client = await Client.connect(port)
            replies = [
                await client.first("MAIL FROM:<a@b.example>"),
                await client.first("RCPT TO:<c@d.example>"),
                await client.first("DATA"),
                await client.first("HELO x.example"),
                await client.first("MAIL"),
                await client.first("MAIL FROM:<a@b.example>"),
                await client.first("MAIL FROM:<a@b.example>"),
                await client.first("DATA"),
                await client.first("RCPT TO:<>"),
                await client.first("RCPT TO:<c@d.example> FOO=1"),
                await client.first("RCPT TO:<c@d.example"),
                await client.first("HELO"),
                await client.first(""),
            ]
            await client.close()
            return replies

    replies = run(scenario())
    assert replies[0] == "503 5.0.0 Polite people say HELO first"
    assert replies[1] == "503 5.0.0 Need MAIL before RCPT"
    assert replies[2] == "503 5.0.0 Need MAIL command"
    assert replies[3].startswith("250 ")
    assert replies[4] == '501 5.5.2 Syntax error in parameters scanning ""'
    assert replies[5].startswith("250 2.1.0")
    assert replies[6] == "503 5.5.0 Sender already specified"
    assert replies[7] == "503 5.0.0 Need RCPT (recipient)"
    assert replies[8] == "553 5.0.0 <>... User address required"
    assert replies[9] == "555 5.5.4 FOO parameter unrecognized"
    assert replies[10] == "553 5.0.0 <c@d.example... Unbalanced '<'"
    assert replies[11] == "501 5.0.0 HELO requires domain address"
    assert replies[12] == '500 5.5.1 Command unrecognized: ""'
    errors = [r for r in replies if not r.startswith("250")]
    assert len(set(errors)) == len(errors)


def test_a_10_megabyte_line_ends_the_session_with_bounded_memory(tmp_path):
    import tracemalloc

    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            tracemalloc.start()
            chunk = b"A" * 65536
            for _ in range(160):
                client.writer.write(chunk)
                await client.writer.drain()
            await client.send(b"\r\n")
            reply = await client.reply()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            closed = await client.closed()
            again = await Client.connect(port)
            alive = await again.first("NOOP")
            await again.close()
            return reply, peak, closed, alive, recorder

    reply, peak, closed, alive, recorder = run(scenario())
    assert reply == [
        "421 4.7.0 relay1.example.test Command too long, possible attack [127.0.0.1]"
    ]
    assert closed
    assert peak < 2 * 1024 * 1024, peak
    assert alive == "250 2.0.0 OK"
    [anomaly] = [a for a in recorder.of("smtp.anomaly") if a["kind"] != "bare-lf"]
    assert anomaly["kind"] == "command-too-long" and anomaly["length"] > 10_000_000


def test_nul_bytes_in_a_command_are_unrecognized_and_kept_in_data(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("EHLO x.example")
            await client.send(b"MAIL\0FROM:<a@b.example>\r\n")
            bad = (await client.reply())[0]
            final = await client.message(
                "a@b.example",
                ["c@d.example"],
                b"Subject: n\r\n\r\nnul\0here",
                helo=False,
            )
            await client.close()
            return bad, final, recorder

    bad, final, recorder = run(scenario())
    assert bad == '500 5.5.1 Command unrecognized: "MAIL^@FROM:<a@b.example>"'
    assert final.startswith("250 2.0.0")
    [message] = messages_in(tmp_path / "mail" / "relay")
    assert message.endswith(b"nul\0here\r\n")
    assert "nul" in recorder.kinds()


def test_bare_lf_is_accepted_as_sendmail_does_and_recorded(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.send(b"EHLO lf.example\n")
            ehlo = await client.reply()
            await client.send(b"MAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\n")
            mail, rcpt = (await client.reply())[0], (await client.reply())[0]
            await client.send(b"DATA\n")
            await client.reply()
            await client.send(b"Subject: lf\r\n\r\none\ntwo\r\n.\r\n")
            final = (await client.reply())[0]
            await client.close()
            return ehlo, mail, rcpt, final, recorder

    ehlo, mail, rcpt, final, recorder = run(scenario())
    assert ehlo[-1] == "250 HELP" and mail.startswith("250") and rcpt.startswith("250")
    assert final.startswith("250 2.0.0")
    [message] = messages_in(tmp_path / "mail" / "relay")
    assert message.endswith(b"\r\n\r\none\ntwo\r\n")
    assert "bare-lf" in recorder.kinds()


def test_a_thousand_recipients_get_452_past_the_limit(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("EHLO x.example")
            await client.first("MAIL FROM:<a@b.example>")
            burst = b"".join(
                b"RCPT TO:<r%d@victims.example>\r\n" % i for i in range(1000)
            )
            await client.send(burst)
            replies = [(await client.reply())[0] for _ in range(1000)]
            await client.first("DATA")
            await client.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
            final = (await client.reply())[0]
            await client.close()
            return replies, final, recorder

    replies, final, recorder = run(scenario())
    assert all(r.startswith("250 2.1.5") for r in replies[:100])
    assert set(replies[100:]) == {"452 4.5.3 Too many recipients"}
    assert final.startswith("250 2.0.0")
    [stored] = recorder.of("smtp.message.stored")
    assert len(stored["recipients"]) == 100
    rcpts = [c for c in recorder.of("smtp.command") if c["command"] == "RCPT"]
    assert len(rcpts) == 1000


def test_a_message_over_size_is_refused_and_not_stored(tmp_path):
    async def scenario():
        options = {**RELAY, "max_message_size": 4096}
        async with serving(SmtpRelay, options, tmp_path) as (port, _):
            client = await Client.connect(port)
            await client.command("EHLO x.example")
            declared = await client.first("MAIL FROM:<a@b.example> SIZE=5000")
            await client.first("MAIL FROM:<a@b.example>")
            await client.first("RCPT TO:<c@d.example>")
            await client.first("DATA")
            await client.send(
                b"Subject: big\r\n\r\n"
                + b"x" * 70
                + b"\r\n" * 1
                + (b"y" * 78 + b"\r\n") * 100
            )
            await client.send(b".\r\n")
            final = (await client.reply())[0]
            after = await client.first("NOOP")
            await client.close()
            return declared, final, after

    declared, final, after = run(scenario())
    expected = "552 5.2.3 Message size exceeds fixed maximum message size (4096)"
    assert declared == expected
    assert final == expected
    assert after == "250 2.0.0 OK"
    assert messages_in(tmp_path / "mail" / "relay") == []


def test_pipelined_bursts_are_answered_in_order_and_abuse_recorded(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("HELO x.example")
            cycle = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRSET\r\n"
            await client.send(cycle * 300)
            replies = [(await client.reply())[0] for _ in range(900)]
            await client.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n")
            await client.reply(), await client.reply()
            await client.send(b"DATA\r\nSubject: eager\r\n\r\nx\r\n.\r\n")
            data = [(await client.reply())[0], (await client.reply())[0]]
            await client.close()
            return replies, data, recorder

    replies, data, recorder = run(scenario())
    assert data[0].startswith("354 ") and data[1].startswith("250 2.0.0")
    assert {"pipelining-without-ehlo", "pipelining-past-data"} <= recorder.kinds()
    assert len(recorder.of("smtp.anomaly")) == 2
    assert replies[0::3] == ["250 2.1.0 <a@b.example>... Sender ok"] * 300
    assert replies[1::3] == ["250 2.1.5 <c@d.example>... Recipient ok"] * 300
    assert replies[2::3] == ["250 2.0.0 Reset state"] * 300


def test_talking_before_the_greeting_is_recorded_or_refused(tmp_path):
    async def scenario(refuse: bool):
        options = {
            **RELAY,
            "greeting_delay": [0.3, 0.3],
            "reject_early_talkers": refuse,
        }
        async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
            client = await Client.connect(port, greet=False)
            await client.send(b"EHLO early.example\r\n")
            banner = await client.reply()
            ehlo = await client.reply()
            mail = await client.first("MAIL FROM:<a@b.example>")
            await client.close()
            return banner[0], ehlo, mail, recorder

    banner, _, mail, recorder = run(scenario(refuse=False))
    assert banner.startswith("220 ") and mail.startswith("250 2.1.0")
    assert "early-talker" in recorder.kinds()

    banner, ehlo, mail, recorder = run(scenario(refuse=True))
    assert banner == "554 relay1.example.test ESMTP not accepting messages"
    assert ehlo[-1].startswith("250 ")
    assert mail == "550 5.0.0 Command rejected"


def test_a_silent_client_is_timed_out_and_recorded(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, {**RELAY, "timeout": 0.5}, tmp_path) as (
            port,
            recorder,
        ):
            client = await Client.connect(port)
            started = time.monotonic()
            reply = await client.reply()
            closed = await client.closed()
            await asyncio.sleep(0.05)
            return reply, closed, time.monotonic() - started, recorder

    reply, closed, waited, recorder = run(scenario())
    assert reply == [
        "451 4.4.1 timeout waiting for input from [127.0.0.1] during server cmd read"
    ]
    assert closed and waited < 3
    assert recorder.of("smtp.session")[-1]["reason"] == "timeout"


@pytest.mark.parametrize("sequence", [b"\n.\n", b"\r.\n", b"\r\n.\n", b"\n.\r\n"])
def test_smtp_smuggling_is_one_message_and_recorded(tmp_path, sequence):
    smuggled = (
        b"MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@example.test>\r\n"
        b"DATA\r\nSubject: smuggled\r\n\r\nsecond\r\n"
    )

    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("EHLO x.example")
            await client.first("MAIL FROM:<a@b.example>")
            await client.first("RCPT TO:<c@d.example>")
            await client.first("DATA")
            await client.send(b"Subject: first\r\n\r\nfirst" + sequence + smuggled)
            await client.send(b".\r\n")
            final = await client.reply()
            after = await client.first("NOOP")
            await client.close()
            return final, after, recorder

    final, after, recorder = run(scenario())
    assert len(final) == 1 and final[0].startswith("250 2.0.0")
    assert after == "250 2.0.0 OK"
    [message] = messages_in(tmp_path / "mail" / "relay")
    assert b"MAIL FROM:<ceo@bank.example>" in message
    assert b"X-Vnet-Smuggling: 1" in message
    found = [a for a in recorder.of("smtp.anomaly") if a["kind"] == "smuggling"]
    assert [a["sequence"].encode("latin-1") for a in found] == [sequence]
    assert len(recorder.of("smtp.message.stored")) == 1


def test_http_spoken_first_is_an_open_proxy_probe(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            reply = await client.first("GET / HTTP/1.0")
            closed = await client.closed()
            return reply, closed, recorder

    reply, closed, recorder = run(scenario())
    assert reply == "421 4.7.0 relay1.example.test Rejecting open proxy [127.0.0.1]"
    assert closed and "http-command" in recorder.kinds()


def test_too_many_unknown_commands_end_the_session(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, _):
            client = await Client.connect(port)
            await client.send(b"XYZZY\r\n" * 26)
            replies = [(await client.reply())[0] for _ in range(26)]
            closed = await client.closed()
            return replies, closed

    replies, closed = run(scenario())
    assert replies[:25] == ['500 5.5.1 Command unrecognized: "XYZZY"'] * 25
    assert replies[25] == (
        "421 4.7.0 relay1.example.test Too many bad commands; closing connection"
    )
    assert closed


def test_repeated_noops_are_tarpitted(tmp_path):
    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            started = time.monotonic()
            for _ in range(19):
                await client.first("NOOP")
            quick = time.monotonic() - started
            started = time.monotonic()
            await client.first("NOOP")
            slow = time.monotonic() - started
            await client.close()
            return quick, slow, recorder

    quick, slow, recorder = run(scenario())
    assert quick < 1.0 and slow >= 1.5
    assert "possible-attack" in recorder.kinds()


# --- AUTH and STARTTLS ---------------------------------------------------------


def test_auth_credentials_are_recorded_but_never_logged(tmp_path, caplog):
    secret = "hunter2-" + "x" * 8
    plain = base64.b64encode(b"\0spammer\0" + secret.encode()).decode()
    login_user = base64.b64encode(b"bulk").decode()
    login_pass = base64.b64encode(b"s3cret-login").decode()

    async def scenario():
        async with serving(SmtpRelay, RELAY, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            await client.command("EHLO x.example")
            plain_reply = await client.first(f"AUTH PLAIN {plain}")
            again = await client.first("AUTH LOGIN")
            await client.close()

            client = await Client.connect(port)
            await client.command("EHLO x.example")
            challenges = [await client.first("AUTH LOGIN")]
            challenges.append(await client.first(login_user))
            done = await client.first(login_pass)
            await client.close()
            return plain_reply, again, challenges, done, recorder

    with caplog.at_level(logging.DEBUG):
        plain_reply, again, challenges, done, recorder = run(scenario())
    assert plain_reply == "235 2.0.0 OK Authenticated"
    assert again == "503 5.5.0 Already Authenticated"
    assert challenges == ["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"]
    assert done == "235 2.0.0 OK Authenticated"
    auths = recorder.of("smtp.auth")
    assert [(a["mechanism"], a["username"], a["password"]) for a in auths] == [
        ("PLAIN", "spammer", secret),
        ("LOGIN", "bulk", "s3cret-login"),
    ]
    logged = caplog.text
    assert secret not in logged and "s3cret-login" not in logged
    assert plain not in logged and login_pass not in logged


def test_auth_can_refuse_and_is_absent_from_the_sink_by_default(tmp_path):
    async def scenario(service, options):
        async with serving(service, options, tmp_path) as (port, _):
            client = await Client.connect(port)
            ehlo = await client.command("EHLO x.example")
            plain = base64.b64encode(b"\0u\0p").decode()
            reply = await client.first(f"AUTH PLAIN {plain}")
            await client.close()
            return ehlo, reply

    ehlo, reply = run(scenario(SmtpRelay, {**RELAY, "auth_accept": False}))
    assert reply == "535 5.7.0 authentication failed"
    ehlo, reply = run(scenario(SmtpSink, SINK))
    assert not any("AUTH" in line for line in ehlo)
    assert reply == "503 5.3.3 AUTH not available"


def test_starttls_with_a_generated_certificate(tmp_path):
    pytest.importorskip("cryptography")
    import ssl

    async def scenario():
        options = {**RELAY, "starttls": True}
        async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
            client = await Client.connect(port)
            before = await client.command("EHLO x.example")
            ready = await client.first("STARTTLS")
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            await client.writer.start_tls(context)
            after = await client.command("EHLO x.example")
            final = await client.message(
                "a@b.example", ["c@d.example"], b"tls", helo=False
            )
            certificate = client.writer.get_extra_info("ssl_object").getpeercert(True)
            await client.close()
            return before, ready, after, final, certificate, recorder

    before, ready, after, final, certificate, recorder = run(scenario())
    assert "250-STARTTLS" in before
    assert ready == "220 2.0.0 Ready to start TLS"
    assert not any("STARTTLS" in line for line in after)
    assert final.startswith("250 2.0.0")
    assert certificate and recorder.of("smtp.tls")[0]["ok"] is True
    assert (tmp_path / "mail" / "tls" / "relay1.example.test.crt").exists()


def test_a_client_gone_before_the_greeting_closes_its_record_once(tmp_path, caplog):
    async def scenario():
        options = {**RELAY, "greeting_delay": [0.3, 0.3]}
        async with serving(SmtpRelay, options, tmp_path) as (port, recorder):
            client = await Client.connect(port, greet=False)
            await client.send(b"EHLO gone.example\r\n")
            await client.close()
            await asyncio.sleep(0.5)
            return recorder

    with caplog.at_level(logging.WARNING):
        recorder = run(scenario())
    sessions = recorder.of("smtp.session")
    assert [s["state"] for s in sessions] == ["open", "close"]
    assert sessions[0]["banner"] is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_failed_tls_handshake_ends_the_session_once(tmp_path):
    pytest.importorskip("cryptography")

    async def scenario():
        async with serving(SmtpRelay, {**RELAY, "starttls": True}, tmp_path) as (
            port,
            recorder,
        ):
            client = await Client.connect(port)
            await client.command("EHLO x.example")
            await client.first("STARTTLS")
            await client.send(b"this is not a TLS client hello\r\n" * 4)
            closed = await client.closed()
            await asyncio.sleep(0.1)
            return closed, recorder

    closed, recorder = run(scenario())
    assert closed
    assert [s["state"] for s in recorder.of("smtp.session")] == ["open", "close"]
    assert recorder.of("smtp.tls")[0]["ok"] is False
