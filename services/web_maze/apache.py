"""Looking like Apache httpd: its Server banner, headers, errors and limits.

RFC 9110 and 9112 (HTTP semantics and HTTP/1.1) apply; what is emulated is
what a client sees of a stock Apache 2.2 or 2.4 serving static files, as
shipped by the distribution that the host's personality suggests:

- the `Server` banner, chosen from the personality (a Linux 3.x host runs
  Debian's 2.4.25, a FreeBSD 6 host 2.2.4...), or set by the `server`
  option;
- header order: Date, Server, then Location / Last-Modified / ETag /
  Accept-Ranges / Content-Length / Vary, then Keep-Alive and Connection,
  and Content-Type last; a 304 carries Connection, Keep-Alive and ETag;
- the ETag shapes of each version (2.2 adds an inode field), the reason
  phrases that changed between them (408, 414), and the error pages, in
  the HTML 2.0 shape Apache writes. The sentences of those pages are the
  ones Apache sends, since a client compares exactly those;
- the request limits of a default configuration: LimitRequestLine and
  LimitRequestFieldSize 8190, LimitRequestFields 100, KeepAliveTimeout 5,
  MaxKeepAliveRequests 100, and mod_reqtimeout's header=20-40,MinRate=500.

Limitation: no mod_deflate compression; Vary is sent, the body never
compressed, which Apache also does for clients that ask for none.
Limitation: Range is ignored and the whole page sent (RFC 9110 allows it),
though Accept-Ranges says bytes.
Limitation: an Apache 1.3 banner (OpenBSD hosts) gets 2.2's error pages.
"""

from __future__ import annotations

import email.utils
import html
import re
from dataclasses import dataclass
from functools import lru_cache

# Personality words -> banner, first match wins. The versions are those the
# distributions of the time shipped.
BANNERS = (
    (re.compile(r"windows", re.I), "Apache/2.2.25 (Win32)"),
    (re.compile(r"openbsd", re.I), "Apache/1.3.29 (Unix)"),
    (re.compile(r"freebsd (?:[4-7])\b", re.I), "Apache/2.2.4 (FreeBSD)"),
    (re.compile(r"freebsd", re.I), "Apache/2.4.58 (FreeBSD)"),
    (re.compile(r"linux 2\.4", re.I), "Apache/2.0.52 (Red Hat)"),
    (re.compile(r"linux 2\.6", re.I), "Apache/2.2.22 (Debian)"),
    (re.compile(r"linux 3\.", re.I), "Apache/2.4.25 (Debian)"),
    (re.compile(r"linux 4\.", re.I), "Apache/2.4.38 (Debian)"),
    (re.compile(r"linux 5\.", re.I), "Apache/2.4.56 (Debian)"),
)
DEFAULT_BANNER = "Apache/2.4.62 (Debian)"

LIMIT_REQUEST_LINE = 8190
LIMIT_FIELD_SIZE = 8190
LIMIT_FIELDS = 100

REASONS = {
    100: "Continue",
    200: "OK",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    500: "Internal Server Error",
    501: "Not Implemented",
}
REASONS_2_2 = {408: "Request Time-out", 414: "Request-URI Too Large"}

# The methods Apache knows without WebDAV modules; any other token is 501.
KNOWN_METHODS = frozenset(
    b"GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH PROPFIND "
    b"PROPPATCH MKCOL COPY MOVE LOCK UNLOCK VERSION-CONTROL CHECKOUT "
    b"UNCHECKOUT CHECKIN UPDATE LABEL REPORT MKWORKSPACE MKACTIVITY "
    b"BASELINE-CONTROL MERGE".split()
)
ALLOW = "GET,POST,OPTIONS,HEAD"

ERROR_TYPE = "text/html; charset=iso-8859-1"


