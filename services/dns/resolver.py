"""The resolv.conf that makes a namespace's tools use the virtual DNS.

`vnet run --resolver` writes `resolv_conf(topology)` to
/etc/netns/<namespace>/resolv.conf; `ip netns exec` then mounts it over
/etc/resolv.conf for every program started in that namespace afterwards,
so dig, host, wget, swaks and nmap resolve the topology's names through
the virtual name servers.

The name servers are the hosts that bind the dns service on udp/53, in
the order the topology lists them (a range counts by its first address),
at most three as glibc reads no more (MAXNS). The search list is the
forward zones, so `www` alone finds www.example.test. A short timeout and
few attempts keep a tool from hanging for long if vnet is not serving.

`install_resolv_conf` and `remove_resolv_conf` put the file in place and
take it away. vnet drops root after starting, so the file's directory is
handed to the unprivileged user; that user can then remove the file, though
not the directory in root's /etc/netns, which stays behind, empty and
harmless. A resolv.conf that is already there belongs to someone else: it
is neither overwritten nor removed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from services.dns import names
from services.dns.generate import dns_hosts, forward_zones
from services.dns.options import Settings
from vnet.service.options import plain

NETNS_ETC = Path("/etc/netns")
RESOLVER_PORT = ("udp", 53)
MAX_NAMESERVERS = 3
MAX_SEARCH = 6


class NoNameServer(LookupError):
    """The topology has no host that serves dns on udp/53."""


def nameserver_addresses(topology: Any) -> list[str]:
    """The addresses a resolver should ask, best first; may be empty."""
    return [names.format_address(host.first) for host in _udp_servers(topology)]


def resolv_conf(topology: Any) -> str:
    """The text of resolv.conf for a namespace served by `topology`.

    NoNameServer if no host binds the dns service on udp/53.
    """
    servers = _udp_servers(topology)
    if not servers:
        raise NoNameServer("no host serves dns on udp/53")
    options = plain(servers[0].template.ports[RESOLVER_PORT].options)
    zones = forward_zones(topology, Settings.from_options(options))
    lines = [
        "# Written by vnet run --resolver; removed when it stops.",
        "# Names resolve through the topology's virtual name servers.",
    ]
    if zones:
        search = " ".join(names.text(zone).rstrip(".") for zone in zones[:MAX_SEARCH])
        lines.append(f"search {search}")
    for host in servers[:MAX_NAMESERVERS]:
        lines.append(f"nameserver {names.format_address(host.first)}")
    lines.append("options timeout:1 attempts:2")
    return "\n".join(lines) + "\n"


def _udp_servers(topology: Any) -> list[Any]:
    return [
        host
        for host in dns_hosts(topology)
        if (port := host.template.ports.get(RESOLVER_PORT)) is not None
        and port.service_name == "dns"
    ]


def install_resolv_conf(
    topology: Any,
    namespace: str,
    owner: tuple[int, int] | None = None,
    root: Path = NETNS_ETC,
) -> Path:
    """Write resolv_conf(topology) for `namespace`; the path written.

    `owner` (uid, gid) gets the directory, so that it may remove the file
    later. NoNameServer as resolv_conf; FileExistsError if the namespace
    already has a resolv.conf; ValueError for a name that is not one.
    """
    if not namespace or "/" in namespace or namespace in (".", ".."):
        raise ValueError(f"{namespace!r} is not a namespace name")
    text = resolv_conf(topology)
    directory = root / namespace
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "resolv.conf"
    with open(path, "x", encoding="ascii") as stream:
        stream.write(text)
    if owner is not None:
        os.chown(directory, *owner)
        os.chown(path, *owner)
    return path


def remove_resolv_conf(path: Path) -> None:
    """Remove what install_resolv_conf wrote, and its directory if allowed."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    # Only root may remove the directory from /etc/netns; after the drop
    # of privileges it stays, empty.
    with contextlib.suppress(OSError):
        path.parent.rmdir()
