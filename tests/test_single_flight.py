"""Concurrent requests carrying the same new token share one check, over real HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from helpers import Protected, Recorder, bearer, protected_app, rpc

from authsec_sdk.runtime import ValidationMode
from authsec_sdk.runtime.errors import IssuerUnavailableError
from authsec_sdk.runtime.tokens.introspection import Introspector
from authsec_sdk.runtime.tokens.singleflight import SingleFlight
from authsec_sdk.testing import LocalIssuer

pytestmark = pytest.mark.anyio


async def statuses(http: httpx.AsyncClient, p: Protected, token: str, n: int = 20) -> list[int]:
    """``n`` requests with ``token``, all in flight at once."""
    seen: list[int] = []

    async def one() -> None:
        seen.append((await http.post(p.url, json=rpc("ping"), headers=bearer(token))).status_code)

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(one)
    return seen


def app(issuer: LocalIssuer, mode: ValidationMode, **overrides: Any) -> Any:
    return protected_app(issuer, Recorder(), validation_mode=mode, **overrides)


async def test_one_introspection_call_for_concurrent_requests_with_one_new_token(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    issuer.introspection_delay = 0.3
    with app(issuer, ValidationMode.INTROSPECTION_ONLY) as p:  # no answer cache (TTL 0)
        assert await statuses(http, p, issuer.mint_opaque(audience=p.url)) == [200] * 20
        assert issuer.counters.introspection == 1
        # Another token is another check; the answer is not kept once the call is over.
        assert await statuses(http, p, issuer.mint_opaque(audience=p.url), n=5) == [200] * 5
        assert issuer.counters.introspection == 2


async def test_waiters_share_the_failure_too(issuer: LocalIssuer, http: httpx.AsyncClient) -> None:
    issuer.introspection_delay = 0.3
    issuer.faults.introspection = "http_500"
    with app(issuer, ValidationMode.INTROSPECTION_ONLY) as p:
        assert await statuses(http, p, issuer.mint_opaque(audience=p.url)) == [503] * 20
    assert issuer.counters.introspection == 1


async def test_concurrent_jwts_share_one_verification_and_key_fetch(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    with app(issuer, ValidationMode.JWT_AND_INTROSPECT) as p:
        issuer.introspection_delay = 0.2
        assert await statuses(http, p, issuer.mint(audience=p.url)) == [200] * 20
    assert (issuer.counters.jwks, issuer.counters.introspection) == (1, 1)


async def test_a_cancelled_caller_does_not_strand_the_others(
    issuer: LocalIssuer, http: httpx.AsyncClient
) -> None:
    issuer.introspection_delay = 0.4
    intro = Introspector(issuer.config(resource_uri="http://127.0.0.1:9/mcp"), http)
    token = issuer.mint_opaque(subject="carol", audience="http://127.0.0.1:9/mcp")
    subjects: list[str] = []

    async def introspect() -> None:
        subjects.append((await intro.introspect(token, require_aud=True))["sub"])

    leader = anyio.CancelScope()
    async with anyio.create_task_group() as tg:
        tg.start_soon(in_scope, leader, introspect)  # the first caller makes the call
        await anyio.sleep(0.1)
        for _ in range(5):
            tg.start_soon(introspect)
        await anyio.sleep(0.1)
        leader.cancel()  # it goes away mid-call: one of the waiters calls again
    assert subjects == ["carol"] * 5
    assert issuer.counters.introspection == 2


async def in_scope(scope: anyio.CancelScope, work: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await work()


async def test_single_flight_gives_every_waiter_the_same_outcome() -> None:
    flights: SingleFlight[object] = SingleFlight()
    runs: list[bytes] = []
    release = anyio.Event()
    results: list[object] = []
    errors: list[BaseException] = []

    async def work(key: bytes) -> object:
        runs.append(key)
        await release.wait()
        if key == b"bad":
            raise IssuerUnavailableError("down")
        return object()

    async def call(key: bytes) -> None:
        try:
            results.append(await flights.run(key, lambda: work(key)))
        except IssuerUnavailableError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for key in (b"good", b"bad") * 5:
            tg.start_soon(call, key)
        await anyio.sleep(0.05)
        release.set()
    assert sorted(runs) == [b"bad", b"good"]
    assert len(results) == 5 and len({id(r) for r in results}) == 1
    assert len(errors) == 5 and len({id(e) for e in errors}) == 1
