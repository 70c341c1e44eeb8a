"""Finding a service by the name a topology gives it.

`service: web-maze` is the module `services.web_maze`; `service:
mypackage.honeypots:Telnet` (or `mypackage.honeypots.Telnet`) is a class
anywhere importable. A module names its service with a module-level
`SERVICE = TheClass`, or holds exactly one Service subclass.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from types import ModuleType

from vnet.service.api import Service

BUILTIN_PACKAGE = "services"


class UnknownService(LookupError):
    """No importable service has that name."""

    def __init__(self, name: str, reason: str, suggestions: list[str]) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.suggestions = suggestions


def builtin_names() -> list[str]:
    """The names of the services shipped in `services/`."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(
        module.name.replace("_", "-")
        for module in pkgutil.iter_modules(package.__path__)
        if not module.name.startswith("_")
    )


def find_service(name: str) -> type[Service]:
    """The Service class that `name` refers to, or UnknownService."""
    if ":" in name:
        module_name, _, class_name = name.partition(":")
        return _class_in(_import(name, module_name), class_name, name)
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        return _class_in(_import(name, module_name), class_name, name)
    module_name = f"{BUILTIN_PACKAGE}.{name.replace('-', '_')}"
    return _service_of(_import(name, module_name), name)


def _import(name: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and not module_name.startswith(error.name):
            raise
        close = difflib.get_close_matches(name, builtin_names(), n=3)
        raise UnknownService(name, "no such service", close) from None


def _class_in(module: ModuleType, class_name: str, name: str) -> type[Service]:
    found = getattr(module, class_name, None)
    if not (inspect.isclass(found) and issubclass(found, Service)):
        raise UnknownService(name, f"{class_name} is not a Service class", [])
    return found


def _service_of(module: ModuleType, name: str) -> type[Service]:
    declared = getattr(module, "SERVICE", None)
    if inspect.isclass(declared) and issubclass(declared, Service):
        return declared
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Service)
        and value is not Service
        and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise UnknownService(name, "module defines no single Service class", [])
    return classes[0]
