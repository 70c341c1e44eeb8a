"""Traffic shaping against abusive sources: slow them, and let it look natural.

HoneySpam's future work: a harvester or a spammer that comes back again and
again should find the network getting slower, not closed, so that it wastes
its time and does not learn it was spotted. Each source address, and each
/24 of sources together, has an `Account` with up to four limits:

- connections per minute: a token bucket of that many new TCP connections,
  refilled evenly over the minute;
- concurrent connections: a connection counts from its SYN until a FIN or
  RST from the source, or until `FLOW_IDLE` seconds pass without a packet;
- bandwidth, each way: a token bucket with a bounded queue (`links`);
- an added delay that grows with repeated visits (TCP connections): none
  for the first `after`, then `step` more for each, up to `max`.

A SYN over a connection limit is dropped, so the client retries after its
SYN timeout, as it would with a busy server; a packet over the bandwidth
queue is dropped like any tail drop. The added delay varies the way
queueing delay does on a congested path: a factor that drifts with a time
constant of a couple of seconds (an Ornstein-Uhlenbeck process in its
logarithm), skewed towards spikes and averaging 1, rather than fresh noise
on every packet. Each account keeps its packets in order both ways.

State is bounded: at most `max_sources` accounts per level, each with at
most `MAX_FLOWS` tracked connections. An account idle for `forget_after` is
forgotten, and when the table is full the account idle longest goes first.
Limitation: a flood of spoofed sources therefore pushes real abusers out of
the table and lets them start afresh; the table size bounds that, not the
shaping.
"""

from __future__ import annotations

import math
import random
from collections import Counter, OrderedDict
from typing import Any

from vnet.network.links import TokenBucket
from vnet.network.records import Throttle
from vnet.wire import ipv4, tcp
from vnet.wire.errors import MalformedFrame
from vnet.wire.ipv4 import Ipv4Packet, addr_to_str

FLOW_IDLE = 300.0
MAX_FLOWS = 256
DRIFT_TIME = 2.0

_NEW = tcp.SYN
_NEW_MASK = tcp.SYN | tcp.ACK | tcp.RST
_CLOSING = tcp.FIN | tcp.RST


class Account:
    """What shaping remembers about one source, or one /24."""

    __slots__ = (
        "key",
        "seen",
        "tokens",
        "refilled",
        "flows",
        "visits",
        "inbound",
        "outbound",
        "drift",
        "drifted",
        "last_in",
        "last_out",
    )

    def __init__(self, key: int, now: float, limits: Any) -> None:
        self.key = key
        self.seen = now
        self.tokens = float(limits.connections_per_minute or 0)
        self.refilled = now
        self.flows: dict[tuple[int, int, int, int], float] | None = None
        self.visits = 0
        self.inbound: TokenBucket | None = None
        self.outbound: TokenBucket | None = None
        if limits.bandwidth:
            self.inbound = TokenBucket(limits.bandwidth, limits.queue)
            self.outbound = TokenBucket(limits.bandwidth, limits.queue)
        self.drift = 0.0
        self.drifted = now
        self.last_in = 0.0
        self.last_out = 0.0

    def open_flows(self, now: float) -> int:
        flows = self.flows
        if not flows:
            return 0
        stale = [key for key, seen in flows.items() if now - seen > FLOW_IDLE]
        for key in stale:
            del flows[key]
        return len(flows)

    def refill(self, per_minute: int, now: float) -> None:
        tokens = self.tokens + (now - self.refilled) * per_minute / 60.0
        self.tokens = tokens if tokens < per_minute else float(per_minute)
        self.refilled = now

    def remember(self, flow: tuple[int, int, int, int], now: float) -> None:
        flows = self.flows
        if flows is None:
            flows = self.flows = {}
        if len(flows) >= MAX_FLOWS:
            del flows[next(iter(flows))]
        flows[flow] = now


class Level:
    """One level of shaping: per source, or per /24 of sources."""

    def __init__(self, scope: str, limits: Any, shift: int, shaping: Any) -> None:
        self.scope = scope
        self.limits = limits
        self.shift = shift
        self.forget_after = shaping.forget_after
        self.max_accounts = shaping.max_sources
        self.accounts: OrderedDict[int, Account] = OrderedDict()

    def account(self, address: int, now: float) -> Account:
        key = address >> self.shift
        accounts = self.accounts
        account = accounts.get(key)
        if account is None:
            account = Account(key, now, self.limits)
            accounts[key] = account
            if len(accounts) > self.max_accounts:
                accounts.popitem(last=False)
        else:
            accounts.move_to_end(key)
        account.seen = now
        oldest = next(iter(accounts.values()))
        while now - oldest.seen > self.forget_after:
            accounts.popitem(last=False)
            oldest = next(iter(accounts.values()))
        return account

    def name(self, account: Account) -> str:
        if not self.shift:
            return addr_to_str(account.key)
        return f"{addr_to_str(account.key << self.shift)}/{32 - self.shift}"

    def refusal(self, account: Account, now: float) -> str | None:
        """The limit a new connection would break, or None."""
        limits = self.limits
        if limits.concurrent and account.open_flows(now) >= limits.concurrent:
            return "concurrent"
        per_minute = limits.connections_per_minute
        if per_minute:
            account.refill(per_minute, now)
            if account.tokens < 1.0:
                return "connections_per_minute"
        return None

    def admit(self, account: Account, flow: tuple[int, int, int, int], now: float):
        if self.limits.connections_per_minute:
            account.tokens -= 1.0
        account.visits += 1
        account.remember(flow, now)


