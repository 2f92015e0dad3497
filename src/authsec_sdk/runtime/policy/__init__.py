"""Tool-level authorization: the rules (pure) and the sources that supply them."""

from .rules import Decision, ToolPolicy, ToolRule, decide, step_up_scopes
from .scope_matrix import PolicyDocumentError, RemotePolicy, parse_policy_document
from .source import PolicySource, StaticPolicy, local_policy, policy_source_for

__all__ = [
    "Decision",
    "PolicyDocumentError",
    "PolicySource",
    "RemotePolicy",
    "StaticPolicy",
    "ToolPolicy",
    "ToolRule",
    "decide",
    "local_policy",
    "parse_policy_document",
    "policy_source_for",
    "step_up_scopes",
]
