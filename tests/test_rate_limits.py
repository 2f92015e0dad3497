"""Per-caller rate limits: the rules and windows (pure), the settings, and the 429 over real
HTTP with the counters in the process (no shared store)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from helpers import MovableClock, Protected, Recorder, bearer, call_tool, protected_app

from authsec_sdk.runtime import Config, Principal, from_env
from authsec_sdk.runtime.errors import RateLimitedError
from authsec_sdk.runtime.principal import Claims
from authsec_sdk.runtime.shared.limits import (
    Charge,
    Limit,
    charges,
    judge,
    owner_digest,
    parse_limit,
    parse_rate_limits,
    window_of,
)
from authsec_sdk.runtime.shared.ratelimiter import RateLimiter
from authsec_sdk.testing import LocalIssuer

BASE: dict[str, Any] = {
    "issuer": "https://as.example",
    "jwks_url": "https://as.example/jwks",
    "resource_uri": "https://h/mcp",
}


def principal(subject: str = "alice", client: str = "c1") -> Principal:
    claims = Claims({"client_id": client})
    return Principal(subject=subject, issuer="https://as.example", audience=(), scopes=(), claims=claims)


# ---------------------------------------------------------------------------- rules (pure)
@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("120/minute", Limit(120, 60)),
        ("5/hour", Limit(5, 3600)),
        (" 10 / seconds ", Limit(10, 1)),
        ("1000/day", Limit(1000, 86400)),
    ],
)
def test_limits_read_as_count_per_unit(text: str, limit: Limit) -> None:
    assert parse_limit(text) == limit


@pytest.mark.parametrize("text", ["120", "0/minute", "-1/minute", "5/fortnight", "1.5/hour", "/hour", ""])
def test_unreadable_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"count"):
        parse_limit(text)


def test_rules_name_a_tool_or_every_tool() -> None:
    assert parse_rate_limits({"*": "2/minute", "delete_repo": "1/hour"}) == {
        "*": Limit(2, 60),
        "delete_repo": Limit(1, 3600),
    }
    with pytest.raises(ValueError, match="neither"):
        parse_rate_limits({'a"b': "1/hour"})
    with pytest.raises(ValueError, match=r"\['x'\]"):
        parse_rate_limits({"x": "often"})
    with pytest.raises(ValueError, match="mapping"):
        parse_rate_limits(["*"])  # type: ignore[arg-type]


def test_every_call_spends_from_star_and_from_its_own_rule() -> None:
    rules = {"*": Limit(10, 60), "delete_repo": Limit(1, 3600)}
    assert charges(rules, ["read", "delete_repo", "delete_repo"]) == [
        Charge("*", Limit(10, 60), 3),
        Charge("delete_repo", Limit(1, 3600), 2),
    ]
    assert charges(rules, []) == []
    assert charges({"delete_repo": Limit(1, 3600)}, ["read"]) == []


def test_windows_are_aligned_on_the_epoch() -> None:
    assert window_of(120.0, Limit(5, 60)) == (2, 60.0)
    assert window_of(179.5, Limit(5, 60)) == (2, 0.5)


def test_the_rule_closest_to_its_limit_decides() -> None:
    star, tool = Charge("*", Limit(10, 60), 1), Charge("delete_repo", Limit(2, 3600), 1)
    passed = judge([star, tool], [3, 0], now=3600.0 + 30)
    assert passed.allowed and passed.charge is tool and passed.remaining == 1
    refused = judge([star, tool], [3, 2], now=3600.0 + 30)
    assert not refused.allowed and refused.charge is tool and refused.remaining == 0
    assert refused.retry_after == 3570
    assert refused.headers() == [
        (b"ratelimit-policy", b'"delete_repo";q=2;w=3600'),
        (b"ratelimit", b'"delete_repo";r=0;t=3570'),
    ]


def test_a_batch_that_would_go_past_the_quota_is_refused_whole() -> None:
    verdict = judge([Charge("*", Limit(3, 60), 2)], [2], now=0.0)
    assert not verdict.allowed and verdict.remaining == 1


def test_the_principal_is_issuer_subject_and_client() -> None:
    assert owner_digest(principal()) == owner_digest(principal())
    assert owner_digest(principal()) != owner_digest(principal(client="c2"))
    assert owner_digest(principal()) != owner_digest(principal(subject="bob"))


# ---------------------------------------------------------------------------- settings
def test_settings_read_from_env_and_are_checked() -> None:
    cfg = from_env(
        {
            "AUTHSEC_RATE_LIMITS": '{"*": "120/minute"}',
            "AUTHSEC_RATE_LIMIT_ON_STORE_ERROR": "allow",
            "AUTHSEC_SHARED_CACHE_URL": "redis://:s3cret@cache:6379/0",
        }
    )
    assert cfg.rate_limits == {"*": "120/minute"}
    assert cfg.rate_limit_on_store_error == "allow"
    assert cfg.shared_cache_url == "redis://:s3cret@cache:6379/0"
    assert "s3cret" not in repr(cfg)
    with pytest.raises(ValueError, match="AUTHSEC_RATE_LIMITS"):
        from_env({"AUTHSEC_RATE_LIMITS": '{"*": 120}'})
    with pytest.raises(ValueError, match="AUTHSEC_RATE_LIMITS"):
        from_env({"AUTHSEC_RATE_LIMITS": "120/minute"})
    with pytest.raises(ValueError, match=r"rate_limits \['\*'\]"):
        Config(**BASE, rate_limits={"*": "lots"}).validate()
    with pytest.raises(ValueError, match="rate_limit_on_store_error must be 'allow' or 'deny'"):
        Config(**BASE, rate_limit_on_store_error="open").validate()


def test_the_shared_cache_url_must_be_redis_and_is_never_quoted() -> None:
    Config(**BASE, shared_cache_url="rediss://user:pw@cache:6380/1").validate()
    Config(**BASE, shared_cache_url="unix:///run/redis.sock").validate()
    with pytest.raises(ValueError, match="redis://, rediss:// or unix://") as refused:
        Config(**BASE, shared_cache_url="http://user:s3cret@cache").validate()
    assert "s3cret" not in str(refused.value)


def test_without_the_redis_extra_a_shared_cache_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # The extra is installed here; its absence is simulated where the check looks for it.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "redis" else real(name))
    with pytest.raises(ValueError, match=r"install authsec-sdk\[redis\]"):
        Config(**BASE, shared_cache_url="redis://cache").validate()
    Config(**BASE).validate()  # nothing changes without the setting


# ---------------------------------------------------------------------------- in the process
@pytest.mark.anyio
async def test_counts_in_the_process_start_again_with_the_next_window() -> None:
    clock = MovableClock()
    limiter = RateLimiter(Config(**BASE, rate_limits={"read": "2/minute"}), None, clock.clock)
    clock.advance(60 - clock.clock.time() % 60)  # the start of a window
    await limiter.check(principal(), ["read"])
    await limiter.check(principal(), ["read"])
    with pytest.raises(RateLimitedError) as refused:
        await limiter.check(principal(), ["read"])
    assert refused.value.retry_after == 60
    await limiter.check(principal("bob"), ["read"])  # bob has his own count
    clock.advance(60)
    await limiter.check(principal(), ["read"])
    assert limiter.status() == {"counted_in": "process", "on_store_error": "deny"}


@pytest.fixture
def limited(issuer: LocalIssuer) -> Iterator[Protected]:
    tools: dict[str, list[str]] = {"read": [], "delete_repo": []}
    with protected_app(
        issuer, Recorder(), tool_scopes=tools, rate_limits={"*": "4/day", "delete_repo": "1/day"}
    ) as p:
        yield p


def test_a_caller_past_its_limit_gets_429_before_the_handler(limited: Protected, issuer: LocalIssuer) -> None:
    token = issuer.mint(subject="alice", audience=limited.url)
    handler = limited.runtime.handler
    assert isinstance(handler, Recorder)
    with httpx.Client(headers=bearer(token)) as client:
        assert client.post(limited.url, json=call_tool("delete_repo")).status_code == 200
        refused = client.post(limited.url, json=call_tool("delete_repo", id="d2"))
        assert refused.status_code == 429
        assert refused.json() == {
            "jsonrpc": "2.0",
            "id": "d2",
            "error": {
                "code": -32004,
                "message": "rate limit 'delete_repo' exceeded",
                "data": {"error": "rate_limited", "error_description": "rate limit 'delete_repo' exceeded"},
            },
        }
        assert refused.headers["ratelimit-policy"] == '"delete_repo";q=1;w=86400'
        assert refused.headers["ratelimit"] == f'"delete_repo";r=0;t={refused.headers["retry-after"]}'
        assert "www-authenticate" not in refused.headers
        # The refused call spent nothing: "*" has 3 of its 4 left.
        statuses = [client.post(limited.url, json=call_tool("read")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        listing = client.post(limited.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert listing.status_code == 200  # calls no tool: not counted
    assert len(handler.seen) == 5  # the refused calls never reached it
    assert limited.runtime.health()["rate_limits"] == {"counted_in": "process", "on_store_error": "deny"}
