"""The one error type for a bad topology, and the "did you mean" helper.

Every mistake in a topology file is reported the same way, whichever layer
finds it: the YAML reader, the schema, the semantic checks, or later the
engine (an unknown personality or MAC vendor). The message is one line that
names the file, line, column and field, what was found and what is allowed,
so `vnet check` can print it as it is and exit with status 2.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

# Marks a field that is absent, as opposed to present with a null value.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

_LONGEST_SHOWN = 60
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_/-]+")


class Locatable(Protocol):
    """Anything that knows its file and where each field sits (a Topology)."""

    path: str

    def locate(self, field: tuple[str | int, ...]) -> tuple[int, int]: ...


class TopologyError(Exception):
    """A topology file that cannot be used, with where and why.

    `line` and `column` are 1-based; both are None when the file could not be
    read at all. `field` is the dotted field name (`hosts[3].template`),
    `found` and `allowed` are short phrases, `hint` an optional suggestion.
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        column: int | None,
        field: str,
        found: str,
        allowed: str,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.field = field
        self.found = found
        self.allowed = allowed
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        text = f"{where}: {self.field}: found {self.found}; allowed: {self.allowed}"
        if self.hint:
            text += f"; {self.hint}"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        fields = self.path, self.line, self.column, self.field
        return type(self), (*fields, self.found, self.allowed, self.hint)

    @classmethod
    def at(
        cls,
        topology: Locatable,
        path: tuple[str | int, ...],
        found: object,
        allowed: str,
        hint: str | None = None,
    ) -> TopologyError:
        """An error about the field at `path` of a loaded topology.

        Later layers use this to report, in the same form, what only they can
        judge: `found` is the value they rejected, shown as YAML would show it.
        """
        line, column = topology.locate(path)
        return cls(
            topology.path, line, column, field_name(path), show(found), allowed, hint
        )


def field_name(path: Sequence[str | int]) -> str:
    """`("hosts", 3, "template")` -> `hosts[3].template`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "document"


def show(value: object) -> str:
    """A value as a short phrase for a message: `'web'`, `80`, `a list`."""
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _shorten(repr(value))
    if isinstance(value, int | float):
        return _shorten(str(value))
    if isinstance(value, Mapping):
        return _describe_mapping(value)
    if isinstance(value, list | tuple):
        if len(value) < 2:
            return "a list of 1 item" if value else "an empty list"
        return f"a list of {len(value)} items"
    return _shorten(repr(value))


def _describe_mapping(value: Mapping[Any, Any]) -> str:
    if not value:
        return "an empty mapping"
    return _shorten("a mapping with keys " + ", ".join(map(str, value)))


def _shorten(text: str) -> str:
    if len(text) <= _LONGEST_SHOWN:
        return text
    return text[: _LONGEST_SHOWN - 3] + "..."


def suggest(word: object, choices: Iterable[str]) -> str | None:
    """The choice nearest to `word`, if one is near enough to be a typo."""
    if not isinstance(word, str):
        return None
    choices = list(choices)
    for choice in choices:
        if choice.lower() == word.lower():
            return choice
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return close[0]
    # `web-servr` is too far from `web` for difflib, yet plainly meant it:
    # take the longest choice the word starts with, if it is not too short.
    prefixes = [
        choice
        for choice in choices
        if len(choice) >= 3 and word.lower().startswith(choice.lower())
    ]
    return max(prefixes, key=len) if prefixes else None


def did_you_mean(word: object, choices: Iterable[str]) -> str | None:
    """A hint of the form `did you mean 'web'?`, or None."""
    choice = suggest(word, choices)
    return None if choice is None else f"did you mean {choice!r}?"


def choice_list(choices: Iterable[str], limit: int = 8) -> str:
    """`base, web, mail` -- at most `limit` names, then how many more."""
    names = list(choices)
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown
