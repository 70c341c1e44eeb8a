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


@dataclass(frozen=True)
class Topology:
    """A checked topology file. `raw` is its data, frozen, as written."""

    path: str
    attach: Attach
    templates: Mapping[str, Template]
    hosts: tuple[HostSpec, ...]
    raw: Mapping[str, Any]
    default_template: str | None = None
    trap_domains: tuple[str, ...] = ()
    marks: Marks = field(default_factory=Marks, repr=False, compare=False)

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
