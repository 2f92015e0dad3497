"""Policy declared next to the tool: ``@requires_scopes``, ``@permission_required``, ``@public``.

The decorators only mark the function; they never wrap it, so they work above or below an
``mcp`` SDK server's ``@server.tool()`` (both see the same function object). `mount_mcp`
reads the marks from the server's tools: declared scopes become the local policy (and the
manifest's suggestions), the rest becomes requirements the middleware enforces. A tool with
no declaration stays denied. Contradictions are refused when they are written (import time)
or, when they involve the server or the config, at mount time, with a `ValueError` saying
which tool and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from .claim_paths import parse_permission
from .config import Config
from .policy import Requirement, Requirements

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute a declaration is stored under on the tool's function.
_MARK = "__authsec_declaration__"


@dataclass(frozen=True)
class Declaration:
    """Everything declared on one tool function."""

    #: The tool name given with ``tool=``; None means "whatever the server registers it as".
    tool: str | None = None
    public: bool = False
    #: Scopes any one of which allows the call: the tool's entry in the local policy.
    scopes: tuple[str, ...] = ()
    #: Conditions enforced besides the scope policy, every one of which must be met.
    requirements: tuple[Requirement, ...] = ()

    @property
    def restricted(self) -> bool:
        return bool(self.scopes or self.requirements)


def requires_scopes(*scopes: str, all: bool = False, tool: str | None = None) -> Callable[[F], F]:
    """The tool needs one of ``scopes``, or every one with ``all=True``.

    Without ``all`` the scopes are the tool's local policy (like its ``tool_scopes`` entry);
    with it, holding every one is also enforced in the remote policy modes.
    """
    names = _names(scopes, "requires_scopes", "scope")
    requirements = (Requirement(scopes=frozenset(names), require_all=True),) if all else ()

    def mark(fn: F) -> F:
        current = _declaration_of(fn)
        if current.scopes:
            raise ValueError(f"{_where(fn)}: @requires_scopes is declared twice")
        return _declare(fn, current, tool, scopes=names, requirements=(*current.requirements, *requirements))

    return mark


def permission_required(
    permissions: Sequence[str], *, require_all: bool = False, tool: str | None = None
) -> Callable[[F], F]:
    """The tool needs one of ``permissions`` (``resource:action``), or all of them with
    ``require_all=True``, read from the token's permissions claim (`Config.permissions_claim`)."""
    names = _names(permissions, "permission_required", "permission", listed=True)
    for permission in names:
        if parse_permission(permission) is None:
            raise ValueError(f"permission_required: {permission!r} is not 'resource:action'")
    requirement = Requirement(permissions=frozenset(names), require_all=require_all)

    def mark(fn: F) -> F:
        current = _declaration_of(fn)
        return _declare(fn, current, tool, requirements=(*current.requirements, requirement))

    return mark


@overload
def public(fn: F, /) -> F: ...
@overload
def public(*, tool: str | None = None) -> Callable[[F], F]: ...
def public(fn: Any = None, /, *, tool: str | None = None) -> Any:
    """Any authenticated caller may call the tool (``@public`` or ``@public(tool="name")``).

    Every request still needs a valid token: the middleware authenticates before it looks at
    any tool. ``@public`` only lifts the tool's scope and permission checks.
    """

    def mark(target: F) -> F:
        return _declare(target, _declaration_of(target), tool, public=True)

    return mark if fn is None else mark(fn)


def declaration_of(fn: Callable[..., Any]) -> Declaration | None:
    """What was declared on ``fn``, if anything."""
    found = getattr(fn, _MARK, None)
    return found if isinstance(found, Declaration) else None


def declare(fn: F, declaration: Declaration) -> F:
    """Attach ``declaration`` to ``fn`` as the decorators do (for APIs built on them)."""
    return _declare(
        fn,
        Declaration(),
        declaration.tool,
        public=declaration.public,
        scopes=declaration.scopes,
        requirements=declaration.requirements,
    )


