"""Scoring an observed fingerprint against a reference, as nmap 7.93 does.

nmap compares a fingerprint it measured with each reference in its database
(osscan.cc compare_fingerprints and AVal_match). Only attributes present in
both count: each adds its MatchPoints weight to the total, and to the score
when the observed value matches the reference expression. The accuracy is
score / total; a perfect match is exactly 1.0. So a reference without an R
in U1 loses nothing when no port unreachable came back.

`parse_printed` reads the fingerprint nmap prints (in its "TCP/IP
fingerprint" section, or with -d): `OS:` wrapped lines such as

    OS:SCAN(V=7.93%E=4%D=1/2%OT=22%CT=1%CU=36590%PV=Y%DS=1%DC=D%G=Y%TM=6
    OS:5A1B2C3%P=x86_64-pc-linux-gnu)SEQ(SP=106%GCD=1%ISR=10B%TI=Z%CI=Z%II

so that a test can score what a real nmap saw against the configured
reference. When nmap merged several rounds, a test can appear more than
once; each appearance is kept, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from vnet.personality.database import TEST_ATTRIBUTES, MatchPoints, Tests
from vnet.personality.errors import PersonalityError
from vnet.personality.expression import expr_match


class Mismatch(NamedTuple):
    """One attribute whose observed value the reference rejects."""

    test: str
    attribute: str
    observed: str
    expected: str
    points: int


def _pairs(
    reference: Tests, observed: Tests, points: MatchPoints
) -> Iterator[tuple[str, str, str, str, int]]:
    for test, expected_values in reference.items():
        observed_values = observed.get(test)
        weights = points.get(test)
        if observed_values is None or weights is None:
            continue
        for attribute, expression in expected_values.items():
            value = observed_values.get(attribute)
            weight = weights.get(attribute)
            if value is not None and weight is not None:
                yield test, attribute, value, expression, weight


def score(reference: Tests, observed: Tests, points: MatchPoints) -> float:
    """nmap's accuracy of `observed` against `reference`, from 0.0 to 1.0."""
    total = matched = 0
    for _, _, value, expression, weight in _pairs(reference, observed, points):
        total += weight
        if expr_match(expression, value):
            matched += weight
    return matched / total if total else 0.0


def mismatches(
    reference: Tests, observed: Tests, points: MatchPoints
) -> list[Mismatch]:
    """Every compared attribute that does not match, in reference order."""
    return [
        Mismatch(test, attribute, value, expression, weight)
        for test, attribute, value, expression, weight in _pairs(
            reference, observed, points
        )
        if not expr_match(expression, value)
    ]


class PrintedFingerprint(NamedTuple):
    """A fingerprint as nmap printed it.

    `tests` holds each test's first appearance; `rounds` every appearance,
    in order, for tests nmap printed more than once. `scan` is the SCAN
    line's attributes (nmap version, ports, distance...).
    """

    tests: Tests
    rounds: Mapping[str, tuple[Mapping[str, str], ...]]
    scan: Mapping[str, str]


_TEST = re.compile(r"([A-Z][A-Z0-9]*)\(([^()]*)\)")


def parse_printed(text: str) -> PrintedFingerprint:
    """Read an nmap-printed fingerprint, `OS:`-wrapped or one test a line."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("OS:"):
            stripped = stripped[3:]
        lines.append(stripped)
    joined = "".join(lines)

    rounds: dict[str, list[Mapping[str, str]]] = {}
    scan: dict[str, str] = {}
    for match in _TEST.finditer(joined):
        name, body = match.groups()
        values = _values(body, name)
        if name == "SCAN":
            scan = values
        elif name in TEST_ATTRIBUTES:
            rounds.setdefault(name, []).append(values)
    if not rounds:
        raise PersonalityError("no fingerprint tests found in the text")
    tests = {name: appearances[0] for name, appearances in rounds.items()}
    frozen = {name: tuple(appearances) for name, appearances in rounds.items()}
    return PrintedFingerprint(tests, frozen, scan)


def _values(body: str, name: str) -> dict[str, str]:
    values = {}
    for pair in body.split("%") if body else ():
        attribute, equals, value = pair.partition("=")
        if not equals:
            raise PersonalityError(f"{name}({body}): {pair!r} has no '='")
        values[attribute] = value
    return values
