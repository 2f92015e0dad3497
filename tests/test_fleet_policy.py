"""Two uvicorn worker processes on the remote policy, sharing one real Redis: the policy is
fetched once for the fleet and a new one reaches both workers together; the manifest is
published once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fleet import RESOURCE, issuer_env, url, workers
from helpers import bearer, call_tool

from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.fleet import RedisServer, Worker

TOOLS = ["read", "write"]


@dataclass
class PolicyFleet:
    a: Worker
    b: Worker
    #: What the backend saw while both workers started side by side.
    manifests: list[dict[str, Any]]
    policy_fetches: int


def eventually(check: Callable[[], bool], within: float) -> float:
    """Seconds until ``check()`` holds; fails past ``within``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, "not reached in time"
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def fleet(_shared_issuer: LocalIssuer, redis_server: RedisServer) -> Iterator[PolicyFleet]:
    """A fetches its policy after 1 s, B after 300 s: only the fleet's news can reach B sooner."""
    issuer = _shared_issuer
    issuer.reset()
    redis_server.flush()
    issuer.backend.set_policy(public_tools=["read"])
    env = {
        **issuer_env(issuer),
        **{f"AUTHSEC_{k.upper()}": v for k, v in issuer.backend.config_values().items()},
        "AUTHSEC_SHARED_CACHE_URL": redis_server.url,
        "AUTHSEC_PUBLISH_MANIFEST": "true",
        "FLEET_TOOLS": ",".join(TOOLS),
    }
    soon, late = {**env, "AUTHSEC_SCOPE_MATRIX_TTL": "1"}, {**env, "AUTHSEC_SCOPE_MATRIX_TTL": "300"}
    with workers(soon, late) as (a, b):
        eventually(lambda: bool(issuer.backend.manifests), within=5)
        time.sleep(0.3)  # time enough for a second manifest to arrive, if one were sent
        yield PolicyFleet(a, b, issuer.backend.manifests, issuer.backend.policy_requests)


def allowed(worker: Worker, issuer: LocalIssuer, tool: str) -> bool:
    token = issuer.mint_opaque(audience=RESOURCE)
    return httpx.post(url(worker), json=call_tool(tool), headers=bearer(token)).status_code == 200


def test_the_fleet_fetches_the_policy_once_and_publishes_the_manifest_once(fleet: PolicyFleet) -> None:
    assert fleet.policy_fetches == 1
    assert len(fleet.manifests) == 1
    assert [tool["name"] for tool in fleet.manifests[0]["tools"]] == TOOLS


def test_a_policy_change_reaches_both_workers_within_a_second(
    fleet: PolicyFleet, issuer: LocalIssuer
) -> None:
    issuer.backend.set_policy(public_tools=["read"], generation=100)
    eventually(lambda: allowed(fleet.a, issuer, "read") and allowed(fleet.b, issuer, "read"), within=5)
    issuer.backend.set_policy(public_tools=["read", "write"])
    assert not allowed(fleet.b, issuer, "write")
    # A's policy is due within a second; it fetches and stores the new one, and B, whose own
    # refresh is 300 s away, takes it from the fleet's news.
    eventually(lambda: allowed(fleet.a, issuer, "write"), within=3)
    assert eventually(lambda: allowed(fleet.b, issuer, "write"), within=1) < 1
    assert fleet.b.get_json("/health")["policy"]["generation"] == issuer.backend.policy.generation
