"""Small topology texts for the config tests."""

from __future__ import annotations

import textwrap

# Two lines every test file starts with, so case texts stay short and their
# line numbers start at 3.
HEADER = "version: 1\nattach: {tap: vnet0, host_address: 192.0.2.254/24}\n"

TEMPLATES = """\
templates:
  base: {personality: "Linux 2.6.32 - 3.10", tcp: closed}
  web:
    inherits: base
    ports:
      tcp/80: {service: web-maze}
"""

# HEADER + TEMPLATES + this is a valid file of 10 lines.
HOSTS = """\
hosts:
  - {address: 198.51.100.10, template: web}
"""

VALID = HEADER + TEMPLATES + HOSTS


def topology(body: str) -> str:
    """HEADER followed by `body`, dedented."""
    return HEADER + textwrap.dedent(body)
