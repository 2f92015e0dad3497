"""Manifest publishing: the inventory from an in-process MCP handshake or from the provider,
PUT to the local AuthSec backend over real HTTP; failures are warnings, never exceptions."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
from helpers import read_body
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsec_sdk.runtime import Config, ManifestTool
from authsec_sdk.runtime.manifest import publish_manifest
from authsec_sdk.runtime.manifest_handshake import MAX_PAGES, HandshakeRefused, read_result
from authsec_sdk.runtime.manifest_tool import ManifestError
from authsec_sdk.runtime.sse import sse_data
from authsec_sdk.testing import LocalIssuer

RESOURCE = "http://127.0.0.1:8000/mcp"
FAILED = "tool manifest not published (startup continues): "


def manifest_config(issuer: LocalIssuer, **overrides: Any) -> Config:
    fields = {"resource_uri": RESOURCE, "publish_manifest": True, "http_timeout": 2.0, **overrides}
    cfg = issuer.config(**issuer.backend.config_values(), **fields)
    cfg.validate()
    return cfg


async def publish(cfg: Config, handler: ASGIApp, path: str = "/mcp") -> None:
    async with httpx.AsyncClient(timeout=cfg.http_timeout) as http:
        await publish_manifest(cfg, handler, http, path)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "authsec.manifest" and r.levelno == logging.WARNING
    ]


# ---------------------------------------------------------------------------- ASGI helpers
@dataclass
class Seen:
    verb: str
    headers: dict[str, str]
    body: Any


@dataclass
class Recording:
    """Forwards to ``app`` and remembers each request: proves what the handshake sent."""

    app: ASGIApp
    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append(Seen(scope["method"], headers, json.loads(body) if body else None))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def methods(self) -> list[str]:
        return [s.body["method"] if s.body else s.verb for s in self.seen]


async def answer(
    send: Send, status: int, payload: Any = None, *, sse: bool = False, headers: Any = ()
) -> None:
    if payload is None:
        content, content_type = b"", b"application/json"
    elif sse:  # a progress notification first, as real servers may interleave
        note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}
        content = f": comment\r\nevent: message\r\ndata: {json.dumps(note)}\r\n\r\n".encode()
        content += f"event: message\r\ndata: {json.dumps(payload)}\r\n\r\n".encode()
        content_type = b"text/event-stream"
    else:
        content, content_type = json.dumps(payload).encode(), b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), *headers],
        }
    )
    await send({"type": "http.response.body", "body": content})


# ---------------------------------------------------------------------------- a real MCP server
def demo_server() -> MCPServer:
    server = MCPServer("demo")

    @server.tool(title="Add numbers")
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @server.tool(annotations=ToolAnnotations(destructive_hint=True))
    def delete_repo(repo: str) -> str:
        """Delete a repository."""
        return repo

    return server


@asynccontextmanager
async def running_mcp(json_response: bool) -> AsyncIterator[ASGIApp]:
    """An ``mcp`` SDK server's streamable HTTP app with its session manager running."""
    server = demo_server()
    app = server.streamable_http_app(
        json_response=json_response,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    async with server.session_manager.run():
        yield app


@pytest.mark.anyio
@pytest.mark.parametrize("json_response", [False, True], ids=["sse", "json"])
async def test_handshake_with_an_mcp_sdk_server(issuer: LocalIssuer, json_response: bool) -> None:
    cfg = manifest_config(issuer, tool_scope_suggestions={"delete_repo": ["repo:admin"], "unknown": ["x"]})
    async with running_mcp(json_response) as app:
        recording = Recording(app)
        await publish(cfg, recording)

    tools = {t["name"]: t for t in issuer.backend.published_tools or []}
    assert sorted(tools) == ["add", "delete_repo"]
    assert tools["add"]["title"] == "Add numbers" and tools["add"]["description"] == "Add two numbers."
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert "suggested_scopes" not in tools["add"]
    assert tools["delete_repo"]["annotations"]["destructiveHint"] is True
    assert tools["delete_repo"]["suggested_scopes"] == ["repo:admin"]

    assert recording.methods() == ["initialize", "notifications/initialized", "tools/list", "DELETE"]
    first, *rest = recording.seen
    assert "mcp-session-id" not in first.headers
    session_ids = {s.headers.get("mcp-session-id") for s in rest}
    assert len(session_ids) == 1 and None not in session_ids
    assert all(s.headers["mcp-protocol-version"] == "2025-11-25" for s in rest)
    assert all(s.headers["host"] == "127.0.0.1:8000" for s in recording.seen)  # the resource URI's host


# ---------------------------------------------------------------------------- hand-written servers
@dataclass
class FakeMcp:
    """A hand-written MCP endpoint over raw ASGI.

    Hand-written because the ``mcp`` SDK server neither paginates ``tools/list`` nor can be
    limited to the 2026-07-28 revision; this one does either, checks the headers a client
    must send, and records what it received.
    """

    #: cursor (None for the first page) -> (tool names, next cursor)
    pages: Callable[[str | None], tuple[list[str], str | None]]
    modern_only: bool = False
    session_id: str = "session-42"
    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        message: Any = json.loads(body) if body else None
        self.seen.append(Seen(scope["method"], headers, message))
        if scope["method"] == "DELETE":
            await answer(send, 200 if headers.get("mcp-session-id") == self.session_id else 404)
        elif self.modern_only:
            await self._modern(message, headers, send)
        else:
            await self._legacy(message, headers, send)

    async def _legacy(self, message: dict[str, Any], headers: dict[str, str], send: Send) -> None:
        method, request_id = message["method"], message.get("id")
        if method == "initialize":
            result = {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "f"},
            }
            session = [(b"mcp-session-id", self.session_id.encode())]
            await answer(send, 200, {"jsonrpc": "2.0", "id": request_id, "result": result}, headers=session)
        elif (
            headers.get("mcp-session-id") != self.session_id
            or headers.get("mcp-protocol-version") != "2025-06-18"
        ):
            await answer(
                send, 400, {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32600, "message": "?"}}
            )
        elif method == "notifications/initialized":
            await answer(send, 202)
        else:
            cursor = message.get("params", {}).get("cursor")
            result = self._page(cursor)
            # Alternate JSON and SSE answers: a client must read both.
            await answer(
                send, 200, {"jsonrpc": "2.0", "id": request_id, "result": result}, sse=cursor is not None
            )

    async def _modern(self, message: dict[str, Any], headers: dict[str, str], send: Send) -> None:
        method, request_id = message["method"], message.get("id")
        meta = message.get("params", {}).get("_meta", {})
        if method == "initialize":
            error = {
                "code": -32022,
                "message": "Unsupported protocol version",
                "data": {"supported": ["2026-07-28"]},
            }
            await answer(send, 400, {"jsonrpc": "2.0", "id": request_id, "error": error})
        elif (
            headers.get("mcp-method") != method
            or headers.get("mcp-protocol-version") != "2026-07-28"
            or meta.get("io.modelcontextprotocol/protocolVersion") != "2026-07-28"
            or "io.modelcontextprotocol/clientCapabilities" not in meta
        ):
            await answer(
                send, 400, {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32001, "message": "hdr"}}
            )
        elif method == "server/discover":
            result = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}}
            await answer(send, 200, {"jsonrpc": "2.0", "id": request_id, "result": result})
        else:
            result = self._page(message["params"].get("cursor"))
            await answer(send, 200, {"jsonrpc": "2.0", "id": request_id, "result": result})

    def _page(self, cursor: str | None) -> dict[str, Any]:
        names, next_cursor = self.pages(cursor)
        result: dict[str, Any] = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in names]}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        return result


