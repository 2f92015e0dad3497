"""The issuer client sends through aiohttp where asyncio runs and the extra is installed (it is,
in the test environment), and through httpx's own transport elsewhere (trio)."""

from __future__ import annotations

import anyio
import httpx
from httpx_aiohttp import AiohttpTransport

from authsec_sdk.runtime.issuer_client import issuer_client
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
