"""DNS messages in and out: a strict reader for queries, and reply packing.

RFC 1035 section 4 is the message format; RFC 6891 is EDNS(0); RFC 7766
says how TCP carries messages (a two-octet length before each one).

dnslib does the wire format. Its own name decoder is not used for queries,
because a peer controls every byte: dnslib's decoder follows compression
pointers by recursion, so two pointers that point at each other (each
guarded by a label that covers the other) recurse until Python's stack
runs out, and it refuses labels that are not UTF-8, which DNS allows.
`QueryBuffer` decodes names itself, iteratively, and rejects what BIND
rejects: pointers that do not lead back before the name (so loops and
forward pointers), names over 255 octets, and the label types 0x40 and 0x80
that RFC 6891 retired; and pointers into the header.

Every fault of the peer raises `MalformedQuery`, with a short reason that
the records use; anything else escaping from here is our own bug.

Deliberately left out: records other than OPT in a query are skipped, their
names checked but their RDATA not decoded (a query has no use for them, and
decoding RDATA of any type a peer names is attack surface); EDNS options
are kept but none is acted on, as BIND 9.9 acts on none a client may send
(no cookies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dnslib import (
    EDNS0,
    QTYPE,
    RCODE,
    RR,
    DNSBuffer,
    DNSHeader,
    DNSLabel,
    DNSQuestion,
    DNSRecord,
    EDNSOption,
)
from dnslib.buffer import Buffer, BufferError

from services.dns.names import MAX_NAME

HEADER_SIZE = 12

OPCODE_QUERY = 0
TYPE_OPT = 41

# RFC 1035 section 4.2.1: without EDNS a UDP reply holds at most 512 octets.
CLASSIC_UDP_LIMIT = 512
# The most a UDP reply may hold whatever the client offers: 1232 octets, the
# size the DNS flag day of 2020 settled on, fits an IPv4 packet without
# fragments, and vnet sends no fragments.
# Limitation: BIND 9.9 sends UDP replies up to 4096 octets and says so in its
# OPT record; this server stops at 1232, so clients move to TCP sooner.
UDP_LIMIT = 1232
TCP_LIMIT = 65535


class MalformedQuery(Exception):
    """The peer sent something that is not a query we can answer.

    `reason` is a short token for the records (`compression-loop`,
    `name-too-long`...). `header` is the message's header when it could be
    read, so the reply can be FORMERR with the peer's id; None means the
    message is dropped.
    """

    def __init__(self, reason: str, header: DNSHeader | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.header = header


@dataclass
class Edns:
    """The OPT pseudo-record of a query (RFC 6891 section 6.1)."""

    udp_size: int
    version: int
    dnssec_ok: bool
    options: list[EDNSOption] = field(default_factory=list)


@dataclass
class Query:
    """A query that parsed: its header, its one question, its EDNS."""

    header: DNSHeader
    question: DNSQuestion
    edns: Edns | None
    size: int

    @property
    def qtype(self) -> int:
        return self.question.qtype

    @property
    def qclass(self) -> int:
        return self.question.qclass

    def udp_limit(self) -> int:
        """How large a UDP reply to this query may be."""
        if self.edns is None:
            return CLASSIC_UDP_LIMIT
        return max(CLASSIC_UDP_LIMIT, min(self.edns.udp_size, UDP_LIMIT))


class NameFault(BufferError):
    """A name or record the peer got wrong; `reason` goes in the records."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class QueryBuffer(DNSBuffer):
    """A DNSBuffer whose name decoder a hostile peer cannot loop or overrun."""

    offset: int
    data: bytearray

    def decode_name(self, last: int = -1) -> DNSLabel:
        labels: list[bytes] = []
        wire_length = 1
        position: int = self.offset
        lowest = position
        run_start = position
        runs: list[tuple[int, int]] = []
        resume: int | None = None
        while True:
            length = self._byte(position)
            kind = length & 0xC0
            if kind == 0xC0:
                runs.append((run_start, position + 1))
                target = self._pointer(position, lowest, runs)
                resume = position + 2 if resume is None else resume
                position = lowest = run_start = target
                continue
            if kind:
                raise NameFault("bad-label-type")
            if length == 0:
                break
            wire_length += length + 1
            if wire_length > MAX_NAME:
                raise NameFault("name-too-long")
            label = bytes(self.data[position + 1 : position + 1 + length])
            if len(label) < length:
                raise NameFault("truncated")
            labels.append(label)
            position += 1 + length
        self.offset = resume if resume is not None else position + 1
        return DNSLabel(labels)

    def _byte(self, position: int) -> int:
        if position >= len(self.data):
            raise NameFault("truncated")
        return self.data[position]

    def _pointer(self, position: int, lowest: int, runs: list[tuple[int, int]]) -> int:
        """Where the pointer at `position` leads, if BIND would follow it.

        BIND follows a pointer only to a place before every octet of the
        name read so far, so each jump goes further back and no loop can
        form. One that leads into octets already read is a loop; one that
        leads ahead, a forward pointer. Unlike BIND, a pointer into the
        header is refused as well: no name can start there.
        """
        if position + 1 >= len(self.data):
            raise NameFault("truncated")
        target = (self.data[position] & 0x3F) << 8 | self.data[position + 1]
        if target >= lowest:
            looped = any(start <= target <= end for start, end in runs)
            raise NameFault("compression-loop" if looped else "forward-pointer")
        if target < HEADER_SIZE:
            raise NameFault("bad-pointer")
        return target


