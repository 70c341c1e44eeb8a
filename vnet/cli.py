"""The `vnet` command line.

Bad user input of any kind (a broken topology, a TAP name the kernel refuses,
a missing user) ends with one message on stderr and exit status 2, never a
traceback. A traceback means a bug in vnet.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

import click

from vnet import __version__, config
from vnet.engine import Engine
from vnet.events import EventLog, EventStore, NullSink, StoreError, Tee
from vnet.link import LinkError
from vnet.link.faults import FaultSpecError, parse_faults
from vnet.link.kernel import configure_tap
from vnet.link.pcap import PcapWriter
from vnet.network.routing import tap_routes
from vnet.privileges import PrivilegeError, drop_privileges, hand_over, user_ids
from vnet.service.api import Environment, ServiceError

log = logging.getLogger("vnet")

USAGE_ERROR = 2
EVENTS_FILE = "events.jsonl"
STORE_FILE = "events.sqlite"


def fail(message: str) -> None:
    click.echo(f"vnet: {message}", err=True)
    sys.exit(USAGE_ERROR)


def load_topology(path: str) -> Any:
    """Load and check a topology, its services included; exit 2 if bad."""
    from vnet.personalities import check_personalities
    from vnet.service.bindings import check_services

    try:
        topology = config.load(path)
        check_personalities(topology)
        check_services(topology)
    except config.TopologyError as error:
        fail(str(error))
    return topology


def setup_logging(verbose: int, quiet: int) -> None:
    level = logging.INFO - 10 * verbose + 10 * quiet
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vnet")
@click.option("-v", "--verbose", count=True, help="More diagnostics (repeatable).")
@click.option("-q", "--quiet", count=True, help="Fewer diagnostics (repeatable).")
def main(verbose: int, quiet: int) -> None:
    """vnet: a virtual honeynet of many hosts behind one interface."""
    setup_logging(verbose, quiet)


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
def check(topology: str) -> None:
    """Validate TOPOLOGY and print a summary."""
    click.echo(config.summarize(load_topology(topology)))


@main.command()
def schema() -> None:
    """Print the JSON Schema of topology files."""
    click.echo(json.dumps(config.schema(), indent=2))


@main.command()
@click.argument("topology", type=click.Path(dir_okay=False))
@click.option("--tap", help="TAP device to create or attach to.")
@click.option(
    "--interface", help="Existing interface to share, claiming free addresses."
)
@click.option(
    "--no-configure", is_flag=True, help="Leave the kernel side of the TAP alone."
)
@click.option(
    "--events", "events_path", help="The JSON-lines record [STATE_DIR/events.jsonl]."
)
@click.option("--pcap", "pcap_path", help="Capture every frame in and out here.")
@click.option("--user", default="nobody", show_default=True, help="Run as this user.")
@click.option("--seed", default=0, show_default=True, help="Seed for MACs and more.")
@click.option(
    "--faults",
    "faults_text",
    help="Test aid: disturb incoming frames, e.g. loss=5%,reorder=10%,delay=20ms.",
)
@click.option(
    "--state-dir",
    default="var",
    show_default=True,
    help="Where services keep state (mail, secrets); events.jsonl by default.",
)
@click.option(
    "--resolver",
    is_flag=True,
    help="Make tools in this named namespace resolve names with the virtual DNS.",
)
@click.option(
    "--store",
    "store_path",
    help="The SQLite event store [STATE_DIR/events.sqlite].",
)
@click.option("--metrics", "metrics_address", help="Serve Prometheus metrics here.")
def run(
    topology: str,
    tap: str | None,
    interface: str | None,
    no_configure: bool,
    events_path: str | None,
    pcap_path: str | None,
    user: str,
    seed: int,
    faults_text: str | None,
    state_dir: str,
    resolver: bool,
    store_path: str | None,
    metrics_address: str | None,
) -> None:
    """Serve TOPOLOGY until SIGINT or SIGTERM."""
    model = load_topology(topology)
    try:
        faults = parse_faults(faults_text) if faults_text else None
        metrics = Metrics(metrics_address) if metrics_address else None
    except FaultSpecError as error:
        fail(f"--faults: {error}")
    except ValueError as error:
        fail(f"--metrics: {error}")
    # Everything that needs root, and every file, is opened before the drop:
    # the device, the records, and what the services keep under state_dir.
    try:
        os.makedirs(state_dir, exist_ok=True)
        link = open_link(model, tap, interface, no_configure)
        events = open_records(state_dir, events_path, store_path, metrics)
        pcap = PcapWriter.open(pcap_path) if pcap_path else None
        environment = Environment(events=events, state_dir=state_dir)
        engine = Engine(
            model, link, events, pcap, seed=seed, faults=faults,
            environment=environment,
        )  # fmt: skip
        hand_over(state_dir, user)
        resolv_conf = install_resolver(model, user) if resolver else None
        drop_privileges(user)
    except (LinkError, PrivilegeError, OSError, StoreError) as error:
        fail(str(error))
    except config.TopologyError as error:
        fail(str(error))
    except ServiceError as error:
        fail(f"{topology}: {error}")
    if metrics is not None:
        metrics.watch(engine)
    settle_memory()
    try:
        asyncio.run(serve_engine(engine, metrics))
    finally:
        if resolv_conf is not None:
            remove_resolv_conf(resolv_conf)
    summary = engine.summary()
    events.emit("vnet.stopped", **summary)
    events.close()
    click.echo("vnet: stopped: " + format_summary(summary), err=True)


def install_resolver(model: Any, user: str) -> Any:
    """Write /etc/netns/<ns>/resolv.conf naming the topology's DNS servers.

    Only programs that `ip netns exec` starts after this see the file, so
    the tools run once vnet is ready resolve through the virtual DNS.
    """
    from services.dns.resolver import NoNameServer, install_resolv_conf

    found = subprocess.run(["ip", "netns", "identify"], capture_output=True, text=True)
    namespace = found.stdout.strip()
    if not namespace:
        raise LinkError("--resolver: vnet is not running in a named namespace")
    try:
        return install_resolv_conf(model, namespace, owner=user_ids(user))
    except NoNameServer as error:
        raise LinkError(f"--resolver: {error}") from None
    except FileExistsError as error:
        raise LinkError(f"--resolver: {error.filename} exists already") from None


def remove_resolv_conf(path: Any) -> None:
    from services.dns.resolver import remove_resolv_conf as remove

    remove(path)


def open_link(model: Any, tap: str | None, interface: str | None, no_configure: bool):
    """Open the link the options name, configuring a TAP's kernel side."""
    if interface:
        from vnet.link.packet import PacketLink

        return PacketLink(interface)

    from vnet.link.tap import TapLink

    name = tap or model.attach.tap
    if not name:
        raise LinkError("no TAP device: give --tap NAME or attach.tap")
    link = TapLink(name)
    if not no_configure:
        routes, gateway = tap_routes(model)
        configure_tap(link.name, str(model.attach), routes, gateway)
    return link


