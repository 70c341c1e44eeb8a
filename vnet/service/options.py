"""Checking a service's options against the JSON Schema it publishes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from vnet.service.api import Service


class OptionsError(ValueError):
    """Options that the service's schema rejects; `path` names the field."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def plain(value: Any) -> Any:
    """Frozen topology data as the dicts and lists jsonschema expects."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def check_options(service: type[Service], options: Mapping[str, Any]) -> dict:
    """The options as plain data, or OptionsError for the first bad field."""
    data = plain(options)
    validator = jsonschema.Draft202012Validator(service.options_schema)
    errors = sorted(validator.iter_errors(data), key=lambda error: error.path)
    if errors:
        first = errors[0]
        raise OptionsError(tuple(first.absolute_path), first.message)
    return data
