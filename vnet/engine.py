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
import random
import time
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any

from vnet.events import EventSink
from vnet.host import Host
from vnet.link import Link
from vnet.link.faults import FaultPlan
from vnet.link.pcap import PcapWriter
from vnet.network.alarm import make_call_at
from vnet.network.claims import AddressClaims
from vnet.network.mac import host_mac, load_prefixes
from vnet.network.plan import AddressPlan
from vnet.network.routing import build_fabric
from vnet.network.virtual import VirtualNetwork
from vnet.personalities import (
    FingerprintPersonality,
    host_personality,
    presets,
    router_personality,
)
from vnet.service import pipe
from vnet.service.api import ConnectionContext, Environment, HostInfo
from vnet.service.bindings import ServiceTable
from vnet.service.server import HostServer
from vnet.service.udp import UdpServer
from vnet.tcp import PlainPersonality, SynBudget
from vnet.timers import TimerQueue
from vnet.wire import ipv4
from vnet.wire.errors import MalformedFrame

log = logging.getLogger(__name__)

READ_BATCH = 256
# Half-open connections held across all hosts; a SYN flood evicts the oldest.
SYN_BUDGET = 4096


class Engine:
    """One topology served on one link."""

    def __init__(
        self,
        topology: Any,
        link: Link,
        events: EventSink,
        pcap: PcapWriter | None = None,
        seed: int = 0,
        environment: Environment | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.topology = topology
        self.faults = faults
        self._fault_rng = random.Random(seed)
        self.link = link
        self.events = events
        self.pcap = pcap
        self.seed = seed
        self.frames_in = 0
        self.malformed: Counter[str] = Counter()
        self.plan = AddressPlan(topology.hosts)
        # Read nmap's vendor prefixes now, not on the first host's first frame.
        load_prefixes()
        self.network = VirtualNetwork(
            self._make_host,
            # Straight to the link, which counts what it writes, unless each
            # frame is recorded too: this runs for every frame sent.
            link.write_frame if pcap is None else self._transmit_recorded,
            self._ownership(link),
            fabric=build_fabric(
                topology,
                events,
                seed,
                lambda router: router_personality(router, seed),
            ),
        )
        self.verify_checksums = getattr(link, "verifies_checksums", True)
        self.timers: TimerQueue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0.0
        self.environment = environment or Environment(events=events)
        self.environment.topology = topology
        self.environment.open_connection = self.open_connection
        self.services = ServiceTable(topology, self.environment)
        self.syn_budget = SynBudget(SYN_BUDGET)
        # Held weakly: a host the network lets go takes its server with it.
        self.servers: weakref.WeakValueDictionary[int, HostServer]
        self.servers = weakref.WeakValueDictionary()

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
        now = self._loop.time() if self._loop is not None else 0.0
        personality = host_personality(template, address, self.seed, now)
        mac = spec.mac if single and spec.mac else None
        mac = mac or host_mac(address, self._mac_vendor(template), self.seed)
        name = spec.name if single else None
        host = Host(address, mac, template, self.network.send_packet, personality, name)
        host.verify = self.verify_checksums
        self._attach_services(host, spec)
        self.events.emit(
            "net.host.contacted",
            host=ipv4.addr_to_str(address),
            name=name,
            template=spec.template_name,
        )
        return host

    @staticmethod
    def _mac_vendor(template: Any) -> str | None:
        """The template's vendor, else the one its personality preset names."""
        if template.mac_vendor or not template.personality:
            return template.mac_vendor
        preset = presets().get(template.personality)
        return preset.mac_vendor if preset else None

    def _attach_services(self, host: Host, spec: Any) -> None:
        """Give the host its TCP server and UDP services, made on first use."""
        bindings = self.services.for_template(spec.template)

        def start_tcp(packet: ipv4.Ipv4Packet, segment: Any, now: float) -> None:
            self._server(host, spec, bindings).segment_received(packet, segment, now)

        host.tcp_handler = start_tcp
        udp = {port: b for (protocol, port), b in bindings.items() if protocol == "udp"}
        if udp:
            host.udp_handler = UdpServer(host, udp, self.environment).receive

    def _server(self, host: Host, spec: Any, bindings: dict) -> HostServer:
        assert self.timers is not None and self._loop is not None
        tcp = {port: b for (protocol, port), b in bindings.items() if protocol == "tcp"}
        if isinstance(host.personality, FingerprintPersonality):
            personality: Any = host.personality.tcp
        else:
            personality = PlainPersonality(seed=host.address ^ self.seed)
        info = HostInfo(
            ipv4.addr_to_str(host.address),
            host.name,
            spec.template.personality,
            spec.template_name,
        )
        server = HostServer(
            host,
            tcp,
            personality,
            self.timers,
            self._loop.time,
            self.environment,
            self.syn_budget,
            info,
        )
        self.servers[host.address] = server
        return server

    async def open_connection(self, name: str, port: int):
        """Connect to the service at `name` (host name or address) and port."""
        assert self._loop is not None
        spec = self._find_host(name)
        if spec is None:
            raise ConnectionRefusedError(f"no virtual host {name!r}")
        binding = self.services.for_template(spec.template).get(("tcp", port))
        if binding is None:
            raise ConnectionRefusedError(f"{name}:{port}: no service")
        address = name if spec.name != name else ipv4.addr_to_str(spec.first)
        context = ConnectionContext(
            service=binding.service.name,
            host=HostInfo(
                address, spec.name, spec.template.personality, spec.template_name
            ),
            peer=("127.0.0.1", 0),
            local=(address, port),
            options=binding.options,
            environment=self.environment,
        )
        protocol = binding.service.protocol(context)
        assert isinstance(protocol, asyncio.Protocol)
        return pipe.connect(self._loop, protocol, context.peer, context.local)

    def _find_host(self, name: str) -> Any:
        for spec in self.topology.hosts:
            if spec.name == name:
                return spec
        try:
            return self.plan.lookup(ipv4.addr_from_str(name))
        except (OSError, ValueError):
            return None

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
        if self.faults is not None:
            frames = self._apply_faults(frames)
        handle = self.network.handle_frame
        for frame in frames:
            try:
                handle(frame, now)
            except MalformedFrame as error:
                self.malformed[str(error)] += 1

    def _apply_faults(self, frames: list[bytes]) -> list[bytes]:
        """Frames to handle now; the others are dropped or come back later."""
        assert self.faults is not None and self._loop is not None
        now_frames = []
        for frame in frames:
            for delay in self.faults.fates(self._fault_rng):
                if delay:
                    self._loop.call_later(delay, self._handle_late, frame)
                else:
                    now_frames.append(frame)
        return now_frames

    def _handle_late(self, frame: bytes) -> None:
        assert self._loop is not None
        try:
            self.network.handle_frame(frame, self._loop.time())
        except MalformedFrame as error:
            self.malformed[str(error)] += 1

    def _transmit_recorded(self, frame: bytes) -> bool:
        assert self.pcap is not None
        written = self.link.write_frame(frame)
        self.pcap.write(frame, time.time())
        return written

    # --- lifecycle ---------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.timers = TimerQueue(make_call_at(loop))
        clock = loop_clock(loop)
        self.timers.bind_clock(clock)
        self.network.bind_timers(self.timers, clock)
        loop.add_reader(self.link.fileno(), self._on_readable)
        self.started = time.time()
        log.info("serving %d addresses on %s", self.plan.address_count, self.link.name)

    def detach(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.link.fileno())
            now = self._loop.time()
            for server in list(self.servers.values()):
                server.close_all(now)
        self.services.close()
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
        # With a fabric, a packet's payload is read, and found malformed,
        # as the fabric hands it to its host: the fabric counts those.
        malformed = self.malformed.copy()
        if self.network.fabric is not None:
            malformed.update(self.network.fabric.malformed)
        return {
            "hosts_contacted": self.network.counters["hosts contacted"],
            "frames_in": self.frames_in,
            "frames_out": self.link.frames_out,
            "frames_dropped": self.link.frames_dropped,
            "malformed": sum(malformed.values()),
            "malformed_reasons": dict(malformed.most_common(20)),
            "connections": sum(
                len(server.tcp) for server in list(self.servers.values())
            ),
            "events": sum(getattr(self.events, "counts", {}).values()),
            "seconds": round(time.time() - self.started, 3),
            **self.network.summary(),
        }


def loop_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """The loop's clock, as cheap to read as it can be.

    asyncio's own loops read time.monotonic(), through a Python method;
    the delay line reads the clock for every packet it holds, so it gets
    time.monotonic itself. A loop with a clock of its own keeps it.
    """
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time
