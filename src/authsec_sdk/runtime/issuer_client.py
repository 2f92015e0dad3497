"""The pooled HTTP client for the issuer and the AuthSec backend.

Every introspection call goes through it, so its cost per call bounds a server validating by
introspection. httpx's own connection pool spends over a millisecond of CPU per call under
concurrency (it checks every pooled connection on each request); aiohttp's spends about a
fifth of that. So where asyncio runs and the ``aiohttp`` extra is installed, the client sends
through aiohttp (the ``httpx-aiohttp`` transport): the rest of the runtime keeps httpx's API.
Elsewhere (trio, or without the extra) it is httpx's own transport.
"""

from __future__ import annotations

import asyncio
import importlib.util

import httpx

from .config import Config


def issuer_client(cfg: Config) -> httpx.AsyncClient:
    """A client for the issuer's endpoints; redirects are not followed (a moved endpoint is an error)."""
    return httpx.AsyncClient(timeout=cfg.http_timeout, follow_redirects=False, transport=_fast_transport())


def _fast_transport() -> httpx.AsyncBaseTransport | None:
    """aiohttp's transport when it can serve here, else None (httpx's own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    if importlib.util.find_spec("httpx_aiohttp") is None:
        return None
    from httpx_aiohttp import AiohttpTransport

    transport: httpx.AsyncBaseTransport = AiohttpTransport()
    return transport
