"""End to end through `mount_mcp`: an app served by uvicorn on 127.0.0.1, its policy and its
manifest exchanged with the local AuthSec backend over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from helpers import Protected, Recorder, bearer, call_tool, protected_app, rpc
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from authsec_sdk.runtime import PolicyMode, mount_mcp
from authsec_sdk.testing import LocalIssuer


@contextmanager
def remote_app(issuer: LocalIssuer, handler: Any = None, **overrides: Any) -> Iterator[Protected]:
    """``handler`` (a `Recorder` by default) mounted in a remote policy mode, served by uvicorn."""
    values = {**issuer.backend.config_values(), "http_timeout": 1.0, **overrides}
    with protected_app(issuer, handler if handler is not None else Recorder(), **values) as p:
        yield p


def call(p: Protected, issuer: LocalIssuer, tool: str, *scopes: str) -> httpx.Response:
    token = issuer.mint(scopes=scopes, audience=p.url)
    return httpx.post(p.url, json=call_tool(tool), headers=bearer(token))


def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_backend_policy_decides_tool_calls(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(
        public_tools=["ping"], tools={"read": ["notes:read"], "orphan": []}, scopes_supported=["notes:write"]
    )
    with remote_app(issuer) as p:
        assert call(p, issuer, "ping").status_code == 200
        assert call(p, issuer, "read", "notes:read").status_code == 200
        denied = call(p, issuer, "read", "other")
        assert denied.status_code == 403 and denied.json()["error"]["data"]["required_scopes"] == [
            "notes:read"
        ]
        assert call(p, issuer, "orphan", "notes:read").status_code == 403
        assert call(p, issuer, "absent", "notes:read").status_code == 403
        metadata = httpx.get(f"{p.base}/.well-known/oauth-protected-resource/mcp").json()
        health = p.runtime.health()["policy"]
    # A scope added in the backend reaches clients through the RFC 9728 document.
    assert metadata["scopes_supported"] == ["notes:write", "notes:read"]
    assert health["mode"] == "remote_required" and health["generation"] == issuer.backend.policy.generation


def test_old_shape_through_mount(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(tools={"read": ["notes:read"], "ping": []}, shape="old")
    with remote_app(issuer) as p:
        assert call(p, issuer, "read", "notes:read").status_code == 200
        assert call(p, issuer, "read").status_code == 403
        assert call(p, issuer, "ping").status_code == 200  # an empty list is a public tool
        assert call(p, issuer, "absent", "notes:read").status_code == 403


def test_incomplete_policy_answers_503_to_every_tool_call(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(
        public_tools=["ping"], state="needs_setup", policy_complete=False, reason="scan"
    )
    with remote_app(issuer) as p:  # starts, so that its manifest can complete the setup
        refused = call(p, issuer, "ping")
        token = issuer.mint(audience=p.url)
        listing = httpx.post(p.url, json=rpc("tools/list"), headers=bearer(token))
    assert refused.status_code == 503
    assert refused.json()["error"]["data"] == {
        "error": "policy_incomplete",
        "error_description": "state=needs_setup: scan",
        "state": "needs_setup",
        "reason": "scan",
    }
    assert listing.status_code == 200  # only tools/call is judged by the policy


def test_policy_change_reaches_requests_after_the_ttl(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(tools={"read": ["old"]})
    with remote_app(issuer, scope_matrix_ttl=0.3) as p:
        assert call(p, issuer, "read", "new").status_code == 403
        issuer.backend.set_policy(tools={"read": ["new"]})
        eventually(lambda: call(p, issuer, "read", "new").status_code == 200)
        assert call(p, issuer, "read", "old").status_code == 403


def test_backend_outage_serves_stale_then_503_then_recovers(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.set_policy(tools={"read": ["r"]})
    with remote_app(issuer, scope_matrix_ttl=0.2, policy_max_staleness=0.8) as p:
        backend.policy_fault = "down"
        # Requests drive the refresh; while it fails, the last good map keeps deciding.
        eventually(
            lambda: (
                call(p, issuer, "read", "r").status_code == 200
                and p.runtime.health()["policy"]["serving"] == "stale"
            )
        )

        eventually(lambda: call(p, issuer, "read", "r").status_code == 503)
        refused = call(p, issuer, "read", "r")
        assert refused.json()["error"]["data"]["error"] == "policy_unavailable"
        assert refused.headers["retry-after"]

        backend.policy_fault = None
        eventually(lambda: call(p, issuer, "read", "r").status_code == 200)
        assert p.runtime.health()["policy"]["serving"] == "ready"


@pytest.mark.anyio
async def test_remote_required_refuses_to_start(issuer: LocalIssuer) -> None:
    issuer.backend.policy_fault = "http_500"
    app = Starlette()
    cfg = issuer.config(**issuer.backend.config_values(), resource_uri="http://127.0.0.1:9/mcp")
    runtime = mount_mcp(app, "/mcp", Recorder(), cfg)
    with pytest.raises(BaseException) as caught:
        async with LifespanManager(app):
            pass
    message = " ".join(str(e) for e in leaves(caught.value))
    assert "REMOTE_REQUIRED initial scope matrix fetch failed" in message and "HTTP 500" in message
    assert issuer.client_secret not in message
    assert not runtime.ready


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())  # BaseExceptionGroup on 3.11+
    if not inner:
        yield exc
    for each in inner:
        yield from leaves(each)


def test_fallback_mode_starts_on_local_scopes_and_switches_when_the_backend_answers(
    issuer: LocalIssuer,
) -> None:
    backend = issuer.backend
    backend.policy_fault = "down"
    backend.set_policy(tools={"read": ["remote"]})
    fallback = {"policy_mode": PolicyMode.REMOTE_WITH_LOCAL_FALLBACK, "tool_scopes": {"read": ["local"]}}
    with remote_app(issuer, scope_matrix_ttl=0.2, **fallback) as p:
        assert call(p, issuer, "read", "local").status_code == 200
        assert call(p, issuer, "read", "remote").status_code == 403
        assert p.runtime.health()["policy"]["serving"] == "local_fallback"
        backend.policy_fault = None
        eventually(lambda: call(p, issuer, "read", "remote").status_code == 200)
        assert call(p, issuer, "read", "local").status_code == 403


INFO = {"name": "test-client", "version": "1"}


def notes_server() -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def read_notes() -> str:
        """Read the notes."""
        return "notes"

    return server


def test_manifest_is_published_at_startup_from_the_mcp_handler(issuer: LocalIssuer) -> None:
    overrides = {"publish_manifest": True, "tool_scope_suggestions": {"read_notes": ["notes:read"]}}
    with remote_app(issuer, notes_server(), **overrides):
        eventually(lambda: issuer.backend.published_tools is not None)
    (tool,) = issuer.backend.published_tools or []
    assert tool["name"] == "read_notes" and tool["description"] == "Read the notes."
    assert tool["suggested_scopes"] == ["notes:read"]


def test_manifest_failure_does_not_block_startup(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsec.manifest")
    issuer.backend.manifest_fault = "slow"  # answers after 3 s; the SDK gives up after 1 s
    issuer.backend.set_policy(public_tools=["read_notes"])
    started = time.monotonic()
    with remote_app(issuer, notes_server(), publish_manifest=True) as p:
        assert time.monotonic() - started < 1.0  # serving before the manifest gave up
        initialize = rpc(
            "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": INFO}
        )
        headers = {**bearer(issuer.mint(audience=p.url)), "Accept": "application/json, text/event-stream"}
        assert httpx.post(p.url, json=initialize, headers=headers).status_code == 200
        eventually(lambda: any(r.name == "authsec.manifest" for r in caplog.records))
    (warning,) = [r for r in caplog.records if r.name == "authsec.manifest"]
    assert warning.levelno == logging.WARNING and "timed out after 1s" in warning.getMessage()
    assert issuer.backend.published_tools is None
