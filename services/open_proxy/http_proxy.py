"""The HTTP side of the proxy: requests parsed by h11, answered as Squid.

RFC 9110 and 9112 apply; h11 does all the parsing and framing. What each
request gets:

- `GET` or `HEAD` with an absolute `http://` or `https://` URI (RFC 9112
  section 3.2.2): the page from the maze (or a generated one), with the
  origin's headers and Squid's `Via`, `X-Cache` and `X-Cache-Lookup`.
  Keep-alive and pipelining work as h11 provides them.
- `CONNECT host:port` (RFC 9110 section 9.3.6) to a relay port (25 and
  587 by default): the relay is opened, then `200 Connection established`,
  then the tunnel.
- `CONNECT` to any other port, by `connect_other`: `408` sends Squid's
  read-timeout page with status 408 (after `answer_delay`); `refuse` sends
  Squid's connect-failed page (503, errno 111); `timeout` says nothing and
  closes after `hold` seconds.
- a request with an origin-form target (`GET / HTTP/1.0`), as a client
  sends to a web server: 400 ERR_INVALID_URL, which is how Squid answers
  it and how nmap recognises Squid.
- other methods: POST, PUT, DELETE, OPTIONS, TRACE and PATCH get 403
  ERR_ACCESS_DENIED, as from a Squid whose rules allow only GET, HEAD and
  CONNECT; their bodies are read (up to `max_body`) and a sample recorded.
  Methods outside RFC 9110 get 501 ERR_UNSUP_REQ.
- a malformed request, or garbage: 400 ERR_INVALID_REQ; a request larger
  than `max_request`: 400 ERR_TOO_BIG. Then the connection closes.

Every parsed request is recorded as `proxy.request` (with the user and
password of a Basic `Proxy-Authorization`, if it has one), and one whose
headers show an earlier proxy also as `proxy.chain`.

Limitation: h11 refuses an HTTP/1.1 request without a Host header even
when its target is an absolute URI, which RFC 9112 section 3.2 also
requires but Squid lets pass; such a client gets 400 ERR_INVALID_REQ.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING, Any

import h11

from services.open_proxy.chain import read_chain
from services.open_proxy.errors import ProxyProtocolError
from services.open_proxy.maze import PageRequest, Visitor
from services.open_proxy.squid import CONNECT_ESTABLISHED, Response
from services.open_proxy.targets import (
    AbsoluteUrl,
    NextHop,
    parse_absolute_url,
    parse_authority,
)

if TYPE_CHECKING:
    from services.open_proxy.connection import ProxyProtocol

log = logging.getLogger(__name__)

SERVED_METHODS = ("GET", "HEAD")
DENIED_METHODS = ("POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")
SERVED_SCHEMES = ("http", "https")
BODY_SAMPLE = 2048


class HttpSession:
    """One HTTP client of the proxy, request after request."""

    protocol_name = "http"

    def __init__(self, owner: ProxyProtocol) -> None:
        self.owner = owner
        self.settings = owner.settings
        self.http = h11.Connection(
            h11.SERVER, max_incomplete_event_size=self.settings.max_request
        )
        self.request: h11.Request | None = None
        self.body_bytes = 0
        self.body_sample = bytearray()
        # True while an answer is on its way (a delay, the relay opening,
        # a silent hold): the next request waits in h11's buffer.
        self.busy = False

    # --- bytes in ----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.http.receive_data(data)
        if self.busy:
            # h11 buffers whatever comes while we owe an answer; past the
            # request limit, stop reading and let the peer's window close.
            self.owner.limit_reading(len(self.http.trailing_data[0]))
        self._serve()

    def eof_received(self) -> bool:
        self.http.receive_data(b"")
        self._serve()
        # Keep our side open while an answer is still to come.
        return True

    def connection_lost(self) -> None:
        pass

    def incomplete(self) -> bool:
        return self.http.their_state is not h11.IDLE or bool(self.http.trailing_data[0])

    def _serve(self) -> None:
        while not self.busy and not self.owner.closing:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as error:
                self._malformed(error)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.request = event
                self.body_bytes = 0
                self.body_sample.clear()
            elif isinstance(event, h11.Data):
                self._body(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._answer()
            elif isinstance(event, h11.ConnectionClosed):
                self.owner.close()
                return

    def _body(self, data: bytes) -> None:
        self.body_bytes += len(data)
        room = BODY_SAMPLE - len(self.body_sample)
        if room > 0:
            self.body_sample += data[:room]
        if self.body_bytes > self.settings.max_body:
            self.owner.fail("http", "oversized", f"body over {self.settings.max_body}")
            self._send_error("ERR_TOO_BIG", self._target())

    def _malformed(self, error: h11.RemoteProtocolError) -> None:
        if self.http.their_state is h11.ERROR and self._peer_closed():
            # The client hung up halfway: nobody is left to answer.
            self.owner.fail("http", "truncated", str(error))
            self.owner.close()
            return
        if error.error_status_hint == 431:
            self.owner.fail("http", "oversized", str(error))
            self._send_error("ERR_TOO_BIG", "")
            return
        first = self.owner.sample[:1]
        reason = "malformed-request" if first.isalpha() else "garbage"
        self.owner.fail("http", reason, str(error))
        self._send_error("ERR_INVALID_REQ", "")

    def _peer_closed(self) -> bool:
        return self.http.trailing_data[1]

    # --- deciding ------------------------------------------------------------

    def _answer(self) -> None:
        request = self.request
        assert request is not None
        self.owner.cancel_timer()
        method = request.method.decode("ascii", "replace")
        target = self._target()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw_items()
        ]
        chain = read_chain(headers)
        if chain:
            self.owner.record(
                "proxy.chain",
                protocol="http",
                hops=chain.hops,
                headers=chain.raw,
                seen_from=self.owner.peer,
            )
        if method == "CONNECT":
            self._connect(target, headers)
        else:
            self._fetch(method, target, headers)

    def _connect(self, target: str, headers: list[tuple[str, str]]) -> None:
        try:
            hop = parse_authority(target)
        except ProxyProtocolError as error:
            self._record("CONNECT", target, headers, None, False, "invalid")
            self.owner.fail("http", error.reason, error.detail)
            self._send_error("ERR_INVALID_URL", target)
            return
        relay = hop.port in self.settings.relay_ports
        outcome = "relay" if relay else self.settings.connect_other
        self._record("CONNECT", target, headers, hop, relay, outcome)
        self.busy = True
        if relay:
            self.owner.start_tunnel(hop, self._established, self._tunnel_failed)
        elif outcome == "timeout":
            self.owner.hold()
        else:
            self.owner.start_timer(self.settings.answer_delay, self._connect_failed)

    def _fetch(self, method: str, target: str, headers: list[tuple[str, str]]) -> None:
        if method not in SERVED_METHODS:
            known = method in DENIED_METHODS
            hop = _hop_of(target)
            self._record(method, target, headers, hop, False, "denied")
            self._send_error("ERR_ACCESS_DENIED" if known else "ERR_UNSUP_REQ", target)
            return
        try:
            url = parse_absolute_url(target)
        except ProxyProtocolError as error:
            self._record(method, target, headers, None, False, "invalid")
            self.owner.fail("http", error.reason, error.detail)
            self._send_error("ERR_INVALID_URL", target)
            return
        if url.scheme not in SERVED_SCHEMES:
            self._record(method, target, headers, url.hop, False, "unsupported")
            self._send_error("ERR_UNSUP_REQ", target)
            return
        self._record(method, target, headers, url.hop, False, "page", url=str(url))
        self._page(method, url, headers)

    # --- answering -----------------------------------------------------------

    def _page(self, method: str, url: AbsoluteUrl, headers: list[tuple[str, str]]):
        owner = self.owner
        agent = next((v for n, v in headers if n.lower() == "user-agent"), "")
        visitor = Visitor(
            owner.peer, owner.context.peer[1], agent, owner.context.connection_id
        )
        page = owner.proxy.pages.page(
            PageRequest(
                host=url.authority,
                url=str(url),
                path=url.path,
                visitor=visitor,
                now=owner.now(),
                events=owner.context.events,
            )
        )
        response = Response(
            page.status,
            page.reason,
            owner.squid.passed_on(page.headers, owner.now()),
            b"" if method == "HEAD" else page.body,
        )
        self._send(response)

    def _established(self) -> bytes:
        # Written here, not by h11: h11 would add `Connection: close` for an
        # HTTP/1.0 client, and Squid sends the bare status line. h11 is done
        # with this connection; what it buffered is the tunnel's.
        self.owner.write(CONNECT_ESTABLISHED)
        return self.http.trailing_data[0]

    def _tunnel_failed(self, error: OSError) -> None:
        self.busy = False
        self._send_error("ERR_CONNECT_FAIL", self._target())

    def _connect_failed(self) -> None:
        self.busy = False
        if self.settings.connect_other == "refuse":
            self._send_error("ERR_CONNECT_FAIL", self._target())
        else:
            self._send_error("ERR_READ_TIMEOUT", self._target())

    def _send_error(self, name: str, url: str) -> None:
        self._send(self.owner.squid.error(name, url, self.owner.now()))

    def _send(self, response: Response) -> None:
        http = self.http
        if http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self.owner.close()
            return
        head = h11.Response(
            status_code=response.status,
            reason=response.reason.encode("latin-1"),
            headers=response.headers,
        )
        data = http.send(head)
        if response.body:
            data += http.send(h11.Data(data=response.body))
        data += http.send(h11.EndOfMessage())
        self.owner.write(data)
        self._next_request()

    def _next_request(self) -> None:
        http = self.http
        if http.our_state is h11.MUST_CLOSE or http.their_state is h11.ERROR:
            self.owner.close()
        elif http.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            http.start_next_cycle()
            self.owner.start_timer(
                self.settings.request_timeout, self.owner.request_timeout
            )
            if not self.busy:
                self._serve()
        elif http.their_state is not h11.DONE:
            # We answered before the request was over (its body was too
            # big); h11 cannot read on, so the connection ends here.
            self.owner.close()

    # --- records -------------------------------------------------------------

    def _target(self) -> str:
        if self.request is None:
            return ""
        return self.request.target.decode("latin-1")

    def _record(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        hop: NextHop | None,
        relay: bool,
        outcome: str,
        **extra: Any,
    ) -> None:
        assert self.request is not None
        fields: dict[str, Any] = {
            "target": target,
            "http_version": self.request.http_version.decode("ascii"),
            "headers": [list(item) for item in headers],
        }
        credentials = proxy_credentials(headers)
        if credentials is not None:
            fields["user"], fields["password"] = credentials
        if self.body_bytes:
            fields["body_bytes"] = self.body_bytes
            fields["body_sample"] = bytes(self.body_sample).decode(
                "utf-8", "backslashreplace"
            )
        self.owner.record_request(
            "http", method, hop, relay, outcome, **fields, **extra
        )


def proxy_credentials(headers: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The user and password of a Basic Proxy-Authorization (RFC 7617).

    No proxy here asks for them, but tools that hold credentials send them
    anyway; they are the spammer's, and are recorded like SOCKS ones.
    """
    for name, value in headers:
        if name.lower() != "proxy-authorization":
            continue
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        user, _, password = decoded.decode("utf-8", "backslashreplace").partition(":")
        return user, password
    return None


def _hop_of(target: str) -> NextHop | None:
    """The next hop of an absolute URI, for the record; None if it has none."""
    try:
        return parse_absolute_url(target).hop
    except ProxyProtocolError:
        return None
