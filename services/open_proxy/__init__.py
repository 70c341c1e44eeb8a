"""`open-proxy`: a fake open HTTP and SOCKS proxy for HoneySpam.

Spammers hide behind open proxies: they send their mail through a CONNECT
to port 25 of some mail server, and harvest addresses through proxied
GETs. This service looks like a forgotten Squid to them, records who uses
it for what, and sends nothing anywhere:

- a GET with an absolute URI gets a page with trap addresses, from the web
  maze when the topology has one (`maze.py`);
- a CONNECT, or a SOCKS 4, 4a or 5 request, to port 25 or 587 is joined in
  memory to the topology's emulated open relay, which greets as the host
  that was asked for and records its session under this connection's id
  (`relay.py`, `tunnel.py`); other ports answer 408, are refused, or time
  out silently (`connect_other`);
- every request is a `proxy.request` record, a request that shows an
  earlier proxy also a `proxy.chain` record (`chain.py`), and a peer's
  mistake a `proxy.error` record;
- sources can be put on a blacklist with an expiry, then refused or
  tarpitted (`blacklist.py`, which documents the file's format).

How it looks is in `squid.py`; the HTTP side is `http_proxy.py`, the SOCKS
side `socks.py` (sans-IO) and `socks_session.py`; `connection.py` decides
which one a connection speaks.

Records, beyond the peer, connection and host fields every event carries:

- `proxy.request`: protocol (http, socks4, socks4a, socks5), method,
  next_hop (host:port), relay (whether it went to the relay), outcome
  (page, relay, 408, refuse, timeout, denied, invalid, unsupported); for
  HTTP the target, http_version, headers (in order, as sent) and the
  body's size and a sample; for SOCKS auth, user and password;
- `proxy.chain`: hops (earlier proxies and clients named by Via,
  X-Forwarded-For and Forwarded, in order), headers (those three, raw),
  seen_from (the address that connected to us);
- `proxy.error`: protocol, reason (garbage, malformed-request, oversized,
  truncated, idle, bad-host, bad-port, socks-version, ...), detail,
  bytes_received and a sample of the first bytes;
- `proxy.tunnel.closed`: next_hop, bytes_up, bytes_down, duration;
- `proxy.relay.failed`: next_hop and error, when no relay could be reached;
- `proxy.blacklist.added` (with expires) and `proxy.blacklist.hit` (with
  the action taken);
- `web.address.issued`, for each trap address on a generated page.
"""

from services.open_proxy.service import OpenProxy

SERVICE = OpenProxy

__all__ = ["SERVICE", "OpenProxy"]
