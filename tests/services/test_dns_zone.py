"""Zones generated from a topology, and the answers BIND would give from them.

The helpers here (TOPOLOGY, make_responder, ask) are shared by the other
dns tests.
"""

from __future__ import annotations

import datetime
import random
import struct

import pytest
from dnslib import CLASS, EDNS0, QTYPE, RCODE, DNSRecord

import vnet.config
from services.dns.generate import ZoneError, build_catalog
from services.dns.options import Settings
from services.dns.responder import Responder
from vnet.service.bindings import check_services
from vnet.service.options import OptionsError, check_options

NOW = 1_780_000_000.0  # 2026-05-28, UTC

TOPOLOGY = """
version: 1
attach: {tap: vnet0, host_address: 192.0.2.254/24}
trap_domains: [example.test, mail.example.test]
templates:
  server:
    ports: {tcp/22: open}
  dns:
    ports:
      udp/53: {service: dns}
      tcp/53: {service: dns}
  mail:
    ports:
      tcp/25: {service: smtp-sink}
  backup:
    ports:
      tcp/25: {service: smtp-sink, options: {domains: [mail.example.test]}}
hosts:
  - {address: 198.51.100.10, name: www.example.test, template: server}
  - {address: 198.51.100.30, name: mx.example.test, template: mail}
  - {address: 198.51.100.31, name: mx.mail.example.test, template: mail}
  - {address: 198.51.100.32, name: backup.example.test, template: backup}
  - {address: 198.51.100.53, name: ns.example.test, template: dns}
  - {address: 198.51.100.64-198.51.100.71, template: server}
  - {address: 203.0.113.0/24, template: server}
"""

POOL = {"name": "smtp.example.test", "addresses": "198.51.100.64-198.51.100.71"}


def make_responder(
    options: dict | None = None, text: str | None = TOPOLOGY, seed: int = 1
) -> Responder:
    topology = vnet.config.loads(text) if text is not None else None
    settings = Settings.from_options(check_options_of(options or {}))
    catalog = build_catalog(topology, settings, NOW)
    trap_domains = topology.trap_domains if topology else ()
    return Responder(catalog, settings, trap_domains, random.Random(seed))


def check_options_of(options: dict) -> dict:
    from services.dns import Dns

    return check_options(Dns, options)


def ask(
    responder: Responder,
    name: str,
    qtype: str = "A",
    qclass: str = "IN",
    transport: str = "udp",
    edns: EDNS0 | None = None,
) -> tuple[DNSRecord, dict]:
    query = DNSRecord.question(name, qtype, qclass)
    if edns is not None:
        query.add_ar(edns)
    outcome = responder.respond(query.pack(), transport, "ns.example.test")
    assert outcome.reply is not None
    reply = DNSRecord.parse(outcome.reply)
    assert reply.header.id == query.header.id
    return reply, outcome.fields


def rdata(records) -> list[str]:
    return [record.rdata.toZone() for record in records]


def owners(records) -> list[str]:
    return [str(record.rname) for record in records]


@pytest.fixture(scope="module")
def responder() -> Responder:
    return make_responder()


# --- forward zone ---------------------------------------------------------------


def test_a_named_host_answers_its_address_with_ns_and_glue(responder):
    reply, fields = ask(responder, "www.example.test")

    assert reply.header.rcode == RCODE.NOERROR
    assert reply.header.aa == 1 and reply.header.ra == 0
    assert rdata(reply.rr) == ["198.51.100.10"]
    assert rdata(reply.auth) == ["ns.example.test."]
    assert owners(reply.auth) == ["example.test."]
    assert rdata(reply.ar) == ["198.51.100.53"]
    assert fields["answer"] == ["198.51.100.10"]


def test_names_match_whatever_their_case_and_keep_it(responder):
    reply, _ = ask(responder, "WWW.Example.TEST")

    assert owners(reply.rr) == ["WWW.Example.TEST."]
    assert rdata(reply.rr) == ["198.51.100.10"]


