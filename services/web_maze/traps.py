"""Trap addresses: e-mail addresses that say who harvested them, and when.

Two formats, both RFC 5322 dot-atoms of at most 64 characters (RFC 5321
section 4.5.3.1.1), so no address verifier can reject them:

- `crawler-<IP>_<timestamp>@domain`, the form of the HoneySpam paper. The
  timestamp is in milliseconds, and the maze never issues one twice, so
  each address names one page view. It is readable by anyone, and so can
  be forged or filtered by pattern.
- an opaque local part that starts like a person's name or account
  (`anna.schmidt.`, `kwagner_`...) and ends in a 21-character token. The
  token carries the visitor's IPv4 address and the time, sealed with the
  site's secret, so it decodes with the secret alone and a forged or
  altered address is recognised.

Why not AES-GCM or ChaCha20-Poly1305 from `cryptography`: their 12-byte
nonce and 16-byte tag around a 9-byte payload make 37 bytes, 60 base32
characters, which leaves no room for a name in 64 and reads as a token
from afar. The opaque format instead uses the SIV construction of
deterministic authenticated encryption (Rogaway and Shrimpton, 2006) with
HMAC-SHA256 from the standard library as its pseudo-random function:

    payload = IPv4 (4 bytes) || milliseconds since 2020 (5 bytes)
    tag     = HMAC(k_tag, prefix, payload)[:4]        the synthetic IV
    cipher  = payload XOR HMAC(k_pad, prefix, tag)[:9]
    token   = base32(tag || cipher)                   21 characters

The name prefix is authenticated as associated data, so a token pasted
behind another name does not decode. A 32-bit tag lets a blind forger
succeed once in 2**32 tries, plenty for telling spam traps from guesses.
Encryption being deterministic, one (prefix, visit) always gives one
address; that hides nothing a harvester does not already know.

Limitation: the opaque token is always the last 21 characters, in the
base32 alphabet, so a harvester that knows this design can still filter
the addresses by that shape.
Limitation: the opaque format carries IPv4 visitors only (an IPv6 visitor
gets the crawler format), and times up to 2054 (40 bits of milliseconds).
"""

from __future__ import annotations

import base64
import datetime
import hmac
import ipaddress
import json
import os
import re
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

SECRET_NAME = "web-maze.secret"
SECRET_BYTES = 32
TOKEN_LENGTH = 21
EPOCH_2020 = 1_577_836_800
LOCAL_PART_LIMIT = 64
PREFIX_LIMIT = LOCAL_PART_LIMIT - TOKEN_LENGTH - 4

# RFC 5322 section 3.4.1: a dot-atom local part of atext characters.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_CRAWLER = re.compile(r"crawler-([0-9a-f.\-]+)_([0-9]{1,15})")
_TOKEN = re.compile(r"[a-z2-7]{21}")


class TraceError(Exception):
    """The trace cannot run: no secret, an unreadable one, or no address."""


@dataclass(frozen=True)
class Visit:
    """What a trap address says about the visit that was given it.

    `time` is in seconds since the epoch, to the millisecond.
    `authenticated` is True when the secret proved the address was ours;
    the crawler format proves nothing, so it is always False there.
    """

    ip: str
    time: float
    format: str
    authenticated: bool


def is_valid_address(address: str) -> bool:
    """True for a dot-atom local part of at most 64 characters, and a
    dot-atom domain (the only forms the maze ever issues)."""
    local, at, domain = address.rpartition("@")
    if not at or len(local) > LOCAL_PART_LIMIT:
        return False
    return bool(DOT_ATOM.fullmatch(local) and DOT_ATOM.fullmatch(domain))


def crawler_address(ip: str, millis: int, domain: str) -> str:
    """The paper's form. IPv6 colons are not atext, so they become dashes."""
    return f"crawler-{ip.replace(':', '-')}_{millis}@{domain}"


def _keys(secret: bytes) -> tuple[bytes, bytes]:
    tag_key = hmac.new(secret, b"vnet web-maze trap tag", sha256).digest()
    pad_key = hmac.new(secret, b"vnet web-maze trap pad", sha256).digest()
    return tag_key, pad_key


def _seal(secret: bytes, prefix: bytes, payload: bytes) -> bytes:
    tag_key, pad_key = _keys(secret)
    header = struct.pack("!B", len(prefix)) + prefix
    tag = hmac.new(tag_key, header + payload, sha256).digest()[:4]
    pad = hmac.new(pad_key, header + tag, sha256).digest()[: len(payload)]
    return tag + bytes(a ^ b for a, b in zip(payload, pad, strict=True))


def _open(secret: bytes, prefix: bytes, sealed: bytes) -> bytes | None:
    tag_key, pad_key = _keys(secret)
    header = struct.pack("!B", len(prefix)) + prefix
    tag, cipher = sealed[:4], sealed[4:]
    pad = hmac.new(pad_key, header + tag, sha256).digest()[: len(cipher)]
    payload = bytes(a ^ b for a, b in zip(cipher, pad, strict=True))
    expected = hmac.new(tag_key, header + payload, sha256).digest()[:4]
    return payload if hmac.compare_digest(tag, expected) else None


