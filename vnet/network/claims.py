"""Claiming free addresses on a shared segment (the ARP-proxy mode).

On a real interface, vnet must never answer for an address that a real host
uses. Like arpd and farpd, it claims an address of its configured ranges only
when someone asks for it and nobody else answers: the first ARP request for
an unknown address makes vnet send an ARP probe (RFC 5227 section 2.1.1:
sender address 0.0.0.0, so no cache is polluted); if no reply comes within
`probe_wait` seconds, the next request for that address gets vnet's answer.
Requesters retry about once a second, so the second request usually wins.

A claimed address is given up as soon as another MAC speaks for it (an ARP
request or reply with it as sender), and a real host is left alone for
`recheck_after` seconds before its address is considered again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from vnet.wire.ipv4 import addr_to_str

log = logging.getLogger(__name__)

PROBING = "probing"
CLAIMED = "claimed"
TAKEN = "taken"

MAX_TRACKED = 65_536


class AddressClaims:
    """Which in-range addresses vnet may answer for, decided by probing."""

    def __init__(
        self,
        in_range: Callable[[int], bool],
        send_probe: Callable[[int], None],
        our_macs: Callable[[bytes], bool],
        probe_wait: float = 0.5,
        recheck_after: float = 300.0,
    ) -> None:
        self._in_range = in_range
        self._send_probe = send_probe
        self._our_macs = our_macs
        self.probe_wait = probe_wait
        self.recheck_after = recheck_after
        self._states: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def owns(self, address: int, now: float) -> bool:
        """Asked for each request: True once `address` is vnet's to answer."""
        if not self._in_range(address):
            return False
        state, since = self._states.get(address, (None, now))
        if state == CLAIMED:
            return True
        if state == PROBING and now - since >= self.probe_wait:
            self._set(address, CLAIMED, now)
            log.info("claimed %s: no reply to ARP probe", addr_to_str(address))
            return True
        if state == TAKEN and now - since < self.recheck_after:
            return False
        if state != PROBING:
            self._set(address, PROBING, now)
            self._send_probe(address)
        return False

    def observe(self, sender_ip: int, sender_mac: bytes, now: float) -> None:
        """Every ARP packet seen: a foreign sender takes its address back."""
        if not self._in_range(sender_ip) or self._our_macs(sender_mac):
            return
        state, _ = self._states.get(sender_ip, (None, now))
        if state == CLAIMED:
            log.warning(
                "%s: real host appeared, giving the address up", addr_to_str(sender_ip)
            )
        self._set(sender_ip, TAKEN, now)

    def state(self, address: int) -> str | None:
        return self._states.get(address, (None, 0.0))[0]

    def _set(self, address: int, state: str, now: float) -> None:
        self._states[address] = (state, now)
        self._states.move_to_end(address)
        if len(self._states) > MAX_TRACKED:
            self._states.popitem(last=False)
