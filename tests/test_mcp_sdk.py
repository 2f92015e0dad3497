"""The official `mcp` client calling an official `mcp` server through the middleware."""

from __future__ import annotations

import pytest
from helpers import Protected
from mcp.shared.exceptions import MCPError
from notes_mcp import MODES, connect, text_of

from authsec_sdk.testing import LocalIssuer


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_allowed_calls_and_principal_in_tool(
    issuer: LocalIssuer, notes_app: Protected, mode: str
) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=notes_app.url)
    async with connect(notes_app.url, token, mode) as client:
        tools = await client.list_tools()
        # tools/list is filtered to what the token may call: no "wipe".
        assert {t.name for t in tools.tools} == {"whoami", "read", "announce"}
        assert text_of(await client.call_tool("read", {})) == "the notes"
        assert text_of(await client.call_tool("whoami", {})) == "alice"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_denied_call_surfaces_insufficient_scope(
    issuer: LocalIssuer, notes_app: Protected, mode: str
) -> None:
    token = issuer.mint(subject="alice", scopes=["notes:read"], audience=notes_app.url)
    async with connect(notes_app.url, token, mode) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("wipe", {})
        assert info.value.error.data["error"] == "insufficient_scope"
        assert info.value.error.data["required_scopes"] == ["notes:admin"]
        # The session is still usable after a refusal.
        assert text_of(await client.call_tool("read", {})) == "the notes"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_no_token_cannot_connect(notes_app: Protected, mode: str) -> None:
    with pytest.RaisesGroup(MCPError, flatten_subgroups=True, allow_unwrapped=True) as info:
        async with connect(notes_app.url, None, mode):
            pass
    error = next(e for e in _leaves(info.value) if isinstance(e, MCPError))
    assert error.error.message == "bearer token required"
    assert error.error.data == {"error": "unauthorized", "error_description": "bearer token required"}


def _leaves(exc: BaseException) -> list[BaseException]:
    nested = getattr(exc, "exceptions", None)
    if nested is None:
        return [exc]
    return [leaf for sub in nested for leaf in _leaves(sub)]
