"""The topology JSON Schema, and its errors turned into TopologyErrors.

The schema (topology.schema.json, draft 2020-12) is the published contract
for the shape of a file; editors can use it as it is. Its `x-allowed`
keywords are ours: a short phrase for "allowed: ..." in messages, because
a regular expression or a list of alternatives tells a user little.

jsonschema reports every violation. We explain each one at the field it
concerns and report the one that comes first in the file, so fixing errors
from the top down never shows a later one first.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from vnet.config import units
from vnet.config.errors import (
    MISSING,
    TopologyError,
    choice_list,
    did_you_mean,
    field_name,
    show,
    suggest,
)
from vnet.config.source import FieldPath, Marks

SCHEMA_FILE = Path(__file__).with_name("topology.schema.json")

# A type phrase is only a guess at what to say when a schema gives no x-allowed.
_TYPE_PHRASES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_GUESSES = set(_TYPE_PHRASES.values())


@functools.cache
def _document() -> dict[str, Any]:
    with open(SCHEMA_FILE, encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


@functools.cache
def _validator() -> Any:
    return _Validator(_document())


_DOLLAR = re.compile(r"(?<!\\)\$")


@functools.lru_cache(maxsize=64)
def _ecma(pattern: str) -> re.Pattern[str]:
    """A JSON Schema pattern compiled so that `$` means the end of the text.

    That is ECMA-262's meaning. Python's `$` also matches before a final
    newline, so plain `re.search` would let "vnet0\n" pass as a TAP name.
    """
    return re.compile(_DOLLAR.sub(r"$(?!\\n)", pattern))


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterable[ValidationError]:
    if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def schema() -> dict[str, Any]:
    """The topology JSON Schema (a copy: callers may change it freely)."""
    return copy.deepcopy(_document())


def validate(data: Any, marks: Marks, path: str) -> None:
    """Raise a TopologyError for the first schema violation in the file."""
    # Limitation: one error per run. `vnet check` promises one message, and
    # a second error is often a consequence of the first.
    errors = _without_shadowed(list(_validator().iter_errors(data)))
    explained = [_explain(error, marks, path) for error in errors]
    if explained:
        raise min(explained, key=_file_order)


def _without_shadowed(errors: list[ValidationError]) -> list[ValidationError]:
    """Drop "missing key" where the same mapping has an unknown key.

    `hsots:` is both an unknown key and a missing `hosts`; the unknown key,
    with its "did you mean 'hosts'?", is the useful message.
    """
    unknown = {
        tuple(error.absolute_path)
        for error in errors
        if error.validator == "additionalProperties"
    }
    return [
        error
        for error in errors
        if error.validator != "required" or tuple(error.absolute_path) not in unknown
    ]


def _file_order(error: TopologyError) -> tuple[int, int]:
    return error.line or 0, error.column or 0


def _explain(
    error: ValidationError, marks: Marks, path: str, outer: str | None = None
) -> TopologyError:
    """`outer` is the allowed-phrase of an enclosing anyOf, if there is one."""
    where = tuple(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path:
        explained = _bad_key(error, where, marks, path)
    else:
        explain = _EXPLAINERS.get(str(error.validator), _generic)
        explained = explain(error, where, marks, path)
    if outer and "x-allowed" not in error.schema and explained.allowed in _GUESSES:
        return TopologyError(
            explained.path,
            explained.line,
            explained.column,
            explained.field,
            explained.found,
            outer,
            explained.hint,
        )
    return explained


def _bad_key(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    key = str(error.instance)
    field = (*where, key)
    line, column = marks.key(field)
    allowed = _allowed(error.schema, error)
    hint = _HINTS.get(error.schema.get("x-hint", ""), _no_hint)(key)
    return TopologyError(
        path, line, column, field_name(field), show(key), allowed, hint
    )


def _unknown_keys(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    known = list(error.schema.get("properties", {}))
    patterns = list(error.schema.get("patternProperties", {}))
    extra = [
        key
        for key in error.instance
        if key not in known and not any(re.search(p, key) for p in patterns)
    ]
    key = min(extra, key=lambda key: marks.key((*where, key)))
    field = (*where, key)
    line, column = marks.key(field)
    found = f"the unknown key {key!r}"
    allowed = f"the keys {choice_list(known, limit=12)}"
    return TopologyError(
        path, line, column, field_name(field), found, allowed, did_you_mean(key, known)
    )


def _missing_key(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    required = error.schema.get("required", [])
    key = next(key for key in required if key not in error.instance)
    field = (*where, key)
    line, column = marks.value(where)
    subschema = _resolve(error.schema.get("properties", {}).get(key, {}))
    allowed = _allowed(subschema, None)
    return TopologyError(path, line, column, field_name(field), show(MISSING), allowed)


def _alternatives(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    """anyOf/oneOf: explain the branch meant for a value of this type.

    `tcp/80: opne` fails both "a policy" and "a mapping"; the string branch
    is the one the user meant, and its error can suggest 'open'.
    """
    branches = [_resolve(branch) for branch in error.schema[error.validator]]
    fitting = [
        index
        for index, branch in enumerate(branches)
        if _type_fits(branch, error.instance)
    ]
    if len(fitting) == 1:
        inner = [
            sub
            for sub in error.context or []
            if sub.relative_schema_path[0] == fitting[0]
        ]
        if inner:
            outer = _allowed(error.schema, error)
            explained = [_explain(sub, marks, path, outer) for sub in inner]
            return min(explained, key=_file_order)
    return _generic(error, where, marks, path)


def _choices(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    values = error.schema.get("enum", [error.schema.get("const")])
    words = [str(value) for value in values]
    line, column = marks.value(where)
    allowed = _allowed(error.schema, error)
    return TopologyError(
        path,
        line,
        column,
        field_name(where),
        show(error.instance),
        allowed,
        did_you_mean(error.instance, words),
    )


def _repeated_item(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    items = error.instance
    second = next((i for i, item in enumerate(items) if item in items[:i]), None)
    if second is None:
        return _generic(error, where, marks, path)
    first = items.index(items[second])
    field = (*where, second)
    line, column = marks.value(field)
    hint = f"it is already item {first}, at line {marks.value((*where, first))[0]}"
    return TopologyError(
        path,
        line,
        column,
        field_name(field),
        show(items[second]),
        "each item once",
        hint,
    )


def _generic(
    error: ValidationError, where: FieldPath, marks: Marks, path: str
) -> TopologyError:
    line, column = marks.value(where)
    allowed = _allowed(error.schema, error)
    hint = _HINTS.get(error.schema.get("x-hint", ""), _no_hint)(error.instance)
    return TopologyError(
        path, line, column, field_name(where), show(error.instance), allowed, hint
    )


def _allowed(subschema: dict[str, Any], error: ValidationError | None) -> str:
    if "x-allowed" in subschema:
        return str(subschema["x-allowed"])
    kind = subschema.get("type")
    if isinstance(kind, str) and kind in _TYPE_PHRASES:
        return _TYPE_PHRASES[kind]
    return error.message if error is not None else "a value"


def _resolve(subschema: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (all of ours point into #/$defs/)."""
    reference = subschema.get("$ref", "")
    if not reference.startswith("#/$defs/"):
        return subschema
    resolved: dict[str, Any] = _document()["$defs"][reference.removeprefix("#/$defs/")]
    return _resolve(resolved)


