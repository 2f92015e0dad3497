"""The ``sdk-policy`` document: reading either shape the AuthSec backend answers with (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PolicyIncompleteError
from .rules import ToolPolicy, ToolRule, union_in_order
from .serving import Serving


class PolicyDocumentError(ValueError):
    """An ``sdk-policy`` answer that cannot be read as a policy; the message says where."""


@dataclass(frozen=True)
class PolicyDocument:
    """What one ``sdk-policy`` answer says, complete or not."""

    policy: ToolPolicy
    state: str
    complete: bool
    reason: str = ""

    def enforceable(self) -> ToolPolicy:
        """The policy to judge calls with; an incomplete document denies everything."""
        if not self.complete:
            raise PolicyIncompleteError(self.state, self.reason)
        return self.policy


def parse_policy_document(data: Any) -> ToolPolicy:
    """The policy an ``sdk-policy`` answer enforces.

    Raises `PolicyDocumentError` for a malformed document and `PolicyIncompleteError`
    (carrying ``state`` and ``reason``) for ``policy_complete: false``.
    """
    return read_policy_document(data).enforceable()


def read_policy_document(data: Any) -> PolicyDocument:
    """Read either document shape without judging completeness.

    The new shape carries ``tool_policy`` (a list of ``{name, is_public, required_scopes}``)
    and ``state`` / ``policy_complete`` / ``reason``; the older shape is only
    ``{"tools": {name: [scopes]}}`` and counts as complete. ``tool_policy`` wins when both
    are present. A tool neither public nor scoped, or not listed, is denied. The older shape
    reads like ``Config.tool_scopes``: an empty scope list makes the tool public.
    """
    if not isinstance(data, Mapping):
        raise PolicyDocumentError(f"the policy document must be a JSON object, got {type(data).__name__}")
    new_shape = "tool_policy" in data or "state" in data
    complete = _complete_flag(data, new_shape)
    if "tool_policy" in data:
        rules = _rules_from_tool_policy(data["tool_policy"])
    elif "tools" in data:
        rules = _rules_from_tools_map(data["tools"])
    elif complete:
        raise PolicyDocumentError("a complete policy document needs 'tool_policy' or 'tools'")
    else:
        rules = {}
    scopes_supported = _string_list(data.get("scopes_supported", []), "scopes_supported")
    policy = ToolPolicy(
        rules=rules,
        scopes_supported=union_in_order(scopes_supported, *(sorted(r.scopes) for r in rules.values())),
        generation=_generation(data.get("generation")),
    )
    state = _optional_string(data, "state") or (Serving.READY if complete else Serving.INCOMPLETE).value
    return PolicyDocument(
        policy=policy, state=state, complete=complete, reason=_optional_string(data, "reason")
    )


def _complete_flag(data: Mapping[str, Any], new_shape: bool) -> bool:
    """``policy_complete``; required in the new shape so a missing flag never reads as complete."""
    value = data.get("policy_complete", None if new_shape else True)
    if not isinstance(value, bool):
        raise PolicyDocumentError(f"'policy_complete' must be true or false, got {value!r}")
    return value


def _rules_from_tool_policy(entries: Any) -> dict[str, ToolRule]:
    if not isinstance(entries, list):
        raise PolicyDocumentError("'tool_policy' must be a list")
    rules: dict[str, ToolRule] = {}
    for index, entry in enumerate(entries):
        where = f"tool_policy[{index}]"
        if not isinstance(entry, Mapping):
            raise PolicyDocumentError(f"{where} must be an object")
        name = _tool_name(entry.get("name"), where, rules)
        public = entry.get("is_public", False)
        if not isinstance(public, bool):
            raise PolicyDocumentError(f"{where}.is_public must be true or false")
        scopes = _string_list(entry.get("required_scopes") or [], f"{where}.required_scopes")
        rules[name] = ToolRule(public=public, scopes=frozenset(scopes))
    return rules


def _rules_from_tools_map(tools: Any) -> dict[str, ToolRule]:
    if not isinstance(tools, Mapping):
        raise PolicyDocumentError("'tools' must be an object mapping tool names to scope lists")
    rules: dict[str, ToolRule] = {}
    for name, scopes in tools.items():
        _tool_name(name, "tools", rules)
        required = _string_list(scopes, f"tools[{name!r}]")
        rules[name] = ToolRule(public=not required, scopes=frozenset(required))
    return rules


def _tool_name(name: Any, where: str, seen: Mapping[str, ToolRule]) -> str:
    if not isinstance(name, str) or not name:
        raise PolicyDocumentError(f"{where} has a tool name that is not a non-empty string: {name!r}")
    if name in seen:
        raise PolicyDocumentError(f"{where} lists tool {name!r} twice")
    return name


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise PolicyDocumentError(f"{where} must be a list of non-empty strings")
    return value


def _optional_string(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PolicyDocumentError(f"{key!r} must be a string")
    return value


def _generation(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise PolicyDocumentError(f"'generation' must be an integer, got {value!r}")
    return value
