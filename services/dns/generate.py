"""The zones a topology implies, with the records its options add.

What is generated, for a topology and the service's settings:

- forward zones: the `zones` option, plus the trap domains and the parent
  domain of every name the topology or the options use, keeping only the
  outermost of nested ones (example.test holds mail.example.test);
- reverse zones: the in-addr.arpa zone of each /24 (or /16, /8 for larger
  entries) that the topology's hosts cover;
- SOA and NS at every apex. The name servers are the `nameservers` option,
  or the named hosts that bind the dns service; an unnamed one is called
  ns1, ns2... in the first forward zone;
- A for every named host, and PTR for every virtual address: its host's
  name, its pool's name, or a generated name (`host-198-51-100-7` in the
  first zone) whose A answers the same address, so forward and reverse
  agree for every address;
- MX for each trap domain, naming the smtp-sink hosts that take its mail:
  preference 10 for a sink whose name is directly under the domain
  (mx.example.test for example.test), 20 for the others, as a backup MX;
- an SPF TXT record at each trap domain, unless `spf: false`;
- pools: a name whose A record set is `answers` addresses of its range,
  drawn at random per query, with a short TTL (the HoneySpam defence
  against reverse blacklists: a listed address is one of many);
- `records` from the options, replacing the generated set of the same name
  and type.

Limitation: the zone is computed, so it cannot be listed; zone transfers
(AXFR, IXFR) are refused, as a server with `allow-transfer { none; }`.
"""

from __future__ import annotations

import bisect
import ipaddress
import random
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dnslib import AAAA, CNAME, MX, NS, PTR, QTYPE, SRV, TXT, A, DNSLabel

from services.dns import names
from services.dns.names import Name
from services.dns.options import Pool, Record, Settings
from services.dns.zone import Catalog, Node, RRset, StaticLayer, Zone, soa_rrset

DNS_SERVICE = "dns"
SINK_SERVICE = "smtp-sink"


class ZoneError(ValueError):
    """The options ask for something the topology cannot give."""


@dataclass(frozen=True)
class Span:
    """An entry of the topology's hosts: `first`..`last`, maybe named."""

    first: int
    last: int
    name: str | None = None


class AddressSpace:
    """The topology's virtual addresses, searchable without listing them."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = sorted(spans, key=lambda span: span.first)
        self._firsts = [span.first for span in self.spans]

    def find(self, address: int) -> Span | None:
        index = bisect.bisect_right(self._firsts, address) - 1
        if index >= 0 and address <= self.spans[index].last:
            return self.spans[index]
        return None

    def intersects(self, low: int, high: int) -> bool:
        index = bisect.bisect_right(self._firsts, high) - 1
        return index >= 0 and self.spans[index].last >= low


def topology_spans(topology: Any) -> list[Span]:
    return [
        Span(host.first, host.last, host.name if host.first == host.last else None)
        for host in getattr(topology, "hosts", ())
    ]


def dns_hosts(topology: Any) -> list[Any]:
    """The topology's host entries that bind the dns service, in file order."""
    return [
        host
        for host in getattr(topology, "hosts", ())
        if any(
            port.service_name == DNS_SERVICE for port in host.template.ports.values()
        )
    ]


def build_catalog(topology: Any, settings: Settings, now: float) -> Catalog:
    """Every zone for `topology` (None in socket mode) and `settings`.

    ZoneError if the options name addresses the topology does not serve.
    """
    return ZoneBuilder(topology, settings, now).catalog()


