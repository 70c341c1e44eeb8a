"""One HTTP/1.1 connection to the maze, behaving like Apache's.

RFC 9112 message parsing is h11's: it turns bytes into Request, Data and
EndOfMessage events and keeps the connection's state. This module adds
what Apache does around it:

- the limits: a request line over 8190 bytes is 414, a header field over
  8190 bytes or more than 100 fields is 400, a body over `max_body` is
  413, a bad Host is 400, an unknown method 501; each is answered,
  recorded with what was wrong, and the connection closed. A method
  Apache knows but a static site does not serve (PUT, DELETE, TRACE...)
  is 405 on a connection that stays open;
- mod_reqtimeout: the head must arrive within 20 s, extended by a second
  per 500 bytes up to 40 s, and a body within 20 s; a slowloris client
  gets 408 and is closed. An idle connection is closed silently after 5 s
  between requests (KeepAliveTimeout), or 20 s before the first;
- keep-alive with `Keep-Alive: timeout=5, max=N`, HEAD, OPTIONS, and
  pipelined requests answered in order.

Limitation: HTTP/1.0 keep-alive is not offered (h11 closes every HTTP/1.0
connection after one answer), so such a client sees `Connection: close`
where Apache would keep the connection.

Time comes from the loop (`loop.time()` for timers, the environment's
clock for records), and every wait is a loop timer: a connection held in
a delay or drip is one timer and a few references.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import h11

from services.web_maze import apache
from services.web_maze.maze import Maze, Reply, Request, Visitor
from services.web_maze.options import Limits
from services.web_maze.tarpit import FULL_SPEED, Drip, Plan, Tarpit

log = logging.getLogger(__name__)

# h11 refuses a head larger than this before it is complete. Apache would
# take 100 fields of 8190 bytes; 64 KiB bounds what a connection can pin.
# Limitation: a head between 64 KiB and Apache's ~800 KiB gets 400 here.
MAX_HEAD = 65536

SERVED = frozenset((b"GET", b"HEAD", b"POST"))
# Statuses after which Apache does not trust the connection any more.
CLOSING = frozenset((400, 408, 413, 414, 501))
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?")
_SAMPLE = 120
LINGER = 2.0


class MazeConnection(asyncio.Protocol):
    """Serves one accepted connection; see the module docstring."""

    # Thousands may wait in the tarpit at once: no per-instance dict.
    __slots__ = (
        "maze", "tarpit", "limits", "context", "vhost", "loop", "transport",
        "http", "timer", "stage", "stage_started", "stage_bytes", "served",
        "request", "started", "body_bytes", "plan", "drip", "reply", "sent",
        "write_paused", "waiting_to_resume", "advancing",
    )  # fmt: skip

    def __init__(self, maze: Maze, tarpit: Tarpit, limits: Limits, context: Any):
        self.maze = maze
        self.tarpit = tarpit
        self.limits = limits
        self.context = context
        self.vhost = context.host.name or context.host.address
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.timer: asyncio.TimerHandle | None = None
        # idle -> head -> body -> busy (answering) -> idle ...; or closing.
        self.stage = "idle"
        self.stage_started = self.loop.time()
        self.stage_bytes = 0
        self.served = 0
        self.request: h11.Request | None = None
        self.started = 0.0
        self.body_bytes = 0
        self.plan: Plan = FULL_SPEED
        self.drip: Drip | None = None
        self.reply: Reply | None = None
        self.sent = 0
        self.write_paused = False
        self.waiting_to_resume = False
        self.advancing = False

    # asyncio callbacks --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._arm(self.stage_started + self.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.stage == "closing":
            return
        if self.stage == "idle":
            self._enter("head")
        self.stage_bytes += len(data)
        self.http.receive_data(data)
        self._advance()

    def eof_received(self) -> bool:
        if self.stage == "closing":
            assert self.transport is not None
            self.transport.close()
            return True
        if self.http.their_state is not h11.CLOSED:
            self.http.receive_data(b"")
            self._advance()
        # Keep our half open: a request that came before the EOF is still
        # answered, and the connection is closed after that.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self.reply is not None:
            self._record(self.reply.status, aborted=True)
        elif self.stage == "busy" and self.request is not None:
            # The peer left while its answer was still being delayed.
            self._record(0, aborted=True)
        self._release()
        self.stage = "closing"

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.waiting_to_resume:
            self.waiting_to_resume = False
            self._next_cycle()

    # Reading requests -----------------------------------------------------

    def _advance(self) -> None:
        # An answer given at once starts the next cycle from inside this
        # loop; the loop then reads the next pipelined request, instead of
        # a recursion as deep as the pipeline.
        if self.advancing:
            return
        self.advancing = True
        try:
            self._read_events()
        finally:
            self.advancing = False

    def _read_events(self) -> None:
        while self.stage in ("idle", "head", "body"):
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as error:
                self._malformed(error)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._on_request(event)
            elif isinstance(event, h11.Data):
                self._on_body(event)
            elif isinstance(event, h11.EndOfMessage):
                self._on_complete()
            elif isinstance(event, h11.ConnectionClosed):
                self._close()

    def _on_request(self, request: h11.Request) -> None:
        self.request = request
        self.started = self.loop.time()
        self.body_bytes = 0
        self._enter("body")
        problem = self._refusal(request)
        if problem is not None:
            status, reason = problem
            self._refuse(status, reason)
            return
        if self.http.they_are_waiting_for_100_continue:
            self.http.send(h11.InformationalResponse(status_code=100, headers=[]))
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _refusal(self, request: h11.Request) -> tuple[int, str] | None:
        """Apache's checks of a parsed head, in its order: (status, why)."""
        if request.http_version not in (b"1.0", b"1.1"):
            return 400, ""
        if len(request.target) > apache.LIMIT_REQUEST_LINE:
            return 414, ""
        raw = request.headers.raw_items()
        if len(raw) > apache.LIMIT_FIELDS:
            return (
                400,
                "The number of request header fields exceeds this server's limit.",
            )
        if any(
            len(name) + len(value) + 2 > apache.LIMIT_FIELD_SIZE for name, value in raw
        ):
            return 400, "Size of a request header field exceeds server limit."
        host = _header(request, b"host")
        if not _HOST.fullmatch(host):
            return 400, ""
        if request.method not in apache.KNOWN_METHODS:
            return 501, ""
        length = _header(request, b"content-length")
        if length.isdigit() and int(length) > self.limits.max_body:
            return 413, ""
        return None

    def _on_body(self, data: h11.Data) -> None:
        # Bodies are counted and dropped: the maze serves static pages.
        self.body_bytes += len(data.data)
        if self.body_bytes > self.limits.max_body:
            self._refuse(413, "")

    def _on_complete(self) -> None:
        self._enter("busy")
        self._cancel_timer()
        assert self.transport is not None and self.request is not None
        self.transport.pause_reading()
        state = self.maze.visitor(self.context.peer[0])
        if self.request.method in SERVED:
            self.plan = self.tarpit.plan(
                self.context.peer[0], state.ignored, state.pages
            )
        if self.plan.delay > 0:
            self.timer = self.loop.call_later(self.plan.delay, self._answer)
        else:
            self._answer()

    # Answering ------------------------------------------------------------

    def _answer(self) -> None:
        self.timer = None
        assert self.request is not None
        method = self.request.method
        if method in SERVED:
            reply = self.maze.respond(
                self._maze_request(self.request),
                self._visitor(),
                self.context.events,
                now=self.context.environment.clock(),
            )
        elif method == b"OPTIONS":
            reply = Reply(200, "OK", [("Allow", apache.ALLOW), ("Content-Length", "0")],
                          "text/html", [])  # fmt: skip
        else:
            reply = self._error(405)
            reply.headers.insert(0, ("Allow", apache.ALLOW))
        self._send(reply)

    def _maze_request(self, request: h11.Request) -> Request:
        target = request.target.decode("latin-1")
        authority = _header(request, b"host")
        if "://" in target:
            # An absolute URI names the host itself (RFC 9112 section 3.2.2).
            _scheme, _, rest = target.partition("://")
            authority, slash, path = rest.partition("/")
            target = slash + path or "/"
        return Request(
            method=request.method.decode("ascii"),
            target=target,
            authority=authority,
            vhost=self.vhost,
            port=self.context.local[1],
            headers={
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in request.headers
                if name in (b"if-none-match", b"if-modified-since")
            },
            personality=self.context.host.personality,
            address=self.context.host.address,
        )

    def _visitor(self) -> Visitor:
        agent = _header(self.request, b"user-agent") if self.request else ""
        return Visitor(self.context.peer[0], agent)

    def _error(self, status: int, reason: str = "") -> Reply:
        request = self.request
        maze_request = (
            self._maze_request(request)
            if request is not None
            else Request("GET", "/", "", self.vhost, self.context.local[1])
        )
        server = self._server()
        detail = {"reason": reason} if reason else {}
        return self.maze.error(server, maze_request, status, **detail)

    def _server(self) -> apache.Apache:
        override = self.maze.settings.server
        return apache.server_for(self.context.host.personality, override)

    def _send(self, reply: Reply, close: bool = False) -> None:
        """Writes `reply`, after telling h11, so its state stays true."""
        assert self.request is not None
        close = close or reply.status in CLOSING or self._must_close()
        headers = self._headers(reply, close)
        self.http.send(h11.Response(status_code=reply.status, headers=headers,
                                    reason=reply.reason))  # fmt: skip
        with_body = self.request.method != b"HEAD" and reply.status != 304
        body = reply.body if with_body else b""
        if body:
            self.http.send(h11.Data(data=body))
        self.http.send(h11.EndOfMessage())
        wire = [apache.head(reply.status, reply.reason, headers)]
        wire += reply.segments if with_body else []
        self.reply = reply
        self.sent = 0
        if self.plan.rate > 0:
            self.drip = Drip(wire)
            self._drip()
        else:
            self._write(b"".join(wire))
            self._finished()

    def _must_close(self) -> bool:
        request = self.request
        assert request is not None
        asked = "close" in _header(request, b"connection").lower()
        # Apache counts keep-alives: 100 answers keep the connection, the
        # 101st closes it.
        last = self.served >= self.limits.max_requests
        return asked or last or request.http_version == b"1.0"

    def _headers(self, reply: Reply, close: bool) -> list[tuple[str, str]]:
        now = self.context.environment.clock()
        top = [("Date", apache.http_date(now)), ("Server", self._server().banner)]
        if close:
            connection = [("Connection", "close")]
        else:
            remaining = self.limits.max_requests - self.served
            timeout = int(self.limits.keepalive_timeout)
            connection = [("Keep-Alive", f"timeout={timeout}, max={remaining}"),
                          ("Connection", "Keep-Alive")]  # fmt: skip
        if reply.status == 304:
            # Apache's 304 path writes Connection first, then the validators.
            return top + connection[::-1] + reply.headers
        content = [("Content-Type", reply.content_type)] if reply.content_type else []
        return top + reply.headers + connection + content

    def _drip(self) -> None:
        self.timer = None
        drip = self.drip
        assert drip is not None
        if not self.write_paused:
            self._write(drip.take(self.tarpit.slow.chunk_bytes))
        if drip.remaining:
            wait = self.tarpit.interval(self.plan.rate, drip.remaining)
            self.timer = self.loop.call_later(wait, self._drip)
            return
        self.drip = None
        self._finished()

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        if data and not self.transport.is_closing():
            self.transport.write(data)
            self.sent += len(data)

    def _finished(self) -> None:
        assert self.reply is not None
        self._record(self.reply.status)
        self.reply = None
        self.served += 1
        self._release()
        if self.http.our_state is h11.MUST_CLOSE or self.stage == "closing":
            self._close()
        elif self.write_paused:
            self.waiting_to_resume = True
        else:
            self._next_cycle()

    def _next_cycle(self) -> None:
        if self.stage == "closing":
            return
        self.http.start_next_cycle()
        self.request = None
        self.started = 0.0
        pending = len(self.http.trailing_data[0])
        self._enter("head" if pending else "idle")
        self.stage_bytes = pending
        assert self.transport is not None
        self.transport.resume_reading()
        self._advance()

    # Refusals and timeouts ------------------------------------------------

    def _malformed(self, error: h11.RemoteProtocolError) -> None:
        data = self.http.trailing_data[0]
        status = error.error_status_hint
        reason = ""
        if status == 431:
            # The head overflowed h11's buffer: a line that never ended is
            # Apache's 414; else some header field was too long.
            first_line_ends = b"\n" in data[: apache.LIMIT_REQUEST_LINE + 2]
            status = 400 if first_line_ends else 414
            if status == 400:
                reason = "Size of a request header field exceeds server limit."
        elif status not in (400, 501):
            status = 400
        log.warning("%s:%d malformed request: %s", *self.context.peer, error)
        self._refuse(status, reason, error=str(error), sample=data[:_SAMPLE])

    def _refuse(
        self, status: int, reason: str, error: str = "", sample: bytes = b""
    ) -> None:
        """Answers a request Apache would not serve, then closes."""
        self._cancel_timer()
        reply = self._error(status, reason)
        now = self.context.environment.clock()
        headers = [("Date", apache.http_date(now)), ("Server", self._server().banner),
                   *reply.headers, ("Connection", "close"),
                   ("Content-Type", apache.ERROR_TYPE)]  # fmt: skip
        self.reply = reply
        self.sent = 0
        if not self.started:
            self.started = self.stage_started
        with_body = self.request is None or self.request.method != b"HEAD"
        self._write(
            apache.head(status, reply.reason, headers)
            + (reply.body if with_body else b"")
        )
        self._record(status, error=error or reason or reply.reason, sample=sample)
        self.reply = None
        self._close()

    def _enter(self, stage: str) -> None:
        self.stage = stage
        self.stage_started = self.loop.time()
        self.stage_bytes = 0
        if stage != "busy" and self.timer is None:
            self._arm(self.stage_started + self._budget())

    def _budget(self) -> float:
        limits = self.limits
        if self.stage == "idle":
            return limits.keepalive_timeout if self.served else limits.header_timeout
        if self.stage == "head":
            extra = self.stage_bytes / limits.min_rate
            return min(limits.header_timeout + extra, limits.header_timeout_max)
        return limits.body_timeout + self.stage_bytes / limits.min_rate

    def _arm(self, deadline: float) -> None:
        self._cancel_timer()
        self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        # One timer per connection, moved lazily: when it fires early
        # (more bytes came, or the stage changed), it is set again.
        self.timer = None
        if self.stage not in ("idle", "head", "body"):
            return
        deadline = self.stage_started + self._budget()
        if self.loop.time() < deadline:
            self._arm(deadline)
            return
        if self.stage == "idle":
            log.debug("%s:%d idle, closed", *self.context.peer)
            self._close()
            return
        log.warning("%s:%d too slow in %s, cut off", *self.context.peer, self.stage)
        sample = self.http.trailing_data[0][:_SAMPLE]
        self._refuse(408, "", error=f"{self.stage} timeout", sample=sample)

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _release(self) -> None:
        if self.plan.slowed:
            self.tarpit.release(self.context.peer[0])
            self.plan = FULL_SPEED

    def _close(self) -> None:
        """Closes the way Apache's lingering close does.

        Closing a socket with unread bytes makes the kernel send RST, and
        an RST can destroy the answer before the peer reads it. So the
        sending half is shut first, and whatever still comes is read and
        dropped until the peer closes, or for LINGER seconds at most.
        """
        self._cancel_timer()
        self.stage = "closing"
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        self.timer = self.loop.call_later(LINGER, transport.close)

    # Records ----------------------------------------------------------------

    def _record(self, status: int, aborted: bool = False, **extra: Any) -> None:
        request = self.request
        fields: dict[str, Any] = {
            "vhost": self.vhost,
            "status": status,
            "bytes": self.sent,
            "duration": round(self.loop.time() - self.started, 6)
            if self.started
            else 0.0,
            "slowed": self.plan.slowed,
        }
        if request is not None:
            fields.update(
                method=request.method.decode("latin-1"),
                path=request.target.decode("latin-1")[:2048],
                version=request.http_version.decode("ascii"),
                user_agent=_header(request, b"user-agent"),
                headers=[
                    [name.decode("latin-1"), value.decode("latin-1")[:1024]]
                    for name, value in request.headers.raw_items()[
                        : apache.LIMIT_FIELDS
                    ]
                ],
            )
        if aborted:
            fields["aborted"] = True
        if extra.get("sample"):
            extra["sample"] = extra["sample"].decode("latin-1")
        fields.update({key: value for key, value in extra.items() if value})
        self.context.events.emit("web.request", **fields)


def _header(request: h11.Request | None, name: bytes) -> str:
    if request is None:
        return ""
    for found, value in request.headers:
        if found == name:
            return value.decode("latin-1")
    return ""
