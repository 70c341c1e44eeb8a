"""Operating-system personalities from nmap's fingerprint database.

Three layers, each usable alone:

- the database (`load`, `Database`, `Fingerprint`): nmap-os-db parsed whole,
  selected by exact name, name and index (`"Linux 5.4#2"`) or CPE, and
  searched by substring;
- matching (`expr_match`, `score`, `parse_printed`): nmap 7.93's own rules
  for comparing an observed fingerprint with a reference;
- behaviour (`behaviour`, `Behaviour`): one host's concrete ISNs, IP IDs,
  timestamps, SYN-ACK options and replies to nmap's probes, chosen once
  from a seeded generator.

Nothing here does I/O except reading the database file.
"""

from __future__ import annotations

from typing import NamedTuple

from vnet.personality.behaviour import (
    Behaviour,
    IcmpReply,
    IpStamp,
    ReplyPlan,
    behaviour,
)
from vnet.personality.database import (
    DEFAULT_PATH,
    TEST_ATTRIBUTES,
    Database,
    Fingerprint,
    OsClass,
    load,
    parse,
)
from vnet.personality.errors import DatabaseError, PersonalityError, SelectionError
from vnet.personality.expression import expr_match
from vnet.personality.matching import (
    Mismatch,
    PrintedFingerprint,
    mismatches,
    parse_printed,
    score,
)


class SearchHit(NamedTuple):
    """One fingerprint found by `search`, with the text that selects it."""

    selector: str
    fingerprint: Fingerprint


def search(text: str, path: str = DEFAULT_PATH) -> list[SearchHit]:
    """Fingerprints whose name, class or CPE contains `text` (any case).

    For listing only (`vnet personality search TEXT`): a personality is
    selected by its exact selector, never by a substring.
    """
    database = load(path)
    return [SearchHit(hit.selector(database), hit) for hit in database.search(text)]


__all__ = [
    "DEFAULT_PATH",
    "TEST_ATTRIBUTES",
    "Behaviour",
    "Database",
    "DatabaseError",
    "Fingerprint",
    "IcmpReply",
    "IpStamp",
    "Mismatch",
    "OsClass",
    "PersonalityError",
    "PrintedFingerprint",
    "ReplyPlan",
    "SearchHit",
    "SelectionError",
    "behaviour",
    "expr_match",
    "load",
    "mismatches",
    "parse",
    "parse_printed",
    "score",
    "search",
]
