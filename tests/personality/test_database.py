"""Reading nmap-os-db whole, and selecting fingerprints without ambiguity."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from vnet.personality import (
    DEFAULT_PATH,
    Database,
    DatabaseError,
    SelectionError,
    load,
    parse,
    search,
)
from vnet.personality.expression import alternatives

TCP_TESTS = ("ECN", "T1", "T2", "T3", "T4", "T5", "T6", "T7")


def test_every_fingerprint_of_the_installed_database_parses(database: Database) -> None:
    assert len(database) == 5678
    expected_tests = {"SEQ", "OPS", "WIN", "ECN", "T1", "T2", "T3", "T4"}
    expected_tests |= {"T5", "T6", "T7", "U1"}
    for fingerprint in database:
        assert expected_tests <= set(fingerprint.tests), fingerprint.name
        assert fingerprint.classes, fingerprint.name


def test_the_counts_the_design_relies_on(database: Database) -> None:
    # DESIGN.md: names repeat, some are prefixes of others, many TCP tests
    # hold alternatives and some SEQ values OR-ed ranges.
    repeated = [name for name, records in database.by_name.items() if len(records) > 1]
    assert len(repeated) == 508
    names = sorted(database.by_name)
    prefixes = {
        name
        for index, name in enumerate(names)
        for other in names[index + 1 : index + 60]
        if other.startswith(name)
    }
    assert len(prefixes) == 294

    # The design notes count 1,005 and 149 by their own criteria; these are
    # the counts by the plain ones written here.
    with_alternatives = [
        fingerprint
        for fingerprint in database
        if any(
            "|" in value
            for test in TCP_TESTS
            for value in fingerprint.tests.get(test, {}).values()
        )
    ]
    assert len(with_alternatives) == 995
    ranges_among_alternatives = [
        fingerprint
        for fingerprint in database
        if any(
            "|" in value and any("-" in alt.text for alt in alternatives(value))
            for test in fingerprint.tests.values()
            for value in test.values()
        )
    ]
    assert len(ranges_among_alternatives) == 152


def test_match_points_are_read(database: Database) -> None:
    points = database.match_points
    assert points["SEQ"]["TS"] == 100
    assert points["T4"]["R"] == 100
    assert points["T7"]["R"] == 80
    assert points["IE"]["CD"] == 100
    assert set(points) == {
        "SEQ",
        "OPS",
        "WIN",
        "ECN",
        *("T1", "T2", "T3", "T4", "T5", "T6", "T7"),
        "U1",
        "IE",
    }


def test_classes_and_cpes(database: Database) -> None:
    helios = database.select("2N Helios IP VoIP doorbell")
    assert helios.classes[0].vendor == "2N"
    assert helios.classes[0].generation is None
    assert helios.classes[0].device_type == "specialized"
    assert helios.cpes == ("cpe:/h:2n:helios",)
    # A CPE line's trailing flags ("auto") are not part of the name.
    assert all(" " not in cpe for fingerprint in database for cpe in fingerprint.cpes)


def test_value_forms_survive_verbatim(database: Database) -> None:
    helios = database.select("2N Helios IP VoIP doorbell")
    assert helios.tests["SEQ"]["GCD"] == "51E80C|A3D018|F5B824|147A030|199883C"
    assert helios.tests["ECN"]["T"] == "FA-104"
    assert helios.tests["ECN"]["Q"] == ""
    assert helios.tests["T2"] == {"R": "N"}


def test_parsing_is_fast_and_cached(tmp_path: Path) -> None:
    copy = tmp_path / "nmap-os-db"
    shutil.copyfile(DEFAULT_PATH, copy)
    started = time.perf_counter()
    first = load(copy)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"parsing took {elapsed:.2f} s"
    assert load(copy) is first

    # A changed file is read again.
    os.utime(copy, ns=(0, 1))
    assert load(copy) is not first


# Selection -------------------------------------------------------------------


def test_select_by_exact_name(database: Database) -> None:
    fingerprint = database.select("2N Helios IP VoIP doorbell")
    assert fingerprint.name == "2N Helios IP VoIP doorbell"
    assert fingerprint.index == 1


def test_a_repeated_name_needs_an_index(database: Database) -> None:
    with pytest.raises(SelectionError) as raised:
        database.select("Linux 5.4")
    assert "Linux 5.4#1" in raised.value.suggestions
    second = database.select("Linux 5.4", 2)
    assert second.index == 2
    assert second.line == 68176
    assert database.lookup("Linux 5.4#2") == second
    with pytest.raises(SelectionError, match="out of range"):
        database.select("Linux 5.4", database.count("Linux 5.4") + 1)


def test_a_name_never_selects_by_prefix(database: Database) -> None:
    # "Linux 2.6.32" is a prefix of many names and a name of its own.
    longer = [name for name in database.by_name if name.startswith("Linux 2.6.32 ")]
    assert longer
    for record in database.by_name["Linux 2.6.32"]:
        assert record.name == "Linux 2.6.32"
    assert database.lookup(f"Linux 2.6.32#{1}").name == "Linux 2.6.32"


def test_a_substring_selects_nothing(database: Database) -> None:
    with pytest.raises(SelectionError):
        database.select("Helios")


def test_an_unknown_name_lists_the_closest(database: Database) -> None:
    with pytest.raises(SelectionError) as raised:
        database.select("Linux 5.44")
    assert raised.value.suggestions
    assert "Linux 5.4" in raised.value.suggestions
    assert "did you mean" in str(raised.value)


def test_select_by_cpe(database: Database) -> None:
    helios = database.select_cpe("cpe:/h:2n:helios")
    assert helios.name == "2N Helios IP VoIP doorbell"
    assert database.lookup("cpe:/h:2n:helios") == helios
    shared = database.by_cpe["cpe:/o:linux:linux_kernel:5.4"]
    assert len(shared) > 1
    with pytest.raises(SelectionError):
        database.select_cpe("cpe:/o:linux:linux_kernel:5.4")
    assert database.lookup("cpe:/o:linux:linux_kernel:5.4#2") == shared[1]
    with pytest.raises(SelectionError):
        database.select_cpe("cpe:/h:2n:heli")


def test_selectors_select_their_fingerprint(database: Database) -> None:
    for fingerprint in database.fingerprints[::7]:
        assert database.lookup(fingerprint.selector(database)) == fingerprint


def test_search_is_by_substring_and_lists_selectors() -> None:
    hits = search("helios")
    assert [hit.selector for hit in hits] == ["2N Helios IP VoIP doorbell"]
    by_cpe = search("cpe:/o:linux:linux_kernel:5.4")
    assert any(hit.selector.startswith("Linux 5.4#") for hit in by_cpe)


# Errors in a database ----------------------------------------------------------

POINTS = "MatchPoints\nSEQ(SP=25%GCD=75)\nIE(R=50%CD=100)\n\n"


def test_a_tiny_database_parses() -> None:
    database = parse(
        POINTS + "Fingerprint Tiny # comment\nClass A | B || C\nCPE cpe:/o:a:b auto\n"
        "SEQ(SP=0-5%GCD=1|>1000000)\nIE(R=N)\n",
        "tiny",
    )
    tiny = database.select("Tiny")
    assert tiny.tests["SEQ"]["GCD"] == "1|>1000000"
    assert tiny.cpes == ("cpe:/o:a:b",)
    assert database.match_points["IE"]["CD"] == 100


@pytest.mark.parametrize(
    ("record", "line", "reason"),
    [
        ("Fingerprint X\nSEQ(SP=1\n", 6, "not a test line"),
        ("Fingerprint X\nXYZ(A=1)\n", 6, "unknown test"),
        ("Fingerprint X\nSEQ(SP=1%SP=2)\n", 6, "given twice"),
        ("Fingerprint X\nSEQ(ZZ=1)\n", 6, "no attribute"),
        ("Fingerprint X\nSEQ(SP=9-3)\n", 6, "malformed"),
        ("Fingerprint X\nCPE cpe:/o:a:b\n", 6, "before any Class"),
        ("Fingerprint X\nClass A | B\n", 6, "Class line"),
        ("stray\n", 5, "outside any record"),
    ],
)
def test_errors_name_the_line(record: str, line: int, reason: str) -> None:
    with pytest.raises(DatabaseError) as raised:
        parse(POINTS + record, "bad-db")
    assert raised.value.line == line
    assert reason in raised.value.reason
    assert str(raised.value).startswith(f"bad-db:{line}: ")


def test_a_missing_file_is_a_database_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as raised:
        load(tmp_path / "absent")
    assert raised.value.line is None
