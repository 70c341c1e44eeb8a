"""How the emulated proxy looks on the wire: Squid 3.x, by default.

A Squid caching proxy leaves its mark on every response it passes on, and
says more in the responses it makes itself:

- a passed-on response keeps the origin server's own headers and gains
  `X-Cache: MISS from NAME`, `X-Cache-Lookup: MISS from NAME:PORT` and
  `Via: 1.1 NAME (squid/VERSION)` (RFC 9110 section 7.6.3);
- an error it makes has `Server: squid/VERSION`, `Mime-Version`, an
  `X-Squid-Error: ERR_... 0` header naming the error page, and an HTML page
  titled "ERROR: The requested URL could not be retrieved", with the error
  name in a comment and a footer "Generated DATE by NAME (squid/VERSION)".
  nmap's service probes recognise Squid by the Server header and by that
  title, and proxy checkers by the rest.
- a successful CONNECT is answered with the bare status line
  `HTTP/1.1 200 Connection established` and no headers at all.

The pages here are written for vnet; they follow the shape of Squid's
pages, not their text. Squid 3.2 and later answer in HTTP/1.1, which is
what h11 writes, so versions before 3.2 are not offered.

Limitation: only Squid is emulated. Other proxy software (tinyproxy,
Apache mod_proxy, CCProxy) would each need its own headers and pages.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.utils import formatdate

DEFAULT_VERSION = "3.5.27"

CONNECT_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


@dataclass(frozen=True)
class ErrorPage:
    """One of Squid's error pages: its status, and what it tells the user."""

    status: int
    reason: str
    summary: str
    explanation: str
    errno: int = 0


ERRORS = {
    "ERR_INVALID_URL": ErrorPage(
        400,
        "Bad Request",
        "Invalid URL",
        "The address in the request could not be understood: its scheme, "
        "host name or port is missing or malformed.",
    ),
    "ERR_INVALID_REQ": ErrorPage(
        400,
        "Bad Request",
        "Invalid Request",
        "The request could not be read: its request line or one of its "
        "header fields is malformed.",
    ),
    "ERR_TOO_BIG": ErrorPage(
        400,
        "Bad Request",
        "The request or reply is too large.",
        "The request is larger than this cache accepts. Shorten its "
        "headers or its body and try again.",
    ),
    "ERR_UNSUP_REQ": ErrorPage(
        501,
        "Not Implemented",
        "Unsupported Request Method and Protocol",
        "This cache does not carry that method for that protocol.",
    ),
    "ERR_ACCESS_DENIED": ErrorPage(
        403,
        "Forbidden",
        "Access Denied.",
        "The cache's access rules do not allow this request. Ask your "
        "cache administrator if you believe they should.",
    ),
    "ERR_CONNECT_FAIL": ErrorPage(
        503,
        "Service Unavailable",
        "Connection to the remote host failed.",
        "The system returned: (111) Connection refused. The remote host "
        "or network may be down; please try the request again later.",
        errno=111,
    ),
    "ERR_READ_TIMEOUT": ErrorPage(
        408,
        "Request Timeout",
        "Read Timeout",
        "The system returned: (110) Connection timed out. No answer came "
        "from the remote host in time; it or the network may be down.",
        errno=110,
    ),
}


@dataclass(frozen=True)
class Response:
    """A response the proxy makes: h11 takes its parts as they are."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Squid:
    """One proxy's visible identity: its name, port and Squid version."""

    hostname: str
    port: int
    version: str = DEFAULT_VERSION
    administrator: str = "webmaster"

    @property
    def server(self) -> str:
        return f"squid/{self.version}"

    def via(self) -> str:
        return f"1.1 {self.hostname} ({self.server})"

    def passed_on(
        self, origin: list[tuple[str, str]], now: float
    ) -> list[tuple[str, str]]:
        """An origin response's headers as this proxy sends them on.

        RFC 9110 section 6.6.1: a proxy that forwards a response without a
        Date adds one, with the time it received it.
        """
        headers = [item for item in origin if item[0].lower() != "connection"]
        if not any(name.lower() == "date" for name, _ in headers):
            headers.insert(0, ("Date", formatdate(now, usegmt=True)))
        earlier = [value for name, value in headers if name.lower() == "via"]
        headers = [item for item in headers if item[0].lower() != "via"]
        via = ", ".join([*earlier, self.via()])
        return [
            *headers,
            ("X-Cache", f"MISS from {self.hostname}"),
            ("X-Cache-Lookup", f"MISS from {self.hostname}:{self.port}"),
            ("Via", via),
            ("Connection", "keep-alive"),
        ]

    def error(self, name: str, url: str, now: float, detail: str = "") -> Response:
        """The response for the error page `name` about `url`."""
        page = ERRORS[name]
        date = formatdate(now, usegmt=True)
        body = self._page(name, page, url, date, detail).encode()
        headers = [
            ("Server", self.server),
            ("Mime-Version", "1.0"),
            ("Date", date),
            ("Content-Type", "text/html;charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Squid-Error", f"{name} {page.errno}"),
            ("Vary", "Accept-Language"),
            ("Content-Language", "en"),
            ("X-Cache", f"MISS from {self.hostname}"),
            ("X-Cache-Lookup", f"NONE from {self.hostname}:{self.port}"),
            ("Via", self.via()),
            ("Connection", "close"),
        ]
        return Response(page.status, page.reason, headers, body)

    def _page(
        self, name: str, page: ErrorPage, url: str, date: str, detail: str
    ) -> str:
        url = html.escape(url)
        extra = f"<p>{html.escape(detail)}</p>\n" if detail else ""
        mail = f"{self.administrator}?subject=CacheErrorInfo%20-%20{name}"
        return (
            '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" '
            '"http://www.w3.org/TR/html4/strict.dtd">\n'
            "<html><head>\n"
            '<meta http-equiv="Content-Type" content="text/html; '
            'charset=utf-8">\n'
            "<title>ERROR: The requested URL could not be retrieved</title>\n"
            '<style type="text/css">body { font-family: verdana, sans-serif; '
            "background: #fff; } #titles h1 { color: #000; } "
            "#footer { font-size: 9px; }</style>\n"
            f"</head><body id={name}>\n"
            '<div id="titles">\n<h1>ERROR</h1>\n'
            "<h2>The requested URL could not be retrieved</h2>\n</div>\n<hr>\n\n"
            '<div id="content">\n'
            "<p>While trying to retrieve the URL "
            f'<a href="{url}">{url}</a> this error occurred:</p>\n\n'
            f'<blockquote id="error">\n<p><b>{page.summary}</b></p>\n'
            "</blockquote>\n\n"
            f"<p>{page.explanation}</p>\n{extra}\n"
            "<p>Your cache administrator is "
            f'<a href="mailto:{mail}">{self.administrator}</a>.</p>\n'
            "<br>\n</div>\n\n<hr>\n"
            '<div id="footer">\n'
            f"<p>Generated {date} by {self.hostname} ({self.server})</p>\n"
            f"<!-- {name} -->\n</div>\n</body></html>\n"
        )
