"""Trap addresses: both formats round-trip, forgeries fail, the secret file."""

from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.web_maze import traps
from services.web_maze.traps import (
    TraceError,
    Visit,
    crawler_address,
    decode,
    ensure_secret,
    format_trace,
    is_valid_address,
    opaque_address,
    trace,
)

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))
NOW_MS = 1_796_297_912_156

ipv4 = st.integers(0, 2**32 - 1).map(
    lambda n: ".".join(str((n >> s) & 255) for s in (24, 16, 8, 0))
)
millis = st.integers(traps.EPOCH_2020 * 1000, (traps.EPOCH_2020 * 1000) + (1 << 40) - 1)
prefixes = st.sampled_from(
    ["", "anna.schmidt.", "aschmidt_", "info-", "k.wagner-", "x" * 40 + "."]
)


def test_crawler_address_is_the_papers_form_and_decodes():
    address = crawler_address("198.51.100.7", NOW_MS, "example.test")

    assert address == "crawler-198.51.100.7_1796297912156@example.test"
    assert decode(address, SECRET) == Visit(
        "198.51.100.7", NOW_MS / 1000, "crawler", authenticated=False
    )


def test_crawler_address_in_seconds_still_decodes():
    visit = decode("crawler-192.0.2.1_1796297912@mail.example.test", SECRET)

    assert visit is not None and visit.time == 1796297912.0


def test_opaque_address_looks_like_a_person_and_decodes_with_the_secret():
    address = opaque_address(SECRET, "anna.schmidt.", "203.0.113.9", NOW_MS, "x.test")
    local = address.split("@")[0]

    assert local.startswith("anna.schmidt.")
    assert len(local) == len("anna.schmidt.") + traps.TOKEN_LENGTH
    assert decode(address, SECRET) == Visit(
        "203.0.113.9", NOW_MS / 1000, "opaque", authenticated=True
    )


def test_decoding_ignores_case_and_domain():
    address = opaque_address(SECRET, "k.wagner-", "192.0.2.44", NOW_MS, "example.test")
    moved = address.upper().replace("EXAMPLE.TEST", "OTHER.EXAMPLE")

    visit = decode(moved, SECRET)

    assert visit is not None and visit.ip == "192.0.2.44"


def test_a_wrong_secret_does_not_decode():
    address = opaque_address(SECRET, "info.", "192.0.2.1", NOW_MS, "example.test")

    assert decode(address, OTHER) is None


def test_every_altered_character_is_recognised_as_forged():
    address = opaque_address(SECRET, "anna.", "192.0.2.1", NOW_MS, "example.test")
    local, domain = address.split("@")
    token_start = len("anna.")

    for position in range(token_start, len(local)):
        for replacement in "a7q":
            if local[position] == replacement:
                continue
            forged = local[:position] + replacement + local[position + 1 :]
            assert decode(f"{forged}@{domain}", SECRET) is None, forged


def test_the_token_is_bound_to_its_name():
    address = opaque_address(SECRET, "anna.", "192.0.2.1", NOW_MS, "example.test")
    token = address.split("@")[0][len("anna.") :]

    assert decode(f"bert.{token}@example.test", SECRET) is None


def test_unrelated_addresses_are_not_ours():
    assert decode("john.smith@example.test", SECRET) is None
    assert decode("crawler-999.1.1.1_12@example.test", SECRET) is None
    assert decode("@", SECRET) is None


@given(ip=ipv4, when=millis, prefix=prefixes)
def test_opaque_addresses_round_trip_and_stay_valid(ip, when, prefix):
    address = opaque_address(SECRET, prefix, ip, when, "mail.example.test")

    assert is_valid_address(address)
    assert len(address.split("@")[0]) <= 64
    assert decode(address, SECRET) == Visit(ip, when / 1000, "opaque", True)


@given(ip=ipv4, when=millis)
def test_crawler_addresses_round_trip_and_stay_valid(ip, when):
    address = crawler_address(ip, when, "example.test")

    assert is_valid_address(address)
    assert decode(address, SECRET) == Visit(ip, when / 1000, "crawler", False)


def test_ipv6_visitors_get_a_valid_crawler_address():
    address = crawler_address("2001:db8::7", NOW_MS, "example.test")

    assert is_valid_address(address)
    visit = decode(address, SECRET)
    assert visit is not None and visit.ip == "2001:db8::7"


def test_a_prefix_that_breaks_the_dot_atom_is_our_bug():
    with pytest.raises(ValueError):
        opaque_address(SECRET, ".anna.", "192.0.2.1", NOW_MS, "example.test")


def test_address_validity_follows_rfc_5322_dot_atoms():
    assert is_valid_address("a.b-c_d@example.test")
    assert not is_valid_address("a..b@example.test")
    assert not is_valid_address(".a@example.test")
    assert not is_valid_address("a b@example.test")
    assert not is_valid_address("x" * 65 + "@example.test")


def test_the_secret_is_created_once_with_mode_0600(tmp_path):
    path = tmp_path / "state" / "web-maze.secret"

    first = ensure_secret(path)
    again = ensure_secret(path)

    assert first == again and len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_a_damaged_secret_is_reported_not_replaced(tmp_path):
    path = tmp_path / "web-maze.secret"
    path.write_text("not hex\n")

    with pytest.raises(TraceError, match="hex secret"):
        ensure_secret(path)
    assert path.read_text() == "not hex\n"


def test_trace_finds_the_visit_and_its_record(tmp_path):
    secret = ensure_secret(tmp_path / "web-maze.secret")
    address = opaque_address(secret, "anna.", "192.0.2.8", NOW_MS, "example.test")
    record = {
        "event": "web.address.issued", "address": address,
        "url": "http://www.example.test/team/", "vhost": "www.example.test",
        "user_agent": "Harvester/1.0", "time": "2026-12-03T11:38:32.156000Z",
    }  # fmt: skip
    other = {**record, "event": "web.request"}
    (tmp_path / "events.jsonl").write_text(
        json.dumps(other) + "\n" + json.dumps(record) + "\n"
    )

    found = trace(address, state_dir=str(tmp_path))

    assert found.visit == Visit("192.0.2.8", NOW_MS / 1000, "opaque", True)
    assert found.records == [record]
    text = format_trace(found)
    assert "192.0.2.8" in text and "Harvester/1.0" in text
    assert "http://www.example.test/team/" in text


def test_trace_says_so_for_a_forged_address(tmp_path):
    ensure_secret(tmp_path / "web-maze.secret")

    found = trace("anna.aaaaaaaaaaaaaaaaaaaaa@example.test", state_dir=str(tmp_path))

    assert found.visit is None
    assert "not issued by this maze" in format_trace(found)


def test_trace_without_a_secret_is_a_user_error(tmp_path):
    with pytest.raises(TraceError, match="no web-maze secret"):
        trace("crawler-192.0.2.1_1@example.test", state_dir=str(tmp_path))
    with pytest.raises(TraceError, match="not an e-mail address"):
        trace("nonsense", state_dir=str(tmp_path))