class ZoneBuilder:
    """Works out the records once; the catalog then answers from them."""

    def __init__(self, topology: Any, settings: Settings, now: float) -> None:
        self.settings = settings
        self.now = now
        self.space = AddressSpace(topology_spans(topology))
        self.trap_domains = tuple(getattr(topology, "trap_domains", ()) or ())
        self.by_address: dict[int, Name] = {
            span.first: names.name(span.name) for span in self.space.spans if span.name
        }
        self.pools = [PoolAnswer(pool, self.space) for pool in settings.pools]
        self.forward = forward_zones(topology, settings)
        self.first_zone = self.forward[0] if self.forward else None
        self.reverse = reverse_zones(self.space, settings)
        self.generated = self._generated_names()
        self.nameservers = self._nameservers(topology)
        self.exchangers = _exchangers(topology, self.generated)

    def catalog(self) -> Catalog:
        self._check_records()
        return Catalog(self._zone(origin) for origin in [*self.forward, *self.reverse])

    def _check_records(self) -> None:
        for record in self.settings.records:
            if self._zone_of(names.name(record.name)) is None:
                raise ZoneError(
                    f"records: {record.name} is in no zone of this server;"
                    " add its zone to `zones`"
                )

    # --- names --------------------------------------------------------------

    def _generated_names(self) -> GeneratedNames | None:
        pattern = self.settings.generated_names
        if pattern is None:
            return None
        if "." not in pattern:
            if self.first_zone is None:
                return None
            pattern = pattern + "." + names.text(self.first_zone)
        return GeneratedNames(pattern.rstrip("."))

    def _nameservers(self, topology: Any) -> list[tuple[Name, int | None]]:
        """The NS names, with the address of those that are our hosts."""
        if self.settings.nameservers:
            return [(names.name(ns), None) for ns in self.settings.nameservers]
        found: list[tuple[Name, int | None]] = []
        for number, host in enumerate(dns_hosts(topology), 1):
            if host.first == host.last and host.name:
                found.append((names.name(host.name), host.first))
            elif self.first_zone is not None:
                # An unnamed server is given a name, and its PTR says so too.
                server = (f"ns{number}".encode(), *self.first_zone)
                self.by_address.setdefault(host.first, server)
                found.append((server, host.first))
        if not found and self.first_zone is not None:
            found.append(((b"ns1", *self.first_zone), None))
        return found

    def ptr_name(self, address: int) -> Name | None:
        """The one name an address has: its pool's, its host's, or generated."""
        for pool in self.pools:
            if pool.first <= address <= pool.last:
                return pool.name
        named = self.by_address.get(address)
        if named is not None:
            return named
        if self.generated is not None and self.space.find(address):
            return self.generated.name_of(address)
        return None

    # --- zones --------------------------------------------------------------

    def _zone(self, origin: Name) -> Zone:
        ttl = self.settings.ttl
        contact = self.settings.contact
        rname = names.name(contact) if contact else (b"hostmaster", *origin)
        mname = self.nameservers[0][0] if self.nameservers else (b"ns1", *origin)
        serial = self.settings.serial
        if serial is None:
            serial = int(time.strftime("%Y%m%d01", time.gmtime(self.now)))
        soa = soa_rrset(mname, rname, serial, self.settings.soa_times, ttl)
        ns = RRset(
            QTYPE.NS,
            ttl,
            tuple(NS(DNSLabel(server)) for server, _ in self.nameservers),
        )
        zone = Zone(origin, soa, ns)
        zone.layers = self._layers(origin)
        # NS records given in the options are the zone's authority too.
        apex = zone.layers[-1](origin, random.Random())
        if apex and QTYPE.NS in apex:
            zone.ns = apex[QTYPE.NS]
        return zone

    def _layers(self, origin: Name) -> list[Any]:
        generated = StaticLayer(origin)
        self._add_hosts(generated, origin)
        self._add_mail(generated, origin)
        layers: list[Any] = [generated]
        if names.is_under(origin, names.REVERSE):
            layers.append(ReverseLayer(self))
        elif self.generated is not None and names.is_under(
            self.generated.suffix, origin
        ):
            # The generated names' parent exists, as do the names above it.
            generated.nodes.setdefault(self.generated.suffix, {})
            self._add_empty(generated, self.generated.suffix, origin)
            layers.append(ForwardGeneratedLayer(self))
        pools = [pool for pool in self.pools if names.is_under(pool.name, origin)]
        for pool in pools:
            self._add_empty(generated, pool.name, origin)
        if pools:
            layers.append(PoolLayer(pools))
        layers.append(self._overrides(origin))
        return layers

    def _add_hosts(self, layer: StaticLayer, origin: Name) -> None:
        ttl = self.settings.ttl
        for address, owner in self.by_address.items():
            if names.is_under(owner, origin):
                layer.add(owner, _address_rrset(ttl, [address]))
        for server, server_address in self.nameservers:
            if server_address is not None and names.is_under(server, origin):
                layer.add(server, _address_rrset(ttl, [server_address]))

    def _add_mail(self, layer: StaticLayer, origin: Name) -> None:
        ttl = self.settings.ttl
        for domain in self.trap_domains:
            owner = names.name(domain)
            if not names.is_under(owner, origin):
                continue
            exchangers = self.exchangers.get(owner, [])
            if exchangers:
                rdatas = tuple(MX(DNSLabel(host), pref) for pref, host in exchangers)
                layer.add(owner, RRset(QTYPE.MX, ttl, rdatas))
            else:
                layer.nodes.setdefault(owner, {})
            if self.settings.spf:
                text = self.settings.spf.encode()
                layer.add(owner, RRset(QTYPE.TXT, ttl, (TXT([text]),)))

    def _add_empty(self, layer: StaticLayer, owner: Name, origin: Name) -> None:
        # A name answered by a computed layer still has its ancestors.
        for above in names.ancestors(owner, origin):
            layer.nodes.setdefault(above, {})

    def _overrides(self, origin: Name) -> StaticLayer:
        layer = StaticLayer(origin)
        grouped: dict[tuple[Name, str], list[Record]] = {}
        for record in self.settings.records:
            owner = names.name(record.name)
            if self._zone_of(owner) == origin:
                grouped.setdefault((owner, record.rtype), []).append(record)
        for (owner, rtype), records in grouped.items():
            layer.add(owner, self._record_rrset(rtype, records))
        return layer

    def _zone_of(self, owner: Name) -> Name | None:
        origins = [*self.forward, *self.reverse]
        enclosing = [zone for zone in origins if names.is_under(owner, zone)]
        return max(enclosing, key=len, default=None)

    def _record_rrset(self, rtype: str, records: list[Record]) -> RRset:
        ttls = [record.ttl for record in records if record.ttl is not None]
        ttl = min(ttls) if ttls else self.settings.ttl
        try:
            rdatas = tuple(_rdata(rtype, record.value) for record in records)
        except ValueError as error:
            where = records[0].name
            raise ZoneError(f"records: {where} {rtype}: {error}") from None
        return RRset(getattr(QTYPE, rtype), ttl, rdatas)


