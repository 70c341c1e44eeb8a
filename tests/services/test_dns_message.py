"""The dns service's strict query reader and its reply packing."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, TXT, DNSRecord, EDNSOption

from services.dns.message import (
    CLASSIC_UDP_LIMIT,
    UDP_LIMIT,
    Answer,
    MalformedQuery,
    pack_reply,
    parse_query,
    read_header,
)


def header(qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, flags=0x0100) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, flags, qd, an, ns, ar)


def reason_for(data: bytes) -> str:
    with pytest.raises(MalformedQuery) as caught:
        parse_query(data)
    return caught.value.reason


def test_a_query_from_dnslib_parses_with_its_question_and_id():
    query = parse_query(DNSRecord.question("www.example.test", "MX").pack())

    assert str(query.question.qname) == "www.example.test."
    assert query.qtype == QTYPE.MX
    assert query.edns is None
    assert query.udp_limit() == CLASSIC_UDP_LIMIT


def test_edns_is_read_and_sets_the_udp_limit():
    record = DNSRecord.question("www.example.test")
    record.add_ar(EDNS0(udp_len=4096, flags="do", opts=[EDNSOption(10, b"c" * 8)]))

    query = parse_query(record.pack())

    assert query.edns is not None
    assert (query.edns.udp_size, query.edns.version) == (4096, 0)
    assert query.edns.dnssec_ok
    assert [option.code for option in query.edns.options] == [10]
    assert query.udp_limit() == UDP_LIMIT  # capped: vnet sends no fragments


def test_a_small_edns_size_still_allows_512_octets():
    record = DNSRecord.question("www.example.test")
    record.add_ar(EDNS0(udp_len=100))

    assert parse_query(record.pack()).udp_limit() == CLASSIC_UDP_LIMIT


def test_a_label_that_is_not_utf8_is_a_name_like_any_other():
    data = header() + b"\x03\xff\xfe\x80\x04test\x00" + b"\x00\x01\x00\x01"

    query = parse_query(data)

    assert query.question.qname.label == (b"\xff\xfe\x80", b"test")


def test_a_pointer_to_itself_is_a_compression_loop():
    data = header() + b"\xc0\x0c" + b"\x00\x01\x00\x01"

    assert reason_for(data) == "compression-loop"


def test_a_pointer_back_into_the_labels_of_its_own_name_is_a_loop():
    data = header() + b"\x01a\x01b\xc0\x0e" + b"\x00\x01\x00\x01"

    assert reason_for(data) == "compression-loop"


def test_pointers_must_lead_back_as_bind_demands():
    # Two pointers at each other: the first already leads forward.
    data = header() + b"\xc0\x0e\xc0\x0c" + b"\x00\x01\x00\x01"
    assert reason_for(data) == "forward-pointer"

    # A second name may point back at the first, but not past where it began.
    first = b"\x01a\x00\x00\x01\x00\x01"
    back = b"\x01b\xc0\x0c\x00\x01\x00\x01"
    behind = b"\x01b\xc0\x0e\x00\x01\x00\x01"  # into "a"'s own bytes: fine
    assert reason_for(header(qd=2) + first + back) == "question-count"
    assert reason_for(header(qd=2) + first + behind) == "question-count"


def test_a_loop_that_sends_dnslibs_own_decoder_into_recursion_is_caught():
    # A record's owner points into earlier RDATA, where a label covers the
    # pointer that leads back: each pointer points backwards, as dnslib
    # demands, and dnslib's recursive decoder never ends. This is why the
    # service decodes names itself.
    data = bytearray(header(an=2) + b"\x00\x00\x01\x00\x01")
    data += b"\x00" + struct.pack("!HHIH", 10, 1, 0, 622)
    rdata = bytearray(b"z" * 622)
    rdata[640 - 28 : 650 - 28] = b"\x07x\x01b\xc2\x80xx\xc2\x82"
    data += rdata + b"\xc2\x80" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x01" * 4

    with pytest.raises(RecursionError):
        DNSRecord.parse(bytes(data))
    assert reason_for(bytes(data)) == "compression-loop"


def test_a_pointer_into_the_header_or_past_the_end_is_refused():
    into_header = header() + b"\xc0\x02" + b"\x00\x01\x00\x01"
    past_end = header() + b"\xc0\xff" + b"\x00\x01\x00\x01"

    assert reason_for(into_header) == "bad-pointer"
    assert reason_for(past_end) == "forward-pointer"


def test_a_name_over_255_octets_is_refused_even_through_pointers():
    labels = b"\x3f" + b"a" * 63
    long_name = labels * 4 + b"\x00"  # 4 * 64 + 1 = 257 octets
    assert reason_for(header() + long_name + b"\x00\x01\x00\x01") == "name-too-long"

    # A first name of 193 octets, and a second of one more label and a
    # pointer to the first: 64 + 193 octets.
    first = labels * 3 + b"\x00" + b"\x00\x01\x00\x01"
    second = labels + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    assert reason_for(header(qd=2) + first + second) == "name-too-long"


def test_the_retired_label_types_are_refused():
    for kind in (b"\x41", b"\x80"):
        data = header() + kind + b"abc\x00" + b"\x00\x01\x00\x01"
        assert reason_for(data) == "bad-label-type"


def test_a_message_cut_short_is_truncated():
    whole = DNSRecord.question("www.example.test").pack()

    for cut in (13, 20, len(whole) - 1):
        assert reason_for(whole[:cut]) == "truncated"


def test_octets_after_the_last_record_are_trailing_data():
    data = DNSRecord.question("www.example.test").pack() + b"\x00"

    assert reason_for(data) == "trailing-data"


def test_a_query_needs_exactly_one_question():
    none = header(qd=0)
    two = header(qd=2) + (b"\x01a\x00\x00\x01\x00\x01" * 2)

    assert reason_for(none) == "question-count"
    assert reason_for(two) == "question-count"


def test_two_opt_records_or_one_not_at_the_root_are_bad_opt():
    record = DNSRecord.question("www.example.test")
    record.add_ar(EDNS0(udp_len=1232))
    record.add_ar(EDNS0(udp_len=1232))
    assert reason_for(record.pack()) == "bad-opt"

    record = DNSRecord.question("www.example.test")
    record.add_ar(EDNS0(rname="example.test", udp_len=1232))
    assert reason_for(record.pack()) == "bad-opt"


def test_the_header_survives_a_bad_body_so_formerr_can_echo_the_id():
    data = header() + b"\xc0\x0c" + b"\x00\x01\x00\x01"

    with pytest.raises(MalformedQuery) as caught:
        parse_query(data)

    assert caught.value.header is not None
    assert caught.value.header.id == 0x1234


def test_short_messages_and_responses_are_dropped_without_a_header():
    response = DNSRecord.question("www.example.test").reply().pack()

    for data, reason in ((b"\x00" * 11, "short"), (response, "response")):
        with pytest.raises(MalformedQuery) as caught:
            read_header(data)
        assert caught.value.reason == reason
        assert caught.value.header is None


def test_a_reply_keeps_the_case_of_the_question_and_compresses_to_it():
    query = parse_query(DNSRecord.question("WwW.Example.TEST").pack())
    found = Answer(RCODE.NOERROR)
    found.answer = [*RR.fromZone("WwW.Example.TEST 60 IN A 198.51.100.10")]

    data, truncated = pack_reply(query, found, CLASSIC_UDP_LIMIT)

    assert not truncated
    assert b"\xc0\x0c" in data  # the answer's owner points at the question
    reply = DNSRecord.parse(data)
    assert str(reply.q.qname) == "WwW.Example.TEST."
    assert (reply.header.qr, reply.header.aa, reply.header.ra) == (1, 1, 0)
    assert reply.header.rd == 1


def test_a_reply_over_the_limit_is_truncated_to_header_and_question():
    query = parse_query(DNSRecord.question("big.example.test", "TXT").pack())
    found = Answer(RCODE.NOERROR)
    found.answer = [
        RR("big.example.test", QTYPE.TXT, rdata=TXT([b"x" * 200]), ttl=60)
        for _ in range(4)
    ]

    data, truncated = pack_reply(query, found, CLASSIC_UDP_LIMIT)
    whole, cut = pack_reply(query, found, 65535)

    assert truncated and not cut
    reply = DNSRecord.parse(data)
    assert reply.header.tc == 1
    assert (len(reply.questions), len(reply.rr)) == (1, 0)
    assert len(DNSRecord.parse(whole).rr) == 4


def test_a_reply_to_an_edns_query_carries_opt_and_the_do_bit():
    record = DNSRecord.question("www.example.test")
    record.add_ar(EDNS0(udp_len=4096, flags="do"))
    query = parse_query(record.pack())

    data, _ = pack_reply(query, Answer(RCODE.NXDOMAIN), UDP_LIMIT)

    reply = DNSRecord.parse(data)
    [opt] = reply.ar
    assert opt.rtype == QTYPE.OPT
    assert opt.edns_do == 1
    assert reply.header.rcode == RCODE.NXDOMAIN