@dataclass(frozen=True)
class Apache:
    """One emulated server: its banner and the version it implies."""

    banner: str
    version: tuple[int, int, int]

    @property
    def is_2_2(self) -> bool:
        return self.version < (2, 3, 0)

    def reason(self, status: int) -> str:
        if self.is_2_2 and status in REASONS_2_2:
            return REASONS_2_2[status]
        return REASONS[status]

    def etag(self, size: int, mtime: float, inode: int) -> str:
        """FileETag's default: INode MTime Size in 2.2, MTime Size in 2.4."""
        stamp = int(mtime * 1_000_000)
        if self.is_2_2:
            return f'"{inode:x}-{size:x}-{stamp:x}"'
        return f'"{size:x}-{stamp:x}"'

    def error_page(self, status: int, host: str, port: int, **detail: str) -> bytes:
        """The body Apache writes for `status` (see `_MESSAGES`)."""
        title = f"{status} {self.reason(status)}"
        message = _message(self, status, detail)
        page = (
            '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
            f"<html><head>\n<title>{title}</title>\n</head><body>\n"
            f"<h1>{self.reason(status)}</h1>\n{message}\n<hr>\n"
            f"<address>{self.banner} Server at {html.escape(host)} "
            f"Port {port}</address>\n</body></html>\n"
        )
        return page.encode("latin-1", "replace")


def _message(server: Apache, status: int, detail: dict[str, str]) -> str:
    escaped = {key: html.escape(value) for key, value in detail.items()}
    if status == 404:
        # Apache 2.4.39 stopped echoing the URL in its 404 page.
        if server.version >= (2, 4, 39):
            return "<p>The requested URL was not found on this server.</p>"
        return (
            f"<p>The requested URL {escaped['path']} was not found on this server.</p>"
        )
    if status == 301:
        return (
            f'<p>The document has moved <a href="{escaped["location"]}">here</a>.</p>'
        )
    if status == 400:
        extra = f"{escaped['reason']}<br />\n" if detail.get("reason") else ""
        return (
            "<p>Your browser sent a request that this server could not "
            f"understand.<br />\n{extra}</p>"
        )
    if status == 405:
        return (
            f"<p>The requested method {escaped['method']} is not allowed "
            "for this URL.</p>"
        )
    if status == 408:
        return "<p>Server timeout waiting for the HTTP request from the client.</p>"
    if status == 413:
        return (
            f"The requested resource<br />{escaped['path']}<br />\n"
            f"does not allow request data with {escaped['method']} requests, "
            "or the amount of data provided in\nthe request exceeds the "
            "capacity limit.\n"
        )
    if status == 414:
        return (
            "<p>The requested URL's length exceeds the capacity\n"
            "limit for this server.<br />\n</p>"
        )
    if status == 501:
        if server.is_2_2:
            return (
                f"<p>{escaped['method']} to {escaped['path']} not supported."
                "<br />\n</p>"
            )
        return f"<p>{escaped['method']} not supported for current URL.<br />\n</p>"
    return (
        "<p>The server encountered an internal error or\nmisconfiguration "
        "and was unable to complete\nyour request.</p>"
    )


@lru_cache(maxsize=64)
def server_for(personality: str | None, override: str | None = None) -> Apache:
    """The Apache a host of this personality would run (or `override`)."""
    banner = override or _banner(personality)
    found = re.match(r"Apache/(\d+)\.(\d+)(?:\.(\d+))?", banner)
    if found is None:
        # A banner without a version (ServerTokens Prod) is a current 2.4.
        return Apache(banner, (2, 4, 62))
    major, minor, patch = (int(part or 0) for part in found.groups())
    return Apache(banner, (major, minor, patch))


def _banner(personality: str | None) -> str:
    for pattern, banner in BANNERS:
        if personality and pattern.search(personality):
            return banner
    return DEFAULT_BANNER


def http_date(when: float) -> str:
    """RFC 9110 section 5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`."""
    return email.utils.formatdate(when, usegmt=True)


def parse_http_date(text: str) -> float | None:
    """Seconds since the epoch, or None for a date no client should send."""
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    """The status line and header block, exactly in the order given.

    h11 keeps the connection's state, but it moves a Connection header it
    sets itself to the end; Apache writes Connection before Content-Type,
    so the bytes on the wire are written here.
    """
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
