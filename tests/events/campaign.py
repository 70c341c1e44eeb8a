"""A spammer's campaign as the services record it, without running them.

The records carry the same ids and fields as the web maze, the open proxy,
the relay and the sink write (services/web_maze/maze.py, connection.py;
services/open_proxy/connection.py, http_proxy.py, tunnel.py;
services/mail/session.py, service.py; services/smtp_relay.py,
smtp_sink.py), with the bound fields of vnet.service.api.BoundEvents and
the hand-off identity of services/mail/service.py. Time is a value the
campaign advances, so tests know every timestamp exactly.

Each method returns what a test needs to check the report: the addresses
issued with the exact record of each, the connection ids, the queue ids.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vnet.events.jsonl import timestamp

START = 1_796_000_000.0  # 2026-11-30 00:53:20 UTC, the same in every test
TRAP_DOMAINS = ("example.test", "mail.example.test")
WWW = ("198.51.100.10", "www.example.test")
SHOP = ("198.51.100.11", "shop.example.test")
PROXY = "198.51.100.20"
RELAY = "198.51.100.25"
SINK = "198.51.100.30"


@dataclass
class Issued:
    """One `web.address.issued` record, as the report must find it again."""

    address: str
    visitor: str
    time: str
    url: str
    vhost: str
    user_agent: str
    connection: str


class Campaign:
    """Writes records to `write(record)` at a clock it keeps itself."""

    def __init__(
        self, write: Callable[[dict[str, Any]], None], seed: int = 0, now=START
    ) -> None:
        self.write = write
        self.now = now
        self.random = random.Random(seed)
        self._connections = itertools.count(1)
        self._queue = itertools.count(1)
        self._millis = 0
        self.last_message_id = ""

    # --- plumbing ----------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": timestamp(self.now), **fields}
        self.write(record)
        return record

    def connection_id(self) -> str:
        return f"4242-{next(self._connections):06d}"

    def bound(self, connection: str, peer: str, host: str, port: int, service: str):
        """An emitter with the fields BoundEvents adds."""
        fields = {
            "connection": connection,
            "peer": peer,
            "peer_port": 40000 + self.random.randrange(20000),
            "host": host,
            "port": port,
            "service": service,
        }

        def emit(event: str, **more: Any) -> dict[str, Any]:
            return self.record(event, **fields, **more)

        return emit

    def open_tcp(self, peer: str, host: str, port: int, service: str):
        connection = self.connection_id()
        emit = self.bound(connection, peer, host, port, service)
        emit("tcp.connection.open")
        return connection, emit

    def close_tcp(self, emit, opened: float) -> None:
        emit(
            "tcp.connection.close",
            bytes_in=512,
            bytes_out=4096,
            duration=round(self.now - opened, 6),
            reason="fin",
        )

    def contact(self, host: str, name: str | None, template: str) -> None:
        self.record("net.host.contacted", host=host, name=name, template=template)

    # --- the web maze ---------------------------------------------------------

    def trap_address(self, visitor: str, opaque: bool) -> str:
        # Milliseconds that never repeat, as the maze's own clock does.
        self._millis = max(int(self.now * 1000), self._millis + 1)
        domain = self.random.choice(TRAP_DOMAINS)
        if not opaque:
            return f"crawler-{visitor}_{self._millis}@{domain}"
        token = "".join(self.random.choice("abcdefghijklmnopqrstuvwxyz234567")
                        for _ in range(21))  # fmt: skip
        return f"anna.schmidt.{token}@{domain}"

    def crawl(
        self,
        visitor: str,
        user_agent: str,
        pages: int,
        per_page: int = 2,
        site: tuple[str, str] = WWW,
        read_robots: bool = False,
        ignore_robots: bool = True,
        gap: float = 2.0,
    ) -> list[Issued]:
        """A harvester's visit of `pages` pages over one keep-alive connection."""
        host, vhost = site
        opened = self.now
        connection, emit = self.open_tcp(visitor, host, 80, "web-maze")
        issued: list[Issued] = []
        if read_robots:
            self._web_request(emit, vhost, "/robots.txt", user_agent)
            self.advance(gap)
        for number in range(pages):
            page = f"/people/{number}/index.html"
            if ignore_robots and number == 1:
                emit(
                    "web.robots.ignored",
                    visitor=visitor,
                    user_agent=user_agent,
                    vhost=vhost,
                    path=page,
                    robots_fetched=read_robots,
                )
            issued += self._page(emit, visitor, user_agent, vhost, page, per_page)
            self.advance(gap)
        self.close_tcp(emit, opened)
        for item in issued:
            item.connection = connection
        return issued

    def _page(self, emit, visitor, user_agent, vhost, page, per_page) -> list[Issued]:
        url = f"http://{vhost}{page}"
        result = []
        for index in range(per_page):
            address = self.trap_address(visitor, opaque=index % 2 == 1)
            record = emit(
                "web.address.issued",
                address=address,
                format="opaque" if index % 2 else "crawler",
                visitor=visitor,
                user_agent=user_agent,
                issued=self._millis / 1000,
                url=url,
                vhost=vhost,
                page=page,
            )
            result.append(
                Issued(address, visitor, record["time"], url, vhost, user_agent, "")
            )
        self._web_request(emit, vhost, page, user_agent)
        return result

    def _web_request(self, emit, vhost: str, path: str, user_agent: str) -> None:
        emit(
            "web.request",
            vhost=vhost,
            status=200,
            bytes=5120,
            duration=0.012,
            slowed=False,
            method="GET",
            path=path,
            version="1.1",
            user_agent=user_agent,
            headers=[["Host", vhost], ["User-Agent", user_agent]],
        )

    # --- the open proxy ---------------------------------------------------------

    def proxy_page(self, client: str, user_agent: str, url: str) -> Issued:
        """A GET through the proxy, answered with a generated page."""
        opened = self.now
        connection, emit = self.open_tcp(client, PROXY, 3128, "open-proxy")
        emit(
            "proxy.request",
            protocol="http",
            method="GET",
            next_hop=url.split("/")[2] + ":80",
            relay=False,
            outcome="page",
            target=url,
            http_version="1.1",
            headers=[["Host", url.split("/")[2]]],
            url=url,
        )
        self._millis = max(int(self.now * 1000), self._millis + 1)
        address = f"crawler-{client}_{int(self.now)}@{TRAP_DOMAINS[0]}"
        record = emit(
            "web.address.issued",
            address=address,
            visitor=client,
            user_agent=user_agent,
            url=url,
            vhost=url.split("/")[2],
            format="crawler",
            via="open-proxy",
        )
        self.close_tcp(emit, opened)
        host = url.split("/")[2]
        return Issued(
            address, client, record["time"], url, host, user_agent, connection
        )

    # --- mail -------------------------------------------------------------------

    def queue_id(self) -> str:
        return f"4B1{next(self._queue):05d}"

    def _smtp_dialogue(self, emit, sender: str, recipients: list[str]) -> None:
        emit("smtp.command", command="EHLO", argument="spam.example",
             reply=["250-relay1.example.test Hello"])  # fmt: skip
        emit("smtp.command", command="MAIL", argument=f"FROM:<{sender}>",
             reply=["250 2.1.0 Sender ok"])  # fmt: skip
        for address in recipients:
            emit("smtp.command", command="RCPT", argument=f"TO:<{address}>",
                 reply=["250 2.1.5 Recipient ok"])  # fmt: skip
        emit("smtp.command", command="DATA", argument=None, reply=["354 Enter mail"])

    def _stored(self, emit, sender, recipients, subject, message_id, host) -> str:
        queue_id = self.queue_id()
        self.last_message_id = message_id
        emit(
            "smtp.message.stored",
            queue_id=queue_id,
            message_id=message_id,
            size=2048,
            sender=sender,
            recipients=recipients,
            subject=subject,
            helo="spam.example",
            path=f"var/mail/{host}/new/{queue_id}",
        )
        return queue_id

    def via_proxy(
        self,
        client: str,
        recipients: list[str],
        subject: str = "Cheap watches",
        next_hop: str = "mx.example.test:25",
        chain: list[str] | None = None,
        probe: bool = False,
    ) -> tuple[str, str]:
        """CONNECT through the proxy to the relay; returns (connection, queue)."""
        opened = self.now
        connection, proxy_emit = self.open_tcp(client, PROXY, 3128, "open-proxy")
        if chain:
            proxy_emit(
                "proxy.chain",
                protocol="http",
                hops=chain,
                headers={"x-forwarded-for": ", ".join(chain)},
                seen_from=client,
            )
        proxy_emit(
            "proxy.request", protocol="http", method="CONNECT", next_hop=next_hop,
            relay=True, outcome="relay", target=next_hop, http_version="1.1",
            headers=[["Host", next_hop]],
        )  # fmt: skip
        # The relay's records: the proxy's connection id, the client as peer.
        relay_emit = self.bound(connection, client, RELAY, 25, "smtp-relay")
        queue_id = self._relay_session(
            relay_emit, client, recipients, subject, probe,
            open_fields={
                "relay_connection": self.connection_id(),
                "proxy": f"{PROXY}:3128",
                "greeting_name": next_hop.split(":")[0],
            },
        )  # fmt: skip
        proxy_emit("proxy.tunnel.closed", next_hop=next_hop, bytes_up=4096,
                   bytes_down=900, duration=round(self.now - opened, 3))  # fmt: skip
        self.close_tcp(proxy_emit, opened)
        return connection, queue_id

    def via_relay(
        self, client: str, recipients: list[str], subject="Re: invoice", probe=False
    ) -> tuple[str, str]:
        opened = self.now
        connection, emit = self.open_tcp(client, RELAY, 25, "smtp-relay")
        queue_id = self._relay_session(emit, client, recipients, subject, probe, {})
        self.close_tcp(emit, opened)
        return connection, queue_id

    def _relay_session(
        self, emit, client, recipients, subject, probe, open_fields
    ) -> str:
        emit("smtp.session", state="open", hostname="relay1.example.test",
             version="8.14.4", banner=None, **open_fields)  # fmt: skip
        sender = "sales@spam.example"
        self._smtp_dialogue(emit, sender, recipients)
        self.advance(1.0)
        message_id = f"<{self.random.getrandbits(48):x}@spam.example>"
        queue_id = self._stored(emit, sender, recipients, subject, message_id, "relay")
        if probe:
            emit("smtp.probe.forwarded", queue_id=queue_id, recipients=recipients,
                 route="192.0.2.254:2525", reasons=["first-per-source"],
                 accepted=recipients)  # fmt: skip
        else:
            emit("smtp.message.held", queue_id=queue_id, reason="not-a-probe",
                 source=client, recipients=recipients)  # fmt: skip
        emit("smtp.session", state="close", reason="quit", messages=1,
             commands=len(recipients) + 4, bytes_in=2400, duration=1.0)  # fmt: skip
        return queue_id

    def direct_to_sink(
        self,
        client: str,
        recipients: list[str],
        subject: str = "You won",
        message_id: str | None = None,
    ) -> tuple[str, str]:
        """A message straight to a destination server; a copy of a probe the
        relay forwarded, when `message_id` is that probe's."""
        opened = self.now
        connection, emit = self.open_tcp(client, SINK, 25, "smtp-sink")
        emit("smtp.session", state="open", hostname="mx.example.test",
             version="8.14.4", banner=None)  # fmt: skip
        sender = "winner@spam.example"
        self._smtp_dialogue(emit, sender, recipients)
        self.advance(0.5)
        message_id = message_id or f"<{self.random.getrandbits(48):x}@spam.example>"
        queue_id = self._stored(emit, sender, recipients, subject, message_id, "sink")
        emit("smtp.session", state="close", reason="quit", messages=1,
             commands=len(recipients) + 4, bytes_in=1800, duration=0.5)  # fmt: skip
        self.close_tcp(emit, opened)
        return connection, queue_id
