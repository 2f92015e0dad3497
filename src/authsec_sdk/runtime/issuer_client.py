"""The clients the runtime reaches its issuer and the AuthSec backend with.

Everything goes through one pooled httpx client, except the one call a request may make:
introspection. httpx spends about 300 µs of CPU on each call (building the request, its auth
flow, the response model), aiohttp about 110 µs, and a server validating by introspection
makes one call per request. So where asyncio runs and the ``aiohttp`` extra is installed,
introspection POSTs go through aiohttp (`aiohttp_form_post`); elsewhere (trio, or without the
extra) through httpx (`httpx_form_post`). Both answer alike: the JSON of a ``200``, or an
`UpstreamError` saying why not.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from .config import Config
from .upstream import UpstreamError, describe_failure, fetch_json, oauth_error_code

if TYPE_CHECKING:
    import aiohttp

#: POST a form to a URL within a number of seconds: the JSON answer, or `UpstreamError`.
FormPost = Callable[[str, Mapping[str, str], float], Awaitable[Any]]


def issuer_client(cfg: Config) -> httpx.AsyncClient:
    """A client for the issuer's endpoints; redirects are not followed (a moved endpoint is an error)."""
    return httpx.AsyncClient(timeout=cfg.http_timeout, follow_redirects=False)


def httpx_form_post(http: httpx.AsyncClient, auth: httpx.Auth) -> FormPost:
    async def post(url: str, form: Mapping[str, str], within: float) -> Any:
        return await fetch_json(http, "POST", url, within=within, data=dict(form), auth=auth)

    return post


@asynccontextmanager
async def aiohttp_form_post(cfg: Config) -> AsyncIterator[FormPost | None]:
    """An aiohttp-backed `FormPost` authenticating as the introspection client, for as long as
    the block runs; None where aiohttp cannot serve (no extra, or not asyncio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        yield None
        return
    if importlib.util.find_spec("aiohttp") is None or urllib.request.getproxies():
        yield None  # httpx serves (and honours the environment's proxies, read once)
        return
    import aiohttp

    userpass = f"{cfg.introspection_client_id}:{cfg.introspection_client_secret}".encode()
    basic = base64.b64encode(userpass).decode("ascii")
    headers = {
        "Authorization": f"Basic {basic}",
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    # trust_env off: aiohttp would look for proxies and netrc in a thread on every request.
    # No timeouts of aiohttp's own: each call has one overall deadline (a timer less per call).
    no_timeouts = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)
    async with aiohttp.ClientSession(headers=headers, trust_env=False, timeout=no_timeouts) as session:

        async def post(url: str, form: Mapping[str, str], within: float) -> Any:
            try:
                async with asyncio.timeout(within):
                    return await _json_of(session, url, form)
            except aiohttp.ClientConnectorError as exc:  # named as httpx names it, for the logs
                raise UpstreamError(f"ConnectError: {exc}") from exc
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise UpstreamError(describe_failure(exc, within)) from exc

        yield post


async def _json_of(session: aiohttp.ClientSession, url: str, form: Mapping[str, str]) -> Any:
    async with session.post(url, data=urlencode(form), allow_redirects=False) as response:
        body = await response.read()
    if not 200 <= response.status < 300:
        raise UpstreamError(f"HTTP {response.status}", status=response.status, error=oauth_error_code(body))
    if response.status != 200:
        raise UpstreamError(f"HTTP {response.status}", status=response.status)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise UpstreamError("answer is not JSON") from None
