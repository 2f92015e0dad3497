"""Calls to the issuer and the AuthSec backend: one bounded, log-safe way to make them.

Every failure (network, timeout, status, unreadable answer) becomes an `UpstreamError`
whose text is safe to log: the kind of failure and the status, never headers or secrets.
Callers turn it into their own error (503 for tokens, a refusal to start for the policy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from typing import Any

import anyio
import httpx

#: RFC 6749 §5.2 ``error`` characters (%x20-21 / %x23-5B / %x5D-7E), at a sane length.
_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")


class UpstreamError(Exception):
    """The upstream call failed; ``str(exc)`` says why, safely.

    ``status`` is the HTTP status when an answer came, and ``error`` the OAuth ``error``
    code in its JSON body (RFC 6749 §5.2) when it had a well-formed one: callers tell a
    refused request from refused credentials or an outage by them.
    """

    def __init__(self, reason: str, *, status: int | None = None, error: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.error = error


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    within: float,
    accept_status: Container[int] = (),
    **kwargs: Any,
) -> httpx.Response:
    """The response to one request, which must be a success (or have a status in
    ``accept_status``) within ``within`` seconds overall.

    The overall deadline matters: httpx's own timeouts bound each read, so an upstream
    trickling bytes could otherwise hold a request forever.
    """
    try:
        with anyio.fail_after(within):
            response = await http.request(method, url, **kwargs)
    except (httpx.HTTPError, TimeoutError) as exc:
        raise UpstreamError(describe_failure(exc, within)) from exc
    if not response.is_success and response.status_code not in accept_status:
        raise UpstreamError(
            f"HTTP {response.status_code}",
            status=response.status_code,
            error=oauth_error_code(response.content),
        )
    return response


async def fetch_json(http: httpx.AsyncClient, method: str, url: str, *, within: float, **kwargs: Any) -> Any:
    """The JSON answer of a ``200 OK``; anything else is an `UpstreamError`."""
    response = await send(http, method, url, within=within, headers={"Accept": "application/json"}, **kwargs)
    if response.status_code != 200:
        raise UpstreamError(f"HTTP {response.status_code}", status=response.status_code)
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise UpstreamError("answer is not JSON") from None


def oauth_error_code(body: bytes) -> str:
    """The ``error`` code of an OAuth error answer, or "" when there is no well-formed one."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    return checked_error_code(parsed.get("error") if isinstance(parsed, dict) else None)


def checked_error_code(code: object) -> str:
    """``code`` when it is an OAuth error code (RFC 6749 §5.2's characters, at most 64), else ""."""
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def describe_failure(exc: BaseException, within: float) -> str:
    """Why a request got no answer, in a line: a timeout, or the error's type and message."""
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return f"timed out after {within:g}s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
