"""The remote scope matrix: document shapes (pure), cache decisions (pure), and `RemotePolicy`
against the local AuthSec backend over real HTTP on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import httpx
import pytest
from helpers import MovableClock

from authsec_sdk.runtime import Config, PolicyIncompleteError, PolicyMode, PolicyUnavailableError
from authsec_sdk.runtime.policy.document import (
    PolicyDocumentError,
    parse_policy_document,
    read_policy_document,
)
from authsec_sdk.runtime.policy.remote import CacheState, RemotePolicy, backoff_delay, judge
from authsec_sdk.runtime.policy.rules import ToolPolicy, decide
from authsec_sdk.runtime.policy.serving import Serving
from authsec_sdk.runtime.policy.source import StaticPolicy, policy_source_for
from authsec_sdk.testing import LocalIssuer

RESOURCE = "http://127.0.0.1:8000/mcp"

NEW_SHAPE: dict[str, Any] = {
    "state": "ready",
    "policy_complete": True,
    "reason": "",
    "generation": 7,
    "scopes_supported": ["mcp:tools:read", "extra:scope"],
    "tool_policy": [
        {"name": "ping", "is_public": True, "required_scopes": []},
        {"name": "read", "is_public": False, "required_scopes": ["mcp:tools:read", "mcp:tools:admin"]},
        {"name": "orphan", "is_public": False, "required_scopes": []},
    ],
}


def allowed(policy: ToolPolicy, tool: str, *held: str) -> bool:
    return decide(policy, tool, held).allowed


# ---------------------------------------------------------------------------- documents (pure)
def test_new_shape_public_scoped_neither_and_absent_tools() -> None:
    policy = parse_policy_document(NEW_SHAPE)
    assert allowed(policy, "ping")
    assert allowed(policy, "read", "mcp:tools:admin")
    assert not allowed(policy, "read", "other")
    assert decide(policy, "read", ["other"]).required == ("mcp:tools:admin", "mcp:tools:read")
    assert not allowed(policy, "orphan", "mcp:tools:read")  # neither public nor scoped
    assert not allowed(policy, "absent", "mcp:tools:read")  # not listed
    assert policy.generation == 7


def test_old_shape_is_complete_and_an_empty_scope_list_is_public() -> None:
    document = read_policy_document({"tools": {"read": ["r"], "ping": []}})
    assert document.complete and document.state == Serving.READY
    policy = document.enforceable()
    assert allowed(policy, "read", "r")
    assert allowed(policy, "ping")  # no scopes at all: read like tool_scopes, as the other SDKs do
    assert not allowed(policy, "read", "other")
    assert not allowed(policy, "absent", "r")
    assert policy.generation is None


def test_tool_policy_wins_when_both_shapes_are_present() -> None:
    policy = parse_policy_document({**NEW_SHAPE, "tools": {"read": ["legacy"], "legacy_only": ["legacy"]}})
    assert not allowed(policy, "read", "legacy")
    assert not allowed(policy, "legacy_only", "legacy")
    assert allowed(policy, "read", "mcp:tools:read")


def test_incomplete_policy_raises_with_state_and_reason() -> None:
    data = {"state": "needs_setup", "policy_complete": False, "reason": "tools not scanned", "generation": 3}
    with pytest.raises(PolicyIncompleteError) as caught:
        parse_policy_document(data)
    assert (caught.value.state, caught.value.reason) == ("needs_setup", "tools not scanned")
    assert caught.value.status_code == 503 and caught.value.error == "policy_incomplete"
    document = read_policy_document(data)
    assert not document.complete and document.policy.generation == 3


def test_incomplete_policy_denies_even_tools_it_lists() -> None:
    with pytest.raises(PolicyIncompleteError):
        parse_policy_document({**NEW_SHAPE, "state": "draft", "policy_complete": False})


def test_scopes_supported_are_the_backends_then_those_the_tools_require() -> None:
    policy = parse_policy_document(NEW_SHAPE)
    assert policy.scopes_supported == ("mcp:tools:read", "extra:scope", "mcp:tools:admin")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"state": "ready", "tool_policy": []}, "policy_complete"),
        ({"policy_complete": "yes", "tools": {}}, "policy_complete"),
        ({"state": "ready", "policy_complete": True}, "'tool_policy' or 'tools'"),
        ({}, "'tool_policy' or 'tools'"),
        ({**NEW_SHAPE, "tool_policy": {"read": []}}, "must be a list"),
        ({**NEW_SHAPE, "tool_policy": ["read"]}, "tool_policy[0] must be an object"),
        ({**NEW_SHAPE, "tool_policy": [{"required_scopes": ["a"]}]}, "tool name"),
        ({**NEW_SHAPE, "tool_policy": [{"name": "a"}, {"name": "a"}]}, "twice"),
        ({**NEW_SHAPE, "tool_policy": [{"name": "a", "is_public": "yes"}]}, "is_public"),
        ({**NEW_SHAPE, "tool_policy": [{"name": "a", "required_scopes": "r"}]}, "required_scopes"),
        ({"tools": {"a": "r"}}, "tools['a']"),
        ({"tools": ["a"]}, "'tools' must be an object"),
        ({**NEW_SHAPE, "generation": "7"}, "generation"),
        ({**NEW_SHAPE, "generation": True}, "generation"),
        ({**NEW_SHAPE, "scopes_supported": "a b"}, "scopes_supported"),
        ({**NEW_SHAPE, "state": 1}, "'state'"),
    ],
)
def test_malformed_documents_are_refused_clearly(data: Any, message: str) -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        read_policy_document(data)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------- cache (pure)
def test_backoff_doubles_from_one_second_and_is_capped() -> None:
    assert [backoff_delay(n, 300) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(10_000, 300) == 60
    assert backoff_delay(1, 0.2) == backoff_delay(5, 0.2) == 0.2  # never slower than the TTL


def test_refresh_is_due_after_the_ttl_or_after_the_backoff() -> None:
    document = read_policy_document(NEW_SHAPE)
    fresh = CacheState().succeeded(document, now=100)
    assert not fresh.refresh_due(109, ttl=10) and fresh.refresh_due(110, ttl=10)
    failed = fresh.failed("boom", now=110, ttl=10)
    assert failed.retry_at == 111 and failed.last_error == "boom" and failed.document is document
    assert not failed.refresh_due(110.5, ttl=10) and failed.refresh_due(111, ttl=10)
    assert failed.failed("again", now=111, ttl=10).retry_at == 113
    assert failed.succeeded(document, now=112).failures == 0


def test_judge_serves_fresh_then_stale_then_refuses_or_falls_back() -> None:
    document = read_policy_document(NEW_SHAPE)
    cache = CacheState().succeeded(document, now=0)
    local = ToolPolicy.from_tool_scopes({"local": []})

    def at(now: float, state: CacheState = cache, fallback: ToolPolicy | None = None) -> tuple[str, Any]:
        return judge(state, now, ttl=10, max_staleness=5, fallback=fallback)

    assert at(9) == (Serving.READY, document.policy)
    assert at(12) == (Serving.READY, document.policy)  # expired, refresh pending: still served
    failing = cache.failed("down", now=10, ttl=10)
    assert at(14.9, failing) == (Serving.STALE, document.policy)
    state, outcome = at(15, failing)
    assert state == Serving.UNAVAILABLE and isinstance(outcome, PolicyUnavailableError)
    assert at(15, failing, local) == (Serving.LOCAL_FALLBACK, local)
    assert at(0, CacheState(), local) == (Serving.LOCAL_FALLBACK, local)


def test_judge_never_replaces_an_incomplete_answer_with_an_older_or_local_map() -> None:
    complete = read_policy_document(NEW_SHAPE)
    incomplete = read_policy_document({"state": "needs_setup", "policy_complete": False})
    cache = CacheState().succeeded(complete, now=0).succeeded(incomplete, now=1)
    state, outcome = judge(cache, 2, ttl=10, max_staleness=5, fallback=ToolPolicy.from_tool_scopes({"t": []}))
    assert state == Serving.INCOMPLETE and isinstance(outcome, PolicyIncompleteError)
    assert outcome.state == "needs_setup"


# ---------------------------------------------------------------------------- over HTTP
def remote_config(issuer: LocalIssuer, **overrides: Any) -> Config:
    fields = {"resource_uri": RESOURCE, "http_timeout": 1.0, **overrides}
    cfg = issuer.config(**issuer.backend.config_values(), **fields)
    cfg.validate()
    return cfg


@asynccontextmanager
async def started(cfg: Config, clock: MovableClock | None = None) -> AsyncIterator[RemotePolicy]:
    """The runtime's startup, reduced to the policy source: one client, one task group."""
    source = policy_source_for(cfg, *([clock.clock] if clock else []))
    assert isinstance(source, RemotePolicy)
    async with httpx.AsyncClient(timeout=cfg.http_timeout) as http, anyio.create_task_group() as tg:
        await source.start(tg, http)
        yield source
        tg.cancel_scope.cancel()


