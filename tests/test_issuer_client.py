"""The issuer client sends through aiohttp where asyncio runs and the extra is installed (it is,
in the test environment), and through httpx's own transport elsewhere (trio)."""

from __future__ import annotations

import anyio
import httpx
import pytest
from helpers import closed_port
from httpx_aiohttp import AiohttpTransport

from authsec_sdk.runtime import Config
from authsec_sdk.runtime.issuer_client import issuer_client
from authsec_sdk.runtime.upstream import UpstreamError, fetch_json
from authsec_sdk.testing import LocalIssuer


def test_asyncio_gets_aiohttp_and_trio_gets_httpx(issuer: LocalIssuer) -> None:
    cfg = issuer.config(resource_uri="http://127.0.0.1:9/mcp")
    transports: dict[str, object] = {}

    async def fetch(backend: str) -> None:
        async with issuer_client(cfg) as http:
            transports[backend] = http._transport  # which transport carries the calls is the point
            assert (await http.get(cfg.jwks_url)).status_code == 200

    anyio.run(fetch, "asyncio", backend="asyncio")
    anyio.run(fetch, "trio", backend="trio")
    assert isinstance(transports["asyncio"], AiohttpTransport)
    assert isinstance(transports["trio"], httpx.AsyncHTTPTransport)
    assert issuer.counters.jwks == 2


def test_a_refused_connection_is_named_as_such_on_both_transports() -> None:
    url = f"http://127.0.0.1:{closed_port()}/jwks"
    cfg = Config(issuer="http://127.0.0.1:9", jwks_url=url, resource_uri="http://127.0.0.1:9/mcp")
    messages: dict[str, str] = {}

    async def fetch(backend: str) -> None:
        async with issuer_client(cfg) as http:
            with pytest.raises(UpstreamError) as caught:
                await fetch_json(http, "GET", url, within=5)
            messages[backend] = str(caught.value)

    anyio.run(fetch, "asyncio", backend="asyncio")
    anyio.run(fetch, "trio", backend="trio")
    assert all(m.startswith("ConnectError") for m in messages.values()), messages
