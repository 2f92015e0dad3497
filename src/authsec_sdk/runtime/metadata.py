"""RFC 9728 protected-resource metadata: where it lives, what it says, and serving it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from .config import Config

WELL_KNOWN = "/.well-known/oauth-protected-resource"

_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
]


def metadata_path(resource_uri: str) -> str:
    """The path-inserted well-known path (RFC 9728 §3.1): ``https://h/mcp`` -> ``/.well-known/…/mcp``."""
    return well_known_path(urlsplit(resource_uri).path)


def well_known_path(resource_path: str) -> str:
    """The metadata path for a resource served at ``resource_path`` on this host."""
    return WELL_KNOWN + resource_path.rstrip("/")


def metadata_url(resource_uri: str) -> str:
    """Absolute URL of the metadata document, for the ``resource_metadata`` challenge parameter."""
    parts = urlsplit(resource_uri)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource_uri)}"


def metadata_document(cfg: Config, scopes_supported: Sequence[str]) -> dict[str, Any]:
    """The document; empty optional members are left out, never sent as [] or null (RFC 9728 §2)."""
    doc: dict[str, Any] = {
        "resource": cfg.resource_uri,
        "authorization_servers": [cfg.effective_authorization_server],
        "bearer_methods_supported": ["header"],
    }
    if cfg.resource_name:
        doc["resource_name"] = cfg.resource_name
    if scopes_supported:
        doc["scopes_supported"] = list(scopes_supported)
    return doc


class MetadataEndpoint:
    """ASGI endpoint for the document. Public and CORS-open: browsers' MCP clients fetch it.

    ``scopes`` is read on every request so scopes added in the backend show up without a
    restart; the encoded document is rebuilt only when they change.
    """

    def __init__(self, cfg: Config, scopes: Callable[[], Sequence[str]]) -> None:
        self._cfg = cfg
        self._scopes = scopes
        self._cached: tuple[tuple[str, ...], bytes] | None = None

    def _body(self) -> bytes:
        scopes = tuple(self._scopes())
        if self._cached is None or self._cached[0] != scopes:
            self._cached = (scopes, json.dumps(metadata_document(self._cfg, scopes)).encode())
        return self._cached[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET")
        if method == "OPTIONS":
            await _send(send, 204, _CORS, b"")
            return
        if method not in ("GET", "HEAD"):
            await _send(send, 405, [(b"allow", b"GET, HEAD, OPTIONS"), *_CORS], b"")
            return
        body = self._body()
        headers = [
            (b"content-type", b"application/json"),
            (b"cache-control", b"public, max-age=60"),
            (b"content-length", str(len(body)).encode()),
            *_CORS,
        ]
        await _send(send, 200, headers, b"" if method == "HEAD" else body)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
