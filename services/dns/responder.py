"""From a message's bytes to the reply's bytes and the record of the query.

Sans-IO: the UDP handler and the TCP stream both hand each message here,
with the transport it came by, and send what comes back. The choices
follow BIND 9.9 as an authoritative-only server:

- fewer than 12 octets, or a response (QR set): dropped, no reply;
- an opcode other than QUERY (nmap's UDP probe is a STATUS request):
  NOTIMP, header only;
- a message that does not parse (a compression loop, a name over 255
  octets, a retired label type, trailing data, not exactly one question,
  two OPT records): FORMERR, header only, so the peer's id comes back;
- EDNS version above 0: BADVERS (RFC 6891 section 6.1.3);
- AXFR or IXFR: FORMERR over UDP, REFUSED over TCP (no transfers);
- class IN (or ANY): the topology's zones; class CH: version.bind and
  hostname.bind; any other class: REFUSED.

Each message ends in one record: `dns.query` for every one answered as a
query (its name, type, class, rcode and answer, and `trap_domain` when the
name is one), `dns.query.malformed`
for those that did not parse, with the reason and the first octets.

Limitation: NOTIFY and UPDATE get NOTIMP, where BIND would check them
against its zones and answer REFUSED or NOTAUTH.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from dnslib import CLASS, QTYPE, RCODE

from services.dns import names
from services.dns.chaos import chaos_catalog
from services.dns.message import (
    BADVERS,
    OPCODE_QUERY,
    TCP_LIMIT,
    Answer,
    MalformedQuery,
    Query,
    error_reply,
    pack_reply,
    parse_query,
    rcode_text,
    read_header,
    type_text,
)
from services.dns.names import Name
from services.dns.options import Settings
from services.dns.zone import Catalog

QUERY_EVENT = "dns.query"
MALFORMED_EVENT = "dns.query.malformed"

CLASS_ANY = 255
TRANSFERS = (QTYPE.AXFR, QTYPE.IXFR)
# The first octets of a malformed message, kept in its record for analysis.
RECORDED_OCTETS = 64
# hostname.bind differs per host; a server bound to a large range keeps
# the catalogs of only this many recent ones.
MAX_CHAOS_CATALOGS = 256


@dataclass
class Outcome:
    """What to send back (None: nothing), and the record of the message."""

    reply: bytes | None
    event: str
    fields: dict[str, Any]


class Responder:
    """Answers messages from one catalog, for every host that serves it."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        trap_domains: tuple[str, ...] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.trap_domains = {names.name(domain) for domain in trap_domains}
        self.rng = rng or random.Random(settings.seed)
        self._chaos: dict[str, Catalog] = {}

    def respond(self, data: bytes, transport: str, server_name: str) -> Outcome:
        """The reply to one message that came by `transport` (udp or tcp).

        `server_name` is the host's name (or address): hostname.bind says it.
        """
        try:
            header = read_header(data)
        except MalformedQuery as error:
            return self._malformed(error, data, transport, None)
        # Limitation: NOTIFY and UPDATE get NOTIMP too, where BIND would
        # check them against its zones and answer REFUSED or NOTAUTH.
        if header.opcode != OPCODE_QUERY:
            fields = {"transport": transport, "query_id": header.id}
            fields |= {"opcode": header.opcode, "rcode": "NOTIMP"}
            return Outcome(error_reply(header, RCODE.NOTIMP), QUERY_EVENT, fields)
        try:
            query = parse_query(data)
        except MalformedQuery as error:
            reply = None
            if error.header is not None:
                reply = error_reply(error.header, RCODE.FORMERR)
            return self._malformed(error, data, transport, reply)
        return self._answered(query, transport, server_name)

    def _answered(self, query: Query, transport: str, server_name: str) -> Outcome:
        found = self._lookup(query, transport, server_name)
        limit = query.udp_limit() if transport == "udp" else TCP_LIMIT
        reply, truncated = pack_reply(query, found, limit)
        fields = self._fields(query, found, transport)
        fields["truncated"] = truncated
        return Outcome(reply, QUERY_EVENT, fields)

    def _lookup(self, query: Query, transport: str, server_name: str) -> Answer:
        if query.edns is not None and query.edns.version > 0:
            return Answer(BADVERS, authoritative=False)
        # Limitation: no zone transfers; the zones are computed per query
        # and cannot be listed, so AXFR and IXFR are refused, as by a BIND
        # with `allow-transfer { none; }`.
        if query.qtype in TRANSFERS:
            rcode = RCODE.FORMERR if transport == "udp" else RCODE.REFUSED
            return Answer(rcode, authoritative=False)
        qname = query.question.qname
        if query.qclass in (CLASS.IN, CLASS_ANY):
            return self.catalog.resolve(qname, query.qtype, self.rng)
        if query.qclass == CLASS.CH:
            return self._chaos_for(server_name).resolve(qname, query.qtype, self.rng)
        return Answer(RCODE.REFUSED, authoritative=False)

    def _chaos_for(self, server_name: str) -> Catalog:
        hostname = self.settings.hostname or server_name
        catalog = self._chaos.get(hostname)
        if catalog is None:
            if len(self._chaos) >= MAX_CHAOS_CATALOGS:
                self._chaos.clear()
            catalog = chaos_catalog(self.settings.version, hostname)
            self._chaos[hostname] = catalog
        return catalog

    def _fields(self, query: Query, found: Answer, transport: str) -> dict[str, Any]:
        question = query.question
        qname = names.name(question.qname)
        return {
            "transport": transport,
            "query_id": query.header.id,
            "name": names.text(question.qname),
            "type": type_text(question.qtype),
            "class": CLASS.forward.get(question.qclass, f"CLASS{question.qclass}"),
            "rcode": rcode_text(found.rcode),
            "answer": [record.rdata.toZone() for record in found.answer],
            "trap_domain": self._trap_domain(qname),
        }

    def _trap_domain(self, qname: Name) -> str | None:
        # A lookup of the domain itself (its MX, mostly) is what a spammer
        # holding a trap address makes; names under it are hosts.
        if qname in self.trap_domains:
            return names.text(qname).rstrip(".")
        return None

    def _malformed(
        self,
        error: MalformedQuery,
        data: bytes,
        transport: str,
        reply: bytes | None,
    ) -> Outcome:
        fields = {
            "transport": transport,
            "reason": error.reason,
            "size": len(data),
            "rcode": "FORMERR" if reply is not None else None,
            "data": data[:RECORDED_OCTETS].hex(),
        }
        if error.header is not None:
            fields["query_id"] = error.header.id
        return Outcome(reply, MALFORMED_EVENT, fields)
