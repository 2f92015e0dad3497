"""Inactive introspection answers are remembered for introspection_negative_ttl, over real HTTP,
so a flood of one revoked token costs one call per window; outages are never remembered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers import MovableClock, Protected, Recorder, bearer, protected_app, rpc

from authsec_sdk.runtime import Config, ValidationMode, from_env
from authsec_sdk.runtime.errors import TokenInactiveError
from authsec_sdk.runtime.tokens.introspection import Introspector
from authsec_sdk.testing import LocalIssuer


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


def app(issuer: LocalIssuer, **overrides: Any) -> Any:
    return protected_app(issuer, Recorder(), validation_mode=ValidationMode.INTROSPECTION_ONLY, **overrides)


def statuses(client: httpx.Client, p: Protected, token: str, n: int) -> list[int]:
    return [client.post(p.url, json=rpc("ping"), headers=bearer(token)).status_code for _ in range(n)]


def test_a_flood_of_one_revoked_token_costs_one_call(issuer: LocalIssuer, client: httpx.Client) -> None:
    with app(issuer) as p:  # default window 5 s; introspection_cache_ttl stays 0
        token = issuer.mint_opaque(audience=p.url)
        assert statuses(client, p, token, 1) == [200]
        issuer.revoke(token)
        assert statuses(client, p, token, 30) == [401] * 30
        assert issuer.counters.introspection == 2
        assert statuses(client, p, issuer.mint_opaque(audience=p.url), 3) == [200] * 3  # active: not kept
        assert issuer.counters.introspection == 5


@pytest.mark.anyio
async def test_an_inactive_answer_is_asked_again_after_the_window(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp", introspection_negative_ttl=0.2)
    clock = MovableClock()
    intro = Introspector(cfg, http, clock.clock)
    for expected_calls in (1, 1, 1):
        with pytest.raises(TokenInactiveError):
            await intro.introspect("never-issued", require_aud=True)
        assert issuer.counters.introspection == expected_calls
    clock.advance(0.25)  # past the (short) window
    with pytest.raises(TokenInactiveError):
        await intro.introspect("never-issued", require_aud=True)
    assert issuer.counters.introspection == 2


def test_outages_are_never_remembered(issuer: LocalIssuer, client: httpx.Client) -> None:
    with app(issuer) as p:  # default: 5 s
        token = issuer.mint_opaque(audience=p.url)
        issuer.faults.introspection = "http_500"
        assert statuses(client, p, token, 3) == [503] * 3
        issuer.faults.introspection = None
        assert statuses(client, p, token, 1) == [200]
    assert issuer.counters.introspection == 4


def test_zero_asks_every_time(issuer: LocalIssuer, client: httpx.Client) -> None:
    with app(issuer, introspection_negative_ttl=0) as p:
        assert statuses(client, p, "never-issued", 4) == [401] * 4
    assert issuer.counters.introspection == 4


def test_setting_defaults_reads_from_env_and_must_not_be_negative() -> None:
    base: dict[str, Any] = {
        "issuer": "https://as.example",
        "jwks_url": "https://as.example/jwks",
        "resource_uri": "https://h/mcp",
    }
    assert Config(**base).introspection_negative_ttl == 5.0
    assert from_env({"AUTHSEC_INTROSPECTION_NEGATIVE_TTL": "2.5"}).introspection_negative_ttl == 2.5
    with pytest.raises(ValueError, match="AUTHSEC_INTROSPECTION_NEGATIVE_TTL"):
        from_env({"AUTHSEC_INTROSPECTION_NEGATIVE_TTL": "soon"})
    with pytest.raises(ValueError, match="introspection_negative_ttl must be zero or a positive number"):
        Config(**base, introspection_negative_ttl=-1).validate()
