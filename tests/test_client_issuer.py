"""The local issuer's new grants over HTTP, refusals included: RFC 8693 token exchange under
its per-client audience policy, rotating refresh tokens, RFC 7009 revocation."""

from __future__ import annotations

import httpx
import pytest

from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.authorization import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE

API = "https://api.example/v1"


def exchange_form(subject_token: str, change: dict[str, str] | None = None) -> dict[str, str]:
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": API,
    }
    return {**form, **(change or {})}


@pytest.fixture
def relay(issuer: LocalIssuer) -> tuple[str, str]:
    client = issuer.authorization.register_client("relay", scopes=["api:read"])
    issuer.authorization.allow_exchange("relay", [API])
    return client.client_id, client.client_secret


def test_exchange_keeps_the_subject_and_names_the_actor(issuer: LocalIssuer, relay: tuple[str, str]) -> None:
    inbound = issuer.mint(subject="alice", audience="https://mcp.example/mcp", expires_in=100)
    r = httpx.post(issuer.authorization.token_endpoint, data=exchange_form(inbound), auth=relay)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert 98 <= body["expires_in"] <= 100  # never outlives the token exchanged
    claims = issuer.introspection_answer(body["access_token"])
    assert claims["sub"] == "alice" and claims["aud"] == API and claims["act"] == {"sub": "relay"}
    assert claims["scope"] == "api:read"
    document = httpx.get(f"{issuer.url}/.well-known/oauth-authorization-server").json()
    assert document["grant_types_supported"] == ["client_credentials", TOKEN_EXCHANGE]


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"resource": "https://other.example/"}, 400, "invalid_target"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, 400, "invalid_request"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, 400, "invalid_request"),
        ({"resource": ""}, 400, "invalid_target"),
        ({"subject_token": "not-a-token"}, 400, "invalid_grant"),
        ({"scope": "api:write"}, 400, "invalid_scope"),
    ],
)
def test_exchange_refusals(
    issuer: LocalIssuer, relay: tuple[str, str], change: dict[str, str], status: int, error: str
) -> None:
    inbound = issuer.mint(subject="alice")
    r = httpx.post(issuer.authorization.token_endpoint, data=exchange_form(inbound, change), auth=relay)
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert issuer.authorization.token_requests == []


def test_exchange_of_an_expired_or_revoked_token_and_by_another_client(
    issuer: LocalIssuer, relay: tuple[str, str]
) -> None:
    expired = issuer.mint(subject="alice", expires_in=-1)
    revoked = issuer.mint(subject="alice")
    issuer.revoke(revoked)
    for token in (expired, revoked):
        r = httpx.post(issuer.authorization.token_endpoint, data=exchange_form(token), auth=relay)
        assert r.json()["error"] == "invalid_grant"
    other = issuer.authorization.register_client("other")
    r = httpx.post(
        issuer.authorization.token_endpoint,
        data=exchange_form(issuer.mint(subject="alice")),
        auth=(other.client_id, other.client_secret),
    )
    assert (r.status_code, r.json()["error"]) == (400, "unauthorized_client")


def test_refresh_rotation_and_its_refusals(issuer: LocalIssuer) -> None:
    server = issuer.authorization
    cli = server.register_client("cli", scopes=["a", "b"], grant_types=["refresh_token"])
    signed_in = server.sign_in("cli", subject="alice", scopes=["a", "b"], resource=API)
    auth = (cli.client_id, cli.client_secret)

    def refresh(token: str, **extra: str) -> httpx.Response:
        return httpx.post(
            server.token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": token, **extra},
            auth=auth,
        )

    assert refresh(signed_in["refresh_token"], scope="a b c").json()["error"] == "invalid_scope"
    # A refused request leaves the token usable; a granted one spends it.
    narrowed = refresh(signed_in["refresh_token"], scope="a").json()
    assert narrowed["scope"] == "a" and narrowed["refresh_token"] != signed_in["refresh_token"]
    assert issuer.introspection_answer(narrowed["access_token"])["aud"] == API
    assert (
        refresh(narrowed["refresh_token"], resource="https://other.example/").json()["error"]
        == "invalid_target"
    )
    # Client credentials are not this client's grant.
    r = httpx.post(server.token_endpoint, data={"grant_type": "client_credentials"}, auth=auth)
    assert r.json()["error"] == "unauthorized_client"
    other = server.register_client("other", grant_types=["refresh_token"])
    third = server.sign_in("cli", subject="alice", resource=API)
    r = httpx.post(
        server.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": third["refresh_token"]},
        auth=(other.client_id, other.client_secret),
    )
    assert r.json()["error"] == "invalid_grant"  # another client's refresh token
    with pytest.raises(ValueError, match="refresh_token grant"):
        server.sign_in(server.register_client("plain").client_id, subject="x")


def test_revocation(issuer: LocalIssuer) -> None:
    server = issuer.authorization
    cli = server.register_client("cli", grant_types=["refresh_token", "client_credentials"])
    other = server.register_client("other")
    signed_in = server.sign_in("cli", subject="alice", resource=API)
    endpoint = server.revocation_endpoint
    assert httpx.post(endpoint, data={"token": signed_in["refresh_token"]}).status_code == 401
    foreign = httpx.post(
        endpoint, data={"token": signed_in["access_token"]}, auth=(other.client_id, other.client_secret)
    )
    assert (foreign.status_code, foreign.json()["error"]) == (400, "unauthorized_client")
    assert (
        httpx.post(endpoint, data={}, auth=(cli.client_id, cli.client_secret)).json()["error"]
        == "invalid_request"
    )
    unknown = httpx.post(endpoint, data={"token": "never-issued"}, auth=(cli.client_id, cli.client_secret))
    assert unknown.status_code == 200  # RFC 7009 §2.2: nothing to tell
    # Revoking the refresh token revokes the grant: its access tokens too.
    r = httpx.post(
        endpoint, data={"token": signed_in["refresh_token"]}, auth=(cli.client_id, cli.client_secret)
    )
    assert r.status_code == 200
    assert issuer.introspection_answer(signed_in["access_token"]) == {"active": False}
    refreshed = httpx.post(
        server.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": signed_in["refresh_token"]},
        auth=(cli.client_id, cli.client_secret),
    )
    assert refreshed.json()["error"] == "invalid_grant"
    # An access token of the client's own: revoked alone.
    own = httpx.post(
        server.token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=(cli.client_id, cli.client_secret),
    )
    token = own.json()["access_token"]
    assert (
        httpx.post(endpoint, data={"token": token}, auth=(cli.client_id, cli.client_secret)).status_code
        == 200
    )
    assert issuer.introspection_answer(token) == {"active": False}
    assert server.revocations == ["never-issued", signed_in["refresh_token"], token]
    assert (
        httpx.get(f"{issuer.url}/.well-known/oauth-authorization-server").json()["revocation_endpoint"]
        == endpoint
    )
