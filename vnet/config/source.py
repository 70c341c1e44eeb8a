"""Read topology YAML into plain data, remembering where every value sits.

PyYAML's composer gives a node tree whose nodes carry marks (line, column).
We build plain Python values from that tree ourselves, rather than with a
constructor, for four reasons:

- each value and each mapping key gets its position recorded under its field
  path, so the schema and semantic checks can point at it;
- a key that appears twice is an error, where PyYAML keeps the last one;
- scalars follow YAML 1.2's core schema. YAML 1.1, PyYAML's default, reads
  `no` as false, `12:30:00` as an integer in base 60, and some MAC addresses
  as numbers, which surprises anyone writing a host table;
- mapping keys are always taken as written (`80:` is the string "80"), so a
  port written without its protocol gets a message, not a type confusion.

Anchors and aliases work. Merge keys (`<<`) and tags other than the core
ones are rejected: templates and `inherits` do the job of merges here.
"""

from __future__ import annotations

import math
import re
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vnet.config.errors import TopologyError, field_name

FieldPath = tuple[str | int, ...]
Position = tuple[int, int]

# Deep nesting would exhaust the composer's recursion; no topology needs it.
MAX_DEPTH = 64
# Aliases can expand a small file enormously ("billion laughs"), so values
# reached through an alias are counted; plain values are bounded by the
# file's own size.
MAX_ALIASED_VALUES = 100_000

_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _Loader(yaml.SafeLoader):
    """A SafeLoader with YAML 1.2 core scalars and a nesting limit."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def __init__(self, stream: str, path: str) -> None:
        super().__init__(stream)
        self.topology_path = path
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line, column = _position(self.peek_event().start_mark)
                raise TopologyError(
                    self.topology_path,
                    line,
                    column,
                    "document",
                    f"values nested more than {MAX_DEPTH} deep",
                    "a topology nested a few levels deep",
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_Loader.add_implicit_resolver(_CORE + "null", _NULL, ["~", "n", "N", ""])
_Loader.add_implicit_resolver(_CORE + "bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver(_CORE + "int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver(_CORE + "float", _FLOAT, list("-+.0123456789"))


class Marks:
    """Where each value, and each mapping key, starts in the file (1-based)."""

    def __init__(self) -> None:
        self.values: dict[FieldPath, Position] = {}
        self.keys: dict[FieldPath, Position] = {}

    def value(self, path: FieldPath) -> Position:
        """The position of the value at `path`, or of its nearest ancestor.

        A field that is absent has no position of its own; pointing at the
        mapping that lacks it is the most useful place.
        """
        path = tuple(path)
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key(self, path: FieldPath) -> Position:
        """The position of the key that names `path` (its value if a list item)."""
        path = tuple(path)
        return self.keys.get(path) or self.value(path)


def read(text: str, path: str) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data and the marks of its fields."""
    node = _compose(text, path)
    if node is None:
        raise TopologyError(
            path,
            1,
            1,
            "document",
            "an empty file",
            "a mapping with version, attach, hosts",
        )
    builder = _Builder(path)
    return builder.value(node, ()), builder.marks


