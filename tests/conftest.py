"""Shared fixtures: a real local issuer over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from helpers import Protected
from notes_mcp import protected_notes

from authsec_sdk.testing import LocalIssuer


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def notes_app(issuer: LocalIssuer) -> Iterator[Protected]:
    """The notes MCP server (official SDK) behind mount_mcp, served on 127.0.0.1."""
    with protected_notes(issuer) as app:
        yield app


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client (no proxies from the environment) for talking to the local peers."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client
