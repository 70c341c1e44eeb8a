"""Blocklists of offending sources: a plain list, an rbldnsd zone, nftables.

All three take the offenders of vnet.report.roles (already limited by role
and time) and differ only in format:

- `plain`: one address per line, IPv4 first, in numeric order; nothing
  else, so `ipset restore`, `xargs` or a firewall GUI can take it;
- `rbldnsd`: one `combined` dataset (rbldnsd(8)) with an `ip4set` per role,
  each both in its own subzone (`proxy-user.ZONE`) and in the base zone,
  answering the role's 127.0.0.x code, as the DNSBL service does. Serve it
  with `rbldnsd ... ZONE:combined:FILE`;
- `nftables`: an `inet` table with one set per address family, written as
  `add` and `flush` commands so that loading it again with `nft -f`
  replaces the previous contents instead of failing or merging.

Limitation: the rbldnsd zone carries IPv4 sources only (ip6 datasets would
need rbldnsd's ip6trie, and vnet's virtual network is IPv4).
"""

from __future__ import annotations

import ipaddress
import re

from vnet.events.times import micros_to_iso
from vnet.report.roles import CODES, DESCRIPTIONS, Offender

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


def plain(offenders: list[Offender]) -> str:
    return "".join(f"{offender.address}\n" for offender in offenders)


def rbldnsd(
    offenders: list[Offender],
    roles: tuple[str, ...],
    zone: str = "bl.example.test",
    ttl: int = 300,
    generated: int | None = None,
) -> str:
    """A combined dataset for rbldnsd, one ip4set per role in `roles`."""
    zone = zone.rstrip(".")
    # A name server outside the zone needs no glue record inside it.
    parent = zone.partition(".")[2] or zone
    nameserver = f"ns.{parent}"
    lines = [f"# vnet blocklist for {zone}, one dataset per role"]
    if generated is not None:
        lines.append(f"# generated {micros_to_iso(generated)}")
    # Serial 0: rbldnsd substitutes the data file's modification time.
    lines += [
        f"$SOA {ttl} {nameserver} hostmaster.{parent} 0 600 300 86400 {ttl}",
        f"$NS {ttl} {nameserver}",
        f"$TTL {ttl}",
    ]
    for role in roles:
        lines += ["", f"$DATASET ip4set:{role} {role} @"]
        lines.append(f":{CODES[role]}:vnet {role}: $ {DESCRIPTIONS[role]}")
        for offender in offenders:
            if role in offender.roles and _version(offender.address) == 4:
                lines.append(offender.address)
    return "\n".join(lines) + "\n"


def nftables(
    offenders: list[Offender],
    table: str = "vnet",
    name: str = "offenders",
    generated: int | None = None,
) -> str:
    """`nft -f` input: sets NAME_v4 and NAME_v6 in table inet TABLE."""
    for label, value in (("table", table), ("set", name)):
        if not NAME.fullmatch(value):
            raise ValueError(f"nftables {label} name {value!r}: letters, digits, _")
    lines = ["#!/usr/sbin/nft -f", "# vnet: offending sources"]
    if generated is not None:
        lines.append(f"# generated {micros_to_iso(generated)}")
    lines += [
        f"# use: ip saddr @{name}_v4 drop; ip6 saddr @{name}_v6 drop",
        f"add table inet {table}",
    ]
    for version, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        set_name = f"{name}_v{version}"
        lines += [
            f"add set inet {table} {set_name} {{ type {kind}; }}",
            f"flush set inet {table} {set_name}",
        ]
        elements = [
            f'\t{offender.address} comment "{",".join(offender.roles)}"'
            for offender in offenders
            if _version(offender.address) == version
        ]
        if elements:
            lines.append(f"add element inet {table} {set_name} {{")
            lines.append(",\n".join(elements))
            lines.append("}")
    return "\n".join(lines) + "\n"


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version
