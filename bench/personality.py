"""How often nmap names an emulated fingerprint exactly.

`vnet selftest nmap` on a seeded random sample of 200 fingerprints of the
installed nmap-os-db, one virtual host each, one `nmap -O` for all. The
figures are fractions of the same run: exact matches, and how often the
configured fingerprint is among nmap's best guesses. The fingerprints that
fail are listed with nmap's first guess.
"""

from __future__ import annotations

from bench.common import progress
from vnet import selftest
from vnet.personality import load

SAMPLE = 200
SEED = 2026


def run() -> dict:
    database = load()
    chosen = selftest.sample(database, SAMPLE, SEED)
    progress(f"nmap -O against {SAMPLE} sampled fingerprints (seed {SEED})")
    verdicts = selftest.selftest(database, chosen, progress)
    for verdict in verdicts:
        if not verdict.exact:
            progress(
                f"{verdict.outcome:10} {verdict.fingerprint.selector(database)}"
                f" -> {verdict.top}"
            )
    exact = sum(verdict.exact for verdict in verdicts)
    best = sum(verdict.best for verdict in verdicts)
    return {
        "nmap_fingerprints_sampled": len(verdicts),
        "nmap_exact_fraction": round(exact / len(verdicts), 3),
        "nmap_best_guess_fraction": round(best / len(verdicts), 3),
    }
