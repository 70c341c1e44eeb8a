"""robots.txt: the rules the maze publishes, and the matcher that applies them.

RFC 9309 (Robots Exclusion Protocol) applies:

- section 2.2.1: a crawler obeys the group whose user-agent matches its
  product token, case-insensitively, and falls back to the `*` group;
- section 2.2.2: the most specific rule (the longest match) wins, and on
  a tie allow wins over disallow;
- section 2.2.3: `*` matches any sequence of characters, `$` the end.

The default rules disallow the whole maze but leave the front page `/`
open (`Allow: /$`), so a visitor who only lands on the home page is not
a robot that ignored the rules. A crawler that fetches any other page has
read and ignored them, or never read them; either way `web.robots.ignored`
records it once per visitor.

Limitation: matching uses the request target as sent, path and query,
without the percent-encoding normalisation of section 2.2.2; the maze's
own links never contain escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_RULES: tuple[Mapping[str, Sequence[str]], ...] = (
    {"agents": ("*",), "allow": ("/$",), "disallow": ("/",)},
)


@dataclass(frozen=True)
class Group:
    """The rules for a set of user-agent tokens, as the operator wrote them."""

    agents: tuple[str, ...]
    allow: tuple[str, ...]
    disallow: tuple[str, ...]


class Robots:
    """The published rules: `text` is the file, `allowed()` decides a fetch."""

    def __init__(self, rules: Sequence[Mapping[str, Sequence[str]]] = DEFAULT_RULES):
        self.groups = tuple(
            Group(
                agents=tuple(rule["agents"]),
                allow=tuple(rule.get("allow", ())),
                disallow=tuple(rule.get("disallow", ())),
            )
            for rule in rules
        )
        self.text = self._render().encode("ascii", "replace")

    def _render(self) -> str:
        blocks = []
        for group in self.groups:
            lines = [f"User-agent: {agent}" for agent in group.agents]
            lines += [f"Allow: {path}" for path in group.allow]
            lines += [f"Disallow: {path}" for path in group.disallow]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks)

    def group_for(self, user_agent: str) -> Group | None:
        """The group a crawler sending `user_agent` obeys (section 2.2.1)."""
        product = user_agent.split("/", 1)[0].strip().lower()
        fallback = None
        for group in self.groups:
            if product and any(
                agent != "*" and agent.lower() in product for agent in group.agents
            ):
                return group
            if "*" in group.agents and fallback is None:
                fallback = group
        return fallback

    def allowed(self, user_agent: str, target: str) -> bool:
        """Whether the rules let `user_agent` fetch `target` (path?query)."""
        if target == "/robots.txt":
            return True
        group = self.group_for(user_agent)
        if group is None:
            return True
        best_allow = _longest(group.allow, target)
        best_disallow = _longest(group.disallow, target)
        if best_disallow < 0:
            return True
        return best_allow >= best_disallow


def _longest(patterns: Sequence[str], target: str) -> int:
    """The length of the longest pattern matching `target`, -1 for none.

    An empty pattern matches nothing (RFC 9309: `Disallow:` allows all).
    """
    lengths = [
        len(pattern) for pattern in patterns if pattern and _matches(pattern, target)
    ]
    return max(lengths, default=-1)


def _matches(pattern: str, target: str) -> bool:
    return _compile(pattern).match(target) is not None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(regex + ("$" if anchored else ""), re.DOTALL)