def _exchangers(topology: Any, generated: Any) -> dict[Name, list[tuple[int, Name]]]:
    """Trap domain -> [(preference, host name)] of the sinks that take it."""
    domains = [names.name(domain) for domain in topology_trap_domains(topology)]
    found: dict[Name, list[tuple[int, Name]]] = {domain: [] for domain in domains}
    for host in getattr(topology, "hosts", ()):
        port = host.template.ports.get(("tcp", 25))
        if port is None or port.service_name != SINK_SERVICE:
            continue
        host_name = _sink_name(host, generated)
        if host_name is None:
            continue
        accepted = port.options.get("domains") or topology_trap_domains(topology)
        for domain in (names.name(text) for text in accepted):
            if domain in found:
                near = names.parent(host_name) == domain or host_name == domain
                found[domain].append((10 if near else 20, host_name))
    return {domain: sorted(hosts) for domain, hosts in found.items()}


def _sink_name(host: Any, generated: GeneratedNames | None) -> Name | None:
    if host.name:
        return names.name(host.name)
    if generated is not None:
        return generated.name_of(host.first)
    return None


def topology_trap_domains(topology: Any) -> tuple[str, ...]:
    return tuple(getattr(topology, "trap_domains", ()) or ())


def forward_zones(topology: Any, settings: Settings) -> list[Name]:
    """The forward zones; the first is where unnamed hosts get their names."""
    explicit = [
        owner
        for owner in map(names.name, settings.zones)
        if not names.is_under(owner, names.REVERSE)
    ]
    wanted = [names.name(domain) for domain in topology_trap_domains(topology)]
    for owner in map(names.name, _names_used(topology, settings)):
        if not names.is_under(owner, names.REVERSE):
            # www.example.test implies example.test; example.test itself.
            wanted.append(owner[1:] if len(owner) > 2 else owner)
    candidates = list(dict.fromkeys(wanted))

    def covered(zone: Name) -> bool:
        inner = any(
            zone != other and names.is_under(zone, other) for other in candidates
        )
        return inner or any(names.is_under(zone, other) for other in explicit)

    derived = [zone for zone in candidates if not covered(zone)]
    return list(dict.fromkeys([*explicit, *derived]))