async def refusal(cfg: Config) -> PolicyUnavailableError:
    """The error with which startup is refused."""
    source = policy_source_for(cfg)
    async with httpx.AsyncClient(timeout=cfg.http_timeout) as http, anyio.create_task_group() as tg:
        try:
            await source.start(tg, http)
        except PolicyUnavailableError as exc:
            return exc
    pytest.fail("startup was not refused")


async def eventually(check: Callable[[], bool], clock: MovableClock, within: float = 5.0) -> None:
    """Poll ``check`` (typically calling ``current()``, which drives refreshes) until it holds,
    moving ``clock`` 20 ms per poll while the refreshes it starts run in real time."""
    with anyio.fail_after(within):
        while not check():
            clock.advance(0.02)
            await anyio.sleep(0.002)


def generation_served(source: RemotePolicy) -> int | None:
    return source.current().generation


def serving(source: RemotePolicy) -> str:
    """The serving state after one read (reads are what schedule refreshes)."""
    with suppress(PolicyUnavailableError):
        source.current()
    return str(source.status()["serving"])


def unavailable(source: RemotePolicy) -> bool:
    try:
        source.current()
    except PolicyUnavailableError as exc:
        return exc.error == "policy_unavailable"
    return False


@pytest.mark.anyio
async def test_remote_policy_serves_the_new_shape(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(
        public_tools=["ping"], tools={"read": ["mcp:tools:read"], "orphan": []}, scopes_supported=["x:y"]
    )
    async with started(remote_config(issuer)) as source:
        policy = source.current()
        status = source.status()
    assert allowed(policy, "ping")
    assert allowed(policy, "read", "mcp:tools:read") and not allowed(policy, "read", "other")
    assert not allowed(policy, "orphan", "mcp:tools:read") and not allowed(policy, "absent", "mcp:tools:read")
    assert policy.scopes_supported == ("x:y", "mcp:tools:read")
    assert status["mode"] == "remote_required" and status["serving"] == Serving.READY
    assert status["generation"] == 2 and status["policy_state"] == "ready" and status["policy_complete"]
    assert status["stale"] is False and status["last_error"] is None
    assert abs(status["fetched_at"] - time.time()) < 5


@pytest.mark.anyio
async def test_remote_policy_accepts_the_old_shape(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(tools={"read": ["r"]}, shape="old")
    async with started(remote_config(issuer)) as source:
        policy = source.current()
    assert allowed(policy, "read", "r") and not allowed(policy, "absent", "r")


@pytest.mark.anyio
async def test_incomplete_policy_denies_everything_until_the_backend_is_ready(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.set_policy(
        tools={"read": ["r"]}, state="needs_setup", policy_complete=False, reason="scan pending"
    )
    clock = MovableClock()
    async with started(remote_config(issuer, scope_matrix_ttl=0.2), clock) as source:  # starts anyway
        with pytest.raises(PolicyIncompleteError) as caught:
            source.current()
        assert (caught.value.state, caught.value.reason) == ("needs_setup", "scan pending")
        assert (
            source.status()["serving"] == Serving.INCOMPLETE and source.status()["policy_complete"] is False
        )
        backend.set_policy(state="ready", policy_complete=True, reason="")
        await eventually(
            lambda: serving(source) == Serving.READY and allowed(source.current(), "read", "r"), clock
        )
        backend.set_policy(state="needs_setup", policy_complete=False)  # a good map is not kept
        await eventually(lambda: serving(source) == Serving.INCOMPLETE, clock)
        with pytest.raises(PolicyIncompleteError):
            source.current()


@pytest.mark.anyio
async def test_a_policy_change_is_served_after_the_ttl_without_restart(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.set_policy(tools={"read": ["old"]})
    clock = MovableClock()
    async with started(remote_config(issuer, scope_matrix_ttl=0.3), clock) as source:
        backend.set_policy(tools={"read": ["new"]})
        assert allowed(source.current(), "read", "old")  # still within the TTL: cached
        requests_before = backend.policy_requests
        await eventually(lambda: allowed(source.current(), "read", "new"), clock)
        assert not allowed(source.current(), "read", "old")
        assert source.status()["generation"] == backend.policy.generation
        assert backend.policy_requests - requests_before <= 2


@pytest.mark.anyio
async def test_at_most_one_refresh_is_in_flight(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.set_policy(tools={"read": ["r"]})
    clock = MovableClock()
    async with started(remote_config(issuer, scope_matrix_ttl=0.1, http_timeout=0.5), clock) as source:
        backend.policy_fault = "slow"
        clock.advance(0.15)
        before = backend.policy_requests
        for _ in range(50):  # every read is after expiry, and the one refresh hangs
            assert allowed(source.current(), "read", "r")
            clock.advance(0.005)
            await anyio.sleep(0.001)
        assert source.status()["refresh_in_flight"] is True
        await eventually(lambda: backend.policy_requests == before + 1, clock, within=1)
        assert backend.policy_requests == before + 1


@pytest.mark.anyio
async def test_backend_down_serves_stale_then_refuses_then_recovers(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.set_policy(tools={"read": ["r"]})
    cfg = remote_config(issuer, scope_matrix_ttl=0.2, policy_max_staleness=0.6)
    clock = MovableClock()
    async with started(cfg, clock) as source:
        generation = source.current().generation
        backend.policy_fault = "down"
        await eventually(lambda: serving(source) == Serving.STALE, clock)
        assert source.current().generation == generation  # the last good map, still enforced
        assert allowed(source.current(), "read", "r")
        assert "HTTP 503" in source.status()["last_error"] and source.status()["stale"] is True

        await eventually(lambda: unavailable(source), clock, within=3)
        assert source.status()["serving"] == Serving.UNAVAILABLE
        backend.policy_fault = None
        backend.set_policy(tools={"read": ["r2"]})
        await eventually(
            lambda: not unavailable(source) and allowed(source.current(), "read", "r2"), clock, within=3
        )
        assert source.status()["last_error"] is None and source.status()["serving"] == Serving.READY


@pytest.mark.anyio
async def test_failed_fetches_back_off_instead_of_following_requests(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.policy_fault = "http_500"
    cfg = remote_config(issuer, policy_mode=PolicyMode.REMOTE_WITH_LOCAL_FALLBACK, tool_scopes={})
    clock = MovableClock()
    async with started(cfg, clock) as source:  # the first fetch failed; retries wait 1 s, then 2 s
        assert backend.policy_requests == 1
        for _ in range(150):  # 1.5 s of steady traffic
            source.current()
            clock.advance(0.01)
            await anyio.sleep(0.001)
        assert backend.policy_requests == 2
        assert source.status()["consecutive_failures"] == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("down", "HTTP 503"),
        ("http_500", "HTTP 500"),
        ("malformed", "answer is not JSON"),
        ("slow", "timed out after 0.5s"),
    ],
)
async def test_remote_required_refuses_to_start_and_says_why(
    issuer: LocalIssuer, fault: Any, why: str
) -> None:
    issuer.backend.policy_fault = fault
    cfg = remote_config(issuer, http_timeout=0.5)
    message = str(await refusal(cfg))
    assert "REMOTE_REQUIRED initial scope matrix fetch failed" in message
    assert why in message and "/sdk-policy" in message
    assert issuer.client_secret not in message


@pytest.mark.anyio
async def test_remote_required_refuses_to_start_with_wrong_credentials(issuer: LocalIssuer) -> None:
    cfg = remote_config(issuer, introspection_client_secret="wrong-secret")
    message = str(await refusal(cfg))
    assert "REMOTE_REQUIRED initial scope matrix fetch failed: GET " in message and "HTTP 401" in message
    assert "wrong-secret" not in message


@pytest.mark.anyio
async def test_remote_required_refuses_to_start_when_nothing_listens() -> None:
    cfg = Config(
        issuer="http://127.0.0.1:9",
        jwks_url="http://127.0.0.1:9/jwks",
        resource_uri=RESOURCE,
        resource_server_id="rs",
        introspection_client_id="rs",
        introspection_client_secret="s3cret",
        http_timeout=1.0,
    )
    message = str(await refusal(cfg))
    assert "REMOTE_REQUIRED initial scope matrix fetch failed: GET " in message
    assert "ConnectError" in message and "s3cret" not in message


@pytest.mark.anyio
async def test_fallback_mode_serves_local_scopes_until_the_backend_answers(issuer: LocalIssuer) -> None:
    backend = issuer.backend
    backend.policy_fault = "down"
    backend.set_policy(tools={"read": ["remote"]})
    cfg = remote_config(
        issuer,
        policy_mode=PolicyMode.REMOTE_WITH_LOCAL_FALLBACK,
        tool_scopes={"read": ["local"]},
        scope_matrix_ttl=0.2,
        policy_max_staleness=0.4,
    )
    clock = MovableClock()
    async with started(cfg, clock) as source:
        assert allowed(source.current(), "read", "local") and not allowed(source.current(), "read", "remote")
        assert (
            source.status()["serving"] == Serving.LOCAL_FALLBACK
            and "HTTP 503" in source.status()["last_error"]
        )

        backend.policy_fault = None  # the backend answers: its policy takes over
        await eventually(lambda: allowed(source.current(), "read", "remote"), clock, within=3)
        assert not allowed(source.current(), "read", "local")

        backend.policy_fault = "http_500"  # down again: stale remote map, then local again
        await eventually(lambda: serving(source) == Serving.STALE, clock, within=3)
        assert allowed(source.current(), "read", "remote")
        await eventually(lambda: serving(source) == Serving.LOCAL_FALLBACK, clock, within=3)
        assert allowed(source.current(), "read", "local")


@pytest.mark.anyio
async def test_fallback_mode_denies_on_an_incomplete_answer(issuer: LocalIssuer) -> None:
    issuer.backend.set_policy(state="needs_setup", policy_complete=False)
    cfg = remote_config(issuer, policy_mode=PolicyMode.REMOTE_WITH_LOCAL_FALLBACK, tool_scopes={"read": []})
    async with started(cfg) as source:
        with pytest.raises(PolicyIncompleteError):
            source.current()


@pytest.mark.anyio
async def test_each_state_change_is_logged_once(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    backend = issuer.backend
    backend.set_policy(tools={"read": ["r"]})
    caplog.set_level(logging.INFO, logger="authsec.policy")
    clock = MovableClock()
    cfg = remote_config(issuer, scope_matrix_ttl=0.1, policy_max_staleness=0.3)
    async with started(cfg, clock) as source:
        backend.policy_fault = "down"
        await eventually(lambda: unavailable(source), clock, within=3)
        for _ in range(20):
            unavailable(source)
            clock.advance(0.01)
            await anyio.sleep(0.001)
    messages = [r.getMessage() for r in caplog.records if r.name == "authsec.policy"]
    assert [m.split(" ")[2] for m in messages] == ["ready", "refresh", "unavailable,"]
    assert not any(issuer.client_secret in m for m in messages)


def test_policy_source_for_each_mode(issuer: LocalIssuer) -> None:
    base: dict[str, Any] = {
        "issuer": "https://as.example",
        "resource_uri": RESOURCE,
        "supported_scopes": ["s"],
    }
    open_source = policy_source_for(Config(**base, policy_mode=PolicyMode.OPEN))
    local_source = policy_source_for(Config(**base, tool_scopes={"t": ["a"]}))
    assert isinstance(open_source, StaticPolicy) and open_source.current().open
    assert open_source.status()["mode"] == "open" and open_source.status()["serving"] == Serving.READY
    assert isinstance(local_source, StaticPolicy) and local_source.status()["mode"] == "local_only"
    assert allowed(local_source.current(), "t", "a")

    remote = remote_config(issuer)
    assert isinstance(policy_source_for(remote), RemotePolicy)
    fallback = policy_source_for(
        dataclasses.replace(remote, policy_mode=PolicyMode.REMOTE_WITH_LOCAL_FALLBACK, tool_scopes={"t": []})
    )
    assert isinstance(fallback, RemotePolicy)
    assert fallback.status()["mode"] == "remote_with_local_fallback"
    assert allowed(fallback.current(), "t")  # not started yet: the local map serves
    with pytest.raises(PolicyUnavailableError):
        policy_source_for(remote).current()  # not started, no fallback: refuse
