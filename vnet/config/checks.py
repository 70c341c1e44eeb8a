"""Semantic checks, and building the model from data the schema accepted.

The schema checks each value's shape on its own. What needs arithmetic, or
more than one value at a time, is checked here, while the model is built:

- addresses: octets, prefix lengths, host bits in a CIDR block, a range's
  order and size, unicast only, the attach network and its host address,
  and no address claimed by two entries;
- templates: `inherits` and `template` name templates that exist, and no
  chain of `inherits` comes back on itself;
- ports: numbers from 1 to 65535, a service or a policy but not both;
- hosts: a name or a MAC only on a single address, each name and MAC once,
  no multicast or all-zero MAC, uptime within bounds;
- routers, links, networks and shaping: see `vnet.config.routing`.

The first problem found ends the build with a TopologyError.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from vnet.config.errors import (
    TopologyError,
    choice_list,
    did_you_mean,
    field_name,
    show,
)
from vnet.config.model import (
    BUILTIN,
    Attach,
    FrozenMap,
    HostSpec,
    PortSpec,
    Template,
    Topology,
    format_address,
    freeze,
)
from vnet.config.routing import RoutingChecks, ShapingChecks
from vnet.config.source import FieldPath, Marks

# One entry may cover a /8. The address plan keeps a range as one interval,
# so the limit guards against typos (a /1), not against memory use.
MAX_ENTRY_ADDRESSES = 1 << 24
MAX_UPTIME = 3650 * 86400
DEFAULT_TAP = "vnet0"

_NOT_UNICAST = (
    ("0.0.0.0/8", "'this network'"),
    ("127.0.0.0/8", "loopback"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"([0-9]+)([dhms])")

# Which template setting each key of a template or host entry sets.
_SETTINGS = {
    "personality": "personality",
    "mac_vendor": "mac_vendor",
    "tcp": "tcp_policy",
    "udp": "udp_policy",
    "uptime": "uptime",
}


def build(data: Mapping[str, Any], marks: Marks, path: str) -> Topology:
    """Check what the schema cannot, and build the Topology (or raise)."""
    return _Builder(data, marks, path).topology()


class _Builder:
    def __init__(self, data: Mapping[str, Any], marks: Marks, path: str) -> None:
        self.data = data
        self.marks = marks
        self.path = path

    def fail(
        self,
        where: FieldPath,
        found: str,
        allowed: str,
        hint: str | None = None,
        *,
        at_key: bool = False,
    ) -> NoReturn:
        line, column = self.marks.key(where) if at_key else self.marks.value(where)
        raise TopologyError(
            self.path, line, column, field_name(where), found, allowed, hint
        )

    def line_of(self, where: FieldPath) -> int:
        return self.marks.value(where)[0]

    def topology(self) -> Topology:
        attach = self.attach()
        templates = self.templates()
        default = self.default_template(templates)

        hosts = tuple(
            self.host(index, entry, templates, default)
            for index, entry in enumerate(self.data["hosts"])
        )
        self.check_attach_network(hosts, attach)
        self.check_overlaps(hosts)
        self.check_unique(hosts, "name", lambda host: host.name and host.name.lower())
        self.check_unique(hosts, "mac", lambda host: host.mac)
        routing_checks = RoutingChecks(self, attach)
        routing = routing_checks.routing(hosts)
        shaping = ShapingChecks(routing_checks).shaping(self.data.get("shaping"))

        return Topology(
            path=self.path,
            attach=attach,
            templates=FrozenMap(templates),
            hosts=hosts,
            raw=freeze(self.data),
            default_template=default,
            trap_domains=tuple(self.data.get("trap_domains", ())),
            marks=self.marks,
            routing=routing,
            shaping=shaping,
        )

    # attach

    def attach(self) -> Attach:
        raw = self.data["attach"]
        where: FieldPath = ("attach", "host_address")
        text = raw["host_address"]
        address_text, _, prefix_text = text.partition("/")
        address = self.ipv4(address_text, where, text)
        prefix = int(prefix_text)
        if not 8 <= prefix <= 30:
            self.fail(where, show(text), "a prefix length from 8 to 30")

        attach = Attach(raw.get("tap", DEFAULT_TAP), address, prefix)
        if address in (attach.network, attach.broadcast):
            role = "network" if address == attach.network else "broadcast"
            found = f"{text!r}, the {role} address of its network"
            allowed = "an address inside the network, such as "
            allowed += f"{format_address(attach.broadcast - 1)}/{prefix}"
            self.fail(where, found, allowed)
        self.check_unicast(address, address, where, text)
        return attach

    # templates

    def templates(self) -> dict[str, Template]:
        raw: Mapping[str, Any] = self.data.get("templates", {})
        self.check_inherits(raw)
        resolved: dict[str, Template] = {}
        for name in raw:
            self.resolve(name, raw, resolved)
        return resolved

    def check_inherits(self, raw: Mapping[str, Any]) -> None:
        # Limitation: a template inherits from one parent; a list of parents
        # would need an order of precedence that nobody has asked for yet.
        for name, body in raw.items():
            parent = body.get("inherits")
            if parent is not None and parent not in raw:
                self.fail(
                    ("templates", name, "inherits"),
                    show(parent),
                    _template_choices(raw),
                    did_you_mean(parent, raw),
                )
        for name in raw:
            cycle = _cycle_from(name, raw)
            if cycle and cycle[0] == name:
                self.fail(
                    ("templates", name, "inherits"),
                    "a cycle of templates: " + " -> ".join(cycle),
                    "a chain of inherits that ends at a template without inherits",
                )

    def resolve(
        self, name: str, raw: Mapping[str, Any], resolved: dict[str, Template]
    ) -> Template:
        # Walk up to the first resolved ancestor, then resolve back down,
        # so a long chain of inherits needs no recursion.
        chain = [name]
        while chain[-1] not in resolved and raw[chain[-1]].get("inherits"):
            chain.append(raw[chain[-1]]["inherits"])
        base = resolved.get(chain[-1])
        if base is not None:
            chain.pop()
        for step in reversed(chain):
            base = self.apply(base or BUILTIN, raw[step], ("templates", step), step)
            resolved[step] = base
        return resolved[name]

    def default_template(self, templates: Mapping[str, Template]) -> str | None:
        name: str | None = self.data.get("defaults", {}).get("template")
        if name is not None and name not in templates:
            self.fail(
                ("defaults", "template"),
                show(name),
                _template_choices(templates),
                did_you_mean(name, templates),
            )
        return name

    # settings shared by templates and hosts

    def apply(
        self, base: Template, settings: Mapping[str, Any], where: FieldPath, name: str
    ) -> Template:
        """`base` with the settings written at `where` laid over it."""
        changes: dict[str, Any] = {}
        origins = dict(base.origins)
        for key, attribute in _SETTINGS.items():
            if key in settings:
                changes[attribute] = settings[key]
                origins[attribute] = (*where, key)
        if "uptime" in settings:
            changes["uptime"] = self.uptime(settings["uptime"], (*where, "uptime"))

        ports = dict(base.ports)
        for key, value in settings.get("ports", {}).items():
            spec = self.port(key, value, (*where, "ports", key))
            ports[spec.key] = spec
        changes["ports"] = FrozenMap(dict(sorted(ports.items())))

        return dataclasses.replace(
            base, name=name, origins=FrozenMap(origins), **changes
        )

    def uptime(self, value: int | float | str, where: FieldPath) -> float:
        if isinstance(value, str):
            seconds = float(
                sum(
                    int(count) * _UNIT_SECONDS[unit]
                    for count, unit in _DURATION_PART.findall(value)
                )
            )
        else:
            seconds = float(value)
        if not math.isfinite(seconds) or not 0 <= seconds <= MAX_UPTIME:
            self.fail(where, show(value), "from 0 seconds to 3650 days")
        return seconds

    def port(self, key: str, value: Any, where: FieldPath) -> PortSpec:
        protocol, _, number_text = key.partition("/")
        number = int(number_text)
        if not 1 <= number <= 65535:
            hint = "port 0 is reserved" if number == 0 else None
            allowed = "tcp/N or udp/N with N from 1 to 65535"
            self.fail(where, show(key), allowed, hint, at_key=True)

        if isinstance(value, str):
            return PortSpec(protocol, number, value, None, origin=where)
        service, policy = value.get("service"), value.get("policy")
        if service is not None and policy is not None:
            self.fail(
                (*where, "policy"),
                "both service and policy",
                "either a service (with options) or a policy",
                "a port with a service is open; remove policy",
                at_key=True,
            )
        if service is None and "options" in value:
            found = "options without a service"
            allowed = "options only next to a service"
            self.fail((*where, "options"), found, allowed, at_key=True)
        if service is None and policy is None:
            allowed = "a mapping with service (and options) or with policy"
            self.fail(where, show(value), allowed)
        options = freeze(value.get("options", {}))
        return PortSpec(protocol, number, policy, freeze(service), options, where)

    # hosts

    def host(
        self,
        index: int,
        entry: Mapping[str, Any],
        templates: Mapping[str, Template],
        default: str | None,
    ) -> HostSpec:
        where: FieldPath = ("hosts", index)
        text = entry["address"]
        first, last = self.address(text, (*where, "address"))
        template_name = self.template_name(entry, where, templates, default)
        template = self.apply(templates[template_name], entry, where, template_name)

        name = entry.get("name")
        if name is not None:
            self.check_single(first, last, (*where, "name"), name, "a name")
        mac = None
        if "mac" in entry:
            self.check_single(first, last, (*where, "mac"), entry["mac"], "a MAC")
            mac = self.mac(entry["mac"], (*where, "mac"))

        return HostSpec(
            first, last, name, template, template_name, mac, index, address=text
        )

    def template_name(
        self,
        entry: Mapping[str, Any],
        where: FieldPath,
        templates: Mapping[str, Template],
        default: str | None,
    ) -> str:
        name = entry.get("template", default)
        if name is None:
            self.fail(
                (*where, "template"),
                "nothing",
                _template_choices(templates),
                "name a template here, or set defaults.template",
            )
        if name not in templates:
            self.fail(
                (*where, "template"),
                show(name),
                _template_choices(templates),
                did_you_mean(name, templates),
            )
        return str(name)

    def check_single(
        self, first: int, last: int, where: FieldPath, value: str, what: str
    ) -> None:
        if first != last:
            count = last - first + 1
            self.fail(
                where,
                show(value),
                f"{what} only on an entry with a single address",
                f"this entry covers {count:,} addresses",
            )

    def mac(self, text: str, where: FieldPath) -> bytes:
        mac = bytes.fromhex(text.replace(":", "").replace("-", ""))
        if mac[0] & 1:
            fixed = ":".join(
                f"{octet:02x}" for octet in bytes([mac[0] & 0xFE]) + mac[1:]
            )
            self.fail(
                where,
                f"{text!r}, a multicast MAC (first octet odd)",
                "a unicast MAC: the first octet is even",
                f"did you mean {fixed!r}?",
            )
        if not any(mac):
            self.fail(where, show(text), "a MAC that is not all zeros")
        return mac

    # addresses

    def address(self, text: str, where: FieldPath) -> tuple[int, int]:
        """The inclusive span an address, range or CIDR block covers."""
        if "/" in text:
            first, last = self.cidr(text, where)
        elif "-" in text:
            first, last = self.range(text, where)
        else:
            first = last = self.ipv4(text, where, text)
        self.check_unicast(first, last, where, text)
        return first, last

    def cidr(self, text: str, where: FieldPath) -> tuple[int, int]:
        base_text, _, prefix_text = text.partition("/")
        base = self.ipv4(base_text, where, text)
        prefix = int(prefix_text)
        if prefix > 32:
            self.fail(where, show(text), "a prefix length from 8 to 32")
        if prefix < 8:
            count = 1 << (32 - prefix)
            self.fail(
                where,
                f"{text!r}, {count:,} addresses",
                f"at most {MAX_ENTRY_ADDRESSES:,} addresses (a /8) in one entry",
            )

        mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
        if base & ~mask & 0xFFFFFFFF:
            network = f"{format_address(base & mask)}/{prefix}"
            self.fail(
                where,
                f"{text!r}, which has host bits set",
                "a CIDR block whose address is its network address",
                f"did you mean {network!r}?",
            )

        first, last = base, base | (~mask & 0xFFFFFFFF)
        if prefix <= 30:
            # The network and broadcast addresses answer for no host.
            first, last = first + 1, last - 1
        return first, last

    def range(self, text: str, where: FieldPath) -> tuple[int, int]:
        # Limitation: only the full form A.B.C.D-A.B.C.E; the short form
        # A.B.C.D-E some tools accept is refused by the schema's pattern.
        start_text, _, end_text = text.partition("-")
        first = self.ipv4(start_text, where, text)
        last = self.ipv4(end_text, where, text)
        if last < first:
            self.fail(
                where,
                f"{text!r}, which ends before it starts",
                "a range A-B with A not after B",
                f"did you mean '{end_text}-{start_text}'?",
            )
        count = last - first + 1
        if count > MAX_ENTRY_ADDRESSES:
            self.fail(
                where,
                f"{text!r}, {count:,} addresses",
                f"at most {MAX_ENTRY_ADDRESSES:,} addresses (a /8) in one entry",
            )
        return first, last

    def ipv4(self, text: str, where: FieldPath, whole: str) -> int:
        octets = text.split(".")
        for octet in octets:
            if int(octet) > 255:
                found = f"{whole!r}, whose octet {octet} is above 255"
                self.fail(where, found, "IPv4 addresses with octets from 0 to 255")
            if len(octet) > 1 and octet.startswith("0"):
                found = f"{whole!r}, whose octet {octet} has a leading zero"
                hint = "leading zeros are read as octal by some tools; drop them"
                self.fail(where, found, "IPv4 octets without leading zeros", hint)
        return int.from_bytes(bytes(int(octet) for octet in octets), "big")

    def check_unicast(self, first: int, last: int, where: FieldPath, text: str) -> None:
        for block, kind in _NOT_UNICAST:
            start, end = _block_span(block)
            if first <= end and last >= start:
                self.fail(
                    where,
                    f"{text!r}, which includes {kind} addresses ({block})",
                    "unicast addresses outside "
                    + ", ".join(block for block, _ in _NOT_UNICAST),
                )

    # checks across host entries

    def check_attach_network(self, hosts: tuple[HostSpec, ...], attach: Attach) -> None:
        network = f"{format_address(attach.network)}/{attach.prefix_length}"
        inside = attach.network + 1, attach.broadcast - 1
        for host in hosts:
            where: FieldPath = ("hosts", host.index, "address")
            touches = host.first <= attach.broadcast and host.last >= attach.network
            if touches and not (inside[0] <= host.first and host.last <= inside[1]):
                self.fail(
                    where,
                    f"{host.address!r}, which runs past the attach network {network}",
                    "an entry inside the attach network, from "
                    f"{format_address(inside[0])} to {format_address(inside[1])}, "
                    "or wholly outside it",
                    "split the entry at the network's edge",
                )
            if attach.host_address in host:
                host_address = format_address(attach.host_address)
                line = self.line_of(("attach", "host_address"))
                self.fail(
                    where,
                    f"{host.address!r}, which includes the attach host "
                    f"address {host_address}",
                    "addresses other than attach.host_address",
                    f"attach.host_address is at line {line}",
                )

    def check_overlaps(self, hosts: tuple[HostSpec, ...]) -> None:
        # Limitation: an entry cannot carve a few special hosts out of a larger
        # one; the larger one is written as several entries around them. That
        # keeps "which entry owns this address" free of precedence rules.
        by_start = sorted(hosts, key=lambda host: (host.first, host.index))
        pairs = []
        widest: HostSpec | None = None
        for host in by_start:
            if widest is not None and host.first <= widest.last:
                pairs.append(sorted((widest, host), key=lambda host: host.index))
            if widest is None or host.last > widest.last:
                widest = host
        if not pairs:
            return

        earlier, later = min(pairs, key=lambda pair: (pair[1].index, pair[0].index))
        where: FieldPath = ("hosts", earlier.index, "address")
        self.fail(
            ("hosts", later.index, "address"),
            f"{later.address!r}, which overlaps hosts[{earlier.index}] "
            f"({earlier.address!r}, line {self.line_of(where)})",
            "addresses that no other host entry covers",
        )

    def check_unique(
        self, hosts: tuple[HostSpec, ...], key: str, value_of: Any
    ) -> None:
        seen: dict[Any, HostSpec] = {}
        for host in hosts:
            value = value_of(host)
            if not value:
                continue
            if value in seen:
                first = seen[value]
                where: FieldPath = ("hosts", first.index, key)
                self.fail(
                    ("hosts", host.index, key),
                    show(self.data["hosts"][host.index][key]),
                    f"a {key} that no other host has",
                    f"hosts[{first.index}] has it, at line {self.line_of(where)}",
                )
            seen[value] = host


def _cycle_from(name: str, raw: Mapping[str, Any]) -> list[str]:
    """The cycle that following `inherits` from `name` runs into, or []."""
    chain = [name]
    parent = raw[name].get("inherits")
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = raw[parent].get("inherits")
    if parent is None:
        return []
    return [*chain[chain.index(parent) :], parent]


def _template_choices(templates: Mapping[str, Any]) -> str:
    if not templates:
        return "a template name (none is defined under templates)"
    return f"a template name ({choice_list(templates)})"


def _block_span(block: str) -> tuple[int, int]:
    base, _, prefix = block.partition("/")
    start = int.from_bytes(bytes(int(octet) for octet in base.split(".")), "big")
    return start, start + (1 << (32 - int(prefix))) - 1
