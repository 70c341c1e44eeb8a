"""expr_match against nmap 7.93's semantics, quirks included."""

from __future__ import annotations

import pytest

from vnet.personality.expression import alternatives, expr_match, is_well_formed

# (expression, value, nmap 7.93's answer, why)
CASES = [
    # Plain literals and numbers.
    ("M5B4NW7", "M5B4NW7", True, "exact literal"),
    ("M5B4NW7", "M5B4", False, "the last alternative is compared whole"),
    ("FFFF", "FFFF", True, "hex literal"),
    ("", "", True, "empty expression, empty value"),
    ("", "M5B4", False, "empty expression, other value"),
    # Ranges are inclusive and hexadecimal.
    ("3B-45", "3B", True, "range, low end"),
    ("3B-45", "45", True, "range, high end"),
    ("3B-45", "40", True, "range, inside"),
    ("3B-45", "46", False, "range, above"),
    ("3B-45", "3A", False, "range, below"),
    ("FA-104", "FF", True, "range over 255, as T has"),
    ("FA-104", "100", True, "the range's far end"),
    # OR-ed ranges.
    ("5A-72|87-91", "60", True, "first of two ranges"),
    ("5A-72|87-91", "90", True, "second of two ranges"),
    ("5A-72|87-91", "80", False, "between two ranges"),
    # Comparisons, in hex.
    (">1000000", "1000001", True, "greater"),
    (">1000000", "1000000", False, "not greater"),
    ("1|>1000000", "1", True, "literal before a comparison still counts"),
    ("<5", "4", True, "less"),
    ("<5", "5", False, "not less"),
    (">0", "0", False, "zero is not above zero"),
    (">0", "128", True, "a numeric value against >0"),
    # Alternatives.
    ("Y|N", "N", True, "second alternative"),
    ("I|RD", "RD", True, "last alternative, exact"),
    ("51E80C|A3D018", "A3D018", True, "list of hex values"),
    # Quirk 1: a non-final literal matches any value it begins.
    ("S|O", "S+", True, "quirk 1: S| matches S+"),
    ("A|O", "A+", True, "quirk 1: A| matches A+"),
    ("O|S", "S+", False, "the final alternative is still compared whole"),
    ("M5B4|M218", "M5B4NW0", True, "quirk 1 on option strings"),
    ("8|A", "80", True, "quirk 1 on numbers too"),
    # Quirk 2: an empty non-final alternative matches everything.
    ("|U", "R", True, "quirk 2: Q=|U matches R"),
    ("|U", "", True, "quirk 2: and the empty value"),
    ("|M5B4", "M218", True, "quirk 2: O=|... matches any options"),
    ("U|", "R", False, "an empty final alternative only matches empty"),
    ("U|", "", True, "an empty final alternative matches empty"),
    # Quirk 3: numeric value, a literal before any alternative with '-'.
    ("A|C-E", "A", False, "quirk 3: the literal is skipped"),
    ("A|C-E", "D", True, "quirk 3: the range still works"),
    ("0|5B4-5B8", "0", False, "quirk 3: skipped even when it is the value"),
    ("1-6|64|C8", "64", True, "literals after the range are fine"),
    ("1-6|64|C8", "3", True, "the range itself"),
    ("S+|3-5", "S+", True, "quirk 3 needs a numeric value"),
    # strtol's idea of a number.
    ("0-5", "", True, "the empty value is the number 0"),
    ("1-5", "", False, "and 0 is below the range"),
    ("A", "a", False, "string comparison is case-sensitive"),
    ("A-C", "b", True, "but strtol reads lower-case hex"),
]


@pytest.mark.parametrize(("expression", "value", "expected", "why"), CASES)
def test_expr_match_follows_nmap_7_93(
    expression: str, value: str, expected: bool, why: str
) -> None:
    assert expr_match(expression, value) is expected, why


def test_alternatives_keep_the_written_order_and_bounds() -> None:
    parsed = alternatives("1-6|64|>1000000|<5|S+|")
    assert [alternative.text for alternative in parsed] == [
        "1-6",
        "64",
        ">1000000",
        "<5",
        "S+",
        "",
    ]
    assert (parsed[0].low, parsed[0].high) == (1, 6)
    assert (parsed[1].low, parsed[1].high) == (0x64, 0x64)
    assert (parsed[2].low, parsed[2].high) == (0x1000001, 0xFFFFFFFF)
    assert (parsed[3].low, parsed[3].high) == (0, 4)
    assert not parsed[4].numeric


@pytest.mark.parametrize("text", ["5-3", ">", "<G"])
def test_malformed_bounds_are_refused(text: str) -> None:
    assert not is_well_formed(text)


@pytest.mark.parametrize("text", ["3B-45", "FA-104|FF", ">1000000", "M5B4", "S+"])
def test_well_formed_expressions_pass(text: str) -> None:
    assert is_well_formed(text)
