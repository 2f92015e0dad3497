"""Introspection's two ways to the issuer, httpx and aiohttp, answer alike: the same JSON, and
the same `UpstreamError` for each way a call can fail. aiohttp serves where asyncio runs (the
extra is installed in the test environment); on trio there is none, and httpx serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from helpers import Recorder, bearer, closed_port, protected_app, rpc

from authsec_sdk.runtime import Config, ValidationMode
from authsec_sdk.runtime.backend import basic_auth
from authsec_sdk.runtime.issuer_client import FormPost, aiohttp_form_post, httpx_form_post, issuer_client
from authsec_sdk.runtime.upstream import UpstreamError
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.issuer import Fault

pytestmark = pytest.mark.anyio
RESOURCE = "http://127.0.0.1:9/mcp"


@asynccontextmanager
async def poster(kind: str, cfg: Config) -> AsyncIterator[FormPost]:
    if kind == "httpx":
        async with issuer_client(cfg) as http:
            yield httpx_form_post(http, basic_auth(cfg))
    else:
        async with aiohttp_form_post(cfg) as post:
            assert post is not None
            yield post


async def failure(post: FormPost, url: str) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await post(url, {"token": "t"}, 0.5)
    return caught.value


@pytest.mark.parametrize("kind", ["httpx", "aiohttp"])
async def test_both_clients_answer_alike(issuer: LocalIssuer, kind: str) -> None:
    cfg = issuer.config(resource_uri=RESOURCE)
    token = issuer.mint_opaque(audience=RESOURCE)
    url = cfg.introspection_url
    async with poster(kind, cfg) as post:
        answer: Any = await post(url, {"token": token, "token_type_hint": "access_token"}, 5)
        assert answer["active"] is True and answer["aud"] == RESOURCE
        faults: list[tuple[Fault, str]] = [
            ("http_500", "HTTP 500"),
            ("malformed", "answer is not JSON"),
            ("slow", "timed out after 0.5s"),
        ]
        for fault, expected in faults:
            issuer.faults.introspection = fault
            assert str(await failure(post, url)) == expected, fault
        issuer.faults.introspection = "invalid_client"
        rejected = await failure(post, url)
        assert (rejected.status, rejected.error) == (400, "invalid_client")
        issuer.faults.introspection = None
        refused = await failure(post, f"http://127.0.0.1:{closed_port()}/introspect")
        assert str(refused).startswith("ConnectError")
    async with poster(
        kind, issuer.config(resource_uri=RESOURCE, introspection_client_secret="wrong")
    ) as post:
        assert (await failure(post, url)).status == 401


def test_aiohttp_serves_on_asyncio_only(issuer: LocalIssuer) -> None:
    cfg = issuer.config(resource_uri=RESOURCE)
    found: dict[str, bool] = {}

    async def probe(backend: str) -> None:
        async with aiohttp_form_post(cfg) as post:
            found[backend] = post is not None

    anyio.run(probe, "asyncio", backend="asyncio")
    anyio.run(probe, "trio", backend="trio")
    assert found == {"asyncio": True, "trio": False}


def test_the_runtime_introspects_through_aiohttp_on_asyncio(issuer: LocalIssuer) -> None:
    """Through `mount_mcp` on uvicorn: an introspected token is accepted, and aiohttp asked."""
    with protected_app(issuer, Recorder(), validation_mode=ValidationMode.INTROSPECTION_ONLY) as p:
        token = issuer.mint_opaque(audience=p.url)
        assert httpx.post(p.url, json=rpc("ping"), headers=bearer(token)).status_code == 200
    (agent,) = issuer.counters.introspection_clients
    assert "aiohttp" in agent