def three_pages(cursor: str | None) -> tuple[list[str], str | None]:
    return {None: (["a", "b"], "p2"), "p2": (["c"], "p3"), "p3": (["d"], None)}[cursor]


@pytest.mark.anyio
async def test_handshake_follows_next_cursor_across_pages(issuer: LocalIssuer) -> None:
    fake = FakeMcp(three_pages)
    await publish(manifest_config(issuer), fake)
    assert [t["name"] for t in issuer.backend.published_tools or []] == ["a", "b", "c", "d"]
    assert [
        s.body["params"].get("cursor") for s in fake.seen if s.body and s.body["method"] == "tools/list"
    ] == [
        None,
        "p2",
        "p3",
    ]
    assert fake.seen[-1].verb == "DELETE" and fake.seen[-1].headers["mcp-session-id"] == "session-42"


@pytest.mark.anyio
async def test_pagination_is_capped(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeMcp(lambda cursor: (["t" + str(cursor)], f"{cursor}+"))
    await publish(manifest_config(issuer), fake)
    assert issuer.backend.published_tools is None and issuer.backend.manifest_requests == 0
    assert sum(1 for s in fake.seen if s.body and s.body["method"] == "tools/list") == MAX_PAGES
    assert warnings_of(caplog) == [FAILED + f"tools/list: still paginating after {MAX_PAGES} pages"]
    assert fake.seen[-1].verb == "DELETE"  # the session is ended even so


@pytest.mark.anyio
async def test_a_repeated_cursor_stops_the_listing(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    await publish(manifest_config(issuer), FakeMcp(lambda cursor: (["t"], "same")))
    assert issuer.backend.published_tools is None
    assert "repeated nextCursor 'same'" in warnings_of(caplog)[0]


@pytest.mark.anyio
async def test_newer_revision_only_server_is_listed_through_discovery(issuer: LocalIssuer) -> None:
    fake = FakeMcp(three_pages, modern_only=True)
    await publish(manifest_config(issuer), fake)
    assert [t["name"] for t in issuer.backend.published_tools or []] == ["a", "b", "c", "d"]
    assert [s.body["method"] for s in fake.seen] == ["initialize", "server/discover", *["tools/list"] * 3]
    assert not any("mcp-session-id" in s.headers for s in fake.seen)  # no session, so no DELETE either


@pytest.mark.anyio
async def test_refused_handshake_and_discovery_is_a_warning(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse_everything(scope: Scope, receive: Receive, send: Send) -> None:
        await answer(send, 405)

    await publish(manifest_config(issuer), refuse_everything)
    assert warnings_of(caplog) == [FAILED + "initialize: HTTP 405; then server/discover: HTTP 405"]


@pytest.mark.anyio
async def test_a_failing_handler_is_a_warning(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("handler exploded")

    await publish(manifest_config(issuer), broken)
    assert warnings_of(caplog) == [FAILED + "RuntimeError: handler exploded"]


@pytest.mark.anyio
async def test_a_silent_handler_is_bounded_by_the_timeout(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    async def hangs(scope: Scope, receive: Receive, send: Send) -> None:
        await read_body(receive)
        await anyio.sleep_forever()

    started = time.monotonic()
    await publish(manifest_config(issuer, http_timeout=0.3), hangs)
    assert time.monotonic() - started < 2
    assert warnings_of(caplog) == [FAILED + "initialize: no answer within 0.3s"]


# ---------------------------------------------------------------------------- provider
def unused_handler() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the provider replaces the handshake")

    return app


@pytest.mark.anyio
async def test_sync_provider_with_manifest_tools_and_dicts(issuer: LocalIssuer) -> None:
    def inventory() -> list[Any]:
        return [
            ManifestTool(name="create_pr", description="Open a PR", suggested_scopes=["github.pr:write"]),
            {"name": "list_repos", "input_schema": {"type": "object"}, "annotations": {"readOnlyHint": True}},
        ]

    cfg = manifest_config(
        issuer,
        tool_inventory_provider=inventory,
        tool_scope_suggestions={"create_pr": ["ignored"], "list_repos": ["repo:read"]},
    )
    await publish(cfg, unused_handler())
    assert issuer.backend.published_tools == [
        {"name": "create_pr", "description": "Open a PR", "suggested_scopes": ["github.pr:write"]},
        {
            "name": "list_repos",
            "input_schema": {"type": "object"},
            "annotations": {"readOnlyHint": True},
            "suggested_scopes": ["repo:read"],
        },
    ]


@pytest.mark.anyio
async def test_async_provider(issuer: LocalIssuer) -> None:
    async def inventory() -> list[Any]:
        return [{"name": "ping", "title": "Ping"}]

    await publish(manifest_config(issuer, tool_inventory_provider=inventory), unused_handler())
    assert issuer.backend.published_tools == [{"name": "ping", "title": "Ping"}]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("inventory", "why"),
    [
        ({"name": "x"}, "must return a list"),
        (["x"], "entry 0 must be a ManifestTool or a dict"),
        ([{"name": "x", "inputSchema": {}}], "unknown fields ['inputSchema']"),
        ([{"name": ""}], "non-empty string 'name'"),
        ([{"name": "x", "suggested_scopes": "a b"}], "suggested_scopes must be a list"),
        ([{"name": "x", "input_schema": []}], "input_schema must be an object"),
        ([{"name": "x"}, ManifestTool(name="x")], "more than once: ['x']"),
    ],
)
async def test_invalid_provider_output_is_a_warning(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture, inventory: Any, why: str
) -> None:
    await publish(manifest_config(issuer, tool_inventory_provider=lambda: inventory), unused_handler())
    assert issuer.backend.manifest_requests == 0
    (warning,) = warnings_of(caplog)
    assert why in warning


@pytest.mark.anyio
async def test_a_raising_provider_is_a_warning(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    def inventory() -> list[Any]:
        raise LookupError("registry offline")

    await publish(manifest_config(issuer, tool_inventory_provider=inventory), unused_handler())
    assert warnings_of(caplog) == [FAILED + "LookupError: registry offline"]


# ---------------------------------------------------------------------------- backend failures
@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "why"), [("down", "HTTP 503"), ("http_500", "HTTP 500"), ("slow", "timed out")]
)
async def test_backend_failure_is_a_warning_and_publish_returns(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture, fault: Any, why: str
) -> None:
    issuer.backend.manifest_fault = fault
    cfg = manifest_config(issuer, http_timeout=0.5, tool_inventory_provider=lambda: [{"name": "t"}])
    started = time.monotonic()
    await publish(cfg, unused_handler())
    assert time.monotonic() - started < 2
    (warning,) = warnings_of(caplog)
    assert why in warning and "/sdk-manifest" in warning
    assert issuer.client_secret not in caplog.text


@pytest.mark.anyio
async def test_wrong_credentials_are_a_warning(issuer: LocalIssuer, caplog: pytest.LogCaptureFixture) -> None:
    cfg = manifest_config(
        issuer, introspection_client_secret="not-the-secret", tool_inventory_provider=lambda: [{"name": "t"}]
    )
    await publish(cfg, unused_handler())
    assert "HTTP 401" in warnings_of(caplog)[0] and "not-the-secret" not in caplog.text


# ---------------------------------------------------------------------------- answers (pure)
def test_sse_data_joins_lines_and_ignores_other_fields() -> None:
    body = b': ping\r\nid: 1\r\nevent: message\r\ndata: {"a":\r\ndata:1}\r\n\r\nretry: 5\n\ndata: x\rdata: y'
    assert list(sse_data(body)) == [b'{"a":\n1}', b"x\ny"]


def response(status: int, payload: Any, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(
        status, headers={"content-type": content_type}, content=json.dumps(payload).encode()
    )


def test_read_result_picks_the_matching_response() -> None:
    other = response(200, {"jsonrpc": "2.0", "id": 9, "result": {}})
    with pytest.raises(ManifestError, match="without a JSON-RPC response"):
        read_result(other, 1, "tools/list")
    assert read_result(response(200, {"jsonrpc": "2.0", "id": 1, "result": {"ok": 1}}), 1, "m") == {"ok": 1}
    with pytest.raises(HandshakeRefused, match="JSON-RPC error -32601: nope"):
        read_result(
            response(200, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}), 1, "m"
        )
    with pytest.raises(HandshakeRefused, match="HTTP 404"):
        read_result(httpx.Response(404), 1, "m")
    with pytest.raises(ManifestError, match="HTTP 502"):
        read_result(httpx.Response(502), 1, "m")
    with pytest.raises(ManifestError, match="not an object"):
        read_result(response(200, {"jsonrpc": "2.0", "id": 1, "result": []}), 1, "m")
