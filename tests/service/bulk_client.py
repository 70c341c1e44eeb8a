"""A bulk client for the transport tests: `python -m tests.service.bulk_client
HOST PORT MEGABYTES`. It sends that many random bytes to an echo service while
reading the echo, and prints the SHA-256 of what it sent and what came back."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading


def main() -> None:
    host, port, megabytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = os.urandom(megabytes * 1_000_000)
    client = socket.create_connection((host, port), timeout=120)
    received = hashlib.sha256()
    count = [0]

    def read() -> None:
        while chunk := client.recv(262144):
            received.update(chunk)
            count[0] += len(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    client.sendall(data)
    client.shutdown(socket.SHUT_WR)
    reader.join()
    client.close()
    print(hashlib.sha256(data).hexdigest(), received.hexdigest(), count[0])


if __name__ == "__main__":
    main()
