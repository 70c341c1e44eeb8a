"""Whole transfers through the fault-injecting wire, checked byte for byte."""

from __future__ import annotations

import hashlib
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vnet.tcp import TcpConfig

from .client import MASK, Client, diff
from .harness import CLIENT, OTHER_CLIENT, SERVER, make_host
from .wire import Bulk, Network, Path, Sink


def digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


def lossy(seed: int = 0, loss: float = 0.02) -> Path:
    return Path(loss=loss, reorder=0.05, duplicate=0.02, delay=0.01)


def bulk_both_ways(size: int, to_server: Path, to_client: Path, seed: int) -> tuple:
    rng = random.Random(seed)
    upload, download = rng.randbytes(size), rng.randbytes(size)
    app = Bulk(download)
    network = Network(
        make_host(), app, to_server=to_server, to_client=to_client, seed=seed
    )
    client = network.connect(Client(CLIENT, 40000, SERVER))
    client.write(upload, network.clock.now)
    client.close(network.clock.now)
    network._send_from(client, network.clock.now)
    network.run(lambda: client.done and all(c.closed for c in app.data))
    [connection] = app.data
    return upload, download, app.data[connection], client, connection, network


def test_three_megabytes_each_way_over_a_lossy_reordering_wire() -> None:
    size = 3 * 1024 * 1024
    upload, download, received, client, connection, network = bulk_both_ways(
        size, lossy(), lossy(), seed=11
    )
    assert digest(received) == digest(upload)
    assert digest(client.received) == digest(download)
    assert connection.close_reason == "fin"
    # The faults really happened, and the server repaired its share.
    assert network.to_client.lost > 50 and network.to_server.lost > 50
    assert network.to_client.reordered > 100 and network.to_client.duplicated > 50
    assert connection.retransmits >= network.to_client.lost // 2


def test_transfer_survives_heavy_loss() -> None:
    upload, download, received, client, connection, _ = bulk_both_ways(
        200_000, lossy(loss=0.15), lossy(loss=0.15), seed=5
    )
    assert received == upload and client.received == download


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**16),
    size=st.integers(0, 40_000),
    loss=st.floats(0.0, 0.2),
    reorder=st.floats(0.0, 0.3),
    duplicate=st.floats(0.0, 0.2),
)
def test_any_faults_any_size_arrive_intact(
    seed: int, size: int, loss: float, reorder: float, duplicate: float
) -> None:
    def path() -> Path:
        return Path(loss=loss, reorder=reorder, duplicate=duplicate, delay=0.003)

    upload, download, received, client, _, _ = bulk_both_ways(
        size, path(), path(), seed
    )
    assert received == upload and client.received == download


def test_congestion_control_keeps_a_bottleneck_queue_mostly_intact() -> None:
    # 1 MB/s with a 20-segment queue and a 10 ms path: a sender that ignored
    # congestion would fill the client's 256 KB window and lose most of it.
    size = 2 * 1024 * 1024
    bottleneck = Path(delay=0.01, rate=1_000_000, queue=20)
    payload = random.Random(3).randbytes(size)
    app = Bulk(payload)
    network = Network(make_host(), app, to_client=bottleneck, seed=3)
    client = network.connect(Client(CLIENT, 40000, SERVER, window_segments=200))
    client.close(network.clock.now)
    network._send_from(client, network.clock.now)
    seconds = network.run(lambda: client.done)
    assert client.received == payload
    drops = bottleneck.queue_drops / bottleneck.sent
    throughput = size / seconds
    assert 0 < drops < 0.03, drops  # it probes the queue, then backs off
    assert throughput > 0.7 * 1_000_000, throughput


