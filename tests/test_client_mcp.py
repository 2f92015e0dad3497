"""mcp_client_auth with the official MCP client against our own mount_mcp server, in both
protocol revisions: from the server URL alone to a token, and step-up on 403."""

from __future__ import annotations

import pytest
from helpers import Protected
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from notes_mcp import MODES, text_of

from authsec_sdk.client import OutboundAuth, OutboundAuthError, RuntimeCredentialAuth, mcp_client_auth
from authsec_sdk.testing import LocalIssuer


async def call(url: str, auth: OutboundAuth, mode: str, *tools: str) -> list[str]:
    """The text of each tool's answer, over one connection."""
    async with (
        create_mcp_http_client(auth=auth) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        return [text_of(await client.call_tool(tool, {})) for tool in tools]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_client_credentials_discovery_and_step_up(
    issuer: LocalIssuer, notes_app: Protected, mode: str
) -> None:
    server = issuer.authorization
    agent = server.register_client("agent", scopes=["notes:read"])
    auth = mcp_client_auth(notes_app.url, client_id="agent", client_secret=agent.client_secret)
    assert await call(notes_app.url, auth, mode, "read", "whoami") == ["the notes", "agent"]
    (first,) = server.token_requests  # one token for the whole session
    assert first.resources == (notes_app.url,) and first.granted == "notes:read"

    server.allow("agent", ["notes:admin"])  # an administrator approves more
    assert await call(notes_app.url, auth, mode, "wipe", "read") == ["wiped", "the notes"]
    second = server.token_requests[-1]
    # Re-authorized once, for the union of what it held and what the 403 asked for.
    assert len(server.token_requests) == 2
    assert second.scope is not None and set(second.scope.split()) == {"notes:read", "notes:admin"}
    assert set(second.granted.split()) == {"notes:read", "notes:admin"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_refresh_token_after_expiry(issuer: LocalIssuer, notes_app: Protected, mode: str) -> None:
    server = issuer.authorization
    server.register_client(
        "desk", client_secret="desk-secret", scopes=["notes:read"], grant_types=["refresh_token"]
    )
    signed_in = server.sign_in(
        "desk", subject="alice", scopes=["notes:read"], resource=notes_app.url, expires_in=-120
    )
    pairs: list[tuple[str, str]] = []

    def persist(access: str, refresh: str) -> None:
        pairs.append((access, refresh))

    auth = mcp_client_auth(
        notes_app.url,
        client_id="desk",
        client_secret="desk-secret",
        access_token=signed_in["access_token"],
        refresh_token=signed_in["refresh_token"],
        on_refresh=persist,
    )
    assert await call(notes_app.url, auth, mode, "whoami", "read") == ["alice", "the notes"]
    (request,) = server.token_requests
    assert request.grant_type == "refresh_token" and request.resources == (notes_app.url,)
    assert len(pairs) == 1 and pairs[0][1] != signed_in["refresh_token"]


@pytest.mark.anyio
async def test_metadata_for_another_resource_is_refused(issuer: LocalIssuer, notes_app: Protected) -> None:
    agent = issuer.authorization.register_client("agent", scopes=["notes:read"])
    auth = mcp_client_auth(notes_app.url + "/other", client_id="agent", client_secret=agent.client_secret)
    async with create_mcp_http_client(auth=auth) as http:
        with pytest.raises(OutboundAuthError, match="another resource"):
            await http.post(notes_app.url, json={})
    assert issuer.authorization.token_requests == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="client_id and client_secret"):
        mcp_client_auth("https://mcp.example/mcp", client_id="a")
    with pytest.raises(ValueError, match="need refresh_token"):
        mcp_client_auth("https://mcp.example/mcp", client_id="a", client_secret="s", access_token="t")
    with pytest.raises(ValueError, match="absolute http"):
        mcp_client_auth("mcp.example/mcp", client_id="a", client_secret="s")


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_the_auth_models_plug_into_the_mcp_client(
    issuer: LocalIssuer, notes_app: Protected, mode: str
) -> None:
    agent = issuer.authorization.register_client("worker", scopes=["notes:read"])
    auth = RuntimeCredentialAuth(
        "worker", agent.client_secret, audience=notes_app.url, scopes=["notes:read"], issuer=issuer.issuer
    )
    async with (
        create_mcp_http_client(auth=auth) as http,
        Client(streamable_http_client(notes_app.url, http_client=http), mode=mode) as client,
    ):
        assert text_of(await client.call_tool("whoami", {})) == "worker"
        assert text_of(await client.call_tool("read", {})) == "the notes"
        with pytest.raises(MCPError) as info:  # a fixed audience and scopes: no step-up, the 403 stands
            await client.call_tool("wipe", {})
    assert info.value.error.data["error"] == "insufficient_scope"
    assert len(issuer.authorization.token_requests) == 1
