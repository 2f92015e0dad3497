"""JWKS hardening over real HTTP: unsafe published keys, unknown-kid refetches, withdrawn keys."""

from __future__ import annotations

import base64
import logging
import secrets
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import MovableClock, Protected, Recorder, bearer, challenge_params, protected_app, rpc
from jwt.warnings import InsecureKeyLengthWarning

from authsec_sdk.runtime import ValidationMode
from authsec_sdk.runtime.errors import IssuerUnavailableError, TokenInvalidError
from authsec_sdk.runtime.tokens.jwks import JWKSStore
from authsec_sdk.testing import LocalIssuer, SigningKey, generate_key


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def jwt_app(issuer: LocalIssuer, **overrides: Any) -> AbstractContextManager[Protected]:
    return protected_app(issuer, Recorder(), validation_mode=ValidationMode.JWT_ONLY, **overrides)


def post(client: httpx.Client, p: Protected, token: str) -> httpx.Response:
    return client.post(p.url, json=rpc("ping"), headers=bearer(token))


def refusal(response: httpx.Response) -> str:
    """The ``error_description`` of a 401 ``invalid_token`` answer."""
    assert response.status_code == 401, response.text
    params = challenge_params(response.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    return params["error_description"]


# ---------------------------------------------------------------- unsafe published keys
def test_weak_symmetric_and_mismatched_keys_are_never_used_and_warned_once(
    issuer: LocalIssuer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    weak = generate_key("RS256", kid="rsa-1024", key_size=1024)
    wrong_curve = SigningKey("es256-on-p384", "ES256", ec.generate_private_key(ec.SECP384R1()))
    secret = base64.urlsafe_b64encode(b"k" * 32).decode()
    for jwk in (
        weak.public_jwk(),
        wrong_curve.public_jwk(),
        {"kty": "oct", "kid": "shared-secret", "alg": "HS256", "k": secret},
    ):
        issuer.publish_jwk(jwk)
    caplog.set_level(logging.WARNING, logger="authsec.tokens.jwks")
    allowed = ("RS256", "ES256", "ES384", "EdDSA")  # ES384 allowed: the curve, not the list, decides
    with jwt_app(issuer, jwks_refetch_cooldown=0, allowed_algorithms=allowed) as p:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # PyJWT's, when signing
            weak_token = issuer.mint(audience=p.url, key=weak)
        for _ in range(3):  # every unknown kid refetches (cooldown 0); the warnings are not repeated
            assert refusal(post(client, p, weak_token)) == "unknown signing key"
            # The genuine key's signature under the other kids: "unknown signing key", not
            # "invalid signature", shows the named key is not in the usable set at all.
            for kid in ("es256-on-p384", "shared-secret"):
                named = issuer.mint(audience=p.url, headers={"kid": kid})
                assert refusal(post(client, p, named)) == "unknown signing key"
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200
    assert issuer.counters.jwks >= 9
    warned = sorted(r.getMessage() for r in caplog.records if r.name == "authsec.tokens.jwks")
    assert warned == [
        "JWKS key 'es256-on-p384' is never used: alg ES256 does not fit the key (EC P-384)",
        "JWKS key 'rsa-1024' is never used: RSA key of 1024 bits is too weak (RFC 7518 §3.3 requires 2048)",
        "JWKS key 'shared-secret' is never used: symmetric (oct) key: a shared secret is never published",
    ]


def test_rsa_keys_of_2048_bits_and_more_are_used(issuer: LocalIssuer, client: httpx.Client) -> None:
    strong = generate_key("RS256", kid="rsa-3072", key_size=3072)
    issuer.publish_jwk(strong.public_jwk())
    with jwt_app(issuer) as p:
        assert post(client, p, issuer.mint(audience=p.url, key=strong)).status_code == 200
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200  # 2048 bits


# ---------------------------------------------------------------- unknown kids and refetches
@pytest.mark.anyio
async def test_burst_of_unknown_kids_on_a_fresh_server_is_all_401_with_few_fetches(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    with jwt_app(issuer) as p:  # default cooldown: 5 s; nothing fetched yet
        tokens = [issuer.mint(audience=p.url, headers={"kid": secrets.token_hex(8)}) for _ in range(200)]
        statuses: list[int] = []

        async def worker() -> None:
            while tokens:
                token = tokens.pop()
                response = await http.post(p.url, json=rpc("ping"), headers=bearer(token))
                statuses.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(worker)
    assert statuses == [401] * 200  # none is a 503 for arriving while the first fetch ran
    # The cold fetch, one refetch for the first unknown kid, and at most one more if the burst
    # outlasted the cooldown.
    assert issuer.counters.jwks <= 3


def test_rotated_key_is_found_right_after_a_scheduled_refresh(
    issuer: LocalIssuer, client: httpx.Client
) -> None:
    with jwt_app(issuer, jwks_cache_ttl=0.3, jwks_refetch_cooldown=60) as p:
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200
        time.sleep(0.4)  # past the (short) TTL: the next request refreshes on schedule
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200
        assert issuer.counters.jwks == 2
        issuer.rotate_keys()
        # The scheduled refresh does not start the cooldown: the new kid is fetched at once.
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200
        assert issuer.counters.jwks == 3


@pytest.mark.anyio
async def test_nobody_waits_on_a_scheduled_refresh_another_lookup_started(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", validation_mode=ValidationMode.JWT_ONLY)
    clock = MovableClock()
    store = JWKSStore(cfg, http, clock.clock)
    kid = issuer.current_key.kid
    await store.get_key(kid, "RS256")
    clock.advance(cfg.jwks_cache_ttl + 1)  # the keys are due for their scheduled refresh
    issuer.faults.jwks = "slow"
    async with anyio.create_task_group() as tg:
        tg.start_soon(store.get_key, kid, "RS256")  # starts the (slow) refresh and waits for it
        await anyio.sleep(0.05)
        with anyio.fail_after(0.5):  # the others answer from the cached keys meanwhile
            for _ in range(20):
                assert (await store.get_key(kid, "RS256")).kid == kid
        issuer.faults.jwks = None
        tg.cancel_scope.cancel()
    assert issuer.counters.jwks == 2


@pytest.mark.anyio
async def test_lookups_waiting_on_a_cancelled_fetch_are_not_stranded(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", validation_mode=ValidationMode.JWT_ONLY)
    store = JWKSStore(cfg, http)
    kid = issuer.current_key.kid
    found: list[str | None] = []

    async def lookup() -> None:
        found.append((await store.get_key(kid, "RS256")).kid)

    issuer.faults.jwks = "slow"
    leader = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_in_scope, leader, lookup)  # the first lookup starts the (slow) fetch
        await anyio.sleep(0.05)
        for _ in range(5):
            tg.start_soon(lookup)
        await anyio.sleep(0.2)
        issuer.faults.jwks = None
        leader.cancel()  # the fetch's owner goes away: a waiter must fetch instead
    assert found == [kid] * 5
    assert issuer.counters.jwks == 2


async def _in_scope(scope: anyio.CancelScope, work: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await work()


# ---------------------------------------------------------------- withdrawn keys
def test_a_withdrawn_key_takes_its_cached_verifications_with_it(
    issuer: LocalIssuer, client: httpx.Client
) -> None:
    with jwt_app(issuer) as p:
        old = issuer.mint(audience=p.url, expires_in=3600)
        assert post(client, p, old).status_code == 200
        assert post(client, p, old).status_code == 200  # now answered from the cache
        issuer.rotate_keys(keep_old=False)
        # A token with the new kid makes the store refetch; the old key is gone from the set.
        assert post(client, p, issuer.mint(audience=p.url)).status_code == 200
        assert refusal(post(client, p, old)) == "unknown signing key"
        assert issuer.counters.jwks == 2


@pytest.mark.anyio
async def test_an_unchanged_key_stays_the_same_object_across_fetches(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    """What keeps cached verifications valid across refreshes while their key is published."""
    cfg = issuer.config(
        resource_uri="http://127.0.0.1:9/mcp",
        validation_mode=ValidationMode.JWT_ONLY,
        jwks_refetch_cooldown=0,
    )
    store = JWKSStore(cfg, http)
    first = await store.get_key(issuer.current_key.kid, "RS256")
    new = issuer.rotate_keys()  # the old key stays published
    assert (await store.get_key(new.kid, "RS256")).kid == new.kid  # refetched
    assert await store.get_key(first.kid, "RS256") is first
    assert store.is_current(first)
    newest = issuer.rotate_keys(keep_old=False)
    await store.get_key(newest.kid, "RS256")  # refetched
    assert not store.is_current(first)
    with pytest.raises(TokenInvalidError):
        await store.get_key(first.kid, "RS256")
    assert issuer.counters.jwks == 4  # cold, then one per unknown kid (cooldown 0)


@pytest.mark.anyio
async def test_usable_keys_lists_only_keys_tokens_can_be_verified_with(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    issuer.publish_jwk(generate_key("RS256", "weak", key_size=1024).public_jwk())
    store = JWKSStore(issuer.config(resource_uri="https://mcp.example/mcp"), http)
    assert [key.kid for key in await store.usable_keys()] == [issuer.current_key.kid]
    issuer.faults.jwks = "down"
    fresh = JWKSStore(issuer.config(resource_uri="https://mcp.example/mcp"), http)
    with pytest.raises(IssuerUnavailableError):
        await fresh.usable_keys()