def test_a_trap_domain_has_mx_for_the_sinks_that_take_its_mail(responder):
    reply, fields = ask(responder, "example.test", "MX")

    # backup.example.test takes only mail.example.test, so it is not here.
    assert rdata(reply.rr) == ["10 mx.example.test.", "20 mx.mail.example.test."]
    assert sorted(rdata(reply.ar)) == [
        "198.51.100.30",
        "198.51.100.31",
        "198.51.100.53",
    ]
    assert fields["trap_domain"] == "example.test"


def test_the_nearest_sink_is_preferred_for_a_subdomain(responder):
    reply, fields = ask(responder, "mail.example.test", "MX")

    assert rdata(reply.rr) == [
        "10 mx.mail.example.test.",
        "20 backup.example.test.",
        "20 mx.example.test.",
    ]
    assert fields["trap_domain"] == "mail.example.test"


def test_hosts_under_a_trap_domain_are_not_trap_domain_lookups(responder):
    _, fields = ask(responder, "mx.example.test")

    assert fields["trap_domain"] is None


def test_trap_domains_carry_an_spf_record(responder):
    reply, _ = ask(responder, "example.test", "TXT")

    assert rdata(reply.rr) == ['"v=spf1 mx -all"']


def test_the_apex_has_soa_and_ns(responder):
    soa, _ = ask(responder, "example.test", "SOA")
    ns, _ = ask(responder, "example.test", "NS")

    serial = datetime.datetime.fromtimestamp(NOW, datetime.UTC).strftime("%Y%m%d01")
    assert rdata(soa.rr) == [
        f"ns.example.test. hostmaster.example.test. {serial} 10800 3600 604800 300"
    ]
    assert rdata(ns.rr) == ["ns.example.test."]
    assert ns.auth == []  # the NS set is the answer, not repeated
    assert rdata(ns.ar) == ["198.51.100.53"]


def test_a_missing_name_is_nxdomain_with_the_soa_at_its_negative_ttl(responder):
    reply, fields = ask(responder, "nothing.example.test")

    assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.header.aa == 1
    assert reply.rr == []
    [soa] = reply.auth
    assert soa.rtype == QTYPE.SOA and soa.ttl == 300
    assert fields["rcode"] == "NXDOMAIN"


def test_a_name_without_the_type_is_nodata(responder):
    reply, fields = ask(responder, "www.example.test", "MX")

    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr == []
    assert [record.rtype for record in reply.auth] == [QTYPE.SOA]
    assert fields["rcode"] == "NOERROR" and fields["answer"] == []


def test_any_returns_every_record_set_at_the_name(responder):
    reply, _ = ask(responder, "mail.example.test", "ANY")

    assert {QTYPE[record.rtype] for record in reply.rr} == {"MX", "TXT"}


def test_other_zones_are_refused_without_authority(responder):
    for name in ("www.other.example", "test", "."):
        reply, fields = ask(responder, name)

        assert reply.header.rcode == RCODE.REFUSED
        assert reply.header.aa == 0
        assert (reply.rr, reply.auth) == ([], [])
        assert fields["rcode"] == "REFUSED"


# --- reverse zones and generated names ------------------------------------------


def test_ptr_of_a_named_host_is_its_name(responder):
    reply, _ = ask(responder, "10.100.51.198.in-addr.arpa", "PTR")

    assert rdata(reply.rr) == ["www.example.test."]
    assert owners(reply.auth) == ["100.51.198.in-addr.arpa."]


def test_an_unnamed_address_has_a_generated_name_that_resolves_back(responder):
    reply, _ = ask(responder, "7.113.0.203.in-addr.arpa", "PTR")
    assert rdata(reply.rr) == ["host-203-0-113-7.example.test."]

    forward, _ = ask(responder, "host-203-0-113-7.example.test")
    assert rdata(forward.rr) == ["203.0.113.7"]


