"""The CHAOS-class names BIND answers about itself: version.bind, hostname.bind.

`dig version.bind CH TXT` is how people and scanners ask a name server
what it is; nmap's service probe for DNS sends exactly that query and reads
the product and version from the TXT string. BIND serves each of these
names as a zone of its own in class CH: the TXT answer has TTL 0, and the
authority section names the zone itself as its name server.

Left out: authors.bind and id.server, which BIND also knows, are refused
like any other CHAOS name; they are rarely asked, and a real server often
has them switched off.
"""

from __future__ import annotations

from dnslib import CLASS, NS, QTYPE, TXT, DNSLabel

from services.dns import names
from services.dns.zone import Catalog, RRset, StaticLayer, Zone, soa_rrset

# BIND's built-in CHAOS zones carry an SOA with these timers.
_SOA_TIMES = (28800, 7200, 604800, 86400)
_SOA_TTL = 86400


def chaos_catalog(version: str, hostname: str) -> Catalog:
    """version.bind and hostname.bind, answering `version` and `hostname`."""
    return Catalog(
        [_text_zone("version.bind", version), _text_zone("hostname.bind", hostname)],
        rclass=CLASS.CH,
    )


def _text_zone(origin_text: str, value: str) -> Zone:
    origin = names.name(origin_text)
    soa = soa_rrset(origin, (b"hostmaster", *origin), 0, _SOA_TIMES, _SOA_TTL)
    ns = RRset(QTYPE.NS, 0, (NS(DNSLabel(origin)),))
    text = StaticLayer(origin)
    text.add(origin, RRset(QTYPE.TXT, 0, (TXT([value.encode()[:255]]),)))
    return Zone(origin, soa, ns, rclass=CLASS.CH, layers=[text])
