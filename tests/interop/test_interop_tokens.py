"""Real tokens from an independent authorization server, in every validation mode.

oidc-provider issues RS256, ES256 and EdDSA JWT access tokens (RFC 9068) and opaque tokens
for a resource indicator (RFC 8707), and introspects opaque tokens (RFC 7662). It refuses to
introspect a JWT (400 ``unsupported_token_type``), which decides what ``JWT_AND_INTROSPECT``
can do with its JWTs: nothing but refuse them, as invalid tokens (401), not as an outage (503).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from helpers import Protected, challenge_params
from interop.interop_peers import (
    JWT_CLIENTS,
    OPAQUE_CLIENT,
    OidcProvider,
    call_tool,
    jose_header,
    jwt_claims,
    notes_behind,
    tool_text,
)

from authsec_sdk.runtime import ValidationMode

KINDS = [*JWT_CLIENTS, "opaque"]
CLIENT_OF = {**JWT_CLIENTS, "opaque": OPAQUE_CLIENT}

#: (mode, token kind) -> accepted? Every pair is tried.
ACCEPTED = {
    ValidationMode.JWT_ONLY: {"RS256", "ES256", "EdDSA"},
    ValidationMode.INTROSPECTION_ONLY: {"opaque"},
    ValidationMode.JWT_OR_INTROSPECT: {"RS256", "ES256", "EdDSA", "opaque"},
    # The provider never introspects a JWT, and an opaque token is no JWT: nothing passes.
    ValidationMode.JWT_AND_INTROSPECT: set(),
}


@pytest.fixture(scope="module")
def servers(provider: OidcProvider) -> Iterator[dict[ValidationMode, Protected]]:
    """The notes server behind mount_mcp once per validation mode, all trusting the provider."""
    with ExitStack() as stack:
        yield {
            mode: stack.enter_context(notes_behind(provider, **provider.config_values(mode)))
            for mode in ACCEPTED
        }


def test_provider_issues_the_tokens_we_test_with(provider: OidcProvider) -> None:
    """Each client gets the kind of token the tests below claim to cover."""
    resource = "http://127.0.0.1:1/mcp"
    published = provider.published_kids()
    for alg, client in JWT_CLIENTS.items():
        token = provider.token(client, resource)
        header, claims = jose_header(token), jwt_claims(token)
        assert header["alg"] == alg and header["typ"] == "at+jwt" and header["kid"] in published
        assert claims["iss"] == provider.issuer and claims["aud"] == resource
        assert claims["client_id"] == client and claims["sub"] == client
        assert claims["scope"] == "notes:read"
    opaque = provider.token(OPAQUE_CLIENT, resource)
    assert opaque.count(".") == 0


def test_provider_introspects_opaque_tokens_but_refuses_jwts(provider: OidcProvider) -> None:
    """What oidc-provider 9 answers our introspection requests (RFC 7662 with HTTP Basic)."""
    resource = "http://127.0.0.1:1/mcp"
    answer = provider.introspect(provider.token(OPAQUE_CLIENT, resource))
    assert answer.status_code == 200
    body = answer.json()
    assert body["active"] is True
    assert body["aud"] == resource and body["iss"] == provider.issuer
    assert body["client_id"] == OPAQUE_CLIENT and body["scope"] == "notes:read"
    assert "sub" not in body  # a client-credentials token has no subject but its client
    refused = provider.introspect(provider.token(JWT_CLIENTS["ES256"], resource))
    assert refused.status_code == 400
    assert refused.json()["error"] == "unsupported_token_type"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", list(ACCEPTED), ids=lambda m: m.name)
def test_every_token_kind_in_every_mode(
    provider: OidcProvider, servers: dict[ValidationMode, Protected], mode: ValidationMode, kind: str
) -> None:
    server = servers[mode]
    token = provider.token(CLIENT_OF[kind], server.url)
    r = call_tool(server.url, token, "read")
    if kind in ACCEPTED[mode]:
        assert tool_text(r) == "the notes"
        if kind != "opaque":
            assert tool_text(call_tool(server.url, token, "whoami")) == CLIENT_OF[kind]
    else:
        # Refused as a bad token, whatever the reason: never 503 (the issuer answered).
        assert r.status_code == 401, (r.status_code, r.text)
        assert challenge_params(r.headers["www-authenticate"])["error"] == "invalid_token"


def test_provider_jwts_pass_strict_rfc9068(provider: OidcProvider) -> None:
    """A certified issuer's access tokens carry ``typ: at+jwt`` and every RFC 9068 claim."""
    config = provider.config_values(ValidationMode.JWT_ONLY)
    with notes_behind(provider, **config, strict_rfc9068=True) as server:
        for client in JWT_CLIENTS.values():
            token = provider.token(client, server.url)
            assert tool_text(call_tool(server.url, token, "read")) == "the notes"


@pytest.mark.parametrize(
    ("mode", "kind"),
    [(ValidationMode.JWT_ONLY, "EdDSA"), (ValidationMode.INTROSPECTION_ONLY, "opaque")],
    ids=["jwt", "introspection"],
)
def test_token_for_another_resource_is_refused(
    provider: OidcProvider, servers: dict[ValidationMode, Protected], mode: ValidationMode, kind: str
) -> None:
    server = servers[mode]
    token = provider.token(CLIENT_OF[kind], f"{server.base}/other")
    r = call_tool(server.url, token, "read")
    assert r.status_code == 401
    challenge = challenge_params(r.headers["www-authenticate"])
    assert challenge["error"] == "invalid_token"
    assert challenge["error_description"] == "audience mismatch"


@pytest.mark.parametrize("kind", ["ES256", "opaque"])
def test_scopes_granted_by_the_provider_gate_tools(
    provider: OidcProvider, servers: dict[ValidationMode, Protected], kind: str
) -> None:
    server = servers[ValidationMode.JWT_OR_INTROSPECT]
    reader = provider.token(CLIENT_OF[kind], server.url, "notes:read")
    denied = call_tool(server.url, reader, "wipe")
    assert denied.status_code == 403
    challenge = challenge_params(denied.headers["www-authenticate"])
    assert challenge["error"] == "insufficient_scope"
    assert "notes:admin" in challenge["scope"].split()
    admin = provider.token(CLIENT_OF[kind], server.url, "notes:read notes:admin")
    assert tool_text(call_tool(server.url, admin, "wipe")) == "wiped"
