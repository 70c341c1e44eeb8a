"""`vnet report`, `vnet export` and `vnet events import` as a user runs them."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from tests.events.campaign import Campaign
from tests.report.scenario import build
from vnet.events import EventLog
from vnet.report.commands import events_group, export_command, report_command


@click.group()
def vnet() -> None:
    """The commands as vnet/cli.py adds them."""


vnet.add_command(report_command)
vnet.add_command(export_command)
vnet.add_command(events_group)


def run(*arguments: str):
    return CliRunner().invoke(vnet, list(arguments), catch_exceptions=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build(tmp_path_factory.mktemp("commands") / "events.sqlite").path


@pytest.fixture
def lines(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog.open(str(path))
    campaign = Campaign(log.write)
    issued = campaign.crawl("203.0.113.66", "EmailSiphon", pages=2)
    campaign.via_proxy("203.0.113.50", [issued[0].address])
    log.close()
    return path, issued[0].address


def test_report_prints_tables(store):
    result = run("report", "--store", str(store))
    assert result.exit_code == 0
    assert result.output.startswith(f"vnet report: {store}:")
    assert "Trace: 5 trap addresses received mail" in result.output


def test_report_json_and_html_together(store, tmp_path):
    page = tmp_path / "report.html"
    result = run("report", "--store", str(store), "--json", "--html", str(page))
    assert result.exit_code == 0
    assert len(json.loads(result.output)["trace"]) == 5
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_report_reads_json_lines_in_place_of_a_store(lines):
    path, address = lines
    result = run("report", "--store", str(path))
    assert result.exit_code == 0 and address in result.output


def test_report_finds_the_run_s_records_in_the_state_dir(lines):
    path, address = lines
    result = run("report", "--state-dir", str(path.parent))
    assert result.exit_code == 0 and address in result.output


def test_report_decodes_with_the_maze_secret(tmp_path):
    from services.web_maze import traps

    secret = traps.ensure_secret(tmp_path / "web-maze.secret")
    address = traps.opaque_address(
        secret, "anna.", "203.0.113.44", 1_795_990_000_000, "example.test"
    )
    log = EventLog.open(str(tmp_path / "events.jsonl"))
    log.emit("smtp.message.stored", peer="203.0.113.52", service="smtp-sink",
             recipients=[address])  # fmt: skip
    log.close()
    result = run("report", "--state-dir", str(tmp_path))
    assert "by 203.0.113.44" in result.output
    assert "decoded from the address" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["report", "--store", "/nonexistent/x.db"], "cannot read the event store"),
        (["report", "--state-dir", "/nonexistent"], "give --store FILE"),
        (["export", "list", "--store", "{store}", "--since", "soon"], "--since"),
        (["export", "csv", "--store", "{store}", "--secret", "/nope"], "--secret"),
        (["report", "--store", "{junk}"], "neither an event store nor JSON"),
    ],
)
def test_bad_input_is_one_line_and_status_2(store, tmp_path, arguments, message):
    junk = tmp_path / "junk"
    junk.write_text("not a record\n")
    arguments = [a.format(store=store, junk=junk) for a in arguments]
    result = CliRunner().invoke(vnet, arguments)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_export_to_a_file_with_a_role_and_a_window(store, tmp_path):
    output = tmp_path / "list.txt"
    result = run(
        "export", "list", "--store", str(store), "--role", "harvester",
        "--until", "2026-11-30T02:00:00Z", "-o", str(output),
    )  # fmt: skip
    assert result.exit_code == 0 and result.output == ""
    assert output.read_text().split() == ["192.0.2.99", "203.0.113.66", "203.0.113.77"]
    later = run("export", "list", "--store", str(store), "--role", "harvester",
                "--since", "2026-11-30T02:00:00Z")  # fmt: skip
    assert later.output == ""


def test_export_kinds_are_checked_by_click(store):
    result = CliRunner().invoke(vnet, ["export", "pdf", "--store", str(store)])
    assert result.exit_code == 2 and "'pdf' is not one of" in result.output


def test_events_import_rebuilds_a_store(lines, tmp_path):
    path, address = lines
    target = tmp_path / "rebuilt.sqlite"
    result = run("events", "import", str(path), "--store", str(target))
    assert result.exit_code == 0
    count = len(path.read_text().splitlines())
    assert result.output == f"vnet: imported {count} events into {target}\n"
    report = run("report", "--store", str(target))
    assert address in report.output
