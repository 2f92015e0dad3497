"""The shared store in one process: two runtimes (as two workers would) on a real Redis.

The fleet tests run the same behaviour across uvicorn worker processes; these reach the
corners: other validation modes, namespacing, what the store holds, an unreachable store,
the policy's news and the manifest claim.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
import pytest
from helpers import MovableClock, Protected, Recorder, bearer, call_tool, protected_app

from authsec_sdk.runtime import Config
from authsec_sdk.runtime.manifest import publish_manifest
from authsec_sdk.runtime.policy import policy_source_for
from authsec_sdk.runtime.policy.remote import RemotePolicy
from authsec_sdk.runtime.shared.answers import decode_answer, encode_answer
from authsec_sdk.runtime.shared.fleet_policy import decode_policy, encode_policy
from authsec_sdk.runtime.shared.keys import Keys
from authsec_sdk.runtime.shared.manifest_once import ManifestOnce, manifest_digest
from authsec_sdk.runtime.shared.revocation import digest_of_message
from authsec_sdk.runtime.shared.store import SharedStore
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.fleet import RedisServer, free_port

RESOURCE = "http://localhost:8000/mcp"
TOOLS: dict[str, list[str]] = {"read": [], "delete_repo": []}


@pytest.fixture
def store(redis_server: RedisServer) -> RedisServer:
    """The session's Redis, emptied."""
    redis_server.flush()
    return redis_server


