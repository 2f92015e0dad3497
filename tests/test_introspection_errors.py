"""What the introspection endpoint's refusals mean, over real HTTP: a 400 refuses one token
(401), a refusal of our credentials is an outage (503) shown in health, and each is logged once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers import Protected, Recorder, bearer, challenge_params, protected_app, rpc

from authsec_sdk.runtime import ValidationMode
from authsec_sdk.testing import LocalIssuer

LOGGER = "authsec.tokens.introspection"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def app(issuer: LocalIssuer, mode: ValidationMode, **overrides: Any) -> Any:
    return protected_app(issuer, Recorder(), validation_mode=mode, **overrides)


def post(client: httpx.Client, p: Protected, token: str) -> httpx.Response:
    return client.post(p.url, json=rpc("ping"), headers=bearer(token))


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


@pytest.mark.parametrize("mode", [ValidationMode.INTROSPECTION_ONLY, ValidationMode.JWT_AND_INTROSPECT])
def test_issuer_that_does_not_introspect_jwts_refuses_them_with_401_and_a_hint(
    issuer: LocalIssuer, client: httpx.Client, caplog: pytest.LogCaptureFixture, mode: ValidationMode
) -> None:
    caplog.set_level(logging.INFO, logger="authsec")
    issuer.introspects_jwts = False
    with app(issuer, mode) as p:
        for _ in range(3):
            refused = post(client, p, issuer.mint(audience=p.url))
            assert refused.status_code == 401
            params = challenge_params(refused.headers["www-authenticate"])
            assert (params["error"], params["error_description"]) == (
                "invalid_token",
                "introspection refused the token",
            )
        health = p.runtime.health()["introspection"]
    assert health == {"state": "ok", "last_error": None}  # the issuer answers: no outage
    assert warnings_logged(caplog) == [
        "token introspection refused a JWT (HTTP 400 unsupported_token_type): this issuer does not "
        "introspect JWT access tokens: use JWT_ONLY or JWT_OR_INTROSPECT"
    ]


def test_jwt_or_introspect_is_the_cure(issuer: LocalIssuer, client: httpx.Client) -> None:
    issuer.introspects_jwts = False
    with app(issuer, ValidationMode.JWT_OR_INTROSPECT) as p:
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200
        assert post(client, p, issuer.mint_opaque(audience=p.url)).status_code == 200


def test_other_400_refuses_the_token_with_a_neutral_warning(
    issuer: LocalIssuer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authsec")
    issuer.faults.introspection = "http_400"
    with app(issuer, ValidationMode.INTROSPECTION_ONLY) as p:
        for _ in range(2):
            assert post(client, p, issuer.mint_opaque(audience=p.url)).status_code == 401
    assert warnings_logged(caplog) == ["introspection refused the token (HTTP 400 invalid_request)"]


@pytest.mark.parametrize(
    ("fault", "reason"), [(None, "HTTP 401 invalid_client"), ("invalid_client", "HTTP 400 invalid_client")]
)
def test_rejected_credentials_are_503_logged_once_and_shown_in_health(
    issuer: LocalIssuer, client: httpx.Client, caplog: pytest.LogCaptureFixture, fault: Any, reason: str
) -> None:
    caplog.set_level(logging.INFO, logger="authsec")
    issuer.faults.introspection = fault
    right_secret = issuer.client_secret
    issuer.client_secret = "rotated-at-the-issuer"  # the resource server still sends the old one
    with app(issuer, ValidationMode.INTROSPECTION_ONLY, introspection_client_secret=right_secret) as p:
        token = issuer.mint_opaque(audience=p.url)
        for _ in range(3):
            assert post(client, p, token).status_code == 503
        assert p.runtime.health()["introspection"] == {"state": "credentials_rejected", "last_error": reason}
        issuer.faults.introspection = None
        issuer.client_secret = right_secret
        assert post(client, p, token).status_code == 200
        assert p.runtime.health()["introspection"] == {"state": "ok", "last_error": None}
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == [
        f"token introspection credentials rejected ({reason}): check introspection_client_id and "
        "introspection_client_secret; requests get 503 until it recovers",
        "token introspection recovered",
    ]


def test_an_outage_shows_as_failing_in_health(issuer: LocalIssuer, client: httpx.Client) -> None:
    with app(issuer, ValidationMode.INTROSPECTION_ONLY) as p:
        issuer.faults.introspection = "http_500"
        assert post(client, p, issuer.mint_opaque(audience=p.url)).status_code == 503
        assert p.runtime.health()["introspection"] == {"state": "failing", "last_error": "HTTP 500"}


def test_health_has_no_introspection_entry_when_it_is_not_used(issuer: LocalIssuer) -> None:
    with app(issuer, ValidationMode.JWT_ONLY) as p:
        health = p.runtime.health()
    assert health["ready"] and "introspection" not in health
