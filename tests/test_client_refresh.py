"""RefreshTokenAuth over real HTTP: a signed-in user's tokens from the local issuer, refreshed
with rotation, against a protected service that introspects every token."""

from __future__ import annotations

import httpx
import pytest
from client_downstream import Downstream
from helpers import Protected

from authsec_sdk.client import OutboundAuthError, RefreshTokenAuth
from authsec_sdk.testing import LocalIssuer


@pytest.fixture
def service(issuer: LocalIssuer, downstream: tuple[Protected, Downstream]) -> Protected:
    downstream[1].seen.clear()
    issuer.authorization.register_client(
        "cli", client_secret="cli-secret", scopes=["files:read"], grant_types=["refresh_token"]
    )
    return downstream[0]


class Persisted:
    """Where the caller keeps its tokens: what `on_refresh` was given, in order."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    async def __call__(self, access: str, refresh: str) -> None:
        self.pairs.append((access, refresh))


@pytest.mark.anyio
async def test_survives_an_expired_access_token_and_persists_the_rotated_refresh_token(
    issuer: LocalIssuer, service: Protected, downstream: tuple[Protected, Downstream]
) -> None:
    signed_in = issuer.authorization.sign_in(
        "cli", subject="alice", scopes=["files:read"], resource=service.url, expires_in=-1
    )
    persisted = Persisted()
    auth = RefreshTokenAuth(
        signed_in["access_token"],
        signed_in["refresh_token"],
        on_refresh=persisted,
        issuer=issuer.issuer,
        client_id="cli",
        client_secret="cli-secret",
    )
    async with httpx.AsyncClient(auth=auth, trust_env=False) as http:
        first = await http.post(service.url, json={})
        assert first.status_code == 200 and first.json() == {"subject": "alice"}
        # The expired token was never sent: its `exp` said so, and it was refreshed first.
        (access, refresh) = persisted.pairs[0]
        assert downstream[1].seen[0].authorization == f"Bearer {access}"
        assert refresh != signed_in["refresh_token"]  # rotated

        # Revoked behind our back: the 401 makes it refresh again, with the rotated token.
        issuer.revoke(access)
        assert (await http.post(service.url, json={})).status_code == 200
    assert len(persisted.pairs) == 2 and persisted.pairs[1][1] not in (refresh, signed_in["refresh_token"])
    assert [r.grant_type for r in issuer.authorization.token_requests] == ["refresh_token", "refresh_token"]

    # The spent refresh token presented again: the issuer revokes the whole grant.
    async with httpx.AsyncClient(trust_env=False) as http:
        replay = await http.post(
            issuer.authorization.token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=("cli", "cli-secret"),
        )
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        latest = persisted.pairs[1][0]
        assert (
            await http.post(service.url, json={}, headers={"Authorization": f"Bearer {latest}"})
        ).status_code == 401


@pytest.mark.anyio
async def test_a_revoked_refresh_token_fails_and_sends_nothing(
    issuer: LocalIssuer, service: Protected, downstream: tuple[Protected, Downstream]
) -> None:
    signed_in = issuer.authorization.sign_in("cli", subject="alice", resource=service.url, expires_in=-1)
    async with httpx.AsyncClient(trust_env=False) as http:
        revoked = await http.post(
            issuer.authorization.revocation_endpoint,
            data={"token": signed_in["refresh_token"], "token_type_hint": "refresh_token"},
            auth=("cli", "cli-secret"),
        )
        assert revoked.status_code == 200
        auth = RefreshTokenAuth(
            signed_in["access_token"],
            signed_in["refresh_token"],
            issuer.authorization.token_endpoint,
            client_id="cli",
            client_secret="cli-secret",
        )
        with pytest.raises(OutboundAuthError) as info:
            await http.post(service.url, json={}, auth=auth)
    assert info.value.reason == "refused" and info.value.error == "invalid_grant"
    assert signed_in["refresh_token"] not in str(info.value)
    assert downstream[1].seen == []


@pytest.mark.anyio
async def test_a_failing_on_refresh_fails_the_call(issuer: LocalIssuer, service: Protected) -> None:
    signed_in = issuer.authorization.sign_in("cli", subject="alice", resource=service.url, expires_in=-1)

    def broken_storage(access: str, refresh: str) -> None:
        raise OSError("disk full")

    auth = RefreshTokenAuth(
        signed_in["access_token"],
        signed_in["refresh_token"],
        issuer.authorization.token_endpoint,
        broken_storage,
        client_id="cli",
        client_secret="cli-secret",
    )
    async with httpx.AsyncClient(auth=auth, trust_env=False) as http:
        with pytest.raises(OutboundAuthError, match="on_refresh failed"):
            await http.post(service.url, json={})


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="access_token"):
        RefreshTokenAuth("", "r", "https://as.example/token")
    with pytest.raises(ValueError, match="refresh_token"):
        RefreshTokenAuth("a", "", "https://as.example/token")
    with pytest.raises(ValueError, match="client_secret needs client_id"):
        RefreshTokenAuth("a", "r", "https://as.example/token", client_secret="s")
