"""`make bench`: run every benchmark and print its figures."""

from __future__ import annotations

import json
import sys

from bench import icmp, maze, memory, personality, report, routing, smtp, tcp

BENCHMARKS = [
    ("ICMP echo through the engine", icmp.run),
    ("What address ranges cost", memory.run),
    ("TCP through the virtual stack", tcp.run),
    ("Forwarding through virtual routers", routing.run),
    ("Durable messages into the open relay", smtp.run),
    ("Web maze pages and slow drip", maze.run),
    ("nmap -O against sampled fingerprints", personality.run),
    ("Report and exports on 1,000,000 events", report.run),
]


def main() -> None:
    results = {}
    for title, run in BENCHMARKS:
        print(f"== {title}", file=sys.stderr, flush=True)
        figures = run()
        for name, value in figures.items():
            print(f"{name}: {value}", flush=True)
        results.update(figures)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
