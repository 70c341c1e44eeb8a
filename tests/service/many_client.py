"""Holds COUNT connections open at once to an echo service, then checks each
echoes its own line: `python -m tests.service.many_client HOST PORT COUNT`.
Prints the number of connections that echoed correctly."""

from __future__ import annotations

import asyncio
import resource
import sys


async def one(host: str, port: int, number: int, gate: asyncio.Event) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    await gate.wait()
    line = f"connection {number}\n".encode()
    writer.write(line)
    echoed = await asyncio.wait_for(reader.readline(), 60)
    writer.close()
    await writer.wait_closed()
    return echoed == line


async def main() -> None:
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_NOFILE, (count + 100, count + 100))
    gate = asyncio.Event()
    tasks = [asyncio.ensure_future(one(host, port, n, gate)) for n in range(count)]
    while sum(task.done() for task in tasks) == 0 and not gate.is_set():
        await asyncio.sleep(0.5)
        gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    print(sum(result is True for result in results))


if __name__ == "__main__":
    asyncio.run(main())
