"""Idle connections cost nothing until their one deadline."""

from __future__ import annotations

from vnet.tcp import TcpConfig

from .client import Client
from .harness import CLIENT, SERVER, make_host
from .wire import Network, Sink


def test_idle_connections_sleep_until_their_timeout() -> None:
    app = Sink()
    host = make_host(TcpConfig(idle_timeout=60.0), backlog=1000)
    network = Network(host, app)
    clients = [network.connect(Client(CLIENT, 20000 + i, SERVER)) for i in range(300)]
    for client in clients:
        client.write(b"?", network.clock.now)
        network._send_from(client, network.clock.now)
    network.run_for(1.0)
    assert len(network.host) == 300
    settled = network.server_wakeups  # the delayed ACKs of the "?"s

    network.run_for(58.0)
    assert network.server_wakeups == settled  # not one tick in 58 s

    network.run_for(2.0)
    assert network.server_wakeups == settled + 300  # one each, at 60 s
    assert set(app.closed.values()) == {"timeout"}
    assert all(client.reset_received for client in clients)
    assert len(network.host) == 0
