"""The AuthSec backend's SDK endpoints, served locally next to `LocalIssuer`.

``GET  /authsec/resource-servers/{id}/sdk-policy``   answers the policy set with `set_policy`;
``PUT  /authsec/resource-servers/{id}/sdk-manifest`` records each published tool manifest.

Both sit behind the issuer's HTTP Basic check (the introspection client credentials, whose
id is also the resource server id, as the real backend hands them out) and honour the fault
switches ``policy_fault`` / ``manifest_fault`` through `LocalIssuer.apply_fault`, so tests
and demos exercise the SDK against real HTTP, outages included.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from .issuer import Fault, LocalIssuer

DocumentShape = Literal["new", "old"]

_MANIFEST_KEYS = frozenset(
    {"name", "title", "description", "input_schema", "annotations", "suggested_scopes"}
)


@dataclass(frozen=True)
class BackendPolicy:
    """What ``sdk-policy`` says. Immutable: `LocalBackend.set_policy` swaps it whole."""

    #: Tool name -> scopes, any one of which allows it. In the new shape an empty list leaves
    #: the tool denied (neither public nor scoped); the old shape reads it as public.
    tools: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Tools any valid token may call.
    public_tools: Sequence[str] = ()
    state: str = "ready"
    policy_complete: bool = True
    reason: str = ""
    generation: int = 1
    scopes_supported: Sequence[str] = ()
    #: ``"new"``: ``tool_policy`` with state and completeness; ``"old"``: only ``{"tools": {...}}``.
    shape: DocumentShape = "new"

    def document(self) -> dict[str, Any]:
        """The JSON answer, in the chosen shape; the old one lists a public tool with no scopes."""
        if self.shape == "old":
            tools = {name: list(scopes) for name, scopes in self.tools.items()}
            return {"tools": {**{name: [] for name in self.public_tools}, **tools}}
        tool_policy = [{"name": name, "is_public": True, "required_scopes": []} for name in self.public_tools]
        tool_policy += [
            {"name": name, "is_public": False, "required_scopes": list(scopes)}
            for name, scopes in self.tools.items()
        ]
        return {
            "state": self.state,
            "policy_complete": self.policy_complete,
            "reason": self.reason,
            "generation": self.generation,
            "scopes_supported": list(self.scopes_supported),
            "tool_policy": tool_policy,
        }


def manifest_problem(body: Any) -> str | None:
    """Why ``body`` is not a valid ``sdk-manifest`` payload, or None when it is."""
    if not isinstance(body, dict) or not isinstance(body.get("tools"), list):
        return "body must be an object with a 'tools' list"
    for index, tool in enumerate(body["tools"]):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            return f"tools[{index}] must be an object with a non-empty 'name'"
        unknown = sorted(set(tool) - _MANIFEST_KEYS)
        if unknown:
            return f"tools[{index}] has unknown fields {unknown}"
    return None


class LocalBackend:
    """The backend half of `LocalIssuer` (reach it as ``issuer.backend``).

    Thread-safe: the issuer serves from its own thread while a test changes the policy.
    """

    def __init__(self, issuer: LocalIssuer, *, resource_server_id: str | None = None) -> None:
        self._issuer = issuer
        self.resource_server_id = resource_server_id or issuer.client_id
        self.policy = BackendPolicy()
        self.policy_fault: Fault | None = None
        self.manifest_fault: Fault | None = None
        self._lock = threading.Lock()
        self._manifests: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ control
    def reset(self) -> None:
        """Back to a fresh backend's state: default policy, no faults, no manifests."""
        with self._lock:
            self.resource_server_id = self._issuer.client_id
            self.policy = BackendPolicy()
            self.policy_fault = None
            self.manifest_fault = None
            self._manifests = []

    def set_policy(self, **changes: Any) -> BackendPolicy:
        """Change the policy (any `BackendPolicy` field); the generation goes up unless given."""
        with self._lock:
            changes.setdefault("generation", self.policy.generation + 1)
            self.policy = replace(self.policy, **changes)
            return self.policy

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """Every manifest body received, oldest first."""
        with self._lock:
            return list(self._manifests)

    @property
    def published_tools(self) -> list[dict[str, Any]] | None:
        """The tools of the latest manifest, or None before any was published."""
        received = self.manifests
        return received[-1]["tools"] if received else None

    @property
    def policy_requests(self) -> int:
        return self._issuer.counters.extra.get("sdk_policy", 0)

    @property
    def manifest_requests(self) -> int:
        return self._issuer.counters.extra.get("sdk_manifest", 0)

    def config_values(self) -> dict[str, str]:
        """The `Config` fields that point the SDK at this backend (with ``issuer.config_values()``)."""
        return {"resource_server_id": self.resource_server_id, "authorization_server": self._issuer.url}

    # ------------------------------------------------------------------ HTTP
    def routes(self) -> list[BaseRoute]:
        prefix = "/authsec/resource-servers/{rsid}"
        return [
            Route(f"{prefix}/sdk-policy", self._sdk_policy, methods=["GET"]),
            Route(f"{prefix}/sdk-manifest", self._sdk_manifest, methods=["PUT"]),
        ]

    async def _refusal(self, request: Request, counter: str, fault: Fault | None) -> Response | None:
        """Count the hit, then the fault, credential or resource-server answer if any applies."""
        extra = self._issuer.counters.extra
        extra[counter] = extra.get(counter, 0) + 1
        broken = await self._issuer.apply_fault(fault)
        if broken is not None:
            return broken
        if not self._issuer.check_basic_auth(request):
            return JSONResponse(
                {"error": "invalid_client"}, status_code=401, headers={"WWW-Authenticate": "Basic"}
            )
        if request.path_params["rsid"] != self.resource_server_id:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return None

    async def _sdk_policy(self, request: Request) -> Response:
        refused = await self._refusal(request, "sdk_policy", self.policy_fault)
        return refused or JSONResponse(self.policy.document())

    async def _sdk_manifest(self, request: Request) -> Response:
        refused = await self._refusal(request, "sdk_manifest", self.manifest_fault)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "not JSON"}, status_code=400
            )
        problem = manifest_problem(body)
        if problem is not None:
            return JSONResponse({"error": "invalid_request", "error_description": problem}, status_code=400)
        with self._lock:
            self._manifests.append(body)
        return JSONResponse({"accepted": len(body["tools"])})
