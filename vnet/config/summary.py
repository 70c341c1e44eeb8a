"""A short human summary of a topology, for `vnet check`, and its routes."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from vnet.config.model import (
    HostSpec,
    LinkShape,
    LinkSpec,
    PortSpec,
    Routing,
    Topology,
    format_address,
)
from vnet.config.units import format_rate, format_seconds

# A summary lists this many host entries, then says how many it left out.
HOSTS_SHOWN = 20


def summarize(topology: Topology) -> str:
    """Hosts, addresses, templates, personalities and services, one per line."""
    attach = topology.attach
    lines = [
        f"{topology.path}: {_addresses(topology.address_count)} in "
        + _plural(topology.host_count, "host entry", "host entries"),
        f"attach: tap {attach.tap}, host address {attach}",
        "templates: " + (", ".join(topology.templates) or "none"),
    ]
    if topology.trap_domains:
        lines.append("trap domains: " + ", ".join(topology.trap_domains))
    if topology.routing is not None:
        lines += _routing(topology.routing)
    if topology.shaping is not None:
        lines.append("shaping: " + _shaping_levels(topology))
    lines += _personalities(topology.hosts)
    lines += _services(topology.hosts)
    lines += _host_table(topology.hosts)
    return "\n".join(lines)


def _personalities(hosts: tuple[HostSpec, ...]) -> list[str]:
    counts: Counter[str] = Counter()
    for host in hosts:
        counts[host.template.personality or "(vnet's default)"] += host.count
    return ["personalities:"] + [
        f"  {name}: {_addresses(count)}" for name, count in counts.most_common()
    ]


def _services(hosts: tuple[HostSpec, ...]) -> list[str]:
    ports: defaultdict[str, set[str]] = defaultdict(set)
    counts: Counter[str] = Counter()
    for host in hosts:
        names = set()
        for spec in host.template.services:
            name = _service_label(spec)
            ports[name].add(str(spec))
            names.add(name)
        for name in names:
            counts[name] += host.count
    if not counts:
        return ["services: none"]
    return ["services:"] + [
        f"  {name} on {', '.join(sorted(ports[name]))}: {_addresses(counts[name])}"
        for name in sorted(counts)
    ]


def _service_label(spec: PortSpec) -> str:
    if isinstance(spec.service, str):
        return spec.service
    command = spec.service["command"] if spec.service else ()
    return "command " + " ".join(command)


def _host_table(hosts: tuple[HostSpec, ...]) -> list[str]:
    rows = []
    for host in hosts[:HOSTS_SHOWN]:
        span = host.address
        if host.count > 1:
            span += f" ({_addresses(host.count)})"
        rows.append(f"  {span:<42} {host.template_name:<14} {host.name or ''}".rstrip())
    if len(hosts) > HOSTS_SHOWN:
        rows.append(f"  ... and {len(hosts) - HOSTS_SHOWN:,} more entries")
    return ["hosts:", *rows]


def _addresses(count: int) -> str:
    return _plural(count, "address", "addresses")


def _plural(count: int, one: str, many: str) -> str:
    return f"1 {one}" if count == 1 else f"{count:,} {many}"


def _routing(routing: Routing) -> list[str]:
    entry = routing.routers[routing.entry]
    routers = _plural(len(routing.routers), "router", "routers")
    reachable = [network for network in routing.networks if not network.unreachable]
    unreachable = len(routing.networks) - len(reachable)
    line = f"networks: {len(reachable)} behind the routers"
    if unreachable:
        line += f", {unreachable} unreachable"
    return [
        f"routers: {routers}, entry {entry.name} ({format_address(entry.address)})",
        line,
    ]


def _shaping_levels(topology: Topology) -> str:
    shaping = topology.shaping
    assert shaping is not None
    levels = [
        name
        for name, limits in (("per source", shaping.per_source),
                             ("per /24", shaping.per_subnet))
        if limits is not None
    ]  # fmt: skip
    return ", ".join(levels) or "no limits"


def show_routes(topology: Topology) -> str:
    """The path to every network and router, as `vnet show routes` prints it."""
    attach = topology.attach
    network = f"{format_address(attach.network)}/{attach.prefix_length}"
    routing = topology.routing
    lines = [f"{topology.path}: from {attach.tap} ({attach})"]
    lines.append(f"  {network:<18} on the TAP link, no routers")
    if routing is None:
        if _off_link_blocks(topology):
            lines.append(f"  {'other hosts':<18} routed onto the TAP link, no routers")
        return "\n".join(lines)

    for spec in routing.networks:
        hops = (*routing.hops(spec.router), (spec.link, spec.cidr))
        path = _path(routing, spec.router)
        if spec.unreachable:
            ending = f"{spec.unreachable} unreachable from {spec.router}"
            lines.append(f"  {spec.cidr:<18} {path}; {ending}")
        else:
            lines.append(f"  {spec.cidr:<18} {path}; {_figures(hops)}")
    lines.append("routers:")
    for router in routing.routers.values():
        address = format_address(router.address)
        figures = _figures(routing.hops(router.name))
        lines.append(f"  {address:<18} {router.name}; {figures}")
    return "\n".join(lines)


def _off_link_blocks(topology: Topology) -> list[str]:
    attach = topology.attach
    return [
        host.address
        for host in topology.hosts
        if not attach.network <= host.first <= attach.broadcast
    ]


def _path(routing: Routing, router: str) -> str:
    names = routing.paths[router]
    return " > ".join(
        f"{name} {format_address(routing.routers[name].address)}" for name in names
    )


def _figures(hops: tuple[tuple[LinkSpec, str], ...]) -> str:
    """Round-trip latency, narrowest bandwidth and losses of a path."""
    inbound = [link.towards(end) for link, end in hops]
    outbound = [link.away_from(end) for link, end in hops]
    round_trip = sum(shape.latency for shape in inbound + outbound)
    parts = [f"RTT {format_seconds(round_trip)}"]
    rates = [shape.bandwidth for shape in inbound + outbound if shape.bandwidth]
    if rates:
        parts.append(f"bandwidth {format_rate(min(rates))}")
    losses = [_compound(inbound), _compound(outbound)]
    if any(losses):
        parts.append(f"loss {_percent(losses[0])} in, {_percent(losses[1])} out")
    return ", ".join(parts)


def _compound(shapes: list[LinkShape]) -> float:
    return 1.0 - math.prod(1.0 - shape.loss for shape in shapes)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"
