"""Watching a client's raw bytes for the tricks that bad input is made of.

RFC 5321 section 2.3.8 allows only CRLF as a line ending, and section
4.1.1.4 ends a message with CRLF "." CRLF. Servers that also accept a bare
LF or a bare CR there can be made to end a message early and read the rest
as new commands: SMTP smuggling (CVE-2023-51764 and its siblings). aiosmtpd
ends a message only on CRLF "." CRLF, so such a message is stored whole;
this scanner only notices the attempt, so that it can be recorded.

It also notices a bare LF anywhere and a NUL byte anywhere. It is sans-IO:
bytes in, findings out, with a few bytes carried across chunk boundaries so
that a sequence split between two reads is seen once, and the real end of
a message split between two reads is never mistaken for an attempt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A lone dot between two line endings of any kind. The alternatives try CRLF
# first, so the legitimate CRLF "." CRLF matches as itself and is skipped.
_LONE_DOT = re.compile(rb"(\r\n|\n|\r)\.(\r\n|\n|\r)")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_CRLF = b"\r\n"
# The longest match is CRLF "." CRLF: five bytes.
_CARRY = 5


@dataclass(frozen=True)
class Finding:
    """One suspicious sequence: its kind, its bytes, and where it started."""

    kind: str
    sequence: bytes
    offset: int


class InputScanner:
    """Feed it every chunk a client sends, in order."""

    def __init__(self) -> None:
        self._tail = b""
        self._consumed = 0
        self.seen_bare_lf = False
        self.seen_nul = False

    def feed(self, chunk: bytes) -> list[Finding]:
        window = self._tail + chunk
        base = self._consumed - len(self._tail)
        findings = self._smuggling(window, base)
        findings += self._oddities(window, chunk, base)
        self._consumed += len(chunk)
        self._tail = window[-_CARRY:]
        return findings

    def _smuggling(self, window: bytes, base: int) -> list[Finding]:
        found = []
        fresh_from = len(self._tail)
        for match in _LONE_DOT.finditer(window):
            # A match that ends before the fresh bytes was reported with the
            # last chunk. One ending at the window's edge may still grow (CR,
            # then LF in the next chunk): it is reported with the next one.
            if match.end() < fresh_from or match.end() >= len(window):
                continue
            if match.group(1) == _CRLF and match.group(2) == _CRLF:
                continue
            found.append(Finding("smuggling", match.group(), base + match.start()))
        return found

    def _oddities(self, window: bytes, chunk: bytes, base: int) -> list[Finding]:
        found = []
        if not self.seen_nul and b"\0" in chunk:
            self.seen_nul = True
            found.append(Finding("nul", b"\0", self._consumed + chunk.index(b"\0")))
        if not self.seen_bare_lf:
            start = max(len(self._tail) - 1, 0)
            match = _BARE_LF.search(window, start)
            if match is not None and match.start() >= len(self._tail):
                self.seen_bare_lf = True
                found.append(Finding("bare-lf", b"\n", base + match.start()))
        return found

    def finish(self) -> list[Finding]:
        """At end of input: a sequence that ended exactly at the last byte."""
        findings = []
        matches = list(_LONE_DOT.finditer(self._tail))
        last = matches[-1] if matches else None
        at_end = last is not None and last.end() == len(self._tail)
        if at_end and last.group() != _CRLF + b"." + _CRLF:
            offset = self._consumed - len(self._tail) + last.start()
            findings.append(Finding("smuggling", last.group(), offset))
        self._tail = b""
        return findings
