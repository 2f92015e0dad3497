"""Step-up authorization end to end with the official client's client-credentials provider.

Starting with no token, the client follows our 401 to the protected-resource metadata, then to
the local authorization server's RFC 8414 metadata, gets a token for this resource (RFC 8707),
and calls a tool. On a tool that needs more scope it gets our 403 ``insufficient_scope``,
re-authorizes for the union of scopes by itself (the SDK provider does step-up on 403), and
the retried call succeeds.
"""

from __future__ import annotations

import base64

import httpx
import httpx2
import pytest
from helpers import Protected
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from notes_mcp import MODES, MemoryStorage, text_of

from authsec_sdk.testing import LocalIssuer


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_client_discovers_gets_a_token_and_steps_up(
    issuer: LocalIssuer, notes_app: Protected, mode: str
) -> None:
    server = issuer.authorization
    agent = server.register_client("agent", scopes=["notes:read"])
    storage = MemoryStorage()
    provider = ClientCredentialsOAuthProvider(
        server_url=notes_app.url,
        storage=storage,
        client_id=agent.client_id,
        client_secret=agent.client_secret,
        issuer=issuer.issuer,
    )
    async with (
        httpx2.AsyncClient(auth=provider) as http,
        Client(streamable_http_client(notes_app.url, http_client=http), mode=mode) as client,
    ):
        assert text_of(await client.call_tool("read", {})) == "the notes"
        (first,) = server.token_requests
        # Asked for the baseline scopes of our 401, for this resource; granted what it may have.
        assert first.scope is not None and set(first.scope.split()) == {"notes:read", "notes:admin"}
        assert first.resources == (notes_app.url,)
        assert first.granted == "notes:read"

        # An administrator approves the broader scope; the next 403 makes the client ask again.
        server.allow("agent", ["notes:admin"])
        assert text_of(await client.call_tool("wipe", {})) == "wiped"
        second = server.token_requests[-1]
        assert second.scope is not None and set(second.scope.split()) == {"notes:read", "notes:admin"}
        assert set(second.granted.split()) == {"notes:read", "notes:admin"}
        # The broader token still reads: the step-up kept what it had.
        assert text_of(await client.call_tool("read", {})) == "the notes"
    assert len(server.token_requests) == 2
    assert storage.tokens is not None and set((storage.tokens.scope or "").split()) == {
        "notes:read",
        "notes:admin",
    }


def test_metadata_document(issuer: LocalIssuer) -> None:
    issuer.authorization.register_client("agent", scopes=["b", "a"])
    document = httpx.get(f"{issuer.url}/.well-known/oauth-authorization-server").json()
    assert document["issuer"] == issuer.issuer
    assert document["token_endpoint"] == f"{issuer.url}/oauth/token"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert document["scopes_supported"] == ["a", "b"]


@pytest.mark.parametrize("method", ["basic", "post"])
def test_token_endpoint_authenticates_and_honours_scope_and_resource(
    issuer: LocalIssuer, method: str
) -> None:
    agent = issuer.authorization.register_client("agent", scopes=["a", "b"])
    form = {"grant_type": "client_credentials", "scope": "b c", "resource": "https://rs.example/mcp"}
    if method == "basic":
        basic = base64.b64encode(f"{agent.client_id}:{agent.client_secret}".encode()).decode()
        r = httpx.post(f"{issuer.url}/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"})
    else:
        r = httpx.post(
            f"{issuer.url}/oauth/token",
            data={**form, "client_id": agent.client_id, "client_secret": agent.client_secret},
        )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["scope"] == "b" and body["token_type"] == "Bearer"
    claims = issuer.introspection_answer(body["access_token"])
    assert claims["aud"] == "https://rs.example/mcp"
    assert claims["sub"] == "agent" and claims["client_id"] == "agent" and claims["scope"] == "b"


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "agent", "client_secret": "wrong"},
            None,
            401,
            "invalid_client",
        ),
        ({"grant_type": "password"}, "ok", 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "z"}, "ok", 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "resource": "/relative"}, "ok", 400, "invalid_target"),
    ],
)
def test_token_endpoint_refusals(
    issuer: LocalIssuer, form: dict[str, str], auth: str | None, status: int, error: str
) -> None:
    agent = issuer.authorization.register_client("agent", scopes=["a"])
    if auth == "ok":
        form = {**form, "client_id": agent.client_id, "client_secret": agent.client_secret}
    r = httpx.post(f"{issuer.url}/oauth/token", data=form)
    assert r.status_code == status
    assert r.json()["error"] == error
    assert issuer.authorization.token_requests == []
