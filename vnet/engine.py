"""The engine: it ties the link, the virtual network and the timers together.

It runs on one asyncio loop. When the link's descriptor is readable it reads
every frame waiting (up to a batch), hands each to the virtual network at
once, and writes replies as they are made: nothing waits behind a timer.
Malformed frames from the network are counted by reason and dropped; any
other exception is a bug in vnet and propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from vnet.events import EventSink
from vnet.host import Host
from vnet.link import Link
from vnet.link.pcap import PcapWriter
from vnet.network.claims import AddressClaims
from vnet.network.mac import host_mac
from vnet.network.plan import AddressPlan
from vnet.network.virtual import VirtualNetwork
from vnet.timers import TimerQueue
from vnet.wire import ipv4
from vnet.wire.errors import MalformedFrame

log = logging.getLogger(__name__)

READ_BATCH = 256


class Engine:
    """One topology served on one link."""

    def __init__(
        self,
        topology: Any,
        link: Link,
        events: EventSink,
        pcap: PcapWriter | None = None,
        seed: int = 0,
    ) -> None:
        self.topology = topology
        self.link = link
        self.events = events
        self.pcap = pcap
        self.seed = seed
        self.frames_in = 0
        self.frames_out = 0
        self.frames_dropped = 0
        self.malformed: Counter[str] = Counter()
        self.plan = AddressPlan(topology.hosts)
        self.network = VirtualNetwork(
            self._make_host, self._transmit, self._ownership(link)
        )
        self.verify_checksums = getattr(link, "verifies_checksums", True)
        self.timers: TimerQueue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0.0

    # --- hosts -------------------------------------------------------------

    def _ownership(self, link: Link) -> AddressClaims | None:
        """On a shared interface, claim addresses by probing; on a TAP, all."""
        link_mac = getattr(link, "mac", None)
        if link_mac is None:
            return None

        def in_range(address: int) -> bool:
            return self.plan.lookup(address) is not None

        def probe(address: int) -> None:
            self.network.send_probe(address, link_mac)

        def ours(mac: bytes) -> bool:
            return mac == link_mac or self.network.knows_mac(mac)

        return AddressClaims(in_range, probe, ours)

    def _make_host(self, address: int) -> Host | None:
        spec = self.plan.lookup(address)
        if spec is None:
            return None
        template = spec.template
        single = spec.first == spec.last
        mac = spec.mac if single and spec.mac else None
        mac = mac or host_mac(address, template.mac_vendor, self.seed)
        name = spec.name if single else None
        host = Host(address, mac, template, self.network.send_packet, name=name)
        host.verify = self.verify_checksums
        self.events.emit(
            "net.host.contacted",
            host=ipv4.addr_to_str(address),
            name=name,
            template=spec.template_name,
        )
        return host

    # --- frames ------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._loop is not None
        frames = self.link.read_frames(READ_BATCH)
        if not frames:
            return
        now = self._loop.time()
        self.frames_in += len(frames)
        if self.pcap is not None:
            wall = time.time()
            for frame in frames:
                self.pcap.write(frame, wall)
        handle = self.network.handle_frame
        for frame in frames:
            try:
                handle(frame, now)
            except MalformedFrame as error:
                self.malformed[str(error)] += 1

    def _transmit(self, frame: bytes) -> None:
        if self.link.write_frame(frame):
            self.frames_out += 1
        else:
            self.frames_dropped += 1
        if self.pcap is not None:
            self.pcap.write(frame, time.time())

    # --- lifecycle ---------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.timers = TimerQueue(loop.call_at)
        self.timers.bind_clock(loop.time)
        loop.add_reader(self.link.fileno(), self._on_readable)
        self.started = time.time()
        log.info("serving %d addresses on %s", self.plan.address_count, self.link.name)

    def detach(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.link.fileno())
        if self.pcap is not None:
            self.pcap.close()

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set."""
        self.attach(asyncio.get_running_loop())
        try:
            await stop.wait()
        finally:
            self.detach()

    def summary(self) -> dict[str, Any]:
        return {
            "hosts_contacted": self.network.counters["hosts contacted"],
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "frames_dropped": self.frames_dropped,
            "malformed": sum(self.malformed.values()),
            "malformed_reasons": dict(self.malformed.most_common(20)),
            "seconds": round(time.time() - self.started, 3),
        }
