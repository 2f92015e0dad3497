"""`create_mcp_app` and `run_mcp_server_with_oauth`: every declared 4.x tool as an ``mcp`` SDK
server behind `mount_mcp`."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from ..runtime.config import Config, from_env
from ..runtime.mount import mount_mcp
from .decorators import registered_tools
from .tool import LegacyTool

#: Settings without which nothing can be served, and the variable that sets each.
_REQUIRED = {"issuer": "AUTHSEC_ISSUER", "resource_uri": "AUTHSEC_RESOURCE_URI"}


def create_mcp_app(client_id: str, app_name: str, *, config: Config | None = None) -> Starlette:
    """An ASGI app serving every declared tool at ``resource_uri``'s path, protected.

    The config is ``config`` or `from_env()`. ``client_id`` fills ``resource_server_id`` and
    ``introspection_client_id`` where they are unset (so the policy mode infers to
    ``REMOTE_REQUIRED`` unless ``policy_mode`` says otherwise), ``app_name`` fills
    ``resource_name``. A missing setting raises `ValueError` naming its variable.
    """
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id is required")
    cfg = _config(client_id, app_name, from_env() if config is None else config)
    server: MCPServer[Any] = MCPServer(
        app_name, tools=[LegacyTool.from_spec(spec) for spec in registered_tools()]
    )
    app = Starlette()
    mount_mcp(app, urlsplit(cfg.resource_uri).path or "/", server, cfg)
    return app


def run_mcp_server_with_oauth(
    client_id: str, app_name: str, *, host: str = "127.0.0.1", port: int = 8000, config: Config | None = None
) -> None:
    """Serve `create_mcp_app` with uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError(
            "run_mcp_server_with_oauth needs uvicorn: install the 'legacy' extra of authsec-sdk"
        ) from None
    uvicorn.run(create_mcp_app(client_id, app_name, config=config), host=host, port=port)


def _config(client_id: str, app_name: str, cfg: Config) -> Config:
    for field, variable in _REQUIRED.items():
        if not getattr(cfg, field):
            raise ValueError(f"{variable} is required ({field})")
    if not (cfg.jwks_url or cfg.introspection_url or cfg.discover_endpoints):
        raise ValueError(
            "AUTHSEC_JWKS_URL or AUTHSEC_INTROSPECTION_URL is required (jwks_url / introspection_url)"
        )
    return dataclasses.replace(
        cfg,
        resource_server_id=cfg.resource_server_id or client_id,
        introspection_client_id=cfg.introspection_client_id or client_id,
        resource_name=cfg.resource_name or app_name,
    )
