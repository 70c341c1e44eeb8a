"""The proxy's blacklist: every source that used it, until an expiry.

HoneySpam lists the sources that abuse its proxies so that the operator can
refuse or tarpit them later, here and elsewhere. The list is a small
in-memory map from source address to expiry, kept on disk as JSON lines so
that it survives a restart and other tools can read it.

The file (by default `STATE_DIR/open-proxy/blacklist.jsonl`) holds one
object per listing or renewal, appended as it happens:

    {"source": "198.51.100.7", "listed": 1733220000.5,
     "expires": 1733306400.5, "reason": "http"}

`listed` and `expires` are Unix times in seconds; `reason` says what the
source did (`http`, `socks4`, `socks4a`, `socks5`). A later line for the
same source replaces an earlier one. Readers skip lines that do not parse,
so a line cut short by a crash costs one entry. On load the file is
rewritten with only the entries still live, so it stays as long as the list.

A renewal is written only when it moves the expiry by more than a tenth of
the listing period; a source that sends a thousand requests adds a few
lines, not a thousand. The map holds at most `capacity` sources; past that
the one that expires first is dropped.

Time is an argument (`now`), so tests can expire entries without waiting.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
from pathlib import Path
from typing import NamedTuple, TextIO

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100_000


class Entry(NamedTuple):
    listed: float
    expires: float
    reason: str


class Blacklist:
    """Sources and their expiry times, persisted to an optional file."""

    def __init__(
        self,
        path: Path | None,
        period: float,
        now: float,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.path = path
        self.period = period
        self.capacity = capacity
        self._entries: dict[str, Entry] = {}
        # The expiry last written for each source, to write renewals rarely.
        self._written: dict[str, float] = {}
        self._stream: TextIO | None = None
        if path is not None:
            self._load(path, now)

    def __len__(self) -> int:
        return len(self._entries)

    def listed(self, source: str, now: float) -> bool:
        """Whether `source` is on the list and has not expired."""
        entry = self._entries.get(source)
        if entry is None:
            return False
        if entry.expires <= now:
            del self._entries[source]
            self._written.pop(source, None)
            return False
        return True

    def entry(self, source: str) -> Entry | None:
        return self._entries.get(source)

    def add(self, source: str, now: float, reason: str) -> bool:
        """List or renew `source`; True if it was not listed before."""
        new = not self.listed(source, now)
        old = self._entries.get(source)
        entry = Entry(now if old is None else old.listed, now + self.period, reason)
        self._entries[source] = entry
        written = self._written.get(source, 0.0)
        if old is None or entry.expires - written > self.period / 10:
            self._write(source, entry)
            self._written[source] = entry.expires
        if len(self._entries) > self.capacity:
            self._evict(now)
        return new

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    # --- the file ------------------------------------------------------

    def _load(self, path: Path, now: float) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                self._read(path, now)
                self._rewrite(path)
            self._stream = open(path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as error:
            # The list still works in memory; the operator sees why not on disk.
            log.warning("blacklist %s: %s; keeping it in memory only", path, error)

    def _read(self, path: Path, now: float) -> None:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                parsed = _parse(line)
                if parsed is None:
                    continue
                source, entry = parsed
                if entry.expires > now:
                    self._entries[source] = entry
                    self._written[source] = entry.expires
                else:
                    self._entries.pop(source, None)
                    self._written.pop(source, None)
        if len(self._entries) > self.capacity:
            self._evict(now)

    def _rewrite(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".new")
        with open(temporary, "w", encoding="utf-8") as stream:
            for source, entry in self._entries.items():
                stream.write(_line(source, entry))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)

    def _write(self, source: str, entry: Entry) -> None:
        if self._stream is None:
            return
        try:
            self._stream.write(_line(source, entry))
            self._stream.flush()
        except OSError as error:
            log.warning("blacklist %s: %s", self.path, error)

    def _evict(self, now: float) -> None:
        live = {s: e for s, e in self._entries.items() if e.expires > now}
        excess = len(live) - self.capacity
        if excess > 0:
            for source, _ in heapq.nsmallest(excess, live.items(), key=_by_expiry):
                del live[source]
        self._entries = live
        self._written = {s: e for s, e in self._written.items() if s in live}


def _by_expiry(item: tuple[str, Entry]) -> float:
    return item[1].expires


def _line(source: str, entry: Entry) -> str:
    record = {
        "source": source,
        "listed": round(entry.listed, 3),
        "expires": round(entry.expires, 3),
        "reason": entry.reason,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def _parse(line: str) -> tuple[str, Entry] | None:
    try:
        record = json.loads(line)
        source = record["source"]
        expires = float(record["expires"])
        listed = float(record.get("listed", expires))
        reason = str(record.get("reason", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(source, str):
        return None
    return source, Entry(listed, expires, reason)
