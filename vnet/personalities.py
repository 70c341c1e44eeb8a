"""The topology's personalities: chosen by name, applied to each host.

A template's `personality` names either a preset in `personalities/` (a
short YAML file naming a database fingerprint, with a description and
defaults for the MAC vendor, uptime and banners) or a fingerprint of nmap's
database directly, by exact name, `NAME#INDEX` among repeated names, or CPE.
Names are never matched by substring.

`FingerprintPersonality` is the seam between vnet.personality's Behaviour
(pure: what this OS would send) and a virtual host (which sends it). One is
made per host, from a seed derived from the host's address, so two hosts of
one personality differ within what the fingerprint allows.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from types import NotImplementedType
from typing import Any

import yaml

from vnet.config import TopologyError
from vnet.host import Reply
from vnet.personality import Behaviour, Database, Fingerprint, behaviour, load
from vnet.personality.errors import PersonalityError
from vnet.wire.icmp import IcmpMessage
from vnet.wire.ipv4 import FLAG_DF, Ipv4Packet
from vnet.wire.tcp import TcpSegment

PRESETS = Path(__file__).resolve().parent.parent / "personalities"
DEFAULT_UPTIME = 9 * 86400.0

# The host's kinds of packet, as the behaviour names them.
_KINDS = {
    "tcp": "tcp",
    "tcp-closed": "closed_tcp",
    "icmp-echo": "icmp",
    "icmp-error": "icmp",
    "udp": "udp",
}


@dataclass(frozen=True)
class Preset:
    """A named personality: a fingerprint, and defaults that go with it."""

    name: str
    fingerprint: str
    description: str = ""
    mac_vendor: str | None = None
    uptime: float | None = None
    banner_hint: str | None = None


@functools.lru_cache(maxsize=4)
def presets(folder: Path = PRESETS) -> dict[str, Preset]:
    """Every preset in `folder`, by file name without `.yaml`."""
    found = {}
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        uptime = data.get("uptime")
        found[path.stem] = Preset(
            name=path.stem,
            fingerprint=data["fingerprint"],
            description=data.get("description", ""),
            mac_vendor=data.get("mac_vendor"),
            uptime=_seconds(uptime) if uptime is not None else None,
            banner_hint=data.get("banner_hint"),
        )
    return found


def _seconds(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    total, number = 0.0, ""
    for character in str(value):
        if character.isdigit():
            number += character
        else:
            total += int(number) * units[character]
            number = ""
    return total + (int(number) if number else 0)


def resolve(
    name: str, database: Database | None = None
) -> tuple[Fingerprint, Preset | None]:
    """The fingerprint a personality name selects, and its preset if any.

    PersonalityError (with suggestions) for a name that selects nothing or
    more than one fingerprint.
    """
    database = database or load()
    preset = presets().get(name)
    selector = preset.fingerprint if preset else name
    return database.lookup(selector), preset


def check_personalities(topology: Any) -> None:
    """A TopologyError at the first personality that selects no fingerprint."""
    named = [
        (host.template.personality,
         host.template.origins.get("personality", ("hosts", host.index)))
        for host in topology.hosts
    ]  # fmt: skip
    routers = topology.routing.routers.values() if topology.routing else ()
    for index, router in enumerate(routers):
        named.append((router.personality, ("routers", index, "personality")))
    seen: set[str] = set()
    for name, where in named:
        if name is None or name in seen:
            continue
        seen.add(name)
        try:
            resolve(name)
        except PersonalityError as error:
            allowed = "a preset (" + ", ".join(presets()) + ") or a fingerprint"
            hint = str(error).split("; ", 1)[-1] if "; " in str(error) else None
            raise TopologyError.at(topology, where, name, allowed, hint) from None


class FingerprintPersonality:
    """A host's Personality (see vnet.host) made from nmap's fingerprint.

    It also serves as the host's TCP personality (vnet.tcp.stamp), through
    the Behaviour's own hooks.
    """

    __slots__ = ("behaviour",)

    # The fingerprint decides each echo reply's code, TTL, DF and IP ID.
    echoes_verbatim = False

    def __init__(self, chosen: Behaviour) -> None:
        self.behaviour = chosen

    @property
    def tcp(self) -> Behaviour:
        return self.behaviour

    def header(self, kind: str, now: float, peer: int = 0) -> tuple[int, int, int]:
        stamp = self.behaviour.stamp(_KINDS.get(kind, "tcp"), now, peer)
        return stamp.ttl, stamp.ident, FLAG_DF if stamp.dont_fragment else 0

    def echo_reply(
        self, packet: Ipv4Packet, request: IcmpMessage, now: float
    ) -> Reply | None:
        answer = self.behaviour.echo_reply(packet, request, now)
        if answer is None:
            return None
        return Reply(answer.message, answer.ttl, answer.dont_fragment, answer.ident)

    def port_unreachable(self, packet: Ipv4Packet, now: float) -> Reply | None:
        answer = self.behaviour.port_unreachable(packet, now)
        if answer is None:
            return None
        return Reply(answer.message, answer.ttl, answer.dont_fragment, answer.ident)

    def closed_port_reply(
        self, packet: Ipv4Packet, segment: TcpSegment, now: float
    ) -> Reply | None:
        return self._plan(
            self.behaviour.probe_reply(segment, "closed", now, packet.src)
        )

    def unmatched_segment_reply(
        self, packet: Ipv4Packet, segment: TcpSegment, now: float
    ) -> Reply | None | NotImplementedType:
        return self._plan(self.behaviour.probe_reply(segment, "open", now, packet.src))

    @staticmethod
    def _plan(plan: Any) -> Reply | None:
        if plan is None:
            return None
        return Reply(
            plan.segment, plan.ttl, plan.dont_fragment, plan.ident, plan.handshake
        )


def router_personality(router: Any, seed: int) -> Any:
    """A virtual router's personality (plain when it names none)."""
    from vnet.host import PlainPersonality

    address = router.addresses[0] if router.addresses else 0
    chosen = personality_for(router.personality, None, address, seed, 0.0)
    return chosen or PlainPersonality()


def host_personality(
    template: Any, address: int, seed: int, now: float
) -> FingerprintPersonality | None:
    """The personality of the host at `address`, or None for a plain host."""
    return personality_for(template.personality, template.uptime, address, seed, now)


def personality_for(
    name: str | None, uptime: float | None, address: int, seed: int, now: float
) -> FingerprintPersonality | None:
    if name is None:
        return None
    fingerprint, preset = resolve(name)
    uptime = uptime or (preset.uptime if preset else None)
    digest = hashlib.blake2b(f"{seed}/{address}".encode(), digest_size=8).digest()
    host_seed = int.from_bytes(digest, "big")
    if not uptime:
        uptime = DEFAULT_UPTIME + host_seed % (20 * 86400)
    return FingerprintPersonality(behaviour(fingerprint, host_seed, uptime, now))
