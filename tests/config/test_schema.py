"""The published JSON Schema: valid, documented, and agreeing with vnet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

import vnet.config
from vnet.config.schema import SCHEMA_FILE

SHIPPED = sorted(Path(__file__).parents[2].glob("topologies/**/*.yaml"))


def test_is_a_valid_draft_2020_12_schema():
    document = vnet.config.schema()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)


def test_is_stored_as_package_data():
    assert SCHEMA_FILE.name == "topology.schema.json"
    assert SCHEMA_FILE.parent == Path(vnet.config.__file__).parent


def test_callers_get_a_copy():
    vnet.config.schema()["properties"].clear()
    assert "hosts" in vnet.config.schema()["properties"]


def _properties(node, where=()):
    """Every (path, schema) under a `properties` keyword, anywhere."""
    if isinstance(node, dict):
        for name, child in node.get("properties", {}).items():
            yield (*where, name), child
        for key, child in node.items():
            yield from _properties(child, (*where, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _properties(child, (*where, index))


def _described(subschema, definitions):
    if "description" in subschema:
        return True
    reference = subschema.get("$ref", "")
    return reference.startswith("#/$defs/") and _described(
        definitions[reference.removeprefix("#/$defs/")], definitions
    )


def test_every_key_has_a_description():
    document = vnet.config.schema()
    keys = list(_properties(document))
    assert len(keys) >= 25
    undocumented = [
        where
        for where, subschema in keys
        if not _described(subschema, document["$defs"])
    ]
    assert undocumented == []
    assert all("description" in definition for definition in document["$defs"].values())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_shipped_topologies_satisfy_the_schema_alone(path):
    # What an editor would do with the published schema and any YAML parser.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(vnet.config.schema()).iter_errors(data)) == []


def test_the_schema_rejects_what_vnet_rejects_for_shape():
    validator = Draft202012Validator(vnet.config.schema())
    base = {"version": 1, "attach": {"host_address": "192.0.2.254/24"}}
    good = {**base, "hosts": [{"address": "198.51.100.10"}]}
    assert validator.is_valid(good)
    for bad in [
        {**base, "hosts": []},
        {**base, "hosts": [{"address": "198.51.100.10", "tpc": "open"}]},
        {**base, "hosts": [{"address": "198.51.100.10", "tcp": "opne"}]},
        {**base, "hosts": [{"address": "198.51.100.10", "ports": {"80": "open"}}]},
        {**base, "hosts": [{"address": "198.51.100.10", "uptime": "12x"}]},
        {**base, "hosts": [{"address": "198.51.100.10", "mac": "02:00:5e"}]},
    ]:
        assert not validator.is_valid(bad), bad
