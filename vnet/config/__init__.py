"""Topology files: YAML checked against a published JSON Schema.

`load` reads a file and returns an immutable Topology, or raises
TopologyError naming the file, line, column and field at fault. The format
is documented in topologies/README.md and in the schema's descriptions
(`vnet schema` prints it).

Modules, in the order a file passes through them: `source` (YAML with
positions), `schema` (shape), `checks` (meaning, and building the `model`).
"""

from vnet.config.errors import TopologyError, suggest
from vnet.config.loader import load, loads
from vnet.config.model import (
    POLICIES,
    PROTOCOLS,
    Attach,
    FrozenMap,
    HostSpec,
    PortSpec,
    Template,
    Topology,
    freeze,
    thaw,
)
from vnet.config.schema import schema
from vnet.config.summary import show_routes, summarize

__all__ = [
    "POLICIES",
    "PROTOCOLS",
    "Attach",
    "FrozenMap",
    "HostSpec",
    "PortSpec",
    "Template",
    "Topology",
    "TopologyError",
    "freeze",
    "load",
    "loads",
    "schema",
    "show_routes",
    "suggest",
    "summarize",
    "thaw",
]