@contextmanager
def pair(issuer: LocalIssuer, *overrides: dict[str, Any]) -> Iterator[list[Protected]]:
    """One protected app per ``overrides``, each with its own runtime, served side by side."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(protected_app(issuer, Recorder(), tool_scopes=TOOLS, **values))
            for values in overrides
        ]


def call(p: Protected, token: str, tool: str = "read") -> int:
    return httpx.post(p.url, json=call_tool(tool), headers=bearer(token)).status_code


def shared(store: RedisServer, **values: Any) -> dict[str, Any]:
    return {"resource_uri": RESOURCE, "shared_cache_url": store.url, **values}


# ---------------------------------------------------------------------------- pure
def test_stored_values_are_read_as_untrusted() -> None:
    assert decode_answer(encode_answer({"active": True}, 20.0), now=10.0) == ({"active": True}, 20.0)
    assert decode_answer(encode_answer({"active": True}, 20.0), now=20.0) is None  # past its deadline
    nested = b"[" * 100_000 + b"]" * 100_000  # deeper than the parser's recursion limit
    for raw in (None, b"{", b"[]", nested, b'{"answer": 1, "until": 5}', b'{"answer": {}, "until": true}'):
        assert decode_answer(raw, now=0.0) is None
    assert decode_policy(encode_policy({"tools": {}}, 7.0)) == ({"tools": {}}, 7.0)
    for raw in (None, b"x", b"[]", b'{"document": {}}', b'{"document": {}, "fetched_at": false}'):
        assert decode_policy(raw) is None
    digest = hashlib.sha256(b"t").digest()
    assert digest_of_message(digest.hex().encode()) == digest
    assert digest_of_message(b"not a digest") is None
    assert digest_of_message(digest.hex().upper().encode()) is None


def test_keys_are_apart_per_resource_and_the_manifest_digest_ignores_key_order() -> None:
    one, two = Keys.for_resource("https://a/mcp"), Keys.for_resource("https://b/mcp")
    digest = hashlib.sha256(b"token").digest()
    assert one.answer(digest) != two.answer(digest) and one.answer(digest).startswith("authsec:")
    assert digest.hex() in one.answer(digest)
    assert manifest_digest({"tools": [{"name": "a", "title": "A"}]}) == manifest_digest(
        {"tools": [{"title": "A", "name": "a"}]}
    )


# ---------------------------------------------------------------------------- tokens
def test_two_runtimes_share_answers_and_the_store_holds_no_token(
    issuer: LocalIssuer, store: RedisServer
) -> None:
    values = shared(store, validation_mode="introspection_only", introspection_cache_ttl=60)
    with pair(issuer, values, values) as (x, y):
        token = issuer.mint_opaque(audience=RESOURCE)
        assert [call(p, token) for p in (x, y, x, y)] == [200] * 4
        assert issuer.counters.introspection == 1
        assert x.runtime.health()["shared_cache"] == {"state": "ok", "last_error": None}
    client = store.client()
    keys = client.keys("*")
    assert keys and all(repr(key).startswith("b'authsec:") for key in keys)
    assert token not in repr([(key, client.get(key)) for key in keys])


def test_runtimes_meeting_a_new_token_together_ask_once(issuer: LocalIssuer, store: RedisServer) -> None:
    values = shared(store, validation_mode="introspection_only", introspection_cache_ttl=60)
    with pair(issuer, values, values) as (x, y):
        issuer.introspection_delay = 0.3  # the others arrive while the first asks, and wait
        token = issuer.mint_opaque(audience=RESOURCE)
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda p: call(p, token), [x, y, x, y]))
    assert statuses == [200] * 4
    assert issuer.counters.introspection == 1


def test_two_resources_on_one_store_share_nothing(issuer: LocalIssuer, store: RedisServer) -> None:
    common = {"validation_mode": "introspection_only", "introspection_cache_ttl": 60}
    other = "http://localhost:8001/mcp"
    with pair(issuer, shared(store, **common), shared(store, **common, resource_uri=other)) as (x, y):
        token = issuer.mint_opaque(audience=[RESOURCE, other])
        assert [call(p, token) for p in (x, y)] == [200, 200]
    assert issuer.counters.introspection == 2


def test_inactive_answers_are_shared_even_when_active_ones_are_not(
    issuer: LocalIssuer, store: RedisServer
) -> None:
    values = shared(store, validation_mode="introspection_only")  # introspection_cache_ttl 0
    with pair(issuer, values, values) as (x, y):
        token = issuer.mint_opaque(audience=RESOURCE)
        assert [call(p, token) for p in (x, y)] == [200, 200]
        assert issuer.counters.introspection == 2  # active answers are not kept: asked each time
        issuer.revoke(token)
        assert [call(p, token) for p in (x, y, x)] == [401] * 3
        assert issuer.counters.introspection == 3


def test_a_revoked_jwt_leaves_the_other_runtimes_verification_cache(
    issuer: LocalIssuer, store: RedisServer
) -> None:
    values = shared(
        store, validation_mode="jwt_and_introspect", introspection_cache_ttl=60, token_cache_size=1
    )
    with pair(issuer, values, values) as (x, y):
        token = issuer.mint(audience=RESOURCE)
        assert [call(p, token) for p in (x, y)] == [200, 200]
        issuer.revoke(token)
        assert call(x, issuer.mint(audience=RESOURCE)) == 200  # x's one cache entry now holds another
        store.flush()  # and the store lost the shared answer
        assert call(x, token) == 401
        assert call(y, token) == 401


def test_an_unreachable_store_falls_back_and_rate_limits_follow_the_setting(issuer: LocalIssuer) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    common = {"shared_cache_url": nowhere, "rate_limits": {"delete_repo": "1/hour"}}
    with pair(issuer, common, {**common, "rate_limit_on_store_error": "allow"}) as (denying, allowing):
        token = issuer.mint(audience=[denying.url, allowing.url])
        assert call(denying, token) == 200 and call(allowing, token) == 200
        assert call(denying, token, "delete_repo") == 503
        assert [call(allowing, token, "delete_repo") for _ in range(2)] == [200, 200]  # uncounted
        health = denying.runtime.health()
    assert health["shared_cache"]["state"] == "failing" and "Connect" in health["shared_cache"]["last_error"]
    assert health["rate_limits"] == {"counted_in": "shared", "on_store_error": "deny"}


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    issuer: LocalIssuer, store: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authsec.shared")
    values = shared(store, validation_mode="introspection_only", introspection_cache_ttl=60)
    with protected_app(issuer, Recorder(), tool_scopes=TOOLS, **values) as p:
        store.stop()
        try:
            assert [call(p, issuer.mint_opaque(audience=RESOURCE)) for _ in range(5)] == [200] * 5
        finally:
            store.start()
        deadline = time.monotonic() + 5
        while p.runtime.health()["shared_cache"]["state"] != "ok":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        token = issuer.mint_opaque(audience=RESOURCE)
        assert [call(p, token) for _ in range(3)] == [200] * 3
    lines = [(r.levelno, r.getMessage().split(" (")[0]) for r in caplog.records if r.name == "authsec.shared"]
    assert lines == [(logging.WARNING, "shared store unavailable"), (logging.INFO, "shared store recovered")]


def test_shared_rate_limits_count_a_batch_atomically(issuer: LocalIssuer, store: RedisServer) -> None:
    values = shared(store, rate_limits={"*": "3/day"})
    with pair(issuer, values, values) as (x, y):
        token = issuer.mint(audience=RESOURCE)
        batch = [call_tool("read", 1), call_tool("read", 2)]
        assert httpx.post(x.url, json=batch, headers=bearer(token)).status_code == 200
        refused = httpx.post(y.url, json=batch, headers=bearer(token))  # 2 more would make 4
        assert refused.status_code == 429 and refused.headers["ratelimit"].startswith('"*";r=1;')
        assert call(y, token) == 200
        assert call(x, token) == 429


# ---------------------------------------------------------------------------- policy and manifest
@asynccontextmanager
async def remote(cfg: Config, clock: MovableClock) -> AsyncIterator[RemotePolicy]:
    """One worker's remote policy on the shared store."""
    store = SharedStore(cfg, clock.clock)
    source = policy_source_for(cfg, clock.clock, shared=store)
    assert isinstance(source, RemotePolicy)
    async with httpx.AsyncClient() as http, anyio.create_task_group() as tg:
        async with store.connected(tg):
            await source.start(tg, http)
            yield source
        tg.cancel_scope.cancel()


