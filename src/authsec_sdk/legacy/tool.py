"""A 4.x tool as an ``mcp`` SDK ``MCPServer`` tool.

The SDK's own tools take typed parameters; a 4.x tool takes the whole ``arguments`` object
(plus ``_user_info``) and answers a list of content dicts, so `LegacyTool` keeps the SDK's
registration and listing and replaces only how a call is run. It runs after the middleware
allowed the call, so it only reads the principal, never judges it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ContentBlock
from pydantic import TypeAdapter, ValidationError

from ..runtime.principal import Principal, principal_from_context
from .decorators import LegacyToolSpec

_CONTENT: TypeAdapter[ContentBlock] = TypeAdapter(ContentBlock)


@dataclass(frozen=True)
class LegacySession:
    """What a 4.x ``(args, session)`` tool gets as ``session``. The bearer token is never
    handed to tools; the validated principal is."""

    principal: Principal
    #: The ``Mcp-Session-Id`` of the request (2025-11-25), or "" (2026-07-28 has none).
    session_id: str
    user_id: str
    tenant_id: str | None
    org_id: str | None


def user_info(principal: Principal) -> dict[str, Any]:
    """``arguments["_user_info"]``: the 4.x fields the token has."""
    claims = principal.claims
    info: dict[str, Any] = {"sub": principal.subject}
    for name in ("email", "name"):
        if isinstance(claims.get(name), str):
            info[name] = claims[name]
    info["roles"] = sorted(principal.roles)
    info["groups"] = sorted(principal.groups)
    info["scopes"] = list(principal.scopes)
    info["permissions"] = sorted(f"{resource}:{action}" for resource, action in principal.permissions)
    if principal.client_id:
        info["client_id"] = principal.client_id
    return info


class LegacyTool(Tool):
    """An ``MCPServer`` tool that calls a 4.x function with the raw arguments."""

    takes_session: bool = False

    @classmethod
    def from_spec(cls, spec: LegacyToolSpec) -> LegacyTool:
        # Registered from a function without parameters: the 4.x function's own annotations
        # (``session``, ``dict``) say nothing about the tool's input, its ``inputSchema`` does.
        tool = cls.from_function(
            _no_parameters, name=spec.name, description=spec.description, structured_output=False
        )
        assert isinstance(tool, cls)  # from_function builds the class it is called on
        update = {"fn": spec.fn, "parameters": dict(spec.input_schema), "takes_session": spec.takes_session}
        return tool.model_copy(update=update)

    async def run(
        self, arguments: dict[str, Any], context: Any, convert_result: bool = False
    ) -> CallToolResult:
        principal = principal_from_context()
        if principal is None:  # only reachable without mount_mcp in front: refuse, never run unguarded
            raise ToolError(f"tool {self.name!r} needs an authenticated caller")
        args = {**arguments, "_user_info": user_info(principal)}
        try:
            if self.takes_session:
                result = await self.fn(args, _session(principal, context))
            else:
                result = await self.fn(args)
        except MCPError:
            raise
        except Exception as exc:  # the tool's own failure: its message stays in the server log
            raise UnexpectedToolError(f"Error executing tool {self.name}") from exc
        return CallToolResult(content=_content(self.name, result))


async def _no_parameters() -> None:
    """Stands in for a 4.x function when the SDK reads a signature (see `LegacyTool.from_spec`)."""


def _session(principal: Principal, context: Any) -> LegacySession:
    headers: Mapping[str, str] = getattr(context, "headers", None) or {}
    claims = principal.claims
    tenant, org = claims.get("tenant_id"), claims.get("org_id")
    return LegacySession(
        principal=principal,
        session_id=headers.get("mcp-session-id", ""),
        user_id=principal.subject,
        tenant_id=tenant if isinstance(tenant, str) else None,
        org_id=org if isinstance(org, str) else None,
    )


def _content(name: str, result: Any) -> list[ContentBlock]:
    """A 4.x result (a list of content dicts) as MCP content; anything else is a tool error."""
    if not isinstance(result, list):
        raise ToolError(f"tool {name!r} must return a list of content items, got {type(result).__name__}")
    try:
        return [_CONTENT.validate_python(item) for item in result]
    except ValidationError:
        raise ToolError(f"tool {name!r} returned an item that is not MCP content") from None
