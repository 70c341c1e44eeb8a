"""Whatever the text, loading either succeeds or raises TopologyError.

A traceback from `vnet check` is a bug: every way a file can be wrong must
end in a TopologyError that names a place in the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vnet.config
from tests.config.helpers import VALID
from vnet.config import TopologyError

HONEYSPAM = (Path(__file__).parents[2] / "topologies" / "honeyspam.yaml").read_text()
SOURCES = [VALID, HONEYSPAM]

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

yamlish = st.text(
    alphabet=st.sampled_from(list("ab:{}[]-,. \n\t'\"&*!|>#%@`?019/<~\\") + ["\x00"]),
    max_size=200,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["open", "tcp/80", "udp/0", "198.51.100.0/24", "192.0.2.254", "3d", "web"]
    ),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def assert_loads_or_explains(text: str) -> None:
    try:
        vnet.config.loads(text, "fuzz.yaml")
    except TopologyError as error:
        message = str(error)
        assert message.startswith("fuzz.yaml")
        assert "\n" not in message
        if error.line is not None:
            assert 1 <= error.line <= text.count("\n") + 2
            assert error.column >= 1


@FUZZ
@given(yamlish)
def test_random_yamlish_text(text):
    assert_loads_or_explains(text)


@FUZZ
@given(
    st.sampled_from(SOURCES),
    st.lists(
        st.tuples(
            st.sampled_from(["delete", "insert", "duplicate", "swap"]),
            st.integers(min_value=0, max_value=10_000),
            st.integers(min_value=0, max_value=10_000),
            yamlish,
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_valid_files_mutated_as_text(source, edits):
    text = source
    for operation, at, other, insertion in edits:
        text = _edit(text, operation, at, other, insertion)
    assert_loads_or_explains(text)


def _edit(text: str, operation: str, at: int, other: int, insertion: str) -> str:
    at %= len(text) + 1
    if operation == "delete":
        return text[:at] + text[at + other % 40 :]
    if operation == "insert":
        return text[:at] + insertion + text[at:]
    lines = text.splitlines(keepends=True) or [""]
    first, second = at % len(lines), other % len(lines)
    if operation == "duplicate":
        lines.insert(first, lines[first])
    else:
        lines[first], lines[second] = lines[second], lines[first]
    return "".join(lines)


@FUZZ
@given(st.sampled_from(SOURCES), st.data())
def test_valid_files_mutated_as_data(source, data):
    document = yaml.safe_load(source)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        document = _mutate(document, data)
    assert_loads_or_explains(yaml.safe_dump(document, sort_keys=False))


def _mutate(node, data):
    """Replace, delete or add one value somewhere in the document."""
    if isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node, key=str)))
        action = data.draw(st.sampled_from(["descend", "replace", "delete", "add"]))
        if action == "descend":
            node[key] = _mutate(node[key], data)
        elif action == "replace":
            node[key] = data.draw(values)
        elif action == "delete":
            del node[key]
        else:
            node[data.draw(st.text(max_size=12))] = data.draw(values)
        return node
    if isinstance(node, list) and node and data.draw(st.booleans()):
        index = data.draw(st.integers(min_value=0, max_value=len(node) - 1))
        node[index] = _mutate(node[index], data)
        return node
    return data.draw(values)


def test_the_fuzz_sources_are_valid():
    for source in SOURCES:
        vnet.config.loads(source)
