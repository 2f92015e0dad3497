"""Publishing the tool inventory to the AuthSec backend: best effort, in the background.

The admin UI shows the published tools and suggests scopes from them; enforcement never
depends on it. So `publish_manifest` never raises and never blocks startup: any failure is
one WARNING on the ``authsec.manifest`` logger.

The inventory comes from ``Config.tool_inventory_provider`` when set. Otherwise it is read
from the wrapped handler itself, in process over ASGI (no socket, no auth in front), by the
handshake a real MCP client would make (`manifest_handshake`).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx
from starlette.types import ASGIApp

from .backend import put_manifest
from .config import Config
from .config.settings import ToolInventoryProvider
from .manifest_handshake import list_tools_in_process
from .manifest_tool import (
    ManifestError,
    ManifestTool,
    describe,
    tool_from_listing,
    tool_from_provider,
    unique,
)
from .shared.manifest_once import ManifestOnce

logger = logging.getLogger("authsec.manifest")


async def publish_manifest(
    cfg: Config, handler_app: ASGIApp, http: httpx.AsyncClient, path: str, once: ManifestOnce | None = None
) -> None:
    """Read the tool inventory and PUT it to ``sdk-manifest``. Never raises.

    ``path`` is where ``handler_app`` serves MCP (the mount path); ``http`` is the runtime's
    client for the backend. With ``once`` (a shared store), an inventory another worker has
    published already is not sent again.
    """
    body: dict[str, Any] | None = None
    try:
        tools = await read_inventory(cfg, handler_app, path)
        body = manifest_body(with_suggestions(tools, cfg.tool_scope_suggestions or {}))
        if once is not None and not await once.claim(body):
            logger.info("tool manifest already published by another worker: %d tools", len(tools))
            return
        await put_manifest(http, cfg, body)
    except Exception as exc:
        if once is not None and body is not None:
            await once.give_back(body)
        logger.warning("tool manifest not published (startup continues): %s", describe(exc))
        return
    logger.info("tool manifest published: %d tools", len(tools))


async def read_inventory(cfg: Config, handler_app: ASGIApp, path: str) -> list[ManifestTool]:
    """The provider's inventory when configured, else the handler's own ``tools/list``."""
    if cfg.tool_inventory_provider is not None:
        return await tools_from_provider(cfg.tool_inventory_provider)
    listing = await list_tools_in_process(
        handler_app, path, origin=_origin(cfg), request_timeout=cfg.http_timeout
    )
    return unique([tool_from_listing(entry, index) for index, entry in enumerate(listing)])


def manifest_body(tools: Sequence[ManifestTool]) -> dict[str, Any]:
    return {"tools": [tool.to_json() for tool in tools]}


def with_suggestions(
    tools: Sequence[ManifestTool], suggestions: Mapping[str, Sequence[str]]
) -> list[ManifestTool]:
    """Fill ``suggested_scopes`` from ``Config.tool_scope_suggestions`` where a tool gives none."""
    return [
        dataclasses.replace(tool, suggested_scopes=list(suggestions[tool.name]))
        if not tool.suggested_scopes and tool.name in suggestions
        else tool
        for tool in tools
    ]


async def tools_from_provider(provider: ToolInventoryProvider) -> list[ManifestTool]:
    """Call the provider (sync ones in a worker thread, so they cannot stall the event loop)."""
    result: Any = await anyio.to_thread.run_sync(provider)
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, str | bytes | Mapping) or not isinstance(result, Sequence):
        raise ManifestError(f"tool_inventory_provider must return a list, got {type(result).__name__}")
    return unique([tool_from_provider(entry, index) for index, entry in enumerate(result)])


def _origin(cfg: Config) -> str:
    parts = urlsplit(cfg.resource_uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "http://localhost"
