"""The middleware on trio: the request path picks asyncio's own deadline where asyncio runs and
anyio's portable one elsewhere, so both must hold. Requests are driven in process (uvicorn
runs asyncio only); the issuer is real, over HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import anyio
import pytest
from asgi_lifespan import LifespanManager
from helpers import Recorder, call_tool
from starlette.applications import Starlette

from authsec_sdk.runtime import mount_mcp
from authsec_sdk.testing import LocalIssuer, asgi_request

RESOURCE = "http://127.0.0.1:9/mcp"


def auth(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def test_allowed_calls_and_the_body_deadline_hold_on_trio(issuer: LocalIssuer) -> None:
    recorder = Recorder()
    app = Starlette()
    cfg = issuer.config(resource_uri=RESOURCE, tool_scopes={"read": ["notes:read"]}, body_read_timeout=0.2)
    mount_mcp(app, "/mcp", recorder, cfg)
    token = issuer.mint(audience=RESOURCE, scopes=["notes:read"])
    body = json.dumps(call_tool("read")).encode()

    async def main() -> None:
        async with LifespanManager(app):
            assert (await asgi_request(app, headers=auth(token), body=body)).status == 200
            with anyio.fail_after(5):
                stalled = await asgi_request(
                    app, headers=[*auth(token), (b"content-length", b"90")], body=None
                )
            assert stalled.status == 408 and "in time" in stalled.json()["error"]["message"]
            denied = issuer.mint(audience=RESOURCE, scopes=["other"])
            assert (await asgi_request(app, headers=auth(denied), body=body)).status == 403

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
