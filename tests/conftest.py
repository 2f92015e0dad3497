"""Shared fixtures: a real local issuer over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from authsec_sdk.testing import LocalIssuer


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only."""
    return "asyncio"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client (no proxies from the environment) for talking to the local peers."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client
