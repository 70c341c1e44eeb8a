"""The loaded topology: immutable values the engine builds the network from.

Everything here is resolved. A Template carries every setting, whether it was
written in the template, inherited, or a built-in default; a HostSpec's
template already has the host's own overrides merged in. Addresses are
32-bit integers, the form the wire layer uses.

Names of personalities, MAC vendors and services stay names: the layers that
own them resolve them, and report a bad one with `TopologyError.at`, using
`Topology.locate` and the `origins` recorded here to point at the line that
set it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vnet.config.source import FieldPath, Marks, Position

POLICIES = ("open", "closed", "filtered")
PROTOCOLS = ("tcp", "udp")


class FrozenMap(Mapping[Any, Any]):
    """A read-only, hashable mapping that keeps its insertion order."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[Any, Any] | None = None) -> None:
        self._items: dict[Any, Any] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


EMPTY = FrozenMap()


def freeze(value: Any) -> Any:
    """Plain YAML data made immutable: mappings to FrozenMap, lists to tuples."""
    if isinstance(value, Mapping):
        return FrozenMap({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Frozen data back to fresh dicts and lists, for a JSON Schema validator."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(item) for item in value]
    return value


def format_address(address: int) -> str:
    return str(ipaddress.IPv4Address(address))


@dataclass(frozen=True)
class Attach:
    """The kernel side of the TAP link: its device name and address."""

    tap: str
    host_address: int
    prefix_length: int

    @property
    def netmask(self) -> int:
        return (0xFFFFFFFF << (32 - self.prefix_length)) & 0xFFFFFFFF

    @property
    def network(self) -> int:
        return self.host_address & self.netmask

    @property
    def broadcast(self) -> int:
        return self.network | (~self.netmask & 0xFFFFFFFF)

    def __str__(self) -> str:
        return f"{format_address(self.host_address)}/{self.prefix_length}"


@dataclass(frozen=True)
class PortSpec:
    """One port: exactly one of `policy` and `service` is set.

    `service` is a service name, or a FrozenMap such as {command: (...)};
    `options` go to the service untouched. `origin` is the field path that
    set this port, for error messages.
    """

    protocol: str
    port: int
    policy: str | None
    service: str | Mapping[str, Any] | None
    options: Mapping[str, Any] = EMPTY
    origin: FieldPath = ()

    @property
    def key(self) -> tuple[str, int]:
        return self.protocol, self.port

    @property
    def service_name(self) -> str | None:
        """The service's name, `command` for a program, None for a policy."""
        if self.service is None or isinstance(self.service, str):
            return self.service
        return "command"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True)
class Template:
    """Every setting of a kind of host, resolved through `inherits`.

    `origins` maps each setting that was written somewhere (personality,
    mac_vendor, tcp_policy, udp_policy, uptime) to the field that set it;
    a setting missing from it is a built-in default.
    """

    name: str
    personality: str | None
    mac_vendor: str | None
    tcp_policy: str
    udp_policy: str
    uptime: float
    ports: Mapping[tuple[str, int], PortSpec]
    origins: Mapping[str, FieldPath] = EMPTY

    def port(self, protocol: str, number: int) -> PortSpec:
        """The port as listed, or the protocol's policy for one not listed."""
        spec = self.ports.get((protocol, number))
        if spec is not None:
            return spec
        policy = self.tcp_policy if protocol == "tcp" else self.udp_policy
        return PortSpec(protocol, number, policy, None)

    @property
    def services(self) -> tuple[PortSpec, ...]:
        return tuple(spec for spec in self.ports.values() if spec.service)


BUILTIN = Template(
    name="",
    personality=None,
    mac_vendor=None,
    tcp_policy="closed",
    udp_policy="closed",
    uptime=0.0,
    ports=EMPTY,
)


@dataclass(frozen=True)
class HostSpec:
    """One entry of `hosts`: the inclusive address span `first`..`last`.

    `template` has this entry's overrides merged in; `template_name` is the
    template it names. `index` is its position in the file's host list.
    """

    first: int
    last: int
    name: str | None
    template: Template
    template_name: str
    mac: bytes | None
    index: int
    address: str = ""

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, address: int) -> bool:
        return self.first <= address <= self.last


DEFAULT_QUEUE = 64
TAP_SIDE = "tap"


@dataclass(frozen=True)
class LinkShape:
    """What one direction of a link does to packets.

    Times are seconds, `loss` a fraction from 0 to 1, `bandwidth` bits per
    second (None: unlimited), `queue` packets.
    """

    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    bandwidth: float | None = None
    queue: int = DEFAULT_QUEUE


