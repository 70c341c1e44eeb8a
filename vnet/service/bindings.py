"""The topology's services, loaded and checked once before vnet serves.

Each place in the topology that binds a service to a port (a template's or
a host's `tcp/25: {service: smtp-relay, options: {...}}`) becomes one
`ServiceBinding`: the Service instance, made once with its checked options,
and shared by every host that inherits that line. A name that no module
answers to, or options the service's schema rejects, is a TopologyError at
that line, so `vnet check` and `vnet run` report it as they report any other
mistake in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vnet.config import TopologyError
from vnet.service.api import Environment, Service, ServiceError
from vnet.service.command import CommandService
from vnet.service.options import OptionsError, check_options
from vnet.service.registry import UnknownService, builtin_names, find_service


@dataclass(frozen=True)
class ServiceBinding:
    service: Service
    options: Mapping[str, Any]
    protocol: str
    port: int


def service_class(topology: Any, spec: Any) -> type[Service]:
    """The class a PortSpec names, or a TopologyError pointing at it."""
    if not isinstance(spec.service, str):
        return CommandService
    try:
        return find_service(spec.service)
    except UnknownService as error:
        hint = None
        if error.suggestions:
            hint = f"did you mean {error.suggestions[0]!r}?"
        allowed = "a service in services/ (" + ", ".join(builtin_names()) + ")"
        allowed += " or an importable module:Class"
        raise TopologyError.at(
            topology, (*spec.origin, "service"), spec.service, allowed, hint
        ) from None


def binding_options(topology: Any, spec: Any, cls: type[Service]) -> dict:
    """The PortSpec's options, checked against the service's schema."""
    if cls is CommandService:
        raw, where = spec.service, (*spec.origin, "service")
    else:
        raw, where = spec.options, (*spec.origin, "options")
    try:
        return check_options(cls, raw)
    except OptionsError as error:
        raise TopologyError.at(
            topology, (*where, *error.path), "options", error.message
        ) from None


class ServiceTable:
    """Every binding of a topology, by the place that wrote it."""

    def __init__(self, topology: Any, environment: Environment) -> None:
        self.topology = topology
        self.environment = environment
        self._bindings: dict[tuple, ServiceBinding] = {}
        self._by_template: dict[int, dict[tuple[str, int], ServiceBinding]] = {}
        for host in topology.hosts:
            self.for_template(host.template)

    def for_template(self, template: Any) -> dict[tuple[str, int], ServiceBinding]:
        """(protocol, port) -> binding, for one resolved template."""
        key = id(template)
        found = self._by_template.get(key)
        if found is None:
            found = {
                spec.key: self._binding(spec)
                for spec in template.ports.values()
                if spec.service is not None
            }
            self._by_template[key] = found
        return found

    def _binding(self, spec: Any) -> ServiceBinding:
        where = tuple(spec.origin) or (spec.protocol, spec.port)
        binding = self._bindings.get(where)
        if binding is None:
            cls = service_class(self.topology, spec)
            options = binding_options(self.topology, spec, cls)
            try:
                service = cls(options, self.environment)
            except ServiceError as error:
                # Checks a schema cannot express (min above max, a corpus
                # file that cannot be read) are still mistakes in the file.
                where = (*spec.origin, "options")
                raise TopologyError.at(
                    self.topology, where, "options", str(error)
                ) from None
            binding = ServiceBinding(service, options, spec.protocol, spec.port)
            self._bindings[where] = binding
        return binding

    @property
    def bindings(self) -> list[ServiceBinding]:
        return list(self._bindings.values())

    def close(self) -> None:
        for binding in self._bindings.values():
            binding.service.close()


def check_services(topology: Any) -> None:
    """Check every service name and its options, without starting any."""
    for host in topology.hosts:
        for spec in host.template.ports.values():
            if spec.service is not None:
                binding_options(topology, spec, service_class(topology, spec))