def _names_used(topology: Any, settings: Settings) -> list[str]:
    used = [host.name for host in getattr(topology, "hosts", ()) if host.name]
    used += [pool.name for pool in settings.pools]
    used += [record.name for record in settings.records]
    used += list(settings.nameservers)
    pattern = settings.generated_names
    if pattern is not None and "." in pattern:
        used.append(pattern.replace("{dashed}", "x"))
    return used


def reverse_zones(space: AddressSpace, settings: Settings) -> list[Name]:
    """The in-addr.arpa zones: octet-aligned ones covering every virtual
    address, and those the `zones` option names."""
    networks: set[tuple[int, int]] = set()
    for span in space.spans:
        networks |= _covering_networks(span)
    outermost = [
        (network, length)
        for network, length in networks
        if not any(
            other_length < length
            and network >> (32 - other_length) == other >> (32 - other_length)
            for other, other_length in networks
        )
    ]
    found = [
        names.reverse_zone(network, length) for network, length in sorted(outermost)
    ]
    for owner in map(names.name, settings.zones):
        if names.is_under(owner, names.REVERSE) and owner not in found:
            found.append(owner)
    return found


def _covering_networks(span: Span) -> set[tuple[int, int]]:
    """The smallest of a /24, /16 or /8 holding the span; several /8s if need be."""
    for length in (24, 16, 8):
        shift = 32 - length
        if span.first >> shift == span.last >> shift:
            return {(span.first >> shift << shift, length)}
    return {(top << 24, 8) for top in range(span.first >> 24, (span.last >> 24) + 1)}


# --- computed layers ----------------------------------------------------------