def remote_config(issuer: LocalIssuer, store: RedisServer) -> Config:
    return issuer.config(**issuer.backend.config_values(), **shared(store), http_timeout=1.0)


@pytest.mark.anyio
async def test_a_new_policy_one_worker_fetches_reaches_the_other_at_once(
    issuer: LocalIssuer, store: RedisServer
) -> None:
    cfg = remote_config(issuer, store)
    soon, late = MovableClock(), MovableClock()
    async with remote(cfg, soon) as first, remote(cfg, late) as second:
        assert issuer.backend.policy_requests == 1  # the second worker took the fleet's copy
        changed = issuer.backend.set_policy(public_tools=["read"]).generation
        soon.advance(cfg.scope_matrix_ttl)
        first.current()  # due: it refreshes in the background
        with anyio.fail_after(3):
            while second.current().generation != changed:  # noqa: ASYNC110 (news arrives from Redis)
                await anyio.sleep(0.01)
        assert first.current().generation == changed
        assert issuer.backend.policy_requests == 2


@pytest.mark.anyio
async def test_the_manifest_is_published_once_and_again_after_a_failure(
    issuer: LocalIssuer, store: RedisServer
) -> None:
    cfg = remote_config(issuer, store)
    cfg = Config(**{**cfg.__dict__, "tool_inventory_provider": lambda: [{"name": "read"}]})
    clock = MovableClock()
    async with httpx.AsyncClient() as http, anyio.create_task_group() as tg:
        shared_store = SharedStore(cfg, clock.clock)
        async with shared_store.connected(tg):
            once = ManifestOnce(shared_store)
            issuer.backend.manifest_fault = "http_500"
            await publish_manifest(cfg, Recorder(), http, "/mcp", once)
            issuer.backend.manifest_fault = None
            for _ in range(2):
                await publish_manifest(cfg, Recorder(), http, "/mcp", once)
        tg.cancel_scope.cancel()
    assert issuer.backend.manifest_requests == 2 and len(issuer.backend.manifests) == 1
