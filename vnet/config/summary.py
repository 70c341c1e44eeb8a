"""A short human summary of a topology, for `vnet check`."""

from __future__ import annotations

from collections import Counter, defaultdict

from vnet.config.model import HostSpec, PortSpec, Topology

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
