"""The web maze's options: their JSON Schema, and the settings they make.

Every option is optional; `Settings.from_options` fills the defaults, so a
bare `{service: web-maze}` is a complete maze. The schema is what `vnet
check` and `vnet serve --options` validate against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.web_maze.robots import DEFAULT_RULES

_COUNT = {"type": "integer", "minimum": 0}
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
_PERCENT = {"type": "number", "minimum": 0, "maximum": 50}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _object(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": properties,
    }


OPTIONS_SCHEMA: dict[str, Any] = _object(
    {
        "server": {
            "type": "string",
            "minLength": 1,
            "description": "Server header; default chosen from the personality.",
        },
        "locale": {"type": "string", "minLength": 2, "description": "Faker locale."},
        "corpus": {**_STRINGS, "description": "Text files for the Markov chain."},
        "secret_file": {
            "type": "string",
            "minLength": 1,
            "description": "Default: <state dir>/web-maze.secret.",
        },
        "links": _object(
            {
                "min": {**_COUNT, "maximum": 200},
                "max": {**_COUNT, "maximum": 200},
                "by": {"enum": ["auto", "name", "address"]},
                "hosts": {**_STRINGS, "description": "host[:port] links go to."},
            },
            "Links per page, and how they name the maze's hosts.",
        ),
        "addresses": _object(
            {
                "count": {**_COUNT, "maximum": 50},
                "format": {"enum": ["crawler", "opaque", "mixed"]},
                "domains": {**_STRINGS, "minItems": 1},
            },
            "Trap addresses per page; domains default to the trap domains.",
        ),
        "robots": {
            "type": "array",
            "description": "robots.txt groups (RFC 9309).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["agents"],
                "properties": {
                    "agents": {**_STRINGS, "minItems": 1},
                    "allow": {"type": "array", "items": {"type": "string"}},
                    "disallow": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "errors": _object(
            {"not_found_percent": _PERCENT, "redirect_percent": _PERCENT},
            "Share of paths that are missing or moved.",
        ),
        "slow": _object(
            {
                "who": {"enum": ["robots-ignored", "all"]},
                "delay_ms": {**_COUNT, "maximum": 600_000},
                "delay_step_ms": {**_COUNT, "maximum": 600_000},
                "delay_max_ms": {**_COUNT, "maximum": 600_000},
                "first_byte_ms": {**_COUNT, "maximum": 600_000},
                "bytes_per_second": {**_COUNT, "maximum": 1_000_000_000},
                "chunk_bytes": {"type": "integer", "minimum": 1, "maximum": 65536},
                "max_seconds": _SECONDS,
                "per_source": {**_COUNT, "maximum": 100_000},
                "total": {**_COUNT, "maximum": 1_000_000},
            },
            "Delays and slow drip for harvesters, bounded per source.",
        ),
        "limits": _object(
            {
                "header_timeout": _SECONDS,
                "header_timeout_max": _SECONDS,
                "min_rate": {"type": "integer", "minimum": 1},
                "body_timeout": _SECONDS,
                "keepalive_timeout": _SECONDS,
                "max_requests": {"type": "integer", "minimum": 1},
                "max_body": {"type": "integer", "minimum": 0},
            },
            "Apache's request limits and timeouts.",
        ),
    },
    "A web server whose pages are an endless maze with trap addresses.",
)


@dataclass(frozen=True)
class Slow:
    """Tarpit settings; all zero means every answer goes out at once."""

    who: str = "robots-ignored"
    delay_ms: int = 0
    delay_step_ms: int = 0
    delay_max_ms: int = 30_000
    first_byte_ms: int = 0
    bytes_per_second: int = 0
    chunk_bytes: int = 64
    max_seconds: float = 300.0
    per_source: int = 16
    total: int = 10_000

    @property
    def enabled(self) -> bool:
        return bool(
            self.delay_ms or self.delay_step_ms or self.first_byte_ms
            or self.bytes_per_second
        )  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Apache's defaults: mod_reqtimeout header=20-40,MinRate=500, body=20,
    KeepAliveTimeout 5, MaxKeepAliveRequests 100; LimitRequestBody is lower
    than Apache's 1 GiB, because nothing reads the body."""

    header_timeout: float = 20.0
    header_timeout_max: float = 40.0
    min_rate: int = 500
    body_timeout: float = 20.0
    keepalive_timeout: float = 5.0
    max_requests: int = 100
    max_body: int = 1 << 20


@dataclass(frozen=True)
class Settings:
    server: str | None
    locale: str
    corpus: tuple[str, ...]
    secret_file: str | None
    links_min: int
    links_max: int
    links_by: str
    link_hosts: tuple[str, ...]
    address_count: int
    address_format: str
    domains: tuple[str, ...]
    robots: tuple[Mapping[str, Any], ...]
    not_found_percent: float
    redirect_percent: float
    slow: Slow
    limits: Limits

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        """Defaults filled in; ValueError for what a schema cannot say."""
        links = options.get("links", {})
        addresses = options.get("addresses", {})
        errors = options.get("errors", {})
        settings = cls(
            server=options.get("server"),
            locale=options.get("locale", "en_US"),
            corpus=tuple(options.get("corpus", ())),
            secret_file=options.get("secret_file"),
            links_min=links.get("min", 2),
            links_max=links.get("max", 20),
            links_by=links.get("by", "auto"),
            link_hosts=tuple(links.get("hosts", ())),
            address_count=addresses.get("count", 4),
            address_format=addresses.get("format", "crawler"),
            domains=tuple(addresses.get("domains", ())),
            robots=tuple(options.get("robots", DEFAULT_RULES)),
            not_found_percent=errors.get("not_found_percent", 3.0),
            redirect_percent=errors.get("redirect_percent", 2.0),
            slow=Slow(**options.get("slow", {})),
            limits=Limits(**options.get("limits", {})),
        )
        if settings.links_min > settings.links_max:
            raise ValueError(
                f"links: min {settings.links_min} is above max {settings.links_max}"
            )
        if settings.limits.header_timeout_max < settings.limits.header_timeout:
            raise ValueError("limits: header_timeout_max is below header_timeout")
        return settings
