"""Keeping every message: a Maildir written so that a 250 is never a lie.

The layout is the Maildir of the stdlib `mailbox` module (tmp/, new/,
cur/), which also reads it back. Writing is done here rather than by
`mailbox.Maildir.add`, because that does not fsync: a message is written
under tmp/ with O_EXCL, fsync'd, renamed into new/, and new/ itself is
fsync'd so that the rename survives a crash. Only then does the caller send
its 250. The rename is atomic, so a reader never sees half a message, and a
SIGKILL at any moment leaves either nothing or the whole message in new/
(a stray file in tmp/ at worst, which Maildir readers ignore).

The calls block the event loop for the length of two fsyncs. That is the
price of durability with no threads; the benchmark measures it.
"""

from __future__ import annotations

import itertools
import mailbox
import os
import socket
from dataclasses import dataclass

# One counter for every store of the process, so that two bindings sharing
# a Maildir can never make the same name in the same microsecond.
_sequence = itertools.count(1)


@dataclass(frozen=True)
class Stored:
    """Where a message went, and its size in bytes."""

    path: str
    size: int


class MaildirStore:
    """One Maildir, opened once; `deliver` makes a message durable."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # Creates the Maildir with tmp/, new/ and cur/ if missing.
        mailbox.Maildir(self.path, create=True)
        self._tmp = os.path.join(self.path, "tmp")
        self._new = os.path.join(self.path, "new")
        self._new_fd = os.open(self._new, os.O_RDONLY | os.O_DIRECTORY)
        self._host = _maildir_host()

    def deliver(self, message: bytes, now: float) -> Stored:
        """Write `message` durably into new/ and return where it is."""
        name = self._unique_name(now)
        temporary = os.path.join(self._tmp, name)
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
        )
        try:
            _write_all(descriptor, message)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

        final = os.path.join(self._new, name)
        os.rename(temporary, final)
        os.fsync(self._new_fd)
        return Stored(final, len(message))

    def mailbox(self) -> mailbox.Maildir:
        """The same directory as a stdlib Maildir, for reading."""
        return mailbox.Maildir(self.path, create=False)

    def close(self) -> None:
        if self._new_fd >= 0:
            os.close(self._new_fd)
            self._new_fd = -1

    def _unique_name(self, now: float) -> str:
        # The Maildir convention: time, then what makes it unique on this
        # host (microseconds, pid, a counter), then the host name.
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        sequence = next(_sequence)
        return f"{seconds}.M{micros}P{os.getpid()}Q{sequence}.{self._host}"


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def _maildir_host() -> str:
    # Maildir escapes "/" and ":" in the host part of a name.
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072")