class Metrics:
    """`--metrics HOST:PORT`: Prometheus counters fed by the events."""

    def __init__(self, address: str) -> None:
        from vnet.events import metrics

        self.module = metrics
        self.address = address
        metrics.parse_listen(address)
        self.sink = metrics.MetricsSink()

    def watch(self, engine: Engine) -> None:
        self.module.watch_engine(self.sink.registry, engine)

    async def start(self) -> asyncio.Server:
        return await self.module.start_metrics(self.address, self.sink.registry)


# Allocations between two runs of the young generation's collection; the
# interpreter's default is 700.
GC_YOUNG_THRESHOLD = 10_000


def settle_memory() -> None:
    """Tell the cyclic garbage collector what a run looks like.

    What was loaded to start (topology, personalities, services) lives as
    long as the run: frozen, the collector never walks it again. Packets
    and segments come and go by the hundred thousand a second and make no
    cycles, so the young generation is collected less often than by default.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def open_records(
    state_dir: str,
    events_path: str | None,
    store_path: str | None,
    metrics: Metrics | None,
) -> Tee:
    """The JSON lines, the SQLite store and the metrics, fed one record each."""
    log_file = EventLog.open(events_path or os.path.join(state_dir, EVENTS_FILE))
    store = EventStore.open(store_path or os.path.join(state_dir, STORE_FILE))
    sinks = [log_file, store] + ([metrics.sink] if metrics else [])
    return Tee(*sinks)


async def serve_engine(engine: Engine, metrics: Metrics | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    status = None
    if sys.stderr.isatty():
        status = asyncio.ensure_future(show_status(engine))
    serving = asyncio.ensure_future(engine.serve(stop))
    server = await metrics.start() if metrics is not None else None
    await asyncio.sleep(0)
    print(
        f"vnet ready: {engine.plan.address_count} addresses on {engine.link.name}",
        flush=True,
    )
    await serving
    if server is not None:
        server.close()
        await server.wait_closed()
    if status is not None:
        status.cancel()
        sys.stderr.write("\r\x1b[K")


async def show_status(engine: Engine) -> None:
    while True:
        await asyncio.sleep(1)
        line = format_summary(engine.summary())
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()


def format_summary(summary: dict[str, Any]) -> str:
    return (
        f"hosts {summary['hosts_contacted']}, "
        f"frames in {summary['frames_in']} out {summary['frames_out']}, "
        f"malformed {summary['malformed']}, "
        f"connections {summary.get('connections', 0)}, "
        f"events {summary.get('events', 0)}"
    )


@main.command()
@click.argument("service")
@click.option(
    "--listen", default="127.0.0.1:8000", show_default=True, help="HOST:PORT."
)
@click.option("--options", "options_text", default="{}", help="YAML or JSON mapping.")
@click.option("--events", "events_path", help="Write the JSON-lines record here.")
@click.option("--store", "store_path", help="Keep the records in this event store.")
@click.option("--state-dir", default="var", show_default=True, help="Service state.")
def serve(
    service: str,
    listen: str,
    options_text: str,
    events_path: str | None,
    store_path: str | None,
    state_dir: str,
) -> None:
    """Run one SERVICE on a real socket (for development and comparison)."""
    import yaml

    from vnet.service.api import Environment
    from vnet.service.options import OptionsError, check_options
    from vnet.service.registry import UnknownService, find_service
    from vnet.service.socket_mode import serve_on_socket

    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        fail(f"--listen: found {listen!r}; allowed: HOST:PORT with a port 1-65535")
    try:
        service_class = find_service(service)
        options = check_options(service_class, yaml.safe_load(options_text) or {})
    except UnknownService as error:
        hint = f"; did you mean {error.suggestions[0]!r}?" if error.suggestions else ""
        fail(f"service {error.name!r}: {error.reason}{hint}")
    except OptionsError as error:
        field = ".".join(str(part) for part in error.path) or "options"
        fail(f"--options: {field}: {error.message}")
    except yaml.YAMLError as error:
        fail(f"--options: not YAML: {error}")
    events = serve_records(events_path, store_path)
    environment = Environment(events=events, state_dir=state_dir)
    stop = asyncio.Event()

    async def run_until_signal() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_on_socket(
            service_class, options, host, int(port_text), environment, stop=stop
        )

    try:
        asyncio.run(run_until_signal())
    except OSError as error:
        fail(f"--listen {listen}: {error.strerror}")
    finally:
        events.close()


def serve_records(events_path: str | None, store_path: str | None) -> Tee | NullSink:
    """`vnet serve`'s records: the JSON lines and the store, if asked for."""
    sinks: list[EventLog | EventStore] = []
    if events_path:
        sinks.append(EventLog.open(events_path))
    if store_path:
        try:
            sinks.append(EventStore.open(store_path))
        except StoreError as error:
            fail(f"--store: {error}")
    return Tee(*sinks) if sinks else NullSink()


