"""Calls to the issuer and the AuthSec backend: one bounded, log-safe way to make them.

Every failure (network, timeout, status, unreadable answer) becomes an `UpstreamError`
whose text is safe to log: the kind of failure and the status, never headers or secrets.
Callers turn it into their own error (503 for tokens, a refusal to start for the policy).
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx


class UpstreamError(Exception):
    """The upstream call failed; ``str(exc)`` says why, safely."""


async def send(
    http: httpx.AsyncClient, method: str, url: str, *, within: float, **kwargs: Any
) -> httpx.Response:
    """The response to one request, which must be a success within ``within`` seconds overall.

    The overall deadline matters: httpx's own timeouts bound each read, so an upstream
    trickling bytes could otherwise hold a request forever.
    """
    try:
        with anyio.fail_after(within):
            response = await http.request(method, url, **kwargs)
    except (httpx.HTTPError, TimeoutError) as exc:
        raise UpstreamError(_describe(exc, within)) from exc
    if not response.is_success:
        raise UpstreamError(f"HTTP {response.status_code}")
    return response


async def fetch_json(http: httpx.AsyncClient, method: str, url: str, *, within: float, **kwargs: Any) -> Any:
    """The JSON answer of a ``200 OK``; anything else is an `UpstreamError`."""
    response = await send(http, method, url, within=within, headers={"Accept": "application/json"}, **kwargs)
    if response.status_code != 200:
        raise UpstreamError(f"HTTP {response.status_code}")
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise UpstreamError("answer is not JSON") from None


def _describe(exc: Exception, within: float) -> str:
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return f"timed out after {within:g}s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
