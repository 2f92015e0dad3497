"""Pure decisions: may a caller holding these scopes call this tool?"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ToolRule:
    """How one tool is guarded: public, or any one of ``scopes``. Neither means denied."""

    public: bool = False
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ToolPolicy:
    """A complete tool-to-scope map. A tool without a rule is denied (deny by default)."""

    rules: Mapping[str, ToolRule] = field(default_factory=dict)
    scopes_supported: tuple[str, ...] = ()
    #: ``True`` skips tool checks entirely (`PolicyMode.OPEN`).
    open: bool = False
    generation: int | None = None

    @classmethod
    def from_tool_scopes(
        cls, tool_scopes: Mapping[str, Sequence[str]], scopes_supported: Iterable[str] = ()
    ) -> ToolPolicy:
        """The local ``Config.tool_scopes`` form: an empty list makes a tool public."""
        rules = {
            name: ToolRule(public=not scopes, scopes=frozenset(scopes))
            for name, scopes in tool_scopes.items()
        }
        return cls(rules=rules, scopes_supported=union_in_order(scopes_supported, *tool_scopes.values()))

    @property
    def known_scopes(self) -> frozenset[str]:
        """Every scope the policy mentions or advertises."""
        found = set(self.scopes_supported)
        for rule in self.rules.values():
            found |= rule.scopes
        return frozenset(found)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: Scopes any one of which would allow the call (empty for a tool not in the policy).
    required: tuple[str, ...] = ()


ALLOW = Decision(allowed=True)


def decide(policy: ToolPolicy, tool: str, held: Collection[str]) -> Decision:
    """Whether a token holding ``held`` may call ``tool`` under ``policy``."""
    if policy.open:
        return ALLOW
    rule = policy.rules.get(tool)
    if rule is None:
        return Decision(allowed=False)
    if rule.public or any(s in rule.scopes for s in held):
        return ALLOW
    return Decision(allowed=False, required=tuple(sorted(rule.scopes)))


@dataclass(frozen=True)
class CallsDecision:
    """The verdict on every ``tools/call`` of one request: all allowed, or why not."""

    allowed: bool
    #: The first denied tool: one no scope could allow when ``curable`` is False.
    tool: str = ""
    #: True when more scope would allow every denied call (403 ``insufficient_scope``).
    curable: bool = False
    #: What the denied calls need: each call's scopes, any one of which allows it.
    required: tuple[str, ...] = ()
    #: Declared conditions no scope can meet (`requirements`): one of them, or all with
    #: ``require_all``. Non-empty means 403 without ``insufficient_scope``.
    unmet: tuple[str, ...] = ()
    require_all: bool = False


def decide_calls(policy: ToolPolicy, tools: Iterable[str], held: Collection[str]) -> CallsDecision:
    """Whether a token holding ``held`` may make every one of these calls (one request's).

    A call no scope could allow (a tool the policy does not list) makes the whole request
    incurable, so the client is not sent to re-authorize for nothing.
    """
    denied: list[tuple[str, Decision]] = [(t, d) for t in tools if not (d := decide(policy, t, held)).allowed]
    if not denied:
        return CallsDecision(allowed=True)
    incurable = next((tool for tool, decision in denied if not decision.required), None)
    if incurable is not None:
        return CallsDecision(allowed=False, tool=incurable)
    required = union_in_order(*(decision.required for _, decision in denied))
    return CallsDecision(allowed=False, tool=denied[0][0], curable=True, required=required)


def challenge_scopes(
    policy: ToolPolicy, required: Iterable[str], held: Iterable[str], *, accumulating: bool
) -> tuple[str, ...]:
    """The ``scope`` to put in a 403 challenge.

    Clients of revisions that accumulate scopes (MCP 2026-07-28) are told only what the
    operation needs. Older clients replace their token, so they are told what is needed plus
    the relevant scopes already held, and re-authorize once without losing them. Held scopes
    the policy never mentions stay private.
    """
    if accumulating:
        return advertisable(required)
    known = policy.known_scopes
    return advertisable(union_in_order(required, (s for s in held if s in known)))


def tool_scopes(policy: ToolPolicy, tool: str) -> tuple[str, ...]:
    """The scopes any one of which allows ``tool``; empty for a public or unlisted tool."""
    rule = policy.rules.get(tool)
    return () if rule is None or rule.public or policy.open else advertisable(sorted(rule.scopes))


#: Scopes a resource server never advertises or asks for: refresh tokens are between the
#: client and the authorization server (MCP 2026-07-28 authorization guidance).
_UNADVERTISED = frozenset({"offline_access"})


def advertisable(scopes: Iterable[str]) -> tuple[str, ...]:
    """``scopes`` without those a resource server must not put in metadata or challenges."""
    return tuple(s for s in scopes if s not in _UNADVERTISED)


def union_in_order(*groups: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for scope in group:
            seen.setdefault(scope, None)
    return tuple(seen)
