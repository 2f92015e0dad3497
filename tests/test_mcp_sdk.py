"""The official `mcp` client calling an official `mcp` server through the middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx2
import pytest
from helpers import Protected, protected_app
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from authsec_sdk.runtime import principal_from_context
from authsec_sdk.testing import LocalIssuer

MODES = ["legacy", "auto"]
TOOL_SCOPES = {"whoami": [], "read": ["notes:read"], "wipe": ["notes:admin"]}


def build_server() -> MCPServer:
    server = MCPServer("notes")

    @server.tool()
    def whoami() -> str:
        principal = principal_from_context()
        return principal.subject if principal else "nobody"

    @server.tool()
    def read() -> str:
        return "the notes"

    @server.tool()
    def wipe() -> str:
        return "wiped"

    return server


@pytest.fixture
def protected(issuer: LocalIssuer) -> Iterator[Protected]:
    with protected_app(issuer, build_server(), tool_scopes=TOOL_SCOPES) as p:
        yield p


@asynccontextmanager
async def connect(url: str, token: str | None, mode: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def text_of(result: object) -> str:
    return "".join(getattr(part, "text", "") for part in getattr(result, "content", []))


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_allowed_calls_and_principal_in_tool(
    issuer: LocalIssuer, protected: Protected, mode: str
) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=protected.url)
    async with connect(protected.url, token, mode) as client:
        tools = await client.list_tools()
        # tools/list is filtered to what the token may call (issue 4): no "wipe".
        assert {t.name for t in tools.tools} == {"whoami", "read"}
        assert text_of(await client.call_tool("read", {})) == "the notes"
        assert text_of(await client.call_tool("whoami", {})) == "alice"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_denied_call_surfaces_insufficient_scope(
    issuer: LocalIssuer, protected: Protected, mode: str
) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=protected.url)
    async with connect(protected.url, token, mode) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("wipe", {})
        assert info.value.error.data["error"] == "insufficient_scope"
        assert info.value.error.data["required_scopes"] == ["notes:admin"]
        # The session is still usable after a refusal.
        assert text_of(await client.call_tool("read", {})) == "the notes"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_no_token_cannot_connect(protected: Protected, mode: str) -> None:
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True, allow_unwrapped=True) as info:
        async with connect(protected.url, None, mode):
            pass
    error = next(e for e in _leaves(info.value) if isinstance(e, MCPError))
    assert error.error.message == "bearer token required"
    assert error.error.data == {"error": "unauthorized", "error_description": "bearer token required"}


def _leaves(exc: BaseException) -> list[BaseException]:
    nested = getattr(exc, "exceptions", None)
    if nested is None:
        return [exc]
    return [leaf for sub in nested for leaf in _leaves(sub)]
