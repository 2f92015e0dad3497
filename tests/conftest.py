"""Shared fixtures: a real local issuer over HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from client_downstream import Downstream, downstream_service
from helpers import Protected
from notes_mcp import protected_notes

from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.fleet import RedisServer

#: Set (as `.ci/run` does) to make a missing ``redis-server`` a failure instead of a skip.
REQUIRE_REDIS = "AUTHSEC_REQUIRE_REDIS"


@pytest.fixture(scope="session")
def _shared_issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def downstream(_shared_issuer: LocalIssuer) -> Iterator[tuple[Protected, Downstream]]:
    """A protected downstream service (and what it saw) for the outbound-auth tests; clear
    ``seen`` in a test that reads it."""
    with downstream_service(_shared_issuer) as served:
        yield served


@pytest.fixture
def issuer(_shared_issuer: LocalIssuer) -> LocalIssuer:
    """One running issuer for the whole session, reset to a fresh issuer's state before each
    test (`LocalIssuer.reset`); a test that stops or restarts it needs its own `LocalIssuer`."""
    _shared_issuer.reset()
    return _shared_issuer


@pytest.fixture
def notes_app(issuer: LocalIssuer) -> Iterator[Protected]:
    """The notes MCP server (official SDK) behind mount_mcp, served on 127.0.0.1."""
    with protected_notes(issuer) as app:
        yield app


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port for the whole session (skipped when it is
    not installed, unless AUTHSEC_REQUIRE_REDIS=1); tests reset it with `RedisServer.flush`."""
    if shutil.which("redis-server") is None:
        if os.environ.get(REQUIRE_REDIS) == "1":
            pytest.fail(f"redis-server is not installed and {REQUIRE_REDIS}=1")
        pytest.skip(f"redis-server is not installed (apt-get install redis-server); {REQUIRE_REDIS}=1 fails")
    with RedisServer() as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client (no proxies from the environment) for talking to the local peers."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


#: Fixtures that start servers or event loops: a test asking for none of them is pure.
_SERVER_FIXTURES = frozenset(
    {"issuer", "notes_app", "http", "anyio_backend", "recorder", "served", "redis_server", "downstream"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the pure tests (`make check` runs them alone): decisions, parsing, config."""
    for item in items:
        peers = "interop" in item.path.parts  # real Node peers, never pure
        if not peers and not _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pure)
