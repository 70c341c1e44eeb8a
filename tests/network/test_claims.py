"""Claiming free addresses by ARP probe, and giving them back."""

from vnet.network.claims import CLAIMED, TAKEN, AddressClaims

BASE = 0xC0000200  # 192.0.2.0
OURS = bytes.fromhex("020000000001")
REAL = bytes.fromhex("0a0000000002")


def make_claims():
    probes = []
    claims = AddressClaims(
        in_range=lambda address: BASE + 10 <= address <= BASE + 99,
        send_probe=probes.append,
        our_macs=lambda mac: mac == OURS,
        probe_wait=0.5,
        recheck_after=60.0,
    )
    return claims, probes


def test_a_free_address_is_claimed_after_an_unanswered_probe():
    claims, probes = make_claims()

    assert claims.owns(BASE + 20, now=0.0) is False
    assert probes == [BASE + 20]
    assert claims.owns(BASE + 20, now=0.2) is False
    assert claims.owns(BASE + 20, now=1.0) is True
    assert claims.state(BASE + 20) == CLAIMED
    assert probes == [BASE + 20]


def test_an_address_that_answers_the_probe_is_left_alone():
    claims, probes = make_claims()

    claims.owns(BASE + 30, now=0.0)
    claims.observe(BASE + 30, REAL, now=0.1)

    assert claims.owns(BASE + 30, now=1.0) is False
    assert claims.state(BASE + 30) == TAKEN


def test_a_claimed_address_is_given_up_when_a_real_host_appears():
    claims, _ = make_claims()
    claims.owns(BASE + 40, now=0.0)
    assert claims.owns(BASE + 40, now=1.0)

    claims.observe(BASE + 40, REAL, now=5.0)

    assert claims.owns(BASE + 40, now=6.0) is False
    assert claims.owns(BASE + 40, now=70.0) is False  # probing again


def test_our_own_frames_and_foreign_ranges_change_nothing():
    claims, probes = make_claims()

    claims.observe(BASE + 50, OURS, now=0.0)
    assert claims.state(BASE + 50) is None
    assert claims.owns(BASE + 200, now=0.0) is False
    assert probes == []
