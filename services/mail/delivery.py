"""Which messages the relay really delivers: the spammer's probe, and no more.

A spammer who finds an open relay first sends one message to a mailbox of
his own, to see whether it arrives; only then does he pour spam through it.
HoneySpam delivers that probe, so the relay is believed, and keeps the rest.

The decision is pure (`ProbeRules.reasons`, `ForwardPolicy.decide`), made
from the message, the `Ledger` of what was seen before, and `now`:

- a message is a probe if it is the first from its source (the default),
  or, with the optional rules, if it carries the relay's own address in
  dotted or hex form, if it has an `X-Proxy-Spec`-style header, or if its
  recipient has been a drop box for several sources already;
- a probe is forwarded unless the daily cap is reached, a recipient is off
  the allow-list, or the domain is a reserved one (RFC 2606, RFC 6761) that
  only a configured route can reach; dry-run decides but sends nothing.

Delivery (`deliver`) speaks SMTP with aiosmtplib to the smarthost, to the
route configured for the domain, or to the domain's mail exchanger
(RFC 5321 section 5.1). The ledger is an append-only JSON-lines file, so
that a restart forgets no source and no forward of the day.

Limitation: without dnspython installed, the mail exchanger is found by the
implicit-MX rule (the domain's own address), not by its MX records.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import ipaddress
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import aiosmtplib

# Imported now, not when the first probe goes out: by then vnet may have
# dropped root and lost read access to the interpreter's library.
try:
    import dns.asyncresolver as dns_resolver
except ImportError:
    dns_resolver = None

log = logging.getLogger(__name__)

# Special-use names that the DNS never resolves (RFC 2606, RFC 6761).
RESERVED_SUFFIXES = (".test", ".example", ".invalid", ".localhost", ".local")
RESERVED_NAMES = ("example.com", "example.net", "example.org", "localhost")


@dataclass(frozen=True)
class ProbeRules:
    first_per_source: bool = True
    relay_address: bool = False
    headers: tuple[str, ...] = ()
    drop_box_sources: int = 0

    @classmethod
    def from_options(cls, options: Mapping) -> ProbeRules:
        return cls(
            first_per_source=options.get("first_per_source", True),
            relay_address=options.get("relay_address", False),
            headers=tuple(options.get("headers", ())),
            drop_box_sources=options.get("drop_box_sources", 0),
        )

    def reasons(
        self,
        source: str,
        content: bytes,
        recipients: Sequence[str],
        relay_address: str,
        ledger: Ledger,
    ) -> list[str]:
        """Why this message is a probe; empty if it is not one."""
        found = []
        if self.first_per_source and not ledger.has_source(source):
            found.append("first-from-source")
        if self.relay_address and mentions_address(content, relay_address):
            found.append("relay-address")
        if self.headers and has_header(content, self.headers):
            found.append("probe-header")
        if self.drop_box_sources and any(
            ledger.sources_for(recipient) >= self.drop_box_sources
            for recipient in recipients
        ):
            found.append("drop-box")
        return found


def mentions_address(content: bytes, address: str) -> bool:
    """The relay's address in the message, dotted or as 8 hex digits."""
    dotted = address.encode("ascii")
    if re.search(rb"(?<![\d.])" + re.escape(dotted) + rb"(?![\d])", content):
        return True
    packed = ipaddress.IPv4Address(address).packed.hex().encode("ascii")
    return (
        re.search(rb"(?i)(?<![0-9a-f])" + packed + rb"(?![0-9a-f])", content)
        is not None
    )


def has_header(content: bytes, names: Iterable[str]) -> bool:
    """Whether the header block has a field with one of these names."""
    head = content.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    wanted = {name.lower().encode("ascii") for name in names}
    for line in head.splitlines():
        name, colon, _ = line.partition(b":")
        if colon and name.strip().lower() in wanted:
            return True
    return False


@dataclass(frozen=True)
class Route:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_route(text: str) -> Route:
    """`host:port` (or `host`, meaning port 25); `[v6]:port` is not needed."""
    host, colon, port = text.rpartition(":")
    if not colon:
        return Route(text, 25)
    return Route(host, int(port))


@dataclass(frozen=True)
class Decision:
    """What happens to one message's recipients at one route."""

    forward: bool
    reason: str
    recipients: tuple[str, ...] = ()
    route: Route | None = None


