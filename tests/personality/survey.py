"""How many fingerprints an offline nmap scan names exactly.

    .venv/bin/python -m tests.personality.survey [--every N] [--jitter SECONDS]

runs one simulated nmap round (tests/personality/nmap_model.py) against a
behaviour made from each fingerprint (every Nth, default all), scores what
it observes against that fingerprint, and prints the share of exact matches
and the attributes that missed most often.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Iterable
from typing import NamedTuple

from tests.personality.nmap_model import Timing, observe
from vnet.personality import Database, Fingerprint, behaviour, load, mismatches


class Survey(NamedTuple):
    scanned: int
    exact: int
    misses: collections.Counter[tuple[str, str]]
    examples: dict[tuple[str, str], list[str]]
    seconds: float

    @property
    def share(self) -> float:
        return self.exact / self.scanned if self.scanned else 0.0


def survey(
    database: Database,
    fingerprints: Iterable[Fingerprint],
    timing: Timing = Timing(),  # noqa: B008 - an immutable NamedTuple
) -> Survey:
    started = time.perf_counter()
    misses: collections.Counter[tuple[str, str]] = collections.Counter()
    examples: dict[tuple[str, str], list[str]] = {}
    scanned = exact = 0
    for fingerprint in fingerprints:
        scanned += 1
        host = behaviour(fingerprint, fingerprint.position, 86400.0)
        observed = observe(host, fingerprint.position, timing=timing)
        wrong = mismatches(fingerprint.tests, observed, database.match_points)
        exact += not wrong
        for miss in wrong:
            key = (miss.test, miss.attribute)
            misses[key] += 1
            note = (
                f"{fingerprint.selector(database)}: {miss.observed} !~ {miss.expected}"
            )
            examples.setdefault(key, []).append(note)
    return Survey(scanned, exact, misses, examples, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--jitter", type=float, default=Timing().jitter)
    arguments = parser.parse_args()
    database = load()
    timing = Timing(jitter=arguments.jitter)
    result = survey(database, database.fingerprints[:: arguments.every], timing)
    print(
        f"{result.exact}/{result.scanned} exact ({100 * result.share:.2f}%) "
        f"in {result.seconds:.0f} s"
    )
    for (test, attribute), count in result.misses.most_common(25):
        print(f"{count:5} {test}.{attribute}: {result.examples[(test, attribute)][0]}")


if __name__ == "__main__":
    main()
