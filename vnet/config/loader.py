"""Load a topology file: read the YAML, check its shape, then its meaning.

Each stage raises TopologyError and nothing else for a bad file. The stages
run in order because each relies on the one before: the schema needs plain
data, and the semantic checks need data of the right shape.
"""

from __future__ import annotations

from pathlib import Path

from vnet.config import checks, schema, source
from vnet.config.errors import TopologyError
from vnet.config.model import Topology


def load(path: str | Path) -> Topology:
    """Load and check the topology file at `path`."""
    name = str(path)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        found = f"a file that cannot be read ({reason})"
        raise TopologyError(
            name, None, None, "document", found, "a readable YAML file"
        ) from None
    return loads(_decode(data, name), name)


def loads(text: str, path: str = "<string>") -> Topology:
    """Check topology YAML given as text; `path` names it in messages."""
    data, marks = source.read(text, path)
    schema.validate(data, marks, path)
    return checks.build(data, marks, path)


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        found = f"the byte 0x{data[error.start]:02x}, which is not UTF-8"
        raise TopologyError(
            path, line, column, "document", found, "UTF-8 text"
        ) from None
