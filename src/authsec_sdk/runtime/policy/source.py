"""Where the current `ToolPolicy` comes from. The middleware only ever calls `current()`."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from anyio.abc import TaskGroup

from ..clock import SYSTEM_CLOCK, Clock
from ..config import Config, PolicyMode
from ..shared.fleet_policy import FleetPolicy
from ..shared.store import SharedStore
from .remote import RemotePolicy
from .rules import ToolPolicy
from .serving import Serving


class PolicySource(Protocol):
    async def start(self, task_group: TaskGroup, http: httpx.AsyncClient) -> None:
        """Run at application startup; may raise to refuse startup."""

    def current(self) -> ToolPolicy:
        """The policy to judge a request with, without waiting on I/O.

        Raises `PolicyUnavailableError` or `PolicyIncompleteError` when no call may be judged.
        """
        ...

    def status(self) -> dict[str, Any]:
        """Where the policy stands, for health checks and logs (JSON-serialisable)."""
        ...


class StaticPolicy:
    """A fixed policy: the local map, or OPEN."""

    def __init__(self, policy: ToolPolicy) -> None:
        self._policy = policy

    async def start(self, task_group: TaskGroup, http: httpx.AsyncClient) -> None:
        return None

    def current(self) -> ToolPolicy:
        return self._policy

    def status(self) -> dict[str, Any]:
        """The same keys as `RemotePolicy.status`; a fixed policy is always ready and never stale."""
        mode = PolicyMode.OPEN if self._policy.open else PolicyMode.LOCAL_ONLY
        return {
            "mode": mode.value,
            "serving": Serving.READY,
            "generation": self._policy.generation,
            "fetched_at": None,
            "policy_state": Serving.READY.value,
            "policy_complete": True,
            "reason": None,
            "stale": False,
            "last_error": None,
            "consecutive_failures": 0,
            "refresh_in_flight": False,
        }


def local_policy(cfg: Config) -> ToolPolicy:
    """The policy built from ``Config.tool_scopes`` (empty when unset)."""
    return ToolPolicy.from_tool_scopes(cfg.tool_scopes or {}, cfg.supported_scopes)


def policy_source_for(
    cfg: Config, clock: Clock = SYSTEM_CLOCK, *, shared: SharedStore | None = None
) -> PolicySource:
    """The policy source ``cfg``'s (effective) policy mode calls for; a remote one fetches for
    the whole fleet when there is a ``shared`` store."""
    mode = cfg.effective_policy_mode
    if mode is PolicyMode.OPEN:
        return StaticPolicy(ToolPolicy(open=True, scopes_supported=tuple(cfg.supported_scopes)))
    if mode is PolicyMode.LOCAL_ONLY:
        return StaticPolicy(local_policy(cfg))
    fallback = local_policy(cfg) if mode is PolicyMode.REMOTE_WITH_LOCAL_FALLBACK else None
    fleet = None
    if shared is not None:
        fleet = FleetPolicy(shared, ttl=cfg.scope_matrix_ttl, wait=cfg.http_timeout, clock=clock)
    return RemotePolicy(cfg, fallback=fallback, clock=clock, fleet=fleet)
