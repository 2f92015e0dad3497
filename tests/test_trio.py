"""The middleware on trio: the request path picks asyncio's own deadline where asyncio runs and
anyio's portable one elsewhere, so both must hold. Requests are driven in process (uvicorn
runs asyncio only); the issuer is real, over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from asgi_lifespan import LifespanManager
from helpers import Recorder, call_tool
from starlette.applications import Starlette
from starlette.types import Message

from authsec_sdk.runtime import mount_mcp
from authsec_sdk.testing import LocalIssuer

RESOURCE = "http://127.0.0.1:9/mcp"


async def post(app: Any, token: str, body: bytes, *, stall: bool) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to ``app``; with ``stall`` the body never arrives. Returns status and JSON."""
    status, chunks = 0, []

    async def receive() -> Message:
        if stall:
            await anyio.sleep_forever()
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "server": ("127.0.0.1", 9),
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    return status, json.loads(b"".join(chunks) or b"{}")


def test_allowed_calls_and_the_body_deadline_hold_on_trio(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    app = Starlette()
    cfg = issuer.config(resource_uri=RESOURCE, tool_scopes={"read": ["notes:read"]}, body_read_timeout=0.2)
    mount_mcp(app, "/mcp", recorder, cfg)
    token = issuer.mint(audience=RESOURCE, scopes=["notes:read"])
    body = json.dumps(call_tool("read")).encode()

    async def main() -> None:
        async with LifespanManager(app):
            assert (await post(app, token, body, stall=False))[0] == 200
            with anyio.fail_after(5):
                status, answer = await post(app, token, body, stall=True)
            assert status == 408 and "in time" in answer["error"]["message"]
            denied = issuer.mint(audience=RESOURCE, scopes=["other"])
            assert (await post(app, denied, body, stall=False))[0] == 403

    anyio.run(main, backend="trio")
    assert len(recorder.seen) == 1


def test_a_shared_store_on_trio_refuses_startup_naming_why(issuer: LocalIssuer) -> None:
    app = Starlette()
    cfg = issuer.config(resource_uri=RESOURCE, tool_scopes={}, shared_cache_url="redis://127.0.0.1:9/0")
    mount_mcp(app, "/mcp", Recorder(), cfg)

    async def main() -> None:
        async with LifespanManager(app):
            pass  # pragma: no cover (startup is refused)

    with pytest.raises(ExceptionGroup) as refused:  # trio's nursery in the lifespan manager
        anyio.run(main, backend="trio")
    assert refused.group_contains(RuntimeError, match="shared_cache_url needs an asyncio event loop")
