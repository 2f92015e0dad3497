"""Tool-level authorization: the rules (pure) and the sources that supply them."""

from .requirements import Requirement, Requirements, judge_calls
from .rules import advertisable, challenge_scopes, decide, decide_calls, tool_scopes
from .source import PolicySource, policy_source_for

__all__ = [
    "PolicySource",
    "Requirement",
    "Requirements",
    "advertisable",
    "challenge_scopes",
    "decide",
    "decide_calls",
    "judge_calls",
    "policy_source_for",
    "tool_scopes",
]
