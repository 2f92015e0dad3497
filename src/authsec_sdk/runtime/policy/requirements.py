"""Pure decisions on what a tool declares beyond its scope policy: roles, groups, resources,
permissions, and scopes that must all be held (`Requirement`).

The scope policy (`rules`) still decides first: a tool it does not permit stays refused. A
requirement only a broader token could meet (a missing scope) asks for step-up like the
policy does; one that needs a role, group, resource or permission no token refresh would
bring is refused outright, naming the conditions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..claim_paths import parse_permission
from ..principal import Principal
from .rules import CallsDecision, ToolPolicy, decide_calls, union_in_order

#: The kinds of condition, in the order they are named in answers.
KINDS = ("role", "group", "resource", "permission", "scope")


@dataclass(frozen=True)
class Requirement:
    """What a tool needs besides its scope policy: any one listed item, or every one with
    ``require_all``. An empty requirement asks for an authenticated caller only."""

    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    #: ``resource:action`` strings, checked when declared.
    permissions: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    require_all: bool = False

    @property
    def conditions(self) -> tuple[tuple[str, str], ...]:
        """Every ``(kind, value)`` listed, in a stable order."""
        listed = (self.roles, self.groups, self.resources, self.permissions, self.scopes)
        return tuple(
            (kind, value) for kind, values in zip(KINDS, listed, strict=True) for value in sorted(values)
        )


#: Tool name -> its requirements, every one of which must be met.
Requirements = Mapping[str, tuple[Requirement, ...]]


@dataclass(frozen=True)
class RequirementVerdict:
    allowed: bool
    #: Scopes that would meet the requirement (any one, or all of them with ``require_all``).
    missing_scopes: tuple[str, ...] = ()
    #: The conditions no scope can meet, as ``kind 'value'``.
    unmet: tuple[str, ...] = ()


_MET = RequirementVerdict(allowed=True)


def check_requirement(requirement: Requirement, principal: Principal) -> RequirementVerdict:
    """Whether ``principal`` meets ``requirement``, and if not, what is missing."""
    conditions = requirement.conditions
    if not conditions:
        return _MET
    held = _holder(principal)
    if requirement.require_all:
        missing = [(kind, value) for kind, value in conditions if not held[kind](value)]
        if not missing:
            return _MET
        if all(kind == "scope" for kind, _ in missing):
            return RequirementVerdict(allowed=False, missing_scopes=tuple(v for _, v in missing))
        return RequirementVerdict(allowed=False, unmet=_described(missing))
    if any(held[kind](value) for kind, value in conditions):
        return _MET
    scopes = tuple(value for kind, value in conditions if kind == "scope")
    if scopes:
        return RequirementVerdict(allowed=False, missing_scopes=scopes)
    return RequirementVerdict(allowed=False, unmet=_described(conditions))


def judge_calls(
    policy: ToolPolicy, requirements: Requirements, tools: Iterable[str], principal: Principal
) -> CallsDecision:
    """Whether ``principal`` may make every one of these calls: the scope policy first, then
    each called tool's requirements.

    A call the policy does not permit, then one with a requirement no scope can meet, makes
    the request incurable; otherwise the scopes that would allow every denied call are asked
    for at once.
    """
    calls = tuple(tools)
    verdict = decide_calls(policy, calls, principal.scopes)
    if not verdict.allowed and not verdict.curable:
        return verdict
    needed = [verdict.required] if not verdict.allowed else []
    first_denied = verdict.tool
    for tool in calls:
        for requirement in requirements.get(tool, ()):
            outcome = check_requirement(requirement, principal)
            if outcome.unmet:
                return CallsDecision(
                    allowed=False, tool=tool, unmet=outcome.unmet, require_all=requirement.require_all
                )
            if not outcome.allowed:
                needed.append(outcome.missing_scopes)
                first_denied = first_denied or tool
    if not needed:
        return verdict
    return CallsDecision(allowed=False, tool=first_denied, curable=True, required=union_in_order(*needed))


def _holder(principal: Principal) -> Mapping[str, Callable[[str], bool]]:
    scopes = frozenset(principal.scopes)
    return {
        "role": principal.has_role,
        "group": principal.in_group,
        "resource": principal.has_resource,
        "permission": lambda permission: _has_permission(principal, permission),
        "scope": scopes.__contains__,
    }


def _has_permission(principal: Principal, permission: str) -> bool:
    pair = parse_permission(permission)
    return pair is not None and principal.has_permission(*pair)


def _described(conditions: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(f"{kind} {value!r}" for kind, value in conditions)
