"""Two uvicorn worker processes sharing one real Redis: introspection answers, revocations and
rate limits hold across the fleet, and Redis trouble costs neither safety nor service.

The issuer runs in this process, so its counters count the calls of both workers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fleet import RESOURCE, issuer_env, url, workers
from helpers import bearer, call_tool

from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.fleet import RedisServer, Worker

FLEET_ENV = {
    "AUTHSEC_VALIDATION_MODE": "introspection_only",
    "AUTHSEC_INTROSPECTION_CACHE_TTL": "60",
    # One token per worker's local cache, so a test can make the two workers' caches differ.
    "AUTHSEC_TOKEN_CACHE_SIZE": "1",
    "AUTHSEC_TOOL_SCOPES": json.dumps({"read": [], "delete_repo": []}),
    "AUTHSEC_RATE_LIMITS": json.dumps({"delete_repo": "3/hour"}),
}


@pytest.fixture(scope="module")
def fleet(_shared_issuer: LocalIssuer, redis_server: RedisServer) -> Iterator[list[Worker]]:
    env = {**issuer_env(_shared_issuer), **FLEET_ENV, "AUTHSEC_SHARED_CACHE_URL": redis_server.url}
    with workers(env, env) as started:
        yield started


@pytest.fixture
def both(fleet: list[Worker], issuer: LocalIssuer, redis_server: RedisServer) -> list[Worker]:
    """The two workers, with an empty Redis and a fresh issuer."""
    redis_server.flush()
    return fleet


def call(worker: Worker, token: str, tool: str = "read") -> httpx.Response:
    return httpx.post(url(worker), json=call_tool(tool), headers=bearer(token))


def test_a_token_used_on_both_workers_is_introspected_once(both: list[Worker], issuer: LocalIssuer) -> None:
    a, b = both
    token = issuer.mint_opaque(audience=RESOURCE)
    answers = [call(worker, token) for worker in (a, b, a, b)]
    assert [r.status_code for r in answers] == [200] * 4
    assert answers[0].json()["pid"] != answers[1].json()["pid"]  # two processes indeed
    assert issuer.counters.introspection == 1


def test_workers_meeting_a_new_token_together_ask_once(both: list[Worker], issuer: LocalIssuer) -> None:
    issuer.introspection_delay = 0.3  # every request arrives while the first call is under way
    token = issuer.mint_opaque(audience=RESOURCE)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda worker: call(worker, token), both * 3))
    assert [r.status_code for r in answers] == [200] * 6
    assert issuer.counters.introspection == 1


def test_a_revocation_one_worker_learns_is_refused_by_the_other(
    both: list[Worker], issuer: LocalIssuer, redis_server: RedisServer
) -> None:
    a, b = both
    token = issuer.mint_opaque(audience=RESOURCE)
    assert call(a, token).status_code == 200
    assert call(b, token).status_code == 200  # now in both workers' own caches
    issuer.revoke(token)
    # The caches part ways: A's one entry goes to another token, and Redis loses the shared
    # answer (as an eviction or a restart would), so only A will ask the issuer again.
    assert call(a, issuer.mint_opaque(audience=RESOURCE)).status_code == 200
    redis_server.flush()
    calls = issuer.counters.introspection
    assert call(a, token).status_code == 401
    assert issuer.counters.introspection == calls + 1
    # B never asked, and its own cache said active: the announcement emptied it.
    refused = call(b, token)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["www-authenticate"]
    assert issuer.counters.introspection == calls + 1  # B used the shared inactive answer


def test_rate_limits_hold_across_both_workers(both: list[Worker], issuer: LocalIssuer) -> None:
    a, b = both
    token = issuer.mint_opaque(subject="alice", audience=RESOURCE)
    assert [call(worker, token, "delete_repo").status_code for worker in (a, b, a)] == [200] * 3
    refused = call(b, token, "delete_repo")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["ratelimit-policy"] == '"delete_repo";q=3;w=3600'
    assert refused.headers["ratelimit"] == f'"delete_repo";r=0;t={refused.headers["retry-after"]}'
    error = refused.json()["error"]
    assert refused.json()["id"] == 1 and error["code"] == -32004 and error["data"]["error"] == "rate_limited"
    assert call(a, token, "delete_repo").status_code == 429
    assert call(a, token, "read").status_code == 200  # another tool: not limited
    bob = issuer.mint_opaque(subject="bob", audience=RESOURCE)
    assert call(b, bob, "delete_repo").status_code == 200  # another principal: its own count


def wait_until_recovered(worker: Worker) -> None:
    """Until the worker's store is answering again (it tries once a second)."""
    deadline = time.monotonic() + 5
    while worker.get_json("/health")["shared_cache"] != {"state": "ok", "last_error": None}:
        assert time.monotonic() < deadline, worker.get_json("/health")
        time.sleep(0.05)


def test_redis_stopped_mid_run_costs_neither_safety_nor_service(
    both: list[Worker], issuer: LocalIssuer, redis_server: RedisServer
) -> None:
    a, b = both
    known = issuer.mint_opaque(audience=RESOURCE)
    assert call(a, known).status_code == 200
    redis_server.stop()
    try:
        # Caches fall back to each process's own: a known token from A's memory, a new token
        # asked by each worker for itself. No 5xx comes from the store's trouble.
        assert call(a, known).status_code == 200
        fresh = issuer.mint_opaque(audience=RESOURCE)
        calls = issuer.counters.introspection
        assert [call(worker, fresh).status_code for worker in (a, b, a, b)] == [200] * 4
        assert issuer.counters.introspection == calls + 2
        revoked = issuer.mint_opaque(audience=RESOURCE)
        issuer.revoke(revoked)
        assert call(b, revoked).status_code == 401  # never an open door
        health = a.get_json("/health")["shared_cache"]
        assert health["state"] == "failing" and health["last_error"]
        # Rate-limited calls follow rate_limit_on_store_error ("deny" by default): 503.
        limited = call(b, fresh, "delete_repo")
        assert limited.status_code == 503 and limited.headers["retry-after"]
        assert b.get_json("/health")["rate_limits"] == {"counted_in": "shared", "on_store_error": "deny"}
    finally:
        redis_server.start()
    for worker in both:
        wait_until_recovered(worker)
    shared_again = issuer.mint_opaque(audience=RESOURCE)
    calls = issuer.counters.introspection
    assert [call(worker, shared_again).status_code for worker in (a, b)] == [200, 200]
    assert issuer.counters.introspection == calls + 1
