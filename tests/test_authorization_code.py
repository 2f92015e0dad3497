"""The local issuer's authorization-code grant with PKCE, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from authsec_sdk.client.pkce import s256_challenge
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.authorization_code import is_loopback_redirect, valid_verifier

RESOURCE = "http://127.0.0.1:9/mcp"
REDIRECT = "http://127.0.0.1:8123/callback"
CODE_GRANTS = ("authorization_code", "refresh_token")


def test_s256_matches_rfc_7636_appendix_b() -> None:
    assert s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(
    ("uri", "loopback"),
    [
        ("http://127.0.0.1:5000/cb", True),
        ("http://localhost/cb", True),
        ("http://[::1]:80/cb", True),
        ("https://127.0.0.1/cb", False),
        ("http://127.0.0.2.example/cb", False),
        ("http://evil.example/cb", False),
        ("http://127.0.0.1/cb#frag", False),
        ("http://127.0.0.1:99999/cb", False),
        ("", False),
    ],
)
def test_only_http_loopback_redirects_are_accepted(uri: str, loopback: bool) -> None:
    assert is_loopback_redirect(uri) is loopback


def test_verifiers_follow_rfc_7636() -> None:
    assert valid_verifier("a" * 43) and valid_verifier("A-._~" * 20)
    assert (
        not valid_verifier("a" * 42) and not valid_verifier("a" * 129) and not valid_verifier("a" * 42 + "+")
    )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def authorize(client: httpx.Client, issuer: LocalIssuer, verifier: str, **overrides: Any) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": "cli",
        "redirect_uri": REDIRECT,
        "code_challenge": s256_challenge(verifier),
        "code_challenge_method": "S256",
        "scope": "notes:read",
        "resource": RESOURCE,
        "state": "xyz",
        **overrides,
    }
    return client.get(
        f"{issuer.url}/oauth/authorize", params={k: v for k, v in params.items() if v is not None}
    )


def redirected(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def redeem(
    client: httpx.Client, issuer: LocalIssuer, code: str, verifier: str, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": "cli",
        **extra,
    }
    return client.post(issuer.authorization.token_endpoint, data=form)


def test_a_public_client_signs_in_with_pkce_and_refreshes(issuer: LocalIssuer, client: httpx.Client) -> None:
    issuer.authorization.register_client(
        "cli", scopes=["notes:read", "notes:admin"], grant_types=CODE_GRANTS, public=True
    )
    issuer.authorization.approve_as = "alice"
    metadata = client.get(f"{issuer.url}/.well-known/oauth-authorization-server").json()
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]

    verifier = secrets.token_urlsafe(48)
    params = redirected(authorize(client, issuer, verifier))
    assert params["state"] == "xyz" and params["iss"] == issuer.issuer
    answer = redeem(client, issuer, params["code"], verifier).json()
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["aud"], claims["scope"]) == ("alice", RESOURCE, "notes:read")
    assert answer["scope"] == "notes:read" and answer["refresh_token"]

    refreshed = client.post(
        issuer.authorization.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": answer["refresh_token"], "client_id": "cli"},
    ).json()
    assert jwt.decode(refreshed["access_token"], options={"verify_signature": False})["sub"] == "alice"
    assert refreshed["refresh_token"] != answer["refresh_token"]  # rotated


def test_codes_are_refused_unless_every_check_holds(issuer: LocalIssuer, client: httpx.Client) -> None:
    issuer.authorization.register_client("cli", scopes=["notes:read"], grant_types=CODE_GRANTS, public=True)
    verifier = secrets.token_urlsafe(48)

    code = redirected(authorize(client, issuer, verifier))["code"]
    wrong = redeem(client, issuer, code, secrets.token_urlsafe(48))
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert redeem(client, issuer, code, verifier).json()["error"] == "invalid_grant"  # tried once: spent

    code = redirected(authorize(client, issuer, verifier))["code"]
    other_redirect = redeem(client, issuer, code, verifier, redirect_uri="http://127.0.0.1:8123/other")
    assert other_redirect.json()["error"] == "invalid_grant"

    code = redirected(authorize(client, issuer, verifier))["code"]
    assert "access_token" in redeem(client, issuer, code, verifier).json()
    assert redeem(client, issuer, code, verifier).json()["error"] == "invalid_grant"  # redeemed: gone


def test_authorization_requests_are_refused_where_they_should_be(
    issuer: LocalIssuer, client: httpx.Client
) -> None:
    issuer.authorization.register_client("cli", scopes=["notes:read"], grant_types=CODE_GRANTS, public=True)
    issuer.authorization.register_client("machine", scopes=["notes:read"])  # client credentials only
    verifier = secrets.token_urlsafe(48)
    # About the client or the redirect: answered at the endpoint, never sent to an unchecked URI.
    for overrides in (
        {"client_id": "nobody"},
        {"client_id": "machine"},
        {"redirect_uri": "http://evil.example/cb"},
    ):
        refused = authorize(client, issuer, verifier, **overrides)
        assert refused.status_code == 400 and "location" not in refused.headers, overrides
    # About the request: sent back to the (checked) redirect URI, with the state.
    cases: list[tuple[dict[str, str | None], str]] = [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "notes:admin"}, "invalid_scope"),
        ({"resource": "not-a-uri"}, "invalid_target"),
    ]
    for changed, error in cases:
        params = redirected(authorize(client, issuer, verifier, **changed))
        assert (params["error"], params["state"]) == (error, "xyz"), changed


def test_public_clients_cannot_pose_as_confidential_ones(issuer: LocalIssuer, client: httpx.Client) -> None:
    issuer.authorization.register_client("cli", scopes=["notes:read"], grant_types=CODE_GRANTS, public=True)
    confidential = issuer.authorization.register_client("app", scopes=["notes:read"], grant_types=CODE_GRANTS)
    verifier = secrets.token_urlsafe(48)
    code = redirected(authorize(client, issuer, verifier, client_id="app"))["code"]
    no_secret = redeem(client, issuer, code, verifier, client_id="app")
    assert (no_secret.status_code, no_secret.json()["error"]) == (401, "invalid_client")
    code = redirected(authorize(client, issuer, verifier, client_id="app"))["code"]
    with_secret = redeem(
        client, issuer, code, verifier, client_id="app", client_secret=confidential.client_secret
    )
    assert "access_token" in with_secret.json()
    # A public client has no secret to present, and an empty one is no secret.
    empty = client.post(
        issuer.authorization.token_endpoint,
        data={"grant_type": "client_credentials", "client_id": "cli", "client_secret": ""},
    )
    assert empty.json()["error"] == "invalid_client"
