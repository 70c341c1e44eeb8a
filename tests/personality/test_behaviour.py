"""A host's behaviour, checked by scanning it as nmap would (offline)."""

from __future__ import annotations

import os
import random
import zlib

import pytest

from tests.personality.nmap_model import (
    CLOSED_PORT,
    OPEN_PORT,
    SCANNER,
    SEQ_PROBES,
    TARGET,
    Timing,
    observe,
    option_letters,
)
from tests.personality.survey import survey
from vnet.personality import Database, behaviour, mismatches, score
from vnet.personality.options import letters_of
from vnet.personality.profile import forge_crc32
from vnet.wire import icmp, ipv4, tcp, udp
from vnet.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    MSS,
    NOP,
    RST,
    SACK_PERMITTED,
    SYN,
    TIMESTAMP,
    WSCALE,
    TcpOption,
    TcpSegment,
)

# Operating systems people run, and devices whose fingerprints use every
# corner of the grammar: GCD steps of 64000, constant ISNs, broken and
# random-positive IP IDs, separate counters (SS=O), reset data, ECN echo,
# urgent-pointer quirks, spoiled port-unreachable quotes, T=100, TS=1, 7, A,
# 21 and 0, prints without OPS, without IE, without U1, with resets to SYNs.
DIVERSE = [
    "Linux 5.4#1",
    "Linux 2.6.32#1",
    "Linux 3.2 - 3.16",
    "Linux 4.15 - 5.6",
    "Android 2.0.1 (Linux 2.6)",
    "Microsoft Windows 10 1607#1",
    "Microsoft Windows 7 Professional#1",
    "Microsoft Windows Server 2016#1",
    "Microsoft Windows XP SP3#1",
    "FreeBSD 11.0-RELEASE#1",
    "OpenBSD 6.0#1",
    "OpenBSD 4.1#1",
    "OpenBSD 2.9 (x86)",
    "Microsoft Windows Server 2008#1",
    "Oracle Solaris 11#1",
    "Sun Solaris 10#1",
    "IBM AIX 7.1#1",
    "Cisco IOS 15",
    "Juniper SRX100 firewall",
    "HP JetDirect 635n print server",
    "Apple macOS 10.13 (High Sierra) - 10.15 (Catalina) or iOS 11.0 - 13.4 "
    "(Darwin 17.0.0 - 19.2.0)",
    "NetBSD 3.1.1",
    "VMware ESXi 4.0#1",
    "2N Helios IP VoIP doorbell",
    "2Wire BT2700HG-V ADSL modem",
    "3Com 3016 router",
    "3Com SuperStack 3 Switch 3300",
    "3Com 4210, or Huawei Quidway S3928P-EI or S5624F switch (VRP 3.10)",
    "AirLive WT-2000R, D-Link DI-524 or DI-604, SMC SMC7004VBR, or ZyXEL "
    "Prestige 320W broadband router",
    "APC 9340 Network Management Card (AOS 3.5.7)",
    "3Com SuperStack 3 Switch 3870",
    "Brocade ICX 6610 switch",
    "AXIS 2100 Network Camera#1",
    "3Com X5 Unified Security Platform firewall",
    "Brocade FCX-series switch",
    "Aastra 57i VoIP phone",
    "AmigaOS 3.1 - 3.9",
    "Adtran NetVanta 3200 or Total Access 908 ADSL router",
    "2Wire 1701HG wireless ADSL modem",
    "Acme Packet Net-Net 4250 VoIP session border controller",
    "3Com 3924 switch",
    "Cisco IP Phone 7912G",
    "Philips Hue Bridge (lwIP 1.4.1)",
    "Cisco C370 Email Security Appliance (AsyncOS 8.0.1)",
    "Apple AirPort Express WAP",
    "Canon imageCLASS MF212w printer",
    "Xiaomi Mi WiFi 2.2 (Linux 2.6.36)",
    "3Com OfficeConnect 3CRWER100-75 wireless broadband router",
]


@pytest.mark.parametrize("selector", DIVERSE)
def test_nmap_names_the_personality_exactly(database: Database, selector: str) -> None:
    fingerprint = database.lookup(selector)
    for seed in range(3):
        host = behaviour(fingerprint, seed, 3600.0 * (seed + 1))
        for hops in (0, 3):
            # Six SYNs 100-110 ms apart, replies after 0.2-0.4 ms.
            observed = observe(
                host, 7 * seed + hops, start=500.0 + 60 * hops, hops=hops
            )
            wrong = mismatches(fingerprint.tests, observed, database.match_points)
            assert not wrong, (seed, hops, wrong)
            assert score(fingerprint.tests, observed, database.match_points) == 1.0