@main.group()
def selftest() -> None:
    """Check vnet against real tools, in a namespace of its own."""


@selftest.command("nmap")
@click.argument("names", nargs=-1)
@click.option("--sample", "sample_size", type=int, help="Random fingerprints.")
@click.option("--seed", default=1, show_default=True, help="Seed of the sample.")
@click.option("--db", "db_path", default=None, help="nmap-os-db to read.")
def selftest_nmap(
    names: tuple[str, ...], sample_size: int | None, seed: int, db_path: str | None
) -> None:
    """Does `nmap -O` name each emulated fingerprint exactly?"""
    from vnet import selftest as checks
    from vnet.personality import database as osdb
    from vnet.personality.errors import PersonalityError

    if bool(names) == bool(sample_size):
        fail("selftest nmap: give fingerprint NAMES, or --sample N, not both")
    try:
        database = osdb.load(db_path) if db_path else osdb.load()
        if sample_size:
            chosen = checks.sample(database, sample_size, seed)
        else:
            chosen = [database.lookup(name) for name in names]
    except (PersonalityError, ValueError) as error:
        fail(str(error))
    checks.main_progress(f"{len(chosen)} fingerprints")
    verdicts = checks.selftest(database, chosen, checks.main_progress)
    click.echo(checks.table(verdicts))


@main.group()
def trace() -> None:
    """Trace a trap address back to the visit that harvested it."""


