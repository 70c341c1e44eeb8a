"""Scoring as nmap's compare_fingerprints, and reading nmap's printed prints."""

from __future__ import annotations

import pytest

from vnet.personality import (
    Database,
    PersonalityError,
    mismatches,
    parse_printed,
    score,
)
from vnet.personality.database import Tests
from vnet.personality.expression import alternatives

# What nmap 7.93 printed here for the kernel's own loopback (nmap -O -d
# 127.0.0.1 in a fresh network namespace, port 8080 open).
LOOPBACK = """\
TCP/IP fingerprint:
OS:SCAN(V=7.93%E=4%D=12/3%OT=8080%CT=8081%CU=40340%PV=N%DS=0%DC=L%G=Y%TM=6B
OS:1160B1%P=x86_64-pc-linux-gnu)SEQ(SP=105%GCD=1%ISR=10D%TI=Z%CI=Z%II=I%TS=
OS:21)OPS(O1=MFFD7ST11NWA%O2=MFFD7ST11NWA%O3=MFFD7NNT11NWA%O4=MFFD7ST11NWA%
OS:O5=MFFD7ST11NWA%O6=MFFD7ST11)WIN(W1=FFCB%W2=FFCB%W3=FFCB%W4=FFCB%W5=FFCB
OS:%W6=FFCB)ECN(R=Y%DF=Y%T=40%W=FFD7%O=MFFD7NNSNWA%CC=Y%Q=)T1(R=Y%DF=Y%T=40
OS:%S=O%A=S+%F=AS%RD=0%Q=)T2(R=N)T3(R=N)T4(R=Y%DF=Y%T=40%W=0%S=A%A=Z%F=R%O=
OS:%RD=0%Q=)T5(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)T6(R=Y%DF=Y%T=40%
OS:W=0%S=A%A=Z%F=R%O=%RD=0%Q=)T7(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=
OS:)U1(R=Y%DF=N%T=40%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=G%RUCK=G%RUD=G)IE(R=Y%
OS:DFI=N%T=40%CD=S)
"""


def _satisfying(reference: Tests) -> dict[str, dict[str, str]]:
    """An observed print that matches the reference, with T but no TG."""
    observed: dict[str, dict[str, str]] = {}
    for test, values in reference.items():
        chosen = {}
        for attribute, expression in values.items():
            if attribute == "TG":
                continue
            first = alternatives(expression)[0]
            if first.low is not None and first.text[:1] in "<>" or "-" in first.text:
                chosen[attribute] = f"{first.low:X}"
            else:
                chosen[attribute] = first.text
        observed[test] = chosen
    return observed


def test_the_notes_example_one_wrong_window_is_99_53(database: Database) -> None:
    reference = database.lookup("Linux 5.4#2").tests
    observed = _satisfying(reference)
    assert score(reference, observed, database.match_points) == 1.0

    observed["WIN"]["W1"] = "FAF0"
    accuracy = score(reference, observed, database.match_points)
    assert round(accuracy * 100, 2) == 99.53
    # One W is worth 15 points of 3,185: U1's R is absent from the reference
    # and TG from the observation, so neither counts.
    assert (1 - accuracy) * 3185 == pytest.approx(15)
    [wrong] = mismatches(reference, observed, database.match_points)
    assert (wrong.test, wrong.attribute, wrong.points) == ("WIN", "W1", 15)


def test_only_attributes_in_both_prints_count(database: Database) -> None:
    points = database.match_points
    reference = {"SEQ": {"TS": "A", "TI": "Z"}, "U1": {"IPL": "164"}}
    assert score(reference, {"SEQ": {"TS": "A"}}, points) == 1.0
    assert score(reference, {"SEQ": {"TS": "7", "TI": "Z"}}, points) == pytest.approx(
        100 / 200
    )
    # A reply nmap did not get (U1 R=N) costs nothing without an R to compare.
    assert score(reference, {"SEQ": {"TS": "A"}, "U1": {"R": "N"}}, points) == 1.0
    assert score(reference, {"IE": {"R": "N"}}, points) == 0.0


def test_scoring_uses_the_7_93_quirks(database: Database) -> None:
    points = database.match_points
    reference = {"T1": {"Q": "|U", "A": "S|O"}, "SEQ": {"TS": "A|C-E"}}
    assert score(reference, {"T1": {"Q": "R", "A": "S+"}}, points) == 1.0
    assert score(reference, {"SEQ": {"TS": "A"}}, points) == 0.0


def test_parse_printed_reads_nmaps_wrapped_lines(database: Database) -> None:
    printed = parse_printed(LOOPBACK)
    assert printed.scan["V"] == "7.93"
    assert printed.scan["OT"] == "8080"
    assert printed.tests["SEQ"] == {
        "SP": "105",
        "GCD": "1",
        "ISR": "10D",
        "TI": "Z",
        "CI": "Z",
        "II": "I",
        "TS": "21",
    }
    assert printed.tests["OPS"]["O6"] == "MFFD7ST11"
    assert printed.tests["T2"] == {"R": "N"}
    assert printed.tests["T4"]["O"] == ""
    assert printed.tests["IE"] == {"R": "Y", "DFI": "N", "T": "40", "CD": "S"}
    assert len(printed.tests) == 13

    # Against Linux 5.4: the loopback's large MSS and windows, its random
    # TSvals, and an answer to T7 that 5.4 did not give.
    wrong = mismatches(
        database.lookup("Linux 5.4#2").tests, printed.tests, database.match_points
    )
    assert {m.test for m in wrong} == {"SEQ", "OPS", "WIN", "ECN", "T7"}
    assert ("SEQ", "TS", "21") in {(m.test, m.attribute, m.observed) for m in wrong}
    assert ("T7", "R", "Y") in {(m.test, m.attribute, m.observed) for m in wrong}


def test_parse_printed_keeps_every_round() -> None:
    text = "SEQ(SP=101%GCD=1)\nSEQ(SP=104%GCD=1)\nIE(R=N)\n"
    printed = parse_printed(text)
    assert printed.tests["SEQ"]["SP"] == "101"
    assert [values["SP"] for values in printed.rounds["SEQ"]] == ["101", "104"]
    assert printed.scan == {}


@pytest.mark.parametrize("text", ["", "nothing here", "SEQ(SP)"])
def test_parse_printed_refuses_what_is_not_a_fingerprint(text: str) -> None:
    with pytest.raises(PersonalityError):
        parse_printed(text)
