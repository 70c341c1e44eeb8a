"""UDP services: each datagram to a bound port goes to its service.

UDP has no connection, so a service answers datagram by datagram through
`DatagramContext.reply`, which sends from the port that was asked, stamped by
the host's personality like everything the host sends. A service that raises
is logged with its traceback; the datagram is dropped and nothing else
changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from vnet.host import Host
from vnet.service.api import DatagramContext, Environment, HostInfo
from vnet.service.bindings import ServiceBinding
from vnet.wire import ipv4, udp
from vnet.wire.ipv4 import Ipv4Packet
from vnet.wire.udp import UdpDatagram

log = logging.getLogger(__name__)


class UdpServer:
    """One host's UDP services."""

    def __init__(
        self,
        host: Host,
        bindings: Mapping[int, ServiceBinding],
        environment: Environment,
    ) -> None:
        self.host = host
        self.bindings = bindings
        self.environment = environment
        self.info = HostInfo(ipv4.addr_to_str(host.address), host.name)

    def receive(self, packet: Ipv4Packet, datagram: UdpDatagram, now: float) -> None:
        binding = self.bindings.get(datagram.dst_port)
        if binding is None:
            return
        peer = (ipv4.addr_to_str(packet.src), datagram.src_port)

        def reply(data: bytes) -> None:
            answer = UdpDatagram(datagram.dst_port, datagram.src_port, data)
            payload = udp.emit(answer, self.host.address, packet.src)
            self.host.send(packet.src, ipv4.PROTO_UDP, payload, "udp", now)

        context = DatagramContext(
            service=binding.service.name,
            host=self.info,
            peer=peer,
            local=(self.info.address, datagram.dst_port),
            options=binding.options,
            environment=self.environment,
            reply=reply,
        )
        try:
            binding.service.datagram_received(context, datagram.payload)
        except Exception:
            log.exception("%s: UDP service %s raised", peer[0], binding.service.name)