@trace.command("address")
@click.argument("address")
@click.option("--state-dir", default="var", show_default=True)
@click.option("--secret-file", help="The maze's secret [STATE_DIR/web-maze.secret].")
@click.option("--events", "events_path", help="Records [STATE_DIR/events.jsonl].")
def trace_address(
    address: str, state_dir: str, secret_file: str | None, events_path: str | None
) -> None:
    """Decode ADDRESS and show where, when and to whom it was issued."""
    from services.web_maze import traps

    try:
        found = traps.trace(address, state_dir, secret_file, events_path)
    except traps.TraceError as error:
        fail(str(error))
    click.echo(traps.format_trace(found))
    if found.visit is None:
        sys.exit(1)


def add_record_commands() -> None:
    """`vnet report`, `vnet export` and `vnet events`, from vnet.report."""
    from vnet.report.commands import events_group, export_command, report_command

    main.add_command(report_command)
    main.add_command(export_command)
    main.add_command(events_group)


add_record_commands()


@main.group()
def personality() -> None:
    """Find and inspect personalities (nmap fingerprints and presets)."""


def _resolve_or_fail(name: str) -> Any:
    from vnet.personalities import resolve
    from vnet.personality.errors import PersonalityError

    try:
        return resolve(name)
    except PersonalityError as error:
        fail(str(error))


@personality.command("search")
@click.argument("text")
def personality_search(text: str) -> None:
    """List the fingerprints and presets whose name or class contains TEXT."""
    from vnet.personalities import presets
    from vnet.personality import search

    needle = text.casefold()
    for preset in presets().values():
        if needle in f"{preset.name} {preset.description}".casefold():
            click.echo(f"preset  {preset.name:22} {preset.fingerprint}")
    hits = search(text)
    for hit in hits:
        click.echo(f"        {hit.selector}")
    if not hits:
        sys.exit(1)


@personality.command("show")
@click.argument("name")
def personality_show(name: str) -> None:
    """Show NAME's fingerprint and the behaviour a host would get from it."""
    from vnet.personality import behaviour

    fingerprint, preset = _resolve_or_fail(name)
    if preset is not None:
        click.echo(f"preset {preset.name}: {preset.description}")
    click.echo(f"Fingerprint {fingerprint.name}  (line {fingerprint.line})")
    for os_class in fingerprint.classes:
        click.echo(
            f"  Class {os_class.vendor} | {os_class.family} | "
            f"{os_class.generation or ''} | {os_class.device_type}"
        )
    for test, values in fingerprint.tests.items():
        line = "%".join(f"{key}={value}" for key, value in values.items())
        click.echo(f"  {test}({line})")
    profile = behaviour(fingerprint, 1, 86400.0, 0.0).profile
    click.echo("chosen behaviour (seed 1, up one day):")
    for test, rule in profile.rules.items():
        answer = "answers" if rule.respond else "silent"
        click.echo(
            f"  {test}: {answer}, TTL {rule.ttl}, DF {rule.dont_fragment},"
            f" window {rule.window}, seq {rule.seq}, ack {rule.ack}"
        )
    echo, unreachable = profile.echo, profile.unreachable
    click.echo(f"  IE: {'answers' if echo.respond else 'silent'}, TTL {echo.ttl}")
    click.echo(
        f"  U1: {'answers' if unreachable.respond else 'silent'}, TTL {unreachable.ttl}"
    )


@personality.command("check")
@click.argument("name")
def personality_check(name: str) -> None:
    """Print what nmap would have to see to name NAME exactly."""
    from vnet.personality import load

    fingerprint, _ = _resolve_or_fail(name)
    points = load().match_points
    click.echo(f"nmap -O names {fingerprint.name!r} when it sees, test by test:")
    total = 0
    for test, values in fingerprint.tests.items():
        weights = points.get(test) or points.get("T2", {})
        for attribute, expression in values.items():
            weight = weights.get(attribute, 0)
            total += weight
            click.echo(
                f"  {test}.{attribute:6} matching {expression!r:28} {weight:4} points"
            )
    click.echo(f"an exact match needs all {total} points")


@main.group()
def show() -> None:
    """Show what a topology computes."""


@show.command("routes")
@click.argument("topology", type=click.Path(dir_okay=False))
def show_routes(topology: str) -> None:
    """Print the path from the TAP to every network of TOPOLOGY."""
    click.echo(config.show_routes(load_topology(topology)))
