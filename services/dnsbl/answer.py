"""Answering DNSBL queries: sans-IO, from a query's bytes to the reply's.

RFC 5782 describes how DNS blocklists are queried: a mail server that
wants to know about 198.51.100.7 asks for the A record of
`7.100.51.198.ZONE` (section 2.1, the octets reversed), and a TXT query of
the same name for the reason (section 2.2). An address that is not listed
is NXDOMAIN. Here each role of vnet.report.roles answers its own A record
in 127.0.0.0/8 (section 2.3), so a listing names every role; the TXT
records say the same in words.

What is answered, beyond that:

- `7.100.51.198.ROLE.ZONE` asks about one role only, as the rbldnsd
  export's subzones do (vnet/export/blocklists.py);
- 127.0.0.2 is listed and 127.0.0.1 is not, as section 5 requires of every
  list, so that mail servers can test the list;
- the zone's own name answers SOA and NS; negative answers carry the SOA,
  whose minimum is the negative-caching TTL (RFC 2308 section 5);
- a name outside the zone is REFUSED, an opcode other than QUERY is
  NOTIMP, a query with no question or several is FORMERR. A message that
  does not parse at all, or a response, is dropped: answering garbage only
  helps reflection attacks.

Deliberately left out: IPv6 (nibble) names get NXDOMAIN, since vnet's
network is IPv4; DNSSEC, EDNS options and TCP, which no DNSBL client
needs for answers this small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from dnslib import (
    NS,
    QTYPE,
    RCODE,
    RR,
    SOA,
    TXT,
    A,
    DNSError,
    DNSLabel,
    DNSRecord,
)

from vnet.report.roles import CODES, DESCRIPTIONS, ROLES

TEST_ADDRESS = "127.0.0.2"
TEST_TEXT = "vnet DNSBL test entry (RFC 5782 section 5)"

# roles of an address; called with the dotted address
Lookup = Callable[[str], list[str]]


class QueryError(Exception):
    """The datagram is not a DNS query this server answers at all."""


@dataclass(frozen=True)
class Zone:
    name: str
    ttl: int = 300
    nameserver: str = ""
    hostmaster: str = ""
    serial: int = 1

    @property
    def label(self) -> DNSLabel:
        return DNSLabel(self.name)

    def soa(self) -> RR:
        parent = self.name.partition(".")[2] or self.name
        mname = self.nameserver or f"ns.{parent}"
        rname = self.hostmaster or f"hostmaster.{parent}"
        times = (self.serial, 600, 300, 86400, self.ttl)
        return RR(self.name, QTYPE.SOA, ttl=self.ttl, rdata=SOA(mname, rname, times))

    def ns(self) -> RR:
        parent = self.name.partition(".")[2] or self.name
        target = self.nameserver or f"ns.{parent}"
        return RR(self.name, QTYPE.NS, ttl=self.ttl, rdata=NS(target))


@dataclass
class Outcome:
    """What was asked and answered, for the record."""

    reply: bytes
    name: str
    type: str
    rcode: str
    address: str | None = None
    listed: list[str] = field(default_factory=list)


def answer(data: bytes, zone: Zone, lookup: Lookup) -> Outcome:
    """The reply to one query; QueryError for a datagram to drop."""
    query = _parse(data)
    reply = query.reply(ra=0, aa=1)
    if query.header.opcode != 0:
        reply.header.aa = 0
        return _finish(reply, query, "NOTIMP", RCODE.NOTIMP)
    if len(query.questions) != 1:
        reply.header.aa = 0
        return _finish(reply, query, "FORMERR", RCODE.FORMERR)
    question = query.q
    if not question.qname.matchSuffix(zone.label):
        reply.header.aa = 0
        return _finish(reply, query, "REFUSED", RCODE.REFUSED)
    relative = question.qname.stripSuffix(zone.label).label
    if not relative:
        return _apex(reply, query, zone)
    return _listing(reply, query, zone, relative, lookup)


def _parse(data: bytes) -> DNSRecord:
    try:
        query = DNSRecord.parse(data)
    except (DNSError, ValueError, IndexError) as error:
        raise QueryError(f"not a DNS message: {error}") from None
    if query.header.qr:
        raise QueryError("a response, not a query")
    return query


def _apex(reply: DNSRecord, query: DNSRecord, zone: Zone) -> Outcome:
    qtype = query.q.qtype
    if qtype in (QTYPE.SOA, QTYPE.ANY):
        reply.add_answer(zone.soa())
    if qtype in (QTYPE.NS, QTYPE.ANY):
        reply.add_answer(zone.ns())
    if not reply.rr:
        reply.add_auth(zone.soa())
    return _finish(reply, query, "NOERROR", RCODE.NOERROR)


def _listing(
    reply: DNSRecord,
    query: DNSRecord,
    zone: Zone,
    relative: tuple[bytes, ...],
    lookup: Lookup,
) -> Outcome:
    address, only = _address_of(relative)
    if address is None:
        reply.add_auth(zone.soa())
        return _finish(reply, query, "NXDOMAIN", RCODE.NXDOMAIN)
    if address == TEST_ADDRESS:
        roles = ["test"]
    else:
        roles = [role for role in lookup(address) if only is None or role == only]
    if not roles:
        reply.add_auth(zone.soa())
        return _finish(reply, query, "NXDOMAIN", RCODE.NXDOMAIN, address)
    _add_records(reply, query, zone, address, roles)
    if not reply.rr:
        reply.add_auth(zone.soa())
    return _finish(reply, query, "NOERROR", RCODE.NOERROR, address, roles)


def _address_of(relative: tuple[bytes, ...]) -> tuple[str | None, str | None]:
    """(dotted address, role or None) of a name's part below the zone."""
    only = None
    if len(relative) == 5:
        only = relative[4].decode("ascii", "replace").lower()
        if only not in ROLES:
            return None, None
        relative = relative[:4]
    if len(relative) != 4:
        return None, None
    octets = []
    for label in reversed(relative):
        text = label.decode("ascii", "replace")
        if not text.isdigit() or len(text) > 3 or int(text) > 255:
            return None, None
        octets.append(str(int(text)))
    return ".".join(octets), only


def _add_records(
    reply: DNSRecord, query: DNSRecord, zone: Zone, address: str, roles: list[str]
) -> None:
    qname, qtype = query.q.qname, query.q.qtype
    for role in roles:
        code = TEST_ADDRESS if role == "test" else CODES[role]
        text = TEST_TEXT if role == "test" else f"vnet {role}: {DESCRIPTIONS[role]}"
        if qtype in (QTYPE.A, QTYPE.ANY):
            reply.add_answer(RR(qname, QTYPE.A, ttl=zone.ttl, rdata=A(code)))
        if qtype in (QTYPE.TXT, QTYPE.ANY):
            reply.add_answer(RR(qname, QTYPE.TXT, ttl=zone.ttl, rdata=TXT(text)))


def _finish(
    reply: DNSRecord,
    query: DNSRecord,
    rcode_name: str,
    rcode: int,
    address: str | None = None,
    listed: list[str] | None = None,
) -> Outcome:
    reply.header.rcode = rcode
    question = query.q if query.questions else None
    return Outcome(
        reply=reply.pack(),
        name=str(question.qname) if question else "",
        type=QTYPE.get(question.qtype, str(question.qtype)) if question else "",
        rcode=rcode_name,
        address=address,
        listed=list(listed or []),
    )
