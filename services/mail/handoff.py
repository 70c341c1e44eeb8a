"""How the open proxy tells the relay who is really on the line.

When a spammer asks an emulated open proxy for `CONNECT mx.example.test:25`
(or the SOCKS equivalent), the proxy connects to the topology's relay with
`context.open_connection`, which joins the two services in memory. The
relay then sees a connection from nowhere in particular. The proxy hands
over, for that one connection:

- the name the client asked for, so that the greeting and the EHLO reply
  name `mx.example.test`, as proxy checkers expect;
- its own connection id, so that the relay records the session under the
  same id and the report can follow the spam from proxy to relay;
- the client's address (the real source, for the records and the probe
  rule), and the proxy's own address (what a relay behind a real proxy
  would show in `Hello [ip]` and in its Received line).

The proxy wraps its `open_connection` call in `handing_off(...)`:

    from services.mail.handoff import Handoff, handing_off

    with handing_off(Handoff(
        greeting_name="mx.example.test",
        proxy_connection=context.connection_id,
        client=context.peer,
        via=context.local,
    )):
        reader, writer = await context.open_connection(relay_host, 25)

The relay's `protocol(context)` claims the hand-off. That works because the
engine makes the relay's Protocol while `open_connection` runs, inside the
proxy's task; a context variable carries the hand-off there and nowhere
else, so concurrent proxy connections cannot mix theirs up. A relay reached
some other way finds nothing to claim and behaves as usual. A proxy that
holds the relay's Service object may instead call
`relay.protocol_for(context, handoff)` itself.

Limitation: in socket mode `open_connection` is a real TCP connection to
another process, which no context variable reaches; there the relay greets
with its own name.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Handoff:
    """What the proxy knows about the connection it hands to the relay."""

    greeting_name: str
    proxy_connection: str
    client: tuple[str, int]
    via: tuple[str, int]


_pending: contextvars.ContextVar[Handoff | None] = contextvars.ContextVar(
    "vnet_smtp_handoff", default=None
)


@contextlib.contextmanager
def handing_off(handoff: Handoff) -> Iterator[None]:
    """Offer `handoff` to the relay connection opened inside this block."""
    token = _pending.set(handoff)
    try:
        yield
    finally:
        _pending.reset(token)


def claim() -> Handoff | None:
    """The hand-off offered to the connection being made, taken once."""
    handoff = _pending.get()
    if handoff is not None:
        _pending.set(None)
    return handoff