def test_a_sample_of_the_whole_database(database: Database) -> None:
    # Every 20th fingerprint; the full run is VNET_PERSONALITY_SURVEY=1.
    step = 1 if os.environ.get("VNET_PERSONALITY_SURVEY") else 20
    result = survey(database, database.fingerprints[::step])
    assert result.share >= 0.97, result.misses.most_common(10)


# Two hosts of one personality --------------------------------------------------


def _syn(
    options: tuple[TcpOption, ...], window: int = 64240, port: int = 40000, seq: int = 1
) -> TcpSegment:
    return TcpSegment(port, OPEN_PORT, seq, 0, SYN, window, b"", options)


LINUX_CLIENT = (
    TcpOption(MSS, 1460),
    TcpOption(SACK_PERMITTED),
    TcpOption(TIMESTAMP, (123456, 0)),
    TcpOption(NOP),
    TcpOption(WSCALE, 7),
)
WINDOWS_CLIENT = (
    TcpOption(MSS, 1460),
    TcpOption(NOP),
    TcpOption(WSCALE, 8),
    TcpOption(NOP),
    TcpOption(NOP),
    TcpOption(SACK_PERMITTED),
)


def test_two_hosts_of_one_personality_differ_within_the_fingerprint(
    database: Database,
) -> None:
    fingerprint = database.lookup("Cisco Nexus 5000 switch")
    hosts = [behaviour(fingerprint, seed, 3600.0) for seed in range(8)]
    isns = {host.isn(1.0, SCANNER) for host in hosts}
    ids = {host.ip_id("tcp", 1.0, SCANNER) for host in hosts}
    windows = {host.syn_ack(_syn(SEQ_PROBES[0][1]), 1.0)[0] for host in hosts}
    assert len(isns) == 8
    assert len(ids) > 1
    # W1=4884|4E18|5940|6468|69FC: the hosts do not all pick one window.
    assert len(windows) > 1
    for window in windows:
        assert (
            score(
                fingerprint.tests, {"WIN": {"W1": f"{window:X}"}}, database.match_points
            )
            == 1.0
        )
    # The same seed gives the same host.
    again = behaviour(fingerprint, 3, 3600.0)
    assert again.isn(1.0, SCANNER) == behaviour(fingerprint, 3, 3600.0).isn(
        1.0, SCANNER
    )


# Real clients --------------------------------------------------------------------


def test_alternatives_never_make_an_open_port_refuse(database: Database) -> None:
    """honeyd took the first of A|B; its Windows answered probes with RST."""
    chosen = [fp for fp in database if "AS" in fp.tests["T1"].get("F", "").split("|")]
    assert len(chosen) > 5000
    for fingerprint in chosen[::50]:
        for seed in range(3):
            host = behaviour(fingerprint, seed, 100.0)
            plan = host.probe_reply(_syn(SEQ_PROBES[0][1]), "open", 1.0, SCANNER)
            assert plan is not None and plan.segment.flags == SYN | ACK, (
                fingerprint.name
            )


@pytest.mark.parametrize(
    "client", [LINUX_CLIENT, WINDOWS_CLIENT, (TcpOption(MSS, 1400),)]
)
def test_every_fingerprint_accepts_a_real_client(
    database: Database, client: tuple[TcpOption, ...]
) -> None:
    offered = {option.kind for option in client}
    for fingerprint in database.fingerprints[::37]:
        host = behaviour(fingerprint, 1, 100.0)
        plan = host.probe_reply(_syn(client), "open", 1.0, SCANNER)
        assert plan is not None and plan.handshake, fingerprint.name
        reply = plan.segment
        assert reply.flags & (SYN | ACK) == SYN | ACK
        assert reply.window > 0, fingerprint.name
        assert reply.ack == 2
        # Only what the client offered comes back (RFC 7323, RFC 2018).
        answered = {o.kind for o in reply.options} - {NOP, tcp.EOL, MSS}
        assert answered <= offered, (fingerprint.name, letters_of(reply.options))
        # And it goes on the wire in whole words.
        tcp.emit(reply, TARGET, SCANNER)
        # The TCP stack's own hook gives the same answer.
        assert host.syn_ack(_syn(client), 1.0) == (reply.window, reply.options)


