"""Introspection (RFC 7662) and the four validation modes, against the real local issuer."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from helpers import MovableClock
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsec_sdk.runtime.config import Config, ValidationMode
from authsec_sdk.runtime.errors import IssuerUnavailableError, TokenInactiveError, TokenInvalidError
from authsec_sdk.runtime.tokens import TokenValidator
from authsec_sdk.runtime.tokens.introspection import Introspector
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.issuer import Fault

pytestmark = pytest.mark.anyio

RESOURCE = "http://127.0.0.1:8000/mcp"


def config(issuer: LocalIssuer, **overrides: Any) -> Config:
    values: dict[str, Any] = {
        **issuer.config_values(),
        "resource_uri": RESOURCE,
        "validation_mode": ValidationMode.INTROSPECTION_ONLY,
    }
    values.update(overrides)
    return Config(**values)


def introspector(
    issuer: LocalIssuer, http: httpx.AsyncClient, clock: MovableClock | None = None, **overrides: Any
) -> Introspector:
    return Introspector(config(issuer, **overrides), http, *([clock.clock] if clock else []))


def validator(
    issuer: LocalIssuer, http: httpx.AsyncClient, mode: ValidationMode, **overrides: Any
) -> TokenValidator:
    return TokenValidator(config(issuer, validation_mode=mode, **overrides), http)


DROP = object()


def answer_with(issuer: LocalIssuer, **changes: Any) -> None:
    """Make the issuer's introspection answer differ from the truth, for negative tests."""
    honest = issuer.introspection_answer

    def answer(token: str) -> Any:
        body = {**honest(token), **changes}
        return {name: value for name, value in body.items() if value is not DROP}

    issuer.introspection_answer = answer  # type: ignore[method-assign]


def flip_signature_bit(token: str) -> str:
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