def test_generated_names_exist_only_for_unnamed_virtual_addresses(responder):
    for name in (
        "host-198-51-100-10.example.test",  # www's address has its own name
        "host-198-51-100-99.example.test",  # not a virtual host
        "host-203-0-113-007.example.test",  # not the canonical spelling
    ):
        reply, _ = ask(responder, name)
        assert reply.header.rcode == RCODE.NXDOMAIN, name


def test_reverse_names_outside_the_virtual_space_do_not_exist(responder):
    missing, _ = ask(responder, "99.100.51.198.in-addr.arpa", "PTR")
    bogus, _ = ask(responder, "010.100.51.198.in-addr.arpa", "PTR")
    elsewhere, _ = ask(responder, "1.2.0.192.in-addr.arpa", "PTR")

    assert missing.header.rcode == RCODE.NXDOMAIN
    assert bogus.header.rcode == RCODE.NXDOMAIN
    assert elsewhere.header.rcode == RCODE.REFUSED


def test_each_covered_slash_24_is_a_reverse_zone(responder):
    for zone in ("100.51.198.in-addr.arpa", "113.0.203.in-addr.arpa"):
        reply, _ = ask(responder, zone, "SOA")
        assert reply.header.rcode == RCODE.NOERROR and len(reply.rr) == 1


def test_without_generated_names_unnamed_addresses_have_no_ptr():
    responder = make_responder({"generated_names": False})

    reply, _ = ask(responder, "7.113.0.203.in-addr.arpa", "PTR")

    assert reply.header.rcode == RCODE.NXDOMAIN


def test_generated_names_may_live_in_a_subdomain_that_then_exists():
    responder = make_responder({"generated_names": "dyn-{dashed}.pool.example.test"})

    reply, _ = ask(responder, "7.113.0.203.in-addr.arpa", "PTR")
    assert rdata(reply.rr) == ["dyn-203-0-113-7.pool.example.test."]
    forward, _ = ask(responder, "dyn-203-0-113-7.pool.example.test")
    assert rdata(forward.rr) == ["203.0.113.7"]
    between, _ = ask(responder, "pool.example.test")
    assert between.header.rcode == RCODE.NOERROR and between.rr == []


def test_an_unnamed_name_server_is_called_ns1_with_glue_and_ptr():
    text = TOPOLOGY.replace(", name: ns.example.test, template: dns", ", template: dns")
    responder = make_responder(text=text)

    ns, _ = ask(responder, "example.test", "NS")
    ptr, _ = ask(responder, "53.100.51.198.in-addr.arpa", "PTR")

    assert rdata(ns.rr) == ["ns1.example.test."]
    assert rdata(ns.ar) == ["198.51.100.53"]
    assert rdata(ptr.rr) == ["ns1.example.test."]


# --- pools ------------------------------------------------------------------------


def test_a_pool_name_answers_random_addresses_of_its_range_with_a_short_ttl():
    responder = make_responder({"pools": [{**POOL, "answers": 2}]})

    seen = set()
    for _ in range(30):
        reply, _ = ask(responder, "smtp.example.test")
        addresses = rdata(reply.rr)
        assert len(addresses) == 2 and len(set(addresses)) == 2
        assert all(record.ttl == 30 for record in reply.rr)
        seen.update(addresses)

    expected = {f"198.51.100.{last}" for last in range(64, 72)}
    assert seen <= expected
    assert len(seen) >= 6


def test_every_address_of_a_pool_points_back_at_the_pool_name():
    responder = make_responder({"pools": [POOL]})

    for last in range(64, 72):
        reply, _ = ask(responder, f"{last}.100.51.198.in-addr.arpa", "PTR")
        assert rdata(reply.rr) == ["smtp.example.test."]


