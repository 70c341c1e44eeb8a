"""A writer for the SIGKILL test: emits into a store until it is killed.

Run as `python -m tests.events.killed_writer STORE [INTERVAL]`. Every 5 ms it emits a
`test.tick`, and every 400th (about 2 s apart) an
`smtp.message.stored`; after each
emit returns it prints `SEQUENCE EVENT MONOTONIC` and flushes, so the test
knows what the writer believed was recorded, and when.
"""

from __future__ import annotations

import asyncio
import sys
import time

from vnet.events.store import EventStore

MESSAGE_EVERY = 400


async def write_forever(store: EventStore) -> None:
    sequence = 0
    while True:
        sequence += 1
        event = "smtp.message.stored" if sequence % MESSAGE_EVERY == 0 else "test.tick"
        fields = {"recipients": [f"trap{sequence}@example.test"]}
        store.emit(event, sequence=sequence, **(fields if "smtp" in event else {}))
        print(sequence, event, time.monotonic(), flush=True)
        await asyncio.sleep(0.005)


def main() -> None:
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    store = EventStore.open(sys.argv[1], interval=interval)
    asyncio.run(write_forever(store))


if __name__ == "__main__":
    main()