def _compose(text: str, path: str) -> Node | None:
    loader = None
    try:
        loader = _Loader(text, path)
        return loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, path) from None
    except yaml.reader.ReaderError as error:
        line, column = _offset_position(text, error.position)
        character = error.character
        if isinstance(character, int):
            character = chr(character)
        found = f"the character {character!r}"
        raise TopologyError(
            path, line, column, "document", found, "printable text"
        ) from None
    except yaml.YAMLError as error:
        raise TopologyError(
            path, None, None, "document", f"bad YAML ({error})", "well-formed YAML"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _syntax_error(error: yaml.MarkedYAMLError, path: str) -> TopologyError:
    mark = error.problem_mark or error.context_mark
    line, column = _position(mark) if mark else (None, None)
    problem = error.problem or error.context or "a syntax error"
    context = f"{error.context} {problem}"
    hint = None
    if "\t" in problem or "tab" in problem:
        hint = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "quote a value that contains ': '"
    elif "expected a single document" in context:
        hint = "keep one document per file (no second '---')"
    found = f"bad YAML ({problem})"
    return TopologyError(
        path, line, column, "document", found, "well-formed YAML", hint
    )


class _Builder:
    """Turns a node tree into dicts, lists and scalars, filling in Marks."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.marks = Marks()
        self.open_nodes: set[int] = set()
        self.built_nodes: set[int] = set()
        self.alias_depth = 0
        self.aliased = 0

    def value(self, node: Node, path: FieldPath) -> Any:
        self.marks.values[path] = _position(node.start_mark)
        if id(node) in self.open_nodes:
            self.fail(node, path, "an alias to itself", "aliases to finished values")
        reused = id(node) in self.built_nodes
        self.alias_depth += reused
        if self.alias_depth:
            self.count_aliased(node, path)

        self.open_nodes.add(id(node))
        try:
            return self.build(node, path)
        finally:
            self.open_nodes.discard(id(node))
            self.built_nodes.add(id(node))
            self.alias_depth -= reused

    def count_aliased(self, node: Node, path: FieldPath) -> None:
        self.aliased += 1
        if self.aliased > MAX_ALIASED_VALUES:
            found = f"aliases that expand to over {MAX_ALIASED_VALUES:,} values"
            self.fail(node, path, found, "fewer or smaller aliases")

    def build(self, node: Node, path: FieldPath) -> Any:
        if isinstance(node, MappingNode) and node.tag == _CORE + "map":
            return self.mapping(node, path)
        if isinstance(node, SequenceNode) and node.tag == _CORE + "seq":
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        found = f"the tag {_short_tag(node.tag)}"
        self.fail(node, path, found, "plain YAML values without tags")

    def mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            where = (*path, key)
            if key in result:
                line, _ = self.marks.keys[where]
                found = f"the key {key!r} a second time"
                hint = f"it is first set at line {line}"
                self.fail(key_node, where, found, "each key once per mapping", hint)
            self.marks.keys[where] = _position(key_node.start_mark)
            result[key] = self.value(value_node, where)
        return result

    def key(self, node: Node, path: FieldPath) -> str:
        if not isinstance(node, ScalarNode):
            self.fail(node, path, "a list or mapping used as a key", "plain keys")
        if node.value == "<<" and node.style is None:
            hint = "use 'inherits' between templates instead of YAML merges"
            self.fail(node, path, "a YAML merge key '<<'", "plain keys", hint)
        return str(node.value)

    def scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        tag, text = node.tag, node.value
        try:
            if tag == _CORE + "str":
                return text
            if tag == _CORE + "null" and _NULL.match(text):
                return None
            if tag == _CORE + "bool" and _BOOL.match(text):
                return text.lower() == "true"
            if tag == _CORE + "int":
                return _integer(text)
            if tag == _CORE + "float":
                return _float(text)
        except ValueError:
            pass
        found = f"{text!r} tagged {_short_tag(tag)}"
        self.fail(node, path, found, "plain YAML values without tags")

    def fail(
        self,
        node: Node,
        path: FieldPath,
        found: str,
        allowed: str,
        hint: str | None = None,
    ) -> NoReturn:
        line, column = _position(node.start_mark)
        raise TopologyError(
            self.path, line, column, field_name(path), found, allowed, hint
        )


def _short_tag(tag: str) -> str:
    """`tag:yaml.org,2002:int` -> `!!int`, as it is written in YAML."""
    if tag.startswith(_CORE):
        return "!!" + tag.removeprefix(_CORE)
    return tag


def _integer(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    if not _INT.match(text):
        raise ValueError(text)
    return int(text)


def _float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    if not _FLOAT.match(text):
        raise ValueError(text)
    return float(text)


def _position(mark: yaml.Mark) -> Position:
    return mark.line + 1, mark.column + 1


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    line = before.count("\n") + 1
    return line, offset - (before.rfind("\n") + 1) + 1


__all__ = ["Marks", "read"]