# ---------------------------------------------------------------- the request
class RequestRecorder:
    """ASGI middleware in front of the issuer that keeps every HTTP request it sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while not messages or messages[-1].get("more_body"):
            messages.append(await receive())
        self.requests.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "query": scope["query_string"],
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body": b"".join(m.get("body", b"") for m in messages),
            }
        )

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


@pytest.fixture
def recorded_issuer() -> Iterator[tuple[LocalIssuer, RequestRecorder]]:
    issuer = LocalIssuer()
    recorder = RequestRecorder(issuer.app)
    issuer.app = recorder  # type: ignore[assignment]
    with issuer:
        yield issuer, recorder


async def test_request_is_a_basic_authenticated_form_post(
    recorded_issuer: tuple[LocalIssuer, RequestRecorder], http: httpx.AsyncClient
) -> None:
    issuer, recorder = recorded_issuer
    token = issuer.mint_opaque(audience=RESOURCE)
    await introspector(issuer, http).introspect(token, require_aud=True)
    (request,) = recorder.requests
    assert (request["method"], request["path"], request["query"]) == ("POST", "/oauth/introspect", b"")
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    scheme, _, credentials = request["headers"]["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{issuer.client_id}:{issuer.client_secret}"
    assert parse_qs(request["body"].decode()) == {"token": [token], "token_type_hint": ["access_token"]}
    assert token not in str(request["path"]) + str(request["query"])


async def test_wrong_client_credentials_are_issuer_unavailable(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    token = issuer.mint_opaque(audience=RESOURCE)
    with pytest.raises(IssuerUnavailableError):
        await introspector(issuer, http, introspection_client_secret="wrong").introspect(
            token, require_aud=True
        )


# ---------------------------------------------------------------- the answer
async def test_active_answer_is_returned(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    token = issuer.mint_opaque(subject="bob", audience=RESOURCE, scopes=["mcp:read"])
    answer = await introspector(issuer, http).introspect(token, require_aud=True)
    assert (answer["active"], answer["sub"], answer["scope"]) == (True, "bob", "mcp:read")


async def test_revoked_and_unknown_tokens_are_inactive(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    intro = introspector(issuer, http)
    token = issuer.mint_opaque(audience=RESOURCE)
    issuer.revoke(token)
    for candidate in (token, "never-issued"):
        with pytest.raises(TokenInactiveError) as caught:
            await intro.introspect(candidate, require_aud=True)
        assert caught.value.description == "token is not active"


@pytest.mark.parametrize("active", [False, "true", 1, None, [True], {"value": True}, DROP])
async def test_only_json_true_counts_as_active(
    issuer: LocalIssuer, http: httpx.AsyncClient, active: Any
) -> None:
    answer_with(issuer, active=active)
    with pytest.raises(TokenInactiveError):
        await introspector(issuer, http).introspect(issuer.mint_opaque(audience=RESOURCE), require_aud=True)


async def test_active_answer_must_still_be_for_us_and_current(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    intro = introspector(issuer, http, clock_leeway=30)
    now = int(time.time())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"iss": issuer.issuer + "/"}, "issuer mismatch"),
        ({"exp": now - 3600}, "token expired"),
        ({"nbf": now + 3600}, "token not yet valid"),
        ({"aud": "https://other.example/mcp"}, "audience mismatch"),
        ({"aud": DROP}, "audience mismatch"),
        ({"exp": "soon"}, "invalid exp claim"),
    ]
    honest = issuer.introspection_answer
    for changes, description in cases:
        issuer.introspection_answer = honest  # type: ignore[method-assign]
        answer_with(issuer, **changes)
        with pytest.raises(TokenInvalidError) as caught:
            await intro.introspect(issuer.mint_opaque(audience=RESOURCE), require_aud=True)
        assert caught.value.description == description, changes


async def test_optional_claims_may_be_absent(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    answer_with(issuer, iss=DROP, exp=DROP, iat=DROP, aud=DROP)
    answer = await introspector(issuer, http).introspect(issuer.mint_opaque(), require_aud=False)
    assert answer["active"] is True


# ---------------------------------------------------------------- failures
@pytest.mark.parametrize("fault", ["down", "http_500", "malformed"])
async def test_issuer_faults_are_unavailable(
    issuer: LocalIssuer, http: httpx.AsyncClient, fault: Any
) -> None:
    issuer.faults.introspection = fault
    with pytest.raises(IssuerUnavailableError):
        await introspector(issuer, http).introspect(issuer.mint_opaque(audience=RESOURCE), require_aud=True)


async def test_issuer_timeout_is_unavailable(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    issuer.faults.introspection = "slow"
    started = time.monotonic()
    with pytest.raises(IssuerUnavailableError):
        await introspector(issuer, http, http_timeout=0.5).introspect(issuer.mint_opaque(), require_aud=True)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("answer", [[{"active": True}], "active", True, None])
async def test_answer_that_is_not_an_object_is_unavailable(
    issuer: LocalIssuer, http: httpx.AsyncClient, answer: Any
) -> None:
    issuer.introspection_answer = lambda token: answer  # type: ignore[method-assign]
    with pytest.raises(IssuerUnavailableError):
        await introspector(issuer, http).introspect(issuer.mint_opaque(audience=RESOURCE), require_aud=True)


async def test_unreachable_issuer_is_unavailable(http: httpx.AsyncClient) -> None:
    with LocalIssuer() as gone:
        cfg = config(gone)
        token = gone.mint_opaque(audience=RESOURCE)
    with pytest.raises(IssuerUnavailableError):
        await Introspector(cfg, http).introspect(token, require_aud=True)


async def test_an_outage_is_logged_when_it_starts_and_ends_not_per_request(
    issuer: LocalIssuer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authsec")
    intro = introspector(issuer, http)
    token = issuer.mint_opaque(audience=RESOURCE)
    issuer.faults.introspection = "http_500"
    for _ in range(5):
        with pytest.raises(IssuerUnavailableError):
            await intro.introspect(token, require_aud=True)
    issuer.faults.introspection = None
    await intro.introspect(token, require_aud=True)
    await intro.introspect(token, require_aud=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "authsec.tokens.introspection"]
    assert messages == [
        "token introspection failed: HTTP 500; requests get 503 until it recovers",
        "token introspection recovered",
    ]


async def test_logs_never_contain_the_token_or_the_secret(
    issuer: LocalIssuer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="authsec")
    token = issuer.mint(audience=RESOURCE)
    faults: tuple[Fault | None, ...] = ("down", "http_500", "malformed", None)
    for fault in faults:
        issuer.faults.introspection = fault
        issuer.faults.jwks = fault
        for mode in ValidationMode:
            if mode is not ValidationMode.UNSET:
                with pytest.raises((TokenInvalidError, IssuerUnavailableError)):
                    await validator(issuer, http, mode).validate(flip_signature_bit(token))
    assert caplog.records
    for secret in (token, token.rpartition(".")[0], issuer.client_secret):
        assert secret not in caplog.text


# ---------------------------------------------------------------- caching
async def test_answers_are_not_cached_by_default(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    intro = introspector(issuer, http)
    token = issuer.mint_opaque(audience=RESOURCE)
    for _ in range(3):
        await intro.introspect(token, require_aud=True)
    assert issuer.counters.introspection == 3


async def test_cached_answer_is_reused_but_never_past_exp(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    clock = MovableClock()
    intro = introspector(issuer, http, clock, introspection_cache_ttl=60, clock_leeway=0)
    token = issuer.mint_opaque(audience=RESOURCE, expires_in=1)
    for _ in range(3):
        await intro.introspect(token, require_aud=True)
    assert issuer.counters.introspection == 1
    clock.advance(1.2)
    with pytest.raises(TokenInvalidError, match="expired"):  # asked again; the answer is past exp
        await intro.introspect(token, require_aud=True)
    assert issuer.counters.introspection == 2


async def test_cached_answer_expires_with_its_ttl(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    clock = MovableClock()
    intro = introspector(issuer, http, clock, introspection_cache_ttl=0.3)
    token = issuer.mint_opaque(audience=RESOURCE)
    await intro.introspect(token, require_aud=True)
    issuer.revoke(token)
    await intro.introspect(token, require_aud=True)  # still the cached answer
    clock.advance(0.4)
    with pytest.raises(TokenInactiveError):
        await intro.introspect(token, require_aud=True)
    assert issuer.counters.introspection == 2


async def test_inactive_answers_are_not_kept_with_the_active_ones(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    intro = introspector(issuer, http, introspection_cache_ttl=60, introspection_negative_ttl=0)
    for _ in range(2):
        with pytest.raises(TokenInactiveError):
            await intro.introspect("never-issued", require_aud=True)
    assert issuer.counters.introspection == 2


# ---------------------------------------------------------------- validation modes
async def test_introspection_only(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, ValidationMode.INTROSPECTION_ONLY)
    opaque = issuer.mint_opaque(subject="carol", audience=RESOURCE, scopes=["mcp:read"])
    principal = await v.validate(opaque)
    assert (principal.subject, principal.issuer, principal.scopes, principal.audience) == (
        "carol",
        issuer.issuer,
        ("mcp:read",),
        (RESOURCE,),
    )
    assert (await v.validate(issuer.mint(audience=RESOURCE))).subject == "user-1"  # JWTs are introspected too
    assert issuer.counters.jwks == 0
    issuer.revoke(opaque)
    with pytest.raises(TokenInactiveError):
        await v.validate(opaque)
    with pytest.raises(TokenInvalidError, match="audience mismatch"):  # no aud in the answer
        await v.validate(issuer.mint_opaque())


async def test_jwt_or_introspect(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, ValidationMode.JWT_OR_INTROSPECT)
    assert (await v.validate(issuer.mint(subject="jwt-user", audience=RESOURCE))).subject == "jwt-user"
    assert issuer.counters.introspection == 0
    assert (
        await v.validate(issuer.mint_opaque(subject="opaque-user", audience=RESOURCE))
    ).subject == "opaque-user"
    assert issuer.counters.introspection == 1
    with pytest.raises(TokenInvalidError, match="audience mismatch"):  # aud required for opaque tokens too
        await v.validate(issuer.mint_opaque())
    assert issuer.counters.introspection == 2
    # A JWT that fails is refused outright, never handed to introspection to try again.
    for bad_jwt in (
        flip_signature_bit(issuer.mint(audience=RESOURCE)),
        issuer.mint(audience="https://other.example/mcp"),
        issuer.mint(audience=RESOURCE, expires_in=-3600),
    ):
        with pytest.raises(TokenInvalidError) as caught:
            await v.validate(bad_jwt)
        assert not isinstance(caught.value, TokenInactiveError)
    assert issuer.counters.introspection == 2


async def test_jwt_and_introspect(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, ValidationMode.JWT_AND_INTROSPECT)
    token = issuer.mint(subject="dave", audience=RESOURCE, scopes=["mcp:read", "mcp:write"])
    principal = await v.validate(token)
    assert (principal.subject, principal.scopes, principal.active) == (
        "dave",
        ("mcp:read", "mcp:write"),
        True,
    )
    assert (issuer.counters.jwks, issuer.counters.introspection) == (1, 1)
    issuer.revoke(token)
    with pytest.raises(TokenInactiveError):
        await v.validate(token)
    # A bad JWT never reaches the issuer; an opaque token is no JWT and so is refused.
    with pytest.raises(TokenInvalidError):
        await v.validate(flip_signature_bit(issuer.mint(audience=RESOURCE)))
    with pytest.raises(TokenInvalidError):
        await v.validate(issuer.mint_opaque(audience=RESOURCE))
    assert issuer.counters.introspection == 2


async def test_jwt_and_introspect_narrows_scopes_to_the_live_answer(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    v = validator(issuer, http, ValidationMode.JWT_AND_INTROSPECT)
    token = issuer.mint(audience=RESOURCE, scopes=["mcp:read", "mcp:write", "mcp:admin"])
    answer_with(issuer, scope="mcp:admin mcp:read mcp:extra", aud=DROP)  # aud was proven by the JWT
    assert (await v.validate(token)).scopes == ("mcp:read", "mcp:admin")
    answer_with(issuer, scope=DROP)
    assert (await v.validate(issuer.mint(audience=RESOURCE, scopes=["a", "b"]))).scopes == ("a", "b")


async def test_jwt_and_introspect_outage_is_unavailable(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    v = validator(issuer, http, ValidationMode.JWT_AND_INTROSPECT)
    issuer.faults.introspection = "down"
    with pytest.raises(IssuerUnavailableError):
        await v.validate(issuer.mint(audience=RESOURCE))


async def test_inferred_mode_with_both_urls_checks_revocation(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    v = validator(issuer, http, ValidationMode.UNSET)
    token = issuer.mint(audience=RESOURCE)
    await v.validate(token)
    issuer.revoke(token)
    with pytest.raises(TokenInactiveError):
        await v.validate(token)


async def test_no_validation_mode_is_a_configuration_error(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    cfg = config(issuer, validation_mode=ValidationMode.UNSET, jwks_url="", introspection_url="")
    with pytest.raises(ValueError, match="validation mode"):
        TokenValidator(cfg, http)


async def test_unexpected_failure_is_an_invalid_token_logged_without_the_token(
    issuer: LocalIssuer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    v = validator(issuer, http, ValidationMode.JWT_ONLY)
    not_a_str = b"raw-bytes-token-value"
    with pytest.raises(TokenInvalidError) as caught:
        await v.validate(not_a_str)  # type: ignore[arg-type]
    assert caught.value.description == "token could not be validated"
    assert "AttributeError" in caplog.text
    assert "raw-bytes-token-value" not in caplog.text