@dataclass(frozen=True)
class LinkSpec:
    """A link used both ways: `forward` from `a` to `b`, `reverse` back.

    The ends are router names, TAP_SIDE for the TAP link, or a network's
    CIDR. `origin` is the field that configured it (empty for a default).
    """

    a: str
    b: str
    forward: LinkShape
    reverse: LinkShape
    origin: FieldPath = ()

    @property
    def name(self) -> str:
        return f"{self.a}-{self.b}"

    def towards(self, end: str) -> LinkShape:
        """The direction that arrives at `end`."""
        return self.forward if end == self.b else self.reverse

    def away_from(self, end: str) -> LinkShape:
        """The direction that leaves `end`."""
        return self.reverse if end == self.b else self.forward


@dataclass(frozen=True)
class RouterSpec:
    """One router. Its first address is where its own ICMP messages come from."""

    name: str
    addresses: tuple[int, ...]
    personality: str | None
    index: int

    @property
    def address(self) -> int:
        return self.addresses[0]


@dataclass(frozen=True)
class NetworkSpec:
    """A CIDR block behind `router`, reached over `link` (router -> network).

    `first` and `last` span the whole block. `unreachable` is None, or the
    kind of ICMP destination unreachable its router answers: net, host, admin.
    """

    cidr: str
    first: int
    last: int
    router: str
    link: LinkSpec
    unreachable: str | None
    index: int

    def __contains__(self, address: int) -> bool:
        return self.first <= address <= self.last


@dataclass(frozen=True)
class Routing:
    """The routers, the links between them and the networks behind them.

    `paths` maps each router to the routers a packet from the TAP passes to
    reach it, entry first and that router last; `links` holds every link by
    its two ends in both orders, the TAP link included.
    """

    routers: Mapping[str, RouterSpec]
    entry: str
    entry_link: LinkSpec
    networks: tuple[NetworkSpec, ...]
    paths: Mapping[str, tuple[str, ...]]
    links: Mapping[tuple[str, str], LinkSpec]

    def hops(self, router: str) -> tuple[tuple[LinkSpec, str], ...]:
        """The links from the TAP to `router`, each with the end it reaches."""
        path = (TAP_SIDE, *self.paths[router])
        return tuple(
            (self.links[(near, far)], far)
            for near, far in zip(path, path[1:], strict=False)
        )

    def network_of(self, address: int) -> NetworkSpec | None:
        for network in self.networks:
            if address in network:
                return network
        return None


@dataclass(frozen=True)
class DelayGrowth:
    """Shaping's added delay: `step` seconds per visit past `after`, up to `max`.

    `variation` is a fraction: how far the delay wanders around that value.
    """

    after: int
    step: float
    max: float
    variation: float


@dataclass(frozen=True)
class ShapingLimits:
    """Limits for one source address or one /24; None means no limit."""

    connections_per_minute: int | None = None
    concurrent: int | None = None
    bandwidth: float | None = None
    queue: int = DEFAULT_QUEUE
    delay: DelayGrowth | None = None


@dataclass(frozen=True)
class Shaping:
    """Traffic shaping against abusive sources (the `shaping` section)."""

    per_source: ShapingLimits | None
    per_subnet: ShapingLimits | None
    forget_after: float = 600.0
    max_sources: int = 65_536


@dataclass(frozen=True)
class Topology:
    """A checked topology file. `raw` is its data, frozen, as written.

    `routing` is None when the file has no routers: then every host is
    reached directly over the TAP link. `shaping` is None without a
    `shaping` section.
    """

    path: str
    attach: Attach
    templates: Mapping[str, Template]
    hosts: tuple[HostSpec, ...]
    raw: Mapping[str, Any]
    default_template: str | None = None
    trap_domains: tuple[str, ...] = ()
    marks: Marks = field(default_factory=Marks, repr=False, compare=False)
    routing: Routing | None = None
    shaping: Shaping | None = None

    @property
    def host_count(self) -> int:
        """The number of entries in `hosts`."""
        return len(self.hosts)

    @property
    def address_count(self) -> int:
        """The number of addresses all host entries cover."""
        return sum(host.count for host in self.hosts)

    def locate(self, path: FieldPath) -> Position:
        """The 1-based line and column of a field, such as ("hosts", 3, "mac").

        A field that is absent is located at the nearest mapping that holds
        it, where a user would add it.
        """
        return self.marks.value(tuple(path))

    def locate_key(self, path: FieldPath) -> Position:
        """Where the key of a mapping field is written, rather than its value."""
        return self.marks.key(tuple(path))
