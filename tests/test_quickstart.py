"""The contract's five-line quickstart, run as written against the local issuer and backend.

The quickstart's literal URLs and ids are replaced by the local issuer's; the code itself is
the contract's, executed unchanged: the same imports, the same `Config` fields and modes, the
secret from the environment, `mount_mcp` on a FastAPI app.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from helpers import bearer, call_tool, rpc
from mcp.server.mcpserver import MCPServer

from authsec_sdk.testing import LocalIssuer, ServerThread

QUICKSTART = """
import os
from fastapi import FastAPI
from authsec_sdk.runtime import Config, PolicyMode, ValidationMode, mount_mcp
cfg = Config(
issuer="{issuer}",
authorization_server="{issuer}",
jwks_url="{issuer}/oauth/jwks",
introspection_url="{issuer}/oauth/introspect",
introspection_client_id="{client_id}",
introspection_client_secret=os.environ["AUTHSEC_INTROSPECTION_CLIENT_SECRET"],
resource_server_id="{client_id}",
resource_uri="{resource_uri}",
resource_name="GitHub MCP Server",
policy_mode=PolicyMode.REMOTE_REQUIRED,
validation_mode=ValidationMode.JWT_AND_INTROSPECT,
publish_manifest=True,
)
app = FastAPI()
mount_mcp(app, "/mcp", your_existing_mcp_handler, cfg)
"""


def existing_mcp_handler() -> MCPServer:
    server = MCPServer("github")

    @server.tool()
    def list_repos() -> str:
        """List repositories."""
        return "authsec-sdk"

    @server.tool()
    def delete_repo(name: str) -> str:
        """Delete a repository."""
        return f"deleted {name}"

    return server


def test_quickstart_runs_unchanged(issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    issuer.backend.set_policy(tools={"list_repos": ["mcp:tools:read"], "delete_repo": ["mcp:tools:admin"]})
    monkeypatch.setenv("AUTHSEC_INTROSPECTION_CLIENT_SECRET", issuer.client_secret)
    # The app object does not exist until the quickstart runs; a stand-in app reserves the port.
    holder: dict[str, Any] = {}

    async def late_bound(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    server = ServerThread(late_bound)
    resource_uri = f"{server.url}/mcp"
    namespace: dict[str, Any] = {"your_existing_mcp_handler": existing_mcp_handler()}
    source = QUICKSTART.format(issuer=issuer.issuer, client_id=issuer.client_id, resource_uri=resource_uri)
    exec(compile(source, "quickstart", "exec"), namespace)
    holder["app"] = namespace["app"]

    with server:
        no_token = httpx.post(resource_uri, json=rpc("initialize"))
        metadata = httpx.get(f"{server.url}/.well-known/oauth-protected-resource/mcp").json()
        reader = issuer.mint(scopes=["mcp:tools:read"], audience=resource_uri)
        headers = {**bearer(reader), "accept": "application/json, text/event-stream"}
        init = httpx.post(resource_uri, json=rpc("initialize", _initialize_params()), headers=headers)
        session = {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        allowed = httpx.post(resource_uri, json=call_tool("list_repos", 2), headers={**headers, **session})
        denied = httpx.post(resource_uri, json=call_tool("delete_repo", 3), headers={**headers, **session})
        deadline = time.monotonic() + 5
        while issuer.backend.published_tools is None and time.monotonic() < deadline:
            time.sleep(0.05)

    assert no_token.status_code == 401
    assert metadata["resource"] == resource_uri
    assert metadata["resource_name"] == "GitHub MCP Server"
    assert init.status_code == 200
    assert allowed.status_code == 200 and "authsec-sdk" in allowed.text
    assert denied.status_code == 403
    assert {t["name"] for t in issuer.backend.published_tools or []} == {"list_repos", "delete_repo"}


def _initialize_params() -> dict[str, Any]:
    return {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "quickstart-test", "version": "1"},
    }
