"""Checking and building the routed part of a topology, and its shaping.

The schema has checked each value's shape. What is checked here needs more
than one value at a time:

- routers: each name and each address once; addresses unicast, away from
  every host entry and from the attach host address; the entry router has
  an address on the attach network, and no other router has one there;
- links: both ends name routers, two different ones, and a pair is linked
  once;
- networks: CIDR blocks with no host bits, behind a router that exists,
  overlapping neither each other nor the attach network;
- hosts: with routers, every host outside the attach network lies wholly
  inside one network that is not marked unreachable;
- paths: every router is joined to the entry router, and by exactly one
  path of the fewest hops. Two equally short paths are ambiguous: real
  routers would split the traffic between them, and traceroute would show
  neither path reliably.

Routes follow the fewest hops, as RIP would choose them. Limitation: links
have no cost to prefer a longer path; a ring of routers needs one link
left out.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vnet.config import units
from vnet.config.errors import choice_list, did_you_mean, show
from vnet.config.model import (
    TAP_SIDE,
    Attach,
    DelayGrowth,
    HostSpec,
    LinkShape,
    LinkSpec,
    NetworkSpec,
    RouterSpec,
    Routing,
    Shaping,
    ShapingLimits,
    format_address,
)
from vnet.config.source import FieldPath

if TYPE_CHECKING:
    from vnet.config.checks import _Builder

MAX_LATENCY = 10.0
MIN_BANDWIDTH = 1e3
MAX_BANDWIDTH = 100e9
MIN_FORGET = 1.0
MAX_FORGET = 7 * 86400.0
MAX_SHAPING_DELAY = 60.0
ROUTED_KEYS = ("entry", "links", "networks")

_SHAPE_KEYS = ("latency", "jitter", "loss", "bandwidth", "queue")


class RoutingChecks:
    """The routed part of one file, checked with its builder's `fail`."""

    def __init__(self, builder: _Builder, attach: Attach) -> None:
        self.builder = builder
        self.data = builder.data
        self.attach = attach
        self.fail = builder.fail

    def routing(self, hosts: tuple[HostSpec, ...]) -> Routing | None:
        if "routers" not in self.data:
            self.check_no_routed_keys()
            return None
        routers = self.routers(hosts)
        entry, entry_link = self.entry(routers)
        links = self.links(routers)
        links[(TAP_SIDE, entry)] = links[(entry, TAP_SIDE)] = entry_link
        networks = self.networks(routers)
        self.check_hosts_placed(hosts, networks)
        paths = self.paths(routers, entry, links)
        return Routing(
            routers=routers,
            entry=entry,
            entry_link=entry_link,
            networks=networks,
            paths=paths,
            links=links,
        )

    def check_no_routed_keys(self) -> None:
        for key in ROUTED_KEYS:
            if key in self.data:
                self.fail(
                    (key,),
                    f"{key} without routers",
                    "entry, links and networks only in a file with routers",
                    "add a routers list, or remove this key",
                    at_key=True,
                )

    # routers

    def routers(self, hosts: tuple[HostSpec, ...]) -> dict[str, RouterSpec]:
        routers: dict[str, RouterSpec] = {}
        owners: dict[int, FieldPath] = {}
        for index, entry in enumerate(self.data["routers"]):
            where: FieldPath = ("routers", index)
            name = entry["name"]
            if name in routers:
                self.fail(
                    (*where, "name"),
                    show(name),
                    "a name no other router has",
                    self.elsewhere(("routers", routers[name].index, "name")),
                )
            addresses = tuple(
                self.router_address(text, at, hosts, owners)
                for text, at in self.address_fields(entry["address"], where)
            )
            personality = entry.get("personality")
            routers[name] = RouterSpec(name, addresses, personality, index)
        return routers

    def address_fields(self, value: Any, where: FieldPath) -> list[Any]:
        if isinstance(value, str):
            return [(value, (*where, "address"))]
        return [(text, (*where, "address", k)) for k, text in enumerate(value)]

    def router_address(
        self,
        text: str,
        where: FieldPath,
        hosts: tuple[HostSpec, ...],
        owners: dict[int, FieldPath],
    ) -> int:
        address = self.builder.ipv4(text, where, text)
        self.builder.check_unicast(address, address, where, text)
        attach = self.attach
        if address == attach.host_address:
            self.fail(
                where,
                f"{text!r}, the attach host address",
                "an address other than attach.host_address",
                self.elsewhere(("attach", "host_address")),
            )
        if address in (attach.network, attach.broadcast):
            self.fail(
                where,
                f"{text!r}, an edge of the attach network {network_text(attach)}",
                "an address inside the attach network, or outside it",
            )
        if address in owners:
            self.fail(
                where, show(text), "an address no other router has",
                self.elsewhere(owners[address]),
            )  # fmt: skip
        for host in hosts:
            if address in host:
                self.fail(
                    where,
                    f"{text!r}, which hosts[{host.index}] covers ({host.address!r})",
                    "an address that no host entry covers",
                    self.elsewhere(("hosts", host.index, "address")),
                )
        owners[address] = where
        return address

    # entry

    def entry(self, routers: Mapping[str, RouterSpec]) -> tuple[str, LinkSpec]:
        if "entry" not in self.data:
            self.fail(
                ("entry",),
                "nothing",
                "the name of the router where traffic from the TAP enters",
                "a file with routers needs entry",
            )
        raw = self.data["entry"]
        settings: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        where: FieldPath = ("entry", "router") if settings else ("entry",)
        name = settings["router"] if settings else raw
        self.check_router_name(name, where, routers)
        self.check_attach_addresses(routers, name)
        link = self.link_spec(TAP_SIDE, name, settings, ("entry",))
        return name, link

    def check_attach_addresses(
        self, routers: Mapping[str, RouterSpec], entry: str
    ) -> None:
        attach = self.attach
        for router in routers.values():
            on_link = [
                k
                for k, address in enumerate(router.addresses)
                if attach.network <= address <= attach.broadcast
            ]
            if router.name == entry and not on_link:
                example = format_address(attach.network + 1)
                self.fail(
                    ("routers", router.index, "address"),
                    f"no address on the attach network {network_text(attach)}",
                    "an entry router with an address on the attach network",
                    f"the kernel reaches the routers through it: add {example!r}",
                )
            if router.name != entry and on_link:
                self.fail(
                    self.address_path(router, on_link[0]),
                    f"an address on the attach network {network_text(attach)}",
                    f"attach-network addresses only on the entry router ({entry!r})",
                )

    def address_path(self, router: RouterSpec, k: int) -> FieldPath:
        where: FieldPath = ("routers", router.index, "address")
        raw = self.data["routers"][router.index]["address"]
        return where if isinstance(raw, str) else (*where, k)

    # links

    def links(
        self, routers: Mapping[str, RouterSpec]
    ) -> dict[tuple[str, str], LinkSpec]:
        links: dict[tuple[str, str], LinkSpec] = {}
        for index, entry in enumerate(self.data.get("links", ())):
            where: FieldPath = ("links", index)
            a, b = entry["from"], entry["to"]
            self.check_router_name(a, (*where, "from"), routers)
            self.check_router_name(b, (*where, "to"), routers)
            if a == b:
                self.fail(
                    (*where, "to"),
                    f"{b!r}, the router at the other end too",
                    "a link between two different routers",
                )
            if (a, b) in links:
                self.fail(
                    where,
                    f"a second link between {a!r} and {b!r}",
                    "one link between a pair of routers",
                    self.elsewhere(links[(a, b)].origin),
                )
            links[(a, b)] = links[(b, a)] = self.link_spec(a, b, entry, where)
        return links

    def link_spec(
        self, a: str, b: str, settings: Mapping[str, Any], where: FieldPath
    ) -> LinkSpec:
        forward = self.shape(settings, LinkShape(), where)
        reverse = self.shape(settings.get("reverse", {}), forward, (*where, "reverse"))
        return LinkSpec(a, b, forward, reverse, where)

    def shape(
        self, settings: Mapping[str, Any], base: LinkShape, where: FieldPath
    ) -> LinkShape:
        changes: dict[str, Any] = {}
        for key in ("latency", "jitter"):
            if key in settings:
                changes[key] = self.duration(settings[key], (*where, key))
        if "loss" in settings:
            changes["loss"] = self.fraction(settings["loss"], (*where, "loss"))
        if "bandwidth" in settings:
            changes["bandwidth"] = self.rate(
                settings["bandwidth"], (*where, "bandwidth")
            )
        if "queue" in settings:
            changes["queue"] = settings["queue"]
        return dataclasses.replace(base, **changes)

    def duration(
        self, text: str, where: FieldPath, limit: float = MAX_LATENCY
    ) -> float:
        value = units.seconds(text)
        if value > limit:
            self.fail(where, show(text), f"at most {units.format_seconds(limit)}")
        return value

    def fraction(self, value: int | float | str, where: FieldPath) -> float:
        fraction = units.fraction(value)
        if fraction > 1.0:
            self.fail(where, show(value), "a percentage from 0 to 100")
        return fraction

    def rate(self, text: str, where: FieldPath) -> float:
        value = units.bits_per_second(text)
        if not MIN_BANDWIDTH <= value <= MAX_BANDWIDTH:
            self.fail(where, show(text), "a rate from 1kbit to 100Gbit")
        return value

    # networks

    def networks(self, routers: Mapping[str, RouterSpec]) -> tuple[NetworkSpec, ...]:
        networks: list[NetworkSpec] = []
        for index, entry in enumerate(self.data.get("networks", ())):
            where: FieldPath = ("networks", index)
            text = entry["cidr"]
            first, last = self.block(text, (*where, "cidr"))
            self.check_router_name(entry["router"], (*where, "router"), routers)
            self.check_network_overlaps(first, last, text, (*where, "cidr"), networks)
            link = self.link_spec(entry["router"], text, entry, where)
            networks.append(
                NetworkSpec(
                    text,
                    first,
                    last,
                    entry["router"],
                    link,
                    entry.get("unreachable"),
                    index,
                )
            )
        return tuple(networks)

    def block(self, text: str, where: FieldPath) -> tuple[int, int]:
        """The whole span of a CIDR block, network and broadcast included."""
        first, last = self.builder.cidr(text, where)
        if int(text.partition("/")[2]) <= 30:
            first, last = first - 1, last + 1
        self.builder.check_unicast(first, last, where, text)
        return first, last

    def check_network_overlaps(
        self,
        first: int,
        last: int,
        text: str,
        where: FieldPath,
        earlier: list[NetworkSpec],
    ) -> None:
        attach = self.attach
        if first <= attach.broadcast and last >= attach.network:
            self.fail(
                where,
                f"{text!r}, which overlaps the attach network {network_text(attach)}",
                "a network outside the attach network",
                "hosts on the attach network are reached without routers",
            )
        for other in earlier:
            if first <= other.last and last >= other.first:
                self.fail(
                    where,
                    f"{text!r}, which overlaps networks[{other.index}] "
                    f"({other.cidr!r})",
                    "networks that share no address",
                    "an address in two networks would have two routes",
                )

    def check_hosts_placed(
        self, hosts: tuple[HostSpec, ...], networks: tuple[NetworkSpec, ...]
    ) -> None:
        attach = self.attach
        for host in hosts:
            if attach.network <= host.first <= attach.broadcast:
                continue
            where: FieldPath = ("hosts", host.index, "address")
            holder = next((n for n in networks if host.first in n), None)
            if holder is None:
                self.fail(
                    where,
                    f"{host.address!r}, which no network covers",
                    "an address on the attach network or in one of networks "
                    f"({choice_list([n.cidr for n in networks]) or 'none yet'})",
                    "add a network for it behind a router",
                )
            if host.last not in holder:
                self.fail(
                    where,
                    f"{host.address!r}, which runs past the network {holder.cidr}",
                    f"an entry inside {holder.cidr} or wholly outside it",
                    "split the entry at the network's edge",
                )
            if holder.unreachable:
                self.fail(
                    where,
                    f"{host.address!r}, in networks[{holder.index}] "
                    f"({holder.cidr}), which is unreachable",
                    "hosts only in networks that are reachable",
                    self.elsewhere(("networks", holder.index, "unreachable")),
                )

    # paths

    def paths(
        self,
        routers: Mapping[str, RouterSpec],
        entry: str,
        links: Mapping[tuple[str, str], LinkSpec],
    ) -> dict[str, tuple[str, ...]]:
        """Breadth first from the entry: the one shortest path to each router."""
        neighbours: dict[str, list[str]] = {name: [] for name in routers}
        for a, b in links:
            if a != TAP_SIDE and b != TAP_SIDE:
                neighbours[a].append(b)
        paths: dict[str, tuple[str, ...]] = {entry: (entry,)}
        rivals: dict[str, tuple[str, ...]] = {}
        queue = deque([entry])
        while queue:
            name = queue.popleft()
            for peer in neighbours[name]:
                path = (*paths[name], peer)
                if peer not in paths:
                    paths[peer] = path
                    queue.append(peer)
                elif len(paths[peer]) == len(path) and peer not in rivals:
                    rivals[peer] = path
        self.check_paths(routers, entry, paths, rivals)
        return {name: paths[name] for name in routers}

    def check_paths(
        self,
        routers: Mapping[str, RouterSpec],
        entry: str,
        paths: Mapping[str, tuple[str, ...]],
        rivals: Mapping[str, tuple[str, ...]],
    ) -> None:
        for router in routers.values():
            where: FieldPath = ("routers", router.index, "name")
            if router.name not in paths:
                self.fail(
                    where,
                    f"{router.name!r}, which no chain of links joins to the "
                    f"entry router {entry!r}",
                    "routers that links join to the entry router",
                    "add a link to it, or remove it",
                )
            rival = rivals.get(router.name)
            if rival is not None:
                hops = len(rival) - 1
                self.fail(
                    where,
                    f"{router.name!r}, which two paths of {hops} hops reach: "
                    f"{' -> '.join(paths[router.name])} and {' -> '.join(rival)}",
                    "one shortest path from the entry router to each router",
                    "remove one of the links, or lengthen one path",
                )

    # shared

    def check_router_name(
        self, name: str, where: FieldPath, routers: Mapping[str, RouterSpec]
    ) -> None:
        if name not in routers:
            self.fail(
                where,
                show(name),
                f"a router name ({choice_list(routers)})",
                did_you_mean(name, routers),
            )

    def elsewhere(self, where: FieldPath) -> str:
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where)
        return f"{field.lstrip('.')} is at line {self.builder.line_of(where)}"


