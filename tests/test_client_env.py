"""auth_from_env: each AUTHSEC_AUTH_MODE, and every missing or contradictory variable."""

from __future__ import annotations

import pytest

from authsec_sdk.client import (
    OutboundAuthError,
    RefreshTokenAuth,
    RequestBoundAuth,
    RuntimeCredentialAuth,
    auth_from_env,
)
from authsec_sdk.testing import LocalIssuer

ENDPOINT = "https://as.example/oauth/token"
JWT = {"AUTHSEC_AUTH_MODE": "jwt", "AUTHSEC_ACCESS_TOKEN": "at", "AUTHSEC_REFRESH_TOKEN": "rt"}
SESSION = {"AUTHSEC_AUTH_MODE": "session_jwt", "AUTHSEC_AUDIENCE": "https://api.example/"}
RUNTIME = {"AUTHSEC_AUTH_MODE": "runtime_credential", "AUTHSEC_CLIENT_ID": "w", "AUTHSEC_CLIENT_SECRET": "s"}


@pytest.mark.parametrize(
    ("environ", "model"),
    [
        ({**JWT, "AUTHSEC_TOKEN_ENDPOINT": ENDPOINT}, RefreshTokenAuth),
        ({**JWT, "AUTHSEC_ISSUER": "https://as.example", "AUTHSEC_CLIENT_ID": "cli"}, RefreshTokenAuth),
        (SESSION, RequestBoundAuth),
        (
            {**SESSION, "AUTHSEC_TOKEN_ENDPOINT": ENDPOINT, "AUTHSEC_ISSUER": "https://as.example"},
            RequestBoundAuth,
        ),
        ({**SESSION, "AUTHSEC_CLIENT_ID": "relay", "AUTHSEC_CLIENT_SECRET": "s"}, RequestBoundAuth),
        (
            {**RUNTIME, "AUTHSEC_TOKEN_ENDPOINT": ENDPOINT, "AUTHSEC_AUDIENCE": "https://api.example/"},
            RuntimeCredentialAuth,
        ),
        (
            {**RUNTIME, "AUTHSEC_AUTH_MODE": " Runtime_Credential ", "AUTHSEC_ISSUER": "https://as.example"},
            RuntimeCredentialAuth,
        ),
    ],
)
def test_each_mode_builds_its_model(environ: dict[str, str], model: type) -> None:
    assert type(auth_from_env(environ)) is model


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "AUTHSEC_AUTH_MODE must be one of jwt, session_jwt, runtime_credential (not set)"),
        ({"AUTHSEC_AUTH_MODE": "oauth"}, "AUTHSEC_AUTH_MODE must be one of"),
        # missing
        (
            {**JWT, "AUTHSEC_REFRESH_TOKEN": ""},
            "AUTHSEC_REFRESH_TOKEN is required when AUTHSEC_AUTH_MODE=jwt",
        ),
        ({"AUTHSEC_AUTH_MODE": "jwt", "AUTHSEC_REFRESH_TOKEN": "rt"}, "AUTHSEC_ACCESS_TOKEN is required"),
        (JWT, "AUTHSEC_TOKEN_ENDPOINT (or AUTHSEC_ISSUER to discover it) is required"),
        ({"AUTHSEC_AUTH_MODE": "session_jwt"}, "AUTHSEC_AUDIENCE is required"),
        ({**RUNTIME, "AUTHSEC_CLIENT_SECRET": " "}, "AUTHSEC_CLIENT_SECRET is required"),
        (RUNTIME, "AUTHSEC_TOKEN_ENDPOINT (or AUTHSEC_ISSUER to discover it) is required"),
        # contradictory
        (
            {**JWT, "AUTHSEC_ISSUER": "https://as.example", "AUTHSEC_AUDIENCE": "x"},
            "AUTHSEC_AUDIENCE is set but",
        ),
        (
            {**SESSION, "AUTHSEC_ACCESS_TOKEN": "at"},
            "AUTHSEC_ACCESS_TOKEN is set but AUTHSEC_AUTH_MODE=session_jwt",
        ),
        ({**SESSION, "AUTHSEC_REFRESH_TOKEN": "rt"}, "AUTHSEC_REFRESH_TOKEN is set but"),
        (
            {**RUNTIME, "AUTHSEC_ISSUER": "https://as.example", "AUTHSEC_REFRESH_TOKEN": "rt"},
            "AUTHSEC_REFRESH_TOKEN is set but",
        ),
        (
            {**RUNTIME, "AUTHSEC_ISSUER": "https://as.example", "AUTHSEC_ACCESS_TOKEN": "at"},
            "AUTHSEC_ACCESS_TOKEN is set but",
        ),
        ({**SESSION, "AUTHSEC_CLIENT_SECRET": "s"}, "AUTHSEC_CLIENT_SECRET is set without AUTHSEC_CLIENT_ID"),
        ({**SESSION, "AUTHSEC_CLIENT_ID": "relay"}, "AUTHSEC_CLIENT_ID is set without AUTHSEC_CLIENT_SECRET"),
        (
            {**JWT, "AUTHSEC_ISSUER": "https://as.example", "AUTHSEC_CLIENT_SECRET": "s"},
            "AUTHSEC_CLIENT_SECRET is set without",
        ),
        # unusable
        (
            {**RUNTIME, "AUTHSEC_TOKEN_ENDPOINT": "as.example/token"},
            "AUTHSEC_TOKEN_ENDPOINT must be an absolute",
        ),
        ({**RUNTIME, "AUTHSEC_ISSUER": "ftp://as.example"}, "AUTHSEC_ISSUER must be an absolute"),
    ],
)
def test_missing_or_contradictory_variables_are_named(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError) as info:
        auth_from_env(environ)
    assert named in str(info.value)
    assert "rt" not in str(info.value).split() and "s" not in str(info.value).split()


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**RUNTIME, "AUTHSEC_TOKEN_ENDPOINT": ENDPOINT}.items():
        monkeypatch.setenv(name, value)
    assert isinstance(auth_from_env(), RuntimeCredentialAuth)


@pytest.mark.anyio
async def test_the_built_models_work_against_a_real_issuer(issuer: LocalIssuer) -> None:
    issuer.authorization.register_client("w", client_secret="s", scopes=["jobs:run"])
    worker = auth_from_env(
        {**RUNTIME, "AUTHSEC_ISSUER": issuer.issuer, "AUTHSEC_AUDIENCE": "https://api.example/"}
    )
    claims = issuer.introspection_answer(await worker.access_token() or "")
    assert claims["active"] and claims["sub"] == "w" and claims["aud"] == "https://api.example/"

    session = auth_from_env({**SESSION, "AUTHSEC_TOKEN_ENDPOINT": issuer.authorization.token_endpoint})
    with pytest.raises(OutboundAuthError) as info:
        await session.access_token()  # request-bound: outside a request there is no identity
    assert info.value.reason == "no_request"
    assert issuer.authorization.token_requests[1:] == []