def _type_fits(subschema: dict[str, Any], value: Any) -> bool:
    kind = subschema.get("type")
    kinds: Iterable[str] = [kind] if isinstance(kind, str) else kind or []
    return any(_validator().is_type(value, name) for name in kinds)


def _port_hint(key: object) -> str | None:
    """Suggest a port key for `80`, `TCP/80`, `tpc/80` or `tcp/080`."""
    if not isinstance(key, str):
        return None
    if key.isdigit():
        return f"write 'tcp/{key}' or 'udp/{key}'"
    protocol, _, number = key.partition("/")
    protocol = suggest(protocol.strip(), ["tcp", "udp"]) or ""
    number = number.strip()
    if not protocol or not number.isdigit() or not 0 < int(number) <= 65535:
        return None
    fixed = f"{protocol}/{int(number)}"
    return None if fixed == key else f"did you mean {fixed!r}?"


def _no_hint(value: object) -> str | None:
    return None


_Explainer = Callable[[ValidationError, FieldPath, Marks, str], TopologyError]

_EXPLAINERS: dict[str, _Explainer] = {
    "additionalProperties": _unknown_keys,
    "required": _missing_key,
    "anyOf": _alternatives,
    "oneOf": _alternatives,
    "enum": _choices,
    "const": _choices,
    "uniqueItems": _repeated_item,
}

_HINTS: dict[str, Callable[[object], str | None]] = {
    "port": _port_hint,
    "bandwidth": units.rate_hint,
}
