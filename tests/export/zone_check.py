"""A syntax check of rbldnsd `combined` datasets, as rbldnsd(8) describes them.

It knows the part of the format a blocklist uses: comments, the specials
`$SOA`, `$NS`, `$TTL` and `$DATASET`, default values `:A:TXT`, and ip4set
entries (addresses and CIDR ranges, optionally with their own value). It
returns one message per line it cannot read, with the line's number, so a
test shows exactly what rbldnsd would have complained about. rbldnsd
itself (`rbldnsd -d`) is the second opinion in the tests.
"""

from __future__ import annotations

import ipaddress
import re

TIME = re.compile(r"[0-9]+[smhdw]?")
NAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}\.?")
SUBZONE = re.compile(r"@|[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*")
DATASET_TYPES = ("ip4set", "ip4tset", "ip4trie", "generic")


def check_zone(text: str) -> list[str]:
    problems: list[str] = []
    dataset: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("$"):
            problem, started = _special(stripped)
            dataset = started or dataset
        elif dataset is None:
            problem = "data before any $DATASET line"
        elif stripped.startswith(":"):
            problem = _value(stripped)
        else:
            problem = _entry(stripped)
        if problem:
            problems.append(f"line {number}: {problem}: {line!r}")
    return problems


def _special(line: str) -> tuple[str | None, str | None]:
    keyword, *fields = line.split()
    if keyword == "$SOA":
        if len(fields) != 8:
            return "$SOA needs ttl origin person serial refresh retry expire min", None
        names_ok = all(NAME.fullmatch(name) for name in fields[1:3])
        times_ok = all(TIME.fullmatch(value) for value in (fields[0], *fields[3:]))
        return (None if names_ok and times_ok else "bad $SOA field"), None
    if keyword == "$NS":
        if len(fields) < 2 or not TIME.fullmatch(fields[0]):
            return "$NS needs ttl and at least one name", None
        bad = [name for name in fields[1:] if not NAME.fullmatch(name.lstrip("-"))]
        return (f"bad name server {bad[0]}" if bad else None), None
    if keyword == "$TTL":
        ok = len(fields) == 1 and TIME.fullmatch(fields[0])
        return (None if ok else "$TTL needs one time"), None
    if keyword == "$DATASET":
        return _dataset(fields)
    return f"unknown special {keyword}", None


def _dataset(fields: list[str]) -> tuple[str | None, str | None]:
    if len(fields) < 2:
        return "$DATASET needs a type and at least one subzone", None
    kind = fields[0].partition(":")[0]
    if kind not in DATASET_TYPES:
        return f"unknown dataset type {kind}", None
    bad = [zone for zone in fields[1:] if not SUBZONE.fullmatch(zone)]
    if bad:
        return f"bad subzone {bad[0]}", None
    return None, kind


def _value(line: str) -> str | None:
    address, _, _text = line[1:].partition(":")
    return None if _is_answer(address) else f"bad A value {address!r}"


def _is_answer(text: str) -> bool:
    if text.isdigit():
        return 0 <= int(text) <= 255
    try:
        return ipaddress.IPv4Address(text) in ipaddress.IPv4Network("127.0.0.0/8")
    except ValueError:
        return False


def _entry(line: str) -> str | None:
    address, _, value = line.partition(" ")
    address = address.lstrip("!")
    try:
        ipaddress.IPv4Network(address, strict=True)
    except ValueError:
        return "not an IPv4 address or range"
    value = value.strip()
    if value.startswith(":"):
        return _value(value)
    return None
