"""Offending sources as a STIX 2.1 bundle: indicators and their sightings.

STIX 2.1 (OASIS, 2021) is what threat-intelligence platforms (MISP,
OpenCTI, TAXII feeds) exchange. The bundle holds:

- one `identity` for the honeynet itself (section 4.5), the author of
  everything else and the place where each sighting was made;
- per source address, one `indicator` (section 4.7) whose pattern matches
  the address (`[ipv4-addr:value = '198.51.100.7']`), valid from the first
  time it was seen, its labels naming its roles;
- per source and role, one `sighting` (section 5.2) of that indicator,
  with first and last seen and the count: what the honeynet saw it do.

Ids are UUIDv5 of the source (and role) in a namespace of vnet's, so an
export made again later names the same objects and a platform updates
them instead of piling up copies; `modified` tells the versions apart.
The JSON is written by hand: the stix2 package validates it in the tests,
and is not needed to produce it.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from typing import Any

from vnet.events.times import micros_to_iso
from vnet.report.roles import DESCRIPTIONS, Offender

NAMESPACE = uuid.UUID("6f0c6a8e-4f8e-5b51-9d0e-7a2c1f3b9d41")
IDENTITY_NAME = "vnet honeynet"
MAX_COUNT = 999_999_999  # section 5.2: a sighting's count is at most this


def _id(kind: str, *names: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, '/'.join((kind, *names)))}"


def _pattern(address: str) -> str:
    version = ipaddress.ip_address(address).version
    return f"[ipv{version}-addr:value = '{address}']"


def stix_bundle(offenders: list[Offender], generated: int, honeynet: str = "") -> str:
    """The bundle as JSON text; `generated` (microseconds) stamps it."""
    now = micros_to_iso(generated)
    name = honeynet or IDENTITY_NAME
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": _id("identity", name),
        "created": now,
        "modified": now,
        "name": name,
        "identity_class": "system",
        "description": "A HoneySpam honeynet: web maze, open proxies and relays.",
    }
    objects: list[dict[str, Any]] = [identity]
    for offender in offenders:
        objects += _objects(offender, identity["id"], now)
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": objects,
    }
    return json.dumps(bundle, indent=2) + "\n"


def _objects(offender: Offender, identity: str, now: str) -> list[dict[str, Any]]:
    address = offender.address
    roles = list(offender.roles)
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _id("indicator", address),
        "created_by_ref": identity,
        "created": now,
        "modified": now,
        "name": f"{address}: {', '.join(roles)}",
        "description": "; ".join(DESCRIPTIONS[role] for role in roles),
        "indicator_types": ["malicious-activity"],
        "pattern": _pattern(address),
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": micros_to_iso(offender.first),
        "labels": roles,
    }
    sightings = [
        {
            "type": "sighting",
            "spec_version": "2.1",
            "id": _id("sighting", address, role),
            "created_by_ref": identity,
            "created": now,
            "modified": now,
            "description": f"{address} {DESCRIPTIONS[role]}",
            "first_seen": micros_to_iso(activity.first),
            "last_seen": micros_to_iso(activity.last),
            "count": min(activity.count, MAX_COUNT),
            "sighting_of_ref": indicator["id"],
            "where_sighted_refs": [identity],
        }
        for role, activity in offender.roles.items()
    ]
    return [indicator, *sightings]
