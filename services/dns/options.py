"""The dns service's options: their JSON Schema, and the settings they make.

Every option is optional: a bare `{service: dns}` serves the zones the
topology implies. The schema checks the shape of every value, so that `vnet
check` points at a typo's line; what only the topology can decide (whether
a pool's addresses are virtual hosts) is checked when the service starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Debian 8's BIND, the name server a Linux 2.6.32 - 3.10 server would run.
# nmap's service probes read it as "ISC BIND 9.9.5 (Debian Linux 8.0)".
DEFAULT_VERSION = "9.9.5-9+deb8u19-Debian"
DEFAULT_TTL = 3600
DEFAULT_SPF = "v=spf1 mx -all"
DEFAULT_GENERATED = "host-{dashed}"
# BIND's own default for refresh, retry, expire and negative caching would
# be a week each; these are what a zone file written by hand tends to hold.
DEFAULT_SOA_TIMES = {"refresh": 10800, "retry": 3600, "expire": 604800, "minimum": 300}
DEFAULT_POOL_TTL = 30
DEFAULT_TCP_TIMEOUT = 30.0

RECORD_TYPES = ("A", "AAAA", "NS", "CNAME", "PTR", "MX", "TXT", "SRV")

_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
NAME_PATTERN = rf"^{_LABEL}(\.{_LABEL})*\.?$"
_NAME = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 253}
_TTL = {"type": "integer", "minimum": 0, "maximum": 2147483647}
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_ADDRESS = rf"{_OCTET}(\.{_OCTET}){{3}}"
ADDRESSES_PATTERN = rf"^{_ADDRESS}(-{_ADDRESS}|/([0-9]|[12][0-9]|3[0-2]))?$"

# The RDATA of each type, in zone-file form; names are absolute.
_VALUE_PATTERNS = {
    "A": rf"^{_ADDRESS}$",
    "AAAA": r"^[0-9A-Fa-f:.]{2,45}$",
    "NS": NAME_PATTERN,
    "CNAME": NAME_PATTERN,
    "PTR": NAME_PATTERN,
    "MX": rf"^[0-9]{{1,5}} +{NAME_PATTERN[1:-1]}$",
    "SRV": rf"^([0-9]{{1,5}} +){{3}}{NAME_PATTERN[1:-1]}$",
}

_TXT_STRING = {"type": "string", "maxLength": 255}


def _record_rule(rtype: str) -> dict[str, Any]:
    if rtype == "TXT":
        value: dict[str, Any] = {
            "anyOf": [
                _TXT_STRING,
                {"type": "array", "items": _TXT_STRING, "minItems": 1},
            ]
        }
    else:
        value = {"type": "string", "pattern": _VALUE_PATTERNS[rtype]}
    return {
        "if": {"properties": {"type": {"const": rtype}}},
        "then": {"properties": {"value": value}},
    }


RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "type", "value"],
    "properties": {
        "name": _NAME,
        "type": {"enum": list(RECORD_TYPES)},
        "value": {},
        "ttl": _TTL,
    },
    "allOf": [_record_rule(rtype) for rtype in RECORD_TYPES],
    "description": "A record set at `name`; it replaces the generated one.",
}

POOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "addresses"],
    "properties": {
        "name": _NAME,
        "addresses": {
            "type": "string",
            "pattern": ADDRESSES_PATTERN,
            "description": "A.B.C.D-A.B.C.E or a CIDR block of virtual hosts.",
        },
        "answers": {"type": "integer", "minimum": 1, "maximum": 16},
        "ttl": _TTL,
    },
    "description": "A name answering random addresses of a range per query.",
}

OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "version": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "The version.bind answer; default " + DEFAULT_VERSION,
        },
        "hostname": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "The hostname.bind answer; default the host's name.",
        },
        "ttl": _TTL,
        "zones": {"type": "array", "items": _NAME, "uniqueItems": True},
        "nameservers": {"type": "array", "items": _NAME, "minItems": 1},
        "contact": {**_NAME, "description": "SOA RNAME; default hostmaster.ZONE"},
        "serial": {"type": "integer", "minimum": 0, "maximum": 4294967295},
        "soa": {
            "type": "object",
            "additionalProperties": False,
            "properties": {key: _TTL for key in DEFAULT_SOA_TIMES},
        },
        "spf": {
            "anyOf": [{"type": "boolean"}, _TXT_STRING],
            "description": "TXT at each trap domain; default " + DEFAULT_SPF,
        },
        "generated_names": {
            "anyOf": [
                {"const": False},
                {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9-]*\{dashed\}[A-Za-z0-9-]*(\.[^.]+)*$",
                },
            ],
            "description": "Names of unnamed hosts, e.g. host-{dashed} (in the"
            " first zone) or dyn-{dashed}.example.test; false for none.",
        },
        "pools": {"type": "array", "items": POOL_SCHEMA},
        "records": {"type": "array", "items": RECORD_SCHEMA},
        "tcp_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "seed": {"type": "integer", "description": "Seed for pool answers."},
    },
}


@dataclass(frozen=True)
class Pool:
    name: str
    addresses: str
    answers: int = 1
    ttl: int = DEFAULT_POOL_TTL


@dataclass(frozen=True)
class Record:
    name: str
    rtype: str
    value: str | tuple[str, ...]
    ttl: int | None = None


@dataclass(frozen=True)
class Settings:
    """The options with their defaults filled in."""

    version: str = DEFAULT_VERSION
    hostname: str | None = None
    ttl: int = DEFAULT_TTL
    zones: tuple[str, ...] = ()
    nameservers: tuple[str, ...] = ()
    contact: str | None = None
    serial: int | None = None
    soa_times: tuple[int, ...] = tuple(DEFAULT_SOA_TIMES.values())
    spf: str | None = DEFAULT_SPF
    generated_names: str | None = DEFAULT_GENERATED
    pools: tuple[Pool, ...] = ()
    records: tuple[Record, ...] = ()
    tcp_timeout: float = DEFAULT_TCP_TIMEOUT
    seed: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Settings:
        soa = {**DEFAULT_SOA_TIMES, **options.get("soa", {})}
        return cls(
            version=options.get("version", DEFAULT_VERSION),
            hostname=options.get("hostname"),
            ttl=options.get("ttl", DEFAULT_TTL),
            zones=tuple(options.get("zones", ())),
            nameservers=tuple(options.get("nameservers", ())),
            contact=options.get("contact"),
            serial=options.get("serial"),
            soa_times=tuple(soa[key] for key in DEFAULT_SOA_TIMES),
            spf=_spf(options.get("spf", True)),
            generated_names=options.get("generated_names", DEFAULT_GENERATED) or None,
            pools=tuple(Pool(**pool) for pool in options.get("pools", ())),
            records=tuple(_record(record) for record in options.get("records", ())),
            tcp_timeout=options.get("tcp_timeout", DEFAULT_TCP_TIMEOUT),
            seed=options.get("seed"),
        )


def _spf(value: bool | str) -> str | None:
    if value is True:
        return DEFAULT_SPF
    return value or None


def _record(record: Mapping[str, Any]) -> Record:
    value = record["value"]
    if isinstance(value, list | tuple):
        value = tuple(value)
    return Record(record["name"], record["type"], value, record.get("ttl"))
