"""``@mcp_tool`` and ``@protected_by_AuthSec``: 4.x tool declarations, kept in a registry.

4.x found its tools by scanning the module; here each decorator records its tool when the
module is imported, and `create_mcp_app` serves every recorded tool. The requirements become
a runtime declaration on the function (`authsec_sdk.runtime.declarations`), so the one
middleware enforces them.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ..runtime.claim_paths import parse_permission
from ..runtime.declarations import Declaration, declare
from ..runtime.policy import Requirement

F = TypeVar("F", bound=Callable[..., Any])

#: What a tool advertises when it declares no input schema: an object of anything.
DEFAULT_INPUT_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class LegacyToolSpec:
    name: str
    fn: Callable[..., Any]
    description: str
    input_schema: Mapping[str, Any]
    #: The 4.x ``(args, session)`` shape rather than ``(arguments)``.
    takes_session: bool


#: Every declared tool by name, in declaration order.
_registry: dict[str, LegacyToolSpec] = {}


def registered_tools() -> list[LegacyToolSpec]:
    return list(_registry.values())


@overload
def mcp_tool(name: F, /) -> F: ...
@overload
def mcp_tool(
    name: str | None = None, description: str | None = None, inputSchema: Mapping[str, Any] | None = None
) -> Callable[[F], F]: ...
def mcp_tool(
    name: Any = None, description: str | None = None, inputSchema: Mapping[str, Any] | None = None
) -> Any:
    """A public tool: any authenticated caller may call it. ``name`` defaults to the
    function's name, ``description`` to its docstring."""
    if callable(name):  # used bare: @mcp_tool
        return _register(name, None, Declaration(public=True), None, None)

    def decorator(fn: F) -> F:
        return _register(fn, name, Declaration(public=True), description, inputSchema)

    return decorator


def protected_by_AuthSec(
    tool_name: str,
    roles: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    resources: Sequence[str] | None = None,
    scopes: Sequence[str] | None = None,
    permissions: Sequence[str] | None = None,
    require_all: bool = False,
    description: str | None = None,
    inputSchema: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """A tool that needs a valid token and, when given, the listed roles / groups /
    resources / scopes / permissions: any one of them, or every one with ``require_all``."""
    declaration = _protection(
        tool_name,
        roles=_listed(roles, "roles"),
        groups=_listed(groups, "groups"),
        resources=_listed(resources, "resources"),
        scopes=_listed(scopes, "scopes"),
        permissions=_listed(permissions, "permissions"),
        require_all=require_all,
    )

    def decorator(fn: F) -> F:
        return _register(fn, tool_name, declaration, description, inputSchema)

    return decorator


def _protection(
    tool_name: str,
    *,
    roles: frozenset[str],
    groups: frozenset[str],
    resources: frozenset[str],
    scopes: frozenset[str],
    permissions: frozenset[str],
    require_all: bool,
) -> Declaration:
    """The runtime declaration for ``protected_by_AuthSec``'s arguments.

    Scopes alone, any one of them, are plain scope policy. Otherwise the conditions are one
    requirement; its scopes stay in the policy only when every condition is needed (with
    any-one, a caller holding a listed role but none of the scopes must pass the policy).
    """
    if not isinstance(tool_name, str) or not tool_name.strip():
        raise ValueError(f"protected_by_AuthSec: the tool name must be a non-empty string, got {tool_name!r}")
    for permission in permissions:
        if parse_permission(permission) is None:
            raise ValueError(
                f"protected_by_AuthSec({tool_name!r}): permission {permission!r} is not 'resource:action'"
            )
    others = roles or groups or resources or permissions
    if not others and not (scopes and require_all):
        return Declaration(tool=tool_name, scopes=tuple(sorted(scopes)))
    requirement = Requirement(
        roles=roles,
        groups=groups,
        resources=resources,
        permissions=permissions,
        scopes=scopes,
        require_all=require_all,
    )
    policy_scopes = tuple(sorted(scopes)) if require_all else ()
    return Declaration(tool=tool_name, scopes=policy_scopes, requirements=(requirement,))


def _listed(values: Sequence[str] | None, what: str) -> frozenset[str]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        raise TypeError(f"protected_by_AuthSec: {what} must be a list, got the string {values!r}")
    if not all(isinstance(v, str) and v and " " not in v for v in values):
        raise ValueError(
            f"protected_by_AuthSec: {what} must be non-empty strings without spaces, got {values!r}"
        )
    return frozenset(values)


def _register(
    fn: F,
    name: str | None,
    declaration: Declaration,
    description: str | None,
    input_schema: Mapping[str, Any] | None,
) -> F:
    """Check ``fn`` has a 4.x shape, declare it, and record it under its tool name."""
    tool = fn.__name__ if name is None else name
    if not isinstance(tool, str) or not tool.strip():
        raise ValueError(f"the tool name must be a non-empty string, got {tool!r}")
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"tool {tool!r} must be an async function: async def {tool}(arguments) -> list")
    positional = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) not in (1, 2):
        raise TypeError(f"tool {tool!r} must take (arguments) or (arguments, session)")
    if input_schema is not None and (
        not isinstance(input_schema, Mapping) or input_schema.get("type") != "object"
    ):
        raise ValueError(f"tool {tool!r}: inputSchema must be a JSON Schema object with type 'object'")
    if tool in _registry:
        raise ValueError(f"tool {tool!r} is declared twice")
    declare(fn, dataclasses.replace(declaration, tool=tool))
    _registry[tool] = LegacyToolSpec(
        name=tool,
        fn=fn,
        description=description if description is not None else inspect.getdoc(fn) or "",
        input_schema=dict(input_schema if input_schema is not None else DEFAULT_INPUT_SCHEMA),
        takes_session=len(positional) == 2,
    )
    return fn
