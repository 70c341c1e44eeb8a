"""The value expressions of nmap-os-db, matched exactly as nmap 7.93 does.

A reference fingerprint gives each attribute an expression: alternatives
separated by `|`, each a literal (`M5B4`, `S+`, the empty string), an
inclusive hex range (`3B-45`) or a hex comparison (`>1000000`, `<5`). An
observed value is one plain string. Whether nmap counts a match decides
whether a personality passes, so `expr_match` follows nmap 7.93's reading
to the letter, including three quirks that nmap 7.95 later rewrote:

1. a literal that is not the last alternative matches any value it
   begins, so `S|O` matches `S+`;
2. an empty alternative that is not the last matches every value, so
   `Q=|U` matches `R`;
3. for a numeric value, a literal followed by any alternative holding a
   `-` is skipped, so `A|C-E` does not match `A`.

The numbers are read the way C's `strtol(..., 16)` reads them, because that
is what decides which values count as numeric: the empty string is the
number 0, `A` is ten, `S+` is not a number at all.

`alternatives` splits an expression for the opposite job, choosing a value
that matches; every choice is checked with `expr_match`, so a quirk never
lets the behaviour pick a value nmap would reject.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

_WHITESPACE = " \t\n\v\f\r"
_HEX = "0123456789abcdefABCDEF"
_LONG_MAX = 2**63 - 1
_UNSIGNED = 0xFFFFFFFF


def _strtol16(text: str, start: int) -> tuple[int, int]:
    """Read a hex number as glibc's strtol(text + start, &end, 16) does.

    Returns the value as a C long and the index where reading stopped; with
    no digits the index is `start`, as C leaves endptr at the argument.
    """
    index = start
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    negative = index < len(text) and text[index] == "-"
    if index < len(text) and text[index] in "+-":
        index += 1
    digits_at = index
    if text.startswith(("0x", "0X"), index):
        digits_at = index + 2
    end = digits_at
    while end < len(text) and text[end] in _HEX:
        end += 1
    if end == digits_at:
        if digits_at != index:
            # "0x" with no digit after it: glibc reads the "0" alone.
            return 0, index + 1
        return 0, start
    value = min(int(text[digits_at:end], 16), _LONG_MAX)
    return (-value if negative else value), end


@functools.lru_cache(maxsize=1 << 16)
def expr_match(expression: str, value: str) -> bool:
    """True when nmap 7.93 counts `value` as matching `expression`."""
    number, end = _strtol16(value, 0)
    numeric = end == len(value)
    number &= _UNSIGNED
    at = 0
    while True:
        bar = expression.find("|", at)
        if _alternative_matches(expression, at, bar, value, number, numeric):
            return True
        if bar < 0:
            return False
        at = bar + 1


def _alternative_matches(
    expression: str, at: int, bar: int, value: str, number: int, numeric: bool
) -> bool:
    """Test the alternative of `expression` starting at `at`, nmap's way.

    `bar` is the index of the `|` that ends it, or -1 for the last one.
    """
    last = len(expression)

    def ends_alternative(index: int) -> bool:
        return index in (bar, last)

    head = expression[at : at + 1]
    if numeric and head in ("<", ">"):
        bound, end = _strtol16(expression, at + 1)
        bound &= _UNSIGNED
        if not ends_alternative(end):
            return False
        return number < bound if head == "<" else number > bound

    # nmap looks for the dash in the rest of the whole expression, not in
    # this alternative alone: that is quirk 3.
    dash = expression.find("-", at)
    if numeric and dash >= 0:
        low, end = _strtol16(expression, at)
        if end != dash:
            return False
        high, end = _strtol16(expression, dash + 1)
        if not ends_alternative(end):
            return False
        return low & _UNSIGNED <= number <= high & _UNSIGNED

    if bar >= 0:
        # A prefix comparison (C's strncmp): quirks 1 and 2.
        return value.startswith(expression[at:bar])
    return value == expression[at:]


class Alternative(NamedTuple):
    """One alternative of an expression, as written.

    `low` and `high` bound the numbers it stands for: equal for a hex
    literal, the bounds of a range, one side open for `<` and `>`. Both are
    None for a literal that is not a hex number (`S+`, `M5B4`).
    """

    text: str
    low: int | None
    high: int | None

    @property
    def numeric(self) -> bool:
        return self.low is not None


def _parse_alternative(text: str) -> Alternative:
    if text[:1] in ("<", ">"):
        bound = _hex_or_none(text[1:])
        if bound is not None:
            if text[0] == ">":
                return Alternative(text, bound + 1, _UNSIGNED)
            return Alternative(text, 0, bound - 1)
    low_text, dash, high_text = text.partition("-")
    if dash:
        low, high = _hex_or_none(low_text), _hex_or_none(high_text)
        if low is not None and high is not None:
            return Alternative(text, low, high)
    number = _hex_or_none(text)
    return Alternative(text, number, number)


def _hex_or_none(text: str) -> int | None:
    if text and all(character in _HEX for character in text):
        return int(text, 16)
    return None


@functools.lru_cache(maxsize=4096)
def alternatives(expression: str) -> tuple[Alternative, ...]:
    """Split an expression into its alternatives, in the order written."""
    return tuple(_parse_alternative(text) for text in expression.split("|"))


@functools.lru_cache(maxsize=4096)
def is_well_formed(expression: str) -> bool:
    """True when every range and comparison in the expression reads whole.

    nmap itself asserts that a range's upper bound lies above its lower
    one; a database that breaks this would stop nmap, so it is refused.
    """
    for alternative in alternatives(expression):
        text = alternative.text
        if text[:1] in ("<", ">") and alternative.low is None:
            return False
        reversed_range = alternative.high is None or (
            alternative.low is not None and alternative.high < alternative.low
        )
        if "-" in text and alternative.low is not None and reversed_range:
            return False
    return True


def to_hex(number: int) -> str:
    """Format a number the way nmap prints test values: upper-case hex."""
    return format(number, "X")
