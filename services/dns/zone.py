"""Authoritative zones and the lookup algorithm of RFC 1034 section 4.3.2.

A zone is a stack of layers. Each layer answers, for one name, the record
sets it holds there (by type), an empty mapping for a name that exists
with no records (an empty non-terminal, RFC 8020), or None if it does not
know the name. Layers higher in the stack replace a lower one's record set
of the same type. That lets the generated records, the address pools that
answer at random, and the records a topology adds or overrides be kept
apart, and lets a /16 of reverse names be computed per query instead of
stored, as ranges of hosts cost nothing until contacted.

The answers follow BIND 9.9 with `recursion no` and its default
`minimal-responses no`:

- a name in none of our zones is REFUSED, not authoritative;
- a name that does not exist is NXDOMAIN, a name without the type asked
  for is NODATA (NOERROR, empty answer); both carry the zone's SOA in the
  authority section, with the TTL RFC 2308 section 5 gives it;
- a positive answer carries the zone's NS records as authority, and the
  addresses of the NS, MX and SRV targets we know as additional data;
- a CNAME is followed while its target is in our zones (RFC 1034 4.3.2
  step 3a); the final rcode is the last name's (RFC 6604).

Deliberately left out: wildcards (RFC 4592), delegations to child zones and
DNSSEC. The topology generates none, and records added in the options are
plain data at one name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from dnslib import CLASS, QTYPE, RCODE, RD, RR, SOA, DNSLabel

from services.dns.message import Answer
from services.dns.names import Name, ancestors, is_under

TYPE_ANY = 255
MAX_CNAME_CHAIN = 8


@dataclass(frozen=True)
class RRset:
    """The records of one type at one name, with their shared TTL."""

    rtype: int
    ttl: int
    rdatas: tuple[RD, ...]

    def records(self, owner: DNSLabel | Name, rclass: int) -> list[RR]:
        label = owner if isinstance(owner, DNSLabel) else DNSLabel(owner)
        return [RR(label, self.rtype, rclass, self.ttl, rd) for rd in self.rdatas]


Node = Mapping[int, RRset]
Layer = Callable[[Name, random.Random], Node | None]


class StaticLayer:
    """Record sets at fixed names; the names above them exist too."""

    def __init__(self, origin: Name) -> None:
        self.origin = origin
        self.nodes: dict[Name, dict[int, RRset]] = {}

    def add(self, owner: Name, rrset: RRset) -> None:
        self.nodes.setdefault(owner, {})[rrset.rtype] = rrset
        for above in ancestors(owner, self.origin):
            self.nodes.setdefault(above, {})

    def __call__(self, owner: Name, rng: random.Random) -> Node | None:
        return self.nodes.get(owner)


@dataclass
class Zone:
    """One zone: its apex records, and the layers that answer below it."""

    origin: Name
    soa: RRset
    ns: RRset
    rclass: int = CLASS.IN
    layers: list[Layer] = field(default_factory=list)

    def node(self, owner: Name, rng: random.Random) -> dict[int, RRset] | None:
        merged: dict[int, RRset] | None = None
        if owner == self.origin:
            merged = {QTYPE.SOA: self.soa, QTYPE.NS: self.ns}
        for layer in self.layers:
            found = layer(owner, rng)
            if found is not None:
                merged = {**(merged or {}), **found}
        return merged

    def negative_soa(self) -> list[RR]:
        """The SOA for a negative answer: TTL is min(TTL, MINIMUM)."""
        minimum = self.soa.rdatas[0].times[-1]
        ttl = min(self.soa.ttl, minimum)
        negative = RRset(QTYPE.SOA, ttl, self.soa.rdatas)
        return negative.records(self.origin, self.rclass)


@dataclass
class Lookup:
    """One question being answered: the state of RFC 1034's algorithm."""

    zone: Zone
    owner: DNSLabel
    qtype: int
    found: Answer = field(default_factory=lambda: Answer(RCODE.NOERROR))


