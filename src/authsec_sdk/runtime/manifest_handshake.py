"""The synthetic MCP client that lists a handler's tools in process, over ASGI.

It makes the handshake a real MCP client would: ``initialize`` -> ``notifications/initialized``
-> ``tools/list`` following ``nextCursor``, carrying the ``Mcp-Session-Id`` the server hands
out and ending the session with ``DELETE``. A server that only speaks the newer, session-less
revision (2026-07-28) refuses ``initialize``; it is then asked ``server/discover`` and listed
with that revision's per-request ``_meta`` envelope and ``Mcp-Method`` header instead.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp

from .. import __version__
from .manifest_tool import ManifestError, describe
from .sse import sse_data

logger = logging.getLogger("authsec.manifest")

#: The handshake revision offered in ``initialize``; the server may answer an older one.
HANDSHAKE_VERSION = "2025-11-25"
#: The session-less revision, reached through ``server/discover``.
MODERN_VERSION = "2026-07-28"
#: Most ``tools/list`` pages read: a paginator that never ends must not hang the task.
MAX_PAGES = 100

_CLIENT_INFO = {"name": "authsec-sdk-manifest", "version": __version__}
_MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": _CLIENT_INFO,
}


class HandshakeRefused(ManifestError):
    """The handler answered a request with a JSON-RPC error or an HTTP 4xx."""


async def list_tools_in_process(
    handler_app: ASGIApp, path: str, *, origin: str, request_timeout: float
) -> list[Any]:
    """Every entry of the handler's ``tools/list``, asked over ASGI as an MCP client would.

    ``origin`` (scheme and host of the public resource URI) is what the handler sees as the
    request's host, so host checks configured for real traffic accept these requests too.
    Each request is bounded by ``request_timeout`` seconds.
    """
    transport = httpx.ASGITransport(app=handler_app)
    async with httpx.AsyncClient(transport=transport, base_url=origin) as http:
        client = _SyntheticClient(http, path, request_timeout)
        try:
            await _open(client)
            return await _list_all_tools(client)
        finally:
            await client.close()


async def _open(client: _SyntheticClient) -> None:
    """The handshake; discovery when the handler refuses it (a newer-revision-only server)."""
    try:
        result = await client.request(
            "initialize",
            {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": _CLIENT_INFO},
        )
    except HandshakeRefused as refused:
        try:
            await _discover(client)
        except ManifestError as exc:
            raise ManifestError(f"{refused}; then {exc}") from exc
        return
    version = result.get("protocolVersion")
    if not isinstance(version, str) or not version:
        raise ManifestError("initialize: the result names no protocolVersion")
    client.protocol_version = version
    await client.notify("notifications/initialized")


async def _discover(client: _SyntheticClient) -> None:
    client.protocol_version, client.modern = MODERN_VERSION, True
    result = await client.request("server/discover", {})
    supported = result.get("supportedVersions")
    if not isinstance(supported, list) or MODERN_VERSION not in supported:
        raise ManifestError(
            f"server/discover: {MODERN_VERSION} is not among the supported versions {supported!r}"
        )


async def _list_all_tools(client: _SyntheticClient) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        result = await client.request("tools/list", {} if cursor is None else {"cursor": cursor})
        page = result.get("tools")
        if not isinstance(page, list):
            raise ManifestError("tools/list: the result has no 'tools' list")
        tools.extend(page)
        cursor = result.get("nextCursor")
        if cursor is None:
            return tools
        if not isinstance(cursor, str) or not cursor or cursor in seen:
            raise ManifestError(f"tools/list: unusable or repeated nextCursor {cursor!r}")
        seen.add(cursor)
    raise ManifestError(f"tools/list: still paginating after {MAX_PAGES} pages")


class _SyntheticClient:
    """The few MCP client mechanics the handshake needs: ids, session and version headers."""

    def __init__(self, http: httpx.AsyncClient, path: str, timeout: float) -> None:
        self._http = http
        self._path = path
        self._timeout = timeout
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.modern = False

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        if self.modern:
            params = {**params, "_meta": _MODERN_META}
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = await self._send("POST", method, message)
        result = read_result(response, request_id, method)
        if method == "initialize":
            self.session_id = response.headers.get("mcp-session-id") or None
        return result

    async def notify(self, method: str) -> None:
        response = await self._send("POST", method, {"jsonrpc": "2.0", "method": method})
        if response.status_code >= 400:
            raise ManifestError(f"{method}: HTTP {response.status_code}")

    async def close(self) -> None:
        """End the session, if one was created. A failure here does not spoil the listing."""
        if self.session_id is None:
            return
        try:
            await self._send("DELETE", "", None)
        except Exception as exc:
            logger.debug("ending the synthetic MCP session failed: %s", describe(exc))

    async def _send(self, verb: str, method: str, message: dict[str, Any] | None) -> httpx.Response:
        headers = {"Accept": "application/json, text/event-stream"}
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        if self.modern:
            headers["Mcp-Method"] = method
        content = None if message is None else json.dumps(message).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            with anyio.fail_after(self._timeout):
                return await self._http.request(verb, self._path, content=content, headers=headers)
        except TimeoutError:
            raise ManifestError(f"{method or verb}: no answer within {self._timeout:g}s") from None


def read_result(response: httpx.Response, request_id: int, method: str) -> dict[str, Any]:
    """The result of request ``request_id`` from a JSON or ``text/event-stream`` answer.

    A JSON-RPC error, or an HTTP 4xx without a response, is `HandshakeRefused`.
    """
    for message in _messages(response):
        if not isinstance(message, dict) or message.get("id") != request_id:
            continue
        if "error" in message:
            error = message["error"] if isinstance(message["error"], dict) else {}
            raise HandshakeRefused(f"{method}: JSON-RPC error {error.get('code')}: {error.get('message')}")
        result = message.get("result")
        if isinstance(result, dict):
            return result
        raise ManifestError(f"{method}: the result is not an object")
    if 400 <= response.status_code < 500:
        raise HandshakeRefused(f"{method}: HTTP {response.status_code}")
    raise ManifestError(f"{method}: HTTP {response.status_code} without a JSON-RPC response")


def _messages(response: httpx.Response) -> list[Any]:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "text/event-stream":
        return [_json_or_none(data) for data in sse_data(response.content)]
    if content_type == "application/json":
        return [_json_or_none(response.text)]
    return []


def _json_or_none(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
