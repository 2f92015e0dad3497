"""The provider changes under a running server: key rotation, revocation, outage and restart.

Our server is never restarted here: whatever the provider does, the same running server
must follow it.
"""

from __future__ import annotations

import pytest
from helpers import challenge_params
from interop.interop_peers import (
    JWT_CLIENTS,
    OPAQUE_CLIENT,
    OidcProvider,
    call_tool,
    jose_header,
    notes_behind,
    tool_text,
)

from authsec_sdk.runtime import ValidationMode


def assert_invalid_token(status: int, challenge: str) -> None:
    assert status == 401
    assert challenge_params(challenge)["error"] == "invalid_token"


@pytest.mark.parametrize("alg", list(JWT_CLIENTS))
def test_key_rotation_at_the_provider(own_provider: OidcProvider, alg: str) -> None:
    provider, client = own_provider, JWT_CLIENTS[alg]
    # No refetch cooldown: the first token with a new kid must fetch the new keys at once.
    config = provider.config_values(ValidationMode.JWT_ONLY)
    with notes_behind(provider, **config, jwks_refetch_cooldown=0) as server:
        before = provider.token(client, server.url)
        assert tool_text(call_tool(server.url, before, "read")) == "the notes"
        unseen_old = provider.token(client, server.url)  # signed with the old key, not shown yet

        kids = provider.rotate()
        assert provider.published_kids() == set(kids.values())
        after = provider.token(client, server.url)
        assert jose_header(after)["kid"] == kids[alg] != jose_header(before)["kid"]
        assert tool_text(call_tool(server.url, after, "read")) == "the notes"

        # The old key is no longer published, so a token signed with it is not trusted.
        r = call_tool(server.url, unseen_old, "read")
        assert_invalid_token(r.status_code, r.headers["www-authenticate"])


def test_revoked_opaque_token_is_refused_on_its_next_call(provider: OidcProvider) -> None:
    config = provider.config_values(ValidationMode.INTROSPECTION_ONLY)
    with notes_behind(provider, **config, introspection_cache_ttl=0) as server:
        token = provider.token(OPAQUE_CLIENT, server.url)
        assert tool_text(call_tool(server.url, token, "read")) == "the notes"
        provider.revoke(OPAQUE_CLIENT, token)
        r = call_tool(server.url, token, "read")
        assert_invalid_token(r.status_code, r.headers["www-authenticate"])


def test_provider_outage_and_restart(own_provider: OidcProvider) -> None:
    provider = own_provider
    jwt_client = JWT_CLIENTS["ES256"]
    with (
        notes_behind(
            provider, **provider.config_values(ValidationMode.JWT_ONLY), jwks_refetch_cooldown=0
        ) as jwt_server,
        notes_behind(
            provider, **provider.config_values(ValidationMode.INTROSPECTION_ONLY), introspection_cache_ttl=0
        ) as introspecting,
    ):
        shown = provider.token(jwt_client, jwt_server.url)
        unseen = provider.token(jwt_client, jwt_server.url)
        opaque = provider.token(OPAQUE_CLIENT, introspecting.url)
        assert tool_text(call_tool(jwt_server.url, shown, "read")) == "the notes"
        assert tool_text(call_tool(introspecting.url, opaque, "read")) == "the notes"
        old_kid = jose_header(shown)["kid"]

        provider.stop()
        # Keys already fetched keep verifying JWTs, even one never seen before.
        assert tool_text(call_tool(jwt_server.url, unseen, "read")) == "the notes"
        # Introspection cannot be answered: fail closed, and say when to come back.
        down = call_tool(introspecting.url, opaque, "read")
        assert down.status_code == 503
        assert int(down.headers["retry-after"]) > 0

        provider.start()  # same port, same issuer; new keys, and it forgot its tokens
        fresh_jwt = provider.token(jwt_client, jwt_server.url)
        assert jose_header(fresh_jwt)["kid"] != old_kid
        assert tool_text(call_tool(jwt_server.url, fresh_jwt, "read")) == "the notes"
        fresh_opaque = provider.token(OPAQUE_CLIENT, introspecting.url)
        assert tool_text(call_tool(introspecting.url, fresh_opaque, "read")) == "the notes"
        # The restarted provider no longer knows the old opaque token, and we asked it.
        r = call_tool(introspecting.url, opaque, "read")
        assert_invalid_token(r.status_code, r.headers["www-authenticate"])