class Catalog:
    """Every zone one server is authoritative for, in one class."""

    def __init__(self, zones: Iterable[Zone], rclass: int = CLASS.IN) -> None:
        self.rclass = rclass
        self.zones = sorted(zones, key=lambda zone: -len(zone.origin))

    def zone_for(self, owner: Name) -> Zone | None:
        """The closest enclosing zone of `owner`, or None."""
        for zone in self.zones:
            if is_under(owner, zone.origin):
                return zone
        return None

    def resolve(self, qname: DNSLabel, qtype: int, rng: random.Random) -> Answer:
        """The answer to `qname`/`qtype`, as BIND's authoritative side gives it."""
        zone = self.zone_for(_key(qname))
        if zone is None:
            return Answer(RCODE.REFUSED, authoritative=False)
        lookup = Lookup(zone, qname, qtype)
        for _ in range(MAX_CNAME_CHAIN):
            target = self._step(lookup, rng)
            if target is None:
                break
            next_zone = self.zone_for(_key(target))
            if next_zone is None:
                break
            lookup.zone, lookup.owner = next_zone, target
        self._add_glue(lookup.found, rng)
        return lookup.found

    def _step(self, lookup: Lookup, rng: random.Random) -> DNSLabel | None:
        """Answer at lookup.owner; the CNAME target to chase next, if any."""
        zone, found = lookup.zone, lookup.found
        node = zone.node(_key(lookup.owner), rng)
        if node is None:
            found.rcode = RCODE.NXDOMAIN
            found.authority = zone.negative_soa()
            return None
        wanted = _wanted(node, lookup.qtype)
        if wanted:
            for rrset in wanted:
                found.answer += rrset.records(lookup.owner, zone.rclass)
            found.authority = self._authority(zone, lookup.qtype, lookup.owner)
            return None
        cname = node.get(QTYPE.CNAME)
        if cname is not None and lookup.qtype != QTYPE.CNAME:
            found.answer += cname.records(lookup.owner, zone.rclass)
            found.authority = self._authority(zone, lookup.qtype, lookup.owner)
            return DNSLabel(cname.rdatas[0].label)
        found.authority = zone.negative_soa()
        return None

    def _authority(self, zone: Zone, qtype: int, owner: DNSLabel) -> list[RR]:
        # The NS set is not repeated as authority when it is the answer.
        if qtype in (QTYPE.NS, TYPE_ANY) and _key(owner) == zone.origin:
            return []
        return zone.ns.records(zone.origin, zone.rclass)

    def _add_glue(self, found: Answer, rng: random.Random) -> None:
        """Addresses of the targets named in the answer and authority."""
        seen: set[Name] = set()
        for record in [*found.answer, *found.authority]:
            target = _target(record)
            if target is None or target in seen:
                continue
            seen.add(target)
            zone = self.zone_for(target)
            node = zone.node(target, rng) if zone else None
            rrset = node.get(QTYPE.A) if node else None
            if rrset is not None:
                found.additional += rrset.records(target, self.rclass)


def _key(owner: DNSLabel) -> Name:
    return tuple(label.lower() for label in owner.label)


def _wanted(node: Node, qtype: int) -> list[RRset]:
    if qtype == TYPE_ANY:
        return list(node.values())
    rrset = node.get(qtype)
    return [rrset] if rrset is not None else []


def _target(record: RR) -> Name | None:
    if record.rtype in (QTYPE.NS, QTYPE.MX):
        return _key(record.rdata.label)
    if record.rtype == QTYPE.SRV:
        return _key(record.rdata.target)
    return None


def soa_rrset(
    mname: Name, rname: Name, serial: int, times: tuple[int, ...], ttl: int
) -> RRset:
    """An SOA record set; `times` are refresh, retry, expire and minimum."""
    rdata = SOA(DNSLabel(mname), DNSLabel(rname), (serial, *times))
    return RRset(QTYPE.SOA, ttl, (rdata,))