def opaque_address(
    secret: bytes, prefix: str, ip: str, millis: int, domain: str
) -> str:
    """`prefix` + a sealed token of (ip, millis) + `@domain`.

    `prefix` must be lower-case atext that can precede the token in a
    dot-atom (it may end in a separator such as `.`, never start with one).
    """
    prefix = prefix.lower()[:PREFIX_LIMIT]
    since = millis - EPOCH_2020 * 1000
    if not 0 <= since < 1 << 40:
        raise ValueError(f"time {millis} ms is outside 2020-2054")
    payload = ipaddress.IPv4Address(ip).packed + since.to_bytes(5, "big")
    sealed = _seal(secret, prefix.encode("ascii"), payload)
    token = base64.b32encode(sealed).decode("ascii").rstrip("=").lower()
    local = prefix + token
    if not DOT_ATOM.fullmatch(local):
        raise ValueError(f"prefix {prefix!r} does not make a dot-atom")
    return f"{local}@{domain}"


def decode(address: str, secret: bytes) -> Visit | None:
    """The visit an address was issued to, or None if it is not one of ours.

    Mail systems may change the case of an address, so case is ignored.
    The domain is not checked: a spammer's list may carry the local part
    to another domain, and the visit is in the local part alone.
    """
    local = address.strip().rpartition("@")[0].lower() or address.strip().lower()
    crawler = _CRAWLER.fullmatch(local)
    if crawler is not None:
        return _crawler_visit(crawler)
    return _opaque_visit(local, secret)


def _crawler_visit(match: re.Match[str]) -> Visit | None:
    text = match.group(1)
    candidate = text.replace("-", ":") if "-" in text else text
    try:
        ip = str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
    stamp = int(match.group(2))
    # Twelve digits or more are milliseconds; fewer, the paper's seconds.
    when = stamp / 1000 if len(match.group(2)) >= 12 else float(stamp)
    return Visit(ip, when, "crawler", authenticated=False)


def _opaque_visit(local: str, secret: bytes) -> Visit | None:
    prefix, token = local[:-TOKEN_LENGTH], local[-TOKEN_LENGTH:]
    if len(local) > LOCAL_PART_LIMIT or not _TOKEN.fullmatch(token):
        return None
    sealed = base64.b32decode(token.upper() + "===")
    # Thirteen bytes fill 104 of the 105 bits; a canonical token has the
    # last one zero, so an altered last character is caught here too.
    if base64.b32encode(sealed).decode("ascii").rstrip("=").lower() != token:
        return None
    payload = _open(secret, prefix.encode("ascii"), sealed)
    if payload is None:
        return None
    ip = str(ipaddress.IPv4Address(payload[:4]))
    millis = int.from_bytes(payload[4:], "big") + EPOCH_2020 * 1000
    return Visit(ip, millis / 1000, "opaque", authenticated=True)


# The secret -------------------------------------------------------------


def secret_path(state_dir: str | os.PathLike[str], secret_file: str | None) -> Path:
    """Where the secret lives: the `secret_file` option, or the state dir."""
    if secret_file:
        return Path(secret_file)
    return Path(state_dir) / SECRET_NAME


def ensure_secret(path: Path) -> bytes:
    """The secret at `path`, created (mode 0600, directory 0700) if absent.

    O_EXCL makes two services that start together agree on one secret:
    the loser of the race reads the winner's file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(path)
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return read_secret(path)


def read_secret(path: Path) -> bytes:
    """The secret's bytes, or TraceError naming what is wrong with the file."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise TraceError(f"{path}: no web-maze secret there") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(f"{path}: cannot read the secret: {error}") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise TraceError(f"{path}: found no hex secret of at least 16 bytes")
    return secret


# `vnet trace address` ---------------------------------------------------


@dataclass
class Trace:
    """A decoded address, with the `web.address.issued` records that match."""

    address: str
    visit: Visit | None
    records: list[dict] = field(default_factory=list)


def trace(
    address: str,
    state_dir: str = "var",
    secret_file: str | None = None,
    events_path: str | None = None,
) -> Trace:
    """Decode `address` and find where it was issued.

    The records come from `events_path`, or from `<state_dir>/events.jsonl`
    when that exists. TraceError for a missing secret or a non-address.
    """
    if "@" not in address or not is_valid_address(address.strip()):
        raise TraceError(f"{address!r}: not an e-mail address the maze issues")
    secret = read_secret(secret_path(state_dir, secret_file))
    found = Trace(address.strip(), decode(address, secret))
    events = Path(events_path) if events_path else Path(state_dir) / "events.jsonl"
    if events_path or events.exists():
        found.records = list(_issued_records(events, found.address))
    return found


def _issued_records(path: Path, address: str) -> Iterator[dict]:
    wanted = address.lower()
    try:
        stream = path.open(encoding="utf-8")
    except OSError as error:
        raise TraceError(f"{path}: cannot read the events: {error}") from None
    with stream:
        for line in stream:
            if wanted not in line.lower():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                # A line cut short by a kill; the others still count.
                continue
            if record.get("event") != "web.address.issued":
                continue
            if str(record.get("address", "")).lower() == wanted:
                yield record


def format_trace(found: Trace) -> str:
    """The text `vnet trace address` prints."""
    if found.visit is None:
        return f"{found.address}: not issued by this maze (or forged)"
    visit = found.visit
    proof = "authenticated" if visit.authenticated else "unauthenticated format"
    lines = [
        f"{found.address}",
        f"  visitor  {visit.ip}",
        f"  issued   {_utc(visit.time)} ({visit.time:.3f})",
        f"  format   {visit.format}, {proof}",
    ]
    for record in found.records:
        lines.append(
            f"  page     {record.get('url', '?')} on {record.get('vhost', '?')}"
            f" at {record.get('time', '?')}"
        )
        lines.append(f"  agent    {record.get('user_agent', '')}")
    return "\n".join(lines)


def _utc(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