@dataclass(frozen=True)
class ForwardPolicy:
    cap_per_day: int = 20
    dry_run: bool = False
    allow: tuple[str, ...] = ()
    smarthost: Route | None = None
    routes: Mapping[str, Route] = dataclasses.field(default_factory=dict)
    max_recipients: int = 5

    def decide(
        self, recipients: Sequence[str], ledger: Ledger, now: float
    ) -> list[Decision]:
        """One decision per destination; held ones carry their reason."""
        if len(recipients) > self.max_recipients:
            return [Decision(False, "too-many-recipients", tuple(recipients))]
        if ledger.forwards_on(now) >= self.cap_per_day:
            return [Decision(False, "daily-cap", tuple(recipients))]

        decisions = []
        for domain, group in _by_domain(recipients).items():
            decisions.append(self._decide_domain(domain, tuple(group)))
        return decisions

    def _decide_domain(self, domain: str, group: tuple[str, ...]) -> Decision:
        if self.allow and not all(self._allowed(address) for address in group):
            return Decision(False, "not-allowed", group)
        route = self.smarthost or self.routes.get(domain)
        if route is None and is_reserved(domain):
            return Decision(False, "reserved-domain", group)
        reason = "dry-run" if self.dry_run else "probe"
        return Decision(not self.dry_run, reason, group, route)

    def _allowed(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        address = address.lower()
        return any(
            fnmatch.fnmatchcase(address, pattern.lower())
            or fnmatch.fnmatchcase(domain, pattern.lower())
            for pattern in self.allow
        )


def is_reserved(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    if not domain or domain in RESERVED_NAMES:
        return True
    if any(domain.endswith(suffix) for suffix in RESERVED_SUFFIXES):
        return True
    return any(domain.endswith("." + name) for name in RESERVED_NAMES)


def _by_domain(recipients: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for address in recipients:
        domain = address.rpartition("@")[2].lower()
        groups.setdefault(domain, []).append(address)
    return groups


def utc_day(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%d")


class Ledger:
    """Sources seen, recipients' sources, and forwards per day; persistent.

    Each change is one JSON line, flushed and fsync'd before the decision it
    supports takes effect; loading replays the file. `path=None` keeps the
    ledger in memory only (for tests and dry runs).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._sources: set[str] = set()
        self._recipient_sources: dict[str, set[str]] = {}
        self._forwards: Counter[str] = Counter()
        self._file = None
        if path is not None:
            self._replay(path)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def has_source(self, source: str) -> bool:
        return source in self._sources

    def sources_for(self, recipient: str) -> int:
        return len(self._recipient_sources.get(recipient.lower(), ()))

    def forwards_on(self, now: float) -> int:
        return self._forwards[utc_day(now)]

    def note_message(
        self, source: str, recipients: Iterable[str], now: float, drop_boxes: bool
    ) -> None:
        """Remember the source, and with `drop_boxes` who it wrote to."""
        if source not in self._sources:
            self._apply({"kind": "source", "source": source})
            self._append({"kind": "source", "source": source, "time": now})
        if not drop_boxes:
            return
        for recipient in recipients:
            key = recipient.lower()
            if source not in self._recipient_sources.get(key, ()):
                record = {"kind": "recipient", "recipient": key, "source": source}
                self._apply(record)
                self._append({**record, "time": now})

    def note_forward(self, now: float) -> None:
        record = {"kind": "forward", "day": utc_day(now)}
        self._apply(record)
        self._append({**record, "time": now})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _apply(self, record: Mapping) -> None:
        kind = record.get("kind")
        if kind == "source":
            self._sources.add(record["source"])
        elif kind == "recipient":
            sources = self._recipient_sources.setdefault(record["recipient"], set())
            sources.add(record["source"])
        elif kind == "forward":
            self._forwards[record["day"]] += 1

    def _append(self, record: Mapping) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def _replay(self, path: str) -> None:
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    self._apply(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    # A line cut short by a crash is the only expected damage.
                    log.warning("%s:%d: unreadable ledger line skipped", path, number)


@dataclass(frozen=True)
class Outcome:
    """How one delivery went: accepted recipients, or the error."""

    accepted: tuple[str, ...]
    error: str | None = None


async def exchangers(domain: str) -> list[Route]:
    """The domain's mail exchangers, best first (RFC 5321 section 5.1)."""
    if dns_resolver is None:
        return [Route(domain, 25)]
    try:
        answer = await dns_resolver.resolve(domain, "MX")
    except Exception as error:  # dnspython raises many kinds; all mean "no MX"
        log.debug("%s: no MX (%s); trying the domain itself", domain, error)
        return [Route(domain, 25)]
    ordered = sorted(answer, key=lambda record: record.preference)
    return [Route(str(record.exchange).rstrip("."), 25) for record in ordered]


async def deliver(
    decision: Decision,
    sender: str,
    message: bytes,
    local_hostname: str,
    timeout: float = 60,
) -> Outcome:
    """Send one probe to its route, or to each exchanger in turn."""
    domain = decision.recipients[0].rpartition("@")[2]
    routes = [decision.route] if decision.route else await exchangers(domain)
    error = "no route"
    for route in routes:
        try:
            errors, _ = await aiosmtplib.send(
                message,
                sender=sender,
                recipients=list(decision.recipients),
                hostname=route.host,
                port=route.port,
                local_hostname=local_hostname,
                timeout=timeout,
                start_tls=False,
            )
        except (aiosmtplib.SMTPException, OSError) as failure:
            error = f"{route}: {failure}"
            continue
        refused = set(errors)
        accepted = tuple(r for r in decision.recipients if r not in refused)
        return Outcome(accepted, None if accepted else f"{route}: all refused")
    return Outcome((), error)
