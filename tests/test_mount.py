"""mount_mcp: handler kinds, lifespan composition, metadata document, non-HTTP scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from helpers import Recorder, bearer, call_tool, protected_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from authsec_sdk.runtime import Config, mount_mcp
from authsec_sdk.testing import LocalIssuer


async def request_handler(request: Request) -> Response:
    """A Starlette-style endpoint, reading the principal from request.state."""
    principal = request.state.authsec_principal
    body = await request.body()
    return JSONResponse({"subject": principal.subject, "scopes": list(principal.scopes), "length": len(body)})


def test_starlette_request_handler(issuer: LocalIssuer) -> None:
    with protected_app(issuer, request_handler, tool_scopes={"t": []}) as p:
        token = issuer.mint(subject="dana", scopes=["a", "b"], audience=p.url)
        r = httpx.post(p.url, json=call_tool("t"), headers=bearer(token))
    assert r.status_code == 200
    assert r.json()["subject"] == "dana"
    assert r.json()["scopes"] == ["a", "b"]
    assert r.json()["length"] > 0


def test_user_lifespan_runs_with_fastapi_lifespan_argument(issuer: LocalIssuer) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello(request: Request) -> dict[str, str]:
        return {"greeting": request.state.greeting}

    with protected_app(issuer, Recorder(), app=app, tool_scopes={}) as p:
        assert events == ["startup"]
        assert httpx.get(f"{p.base}/hello").json() == {"greeting": "hello"}
        assert httpx.get(p.url, headers=bearer(issuer.mint(audience=p.url))).status_code == 200
        assert p.runtime.ready
    assert events == ["startup", "shutdown"]
    assert not p.runtime.ready


def test_user_lifespan_runs_with_starlette(issuer: LocalIssuer) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    with protected_app(issuer, Recorder(), app=Starlette(lifespan=lifespan), tool_scopes={}) as p:
        assert httpx.get(p.url, headers=bearer(issuer.mint(audience=p.url))).status_code == 200
    assert events == ["startup", "shutdown"]


def test_requests_before_startup_fail_closed(issuer: LocalIssuer) -> None:
    app = Starlette()
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", tool_scopes={})
    mount_mcp(app, "/mcp", Recorder(), cfg)
    token = issuer.mint(audience=cfg.resource_uri)
    # TestClient without the context manager does not run the lifespan.
    r = TestClient(app).get("/mcp", headers=bearer(token))
    assert r.status_code == 503
    assert r.json() == {"error": "temporarily_unavailable", "error_description": "not started"}
    assert r.headers["retry-after"]


def test_invalid_config_is_refused_at_mount() -> None:
    with pytest.raises(ValueError, match="introspection client credentials are required"):
        mount_mcp(
            Starlette(),
            "/mcp",
            Recorder(),
            Config(issuer="https://as", introspection_url="https://as/i", resource_uri="https://h/mcp"),
        )


def test_mount_needs_an_application() -> None:
    with pytest.raises(TypeError):
        mount_mcp(object(), "/mcp", Recorder(), Config())


def test_app_routes_cannot_shadow_the_protected_path(issuer: LocalIssuer) -> None:
    async def open_door(request: Request) -> Response:
        return Response("unprotected!")

    app = Starlette(routes=[Route("/mcp", open_door, methods=["GET", "POST"])])
    with protected_app(issuer, Recorder(), app=app, tool_scopes={}) as p:
        assert httpx.get(p.url).status_code == 401


def test_lifespan_and_websocket_pass_through(issuer: LocalIssuer) -> None:
    async def ws_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", ws_endpoint)])
    cfg = issuer.config(resource_uri="http://localhost/mcp", tool_scopes={})
    mount_mcp(app, "/mcp", Recorder(), cfg)
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hi"


@pytest.mark.anyio
async def test_startup_runs_in_lifespan(issuer: LocalIssuer) -> None:
    app = Starlette()
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", tool_scopes={})
    runtime = mount_mcp(app, "/mcp", Recorder(), cfg)
    assert not runtime.ready
    async with LifespanManager(app):
        assert runtime.ready
        assert runtime.health()["ready"] is True
    assert not runtime.ready


def test_metadata_document(issuer: LocalIssuer) -> None:
    overrides: dict[str, Any] = {"resource_name": "Notes", "supported_scopes": ("notes:read", "notes:write")}
    with protected_app(issuer, Recorder(), tool_scopes={"a": ["notes:admin"]}, **overrides) as p:
        url = f"{p.base}/.well-known/oauth-protected-resource/mcp"
        r = httpx.get(url, headers={"Origin": "https://app.example"})
        head = httpx.head(url)
        preflight = httpx.options(
            url, headers={"Origin": "https://x", "Access-Control-Request-Method": "GET"}
        )
        post = httpx.post(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.json() == {
        "resource": p.url,
        "authorization_servers": [issuer.issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": "Notes",
        "scopes_supported": ["notes:read", "notes:write", "notes:admin"],
    }
    assert head.status_code == 200 and head.content == b""
    assert preflight.status_code == 204
    assert post.status_code == 405


def test_metadata_omits_empty_scopes(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), tool_scopes={"a": []}) as p:
        doc = httpx.get(f"{p.base}/.well-known/oauth-protected-resource/mcp").json()
    assert "scopes_supported" not in doc
    assert "resource_name" not in doc


def test_metadata_for_a_nested_path(issuer: LocalIssuer) -> None:
    with protected_app(issuer, Recorder(), path="/api/v1/mcp", tool_scopes={}) as p:
        r = httpx.get(f"{p.base}/.well-known/oauth-protected-resource/api/v1/mcp")
        challenge = httpx.get(p.url).headers["www-authenticate"]
    assert r.json()["resource"] == p.url
    assert f'resource_metadata="{p.base}/.well-known/oauth-protected-resource/api/v1/mcp"' in challenge