def test_a_pool_in_a_new_domain_brings_its_zone():
    pool = {**POOL, "name": "mail.spam-friendly.example"}
    responder = make_responder({"pools": [pool]})

    reply, _ = ask(responder, "mail.spam-friendly.example")
    soa, _ = ask(responder, "spam-friendly.example", "SOA")

    assert len(reply.rr) == 1
    assert soa.header.rcode == RCODE.NOERROR


def test_a_pool_outside_the_virtual_hosts_is_an_error():
    pool = {**POOL, "addresses": "198.51.100.70-198.51.100.80"}

    with pytest.raises(ZoneError, match="198.51.100.72 is not a host"):
        make_responder({"pools": [pool]})


def test_a_pool_written_as_a_block_leaves_out_network_and_broadcast():
    text = TOPOLOGY.replace("198.51.100.64-198.51.100.71", "198.51.100.64/29")
    pool = {**POOL, "addresses": "198.51.100.64/29", "answers": 6}
    responder = make_responder({"pools": [pool]}, text=text)

    reply, _ = ask(responder, "smtp.example.test")

    assert sorted(rdata(reply.rr)) == [f"198.51.100.{n}" for n in range(65, 71)]


# --- records from the options -----------------------------------------------------


def test_records_replace_the_generated_set_and_add_new_ones():
    responder = make_responder(
        {
            "records": [
                {"name": "example.test", "type": "MX", "value": "5 www.example.test"},
                {"name": "example.test", "type": "A", "value": "198.51.100.10"},
                {"name": "www.example.test", "type": "TXT", "value": ["a", "b"]},
            ]
        }
    )

    mx, _ = ask(responder, "example.test", "MX")
    apex, _ = ask(responder, "example.test", "A")
    txt, _ = ask(responder, "www.example.test", "TXT")

    assert rdata(mx.rr) == ["5 www.example.test."]
    assert rdata(apex.rr) == ["198.51.100.10"]
    assert rdata(txt.rr) == ['"a" "b"']


def test_records_of_one_name_and_type_are_one_set_with_the_lowest_ttl():
    records = [
        {"name": "ftp.example.test", "type": "A", "value": "198.51.100.10", "ttl": 60},
        {"name": "ftp.example.test", "type": "A", "value": "198.51.100.11"},
    ]
    responder = make_responder({"records": records})

    reply, _ = ask(responder, "ftp.example.test")

    assert rdata(reply.rr) == ["198.51.100.10", "198.51.100.11"]
    assert {record.ttl for record in reply.rr} == {60}


def test_ns_records_in_the_options_are_the_authority_of_every_answer():
    records = [{"name": "example.test", "type": "NS", "value": "ns2.example.test"}]
    responder = make_responder({"records": records})

    ns, _ = ask(responder, "example.test", "NS")
    www, _ = ask(responder, "www.example.test")

    assert rdata(ns.rr) == ["ns2.example.test."]
    assert rdata(www.auth) == ["ns2.example.test."]


def test_a_cname_is_followed_inside_the_zones_and_not_beyond():
    records = [
        {"name": "web.example.test", "type": "CNAME", "value": "www.example.test"},
        {"name": "out.example.test", "type": "CNAME", "value": "www.other.example"},
        {"name": "gone.example.test", "type": "CNAME", "value": "no.example.test"},
    ]
    responder = make_responder({"records": records})

    web, _ = ask(responder, "web.example.test")
    out, _ = ask(responder, "out.example.test")
    gone, _ = ask(responder, "gone.example.test")
    itself, _ = ask(responder, "web.example.test", "CNAME")

    assert rdata(web.rr) == ["www.example.test.", "198.51.100.10"]
    assert (out.header.rcode, rdata(out.rr)) == (RCODE.NOERROR, ["www.other.example."])
    assert gone.header.rcode == RCODE.NXDOMAIN
    assert rdata(gone.rr) == ["no.example.test."]
    assert rdata(itself.rr) == ["www.example.test."]


