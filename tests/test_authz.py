"""`authsec_sdk.authz`: checks on the current request's principal inside a real MCP tool, a
clear error outside a request, and `AuthzClient` verifying a token locally against the JWKS."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from helpers import protected_app
from mcp.server.mcpserver import MCPServer
from notes_mcp import MODES, connect, text_of

from authsec_sdk.authz import AuthzClient, NoPrincipalError, check_permission, check_permission_scoped
from authsec_sdk.runtime import TokenInvalidError, public
from authsec_sdk.testing import LocalIssuer

RESOURCE = "http://127.0.0.1:1/mcp"
CLAIMS = {
    "permissions": ["document:read"],
    "scoped_permissions": [{"scope_type": "project", "scope_id": "proj-123", "permissions": ["document:*"]}],
}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_checks_inside_a_tool(issuer: LocalIssuer, mode: str) -> None:
    server: MCPServer[Any] = MCPServer("authz")

    @server.tool()
    @public
    def may() -> str:
        answers = [
            check_permission("document", "read"),
            check_permission("document", "delete"),
            check_permission_scoped("document", "delete", "project", "proj-123"),
            check_permission_scoped("document", "delete", "project", "proj-9"),
        ]
        return " ".join(str(a) for a in answers)

    with protected_app(issuer, server) as app:
        token = issuer.mint(audience=app.url, claims=CLAIMS)
        async with connect(app.url, token, mode) as client:
            assert text_of(await client.call_tool("may", {})) == "True False True False"


def test_checks_outside_a_request_raise() -> None:
    with pytest.raises(NoPrincipalError, match="inside a tool or handler"):
        check_permission("document", "read")
    with pytest.raises(NoPrincipalError, match="check_permission_scoped needs the principal"):
        check_permission_scoped("document", "read", "project", "p")


def test_authz_client_verifies_locally(issuer: LocalIssuer) -> None:
    cfg = issuer.config(resource_uri=RESOURCE)
    client = AuthzClient(issuer.mint(audience=RESOURCE, claims=CLAIMS), cfg)
    assert client.check_permission("document", "read")
    assert not client.check_permission("document", "write")
    assert client.check_permission_scoped("document", "write", scope_type="project", scope_id="proj-123")
    assert not client.check_permission_scoped("document", "write", scope_type="project", scope_id="other")
    assert issuer.counters.introspection == 0 and issuer.counters.jwks == 1  # once, then from memory


def test_authz_client_refuses_bad_tokens(issuer: LocalIssuer) -> None:
    cfg = issuer.config(resource_uri=RESOURCE)
    for token in (issuer.mint(audience="https://elsewhere.example/mcp", claims=CLAIMS), "not-a-jwt"):
        with pytest.raises(TokenInvalidError):
            AuthzClient(token, cfg).check_permission("document", "read")
    with pytest.raises(ValueError, match="requires jwks_url"):
        AuthzClient("t", issuer.config(resource_uri=RESOURCE, jwks_url=""))
    with pytest.raises(ValueError, match="resource_uri is required"):
        AuthzClient("t", issuer.config())


@pytest.mark.anyio
async def test_authz_client_in_async_code(issuer: LocalIssuer) -> None:
    client = AuthzClient(issuer.mint(audience=RESOURCE, claims=CLAIMS), issuer.config(resource_uri=RESOURCE))
    with pytest.raises(RuntimeError, match=r"await client.verify\(\)"):
        client.check_permission("document", "read")
    principal = await client.verify()
    assert principal.has_permission("document", "read") and client.check_permission("document", "read")


def test_authz_client_in_async_code_on_trio(issuer: LocalIssuer) -> None:
    """Refused inside a trio loop too (the check must not call anyio.run there), then usable."""
    client = AuthzClient(issuer.mint(audience=RESOURCE, claims=CLAIMS), issuer.config(resource_uri=RESOURCE))

    async def inside() -> bool:
        with pytest.raises(RuntimeError, match=r"await client.verify\(\)"):
            client.check_permission("document", "read")
        await client.verify()
        return client.check_permission("document", "read")

    assert anyio.run(inside, backend="trio")
