"""Per-caller rate limits, the pure part: reading the rules, the windows and the verdict.

``{"*": "120/minute", "delete_repo": "5/hour"}``: ``*`` counts every ``tools/call`` of one
principal (issuer, subject and client) together, and a tool named on its own is counted on
its own as well, so a ``delete_repo`` call spends from both. Windows are fixed and aligned on
the epoch (a minute window starts at each whole minute), so every worker and every replica
counts in the same window without talking about it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..principal import Principal

#: The rule every tool call counts against.
EVERY_TOOL = "*"
UNITS: Mapping[str, int] = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"\s*([0-9]{1,9})\s*/\s*([a-z]+?)s?\s*")
#: MCP tool names (letters, digits, ``_``, ``-``, ``.``, ``/``), so a rule's name can go into
#: the ``RateLimit`` headers as it is.
_RULE_NAME = re.compile(r"[A-Za-z0-9_.\-/]{1,128}")


@dataclass(frozen=True)
class Limit:
    """At most ``quota`` calls per ``window`` seconds."""

    quota: int
    window: int


def parse_limit(text: str) -> Limit:
    """``"120/minute"`` (also ``second``, ``hour``, ``day``, or plural) as a `Limit`."""
    match = _LIMIT.fullmatch(text) if isinstance(text, str) else None
    if match is None or match.group(2) not in UNITS:
        raise ValueError(f"expected '<count>/<{'|'.join(UNITS)}>', got {text!r}")
    quota = int(match.group(1))
    if quota < 1:
        raise ValueError(f"the count must be at least 1, got {text!r}")
    return Limit(quota, UNITS[match.group(2)])


def parse_rate_limits(rules: Mapping[str, str]) -> dict[str, Limit]:
    """Every rule read, or `ValueError` naming the first bad one."""
    if not isinstance(rules, Mapping):
        raise ValueError('must be a mapping of tool name (or "*") to a limit such as "120/minute"')
    parsed: dict[str, Limit] = {}
    for name, text in rules.items():
        if not isinstance(name, str) or not (name == EVERY_TOOL or _RULE_NAME.fullmatch(name)):
            raise ValueError(f'has a key that is neither "*" nor a tool name: {name!r}')
        try:
            parsed[name] = parse_limit(text)
        except ValueError as exc:
            raise ValueError(f"[{name!r}]: {exc}") from None
    return parsed


@dataclass(frozen=True)
class Charge:
    """What one request spends from one rule."""

    rule: str
    limit: Limit
    cost: int


def charges(rules: Mapping[str, Limit], tool_calls: Iterable[str]) -> list[Charge]:
    """The rules a request's ``tools/call``s spend from, each with how many calls it spends."""
    calls = list(tool_calls)
    spent: dict[str, int] = {}
    if EVERY_TOOL in rules and calls:
        spent[EVERY_TOOL] = len(calls)
    for tool in calls:
        if tool != EVERY_TOOL and tool in rules:
            spent[tool] = spent.get(tool, 0) + 1
    return [Charge(rule, rules[rule], cost) for rule, cost in spent.items()]


def window_of(now: float, limit: Limit) -> tuple[int, float]:
    """The number of the window ``now`` falls in, and the seconds until it ends."""
    index = math.floor(now / limit.window)
    return index, (index + 1) * limit.window - now


def owner_digest(principal: Principal) -> str:
    """Who is counted: the principal's issuer, subject and client, hashed to a fixed size."""
    owner = "\0".join((principal.issuer, principal.subject, principal.client_id))
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    """Whether a request may pass, and the rule that decided (the one closest to its limit)."""

    allowed: bool
    charge: Charge
    remaining: int
    #: Seconds until that rule's window ends.
    reset: float

    @property
    def retry_after(self) -> int:
        """Whole seconds to wait, at least 1."""
        return max(1, math.ceil(self.reset))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``RateLimit-Policy`` and ``RateLimit`` (IETF httpapi ratelimit-headers draft)."""
        name, limit = self.charge.rule, self.charge.limit
        return [
            (b"ratelimit-policy", f'"{name}";q={limit.quota};w={limit.window}'.encode()),
            (b"ratelimit", f'"{name}";r={self.remaining};t={self.retry_after}'.encode()),
        ]


def judge(spending: Sequence[Charge], counts: Sequence[int], now: float) -> Verdict:
    """The verdict for spending ``spending`` when the rules' current windows hold ``counts``.

    Refused as soon as any rule would go past its quota (then nothing is spent, so refused
    calls do not extend a wait); otherwise the rule with the fewest calls left decides.
    ``spending`` must not be empty.
    """
    verdicts = []
    for charge, count in zip(spending, counts, strict=True):
        _, reset = window_of(now, charge.limit)
        left = charge.limit.quota - count - charge.cost
        if left < 0:
            return Verdict(False, charge, max(0, charge.limit.quota - count), reset)
        verdicts.append(Verdict(True, charge, left, reset))
    return min(verdicts, key=lambda verdict: verdict.remaining)
