"""A sans-IO TCP for the server side of virtual hosts (RFC 9293).

Segments (`vnet.wire.tcp.TcpSegment`) and the current time go in; segments
to send, delivered bytes and each connection's next deadline come out. No
module here reads a clock, opens a socket or packs a header.

- `TcpHost` (listener.py): one host's listening ports, connection table and
  bounded SYN backlog; what the engine talks to.
- `Connection` (connection.py): one connection's state machine, and what a
  service's transport talks to.
- `TcpPersonality` and `PlainPersonality` (stamp.py): where a personality
  stamps ISN, SYN-ACK window and options, timestamps and buffer size.
- `TcpConfig` (config.py): timers and limits.
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
