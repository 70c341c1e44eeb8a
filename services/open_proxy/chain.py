"""Earlier proxies that a request admits to: Via, X-Forwarded-For, Forwarded.

A spammer who chains proxies sends us a request that an earlier proxy has
already touched, and well-behaved proxies say so in the request:

- `Via` (RFC 9110 section 7.6.3): `1.1 name (comment), 1.0 other`, one
  entry per proxy, the protocol it received and its name;
- `X-Forwarded-For` (a de-facto header, first written by Squid): the
  client addresses each proxy saw, the original client first;
- `Forwarded` (RFC 7239 section 4): `for=...;by=...;proto=...` elements.

`read_chain` turns whichever of them are present into a `Chain`. Its
`hops` list names every earlier party once, in the order the headers give
them, so the `proxy.chain` record shows two enemy hops from one connection:
the address we saw and the ones the headers claim. The headers are the
peer's word and may be forged; the record keeps them raw as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

CHAIN_HEADERS = ("via", "x-forwarded-for", "forwarded")
MAX_HOPS = 32


@dataclass(frozen=True)
class Chain:
    """What the request says about the proxies before us."""

    via: tuple[dict[str, str], ...] = ()
    forwarded_for: tuple[str, ...] = ()
    forwarded: tuple[dict[str, str], ...] = ()
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def hops(self) -> list[str]:
        """Every earlier client or proxy named, once each, in order."""
        names: list[str] = []
        for element in self.forwarded:
            names += [element[key] for key in ("for", "by") if key in element]
        names += self.forwarded_for
        names += [entry["by"] for entry in self.via]
        seen: dict[str, None] = {}
        for name in names:
            if name and name.lower() not in ("unknown", "") and len(seen) < MAX_HOPS:
                seen.setdefault(name, None)
        return list(seen)

    def __bool__(self) -> bool:
        return bool(self.raw)


def read_chain(headers: Iterable[tuple[str, str]]) -> Chain:
    """The chain from a request's headers (names in any case)."""
    raw: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in CHAIN_HEADERS:
            raw[key] = f"{raw[key]}, {value}" if key in raw else value
    return Chain(
        via=tuple(parse_via(raw.get("via", ""))),
        forwarded_for=tuple(parse_forwarded_for(raw.get("x-forwarded-for", ""))),
        forwarded=tuple(parse_forwarded(raw.get("forwarded", ""))),
        raw=raw,
    )


def parse_via(value: str) -> list[dict[str, str]]:
    entries = []
    for element in _split_outside(value, ",", "()"):
        comment = ""
        if "(" in element:
            element, _, comment = element.partition("(")
            comment = comment.rsplit(")", 1)[0].strip()
        words = element.split()
        if len(words) < 2:
            continue
        entry = {"protocol": words[0], "by": words[1]}
        if comment:
            entry["comment"] = comment
        entries.append(entry)
        if len(entries) == MAX_HOPS:
            break
    return entries


def parse_forwarded_for(value: str) -> list[str]:
    addresses = [part.strip() for part in value.split(",")]
    return [address for address in addresses if address][:MAX_HOPS]


def parse_forwarded(value: str) -> list[dict[str, str]]:
    elements = []
    for element in _split_outside(value, ",", '""'):
        pairs: dict[str, str] = {}
        for pair in _split_outside(element, ";", '""'):
            key, equals, item = pair.partition("=")
            if equals:
                pairs[key.strip().lower()] = _unquote(item.strip())
        if pairs:
            elements.append(pairs)
        if len(elements) == MAX_HOPS:
            break
    return elements


def _split_outside(value: str, separator: str, brackets: str) -> list[str]:
    """Split on `separator`, except inside a bracketed or quoted run."""
    opening, closing = brackets[0], brackets[1]
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for character in value:
        if opening == closing and character == opening:
            depth = 1 - depth
        elif character == opening:
            depth += 1
        elif character == closing and depth:
            depth -= 1
        if character == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(character)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"')
    return value