def test_a_real_client_gets_the_probe_answer_for_the_same_options(
    database: Database,
) -> None:
    host = behaviour(database.lookup("Linux 5.4#2"), 2, 100.0)
    window, options = host.syn_ack(_syn(LINUX_CLIENT), 5.0)
    assert (window, letters_of(options)) == (0xFE88, "M5B4ST11NW7")
    window, options = host.syn_ack(_syn(WINDOWS_CLIENT), 5.0)
    assert letters_of(options) == "M5B4NNSNW7"
    # TSecr echoes the client's TSval.
    window, options = host.syn_ack(_syn(LINUX_CLIENT), 5.0)
    stamp = [o.value for o in options if o.kind == TIMESTAMP][0]
    assert stamp[1] == 123456


def test_an_mss_is_answered_as_the_os_answered_nmaps(database: Database) -> None:
    # O2=M578 to nmap's MSS 1400: this OS answers with the smaller MSS.
    fingerprint = database.lookup("2Wire BT2700HG-V ADSL modem")
    host = behaviour(fingerprint, 1, 100.0)
    client = (TcpOption(MSS, 1200), TcpOption(NOP), TcpOption(WSCALE, 2))
    _, options = host.syn_ack(_syn(client), 1.0)
    assert options[0] == TcpOption(MSS, 1200)


def test_the_stack_gets_the_isn_of_a_handshake_plan(database: Database) -> None:
    host = behaviour(database.lookup("Linux 5.4#2"), 4, 100.0)
    plan = host.probe_reply(_syn(LINUX_CLIENT, port=41000), "open", 2.0, SCANNER)
    assert plan is not None and plan.handshake
    isn = host.initial_sequence(2.0, (TARGET, OPEN_PORT), (SCANNER, 41000))
    assert isn == plan.segment.seq
    # Only once, and only for those endpoints.
    assert host.initial_sequence(2.1, (TARGET, OPEN_PORT), (SCANNER, 41000)) != isn


def test_timestamps_follow_the_uptime(database: Database) -> None:
    # TS=A: a 1000 Hz clock; up one day at now=50.
    host = behaviour(database.lookup("Linux 5.4#2"), 1, 86400.0, now=50.0)
    assert host.timestamp(50.0) == 86400 * 1000
    assert host.timestamp(51.25) == 86400 * 1000 + 1250
    # TS=1: the 2 Hz clock of old BSDs.
    openbsd = behaviour(database.lookup("OpenBSD 2.9 (x86)"), 1, 1000.0, now=0.0)
    assert openbsd.profile.fingerprint.tests["SEQ"]["TS"] == "1"
    assert openbsd.timestamp(10.0) == 2 * 1010
    # TS=7: Windows' 100 Hz.
    windows = database.lookup("Microsoft Windows Server 2008#1")
    assert windows.tests["SEQ"]["TS"] == "7"
    assert behaviour(windows, 1, 1000.0).timestamp(1.0) == 100 * 1001


# Unusual segments ------------------------------------------------------------------


def test_a_reset_is_never_answered(database: Database) -> None:
    host = behaviour(database.lookup("Linux 5.4#2"), 1, 100.0)
    reset = TcpSegment(40000, OPEN_PORT, 5, 6, RST | ACK, 0)
    assert host.probe_reply(reset, "open", 1.0, SCANNER) is None
    assert host.probe_reply(reset._replace(dst_port=CLOSED_PORT), "closed", 1.0) is None


def test_closed_ports_and_odd_segments_follow_t2_to_t7(database: Database) -> None:
    host = behaviour(database.lookup("Linux 5.4#2"), 1, 100.0)
    probe = TcpSegment(40000, CLOSED_PORT, 1000, 2000, SYN, 1024)
    plan = host.probe_reply(probe, "closed", 1.0, SCANNER)
    assert plan is not None
    # T5(... S=Z%A=S+%F=AR ...)
    assert (plan.segment.seq, plan.segment.ack, plan.segment.flags) == (
        0,
        1001,
        RST | ACK,
    )
    assert plan.dont_fragment and plan.ttl == 64 and not plan.handshake
    # T6(... S=A%A=Z%F=R ...)
    plan = host.probe_reply(probe._replace(flags=ACK), "closed", 1.0, SCANNER)
    assert plan is not None
    assert (plan.segment.seq, plan.segment.ack, plan.segment.flags) == (2000, 0, RST)
    # T2(R=N), T3(R=N), T7(R=N): silence.
    assert host.probe_reply(probe._replace(flags=0), "open", 1.0, SCANNER) is None
    xmas = probe._replace(flags=FIN | tcp.PSH | tcp.URG)
    assert host.probe_reply(xmas, "closed", 1.0, SCANNER) is None


