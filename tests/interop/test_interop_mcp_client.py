"""The official ``mcp`` client, with tokens from an independent authorization server.

In both protocol revisions: first with a token got beforehand, then with the SDK's
``ClientCredentialsOAuthProvider`` doing it all: our 401 -> our RFC 9728 document ->
oidc-provider's metadata -> a client-credentials token for this resource holding only
``notes:read`` (our baseline) -> our 403 on ``wipe`` -> a step-up token -> the retried call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx2
import pytest
from interop.interop_peers import JWT_CLIENTS, OidcProvider, jwt_claims, notes_behind
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from notes_mcp import MODES, MemoryStorage, connect, text_of

from authsec_sdk.runtime import ValidationMode

EXPECTED_VERSION = {"legacy": "2025-11-25", "auto": "2026-07-28"}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_official_client_with_a_provider_token(provider: OidcProvider, mode: str) -> None:
    config = provider.config_values(ValidationMode.JWT_OR_INTROSPECT)
    with notes_behind(provider, **config) as server:
        token = provider.token(JWT_CLIENTS["EdDSA"], server.url)
        async with connect(server.url, token, mode) as client:
            assert client.protocol_version == EXPECTED_VERSION[mode]
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} == {"whoami", "read", "announce"}
            assert text_of(await client.call_tool("whoami", {})) == JWT_CLIENTS["EdDSA"]
            assert text_of(await client.call_tool("read", {})) == "the notes"
            with pytest.raises(MCPError) as info:
                await client.call_tool("wipe", {})
            assert info.value.error.data["error"] == "insufficient_scope"


@dataclass
class TokenExchange:
    requested: dict[str, list[str]]
    status: int
    answer: dict[str, Any]


@dataclass
class TokenRequests:
    """The client's requests to the provider's token endpoint, seen through httpx2 event hooks."""

    token_endpoint: str
    seen: list[TokenExchange] = field(default_factory=list)

    async def on_response(self, response: httpx2.Response) -> None:
        if str(response.request.url) != self.token_endpoint:
            return
        await response.aread()
        form = parse_qs(response.request.content.decode())
        self.seen.append(TokenExchange(form, response.status_code, response.json()))

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"response": [self.on_response]}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_sdk_oauth_discovers_gets_a_token_and_steps_up(provider: OidcProvider, mode: str) -> None:
    client_id = JWT_CLIENTS["RS256"]
    config = provider.config_values(ValidationMode.JWT_ONLY)
    with notes_behind(provider, **config, baseline_scopes=("notes:read",)) as server:
        storage = MemoryStorage()
        oauth = ClientCredentialsOAuthProvider(
            server_url=server.url,
            storage=storage,
            client_id=client_id,
            client_secret=provider.client_secrets[client_id],
            issuer=provider.issuer,
        )
        exchanges = TokenRequests(provider.metadata["token_endpoint"])
        async with (
            httpx2.AsyncClient(auth=oauth, event_hooks=exchanges.hooks(), trust_env=False) as http,
            Client(streamable_http_client(server.url, http_client=http), mode=mode) as client,
        ):
            assert client.protocol_version == EXPECTED_VERSION[mode]
            assert text_of(await client.call_tool("read", {})) == "the notes"
            (first,) = exchanges.seen
            # Least privilege: our 401 asked for the baseline only, for this resource.
            assert first.requested["grant_type"] == ["client_credentials"]
            assert first.requested["scope"] == ["notes:read"]
            assert first.requested["resource"] == [server.url]
            assert first.status == 200 and first.answer["scope"] == "notes:read"
            assert jwt_claims(first.answer["access_token"])["scope"] == "notes:read"

            # wipe needs notes:admin: our 403 makes the client ask the provider again.
            assert text_of(await client.call_tool("wipe", {})) == "wiped"
            second = exchanges.seen[-1]
            assert set(second.requested["scope"][0].split()) == {"notes:read", "notes:admin"}
            assert second.status == 200
            assert set(jwt_claims(second.answer["access_token"])["scope"].split()) == {
                "notes:read",
                "notes:admin",
            }
            # The broader token still reads: the step-up kept what it had.
            assert text_of(await client.call_tool("read", {})) == "the notes"
        assert len(exchanges.seen) == 2
        assert storage.tokens is not None
        assert set((storage.tokens.scope or "").split()) == {"notes:read", "notes:admin"}
