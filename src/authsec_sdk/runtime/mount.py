"""`mount_mcp`: put a protected MCP endpoint and its metadata document on an existing app."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.routing import Route, Router, request_response
from starlette.types import ASGIApp

from .asgi.middleware import AuthSecMiddleware
from .config import Config
from .declarations import collect_declarations, requirements_of, with_declarations
from .metadata import MetadataEndpoint, metadata_path, well_known_path
from .service import Runtime


def mount_mcp(app: Any, path: str, handler: Any, cfg: Config) -> Runtime:
    """Serve ``handler`` at ``path`` on ``app`` (Starlette or FastAPI) behind AuthSec.

    ``handler`` may be a raw ASGI app, a Starlette-style ``async def handler(request)``, or
    an ``mcp`` SDK server (``MCPServer`` or low-level ``Server``), which is wired to its
    streamable HTTP transport. The config is validated now (``ValueError`` on any problem);
    the rest of the startup work runs in the app's lifespan, composed with the one the app
    already has. Returns the `Runtime`, whose ``health()`` reports the policy state.

    An ``MCPServer``'s tool declarations (``@requires_scopes``, ``@permission_required``,
    ``@public``) are read now: their scopes join ``tool_scopes`` (the local policy, or the
    fallback) and the manifest's suggestions; a contradiction raises ``ValueError``.
    """
    router = getattr(app, "router", None)
    if not isinstance(router, Router):
        raise TypeError("mount_mcp needs a Starlette or FastAPI application")
    if not path.startswith("/") or (path != "/" and path.endswith("/")):
        raise ValueError(f"path must start with '/' and not end with one, got {path!r}")
    declared = collect_declarations(handler)
    cfg = with_declarations(cfg, declared)
    cfg.validate()
    asgi_handler, handler_lifespan = adapt_handler(handler, cfg)
    runtime = Runtime(cfg, asgi_handler, path, handler_lifespan, requirements_of(declared))
    metadata = MetadataEndpoint(cfg, runtime.advertised_scopes)
    # At the resource URI's own path, and at the mount path when a proxy maps one onto the other.
    metadata_paths = dict.fromkeys((metadata_path(cfg.resource_uri), well_known_path(path)))
    routes = [
        Route(path, AuthSecMiddleware(asgi_handler, runtime)),
        *(Route(p, metadata, methods=["GET", "HEAD", "OPTIONS"]) for p in metadata_paths),
    ]
    # First, so that no catch-all route of the app can shadow the protected path.
    router.routes[0:0] = routes
    router.lifespan_context = _compose_lifespan(runtime, router.lifespan_context)
    return runtime


def _compose_lifespan(
    runtime: Runtime, inner: Callable[[Any], AbstractAsyncContextManager[Any]]
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """Our startup first (it may refuse to start), then the app's own lifespan inside it."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with runtime.running(), inner(app) as state:
            yield state

    return lifespan


def adapt_handler(handler: Any, cfg: Config) -> tuple[ASGIApp, AbstractAsyncContextManager[Any] | None]:
    """The handler as plain ASGI, plus what must run for its lifetime (if anything)."""
    mcp_app = _mcp_sdk_app(handler, cfg)
    if mcp_app is not None:
        return mcp_app
    if not callable(handler):
        raise TypeError("handler must be an ASGI app, an async request handler or an mcp server")
    if _takes_one_argument(handler):
        return request_response(handler), None
    return handler, None


def _takes_one_argument(handler: Any) -> bool:
    """A Starlette-style endpoint takes one request; an ASGI app takes (scope, receive, send)."""
    if not (inspect.isfunction(handler) or inspect.ismethod(handler)):
        return False
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return len(params) == 1


def _mcp_sdk_app(handler: Any, cfg: Config) -> tuple[ASGIApp, AbstractAsyncContextManager[Any]] | None:
    """For an ``mcp`` SDK server: its streamable HTTP app and session manager; else None."""
    try:
        from mcp.server.lowlevel import Server
        from mcp.server.mcpserver import MCPServer
        from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
    except ImportError:  # the optional extra is not installed, so it cannot be an mcp server
        return None
    server = handler._lowlevel_server if isinstance(handler, MCPServer) else handler
    if not isinstance(server, Server):
        return None
    manager = StreamableHTTPSessionManager(app=server, max_request_body_size=cfg.max_body_bytes)
    return StreamableHTTPASGIApp(manager), manager.run()
