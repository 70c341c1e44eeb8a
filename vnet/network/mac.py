"""MAC addresses for virtual hosts, from the vendor prefixes nmap ships.

nmap names a host's NIC vendor from the first three bytes of its MAC address
(the IEEE OUI), looked up in `nmap-mac-prefixes`. A virtual host that claims to
be a Dell workstation therefore gets a Dell OUI from that same file, and the
last three bytes come from a hash of its address, so the MAC is stable across
runs. Without a vendor, the host gets a locally administered address
(02:xx:...), which no real vendor owns.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections import defaultdict

DEFAULT_PREFIXES = "/usr/share/nmap/nmap-mac-prefixes"
LOCAL_PREFIX = b"\x02\x00\x5e"


class UnknownVendor(LookupError):
    """A vendor name that nmap's prefix file does not list."""

    def __init__(self, vendor: str, suggestions: list[str]) -> None:
        super().__init__(vendor)
        self.vendor = vendor
        self.suggestions = suggestions


@functools.lru_cache(maxsize=4)
def load_prefixes(path: str = DEFAULT_PREFIXES) -> dict[str, tuple[bytes, ...]]:
    """Map each vendor name, lower-cased, to its OUIs in file order."""
    vendors: dict[str, list[bytes]] = defaultdict(list)
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            prefix, _, vendor = line.rstrip("\n").partition(" ")
            if len(prefix) == 6:
                vendors[vendor.strip().lower()].append(bytes.fromhex(prefix))
    return {vendor: tuple(ouis) for vendor, ouis in vendors.items()}


def vendor_ouis(vendor: str, path: str = DEFAULT_PREFIXES) -> tuple[bytes, ...]:
    """The OUIs of `vendor` (case-insensitive exact name), or UnknownVendor."""
    prefixes = load_prefixes(path)
    ouis = prefixes.get(vendor.lower())
    if ouis is None:
        close = difflib.get_close_matches(vendor.lower(), prefixes, n=3)
        raise UnknownVendor(vendor, close)
    return ouis


def host_mac(address: int, vendor: str | None, seed: int = 0) -> bytes:
    """A stable MAC for the host at `address`: vendor OUI plus a hashed tail."""
    digest = hashlib.blake2b(
        address.to_bytes(4, "big") + seed.to_bytes(8, "big"), digest_size=8
    ).digest()
    if vendor is None:
        return LOCAL_PREFIX + digest[:3]
    ouis = vendor_ouis(vendor)
    oui = ouis[digest[3] % len(ouis)]
    return oui + digest[:3]
