"""A sans-IO TCP for the server side of virtual hosts (RFC 9293).

Segments (`vnet.wire.tcp.TcpSegment`) and the current time go in; segments
to send, delivered bytes and each connection's next deadline come out. No
module here reads a clock, opens a socket or packs a header; the IP layer
(TTL, DF, IP ID) is the host's.

- `TcpHost` (listener.py): one host's listening ports, its connection table
  and its bounded SYN backlog. The engine talks to it.
- `Connection` (connection.py): one connection's state machine. A service's
  transport talks to it.
- `TcpPersonality`, `PlainPersonality` (stamp.py): where a personality
  stamps the ISN, the SYN-ACK's window and options, the timestamp clock and
  the receive buffer.
- `TcpConfig` (config.py): timers and limits, shared.
- Private helpers: reassembly.py (out-of-order data), scoreboard.py (what
  the peer SACKed), cookies.py (SYN cookies once the backlog is full).

For the engine, per virtual host::

    tcp = TcpHost(address, personality, budget=shared_budget)
    connection = tcp.receive(packet.src, segment, now)
    for new in tcp.accept():           # handshakes completed: start services
        ...
    segments, changed = tcp.flush()    # [(dst_ip, segment)], [Connection]
    for dst, segment in segments: host.send_segment(dst, segment, now)
    for connection in changed: timers.watch(connection)

A `Connection` is a timer-queue sleeper: `deadline` (float or None) and
`on_deadline(now)`, which is harmless when called early. After it, flush the
host again. An idle connection has one deadline (its idle timeout) and costs
nothing until then. `Connection.scheduled` is a free slot for the queue to
remember the time it has an entry for, so it can skip pushing a later one.
Every call on a connection (from the engine or a service) tells its host,
so one `flush` after any batch of work collects everything.

For a transport (asyncio.Transport over a Connection):

- write: `send(data, now) -> int` takes what fits in the send buffer;
  `send_space` and `send_buffered` drive pause_writing/resume_writing.
  `send` transmits at once (no Nagle), unless `more=True` says that more
  follows (MSG_MORE): the bytes then wait for the next `send`, `shutdown`
  or `push(now)`, so that a reply and its FIN share a segment. It raises
  `TcpStateError` after our own `shutdown` or `abort`, and returns 0 once
  the peer has reset.
- read: `read(now) -> bytes` drains what arrived in order; not reading is
  flow control, since the window closes as the buffer fills.
  `eof_received` turns true after the peer's FIN, behind all its data.
- close: `shutdown(now)` (FIN after queued data; write_eof and close),
  `abort(now)` (RST).
- end: `closed` (TIME-WAIT or CLOSED) with `close_reason`, one of "fin",
  "reset", "aborted", "timeout", "retries", "evicted".
- identity: `remote_ip`, `remote_port`, `local_ip`, `local_port`.

A transport learns that its connection changed from the engine, which sees
it in `flush`'s second list.
"""

from vnet.tcp.config import DEFAULT_CONFIG, TcpConfig
from vnet.tcp.connection import (
    CLOSE_REASONS,
    STATES,
    TRANSITIONS,
    Connection,
    TcpStateError,
)
from vnet.tcp.listener import SynBudget, TcpHost, reset_for
from vnet.tcp.stamp import PlainPersonality, TcpPersonality

__all__ = [
    "CLOSE_REASONS",
    "DEFAULT_CONFIG",
    "STATES",
    "TRANSITIONS",
    "Connection",
    "PlainPersonality",
    "SynBudget",
    "TcpConfig",
    "TcpHost",
    "TcpPersonality",
    "TcpStateError",
    "reset_for",
]
