"""Where the DNSBL's listings come from, read live while vnet runs.

Two sources, either or both:

- the event store (vnet/events/store.py), the same file the engine is
  writing: `vnet.report.roles.Listing` takes in what was committed since
  its last look, so every role is answered within about a second of the
  record that earned it (the store commits at most 0.1 s apart);
- the open proxy's blacklist file (services/open_proxy/blacklist.py
  documents it): its JSON lines are followed as they are appended, and a
  source counts as a proxy user until the expiry the proxy gave it. This
  works without a store.

Both are read when a query comes and the last look is older than
`refresh` seconds, on the engine's loop: the store is read incrementally,
and the file from where the last look stopped, so a look costs little.
A source that cannot be read (no store yet, a missing file) is tried
again at the next look.

Limitation: the first look reads the whole store on the engine's loop
(about 0.7 s for a million events on the benchmark machine), and the
listing keeps every address it has seen, expired or not, until vnet
stops; it is as large as the number of offending sources.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path

from vnet.events.store import StoreError, open_reader
from vnet.events.times import seconds_to_micros
from vnet.report.roles import Listing

log = logging.getLogger(__name__)


class StoreSource:
    """Roles from the event store at `path`."""

    def __init__(self, path: Path, roles: tuple[str, ...], expiry: float | None):
        self.path = path
        self.listing = Listing(roles)
        self.expiry = None if expiry is None else seconds_to_micros(expiry)
        self._db: sqlite3.Connection | None = None

    def refresh(self) -> None:
        try:
            if self._db is None:
                self._db = open_reader(self.path)
            self.listing.refresh(self._db)
        except (StoreError, sqlite3.Error) as error:
            log.debug("dnsbl: store %s: %s", self.path, error)
            self.close()

    def roles(self, address: str, now: float) -> list[str]:
        return self.listing.lookup(address, seconds_to_micros(now), self.expiry)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class BlacklistSource:
    """Proxy users from the open proxy's blacklist file at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.expires: dict[str, float] = {}
        self._offset = 0
        self._inode: int | None = None
        self._partial = b""

    def refresh(self) -> None:
        try:
            status = os.stat(self.path)
        except OSError:
            return
        # The proxy rewrites the file when it starts: begin again.
        if status.st_ino != self._inode or status.st_size < self._offset:
            self._inode = status.st_ino
            self._offset = 0
            self._partial = b""
            self.expires.clear()
        if status.st_size == self._offset:
            return
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except OSError as error:
            log.debug("dnsbl: blacklist %s: %s", self.path, error)
            return
        self._offset += len(data)
        self._take(self._partial + data)

    def _take(self, data: bytes) -> None:
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            try:
                record = json.loads(line)
                source = record["source"]
                expires = float(record["expires"])
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(source, str):
                self.expires[source] = expires

    def roles(self, address: str, now: float) -> list[str]:
        expires = self.expires.get(address)
        return ["proxy-user"] if expires is not None and expires > now else []

    def close(self) -> None:
        self.expires.clear()
