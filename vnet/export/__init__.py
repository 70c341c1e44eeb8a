"""`vnet export KIND`: the honeynet's findings in formats other tools read.

KIND is one of `KINDS`:

- `list`: offending source addresses, one per line;
- `rbldnsd`: a zone for rbldnsd, one dataset per role;
- `nftables`: an nftables set to drop them;
- `csv`: the trace, one row per message to a trap address;
- `stix`: STIX 2.1 indicators for the sources, with sightings.

Every kind can be limited to some roles (vnet.report.roles: harvester,
proxy-user, relay-user, sink-sender) and to a time window; see each
module for what the window applies to.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable

from vnet.events.times import seconds_to_micros
from vnet.export.blocklists import nftables, plain, rbldnsd
from vnet.export.stix import stix_bundle
from vnet.export.trace_csv import trace_csv
from vnet.report.roles import check_roles, offenders
from vnet.report.trace import Decoder, trace

KINDS = ("list", "rbldnsd", "nftables", "csv", "stix")


class ExportError(ValueError):
    """An export asked for with a kind or option that does not exist."""


def export(
    kind: str,
    db: sqlite3.Connection,
    roles: Iterable[str] | None = None,
    since: int | None = None,
    until: int | None = None,
    now: float | None = None,
    decoder: Decoder | None = None,
    zone: str = "bl.example.test",
    table: str = "vnet",
) -> str:
    """The export of `kind` as text. Times are microseconds since the epoch."""
    chosen = check_roles(roles)
    generated = seconds_to_micros(time.time() if now is None else now)
    if kind == "csv":
        only = chosen if roles else None
        return trace_csv(trace(db, decoder), only, since, until)
    makers: dict[str, Callable[[list], str]] = {
        "list": plain,
        "rbldnsd": lambda found: rbldnsd(found, chosen, zone, generated=generated),
        "nftables": lambda found: nftables(found, table, generated=generated),
        "stix": lambda found: stix_bundle(found, generated),
    }
    maker = makers.get(kind)
    if maker is None:
        raise ExportError(f"found export kind {kind!r}; allowed: {', '.join(KINDS)}")
    return maker(offenders(db, chosen, since, until))


__all__ = ["KINDS", "ExportError", "export"]