def collect_declarations(handler: Any) -> dict[str, Declaration]:
    """Tool name -> declaration, for each declared tool of an ``mcp`` SDK ``MCPServer``.

    Any other handler has no tool functions to read, so nothing. A declaration naming a tool
    other than the one its function is registered as is refused.
    """
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:  # without the mcp extra there can be no MCPServer
        return {}
    if not isinstance(handler, MCPServer):
        return {}
    found: dict[str, Declaration] = {}
    for registered in handler._tool_manager.list_tools():
        declaration = declaration_of(registered.fn)
        if declaration is None:
            continue
        if declaration.tool is not None and declaration.tool != registered.name:
            raise ValueError(
                f"{_where(registered.fn)} declares tool {declaration.tool!r}, but the server has no "
                f"tool {declaration.tool!r} for it: it is registered as {registered.name!r}"
            )
        found[registered.name] = declaration
    return found


def with_declarations(cfg: Config, declared: Mapping[str, Declaration]) -> Config:
    """``cfg`` with the declared scopes as ``tool_scopes`` entries (the local policy, or the
    fallback) and as manifest suggestions; entries ``cfg`` already has are kept.

    Raises `ValueError` when a tool's ``tool_scopes`` entry disagrees with its declaration.
    """
    if not declared:
        return cfg
    configured = dict(cfg.tool_scopes or {})
    for name, declaration in declared.items():
        scoped = declaration.public or declaration.scopes
        if scoped and name in configured and set(configured[name]) != set(declaration.scopes):
            said = "@public" if declaration.public else f"@requires_scopes{tuple(declaration.scopes)}"
            raise ValueError(
                f"tool {name!r} is declared {said} but tool_scopes gives it {list(configured[name])!r}"
            )
    scopes = {name: list(d.scopes) for name, d in declared.items()}
    suggestions = {name: list(d.scopes) for name, d in declared.items() if d.scopes}
    return dataclasses.replace(
        cfg,
        tool_scopes={**scopes, **configured},
        tool_scope_suggestions={**suggestions, **(cfg.tool_scope_suggestions or {})} or None,
    )


def requirements_of(declared: Mapping[str, Declaration]) -> Requirements:
    return {name: d.requirements for name, d in declared.items() if d.requirements}


# ---------------------------------------------------------------------- internals
def _declaration_of(fn: Any) -> Declaration:
    if not callable(fn):
        raise TypeError(f"authsec declarations decorate tool functions, not {type(fn).__name__}")
    return declaration_of(fn) or Declaration()


def _declare(
    fn: F,
    current: Declaration,
    tool: str | None,
    *,
    public: bool = False,
    scopes: tuple[str, ...] = (),
    requirements: tuple[Requirement, ...] | None = None,
) -> F:
    """Store ``current`` updated on ``fn``, refusing contradictions."""
    if tool is not None and (not isinstance(tool, str) or not tool.strip()):
        raise ValueError(f"{_where(fn)}: the tool name must be a non-empty string, got {tool!r}")
    if tool is not None and current.tool is not None and tool != current.tool:
        raise ValueError(f"{_where(fn)}: declared for tool {current.tool!r} and for tool {tool!r}")
    updated = Declaration(
        tool=tool if tool is not None else current.tool,
        public=current.public or public,
        scopes=scopes or current.scopes,
        requirements=current.requirements if requirements is None else requirements,
    )
    if updated.public and updated.restricted:
        raise ValueError(
            f"{_where(fn)}: a tool cannot be both @public and restricted "
            "(@requires_scopes / @permission_required)"
        )
    setattr(fn, _MARK, updated)
    return fn


def _names(values: Any, who: str, what: str, *, listed: bool = False) -> tuple[str, ...]:
    if isinstance(values, str) or (listed and not isinstance(values, Sequence)):
        raise TypeError(f"{who}: pass the {what}s as a list, got {values!r}")
    names = tuple(values)
    if not names:
        raise ValueError(f"{who}: at least one {what} is required")
    for name in names:
        if not isinstance(name, str) or not name or name != name.strip() or " " in name:
            raise ValueError(f"{who}: each {what} must be a non-empty string without spaces, got {name!r}")
    return names


def _where(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