def test_reset_mid_transfer_ends_the_server_side_at_once() -> None:
    app = Bulk(b"z" * 1_000_000)
    network = Network(make_host(), app, to_client=Path(delay=0.01))
    client = network.connect(Client(CLIENT, 40000, SERVER))
    network.run(lambda: len(client.received) > 100_000)
    client.abort(network.clock.now)
    network._send_from(client, network.clock.now)
    [connection] = app.data
    network.run(lambda: connection.closed)
    assert connection.close_reason == "reset"
    assert len(network.host) == 0
    sent_before = network.to_client.sent
    network.run_for(10.0)
    assert network.to_client.sent == sent_before  # not one more segment


def test_vanished_peer_is_given_up_after_the_retries() -> None:
    app = Bulk(b"v" * 1_000_000)
    network = Network(make_host(), app, to_client=Path(delay=0.01))
    client = network.connect(Client(CLIENT, 40000, SERVER))
    network.run(lambda: len(client.received) > 100_000)
    network.to_client.cut = network.to_server.cut = True
    gone = network.clock.now
    [connection] = app.data
    network.run(lambda: connection.closed, limit=1000)
    assert connection.close_reason == "retries"
    assert len(network.host) == 0
    # Eight doubling timeouts from about a 200 ms RTO, capped at 60 s:
    # minutes, not the quarter of an hour Linux's default takes.
    assert 30 < network.clock.now - gone < 200
    assert network.server_wakeups < 40  # one wake-up per timeout, no ticks


def test_zero_window_from_a_slow_reader_stalls_and_resumes() -> None:
    payload = random.Random(9).randbytes(300_000)
    app = Bulk(payload)
    network = Network(
        make_host(), app, to_client=Path(delay=0.005, loss=0.02), trace=True
    )
    client = network.connect(
        Client(CLIENT, 40000, SERVER, buffer=16384, auto_read=False)
    )
    client.close(network.clock.now)
    network._send_from(client, network.clock.now)
    taken = bytearray()
    while not client.done:
        network.run_for(1.0)
        taken += client.read(network.clock.now)
        network._send_from(client, network.clock.now)
    taken += client.read(network.clock.now)
    assert taken == payload
    shut, beyond = window_edges(network, client.iss)
    assert shut > 10  # the client's window really closed, many times
    assert beyond <= 1  # and the server never sent past it, bar a probe byte


def window_edges(network: Network, client_isn: int) -> tuple[int, int]:
    """Zero windows the client showed, and the most the server overran one."""
    assert network.trace is not None
    edge = None
    shut = 0
    beyond = 0
    for _, direction, segment in network.trace:
        if direction == "in" and segment.flags & 0x10 and segment.seq != client_isn:
            shut += segment.window == 0
            right = (segment.ack + (segment.window << 7)) & MASK
            if edge is None or diff(right, edge) > 0:
                edge = right
        elif direction == "out" and segment.payload and edge is not None:
            end = (segment.seq + len(segment.payload)) & MASK
            beyond = max(beyond, diff(end, edge))
    return shut, beyond


def test_many_short_transactions_over_a_lossy_wire() -> None:
    response = b"HTTP/1.0 200 OK\r\n\r\n" + b"r" * 10_000
    app = Sink(reply=response)
    config = TcpConfig(time_wait=2.0)
    network = Network(make_host(config), app, to_server=lossy(), to_client=lossy())
    clients = []
    for index in range(60):
        ip = CLIENT if index % 2 else OTHER_CLIENT
        client = network.connect(Client(ip, 30000 + index, SERVER))
        client.write(b"GET /%d HTTP/1.0\r\n\r\n" % index, network.clock.now)
        client.close(network.clock.now)
        network._send_from(client, network.clock.now)
        clients.append(client)
    network.run(lambda: all(c.done for c in clients))
    assert all(bytes(c.received) == response for c in clients)
    requests = sorted(bytes(data) for data in app.data.values())
    assert requests == sorted(b"GET /%d HTTP/1.0\r\n\r\n" % i for i in range(60))
    network.run_for(5.0)
    assert len(network.host) == 0  # TIME-WAIT over: nothing lingers