def test_a_cname_loop_ends():
    records = [
        {"name": "a.example.test", "type": "CNAME", "value": "b.example.test"},
        {"name": "b.example.test", "type": "CNAME", "value": "a.example.test"},
    ]
    responder = make_responder({"records": records})

    reply, _ = ask(responder, "a.example.test")

    assert reply.header.rcode == RCODE.NOERROR
    assert 2 <= len(reply.rr) <= 8


def test_names_between_a_record_and_its_zone_exist_empty():
    records = [{"name": "a.b.example.test", "type": "A", "value": "198.51.100.10"}]
    responder = make_responder({"records": records})

    between, _ = ask(responder, "b.example.test")

    assert between.header.rcode == RCODE.NOERROR
    assert between.rr == []


def test_ptr_records_override_the_generated_names():
    records = [
        {
            "name": "7.113.0.203.in-addr.arpa",
            "type": "PTR",
            "value": "boss.example.test",
        }
    ]
    responder = make_responder({"records": records})

    reply, _ = ask(responder, "7.113.0.203.in-addr.arpa", "PTR")

    assert rdata(reply.rr) == ["boss.example.test."]


def test_a_reverse_record_outside_every_zone_is_an_error():
    records = [{"name": "1.2.0.192.in-addr.arpa", "type": "PTR", "value": "x.test"}]

    with pytest.raises(ZoneError, match="in no zone"):
        make_responder({"records": records})


def test_spf_can_be_changed_or_left_out():
    custom = make_responder({"spf": "v=spf1 a mx ~all"})
    none = make_responder({"spf": False})

    reply, _ = ask(custom, "example.test", "TXT")
    empty, _ = ask(none, "example.test", "TXT")

    assert rdata(reply.rr) == ['"v=spf1 a mx ~all"']
    assert empty.rr == []


def test_soa_and_ttl_options_are_used():
    options = {"ttl": 600, "serial": 7, "contact": "abuse.example.test"}
    options["soa"] = {"minimum": 60}
    responder = make_responder(options)

    soa, _ = ask(responder, "example.test", "SOA")
    missing, _ = ask(responder, "nothing.example.test")

    assert rdata(soa.rr) == [
        "ns.example.test. abuse.example.test. 7 10800 3600 604800 60"
    ]
    assert soa.rr[0].ttl == 600
    assert missing.auth[0].ttl == 60


def test_without_a_topology_only_the_options_make_zones():
    empty = make_responder(text=None)
    given = make_responder(
        {
            "zones": ["example.test"],
            "records": [
                {"name": "www.example.test", "type": "A", "value": "198.51.100.10"}
            ],
        },
        text=None,
    )

    refused, _ = ask(empty, "www.example.test")
    reply, _ = ask(given, "www.example.test")

    assert refused.header.rcode == RCODE.REFUSED
    assert rdata(reply.rr) == ["198.51.100.10"]
    assert rdata(reply.auth) == ["ns1.example.test."]


# --- classes, versions and odd questions -------------------------------------------


def test_version_bind_says_bind_as_bind_does(responder):
    reply, fields = ask(responder, "version.bind", "TXT", "CH")

    assert rdata(reply.rr) == ['"9.9.5-9+deb8u19-Debian"']
    assert reply.rr[0].rclass == CLASS.CH and reply.rr[0].ttl == 0
    assert rdata(reply.auth) == ["version.bind."]
    assert fields["class"] == "CH"


def test_the_version_and_hostname_can_be_set():
    responder = make_responder({"version": "9.11.4-P2-RedHat-9.11.4-26.P2.el7"})

    version, _ = ask(responder, "version.bind", "TXT", "CH")
    hostname, _ = ask(responder, "hostname.bind", "TXT", "CH")

    assert rdata(version.rr) == ['"9.11.4-P2-RedHat-9.11.4-26.P2.el7"']
    assert rdata(hostname.rr) == ['"ns.example.test"']


