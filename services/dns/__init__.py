"""`dns`: the authoritative name server of the topology's zones (issue 9).

A spammer who harvested someone@example.test asks for the MX of
example.test; a crawler follows links by host name; a scanner turns the
addresses it finds back into names. This service answers all three from
the same topology, so they agree: A and PTR for every host, MX for the
trap domains naming their smtp-sink servers, SOA and NS, names that answer
random addresses of a range, and records added in the options. It answers
over UDP and TCP, and to scanners it is BIND: `version.bind` says so, and
its rcodes and sections are BIND's.

Bind it on both transports:

    udp/53: {service: dns}
    tcp/53: {service: dns}

Modules, in the order a query meets them:

- `service`: the Service, its UDP handler and its TCP stream;
- `responder`: sans-IO, from a message's bytes to the reply and record;
- `message`: the strict query reader and reply packing (dnslib);
- `zone`: zones, layers of records, the lookup algorithm;
- `generate`: the zones a topology implies; `chaos`: version.bind;
- `names`, `options`; `resolver`: the resolv.conf for `vnet run --resolver`.
"""

from services.dns.resolver import nameserver_addresses, resolv_conf
from services.dns.service import Dns

SERVICE = Dns

__all__ = ["SERVICE", "Dns", "nameserver_addresses", "resolv_conf"]
