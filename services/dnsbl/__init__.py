"""`dnsbl`: the honeynet's blocklist, served over DNS (RFC 5782).

- `answer`: sans-IO, from a query's bytes to the reply's (dnslib);
- `sources`: the live listing, from the event store and from the open
  proxy's blacklist file;
- `service`: the Service that binds them to udp/53 of a virtual host.

Each role of vnet.report.roles answers its own code: 127.0.0.2 harvester,
127.0.0.3 proxy-user, 127.0.0.4 relay-user, 127.0.0.5 sink-sender.
"""

from services.dnsbl.service import Dnsbl

SERVICE = Dnsbl

__all__ = ["SERVICE", "Dnsbl"]
