"""The errors of the personality layer.

Two kinds of mistake reach this layer, and both are the user's, not ours:
a fingerprint database that does not follow nmap's grammar, and a
personality name that selects nothing or more than one fingerprint. Each
carries what the configuration layer needs to print one helpful line.
"""

from __future__ import annotations

from collections.abc import Sequence


class PersonalityError(Exception):
    """Base of every error raised for bad user input in this package."""


class DatabaseError(PersonalityError):
    """A line of the fingerprint database that cannot be read.

    `line` is 1-based; it is None when the file could not be opened.
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {reason}")


class SelectionError(PersonalityError, LookupError):
    """A name, index or CPE that does not select exactly one fingerprint.

    `suggestions` are selector strings the user may have meant, best first.
    """

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = tuple(suggestions)
        if self.suggestions:
            shown = "; ".join(repr(text) for text in self.suggestions)
            message = f"{message}; did you mean {shown}?"
        super().__init__(message)