class Shaper:
    """Decides, for each packet to or from a source, its extra delay or its drop."""

    def __init__(self, shaping: Any, events: Any, seed: int = 0) -> None:
        self.levels = [
            Level(scope, limits, shift, shaping)
            for scope, limits, shift in (
                ("source", shaping.per_source, 0),
                ("subnet", shaping.per_subnet, 8),
            )
            if limits is not None
        ]
        self.events = Throttle(events)
        self.rng = random.Random(seed ^ 0x5A5E)
        self.shaped: Counter[str] = Counter()

    # --- the two directions --------------------------------------------------

    def inbound(self, packet: Ipv4Packet, now: float) -> float | None:
        """A packet from `packet.src`: seconds to hold it, or None to drop it."""
        accounts = [(level, level.account(packet.src, now)) for level in self.levels]
        if packet.protocol == ipv4.PROTO_TCP and not self._connection(
            packet, accounts, now
        ):
            return None
        extra = 0.0
        size = 20 + len(packet.options) + len(packet.payload)
        for level, account in accounts:
            wait = self._bandwidth(level, account, account.inbound, size, now + extra)
            if wait is None:
                return None
            extra += wait + self._delay(level, account, now)
            due = now + extra
            if due < account.last_in:
                extra = account.last_in - now
            account.last_in = now + extra
        return extra

    def outbound(self, packet: Ipv4Packet, now: float) -> float | None:
        """A packet to `packet.dst`: seconds to hold it, or None to drop it."""
        extra = 0.0
        size = 20 + len(packet.options) + len(packet.payload)
        for level in self.levels:
            account = level.account(packet.dst, now)
            wait = self._bandwidth(level, account, account.outbound, size, now + extra)
            if wait is None:
                return None
            extra += wait + self._delay(level, account, now)
            if now + extra < account.last_out:
                extra = account.last_out - now
            account.last_out = now + extra
        return extra

    # --- connections ---------------------------------------------------------

    def _connection(
        self, packet: Ipv4Packet, accounts: list[tuple[Level, Account]], now: float
    ) -> bool:
        """Count connections opened and closed; False to drop a refused SYN."""
        try:
            segment = tcp.parse(packet.payload, packet.src, packet.dst, verify=False)
        except MalformedFrame:
            return True  # the host counts and drops it
        flow = (packet.src, segment.src_port, packet.dst, segment.dst_port)
        flags = segment.flags
        if flags & _NEW_MASK == _NEW:
            return self._opening(packet, flow, accounts, now)
        for _, account in accounts:
            flows = account.flows
            if flows is not None and flow in flows:
                if flags & _CLOSING:
                    del flows[flow]
                else:
                    flows[flow] = now
        return True

    def _opening(
        self,
        packet: Ipv4Packet,
        flow: tuple[int, int, int, int],
        accounts: list[tuple[Level, Account]],
        now: float,
    ) -> bool:
        known = [
            account.flows is not None and flow in account.flows
            for _, account in accounts
        ]
        if all(known):
            return True  # a retransmitted SYN of a connection already let in
        for level, account in accounts:
            limit = level.refusal(account, now)
            if limit is not None:
                self._record(level, account, limit, "SYN dropped", now)
                return False
        for level, account in accounts:
            level.admit(account, flow, now)
        return True

    # --- bandwidth and delay -------------------------------------------------

    def _bandwidth(
        self,
        level: Level,
        account: Account,
        bucket: TokenBucket | None,
        size: int,
        arrival: float,
    ) -> float | None:
        if bucket is None:
            return 0.0
        leave = bucket.admit(size, arrival)
        if leave is None:
            self._record(level, account, "bandwidth", "packet dropped", arrival)
            return None
        if leave > arrival:
            self._record(level, account, "bandwidth", "queued", arrival)
        return leave - arrival

    def _delay(self, level: Level, account: Account, now: float) -> float:
        growth = level.limits.delay
        if growth is None or account.visits <= growth.after:
            return 0.0
        nominal = min(growth.max, growth.step * (account.visits - growth.after))
        delay = nominal * self._congestion(account, growth.variation, now)
        self._record(level, account, "delay", "delayed", now, delay)
        return delay

    def _congestion(self, account: Account, variation: float, now: float) -> float:
        """A factor around 1 that drifts like queueing delay on a busy path."""
        if not variation:
            return 1.0
        elapsed = now - account.drifted
        if elapsed > 0.0:
            keep = math.exp(-elapsed / DRIFT_TIME)
            fresh = math.sqrt(1.0 - keep * keep)
            account.drift = keep * account.drift + fresh * self.rng.gauss(0.0, 1.0)
            account.drifted = now
        spread = math.log1p(variation)
        return math.exp(spread * account.drift - spread * spread / 2.0)

    # --- records -------------------------------------------------------------

    def _record(
        self,
        level: Level,
        account: Account,
        limit: str,
        action: str,
        now: float,
        delay: float | None = None,
    ) -> None:
        self.shaped[f"{level.scope} {limit}: {action}"] += 1
        count = self.events.due((level.scope, account.key, limit, action), now)
        if not count:
            return
        fields: dict[str, Any] = {
            "peer": level.name(account),
            "scope": level.scope,
            "limit": limit,
            "action": action,
            "visits": account.visits,
        }
        if delay is not None:
            fields["delay_ms"] = round(delay * 1e3, 1)
        self.events.emit("net.shaped", count, **fields)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            f"{level.scope}s_tracked": len(level.accounts) for level in self.levels
        }
        summary["shaped"] = dict(self.shaped)
        return summary