def read_header(data: bytes) -> DNSHeader:
    """The header alone; MalformedQuery (dropped) if it is not a query's."""
    if len(data) < HEADER_SIZE:
        raise MalformedQuery("short")
    header = DNSHeader.parse(QueryBuffer(data[:HEADER_SIZE]))
    if header.qr:
        # A response sent to a server: BIND ignores these, so do we.
        raise MalformedQuery("response")
    return header


def parse_query(data: bytes) -> Query:
    """A whole query, checked as BIND checks one; else MalformedQuery."""
    header = read_header(data)
    buffer = QueryBuffer(data)
    buffer.offset = HEADER_SIZE
    try:
        questions = [_read_question(buffer) for _ in range(header.q)]
        opts = _read_records(buffer, header.a + header.auth + header.ar)
    except BufferError as error:
        # dnslib's Buffer raises plain BufferError when data runs out.
        reason = error.reason if isinstance(error, NameFault) else "truncated"
        raise MalformedQuery(reason, header) from None
    if buffer.remaining():
        raise MalformedQuery("trailing-data", header)
    if len(questions) != 1:
        raise MalformedQuery("question-count", header)
    if questions[0].qtype == TYPE_OPT:
        raise MalformedQuery("opt-question", header)
    edns = _edns(opts, header)
    return Query(header, questions[0], edns, len(data))


def _read_question(buffer: QueryBuffer) -> DNSQuestion:
    qname = buffer.decode_name()
    qtype, qclass = buffer.unpack("!HH")
    return DNSQuestion(qname, qtype, qclass)


def _read_records(buffer: QueryBuffer, count: int) -> list[Edns]:
    """The EDNS of every OPT record; all other records are skipped."""
    found = []
    for _ in range(count):
        owner = buffer.decode_name()
        rtype, rclass, ttl, length = buffer.unpack("!HHIH")
        rdata = buffer.get(length)
        if rtype != TYPE_OPT:
            continue
        if owner.label:
            # RFC 6891 section 6.1.1: an OPT record is owned by the root.
            raise NameFault("bad-opt")
        found.append(_read_opt(rclass, ttl, rdata))
    return found


def _read_opt(rclass: int, ttl: int, rdata: bytes) -> Edns:
    options = []
    buffer = Buffer(rdata)
    while buffer.remaining():
        code, length = buffer.unpack("!HH")
        options.append(EDNSOption(code, buffer.get(length)))
    return Edns(
        udp_size=rclass,
        version=(ttl >> 16) & 0xFF,
        dnssec_ok=bool(ttl & 0x8000),
        options=options,
    )


def _edns(opts: list[Edns], header: DNSHeader) -> Edns | None:
    if len(opts) > 1:
        raise MalformedQuery("bad-opt", header)
    return opts[0] if opts else None


# --- replies ------------------------------------------------------------------


@dataclass
class Answer:
    """What a lookup found, before it is packed into a reply."""

    rcode: int
    authoritative: bool = True
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)


BADVERS = 16
EDNS_UDP_SIZE = UDP_LIMIT


def reply_header(header: DNSHeader, rcode: int, authoritative: bool) -> DNSHeader:
    """The header of our reply to `header`: its id, opcode, RD and CD echoed.

    RA stays clear: this is an authoritative-only server, as BIND is with
    `recursion no`, and dig then warns that recursion is not available.
    """
    reply = DNSHeader(id=header.id, bitmap=0)
    reply.qr = 1
    reply.opcode = header.opcode
    reply.aa = int(authoritative)
    reply.rd = header.rd
    reply.cd = header.cd
    reply.rcode = rcode & 0xF
    return reply


def pack_reply(query: Query, found: Answer, limit: int) -> tuple[bytes, bool]:
    """The reply's bytes, and whether it had to be truncated to `limit`.

    A reply that does not fit is sent as its header and question with TC
    set and no records (RFC 2181 section 9), so the client asks again over
    TCP, where the whole answer fits.
    """
    record = DNSRecord(
        reply_header(query.header, found.rcode, found.authoritative),
        questions=[query.question],
        rr=list(found.answer),
        auth=list(found.authority),
        ar=list(found.additional),
    )
    opt = _reply_opt(query, found.rcode)
    if opt is not None:
        record.add_ar(opt)
    data = record.pack()
    if len(data) <= limit:
        return data, False
    short = DNSRecord(record.header, questions=[query.question])
    short.header.tc = 1
    if opt is not None:
        short.add_ar(opt)
    return short.pack(), True


def _reply_opt(query: Query, rcode: int) -> RR | None:
    if query.edns is None:
        return None
    # RFC 3225: the DO bit of a query is copied into the reply.
    flags = "do" if query.edns.dnssec_ok else ""
    return EDNS0(udp_len=EDNS_UDP_SIZE, flags=flags, ext_rcode=rcode >> 4)


def error_reply(header: DNSHeader, rcode: int) -> bytes:
    """A reply of header only: FORMERR to garbage, NOTIMP to other opcodes."""
    return DNSRecord(reply_header(header, rcode, False)).pack()


def rcode_text(rcode: int) -> str:
    if rcode == BADVERS:
        return "BADVERS"
    return RCODE.forward.get(rcode, f"RCODE{rcode}")


def type_text(rtype: int) -> str:
    return QTYPE.forward.get(rtype, f"TYPE{rtype}")