class GeneratedNames:
    """Names like host-198-51-100-7.example.test, both ways."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        first, _, rest = pattern.partition(".")
        self.suffix: Name = names.name(rest)
        before, _, after = first.partition("{dashed}")
        self._first = re.compile(
            re.escape(before.lower())
            + r"(\d{1,3}(?:-\d{1,3}){3})"
            + re.escape(after.lower())
        )

    def name_of(self, address: int) -> Name:
        dashed = names.format_address(address).replace(".", "-")
        return names.name(self.pattern.replace("{dashed}", dashed))

    def address_of(self, owner: Name) -> int | None:
        if len(owner) != len(self.suffix) + 1 or owner[1:] != self.suffix:
            return None
        match = self._first.fullmatch(owner[0].decode("ascii", "replace"))
        if match is None:
            return None
        try:
            return names.parse_address(match.group(1).replace("-", "."))
        except ValueError:
            return None


class ForwardGeneratedLayer:
    """A for generated names, when the address has no other name."""

    def __init__(self, builder: ZoneBuilder) -> None:
        self.builder = builder

    def __call__(self, owner: Name, rng: random.Random) -> Node | None:
        generated = self.builder.generated
        assert generated is not None
        address = generated.address_of(owner)
        if address is None or self.builder.ptr_name(address) != owner:
            return None
        return {QTYPE.A: _address_rrset(self.builder.settings.ttl, [address])}


class ReverseLayer:
    """PTR for every virtual address; the names above them exist."""

    def __init__(self, builder: ZoneBuilder) -> None:
        self.builder = builder

    def __call__(self, owner: Name, rng: random.Random) -> Node | None:
        prefix = names.reverse_prefix(owner)
        if prefix is None:
            return None
        value, count = prefix
        if count < 4:
            size = 1 << 8 * (4 - count)
            return (
                {} if self.builder.space.intersects(value, value + size - 1) else None
            )
        target = self.builder.ptr_name(value)
        if target is None:
            return None
        rrset = RRset(QTYPE.PTR, self.builder.settings.ttl, (PTR(DNSLabel(target)),))
        return {QTYPE.PTR: rrset}


class PoolAnswer:
    """One pool: its name, its addresses, and how many to answer."""

    def __init__(self, pool: Pool, space: AddressSpace) -> None:
        self.name = names.name(pool.name)
        self.first, self.last = _pool_range(pool.addresses)
        self.answers = min(pool.answers, self.last - self.first + 1)
        self.ttl = pool.ttl
        if space.spans:
            self._check(space, pool.addresses)

    def _check(self, space: AddressSpace, written: str) -> None:
        for address in range(self.first, self.last + 1):
            if space.find(address) is None:
                address_text = names.format_address(address)
                raise ZoneError(
                    f"pools: {written}: {address_text} is not a host of the topology"
                )

    # Limitation: the PTR of every pool address names the pool, but its A
    # answer is a random few of the addresses, so a forward-confirmed
    # reverse check of one address passes only when that address is drawn.
    def rrset(self, rng: random.Random) -> RRset:
        count = self.last - self.first + 1
        chosen = rng.sample(range(count), self.answers)
        return _address_rrset(self.ttl, [self.first + index for index in chosen])


class PoolLayer:
    def __init__(self, pools: list[PoolAnswer]) -> None:
        self.pools = {pool.name: pool for pool in pools}

    def __call__(self, owner: Name, rng: random.Random) -> Node | None:
        pool = self.pools.get(owner)
        if pool is None:
            return None
        return {QTYPE.A: pool.rrset(rng)}


def _pool_range(written: str) -> tuple[int, int]:
    if "-" in written:
        low, _, high = written.partition("-")
        first, last = names.parse_address(low), names.parse_address(high)
        if last < first:
            raise ZoneError(f"pools: {written}: the range runs backwards")
        return first, last
    try:
        network = ipaddress.IPv4Network(written)
    except ValueError as error:
        raise ZoneError(f"pools: {written}: {error}") from None
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.prefixlen < 31:
        # As in the topology, a block's network and broadcast are no hosts.
        first, last = first + 1, last - 1
    return first, last


def _address_rrset(ttl: int, addresses: list[int]) -> RRset:
    rdatas = tuple(A(names.format_address(address)) for address in addresses)
    return RRset(QTYPE.A, ttl, rdatas)


def _rdata(rtype: str, value: str | tuple[str, ...]) -> Any:
    """The RDATA of a record from the options (shape checked by the schema)."""
    if rtype == "TXT":
        strings = (value,) if isinstance(value, str) else value
        return TXT([text.encode() for text in strings])
    assert isinstance(value, str)
    fields = value.split()
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(str(ipaddress.IPv6Address(value)))
    if rtype in ("NS", "CNAME", "PTR"):
        kind: Mapping[str, Any] = {"NS": NS, "CNAME": CNAME, "PTR": PTR}
        return kind[rtype](DNSLabel(value))
    if rtype == "MX":
        return MX(DNSLabel(fields[1]), _number(fields[0]))
    if rtype == "SRV":
        priority, weight, port = (_number(text) for text in fields[:3])
        return SRV(priority, weight, port, DNSLabel(fields[3]))
    raise AssertionError(f"record type {rtype} is not in the schema")


def _number(text: str) -> int:
    number = int(text)
    if number > 65535:
        raise ValueError(f"{number} is over 65535")
    return number