def network_text(attach: Attach) -> str:
    return f"{format_address(attach.network)}/{attach.prefix_length}"


class ShapingChecks:
    """The `shaping` section, converted to seconds, fractions and bits/s."""

    def __init__(self, routing: RoutingChecks) -> None:
        self.routing = routing
        self.fail = routing.fail

    def shaping(self, raw: Mapping[str, Any] | None) -> Shaping | None:
        if raw is None:
            return None
        forget = Shaping.forget_after
        if "forget_after" in raw:
            where: FieldPath = ("shaping", "forget_after")
            forget = self.routing.duration(raw["forget_after"], where, MAX_FORGET)
            if forget < MIN_FORGET:
                self.fail(where, show(raw["forget_after"]), "at least 1s")
        return Shaping(
            per_source=self.limits(raw.get("per_source"), "per_source"),
            per_subnet=self.limits(raw.get("per_subnet"), "per_subnet"),
            forget_after=forget,
            max_sources=raw.get("max_sources", Shaping.max_sources),
        )

    def limits(self, raw: Mapping[str, Any] | None, key: str) -> ShapingLimits | None:
        if raw is None:
            return None
        where: FieldPath = ("shaping", key)
        bandwidth = None
        if "bandwidth" in raw:
            bandwidth = self.routing.rate(raw["bandwidth"], (*where, "bandwidth"))
        return ShapingLimits(
            connections_per_minute=raw.get("connections_per_minute"),
            concurrent=raw.get("concurrent"),
            bandwidth=bandwidth,
            queue=raw.get("queue", ShapingLimits.queue),
            delay=self.delay(raw.get("delay"), (*where, "delay")),
        )

    def delay(
        self, raw: Mapping[str, Any] | None, where: FieldPath
    ) -> DelayGrowth | None:
        if raw is None:
            return None
        duration = self.routing.duration
        step = duration(raw["step"], (*where, "step"), MAX_SHAPING_DELAY)
        largest = 2.0
        if "max" in raw:
            largest = duration(raw["max"], (*where, "max"), MAX_SHAPING_DELAY)
        variation = 0.3
        if "variation" in raw:
            variation = self.routing.fraction(raw["variation"], (*where, "variation"))
        return DelayGrowth(raw.get("after", 0), step, largest, variation)