def test_other_chaos_names_and_classes_are_refused(responder):
    authors, _ = ask(responder, "authors.bind", "TXT", "CH")
    hesiod, _ = ask(responder, "www.example.test", "A", "Hesiod")

    assert authors.header.rcode == RCODE.REFUSED
    assert hesiod.header.rcode == RCODE.REFUSED


def test_class_any_is_answered_from_the_internet_class(responder):
    reply, _ = ask(responder, "www.example.test", "A", "*")

    assert rdata(reply.rr) == ["198.51.100.10"]


def test_zone_transfers_are_formerr_over_udp_and_refused_over_tcp(responder):
    udp, _ = ask(responder, "example.test", "AXFR")
    tcp, fields = ask(responder, "example.test", "AXFR", transport="tcp")

    assert udp.header.rcode == RCODE.FORMERR
    assert tcp.header.rcode == RCODE.REFUSED
    assert fields["type"] == "AXFR"


def test_an_unknown_edns_version_is_badvers(responder):
    reply, fields = ask(responder, "www.example.test", edns=EDNS0(version=1))

    [opt] = reply.ar
    assert (opt.edns_rcode << 4) | reply.header.rcode == 16
    assert reply.rr == []
    assert fields["rcode"] == "BADVERS"


def test_nmaps_status_probe_gets_notimp(responder):
    probe = b"\0\0\x10\0\0\0\0\0\0\0\0\0"  # nmap's UDP payload for port 53

    outcome = responder.respond(probe, "udp", "ns.example.test")

    assert outcome.reply is not None
    reply = DNSRecord.parse(outcome.reply)
    assert (reply.header.qr, reply.header.opcode) == (1, 2)
    assert reply.header.rcode == RCODE.NOTIMP
    assert outcome.fields["rcode"] == "NOTIMP"


def test_nmaps_version_probe_matches_its_bind_signature(responder):
    # The probe and the reply pattern nmap's DNSVersionBindReq uses: the
    # answer must point back at the question and hold the version string.
    probe = b"\0\x06\x01\0\0\x01\0\0\0\0\0\0\x07version\x04bind\0\0\x10\0\x03"

    outcome = responder.respond(probe, "udp", "ns.example.test")

    assert outcome.reply is not None
    after_question = outcome.reply[len(probe) :]
    assert after_question.startswith(b"\xc0\x0c\0\x10\0\x03")
    ttl, length, text_length = struct.unpack("!IHB", after_question[6:13])
    assert after_question[13 : 13 + text_length] == b"9.9.5-9+deb8u19-Debian"


# --- options schema ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"records": [{"name": "a.example.test", "type": "A", "value": "1.2.3"}]},
        {"records": [{"name": "a.example.test", "type": "MX", "value": "mx.test"}]},
        {"records": [{"name": "a..test", "type": "A", "value": "198.51.100.1"}]},
        {"records": [{"name": "a.test", "type": "TXT", "value": "x" * 256}]},
        {"records": [{"name": "a.test", "type": "HINFO", "value": "x"}]},
        {"pools": [{"name": "p.test", "addresses": "198.51.100.300"}]},
        {"pools": [{"name": "p.test", "addresses": "198.51.100.1", "answers": 0}]},
        {"generated_names": "host.example.test"},
        {"unknown": 1},
    ],
)
def test_the_schema_rejects_bad_options(options):
    with pytest.raises(OptionsError):
        check_options_of(options)


def test_a_bad_option_in_a_topology_names_its_line():
    text = TOPOLOGY.replace(
        "udp/53: {service: dns}",
        "udp/53: {service: dns, options: {pools: [{name: p.test}]}}",
    )

    with pytest.raises(vnet.config.TopologyError) as caught:
        check_services(vnet.config.loads(text, "dns.yaml"))

    assert "dns.yaml:10:" in str(caught.value)
    assert "addresses" in str(caught.value)
