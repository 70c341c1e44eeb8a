"""`vnet selftest nmap`: does nmap name each emulated fingerprint exactly?

It makes a namespace, serves one virtual host per chosen fingerprint (each
with one open and one closed TCP port, and closed UDP), runs a single
`nmap -O -n -Pn` against all of them, and compares what nmap names with what
was configured. nmap's XML output gives each guess with the line of its
fingerprint in nmap-os-db, so repeated names are told apart exactly.

An exact match is a 100% guess at the configured fingerprint: at its line,
or under its name, since nmap lists only the best entry of each name and so
cannot tell repeated names apart. A near miss names the configured
fingerprint among nmap's guesses below 100%, with its score; anything else
is no match.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vnet.netns import Namespace, VnetProcess
from vnet.personality.database import Database, Fingerprint

# One host per fingerprint, on the TAP's own network first, then routed.
ADDRESS_BLOCKS = (("192.0.2.", 1, 253), ("198.51.100.", 1, 254), ("203.0.113.", 1, 254))
OPEN_PORT, CLOSED_PORT = 80, 81


@dataclass
class Verdict:
    fingerprint: Fingerprint
    address: str
    exact: bool
    score: int | None  # nmap's accuracy for the configured fingerprint
    top: str | None  # nmap's first guess, with its accuracy
    best: bool = False  # the configured fingerprint is among the best guesses

    @property
    def outcome(self) -> str:
        if self.exact:
            return "exact"
        if self.score is not None:
            return f"guess {self.score}%"
        return "no match"


def addresses(count: int) -> list[str]:
    found = [
        f"{prefix}{number}"
        for prefix, first, last in ADDRESS_BLOCKS
        for number in range(first, last + 1)
    ]
    if count > len(found):
        raise ValueError(f"at most {len(found)} fingerprints at once")
    return found[:count]


def sample(database: Database, count: int, seed: int) -> list[Fingerprint]:
    """A seeded random sample of the database, in database order."""
    chosen = random.Random(seed).sample(range(len(database)), count)
    return [database.fingerprints[position] for position in sorted(chosen)]


def topology(database: Database, chosen: Sequence[Fingerprint]) -> str:
    """A topology with one host per fingerprint; names quoted as JSON."""
    lines = [
        "version: 1",
        "attach: {tap: vnet0, host_address: 192.0.2.254/24}",
        "templates:",
        f"  probe: {{tcp: closed, udp: closed, ports: {{tcp/{OPEN_PORT}: open}}}}",
        "hosts:",
    ]
    for fingerprint, address in zip(chosen, addresses(len(chosen)), strict=True):
        selector = json.dumps(fingerprint.selector(database))
        lines.append(
            f"  - {{address: {address}, template: probe, personality: {selector}}}"
        )
    return "\n".join(lines) + "\n"


def parse_nmap_xml(text: str) -> dict[str, list[tuple[str, int, int]]]:
    """Address -> nmap's guesses as (name, accuracy, database line)."""
    guesses: dict[str, list[tuple[str, int, int]]] = {}
    for host in ElementTree.fromstring(text).iter("host"):
        address = host.find("address").get("addr", "")  # type: ignore[union-attr]
        guesses[address] = [
            (match.get("name", ""), int(match.get("accuracy", 0)),
             int(match.get("line", 0)))
            for match in host.iter("osmatch")
        ]  # fmt: skip
    return guesses


def judge(
    fingerprint: Fingerprint, address: str, guesses: list[tuple[str, int, int]]
) -> Verdict:
    score = None
    for name, accuracy, line in guesses:
        same = line == fingerprint.line or name == fingerprint.name
        if same and (score is None or accuracy > score):
            score = accuracy
    top = f"{guesses[0][0]} ({guesses[0][1]}%)" if guesses else None
    best = score is not None and score == max(accuracy for _, accuracy, _ in guesses)
    return Verdict(fingerprint, address, score == 100, score, top, best)


def run_nmap(namespace: Namespace, targets: Sequence[str], workdir: Path) -> str:
    output = workdir / "nmap.xml"
    command = [
        "nmap", "-O", "-n", "-Pn", "--osscan-guess",
        "-p", f"{OPEN_PORT},{CLOSED_PORT}", "-oX", str(output), *targets,
    ]  # fmt: skip
    namespace.run(*command, timeout=1800)
    return output.read_text()


def selftest(
    database: Database,
    chosen: Sequence[Fingerprint],
    progress: Callable[[str], None] = lambda message: None,
) -> list[Verdict]:
    """Emulate `chosen` and return nmap's verdict on each."""
    workdir = Path(tempfile.mkdtemp(prefix="vnet-selftest-"))
    path = workdir / "topology.yaml"
    path.write_text(topology(database, chosen))
    targets = addresses(len(chosen))
    namespace = Namespace.create("vnet-selftest")
    process = VnetProcess(namespace, path, workdir)
    try:
        process.wait_ready()
        progress(f"nmap -O against {len(targets)} virtual hosts")
        guesses = parse_nmap_xml(run_nmap(namespace, targets, workdir))
        status = process.stop()
        if status != 0:
            raise RuntimeError(f"vnet exited {status}:\n{process.stderr()}")
    finally:
        process.kill()
        process.cleanup()
        namespace.delete()
    return [
        judge(fingerprint, address, guesses.get(address, []))
        for fingerprint, address in zip(chosen, targets, strict=True)
    ]


def table(verdicts: Sequence[Verdict]) -> str:
    width = max(len(verdict.fingerprint.name) for verdict in verdicts)
    width = min(width, 60)
    rows = [f"{'configured':{width}}  {'outcome':10}  nmap's first guess"]
    for verdict in verdicts:
        name = verdict.fingerprint.name[:width]
        rows.append(f"{name:{width}}  {verdict.outcome:10}  {verdict.top or '-'}")
    exact = sum(verdict.exact for verdict in verdicts)
    best = sum(verdict.best for verdict in verdicts)
    count = len(verdicts)
    rows.append(
        f"exact: {exact}/{count} ({exact / count:.1%}); "
        f"best guess: {best}/{count} ({best / count:.1%})"
    )
    return "\n".join(rows)


def main_progress(message: str) -> None:
    print(f"selftest: {message}", file=sys.stderr, flush=True)


__all__ = ["selftest", "sample", "table", "Verdict"]
