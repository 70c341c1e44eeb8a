"""The kernel's side of a TAP device: address, state and routes.

With `vnet run --tap NAME`, vnet brings the device up, gives it the
topology's host address, and routes each virtual network through it, so the
tools on this machine (or in this namespace) reach the virtual hosts. It uses
iproute2, which is what an operator would type by hand, and it undoes nothing
on exit: the device goes away with the process unless it was persistent.

Without virtual routers a network is routed straight onto the device, and
the kernel asks ARP for every host in it. With routers, the networks behind
them are routed via the entry router's address (`ip route replace NET via
GATEWAY dev NAME`), as they would be behind a real one: the kernel then asks
ARP for the entry router alone.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
from collections.abc import Iterable

from vnet.link.base import LinkError

log = logging.getLogger(__name__)


def run_ip(*arguments: str) -> None:
    command = ["ip", *arguments]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        message = result.stderr.strip() or f"exit {result.returncode}"
        raise LinkError(f"{' '.join(command)}: {message}")


def configure_tap(
    name: str,
    host_address: str,
    routes: Iterable[ipaddress.IPv4Network],
    gateway: str | None = None,
) -> None:
    """Bring `name` up with `host_address` (CIDR form) and add `routes`.

    Routes go via `gateway`, an address on the device's network, when given.
    """
    interface = ipaddress.IPv4Interface(host_address)
    run_ip("link", "set", "dev", name, "up")
    run_ip("addr", "replace", str(interface), "dev", name)
    via = ("via", gateway) if gateway else ()
    for route in routes:
        if route.subnet_of(interface.network):
            continue
        run_ip("route", "replace", str(route), *via, "dev", name)
        log.info("route %s via %s", route, gateway or name)


def covering_networks(spans: Iterable[tuple[int, int]]) -> list[ipaddress.IPv4Network]:
    """The fewest CIDR blocks that cover each inclusive (first, last) span."""
    blocks: list[ipaddress.IPv4Network] = []
    for first, last in spans:
        blocks.extend(
            ipaddress.summarize_address_range(
                ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)
            )
        )
    return list(ipaddress.collapse_addresses(blocks))
