"""Where the current `ToolPolicy` comes from. The middleware only ever calls `current()`."""

from __future__ import annotations

from typing import Protocol

import httpx
from anyio.abc import TaskGroup

from ..config import Config, PolicyMode
from .rules import ToolPolicy


class PolicySource(Protocol):
    async def start(self, task_group: TaskGroup, http: httpx.AsyncClient) -> None:
        """Run at application startup; may raise to refuse startup."""

    def current(self) -> ToolPolicy:
        """The policy to judge a request with, without waiting on I/O.

        Raises `PolicyUnavailableError` or `PolicyIncompleteError` when no call may be judged.
        """
        ...


class StaticPolicy:
    """A fixed policy: the local map, or OPEN."""

    def __init__(self, policy: ToolPolicy) -> None:
        self._policy = policy

    async def start(self, task_group: TaskGroup, http: httpx.AsyncClient) -> None:
        return None

    def current(self) -> ToolPolicy:
        return self._policy


def local_policy(cfg: Config) -> ToolPolicy:
    """The policy built from ``Config.tool_scopes`` (empty when unset)."""
    return ToolPolicy.from_tool_scopes(cfg.tool_scopes or {}, cfg.supported_scopes)


def policy_source_for(cfg: Config) -> PolicySource:
    """The policy source ``cfg``'s (effective) policy mode calls for."""
    mode = cfg.effective_policy_mode
    if mode is PolicyMode.OPEN:
        return StaticPolicy(ToolPolicy(open=True, scopes_supported=tuple(cfg.supported_scopes)))
    if mode is PolicyMode.LOCAL_ONLY:
        return StaticPolicy(local_policy(cfg))
    raise NotImplementedError(f"policy mode {mode.name} is not available yet")
