"""Endpoint discovery from an independent provider's metadata, and the metadata chain we serve.

oidc-provider puts its keys at ``/jwks`` and introspection at ``/token/introspection``: paths
nobody would guess, so a server that reaches them read them from the provider's metadata.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from interop.interop_peers import (
    HTTP_TIMEOUT,
    JWT_CLIENTS,
    OPAQUE_CLIENT,
    RESOURCE_SERVER_CLIENT,
    OidcProvider,
    call_tool,
    notes_behind,
    tool_text,
)
from notes_mcp import NOTES_SCOPES, notes_server
from starlette.applications import Starlette

from authsec_sdk.runtime import Config, ValidationMode, mount_mcp


def discovering_config(provider: OidcProvider, issuer: str) -> dict[str, Any]:
    """Config values naming only the issuer and the introspection credentials."""
    return {
        "issuer": issuer,
        "discover_endpoints": True,
        "introspection_client_id": RESOURCE_SERVER_CLIENT,
        "introspection_client_secret": provider.client_secrets[RESOURCE_SERVER_CLIENT],
        "validation_mode": ValidationMode.JWT_OR_INTROSPECT,
    }


def test_endpoints_are_discovered_from_the_provider_metadata(provider: OidcProvider) -> None:
    with notes_behind(provider, **discovering_config(provider, provider.issuer)) as server:
        assert not server.cfg.jwks_url and not server.cfg.introspection_url
        # A JWT needs the discovered JWKS, an opaque token the discovered introspection endpoint.
        for client in (JWT_CLIENTS["RS256"], OPAQUE_CLIENT):
            token = provider.token(client, server.url)
            assert tool_text(call_tool(server.url, token, "read")) == "the notes"


def _messages(exc: BaseException) -> str:
    """The text of ``exc``, its causes and, for an exception group, its members."""
    parts = [str(exc)]
    members = getattr(exc, "exceptions", None)  # an exception group's
    if isinstance(members, tuple):
        parts += [_messages(inner) for inner in members]
    if exc.__cause__ is not None:
        parts.append(_messages(exc.__cause__))
    return "\n".join(parts)


@pytest.mark.anyio
async def test_issuer_with_a_trailing_slash_refuses_to_start(provider: OidcProvider) -> None:
    """The provider's metadata says ``http://host:port``; a config saying ``.../`` must not start."""
    configured = provider.issuer + "/"
    app = Starlette()
    values = {**discovering_config(provider, configured), "resource_uri": "http://127.0.0.1:1/mcp"}
    cfg = Config(**values, tool_scopes=NOTES_SCOPES)
    # At mount time or at startup, the refusal's type is the runtime's choice; its text is checked.
    try:
        mount_mcp(app, "/mcp", notes_server(), cfg)
        async with LifespanManager(app, startup_timeout=HTTP_TIMEOUT, shutdown_timeout=HTTP_TIMEOUT):
            pass
    except Exception as exc:
        message = _messages(exc)
    else:
        pytest.fail(
            f"started with issuer {configured!r} although the provider's metadata says {provider.issuer!r}"
        )
    # Both values are named: the configured one with its slash, the provider's without.
    assert configured in message, message
    assert message.replace(configured, "").count(provider.issuer) >= 1, message


def test_our_metadata_leads_clients_to_the_provider(provider: OidcProvider) -> None:
    """RFC 9728 document -> authorization server -> RFC 8414 document of that same issuer."""
    with (
        notes_behind(provider, **provider.config_values(ValidationMode.JWT_ONLY)) as server,
        httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as http,
    ):
        unauthenticated = http.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert unauthenticated.status_code == 401
        metadata_url = (
            unauthenticated.headers["www-authenticate"].split('resource_metadata="')[1].split('"')[0]
        )
        document = http.get(metadata_url).json()
        assert document["resource"] == server.url
        (authorization_server,) = document["authorization_servers"]
        assert authorization_server == provider.issuer
        as_metadata = http.get(f"{authorization_server}/.well-known/oauth-authorization-server").json()
        assert as_metadata["issuer"] == provider.issuer
        assert as_metadata["token_endpoint"] == provider.metadata["token_endpoint"]
