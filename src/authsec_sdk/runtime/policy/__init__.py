"""Tool-level authorization: the rules (pure) and the sources that supply them."""

from .rules import (
    CallsDecision,
    Decision,
    ToolPolicy,
    ToolRule,
    advertisable,
    challenge_scopes,
    decide,
    decide_calls,
    tool_scopes,
)
from .scope_matrix import PolicyDocumentError, RemotePolicy, parse_policy_document
from .source import PolicySource, StaticPolicy, local_policy, policy_source_for

__all__ = [
    "CallsDecision",
    "Decision",
    "PolicyDocumentError",
    "PolicySource",
    "RemotePolicy",
    "StaticPolicy",
    "ToolPolicy",
    "ToolRule",
    "advertisable",
    "challenge_scopes",
    "decide",
    "decide_calls",
    "local_policy",
    "parse_policy_document",
    "policy_source_for",
    "tool_scopes",
]