def test_reset_data_carries_the_fingerprints_crc(database: Database) -> None:
    # T4(...%F=R%...%RD=E44A4E43)
    host = behaviour(database.lookup("2Wire BT2700HG-V ADSL modem"), 1, 100.0)
    probe = TcpSegment(40000, OPEN_PORT, 1000, 2000, ACK, 1024)
    plan = host.probe_reply(probe, "open", 1.0, SCANNER)
    assert plan is not None and plan.segment.flags & RST
    assert f"{zlib.crc32(plan.segment.payload):08X}" == "E44A4E43"


def test_forged_crcs() -> None:
    generator = random.Random(1)
    for _ in range(200):
        target = generator.getrandbits(32)
        prefix = generator.randbytes(generator.randrange(12))
        data = forge_crc32(prefix, target)
        assert data[: len(prefix)] == prefix and len(data) == len(prefix) + 4
        assert zlib.crc32(data) == target


def test_ecn_setup_is_answered_as_the_ecn_line_says(database: Database) -> None:
    # ECN(...%CC=Y%Q=): ECE back, and the line's window and options.
    host = behaviour(database.lookup("Linux 5.4#2"), 1, 100.0)
    ecn = (
        TcpOption(WSCALE, 10),
        TcpOption(NOP),
        TcpOption(MSS, 1460),
        TcpOption(SACK_PERMITTED),
        TcpOption(NOP),
        TcpOption(NOP),
    )
    probe = TcpSegment(40000, OPEN_PORT, 9, 0, SYN | ECE | CWR, 3, b"", ecn, 63477, 8)
    plan = host.probe_reply(probe, "open", 1.0, SCANNER)
    assert plan is not None and plan.handshake
    assert plan.segment.flags == SYN | ACK | ECE
    assert (plan.segment.window, letters_of(plan.segment.options)) == (
        0xFAF0,
        "M5B4NNSNW7",
    )
    assert (plan.segment.reserved, plan.segment.urgent) == (0, 0)
    # A real client's ECN setup gets ECE too, with options for its own SYN.
    real = _syn(LINUX_CLIENT)._replace(flags=SYN | ECE | CWR)
    plan = host.probe_reply(real, "open", 1.0, SCANNER)
    assert plan is not None and plan.segment.flags == SYN | ACK | ECE
    assert letters_of(plan.segment.options) == "M5B4ST11NW7"


# ICMP ------------------------------------------------------------------------------


def _udp_packet(ttl: int = 50) -> ipv4.Ipv4Packet:
    datagram = udp.UdpDatagram(33333, 40125, b"\x43" * 300)
    data = udp.emit(datagram, SCANNER, TARGET)
    packet = ipv4.Ipv4Packet(SCANNER, TARGET, ipv4.PROTO_UDP, data, ttl, 0x1042)
    return ipv4.parse(ipv4.emit(packet))


def test_port_unreachable_quotes_as_received(database: Database) -> None:
    # Linux: IPL=164 (the whole datagram), everything quoted intact.
    host = behaviour(database.lookup("Linux 5.4#2"), 1, 100.0)
    packet = _udp_packet()
    reply = host.port_unreachable(packet, 1.0)
    assert reply is not None
    assert (reply.message.type, reply.message.code) == (3, 3)
    assert reply.message.payload == ipv4.emit(packet)
    assert not reply.dont_fragment and reply.ttl == 64


def test_port_unreachable_spoils_the_quote_as_the_os_did(database: Database) -> None:
    # U1(...%IPL=38%...%RID=4210%RIPCK=Z%RUCK=0%RUD=G)
    fingerprint = database.lookup("3Com X5 Unified Security Platform firewall")
    u1 = fingerprint.tests["U1"]
    assert (u1["RID"], u1["RIPCK"], u1["RUCK"]) == ("4210", "Z", "0")
    host = behaviour(fingerprint, 1, 100.0)
    reply = host.port_unreachable(_udp_packet(), 1.0)
    assert reply is not None
    quote = reply.message.payload
    assert len(quote) + 28 == int(u1["IPL"], 16)
    assert quote[4:6] == b"\x42\x10"  # the ID byte-swapped
    assert quote[10:12] == b"\x00\x00"  # the IP checksum zeroed
    assert quote[26:28] == b"\x00\x00"  # the UDP checksum zeroed
    assert quote[8] == 50  # the TTL as it arrived


