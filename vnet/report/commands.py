"""The command-line side of the report: `vnet report`, `vnet export`,
`vnet events import`, as click commands for vnet/cli.py to add.

Each reads the event store named by `--store`. Without it, the store of
`vnet run` is used (STATE_DIR/events.sqlite), else its JSON lines
(STATE_DIR/events.jsonl). A JSON-lines file given in its place is read
into a store in memory first, so a record from a run without a store can
be reported on as it is.

Bad input (a file that is neither, a time no form reads, an unwritable
output) ends with one line on stderr and exit status 2, as everywhere in
vnet.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

import click

from vnet.events.store import (
    EventStore,
    StoreError,
    import_jsonl,
    open_reader,
    parse_record,
)
from vnet.events.times import MomentError, parse_moment
from vnet.export import KINDS, export
from vnet.report.model import build_report, to_json
from vnet.report.roles import ROLES
from vnet.report.trace import Decoder

USAGE_ERROR = 2
STORE_NAME = "events.sqlite"
LINES_NAME = "events.jsonl"
SECRET_NAME = "web-maze.secret"
SQLITE_MAGIC = b"SQLite format 3\x00"


def fail(message: str) -> NoReturn:
    click.echo(f"vnet: {message}", err=True)
    sys.exit(USAGE_ERROR)


def open_source(store: str | None, state_dir: str) -> tuple[sqlite3.Connection, str]:
    """A read connection to the store (or JSON lines) and the name shown."""
    path = Path(store) if store else _default_source(Path(state_dir))
    try:
        with open(path, "rb") as stream:
            magic = stream.read(len(SQLITE_MAGIC))
    except OSError as error:
        fail(f"{path}: cannot read the event store: {error.strerror}")
    try:
        if magic == SQLITE_MAGIC:
            return open_reader(path), str(path)
        return _lines_in_memory(path), str(path)
    except StoreError as error:
        fail(str(error))


def _default_source(state_dir: Path) -> Path:
    store = state_dir / STORE_NAME
    if store.exists():
        return store
    lines = state_dir / LINES_NAME
    if lines.exists():
        return lines
    fail(f"{state_dir}: no {STORE_NAME} or {LINES_NAME}; give --store FILE")


def _lines_in_memory(path: Path) -> sqlite3.Connection:
    with open(path, encoding="utf-8", errors="replace") as stream:
        first = next((line for line in stream if line.strip()), "")
    try:
        if first:
            parse_record(first)
    except ValueError:
        raise StoreError(f"{path}: neither an event store nor JSON lines") from None
    store = EventStore.open(":memory:")
    import_jsonl(path, store)
    return store.connection


def maze_decoder(secret_file: str | None, state_dir: str) -> Decoder | None:
    """The web maze's trap-address codec, when its secret can be read."""
    path = Path(secret_file) if secret_file else Path(state_dir) / SECRET_NAME
    if not path.exists():
        if secret_file:
            fail(f"--secret {secret_file}: no such file")
        return None
    # The codec belongs to the web maze service; only the command line
    # reaches up to it, the report itself takes any decoder.
    from services.web_maze import traps

    try:
        secret = traps.read_secret(path)
    except traps.TraceError as error:
        fail(str(error))

    def decode(address: str) -> tuple[str, float] | None:
        visit = traps.decode(address, secret)
        return None if visit is None else (visit.ip, visit.time)

    return decode


def moment(option: str, text: str | None, now: float) -> int | None:
    if text is None:
        return None
    try:
        return parse_moment(text, now)
    except MomentError as error:
        fail(f"{option}: {error}")


def write_output(path: str | None, text: str) -> None:
    if path is None or path == "-":
        click.echo(text, nl=False)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"{path}: cannot write: {error.strerror}")


# --- commands ---------------------------------------------------------------------

store_option = click.option(
    "--store",
    help="Event store or JSON lines [default: STATE_DIR/events.sqlite, "
    "else STATE_DIR/events.jsonl].",
)
state_option = click.option(
    "--state-dir", default="var", show_default=True, help="Where vnet run keeps state."
)


@click.command("report")
@store_option
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON, not tables.")
@click.option("--html", "html_path", help="Also write a self-contained HTML page.")
@click.option("--limit", default=50, show_default=True, help="Rows per table (0: all).")
@click.option("--secret", help="The web maze's secret, to decode trap addresses.")
def report_command(
    store: str | None,
    state_dir: str,
    as_json: bool,
    html_path: str | None,
    limit: int,
    secret: str | None,
) -> None:
    """Trace each spammed trap address back to its harvest; tables by default."""
    from vnet.report.html import render_html
    from vnet.report.text import render_text

    db, name = open_source(store, state_dir)
    report = build_report(db, maze_decoder(secret, state_dir), store=name)
    if html_path:
        write_output(html_path, render_html(report))
    if as_json:
        click.echo(json.dumps(to_json(report), indent=2))
    else:
        click.echo(render_text(report, limit), nl=False)
        if html_path:
            click.echo(f"HTML report: {html_path}")


@click.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@store_option
@state_option
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES),
              help="Only these roles (repeatable) [default: all].")  # fmt: skip
@click.option("--since", help="From this time: ISO 8601, a Unix time, or 6h, 2d.")
@click.option("--until", help="Up to this time (same forms).")
@click.option("-o", "--output", help="Write here instead of standard output.")
@click.option("--zone", default="bl.example.test", show_default=True,
              help="rbldnsd: the zone's name.")  # fmt: skip
@click.option("--table", default="vnet", show_default=True,
              help="nftables: the table's name.")  # fmt: skip
@click.option("--secret", help="csv: the web maze's secret, to decode addresses.")
def export_command(
    kind: str,
    store: str | None,
    state_dir: str,
    roles: tuple[str, ...],
    since: str | None,
    until: str | None,
    output: str | None,
    zone: str,
    table: str,
    secret: str | None,
) -> None:
    """Export offending sources (list, rbldnsd, nftables, stix) or the trace (csv)."""
    import time

    now = time.time()
    low, high = moment("--since", since, now), moment("--until", until, now)
    db, _ = open_source(store, state_dir)
    decoder = maze_decoder(secret, state_dir) if kind == "csv" else None
    try:
        text = export(kind, db, roles, low, high, now, decoder, zone=zone, table=table)
    except ValueError as error:
        fail(str(error))
    write_output(output, text)


@click.group("events")
def events_group() -> None:
    """The event store."""


@events_group.command("import")
@click.argument("jsonl", type=click.Path(dir_okay=False))
@click.option("--store", help="The store to add to [default: STATE_DIR/events.sqlite].")
@state_option
def import_command(jsonl: str, store: str | None, state_dir: str) -> None:
    """Rebuild (or add to) an event store from a JSON-lines record."""
    target = Path(store) if store else Path(state_dir) / STORE_NAME
    try:
        with EventStore.open(target) as writer:
            count = import_jsonl(jsonl, writer)
    except StoreError as error:
        fail(str(error))
    except OSError as error:
        fail(f"{error.filename or jsonl}: {error.strerror}")
    click.echo(f"vnet: imported {count} events into {target}")