def test_a_short_quote_for_a_real_datagram(database: Database) -> None:
    host = behaviour(database.lookup("3Com 3016 router"), 1, 100.0)
    datagram = udp.emit(udp.UdpDatagram(5353, 53, b"query"), SCANNER, TARGET)
    packet = ipv4.parse(
        ipv4.emit(ipv4.Ipv4Packet(SCANNER, TARGET, ipv4.PROTO_UDP, datagram, 60, 7))
    )
    reply = host.port_unreachable(packet, 1.0)
    assert reply is not None
    assert len(reply.message.payload) <= 28 + 5
    assert icmp.parse_quote(reply.message)[3:] == (5353, 53)


def test_echo_reply_mirrors_what_the_line_says(database: Database) -> None:
    # IE(DFI=S%...%CD=S): DF and code as in the request.
    fingerprint = database.lookup("3Com 3016 router")
    assert fingerprint.tests["IE"]["DFI"] == "S"
    host = behaviour(fingerprint, 1, 100.0)
    for code, dont_fragment in ((9, True), (0, False)):
        request = icmp.echo(icmp.ECHO_REQUEST, 77, 295, bytes(120), code)
        flags = ipv4.FLAG_DF if dont_fragment else 0
        packet = ipv4.Ipv4Packet(
            SCANNER, TARGET, ipv4.PROTO_ICMP, icmp.emit(request), 40, 1, flags
        )
        reply = host.echo_reply(packet, request, 1.0)
        assert reply is not None
        assert reply.dont_fragment is dont_fragment
        assert reply.message.code == code
        assert reply.message.rest == request.rest
        assert reply.message.payload == request.payload


def test_silent_hosts_stay_silent(database: Database) -> None:
    # IE(R=N) and U1(R=N) prints.
    quiet_echo = behaviour(database.lookup("2Wire 1701HG wireless ADSL modem"), 1, 9.0)
    request = icmp.echo(icmp.ECHO_REQUEST, 1, 1, b"")
    packet = ipv4.Ipv4Packet(SCANNER, TARGET, ipv4.PROTO_ICMP, icmp.emit(request))
    assert quiet_echo.echo_reply(packet, request, 1.0) is None
    quiet_udp = behaviour(
        database.lookup("Acme Packet Net-Net 4250 VoIP session border controller"),
        1,
        9.0,
    )
    assert quiet_udp.port_unreachable(_udp_packet(), 1.0) is None


def test_stamps_for_other_packets(database: Database) -> None:
    host = behaviour(database.lookup("Microsoft Windows 7 Professional#1"), 1, 9.0)
    tcp_stamp = host.stamp("tcp", 1.0, SCANNER)
    assert tcp_stamp.ttl == 128
    assert host.stamp("tcp", 1.1, SCANNER).ident != tcp_stamp.ident
    assert host.stamp("udp", 1.0, SCANNER).dont_fragment is False


def test_options_read_back_by_nmap(database: Database) -> None:
    # Every SEQ probe's reply, read from the wire, is the recorded O_i.
    fingerprint = database.lookup("Linux 5.4#2")
    host = behaviour(fingerprint, 1, 100.0)
    for index, (window, options) in enumerate(SEQ_PROBES, start=1):
        plan = host.probe_reply(
            _syn(options, window), "open", 1.0 + index / 10, SCANNER
        )
        assert plan is not None
        data = tcp.emit(plan.segment, TARGET, SCANNER)
        letters = option_letters(data[20 : (data[12] >> 4) * 4])
        assert letters == fingerprint.tests["OPS"][f"O{index}"]


def test_jitter_of_a_millisecond_is_survived_by_most(database: Database) -> None:
    # With `now` read a millisecond late, clocked ISNs look less regular; the
    # prints that still match show how much margin the choices leave.
    result = survey(database, database.fingerprints[::60], Timing(jitter=0.001))
    assert result.share >= 0.9, result.misses.most_common(5)
